//! The project's fake APIs, on 127.0.0.1 with an ephemeral port, for the tests, the
//! sandbox and the benchmark: a crate of its own that the installed `bbship` never
//! contains. It reads what bbship sends with its own code (`xml`, and the `base64` and
//! `percent-encoding` crates), never the client's, so a client bug cannot hide in both;
//! `config` writes the bbship configuration that points at a fake, `xsd` is the tests'
//! schema check, and `bench` (feature `bench`) the benchmark's scenarios, the only part
//! that drives bbship's library.
//!
//! It is strict like the real services, so a client bug fails here first, and it
//! misbehaves on request: scripted faults (`FaultRule`) answer 429/5xx/HTML or any body
//! without acting, reply slowly, drop the connection before or after acting, or act and
//! then send a garbled or cut-short answer; seeded storms scatter them (`Storm`), and a
//! test can hold a request to kill its client (`halt_at`). Hostile orders inside a good
//! listing are `FakeOrder`s with `JsonEdit`s. A fixed `FakeOptions::latency` makes every
//! request take as long as a real network round trip would (the benchmark measures
//! concurrency with it). Every request is logged, with the time it was handled, so tests
//! can assert on exactly what was sent and the benchmark can measure rates. Best Buy lives in `bestbuy`
//! (under `/api`), Canada Post in `canadapost` (under `/rs` and `/vis`), behind one
//! router and one fault mechanism.

#[cfg(feature = "bench")]
pub mod bench;
mod bestbuy;
mod canadapost;
pub mod config;
mod http_server;
pub mod label_pdf;
mod ncshipment;
mod orders;
mod storm;
mod xml;
pub mod xsd;

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub use canadapost::{FakeRefund, FakeShipment, pin_for};
use http_server::{HttpRequest, HttpResponse, Reply};
pub use orders::{FakeAddress, FakeLine, FakeOrder, JsonEdit, sandbox_orders};
pub use storm::Storm;

/// Fails the calling test with this one line, say that a system tool it needs is missing:
/// no panic location, no backtrace, however `RUST_BACKTRACE` is set.
pub fn fail_test(line: &str) -> ! {
    eprintln!("{line}");
    std::panic::resume_unwind(Box::new(line.to_owned()))
}

/// Every file below `root`, recursively, sorted: what a run left on disk, for the tests
/// and the sandbox to look at.
pub fn files_below(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(directory) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&directory) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// How the fake behaves. `FakeOptions::default()` is a fast, well-behaved fake: orders
/// are paid at once, no latency, no throttle.
#[derive(Clone, Debug)]
pub struct FakeOptions {
    /// The exact `Authorization` value Best Buy accepts (the bare key).
    pub api_key: String,
    /// After acceptance the order waits for payment this long, then becomes SHIPPING.
    /// `None`: it waits until `FakeServer::complete_payments`.
    pub payment_delay: Option<Duration>,
    /// For this long after a 204 accept, listings still show the order as waiting.
    pub accept_lag: Duration,
    /// The same, counted in listings: this many OR11 calls (of any kind) after a 204
    /// accept still show the order as waiting.
    pub accept_lag_reads: usize,
    /// The Canada Post API key (Basic credentials) the fake accepts.
    pub canada_post_username: String,
    pub canada_post_password: String,
    /// Each label answers 202 (not ready) to this many downloads before the PDF.
    pub label_not_ready_downloads: usize,
    /// Every label link answers as Canada Post does for an artifact it does not know:
    /// HTTP 404 with its own `<messages>` ("The requested URL … was not found on this
    /// server.").
    pub labels_gone: bool,
    /// The `<shipment-status>` of each shipment created, in the create answer and in Get
    /// Shipment; `None` leaves the element out. Real contract creates with
    /// `transmit-shipment` answer `transmitted`.
    pub shipment_status: Option<String>,
    /// Each fresh PIN answers `004 No Pin History` to this many tracking calls.
    pub no_pin_history_calls: usize,
    /// "Rejected by SLM Monitor" once this many calls of one throttle group arrived
    /// within a rolling minute: the shipment groups (A: create, get, label; B: refund;
    /// C: lookup by request id), each counted on its own.
    pub canada_post_calls_per_minute: Option<u32>,
    /// The same for tracking (group E), whose real limit is the lowest.
    pub canada_post_tracking_calls_per_minute: Option<u32>,
    /// Every request waits this long before it is handled (logged, throttled, answered),
    /// as a stand-in for the network and the service's own time. Requests on different
    /// connections wait side by side, as they would on the real services.
    pub latency: Duration,
    /// Canada Post's clock against this machine's: non-contract shipments are dated
    /// this much later (negative: earlier) than now, as a server clock that is off would
    /// date them. `None`: the same clock.
    pub non_contract_clock_offset: Option<chrono::Duration>,
}

