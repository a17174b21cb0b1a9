//! What the operator sees: `status` from local files, the runs log, alerts to a webhook and
//! a healthcheck, and the warning for an order close to its acceptance deadline.

use crate::support;

use std::time::Duration;

use bbship_fake::{Endpoint, Fault};
use support::{Harness, answer, read_jsonl, rule, shipping_orders, waiting_orders};

/// Three orders: one shipped, one whose address Canada Post refuses, one cancelled on
/// Best Buy after its label was bought.
fn eventful_harness() -> (Harness, [String; 3]) {
    let orders = shipping_orders(3);
    let ids = [0, 1, 2].map(|index| orders[index].order_id().to_owned());
    let harness = Harness::new(orders);
    // The second order's create is refused, every time.
    harness.fake.inject(bbship_fake::FaultRule {
        endpoint: Endpoint::CreateShipment,
        order_id: Some(ids[1].clone()),
        skip: 0,
        times: 100,
        fault: answer(
            400,
            "application/vnd.cpc.messages+xml",
            "<messages xmlns=\"http://www.canadapost.ca/ws/messages\"><message><code>8511</code>\
             <description>Postal code is not valid</description></message></messages>",
        ),
    });
    let run = harness.bbship(&["label"]);
    assert_eq!(run.code, 1, "{run:?}");
    harness.fake.set_order_state(&ids[2], "CANCELED");
    let run = harness.bbship(&["ship"]);
    assert_eq!(run.code, 1, "{run:?}");
    (harness, ids)
}

#[test]
fn status_shows_each_order_step_pin_label_last_error_and_marks_the_stuck() {
    let (harness, [shipped, refused, cancelled]) = eventful_harness();
    let requests_before = harness.fake.requests().len();

    let run = harness.bbship(&["status"]);
    assert_eq!(run.code, 0, "{run:?}");
    let line = |id: &str| {
        run.stdout
            .lines()
            .find(|line| line.contains(id))
            .unwrap_or_else(|| panic!("no line for {id}: {run:?}"))
            .to_owned()
    };
    // Settled orders are left out unless asked for.
    assert!(!run.stdout.contains(&shipped), "{run:?}");
    let refused_line = line(&refused);
    assert!(refused_line.contains("8511"), "{refused_line}");
    let cancelled_line = line(&cancelled);
    assert!(
        cancelled_line.trim_start().starts_with('!'),
        "{cancelled_line}"
    );
    assert!(
        cancelled_line.contains("cancelled after label"),
        "{cancelled_line}"
    );
    assert!(
        cancelled_line.contains(&format!("bbship refund {cancelled}")),
        "{cancelled_line}"
    );
    let pin = &harness.fake.shipments_for(&cancelled)[0].tracking_pin;
    assert!(cancelled_line.contains(pin.as_str()), "{cancelled_line}");
    assert!(cancelled_line.contains("labels/"), "{cancelled_line}");
    assert!(run.stdout.contains("1 stuck"), "{run:?}");

    let all = harness.bbship(&["status", "--all"]);
    assert!(
        all.stdout.contains(&shipped) && all.stdout.contains("shipped"),
        "{all:?}"
    );

    let one = harness.bbship(&["status", &cancelled]);
    assert_eq!(one.code, 0, "{one:?}");
    assert!(
        one.stdout.contains("step:       cancelled after label"),
        "{one:?}"
    );

    let json = harness.bbship(&["status", "--all", "--json"]);
    let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
    assert_eq!(value["orders"].as_array().unwrap().len(), 3, "{value}");
    assert_eq!(value["stuck"], 1);
    assert_eq!(value["last_run"]["command"], "ship");

    let unknown = harness.bbship(&["status", "999-A"]);
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(
        unknown.stderr.contains("knows nothing of order 999-A"),
        "{unknown:?}"
    );

    // Local files only: not one request.
    assert_eq!(harness.fake.requests().len(), requests_before);

    // Once its refund is requested, the cancelled order says so and is no longer stuck.
    harness.write_config(|config| {
        config["canada_post"]["refund_email"] = "seller@example.com".into();
    });
    let refund = harness.bbship(&["refund", &cancelled, "--yes"]);
    assert_eq!(refund.code, 0, "{refund:?}");
    let (status, line) = harness.status_line(&cancelled);
    assert!(line.contains("refund requested"), "{status:?}");
    assert!(!line.trim_start().starts_with('!'), "{status:?}");
    assert!(status.stdout.contains("0 stuck"), "{status:?}");
}

