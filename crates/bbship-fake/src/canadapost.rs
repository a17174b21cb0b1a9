//! The fake Canada Post: Create Shipment, Get Shipments by request id, Get Shipment, Get
//! Shipment Details, the label artifact, Get Tracking Summary and Request Shipment Refund,
//! under `/rs` and `/vis` beside the fake Best Buy.
//!
//! Its answers have the shapes production sends: a create answer without
//! `customer-request-id` (production echoes none), with a `po-number`, a `price` link and,
//! when the request asks for it, `shipment-price`; details nested as
//! `shipment-details/shipment-detail/delivery-spec` with the defaults production fills in;
//! 16-digit PINs that begin with the mailed-by customer number.
//!
//! It is strict where the real service is (Basic credentials, versioned media types,
//! `transmit-shipment` xor `group-id`, field limits, decimals, postal code shapes, a
//! refund body with its namespace and one `<email>`) and answers errors the real way, as
//! `<messages>`. A refund is registered once per shipment and answered with a service
//! ticket; a second request for the same shipment is refused as Canada Post refuses it
//! ("already submitted"), and the shipment's `refund` link is gone from then on. The
//! request-id lookup answers an empty `<shipments/>` for an id it never saw, which is the
//! read-only call `bbship check` makes to prove the credentials. It also behaves like the real one at its
//! worst, on request: a label not ready for its first K downloads, every label link gone
//! (404 with Canada Post's own "The requested URL … was not found on this server."), a
//! `<shipment-status>` other than `transmitted` (or none), `004 No Pin History`
//! for the first K tracking calls of a fresh PIN, and "Rejected by SLM Monitor" above R
//! calls of one throttle group in a rolling minute. Its PINs pass the check digit, and its
//! labels are real one-page 4x6 PDFs a person can open.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use super::http_server::{HttpRequest, HttpResponse, percent_decode, query_pairs};
use super::label_pdf::{four_by_six_label_pdf, letter_page_label_pdf};
use super::ncshipment;
use super::{Endpoint, FakeOptions};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::xml::{self, Element};

const SHIPMENT_TYPE: &str = "application/vnd.cpc.shipment-v8+xml";
const TRACK_TYPE: &str = "application/vnd.cpc.track-v2+xml";
const SHIPMENT_NAMESPACE: &str = "http://www.canadapost.ca/ws/shipment-v8";

/// One shipment the fake created.
#[derive(Clone, Debug)]
pub struct FakeShipment {
    pub shipment_id: String,
    pub request_id: String,
    /// `customer-ref-1`: the Best Buy order id.
    pub order_reference: String,
    pub tracking_pin: String,
    pub service_code: String,
    pub mailed_by: String,
    pub mobo: String,
    /// `settlement-info/paid-by-customer` as sent (empty when left out).
    pub paid_by_customer: String,
    /// `settlement-info/contract-id` as sent.
    pub contract_id: String,
    pub artifact_id: String,
    /// `<shipment-status>`, or none (`FakeOptions::shipment_status`).
    pub status: Option<String>,
    /// Canada Post's purchase order number for the label.
    pub po_number: String,
    /// The request asked for `provide-pricing-info`: the answer carries `shipment-price`.
    pub priced: bool,
    /// The request's `requested-shipping-point`, where the parcel enters the mail.
    shipping_point: String,
    /// The request's `delivery-spec`, as Get Shipment Details gives it back.
    delivery_spec: Element,
    /// The day the shipment was created (`expected-mailing-date` when none was sent).
    mailing_date: String,
    /// What the label shows.
    destination_lines: Vec<String>,
    label_downloads: usize,
    tracking_calls: usize,
    /// A refund request was registered: the `refund` link is no longer offered.
    refund_requested: bool,
    /// Made by Create Non-Contract Shipment (paid by card; served under `ncshipment`).
    pub non_contract: bool,
    /// When the fake created it (the non-contract search's window is over this).
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// `parcel-characteristics/weight` as sent (the non-contract receipt's price).
    weight: String,
    /// A non-contract request's `<delivery-spec>` as sent, which its details give back.
    nc_delivery_spec: String,
}

impl FakeShipment {
    /// What the fake charges for this label (the due amount, or the card's charge of a
    /// non-contract one), as Canada Post writes it.
    pub fn due(&self) -> String {
        let (base, hst) = ncshipment::price_cents(&self.weight);
        ncshipment::money(base + hst)
    }
}

/// One refund request the fake registered.
#[derive(Clone, Debug)]
pub struct FakeRefund {
    pub shipment_id: String,
    pub email: String,
    pub service_ticket_id: String,
    pub service_ticket_date: String,
    /// The request body as sent.
    pub body: Vec<u8>,
}

#[derive(Default)]
pub(crate) struct CanadaPostState {
    pub(crate) shipments: Vec<FakeShipment>,
    pub(crate) refunds: Vec<FakeRefund>,
    /// When each accepted call arrived, per throttle group, for the rolling-minute
    /// throttle.
    recent_calls: BTreeMap<ThrottleGroup, VecDeque<Instant>>,
    /// How many calls the throttle rejected.
    pub(crate) throttled: usize,
}

/// Canada Post's throttle groups (reference §11): each counts its own rolling minute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum ThrottleGroup {
    /// Create Shipment, Get Shipment, Get Artifact.
    A,
    /// Void, Refund.
    B,
    /// Get Shipments (`?requestId=`).
    C,
    /// Tracking.
    E,
}

impl ThrottleGroup {
    fn of(endpoint: Endpoint) -> ThrottleGroup {
        match endpoint {
            Endpoint::FindShipment => ThrottleGroup::C,
            Endpoint::TrackingSummary => ThrottleGroup::E,
            Endpoint::Refund => ThrottleGroup::B,
            _ => ThrottleGroup::A,
        }
    }
}

