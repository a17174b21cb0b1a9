//! The never-ship-twice and single-run promises under the worst the machine and the APIs can do: the postage
//! circuit breaker, the single-run lock under a crowd of runs, a crash at every request of
//! a cycle, and seeded fault storms. Each test asserts the promise itself (shipments at
//! the fake, order states), not the tool's own account of it.

use crate::support;

use std::time::{Duration, Instant};

use bbship_fake::{Endpoint, FakeOptions, Fault, HaltWhen, Storm};
use support::{Harness, files_below, read_jsonl, rule, shipping_orders, waiting_orders};

/// Every order SHIPPED at the fake with exactly one shipment.
fn assert_all_shipped_once(harness: &Harness, order_ids: &[String]) {
    for id in order_ids {
        assert_eq!(
            harness.fake.order_state(id).as_deref(),
            Some("SHIPPED"),
            "order {id}"
        );
        assert_eq!(harness.fake.shipments_for(id).len(), 1, "order {id}");
    }
    assert_eq!(harness.fake.shipments().len(), order_ids.len());
}

fn ids(orders: &[bbship_fake::FakeOrder]) -> Vec<String> {
    orders
        .iter()
        .map(|order| order.order_id().to_owned())
        .collect()
}

#[test]
fn the_circuit_breaker_stops_creating_finishes_the_cycle_and_exits_1() {
    let orders = shipping_orders(5);
    let harness = Harness::new(orders.clone());
    harness.write_config(|config| config["limits"]["max_labels_per_run"] = 3.into());

    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("circuit breaker"), "{run:?}");
    assert!(run.stderr.contains("max_labels_per_run is 3"), "{run:?}");
    assert!(run.stderr.contains("2 order(s) wait"), "{run:?}");
    assert_eq!(harness.fake.count(Endpoint::CreateShipment), 3);
    // The rest of the cycle still ran: the three labelled orders were shipped.
    let shipped: Vec<_> = ids(&orders)
        .into_iter()
        .filter(|id| harness.fake.order_state(id).as_deref() == Some("SHIPPED"))
        .collect();
    assert_eq!(shipped.len(), 3, "{run:?}");
    for id in &shipped {
        assert_eq!(harness.fake.shipments_for(id).len(), 1);
    }

    // The next run creates the two held back, and no more.
    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_all_shipped_once(&harness, &ids(&orders));
}