#[test]
fn status_takes_no_lock_and_works_while_a_run_holds_it() {
    let harness = Harness::new(waiting_orders(2));
    harness.fake.inject(rule(
        Endpoint::ListOrders,
        1,
        Fault::Slow(Duration::from_secs(2)),
    ));
    let mut cycle = harness.spawn(&["run-all"]);
    support::wait_until("the run holds the lock", || {
        harness.fake.count(Endpoint::ListOrders) > 0
    });
    let status = harness.bbship(&["status"]);
    assert_eq!(status.code, 0, "{status:?}");
    assert!(
        cycle.try_wait().unwrap().is_none(),
        "the run was still going"
    );
    assert_eq!(cycle.wait().unwrap().code(), Some(0));
}

#[test]
fn an_order_ready_to_ship_without_a_label_for_over_an_hour_is_stuck() {
    let orders = shipping_orders(1);
    let id = orders[0].order_id().to_owned();
    let harness = Harness::new(orders);
    harness.fake.inject(rule(
        Endpoint::CreateShipment,
        10,
        answer(503, "text/plain", "down"),
    ));
    // A run 75 minutes ago already failed to label it.
    std::fs::create_dir_all(harness.data_dir.join("logs")).unwrap();
    let earlier = chrono::Utc::now() - chrono::Duration::minutes(75);
    let line = serde_json::json!({
        "started_at": earlier, "finished_at": earlier, "command": "run-all", "exit_code": 1,
        "phases": [{"phase": "label", "done": 0, "failed": 1, "skipped": 0, "deferred": 0,
                    "orders": [{"order": id, "outcome": "failed", "reason": "Canada Post is unavailable"}]}]
    });
    std::fs::write(
        harness.data_dir.join("logs/runs.jsonl"),
        format!("{line}\n"),
    )
    .unwrap();

    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 1, "{run:?}");
    let (status, line) = harness.status_line(&id);
    assert!(line.trim_start().starts_with('!'), "{status:?}");
    assert!(line.contains("ready to ship for 1 h 1"), "{status:?}");
}

#[test]
fn every_writing_run_is_recorded_in_the_runs_log_and_a_dry_run_is_not() {
    let harness = Harness::new(waiting_orders(2));
    assert_eq!(harness.bbship(&["run-all", "--dry-run"]).code, 0);
    assert!(!harness.data_dir.exists());
    assert_eq!(harness.bbship(&["run-all"]).code, 0);
    assert_eq!(harness.bbship(&["accept"]).code, 0);
    let runs = read_jsonl(&harness.data_dir.join("logs/runs.jsonl"));
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0]["command"], "run-all");
    assert_eq!(runs[0]["exit_code"], 0);
    let phases: Vec<&str> = runs[0]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|phase| phase["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["accept", "label", "ship"]);
    assert_eq!(runs[0]["phases"][1]["done"], 2);
    assert_eq!(runs[1]["command"], "accept");
}

fn with_alerts(harness: &Harness) {
    with_alerts_and(harness, |_| {});
}

/// `with_alerts`, and `edit` on the same configuration.
fn with_alerts_and(harness: &Harness, edit: impl FnOnce(&mut serde_json::Value)) {
    let base = harness.fake.base_url();
    harness.write_config(|config| {
        config["alerts"] = serde_json::json!({
            "webhook_url": format!("{base}/hooks/alert"),
            "healthcheck_url": format!("{base}/hooks/ping"),
        });
        edit(config);
    });
}

fn hooks(harness: &Harness, path: &str) -> Vec<bbship_fake::RecordedRequest> {
    harness
        .fake
        .requests()
        .into_iter()
        .filter(|request| request.endpoint == Endpoint::Hook && request.path == path)
        .collect()
}