/// The endpoint of a request under `/rs` or `/vis`, and the order it concerns when that
/// can be told (from the body for a create, from the shipment otherwise).
pub(crate) fn classify(
    request: &HttpRequest,
    state: &CanadaPostState,
) -> (Endpoint, Option<String>) {
    let segments: Vec<&str> = request.path.trim_end_matches('/').split('/').collect();
    let by_shipment = |id: &str| {
        state
            .shipments
            .iter()
            .find(|shipment| shipment.shipment_id == id || shipment.artifact_id == id)
            .map(|shipment| shipment.order_reference.clone())
    };
    match (request.method.as_str(), segments.as_slice()) {
        ("POST", ["", "rs", _, _, "shipment"]) => {
            let order = xml::parse(&request.body).ok().and_then(|root| {
                find(&root, &["delivery-spec", "references", "customer-ref-1"]).map(str::to_owned)
            });
            (Endpoint::CreateShipment, order)
        }
        ("GET", ["", "rs", _, _, "shipment"]) => {
            let request_id = query_pairs(&request.query)
                .into_iter()
                .find(|(key, _)| key == "requestId")
                .map(|(_, value)| value);
            let order = request_id.and_then(|wanted| {
                state
                    .shipments
                    .iter()
                    .find(|shipment| shipment.request_id == wanted)
                    .map(|shipment| shipment.order_reference.clone())
            });
            (Endpoint::FindShipment, order)
        }
        ("GET", ["", "rs", _, _, "shipment", id]) => (Endpoint::GetShipment, by_shipment(id)),
        ("GET", ["", "rs", _, _, "shipment", id, "details"]) => {
            (Endpoint::ShipmentDetails, by_shipment(id))
        }
        ("GET", ["", "rs", _, _, "shipment", id, "price"]) => (Endpoint::Price, by_shipment(id)),
        ("POST", ["", "rs", _, _, "shipment", id, "refund"]) => (Endpoint::Refund, by_shipment(id)),
        ("GET", ["", "rs", "artifact", _, artifact, _]) => (Endpoint::Label, by_shipment(artifact)),
        ("POST", ["", "rs", _, "ncshipment"]) => {
            let order = ncshipment::flatten(&request.body).ok().and_then(|flat| {
                flat.get("delivery-spec/references/customer-ref-1")
                    .map(str::to_owned)
            });
            (Endpoint::CreateShipment, order)
        }
        ("GET", ["", "rs", _, "ncshipment"]) => (Endpoint::FindShipment, None),
        ("GET", ["", "rs", _, "ncshipment", id]) => (Endpoint::GetShipment, by_shipment(id)),
        ("GET", ["", "rs", _, "ncshipment", id, "details"]) => {
            (Endpoint::ShipmentDetails, by_shipment(id))
        }
        ("GET", ["", "rs", _, "ncshipment", id, "receipt"]) => (Endpoint::Price, by_shipment(id)),
        ("POST", ["", "rs", _, "ncshipment", id, "refund"]) => (Endpoint::Refund, by_shipment(id)),
        ("GET", ["", "vis", "track", "pin", pin, "summary"]) => {
            let pin = percent_decode(pin);
            let order = state
                .shipments
                .iter()
                .find(|shipment| shipment.tracking_pin == pin)
                .map(|shipment| shipment.order_reference.clone());
            (Endpoint::TrackingSummary, order)
        }
        _ => (Endpoint::Other, None),
    }
}

/// Answers one Canada Post request, acting on `state`.
pub(crate) fn handle(
    options: &FakeOptions,
    base_url: &str,
    state: &mut CanadaPostState,
    request: &HttpRequest,
    endpoint: Endpoint,
) -> HttpResponse {
    let expected = format!(
        "Basic {}",
        BASE64.encode(format!(
            "{}:{}",
            options.canada_post_username, options.canada_post_password
        ))
    );
    if request.header("authorization") != Some(expected.as_str()) {
        return messages(401, &[("E002", "AAA Authentication Failure")]);
    }
    let group = ThrottleGroup::of(endpoint);
    let limit = match group {
        ThrottleGroup::E => options.canada_post_tracking_calls_per_minute,
        ThrottleGroup::A | ThrottleGroup::B | ThrottleGroup::C => {
            options.canada_post_calls_per_minute
        }
    };
    if let Some(limit) = limit {
        let now = Instant::now();
        let recent = state.recent_calls.entry(group).or_default();
        while recent
            .front()
            .is_some_and(|&at| now.duration_since(at) >= Duration::from_secs(60))
        {
            recent.pop_front();
        }
        if recent.len() >= limit as usize {
            state.throttled += 1;
            return slm_rejection();
        }
        recent.push_back(now);
    }
    if !matches!(request.header("accept-language"), Some("en-CA" | "fr-CA")) {
        return messages(400, &[("9000", "Accept-language must be en-CA or fr-CA")]);
    }
    let accept = request.header("accept").unwrap_or_default();
    let non_contract = request.path.split('/').nth(3) == Some("ncshipment");
    let wanted_accept = match endpoint {
        Endpoint::Label => "application/pdf",
        Endpoint::TrackingSummary => TRACK_TYPE,
        _ if non_contract => ncshipment::NC_TYPE,
        _ => SHIPMENT_TYPE,
    };
    if accept != wanted_accept {
        return messages(
            406,
            &[(
                "9001",
                &format!("Accept must be {wanted_accept}, not {accept:?}"),
            )],
        );
    }
    if non_contract {
        return non_contract_call(options, base_url, state, request, endpoint);
    }
    match endpoint {
        Endpoint::CreateShipment => create(options, base_url, state, request),
        Endpoint::FindShipment => find_by_request_id(base_url, state, request),
        // Get Shipment carries no `shipment-price`: the price of a shipment read back is
        // its `price` link's (Get Shipment Price).
        Endpoint::GetShipment => match addressed(state, request, 0) {
            Some(shipment) => shipment_info(base_url, shipment, false),
            None => messages(404, &[("9002", "Shipment not found")]),
        },
        Endpoint::ShipmentDetails => match addressed(state, request, 1) {
            Some(shipment) => shipment_details(shipment),
            None => messages(404, &[("9002", "Shipment not found")]),
        },
        // The `shipment-price` a create answer carries when asked, as its own document.
        Endpoint::Price => match addressed(state, request, 1) {
            Some(shipment) => HttpResponse::new(
                200,
                SHIPMENT_TYPE,
                shipment_price(shipment).replacen(
                    "<shipment-price>",
                    &format!(
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<shipment-price \
                         xmlns=\"{SHIPMENT_NAMESPACE}\">"
                    ),
                    1,
                ),
            ),
            None => messages(404, &[("9002", "Shipment not found")]),
        },
        Endpoint::Label => label(options, state, request),
        Endpoint::TrackingSummary => tracking(options, state, request),
        Endpoint::Refund => refund(state, request),
        _ => messages(404, &[("9003", "No such resource")]),
    }
}

