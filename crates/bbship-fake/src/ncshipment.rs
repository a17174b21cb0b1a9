//! The fake Canada Post's non-contract shipping (Solutions for Small Business, ncshipment-v4):
//! Create Non-Contract Shipment under `/rs/{mailed-by}/ncshipment`, Get Non-Contract
//! Shipments by a `from`/`to` window read in Eastern time, the shipment, its details,
//! its receipt (the card's charge: the only place the price is) and its refund.
//!
//! As strict as the contract side: exact media types, a body whose root and namespace
//! are the schema's, no element the schema does not have in a non-contract request (no
//! request id, no transmit, no print preferences, no contract settlement), the sender's
//! domestic address without a country code, and `<messages>` refusals. It reads bodies
//! with quick-xml itself and shares no parsing with the client, so a client bug shows.
//! Its labels are the contract side's 4x6 PDFs; the real service's page is unconfirmed.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Duration, NaiveDateTime, TimeZone, Timelike, Utc};

use super::canadapost::is_postal_code;
use super::http_server::{HttpRequest, HttpResponse, query_pairs};

pub const NC_TYPE: &str = "application/vnd.cpc.ncshipment-v4+xml";
const NC_NAMESPACE: &str = "http://www.canadapost.ca/ws/ncshipment-v4";

/// A request body flattened: each leaf's slash path below the root, in document order,
/// and the root's name and `xmlns`.
pub(crate) struct Flat {
    pub root: String,
    pub xmlns: Option<String>,
    pub leaves: Vec<(String, String)>,
}

impl Flat {
    pub fn get(&self, path: &str) -> Option<&str> {
        self.leaves
            .iter()
            .find(|(key, _)| key == path)
            .map(|(_, value)| value.as_str())
    }

    fn has_under(&self, prefix: &str) -> bool {
        self.leaves
            .iter()
            .any(|(key, _)| key == prefix || key.starts_with(&format!("{prefix}/")))
    }
}

