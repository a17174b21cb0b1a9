//! The Canada Post REST client: Create Shipment, the request-id lookup, Get Shipment,
//! the label artifact, the tracking summary, Request Shipment Refund, and a read-only
//! probe of the credentials; for a non-contract account (`canada_post.account`) the same
//! calls under `…/ncshipment` in ncshipment-v4, the window search that stands in for the
//! request-id lookup, and the receipt that holds the price. The phase sees one set of
//! calls whatever the account; this client picks the URLs, media types and roots.
//!
//! It knows Canada Post's paths, media types, `<messages>` errors and throttle, and
//! nothing of Best Buy or of phases. Its errors are typed so the phase can tell a refused
//! create (nothing was bought) from an unknown outcome (a label may exist: look it up,
//! never create blind), and a label that is not ready from one that is gone.
//!
//! The throttle ("Rejected by SLM Monitor") is counted per API key over a rolling minute,
//! so one rejection pauses every Canada Post call of this client, from every worker,
//! for `limits.canada_post_throttle_pause_secs`.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::canadapost::answers::{
    self, Answer, Link, Messages, PinSummary, RefundTicket, ShipmentInfo,
};
use crate::canadapost::eastern::SearchWindow;
use crate::canadapost::money::Postage;
use crate::canadapost::types::{AccountKind, CustomerNumber};
use crate::config::{Config, Language};
use crate::error::UsageError;
use crate::http::{
    self, ApiClient, ClientSettings, HttpError, Idempotency, Method, Request, Response, WriteMode,
};
use crate::ids::{RequestId, TrackingPin};
use crate::rate::Spacing;
use crate::secret::Secret;

pub const SHIPMENT_MEDIA_TYPE: &str = "application/vnd.cpc.shipment-v8+xml";
pub const NC_SHIPMENT_MEDIA_TYPE: &str = "application/vnd.cpc.ncshipment-v4+xml";

/// How far either side of a create attempt the non-contract search looks: this
/// machine's clock and Canada Post's may disagree by minutes, and the search has only
/// minutes.
const SEARCH_MARGIN_MINUTES: i64 = 15;

/// One create attempt whose outcome is unknown, as the account's search needs it: the
/// request id (contract lookup), the order (`customer-ref-1`) and when it was made (the
/// non-contract window).
#[derive(Clone, Copy, Debug)]
pub struct Attempt<'a> {
    pub request_id: &'a RequestId,
    pub order_reference: &'a str,
    pub at: chrono::DateTime<chrono::Utc>,
}
pub const TRACKING_MEDIA_TYPE: &str = "application/vnd.cpc.track-v2+xml";
pub const PDF_MEDIA_TYPE: &str = "application/pdf";

/// Why a Canada Post call did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum CanadaPostError {
    /// 401/403, or AA001–AA004/E002: wrong credentials, wrong host for the key, or wrong
    /// account numbers. Nothing else will work this run. The usage error is the source,
    /// where it sets the exit code.
    #[error("credentials refused")]
    Unauthorized(#[source] UsageError),
    /// "Rejected by SLM Monitor": every Canada Post call now waits out the window.
    #[error(
        "Canada Post is throttling this API key (\"Rejected by SLM Monitor\"); calls are paused"
    )]
    Throttled,
    /// A `<messages>` answer to a request Canada Post understood and refused; for a
    /// create, nothing was bought.
    #[error("Canada Post refused the request (HTTP {status}): {messages}")]
    Rejected { status: u16, messages: Messages },
    /// 404: the resource (or its link, after 90 days) is gone; `detail` is what Canada
    /// Post said about it (its `<messages>`, sanitised), when it said anything.
    #[error("Canada Post has no such resource (HTTP 404): {detail}")]
    NotFound { detail: String },
    /// 5xx, after the retries a read gets.
    #[error("Canada Post is unavailable (HTTP {status}): {detail}")]
    Unavailable { status: u16, detail: String },
    /// A write that got no decisive answer: it may have been carried out.
    #[error("the outcome of {write} is unknown ({detail}); {}", write.may_have())]
    UnknownOutcome { write: Write, detail: String },
    /// A read got no answer, or a request could not be sent.
    #[error("{0}")]
    Transport(HttpError),
    /// The answer was not what the API documents.
    #[error("Canada Post sent an unexpected answer: {0}")]
    BadResponse(String),
}

