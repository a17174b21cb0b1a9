//! The Best Buy Canada marketplace (Mirakl seller API) client: list orders (OR11), accept
//! them (OR21), upload tracking (OR23), mark them shipped (OR24), and a read-only probe
//! of the API key.
//!
//! It knows Mirakl's paths, headers, paging and error bodies, and nothing of Canada Post
//! or of bbship's phases. Errors come back typed, so a phase can tell "refused" (read
//! the state again and decide) from "unknown outcome" (the write may have happened) and
//! from "the key is wrong" (stop the run).

pub mod types;

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::error::UsageError;
use crate::http::{
    self, ApiClient, ClientSettings, HttpError, Idempotency, Method, Request, Response, WriteMode,
};
use crate::ids::{OrderId, OrderLineId};
use crate::secret::Secret;
pub use types::{Order, OrderLine, OrderState, ShippingAddress, UnreadableOrder};

/// Mirakl's largest page, and its limit on `order_ids` in one call.
pub const PAGE_SIZE: usize = 100;

/// A safety stop for paging: a set that keeps growing while it is read (or a server that
/// lies about `total_count`) must not keep one run paging forever. 500 pages is 50,000
/// orders, far beyond a small seller's queue; the rest waits for the next run.
const MAX_PAGES: usize = 500;

pub struct BestBuyClient {
    http: ApiClient,
    base_url: String,
    shop_id: Option<String>,
    api_key: Secret,
}

/// Orders read from OR11, and the ones that could not be understood.
#[derive(Debug, Default)]
pub struct Listing {
    pub orders: Vec<Order>,
    pub unreadable: Vec<UnreadableOrder>,
}

/// Why a Best Buy call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum BestBuyError {
    /// 401 or 403: the key is wrong or lacks a role. Nothing else will work either. The
    /// usage error is the source, where it sets the exit code.
    #[error("credentials refused")]
    Unauthorized(#[source] UsageError),
    /// A 4xx answer: the request was understood and refused. Not to be repeated as is.
    #[error("Best Buy refused the request (HTTP {status}): {message}")]
    Refused { status: u16, message: String },
    /// 5xx, or 429 that outlasted the retries.
    #[error("Best Buy is unavailable (HTTP {status}): {message}")]
    Unavailable { status: u16, message: String },
    /// A write got no answer: it may have been carried out.
    #[error("{0}")]
    UnknownOutcome(HttpError),
    /// A read got no answer, or the request could not be sent.
    #[error("{0}")]
    Transport(HttpError),
    /// The answer was not what the API documents (not JSON, wrong shape, HTML).
    #[error("{0}")]
    BadResponse(String),
}

impl BestBuyError {
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, BestBuyError::Unauthorized(_))
    }
}

/// The body of OR23 for one order.
#[derive(Clone, Debug, Serialize)]
pub struct TrackingUpload {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier_url: Option<String>,
    pub tracking_number: String,
}

#[derive(Serialize)]
struct AcceptBody<'a> {
    order_lines: Vec<AcceptLine<'a>>,
}

#[derive(Serialize)]
struct AcceptLine<'a> {
    accepted: bool,
    id: &'a str,
}

impl BestBuyClient {
    pub fn new(config: &Config, api_key: Secret, deadline: std::time::Instant) -> BestBuyClient {
        let limits = &config.limits;
        let settings = ClientSettings {
            api_name: "Best Buy",
            connect_timeout: std::time::Duration::from_secs(limits.connect_timeout_secs.get()),
            request_timeout: std::time::Duration::from_secs(limits.request_timeout_secs.get()),
            requests_per_minute: limits.bestbuy_requests_per_minute.get(),
            retry: http::RetryPolicy {
                max_retries: limits.max_retries,
                initial_backoff: std::time::Duration::from_millis(
                    limits.retry_backoff_initial_ms.get(),
                ),
                max_backoff: std::time::Duration::from_secs(60),
                max_retry_after: std::time::Duration::from_secs(limits.max_retry_after_secs),
            },
            deadline,
            is_throttle: http::no_throttle_body,
        };
        BestBuyClient {
            http: ApiClient::new(settings),
            base_url: config.bestbuy.base_url.as_str().to_owned(),
            shop_id: config
                .bestbuy
                .shop_id
                .as_ref()
                .map(|id| id.as_str().to_owned()),
            api_key,
        }
    }