#[test]
fn a_run_with_failures_posts_a_summary_and_every_completed_run_pings_the_healthcheck() {
    let (harness, [_, refused, cancelled]) = eventful_harness();
    with_alerts(&harness);
    harness.fake.reset_log();

    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 1, "{run:?}");
    let posted = hooks(&harness, "/hooks/alert");
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].method, "POST");
    let summary: serde_json::Value = serde_json::from_slice(&posted[0].body).unwrap();
    assert_eq!(summary["run"]["exit_code"], 1);
    let failed: Vec<&str> = summary["run"]["phases"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|phase| phase["orders"].as_array().unwrap())
        .filter(|note| note["outcome"] == "failed")
        .map(|note| note["order"].as_str().unwrap())
        .collect();
    assert!(failed.contains(&refused.as_str()), "{summary}");
    assert_eq!(
        summary["stuck"][0]["order_id"],
        cancelled.as_str(),
        "{summary}"
    );
    assert!(!String::from_utf8_lossy(&posted[0].body).contains(support::API_KEY));
    assert_eq!(hooks(&harness, "/hooks/ping").len(), 1);
}

#[test]
fn a_clean_run_only_pings_and_a_failed_alert_never_fails_the_run() {
    let harness = Harness::new(waiting_orders(1));
    with_alerts(&harness);
    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.is_empty(), "{run:?}");
    assert!(hooks(&harness, "/hooks/alert").is_empty());
    assert_eq!(hooks(&harness, "/hooks/ping").len(), 1);

    // Nothing listens there: a warning, and the run's result is its own.
    harness.write_config(|config| {
        config["alerts"] = serde_json::json!({
            "healthcheck_url": "http://127.0.0.1:9/ping",
            "timeout_secs": 1
        });
    });
    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("the healthcheck could not be reached"),
        "{run:?}"
    );
}

#[test]
fn an_order_still_waiting_close_to_its_acceptance_deadline_is_warned_about() {
    let created = chrono::Utc::now() - chrono::Duration::hours(20);
    let order = bbship_fake::FakeOrder::generated(0).with_created(created);
    let id = order.order_id().to_owned();
    let harness = Harness::new(vec![order]);
    harness.write_config(|config| {
        config["bestbuy"]["acceptance_window_hours"] = 24.into();
        config["limits"]["max_retries"] = 0.into();
    });
    // The accept fails and so does the read that would settle it.
    harness
        .fake
        .inject(rule(Endpoint::Accept, 1, answer(500, "text/plain", "down")));
    harness.fake.inject(bbship_fake::FaultRule {
        endpoint: Endpoint::ListOrders,
        order_id: None,
        skip: 1,
        times: 1,
        fault: answer(500, "text/plain", "down"),
    });
    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("accept: order {id} still waits for acceptance")),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("is in 3 h 59 min") || run.stderr.contains("is in 4 h 0 min"),
        "{run:?}"
    );
    let (status, line) = harness.status_line(&id);
    assert!(line.trim_start().starts_with('!'), "{status:?}");
    assert!(
        line.contains("before its estimated acceptance deadline"),
        "{status:?}"
    );
}

#[test]
fn a_terminal_sees_a_progress_line_per_phase_and_cron_sees_nothing() {
    let harness = Harness::new(waiting_orders(3));
    // `script` (util-linux, in every Debian) runs the binary on a pseudo-terminal.
    let command = harness.command(&["run-all"]);
    let binary = command.get_program().to_string_lossy().into_owned();
    let mut on_terminal = std::process::Command::new("script");
    on_terminal
        .args(["-qec", &format!("{binary} run-all"), "/dev/null"])
        .env_clear()
        .envs(
            command
                .get_envs()
                .filter_map(|(key, value)| Some((key, value?))),
        );
    let run = support::Run::from(on_terminal.output().expect("script runs"));
    assert_eq!(run.code, 0, "{run:?}");
    for line in [
        "accept: 3/3 orders",
        "label: 3/3 orders",
        "ship: 3/3 orders",
    ] {
        assert!(run.stdout.contains(line), "{line}: {run:?}");
    }

    // The same kind of run with no terminal (cron) prints nothing at all.
    let harness = Harness::new(waiting_orders(3));
    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.is_empty() && run.stderr.is_empty(), "{run:?}");
}