/// The writes whose outcome can be unknown, each with what may then exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Write {
    CreateShipment,
    Refund,
}

impl Write {
    fn may_have(self) -> &'static str {
        match self {
            Write::CreateShipment => "a shipment may exist",
            Write::Refund => "Canada Post may have registered it",
        }
    }
}

impl fmt::Display for Write {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Write::CreateShipment => "Create Shipment",
            Write::Refund => "the refund request",
        })
    }
}

impl CanadaPostError {
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, CanadaPostError::Unauthorized(_))
    }

    fn unknown_create(detail: String) -> CanadaPostError {
        CanadaPostError::UnknownOutcome {
            write: Write::CreateShipment,
            detail,
        }
    }

    fn unknown_refund(detail: String) -> CanadaPostError {
        CanadaPostError::UnknownOutcome {
            write: Write::Refund,
            detail,
        }
    }
}

/// The answer to a label download.
#[derive(Debug)]
pub enum LabelDownload {
    /// The body, which starts with `%PDF`; the caller checks the page size.
    Pdf(Vec<u8>),
    /// 202, 404, an empty body, or something that is not a PDF yet: ask again later.
    NotReady(String),
}

/// The answer to a tracking summary.
#[derive(Debug)]
pub enum Tracking {
    Summary(PinSummary),
    /// Code 004: a valid PIN that has not been scanned yet (every fresh label).
    NoHistoryYet,
}

pub struct CanadaPostClient {
    /// Shipping calls (Canada Post's throttle groups A and C).
    shipping: ApiClient,
    /// Tracking calls: group E has by far the lowest limit, so it is paced apart.
    tracking: ApiClient,
    base_url: String,
    /// `scheme://host[:port]` of `base_url`: links are followed only there, so a forged
    /// link can never carry the credentials to another host.
    origin: String,
    customer_number: CustomerNumber,
    mobo: CustomerNumber,
    account: AccountKind,
    /// The longest one POST can take: how far past an attempt its shipment may be dated.
    request_timeout: Duration,
    authorization: Secret,
    language: &'static str,
    throttle_pause: Duration,
    paused_until: Mutex<Option<Instant>>,
    create_spacing: Spacing,
    deadline: Instant,
}

impl CanadaPostClient {
    pub fn new(
        config: &Config,
        username: &Secret,
        password: &Secret,
        deadline: Instant,
    ) -> CanadaPostClient {
        let limits = &config.limits;
        let settings = |api_name, requests_per_minute| ClientSettings {
            api_name,
            connect_timeout: Duration::from_secs(limits.connect_timeout_secs.get()),
            request_timeout: Duration::from_secs(limits.request_timeout_secs.get()),
            requests_per_minute,
            retry: http::RetryPolicy {
                max_retries: limits.max_retries,
                initial_backoff: Duration::from_millis(limits.retry_backoff_initial_ms.get()),
                max_backoff: Duration::from_secs(60),
                max_retry_after: Duration::from_secs(limits.max_retry_after_secs),
            },
            deadline,
            is_throttle,
        };
        let canada_post = &config.canada_post;
        let base_url = canada_post.base_url.as_str().to_owned();
        // The encoded pair is a secret on its own: a server echoing the header back
        // would show it without the "Basic " before it.
        let credential = Secret::new(base64(
            format!("{}:{}", username.expose(), password.expose()).as_bytes(),
        ));
        let authorization = Secret::new(format!("Basic {}", credential.expose()));
        CanadaPostClient {
            shipping: ApiClient::new(settings(
                "Canada Post",
                limits.canada_post_requests_per_minute.get(),
            )),
            tracking: ApiClient::new(settings(
                "Canada Post tracking",
                limits.canada_post_tracking_per_minute.get(),
            )),
            origin: origin_of(&base_url),
            base_url,
            customer_number: canada_post.customer_number.clone(),
            mobo: canada_post.mobo().clone(),
            account: canada_post.account,
            request_timeout: Duration::from_secs(limits.request_timeout_secs.get()),
            authorization,
            language: match canada_post.language {
                Language::English => "en-CA",
                Language::French => "fr-CA",
            },
            throttle_pause: Duration::from_secs(limits.canada_post_throttle_pause_secs),
            paused_until: Mutex::new(None),
            create_spacing: Spacing::new(Duration::from_millis(
                limits.canada_post_create_spacing_ms,
            )),
            deadline,
        }
    }

