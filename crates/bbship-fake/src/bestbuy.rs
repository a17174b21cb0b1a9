//! The fake Best Buy (Mirakl seller API): OR11, OR21, OR23, OR24 and SH21 under `/api`,
//! strict the way the real one is (exact key, states, page limits, 411 on a body-less PUT
//! without a length) and with orders that move on by themselves after acceptance. Orders
//! have the shapes of production's: `""` for an absent `street_2` or `phone_secondary`,
//! and `delivery_date` an `{earliest, latest}` object from SHIPPING on (null before).

use std::collections::BTreeSet;
use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::http_server::{HttpRequest, HttpResponse, percent_decode, query_pairs};
use super::orders::FakeOrder;
use super::{Endpoint, FakeOptions};

#[derive(Clone, Debug)]
pub(crate) struct Tracking {
    carrier_code: Option<String>,
    company: String,
    number: String,
    url: Option<String>,
}

/// One order as the fake holds it: the seed plus everything that happened to it.
#[derive(Clone, Debug)]
pub(crate) struct OrderEntry {
    pub(crate) order: FakeOrder,
    pub(crate) state: String,
    accepted_at: Option<Instant>,
    /// Listings still to show the order as waiting after its accept.
    lagging_reads: usize,
    acceptance_decision_date: Option<DateTime<Utc>>,
    debited_date: Option<DateTime<Utc>>,
    tracking: Option<Tracking>,
    shipped_date: Option<DateTime<Utc>>,
}

impl OrderEntry {
    pub(crate) fn new(order: FakeOrder) -> OrderEntry {
        let state = order.state.clone();
        let reached_shipping = matches!(state.as_str(), "SHIPPING" | "SHIPPED");
        OrderEntry {
            order,
            state,
            accepted_at: None,
            lagging_reads: 0,
            acceptance_decision_date: reached_shipping.then(Utc::now),
            debited_date: reached_shipping.then(Utc::now),
            tracking: None,
            shipped_date: None,
        }
    }

    /// Applies the payment that follows acceptance once its delay has passed.
    pub(crate) fn settle(&mut self, options: &FakeOptions, now: Instant) {
        if self.state != "WAITING_DEBIT_PAYMENT" {
            return;
        }
        if let (Some(delay), Some(accepted_at)) = (options.payment_delay, self.accepted_at)
            && now >= accepted_at + delay
        {
            self.complete_payment();
        }
    }

    pub(crate) fn complete_payment(&mut self) {
        if self.state == "WAITING_DEBIT_PAYMENT" {
            self.state = "SHIPPING".to_owned();
            self.debited_date = Some(Utc::now());
        }
    }

    /// The state a listing shows: an order accepted moments ago may still show as waiting.
    fn listed_state(&self, options: &FakeOptions, now: Instant) -> &str {
        if self.lagging_reads > 0 {
            return "WAITING_ACCEPTANCE";
        }
        match self.accepted_at {
            Some(accepted_at) if now < accepted_at + options.accept_lag => "WAITING_ACCEPTANCE",
            _ => &self.state,
        }
    }

    /// The order as a listing shows it, with its `JsonEdit`s applied; an edit that does
    /// not apply is an error the listing answers with.
    fn to_json(&self, options: &FakeOptions, now: Instant) -> Result<Value, String> {
        let mut json = self.plain_json(options, now);
        for edit in &self.order.json_edits {
            edit.apply(&mut json)
                .map_err(|problem| format!("order {}: {problem}", self.order.order_id))?;
        }
        Ok(json)
    }

