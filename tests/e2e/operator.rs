//! The operator's commands `check`, `reprint` and `refund`, through the real binary
//! against the fake APIs: what each prints and exits with, what it sends (and, above
//! all, what it never sends: no shipment is ever created, no refund goes out unless every
//! check holds), and what it journals.

use crate::support;

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;

use bbship::DataDir;
use bbship::RunLock;
use bbship::inspect_label;
use bbship::{Access, Journal};
use bbship_fake::Endpoint;
use support::{
    API_KEY, CP_PASSWORD, CP_USERNAME, Harness, Run, answer, rule, shipping_orders, waiting_orders,
};

const REFUND_EMAIL: &str = "refunds@example-shop.ca";

/// Fails the test if any secret, or the encoded Basic pair, is in the run's output.
fn assert_no_secret(run: &Run) {
    let basic = base64_pair();
    for secret in [API_KEY, CP_USERNAME, CP_PASSWORD, basic.as_str()] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "a secret is in the output: {run:?}"
        );
    }
}

/// `CP_USERNAME:CP_PASSWORD` in base64, as it travels in the Authorization header.
fn base64_pair() -> String {
    let output = std::process::Command::new("base64")
        .arg("-w0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(format!("{CP_USERNAME}:{CP_PASSWORD}").as_bytes())?;
            child.wait_with_output()
        })
        .expect("base64 runs");
    String::from_utf8(output.stdout).unwrap()
}

/// The lines of a check, each starting with its mark.
fn check_lines(run: &Run) -> Vec<&str> {
    run.stdout.lines().collect()
}

fn line_with<'a>(run: &'a Run, needle: &str) -> &'a str {
    run.stdout
        .lines()
        .find(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?}: {run:?}"))
}

/// A port on 127.0.0.1 where nothing listens.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

// ---------------------------------------------------------------- check

