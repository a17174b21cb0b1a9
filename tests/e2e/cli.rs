//! The outside of the binary: usage and configuration errors, the lock, dry runs and the
//! journal on disk. Secrets and file permissions are in `security.rs`.

use crate::support;

use std::time::{Duration, Instant};

use bbship_fake::{Endpoint, Fault, FaultRule};
use support::{API_KEY, Harness, Run, files_below, waiting_orders};

#[test]
fn the_example_configuration_is_complete_and_loads() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/bbship.example.json");
    let config = bbship::Config::load(&path).unwrap();
    assert_eq!(config.canada_post.service_code.as_str(), "DOM.EP");
    assert!(!config.parcel.by_sku.is_empty());
    assert!(!config.canada_post.services.is_empty());
    // Every top-level section is spelled out in the example, so a user sees each key.
    let text = std::fs::read_to_string(&path).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    for section in [
        "bestbuy",
        "canada_post",
        "sender",
        "parcel",
        "limits",
        "alerts",
    ] {
        assert!(json.get(section).is_some(), "{section}");
    }
}

#[test]
fn an_unknown_config_key_exits_2_naming_the_key_and_file() {
    let harness = Harness::new(Vec::new());
    harness.write_config(|config| {
        config["limits"]["concurency"] = serde_json::json!(2);
    });
    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("limits.concurency"), "{run:?}");
    assert!(run.stderr.contains("bbship.json"), "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert_eq!(harness.fake.requests().len(), 0);
}

#[test]
fn an_invalid_config_value_exits_2_naming_the_key() {
    let harness = Harness::new(Vec::new());
    harness.write_config(|config| {
        config["sender"]["postal_code"] = serde_json::json!("90210");
    });
    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("sender.postal_code"), "{run:?}");
}

#[test]
fn a_missing_config_file_exits_2() {
    let harness = Harness::new(Vec::new());
    let run = harness
        .command(&["--config", "/nonexistent/bbship.json", "accept"])
        .output()
        .map(Run::from)
        .unwrap();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("/nonexistent/bbship.json"), "{run:?}");
}

#[test]
fn a_missing_secret_exits_2_naming_the_variable() {
    let harness = Harness::new(waiting_orders(1));
    let run = harness
        .command(&["accept"])
        .env_remove("BESTBUY_API_KEY")
        .output()
        .map(Run::from)
        .unwrap();
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("BESTBUY_API_KEY"), "{run:?}");
    assert_eq!(harness.fake.requests().len(), 0);
    assert!(!harness.data_dir.exists());
}

#[test]
fn accept_needs_no_canada_post_credentials() {
    let harness = Harness::new(waiting_orders(1));
    let run = harness
        .command(&["accept"])
        .env_remove("CANADAPOST_USERNAME")
        .env_remove("CANADAPOST_PASSWORD")
        .output()
        .map(Run::from)
        .unwrap();
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn bad_usage_exits_2() {
    let harness = Harness::new(Vec::new());
    for args in [
        vec!["frobnicate"],
        vec!["accept", "--order", "../../etc"],
        vec![],
    ] {
        let run = harness.bbship(&args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
    }
}

#[test]
fn dry_run_and_order_are_refused_by_the_commands_that_do_not_use_them() {
    let harness = Harness::new(Vec::new());
    for args in [
        vec!["status", "--order", "1-A", "--dry-run"],
        vec!["status", "--dry-run"],
        vec!["check", "--order", "1-A"],
        vec!["reprint", "1-A", "--order", "2-A"],
        vec!["print", "--since", "1d", "--dry-run"],
        vec!["--dry-run", "run-all"],
    ] {
        let run = harness.bbship(&args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains("error: unexpected argument '--"),
            "{args:?}: {run:?}"
        );
    }
    assert!(harness.fake.requests().is_empty());
}

#[test]
fn a_held_lock_exits_75_with_one_line_and_touches_nothing() {
    let harness = Harness::new(waiting_orders(2));
    let data_dir = bbship::DataDir::new(&harness.data_dir);
    let _held = bbship::RunLock::acquire(&data_dir).unwrap();
    let before = files_below(&harness.data_dir);

    for command in ["accept", "run-all"] {
        let run = harness.bbship(&[command]);
        assert_eq!(run.code, 75, "{run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
        assert!(run.stderr.contains("bbship.lock"), "{run:?}");
    }
    assert_eq!(harness.fake.requests().len(), 0);
    assert_eq!(files_below(&harness.data_dir), before);
}

#[test]
fn a_run_killed_with_sigkill_does_not_block_the_next() {
    let harness = Harness::new(waiting_orders(2));
    // Hold the first run inside its first request, with the lock taken.
    harness.fake.inject(FaultRule {
        endpoint: Endpoint::ListOrders,
        order_id: None,
        skip: 0,
        times: 1,
        fault: Fault::Slow(Duration::from_secs(30)),
    });
    let mut child = harness.command(&["run-all"]).spawn().unwrap();
    let started = Instant::now();
    while harness.fake.count(Endpoint::ListOrders) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the run never called the API"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    // While it holds the lock, a second run is turned away.
    assert_eq!(harness.bbship(&["run-all"]).code, 75);
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(harness.accepted_log().len(), 2);
}

#[test]
fn a_dry_run_sends_no_write_creates_no_file_and_prints_each_request() {
    let harness = Harness::new(waiting_orders(3));
    let run = harness.bbship(&["run-all", "--dry-run"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(harness.fake.write_count(), 0);
    assert!(harness.fake.count(Endpoint::ListOrders) >= 1);
    assert!(
        !harness.data_dir.exists(),
        "a dry run created the data directory"
    );
    for index in 0..3 {
        let id = bbship_fake::FakeOrder::generated(index)
            .order_id()
            .to_owned();
        let line = format!("PUT {}/orders/{id}/accept", harness.fake.bestbuy_url());
        assert!(run.stdout.contains(&line), "{run:?}");
    }
    assert!(run.stdout.contains("Authorization: [REDACTED]"), "{run:?}");
    assert!(run.stdout.contains(r#""order_lines""#), "{run:?}");
    assert!(!run.stdout.contains(API_KEY));
}

#[test]
fn a_dry_run_takes_no_lock() {
    let harness = Harness::new(waiting_orders(1));
    let data_dir = bbship::DataDir::new(&harness.data_dir);
    let _held = bbship::RunLock::acquire(&data_dir).unwrap();
    let run = harness.bbship(&["accept", "--dry-run"]);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn a_torn_journal_line_is_repaired_with_a_warning() {
    let harness = Harness::new(waiting_orders(1));
    let log = harness
        .data_dir
        .join("logs/best_buy/accepted_orders_log.jsonl");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    let whole = r#"{"order_id":"999-A","line_ids":["1"],"accepted_at":"2026-01-01T00:00:00Z","outcome":"accepted"}"#;
    std::fs::write(&log, format!("{whole}\n{{\"order_id\":\"998-A\",\"line_")).unwrap();

    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("incomplete last line"), "{run:?}");
    let lines = harness.accepted_log();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["order_id"], "999-A");
}

#[test]
fn a_corrupt_journal_line_stops_the_run_naming_file_and_line() {
    let harness = Harness::new(waiting_orders(1));
    let log = harness
        .data_dir
        .join("logs/best_buy/accepted_orders_log.jsonl");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    std::fs::write(&log, "{\"order_id\":\"1-A\"}\ngarbage\n").unwrap();
    let run = harness.bbship(&["accept"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("accepted_orders_log.jsonl:1"),
        "{run:?}"
    );
    assert_eq!(harness.fake.requests().len(), 0);
}