    /// Where shipments are created and searched: a contract's under mailed-by and mobo,
    /// a non-contract account's under mailed-by alone.
    fn shipments_url(&self) -> String {
        match self.account {
            AccountKind::Contract => format!(
                "{}/rs/{}/{}/shipment",
                self.base_url, self.customer_number, self.mobo
            ),
            AccountKind::NonContract => {
                format!("{}/rs/{}/ncshipment", self.base_url, self.customer_number)
            }
        }
    }

    /// The versioned media type of the account's shipping calls.
    fn media_type(&self) -> &'static str {
        match self.account {
            AccountKind::Contract => SHIPMENT_MEDIA_TYPE,
            AccountKind::NonContract => NC_SHIPMENT_MEDIA_TYPE,
        }
    }

    pub fn account(&self) -> AccountKind {
        self.account
    }

    fn request(&self, method: Method, url: String, accept: &str) -> Request {
        Request::new(method, url)
            .secret_header("Authorization", self.authorization.clone())
            .header("Accept", accept)
            .header("Accept-language", self.language)
    }

    /// POSTs a Create Shipment body once. In a dry run it prints the request instead and
    /// returns `Ok(None)`. Never repeated: any answer other than a shipment or a clean
    /// refusal is an unknown outcome.
    pub fn create_shipment(
        &self,
        body: String,
        mode: WriteMode,
    ) -> Result<Option<ShipmentInfo>, CanadaPostError> {
        let request = self
            .request(Method::Post, self.shipments_url(), self.media_type())
            .header("Content-Type", self.media_type())
            .body(body.into_bytes());
        if mode == WriteMode::Live {
            self.wait_out_throttle()?;
            self.create_spacing.wait();
        }
        let response = match self.shipping.write(&request, mode) {
            Ok(Some(response)) => response,
            Ok(None) => return Ok(None),
            Err(error @ HttpError::NotSent { .. }) => {
                return Err(CanadaPostError::Transport(error));
            }
            Err(error) => return Err(CanadaPostError::unknown_create(error.to_string())),
        };
        if is_throttle(&response) {
            self.note_throttle();
        }
        read_create_answer(&response, self.account).map(Some)
    }

    /// Searches for the shipments an attempt with an unknown outcome may have made, and
    /// reads each: by its request id for a contract; for a non-contract account, which
    /// has none, by listing the shipments made in a window around the attempt and
    /// reading each one `known` does not already claim, keeping those whose
    /// `customer-ref-1` is the order. `Ok(empty)` only when the search answered that
    /// nothing matches; any read that fails fails the whole search (wait, never create).
    pub fn find_attempt(
        &self,
        attempt: &Attempt,
        known: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<ShipmentInfo>, CanadaPostError> {
        match self.account {
            AccountKind::Contract => self
                .find_by_request_id(attempt.request_id)?
                .iter()
                .map(|link| self.shipment(link))
                .collect(),
            AccountKind::NonContract => {
                let window = SearchWindow::around(
                    attempt.at,
                    chrono::Duration::minutes(SEARCH_MARGIN_MINUTES),
                    chrono::Duration::seconds(
                        i64::try_from(self.request_timeout.as_secs()).unwrap_or(60),
                    ),
                );
                let mut found = Vec::new();
                for link in self.list_window(&window)? {
                    // The link ends with the shipment id: one bbship knows is not read.
                    if link.href.rsplit('/').next().is_some_and(known) {
                        continue;
                    }
                    let info = self.shipment(&link)?;
                    if known(info.shipment_id.as_str()) {
                        continue;
                    }
                    let details_link = info.link("details").cloned().ok_or_else(|| {
                        CanadaPostError::BadResponse(format!(
                            "non-contract shipment {} has no `details` link",
                            info.shipment_id
                        ))
                    })?;
                    self.check_link(&details_link)?;
                    let response =
                        self.read(&self.shipping, &details_link.href, self.media_type())?;
                    let details = self.expected_answer(
                        &response,
                        "non-contract-shipment-details",
                        answers::shipment_details,
                    )?;
                    if details.customer_ref_1.as_deref().map(str::trim)
                        == Some(attempt.order_reference)
                    {
                        found.push(ShipmentInfo {
                            customer_request_id: details.customer_ref_2,
                            ..info
                        });
                    }
                }
                Ok(found)
            }
        }
    }

    /// Get Non-Contract Shipments for a window (Eastern time): every link, whatever its
    /// rel (the schema says `shipment`; nothing else is listed).
    fn list_window(&self, window: &SearchWindow) -> Result<Vec<Link>, CanadaPostError> {
        let (from, to) = window.query();
        let url = format!("{}?from={from}&to={to}", self.shipments_url());
        let response = self.read(&self.shipping, &url, self.media_type())?;
        let links = self.expected_answer(&response, "non-contract-shipments", |root| {
            Ok(answers::all_links(root))
        })?;
        for link in &links {
            self.check_link(link)?;
        }
        Ok(links)
    }

    /// What a shipment cost when its create answer did not say (one read): a contract
    /// shipment's `price` link (Get Shipment Price: a shipment found by the request-id
    /// lookup, or read again, comes without `shipment-price`), a non-contract shipment's
    /// `receipt` link. `Ok(None)`: no such link, or an answer without a readable amount
    /// (unknown, never zero).
    pub fn postage(&self, links: &[Link]) -> Result<Option<Postage>, CanadaPostError> {
        let (rel, root) = match self.account {
            AccountKind::Contract => ("price", "shipment-price"),
            AccountKind::NonContract => ("receipt", "non-contract-shipment-receipt"),
        };
        let Some(link) = links.iter().find(|link| link.rel == rel) else {
            return Ok(None);
        };
        self.check_link(link)?;
        let response = self.read(&self.shipping, &link.href, self.media_type())?;
        self.expected_answer(&response, root, |root| Ok(answers::price_amounts(root)))
    }

    /// The shipments created with this `customer-request-id`: `Ok(empty)` only when
    /// Canada Post answered with an empty, well-formed `<shipments/>`.
    pub fn find_by_request_id(&self, request_id: &RequestId) -> Result<Vec<Link>, CanadaPostError> {
        let url = format!(
            "{}?requestId={}",
            self.shipments_url(),
            http::encode_component(request_id.as_str())
        );
        let response = self.read(&self.shipping, &url, SHIPMENT_MEDIA_TYPE)?;
        let links = self.expected_answer(&response, "shipments", answers::shipment_links)?;
        for link in &links {
            self.check_link(link)?;
        }
        Ok(links)
    }

    /// A read-only call that proves the credentials and the account numbers: the
    /// request-id lookup for an id no shipment has (Canada Post checks the key, the host
    /// and the mailed-by/mobo pair, then answers an empty list). Buys nothing.
    pub fn probe(&self) -> Result<(), CanadaPostError> {
        if self.account == AccountKind::NonContract {
            // The non-contract search over the last minutes: read-only, and it proves
            // the key, the host and the mailed-by number the same way.
            let now = chrono::Utc::now();
            let window = SearchWindow::around(
                now - chrono::Duration::minutes(5),
                chrono::Duration::zero(),
                chrono::Duration::minutes(5),
            );
            return self.list_window(&window).map(|_| ());
        }
        let millis = chrono::Utc::now().timestamp_millis();
        let request_id = RequestId::try_from(format!("bbship-check-{millis}"))
            .map_err(CanadaPostError::BadResponse)?;
        self.find_by_request_id(&request_id).map(|_| ())
    }

    /// POSTs a Request Shipment Refund body to the shipment's `refund` link, once. In a
    /// dry run it prints the request instead and returns `Ok(None)`. Not repeated after
    /// it may have reached Canada Post: a second request for the same shipment is only
    /// refused ("already submitted"), but the caller decides whether to ask again.
    pub fn request_refund(
        &self,
        link: &Link,
        body: String,
        mode: WriteMode,
    ) -> Result<Option<RefundTicket>, CanadaPostError> {
        self.check_link(link)?;
        let request = self
            .request(Method::Post, link.href.clone(), self.media_type())
            .header("Content-Type", self.media_type())
            .body(body.into_bytes());
        if mode == WriteMode::Live {
            self.wait_out_throttle()?;
        }
        // Refund is Canada Post's group B; one request per command needs no pace of its
        // own, so it shares the shipping calls' budget.
        let response = match self.shipping.write(&request, mode) {
            Ok(Some(response)) => response,
            Ok(None) => return Ok(None),
            Err(error @ HttpError::NotSent { .. }) => {
                return Err(CanadaPostError::Transport(error));
            }
            Err(error) => return Err(CanadaPostError::unknown_refund(error.to_string())),
        };
        if is_throttle(&response) {
            // Refused without acting, like every throttled call.
            self.note_throttle();
            return Err(CanadaPostError::Throttled);
        }
        read_refund_answer(&response, self.account).map(Some)
    }

    /// GETs a shipment through its `self` (or lookup) link.
    pub fn shipment(&self, link: &Link) -> Result<ShipmentInfo, CanadaPostError> {
        self.check_link(link)?;
        let response = self.read(&self.shipping, &link.href, self.media_type())?;
        match self.account {
            AccountKind::Contract => {
                self.expected_answer(&response, "shipment-info", answers::shipment_info)
            }
            AccountKind::NonContract => self.expected_answer(
                &response,
                "non-contract-shipment-info",
                answers::non_contract_shipment_info,
            ),
        }
    }

    /// One download of a label artifact. Not-ready answers come back as such; the caller
    /// decides how long to keep asking.
    pub fn label(&self, link: &Link) -> Result<LabelDownload, CanadaPostError> {
        self.check_link(link)?;
        let accept = link.media_type.as_deref().unwrap_or(PDF_MEDIA_TYPE);
        let response = self.read(&self.shipping, &link.href, accept)?;
        if response.status == 202 {
            return Ok(LabelDownload::NotReady("HTTP 202".to_owned()));
        }
        if response.status == 404
            && answers::messages_in(&response.body).is_some_and(|messages| !messages.0.is_empty())
        {
            // Canada Post's own "The requested URL … was not found on this server": it
            // does not know the artifact. Say what it said; waiting will not change it.
            return Err(self.failure(&response));
        }
        if response.status == 404 {
            // A bare 404 right after a create may mean "not yet"; 90 days later,
            // "expired". The caller's bounded wait covers the first, a person the second.
            return Ok(LabelDownload::NotReady(
                "HTTP 404 (not ready yet, or the link has expired)".to_owned(),
            ));
        }
        if response.is_success() {
            if response.body.starts_with(b"%PDF") {
                return Ok(LabelDownload::Pdf(response.body));
            }
            if response.body.is_empty() {
                return Ok(LabelDownload::NotReady("an empty body".to_owned()));
            }
            if answers::messages_in(&response.body).is_none() {
                return Ok(LabelDownload::NotReady(format!(
                    "a body that is not a PDF yet ({}: {})",
                    response
                        .content_type
                        .as_deref()
                        .map_or_else(|| "no content type".to_owned(), crate::text::printable),
                    crate::text::printable(&response.body_excerpt())
                )));
            }
        }
        Err(self.failure(&response))
    }

    /// Get Tracking Summary for one PIN.
    pub fn tracking_summary(&self, pin: &TrackingPin) -> Result<Tracking, CanadaPostError> {
        let url = format!(
            "{}/vis/track/pin/{}/summary",
            self.base_url,
            http::encode_component(pin.as_str())
        );
        let response = self.read(&self.tracking, &url, TRACKING_MEDIA_TYPE)?;
        // 004 comes in a <messages> body whose status is unconfirmed: read the body first.
        if let Some(messages) = answers::messages_in(&response.body)
            && messages.has_code("004")
        {
            return Ok(Tracking::NoHistoryYet);
        }
        let summaries =
            self.expected_answer(&response, "tracking-summary", answers::tracking_summary)?;
        summaries
            .into_iter()
            .find(|summary| summary.pin == pin.as_str())
            .map(Tracking::Summary)
            .ok_or_else(|| {
                CanadaPostError::BadResponse(format!("the tracking summary is not about PIN {pin}"))
            })
    }

    /// GETs `url`; a throttle answer pauses the client and the read is tried once more
    /// after the pause when the cycle's budget allows it.
    fn read(
        &self,
        client: &ApiClient,
        url: &str,
        accept: &str,
    ) -> Result<Response, CanadaPostError> {
        let request = self.request(Method::Get, url.to_owned(), accept);
        for attempt in 0..2 {
            self.wait_out_throttle()?;
            let response = client
                .send(&request, Idempotency::Read)
                .map_err(CanadaPostError::Transport)?;
            if !is_throttle(&response) {
                return Ok(response);
            }
            self.note_throttle();
            if attempt == 1 {
                break;
            }
        }
        Err(CanadaPostError::Throttled)
    }

    /// Reads an answer whose root should be `expected`.
    fn expected_answer<T>(
        &self,
        response: &Response,
        expected: &str,
        read: impl FnOnce(&crate::canadapost::xml::Element) -> Result<T, String>,
    ) -> Result<T, CanadaPostError> {
        match answers::read(&response.body, expected, read) {
            Ok(Answer::Expected(value)) if response.is_success() => Ok(value),
            Ok(_) => Err(self.failure(response)),
            Err(problem) if response.is_success() => Err(CanadaPostError::BadResponse(problem)),
            Err(_) => Err(self.failure(response)),
        }
    }

    /// Turns a non-successful answer into the error the caller branches on.
    fn failure(&self, response: &Response) -> CanadaPostError {
        let messages = answers::messages_in(&response.body);
        if let Some(messages) = &messages
            && messages.is_authentication_failure()
        {
            return unauthorized(response.status, messages);
        }
        match response.status {
            401 | 403 => unauthorized(response.status, &messages.unwrap_or_default()),
            404 => CanadaPostError::NotFound {
                detail: messages
                    .filter(|messages| !messages.0.is_empty())
                    .map_or_else(|| "(the requested resource)".to_owned(), |m| m.to_string()),
            },
            500..=599 => CanadaPostError::Unavailable {
                status: response.status,
                detail: messages
                    .map(|messages| messages.to_string())
                    .unwrap_or_else(|| response.body_excerpt()),
            },
            status => match messages {
                Some(messages) => CanadaPostError::Rejected { status, messages },
                None => CanadaPostError::BadResponse(format!(
                    "HTTP {status}: {}",
                    response.body_excerpt()
                )),
            },
        }
    }

    fn check_link(&self, link: &Link) -> Result<(), CanadaPostError> {
        if link.href.starts_with(&format!("{}/", self.origin)) {
            Ok(())
        } else {
            Err(CanadaPostError::BadResponse(format!(
                "a `{}` link points outside {} ({}); not followed",
                crate::text::printable(&link.rel),
                self.origin,
                crate::text::printable(&link.href)
            )))
        }
    }

    /// Blocks while the client is paused by a throttle, or fails at once when the pause
    /// would outlast the cycle's budget.
    fn wait_out_throttle(&self) -> Result<(), CanadaPostError> {
        let until = *self
            .paused_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(until) = until {
            let now = Instant::now();
            if until > now {
                if until > self.deadline {
                    return Err(CanadaPostError::Throttled);
                }
                std::thread::sleep(until - now);
            }
        }
        Ok(())
    }

    fn note_throttle(&self) {
        let until = Instant::now() + self.throttle_pause;
        let mut paused = self
            .paused_until
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if paused.is_none_or(|current| current < until) {
            log::warn!(
                "Canada Post answered \"Rejected by SLM Monitor\": pausing Canada Post calls for {} s",
                self.throttle_pause.as_secs()
            );
            *paused = Some(until);
        }
    }
}

