//! The journal checkpoint through the real binary: a run with a long history saves one,
//! and the next run starts from it.

use crate::support;

use support::{Harness, waiting_orders};

#[test]
fn a_long_history_gets_a_checkpoint_that_the_next_run_starts_from() {
    use std::os::unix::fs::PermissionsExt;
    // 150 orders make more than the 1,000 log lines after which a checkpoint is due.
    let harness = Harness::new(waiting_orders(150));
    harness.write_config(|config| {
        config["limits"]["concurrency"] = 4.into();
        config["limits"]["max_labels_per_run"] = 1000.into();
    });
    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 0, "{run:?}");
    let checkpoint = harness.data_dir.join("logs/journal_checkpoint.json");
    let metadata = std::fs::metadata(&checkpoint).expect("a checkpoint was written");
    assert_eq!(metadata.permissions().mode() & 0o777, 0o600);
    let saved: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&checkpoint).unwrap()).unwrap();
    assert_eq!(saved["settled"].as_object().unwrap().len(), 150);
    // The packing desk's log is checkpointed too; with no print command every order's
    // label and slip are settled there, without the slip content.
    let prints = &saved["prints"];
    assert_eq!(prints["settled"].as_object().unwrap().len(), 150);
    assert!(prints["active"].as_object().unwrap().is_empty());
    assert!(!saved.to_string().contains("ship_to"), "{prints}");

    // The first line of the accepted log is spoiled: a run that replayed the logs from
    // the start would stop on it; one that starts from the checkpoint never reads it.
    let log = harness
        .data_dir
        .join("logs/best_buy/accepted_orders_log.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    let first_line = text.find('\n').unwrap();
    std::fs::write(
        &log,
        format!("{}{}", "x".repeat(first_line), &text[first_line..]),
    )
    .unwrap();
    harness.fake.reset_log();
    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(harness.fake.write_count(), 0);

    // Without the checkpoint the spoiled line is found and named.
    std::fs::remove_file(&checkpoint).unwrap();
    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("accepted_orders_log.jsonl:1"),
        "{run:?}"
    );
}