#[test]
fn verbose_runs_print_a_summary_per_phase_with_the_failures_reasons() {
    let (harness, [_, refused, _]) = eventful_harness();
    let run = harness.bbship(&["-v", "run-all"]);
    assert_eq!(run.code, 1, "{run:?}");
    for phase in ["info: accept: ", "info: label: ", "info: ship: "] {
        assert!(run.stderr.contains(phase), "{phase}: {run:?}");
    }
    let label = run
        .stderr
        .lines()
        .find(|line| line.starts_with("bbship: info: label: ") && line.contains(" labelled, "))
        .unwrap();
    assert!(label.contains("1 failed"), "{label}");
    assert!(
        label.contains(&format!("{refused}: ")) && label.contains("8511"),
        "{label}"
    );
}

/// `promtool check metrics` on `text`: its complaints, empty when it accepts the text.
fn promtool_complaints(text: &str) -> String {
    use std::io::Write;
    let promtool = support::require_tool("promtool", "prometheus");
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let complaints = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() && complaints.trim().is_empty() {
        String::new()
    } else {
        format!("{}: {complaints}", output.status)
    }
}

/// `16.50` in cents.
fn cents(amount: &str) -> i64 {
    let (dollars, cents) = amount.split_once('.').unwrap();
    dollars.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap()
}

fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn a_writing_run_rewrites_the_metrics_file_which_promtool_accepts() {
    let (harness, _ids) = eventful_harness();
    let metrics_dir = harness.temp.path().join("textfile");
    std::fs::create_dir(&metrics_dir).unwrap();
    let metrics = metrics_dir.join("bbship.prom");
    harness.write_config(|config| config["metrics"] = serde_json::json!({"textfile": metrics}));

    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 1, "{run:?}");
    let text = std::fs::read_to_string(&metrics).expect("the metrics file is written");
    assert_eq!(promtool_complaints(&text), "", "{text}");
    // node_exporter's textfile collector refuses samples with a timestamp (a third field).
    for line in text.lines().filter(|line| !line.starts_with('#')) {
        assert_eq!(line.split_whitespace().count(), 2, "{line}");
    }
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&metrics).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        mode & 0o044,
        0o044,
        "the collector's user cannot read it: {mode:o}"
    );
    // No temporary file is left beside it.
    assert_eq!(std::fs::read_dir(&metrics_dir).unwrap().count(), 1);

    let value =
        |series: &str| sample(&text, series).unwrap_or_else(|| panic!("{series} in\n{text}"));
    assert_eq!(value("bbship_last_run_exit_code{command=\"run-all\"}"), 1.0);
    // The earlier `label` and `ship` runs are in the runs log, so they are reported too.
    assert_eq!(value("bbship_last_run_exit_code{command=\"label\"}"), 1.0);
    assert!(value("bbship_last_run_start_timestamp_seconds{command=\"run-all\"}") > 1.7e9);
    assert!(value("bbship_last_run_duration_seconds{command=\"run-all\"}") >= 0.0);
    assert_eq!(
        value("bbship_last_run_orders{phase=\"label\",outcome=\"failed\"}"),
        1.0
    );
    assert_eq!(value("bbship_orders_needing_person"), 1.0, "{text}");
    // The shipped order's label and the cancelled one's, both bought in earlier runs.
    assert_eq!(value("bbship_labels_bought_total"), 2.0);
    // Their postage, as the fake charged it, in dollars; none is unknown.
    let charged: i64 = harness
        .fake
        .shipments()
        .iter()
        .map(|shipment| cents(&shipment.due()))
        .sum();
    assert!(charged > 0);
    assert_eq!(
        value("bbship_postage_spent_dollars_total{currency=\"CAD\"}"),
        charged as f64 / 100.0,
        "{text}"
    );
    assert_eq!(value("bbship_labels_price_unknown"), 0.0);
    assert_eq!(value("bbship_orders_shipped_total"), 1.0);
    assert!(value("bbship_journal_size_bytes") > 0.0);
    assert!(
        !text.contains("bbship_last_success_timestamp_seconds{command=\"run-all\"}"),
        "no run-all succeeded yet"
    );

    // Neither a dry run nor status writes it.
    std::fs::write(&metrics, "sentinel").unwrap();
    let dry = harness.bbship(&["run-all", "--dry-run"]);
    assert!(dry.code <= 1, "the dry run did not run: {dry:?}");
    assert_eq!(harness.bbship(&["status"]).code, 0);
    assert_eq!(std::fs::read_to_string(&metrics).unwrap(), "sentinel");
}