    fn plain_json(&self, options: &FakeOptions, now: Instant) -> Value {
        let state = self.listed_state(options, now);
        let order = &self.order;
        let address = &order.address;
        let shipping_visible = matches!(
            state,
            "SHIPPING" | "SHIPPED" | "TO_COLLECT" | "RECEIVED" | "CLOSED"
        );
        let address_json = shipping_visible.then(|| {
            json!({
                "additional_info": address.additional_info,
                "city": address.city,
                "civility": "",
                "company": address.company,
                "company_2": null,
                "country": "Canada",
                "country_iso_code": null,
                "firstname": address.firstname,
                "lastname": address.lastname,
                "phone": address.phone,
                "phone_secondary": "",
                "state": address.state,
                "street_1": address.street_1,
                // Best Buy sends "" for an absent optional string.
                "street_2": address.street_2.as_deref().unwrap_or(""),
                "zip_code": address.zip_code,
            })
        });
        let date = |value: Option<DateTime<Utc>>| {
            value.map(|date| date.to_rfc3339_opts(SecondsFormat::Secs, true))
        };
        let total: f64 = order
            .lines
            .iter()
            .map(|line| line.unit_price * f64::from(line.quantity))
            .sum();
        let lines: Vec<Value> = order
            .lines
            .iter()
            .enumerate()
            .map(|(index, line)| {
                json!({
                    "order_line_id": line.order_line_id,
                    "order_line_index": index + 1,
                    "order_line_state": state,
                    "offer_sku": line.offer_sku,
                    "product_shop_sku": line.offer_sku,
                    "product_sku": line.product_sku,
                    "product_title": line.product_title,
                    "quantity": line.quantity,
                    "price_unit": line.unit_price,
                    "price": line.unit_price * f64::from(line.quantity),
                    "debited_date": date(self.debited_date),
                    "shipped_date": date(self.shipped_date),
                    "order_line_additional_fields": [{"code": "language", "type": "STRING", "value": "EN"}],
                    "cancelations": [],
                    "refunds": [],
                })
            })
            .collect();
        let created = date(Some(order.created));
        // Null until the order is accepted and paid; then the end of a Pacific-time day,
        // with milliseconds, as Best Buy Canada writes its deadlines.
        let delivery_date = shipping_visible.then(|| {
            let end_of_day = |days: i64| {
                (order.created.date_naive() + chrono::Duration::days(days))
                    .and_hms_milli_opt(6, 59, 59, 999)
                    .map(|at| at.and_utc().to_rfc3339_opts(SecondsFormat::Millis, true))
            };
            json!({"earliest": end_of_day(7), "latest": end_of_day(18)})
        });
        json!({
            "order_id": order.order_id,
            "commercial_id": order.commercial_id,
            "order_state": state,
            "order_state_reason_code": null,
            "order_state_reason_label": null,
            "created_date": created,
            "last_updated_date": created,
            "acceptance_decision_date": date(self.acceptance_decision_date),
            "customer_debited_date": date(self.debited_date),
            "shipping_deadline": date(Some(order.created + chrono::Duration::days(2))),
            "delivery_date": delivery_date,
            "leadtime_to_ship": 2,
            "shipping_type_code": order.shipping_type_code,
            "shipping_type_label": order.shipping_type_label,
            "shipping_zone_code": "ONLocal",
            "shipping_carrier_code": self.tracking.as_ref().and_then(|t| t.carrier_code.clone()),
            "shipping_company": self.tracking.as_ref().map(|t| t.company.clone()),
            "shipping_tracking": self.tracking.as_ref().map(|t| t.number.clone()),
            "shipping_tracking_url": self.tracking.as_ref().and_then(|t| t.url.clone()),
            "can_shop_ship": state == "SHIPPING",
            "currency_iso_code": "CAD",
            "price": total,
            "total_price": total,
            "customer_notification_email": "relay.abc123@us.notification.mirakl.net",
            "customer": {
                "customer_id": format!("CUST-{}", order.commercial_id),
                "civility": "",
                "firstname": address.firstname,
                "lastname": address.lastname,
                "locale": order.locale,
                "billing_address": address_json.clone(),
                "shipping_address": address_json,
            },
            "order_lines": lines,
        })
    }
}

/// Canada Post as Best Buy registers it (SH21): OR23 with this code needs nothing else,
/// and Best Buy builds the tracking link from its own template.
const CANADA_POST_CODE: &str = "CPCL";
const CANADA_POST_TRACKING_URL: &str =
    "https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor={trackingId}";

fn error(status: u16, message: &str) -> HttpResponse {
    HttpResponse::json(status, &json!({"message": message, "status": status}))
}

/// Which endpoint a request is for, and the order it names in its path.
pub(crate) fn classify(request: &HttpRequest) -> (Endpoint, Option<String>) {
    let segments: Vec<&str> = request.path.trim_end_matches('/').split('/').collect();
    match (request.method.as_str(), segments.as_slice()) {
        ("GET", ["", "api", "orders"]) => (Endpoint::ListOrders, None),
        ("GET", ["", "api", "shipping", "carriers"]) => (Endpoint::Carriers, None),
        (_, ["", "api", "orders", id, action]) => {
            let endpoint = match *action {
                "accept" => Endpoint::Accept,
                "tracking" => Endpoint::Tracking,
                "ship" => Endpoint::Ship,
                _ => Endpoint::Other,
            };
            (endpoint, Some(percent_decode(id)))
        }
        _ => (Endpoint::Other, None),
    }
}