/// Reads `body` with quick-xml into a `Flat`; a body that is not well-formed XML is an
/// error.
pub(crate) fn flatten(body: &[u8]) -> Result<Flat, String> {
    use quick_xml::events::Event;
    let body = std::str::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())?;
    let mut reader = quick_xml::Reader::from_str(body);
    let mut stack: Vec<String> = Vec::new();
    let mut root = None;
    let mut xmlns = None;
    let mut leaves = Vec::new();
    let mut text = String::new();
    loop {
        match reader.read_event().map_err(|error| error.to_string())? {
            Event::Start(start) => {
                let name = start.local_name().as_ref().to_owned();
                if root.is_none() {
                    for attribute in start.attributes().flatten() {
                        if attribute.key.as_ref() == "xmlns" {
                            xmlns = Some(attribute.value.into_owned());
                        }
                    }
                    root = Some(name);
                } else {
                    stack.push(name);
                }
                text.clear();
            }
            Event::Empty(empty) => {
                let name = empty.local_name().as_ref().to_owned();
                if root.is_none() {
                    root = Some(name);
                } else {
                    let mut path = stack.clone();
                    path.push(name);
                    leaves.push((path.join("/"), String::new()));
                }
            }
            Event::Text(chunk) => {
                text.push_str(&chunk.xml_content(quick_xml::XmlVersion::Implicit1_0));
            }
            Event::GeneralRef(reference) => {
                let resolved = quick_xml::escape::resolve_predefined_entity(&reference)
                    .ok_or_else(|| format!("unknown entity &{};", &*reference))?;
                text.push_str(resolved);
            }
            Event::End(_) => {
                if !stack.is_empty() {
                    let path = stack.join("/");
                    if !leaves
                        .iter()
                        .any(|(key, _): &(String, String)| key.starts_with(&format!("{path}/")))
                    {
                        leaves.push((path, text.trim().to_owned()));
                    }
                    stack.pop();
                }
                text.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(Flat {
        root: root.ok_or("no root element")?,
        xmlns,
        leaves,
    })
}

/// The fake's own reading of Eastern time: daylight time from the Sunday between the 8th
/// and the 14th of March at 07:00 UTC to the Sunday between the 1st and the 7th of
/// November at 06:00 UTC.
pub(crate) fn eastern(at: DateTime<Utc>) -> NaiveDateTime {
    let sunday_between = |month: u32, first: u32, hour: u32| {
        (first..first + 7)
            .filter_map(|day| {
                Utc.with_ymd_and_hms(at.year(), month, day, hour, 0, 0)
                    .single()
            })
            .find(|date| date.weekday() == chrono::Weekday::Sun)
    };
    let daylight = match (sunday_between(3, 8, 7), sunday_between(11, 1, 6)) {
        (Some(start), Some(end)) => at >= start && at < end,
        _ => false,
    };
    at.naive_utc() - Duration::hours(if daylight { 4 } else { 5 })
}

fn eastern_minute(text: &str) -> Option<NaiveDateTime> {
    (text.len() == 12 && text.bytes().all(|byte| byte.is_ascii_digit()))
        .then(|| NaiveDateTime::parse_from_str(text, "%Y%m%d%H%M").ok())
        .flatten()
}

/// Whether `created_at` falls in the `from`/`to` window (Eastern wall-clock minutes,
/// both ends inclusive to the minute).
fn in_window(created_at: DateTime<Utc>, from: NaiveDateTime, to: NaiveDateTime) -> bool {
    let local = eastern(created_at);
    let minute = local.with_second(0).unwrap_or(local);
    let minute = minute.with_nanosecond(0).unwrap_or(minute);
    minute >= from && minute <= to
}

/// The checks of ncshipment.xsd that matter for a create; every problem listed.
pub(crate) fn check_create(flat: &Flat) -> Vec<String> {
    let mut problems = root_problems(flat, "non-contract-shipment");
    if !problems.is_empty() {
        return problems;
    }
    let allowed_top = ["requested-shipping-point", "delivery-spec"];
    for (key, _) in &flat.leaves {
        let top = key.split('/').next().unwrap_or_default();
        if !allowed_top.contains(&top) {
            problems.push(format!(
                "cvc-complex-type.2.4.a: <{top}> is not allowed in a non-contract shipment"
            ));
        }
    }
    let allowed_spec = [
        "service-code",
        "sender",
        "destination",
        "options",
        "parcel-characteristics",
        "notification",
        "preferences",
        "references",
        "customs",
        "settlement-info",
    ];
    for (key, _) in &flat.leaves {
        let mut parts = key.split('/');
        if parts.next() == Some("delivery-spec")
            && let Some(part) = parts.next()
            && !allowed_spec.contains(&part)
        {
            problems.push(format!(
                "cvc-complex-type.2.4.a: delivery-spec/<{part}> is not allowed here"
            ));
        }
    }
    if flat.has_under("delivery-spec/settlement-info/contract-id") {
        problems.push("a non-contract shipment has no contract-id".to_owned());
    }
    if flat.has_under("delivery-spec/sender/address-details/country-code") {
        problems.push(
            "cvc-complex-type.2.4.a: sender/address-details/<country-code> is not allowed (domestic)"
                .to_owned(),
        );
    }
    let mut bounded = |path: &str, max: usize, required: bool| match flat.get(path) {
        None if required => problems.push(format!("cvc-complex-type.2.4.b: {path} is required")),
        None => {}
        Some(value) if value.chars().count() > max || value.is_empty() => {
            problems.push(format!("cvc-length: {path} must be 1 to {max} characters"))
        }
        Some(_) => {}
    };
    bounded("delivery-spec/service-code", 32, true);
    bounded("delivery-spec/sender/company", 44, true);
    bounded("delivery-spec/sender/contact-phone", 25, true);
    bounded(
        "delivery-spec/sender/address-details/address-line-1",
        44,
        true,
    );
    bounded("delivery-spec/sender/address-details/city", 40, true);
    bounded("delivery-spec/sender/address-details/prov-state", 2, true);
    bounded(
        "delivery-spec/destination/address-details/address-line-1",
        44,
        true,
    );
    bounded("delivery-spec/destination/address-details/city", 40, true);
    bounded(
        "delivery-spec/destination/address-details/country-code",
        2,
        true,
    );
    bounded("delivery-spec/references/customer-ref-1", 35, false);
    bounded("delivery-spec/references/customer-ref-2", 35, false);
    bounded(
        "delivery-spec/preferences/show-packing-instructions",
        5,
        true,
    );
    for path in [
        "requested-shipping-point",
        "delivery-spec/sender/address-details/postal-zip-code",
        "delivery-spec/destination/address-details/postal-zip-code",
    ] {
        match flat.get(path) {
            Some(code) if is_postal_code(code) => {}
            other => problems.push(format!(
                "{path} {other:?} must match [A-Z]\\d[A-Z]\\d[A-Z]\\d"
            )),
        }
    }
    match flat.get("delivery-spec/parcel-characteristics/weight") {
        Some(weight) if weight.parse::<f64>().is_ok_and(|kg| kg > 0.0 && kg <= 30.0) => {}
        other => problems.push(format!(
            "weight {other:?} must be above 0 and at most 30 kg"
        )),
    }
    problems
}

/// The refund request: the root in the ncshipment namespace and one `<email>`.
pub(crate) fn check_refund(flat: &Flat) -> Vec<String> {
    let mut problems = root_problems(flat, "non-contract-shipment-refund-request");
    if !problems.is_empty() {
        return problems;
    }
    match flat.leaves.as_slice() {
        [(key, email)] if key == "email" && email.contains('@') && email.len() <= 60 => {}
        _ => problems.push("cvc-complex-type: exactly one valid <email> is required".to_owned()),
    }
    problems
}

fn root_problems(flat: &Flat, expected: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if flat.root != expected {
        problems.push(format!(
            "cvc-elt.1: the root must be <{expected}>, not <{}>",
            flat.root
        ));
    }
    if flat.xmlns.as_deref() != Some(NC_NAMESPACE) {
        problems.push(format!("cvc-elt.1: <{expected}> must be in {NC_NAMESPACE}"));
    }
    problems
}

/// The window of a Get Non-Contract Shipments request: `from` required, `to` defaulting
/// to now, both `YYYYMMDDHHmm` in Eastern time; `Err` is Canada Post's refusal text.
pub(crate) fn window(request: &HttpRequest) -> Result<(NaiveDateTime, NaiveDateTime), String> {
    let pairs: BTreeMap<String, String> = query_pairs(&request.query).into_iter().collect();
    if pairs.contains_key("trackingPIN") {
        return Err("the fake searches by date only".to_owned());
    }
    let from = pairs
        .get("from")
        .ok_or("from is a required search parameter")?;
    let from = eastern_minute(from).ok_or("from must be YYYYMMDDHHmm")?;
    let to = match pairs.get("to") {
        Some(to) => eastern_minute(to).ok_or("to must be YYYYMMDDHHmm")?,
        None => eastern(Utc::now()),
    };
    if to < from {
        return Err("to must not be before from".to_owned());
    }
    Ok((from, to))
}

/// The `<non-contract-shipments>` list of `(self href)` for the shipments created in the
/// window.
pub(crate) fn shipments_list<'a>(
    created: impl Iterator<Item = (&'a str, DateTime<Utc>)>,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> HttpResponse {
    let links: String = created
        .filter(|(_, at)| in_window(*at, from, to))
        .map(|(href, _)| {
            format!("<link rel=\"shipment\" href=\"{href}\" media-type=\"{NC_TYPE}\"/>")
        })
        .collect();
    HttpResponse::new(
        200,
        NC_TYPE,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<non-contract-shipments xmlns=\"{NC_NAMESPACE}\">{links}</non-contract-shipments>"
        ),
    )
}

/// The parts of a non-contract shipment its answers show.
pub(crate) struct NcView<'a> {
    pub self_href: &'a str,
    pub label_href: &'a str,
    pub shipment_id: &'a str,
    pub tracking_pin: &'a str,
    pub refund_offered: bool,
}