impl Default for FakeOptions {
    fn default() -> Self {
        FakeOptions {
            api_key: "fake-bestbuy-key".to_owned(),
            payment_delay: Some(Duration::ZERO),
            accept_lag: Duration::ZERO,
            accept_lag_reads: 0,
            canada_post_username: "fake-canada-post-user".to_owned(),
            canada_post_password: "fake-canada-post-password".to_owned(),
            label_not_ready_downloads: 0,
            labels_gone: false,
            shipment_status: Some("transmitted".to_owned()),
            no_pin_history_calls: 1,
            canada_post_calls_per_minute: None,
            canada_post_tracking_calls_per_minute: None,
            latency: Duration::ZERO,
            non_contract_clock_offset: None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    ListOrders,
    Accept,
    Tracking,
    Ship,
    Carriers,
    /// Canada Post: POST …/shipment.
    CreateShipment,
    /// Canada Post: GET …/shipment?requestId=.
    FindShipment,
    /// Canada Post: GET …/shipment/{id}.
    GetShipment,
    /// Canada Post: GET …/shipment/{id}/details (the `details` link).
    ShipmentDetails,
    /// Canada Post: GET the label artifact.
    Label,
    /// Canada Post: GET /vis/track/pin/{pin}/summary.
    TrackingSummary,
    /// Canada Post: POST …/shipment/{id}/refund (the `refund` link).
    Refund,
    /// Canada Post: what a label cost, read after its create: GET …/shipment/{id}/price
    /// (the `price` link, Get Shipment Price) for a contract shipment, GET
    /// …/ncshipment/{id}/receipt (the `receipt` link) for a non-contract one. The
    /// non-contract create, list, shipment, details and refund count as the contract
    /// endpoints of the same job.
    Price,
    /// Anything under `/hooks/`: a stand-in for an alert webhook or a healthcheck, which
    /// answers 200 and keeps what it got.
    Hook,
    Other,
}

#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub endpoint: Endpoint,
    pub order_id: Option<String>,
    /// The status answered; `None` when the connection was dropped.
    pub status: Option<u16>,
    /// When the fake began handling it (after `FakeOptions::latency`): the moment its
    /// throttle counts.
    pub at: Instant,
}

#[derive(Clone, Debug)]
pub struct FaultRule {
    pub endpoint: Endpoint,
    /// Only requests about this order (by path).
    pub order_id: Option<String>,
    /// Let this many matching requests through first.
    pub skip: usize,
    /// Then apply the fault to this many.
    pub times: usize,
    pub fault: Fault,
}

#[derive(Clone, Debug)]
pub enum Fault {
    /// Answer this instead, without acting.
    Status {
        status: u16,
        retry_after: Option<String>,
        body: String,
        content_type: String,
    },
    /// An HTML page (an IP allow-list block, a proxy error), without acting.
    Html { status: u16 },
    /// Wait, then act and answer normally.
    Slow(Duration),
    /// Close the connection without acting or answering.
    DropBeforeActing,
    /// Act, then close the connection without answering.
    DropAfterActing,
    /// The API's own throttle, without acting: Best Buy answers 429 with `Retry-After: 1`,
    /// Canada Post 503 "Rejected by SLM Monitor".
    Throttled,
    /// Act, then answer this instead of the real answer: the service did its work and
    /// what came back is garbage.
    AnswerAfterActing {
        status: u16,
        body: String,
        content_type: String,
    },
    /// Act, then send the real answer's status and headers (its full `Content-Length`)
    /// but only the first `keep` bytes of its body, and close the connection.
    CutShortAfterActing { keep: usize },
}

/// Where the fake stops a client to let a test kill it: before it acts on the request
/// (nothing happened) or after it acted but before it answers (it happened, and the
/// client never learns).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HaltWhen {
    BeforeActing,
    AfterActing,
}