/// The shipment whose id is the path's segment `from_end` places before its last
/// (`…/shipment/{id}` is 0, `…/shipment/{id}/details` 1).
fn addressed<'a>(
    state: &'a CanadaPostState,
    request: &HttpRequest,
    from_end: usize,
) -> Option<&'a FakeShipment> {
    let id = request.path.rsplit('/').nth(from_end)?;
    state
        .shipments
        .iter()
        .find(|shipment| shipment.shipment_id == id)
}

/// Canada Post's 415 for a body sent as anything but `media_type`, exactly.
fn refuse_content_type(request: &HttpRequest, media_type: &str) -> Option<HttpResponse> {
    (request.header("content-type") != Some(media_type)).then(|| {
        messages(
            415,
            &[("9004", &format!("Content-Type must be {media_type}"))],
        )
    })
}

fn create(
    options: &FakeOptions,
    base_url: &str,
    state: &mut CanadaPostState,
    request: &HttpRequest,
) -> HttpResponse {
    if let Some(refusal) = refuse_content_type(request, SHIPMENT_TYPE) {
        return refusal;
    }
    let segments: Vec<&str> = request.path.split('/').collect();
    let (Some(mailed_by), Some(mobo)) = (segments.get(2), segments.get(3)) else {
        return messages(404, &[("9003", "No such resource")]);
    };
    if !is_customer_number(mailed_by) || !is_customer_number(mobo) {
        return messages(
            403,
            &[(
                "AA003",
                "The API key is not allowed for this mailed-by customer",
            )],
        );
    }
    let root = match checked_body(request, check_shipment) {
        Ok(root) => root,
        Err(refusal) => return refusal,
    };
    let text = |path: &[&str]| find(&root, path).unwrap_or_default().to_owned();
    let serial = state.shipments.len() as u64 + 1;
    let destination = |name: &str| text(&["delivery-spec", "destination", "address-details", name]);
    let mailing_date = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let shipment = FakeShipment {
        shipment_id: format!("3478813154{serial:08}"),
        request_id: text(&["customer-request-id"]),
        order_reference: text(&["delivery-spec", "references", "customer-ref-1"]),
        tracking_pin: pin_for(mailed_by, serial),
        service_code: text(&["delivery-spec", "service-code"]),
        mailed_by: (*mailed_by).to_owned(),
        mobo: (*mobo).to_owned(),
        paid_by_customer: text(&["delivery-spec", "settlement-info", "paid-by-customer"]),
        contract_id: text(&["delivery-spec", "settlement-info", "contract-id"]),
        artifact_id: format!("1000{serial:07}"),
        status: options.shipment_status.clone(),
        po_number: format!("P{:09}", 344_000_000 + serial % 1_000_000),
        priced: find(&root, &["provide-pricing-info"]) == Some("true"),
        shipping_point: text(&["requested-shipping-point"]),
        delivery_spec: with_production_defaults(
            find_element(&root, &["delivery-spec"])
                .cloned()
                .unwrap_or_default(),
        ),
        mailing_date: find(&root, &["expected-mailing-date"]).map_or(mailing_date, str::to_owned),
        destination_lines: destination_lines(
            text(&["delivery-spec", "destination", "name"]),
            destination,
        ),
        label_downloads: 0,
        tracking_calls: 0,
        refund_requested: false,
        non_contract: false,
        created_at: chrono::Utc::now(),
        weight: text(&["delivery-spec", "parcel-characteristics", "weight"]),
        nc_delivery_spec: String::new(),
    };
    let response = shipment_info(base_url, &shipment, shipment.priced);
    state.shipments.push(shipment);
    response
}