    /// Every order in `state`, all pages read before anything is done with them (acting
    /// while paging would shift the offsets), de-duplicated by id.
    pub fn list_orders_by_state(&self, state: &OrderState) -> Result<Listing, BestBuyError> {
        let filter = format!(
            "order_state_codes={}",
            http::encode_component(state.as_str())
        );
        self.list_all_pages(&filter)
    }

    /// The current form of the given orders, 100 ids a call. Orders Best Buy does not
    /// return are simply absent from the listing.
    pub fn list_orders_by_ids(&self, ids: &[OrderId]) -> Result<Listing, BestBuyError> {
        let mut listing = Listing::default();
        for chunk in ids.chunks(PAGE_SIZE) {
            // Commas stay literal: they separate the list, and ids never contain one.
            let joined: Vec<String> = chunk
                .iter()
                .map(|id| http::encode_component(id.as_str()))
                .collect();
            let filter = format!("order_ids={}", joined.join(","));
            let page = self.list_all_pages(&filter)?;
            listing.orders.extend(page.orders);
            listing.unreadable.extend(page.unreadable);
        }
        Ok(listing)
    }

    /// One order as Best Buy has it now, read back after a write whose effect is unknown
    /// or before an operator's step; `None` when Best Buy does not return it in a form
    /// bbship can read.
    pub fn order(&self, order_id: &OrderId) -> Result<Option<Order>, BestBuyError> {
        Ok(self
            .list_orders_by_ids(std::slice::from_ref(order_id))?
            .orders
            .into_iter()
            .find(|order| order.id == *order_id))
    }

    fn list_all_pages(&self, filter: &str) -> Result<Listing, BestBuyError> {
        let mut listing = Listing::default();
        let mut seen = BTreeSet::new();
        let mut offset = 0usize;
        for _ in 0..MAX_PAGES {
            let url = format!(
                "{}/orders?{filter}&max={PAGE_SIZE}&offset={offset}{}",
                self.base_url,
                self.shop_query()
            );
            let response = self
                .http
                .send(&self.request(Method::Get, url), Idempotency::Read)
                .map_err(BestBuyError::Transport)?;
            let page = read_order_page(&response)?;
            let count = page.orders.len();
            for order in page.orders {
                match order {
                    Ok(order) => {
                        if seen.insert(order.id.clone()) {
                            listing.orders.push(order);
                        }
                    }
                    Err(unreadable) => listing.unreadable.push(unreadable),
                }
            }
            offset += count;
            if count == 0 || offset >= page.total_count {
                return Ok(listing);
            }
        }
        log::warn!(
            "Best Buy: stopped paging after {MAX_PAGES} pages ({offset} orders); the rest waits for the next run"
        );
        Ok(listing)
    }

    /// A read-only call that proves the API key: OR11 for one order (`max=1`). Returns
    /// how many orders the key can see.
    pub fn probe(&self) -> Result<usize, BestBuyError> {
        let url = format!("{}/orders?max=1{}", self.base_url, self.shop_query());
        let response = self
            .http
            .send(&self.request(Method::Get, url), Idempotency::Read)
            .map_err(BestBuyError::Transport)?;
        read_order_page(&response).map(|page| page.total_count)
    }

    /// Accepts every given line of an order (OR21). `Ok(false)` in a dry run, where the
    /// request is printed and not sent.
    pub fn accept_order(
        &self,
        order_id: &OrderId,
        line_ids: &[OrderLineId],
        mode: WriteMode,
    ) -> Result<bool, BestBuyError> {
        let body = AcceptBody {
            order_lines: line_ids
                .iter()
                .map(|id| AcceptLine {
                    accepted: true,
                    id: id.as_str(),
                })
                .collect(),
        };
        let body = serde_json::to_vec(&body)
            .map_err(|error| BestBuyError::BadResponse(format!("cannot encode OR21: {error}")))?;
        let url = self.order_url(order_id, "accept");
        let request = self
            .request(Method::Put, url)
            .header("Content-Type", "application/json")
            .body(body);
        self.write(&request, mode)
    }

    /// Uploads the tracking of an order (OR23). `Ok(false)` in a dry run.
    pub fn upload_tracking(
        &self,
        order_id: &OrderId,
        tracking: &TrackingUpload,
        mode: WriteMode,
    ) -> Result<bool, BestBuyError> {
        let body = serde_json::to_vec(tracking)
            .map_err(|error| BestBuyError::BadResponse(format!("cannot encode OR23: {error}")))?;
        let url = self.order_url(order_id, "tracking");
        let request = self
            .request(Method::Put, url)
            .header("Content-Type", "application/json")
            .body(body);
        self.write(&request, mode)
    }

