//! The fake Best Buy API is strict like the real one: these pin the rules the client's
//! tests rely on, so a fake that grew lenient would show here.

use std::time::Duration;

use bbship_fake::{Endpoint, FakeOptions, FakeOrder, FakeServer, Fault, FaultRule};

const KEY: &str = "fake-test-key-123";

fn fake(orders: usize, payment_delay: Option<Duration>) -> FakeServer {
    let fake = FakeServer::start(FakeOptions {
        api_key: KEY.to_owned(),
        payment_delay,
        ..FakeOptions::default()
    })
    .unwrap();
    fake.add_orders((0..orders).map(FakeOrder::generated));
    fake
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

fn get(fake: &FakeServer, path_and_query: &str, key: &str) -> (u16, serde_json::Value) {
    let mut response = agent()
        .get(&format!("{}{path_and_query}", fake.bestbuy_url()))
        .header("Authorization", key)
        .header("Accept", "application/json")
        .call()
        .unwrap();
    let status = response.status().as_u16();
    let body = response.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
    )
}

fn put(fake: &FakeServer, path: &str, body: Option<&str>) -> u16 {
    let request = agent()
        .put(&format!("{}{path}", fake.bestbuy_url()))
        .header("Authorization", KEY)
        .header("Content-Type", "application/json");
    let response = match body {
        Some(body) => request.send(body),
        None => request.send_empty(),
    };
    response.unwrap().status().as_u16()
}

fn accept_body(order: &FakeOrder) -> String {
    let lines: Vec<serde_json::Value> = order
        .line_ids()
        .into_iter()
        .map(|id| serde_json::json!({"id": id, "accepted": true}))
        .collect();
    serde_json::json!({ "order_lines": lines }).to_string()
}

#[test]
fn pages_and_total_count() {
    let fake = fake(25, None);
    let (status, page) = get(
        &fake,
        "/orders?order_state_codes=WAITING_ACCEPTANCE&max=10&offset=20",
        KEY,
    );
    assert_eq!(status, 200);
    assert_eq!(page["total_count"], 25);
    assert_eq!(page["orders"].as_array().unwrap().len(), 5);
    // Default page size is 10.
    let (_, page) = get(&fake, "/orders", KEY);
    assert_eq!(page["orders"].as_array().unwrap().len(), 10);
}

#[test]
fn latency_delays_every_request_and_connections_wait_side_by_side() {
    let latency = Duration::from_millis(200);
    let fake = FakeServer::start(FakeOptions {
        api_key: KEY.to_owned(),
        latency,
        ..FakeOptions::default()
    })
    .unwrap();
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| assert_eq!(get(&fake, "/orders", KEY).0, 200));
        }
    });
    let took = started.elapsed();
    // Each waited the latency, and the four waited together, not one after another.
    assert!(took >= latency, "{took:?}");
    assert!(took < latency * 3, "{took:?}");
    let requests = fake.requests();
    assert_eq!(requests.len(), 4);
    assert!(
        requests
            .iter()
            .all(|request| request.at >= started + latency)
    );
}

#[test]
fn limits_and_auth_are_enforced() {
    let fake = fake(1, None);
    assert_eq!(get(&fake, "/orders?max=101", KEY).0, 400);
    assert_eq!(get(&fake, "/orders?max=ten", KEY).0, 400);
    let ids: Vec<String> = (0..101).map(|index| format!("{index}-A")).collect();
    let (status, body) = get(&fake, &format!("/orders?order_ids={}", ids.join(",")), KEY);
    assert_eq!(status, 400);
    assert!(body["message"].as_str().unwrap().contains("limit of 100"));
    assert_eq!(get(&fake, "/orders", "wrong").0, 401);
    assert_eq!(get(&fake, "/orders", &format!("Bearer {KEY}")).0, 401);
}

#[test]
fn accept_moves_the_order_on_and_the_address_appears_only_in_shipping() {
    let fake = fake(1, None);
    let order = FakeOrder::generated(0);
    let id = order.order_id();
    let (_, page) = get(&fake, &format!("/orders?order_ids={id}"), KEY);
    assert!(page["orders"][0]["customer"]["shipping_address"].is_null());

    assert_eq!(
        put(
            &fake,
            &format!("/orders/{id}/accept"),
            Some(&accept_body(&order))
        ),
        204
    );
    assert_eq!(fake.order_state(id).unwrap(), "WAITING_DEBIT_PAYMENT");
    // A second accept is refused: the order is no longer waiting.
    assert_eq!(
        put(
            &fake,
            &format!("/orders/{id}/accept"),
            Some(&accept_body(&order))
        ),
        400
    );

    fake.complete_payments();
    let (_, page) = get(&fake, &format!("/orders?order_ids={id}"), KEY);
    assert_eq!(page["orders"][0]["order_state"], "SHIPPING");
    assert!(page["orders"][0]["customer"]["shipping_address"]["street_1"].is_string());
}