/// `<non-contract-shipment-info>`: id, PIN, links (no status, no price: the schema has
/// neither).
pub(crate) fn shipment_info(view: &NcView) -> HttpResponse {
    let self_href = view.self_href;
    let refund = if view.refund_offered {
        format!("<link rel=\"refund\" href=\"{self_href}/refund\" media-type=\"{NC_TYPE}\"/>")
    } else {
        String::new()
    };
    HttpResponse::new(
        200,
        NC_TYPE,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<non-contract-shipment-info xmlns=\"{NC_NAMESPACE}\">\
             <shipment-id>{}</shipment-id><tracking-pin>{}</tracking-pin><links>\
             <link rel=\"self\" href=\"{self_href}\" media-type=\"{NC_TYPE}\"/>\
             <link rel=\"details\" href=\"{self_href}/details\" media-type=\"{NC_TYPE}\"/>\
             <link rel=\"receipt\" href=\"{self_href}/receipt\" media-type=\"{NC_TYPE}\"/>\
             {refund}\
             <link rel=\"label\" href=\"{}\" media-type=\"application/pdf\" index=\"0\"/>\
             </links></non-contract-shipment-info>",
            view.shipment_id, view.tracking_pin, view.label_href
        ),
    )
}

/// The request's `<delivery-spec>` element as it was sent (its text, already escaped),
/// for the details to give back; empty when the body holds none.
pub(crate) fn delivery_spec_text(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    match (text.find("<delivery-spec"), text.rfind("</delivery-spec>")) {
        (Some(start), Some(end)) if start < end => {
            text[start..end + "</delivery-spec>".len()].to_owned()
        }
        _ => String::new(),
    }
}