    /// Marks an order shipped (OR24): a PUT with no body, sent with `Content-Length: 0`
    /// (Best Buy answers 411 otherwise). `Ok(false)` in a dry run.
    pub fn mark_shipped(&self, order_id: &OrderId, mode: WriteMode) -> Result<bool, BestBuyError> {
        let url = self.order_url(order_id, "ship");
        let request = self.request(Method::Put, url).body(Vec::new());
        self.write(&request, mode)
    }

    /// Sends a write and interprets the answer: 2xx is done, anything else an error.
    fn write(&self, request: &Request, mode: WriteMode) -> Result<bool, BestBuyError> {
        let response = match self.http.write(request, mode) {
            Ok(Some(response)) => response,
            Ok(None) => return Ok(false),
            Err(error) if error.is_unknown_outcome() => {
                return Err(BestBuyError::UnknownOutcome(error));
            }
            Err(error) => return Err(BestBuyError::Transport(error)),
        };
        if response.is_success() {
            return Ok(true);
        }
        Err(error_for(&response))
    }

    fn request(&self, method: Method, url: String) -> Request {
        Request::new(method, url)
            .secret_header("Authorization", self.api_key.clone())
            .header("Accept", "application/json")
    }

    /// `…/orders/{id}/{action}`, the URL of a write on one order.
    fn order_url(&self, order_id: &OrderId, action: &str) -> String {
        format!(
            "{}/orders/{}/{action}{}",
            self.base_url,
            http::encode_component(order_id.as_str()),
            self.shop_query_first()
        )
    }

    fn shop_query(&self) -> String {
        match &self.shop_id {
            Some(shop) => format!("&shop_id={shop}"),
            None => String::new(),
        }
    }

    fn shop_query_first(&self) -> String {
        match &self.shop_id {
            Some(shop) => format!("?shop_id={shop}"),
            None => String::new(),
        }
    }
}

/// One page of an OR11 answer: each order checked, or reported by name when it cannot be
/// used, and the total Best Buy claims (0 when it sends none or nonsense; it only decides
/// whether to ask for another page).
#[derive(Debug)]
pub struct OrderPage {
    pub orders: Vec<Result<Order, UnreadableOrder>>,
    pub total_count: usize,
}

/// Reads one OR11 answer. Its own function, apart from the paging, so that the fuzz
/// tests can feed it any answer.
pub fn read_order_page(response: &Response) -> Result<OrderPage, BestBuyError> {
    let page = json_answer(response, "listing orders")?;
    let Some(orders) = page.get("orders").and_then(Value::as_array) else {
        return Err(BestBuyError::BadResponse(
            "Best Buy's order list has no \"orders\" array".to_owned(),
        ));
    };
    let total_count = page
        .get("total_count")
        .and_then(Value::as_u64)
        .map_or(0, |total| usize::try_from(total).unwrap_or(usize::MAX));
    Ok(OrderPage {
        orders: orders.iter().map(Order::from_json).collect(),
        total_count,
    })
}

/// The JSON body of a successful read, or the error its answer means.
fn json_answer(response: &Response, doing: &str) -> Result<Value, BestBuyError> {
    if !response.is_success() {
        return Err(error_for(response));
    }
    if !response.has_content_type("application/json") {
        return Err(BestBuyError::BadResponse(format!(
            "Best Buy answered {doing} with a non-JSON response (HTTP {}, {}): {}",
            response.status,
            content_type(response),
            response.body_excerpt()
        )));
    }
    if response.body.is_empty() {
        return Err(BestBuyError::BadResponse(format!(
            "Best Buy answered {doing} with an empty body (HTTP {})",
            response.status
        )));
    }
    serde_json::from_slice(&response.body).map_err(|error| {
        let what = match error.classify() {
            serde_json::error::Category::Eof => "JSON that is cut short",
            serde_json::error::Category::Syntax => "a body that is not JSON",
            serde_json::error::Category::Data | serde_json::error::Category::Io => {
                "JSON bbship cannot read"
            }
        };
        BestBuyError::BadResponse(format!(
            "Best Buy answered {doing} with {what} ({error}; {} bytes): {}",
            response.body.len(),
            response.body_excerpt()
        ))
    })
}

/// The error a failed answer means.
fn error_for(response: &Response) -> BestBuyError {
    let message = error_message(response);
    match response.status {
        401 | 403 => BestBuyError::Unauthorized(UsageError(format!(
            "Best Buy refused the API key (HTTP {}: {message}); check BESTBUY_API_KEY \
             and that its user has the order roles",
            response.status
        ))),
        429 | 500..=599 => BestBuyError::Unavailable {
            status: response.status,
            message,
        },
        status => BestBuyError::Refused { status, message },
    }
}