#[test]
fn ten_concurrent_runs_one_works_the_rest_exit_75_within_a_second() {
    let orders = waiting_orders(6);
    let harness = Harness::new(orders.clone());
    // The run that gets the lock holds it for a while: its first listing is slow.
    harness.fake.inject(rule(
        Endpoint::ListOrders,
        1,
        Fault::Slow(Duration::from_secs(3)),
    ));

    let runs: Vec<_> = (0..10)
        .map(|_| (Instant::now(), harness.spawn(&["run-all"])))
        .collect();
    let finished: Vec<_> = std::thread::scope(|scope| {
        let waiters: Vec<_> = runs
            .into_iter()
            .map(|(started, child)| {
                scope.spawn(move || {
                    let output = child.wait_with_output().expect("bbship ends");
                    (started.elapsed(), support::Run::from(output))
                })
            })
            .collect();
        waiters
            .into_iter()
            .map(|waiter| waiter.join().expect("the waiter thread"))
            .collect()
    });

    let worked: Vec<_> = finished.iter().filter(|(_, run)| run.code == 0).collect();
    let locked: Vec<_> = finished.iter().filter(|(_, run)| run.code == 75).collect();
    assert_eq!(worked.len(), 1, "{finished:?}");
    assert_eq!(locked.len(), 9, "{finished:?}");
    for (elapsed, run) in &locked {
        assert!(*elapsed < Duration::from_secs(1), "{elapsed:?} {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
        assert!(run.stderr.contains("another bbship run holds"), "{run:?}");
    }
    // The one that worked took longer than the slow listing, so it held the lock while
    // every other run started and gave up.
    assert!(worked[0].0 >= Duration::from_secs(3));
    // No order was processed twice.
    assert_eq!(harness.fake.count(Endpoint::Accept), orders.len());
    assert_eq!(harness.fake.count(Endpoint::CreateShipment), orders.len());
    assert_eq!(harness.fake.count(Endpoint::Ship), orders.len());
    assert_all_shipped_once(&harness, &ids(&orders));
}

/// What a finished cycle must leave behind whatever happened on the way: every order
/// SHIPPED with one shipment, one history line and one label file, and a journal whose
/// every line reads.
fn assert_cycle_complete(harness: &Harness, order_ids: &[String], context: &str) {
    for id in order_ids {
        assert_eq!(
            harness.fake.order_state(id).as_deref(),
            Some("SHIPPED"),
            "order {id} ({context})"
        );
        assert_eq!(
            harness.fake.shipments_for(id).len(),
            1,
            "order {id} ({context})"
        );
    }
    assert_eq!(harness.fake.shipments().len(), order_ids.len(), "{context}");
    let history = harness.history_log();
    assert_eq!(history.len(), order_ids.len(), "{context}");
    assert_eq!(harness.label_files().len(), order_ids.len(), "{context}");
    assert!(
        tool_confirmed_shipped(harness, order_ids),
        "{context}: shipped_orders_log.jsonl lacks a SHIPPED line for some order"
    );
    for file in files_below(&harness.data_dir.join("logs")) {
        if file
            .extension()
            .is_some_and(|extension| extension == "jsonl")
        {
            read_jsonl(&file); // panics on a line that does not read
        }
    }
}

/// Whether bbship itself has seen every order SHIPPED (its read-back log says so), which
/// is when it stops touching them.
fn tool_confirmed_shipped(harness: &Harness, order_ids: &[String]) -> bool {
    let log = read_jsonl(
        &harness
            .data_dir
            .join("logs/best_buy/shipped_orders_log.jsonl"),
    );
    order_ids.iter().all(|id| {
        log.iter()
            .any(|line| line["order_id"] == id.as_str() && line["order_state"] == "SHIPPED")
    })
}

#[test]
fn a_crash_at_every_request_of_a_cycle_loses_nothing_and_never_ships_twice() {
    for account in support::ACCOUNTS {
        crash_at_every_request(account);
    }
}

fn crash_at_every_request(account: &'static str) {
    const ORDERS: usize = 3;
    // A clean cycle says how many requests one cycle makes, so every one is a kill point.
    let clean = Harness::new(waiting_orders(ORDERS)).with_account(account);
    let run = clean.bbship(&["run-all"]);
    assert_eq!(run.code, 0, "{run:?}");
    let requests = clean.fake.requests().len();
    assert!(
        requests >= 20,
        "a cycle of {ORDERS} orders made only {requests} requests"
    );

    let mut kill_points = 0;
    for when in [HaltWhen::BeforeActing, HaltWhen::AfterActing] {
        for at in 0..requests {
            let orders = waiting_orders(ORDERS);
            let harness = Harness::new(orders.clone()).with_account(account);
            let context = format!("{account}: SIGKILL at request {at} {when:?}");
            harness.fake.halt_at(at, when);
            let mut child = harness.spawn(&["run-all"]);
            let mut exited = None;
            support::wait_until(&format!("request {at} is reached"), || {
                exited = child.try_wait().expect("the child can be waited for");
                harness.fake.is_halted() || exited.is_some()
            });
            assert!(
                exited.is_none(),
                "{context}: the run ended first ({exited:?}); the cycle's requests differ from the clean one"
            );
            let halted = &harness.fake.requests()[at];
            let halted = format!("{} {}{}", halted.method, halted.path, halted.query);
            child.kill().expect("SIGKILL");
            child.wait().expect("the killed run is reaped");
            harness.fake.release_halt();
            kill_points += 1;

            let mut further_runs = 0;
            while further_runs < 2 && !tool_confirmed_shipped(&harness, &ids(&orders)) {
                let run = harness.bbship(&["run-all"]);
                assert!(matches!(run.code, 0 | 1), "{context} ({halted}): {run:?}");
                further_runs += 1;
            }
            assert_cycle_complete(&harness, &ids(&orders), &format!("{context}: {halted}"));
        }
    }
    println!(
        "{account}: killed a run at {kill_points} request points ({requests} requests, before and after acting)"
    );
    assert_eq!(kill_points, 2 * requests);
}

#[test]
fn a_seeded_fault_storm_over_50_orders_ends_with_every_order_shipped_once() {
    for account in support::ACCOUNTS {
        storm_over_50_orders(account);
    }
}

fn storm_over_50_orders(account: &'static str) {
    const ORDERS: usize = 50;
    const BUDGET_SECS: u64 = 8;
    // A run may finish the orders it started when the budget ran out: at most one order
    // per worker, each waiting at most `label_wait_secs` for a label plus a few requests.
    const TAIL: Duration = Duration::from_secs(6);
    let seed = std::env::var("BBSHIP_STORM_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or(20_261_125_u64);
    let orders = waiting_orders(ORDERS);
    let harness = Harness::new(orders.clone()).with_account(account);
    harness.write_config(|config| {
        config["limits"]["concurrency"] = 4.into();
        config["limits"]["cycle_budget_secs"] = BUDGET_SECS.into();
    });
    harness.fake.storm(Some(Storm {
        seed,
        faults_per_thousand: 250,
        slowest: Duration::from_millis(300),
    }));

    let mut runs = Vec::new();
    while runs.len() < 12 && !tool_confirmed_shipped(&harness, &ids(&orders)) {
        let started = Instant::now();
        let run = harness.bbship(&["run-all"]);
        let elapsed = started.elapsed();
        assert!(
            matches!(run.code, 0 | 1),
            "seed {seed}, run {}: {run:?}",
            runs.len() + 1
        );
        assert!(
            elapsed <= Duration::from_secs(BUDGET_SECS) + TAIL,
            "seed {seed}, run {} took {elapsed:?}: {run:?}",
            runs.len() + 1
        );
        runs.push((elapsed, run.code));
    }
    let requests = harness.fake.requests();
    let faulted = requests
        .iter()
        .filter(|request| request.status.is_none_or(|status| status >= 429))
        .count();
    println!(
        "seed {seed}: {} requests, {faulted} unanswered or refused; runs (time, exit): {runs:?}",
        requests.len()
    );
    assert!(faulted >= 30, "the storm hardly blew: {faulted} faults");
    assert_cycle_complete(
        &harness,
        &ids(&orders),
        &format!("{account}: storm seed {seed}"),
    );
    // Calm weather: the next run has nothing left to do and fails nothing.
    harness.fake.storm(None);
    harness.fake.reset_log();
    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(harness.fake.write_count(), 0);
}

#[test]
fn the_time_budget_starts_no_order_that_would_not_finish_and_counts_the_leftovers() {
    let orders = shipping_orders(10);
    let harness = Harness::new(orders.clone());
    harness.write_config(|config| config["limits"]["cycle_budget_secs"] = 2.into());
    // Every create takes 0.9 s: two orders fit in the budget, and a third started at
    // 1.8 s would end past it.
    harness.fake.inject(rule(
        Endpoint::CreateShipment,
        3,
        Fault::Slow(Duration::from_millis(900)),
    ));

    let started = Instant::now();
    let run = harness.bbship(&["run-all"]);
    let elapsed = started.elapsed();
    assert_eq!(run.code, 0, "{run:?}");
    let created = harness.fake.shipments().len();
    assert!((1..=2).contains(&created), "{created} created: {run:?}");
    assert!(
        run.stderr.contains(&format!(
            "{} of 10 order(s) left for the next run",
            10 - created
        )),
        "{run:?}"
    );
    // The order it judged would not fit was not started: the run ends inside its budget
    // (starting a third would have ended it at about 2.7 s).
    assert!(elapsed < Duration::from_millis(2_300), "{elapsed:?}");

    let mut runs = 1;
    while !tool_confirmed_shipped(&harness, &ids(&orders)) {
        assert!(runs < 6, "still not done after {runs} runs");
        let run = harness.bbship(&["run-all"]);
        assert!(matches!(run.code, 0), "{run:?}");
        runs += 1;
    }
    assert_cycle_complete(&harness, &ids(&orders), "time budget");
}

/// Sellers shipping through one Canada Post API key (a 3PL's, with `mobo` per seller)
/// share that key's rate limits. Two bbship processes, each on its own data directory and
/// its own seller's orders, run at the same time against one fake whose throttle counts
/// the shared key; each has half of every Canada Post limit, as the README says to
/// configure them, and together they never overshoot. Each has more orders than half the
/// tracking limit, so either alone with the full limit would push the pair over it.
#[test]
fn two_sellers_sharing_a_canada_post_key_with_half_the_limits_each_are_never_throttled() {
    const SHIPMENT_CALLS_PER_MINUTE: u32 = 120;
    const TRACKING_CALLS_PER_MINUTE: u32 = 20;
    const ORDERS_PER_SELLER: usize = TRACKING_CALLS_PER_MINUTE as usize / 2 + 1;
    let orders = shipping_orders(2 * ORDERS_PER_SELLER);
    let harness = Harness::with_options(
        FakeOptions {
            canada_post_calls_per_minute: Some(SHIPMENT_CALLS_PER_MINUTE),
            canada_post_tracking_calls_per_minute: Some(TRACKING_CALLS_PER_MINUTE),
            ..FakeOptions::default()
        },
        orders.clone(),
    );
    harness.write_config(|config| {
        let limits = &mut config["limits"];
        limits["canada_post_requests_per_minute"] = (SHIPMENT_CALLS_PER_MINUTE / 2).into();
        limits["canada_post_tracking_per_minute"] = (TRACKING_CALLS_PER_MINUTE / 2).into();
    });
    let all_ids = ids(&orders);
    let sellers = [
        (harness.data_dir.clone(), &all_ids[..ORDERS_PER_SELLER]),
        (
            harness.temp.path().join("second-seller"),
            &all_ids[ORDERS_PER_SELLER..],
        ),
    ];
    let runs: Vec<_> = sellers
        .iter()
        .map(|(data_dir, order_ids)| {
            let mut args = vec!["run-all"];
            for id in order_ids.iter() {
                args.extend(["--order", id.as_str()]);
            }
            harness
                .command(&args)
                .env("BBSHIP_DATA_DIR", data_dir)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("bbship starts")
        })
        .collect();
    for child in runs {
        let run = support::Run::from(child.wait_with_output().unwrap());
        assert_eq!(run.code, 0, "{run:?}");
    }
    assert_eq!(harness.fake.canada_post_throttled(), 0);
    assert_all_shipped_once(&harness, &all_ids);
    for (data_dir, order_ids) in &sellers {
        let history = read_jsonl(&data_dir.join("logs/canada_post/cp_shipping_history_log.jsonl"));
        assert_eq!(history.len(), order_ids.len(), "{}", data_dir.display());
    }
}