/// Non-contract shipping, under `/rs/{mailed-by}/ncshipment`: the same shipments and
/// labels as the contract side, other envelopes (see `ncshipment`).
fn non_contract_call(
    options: &FakeOptions,
    base_url: &str,
    state: &mut CanadaPostState,
    request: &HttpRequest,
    endpoint: Endpoint,
) -> HttpResponse {
    let segments: Vec<&str> = request.path.trim_end_matches('/').split('/').collect();
    let Some(mailed_by) = segments.get(2).copied() else {
        return messages(404, &[("9003", "No such resource")]);
    };
    if !is_customer_number(mailed_by) {
        return messages(
            403,
            &[(
                "AA003",
                "The API key is not allowed for this mailed-by customer",
            )],
        );
    }
    let wants_body = matches!(endpoint, Endpoint::CreateShipment | Endpoint::Refund);
    if wants_body && let Some(refusal) = refuse_content_type(request, ncshipment::NC_TYPE) {
        return refusal;
    }
    let self_href = |shipment: &FakeShipment| {
        format!(
            "{base_url}/rs/{:0>10}/ncshipment/{}",
            shipment.mailed_by, shipment.shipment_id
        )
    };
    let label_href = |shipment: &FakeShipment| {
        format!(
            "{base_url}/rs/artifact/76108cb5192002d5/{}/0",
            shipment.artifact_id
        )
    };
    let same_number = |a: &str, b: &str| a.trim_start_matches('0') == b.trim_start_matches('0');
    let position = segments.get(4).and_then(|id| {
        state.shipments.iter().position(|shipment| {
            shipment.non_contract
                && shipment.shipment_id == *id
                && same_number(&shipment.mailed_by, mailed_by)
        })
    });
    let view = |shipment: &FakeShipment, self_href: &str, label_href: &str| -> HttpResponse {
        ncshipment::shipment_info(&ncshipment::NcView {
            self_href,
            label_href,
            shipment_id: &shipment.shipment_id,
            tracking_pin: &shipment.tracking_pin,
            refund_offered: !shipment.refund_requested,
        })
    };
    let parsed = |check: fn(&ncshipment::Flat) -> Vec<String>| {
        let flat = ncshipment::flatten(&request.body).map_err(|problem| {
            messages(
                400,
                &[("Server", &format!("cvc: the body is not XML: {problem}"))],
            )
        })?;
        let problems = check(&flat);
        if problems.is_empty() {
            Ok(flat)
        } else {
            Err(schema_refusal(&problems))
        }
    };
    match (endpoint, position) {
        (Endpoint::CreateShipment, _) => {
            let flat = match parsed(ncshipment::check_create) {
                Ok(flat) => flat,
                Err(refusal) => return refusal,
            };
            let text = |path: &str| flat.get(path).unwrap_or_default().to_owned();
            let serial = state.shipments.len() as u64 + 1;
            let destination =
                |name: &str| text(&format!("delivery-spec/destination/address-details/{name}"));
            let shipment = FakeShipment {
                shipment_id: format!("9478813154{serial:08}"),
                request_id: text("delivery-spec/references/customer-ref-2"),
                order_reference: text("delivery-spec/references/customer-ref-1"),
                tracking_pin: pin_for(mailed_by, serial),
                service_code: text("delivery-spec/service-code"),
                mailed_by: mailed_by.to_owned(),
                mobo: mailed_by.to_owned(),
                paid_by_customer: String::new(),
                contract_id: String::new(),
                artifact_id: format!("2000{serial:07}"),
                status: None,
                po_number: String::new(),
                priced: false,
                shipping_point: text("requested-shipping-point"),
                delivery_spec: Element::default(),
                mailing_date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
                destination_lines: destination_lines(
                    text("delivery-spec/destination/name"),
                    destination,
                ),
                label_downloads: 0,
                tracking_calls: 0,
                refund_requested: false,
                non_contract: true,
                created_at: options
                    .non_contract_clock_offset
                    .map_or_else(chrono::Utc::now, |offset| chrono::Utc::now() + offset),
                weight: text("delivery-spec/parcel-characteristics/weight"),
                nc_delivery_spec: ncshipment::delivery_spec_text(&request.body),
            };
            let response = view(&shipment, &self_href(&shipment), &label_href(&shipment));
            state.shipments.push(shipment);
            response
        }
        (Endpoint::FindShipment, _) => match ncshipment::window(request) {
            Ok((from, to)) => {
                let listed: Vec<(String, chrono::DateTime<chrono::Utc>)> = state
                    .shipments
                    .iter()
                    .filter(|shipment| {
                        shipment.non_contract && same_number(&shipment.mailed_by, mailed_by)
                    })
                    .map(|shipment| (self_href(shipment), shipment.created_at))
                    .collect();
                ncshipment::shipments_list(
                    listed.iter().map(|(href, at)| (href.as_str(), *at)),
                    from,
                    to,
                )
            }
            Err(problem) => messages(400, &[("9005", &problem)]),
        },
        (Endpoint::GetShipment, Some(index)) => {
            let shipment = &state.shipments[index];
            view(shipment, &self_href(shipment), &label_href(shipment))
        }
        (Endpoint::ShipmentDetails, Some(index)) => {
            let shipment = &state.shipments[index];
            ncshipment::shipment_details(
                &shipment.shipping_point,
                &shipment.tracking_pin,
                &shipment.nc_delivery_spec,
            )
        }
        (Endpoint::Price, Some(index)) => {
            let shipment = &state.shipments[index];
            ncshipment::receipt(
                &shipment.shipping_point,
                &shipment.mailed_by,
                &shipment.service_code,
                &shipment.weight,
            )
        }
        (Endpoint::Refund, Some(index)) => {
            let flat = match parsed(ncshipment::check_refund) {
                Ok(flat) => flat,
                Err(refusal) => return refusal,
            };
            let email = flat.get("email").unwrap_or_default();
            match register_refund(state, index, email, request) {
                Ok((ticket_id, ticket_date)) => ncshipment::refund_info(&ticket_id, &ticket_date),
                Err(refusal) => refusal,
            }
        }
        _ => messages(404, &[("9002", "Shipment not found")]),
    }
}

/// What a label shows of where it goes: the name, the address lines, the city line.
fn destination_lines(name: String, address: impl Fn(&str) -> String) -> Vec<String> {
    vec![
        name,
        address("address-line-1"),
        address("address-line-2"),
        format!(
            "{} {} {}",
            address("city"),
            address("prov-state"),
            address("postal-zip-code")
        ),
    ]
}

/// A body's root must be `<{expected}>` in the shipment namespace, declared on the root
/// itself as Canada Post's schema validator expects.
fn root_problems(root: &Element, body: &[u8], expected: &str) -> Vec<String> {
    if root.name != expected {
        return vec![format!(
            "cvc-elt.1: the root must be <{expected}>, not <{}>",
            root.name
        )];
    }
    let text = String::from_utf8_lossy(body);
    let declares_namespace = text
        .find(&format!("<{expected}"))
        .and_then(|start| text[start..].find('>').map(|end| &text[start..start + end]))
        .is_some_and(|tag| tag.contains(&format!("xmlns=\"{SHIPMENT_NAMESPACE}\"")));
    if declares_namespace {
        Vec::new()
    } else {
        vec![format!(
            "cvc-elt.1: <{expected}> must be in {SHIPMENT_NAMESPACE}"
        )]
    }
}