/// What a Create Shipment answer means. Only a complete `<shipment-info>` (id, PIN, label
/// link) with a 2xx status is a shipment, and only a 4xx `<messages>` that says why is a
/// refusal (nothing was bought, so a later run may create). Anything else, the throttle
/// included, may hide a shipment: an unknown outcome, settled by the request-id lookup,
/// never by a second create. A pure function, so the fuzz tests can hold it to that.
pub(crate) fn read_create_answer(
    response: &Response,
    account: AccountKind,
) -> Result<ShipmentInfo, CanadaPostError> {
    let status = response.status;
    let answer = match account {
        AccountKind::Contract => answers::read(
            &response.body,
            "shipment-info",
            answers::created_shipment_info,
        ),
        AccountKind::NonContract => {
            answers::read(&response.body, "non-contract-shipment-info", |root| {
                answers::created(answers::non_contract_shipment_info(root)?)
            })
        }
    };
    match answer {
        Ok(Answer::Expected(info)) if response.is_success() => Ok(info),
        Ok(Answer::Messages(messages)) if messages.is_throttle() => {
            Err(CanadaPostError::unknown_create(
                "Canada Post answered \"Rejected by SLM Monitor\"".to_owned(),
            ))
        }
        Ok(Answer::Messages(messages)) if messages.is_authentication_failure() => {
            Err(unauthorized(status, &messages))
        }
        Ok(Answer::Messages(messages))
            if (400..500).contains(&status) && !messages.0.is_empty() =>
        {
            if matches!(status, 401 | 403) {
                return Err(unauthorized(status, &messages));
            }
            Err(CanadaPostError::Rejected { status, messages })
        }
        Ok(Answer::Messages(messages)) => Err(CanadaPostError::unknown_create(format!(
            "HTTP {status}: {messages}"
        ))),
        Ok(Answer::Expected(_)) => Err(CanadaPostError::unknown_create(format!(
            "HTTP {status} with a shipment's body"
        ))),
        Err(problem) => Err(CanadaPostError::unknown_create(format!(
            "HTTP {status}: {problem}"
        ))),
    }
}

