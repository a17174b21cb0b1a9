//! Phase 3 and the whole cycle through the real binary against the fake APIs.

use crate::support;

use bbship_fake::{Endpoint, Fault, FaultRule};
use support::{Harness, answer, read_jsonl, rule, shipping_orders, waiting_orders};

fn shipped_log(harness: &Harness) -> Vec<serde_json::Value> {
    read_jsonl(
        &harness
            .data_dir
            .join("logs/best_buy/shipped_orders_log.jsonl"),
    )
}

#[test]
fn a_full_cycle_takes_every_order_from_waiting_acceptance_to_shipped() {
    let orders = waiting_orders(24);
    let harness = Harness::new(orders.clone());
    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.is_empty() && run.stderr.is_empty(), "{run:?}");
    for order in &orders {
        let id = order.order_id();
        assert_eq!(
            harness.fake.order_state(id).as_deref(),
            Some("SHIPPED"),
            "{id}"
        );
        assert_eq!(harness.fake.shipments_for(id).len(), 1, "{id}");
    }
    let log = shipped_log(&harness);
    assert_eq!(log.len(), 24);
    for line in &log {
        assert_eq!(line["order_state"], "SHIPPED");
        let id = line["order_id"].as_str().unwrap();
        let pin = &harness.fake.shipments_for(id)[0].tracking_pin;
        assert_eq!(line["order"]["shipping_tracking"], pin.as_str(), "{id}");
    }
    // OR23 carries the carrier's code and the PIN, and nothing else: the body Best Buy
    // answered 204 to in production (the default carrier name stays home).
    let upload = harness
        .fake
        .requests()
        .into_iter()
        .find(|request| request.endpoint == Endpoint::Tracking)
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&upload.body).unwrap();
    let pin = &harness
        .fake
        .shipments_for(upload.order_id.as_deref().unwrap())[0]
        .tracking_pin;
    assert_eq!(
        body,
        serde_json::json!({"carrier_code": "CPCL", "tracking_number": pin})
    );
    // States were read in batches: one OR11 by ids for the states, one for the read-back.
    assert_eq!(harness.reads_by_ids(), 2);

    // Three more cycles write nothing at all.
    harness.fake.reset_log();
    for _ in 0..3 {
        let again = harness.bbship(&["run-all"]);
        assert_eq!(again.code, 0, "{again:?}");
    }
    assert_eq!(harness.fake.write_count(), 0);
    assert_eq!(shipped_log(&harness).len(), 24);
}

#[test]
fn a_ship_that_failed_after_the_tracking_upload_resumes_with_the_ship_only() {
    let orders = shipping_orders(2);
    let harness = Harness::new(orders.clone());
    assert_eq!(harness.bbship(&["label"]).code, 0);
    harness.fake.inject(FaultRule {
        order_id: Some(orders[0].order_id().to_owned()),
        ..rule(Endpoint::Ship, 1, answer(500, "application/json", ""))
    });
    let first = harness.bbship(&["ship"]);
    assert_eq!(first.code, 1, "{first:?}");
    assert!(first.stderr.contains(orders[0].order_id()), "{first:?}");
    assert_eq!(
        harness.fake.order_state(orders[0].order_id()).as_deref(),
        Some("SHIPPING")
    );
    assert_eq!(
        harness.fake.order_state(orders[1].order_id()).as_deref(),
        Some("SHIPPED")
    );

    harness.fake.reset_log();
    let second = harness.bbship(&["ship"]);
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(
        harness.fake.count(Endpoint::Tracking),
        0,
        "tracking is not sent again"
    );
    assert_eq!(harness.fake.count(Endpoint::Ship), 1);
    assert_eq!(
        harness.fake.order_state(orders[0].order_id()).as_deref(),
        Some("SHIPPED")
    );
}

#[test]
fn an_order_cancelled_after_its_label_is_never_marked_shipped_and_is_reported() {
    let orders = shipping_orders(2);
    let harness = Harness::new(orders.clone());
    assert_eq!(harness.bbship(&["label"]).code, 0);
    let cancelled = orders[0].order_id();
    harness.fake.set_order_state(cancelled, "CANCELED");
    let shipment = harness.fake.shipments_for(cancelled)[0].clone();

    let run = harness.bbship(&["ship"]);
    assert_eq!(run.code, 1, "{run:?}");
    let line = run
        .stderr
        .lines()
        .find(|line| line.contains(cancelled))
        .unwrap();
    assert!(line.contains("cancelled after label"), "{line}");
    assert!(line.contains(&shipment.shipment_id), "{line}");
    assert!(line.contains(&shipment.tracking_pin), "{line}");
    assert!(line.contains("request a refund"), "{line}");
    let writes_for_cancelled = harness
        .fake
        .requests()
        .iter()
        .filter(|request| request.method == "PUT" && request.order_id.as_deref() == Some(cancelled))
        .count();
    assert_eq!(writes_for_cancelled, 0);
    assert_eq!(
        harness.fake.order_state(orders[1].order_id()).as_deref(),
        Some("SHIPPED")
    );
}