#[test]
fn orders_have_the_production_shapes() {
    let fake = fake(0, None);
    fake.add_orders([
        FakeOrder::new("261300001-A"),
        FakeOrder::new("261300002-A").with_state("SHIPPING"),
        FakeOrder::new("261300003-A").with_state("SHIPPED"),
    ]);
    let (_, page) = get(
        &fake,
        "/orders?order_ids=261300001-A,261300002-A,261300003-A",
        KEY,
    );
    let orders = page["orders"].as_array().unwrap();
    let order = |id: &str| {
        orders
            .iter()
            .find(|order| order["order_id"] == id)
            .unwrap()
            .clone()
    };
    assert!(order("261300001-A")["delivery_date"].is_null());
    for id in ["261300002-A", "261300003-A"] {
        let listed = order(id);
        for bound in ["earliest", "latest"] {
            let date = listed["delivery_date"][bound].as_str().unwrap();
            assert!(date.ends_with("T06:59:59.999Z"), "{id} {bound}: {date}");
        }
        let address = &listed["customer"]["shipping_address"];
        assert_eq!(address["street_2"], "", "{id}");
        assert_eq!(address["phone_secondary"], "", "{id}");
    }
}

#[test]
fn the_payment_delay_passes_by_itself() {
    let fake = fake(1, Some(Duration::from_millis(1500)));
    let order = FakeOrder::generated(0);
    put(
        &fake,
        &format!("/orders/{}/accept", order.order_id()),
        Some(&accept_body(&order)),
    );
    assert_eq!(
        fake.order_state(order.order_id()).unwrap(),
        "WAITING_DEBIT_PAYMENT"
    );
    std::thread::sleep(Duration::from_millis(1600));
    assert_eq!(fake.order_state(order.order_id()).unwrap(), "SHIPPING");
}

#[test]
fn accept_must_decide_every_line_once() {
    let fake = fake(3, None);
    let order = FakeOrder::generated(1); // two lines
    let id = order.order_id();
    let lines = order.line_ids();
    let one = serde_json::json!({"order_lines": [{"id": lines[0], "accepted": true}]}).to_string();
    assert_eq!(put(&fake, &format!("/orders/{id}/accept"), Some(&one)), 400);
    let mixed = serde_json::json!({"order_lines": [
        {"id": lines[0], "accepted": true}, {"id": lines[1], "accepted": false}]})
    .to_string();
    assert_eq!(
        put(&fake, &format!("/orders/{id}/accept"), Some(&mixed)),
        400
    );
    assert_eq!(
        put(&fake, "/orders/NOPE-1/accept", Some(&accept_body(&order))),
        404
    );
    assert_eq!(fake.order_state(id).unwrap(), "WAITING_ACCEPTANCE");
}

#[test]
fn a_put_without_a_length_gets_411_and_ship_needs_tracking_first() {
    let fake = fake(1, None);
    let order = FakeOrder::generated(0);
    let id = order.order_id();
    put(
        &fake,
        &format!("/orders/{id}/accept"),
        Some(&accept_body(&order)),
    );
    fake.complete_payments();

    // A raw PUT with neither Content-Length nor Transfer-Encoding.
    use std::io::{Read, Write};
    let address = fake.base_url().trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "PUT /api/orders/{id}/ship HTTP/1.1\r\nHost: {address}\r\nAuthorization: {KEY}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 411"), "{answer}");

    // With Content-Length: 0 it is understood, and refused until tracking is sent.
    assert_eq!(put(&fake, &format!("/orders/{id}/ship"), None), 400);
    // OR23 needs a carrier Best Buy knows by code, or a name for one it does not.
    for refused in [
        r#"{"tracking_number":"4017968200000009"}"#,
        r#"{"carrier_name":"","tracking_number":"4017968200000009"}"#,
        r#"{"carrier_code":"NOPE","tracking_number":"4017968200000009"}"#,
        r#"{"carrier_code":"CPCL"}"#,
    ] {
        assert_eq!(
            put(&fake, &format!("/orders/{id}/tracking"), Some(refused)),
            400,
            "{refused}"
        );
    }
    assert_eq!(
        put(
            &fake,
            &format!("/orders/{id}/tracking"),
            Some(r#"{"carrier_name":"Other Post","tracking_number":"4017968200000009"}"#)
        ),
        204
    );
    let tracking = r#"{"carrier_code":"CPCL","tracking_number":"4017968200000009"}"#;
    assert_eq!(
        put(&fake, &format!("/orders/{id}/tracking"), Some(tracking)),
        204
    );
    assert_eq!(put(&fake, &format!("/orders/{id}/ship"), None), 204);
    assert_eq!(fake.order_state(id).unwrap(), "SHIPPED");
    let ship = fake
        .requests()
        .into_iter()
        .rfind(|request| request.endpoint == Endpoint::Ship)
        .unwrap();
    assert!(
        ship.headers
            .iter()
            .any(|(name, value)| name.eq_ignore_ascii_case("content-length") && value == "0")
    );
}