/// What a refund answer means: a 2xx `<shipment-refund-request-info>` is a registered
/// request, a 4xx `<messages>` a refusal (an earlier request, a used label), anything
/// else an unknown outcome.
pub(crate) fn read_refund_answer(
    response: &Response,
    account: AccountKind,
) -> Result<RefundTicket, CanadaPostError> {
    let status = response.status;
    let root = match account {
        AccountKind::Contract => "shipment-refund-request-info",
        AccountKind::NonContract => "non-contract-shipment-refund-request-info",
    };
    match answers::read(&response.body, root, answers::refund_request_info) {
        Ok(Answer::Expected(ticket)) if response.is_success() => Ok(ticket),
        Ok(Answer::Messages(messages))
            if messages.is_authentication_failure() || matches!(status, 401 | 403) =>
        {
            Err(unauthorized(status, &messages))
        }
        Ok(Answer::Messages(messages)) if (400..500).contains(&status) => {
            Err(CanadaPostError::Rejected { status, messages })
        }
        Ok(Answer::Messages(messages)) => Err(CanadaPostError::unknown_refund(format!(
            "HTTP {status}: {messages}"
        ))),
        Ok(Answer::Expected(_)) => Err(CanadaPostError::unknown_refund(format!(
            "HTTP {status} with a <{root}> body"
        ))),
        Err(problem) => Err(CanadaPostError::unknown_refund(format!(
            "HTTP {status}: {problem}"
        ))),
    }
}

