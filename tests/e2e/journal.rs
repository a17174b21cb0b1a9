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
    // A first line, then one per settled order holding what both the shipping and the
    // packing desk's journals keep of it: with no print command every order's label and
    // slip are settled there too, without the slip content.
    let text = std::fs::read_to_string(&checkpoint).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines[0]["settled"], 150);
    assert!(lines[0]["printing"].as_object().unwrap().is_empty());
    assert_eq!(lines.len(), 1 + 150);
    for order in &lines[1..] {
        assert!(order[1].is_array() && order[2].is_array(), "{order}");
    }
    assert!(!text.contains("ship_to"), "{text}");

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