/// Answers one request under `/api`, acting on `orders`.
pub(crate) fn handle(
    options: &FakeOptions,
    orders: &mut std::collections::BTreeMap<String, OrderEntry>,
    request: &HttpRequest,
    endpoint: Endpoint,
    order_id: Option<&str>,
) -> HttpResponse {
    if request.header("authorization") != Some(options.api_key.as_str()) {
        return error(401, "Unauthorized");
    }
    if let Some(accept) = request.header("accept") {
        let acceptable = accept.split(',').any(|kind| {
            let kind = kind.split(';').next().unwrap_or_default().trim();
            matches!(kind, "application/json" | "*/*" | "application/*")
        });
        if !acceptable {
            return error(406, "Not Acceptable");
        }
    }
    let writes = matches!(request.method.as_str(), "PUT" | "POST" | "DELETE");
    if writes && !request.declared_length {
        return HttpResponse::new(
            411,
            "text/html",
            "<html><body>411 Length Required</body></html>",
        );
    }
    let now = Instant::now();
    for entry in orders.values_mut() {
        entry.settle(options, now);
    }
    match (endpoint, order_id) {
        (Endpoint::ListOrders, _) => {
            let response = list(options, orders, request, now);
            for entry in orders.values_mut() {
                entry.lagging_reads = entry.lagging_reads.saturating_sub(1);
            }
            response
        }
        (Endpoint::Carriers, _) => HttpResponse::json(
            200,
            &json!({"carriers": [{"code": CANADA_POST_CODE, "label": "Canada Post", "standard_code": "ca-post",
                "tracking_url": CANADA_POST_TRACKING_URL}]}),
        ),
        (Endpoint::Accept | Endpoint::Tracking | Endpoint::Ship, Some(id)) => {
            if request.method != "PUT" {
                return error(405, "Method Not Allowed");
            }
            let Some(entry) = orders.get_mut(id) else {
                return error(404, &format!("Order {id} not found"));
            };
            match endpoint {
                Endpoint::Accept => accept(options, entry, request, now),
                Endpoint::Tracking => tracking(entry, request),
                _ => ship(entry),
            }
        }
        _ => error(404, "Not Found"),
    }
}

fn list(
    options: &FakeOptions,
    orders: &std::collections::BTreeMap<String, OrderEntry>,
    request: &HttpRequest,
    now: Instant,
) -> HttpResponse {
    let mut states: Option<BTreeSet<String>> = None;
    let mut ids: Option<BTreeSet<String>> = None;
    let mut max = 10usize;
    let mut offset = 0usize;
    for (key, value) in query_pairs(&request.query) {
        match key.as_str() {
            "order_state_codes" => states = Some(value.split(',').map(str::to_owned).collect()),
            "order_ids" => {
                let list: BTreeSet<String> = value.split(',').map(str::to_owned).collect();
                if list.len() > 100 {
                    return error(400, "The limit of 100 is exceeded for order_ids");
                }
                ids = Some(list);
            }
            "max" => match value.parse::<usize>() {
                Ok(value) if value <= 100 => max = value,
                Ok(_) => return error(400, "The limit of 100 is exceeded for max"),
                Err(_) => return error(400, "max must be a number"),
            },
            "offset" => match value.parse() {
                Ok(value) => offset = value,
                Err(_) => return error(400, "offset must be a number"),
            },
            _ => {}
        }
    }
    let mut matching: Vec<&OrderEntry> = orders
        .values()
        .filter(|entry| {
            states
                .as_ref()
                .is_none_or(|states| states.contains(entry.listed_state(options, now)))
        })
        .filter(|entry| {
            ids.as_ref()
                .is_none_or(|ids| ids.contains(&entry.order.order_id))
        })
        .collect();
    matching.sort_by(|a, b| {
        (a.order.created, &a.order.order_id).cmp(&(b.order.created, &b.order.order_id))
    });
    let page: Result<Vec<Value>, String> = matching
        .iter()
        .skip(offset)
        .take(max)
        .map(|entry| entry.to_json(options, now))
        .collect();
    match page {
        Ok(page) => {
            HttpResponse::json(200, &json!({"orders": page, "total_count": matching.len()}))
        }
        // A test set the fake up wrong: answer so that the test fails, naming the edit.
        Err(problem) => error(500, &format!("fake Best Buy: {problem}")),
    }
}