fn unauthorized(status: u16, messages: &Messages) -> CanadaPostError {
    CanadaPostError::Unauthorized(UsageError(format!(
        "Canada Post refused the credentials (HTTP {status}: {messages}); check CANADAPOST_USERNAME \
         and CANADAPOST_PASSWORD, that they belong to `canada_post.base_url` (development keys work \
         only on ct.soa-gw.canadapost.ca), and canada_post.customer_number / mobo"
    )))
}

/// Canada Post's throttle answer, whatever its HTTP status.
fn is_throttle(response: &Response) -> bool {
    answers::messages_in(&response.body).is_some_and(|messages| messages.is_throttle())
}

fn origin_of(base_url: &str) -> String {
    let after_scheme = base_url.find("://").map_or(0, |index| index + 3);
    match base_url[after_scheme..].find('/') {
        Some(slash) => base_url[..after_scheme + slash].to_owned(),
        None => base_url.to_owned(),
    }
}

/// Standard base64 with padding (RFC 4648 §4), for the Basic credentials.
fn base64(input: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected, "{input}");
        }
    }

    fn read_create_answer_contract(response: &Response) -> Result<ShipmentInfo, CanadaPostError> {
        read_create_answer(response, AccountKind::Contract)
    }

    fn read_refund_answer_contract(response: &Response) -> Result<RefundTicket, CanadaPostError> {
        read_refund_answer(response, AccountKind::Contract)
    }

    fn answer(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: Some(SHIPMENT_MEDIA_TYPE.to_owned()),
            retry_after: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn only_a_complete_shipment_is_a_shipment_and_only_a_reasoned_4xx_a_refusal() {
        let fixture = |name: &str| {
            std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/canada-post")
                    .join(name),
            )
            .unwrap()
        };
        let created = fixture("create-shipment-response.xml");
        let refusal = fixture("create-shipment-validation-error.xml");
        assert!(read_create_answer_contract(&answer(200, &created)).is_ok());
        assert!(matches!(
            read_create_answer_contract(&answer(400, &refusal)),
            Err(CanadaPostError::Rejected { status: 400, .. })
        ));
        let slm = "<messages><message><code>Server</code><description>Rejected by SLM Monitor</description></message></messages>";
        let unknown = [
            (500, created.as_str()),
            (200, refusal.as_str()),
            (500, refusal.as_str()),
            (400, "<messages/>"),
            (400, slm),
            (200, "<html><body>Bad Gateway</body></html>"),
            (
                200,
                "<shipment-info><shipment-id>1</shipment-id></shipment-info>",
            ),
            (200, &created[..created.len() / 2]),
            (200, ""),
        ];
        for (status, body) in unknown {
            assert!(
                matches!(
                    read_create_answer_contract(&answer(status, body)),
                    Err(CanadaPostError::UnknownOutcome {
                        write: Write::CreateShipment,
                        ..
                    })
                ),
                "HTTP {status}: {body}"
            );
        }
        let auth = "<messages><message><code>AA002</code><description>x</description></message></messages>";
        assert!(
            read_create_answer_contract(&answer(401, auth))
                .is_err_and(|error| error.is_unauthorized())
        );
    }

    #[test]
    fn only_a_2xx_ticket_is_a_refund_and_only_a_4xx_message_a_refusal() {
        let ticket = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/canada-post/shipment-refund-response.xml"),
        )
        .unwrap();
        let refused = "<messages><message><code>9010</code><description>A refund request has already been submitted</description></message></messages>";
        assert_eq!(
            read_refund_answer_contract(&answer(200, &ticket))
                .unwrap()
                .service_ticket_id,
            "GT12345678RT"
        );
        assert!(matches!(
            read_refund_answer_contract(&answer(400, refused)),
            Err(CanadaPostError::Rejected { status: 400, .. })
        ));
        for (status, body) in [
            (500, ticket.as_str()),
            (500, refused),
            (200, "<html/>"),
            (200, ""),
        ] {
            assert!(
                matches!(
                    read_refund_answer_contract(&answer(status, body)),
                    Err(CanadaPostError::UnknownOutcome {
                        write: Write::Refund,
                        ..
                    })
                ),
                "HTTP {status}: {body}"
            );
        }
        let auth =
            "<messages><message><code>E002</code><description>x</description></message></messages>";
        assert!(
            read_refund_answer_contract(&answer(401, auth))
                .is_err_and(|error| error.is_unauthorized())
        );
    }

    #[test]
    fn the_origin_is_scheme_and_host() {
        assert_eq!(
            origin_of("https://soa-gw.canadapost.ca"),
            "https://soa-gw.canadapost.ca"
        );
        assert_eq!(
            origin_of("http://127.0.0.1:8080/prefix"),
            "http://127.0.0.1:8080"
        );
    }
}
