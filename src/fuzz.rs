//! Seeded fuzz tests of everything that reads an answer or builds a request, run by the
//! ordinary `cargo test`: the Best Buy order list and error bodies, every Canada Post
//! answer reader and the create and refund decisions, the label check, and the Create
//! Shipment and refund request XML.
//!
//! Each target starts from the real-shaped samples (`tests/fixtures`, copies of the shared
//! `reference/samples`) and the fake's own label, mutates them (`testing::mutate`: cuts,
//! flips, splices, markup, NUL, long runs; for JSON also whole values swapped for the
//! wrong type), and holds every result to the same rule: no panic; an `Ok` only with
//! values that passed their checks; an error that says something, on one line with no
//! raw control character. A fixed seed gives the same cases on every run; set
//! `BBSHIP_FUZZ_ITERATIONS` for a longer run (the default keeps the suite fast in debug)
//! and `BBSHIP_FUZZ_SEED` to explore other cases.

use serde_json::Value;

use crate::bestbuy::{self, Order};
use crate::canadapost::answers::{self, Answer};
use crate::canadapost::client::{CanadaPostError, read_create_answer, read_refund_answer};
use crate::canadapost::label_check::inspect_label;
use crate::canadapost::xml;
use crate::http::Response;
use crate::testing::{Rng, fuzz_iterations, fuzz_rng, has_control, mutate};

const OR11: &[u8] = include_bytes!("../tests/fixtures/best-buy/or11-list-orders-response.json");
const ERROR_400: &[u8] = include_bytes!("../tests/fixtures/best-buy/error-400.json");

/// Every Canada Post answer sample, with the root a reader expects of it.
const CANADA_POST: &[(&str, &[u8])] = &[
    (
        "shipment-info",
        include_bytes!("../tests/fixtures/canada-post/create-shipment-response.xml"),
    ),
    (
        "shipments",
        include_bytes!("../tests/fixtures/canada-post/get-shipments-by-request-id-response.xml"),
    ),
    (
        "tracking-summary",
        include_bytes!("../tests/fixtures/canada-post/tracking-summary-response.xml"),
    ),
    (
        "messages",
        include_bytes!("../tests/fixtures/canada-post/tracking-no-pin-history.xml"),
    ),
    (
        "messages",
        include_bytes!("../tests/fixtures/canada-post/create-shipment-validation-error.xml"),
    ),
    (
        "messages",
        include_bytes!("../tests/fixtures/canada-post/void-transmitted-shipment-error.xml"),
    ),
    (
        "shipment",
        include_bytes!("../tests/fixtures/canada-post/create-shipment-request.xml"),
    ),
    (
        "shipment-refund-info",
        include_bytes!("../tests/fixtures/canada-post/shipment-refund-response.xml"),
    ),
];

const STATUSES: [u16; 10] = [200, 201, 202, 204, 400, 401, 404, 409, 500, 503];
const CONTENT_TYPES: [&str; 5] = [
    "application/json",
    "application/json;charset=UTF-8",
    "text/html",
    "application/vnd.cpc.shipment-v8+xml",
    "application/pdf",
];

fn response(rng: &mut Rng, body: Vec<u8>, json: bool) -> Response {
    Response {
        status: if rng.one_in(4) {
            *rng.pick(&STATUSES)
        } else {
            200
        },
        content_type: if json && !rng.one_in(8) {
            Some("application/json".to_owned())
        } else {
            Some(rng.pick(&CONTENT_TYPES).to_string())
        },
        retry_after: None,
        body,
    }
}

/// What every message shown to a person must be.
fn assert_one_clean_line(what: &str, message: &str, input: &[u8]) {
    assert!(
        !message.trim().is_empty() && !has_control(message),
        "{what} gave {message:?} for {:?}",
        String::from_utf8_lossy(&input[..input.len().min(2000)])
    );
}