/// The structural checks of shipment.xsd that matter, as Canada Post's validator words
/// them loosely: every problem is listed, as the real service lists several messages.
fn check_shipment(root: &Element, body: &[u8]) -> Vec<String> {
    let mut problems = root_problems(root, body, "shipment");
    if root.name != "shipment" {
        return problems;
    }
    let mut bounded =
        |path: &[&str], min: usize, max: usize, required: bool| match find_element(root, path) {
            None if required => problems.push(format!(
                "cvc-complex-type.2.4: {} is required",
                path.join("/")
            )),
            None => {}
            Some(element) => {
                let value = element.text.as_str();
                let length = value.chars().count();
                if length < min || length > max {
                    problems.push(format!(
                        "cvc-length: {} must be {min} to {max} characters, got {length}",
                        path.join("/")
                    ));
                }
                if value.contains(['\t', '\r', '\n']) {
                    problems.push(format!(
                        "cvc-pattern: {} must not hold a tab or line break",
                        path.join("/")
                    ));
                }
            }
        };
    bounded(&["customer-request-id"], 1, 35, false);
    bounded(&["delivery-spec", "service-code"], 1, 32, true);
    for party in ["sender", "destination"] {
        let is_sender = party == "sender";
        bounded(&["delivery-spec", party, "name"], 0, 44, false);
        bounded(&["delivery-spec", party, "company"], 1, 44, is_sender);
        let phone = if is_sender {
            "contact-phone"
        } else {
            "client-voice-number"
        };
        bounded(&["delivery-spec", party, phone], 1, 25, is_sender);
        // (element, shortest, longest, required for this party)
        for (element, min, max, required) in [
            ("address-line-1", 1, 44, is_sender),
            ("address-line-2", 0, 44, false),
            ("city", 1, 40, is_sender),
            ("prov-state", 1, 20, is_sender),
            ("country-code", 2, 2, true),
            ("postal-zip-code", 1, 14, false),
        ] {
            bounded(
                &["delivery-spec", party, "address-details", element],
                min,
                max,
                required,
            );
        }
    }
    bounded(
        &["delivery-spec", "references", "customer-ref-1"],
        0,
        35,
        false,
    );
    bounded(
        &["delivery-spec", "references", "customer-ref-2"],
        0,
        35,
        false,
    );
    bounded(
        &[
            "delivery-spec",
            "settlement-info",
            "intended-method-of-payment",
        ],
        1,
        15,
        true,
    );

    let transmit = find(root, &["transmit-shipment"]);
    let group = find(root, &["group-id"]);
    match (transmit, group) {
        (Some("true"), None) => {}
        (None, Some(_)) => problems.push("the fake supports transmit-shipment only".to_owned()),
        _ => problems.push(
            "cvc-complex-type: exactly one of transmit-shipment (true) and group-id".to_owned(),
        ),
    }
    match find(root, &["requested-shipping-point"]) {
        Some(point) if is_postal_code(point) => {}
        other => problems.push(format!(
            "requested-shipping-point {other:?} must match [A-Z]\\d[A-Z]\\d[A-Z]\\d"
        )),
    }
    for party in ["sender", "destination"] {
        let path = ["delivery-spec", party, "address-details", "postal-zip-code"];
        if let Some(code) = find(root, &path)
            && !is_postal_code(code)
        {
            problems.push(format!(
                "{}: {code:?} is not a postal code in the form A1A1A1",
                path.join("/")
            ));
        }
    }
    match find(root, &["delivery-spec", "parcel-characteristics", "weight"]) {
        Some(weight) if decimal_within(weight, 3, 0.0, 30.0) => {}
        other => problems.push(format!(
            "weight {other:?} must be above 0 and at most 30 kg, with at most 3 decimals"
        )),
    }
    for side in ["length", "width", "height"] {
        let path = [
            "delivery-spec",
            "parcel-characteristics",
            "dimensions",
            side,
        ];
        match find(root, &path) {
            Some(value) if decimal_within(value, 1, 0.0, 999.9) => {}
            other => problems.push(format!(
                "{side} {other:?} must be above 0 and at most 999.9 cm, with 1 decimal"
            )),
        }
    }
    let format = find(
        root,
        &["delivery-spec", "print-preferences", "output-format"],
    );
    let encoding = find(root, &["delivery-spec", "print-preferences", "encoding"]);
    if format != Some("4x6") || encoding != Some("PDF") {
        problems.push("the fake prints only 4x6 PDF labels: send print-preferences".to_owned());
    }
    if find(root, &["delivery-spec", "settlement-info", "contract-id"]).is_none() {
        problems.push("Contract Number is a required field".to_owned());
    }
    if let Some(payer) = find(
        root,
        &["delivery-spec", "settlement-info", "paid-by-customer"],
    ) && !is_customer_number(payer)
    {
        problems.push(format!(
            "cvc-pattern: settlement-info/paid-by-customer {payer:?} must be 1 to 10 digits"
        ));
    }
    problems
}

fn find_by_request_id(
    base_url: &str,
    state: &CanadaPostState,
    request: &HttpRequest,
) -> HttpResponse {
    let Some(wanted) = query_pairs(&request.query)
        .into_iter()
        .find(|(key, _)| key == "requestId")
        .map(|(_, value)| value)
    else {
        return messages(400, &[("9005", "a search parameter is required")]);
    };
    let links: String = state
        .shipments
        .iter()
        .filter(|shipment| shipment.request_id == wanted)
        .map(|shipment| {
            format!(
                "<link rel=\"shipment\" href=\"{}\" media-type=\"{SHIPMENT_TYPE}\"/>",
                self_link(base_url, shipment)
            )
        })
        .collect();
    HttpResponse::new(
        200,
        SHIPMENT_TYPE,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<shipments xmlns=\"{SHIPMENT_NAMESPACE}\">{links}</shipments>"
        ),
    )
}

/// Request Shipment Refund: the `refund` link of a shipment of this mailed-by/mobo, a
/// `<shipment-refund-request>` in shipment-v8 with one `<email>`, once per shipment.
fn refund(state: &mut CanadaPostState, request: &HttpRequest) -> HttpResponse {
    if let Some(refusal) = refuse_content_type(request, SHIPMENT_TYPE) {
        return refusal;
    }
    let segments: Vec<&str> = request.path.split('/').collect();
    let (Some(mailed_by), Some(mobo), Some(id)) =
        (segments.get(2), segments.get(3), segments.get(5))
    else {
        return messages(404, &[("9003", "No such resource")]);
    };
    let same_number = |a: &str, b: &str| a.trim_start_matches('0') == b.trim_start_matches('0');
    let Some(position) = state.shipments.iter().position(|shipment| {
        shipment.shipment_id == *id
            && same_number(&shipment.mailed_by, mailed_by)
            && same_number(&shipment.mobo, mobo)
    }) else {
        return messages(404, &[("9002", "Shipment not found")]);
    };
    let root = match checked_body(request, check_refund_request) {
        Ok(root) => root,
        Err(refusal) => return refusal,
    };
    let email = find(&root, &["email"]).unwrap_or_default();
    let (ticket_id, ticket_date) = match register_refund(state, position, email, request) {
        Ok(ticket) => ticket,
        Err(refusal) => return refusal,
    };
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<shipment-refund-request-info xmlns=\"{SHIPMENT_NAMESPACE}\">\
         <service-ticket-date>{ticket_date}</service-ticket-date><service-ticket-id>{ticket_id}</service-ticket-id>\
         </shipment-refund-request-info>"
    );
    HttpResponse::new(200, SHIPMENT_TYPE, body)
}

