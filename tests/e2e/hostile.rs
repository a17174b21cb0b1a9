//! A hostile input corpus through the real binary: Best Buy orders and answers, and
//! Canada Post answers, that the real services should never send.
//!
//! Each case is one row of `corpus()`: a phase, what is done to one order (the victim) or
//! to an answer, and what must follow. Every case also checks what must hold whatever the
//! input: nothing panics, every stderr line is one whole message free of raw control
//! characters, nothing is written outside the data directory, label files stay directly
//! in `labels/` under safe names, every journal line is readable, and Canada Post never
//! sells two labels for one order.

use crate::support;

use std::collections::BTreeSet;
use std::path::PathBuf;

use bbship_fake::{Endpoint, FakeOrder, Fault, FaultRule};
use serde_json::{Value, json};
use support::{Harness, Run, answer, files_below, rule};

/// The phase a case runs, which decides the orders' starting state and the command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Orders waiting for acceptance; `accept`.
    Accept,
    /// Orders in SHIPPING; `label`.
    Label,
    /// Orders in SHIPPING, labelled by a clean `label` run first; `ship`.
    Ship,
    /// The good orders in SHIPPING, the victim waiting for acceptance; `run-all`.
    RunAll,
}

impl Phase {
    fn command(self) -> &'static str {
        match self {
            Phase::Accept => "accept",
            Phase::Label => "label",
            Phase::Ship => "ship",
            Phase::RunAll => "run-all",
        }
    }
}

/// What must follow, beyond the checks every case makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Then {
    /// The good orders go through; no write ever reaches the victim.
    VictimRefused,
    /// Every order goes through, the victim too.
    AllThrough,
    /// The good orders go through; the victim does not, and a second run (faults spent)
    /// takes it through with no second shipment.
    VictimNextRun,
    /// The whole answer was unusable so nothing went through; a second run does it all.
    NothingThenAll,
}

#[derive(Clone)]
struct Case {
    name: &'static str,
    /// `canada_post.account`: every case runs for both kinds but the `CONTRACT_SHAPED`.
    account: &'static str,
    /// The case injects no fault of its own: only the order is hostile.
    order_only: bool,
    phase: Phase,
    /// Applied to the victim order before the fake serves it.
    victim: fn(FakeOrder) -> FakeOrder,
    /// Faults and other setup, after the fake holds its orders (and, for `Ship`, after
    /// the orders were labelled).
    setup: fn(&Harness),
    code: i32,
    /// Phrases one stderr line must hold together: the order (or the answer) blamed
    /// and what was wrong with it. Empty: nothing is required.
    blame: &'static [&'static str],
    then: Then,
}

/// The cases whose injected answer is shaped as only the contract API answers.
const CONTRACT_SHAPED: [&str; 7] = [
    "create answered with an unexpected root",
    "create answered without a shipment-id after buying",
    "create answered without a tracking-pin after buying",
    "the request-id lookup answered with garbage",
    "the request-id lookup points at another host",
    "get-shipment answered with an empty shipment-info",
    "get-shipment answered with a hostile shipment-id",
];

const GOOD: [&str; 2] = ["261300000-A", "261300001-A"];
/// The victim's id in the fake, whatever its JSON says.
const VICTIM: &str = "261300005-A";
const SHIPMENT_TYPE: &str = "application/vnd.cpc.shipment-v8+xml";
const HTML: &str = "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body><h1>Bad Gateway</h1></body></html>";

fn same(order: FakeOrder) -> FakeOrder {
    order
}

fn nothing(_: &Harness) {}

/// A fault for the victim's requests only.
fn on_victim(endpoint: Endpoint, times: usize, fault: Fault) -> FaultRule {
    FaultRule {
        order_id: Some(VICTIM.to_owned()),
        ..rule(endpoint, times, fault)
    }
}

/// The order list the fake would answer now, as text with `total_count` replaced.
fn listing_with_total(harness: &Harness, total: Value) -> String {
    let url = format!(
        "{}/orders?order_state_codes=WAITING_ACCEPTANCE&max=100",
        harness.fake.bestbuy_url()
    );
    let mut response = ureq::get(&url)
        .header("Authorization", support::API_KEY)
        .call()
        .expect("the fake answers");
    let mut page: Value =
        serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
    page["total_count"] = total;
    page.to_string()
}

fn list_answer(harness: &Harness, status: u16, content_type: &str, body: String) {
    harness.fake.inject(rule(
        Endpoint::ListOrders,
        1,
        answer(status, content_type, body),
    ));
}