/// An order read from an answer holds only checked values.
fn assert_checked(order: &Order) {
    assert!(crate::ids::OrderId::try_from(order.id.to_string()).is_ok());
    for line in &order.lines {
        assert!(crate::ids::OrderLineId::try_from(line.id.to_string()).is_ok());
    }
}

/// One OR11 answer through the page reader: checked orders, or named errors.
fn check_order_page(answer: &Response) {
    match bestbuy::read_order_page(answer) {
        Ok(page) => {
            for order in &page.orders {
                match order {
                    Ok(order) => assert_checked(order),
                    Err(unreadable) => {
                        assert_one_clean_line(
                            "an unreadable order",
                            &unreadable.to_string(),
                            &answer.body,
                        );
                        assert!(!has_control(&unreadable.name()));
                    }
                }
            }
        }
        Err(error) => assert_one_clean_line("the page reader", &error.to_string(), &answer.body),
    }
}

#[test]
fn best_buy_order_lists_mutated_byte_by_byte() {
    let mut rng = fuzz_rng(0x0B11_5EED);
    for _ in 0..fuzz_iterations(1500) {
        let body = mutate(&mut rng, OR11, ERROR_400);
        let answer = response(&mut rng, body, true);
        check_order_page(&answer);
    }
}

/// Values that are the wrong type, empty, hostile or huge, for swapping into JSON.
fn hostile_value(rng: &mut Rng) -> Value {
    match rng.below(12) {
        0 => Value::Null,
        1 => Value::Bool(rng.one_in(2)),
        2 => serde_json::json!(rng.next() as i64),
        3 => serde_json::json!(-1.5e300),
        4 => serde_json::json!(""),
        5 => serde_json::json!("../../etc/passwd"),
        6 => serde_json::json!("a\u{0}b\n\u{1b}[2J"),
        7 => serde_json::json!("🚚".repeat(1 + rng.below(100))),
        8 => serde_json::json!("x".repeat(rng.below(100_000))),
        9 => serde_json::json!([]),
        10 => serde_json::json!({}),
        _ => serde_json::json!("SHIPPING"),
    }
}

