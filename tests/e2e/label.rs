//! Phase 2 through the real binary against the fake Canada Post: exactly one shipment per
//! order ready to ship, whatever fails, with a checked PIN, a 4x6 PDF and a history line.

use crate::support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use bbship::sha256_hex;
use bbship::{LabelInspection, inspect_label};
use bbship_fake::{Endpoint, FakeOptions, FakeOrder, Fault, FaultRule};
use support::{Harness, Run, answer, rule, shipping_orders, wait_until};

fn slm_body() -> String {
    r#"<?xml version="1.0" encoding="UTF-8"?><messages xmlns="http://www.canadapost.ca/ws/messages"><message><code>Server</code><description>Rejected by SLM Monitor</description></message></messages>"#.to_owned()
}

/// Every order has exactly one shipment at the fake.
fn assert_one_shipment_each(harness: &Harness, orders: &[FakeOrder]) {
    for order in orders {
        let shipments = harness.fake.shipments_for(order.order_id());
        assert_eq!(shipments.len(), 1, "order {}", order.order_id());
    }
    assert_eq!(harness.fake.shipments().len(), orders.len());
}

#[test]
fn every_order_ready_to_ship_gets_one_shipment_a_checked_pin_a_4x6_label_and_a_history_line() {
    let orders = shipping_orders(6);
    let harness = Harness::new(orders.clone());
    let run = harness.bbship(&["label"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.is_empty() && run.stderr.is_empty(), "{run:?}");
    assert_one_shipment_each(&harness, &orders);

    let history = harness.history_log();
    assert_eq!(history.len(), orders.len());
    let files = harness.label_files();
    assert_eq!(files.len(), orders.len());
    for line in &history {
        let order_id = line["order_id"].as_str().unwrap();
        let shipment = &harness.fake.shipments_for(order_id)[0];
        assert_eq!(line["shipment_id"], shipment.shipment_id.as_str());
        assert_eq!(line["tracking_pin"], shipment.tracking_pin.as_str());
        assert_eq!(line["request_id"], shipment.request_id.as_str());
        // A fresh PIN answers 004 first: valid, not yet scanned.
        assert_eq!(line["pin_validation"]["result"], "no_history_yet");
        assert_eq!(line["plan"]["service"], "DOM.EP");
        assert!(line["plan"]["destination"].is_string());
        assert!(line["links"].as_array().unwrap().len() >= 3);
        assert!(line["created_at"].is_string() && line["logged_at"].is_string());
        let label = &line["labels"][0];
        let path = harness.data_dir.join(label["path"].as_str().unwrap());
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(
            name.starts_with(&format!("{order_id}_")) && name.ends_with("Z.pdf"),
            "{name}"
        );
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(inspect_label(&bytes), Ok(LabelInspection { pages: 1 }));
        assert_eq!(label["sha256"], sha256_hex(&bytes).as_str());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}");
    }

    // Each label's price, as Canada Post's answer gave it, is journaled with its shipment.
    let created: Vec<serde_json::Value> = harness
        .label_journal()
        .into_iter()
        .filter(|event| event["event"] == "created")
        .collect();
    assert_eq!(created.len(), orders.len());
    for event in &created {
        let due = event["shipment"]["postage"]["due"]
            .as_str()
            .unwrap_or_default();
        let (units, cents) = due.split_once('.').unwrap_or_default();
        assert!(
            !units.is_empty() && cents.len() == 2 && due.parse::<f64>().is_ok_and(|d| d > 0.0),
            "{event}"
        );
    }

    // A second run buys nothing and writes nothing.
    harness.fake.reset_log();
    let again = harness.bbship(&["label"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(harness.fake.write_count(), 0);
    assert_eq!(harness.fake.requests().len(), 1, "only the SHIPPING list");
    assert_eq!(harness.history_log().len(), orders.len());
    assert_one_shipment_each(&harness, &orders);
}

#[test]
fn the_create_request_carries_what_canada_post_needs() {
    let order = FakeOrder::generated(5) // has a street_2
        .with_state("SHIPPING")
        .edit_address(|address| address.zip_code = "a1c 5m2".to_owned());
    let harness = Harness::new(vec![order.clone()]);
    assert_eq!(harness.bbship(&["label"]).code, 0);
    let create = harness
        .fake
        .requests()
        .into_iter()
        .find(|request| request.endpoint == Endpoint::CreateShipment)
        .unwrap();
    let header = |name: &str| {
        create
            .headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.clone())
    };
    assert_eq!(
        header("content-type").as_deref(),
        Some("application/vnd.cpc.shipment-v8+xml")
    );
    assert_eq!(header("accept-language").as_deref(), Some("en-CA"));
    assert!(header("authorization").unwrap().starts_with("Basic "));
    let body = String::from_utf8(create.body).unwrap();
    for expected in [
        "<transmit-shipment>true</transmit-shipment>",
        "<customer-ref-1>261300005-A</customer-ref-1>",
        "<address-line-2>Unit 6</address-line-2>",
        "<postal-zip-code>A1C5M2</postal-zip-code>",
        "<output-format>4x6</output-format>",
        "<contract-id>42708517</contract-id>",
        "<country-code>CA</country-code>",
    ] {
        assert!(body.contains(expected), "{expected} missing from {body}");
    }
}

#[test]
fn the_mailer_is_in_the_url_and_the_payer_in_the_settlement() {
    let orders = shipping_orders(2);
    let harness = Harness::new(orders.clone());
    // By default the mailed-by customer pays.
    let first = harness.bbship(&["label", "--order", orders[0].order_id()]);
    assert_eq!(first.code, 0, "{first:?}");
    let shipment = &harness.fake.shipments_for(orders[0].order_id())[0];
    assert_eq!(
        (shipment.mailed_by.as_str(), shipment.mobo.as_str()),
        ("1234567", "1234567")
    );
    assert_eq!(shipment.paid_by_customer, "1234567");
    assert_eq!(shipment.contract_id, "42708517");

    // A contract account that pays under another number, with that payer's contract.
    harness.write_config(|config| {
        config["canada_post"]["paid_by_customer"] = serde_json::json!("0007654321");
        config["canada_post"]["contract_id"] = serde_json::json!("0098765432");
    });
    let second = harness.bbship(&["label", "--order", orders[1].order_id()]);
    assert_eq!(second.code, 0, "{second:?}");
    let shipment = &harness.fake.shipments_for(orders[1].order_id())[0];
    assert_eq!(
        (shipment.mailed_by.as_str(), shipment.mobo.as_str()),
        ("1234567", "1234567"),
        "the URL keeps the mailer"
    );
    assert_eq!(shipment.paid_by_customer, "0007654321");
    assert_eq!(shipment.contract_id, "0098765432");
}

#[test]
fn a_postal_code_of_another_province_holds_the_order_and_the_others_go_through() {
    let orders = shipping_orders(3);
    // A Montréal postal code with an Ontario province: Canada Post would bill it.
    let mismatched = orders[1]
        .clone()
        .edit_address(|address| address.state = "ON".to_owned());
    assert_eq!(mismatched.order_id(), orders[1].order_id());
    let id = mismatched.order_id().to_owned();
    let harness = Harness::new(vec![orders[0].clone(), mismatched, orders[2].clone()]);
    let run = harness.bbship(&["label"]);
    assert_eq!(run.code, 1, "{run:?}");
    let line = run
        .stderr
        .lines()
        .find(|line| line.contains(&id))
        .unwrap_or_else(|| panic!("no line for {id}: {run:?}"));
    assert!(line.starts_with("bbship: error: "), "{line}");
    assert!(
        line.contains("H2X1Y4") && line.contains("QC") && line.contains("the province is ON"),
        "{line}"
    );
    assert!(harness.fake.shipments_for(&id).is_empty(), "nothing bought");
    assert_eq!(harness.fake.count(Endpoint::CreateShipment), 2);
    for order in [&orders[0], &orders[2]] {
        assert_eq!(harness.fake.shipments_for(order.order_id()).len(), 1);
    }
    // No intent either: the order never got near Canada Post.
    assert!(
        harness
            .label_journal()
            .iter()
            .all(|event| event["order_id"] != id.as_str()),
        "{:?}",
        harness.label_journal()
    );
}

#[test]
fn a_sender_postal_code_of_another_province_stops_the_run_with_exit_2() {
    let harness = Harness::new(shipping_orders(1));
    harness.write_config(|config| {
        config["sender"]["province"] = serde_json::json!("QC");
    });
    let run = harness.bbship(&["label"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("sender.postal_code")
            && run.stderr.contains("M1M1M1")
            && run.stderr.contains("the province is QC"),
        "{run:?}"
    );
    assert!(harness.fake.requests().is_empty());
}

#[test]
fn a_throttled_label_download_waits_warns_and_still_exits_0() {
    let orders = shipping_orders(1);
    let harness = Harness::new(orders.clone());
    harness.fake.inject(rule(
        Endpoint::Label,
        1,
        answer(503, "application/vnd.cpc.shipment-v8+xml", slm_body()),
    ));
    let run = harness.bbship(&["label"]);
    // A throttle that was waited out is worth a warning, never a failure.
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .lines()
            .any(|line| line.starts_with("bbship: warning: ") && line.contains("SLM")),
        "{run:?}"
    );
    assert!(!run.stderr.contains("error:"), "{run:?}");
    assert_eq!(harness.label_files().len(), 1);
}

#[test]
fn a_connection_dropped_after_the_create_is_settled_by_the_request_id_lookup() {
    for account in support::ACCOUNTS {
        a_connection_dropped_after_the_create_is_settled_by_the_request_id_lookup_for(account);
    }
}

fn a_connection_dropped_after_the_create_is_settled_by_the_request_id_lookup_for(
    account: &'static str,
) {
    let orders = shipping_orders(3);
    let harness = Harness::new(orders.clone()).with_account(account);
    harness.fake.inject(FaultRule {
        order_id: Some(orders[1].order_id().to_owned()),
        ..rule(Endpoint::CreateShipment, 1, Fault::DropAfterActing)
    });
    let run = harness.bbship(&["label"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_one_shipment_each(&harness, &orders);
    assert_eq!(harness.fake.count(Endpoint::FindShipment), 1);
    assert_eq!(harness.fake.count(Endpoint::CreateShipment), 3);
    let adopted = harness
        .label_journal()
        .into_iter()
        .filter(|event| event["event"] == "created" && event["adopted"] == true)
        .count();
    assert_eq!(adopted, 1);
    let history = harness.history_log();
    assert_eq!(history.len(), 3);
    // The adopted shipment came without its create answer, so its price was read (the
    // contract's `price` link; a non-contract label's receipt is read for every label):
    // every label's cost is known, and is what the fake charged.
    for line in &history {
        let order_id = line["order_id"].as_str().unwrap();
        let charged = harness.fake.shipments_for(order_id)[0].due();
        assert_eq!(
            line["postage"]["due"],
            charged.as_str(),
            "{account}: {line}"
        );
    }
    let price_reads = if account == "contract" { 1 } else { 3 };
    assert_eq!(
        harness.fake.count(Endpoint::Price),
        price_reads,
        "{account}"
    );
}

#[test]
fn a_crash_between_the_intent_and_the_post_leads_to_exactly_one_shipment() {
    for account in support::ACCOUNTS {
        a_crash_between_the_intent_and_the_post_leads_to_exactly_one_shipment_for(account);
    }
}

fn a_crash_between_the_intent_and_the_post_leads_to_exactly_one_shipment_for(
    account: &'static str,
) {
    let orders = shipping_orders(1);
    let harness = Harness::new(orders.clone()).with_account(account);
    // What a run killed right after journaling its intent leaves behind.
    std::fs::create_dir_all(harness.data_dir.join("logs/canada_post")).unwrap();
    let intent = serde_json::json!({
        "event": "intent",
        "order_id": orders[0].order_id(),
        "request_id": "261300000-A-crashed-0001",
        "at": "2026-01-15T10:00:00Z",
        "plan": {"service": "DOM.EP", "destination": "Toronto ON M5V2T6",
                 "weight_kg": 2.0, "dimensions_cm": [40.0, 30.0, 10.0]}
    });
    std::fs::write(
        harness
            .data_dir
            .join("logs/canada_post/label_journal.jsonl"),
        format!("{intent}\n"),
    )
    .unwrap();
    let run = harness.bbship(&["label"]);
    assert_eq!(run.code, 0, "{run:?}");
    // The open attempt was looked up first, found nothing, and only then a create went out.
    let endpoints: Vec<Endpoint> = harness
        .fake
        .requests()
        .iter()
        .map(|request| request.endpoint)
        .filter(|endpoint| matches!(endpoint, Endpoint::FindShipment | Endpoint::CreateShipment))
        .collect();
    assert_eq!(
        endpoints,
        [Endpoint::FindShipment, Endpoint::CreateShipment]
    );
    assert_one_shipment_each(&harness, &orders);
}

#[test]
fn a_crash_between_the_post_and_the_journal_leads_to_exactly_one_shipment() {
    for account in support::ACCOUNTS {
        a_crash_between_the_post_and_the_journal_leads_to_exactly_one_shipment_for(account);
    }
}

fn a_crash_between_the_post_and_the_journal_leads_to_exactly_one_shipment_for(
    account: &'static str,
) {
    let orders = shipping_orders(2);
    let harness = Harness::new(orders.clone()).with_account(account);
    // The first create takes long enough to kill the run while Canada Post acts on it.
    harness.fake.inject(rule(
        Endpoint::CreateShipment,
        1,
        Fault::Slow(Duration::from_secs(1)),
    ));
    let mut child = harness.spawn(&["label"]);
    wait_until("the create reached the fake", || {
        harness.fake.count(Endpoint::CreateShipment) == 1
    });
    child.kill().unwrap();
    child.wait().unwrap();
    wait_until("the fake created the shipment", || {
        harness.fake.shipments().len() == 1
    });

    let run = harness.bbship(&["label"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_one_shipment_each(&harness, &orders);
    assert_eq!(harness.history_log().len(), 2);
}

#[test]
fn a_crash_during_the_label_download_never_buys_a_second_label() {
    for account in support::ACCOUNTS {
        a_crash_during_the_label_download_never_buys_a_second_label_for(account);
    }
}

fn a_crash_during_the_label_download_never_buys_a_second_label_for(account: &'static str) {
    let orders = shipping_orders(1);
    let harness = Harness::new(orders.clone()).with_account(account);
    harness.fake.inject(rule(
        Endpoint::Label,
        1,
        Fault::Slow(Duration::from_secs(5)),
    ));
    let mut child = harness.spawn(&["label"]);
    wait_until("the label download started", || {
        harness.fake.count(Endpoint::Label) == 1
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(harness.label_files().is_empty());

    let run = harness.bbship(&["label"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_one_shipment_each(&harness, &orders);
    assert_eq!(harness.fake.count(Endpoint::CreateShipment), 1);
    assert_eq!(harness.label_files().len(), 1);
}

#[test]
fn a_label_not_ready_three_times_is_downloaded_on_the_fourth() {
    let options = FakeOptions {
        label_not_ready_downloads: 3,
        ..FakeOptions::default()
    };
    let harness = Harness::with_options(options, shipping_orders(1));
    let run = harness.bbship(&["label"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(harness.fake.count(Endpoint::Label), 4);
    assert_eq!(harness.label_files().len(), 1);
}

#[test]
fn a_label_still_not_ready_is_left_for_the_next_run_without_a_new_shipment() {
    let harness = Harness::new(shipping_orders(1));
    harness.write_config(|config| config["limits"]["label_wait_secs"] = 0.into());
    harness.fake.inject(rule(
        Endpoint::Label,
        1,
        answer(202, "application/pdf", String::new()),
    ));
    let first = harness.bbship(&["label"]);
    assert_eq!(first.code, 1, "{first:?}");
    assert!(first.stderr.contains("not ready"), "{first:?}");
    assert!(first.stderr.contains("no new shipment"), "{first:?}");
    assert!(harness.label_files().is_empty());
    assert!(harness.history_log().is_empty());

    let second = harness.bbship(&["label"]);
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(harness.fake.shipments().len(), 1);
    assert_eq!(harness.label_files().len(), 1);
    assert_eq!(harness.history_log().len(), 1);
}

#[test]
fn a_pin_with_history_is_validated_by_its_summary() {
    let options = FakeOptions {
        no_pin_history_calls: 0,
        ..FakeOptions::default()
    };
    let harness = Harness::with_options(options, shipping_orders(1));
    assert_eq!(harness.bbship(&["label"]).code, 0);
    let history = harness.history_log();
    assert_eq!(history[0]["pin_validation"]["result"], "validated");
    assert_eq!(history[0]["pin_validation"]["event"], "INFO");
}

#[test]
fn a_tracking_outage_leaves_the_pin_unchecked_until_the_next_run() {
    let harness = Harness::new(shipping_orders(1));
    // One read and its four retries (limits.max_retries) all meet the outage.
    harness.fake.inject(rule(
        Endpoint::TrackingSummary,
        5,
        answer(503, "text/plain", "down".to_owned()),
    ));
    let first = harness.bbship(&["label"]);
    assert_eq!(first.code, 1, "{first:?}");
    assert!(first.stderr.contains("not validated yet"), "{first:?}");
    assert!(harness.history_log().is_empty());
    assert_eq!(harness.label_files().len(), 1, "the label is saved anyway");

    let second = harness.bbship(&["label"]);
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(harness.fake.shipments().len(), 1);
    assert_eq!(harness.history_log().len(), 1);
    assert_eq!(
        harness.label_files().len(),
        1,
        "the label is not downloaded twice"
    );
}

#[test]
fn invalid_addresses_are_refused_with_their_field_named_and_the_rest_go_through() {
    let ready = |index| FakeOrder::generated(index).with_state("SHIPPING");
    let bad_postal = ready(1).edit_address(|address| address.zip_code = "90210".to_owned());
    let bad_province = ready(2).edit_address(|address| address.state = "Texas".to_owned());
    let long_street = ready(3).edit_address(|address| address.street_1 = "x".repeat(60));
    let good = ready(4);
    let harness = Harness::new(vec![bad_postal, bad_province, long_street, good.clone()]);
    let run = harness.bbship(&["label"]);
    assert_eq!(run.code, 1, "{run:?}");
    for (order, field) in [
        ("261300001-A", "shipping_address.zip_code"),
        ("261300002-A", "shipping_address.state"),
        ("261300003-A", "shipping_address.street_1"),
    ] {
        let line = run
            .stderr
            .lines()
            .find(|line| line.contains(order))
            .unwrap_or_else(|| panic!("no error for {order}: {run:?}"));
        assert!(line.contains(field), "{line}");
    }
    assert_eq!(harness.fake.shipments().len(), 1);
    assert_eq!(harness.fake.shipments()[0].order_reference, good.order_id());
}

#[test]
fn an_overlong_first_address_line_is_split_at_a_word_and_the_change_is_logged() {
    let order = FakeOrder::generated(1)
        .with_state("SHIPPING")
        .edit_address(|address| {
            address.street_1 =
                "1234 Very Long Example Boulevard Northwest Industrial Park".to_owned();
        });
    let harness = Harness::new(vec![order]);
    let run = harness.bbship(&["label"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("split at a word boundary"), "{run:?}");
    let body = harness
        .fake
        .requests()
        .into_iter()
        .find(|request| request.endpoint == Endpoint::CreateShipment)
        .map(|request| String::from_utf8(request.body).unwrap())
        .unwrap();
    assert!(
        body.contains(
            "<address-line-1>1234 Very Long Example Boulevard Northwest</address-line-1>"
        ),
        "{body}"
    );
    assert!(
        body.contains("<address-line-2>Industrial Park</address-line-2>"),
        "{body}"
    );
}

/// The old tool's history as it wrote it (`tests/fixtures/production/legacy/`), copied
/// into the data directory where bbship looks for it.
fn install_legacy_log(harness: &Harness, fixture: &str) {
    let dir = harness.data_dir.join("logs/canada_post");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        format!("tests/fixtures/production/legacy/{fixture}"),
        dir.join("cp_shipping_history_log.json"),
    )
    .unwrap();
}

/// The line `status` prints for an order.
fn status_line(run: &Run, order_id: &str) -> String {
    run.stdout
        .lines()
        .find(|line| line.contains(order_id))
        .unwrap_or_else(|| panic!("{order_id} not in {run:?}"))
        .to_owned()
}

#[test]
fn orders_in_the_legacy_json_log_are_never_shipped_again() {
    let orders = shipping_orders(2);
    let harness = Harness::new(orders.clone());
    std::fs::create_dir_all(harness.data_dir.join("logs/canada_post")).unwrap();
    std::fs::write(
        harness
            .data_dir
            .join("logs/canada_post/cp_shipping_history_log.json"),
        format!(
            r#"[{{"order_id": "{}", "tracking_pin": "7023210039414604"}}]"#,
            orders[0].order_id()
        ),
    )
    .unwrap();
    let run = harness.bbship(&["run-all"]);
    // Best Buy still shows it ready to ship: held for a person, never labelled.
    assert_eq!(run.code, 1, "{run:?}");
    assert!(harness.fake.shipments_for(orders[0].order_id()).is_empty());
    assert_eq!(harness.fake.shipments_for(orders[1].order_id()).len(), 1);
}

#[test]
fn the_old_tools_history_in_every_real_shape_is_read_and_never_labelled_again() {
    for (fixture, legacy_orders) in [
        (
            "cp_shipping_history_log.details.json",
            vec![
                ("261300101-A", "1234567200001012"),
                ("261300102-A", "1234567200001029"),
                ("261300103-A", "1234567200001036"),
                ("261300104-A", "1234567200001043"),
            ],
        ),
        (
            "cp_shipping_history_log.details-2.json",
            vec![
                ("261300105-A", "1234567200001050"),
                ("261300106-A", "1234567200001067"),
                ("261300107-A", "1234567200001074"),
            ],
        ),
        (
            "cp_shipping_history_log.test-order.json",
            vec![("TEST-ORDER-123", "1234567200001081")],
        ),
        (
            "cp_shipping_history_log.shipment-info.json",
            vec![("261300108-A", "1234567890123456")],
        ),
    ] {
        // The old tool's orders went out: Best Buy shows them shipped. One new order is
        // ready to ship.
        let mut orders: Vec<FakeOrder> = legacy_orders
            .iter()
            .map(|(id, _)| FakeOrder::new(id).with_state("SHIPPED"))
            .collect();
        orders.push(FakeOrder::new("261300200-A").with_state("SHIPPING"));
        let harness = Harness::new(orders);
        install_legacy_log(&harness, fixture);
        let run = harness.bbship(&["run-all"]);
        assert_eq!(run.code, 0, "{fixture}: {run:?}");
        assert_eq!(harness.fake.shipments().len(), 1, "{fixture}");
        assert_eq!(harness.fake.shipments_for("261300200-A").len(), 1);

        let status = harness.bbship(&["status", "--all"]);
        assert_eq!(status.code, 0, "{status:?}");
        for (order_id, pin) in &legacy_orders {
            let line = status_line(&status, order_id);
            assert!(
                line.contains("labelled by the old tool"),
                "{fixture}: {line}"
            );
            assert!(line.contains(pin), "{fixture}: {line}");
            assert!(!line.starts_with('!'), "{fixture}: {line}");
        }
        // Finished orders: not listed without --all.
        let status = harness.bbship(&["status"]);
        assert!(
            !status.stdout.contains(legacy_orders[0].0),
            "{fixture}: {status:?}"
        );
    }
}

#[test]
fn an_old_tool_order_still_ready_to_ship_is_held_for_a_person_until_it_is_sorted() {
    let orders = vec![
        FakeOrder::new("261300101-A").with_state("SHIPPING"),
        FakeOrder::new("261300102-A").with_state("SHIPPED"),
    ];
    let harness = Harness::new(orders);
    install_legacy_log(&harness, "cp_shipping_history_log.details.json");

    let first = harness.bbship(&["run-all"]);
    assert_eq!(first.code, 1, "{first:?}");
    let error = first
        .stderr
        .lines()
        .find(|line| line.contains("261300101-A"))
        .unwrap_or_else(|| panic!("{first:?}"));
    assert!(error.contains("error"), "{error}");
    assert!(error.contains("PIN 1234567200001012"), "{error}");
    assert!(error.contains("still shows it ready to ship"), "{error}");
    // Never relabelled, never uploaded blind.
    assert!(harness.fake.shipments().is_empty());
    assert_eq!(harness.fake.count(Endpoint::CreateShipment), 0);
    assert_eq!(harness.fake.count(Endpoint::Tracking), 0);
    assert_eq!(harness.fake.count(Endpoint::Ship), 0);

    let status = harness.bbship(&["status"]);
    let line = status_line(&status, "261300101-A");
    assert!(line.starts_with("! 261300101-A"), "{line}");
    assert!(line.contains("labelled by the old tool"), "{line}");
    assert!(line.contains("1234567200001012"), "{line}");
    let json = harness.bbship(&["status", "--json"]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let held = json["orders"]
        .as_array()
        .unwrap()
        .iter()
        .find(|view| view["order_id"] == "261300101-A")
        .unwrap();
    assert_eq!(held["step"], "labelled_by_old_tool");
    assert!(
        held["stuck"].as_str().unwrap().contains(
            "remove order 261300101-A from logs/canada_post/cp_shipping_history_log.json"
        ),
        "{held}"
    );

    // Reported once; still held, still never labelled.
    let second = harness.bbship(&["run-all"]);
    assert_eq!(second.code, 0, "{second:?}");
    assert!(harness.fake.shipments().is_empty());
    assert_eq!(harness.fake.count(Endpoint::Tracking), 0);
    let status = harness.bbship(&["status"]);
    assert!(
        status_line(&status, "261300101-A").starts_with('!'),
        "{status:?}"
    );

    // A person shipped it on Best Buy by hand: the hold is lifted.
    harness.fake.set_order_state("261300101-A", "SHIPPED");
    let third = harness.bbship(&["run-all"]);
    assert_eq!(third.code, 0, "{third:?}");
    let status = harness.bbship(&["status", "--all"]);
    let line = status_line(&status, "261300101-A");
    assert!(!line.starts_with('!'), "{line}");
    assert!(line.contains("labelled by the old tool"), "{line}");
    assert!(harness.fake.shipments().is_empty());
}

#[test]
fn an_old_tool_entry_that_names_no_order_stops_every_run() {
    let harness = Harness::new(shipping_orders(1));
    let mut entries: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            "tests/fixtures/production/legacy/cp_shipping_history_log.details.json",
        )
        .unwrap(),
    )
    .unwrap();
    let details = entries[2]["shipment_details"].as_str().unwrap().to_owned();
    entries[2]["shipment_details"] = serde_json::Value::String(
        details.replace("<customer-ref-1>261300103-A</customer-ref-1>", ""),
    );
    let dir = harness.data_dir.join("logs/canada_post");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("cp_shipping_history_log.json"),
        entries.to_string(),
    )
    .unwrap();
    for command in [&["run-all"][..], &["status", "--all"]] {
        let run = harness.bbship(command);
        assert_ne!(run.code, 0, "{command:?}: {run:?}");
        assert!(
            run.stderr.contains("entry 2 has no order_id"),
            "{command:?}: {run:?}"
        );
    }
    assert!(harness.fake.shipments().is_empty());
}

#[test]
fn no_pin_history_validates_in_either_namespace_over_200_or_404() {
    for fixture in [
        "tracking-004-messages-namespace.xml",
        "tracking-004-track-namespace.xml",
    ] {
        for status in [200, 404] {
            let options = FakeOptions {
                no_pin_history_calls: 0,
                ..FakeOptions::default()
            };
            let harness = Harness::with_options(options, shipping_orders(1));
            let body =
                std::fs::read_to_string(format!("tests/fixtures/production/canada-post/{fixture}"))
                    .unwrap();
            harness.fake.inject(rule(
                Endpoint::TrackingSummary,
                1,
                answer(status, "application/vnd.cpc.track-v2+xml", body),
            ));
            let run = harness.bbship(&["label"]);
            assert_eq!(run.code, 0, "{fixture} over {status}: {run:?}");
            let history = harness.history_log();
            assert_eq!(
                history[0]["pin_validation"]["result"], "no_history_yet",
                "{fixture} over {status}"
            );
        }
    }
}

#[test]
fn a_refused_create_buys_nothing_and_the_next_run_creates_once() {
    for account in support::ACCOUNTS {
        a_refused_create_buys_nothing_and_the_next_run_creates_once_for(account);
    }
}

fn a_refused_create_buys_nothing_and_the_next_run_creates_once_for(account: &'static str) {
    let orders = shipping_orders(1);
    let harness = Harness::new(orders.clone()).with_account(account);
    harness.fake.inject(rule(
        Endpoint::CreateShipment,
        1,
        answer(
            400,
            "application/vnd.cpc.shipment-v8+xml",
            std::fs::read_to_string(
                "tests/fixtures/canada-post/create-shipment-validation-error.xml",
            )
            .unwrap(),
        ),
    ));
    let first = harness.bbship(&["label"]);
    assert_eq!(first.code, 1, "{first:?}");
    // Every message is reported, with its code.
    for code in ["2695", "1151", "8716"] {
        assert!(first.stderr.contains(code), "{code}: {first:?}");
    }
    assert_eq!(
        harness.fake.count(Endpoint::FindShipment),
        0,
        "a refusal is certain"
    );

    let second = harness.bbship(&["label"]);
    assert_eq!(second.code, 0, "{second:?}");
    assert_one_shipment_each(&harness, &orders);
}

#[test]
fn a_throttled_create_is_looked_up_after_the_pause_and_never_repeated_blind() {
    for account in support::ACCOUNTS {
        a_throttled_create_is_looked_up_after_the_pause_and_never_repeated_blind_for(account);
    }
}

fn a_throttled_create_is_looked_up_after_the_pause_and_never_repeated_blind_for(
    account: &'static str,
) {
    let orders = shipping_orders(1);
    let harness = Harness::new(orders.clone()).with_account(account);
    harness.fake.inject(rule(
        Endpoint::CreateShipment,
        1,
        answer(503, "application/vnd.cpc.shipment-v8+xml", slm_body()),
    ));
    let started = std::time::Instant::now();
    let first = harness.bbship(&["label"]);
    assert_eq!(first.code, 1, "{first:?}");
    assert!(first.stderr.contains("SLM"), "{first:?}");
    // The lookup waited out the configured pause (1 s in the tests).
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(
        harness.fake.count(Endpoint::CreateShipment),
        1,
        "no blind retry"
    );
    assert_eq!(harness.fake.count(Endpoint::FindShipment), 1);
    assert!(harness.fake.shipments().is_empty());

    // The next run looks the attempt up again, finds nothing, and creates once.
    let second = harness.bbship(&["label"]);
    assert_eq!(second.code, 0, "{second:?}");
    assert_one_shipment_each(&harness, &orders);
}

#[test]
fn the_fake_throttle_pauses_every_canada_post_call() {
    // One shipment-group call a minute (tracking has its own limit): the second is
    // rejected by SLM and the run stops calling.
    let options = FakeOptions {
        canada_post_calls_per_minute: Some(1),
        ..FakeOptions::default()
    };
    let harness = Harness::with_options(options, shipping_orders(1));
    harness.write_config(|config| config["limits"]["cycle_budget_secs"] = 2.into());
    let run = harness.bbship(&["label"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("SLM"), "{run:?}");
    // Create and tracking went through; the label download met the throttle, waited the
    // pause, met it again and gave up for this run. Nothing was bought twice.
    assert_eq!(harness.fake.shipments().len(), 1);
    assert_eq!(harness.fake.count(Endpoint::CreateShipment), 1);
    assert!(harness.fake.canada_post_throttled() >= 1);
}

#[test]
fn a_dry_run_prints_each_create_shipment_xml_and_buys_nothing() {
    let harness = Harness::new(shipping_orders(2));
    let run = harness.bbship(&["label", "--dry-run"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(harness.fake.write_count(), 0);
    assert!(!harness.data_dir.exists());
    assert_eq!(run.stdout.matches("<shipment xmlns=").count(), 2, "{run:?}");
    assert!(run.stdout.contains("POST "), "{run:?}");
    assert!(run.stdout.contains("Authorization: [REDACTED]"), "{run:?}");
    assert!(!run.stdout.contains(support::CP_PASSWORD));
}

#[test]
fn wrong_canada_post_credentials_stop_the_run_with_exit_2() {
    let harness = Harness::new(shipping_orders(1));
    let run = Run::from(
        harness
            .command(&["label"])
            .env("CANADAPOST_PASSWORD", "wrong-password-123")
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("CANADAPOST_USERNAME"), "{run:?}");
    assert!(!run.stderr.contains("wrong-password-123"), "{run:?}");
    assert!(harness.fake.shipments().is_empty());
}

#[test]
fn label_and_run_all_need_the_canada_post_secrets() {
    let harness = Harness::new(shipping_orders(1));
    for command in ["label", "run-all"] {
        let output = harness
            .command(&[command])
            .env_remove("CANADAPOST_PASSWORD")
            .output()
            .unwrap();
        let run = Run::from(output);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("CANADAPOST_PASSWORD"), "{run:?}");
    }
    assert!(harness.fake.requests().is_empty());
}

#[test]
fn run_all_accepts_then_labels_in_one_run() {
    let orders = support::waiting_orders(4);
    let harness = Harness::new(orders.clone());
    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(harness.accepted_log().len(), 4);
    assert_one_shipment_each(&harness, &orders);
    assert_eq!(harness.label_files().len(), 4);
}

#[test]
fn a_label_link_answering_404_at_first_is_asked_again() {
    let harness = Harness::new(shipping_orders(1));
    harness.fake.inject(rule(
        Endpoint::Label,
        2,
        answer(404, "text/plain", String::new()),
    ));
    let run = harness.bbship(&["label"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(harness.fake.count(Endpoint::Label), 3);
    assert_eq!(harness.label_files().len(), 1);
    assert_eq!(harness.fake.count(Endpoint::CreateShipment), 1);
}

#[test]
fn several_workers_still_buy_exactly_one_label_per_order() {
    for account in support::ACCOUNTS {
        several_workers_still_buy_exactly_one_label_per_order_for(account);
    }
}

fn several_workers_still_buy_exactly_one_label_per_order_for(account: &'static str) {
    let orders = shipping_orders(12);
    let harness = Harness::new(orders.clone()).with_account(account);
    harness.write_config(|config| config["limits"]["concurrency"] = 4.into());
    // A drop after acting in the middle, so a lookup runs beside other creates.
    harness.fake.inject(FaultRule {
        skip: 5,
        ..rule(Endpoint::CreateShipment, 1, Fault::DropAfterActing)
    });
    let run = harness.bbship(&["label"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_one_shipment_each(&harness, &orders);
    assert_eq!(harness.history_log().len(), 12);
    assert_eq!(harness.label_files().len(), 12);
}

/// Two `run-all`s against a fake whose shipments come back with `status` (`None`: no
/// `<shipment-status>` at all), `prepare` setting up faults first. Whatever the status
/// says, the order is held for a person: one shipment, journaled, an error naming the
/// order, the shipment and the status, exit 1, nothing sent to Best Buy, never created
/// again, and `!` in `status`.
fn assert_held_for_a_person(
    status: Option<&str>,
    prepare: impl FnOnce(&Harness, &str),
) -> (Harness, String) {
    let options = FakeOptions {
        shipment_status: status.map(str::to_owned),
        ..FakeOptions::default()
    };
    let orders = shipping_orders(1);
    let id = orders[0].order_id().to_owned();
    let harness = Harness::with_options(options, orders);
    prepare(&harness, &id);

    let first = harness.bbship(&["run-all"]);
    assert_eq!(first.code, 1, "{first:?}");
    let shipment = &harness.fake.shipments_for(&id)[0];
    let said = status.map_or_else(|| "no status".to_owned(), |status| format!("`{status}`"));
    let error = first
        .stderr
        .lines()
        .find(|line| line.contains(&shipment.shipment_id))
        .unwrap_or_else(|| panic!("no line names the shipment: {first:?}"));
    assert!(error.starts_with("bbship: error: "), "{first:?}");
    assert!(error.contains(&format!("order {id}")), "{error}");
    assert!(error.contains(&format!("status {said}")), "{error}");
    assert!(
        harness
            .label_journal()
            .iter()
            .any(|event| event["event"] == "created"
                && event["shipment"]["shipment_id"] == shipment.shipment_id.as_str()),
        "the shipment is journaled"
    );

    let second = harness.bbship(&["run-all"]);
    assert_eq!(harness.fake.shipments_for(&id).len(), 1, "{second:?}");
    assert_eq!(
        harness.fake.count(Endpoint::CreateShipment),
        1,
        "{second:?}"
    );
    assert_eq!(harness.fake.count(Endpoint::Tracking), 0);
    assert_eq!(harness.fake.count(Endpoint::Ship), 0);
    assert!(harness.history_log().is_empty());
    assert_eq!(harness.fake.order_state(&id).as_deref(), Some("SHIPPING"));

    let (status_run, line) = harness.status_line(&id);
    assert!(line.trim_start().starts_with('!'), "{status_run:?}");
    assert!(line.contains(&format!("status {said}")), "{status_run:?}");
    (harness, id)
}

#[test]
fn a_created_shipment_is_held_for_a_person_and_never_shipped_or_bought_again() {
    let (harness, id) = assert_held_for_a_person(Some("created"), |_, _| {});
    // A person transmits it on Canada Post's website: the next run finishes and ships it.
    let shipment = harness.fake.shipments_for(&id)[0].shipment_id.clone();
    harness
        .fake
        .set_shipment_status(&shipment, Some("transmitted"));
    let released = harness.bbship(&["run-all"]);
    assert_eq!(released.code, 0, "{released:?}");
    assert_eq!(harness.fake.shipments().len(), 1);
    assert_eq!(harness.history_log().len(), 1);
    assert_eq!(harness.fake.count(Endpoint::Tracking), 1);
    assert_eq!(harness.fake.order_state(&id).as_deref(), Some("SHIPPED"));
}

#[test]
fn a_shipment_answered_without_a_status_is_held_for_a_person() {
    assert_held_for_a_person(None, |_, _| {});
}

#[test]
fn an_adopted_shipment_that_is_not_transmitted_is_held_for_a_person() {
    assert_held_for_a_person(Some("suspended"), |harness, _| {
        // The create's answer is lost: the shipment is found by its request id.
        harness
            .fake
            .inject(rule(Endpoint::CreateShipment, 1, Fault::DropAfterActing));
    });
}

#[test]
fn a_label_link_canada_post_does_not_know_shows_its_description_and_is_marked_after_its_limit() {
    let options = FakeOptions {
        labels_gone: true,
        ..FakeOptions::default()
    };
    let orders = shipping_orders(1);
    let id = orders[0].order_id().to_owned();
    let harness = Harness::with_options(options, orders);
    harness.write_config(|config| config["alerts"]["stuck_label_minutes"] = 0.into());
    let run = harness.bbship(&["label"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("was not found on this server."),
        "{run:?}"
    );
    assert!(run.stderr.contains("/rs/artifact/"), "{run:?}");
    assert!(!run.stderr.contains("not ready"), "{run:?}");
    // Asked once: waiting does not make a label Canada Post does not know appear.
    assert_eq!(harness.fake.count(Endpoint::Label), 1);
    assert_eq!(harness.fake.shipments().len(), 1);

    let (status, line) = harness.status_line(&id);
    assert!(line.trim_start().starts_with('!'), "{status:?}");
    assert!(
        line.contains(&format!("bbship reprint {id}")) && line.contains("Canada Post's website"),
        "{status:?}"
    );
}

#[test]
fn a_non_contract_seller_ships_through_ncshipment_with_the_receipts_price_logged() {
    let orders = shipping_orders(2);
    let harness = Harness::new(orders.clone()).with_account("non_contract");
    let run = harness.bbship(&["label"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_one_shipment_each(&harness, &orders);
    let creates: Vec<_> = harness
        .fake
        .requests()
        .into_iter()
        .filter(|request| request.endpoint == Endpoint::CreateShipment)
        .collect();
    assert_eq!(creates.len(), 2);
    for create in &creates {
        assert_eq!(create.path, "/rs/1234567/ncshipment", "{create:?}");
    }
    for shipment in harness.fake.shipments() {
        assert!(shipment.non_contract);
        assert_eq!(shipment.contract_id, "");
    }
    // One receipt per label, and no search: nothing was unknown.
    assert_eq!(harness.fake.count(Endpoint::Price), 2);
    assert_eq!(harness.fake.count(Endpoint::FindShipment), 0);
    // The fake's receipt: 12.50 + 2.00 a kilogram, 13 % HST; due = base + taxes.
    let cents = |value: &serde_json::Value| -> i64 {
        value.as_str().unwrap().replace('.', "").parse().unwrap()
    };
    for line in harness.history_log() {
        let weight = line["plan"]["weight_kg"].as_f64().unwrap();
        let base = cents(&line["postage"]["base"]);
        assert_eq!(base, 1250 + (weight * 200.0).round() as i64, "{line}");
        assert_eq!(
            cents(&line["postage"]["taxes"]),
            (base * 13 + 50) / 100,
            "{line}"
        );
        assert_eq!(
            cents(&line["postage"]["due"]),
            base + cents(&line["postage"]["taxes"]),
            "{line}"
        );
    }
}

#[test]
fn a_contract_id_in_a_non_contract_configuration_stops_with_exit_2_naming_the_key() {
    let harness = Harness::new(shipping_orders(1)).with_account("non_contract");
    harness.write_config(|config| config["canada_post"]["contract_id"] = "42708517".into());
    let run = harness.bbship(&["label"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("canada_post.contract_id"), "{run:?}");
    assert_eq!(harness.fake.write_count(), 0);
}

#[test]
fn a_non_contract_attempt_is_found_in_its_window_despite_a_skewed_clock() {
    for skew_minutes in [-9, 0, 9] {
        let orders = shipping_orders(1);
        let options = bbship_fake::FakeOptions {
            non_contract_clock_offset: Some(chrono::Duration::minutes(skew_minutes)),
            ..Default::default()
        };
        let harness = Harness::with_options(options, orders.clone()).with_account("non_contract");
        harness
            .fake
            .inject(rule(Endpoint::CreateShipment, 1, Fault::DropAfterActing));
        let run = harness.bbship(&["label"]);
        assert_eq!(run.code, 0, "skew {skew_minutes}: {run:?}");
        assert_one_shipment_each(&harness, &orders);
        let search = harness
            .fake
            .requests()
            .into_iter()
            .find(|request| request.endpoint == Endpoint::FindShipment)
            .expect("the window was searched");
        assert!(
            search.query.contains("from=") && search.query.contains("&to="),
            "{search:?}"
        );
        let adopted = harness
            .label_journal()
            .into_iter()
            .filter(|event| event["event"] == "created" && event["adopted"] == true)
            .count();
        assert_eq!(adopted, 1, "skew {skew_minutes}");
    }
}

#[test]
fn a_non_contract_shipment_outside_the_window_is_not_taken_and_a_failed_search_waits() {
    // Canada Post dates the shipment an hour off: the window (15 minutes of margin) does
    // not hold it, so the attempt stays open in its run and a later run creates anew;
    // the search never adopts a shipment it cannot place.
    let orders = shipping_orders(1);
    let options = bbship_fake::FakeOptions {
        non_contract_clock_offset: Some(chrono::Duration::minutes(60)),
        ..Default::default()
    };
    let harness = Harness::with_options(options, orders.clone()).with_account("non_contract");
    harness
        .fake
        .inject(rule(Endpoint::CreateShipment, 1, Fault::DropAfterActing));
    let first = harness.bbship(&["label"]);
    assert_eq!(first.code, 1, "{first:?}");
    assert!(first.stderr.contains("finds no shipment yet"), "{first:?}");
    assert_eq!(harness.fake.shipments().len(), 1);

    // A failing search: nothing is created.
    harness.fake.inject(rule(
        Endpoint::FindShipment,
        10,
        answer(500, "text/plain", "down"),
    ));
    let second = harness.bbship(&["label"]);
    assert_eq!(second.code, 1, "{second:?}");
    assert!(
        second.stderr.contains("searching for its shipment failed"),
        "{second:?}"
    );
    assert_eq!(harness.fake.count(Endpoint::CreateShipment), 1);
}

#[test]
fn the_spend_breaker_stops_creating_at_the_cap_for_both_accounts_and_the_next_run_goes_on() {
    for account in support::ACCOUNTS {
        let orders = shipping_orders(4);
        let harness = Harness::new(orders.clone()).with_account(account);
        // Every label costs more than 16.50 at the fake: at most two fit under 30.00.
        harness.write_config(|config| config["limits"]["max_postage_per_run"] = "30.00".into());
        let run = harness.bbship(&["label"]);
        assert_eq!(run.code, 1, "{account}: {run:?}");
        assert!(run.stderr.contains("spend breaker"), "{account}: {run:?}");
        assert!(
            run.stderr
                .contains("reaches limits.max_postage_per_run (30.00 CAD)"),
            "{run:?}"
        );
        let bought = harness.fake.shipments().len();
        assert!((1..=2).contains(&bought), "{account}: {bought}");
        let mut runs = 1;
        while harness.fake.shipments().len() < orders.len() {
            assert!(runs < 5, "{account}: not done after {runs} runs");
            let before = harness.fake.shipments().len();
            let run = harness.bbship(&["label"]);
            assert!(matches!(run.code, 0 | 1), "{account}: {run:?}");
            assert!(
                harness.fake.shipments().len() > before,
                "{account}: the next run went on"
            );
            runs += 1;
        }
        assert_one_shipment_each(&harness, &orders);
    }
}

#[test]
fn parallel_creates_wait_for_the_first_price_and_never_pass_the_spend_cap_by_more_than_one_label() {
    for account in support::ACCOUNTS {
        let orders = shipping_orders(6);
        let harness = Harness::new(orders.clone()).with_account(account);
        harness.write_config(|config| {
            config["limits"]["concurrency"] = 4.into();
            config["limits"]["max_postage_per_run"] = "30.00".into();
            // Light units, so that any one order (one to six units: 0.5 to 3 kg) costs
            // between 15.26 and 20.91 at the fake, whichever worker starts first.
            config["parcel"]["default"]["weight_kg"] = 0.5.into();
        });
        // Slow creates, so four workers would all be under way before any price came back.
        harness.fake.inject(rule(
            Endpoint::CreateShipment,
            orders.len(),
            Fault::Slow(Duration::from_millis(400)),
        ));
        let run = harness.bbship(&["label"]);
        assert_eq!(run.code, 1, "{account}: {run:?}");
        assert!(run.stderr.contains("spend breaker"), "{account}: {run:?}");
        // Every label costs more than 15.00 and less than 30.00: the first create alone (it
        // holds the whole cap), then one more below the cap, then none.
        assert_eq!(
            harness.fake.count(Endpoint::CreateShipment),
            2,
            "{account}: {run:?}"
        );
        assert_eq!(harness.fake.shipments().len(), 2, "{account}");
        assert!(
            run.stderr.contains("4 order(s) wait for the next run"),
            "{account}: {run:?}"
        );
    }
}

// The packing desk: a slip beside each new label, printed once with print.command, and
// `bbship print` merging labels and slips into one file.

/// A print command that appends each path it is given to `printed`, fails while `fail`
/// exists (saying so on standard error), and kills bbship, its parent, once while
/// `crash` exists: a run that dies between saving a label and printing it.
fn recorder(harness: &Harness) -> std::path::PathBuf {
    let directory = harness.temp.path().join("printer");
    std::fs::create_dir_all(&directory).unwrap();
    let script = directory.join("record.sh");
    std::fs::write(
        &script,
        "dir=$(dirname \"$0\")\n\
         if [ -e \"$dir/crash\" ]; then rm \"$dir/crash\"; kill -9 $PPID; sleep 5; exit 1; fi\n\
         if [ -e \"$dir/fail\" ]; then echo 'lp: printer Zebra is offline' >&2; exit 1; fi\n\
         echo \"$1\" >> \"$dir/printed\"\n",
    )
    .unwrap();
    harness.write_config(|config| {
        config["print"] = serde_json::json!({"command": ["sh", script.to_str().unwrap()]});
        config["parcel"]["default"] =
            serde_json::json!({"weight_kg": 0.1, "length_cm": 20, "width_cm": 15, "height_cm": 1});
    });
    directory
}

/// What the recorder printed, relative to the data directory.
fn printed(harness: &Harness, printer: &std::path::Path) -> Vec<String> {
    let root = format!("{}/", harness.data_dir.display());
    std::fs::read_to_string(printer.join("printed"))
        .unwrap_or_default()
        .lines()
        .map(|line| line.strip_prefix(&root).unwrap_or(line).to_owned())
        .collect()
}

fn long_french_order() -> FakeOrder {
    let title = "Casque d'écoute supra-auriculaire Bluetooth à réduction active du bruit, \
                 étui de transport & câble inclus — édition spéciale";
    FakeOrder::generated(1) // Montréal, QC
        .with_state("SHIPPING")
        .edit_address(|address| {
            address.firstname = "Amélie".to_owned();
            address.lastname = "Côté-Ouellette".to_owned();
        })
        .with_lines(
            (0..30)
                .map(|index| bbship_fake::FakeLine {
                    order_line_id: format!("9{index:04}"),
                    offer_sku: format!("SKU-{index:02}"),
                    product_sku: format!("1940{index:04}"),
                    product_title: format!("{title} n° {index}"),
                    quantity: 1 + index as u32 % 3,
                    unit_price: 9.99,
                })
                .collect(),
        )
}

#[test]
fn each_new_label_gets_a_packing_slip_that_lists_every_line_and_checks_with_qpdf() {
    let order = long_french_order();
    let harness = Harness::new(vec![order.clone()]);
    let printer = recorder(&harness);

    let dry = harness.bbship(&["label", "--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(harness.slip_files().is_empty(), "a dry run writes no slip");
    assert!(
        printed(&harness, &printer).is_empty(),
        "a dry run prints nothing"
    );

    let run = harness.bbship(&["label"]);
    assert_eq!(run.code, 0, "{run:?}");
    let slips = harness.slip_files();
    assert_eq!(slips.len(), 1, "{slips:?}");
    let name = slips[0].file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with(&format!("{}_", order.order_id())) && name.ends_with("Z.pdf"));
    let mode = std::fs::metadata(&slips[0]).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        support::checked_pdf_pages(&slips[0]) > 1,
        "30 lines take more than one page"
    );

    let text = support::pdf_tool("pdftotext", &[slips[0].to_str().unwrap(), "-"]);
    assert!(text.contains(order.order_id()), "{text}");
    assert!(
        text.contains("Côté-Ouellette"),
        "the last name, accents intact: {text}"
    );
    assert!(
        text.contains("MONTRÉAL") || text.contains("Montréal"),
        "{text}"
    );
    assert!(text.contains("transport &"), "{text}");
    for index in 0..30 {
        let line = format!("{} x SKU-{index:02}", 1 + index % 3);
        assert!(text.contains(&line), "{line:?} in {text}");
    }
    let pin = &harness.fake.shipments_for(order.order_id())[0].tracking_pin;
    assert!(text.contains(pin.as_str()), "the PIN as text: {text}");
    // Every word of the title comes out whole: wrapping never cuts one.
    assert!(
        text.contains("supra-auriculaire") && text.contains("réduction"),
        "{text}"
    );

    // The label and then its slip were printed, once.
    let label = harness.history_log()[0]["labels"][0]["path"]
        .as_str()
        .unwrap()
        .to_owned();
    let slip = format!("labels/slips/{name}");
    assert_eq!(printed(&harness, &printer), [label.clone(), slip.clone()]);
    let again = harness.bbship(&["label"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(printed(&harness, &printer), [label, slip]);
}

#[test]
fn each_file_prints_exactly_once_across_a_crash_and_a_printer_that_fails_then_comes_back() {
    let orders = shipping_orders(2);
    let harness = Harness::new(orders.clone());
    let printer = recorder(&harness);

    // The run dies right after saving the labels and slips, before anything printed.
    std::fs::write(printer.join("crash"), "").unwrap();
    let crashed = harness.bbship(&["run-all"]);
    assert_ne!(crashed.code, 0, "{crashed:?}");
    assert_eq!(harness.label_files().len(), 2);
    assert_eq!(harness.slip_files().len(), 2);
    assert!(printed(&harness, &printer).is_empty());

    // The next run prints all four once, each label before its slip, and buys nothing.
    let run = harness.bbship(&["run-all"]);
    assert_eq!(run.code, 0, "{run:?}");
    let first = printed(&harness, &printer);
    assert_eq!(first.len(), 4, "{first:?}");
    for order in &orders {
        let label = first
            .iter()
            .position(|file| file.starts_with(&format!("labels/{}_", order.order_id())))
            .unwrap();
        let slip = first
            .iter()
            .position(|file| file.starts_with(&format!("labels/slips/{}_", order.order_id())))
            .unwrap();
        assert!(label < slip, "{first:?}");
    }
    assert_one_shipment_each(&harness, &orders);

    // A failing printer is a warning quoting its standard error, never a failed run.
    let late = FakeOrder::generated(7).with_state("SHIPPING");
    harness.fake.add_orders(vec![late.clone()]);
    std::fs::write(printer.join("fail"), "").unwrap();
    let failing = harness.bbship(&["run-all"]);
    assert_eq!(failing.code, 0, "{failing:?}");
    assert!(
        failing.stderr.contains("warning:")
            && failing.stderr.contains("lp: printer Zebra is offline"),
        "{failing:?}"
    );
    assert_eq!(printed(&harness, &printer), first);
    let status = harness.bbship(&["status", late.order_id()]);
    assert!(
        status.stdout.contains("print:      print failed"),
        "{status:?}"
    );
    assert!(status.stdout.contains("stuck:      no"), "{status:?}");
    // Past alerts.stuck_label_minutes it needs a person.
    let printer_config = std::fs::read_to_string(&harness.config_path).unwrap();
    let mut config: serde_json::Value = serde_json::from_str(&printer_config).unwrap();
    config["alerts"] = serde_json::json!({"stuck_label_minutes": 0});
    std::fs::write(&harness.config_path, config.to_string()).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let status = harness.bbship(&["status"]);
    let row = status
        .stdout
        .lines()
        .find(|line| line.contains(late.order_id()))
        .unwrap();
    assert!(
        row.starts_with("! ") && row.contains("print failed"),
        "{status:?}"
    );
    assert!(row.contains("has not printed"), "{row}");

    // The printer comes back: the waiting label and slip print once, and only they.
    std::fs::remove_file(printer.join("fail")).unwrap();
    let back = harness.bbship(&["run-all"]);
    assert_eq!(back.code, 0, "{back:?}");
    let all = printed(&harness, &printer);
    assert_eq!(all.len(), 6, "{all:?}");
    assert!(
        all[4].starts_with(&format!("labels/{}_", late.order_id())),
        "{all:?}"
    );
    assert!(
        all[5].starts_with(&format!("labels/slips/{}_", late.order_id())),
        "{all:?}"
    );
    let quiet = harness.bbship(&["run-all"]);
    assert_eq!(quiet.code, 0, "{quiet:?}");
    assert_eq!(printed(&harness, &printer), all);
    let status = harness.bbship(&["status", late.order_id()]);
    assert!(status.stdout.contains("print:      printed"), "{status:?}");
    assert_eq!(
        harness.fake.shipments().len(),
        3,
        "printing never buys a label"
    );
}

#[test]
fn bbship_print_merges_labels_and_slips_into_one_checked_pdf_without_calling_an_api() {
    let orders = shipping_orders(2);
    let harness = Harness::new(orders.clone());
    let run = harness.bbship(&["label"]);
    assert_eq!(run.code, 0, "{run:?}");
    let slips = harness.slip_files();
    assert_eq!(slips.len(), 2);
    let slip_pages: usize = slips
        .iter()
        .map(|slip| support::checked_pdf_pages(slip))
        .sum();
    harness.fake.reset_log();

    let batch = harness.bbship(&["print", "--since", "1d"]);
    assert_eq!(batch.code, 0, "{batch:?}");
    let path = std::path::PathBuf::from(batch.stdout.trim());
    assert!(
        path.starts_with(harness.data_dir.join("labels/batches")),
        "{batch:?}"
    );
    assert_eq!(support::checked_pdf_pages(&path), 2 + slip_pages);
    let text = support::pdf_tool("pdftotext", &[path.to_str().unwrap(), "-"]);
    for order in &orders {
        assert!(text.contains(order.order_id()), "{text}");
    }
    assert_eq!(text.matches("PACKING SLIP").count(), slip_pages, "{text}");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // One order by name: its label and its slip.
    let one = harness.bbship(&["print", orders[1].order_id()]);
    assert_eq!(one.code, 0, "{one:?}");
    let one_path = std::path::PathBuf::from(one.stdout.trim());
    assert_ne!(one_path, path);
    let text = support::pdf_tool("pdftotext", &[one_path.to_str().unwrap(), "-"]);
    assert!(text.contains(orders[1].order_id()) && !text.contains(orders[0].order_id()));
    assert!(
        harness.fake.requests().is_empty(),
        "bbship print calls no API"
    );

    // With print.command set, the batch itself goes to the printer, once.
    let printer = recorder(&harness);
    let printed_batch = harness.bbship(&["print", orders[0].order_id()]);
    assert_eq!(printed_batch.code, 0, "{printed_batch:?}");
    let batch_file = printed_batch.stdout.trim().to_owned();
    assert_eq!(
        printed(&harness, &printer),
        [batch_file
            .strip_prefix(&format!("{}/", harness.data_dir.display()))
            .unwrap()
            .to_owned()]
    );
    assert!(
        harness.fake.requests().is_empty(),
        "bbship print calls no API"
    );

    assert_fails_saying(
        &harness.bbship(&["print", "999999999-Z"]),
        "error: bbship has no label of order 999999999-Z",
    );
    let empty = Harness::new(Vec::new());
    assert_fails_saying(
        &empty.bbship(&["print", "--since", "8h"]),
        "error: nothing to print: no label was saved in the last 8 h",
    );
}

/// The run exited 1 with `line` on standard error.
fn assert_fails_saying(run: &Run, line: &str) {
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains(line), "{line:?}: {run:?}");
}

#[test]
fn a_search_that_finds_two_shipments_keeps_one_and_reports_the_duplicate_for_both_accounts() {
    for account in support::ACCOUNTS {
        let orders = shipping_orders(1);
        let id = orders[0].order_id().to_owned();
        let harness = Harness::new(orders.clone()).with_account(account);
        // The create's answer is lost and so is the search right after it: the attempt
        // stays open. Meanwhile a second label for the order was bought.
        harness
            .fake
            .inject(rule(Endpoint::CreateShipment, 1, Fault::DropAfterActing));
        harness
            .fake
            .inject(rule(Endpoint::FindShipment, 10, Fault::DropBeforeActing));
        let first = harness.bbship(&["label"]);
        assert_eq!(first.code, 1, "{account}: {first:?}");
        let bought = harness.fake.shipments_for(&id);
        assert_eq!(bought.len(), 1, "{account}");
        harness.fake.duplicate_shipment(&bought[0].shipment_id);
        harness.fake.reset_faults();

        let second = harness.bbship(&["label"]);
        assert!(
            second.stderr.contains("found more than one shipment"),
            "{account}: {second:?}"
        );
        assert_eq!(
            harness.fake.count(Endpoint::CreateShipment),
            1,
            "{account}: nothing more bought"
        );
        let (_, line) = harness.status_line(&id);
        assert!(line.contains('!'), "{account}: {line}");
    }
}
