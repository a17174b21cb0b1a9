//! Phase 1 end to end: the real binary against the fake Best Buy API.

use crate::support;

use std::time::Duration;

use bbship_fake::{Endpoint, FakeOptions, FakeOrder, Fault, FaultRule};
use support::{Harness, waiting_orders};

fn fault(endpoint: Endpoint, order_id: Option<&str>, times: usize, fault: Fault) -> FaultRule {
    FaultRule {
        endpoint,
        order_id: order_id.map(str::to_owned),
        skip: 0,
        times,
        fault,
    }
}

fn status(status: u16, retry_after: Option<&str>) -> Fault {
    Fault::Status {
        status,
        retry_after: retry_after.map(str::to_owned),
        body: format!(r#"{{"message":"injected {status}","status":{status}}}"#),
        content_type: "application/json".to_owned(),
    }
}

/// How many accepts the fake received for one order.
fn accepts_for(harness: &Harness, order_id: &str) -> usize {
    harness
        .fake
        .requests()
        .iter()
        .filter(|request| request.endpoint == Endpoint::Accept)
        .filter(|request| request.order_id.as_deref() == Some(order_id))
        .count()
}

fn state(harness: &Harness, order_id: &str) -> String {
    harness
        .fake
        .order_state(order_id)
        .expect("the order exists")
}

#[test]
fn all_250_waiting_orders_are_accepted_across_pages() {
    let harness = Harness::new(waiting_orders(250));
    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 0, "{run:?}");

    // 3 pages to read the list (100 + 100 + 50), one accept per order, 1 re-check.
    assert_eq!(harness.fake.count(Endpoint::ListOrders), 4);
    assert_eq!(harness.fake.count(Endpoint::Accept), 250);
    let accepted = harness.accepted_log();
    assert_eq!(accepted.len(), 250);
    for index in 0..250 {
        let id = FakeOrder::generated(index).order_id().to_owned();
        assert_ne!(state(&harness, &id), "WAITING_ACCEPTANCE", "{id}");
        assert!(
            accepted.iter().any(|line| line["order_id"] == id.as_str()),
            "{id}"
        );
    }
    // A clean run prints nothing (cron mails only problems).
    assert!(run.stdout.is_empty() && run.stderr.is_empty(), "{run:?}");
}

#[test]
fn every_line_of_an_order_is_accepted_and_logged() {
    let harness = Harness::new(waiting_orders(5));
    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    for request in harness.fake.requests() {
        if request.endpoint != Endpoint::Accept {
            continue;
        }
        let order_id = request.order_id.clone().unwrap();
        let order = (0..5)
            .map(FakeOrder::generated)
            .find(|order| order.order_id() == order_id)
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
        let sent: Vec<&str> = body["order_lines"]
            .as_array()
            .unwrap()
            .iter()
            .inspect(|line| assert_eq!(line["accepted"], true))
            .map(|line| line["id"].as_str().unwrap())
            .collect();
        assert_eq!(sent, order.line_ids(), "{order_id}");
    }
    for line in harness.accepted_log() {
        assert!(line["accepted_at"].is_string());
        assert!(
            line["line_ids"]
                .as_array()
                .is_some_and(|ids| !ids.is_empty())
        );
        assert!(line["created_date"].is_string());
        assert!(line["acceptance_deadline"].is_string());
        assert!(line["shipping_deadline"].is_string());
        assert_eq!(line["outcome"], "accepted");
    }
}

#[test]
fn an_idle_cycle_costs_one_list_call_per_phase_and_prints_nothing() {
    let harness = Harness::new(Vec::new());
    // One OR11 per phase that lists (waiting acceptance, ready to ship); nothing else.
    for (command, calls) in [("accept", 1), ("label", 1), ("run-all", 2)] {
        harness.fake.reset_log();
        let run = harness.bbship(&[command]);
        assert_eq!(run.code, 0, "{run:?}");
        assert_eq!(harness.fake.requests().len(), calls, "{command}");
        assert_eq!(harness.fake.write_count(), 0);
        assert!(run.stdout.is_empty() && run.stderr.is_empty(), "{run:?}");
    }
}