#[test]
fn a_metrics_file_that_cannot_be_written_is_a_warning_and_keeps_the_exit_code() {
    let harness = Harness::new(shipping_orders(1));
    let metrics = harness.temp.path().join("no-such-directory/bbship.prom");
    harness.write_config(|config| config["metrics"] = serde_json::json!({"textfile": metrics}));
    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("warning:"), "{run:?}");
    assert!(run.stderr.contains("metrics.textfile"), "{run:?}");
    assert!(!run.stderr.contains("error:"), "{run:?}");

    // Once it can be written, a clean run's file says it succeeded, and the counters
    // come from the history logs: the label bought by the run before counts.
    std::fs::create_dir(metrics.parent().unwrap()).unwrap();
    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stderr, "", "{run:?}");
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(promtool_complaints(&text), "", "{text}");
    assert_eq!(sample(&text, "bbship_labels_bought_total"), Some(1.0));
    assert_eq!(
        sample(&text, "bbship_last_run_exit_code{command=\"run-all\"}"),
        Some(0.0)
    );
    assert!(
        sample(
            &text,
            "bbship_last_success_timestamp_seconds{command=\"run-all\"}"
        )
        .is_some()
    );
}

/// Alerts to the fake's hooks, reminders every `hours`, and a refund e-mail.
fn with_reminders(harness: &Harness, hours: f64) {
    let base = harness.fake.base_url();
    harness.write_config(|config| {
        config["alerts"] = serde_json::json!({
            "webhook_url": format!("{base}/hooks/alert"),
            "healthcheck_url": format!("{base}/hooks/ping"),
            "remind_every_hours": hours,
        });
        config["canada_post"]["refund_email"] = "seller@example.com".into();
    });
}

/// What `logs/reminders.json` holds for `id`.
fn reminder_of(harness: &Harness, id: &str) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(harness.data_dir.join("logs/reminders.json")).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    value["orders"].get(id).cloned()
}