#[test]
fn check_passes_every_point_with_read_only_calls_and_exits_0() {
    let harness = Harness::new(shipping_orders(2));
    let run = harness.bbship(&["check"]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines = check_lines(&run);
    assert_eq!(lines.len(), 7, "{run:?}");
    assert!(lines.iter().all(|line| line.starts_with("✓ ")), "{run:?}");
    assert!(line_with(&run, "configuration").contains("bbship.json"));
    // One number mails, is mailed for and pays, by default.
    assert_eq!(
        line_with(&run, "account numbers"),
        "✓ account numbers: mails as 1234567 (mailed-by, in the URL), for 1234567 (mobo, in \
         the URL, the default: customer_number), paid by 1234567 \
         (settlement-info/paid-by-customer, the default: customer_number) under contract \
         42708517 (settlement-info/contract-id)"
    );
    for variable in [
        "BESTBUY_API_KEY",
        "CANADAPOST_USERNAME",
        "CANADAPOST_PASSWORD",
    ] {
        assert!(line_with(&run, variable).ends_with("is set"), "{run:?}");
    }
    assert!(line_with(&run, "Best Buy").contains("the API key works"));
    assert!(line_with(&run, "Canada Post").contains("the credentials work for customer 1234567"));
    assert!(run.stderr.is_empty(), "{run:?}");
    assert_no_secret(&run);
    // Two reads, nothing else; no file, no lock.
    let requests = harness.fake.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert!(requests.iter().all(|request| request.method == "GET"));
    assert_eq!(harness.fake.count(Endpoint::ListOrders), 1);
    assert_eq!(harness.fake.count(Endpoint::FindShipment), 1);
    assert!(!harness.data_dir.exists());

    // It takes no lock, so it runs beside a cycle.
    let _held = RunLock::acquire(&DataDir::new(&harness.data_dir)).unwrap();
    let beside = harness.bbship(&["check"]);
    assert_eq!(beside.code, 0, "{beside:?}");
}

#[test]
fn check_shows_which_customer_number_mails_and_which_pays() {
    let harness = Harness::new(Vec::new());
    harness.write_config(|config| {
        config["canada_post"]["paid_by_customer"] = serde_json::json!("7654321");
    });
    let run = harness.bbship(&["check"]);
    assert_eq!(run.code, 0, "{run:?}");
    let line = line_with(&run, "account numbers");
    assert!(
        line.contains("mails as 1234567 (mailed-by, in the URL)")
            && line.contains("paid by 7654321 (settlement-info/paid-by-customer)")
            && line.contains("under contract 42708517"),
        "{line}"
    );
    assert_no_secret(&run);
}

#[test]
fn a_wrong_best_buy_key_fails_its_line_and_the_rest_is_still_checked() {
    let harness = Harness::new(Vec::new());
    let wrong_key = "wrong-bestbuy-key-31415";
    let run = Run::from(
        harness
            .command(&["check"])
            .env("BESTBUY_API_KEY", wrong_key)
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 1, "{run:?}");
    let line = line_with(&run, "Best Buy");
    assert!(line.starts_with("✗ "), "{line}");
    assert!(
        line.contains("BESTBUY_API_KEY") && line.contains("401"),
        "{line}"
    );
    assert!(line_with(&run, "Canada Post").starts_with("✓ "), "{run:?}");
    assert_eq!(
        check_lines(&run)
            .iter()
            .filter(|line| line.starts_with("✗"))
            .count(),
        1
    );
    // What makes the exit code 1 is an `error:` line, as for every other command.
    assert!(
        run.stderr
            .contains("error: check: 1 of 7 points do not hold"),
        "{run:?}"
    );
    assert!(!run.stdout.contains(wrong_key), "{run:?}");
    assert_no_secret(&run);
}

#[test]
fn a_wrong_canada_post_password_fails_its_line_naming_the_variables() {
    let harness = Harness::new(Vec::new());
    let wrong_password = "wrong-cp-password-27182";
    let run = Run::from(
        harness
            .command(&["check"])
            .env("CANADAPOST_PASSWORD", wrong_password)
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 1, "{run:?}");
    let line = line_with(&run, "Canada Post");
    assert!(line.starts_with("✗ "), "{line}");
    assert!(line.contains("refused the credentials"), "{line}");
    assert!(line.contains("E002"), "{line}");
    assert!(
        line.contains("CANADAPOST_USERNAME") && line.contains("CANADAPOST_PASSWORD"),
        "{line}"
    );
    assert!(line_with(&run, "Best Buy").starts_with("✓ "), "{run:?}");
    assert!(!run.stdout.contains(wrong_password), "{run:?}");
    assert_no_secret(&run);
}

#[test]
fn unreachable_apis_are_each_reported_as_unreachable() {
    let harness = Harness::new(Vec::new());
    let nowhere = closed_port_url();
    harness.write_config(|config| {
        config["bestbuy"]["base_url"] = serde_json::json!(format!("{nowhere}/api"));
        config["canada_post"]["base_url"] = serde_json::json!(nowhere);
    });
    let started = std::time::Instant::now();
    let run = harness.bbship(&["check"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(line_with(&run, "configuration").starts_with("✓ "));
    for api in ["Best Buy", "Canada Post"] {
        let line = line_with(&run, &format!("{api}:"));
        assert!(line.starts_with("✗ "), "{line}");
        assert!(
            line.contains("cannot reach") && line.contains(&nowhere),
            "{line}"
        );
    }
    // One attempt per probe, no retries.
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_no_secret(&run);
}

#[test]
fn a_missing_configuration_and_secret_each_get_a_line_and_exit_1() {
    let harness = Harness::new(Vec::new());
    let run = Run::from(
        harness
            .command(&["--config", "/nonexistent/bbship.json", "check"])
            .env_remove("CANADAPOST_PASSWORD")
            .output()
            .unwrap(),
    );
    assert_eq!(run.code, 1, "{run:?}");
    let lines = check_lines(&run);
    assert_eq!(lines.len(), 6, "{run:?}");
    assert!(lines[0].starts_with("✗ ") && lines[0].contains("/nonexistent/bbship.json"));
    assert!(line_with(&run, "BESTBUY_API_KEY is set").starts_with("✓ "));
    assert!(line_with(&run, "CANADAPOST_PASSWORD is not set").starts_with("✗ "));
    assert!(line_with(&run, "Best Buy: not checked").starts_with("✗ "));
    assert!(line_with(&run, "Canada Post: not checked").starts_with("✗ "));
    assert!(harness.fake.requests().is_empty());
    assert_no_secret(&run);
}

// ---------------------------------------------------------------- reprint

/// The journal as `status` will read it.
fn journal(harness: &Harness) -> Journal {
    Journal::open(&DataDir::new(&harness.data_dir), Access::ReadOnly).unwrap()
}

/// Runs `reprint` for `order_id` and checks the common promises: exit 0, one new file
/// printed, a 4x6 PDF, no earlier file touched, no shipment created. Returns the file.
fn reprint_makes_a_new_file(harness: &Harness, order_id: &str) -> PathBuf {
    let before = harness.label_files();
    let contents_before: Vec<Vec<u8>> = before.iter().map(|f| std::fs::read(f).unwrap()).collect();
    let creates = harness.fake.count(Endpoint::CreateShipment);
    let downloads = harness.fake.count(Endpoint::Label);

    let run = harness.bbship(&["reprint", order_id]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.is_empty(), "{run:?}");
    let printed = PathBuf::from(run.stdout.trim());
    assert_eq!(run.stdout.lines().count(), 1, "{run:?}");
    assert!(!before.contains(&printed), "{run:?}");
    let after = harness.label_files();
    assert_eq!(after.len(), before.len() + 1);
    assert!(after.contains(&printed));
    assert_eq!(
        inspect_label(&std::fs::read(&printed).unwrap())
            .unwrap()
            .pages,
        1
    );
    for (file, contents) in before.iter().zip(&contents_before) {
        assert_eq!(
            &std::fs::read(file).unwrap(),
            contents,
            "{}",
            file.display()
        );
    }
    assert_eq!(harness.fake.count(Endpoint::CreateShipment), creates);
    assert_eq!(harness.fake.count(Endpoint::Label), downloads + 1);
    assert_eq!(harness.fake.shipments_for(order_id).len(), 1);
    assert_no_secret(&run);
    printed
}

fn relative(harness: &Harness, path: &std::path::Path) -> String {
    path.strip_prefix(&harness.data_dir)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn reprint_of_a_shipped_order_downloads_its_label_again_into_a_new_file() {
    let orders = shipping_orders(2);
    let harness = Harness::new(orders.clone());
    assert_eq!(harness.bbship(&["run-all"]).code, 0);
    let order_id = orders[0].order_id();
    assert!(
        journal(&harness)
            .settled(&order_id.parse().unwrap())
            .is_some()
    );

    let printed = reprint_makes_a_new_file(&harness, order_id);
    let shipment = &harness.fake.shipments_for(order_id)[0];
    let last = harness.label_journal().pop().unwrap();
    assert_eq!(last["event"], "label_saved");
    assert_eq!(last["order_id"], order_id);
    assert_eq!(last["shipment_id"], shipment.shipment_id.as_str());
    let settled = journal(&harness)
        .settled(&order_id.parse().unwrap())
        .unwrap();
    assert_eq!(settled.label_files, vec![relative(&harness, &printed)]);

    // Again: yet another file, never the same name.
    let second = reprint_makes_a_new_file(&harness, order_id);
    assert_ne!(second, printed);
}

#[test]
fn reprint_of_an_order_in_progress_uses_its_journaled_shipment() {
    let orders = shipping_orders(1);
    let harness = Harness::new(orders.clone());
    assert_eq!(harness.bbship(&["label"]).code, 0);
    let order_id = orders[0].order_id();
    let printed = reprint_makes_a_new_file(&harness, order_id);
    let record = journal(&harness)
        .active_order(&order_id.parse().unwrap())
        .unwrap();
    let labels = record.label.labels.unwrap();
    assert_eq!(labels[0].path, relative(&harness, &printed));
    // The next cycle ships it as usual and buys nothing.
    assert_eq!(harness.bbship(&["run-all"]).code, 0);
    assert_eq!(harness.fake.shipments().len(), 1);
}

#[test]
fn reprint_of_an_order_without_a_shipment_says_how_to_buy_one_and_creates_none() {
    let orders = waiting_orders(1);
    let harness = Harness::new(orders.clone());
    assert_eq!(harness.bbship(&["accept"]).code, 0);
    let order_id = orders[0].order_id();
    let run = harness.bbship(&["reprint", order_id]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "no shipment exists for order {order_id}; `bbship label --order {order_id}` buys one"
        )),
        "{run:?}"
    );
    assert_eq!(harness.fake.count(Endpoint::CreateShipment), 0);
    assert!(harness.fake.shipments().is_empty());
    assert!(harness.label_files().is_empty());
}

#[test]
fn reprint_of_an_unknown_order_is_a_clear_error_and_calls_nothing() {
    let harness = Harness::new(shipping_orders(1));
    assert_eq!(harness.bbship(&["run-all"]).code, 0);
    harness.fake.reset_log();
    let run = harness.bbship(&["reprint", "999999999-Z"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("no record of order 999999999-Z"),
        "{run:?}"
    );
    assert!(harness.fake.requests().is_empty());
}

#[test]
fn reprint_of_a_label_canada_post_no_longer_serves_says_links_expire() {
    let orders = shipping_orders(1);
    let harness = Harness::new(orders.clone());
    assert_eq!(harness.bbship(&["run-all"]).code, 0);
    harness.write_config(|config| config["limits"]["label_wait_secs"] = serde_json::json!(1));
    let gone = r#"<messages xmlns="http://www.canadapost.ca/ws/messages"><message><code>9006</code><description>Artifact not found</description></message></messages>"#;
    harness.fake.inject(rule(
        Endpoint::Label,
        1000,
        answer(404, "application/vnd.cpc.messages+xml", gone),
    ));
    let files = harness.label_files();
    let run = harness.bbship(&["reprint", orders[0].order_id()]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("90 days"), "{run:?}");
    assert!(run.stderr.contains("9006 Artifact not found"), "{run:?}");
    assert!(run.stderr.contains("No shipment was created"), "{run:?}");
    assert_eq!(harness.label_files(), files);
    assert_eq!(harness.fake.count(Endpoint::CreateShipment), 1);
}

#[test]
fn reprint_waits_for_the_lock_holder_by_exiting_75() {
    let orders = shipping_orders(1);
    let harness = Harness::new(orders.clone());
    assert_eq!(harness.bbship(&["label"]).code, 0);
    let _held = RunLock::acquire(&DataDir::new(&harness.data_dir)).unwrap();
    let run = harness.bbship(&["reprint", orders[0].order_id()]);
    assert_eq!(run.code, 75, "{run:?}");
    assert_eq!(harness.label_files().len(), 1);
}

// ---------------------------------------------------------------- refund

/// A harness whose first order was labelled, then cancelled on Best Buy, then seen
/// cancelled by the ship phase (which records `cancelled_after_label`).
fn cancelled_after_label() -> (Harness, String) {
    cancelled_after_label_with("contract")
}

fn cancelled_after_label_with(account: &'static str) -> (Harness, String) {
    let orders = shipping_orders(2);
    let harness = Harness::new(orders.clone()).with_account(account);
    harness.write_config(|config| {
        config["canada_post"]["refund_email"] = serde_json::json!(REFUND_EMAIL);
    });
    assert_eq!(harness.bbship(&["label"]).code, 0);
    let cancelled = orders[0].order_id().to_owned();
    harness.fake.set_order_state(&cancelled, "CANCELED");
    let ship = harness.bbship(&["ship"]);
    assert_eq!(ship.code, 1, "{ship:?}");
    assert!(ship.stderr.contains("cancelled after label"), "{ship:?}");
    harness.fake.reset_log();
    (harness, cancelled)
}

/// Runs `bbship refund ORDER` with `answer` on its standard input.
fn refund_answering(harness: &Harness, order_id: &str, answer: &str) -> Run {
    let mut child = harness
        .command(&["refund", order_id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(answer.as_bytes()).unwrap();
    drop(stdin);
    Run::from(child.wait_with_output().unwrap())
}

/// The refund request the fake got.
fn refund_post(harness: &Harness) -> bbship_fake::RecordedRequest {
    harness
        .fake
        .requests()
        .into_iter()
        .find(|request| request.endpoint == Endpoint::Refund)
        .expect("a refund request")
}

fn journal_events(harness: &Harness, event: &str) -> Vec<serde_json::Value> {
    harness
        .label_journal()
        .into_iter()
        .filter(|line| line["event"] == event)
        .collect()
}

fn assert_valid_against_the_xsd(body: &[u8]) {
    assert_valid_against(&bbship_fake::xsd::shipment_xsd(), body);
}

fn assert_valid_against(xsd: &std::path::Path, body: &[u8]) {
    if let Err(complaints) = bbship_fake::xsd::validate_against(xsd, &[body]) {
        panic!("{complaints}");
    }
}

#[test]
fn refund_yes_requests_the_refund_once_and_a_second_says_it_was_already_requested() {
    let (harness, order_id) = cancelled_after_label();
    let shipment = harness.fake.shipments_for(&order_id)[0].clone();

    let run = harness.bbship(&["refund", &order_id, "--yes"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains("[y/N]"), "{run:?}");
    assert!(run.stdout.contains(&shipment.shipment_id), "{run:?}");
    assert!(run.stdout.contains(&shipment.tracking_pin), "{run:?}");
    let refunds = harness.fake.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].shipment_id, shipment.shipment_id);
    assert_eq!(refunds[0].email, REFUND_EMAIL);
    assert!(
        run.stdout.contains(&refunds[0].service_ticket_id),
        "{run:?}"
    );
    assert_valid_against_the_xsd(&refunds[0].body);
    let post = refund_post(&harness);
    assert!(
        post.path
            .ends_with(&format!("/shipment/{}/refund", shipment.shipment_id))
    );
    // Best Buy was read before, and the state said CANCELED.
    assert_eq!(harness.fake.count(Endpoint::ListOrders), 1);
    let requested = journal_events(&harness, "refund_requested");
    assert_eq!(requested.len(), 1);
    assert_eq!(requested[0]["order_id"], order_id.as_str());
    assert_eq!(
        requested[0]["ticket_id"],
        refunds[0].service_ticket_id.as_str()
    );
    assert_no_secret(&run);

    harness.fake.reset_log();
    let again = harness.bbship(&["refund", &order_id, "--yes"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("already requested"), "{again:?}");
    assert!(
        again.stdout.contains(&refunds[0].service_ticket_id),
        "{again:?}"
    );
    assert!(harness.fake.requests().is_empty(), "nothing sent at all");
    assert_eq!(harness.fake.refunds().len(), 1);
}

#[test]
fn a_non_contract_label_is_refunded_through_its_refund_link_with_the_ncshipment_request() {
    let (harness, order_id) = cancelled_after_label_with("non_contract");
    let shipment = harness.fake.shipments_for(&order_id)[0].clone();
    assert!(shipment.non_contract);
    let run = harness.bbship(&["refund", &order_id, "--yes"]);
    assert_eq!(run.code, 0, "{run:?}");
    let refunds = harness.fake.refunds();
    assert_eq!(refunds.len(), 1);
    assert!(
        run.stdout.contains(&refunds[0].service_ticket_id),
        "{run:?}"
    );
    assert_valid_against(
        &bbship_fake::xsd::vendored("ncshipment.xsd"),
        &refunds[0].body,
    );
    let post = refund_post(&harness);
    assert!(
        post.path
            .ends_with(&format!("/ncshipment/{}/refund", shipment.shipment_id)),
        "{post:?}"
    );
    // A second request is refused by the fake as Canada Post refuses it.
    harness.fake.reset_log();
    let again = harness.bbship(&["refund", &order_id, "--yes"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("already requested"), "{again:?}");
}

#[test]
fn check_probes_the_non_contract_search_read_only() {
    let harness = Harness::new(shipping_orders(1)).with_account("non_contract");
    let run = harness.bbship(&["check"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        line_with(&run, "account numbers").contains("a non-contract account"),
        "{run:?}"
    );
    let requests = harness.fake.requests();
    assert!(
        requests.iter().all(|request| request.method == "GET"),
        "{requests:?}"
    );
    let search = requests
        .iter()
        .find(|request| request.endpoint == Endpoint::FindShipment)
        .expect("the search was made");
    assert_eq!(search.path, "/rs/1234567/ncshipment", "{search:?}");
    assert!(
        search.query.starts_with("from=") && search.query.contains("&to="),
        "{search:?}"
    );
    assert_eq!(harness.fake.write_count(), 0);
}

#[test]
fn a_refund_whose_journal_line_was_lost_is_only_refused_by_canada_post_when_asked_again() {
    let (harness, order_id) = cancelled_after_label();
    assert_eq!(harness.bbship(&["refund", &order_id, "--yes"]).code, 0);
    // A crash between Canada Post's answer and the journal line: the line is lost.
    let path = harness
        .data_dir
        .join("logs/canada_post/label_journal.jsonl");
    let kept: String = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|line| !line.contains("refund_requested"))
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&path, kept).unwrap();

    let again = harness.bbship(&["refund", &order_id, "--yes"]);
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains("already been submitted"), "{again:?}");
    assert_eq!(harness.fake.count(Endpoint::Refund), 2);
    assert_eq!(harness.fake.refunds().len(), 1, "registered once");
    assert_eq!(journal_events(&harness, "refund_failed").len(), 1);
}

#[test]
fn refund_asks_first_and_only_an_explicit_yes_sends() {
    let (harness, order_id) = cancelled_after_label();
    let shipment = harness.fake.shipments_for(&order_id)[0].clone();
    for declined in ["n\n", "\n", "", "maybe\n", "yess\n"] {
        let run = refund_answering(&harness, &order_id, declined);
        assert_eq!(run.code, 1, "{declined:?}: {run:?}");
        assert!(
            run.stdout.contains(&format!(
                "Request a refund for order {order_id} (shipment {}, PIN {})? [y/N]",
                shipment.shipment_id, shipment.tracking_pin
            )),
            "{run:?}"
        );
        assert!(run.stdout.contains("nothing sent"), "{run:?}");
        assert_eq!(harness.fake.count(Endpoint::Refund), 0, "{declined:?}");
    }
    assert!(journal_events(&harness, "refund_requested").is_empty());

    let run = refund_answering(&harness, &order_id, "Y\n");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(harness.fake.count(Endpoint::Refund), 1);
    assert_eq!(harness.fake.refunds().len(), 1);
}

#[test]
fn a_failed_refund_is_journaled_and_may_be_asked_again() {
    let (harness, order_id) = cancelled_after_label();
    let refused = r#"<messages xmlns="http://www.canadapost.ca/ws/messages"><message><code>8100</code><description>The shipment cannot be refunded at this time.</description></message></messages>"#;
    harness.fake.inject(rule(
        Endpoint::Refund,
        1,
        answer(400, "application/vnd.cpc.messages+xml", refused),
    ));
    let first = harness.bbship(&["refund", &order_id, "--yes"]);
    assert_eq!(first.code, 1, "{first:?}");
    assert!(first.stderr.contains("8100"), "{first:?}");
    assert!(first.stderr.contains("may ask again"), "{first:?}");
    assert_eq!(journal_events(&harness, "refund_failed").len(), 1);

    let second = harness.bbship(&["refund", &order_id, "--yes"]);
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(harness.fake.count(Endpoint::Refund), 2);
    assert_eq!(harness.fake.refunds().len(), 1);
}

#[test]
fn refund_refuses_an_order_best_buy_now_shows_shipped_and_sends_nothing() {
    let (harness, order_id) = cancelled_after_label();
    // The journal says cancelled after label; Best Buy now says otherwise.
    harness.fake.set_order_state(&order_id, "SHIPPED");
    let run = harness.bbship(&["refund", &order_id, "--yes"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("SHIPPED on Best Buy"), "{run:?}");
    assert_eq!(harness.fake.count(Endpoint::Refund), 0);
    assert!(harness.fake.refunds().is_empty());
    assert!(journal_events(&harness, "refund_requested").is_empty());

    harness.fake.set_order_state(&order_id, "SHIPPING");
    let run = harness.bbship(&["refund", &order_id, "--yes"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("not CANCELED or REFUSED"), "{run:?}");
    assert_eq!(harness.fake.count(Endpoint::Refund), 0);
}

#[test]
fn refund_refuses_an_order_bbship_shipped_and_sends_nothing() {
    let orders = shipping_orders(1);
    let harness = Harness::new(orders.clone());
    harness.write_config(|config| {
        config["canada_post"]["refund_email"] = serde_json::json!(REFUND_EMAIL);
    });
    assert_eq!(harness.bbship(&["run-all"]).code, 0);
    let order_id = orders[0].order_id();
    // Even if Best Buy cancelled it since: bbship confirmed it shipped.
    harness.fake.set_order_state(order_id, "CANCELED");
    harness.fake.reset_log();
    let run = harness.bbship(&["refund", order_id, "--yes"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("is shipped on Best Buy"), "{run:?}");
    assert!(harness.fake.requests().is_empty());
}

#[test]
fn refund_refuses_an_order_that_was_not_cancelled() {
    let orders = shipping_orders(1);
    let harness = Harness::new(orders.clone());
    harness.write_config(|config| {
        config["canada_post"]["refund_email"] = serde_json::json!(REFUND_EMAIL);
    });
    assert_eq!(harness.bbship(&["label"]).code, 0);
    let order_id = orders[0].order_id();
    harness.fake.reset_log();
    let run = harness.bbship(&["refund", order_id, "--yes"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "order {order_id} has no cancelled label to refund"
        )),
        "{run:?}"
    );
    assert!(harness.fake.requests().is_empty());

    let unknown = harness.bbship(&["refund", "999999999-Z", "--yes"]);
    assert_eq!(unknown.code, 1, "{unknown:?}");
    assert!(unknown.stderr.contains("no record of order 999999999-Z"));
    assert!(harness.fake.requests().is_empty());
}

#[test]
fn a_refund_dry_run_prints_the_request_redacted_and_sends_nothing() {
    let (harness, order_id) = cancelled_after_label();
    let shipment = harness.fake.shipments_for(&order_id)[0].clone();
    let journal_before = harness.label_journal().len();
    let run = harness.bbship(&["refund", &order_id, "--dry-run"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stdout.contains("[y/N]"), "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("/shipment/{}/refund", shipment.shipment_id)),
        "{run:?}"
    );
    assert!(run.stdout.contains("Authorization: [REDACTED]"), "{run:?}");
    assert!(
        run.stdout
            .contains("Content-Type: application/vnd.cpc.shipment-v8+xml"),
        "{run:?}"
    );
    assert!(run.stdout.contains("<shipment-refund-request"), "{run:?}");
    assert!(run.stdout.contains(REFUND_EMAIL), "{run:?}");
    assert_eq!(harness.fake.count(Endpoint::Refund), 0);
    assert_eq!(harness.fake.write_count(), 0);
    assert_eq!(harness.label_journal().len(), journal_before);
    assert_no_secret(&run);
}

#[test]
fn refund_without_a_refund_email_is_a_configuration_error() {
    let (harness, order_id) = cancelled_after_label();
    harness.write_config(|_| {});
    let run = harness.bbship(&["refund", &order_id, "--yes"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("canada_post.refund_email"), "{run:?}");
    assert!(harness.fake.requests().is_empty());
}