/// Changes one random place in `value`: a member removed or given a hostile value, an
/// element removed, duplicated or replaced, or a whole value replaced.
fn mutate_json(rng: &mut Rng, value: &mut Value) {
    let here = rng.one_in(4);
    match value {
        Value::Object(members) if !members.is_empty() => {
            let Some(key) = members.keys().nth(rng.below(members.len())).cloned() else {
                return;
            };
            if !here {
                if let Some(member) = members.get_mut(&key) {
                    mutate_json(rng, member);
                }
            } else if rng.one_in(3) {
                members.remove(&key);
            } else {
                members.insert(key, hostile_value(rng));
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let index = rng.below(items.len());
            if !here {
                mutate_json(rng, &mut items[index]);
            } else {
                match rng.below(3) {
                    0 => {
                        items.remove(index);
                    }
                    1 => items.push(items[index].clone()),
                    _ => items[index] = hostile_value(rng),
                }
            }
        }
        _ => *value = hostile_value(rng),
    }
}

#[test]
fn best_buy_order_lists_with_values_of_the_wrong_type() {
    let sample: Value = serde_json::from_slice(OR11).unwrap();
    let mut rng = fuzz_rng(0x0B11_7E57);
    for _ in 0..fuzz_iterations(1500) {
        let mut page = sample.clone();
        for _ in 0..1 + rng.below(4) {
            mutate_json(&mut rng, &mut page);
        }
        let body = serde_json::to_vec(&page).unwrap();
        check_order_page(&Response {
            status: 200,
            content_type: Some("application/json".to_owned()),
            retry_after: None,
            body,
        });
        // An order that reads well keeps its id exactly as sent.
        if let Some(orders) = page.get("orders").and_then(Value::as_array) {
            for value in orders {
                if let Ok(order) = Order::from_json(value) {
                    assert_eq!(value["order_id"], order.id.as_str());
                }
            }
        }
    }
}

#[test]
fn best_buy_error_bodies() {
    let mut rng = fuzz_rng(0x0E44_0400);
    for _ in 0..fuzz_iterations(1500) {
        let body = mutate(&mut rng, ERROR_400, OR11);
        let answer = response(&mut rng, body, true);
        let message = bestbuy::error_message(&answer);
        assert!(!has_control(&message), "{message:?}");
        assert!(message.chars().count() <= 400, "{message:?}");
    }
}

/// Runs every Canada Post reader on `body`, whatever the root it expects.
fn check_canada_post_answer(body: &[u8]) {
    if let Err(problem) = xml::parse(body) {
        assert_one_clean_line("xml::parse", &problem, body);
    }
    if let Some(messages) = answers::messages_in(body) {
        assert!(!has_control(&messages.to_string()), "{messages:?}");
    }
    match answers::read(body, "shipment-info", answers::shipment_info) {
        Ok(Answer::Expected(info)) => assert!(!info.shipment_id.as_str().is_empty()),
        Ok(Answer::Messages(messages)) => assert!(!has_control(&messages.to_string())),
        Err(problem) => assert_one_clean_line("shipment_info", &problem, body),
    }
    match answers::read(body, "shipment-info", answers::created_shipment_info) {
        Ok(Answer::Expected(info)) => {
            assert!(info.tracking_pin.is_some() && !info.label_links().is_empty());
        }
        Ok(Answer::Messages(_)) => {}
        Err(problem) => assert_one_clean_line("created_shipment_info", &problem, body),
    }
    match answers::read(body, "shipments", answers::shipment_links) {
        Ok(Answer::Expected(links)) => assert!(links.iter().all(|link| link.rel == "shipment")),
        Ok(Answer::Messages(_)) => {}
        Err(problem) => assert_one_clean_line("shipment_links", &problem, body),
    }
    match answers::read(body, "tracking-summary", answers::tracking_summary) {
        Ok(Answer::Expected(summaries)) => {
            assert!(!summaries.is_empty() && summaries.iter().all(|s| !s.pin.is_empty()));
        }
        Ok(Answer::Messages(_)) => {}
        Err(problem) => assert_one_clean_line("tracking_summary", &problem, body),
    }
    match answers::read(
        body,
        "shipment-refund-request-info",
        answers::refund_request_info,
    ) {
        Ok(Answer::Expected(ticket)) => {
            assert!(!ticket.service_ticket_id.trim().is_empty());
            // Shown to a person only through `printable`.
            assert!(!has_control(&crate::text::printable(
                &ticket.service_ticket_id
            )));
        }
        Ok(Answer::Messages(_)) => {}
        Err(problem) => assert_one_clean_line("refund_request_info", &problem, body),
    }
}

/// The refund decision: only a 2xx ticket is a registered refund and only a reasoned 4xx
/// a refusal; everything else is an unknown outcome, and every message is one clean line.
fn check_refund_answer(answer: &Response) {
    match read_refund_answer(answer, crate::canadapost::types::AccountKind::Contract) {
        Ok(ticket) => {
            assert!(
                answer.is_success(),
                "HTTP {} taken as a refund",
                answer.status
            );
            assert!(!ticket.service_ticket_id.trim().is_empty());
        }
        Err(CanadaPostError::Rejected { status, messages }) => {
            assert!((400..500).contains(&status));
            assert!(!has_control(&messages.to_string()));
        }
        Err(
            error @ (CanadaPostError::UnknownOutcome {
                write: crate::canadapost::client::Write::Refund,
                ..
            }
            | CanadaPostError::Unauthorized(_)),
        ) => {
            assert_one_clean_line("read_refund_answer", &error.to_string(), &answer.body);
        }
        Err(other) => panic!("a refund answer read as {other:?}"),
    }
}

/// The create decision: garbage is never a shipment and never a refusal (a refusal lets a
/// later run create again, so taking garbage for one could buy a second label).
fn check_create_answer(answer: &Response) {
    let parsed = answers::read(
        &answer.body,
        "shipment-info",
        answers::created_shipment_info,
    );
    match read_create_answer(answer, crate::canadapost::types::AccountKind::Contract) {
        Ok(info) => {
            assert!(
                answer.is_success(),
                "HTTP {} taken as a shipment",
                answer.status
            );
            assert!(info.tracking_pin.is_some());
        }
        Err(CanadaPostError::Rejected { status, messages }) => {
            assert!((400..500).contains(&status) && !messages.0.is_empty());
            assert!(matches!(parsed, Ok(Answer::Messages(_))));
            assert!(!has_control(&messages.to_string()));
        }
        Err(
            error @ (CanadaPostError::UnknownOutcome {
                write: crate::canadapost::client::Write::CreateShipment,
                ..
            }
            | CanadaPostError::Unauthorized(_)),
        ) => {
            assert_one_clean_line("read_create_answer", &error.to_string(), &answer.body);
        }
        Err(other) => panic!("a create answer read as {other:?}"),
    }
}

#[test]
fn canada_post_answers_mutated() {
    let mut rng = fuzz_rng(0xC0DE_CA9A);
    for round in 0..fuzz_iterations(3000) {
        let (_, sample) = CANADA_POST[round % CANADA_POST.len()];
        let (_, donor) = *rng.pick(CANADA_POST);
        let body = mutate(&mut rng, sample, donor);
        check_canada_post_answer(&body);
        check_refund_answer(&response(&mut rng, body.clone(), false));
        check_create_answer(&response(&mut rng, body, false));
    }
}

#[test]
fn labels_mutated() {
    let good = bbship_fake::label_pdf::four_by_six_label_pdf(
        &["SHIP TO".to_owned(), "Jane Example".to_owned()],
        "7023210039414604",
    );
    assert!(inspect_label(&good).is_ok());
    let mut rng = fuzz_rng(0x4_1ABE_1000);
    for _ in 0..fuzz_iterations(600) {
        let bytes = mutate(&mut rng, &good, b"/MediaBox [0 0 612 792] /Type /Page");
        match inspect_label(&bytes) {
            Ok(inspection) => assert!(inspection.pages >= 1),
            Err(problem) => assert_one_clean_line("inspect_label", &problem.to_string(), b""),
        }
    }
}

/// Best Buy's address, mutated, through the pre-flight and the Create Shipment builder:
/// a refusal naming its field, or XML that parses back with the same values (and, on a
/// sample, passes `xmllint` against shipment.xsd).
#[test]
fn shipment_xml_from_mutated_addresses() {
    use crate::address::BoundedText;
    use crate::ids::{OrderId, RequestId};
    use crate::phase::preflight::destination;

    let sample: Value = serde_json::from_slice(OR11).unwrap();
    let order = Order::from_json(&sample["orders"][1]).unwrap();
    let address = order.customer.and_then(|c| c.shipping_address).unwrap();
    let config =
        crate::config::Config::parse(include_str!("../examples/bbship.example.json")).unwrap();
    let mut rng = fuzz_rng(0x5417_0000);
    let mut documents = Vec::new();
    let (mut built, mut refused) = (0, 0);
    for case in 0..fuzz_iterations(1200) {
        let mut hostile = address.clone();
        for _ in 0..1 + rng.below(3) {
            let slot = match rng.below(9) {
                0 => &mut hostile.firstname,
                1 => &mut hostile.lastname,
                2 => &mut hostile.company,
                3 => &mut hostile.phone,
                4 => &mut hostile.street_1,
                5 => &mut hostile.street_2,
                6 => &mut hostile.city,
                7 => &mut hostile.state,
                _ => &mut hostile.zip_code,
            };
            let start = slot.clone().unwrap_or_default();
            // Short edits keep most values valid, so later fields get their turn.
            let mut bytes = start.into_bytes();
            if rng.one_in(2) {
                bytes = mutate(&mut rng, &bytes, b"&<>\"' \t\nCote\xc3\xa9");
            } else {
                bytes.insert(rng.below(bytes.len() + 1), *rng.pick(b"&<>\"'#;]"));
            }
            *slot = Some(String::from_utf8_lossy(&bytes).into_owned());
        }
        let (destination, _notes) = match destination(&hostile) {
            Ok(converted) => converted,
            Err(error) => {
                let shown = error.to_string();
                assert!(
                    shown.starts_with(&format!("field `{}`", error.field)),
                    "{shown}"
                );
                assert_one_clean_line("the pre-flight", &shown, b"");
                refused += 1;
                continue;
            }
        };
        // Order ids that pass their check make a valid reference and request id.
        let id_text: String = String::from_utf8_lossy(&mutate(&mut rng, b"261300002-A", b"-_."))
            .chars()
            .take(70)
            .collect();
        let order_id: OrderId = id_text
            .parse()
            .unwrap_or_else(|_| "261300002-A".parse().unwrap());
        let request_id = RequestId::for_attempt(&order_id, chrono::Utc::now());
        assert!(
            RequestId::try_from(request_id.to_string()).is_ok(),
            "{request_id}"
        );
        let reference = BoundedText::<35>::try_from(order_id.to_string())
            .unwrap_or_else(|_| BoundedText::try_from("261300002-A".to_owned()).unwrap());
        let xml_text =
            crate::testing::shipment_xml_for(&config, &destination, &request_id, &reference);
        let root = xml::parse(xml_text.as_bytes()).unwrap_or_else(|problem| {
            panic!("the built XML does not parse back ({problem}):\n{xml_text}")
        });
        assert_eq!(root.name, "shipment");
        let to = root
            .child("delivery-spec")
            .and_then(|spec| spec.child("destination"))
            .unwrap();
        let details = to.child("address-details").unwrap();
        assert_eq!(to.child_text("name"), Some(destination.name.as_str()));
        assert_eq!(
            details.child_text("address-line-1"),
            Some(destination.address_line_1.as_str())
        );
        assert_eq!(details.child_text("city"), Some(destination.city.as_str()));
        built += 1;
        if case % 5 == 0 && documents.len() < 150 {
            documents.push(xml_text);
        }
    }
    assert!(
        built > 50 && refused > 50,
        "{built} built, {refused} refused: the mix no longer tests both"
    );
    crate::testing::xmllint(&documents).unwrap();
}

/// Refund request bodies from mutated e-mail addresses: each is refused by `Email` or
/// builds XML that parses back to the same address and passes `xmllint` against
/// shipment.xsd.
#[test]
fn refund_xml_from_mutated_addresses() {
    use crate::canadapost::refund::refund_request_xml;
    use crate::canadapost::types::Email;

    let mut rng = fuzz_rng(0x2EF0_4D00);
    let mut documents = Vec::new();
    let (mut built, mut refused) = (0, 0);
    for _ in 0..fuzz_iterations(1500) {
        let bytes = if rng.one_in(2) {
            mutate(&mut rng, b"refunds@example-shop.ca", b"&<>\"'+_.-@ \t\n")
        } else {
            let mut bytes = b"o.brien+refunds@mail.example.ca".to_vec();
            bytes.insert(rng.below(bytes.len() + 1), *rng.pick(b"&<>\"'#;].@-_+"));
            bytes
        };
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let email = match Email::try_from(text) {
            Ok(email) => email,
            Err(problem) => {
                assert_one_clean_line("Email", &problem, &bytes);
                refused += 1;
                continue;
            }
        };
        let xml_text =
            refund_request_xml(&email, crate::canadapost::types::AccountKind::Contract).unwrap();
        let root = xml::parse(xml_text.as_bytes()).unwrap();
        assert_eq!(root.name, "shipment-refund-request");
        assert_eq!(root.child_text("email"), Some(email.as_str()));
        built += 1;
        if documents.len() < 200 {
            documents.push(xml_text);
        }
    }
    assert!(
        built > 50 && refused > 50,
        "{built} built, {refused} refused: the mix no longer tests both"
    );
    crate::testing::xmllint(&documents).unwrap();
}