/// `<non-contract-shipment-details>`: the shipping point, the PIN and the delivery spec
/// as requested (service and references included), no id or links.
pub(crate) fn shipment_details(
    shipping_point: &str,
    tracking_pin: &str,
    delivery_spec: &str,
) -> HttpResponse {
    HttpResponse::new(
        200,
        NC_TYPE,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<non-contract-shipment-details xmlns=\"{NC_NAMESPACE}\">\
             <final-shipping-point>{}</final-shipping-point><tracking-pin>{tracking_pin}</tracking-pin>\
             {delivery_spec}</non-contract-shipment-details>",
            quick_xml::escape::escape(shipping_point),
        ),
    )
}

/// What the fake charges for a label of `weight` kg, for either account: a base of 12.50
/// plus 2.00 a kilogram (1 kg when the weight does not read), and 13 % HST on it, in cents.
pub(crate) fn price_cents(weight: &str) -> (i64, i64) {
    let grams: i64 = weight
        .split_once('.')
        .map_or_else(
            || weight.parse::<i64>().ok().map(|kg| kg * 1000),
            |(kg, fraction)| {
                let fraction = format!("{fraction:0<3}");
                Some(kg.parse::<i64>().ok()? * 1000 + fraction.get(..3)?.parse::<i64>().ok()?)
            },
        )
        .unwrap_or(1000);
    let base = 1250 + 2 * grams / 10;
    (base, (base * 13 + 50) / 100)
}

/// Cents as Canada Post writes them: `16.50`.
pub(crate) fn money(cents: i64) -> String {
    format!("{}.{:02}", cents / 100, cents % 100)
}