#[test]
fn an_order_that_needs_a_person_is_reminded_every_window_until_it_is_sorted() {
    let orders = shipping_orders(1);
    let id = orders[0].order_id().to_owned();
    let harness = Harness::new(orders);
    with_reminders(&harness, 24.0);
    assert_eq!(harness.bbship(&["label"]).code, 0);
    harness.fake.set_order_state(&id, "CANCELED");
    let needs_refund = format!("request the refund (bbship refund {id})");

    // First report: the phase's own error line, and the webhook.
    let first = harness.bbship(&["run-all"]);
    assert_eq!(first.code, 1, "{first:?}");
    assert!(first.stderr.contains("cancelled after label"), "{first:?}");
    assert_eq!(
        first.stderr.lines().count(),
        1,
        "one line per order: {first:?}"
    );
    assert_eq!(hooks(&harness, "/hooks/alert").len(), 1);
    let reported = reminder_of(&harness, &id).expect("the report is kept");

    // Inside the window: nothing on stderr, no alert, exit 0.
    let quiet = harness.bbship(&["run-all"]);
    assert_eq!(quiet.code, 0, "{quiet:?}");
    assert!(quiet.stderr.is_empty(), "{quiet:?}");
    assert_eq!(hooks(&harness, "/hooks/alert").len(), 1);
    assert_eq!(reminder_of(&harness, &id), Some(reported.clone()));

    // After the window: one error line, exit 1, and the webhook again.
    with_reminders(&harness, 0.0001);
    std::thread::sleep(Duration::from_millis(400));
    // A dry run neither reminds nor records.
    let dry = harness.bbship(&["run-all", "--dry-run"]);
    assert!(!dry.stderr.contains("needs a person"), "{dry:?}");
    assert_eq!(reminder_of(&harness, &id), Some(reported.clone()));
    let reminded = harness.bbship(&["run-all"]);
    assert_eq!(reminded.code, 1, "{reminded:?}");
    let lines: Vec<&str> = reminded.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{reminded:?}");
    assert!(
        lines[0].starts_with(&format!("bbship: error: order {id} still needs a person")),
        "{reminded:?}"
    );
    assert!(lines[0].contains(&needs_refund), "{reminded:?}");
    let posted = hooks(&harness, "/hooks/alert");
    assert_eq!(posted.len(), 2);
    let summary: serde_json::Value = serde_json::from_slice(&posted[1].body).unwrap();
    assert_eq!(summary["reminded"][0], id.as_str(), "{summary}");
    assert_eq!(summary["stuck"][0]["order_id"], id.as_str(), "{summary}");
    assert_eq!(summary["run"]["exit_code"], 1, "{summary}");
    assert_eq!(summary["run"]["reminded"][0], id.as_str(), "{summary}");
    let kept = reminder_of(&harness, &id).unwrap();
    assert_eq!(kept["first_at"], reported["first_at"]);
    assert_ne!(kept["last_at"], reported["last_at"]);

    // Sorted: its refund is requested. Never reminded again, and forgotten.
    let refund = harness.bbship(&["refund", &id, "--yes"]);
    assert_eq!(refund.code, 0, "{refund:?}");
    std::thread::sleep(Duration::from_millis(400));
    let sorted = harness.bbship(&["run-all"]);
    assert_eq!(sorted.code, 0, "{sorted:?}");
    assert!(sorted.stderr.is_empty(), "{sorted:?}");
    assert_eq!(hooks(&harness, "/hooks/alert").len(), 2);
    assert_eq!(reminder_of(&harness, &id), None);
}

#[test]
fn a_held_shipment_and_a_flagged_pin_are_reminded_too() {
    let held = bbship_fake::FakeOptions {
        shipment_status: Some("created".to_owned()),
        ..bbship_fake::FakeOptions::default()
    };
    for (options, flag_pin) in [(held, false), (bbship_fake::FakeOptions::default(), true)] {
        let orders = shipping_orders(1);
        let id = orders[0].order_id().to_owned();
        let harness = Harness::with_options(options, orders);
        with_reminders(&harness, 24.0);
        if flag_pin {
            harness.fake.inject(rule(
                Endpoint::TrackingSummary,
                100,
                answer(
                    404,
                    "application/vnd.cpc.messages+xml",
                    "<messages xmlns=\"http://www.canadapost.ca/ws/messages\"><message><code>002</code>\
                     <description>No Pin Found</description></message></messages>",
                ),
            ));
        }
        let first = harness.bbship(&["run-all"]);
        assert_eq!(first.code, 1, "{first:?}");
        let quiet = harness.bbship(&["run-all"]);
        assert_eq!(quiet.code, 0, "{quiet:?}");
        assert!(quiet.stderr.is_empty(), "{quiet:?}");

        with_reminders(&harness, 0.0001);
        std::thread::sleep(Duration::from_millis(400));
        let reminded = harness.bbship(&["run-all"]);
        assert_eq!(reminded.code, 1, "{reminded:?}");
        assert_eq!(reminded.stderr.lines().count(), 1, "{reminded:?}");
        assert!(
            reminded
                .stderr
                .starts_with(&format!("bbship: error: order {id} still needs a person")),
            "{reminded:?}"
        );
        assert_eq!(hooks(&harness, "/hooks/alert").len(), 2, "{reminded:?}");
        assert_eq!(harness.fake.shipments().len(), 1);
    }
}