/// The declared content type, for a message.
fn content_type(response: &Response) -> String {
    response
        .content_type
        .as_deref()
        .map_or_else(|| "no content type".to_owned(), crate::text::printable)
}

/// The readable part of a Mirakl error body, whichever of its shapes it has.
pub(crate) fn error_message(response: &Response) -> String {
    if response.body.is_empty() {
        return "empty body".to_owned();
    }
    if !response.has_content_type("application/json") {
        return format!(
            "non-JSON response ({}): {}",
            content_type(response),
            response.body_excerpt()
        );
    }
    let Ok(body) = serde_json::from_slice::<Value>(&response.body) else {
        return response.body_excerpt();
    };
    let mut parts = Vec::new();
    for key in ["code", "message"] {
        if let Some(text) = body.get(key).and_then(Value::as_str) {
            parts.push(text.to_owned());
        }
    }
    if let Some(errors) = body.get("errors").and_then(Value::as_array) {
        for error in errors {
            let field = error.get("field").and_then(Value::as_str);
            let message = error.get("message").and_then(Value::as_str);
            match (field, message) {
                (Some(field), Some(message)) => parts.push(format!("{field}: {message}")),
                (None, Some(message)) => parts.push(message.to_owned()),
                _ => {}
            }
        }
    }
    if parts.is_empty() {
        response.body_excerpt()
    } else {
        crate::text::excerpt(&parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, content_type: &str, body: &str) -> Response {
        Response {
            status,
            content_type: Some(content_type.to_owned()),
            retry_after: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn error_bodies_of_every_known_shape_are_read() {
        let fixture = include_str!("../../tests/fixtures/best-buy/error-400.json");
        assert_eq!(
            error_message(&response(400, "application/json", fixture)),
            "Order 261300002-A is not in the expected state for this operation"
        );
        let newer = r#"{"code":"VALIDATION_ERROR","message":"Invalid","errors":[{"field":"order_lines[0].id","message":"unknown line"}]}"#;
        assert_eq!(
            error_message(&response(400, "application/json;charset=UTF-8", newer)),
            "VALIDATION_ERROR; Invalid; order_lines[0].id: unknown line"
        );
        let html = error_message(&response(
            403,
            "text/html",
            "<html><body>Access denied</body></html>",
        ));
        assert!(html.starts_with("non-JSON response (text/html)"), "{html}");
        assert_eq!(
            error_message(&response(500, "application/json", "")),
            "empty body"
        );
    }

    #[test]
    fn a_page_that_is_not_an_order_list_says_what_it_is() {
        let cases = [
            (
                response(200, "application/json", ""),
                "an empty body (HTTP 200)",
            ),
            (
                response(200, "application/json", r#"{"orders": [{"order_id": "1"#),
                "JSON that is cut short",
            ),
            (
                response(200, "application/json", "<html>Bad Gateway</html>"),
                "a body that is not JSON",
            ),
            (
                response(200, "text/html", "<html>\nBad Gateway</html>"),
                "non-JSON response (HTTP 200, text/html): <html> Bad Gateway</html>",
            ),
            (
                response(200, "application/json", "[]"),
                "no \"orders\" array",
            ),
            (
                response(200, "application/json", r#"{"orders": 5}"#),
                "no \"orders\" array",
            ),
            (
                response(502, "text/html", "<html/>"),
                "unavailable (HTTP 502)",
            ),
        ];
        for (answer, expected) in cases {
            let error = read_order_page(&answer).unwrap_err().to_string();
            assert!(error.contains(expected), "{error}");
        }
        let page = read_order_page(&response(
            200,
            "application/json",
            r#"{"orders": [{"order_id": "a/b"}, "x"], "total_count": -4}"#,
        ))
        .unwrap();
        assert_eq!(page.orders.len(), 2);
        assert!(page.orders.iter().all(Result::is_err));
        assert_eq!(page.total_count, 0);
    }

    #[test]
    fn the_accept_body_has_the_documented_shape() {
        let body = AcceptBody {
            order_lines: vec![AcceptLine {
                accepted: true,
                id: "113300001",
            }],
        };
        let sent: Value = serde_json::to_value(&body).unwrap();
        let fixture: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/best-buy/or21-accept-request.json"
        ))
        .unwrap();
        assert_eq!(sent, fixture);
    }
}