/// `<non-contract-shipment-receipt>` with the amounts of a label of `weight` kg and the
/// card's charge.
pub(crate) fn receipt(
    shipping_point: &str,
    mailed_by: &str,
    service_code: &str,
    weight: &str,
) -> HttpResponse {
    let (base, hst) = price_cents(weight);
    let now = Utc::now().format("%Y-%m-%dT%H:%M:%S");
    HttpResponse::new(
        200,
        NC_TYPE,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<non-contract-shipment-receipt xmlns=\"{NC_NAMESPACE}\">\
             <final-shipping-point>{shipping_point}</final-shipping-point><shipping-point-name>FAKE POST OFFICE</shipping-point-name>\
             <shipping-point-id>0001</shipping-point-id><mailed-by-customer>{mailed_by}</mailed-by-customer>\
             <service-code>{}</service-code><rated-weight>{weight}</rated-weight>\
             <base-amount>{}</base-amount><pre-tax-amount>{}</pre-tax-amount><gst-amount>0.00</gst-amount>\
             <pst-amount>0.00</pst-amount><hst-amount>{}</hst-amount>\
             <cc-receipt-details><merchant-name>Canada Post Corporation</merchant-name>\
             <merchant-url>www.canadapost.ca</merchant-url><name-on-card>A SELLER</name-on-card>\
             <auth-code>076838</auth-code><auth-timestamp>{now}</auth-timestamp><card-type>VIS</card-type>\
             <charge-amount>{}</charge-amount><currency>CAD</currency><transaction-type>Sale</transaction-type>\
             </cc-receipt-details><service-standard><am-delivery>false</am-delivery>\
             <guaranteed-delivery>true</guaranteed-delivery><expected-transit-time>2</expected-transit-time>\
             <expected-delivery-date>2026-01-17</expected-delivery-date></service-standard>\
             </non-contract-shipment-receipt>",
            quick_xml::escape::escape(service_code),
            money(base),
            money(base),
            money(hst),
            money(base + hst)
        ),
    )
}

/// `<non-contract-shipment-refund-request-info>`.
pub(crate) fn refund_info(ticket_id: &str, ticket_date: &str) -> HttpResponse {
    HttpResponse::new(
        200,
        NC_TYPE,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<non-contract-shipment-refund-request-info xmlns=\"{NC_NAMESPACE}\">\
             <service-ticket-date>{ticket_date}</service-ticket-date><service-ticket-id>{ticket_id}</service-ticket-id>\
             </non-contract-shipment-refund-request-info>"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_fake_reads_eastern_time_across_both_dst_changes() {
        assert_eq!(
            eastern(utc("2026-03-08T06:59:00Z")).to_string(),
            "2026-03-08 01:59:00"
        );
        assert_eq!(
            eastern(utc("2026-03-08T07:00:00Z")).to_string(),
            "2026-03-08 03:00:00"
        );
        assert_eq!(
            eastern(utc("2026-11-01T05:59:00Z")).to_string(),
            "2026-11-01 01:59:00"
        );
        assert_eq!(
            eastern(utc("2026-11-01T06:00:00Z")).to_string(),
            "2026-11-01 01:00:00"
        );
        assert_eq!(
            eastern(utc("2026-01-01T03:00:00Z")).to_string(),
            "2025-12-31 22:00:00"
        );
    }

    #[test]
    fn the_sample_request_passes_and_a_contract_request_does_not() {
        let sample = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/fixtures/canada-post/ncshipment-request.xml"),
        )
        .unwrap();
        let flat = flatten(&sample).unwrap();
        assert_eq!(check_create(&flat), Vec::<String>::new());
        let contract = std::fs::read(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/fixtures/canada-post/create-shipment-request.xml"),
        )
        .unwrap();
        assert!(!check_create(&flatten(&contract).unwrap()).is_empty());
        let with_contract = String::from_utf8(sample).unwrap().replace(
            "</references>",
            "</references><settlement-info><contract-id>1</contract-id></settlement-info>",
        );
        let problems = check_create(&flatten(with_contract.as_bytes()).unwrap());
        assert!(
            problems.iter().any(|p| p.contains("contract-id")),
            "{problems:?}"
        );
    }
}
