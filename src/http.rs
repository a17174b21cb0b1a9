//! HTTP for both API clients: one ureq agent per API, a token bucket per client (`rate`), bounded retries with
//! jittered backoff, `Retry-After`, capped response bodies, and dry runs.
//!
//! This layer never interprets an API's answers; it hands every status back to the API
//! client. What it does decide is whether repeating a request is safe. A read is
//! repeated on 429, 5xx and transport failures. A write is repeated only when the server
//! provably did not act on it: a 429, or a connection that was never made. Anything else
//! after a write was sent is `NoAnswer`, an unknown outcome that the caller resolves by
//! reading the state again, never by sending blind.
//!
//! Secrets only ever enter as `Secret` header values; request descriptions print them as
//! `[REDACTED]`, and every message this module produces goes through `secret::redact`.

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::rate::TokenBucket;
use crate::rng::Rng;
use crate::secret::{REDACTED, Secret, redact};

pub const USER_AGENT: &str = concat!("bbship/", env!("CARGO_PKG_VERSION"));

/// The largest response body read. Orders pages of 100 are a few hundred kilobytes and
/// labels tens; anything far larger is a fault, not data.
pub const DEFAULT_BODY_LIMIT: u64 = 8 * 1024 * 1024;

/// Whether a write is carried out or only shown. Every function that writes to an API or
/// to disk takes this from its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    Live,
    DryRun,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Put,
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Post => "POST",
        }
    }
}

#[derive(Clone, Debug)]
pub enum HeaderValue {
    Plain(String),
    Secret(Secret),
}

/// One request, complete: what is sent and what a dry run prints.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(&'static str, HeaderValue)>,
    /// `Some(empty)` sends `Content-Length: 0`, which some servers require on a PUT.
    pub body: Option<Vec<u8>>,
}

impl Request {
    pub fn new(method: Method, url: String) -> Request {
        Request {
            method,
            url,
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Request {
        self.headers.push((name, HeaderValue::Plain(value.into())));
        self
    }

    pub fn secret_header(mut self, name: &'static str, value: Secret) -> Request {
        self.headers.push((name, HeaderValue::Secret(value)));
        self
    }

    pub fn body(mut self, body: Vec<u8>) -> Request {
        self.body = Some(body);
        self
    }
}

impl fmt::Display for Request {
    /// The request as a person reads it, secrets redacted: method and URL, headers, body.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {}", self.method.as_str(), redact(&self.url))?;
        for (name, value) in &self.headers {
            match value {
                HeaderValue::Plain(value) => writeln!(f, "{name}: {}", redact(value))?,
                HeaderValue::Secret(_) => writeln!(f, "{name}: {REDACTED}")?,
            }
        }
        match &self.body {
            Some(body) if !body.is_empty() => {
                writeln!(f)?;
                writeln!(f, "{}", redact(&String::from_utf8_lossy(body)))
            }
            Some(_) => writeln!(f, "Content-Length: 0"),
            None => Ok(()),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Whether the declared media type is `essence` (parameters such as charset ignored).
    pub fn has_content_type(&self, essence: &str) -> bool {
        self.content_type.as_deref().is_some_and(|value| {
            value
                .split(';')
                .next()
                .is_some_and(|found| found.trim().eq_ignore_ascii_case(essence))
        })
    }

    /// The start of the body as text, for error messages.
    pub fn body_excerpt(&self) -> String {
        crate::text::excerpt(&String::from_utf8_lossy(&self.body))
    }
}

/// A request that got no usable HTTP answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The request never left this machine (no connection, bad address): repeating it is
    /// safe.
    #[error("could not reach {}: {}", redact(url), redact(reason))]
    NotSent { url: String, reason: String },
    /// The request may have reached the server, which may have acted on it.
    #[error(
        "no answer from {} ({}); the server may or may not have acted",
        redact(url),
        redact(reason)
    )]
    NoAnswer { url: String, reason: String },
    /// The answer was larger than the cap.
    #[error(
        "the answer from {} was larger than {limit} bytes, the most bbship reads of one answer; \
         it was not read",
        redact(url)
    )]
    TooLarge { url: String, limit: u64 },
}

impl HttpError {
    pub fn is_unknown_outcome(&self) -> bool {
        matches!(self, HttpError::NoAnswer { .. })
    }
}

/// Whether a request may be repeated after a failure the server may have acted on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Idempotency {
    Read,
    Write,
}

/// How hard to try, and for how long.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub max_retries: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub max_retry_after: Duration,
}

#[derive(Clone, Debug)]
pub struct ClientSettings {
    /// Who the requests go to, for messages ("Best Buy").
    pub api_name: &'static str,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub requests_per_minute: u32,
    pub retry: RetryPolicy,
    /// No retry wait may run past this instant (the end of the cycle's time budget).
    pub deadline: Instant,
    /// Recognises an API's own throttle answer (whatever its status). Such an answer is
    /// returned at once, not retried here: the API client pauses all its calls instead.
    pub is_throttle: fn(&Response) -> bool,
}