/// Registers the one refund a shipment may have: its service ticket id and date, or
/// Canada Post's refusal of a second request.
fn register_refund(
    state: &mut CanadaPostState,
    position: usize,
    email: &str,
    request: &HttpRequest,
) -> Result<(String, String), HttpResponse> {
    let shipment = &mut state.shipments[position];
    if shipment.refund_requested {
        return Err(messages(
            400,
            &[(
                "9010",
                "A refund request has already been submitted for this shipment.",
            )],
        ));
    }
    shipment.refund_requested = true;
    let refund = FakeRefund {
        shipment_id: shipment.shipment_id.clone(),
        email: email.to_owned(),
        service_ticket_id: format!("GT{:08}RT", state.refunds.len() + 1),
        service_ticket_date: chrono::Utc::now().format("%Y-%m-%d").to_string(),
        body: request.body.clone(),
    };
    let ticket = (
        refund.service_ticket_id.clone(),
        refund.service_ticket_date.clone(),
    );
    state.refunds.push(refund);
    Ok(ticket)
}

/// The refund request's schema, as the fake checks it: the root and its namespace, and
/// exactly one `<email>` of at most 60 characters that looks like an address. Its own
/// rules, not the client's `Email` type, so a client bug shows here.
fn check_refund_request(root: &Element, body: &[u8]) -> Vec<String> {
    let mut problems = root_problems(root, body, "shipment-refund-request");
    if root.name != "shipment-refund-request" {
        return problems;
    }
    let emails: Vec<&Element> = root.children_named("email").collect();
    match emails.as_slice() {
        [email] => {
            let value = email.text.as_str();
            let looks_like_address = value.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && domain.contains('.') && !domain.contains('@')
            }) && !value.contains(char::is_whitespace);
            if value.chars().count() > 60 || !looks_like_address {
                problems.push(format!(
                    "cvc-pattern-valid: {value:?} is not a valid value for EmailType"
                ));
            }
        }
        [] => problems.push("cvc-complex-type.2.4.b: email is required".to_owned()),
        _ => problems.push("cvc-complex-type.2.4.a: email may appear once".to_owned()),
    }
    if let Some(other) = root.children.iter().find(|child| child.name != "email") {
        problems.push(format!(
            "cvc-complex-type.2.4.a: <{}> is not allowed here",
            other.name
        ));
    }
    problems
}

fn label(
    options: &FakeOptions,
    state: &mut CanadaPostState,
    request: &HttpRequest,
) -> HttpResponse {
    let artifact = request.path.split('/').nth(4).unwrap_or_default();
    let Some(shipment) = state
        .shipments
        .iter_mut()
        .find(|shipment| shipment.artifact_id == artifact)
        .filter(|_| !options.labels_gone)
    else {
        // Canada Post's own answer for an artifact URL it does not know (captured from
        // production): a 404 whose one message repeats the path.
        return messages(
            404,
            &[(
                "404",
                &format!(
                    "The requested URL {} was not found on this server.",
                    request.path
                ),
            )],
        );
    };
    shipment.label_downloads += 1;
    if shipment.label_downloads <= options.label_not_ready_downloads {
        return HttpResponse {
            status: 202,
            headers: Vec::new(),
            body: Vec::new(),
        };
    }
    let mut lines = vec![
        "FROM bbship fake Canada Post".to_owned(),
        format!("SERVICE {}", shipment.service_code),
        String::new(),
        "SHIP TO".to_owned(),
    ];
    lines.extend(
        shipment
            .destination_lines
            .iter()
            .filter(|line| !line.trim().is_empty())
            .cloned(),
    );
    lines.push(String::new());
    lines.push(format!("REF {}", shipment.order_reference));
    lines.push(format!("SHIPMENT {}", shipment.shipment_id));
    lines.push(format!("PIN {}", shipment.tracking_pin));
    lines.push("NOT POSTAGE - TEST LABEL".to_owned());
    // A non-contract request has no print preferences: its label comes on a letter page.
    let pdf = if shipment.non_contract {
        letter_page_label_pdf(&lines, &shipment.tracking_pin)
    } else {
        four_by_six_label_pdf(&lines, &shipment.tracking_pin)
    };
    HttpResponse::new(200, "application/pdf", pdf)
}

fn tracking(
    options: &FakeOptions,
    state: &mut CanadaPostState,
    request: &HttpRequest,
) -> HttpResponse {
    let pin = percent_decode(request.path.split('/').nth(4).unwrap_or_default());
    let Some(shipment) = state
        .shipments
        .iter_mut()
        .find(|shipment| shipment.tracking_pin == pin)
    else {
        return messages(404, &[("002", "No Pin Found")]);
    };
    shipment.tracking_calls += 1;
    if shipment.tracking_calls <= options.no_pin_history_calls {
        // The real status of a 004 is unconfirmed; 404 makes the client read the body.
        return messages(404, &[("004", "No Pin History")]);
    }
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<tracking-summary xmlns=\"http://www.canadapost.ca/ws/track\"><pin-summary>\
         <pin>{pin}</pin><origin-postal-id>M1M</origin-postal-id><destination-postal-id>K1A</destination-postal-id>\
         <destination-province>ON</destination-province><service-name>Expedited Parcels</service-name>\
         <mailed-on-date></mailed-on-date><expected-delivery-date></expected-delivery-date><actual-delivery-date></actual-delivery-date>\
         <delivery-option-completed-ind></delivery-option-completed-ind><event-date-time>20260115:104233</event-date-time>\
         <event-description>Electronic information submitted by shipper</event-description><attempted-date></attempted-date>\
         <customer-ref-1>{}</customer-ref-1><customer-ref-2></customer-ref-2><return-pin></return-pin>\
         <event-type>INFO</event-type><event-location></event-location><signatory-name></signatory-name></pin-summary></tracking-summary>",
        quick_xml::escape::escape(shipment.order_reference.as_str())
    );
    HttpResponse::new(200, TRACK_TYPE, body)
}

fn self_link(base_url: &str, shipment: &FakeShipment) -> String {
    format!(
        "{base_url}/rs/{:0>10}/{:0>10}/shipment/{}",
        shipment.mailed_by, shipment.mobo, shipment.shipment_id
    )
}