#[test]
fn the_postage_of_each_label_is_in_the_run_summary_status_and_the_webhook_and_unknown_is_never_zero()
 {
    for account in support::ACCOUNTS {
        let orders = shipping_orders(2);
        let ids: Vec<String> = orders.iter().map(|o| o.order_id().to_owned()).collect();
        let harness = Harness::new(orders).with_account(account);
        let metrics = harness.temp.path().join("bbship.prom");
        with_alerts_and(&harness, |config| {
            config["metrics"] = serde_json::json!({"textfile": metrics})
        });
        // The second label's price does not read: a contract answer with a broken amount,
        // a non-contract receipt that is down.
        let second = ids[1].clone();
        if account == "contract" {
            harness.fake.inject(bbship_fake::FaultRule {
                order_id: Some(second.clone()),
                ..rule(Endpoint::CreateShipment, 1, Fault::Throttled)
            });
        } else {
            harness.fake.inject(rule(
                Endpoint::Price,
                100,
                answer(500, "text/plain", "receipt service down"),
            ));
        }
        let run = harness.bbship(&["label"]);
        let runs = read_jsonl(&harness.data_dir.join("logs/runs.jsonl"));
        let label = &runs.last().unwrap()["phases"][0];
        assert_eq!(label["phase"], "label", "{account}");
        let postage = &label["postage"];
        assert!(
            postage["unknown"].as_i64().unwrap() >= 1,
            "{account}: {postage} {run:?}"
        );
        if account == "non_contract" {
            assert_eq!(
                postage["known"], "0.00",
                "{account}: unknown is not counted as 0: {postage}"
            );
            let history = harness.history_log();
            assert!(
                history.iter().all(|line| line.get("postage").is_none()),
                "{account}: {history:?}"
            );
            let one = harness.bbship(&["status", &ids[0]]);
            assert!(
                one.stdout.contains("postage:    unknown"),
                "{account}: {one:?}"
            );
            // No receipt read: both labels are counted as unknown, none as zero dollars.
            let text = std::fs::read_to_string(&metrics).unwrap();
            assert_eq!(sample(&text, "bbship_labels_bought_total"), Some(2.0));
            assert_eq!(sample(&text, "bbship_labels_price_unknown"), Some(2.0));
            assert_eq!(
                sample(
                    &text,
                    "bbship_postage_spent_dollars_total{currency=\"CAD\"}"
                ),
                Some(0.0),
                "{text}"
            );
        } else {
            let first = harness.bbship(&["status", &ids[0]]);
            assert!(first.stdout.contains("postage:    "), "{first:?}");
            assert!(first.stdout.contains(" CAD (base "), "{account}: {first:?}");
        }
        // `status --json` says the same as the text: today's postage (one run today) and
        // the last run's; for the contract, the known part is what the fake charged.
        let json = harness.bbship(&["status", "--json"]);
        assert_eq!(json.code, 0, "{json:?}");
        let value: serde_json::Value = serde_json::from_str(&json.stdout).expect("JSON");
        let spend = &value["postage"];
        assert_eq!(spend["currency"], "CAD", "{value}");
        assert_eq!(spend["last_run"], *postage, "{account}: {value}");
        let today = &spend["today"];
        assert_eq!(
            today["date"],
            chrono::Utc::now().date_naive().to_string(),
            "{value}"
        );
        assert_eq!(today["known"], postage["known"], "{account}: {value}");
        assert_eq!(today["unknown"], postage["unknown"], "{account}: {value}");
        if account == "contract" {
            let charged = harness.fake.shipments_for(&ids[0])[0].due();
            assert_eq!(today["known"], charged.as_str(), "{value}");
        }
        let status = harness.bbship(&["status"]);
        assert!(
            status.stdout.contains("postage: today (UTC) "),
            "{account}: {status:?}"
        );
        assert!(
            status.stdout.contains("label(s) of unknown price"),
            "{account}: {status:?}"
        );
        // The contract run failed one order (its create was throttled): the webhook was
        // posted, and it carries the postage.
        let posted = hooks(&harness, "/hooks/alert");
        if account == "contract" {
            assert_eq!(posted.len(), 1, "{run:?}");
        }
        for posted in posted {
            let summary: serde_json::Value = serde_json::from_slice(&posted.body).unwrap();
            assert!(
                summary["run"]["phases"][0]["postage"].is_object(),
                "{account}: {summary}"
            );
        }
    }
}