#[test]
fn an_order_still_waiting_after_the_recheck_window_is_an_error_and_exits_1() {
    // Best Buy keeps listing an accepted order as waiting for longer than the window.
    let options = FakeOptions {
        accept_lag: Duration::from_secs(60),
        ..FakeOptions::default()
    };
    let harness = Harness::with_options(options, waiting_orders(2));
    harness.write_config(|config| {
        config["bestbuy"]["accept_recheck_max_secs"] = serde_json::json!(2);
    });
    let started = std::time::Instant::now();
    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 1, "{run:?}");
    for index in 0..2 {
        let id = FakeOrder::generated(index).order_id().to_owned();
        let line = run
            .stderr
            .lines()
            .find(|line| line.contains(&format!("order {id} is still waiting for acceptance")))
            .unwrap_or_else(|| panic!("no line for {id}: {run:?}"));
        assert!(line.starts_with("bbship: error: "), "{line}");
    }
    assert!(!run.stderr.contains("warning:"), "{run:?}");
    // It was read again with backoff for the whole window before it was called an error:
    // the listing after the accepts, then the two orders by id at 0.5, 1.5 and 2 s.
    assert!(started.elapsed() >= Duration::from_secs(2), "{run:?}");
    assert_eq!(harness.reads_by_ids(), 3, "{run:?}");
    // The accepts themselves were recorded.
    assert_eq!(harness.accepted_log().len(), 2);
}

#[test]
fn an_order_that_leaves_waiting_within_the_recheck_window_is_no_error() {
    // The first two listings after the accept still show the order as waiting; the
    // third does not.
    let options = FakeOptions {
        accept_lag_reads: 2,
        ..FakeOptions::default()
    };
    let harness = Harness::with_options(options, waiting_orders(1));
    harness.write_config(|config| {
        config["bestbuy"]["accept_recheck_max_secs"] = serde_json::json!(30);
    });
    let started = std::time::Instant::now();
    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.is_empty(), "{run:?}");
    // Listed after the accepts, read again by id twice (at 0.5 and 1.5 s), well inside
    // the window.
    assert_eq!(harness.fake.count(Endpoint::ListOrders), 4, "{run:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(harness.accepted_log().len(), 1);
}

#[test]
fn orders_that_arrive_during_the_run_are_left_for_the_next_run_unreported() {
    let harness = Harness::new(waiting_orders(1));
    harness.write_config(|config| {
        config["bestbuy"]["accept_recheck_delay_secs"] = serde_json::json!(1);
    });
    let mut child = harness.command(&["accept"]).spawn().unwrap();
    // Once the first accept has landed, a new order arrives before the re-check.
    let started = std::time::Instant::now();
    while harness.fake.count(Endpoint::Accept) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no accept was sent"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let newcomer = FakeOrder::generated(7);
    let newcomer_id = newcomer.order_id().to_owned();
    harness.fake.add_order(newcomer);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    // The re-check saw it (two list calls) and left it alone.
    assert_eq!(harness.fake.count(Endpoint::ListOrders), 2);
    assert_eq!(state(&harness, &newcomer_id), "WAITING_ACCEPTANCE");
    assert_eq!(harness.accepted_log().len(), 1);

    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_ne!(state(&harness, &newcomer_id), "WAITING_ACCEPTANCE");
}

#[test]
fn one_refused_accept_does_not_stop_the_others_and_exits_1() {
    let harness = Harness::new(waiting_orders(5));
    let victim = FakeOrder::generated(2).order_id().to_owned();
    harness
        .fake
        .inject(fault(Endpoint::Accept, Some(&victim), 1, status(400, None)));
    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(&victim), "{run:?}");
    assert!(run.stderr.contains("injected 400"), "{run:?}");
    assert_eq!(state(&harness, &victim), "WAITING_ACCEPTANCE");
    let accepted = harness.accepted_log();
    assert_eq!(accepted.len(), 4);
    assert!(
        accepted
            .iter()
            .all(|line| line["order_id"] != victim.as_str())
    );

    // A refused write is not repeated as is within the run...
    let accepts_for_victim = accepts_for(&harness, &victim);
    assert_eq!(accepts_for_victim, 1);
    // ...and the next run accepts it.
    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_ne!(state(&harness, &victim), "WAITING_ACCEPTANCE");
}

#[test]
fn a_429_is_waited_out_and_then_succeeds() {
    let harness = Harness::new(waiting_orders(3));
    let first = FakeOrder::generated(0).order_id().to_owned();
    harness
        .fake
        .inject(fault(Endpoint::ListOrders, None, 1, status(429, Some("1"))));
    harness.fake.inject(fault(
        Endpoint::Accept,
        Some(&first),
        2,
        status(429, Some("0")),
    ));
    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(harness.accepted_log().len(), 3);
    // The list was asked twice (429, then the answer) plus the re-check.
    assert_eq!(harness.fake.count(Endpoint::ListOrders), 3);
    // The throttled accept was sent three times: 429, 429, 204.
    assert_eq!(harness.fake.count(Endpoint::Accept), 5);
}