/// `shipment-info`, with `shipment-price` when `priced` (a create answer that asked for it).
fn shipment_info(base_url: &str, shipment: &FakeShipment, priced: bool) -> HttpResponse {
    let self_href = self_link(base_url, shipment);
    // Canada Post offers the refund link only until a refund is requested.
    let refund_link = if shipment.refund_requested {
        String::new()
    } else {
        format!("<link rel=\"refund\" href=\"{self_href}/refund\" media-type=\"{SHIPMENT_TYPE}\"/>")
    };
    let price = if priced {
        shipment_price(shipment)
    } else {
        String::new()
    };
    // No customer-request-id: production's create answers carry none.
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<shipment-info xmlns=\"{SHIPMENT_NAMESPACE}\">\
         <shipment-id>{}</shipment-id>{}\
         <tracking-pin>{}</tracking-pin><po-number>{}</po-number>{price}<links>\
         <link rel=\"self\" href=\"{self_href}\" media-type=\"{SHIPMENT_TYPE}\"/>\
         <link rel=\"details\" href=\"{self_href}/details\" media-type=\"{SHIPMENT_TYPE}\"/>\
         <link rel=\"price\" href=\"{self_href}/price\" media-type=\"{SHIPMENT_TYPE}\"/>\
         {refund_link}\
         <link rel=\"label\" href=\"{base_url}/rs/artifact/76108cb5192002d5/{}/0\" media-type=\"application/pdf\" index=\"0\"/>\
         </links></shipment-info>",
        shipment.shipment_id,
        status_element(shipment),
        shipment.tracking_pin,
        shipment.po_number,
        shipment.artifact_id
    );
    HttpResponse::new(200, SHIPMENT_TYPE, body)
}

/// `<shipment-status>` as the shipment has it (`FakeOptions::shipment_status`), or none.
fn status_element(shipment: &FakeShipment) -> String {
    shipment
        .status
        .as_deref()
        .map_or_else(String::new, |status| {
            format!(
                "<shipment-status>{}</shipment-status>",
                quick_xml::escape::escape(status)
            )
        })
}

/// `shipment-price` as shipment.xsd orders it, priced from the parcel's weight as the
/// non-contract receipt is.
fn shipment_price(shipment: &FakeShipment) -> String {
    let (base, hst) = ncshipment::price_cents(&shipment.weight);
    let money = ncshipment::money;
    let weight: f64 = shipment.weight.parse().unwrap_or(1.0);
    format!(
        "<shipment-price><service-code>{}</service-code><base-amount>{}</base-amount>\
         <priced-options/><adjustments/><pre-tax-amount>{}</pre-tax-amount>\
         <gst-amount>0.00</gst-amount><pst-amount>0.00</pst-amount><hst-amount>{}</hst-amount>\
         <due-amount>{}</due-amount><service-standard><am-delivery>false</am-delivery>\
         <guaranteed-delivery>true</guaranteed-delivery><expected-transmit-time>1</expected-transmit-time>\
         </service-standard><rated-weight>{weight:.3}</rated-weight></shipment-price>",
        quick_xml::escape::escape(shipment.service_code.as_str()),
        money(base),
        money(base),
        money(hst),
        money(base + hst),
    )
}

/// Get Shipment Details as production answers it: status, shipping point, PIN and
/// `po-number` beside a `shipment-detail` that holds the request's `delivery-spec` (with
/// the defaults filled in), and no shipment id or links.
fn shipment_details(shipment: &FakeShipment) -> HttpResponse {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<shipment-details xmlns=\"{SHIPMENT_NAMESPACE}\">\
         {}<final-shipping-point>{}</final-shipping-point>\
         <shipping-point-id>0001</shipping-point-id><tracking-pin>{}</tracking-pin><po-number>{}</po-number>\
         <shipment-detail><transmit-shipment>true</transmit-shipment>\
         <expected-mailing-date>{}</expected-mailing-date>{}</shipment-detail></shipment-details>",
        status_element(shipment),
        quick_xml::escape::escape(shipment.shipping_point.as_str()),
        shipment.tracking_pin,
        shipment.po_number,
        quick_xml::escape::escape(shipment.mailing_date.as_str()),
        render(&shipment.delivery_spec)
    );
    HttpResponse::new(200, SHIPMENT_TYPE, body)
}

/// What production writes into a stored delivery spec that the request left out: weight
/// with three decimals, `unpackaged`, `mailing-tube` and `oversized` false, `PDF`.
fn with_production_defaults(mut spec: Element) -> Element {
    let leaf = |name: &str, text: &str| Element {
        name: name.to_owned(),
        text: text.to_owned(),
        ..Element::default()
    };
    if let Some(parcel) = spec
        .children
        .iter_mut()
        .find(|child| child.name == "parcel-characteristics")
    {
        for child in &mut parcel.children {
            if child.name == "weight"
                && let Ok(weight) = child.text.trim().parse::<f64>()
            {
                child.text = format!("{weight:.3}");
            }
        }
        for flag in ["unpackaged", "mailing-tube", "oversized"] {
            if parcel.child(flag).is_none() {
                parcel.children.push(leaf(flag, "false"));
            }
        }
    }
    if let Some(print) = spec
        .children
        .iter_mut()
        .find(|child| child.name == "print-preferences")
        && print.child("encoding").is_none()
    {
        print.children.push(leaf("encoding", "PDF"));
    }
    spec
}

/// An element tree as XML, text and attributes escaped (the fake's answers only; no mixed
/// content).
fn render(element: &Element) -> String {
    let attributes: String = element
        .attributes
        .iter()
        .map(|(key, value)| format!(" {key}=\"{}\"", quick_xml::escape::escape(value.as_str())))
        .collect();
    let inner: String = if element.children.is_empty() {
        quick_xml::escape::escape(element.text.as_str()).into_owned()
    } else {
        element.children.iter().map(render).collect()
    };
    format!("<{0}{attributes}>{inner}</{0}>", element.name)
}

/// Parses a request body and runs `check` over it: the element tree, or the 400
/// `<messages>` Canada Post answers, one message per problem.
fn checked_body(
    request: &HttpRequest,
    check: fn(&Element, &[u8]) -> Vec<String>,
) -> Result<Element, HttpResponse> {
    let root = xml::parse(&request.body).map_err(|problem| {
        messages(
            400,
            &[("Server", &format!("cvc: the body is not XML: {problem}"))],
        )
    })?;
    let problems = check(&root, &request.body);
    if problems.is_empty() {
        Ok(root)
    } else {
        Err(schema_refusal(&problems))
    }
}