fn corpus() -> Vec<Case> {
    let case = |name, phase, victim, code, blame, then| Case {
        name,
        account: "contract",
        order_only: true,
        phase,
        victim,
        setup: nothing,
        code,
        blame,
        then,
    };
    let fault = |name, phase, setup, code, blame, then| Case {
        name,
        account: "contract",
        order_only: false,
        phase,
        victim: same,
        setup,
        code,
        blame,
        then,
    };
    use Phase::{Accept, Label, Ship};
    use Then::{AllThrough, NothingThenAll, VictimNextRun, VictimRefused};
    vec![
        // --- Best Buy: one hostile order inside a good listing -------------------------
        case(
            "order_id missing",
            Accept,
            |order| order.without_json("/order_id"),
            1,
            &["without a usable order_id", "commercial_id \"261300005\""],
            VictimRefused,
        ),
        case(
            "order_id null",
            Accept,
            |order| order.with_json("/order_id", Value::Null),
            1,
            &["without a usable order_id", "commercial_id \"261300005\""],
            VictimRefused,
        ),
        case(
            "order_id a number",
            Accept,
            |order| order.with_json("/order_id", json!(261_300_005)),
            1,
            &["order 261300005:", "field order_id: invalid type: integer"],
            VictimRefused,
        ),
        case(
            "order_id empty",
            Accept,
            |order| order.with_json("/order_id", json!("")),
            1,
            &["order \"\"", "1 to 64 characters"],
            VictimRefused,
        ),
        case(
            "order_id walks up a directory",
            Accept,
            |order| order.with_json("/order_id", json!("../x")),
            1,
            &["order \"../x\"", "characters an order id never has"],
            VictimRefused,
        ),
        case(
            "order_id with a slash",
            Accept,
            |order| order.with_json("/order_id", json!("a/b")),
            1,
            &["order \"a/b\"", "characters an order id never has"],
            VictimRefused,
        ),
        case(
            "order_id with a NUL",
            Accept,
            |order| order.with_json("/order_id", json!("261300005\u{0}-A")),
            1,
            &[
                r#"order "261300005\0-A""#,
                "characters an order id never has",
            ],
            VictimRefused,
        ),
        case(
            "order_id with a terminal escape and a line break",
            Accept,
            |order| order.with_json("/order_id", json!("26\u{1b}[2J\nbbship: error: forged")),
            1,
            &[r#"order "26\u{1b}[2J\nbbship: error: forged""#],
            VictimRefused,
        ),
        case(
            "order_id in unicode",
            Accept,
            |order| order.with_json("/order_id", json!("261300005-🚚")),
            1,
            &["order \"261300005-🚚\"", "characters an order id never has"],
            VictimRefused,
        ),
        case(
            "order_id of 10 000 characters",
            Accept,
            |order| order.with_json("/order_id", json!("7".repeat(10_000))),
            1,
            &["(10000 characters)", "1 to 64 characters"],
            VictimRefused,
        ),
        case(
            "order_state missing",
            Accept,
            |order| order.without_json("/order_state"),
            1,
            &["order \"261300005-A\"", "no order_state"],
            VictimRefused,
        ),
        case(
            "order_state null",
            Accept,
            |order| order.with_json("/order_state", Value::Null),
            1,
            &["order \"261300005-A\"", "no order_state"],
            VictimRefused,
        ),
        case(
            "order_state a number",
            Accept,
            |order| order.with_json("/order_state", json!(3)),
            1,
            &[
                "order \"261300005-A\"",
                "field order_state: invalid type: integer",
            ],
            VictimRefused,
        ),
        case(
            "order_state unknown to bbship",
            Accept,
            |order| order.with_json("/order_state", json!("SOMETHING_NEW")),
            0,
            &[
                "order 261300005-A",
                "listed among the WAITING_ACCEPTANCE orders",
                "SOMETHING_NEW",
            ],
            VictimRefused,
        ),
        case(
            "order_state with control characters",
            Accept,
            |order| order.with_json("/order_state", json!("\u{1b}[31mRED\u{7}")),
            0,
            &["order 261300005-A", r"\u{1b}[31mRED\u{7}"],
            VictimRefused,
        ),
        case(
            "order_lines missing",
            Accept,
            |order| order.without_json("/order_lines"),
            1,
            &["order \"261300005-A\"", "no order_lines"],
            VictimRefused,
        ),
        case(
            "order_lines null",
            Accept,
            |order| order.with_json("/order_lines", Value::Null),
            1,
            &["order \"261300005-A\"", "no order_lines"],
            VictimRefused,
        ),
        case(
            "order_lines not an array",
            Accept,
            |order| order.with_json("/order_lines", json!({"0": "line"})),
            1,
            &[
                "order \"261300005-A\"",
                "field order_lines: invalid type: map",
            ],
            VictimRefused,
        ),
        case(
            "order_lines empty",
            Accept,
            |order| order.with_json("/order_lines", json!([])),
            1,
            &["order 261300005-A", "no order lines"],
            VictimRefused,
        ),
        case(
            "an order line without order_line_id",
            Accept,
            |order| order.without_json("/order_lines/0/order_line_id"),
            1,
            &["order \"261300005-A\"", "order line 0 has no order_line_id"],
            VictimRefused,
        ),
        case(
            "an order_line_id with a space",
            Accept,
            |order| order.with_json("/order_lines/0/order_line_id", json!("11 3")),
            1,
            &["order \"261300005-A\"", "order line id \"11 3\""],
            VictimRefused,
        ),
        case(
            "quantity as a string",
            Accept,
            |order| order.with_json("/order_lines/0/quantity", json!("2")),
            1,
            &[
                "order \"261300005-A\"",
                "field order_lines[0].quantity: invalid type: string",
            ],
            VictimRefused,
        ),
        case(
            "quantity negative",
            Accept,
            |order| order.with_json("/order_lines/0/quantity", json!(-1)),
            1,
            &[
                "order \"261300005-A\"",
                "field order_lines[0].quantity: invalid value",
            ],
            VictimRefused,
        ),
        case(
            "price as an object, a field bbship does not read",
            Accept,
            |order| order.with_json("/order_lines/0/price", json!({"amount": "lots"})),
            0,
            &[],
            AllThrough,
        ),
        case(
            "a product title of 1 MB, a field bbship does not decide on",
            Accept,
            |order| order.with_json("/order_lines/0/product_title", json!("T".repeat(1 << 20))),
            0,
            &[],
            AllThrough,
        ),
        case(
            "the order is a string",
            Accept,
            |order| order.with_json("", json!("not an order")),
            1,
            &[
                "without a usable order_id",
                "not a JSON object but a string",
            ],
            VictimRefused,
        ),
        case(
            "customer a number",
            Accept,
            |order| order.with_json("/customer", json!(42)),
            1,
            &[
                "order \"261300005-A\"",
                "field customer: invalid type: integer",
            ],
            VictimRefused,
        ),
        // --- Best Buy: an order ready to ship with a hostile address -------------------
        case(
            "customer missing",
            Label,
            |order| order.without_json("/customer"),
            1,
            &["order 261300005-A", "customer.shipping_address", "missing"],
            VictimRefused,
        ),
        case(
            "shipping_address null",
            Label,
            |order| order.with_json("/customer/shipping_address", Value::Null),
            1,
            &["order 261300005-A", "customer.shipping_address", "missing"],
            VictimRefused,
        ),
        case(
            "zip_code null",
            Label,
            |order| order.with_json("/customer/shipping_address/zip_code", Value::Null),
            1,
            &["order 261300005-A", "shipping_address.zip_code", "missing"],
            VictimRefused,
        ),
        case(
            "zip_code a number",
            Label,
            |order| order.with_json("/customer/shipping_address/zip_code", json!(90210)),
            1,
            &[
                "order \"261300005-A\"",
                "field customer.shipping_address.zip_code: invalid type: integer",
            ],
            VictimRefused,
        ),
        case(
            "a street of 1 MB",
            Label,
            |order| order.edit_address(|address| address.street_1 = "S".repeat(1 << 20)),
            1,
            &[
                "order 261300005-A",
                "shipping_address.street_1",
                "(1048576 characters)",
            ],
            VictimRefused,
        ),
        case(
            "a city with a terminal escape",
            Label,
            |order| order.edit_address(|address| address.city = "Toronto\u{1b}[2J".to_owned()),
            1,
            &[
                "order 261300005-A",
                "shipping_address.city",
                r#""Toronto\u{1b}[2J""#,
            ],
            VictimRefused,
        ),
        case(
            "an order cancelled though listed as ready to ship",
            Label,
            |order| order.with_json("/order_state", json!("CANCELED")),
            0,
            &[
                "order 261300005-A",
                "listed among the SHIPPING orders",
                "CANCELED",
            ],
            VictimRefused,
        ),
        // --- Best Buy: a whole answer that is not an order list ------------------------
        fault(
            "an HTML page sent as JSON",
            Accept,
            |harness| list_answer(harness, 200, "application/json", HTML.to_owned()),
            1,
            &[
                "listing the orders waiting for acceptance",
                "a body that is not JSON",
                "Bad Gateway",
            ],
            NothingThenAll,
        ),
        fault(
            "an HTML page",
            Accept,
            |harness| list_answer(harness, 200, "text/html", HTML.to_owned()),
            1,
            &[
                "listing the orders waiting for acceptance",
                "non-JSON response (HTTP 200, text/html)",
            ],
            NothingThenAll,
        ),
        fault(
            "an order list cut short",
            Accept,
            |harness| {
                let full = listing_with_total(harness, json!(3));
                list_answer(
                    harness,
                    200,
                    "application/json",
                    full[..full.len() / 2].to_owned(),
                );
            },
            1,
            &[
                "listing the orders waiting for acceptance",
                "JSON that is cut short",
            ],
            NothingThenAll,
        ),
        fault(
            "an order list cut short on the wire",
            Accept,
            |harness| {
                // Every try of the read, the one retry included, is cut.
                harness.write_config(|config| config["limits"]["max_retries"] = 1.into());
                harness.fake.inject(rule(
                    Endpoint::ListOrders,
                    2,
                    Fault::CutShortAfterActing { keep: 100 },
                ));
            },
            1,
            &["listing the orders waiting for acceptance", "no answer"],
            NothingThenAll,
        ),
        fault(
            "an empty body",
            Accept,
            |harness| list_answer(harness, 200, "application/json", String::new()),
            1,
            &["listing the orders waiting for acceptance", "an empty body"],
            NothingThenAll,
        ),
        fault(
            "orders a number",
            Accept,
            |harness| {
                list_answer(
                    harness,
                    200,
                    "application/json",
                    r#"{"orders": 5}"#.to_owned(),
                )
            },
            1,
            &[
                "listing the orders waiting for acceptance",
                "no \"orders\" array",
            ],
            NothingThenAll,
        ),
        fault(
            "an array for a body",
            Accept,
            |harness| list_answer(harness, 200, "application/json", "[]".to_owned()),
            1,
            &[
                "listing the orders waiting for acceptance",
                "no \"orders\" array",
            ],
            NothingThenAll,
        ),
        fault(
            "null for a body",
            Accept,
            |harness| list_answer(harness, 200, "application/json", "null".to_owned()),
            1,
            &[
                "listing the orders waiting for acceptance",
                "no \"orders\" array",
            ],
            NothingThenAll,
        ),
        fault(
            "a body of 32 MB",
            Accept,
            |harness| {
                let body = format!(r#"{{"orders": [], "padding": "{}"}}"#, "x".repeat(32 << 20));
                list_answer(harness, 200, "application/json", body);
            },
            1,
            &["listing the orders waiting for acceptance", "larger than"],
            NothingThenAll,
        ),
        fault(
            "total_count far above the orders sent",
            Accept,
            |harness| {
                let body = listing_with_total(harness, json!(1_000_000));
                list_answer(harness, 200, "application/json", body);
            },
            0,
            &[],
            AllThrough,
        ),
        fault(
            "total_count below the orders sent",
            Accept,
            |harness| {
                let body = listing_with_total(harness, json!(1));
                list_answer(harness, 200, "application/json", body);
            },
            0,
            &[],
            AllThrough,
        ),
        fault(
            "total_count a string",
            Accept,
            |harness| {
                let body = listing_with_total(harness, json!("many"));
                list_answer(harness, 200, "application/json", body);
            },
            0,
            &[],
            AllThrough,
        ),
        fault(
            "the state read before shipping answered with HTML",
            Ship,
            |harness| list_answer(harness, 200, "text/html", HTML.to_owned()),
            1,
            &[
                "reading the state of the labelled orders",
                "non-JSON response",
            ],
            NothingThenAll,
        ),
        fault(
            "run-all: the list waiting for acceptance is HTML, orders ready to ship still ship",
            Phase::RunAll,
            |harness| list_answer(harness, 200, "text/html", HTML.to_owned()),
            1,
            &[
                "accept: listing the orders waiting for acceptance failed",
                "text/html",
            ],
            VictimNextRun,
        ),
        Case {
            name: "the state read before shipping holds the victim without a state",
            account: "contract",
            order_only: false,
            phase: Ship,
            victim: same,
            setup: |harness| {
                harness.fake.add_order(
                    FakeOrder::generated(5)
                        .with_state("SHIPPING")
                        .without_json("/order_state"),
                );
            },
            code: 1,
            blame: &["order \"261300005-A\"", "no order_state"],
            then: VictimRefused,
        },
        // --- Canada Post: Create Shipment answered with garbage -------------------------
        fault(
            "create answered with malformed XML (200)",
            Label,
            |harness| {
                harness.fake.inject(on_victim(
                    Endpoint::CreateShipment,
                    1,
                    answer(
                        200,
                        SHIPMENT_TYPE,
                        "<shipment-info><shipment-id>1</shipment-info>",
                    ),
                ));
            },
            1,
            &[
                "order 261300005-A",
                "not well-formed XML",
                "nothing more is created",
            ],
            VictimNextRun,
        ),
        fault(
            "create answered with malformed XML (500)",
            Label,
            |harness| {
                harness.fake.inject(on_victim(
                    Endpoint::CreateShipment,
                    1,
                    answer(500, SHIPMENT_TYPE, "<messages><message><code>1</code>"),
                ));
            },
            1,
            &["order 261300005-A", "HTTP 500", "truncated"],
            VictimNextRun,
        ),
        fault(
            "create answered with an unexpected root",
            Label,
            |harness| {
                harness.fake.inject(on_victim(
                    Endpoint::CreateShipment,
                    1,
                    answer(
                        200,
                        SHIPMENT_TYPE,
                        "<shipment-price><due-amount>9.99</due-amount></shipment-price>",
                    ),
                ));
            },
            1,
            &[
                "order 261300005-A",
                "expected <shipment-info> or <messages>, got <shipment-price>",
            ],
            VictimNextRun,
        ),
        fault(
            "create answered with an empty <messages/> (400)",
            Label,
            |harness| {
                harness.fake.inject(on_victim(
                    Endpoint::CreateShipment,
                    1,
                    answer(400, SHIPMENT_TYPE, "<messages/>"),
                ));
            },
            1,
            &["order 261300005-A", "HTTP 400", "empty <messages>"],
            VictimNextRun,
        ),
        fault(
            "create answered with an empty <messages/> (500)",
            Label,
            |harness| {
                harness.fake.inject(on_victim(
                    Endpoint::CreateShipment,
                    1,
                    answer(
                        500,
                        SHIPMENT_TYPE,
                        "<messages xmlns=\"http://www.canadapost.ca/ws/messages\"></messages>",
                    ),
                ));
            },
            1,
            &["order 261300005-A", "HTTP 500", "empty <messages>"],
            VictimNextRun,
        ),
        fault(
            "create answered with an HTML page (503), nothing bought",
            Label,
            |harness| {
                harness.fake.inject(on_victim(
                    Endpoint::CreateShipment,
                    1,
                    answer(503, "text/html", HTML),
                ));
            },
            1,
            &["order 261300005-A", "HTTP 503", "got <html>"],
            VictimNextRun,
        ),
        fault(
            "create answered with an HTML page (200) after buying",
            Label,
            |harness| {
                harness.fake.inject(on_victim(
                    Endpoint::CreateShipment,
                    1,
                    Fault::AnswerAfterActing {
                        status: 200,
                        body: HTML.to_owned(),
                        content_type: "text/html".to_owned(),
                    },
                ));
            },
            0,
            &[
                "order 261300005-A",
                "got <html>",
                "searching for the shipment of attempt",
            ],
            AllThrough,
        ),
        fault(
            "create answered without a shipment-id after buying",
            Label,
            |harness| {
                harness.fake.inject(on_victim(
                    Endpoint::CreateShipment,
                    1,
                    Fault::AnswerAfterActing {
                        status: 200,
                        body: "<shipment-info xmlns=\"http://www.canadapost.ca/ws/shipment-v8\"><tracking-pin>7023210039414604</tracking-pin></shipment-info>".to_owned(),
                        content_type: SHIPMENT_TYPE.to_owned(),
                    },
                ));
            },
            0,
            &[
                "order 261300005-A",
                "no <shipment-id>",
                "searching for the shipment of attempt",
            ],
            AllThrough,
        ),
        fault(
            "create answered without a tracking-pin after buying",
            Label,
            |harness| {
                harness.fake.inject(on_victim(
                    Endpoint::CreateShipment,
                    1,
                    Fault::AnswerAfterActing {
                        status: 200,
                        body: "<shipment-info xmlns=\"http://www.canadapost.ca/ws/shipment-v8\"><shipment-id>1234567890</shipment-id></shipment-info>".to_owned(),
                        content_type: SHIPMENT_TYPE.to_owned(),
                    },
                ));
            },
            0,
            &[
                "order 261300005-A",
                "no <tracking-pin>",
                "searching for the shipment of attempt",
            ],
            AllThrough,
        ),
        fault(
            "create answered with a truncated body after buying",
            Label,
            |harness| {
                harness.fake.inject(on_victim(
                    Endpoint::CreateShipment,
                    1,
                    Fault::AnswerAfterActing {
                        status: 200,
                        body: "<?xml version=\"1.0\"?><shipment-info xmlns=\"http://www.canadapost.ca/ws/shipment-v8\"><shipment-id>12".to_owned(),
                        content_type: SHIPMENT_TYPE.to_owned(),
                    },
                ));
            },
            0,
            &[
                "order 261300005-A",
                "truncated",
                "searching for the shipment of attempt",
            ],
            AllThrough,
        ),
        fault(
            "create answer cut short on the wire after buying",
            Label,
            |harness| {
                harness.fake.inject(on_victim(
                    Endpoint::CreateShipment,
                    1,
                    Fault::CutShortAfterActing { keep: 60 },
                ));
            },
            0,
            &["order 261300005-A", "searching for the shipment of attempt"],
            AllThrough,
        ),
        // --- Canada Post: the lookup, the shipment, the label, the tracking -------------
        fault(
            "the request-id lookup answered with garbage",
            Label,
            |harness| {
                harness.fake.inject(on_victim(
                    Endpoint::CreateShipment,
                    1,
                    Fault::DropAfterActing,
                ));
                harness.fake.inject(on_victim(
                    Endpoint::FindShipment,
                    1,
                    answer(200, SHIPMENT_TYPE, "<shipments><link rel=\"shipment\""),
                ));
            },
            1,
            &[
                "order 261300005-A",
                "searching for it failed too",
                "not well-formed XML",
            ],
            VictimNextRun,
        ),
        fault(
            "the request-id lookup points at another host",
            Label,
            |harness| {
                harness.fake.inject(on_victim(
                    Endpoint::CreateShipment,
                    1,
                    Fault::DropAfterActing,
                ));
                harness.fake.inject(on_victim(
                    Endpoint::FindShipment,
                    1,
                    answer(
                        200,
                        SHIPMENT_TYPE,
                        "<shipments><link rel=\"shipment\" href=\"https://attacker.example/rs/1/1/shipment/9\"/></shipments>",
                    ),
                ));
            },
            1,
            &["order 261300005-A", "points outside", "not followed"],
            VictimNextRun,
        ),
        fault(
            "get-shipment answered with an empty shipment-info",
            Label,
            |harness| {
                harness.fake.inject(on_victim(
                    Endpoint::CreateShipment,
                    1,
                    Fault::DropAfterActing,
                ));
                harness.fake.inject(on_victim(
                    Endpoint::GetShipment,
                    1,
                    answer(200, SHIPMENT_TYPE, "<shipment-info/>"),
                ));
            },
            1,
            &["order 261300005-A", "no <shipment-id>"],
            VictimNextRun,
        ),
        fault(
            "get-shipment answered with a hostile shipment-id",
            Label,
            |harness| {
                harness.fake.inject(on_victim(
                    Endpoint::CreateShipment,
                    1,
                    Fault::DropAfterActing,
                ));
                harness.fake.inject(on_victim(
                    Endpoint::GetShipment,
                    1,
                    answer(
                        200,
                        SHIPMENT_TYPE,
                        "<shipment-info><shipment-id>../../etc/passwd</shipment-id></shipment-info>",
                    ),
                ));
            },
            1,
            &["order 261300005-A", "../../etc/passwd"],
            VictimNextRun,
        ),
        fault(
            "a label that is an HTML page",
            Label,
            |harness| {
                harness.write_config(|config| config["limits"]["label_wait_secs"] = 0.into());
                harness.fake.inject(on_victim(
                    Endpoint::Label,
                    1,
                    answer(200, "text/html", HTML),
                ));
            },
            1,
            &[
                "order 261300005-A",
                "not a PDF yet (text/html: <!DOCTYPE html>",
                "no new shipment",
            ],
            VictimNextRun,
        ),
        fault(
            "a label that is a PDF of no readable size",
            Label,
            |harness| {
                harness.fake.inject(on_victim(
                    Endpoint::Label,
                    1,
                    answer(200, "application/pdf", "%PDF-1.4\n%%EOF\n"),
                ));
            },
            0,
            &[
                "order 261300005-A",
                "could not confirm the label's page size",
            ],
            AllThrough,
        ),
        fault(
            "the tracking summary answered with garbage",
            Label,
            |harness| {
                harness.fake.inject(on_victim(
                    Endpoint::TrackingSummary,
                    1,
                    answer(
                        200,
                        "application/vnd.cpc.track-v2+xml",
                        "<tracking-summary><pin-summary>",
                    ),
                ));
            },
            1,
            &["order 261300005-A", "not validated yet", "truncated"],
            VictimNextRun,
        ),
        fault(
            "the tracking summary is about another PIN",
            Label,
            |harness| {
                harness.fake.inject(on_victim(
                    Endpoint::TrackingSummary,
                    1,
                    answer(
                        200,
                        "application/vnd.cpc.track-v2+xml",
                        "<tracking-summary><pin-summary><pin>7023210039414604</pin></pin-summary></tracking-summary>",
                    ),
                ));
            },
            1,
            &["order 261300005-A", "not about PIN"],
            VictimNextRun,
        ),
    ]
}

/// Every file below the harness's temporary directory.
fn snapshot(harness: &Harness) -> BTreeSet<PathBuf> {
    files_below(harness.temp.path()).into_iter().collect()
}

fn accepted(harness: &Harness, id: &str) -> bool {
    harness
        .fake
        .order_state(id)
        .is_some_and(|state| state != "WAITING_ACCEPTANCE")
}

fn labelled(harness: &Harness, id: &str) -> bool {
    harness.fake.shipments_for(id).len() == 1
        && harness
            .history_log()
            .iter()
            .any(|line| line["order_id"] == id)
}

fn shipped(harness: &Harness, id: &str) -> bool {
    harness.fake.order_state(id).as_deref() == Some("SHIPPED")
}

fn went_through(harness: &Harness, phase: Phase, id: &str) -> bool {
    match phase {
        Phase::Accept => accepted(harness, id),
        Phase::Label => labelled(harness, id),
        Phase::Ship | Phase::RunAll => shipped(harness, id),
    }
}

/// Whether any write of the phase reached the victim.
fn victim_touched(harness: &Harness, phase: Phase) -> bool {
    let writes = harness.fake.requests().into_iter().any(|request| {
        request.order_id.as_deref() == Some(VICTIM)
            && match phase {
                Phase::Accept => request.endpoint == Endpoint::Accept,
                Phase::Label => request.endpoint == Endpoint::CreateShipment,
                Phase::Ship => matches!(request.endpoint, Endpoint::Tracking | Endpoint::Ship),
                Phase::RunAll => request.endpoint == Endpoint::Accept,
            }
    });
    let bought = phase == Phase::Label && !harness.fake.shipments_for(VICTIM).is_empty();
    writes || bought
}

/// What must hold after any run, whatever the input.
fn check_run(run: &Run, problems: &mut Vec<String>) {
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        if text.contains("panicked") {
            problems.push(format!("{stream} shows a panic"));
        }
        if let Some(bad) = text.chars().find(|c| c.is_control() && *c != '\n') {
            problems.push(format!("{stream} carries a raw control character {bad:?}"));
        }
    }
    // One message, one line: a value with a line break in it must not start a line of
    // its own (it could pass for a message from bbship).
    if let Some(line) = run
        .stderr
        .lines()
        .find(|line| !line.starts_with("bbship: "))
    {
        problems.push(format!("stderr has a line bbship did not start: {line:?}"));
    }
    if run.stderr.len() > 20_000 {
        problems.push(format!(
            "stderr is {} bytes long: a hostile value was not shortened",
            run.stderr.len()
        ));
    }
}

/// What must hold once a case is over: files, journal, shipments.
fn check_files(harness: &Harness, before: &BTreeSet<PathBuf>, problems: &mut Vec<String>) {
    let labels = harness.data_dir.join("labels");
    for file in snapshot(harness).difference(before) {
        if !file.starts_with(&harness.data_dir) {
            problems.push(format!(
                "{} was written outside the data directory",
                file.display()
            ));
        }
        if file.starts_with(&labels) {
            let name = file
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or("");
            let safe = !name.starts_with('.')
                && name.ends_with(".pdf")
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            // Labels, and the packing slips and batches in their own subdirectories.
            let in_place = [labels.clone(), labels.join("slips"), labels.join("batches")]
                .iter()
                .any(|directory| file.parent() == Some(directory.as_path()));
            if !in_place || !safe {
                problems.push(format!("label file {} has an unsafe name", file.display()));
            }
        }
        if file
            .extension()
            .is_some_and(|extension| extension == "jsonl")
        {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            for (number, line) in text.lines().enumerate() {
                if serde_json::from_str::<Value>(line).is_err() {
                    problems.push(format!("{}:{} is not JSON", file.display(), number + 1));
                }
            }
        }
    }
    for shipment in harness.fake.shipments() {
        let count = harness.fake.shipments_for(&shipment.order_reference).len();
        if count > 1 {
            problems.push(format!(
                "order {} has {count} shipments",
                shipment.order_reference
            ));
        }
    }
}

/// Runs one case; returns what did not hold.
fn run_case(case: &Case) -> Vec<String> {
    let (state, victim_state) = match case.phase {
        Phase::Accept => ("WAITING_ACCEPTANCE", "WAITING_ACCEPTANCE"),
        Phase::Label | Phase::Ship => ("SHIPPING", "SHIPPING"),
        Phase::RunAll => ("SHIPPING", "WAITING_ACCEPTANCE"),
    };
    let goods: Vec<FakeOrder> = [0, 1]
        .into_iter()
        .map(|index| FakeOrder::generated(index).with_state(state))
        .collect();
    let victim = FakeOrder::generated(5).with_state(victim_state);
    let mut problems = Vec::new();
    let harness;
    if case.phase == Phase::Ship {
        harness =
            Harness::new([goods.clone(), vec![victim.clone()]].concat()).with_account(case.account);
        let labelling = harness.bbship(&["label"]);
        if labelling.code != 0 {
            return vec![format!(
                "the labelling before the case failed: {labelling:?}"
            )];
        }
        harness.fake.add_order((case.victim)(victim));
    } else {
        harness = Harness::new([goods.clone(), vec![(case.victim)(victim)]].concat())
            .with_account(case.account);
    }
    let before = snapshot(&harness);
    (case.setup)(&harness);

    let run = harness.bbship(&[case.phase.command()]);
    check_run(&run, &mut problems);
    if run.code != case.code {
        problems.push(format!("exit {} instead of {}", run.code, case.code));
    }
    if !case.blame.is_empty()
        && !run
            .stderr
            .lines()
            .any(|line| case.blame.iter().all(|phrase| line.contains(phrase)))
    {
        problems.push(format!("no stderr line holds all of {:?}", case.blame));
    }
    let goods_through = GOOD.iter().all(|id| went_through(&harness, case.phase, id));
    let victim_through = went_through(&harness, case.phase, VICTIM);
    match case.then {
        Then::VictimRefused => {
            if !goods_through {
                problems.push("the good orders did not go through".to_owned());
            }
            if victim_touched(&harness, case.phase) {
                problems.push("a write reached the hostile order".to_owned());
            }
        }
        Then::AllThrough => {
            if !goods_through || !victim_through {
                problems.push(format!(
                    "not every order went through (good orders: {goods_through}, victim: {victim_through})"
                ));
            }
        }
        Then::VictimNextRun | Then::NothingThenAll => {
            let expected_goods = case.then == Then::VictimNextRun;
            if goods_through != expected_goods {
                problems.push(format!(
                    "the good orders went through: {goods_through}, expected {expected_goods}"
                ));
            }
            if victim_through {
                problems.push("the victim went through at once".to_owned());
            }
            let second = harness.bbship(&[case.phase.command()]);
            check_run(&second, &mut problems);
            if second.code != 0 {
                problems.push(format!("the second run failed: {second:?}"));
            }
            if !went_through(&harness, case.phase, VICTIM) {
                problems.push("the second run did not take the victim through".to_owned());
            }
        }
    }
    if case.phase != Phase::Accept {
        // One more run: it reads the journal back whole and buys nothing more.
        let shipments = harness.fake.shipments().len();
        let last = harness.bbship(&[case.phase.command()]);
        check_run(&last, &mut problems);
        if last.code == 2 || last.stderr.contains("history logs") {
            problems.push(format!(
                "a further run could not read the journal: {last:?}"
            ));
        }
        if harness.fake.shipments().len() != shipments {
            problems.push("a further run bought another label".to_owned());
        }
    }
    check_files(&harness, &before, &mut problems);
    if !problems.is_empty() {
        problems.push(format!("first run: {run:?}"));
    }
    problems
}

#[test]
fn every_hostile_input_gives_a_clear_error_and_the_other_orders_go_through() {
    let mut cases = corpus();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let names: BTreeSet<&str> = cases.iter().map(|case| case.name).collect();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    // Every case again for a non-contract seller, but those whose fault is an answer only
    // the contract API gives (a shipment-v8 body, or the request-id lookup that
    // non-contract shipping does not have): named, so the list cannot outlive its cases.
    for name in CONTRACT_SHAPED {
        assert!(names.contains(name), "no case named {name:?}");
    }
    let non_contract: Vec<Case> = cases
        .iter()
        .filter(|case| !CONTRACT_SHAPED.contains(&case.name))
        .map(|case| Case {
            account: "non_contract",
            ..case.clone()
        })
        .collect();
    assert!(
        non_contract.iter().filter(|case| !case.order_only).count() >= 20,
        "{} cases for non-contract",
        non_contract.len()
    );
    cases.extend(non_contract);

    // The cases are independent (each has its own fake and directory): run a few at once.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(case) = cases.get(index) else {
                        return;
                    };
                    let problems = run_case(case);
                    if !problems.is_empty() {
                        failures.lock().unwrap().push(format!(
                            "case {:?} ({}):\n  {}",
                            case.name,
                            case.account,
                            problems.join("\n  ")
                        ));
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