fn json_body(request: &HttpRequest) -> Result<Value, HttpResponse> {
    let is_json = request.header("content-type").is_some_and(|value| {
        value.split(';').next().unwrap_or_default().trim() == "application/json"
    });
    if !is_json {
        return Err(error(415, "Content-Type must be application/json"));
    }
    serde_json::from_slice(&request.body).map_err(|_| error(400, "VALIDATION_ERROR: invalid JSON"))
}

fn accept(
    options: &FakeOptions,
    entry: &mut OrderEntry,
    request: &HttpRequest,
    now: Instant,
) -> HttpResponse {
    let body = match json_body(request) {
        Ok(body) => body,
        Err(response) => return response,
    };
    if entry.state != "WAITING_ACCEPTANCE" {
        return error(
            400,
            &format!(
                "ORDER_INVALID_STATE: order {} is {}",
                entry.order.order_id, entry.state
            ),
        );
    }
    let Some(decisions) = body.get("order_lines").and_then(Value::as_array) else {
        return error(400, "VALIDATION_ERROR: order_lines is required");
    };
    let known: BTreeSet<&str> = entry
        .order
        .lines
        .iter()
        .map(|line| line.order_line_id.as_str())
        .collect();
    let mut seen = BTreeSet::new();
    let mut accepted = Vec::new();
    for decision in decisions {
        let (Some(id), Some(flag)) = (
            decision.get("id").and_then(Value::as_str),
            decision.get("accepted").and_then(Value::as_bool),
        ) else {
            return error(400, "ORDER_LINE_NULL_ELEMENT: id and accepted are required");
        };
        if !known.contains(id) {
            return error(400, &format!("ORDER_LINE_NOT_FOUND: {id}"));
        }
        if !seen.insert(id) {
            return error(400, &format!("ORDER_LINE_DUPLICATE_ID: {id}"));
        }
        accepted.push(flag);
    }
    if seen.len() != known.len() {
        return error(400, "ORDER_LINE_ACCEPTANCE_DECISION_MISSING");
    }
    if accepted.iter().all(|flag| *flag) {
        entry.state = "WAITING_DEBIT_PAYMENT".to_owned();
        entry.accepted_at = Some(now);
        entry.lagging_reads = options.accept_lag_reads;
        entry.acceptance_decision_date = Some(Utc::now());
    } else if accepted.iter().all(|flag| !*flag) {
        entry.state = "REFUSED".to_owned();
    } else {
        return error(400, "ORDER_PARTIAL_ACCEPTANCE_DISABLED");
    }
    HttpResponse::no_content()
}

fn tracking(entry: &mut OrderEntry, request: &HttpRequest) -> HttpResponse {
    let body = match json_body(request) {
        Ok(body) => body,
        Err(response) => return response,
    };
    if entry.state != "SHIPPING" {
        return error(
            400,
            &format!("ORDER_INVALID_STATE: order is {}", entry.state),
        );
    }
    let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_owned);
    let Some(number) = text("tracking_number").filter(|number| !number.is_empty()) else {
        return error(400, "tracking_number is required");
    };
    let carrier_code = text("carrier_code");
    // A registered carrier's name and link are Best Buy's own (Mirakl ignores
    // `carrier_url` for it); an unregistered one is known only by what the body says.
    let (company, url) = match (&carrier_code, text("carrier_name")) {
        (Some(code), _) if code == CANADA_POST_CODE => (
            "Canada Post".to_owned(),
            Some(CANADA_POST_TRACKING_URL.replace("{trackingId}", &number)),
        ),
        (Some(code), _) => return error(400, &format!("unknown carrier_code {code}")),
        (None, Some(name)) if !name.is_empty() => (name, text("carrier_url")),
        (None, _) => return error(400, "carrier_code or carrier_name is required"),
    };
    entry.tracking = Some(Tracking {
        carrier_code,
        company,
        number,
        url,
    });
    HttpResponse::no_content()
}

fn ship(entry: &mut OrderEntry) -> HttpResponse {
    if entry.state != "SHIPPING" {
        return error(
            400,
            &format!("ORDER_INVALID_STATE: order is {}", entry.state),
        );
    }
    if entry.tracking.is_none() {
        return error(
            400,
            "Tracking details are mandatory for this shipping method.",
        );
    }
    entry.state = "SHIPPED".to_owned();
    entry.shipped_date = Some(Utc::now());
    HttpResponse::no_content()
}