/// Canada Post's 400 for a body its schema validator refuses: one message per problem.
fn schema_refusal(problems: &[String]) -> HttpResponse {
    let list: Vec<(&str, &str)> = problems
        .iter()
        .map(|problem| ("Server", problem.as_str()))
        .collect();
    messages(400, &list)
}

/// Canada Post's throttle answer.
pub(crate) fn slm_rejection() -> HttpResponse {
    messages(503, &[("Server", "Rejected by SLM Monitor")])
}

fn messages(status: u16, list: &[(&str, &str)]) -> HttpResponse {
    let items: String = list
        .iter()
        .map(|(code, description)| {
            format!(
                "<message><code>{}</code><description>{}</description></message>",
                quick_xml::escape::escape(*code),
                quick_xml::escape::escape(*description)
            )
        })
        .collect();
    HttpResponse::new(
        status,
        "application/vnd.cpc.messages+xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<messages xmlns=\"http://www.canadapost.ca/ws/messages\">{items}</messages>"
        ),
    )
}

/// The text of the element at `path` below `root`.
fn find<'a>(root: &'a Element, path: &[&str]) -> Option<&'a str> {
    find_element(root, path).map(|element| element.text.as_str())
}

fn find_element<'a>(root: &'a Element, path: &[&str]) -> Option<&'a Element> {
    path.iter()
        .try_fold(root, |element, name| element.child(name))
}

fn is_customer_number(value: &str) -> bool {
    (1..=10).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn is_postal_code(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 6
        && bytes.iter().enumerate().all(|(index, byte)| {
            if index % 2 == 0 {
                byte.is_ascii_uppercase()
            } else {
                byte.is_ascii_digit()
            }
        })
}

/// A plain decimal (no sign, no exponent) above `min` and at most `max`, with at most
/// `decimals` digits after the point.
fn decimal_within(value: &str, decimals: usize, min: f64, max: f64) -> bool {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let digits_only = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
    !whole.is_empty()
        && digits_only(whole)
        && digits_only(fraction)
        && fraction.len() <= decimals
        && value
            .parse::<f64>()
            .is_ok_and(|number| number > min && number <= max)
}

/// A 16-digit domestic PIN as production makes them: the mailed-by customer number
/// (without the padding zeros of its links) first, then a serial, then the check digit of
/// Canada Post's rule (reference §8). Production's numbers have 7 digits; a shorter one is
/// padded with zeros to 7, and a longer one (up to 10) leaves fewer digits for the serial,
/// so the PIN always has 16 digits and always starts with the number. Anything but digits
/// in `mailed_by` is left out.
pub fn pin_for(mailed_by: &str, serial: u64) -> String {
    let digits: String = mailed_by.chars().filter(char::is_ascii_digit).collect();
    let number = digits.trim_start_matches('0');
    let origin = format!("{number:0>7}");
    let origin = &origin[..origin.len().min(10)];
    let serial_digits = 15 - origin.len();
    let modulus = 10u64.pow(serial_digits as u32);
    let body = format!(
        "{origin}{:0width$}",
        serial % modulus,
        width = serial_digits
    );
    let sum: u32 = body
        .bytes()
        .enumerate()
        .map(|(index, byte)| {
            let digit = u32::from(byte - b'0');
            if index % 2 == 0 { 3 * digit } else { digit }
        })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of the repository's Canada Post fixtures.
    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/canada-post")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    }

    #[test]
    fn decimals_are_checked_like_the_schema() {
        assert!(decimal_within("2.000", 3, 0.0, 30.0));
        assert!(!decimal_within("2.0001", 3, 0.0, 30.0));
        assert!(!decimal_within("1e3", 1, 0.0, 999.9));
        assert!(!decimal_within("0", 3, 0.0, 30.0));
        assert!(!decimal_within("-1", 3, 0.0, 30.0));
    }

    #[test]
    fn the_sample_request_passes_the_checks() {
        let body = fixture("create-shipment-request.xml");
        let root = xml::parse(&body).unwrap();
        assert_eq!(check_shipment(&root, &body), Vec::<String>::new());
    }

    #[test]
    fn the_sample_refund_request_passes_and_broken_ones_do_not() {
        let body = fixture("shipment-refund-request.xml");
        let root = xml::parse(&body).unwrap();
        assert_eq!(check_refund_request(&root, &body), Vec::<String>::new());
        for broken in [
            "<shipment-refund-request><email>a@b.ca</email></shipment-refund-request>",
            "<shipment-refund-request xmlns=\"http://www.canadapost.ca/ws/shipment-v8\"/>",
            "<shipment-refund-request xmlns=\"http://www.canadapost.ca/ws/shipment-v8\"><email>nobody</email></shipment-refund-request>",
            "<shipment-refund-request xmlns=\"http://www.canadapost.ca/ws/shipment-v8\"><email>a@b.ca</email><email>c@d.ca</email></shipment-refund-request>",
            "<shipment xmlns=\"http://www.canadapost.ca/ws/shipment-v8\"><email>a@b.ca</email></shipment>",
        ] {
            let root = xml::parse(broken.as_bytes()).unwrap();
            assert!(
                !check_refund_request(&root, broken.as_bytes()).is_empty(),
                "{broken}"
            );
        }
    }

    #[test]
    fn a_body_needs_the_expected_root_in_the_shipment_namespace() {
        let check = |body: &str| {
            let root = xml::parse(body.as_bytes()).unwrap();
            root_problems(&root, body.as_bytes(), "shipment-refund-request")
        };
        let good = format!(
            "<shipment-refund-request xmlns=\"{SHIPMENT_NAMESPACE}\"><email>a@b.ca</email></shipment-refund-request>"
        );
        assert!(check(&good).is_empty());
        let no_namespace =
            "<shipment-refund-request><email>a@b.ca</email></shipment-refund-request>";
        assert!(check(no_namespace)[0].contains("must be in"));
        let wrong_root = format!("<shipment xmlns=\"{SHIPMENT_NAMESPACE}\"/>");
        assert!(check(&wrong_root)[0].contains("not <shipment>"));
    }
}