/// For APIs whose throttle is a plain 429 (handled by the retries).
pub fn no_throttle_body(_: &Response) -> bool {
    false
}

/// One API's connection: its agent, pace and retry policy.
pub struct ApiClient {
    settings: ClientSettings,
    agent: ureq::Agent,
    bucket: TokenBucket,
}

impl ApiClient {
    pub fn new(settings: ClientSettings) -> ApiClient {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(settings.connect_timeout))
            .timeout_global(Some(settings.request_timeout))
            .user_agent(USER_AGENT)
            // A redirect could carry credentials to another host; the APIs never send one.
            .max_redirects(0)
            .build()
            .into();
        let bucket = TokenBucket::per_minute(settings.requests_per_minute, Instant::now());
        ApiClient {
            settings,
            agent,
            bucket,
        }
    }

    /// Sends a request that changes something, or in a dry run prints it to standard
    /// output and sends nothing (`Ok(None)`).
    pub fn write(&self, request: &Request, mode: WriteMode) -> Result<Option<Response>, HttpError> {
        match mode {
            WriteMode::Live => self.send(request, Idempotency::Write).map(Some),
            WriteMode::DryRun => {
                let mut stdout = std::io::stdout().lock();
                let _ = writeln!(
                    stdout,
                    "[dry run] {} request not sent:",
                    self.settings.api_name
                );
                let _ = write!(stdout, "{request}");
                let _ = writeln!(stdout);
                Ok(None)
            }
        }
    }

    /// Sends a request, repeating it as far as `idempotency` makes that safe. Every HTTP
    /// status comes back as a `Response`; after the last retry the last answer does.
    pub fn send(&self, request: &Request, idempotency: Idempotency) -> Result<Response, HttpError> {
        let mut attempt = 0u32;
        loop {
            self.bucket.wait();
            let started = Instant::now();
            let result = self.send_once(request);
            let elapsed = started.elapsed();
            let wait = match &result {
                Ok(response) => {
                    log::debug!(
                        "{} {} {} -> {} ({} ms)",
                        self.settings.api_name,
                        request.method.as_str(),
                        redact(&request.url),
                        response.status,
                        elapsed.as_millis()
                    );
                    log::trace!("response body: {}", response.body_excerpt());
                    self.retry_wait(response, idempotency, attempt)
                }
                Err(error) => {
                    log::debug!(
                        "{} {} {} failed after {} ms: {error}",
                        self.settings.api_name,
                        request.method.as_str(),
                        redact(&request.url),
                        elapsed.as_millis()
                    );
                    let repeatable = match error {
                        HttpError::NotSent { .. } => true,
                        HttpError::NoAnswer { .. } => idempotency == Idempotency::Read,
                        HttpError::TooLarge { .. } => false,
                    };
                    repeatable.then(|| self.backoff(attempt))
                }
            };
            let Some(wait) = wait else {
                return result;
            };
            if attempt >= self.settings.retry.max_retries {
                return result;
            }
            if Instant::now() + wait > self.settings.deadline {
                log::warn!(
                    "{}: not retrying {} {}: the cycle's time budget would run out",
                    self.settings.api_name,
                    request.method.as_str(),
                    redact(&request.url)
                );
                return result;
            }
            attempt += 1;
            log::info!(
                "{}: retrying {} {} in {} ms (retry {attempt} of {})",
                self.settings.api_name,
                request.method.as_str(),
                redact(&request.url),
                wait.as_millis(),
                self.settings.retry.max_retries
            );
            std::thread::sleep(wait);
        }
    }

    /// How long to wait before repeating a request that got `response`, or `None` when it
    /// must not be repeated.
    fn retry_wait(
        &self,
        response: &Response,
        idempotency: Idempotency,
        attempt: u32,
    ) -> Option<Duration> {
        if (self.settings.is_throttle)(response) {
            return None;
        }
        match response.status {
            // The server refused without acting, so even a write may be repeated.
            429 => Some(
                response
                    .retry_after
                    .map(|wait| wait.min(self.settings.retry.max_retry_after))
                    .unwrap_or_else(|| self.backoff(attempt)),
            ),
            500..=599 if idempotency == Idempotency::Read => Some(
                response
                    .retry_after
                    .map(|wait| wait.min(self.settings.retry.max_retry_after))
                    .unwrap_or_else(|| self.backoff(attempt)),
            ),
            _ => None,
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        let policy = &self.settings.retry;
        let exponential = policy
            .initial_backoff
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(policy.max_backoff);
        jitter(exponential)
    }

    fn send_once(&self, request: &Request) -> Result<Response, HttpError> {
        let mut builder = ureq::http::Request::builder()
            .method(request.method.as_str())
            .uri(&request.url);
        for (name, value) in &request.headers {
            let value = match value {
                HeaderValue::Plain(value) => value.as_str(),
                HeaderValue::Secret(secret) => secret.expose(),
            };
            builder = builder.header(*name, value);
        }
        let not_sent = |reason: String| HttpError::NotSent {
            url: request.url.clone(),
            reason,
        };
        let outcome = match &request.body {
            Some(body) => {
                let http_request = builder
                    .body(body.as_slice())
                    .map_err(|error| not_sent(error.to_string()))?;
                self.agent.run(http_request)
            }
            None => {
                let http_request = builder
                    .body(())
                    .map_err(|error| not_sent(error.to_string()))?;
                self.agent.run(http_request)
            }
        };
        let mut response = outcome.map_err(|error| classify(&request.url, error))?;
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type");
        let retry_after = header("retry-after").and_then(|value| parse_retry_after(&value));
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(DEFAULT_BODY_LIMIT)
            .read_to_vec()
            .map_err(|error| match error {
                ureq::Error::BodyExceedsLimit(limit) => HttpError::TooLarge {
                    url: request.url.clone(),
                    limit,
                },
                other => classify(&request.url, other),
            })?;
        Ok(Response {
            status,
            content_type,
            retry_after,
            body,
        })
    }
}