#[test]
fn server_errors_on_reads_are_retried() {
    let harness = Harness::new(waiting_orders(2));
    harness
        .fake
        .inject(fault(Endpoint::ListOrders, None, 2, status(503, None)));
    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(harness.accepted_log().len(), 2);
}

#[test]
fn an_accept_whose_answer_was_lost_is_confirmed_by_reading_the_state() {
    let harness = Harness::new(waiting_orders(3));
    let victim = FakeOrder::generated(1).order_id().to_owned();
    harness.fake.inject(fault(
        Endpoint::Accept,
        Some(&victim),
        1,
        Fault::DropAfterActing,
    ));
    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    let accepted = harness.accepted_log();
    assert_eq!(accepted.len(), 3);
    let line = accepted
        .iter()
        .find(|line| line["order_id"] == victim.as_str())
        .unwrap();
    assert_eq!(line["outcome"], "confirmed_by_state");
    // Exactly one accept was sent for it: the state showed it had worked.
    let accepts_for_victim = accepts_for(&harness, &victim);
    assert_eq!(accepts_for_victim, 1);
}

#[test]
fn an_accept_lost_before_the_server_acted_is_sent_once_more_after_a_read() {
    let harness = Harness::new(waiting_orders(2));
    let victim = FakeOrder::generated(0).order_id().to_owned();
    harness.fake.inject(fault(
        Endpoint::Accept,
        Some(&victim),
        1,
        Fault::DropBeforeActing,
    ));
    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_ne!(state(&harness, &victim), "WAITING_ACCEPTANCE");
    let requests = harness.fake.requests();
    let about_victim: Vec<(Endpoint, Option<String>)> = requests
        .iter()
        .filter(|request| {
            request.order_id.as_deref() == Some(victim.as_str())
                || request.query.contains(victim.as_str())
        })
        .map(|request| (request.endpoint, request.order_id.clone()))
        .collect();
    // accept (dropped) → read by id → accept again.
    assert_eq!(about_victim.len(), 3, "{about_victim:?}");
    assert_eq!(about_victim[0].0, Endpoint::Accept);
    assert_eq!(about_victim[1].0, Endpoint::ListOrders);
    assert_eq!(about_victim[2].0, Endpoint::Accept);
}

#[test]
fn only_the_orders_named_with_order_are_touched() {
    let harness = Harness::new(waiting_orders(4));
    let chosen = FakeOrder::generated(3).order_id().to_owned();
    let run = harness.bbship(&["accept", "--order", &chosen]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(harness.fake.count(Endpoint::Accept), 1);
    assert_ne!(state(&harness, &chosen), "WAITING_ACCEPTANCE");
    assert_eq!(
        state(&harness, FakeOrder::generated(0).order_id()),
        "WAITING_ACCEPTANCE"
    );
}

#[test]
fn a_rejected_api_key_stops_the_run_with_exit_2() {
    let harness = Harness::new(waiting_orders(1));
    let run = harness
        .command(&["accept"])
        .env("BESTBUY_API_KEY", "wrong-key-123456")
        .output()
        .map(support::Run::from)
        .unwrap();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("check BESTBUY_API_KEY"), "{run:?}");
    assert_eq!(
        run.stderr.matches("check BESTBUY_API_KEY").count(),
        1,
        "the error is printed once: {run:?}"
    );
    assert!(!run.stderr.contains("wrong-key-123456"), "{run:?}");
}

#[test]
fn an_html_page_instead_of_json_is_a_clear_error() {
    let harness = Harness::new(waiting_orders(1));
    harness.fake.inject(fault(
        Endpoint::ListOrders,
        None,
        1,
        Fault::Html { status: 200 },
    ));
    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("non-JSON response"), "{run:?}");
    assert_eq!(harness.fake.count(Endpoint::Accept), 0);
}

#[test]
fn parallel_workers_accept_everything_once() {
    let harness = Harness::new(waiting_orders(40));
    harness.write_config(|config| {
        config["limits"]["concurrency"] = serde_json::json!(4);
    });
    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(harness.fake.count(Endpoint::Accept), 40);
    let accepted = harness.accepted_log();
    assert_eq!(accepted.len(), 40);
    let mut ids: Vec<&str> = accepted
        .iter()
        .map(|line| line["order_id"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 40);
}