/// The armed halt: the `at`-th request (from 0) since arming is held until released.
struct HaltPoint {
    at: usize,
    when: HaltWhen,
    seen: usize,
}

/// Whether a request is being held, and whether the test has let it go.
#[derive(Default)]
struct HaltSignal {
    halted: bool,
    released: bool,
}

struct State {
    orders: BTreeMap<String, bestbuy::OrderEntry>,
    canada_post: canadapost::CanadaPostState,
    faults: Vec<FaultRule>,
    storm: Option<storm::StormState>,
    halt: Option<HaltPoint>,
    log: Vec<RecordedRequest>,
}

struct Shared {
    options: FakeOptions,
    base_url: String,
    state: Mutex<State>,
    halt_signal: Mutex<HaltSignal>,
    halt_changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn halt_signal(&self) -> MutexGuard<'_, HaltSignal> {
        self.halt_signal
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Holds the calling request until the test releases it.
    fn hold(&self) {
        let mut signal = self.halt_signal();
        signal.halted = true;
        self.halt_changed.notify_all();
        while !signal.released {
            signal = self
                .halt_changed
                .wait(signal)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    fn handle(&self, request: HttpRequest) -> Reply {
        if !self.options.latency.is_zero() {
            std::thread::sleep(self.options.latency);
        }
        let is_bestbuy = request.path == "/api" || request.path.starts_with("/api/");
        let (index, fault, endpoint, halt) = {
            let mut state = self.lock();
            let (endpoint, order_id) = if request.path.starts_with("/hooks/") {
                (Endpoint::Hook, None)
            } else if is_bestbuy {
                bestbuy::classify(&request)
            } else {
                canadapost::classify(&request, &state.canada_post)
            };
            state.log.push(RecordedRequest {
                method: request.method.clone(),
                path: request.path.clone(),
                query: request.query.clone(),
                headers: request.headers.clone(),
                body: request.body.clone(),
                endpoint,
                order_id: order_id.clone(),
                status: None,
                at: Instant::now(),
            });
            let index = state.log.len() - 1;
            let halt = state.halt.as_mut().and_then(|halt| {
                let here = halt.seen == halt.at;
                halt.seen += 1;
                here.then_some(halt.when)
            });
            let fault = take_fault(&mut state.faults, endpoint, order_id.as_deref())
                .or_else(|| state.storm.as_mut().and_then(storm::StormState::next_fault));
            (index, fault, endpoint, halt)
        };
        let order_id = self
            .lock()
            .log
            .get(index)
            .and_then(|entry| entry.order_id.clone());

        let act = |shared: &Shared| -> HttpResponse {
            let mut guard = shared.lock();
            let state = &mut *guard;
            if endpoint == Endpoint::Hook {
                HttpResponse::new(200, "text/plain", "ok")
            } else if is_bestbuy {
                bestbuy::handle(
                    &shared.options,
                    &mut state.orders,
                    &request,
                    endpoint,
                    order_id.as_deref(),
                )
            } else {
                canadapost::handle(
                    &shared.options,
                    &shared.base_url,
                    &mut state.canada_post,
                    &request,
                    endpoint,
                )
            }
        };
        match halt {
            Some(HaltWhen::BeforeActing) => {
                self.hold();
                return Reply::Drop;
            }
            Some(HaltWhen::AfterActing) => {
                let _ = act(self);
                self.hold();
                return Reply::Drop;
            }
            None => {}
        }
        let reply = match fault {
            None => Reply::Respond(act(self)),
            Some(Fault::Status {
                status,
                retry_after,
                body,
                content_type,
            }) => {
                let mut response = HttpResponse::new(status, &content_type, body);
                if let Some(retry_after) = retry_after {
                    response
                        .headers
                        .push(("Retry-After".to_owned(), retry_after));
                }
                Reply::Respond(response)
            }
            Some(Fault::Html { status }) => Reply::Respond(HttpResponse::new(
                status,
                "text/html; charset=utf-8",
                "<!DOCTYPE html><html><body><h1>Access denied</h1><p>Your IP is not allowed.</p></body></html>",
            )),
            Some(Fault::Slow(delay)) => {
                std::thread::sleep(delay);
                Reply::Respond(act(self))
            }
            Some(Fault::DropBeforeActing) => Reply::Drop,
            Some(Fault::DropAfterActing) => {
                let _ = act(self);
                Reply::Drop
            }
            Some(Fault::Throttled) if is_bestbuy => {
                let mut response = HttpResponse::json(
                    429,
                    &serde_json::json!({"status": 429, "message": "Too Many Requests"}),
                );
                response
                    .headers
                    .push(("Retry-After".to_owned(), "1".to_owned()));
                Reply::Respond(response)
            }
            Some(Fault::Throttled) => Reply::Respond(canadapost::slm_rejection()),
            Some(Fault::AnswerAfterActing {
                status,
                body,
                content_type,
            }) => {
                let _ = act(self);
                Reply::Respond(HttpResponse::new(status, &content_type, body))
            }
            Some(Fault::CutShortAfterActing { keep }) => Reply::CutShort(act(self), keep),
        };
        if let Reply::Respond(response) | Reply::CutShort(response, _) = &reply
            && let Some(entry) = self.lock().log.get_mut(index)
        {
            entry.status = Some(response.status);
        }
        reply
    }
}

/// Finds the first rule for this request, counts it down, and returns its fault if the
/// request falls in the rule's window.
fn take_fault(
    rules: &mut Vec<FaultRule>,
    endpoint: Endpoint,
    order_id: Option<&str>,
) -> Option<Fault> {
    let position = rules.iter().position(|rule| {
        rule.endpoint == endpoint
            && rule
                .order_id
                .as_deref()
                .is_none_or(|wanted| Some(wanted) == order_id)
    })?;
    let rule = &mut rules[position];
    if rule.skip > 0 {
        rule.skip -= 1;
        return None;
    }
    let fault = rule.fault.clone();
    rule.times = rule.times.saturating_sub(1);
    if rule.times == 0 {
        rules.remove(position);
    }
    Some(fault)
}

/// A running fake. Dropping it stops it.
pub struct FakeServer {
    shared: Arc<Shared>,
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl FakeServer {
    pub fn start(options: FakeOptions) -> std::io::Result<FakeServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let shared = Arc::new(Shared {
            options,
            base_url: format!("http://{address}"),
            state: Mutex::new(State {
                orders: BTreeMap::new(),
                canada_post: canadapost::CanadaPostState::default(),
                faults: Vec::new(),
                storm: None,
                halt: None,
                log: Vec::new(),
            }),
            halt_signal: Mutex::new(HaltSignal::default()),
            halt_changed: Condvar::new(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let handler_shared = Arc::clone(&shared);
        let handler: http_server::Handler = Arc::new(move |request| handler_shared.handle(request));
        let acceptor_stop = Arc::clone(&stop);
        let acceptor =
            std::thread::spawn(move || http_server::serve(listener, acceptor_stop, handler));
        Ok(FakeServer {
            shared,
            address,
            stop,
            acceptor: Some(acceptor),
        })
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    pub fn bestbuy_url(&self) -> String {
        format!("{}/api", self.base_url())
    }

    pub fn add_order(&self, order: FakeOrder) {
        let id = order.order_id.clone();
        self.shared
            .lock()
            .orders
            .insert(id, bestbuy::OrderEntry::new(order));
    }

    pub fn add_orders(&self, orders: impl IntoIterator<Item = FakeOrder>) {
        for order in orders {
            self.add_order(order);
        }
    }

    /// The order's true state now (payments due are applied; the accept lag is not).
    pub fn order_state(&self, order_id: &str) -> Option<String> {
        let mut state = self.shared.lock();
        let entry = state.orders.get_mut(order_id)?;
        entry.settle(&self.shared.options, Instant::now());
        Some(entry.state.clone())
    }

    pub fn set_order_state(&self, order_id: &str, new_state: &str) {
        if let Some(entry) = self.shared.lock().orders.get_mut(order_id) {
            entry.state = new_state.to_owned();
        }
    }

    /// Every order waiting for payment becomes SHIPPING now.
    pub fn complete_payments(&self) {
        for entry in self.shared.lock().orders.values_mut() {
            entry.complete_payment();
        }
    }

    pub fn inject(&self, rule: FaultRule) {
        self.shared.lock().faults.push(rule);
    }

    /// From now on, a seeded share of requests (those no `FaultRule` claims) meet a fault
    /// drawn from the storm's mix; `None` calms it.
    pub fn storm(&self, storm: Option<Storm>) {
        self.shared.lock().storm = storm.map(storm::StormState::new);
    }

    /// Holds the `at`-th request (counting from 0, from now) `when` asked, until
    /// `release_halt`; the held request is then dropped unanswered. Meanwhile the test can
    /// kill the client, as a crash at exactly that request.
    pub fn halt_at(&self, at: usize, when: HaltWhen) {
        *self.shared.halt_signal() = HaltSignal::default();
        self.shared.lock().halt = Some(HaltPoint { at, when, seen: 0 });
    }

    /// Whether a request is held by `halt_at`.
    pub fn is_halted(&self) -> bool {
        self.shared.halt_signal().halted
    }

    /// Lets a held request go (unanswered) and disarms the halt.
    pub fn release_halt(&self) {
        self.shared.lock().halt = None;
        self.shared.halt_signal().released = true;
        self.shared.halt_changed.notify_all();
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().log.clone()
    }

    pub fn count(&self, endpoint: Endpoint) -> usize {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|request| request.endpoint == endpoint)
            .count()
    }

    pub fn write_count(&self) -> usize {
        self.shared
            .lock()
            .log
            .iter()
            .filter(|request| matches!(request.method.as_str(), "PUT" | "POST" | "DELETE"))
            .count()
    }

    /// Every shipment Canada Post created, in order.
    pub fn shipments(&self) -> Vec<FakeShipment> {
        self.shared.lock().canada_post.shipments.clone()
    }

    /// The shipments created for one order (by `customer-ref-1`).
    pub fn shipments_for(&self, order_id: &str) -> Vec<FakeShipment> {
        self.shipments()
            .into_iter()
            .filter(|shipment| shipment.order_reference == order_id)
            .collect()
    }

    /// Sets a shipment's `<shipment-status>` (`None`: none), as a person transmitting it
    /// on Canada Post's website would.
    pub fn set_shipment_status(&self, shipment_id: &str, status: Option<&str>) {
        if let Some(shipment) = self
            .shared
            .lock()
            .canada_post
            .shipments
            .iter_mut()
            .find(|shipment| shipment.shipment_id == shipment_id)
        {
            shipment.status = status.map(str::to_owned);
        }
    }

    /// Buys a second label exactly like `shipment_id` (same order, request id, time and
    /// account kind; a new id, PIN and artifact), as a create bbship never saw would: the
    /// duplicate a search must report.
    pub fn duplicate_shipment(&self, shipment_id: &str) {
        let mut shared = self.shared.lock();
        let shipments = &mut shared.canada_post.shipments;
        let serial = shipments.len() as u64 + 1;
        if let Some(mut copy) = shipments
            .iter()
            .find(|shipment| shipment.shipment_id == shipment_id)
            .cloned()
        {
            copy.shipment_id = format!("5478813154{serial:08}");
            copy.tracking_pin = canadapost::pin_for(&copy.mailed_by, serial);
            copy.artifact_id = format!("3000{serial:07}");
            shipments.push(copy);
        }
    }

    /// Every refund request Canada Post registered, in order (refused ones are not).
    pub fn refunds(&self) -> Vec<FakeRefund> {
        self.shared.lock().canada_post.refunds.clone()
    }

    /// How many calls the fake's own Canada Post throttle rejected (faults not counted).
    pub fn canada_post_throttled(&self) -> usize {
        self.shared.lock().canada_post.throttled
    }

    pub fn reset_log(&self) {
        self.shared.lock().log.clear();
    }

    /// Drops every fault rule not yet used up.
    pub fn reset_faults(&self) {
        self.shared.lock().faults.clear();
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.release_halt();
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.address, Duration::from_secs(1));
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}