/// Sorts a ureq failure into "never sent" and "may have been acted on".
fn classify(url: &str, error: ureq::Error) -> HttpError {
    use ureq::Timeout;
    let reason = error.to_string();
    let url = url.to_owned();
    match error {
        ureq::Error::HostNotFound
        | ureq::Error::ConnectionFailed
        | ureq::Error::BadUri(_)
        | ureq::Error::Http(_)
        | ureq::Error::Tls(_)
        | ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => {
            HttpError::NotSent { url, reason }
        }
        // Refused at connect: nothing was sent (a connection once made is never "refused").
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            HttpError::NotSent { url, reason }
        }
        ureq::Error::BodyExceedsLimit(limit) => HttpError::TooLarge { url, limit },
        _ => HttpError::NoAnswer { url, reason },
    }
}

/// `Retry-After` as seconds or as an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = date.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// A wait between half and all of `base`, so that clients that failed together do not
/// retry together. Randomness need not be strong here.
fn jitter(base: Duration) -> Duration {
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut state = STATE.load(Ordering::Relaxed);
    if state == 0 {
        state = u64::from(std::process::id())
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_nanos() as u64)
                .unwrap_or(0);
    }
    let x = Rng::new(state).next();
    STATE.store(x, Ordering::Relaxed);
    let fraction = 0.5 + (x % 1000) as f64 / 2000.0;
    base.mul_f64(fraction)
}

/// Everything but RFC 3986's unreserved characters is escaped in a path segment or a
/// query value.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment or query value (RFC 3986 unreserved kept).
pub fn encode_component(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, COMPONENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        let future = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        let wait = parse_retry_after(&future).unwrap();
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(30));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn jitter_stays_between_half_and_all() {
        for _ in 0..1000 {
            let wait = jitter(Duration::from_millis(1000));
            assert!(wait >= Duration::from_millis(500) && wait <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn components_are_percent_encoded() {
        assert_eq!(encode_component("261236951-A"), "261236951-A");
        assert_eq!(encode_component("a/b c,d"), "a%2Fb%20c%2Cd");
        assert_eq!(encode_component("é"), "%C3%A9");
    }

    #[test]
    fn a_refused_connection_is_a_request_never_sent() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/x", listener.local_addr().unwrap());
        drop(listener);
        let client = ApiClient::new(ClientSettings {
            api_name: "test",
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(2),
            requests_per_minute: 60_000,
            retry: RetryPolicy {
                max_retries: 0,
                initial_backoff: Duration::from_millis(1),
                max_backoff: Duration::from_millis(1),
                max_retry_after: Duration::from_millis(1),
            },
            deadline: Instant::now() + Duration::from_secs(10),
            is_throttle: no_throttle_body,
        });
        let request = Request::new(Method::Post, url).body(b"x".to_vec());
        let error = client.send(&request, Idempotency::Write).unwrap_err();
        assert!(matches!(error, HttpError::NotSent { .. }), "{error}");
    }

    #[test]
    fn a_printed_request_never_shows_a_secret() {
        let secret = Secret::new("the-api-key-value");
        let request = Request::new(Method::Put, "http://127.0.0.1/api/orders/1-A/ship".into())
            .secret_header("Authorization", secret)
            .header("Accept", "application/json")
            .body(Vec::new());
        let printed = request.to_string();
        assert!(!printed.contains("the-api-key-value"), "{printed}");
        assert!(printed.contains("Authorization: [REDACTED]"));
        assert!(printed.contains("Content-Length: 0"));
    }
}