#[test]
fn a_read_back_that_is_not_shipped_is_an_error_and_is_settled_next_run() {
    let orders = shipping_orders(1);
    let harness = Harness::new(orders.clone());
    assert_eq!(harness.bbship(&["label"]).code, 0);
    // Best Buy answers 204 to OR24 without acting on it.
    harness.fake.inject(rule(
        Endpoint::Ship,
        1,
        answer(204, "application/json", String::new()),
    ));
    let first = harness.bbship(&["ship"]);
    assert_eq!(first.code, 1, "{first:?}");
    assert!(first.stderr.contains("not SHIPPED"), "{first:?}");
    assert_eq!(shipped_log(&harness)[0]["order_state"], "SHIPPING");

    let second = harness.bbship(&["ship"]);
    assert_eq!(second.code, 0, "{second:?}");
    let log = shipped_log(&harness);
    assert_eq!(log.last().unwrap()["order_state"], "SHIPPED");
    assert_eq!(harness.fake.count(Endpoint::Tracking), 1);
}

#[test]
fn a_dropped_answer_to_the_ship_is_settled_by_reading_the_state() {
    let orders = shipping_orders(1);
    let harness = Harness::new(orders.clone());
    assert_eq!(harness.bbship(&["label"]).code, 0);
    harness
        .fake
        .inject(rule(Endpoint::Ship, 1, Fault::DropAfterActing));
    let run = harness.bbship(&["ship"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        harness.fake.count(Endpoint::Ship),
        1,
        "no second OR24 once SHIPPED"
    );
    assert_eq!(shipped_log(&harness)[0]["order_state"], "SHIPPED");
}

/// The OR23 bodies the fake received, in order.
fn tracking_bodies(harness: &Harness) -> Vec<serde_json::Value> {
    harness
        .fake
        .requests()
        .into_iter()
        .filter(|request| request.endpoint == Endpoint::Tracking)
        .map(|request| serde_json::from_slice(&request.body).unwrap())
        .collect()
}

/// Ships one order with the carrier keys `edit` sets; returns the harness and the PIN.
fn ship_one_with(edit: impl FnOnce(&mut serde_json::Value)) -> (Harness, String) {
    let orders = shipping_orders(1);
    let id = orders[0].order_id().to_owned();
    let harness = Harness::new(orders);
    harness.write_config(|config| edit(&mut config["bestbuy"]));
    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(harness.fake.order_state(&id).as_deref(), Some("SHIPPED"));
    let pin = harness.fake.shipments_for(&id)[0].tracking_pin.clone();
    (harness, pin)
}

#[test]
fn a_known_carrier_gets_its_code_only_and_best_buy_builds_the_link() {
    // A name and a link configured beside the code are not sent: Best Buy knows the
    // carrier by its code.
    let (harness, pin) = ship_one_with(|bestbuy| {
        bestbuy["carrier_code"] = serde_json::json!("CPCL");
        bestbuy["carrier_name"] = serde_json::json!("Canada Post");
        bestbuy["carrier_url"] = serde_json::json!("https://tracking.example.com/{pin}");
    });
    assert_eq!(
        tracking_bodies(&harness),
        [serde_json::json!({"carrier_code": "CPCL", "tracking_number": pin})]
    );
    let shipped = shipped_log(&harness);
    let order = &shipped[0]["order"];
    assert_eq!(order["shipping_carrier_code"], "CPCL");
    assert_eq!(order["shipping_company"], "Canada Post");
    let url = order["shipping_tracking_url"].as_str().unwrap();
    assert!(
        url.ends_with(&pin) && !url.contains("tracking.example.com"),
        "{url}"
    );
}

#[test]
fn a_carrier_best_buy_does_not_know_gets_its_name_and_link() {
    let (harness, pin) = ship_one_with(|bestbuy| {
        bestbuy["carrier_code"] = serde_json::Value::Null;
        bestbuy["carrier_name"] = serde_json::json!("Postes Canada");
        bestbuy["carrier_url"] = serde_json::json!("https://tracking.example.com/{pin}");
    });
    assert_eq!(
        tracking_bodies(&harness),
        [serde_json::json!({
            "carrier_name": "Postes Canada",
            "carrier_url": format!("https://tracking.example.com/{pin}"),
            "tracking_number": pin,
        })]
    );
}

#[test]
fn no_carrier_at_all_is_a_configuration_error_before_any_call() {
    let harness = Harness::new(shipping_orders(1));
    harness.write_config(|config| {
        config["bestbuy"]["carrier_code"] = serde_json::Value::Null;
        config["bestbuy"]["carrier_name"] = serde_json::Value::Null;
    });
    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("bestbuy.carrier_code"), "{run:?}");
    assert!(harness.fake.requests().is_empty());
}

#[test]
fn a_dry_run_prints_the_tracking_and_ship_requests_and_sends_nothing() {
    let orders = shipping_orders(1);
    let harness = Harness::new(orders.clone());
    assert_eq!(harness.bbship(&["label"]).code, 0);
    harness.fake.reset_log();
    let run = harness.bbship(&["ship", "--dry-run"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(harness.fake.write_count(), 0);
    let pin = &harness.fake.shipments_for(orders[0].order_id())[0].tracking_pin;
    assert!(run.stdout.contains("/tracking"), "{run:?}");
    assert!(run.stdout.contains(pin.as_str()), "{run:?}");
    assert!(run.stdout.contains("/ship"), "{run:?}");
    assert!(shipped_log(&harness).is_empty());
}

#[test]
fn an_idle_cycle_after_shipping_makes_two_calls() {
    let harness = Harness::new(shipping_orders(3));
    assert_eq!(harness.bbship(&["run-all"]).code, 0);
    harness.fake.reset_log();
    assert_eq!(harness.bbship(&["run-all"]).code, 0);
    assert_eq!(
        harness.fake.requests().len(),
        2,
        "one list per listing phase"
    );
}