#[test]
fn faults_apply_in_their_window_and_drop_after_acting_acts() {
    let fake = fake(2, None);
    fake.inject(FaultRule {
        endpoint: Endpoint::ListOrders,
        order_id: None,
        skip: 1,
        times: 1,
        fault: Fault::Status {
            status: 429,
            retry_after: Some("1".to_owned()),
            body: "{}".to_owned(),
            content_type: "application/json".to_owned(),
        },
    });
    assert_eq!(get(&fake, "/orders", KEY).0, 200);
    assert_eq!(get(&fake, "/orders", KEY).0, 429);
    assert_eq!(get(&fake, "/orders", KEY).0, 200);

    let order = FakeOrder::generated(0);
    fake.inject(FaultRule {
        endpoint: Endpoint::Accept,
        order_id: Some(order.order_id().to_owned()),
        skip: 0,
        times: 1,
        fault: Fault::DropAfterActing,
    });
    let result = agent()
        .put(&format!(
            "{}/orders/{}/accept",
            fake.bestbuy_url(),
            order.order_id()
        ))
        .header("Authorization", KEY)
        .header("Content-Type", "application/json")
        .send(&accept_body(&order));
    assert!(result.is_err(), "the client saw an answer");
    assert_eq!(
        fake.order_state(order.order_id()).unwrap(),
        "WAITING_DEBIT_PAYMENT"
    );
    assert_eq!(fake.requests().last().unwrap().status, None);
}

#[test]
fn json_edits_reach_listings_and_reads_by_id_and_a_wrong_one_is_loud() {
    let fake = fake(0, None);
    let hostile = FakeOrder::generated(1)
        .with_json("/order_id", serde_json::json!("../x"))
        .with_json("/order_lines/0/quantity", serde_json::json!("two"))
        .with_json("/order_lines/1", serde_json::json!({"order_line_id": null}))
        .without_json("/order_state");
    fake.add_orders([FakeOrder::generated(0), hostile.clone()]);
    let (status, page) = get(&fake, "/orders", KEY);
    assert_eq!(status, 200);
    let orders = page["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2);
    assert_eq!(
        orders[0]["order_id"], "261300000-A",
        "the good order is untouched"
    );
    assert_eq!(orders[1]["order_id"], "../x");
    assert_eq!(orders[1]["order_lines"][0]["quantity"], "two");
    assert_eq!(
        orders[1]["order_lines"][1],
        serde_json::json!({"order_line_id": null})
    );
    assert!(orders[1].get("order_state").is_none());
    // Read by its routing id, it is served the same way, and writes still reach it.
    let (_, by_id) = get(&fake, "/orders?order_ids=261300001-A", KEY);
    assert_eq!(by_id["orders"][0]["order_id"], "../x");
    let replaced = FakeOrder::generated(2).with_json("", serde_json::json!("not an object"));
    fake.add_order(replaced);
    let (_, page) = get(&fake, "/orders?order_ids=261300002-A", KEY);
    assert_eq!(page["orders"][0], "not an object");

    // An edit that aims at nothing answers 500 naming it, instead of testing nothing.
    fake.add_order(FakeOrder::generated(3).with_json("/customer/shipping_address/city", 5.into()));
    let (status, body) = get(&fake, "/orders?order_ids=261300003-A", KEY);
    assert_eq!(status, 500);
    assert!(
        body["message"].as_str().unwrap().contains("261300003-A"),
        "{body}"
    );
    fake.add_order(FakeOrder::generated(4).without_json("/order_lines/7"));
    assert_eq!(get(&fake, "/orders?order_ids=261300004-A", KEY).0, 500);
}

#[test]
fn answers_after_acting_can_be_garbled_or_cut_short() {
    let fake = fake(2, None);
    let first = FakeOrder::generated(0);
    fake.inject(FaultRule {
        endpoint: Endpoint::Accept,
        order_id: Some(first.order_id().to_owned()),
        skip: 0,
        times: 1,
        fault: Fault::AnswerAfterActing {
            status: 200,
            body: "<html>oops</html>".to_owned(),
            content_type: "text/html".to_owned(),
        },
    });
    let mut response = agent()
        .put(&format!(
            "{}/orders/{}/accept",
            fake.bestbuy_url(),
            first.order_id()
        ))
        .header("Authorization", KEY)
        .header("Content-Type", "application/json")
        .send(&accept_body(&first))
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.body_mut().read_to_string().unwrap(),
        "<html>oops</html>"
    );
    assert_eq!(
        fake.order_state(first.order_id()).unwrap(),
        "WAITING_DEBIT_PAYMENT"
    );

    fake.inject(FaultRule {
        endpoint: Endpoint::ListOrders,
        order_id: None,
        skip: 0,
        times: 1,
        fault: Fault::CutShortAfterActing { keep: 20 },
    });
    let mut response = agent()
        .get(&format!("{}/orders", fake.bestbuy_url()))
        .header("Authorization", KEY)
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let read = response.body_mut().read_to_vec();
    assert!(
        read.is_err(),
        "a body shorter than its Content-Length is an error: {read:?}"
    );
    assert_eq!(fake.requests().last().unwrap().status, Some(200));
}

