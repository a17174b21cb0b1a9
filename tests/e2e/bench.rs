//! The benchmark (`cargo run --release --example bench`) keeps working: its scenario and
//! journal code (in the fake crate's `bench` module) runs here with tiny numbers; the
//! example's `main.rs` (options, counting allocator, report) is compiled by `cargo clippy
//! --all-targets` and `cargo build --examples`, and `-- --quick` runs the whole bench in
//! seconds.

use std::collections::BTreeSet;
use std::time::Duration;

use bbship::Access;
use bbship::DataDir;
use bbship_fake::Endpoint;
use bbship_fake::bench::{journal_scale, scenario};
use scenario::{RateLimits, Scenario};

#[test]
fn a_tiny_bench_ships_every_order_once_and_amplifies_its_journal() {
    let temp = tempfile::tempdir().unwrap();
    let cycle_dir = temp.path().join("cycle");
    let run = scenario::run(
        &Scenario {
            orders: 4,
            latency: Duration::from_millis(5),
            concurrency: 2,
            limits: RateLimits::unlimited(),
            non_contract: false,
        },
        &cycle_dir,
    )
    .unwrap();
    assert_eq!(run.shipments.len(), 4);
    assert_eq!(run.canada_post_throttled, 0);
    assert_eq!(run.bestbuy_throttled, 0);
    assert!(run.idle_calls <= 2, "{} idle calls", run.idle_calls);
    // Six calls an order, and a few listings.
    let calls = run.requests.len();
    assert!((4 * 6..4 * 8).contains(&calls), "{calls} calls");
    assert_eq!(run.calls_by_endpoint()[&Endpoint::TrackingSummary], 4);
    let tracking = scenario::group_rate(&run.requests, |request| {
        request.endpoint == Endpoint::TrackingSummary
    })
    .unwrap();
    assert_eq!(tracking.calls, 4);
    assert_eq!(tracking.busiest_minute, 4);

    // 4 template orders make 50: twelve whole copies and a partial one.
    let large_dir = temp.path().join("large");
    let amplified = journal_scale::amplify(
        &scenario::data_dir_of(&cycle_dir),
        &run.shipments,
        &large_dir,
        50,
    )
    .unwrap();
    assert!(amplified.files.len() >= 5, "{:?}", amplified.files);
    let large = DataDir::new(&large_dir);
    let (journal, _, cost) = journal_scale::open_timed(&large, Access::ReadOnly, None).unwrap();
    assert!(cost.peak_heap.is_none());
    journal_scale::check_complete(&journal, 50).unwrap();
    assert_eq!(journal.counts().0 + journal.counts().1, 50);
    drop(journal);
    // Each copy has its own shipment and PIN.
    let history =
        std::fs::read_to_string(large_dir.join("logs/canada_post/cp_shipping_history_log.jsonl"))
            .unwrap();
    let mut pins = BTreeSet::new();
    let mut shipments = BTreeSet::new();
    for line in history.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        pins.insert(value["tracking_pin"].as_str().unwrap().to_owned());
        shipments.insert(value["shipment_id"].as_str().unwrap().to_owned());
    }
    assert_eq!((pins.len(), shipments.len()), (50, 50));
    assert!(pins.iter().all(|pin| bbship::pin_check_digit_holds(pin)));

    let (journal, _lock, _) = journal_scale::open_timed(&large, Access::ReadWrite, None).unwrap();
    let appends = journal_scale::appends_timed(&[(&journal, 50)], 3).unwrap();
    assert!(appends[0].median <= appends[0].slowest);
    assert_eq!(journal.counts().0 + journal.counts().1, 53);
}