mod canada_post {
    use super::*;

    #[test]
    fn fake_pins_begin_with_the_mailed_by_number_and_pass_the_check_digit() {
        for (mailed_by, starts) in [
            ("1234567", "1234567"),
            ("0001234567", "1234567"),
            ("42", "0000042"),
            ("9876543210", "9876543210"),
        ] {
            for serial in [1, 2, 99, 12_345_678] {
                let pin = bbship_fake::pin_for(mailed_by, serial);
                assert_eq!(pin.len(), 16, "{pin}");
                assert!(pin.starts_with(starts), "{mailed_by}: {pin}");
                assert!(bbship::pin_check_digit_holds(&pin), "{pin}");
            }
        }
        assert_ne!(
            bbship_fake::pin_for("1234567", 1),
            bbship_fake::pin_for("1234567", 2)
        );
        // The reference's own example PIN comes out of the same rule.
        assert_eq!(
            bbship_fake::pin_for("7023210", 3_941_460),
            "7023210039414604"
        );
    }

    #[test]
    fn generated_labels_pass_the_label_check() {
        use bbship::{LabelInspection, inspect_label};
        use bbship_fake::label_pdf::four_by_six_label_pdf;
        let lines = vec!["SHIP TO".to_string(), "Jane Doe".to_string()];
        let pdf = four_by_six_label_pdf(&lines, "7023210039414604");
        assert_eq!(inspect_label(&pdf), Ok(LabelInspection { pages: 1 }));
        let odd: Vec<String> = (0..100).map(|i| format!("/MediaBox [{i}] ü")).collect();
        let pdf = four_by_six_label_pdf(&odd, "/Type /Pages (x)");
        assert_eq!(inspect_label(&pdf), Ok(LabelInspection { pages: 1 }));
    }

    fn basic() -> String {
        // base64 of the fake's default credentials, "fake-canada-post-user:fake-canada-post-password"
        "Basic ZmFrZS1jYW5hZGEtcG9zdC11c2VyOmZha2UtY2FuYWRhLXBvc3QtcGFzc3dvcmQ=".to_owned()
    }

    fn post(fake: &FakeServer, headers: &[(&str, &str)], body: &str) -> (u16, String) {
        let mut request = agent().post(format!("{}/rs/1234567/1234567/shipment", fake.base_url()));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request.send(body).unwrap();
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap())
    }

    fn sample_request() -> String {
        std::fs::read_to_string("tests/fixtures/canada-post/create-shipment-request.xml").unwrap()
    }

    #[test]
    fn the_fake_checks_credentials_media_types_and_the_body() {
        let fake = fake(0, None);
        let auth = basic();
        let good = [
            ("Authorization", auth.as_str()),
            ("Accept", "application/vnd.cpc.shipment-v8+xml"),
            ("Content-Type", "application/vnd.cpc.shipment-v8+xml"),
            ("Accept-language", "en-CA"),
        ];
        let (status, body) = post(&fake, &good[1..], &sample_request());
        assert_eq!(status, 401);
        assert!(body.contains("E002"), "{body}");
        let mut wrong_accept = good;
        wrong_accept[1].1 = "*/*";
        assert_eq!(post(&fake, &wrong_accept, &sample_request()).0, 406);
        let mut wrong_type = good;
        wrong_type[2].1 = "application/xml";
        assert_eq!(post(&fake, &wrong_type, &sample_request()).0, 415);
        // Several problems at once, each its own message.
        let broken = sample_request()
            .replace("<transmit-shipment>true</transmit-shipment>", "")
            .replace("<contract-id>", "<!--")
            .replace("</contract-id>", "-->");
        let (status, body) = post(&fake, &good, &broken);
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("transmit-shipment"), "{body}");
        assert!(body.contains("Contract Number"), "{body}");
        assert!(fake.shipments().is_empty());

        let (status, body) = post(&fake, &good, &sample_request());
        assert_eq!(status, 200, "{body}");
        let shipments = fake.shipments();
        assert_eq!(shipments.len(), 1);
        assert!(bbship::pin_check_digit_holds(&shipments[0].tracking_pin));
        assert!(body.contains(&shipments[0].tracking_pin));
    }
}
