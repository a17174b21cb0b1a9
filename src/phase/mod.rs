//! The phases of a cycle, the only code that decides what to do with an order.
//!
//! Each phase reads the journal, calls API clients and records what it did; `run-all` and
//! the single-phase subcommands call the same phase functions. A step for one order ends
//! in an `OrderOutcome` or a `Failure`, and `for_each_order` is the one place that decides
//! what a failure means: `Failure::Order` is logged once as `phase: order X: reason`,
//! recorded in the phase's report, and the phase goes on with the next order;
//! `Failure::Stop` (a rejected key, a journal that cannot be written: every further call
//! is pointless) ends the run. A Best Buy listing that cannot be read ends its own phase
//! (there is nothing to work on) and the run goes on with the next.

pub mod accept;
pub mod label;
pub mod preflight;
pub mod ship;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::bestbuy::{BestBuyError, Order, OrderState};
use crate::canadapost::CanadaPostError;
use crate::config::Config;
use crate::data_dir::DataDir;
use crate::http::WriteMode;
use crate::ids::OrderId;
use crate::journal::Journal;

/// Everything a phase needs besides its API clients.
pub struct Cycle<'a> {
    pub config: &'a Config,
    pub data_dir: &'a DataDir,
    pub journal: &'a Journal,
    pub mode: WriteMode,
    /// `--order`: when set, only these orders are touched.
    pub only_orders: Option<BTreeSet<OrderId>>,
    /// No new order is started after this instant.
    pub deadline: Instant,
    /// Show a progress line per phase on standard error (a person at a terminal).
    pub progress: bool,
}

impl Cycle<'_> {
    pub fn selects(&self, order_id: &OrderId) -> bool {
        self.only_orders
            .as_ref()
            .is_none_or(|only| only.contains(order_id))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Accept,
    Label,
    Ship,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Accept => "accept",
            Phase::Label => "label",
            Phase::Ship => "ship",
        }
    }

    fn done_word(self) -> &'static str {
        match self {
            Phase::Accept => "accepted",
            Phase::Label => "labelled",
            Phase::Ship => "shipped",
        }
    }
}

/// What happened to one order in one phase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderOutcome {
    /// The phase's step was carried out (or found already carried out).
    Done,
    /// Dry run: the step's request was printed, not sent.
    WouldDo,
    /// Not for this phase now; the reason says why.
    Skipped(String),
    /// The step failed; the reason says why. The order is tried again next run.
    Failed(String),
    /// Not started because the cycle's time budget ran out.
    Deferred,
}

/// Why one order's step ended short of an outcome.
#[derive(Debug)]
pub(crate) enum Failure {
    /// This order failed, for this reason; the run goes on with the next order, and the
    /// next run tries it again.
    Order(String),
    /// Nothing further can work in this run (a refused credential, a journal that cannot
    /// be written): the run stops, and the error sets the exit code.
    Stop(anyhow::Error),
}

/// What a step for one order returns.
pub(crate) type Step<T = OrderOutcome> = std::result::Result<T, Failure>;

impl Failure {
    pub(crate) fn order(reason: impl Into<String>) -> Failure {
        Failure::Order(reason.into())
    }

    fn of_api(error: impl ApiError) -> Failure {
        match Failure::stop_if_refused(error) {
            Ok(error) => Failure::Order(error.to_string()),
            Err(stop) => stop,
        }
    }

    /// For a step that goes on after an API error (it reads again, waits, or notes it): a
    /// refused credential still stops the run; any other error is handed back as it is,
    /// for the step to branch on.
    pub(crate) fn stop_if_refused<E: ApiError>(error: E) -> Step<E> {
        if error.is_unauthorized() {
            Err(Failure::Stop(anyhow::Error::new(error)))
        } else {
            Ok(error)
        }
    }
}

/// An API client's error, which can say that the credentials were refused.
pub(crate) trait ApiError: std::error::Error + Send + Sync + 'static {
    fn is_unauthorized(&self) -> bool;
}

impl ApiError for BestBuyError {
    fn is_unauthorized(&self) -> bool {
        BestBuyError::is_unauthorized(self)
    }
}

impl ApiError for CanadaPostError {
    fn is_unauthorized(&self) -> bool {
        CanadaPostError::is_unauthorized(self)
    }
}

/// What a step could not write (the journal) or did not expect stops the run.
impl From<anyhow::Error> for Failure {
    fn from(error: anyhow::Error) -> Failure {
        Failure::Stop(error)
    }
}

/// A refused credential stops the run; any other API error fails only this order.
impl From<BestBuyError> for Failure {
    fn from(error: BestBuyError) -> Failure {
        Failure::of_api(error)
    }
}

/// A refused credential stops the run; any other API error fails only this order.
impl From<CanadaPostError> for Failure {
    fn from(error: CanadaPostError) -> Failure {
        Failure::of_api(error)
    }
}

/// What a phase works on, one item per order.
pub(crate) trait OrderItem {
    fn order_id(&self) -> &OrderId;
}

impl OrderItem for Order {
    fn order_id(&self) -> &OrderId {
        &self.id
    }
}

/// One phase's result: an outcome per order, and problems that belong to no single step.
#[derive(Clone, Debug)]
pub struct PhaseReport {
    pub phase: Phase,
    pub mode: WriteMode,
    /// Orders by the name the API gave them (which may not be a valid id).
    pub outcomes: Vec<(String, OrderOutcome)>,
    /// What went wrong outside any one order's step (a check after the phase that did
    /// not hold, a listing that could not be read), each saying what it concerns.
    pub problems: Vec<String>,
    /// For each order listed as waiting for acceptance: bbship's estimate of its
    /// acceptance deadline (Best Buy publishes none).
    pub acceptance_deadlines: BTreeMap<String, DateTime<Utc>>,
    /// The label phase: the postage this run bought.
    pub postage: Option<RunPostage>,
}

/// The postage a run bought: the sum of the known prices, and how many labels' prices
/// are unknown (never counted as zero).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RunPostage {
    pub known: crate::canadapost::money::Cad,
    pub unknown: i64,
}

impl RunPostage {
    pub fn plus(self, other: RunPostage) -> RunPostage {
        RunPostage {
            known: self.known.saturating_add(other.known),
            unknown: self.unknown.saturating_add(other.unknown),
        }
    }

    /// `50.85 CAD`, or `50.85 CAD + 1 label of unknown price`.
    pub fn describe(&self) -> String {
        if self.unknown == 0 {
            format!("{} CAD", self.known)
        } else {
            format!(
                "{} CAD + {} label(s) of unknown price",
                self.known, self.unknown
            )
        }
    }
}

impl PhaseReport {
    pub fn new(phase: Phase, mode: WriteMode) -> PhaseReport {
        PhaseReport {
            phase,
            mode,
            outcomes: Vec::new(),
            problems: Vec::new(),
            acceptance_deadlines: BTreeMap::new(),
            postage: None,
        }
    }

    /// Records a problem that belongs to no single order's step, and logs it once.
    pub(crate) fn problem(&mut self, problem: String) {
        log::error!("{}: {problem}", self.phase.name());
        self.problems.push(problem);
    }

    pub fn count(&self, wanted: fn(&OrderOutcome) -> bool) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, outcome)| wanted(outcome))
            .count()
    }

    /// Failed orders plus problems: anything that makes the exit code 1.
    /// Orders left for the next run because the time budget ran out.
    pub fn deferred(&self) -> usize {
        self.count(|outcome| *outcome == OrderOutcome::Deferred)
    }

    pub fn failures(&self) -> usize {
        self.count(|outcome| matches!(outcome, OrderOutcome::Failed(_))) + self.problems.len()
    }

    pub fn done(&self) -> Vec<&str> {
        self.outcomes
            .iter()
            .filter(|(_, outcome)| *outcome == OrderOutcome::Done)
            .map(|(order, _)| order.as_str())
            .collect()
    }
}

impl fmt::Display for PhaseReport {
    /// The summary line: `accept: 3 accepted, 1 failed, 0 skipped`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let done = self.count(|outcome| *outcome == OrderOutcome::Done);
        let would = self.count(|outcome| *outcome == OrderOutcome::WouldDo);
        let skipped = self.count(|outcome| matches!(outcome, OrderOutcome::Skipped(_)));
        let failed = self.count(|outcome| matches!(outcome, OrderOutcome::Failed(_)));
        let deferred = self.count(|outcome| *outcome == OrderOutcome::Deferred);
        write!(f, "{}: ", self.phase.name())?;
        if self.mode == WriteMode::DryRun {
            write!(f, "{would} would be {} (dry run)", self.phase.done_word())?;
        } else {
            write!(f, "{done} {}", self.phase.done_word())?;
        }
        write!(f, ", {failed} failed, {skipped} skipped")?;
        if deferred > 0 {
            write!(f, ", {deferred} left for the next run (time budget)")?;
        }
        if !self.problems.is_empty() {
            write!(f, ", {} check(s) did not hold", self.problems.len())?;
        }
        if let Some(postage) = &self.postage
            && self.mode == WriteMode::Live
        {
            write!(f, ", postage {}", postage.describe())?;
        }
        // The reasons, briefly: the full messages are the error lines above the summary.
        const SHOWN: usize = 5;
        const BRIEF: usize = 80;
        let reasons: Vec<String> = self
            .outcomes
            .iter()
            .filter_map(|(order, outcome)| match outcome {
                OrderOutcome::Failed(reason) => Some(format!(
                    "{}: {}",
                    crate::text::printable(order),
                    crate::text::first_clause(reason, BRIEF)
                )),
                _ => None,
            })
            .chain(
                self.problems
                    .iter()
                    .map(|problem| crate::text::first_clause(problem, BRIEF)),
            )
            .collect();
        if !reasons.is_empty() {
            write!(f, " — {}", reasons[..reasons.len().min(SHOWN)].join("; "))?;
            if reasons.len() > SHOWN {
                write!(f, "; and {} more", reasons.len() - SHOWN)?;
            }
        }
        Ok(())
    }
}

/// A read outside any one order's step that failed: a refused credential ends the run,
/// naming what was being done; any other error is handed back, for the phase's report.
pub(crate) fn stop_run_if_refused<E: ApiError>(doing: &str, error: E) -> Result<E> {
    if error.is_unauthorized() {
        Err(anyhow::Error::new(error).context(doing.to_owned()))
    } else {
        Ok(error)
    }
}

/// Ends a phase whose Best Buy listing failed: the failure is the phase's problem, and the
/// run goes on to the next phase, which has its own listing and its own work (a garbled
/// list of orders waiting for acceptance must not stop the labels of orders ready to ship).
/// A rejected key still ends the run: no other call would work either.
pub(crate) fn listing_failed(
    mut report: PhaseReport,
    doing: &str,
    error: BestBuyError,
) -> Result<PhaseReport> {
    let error = stop_run_if_refused(doing, error)?;
    report.problem(format!(
        "{doing} failed, so this phase did nothing more: {error}"
    ));
    Ok(report)
}

/// Reports each order a listing could not read as failed, under the name Best Buy gave it.
pub(crate) fn report_unreadable(
    report: &mut PhaseReport,
    unreadable: Vec<crate::bestbuy::UnreadableOrder>,
) {
    for order in unreadable {
        log::error!("{}: {order}", report.phase.name());
        report
            .outcomes
            .push((order.name(), OrderOutcome::Failed(order.reason)));
    }
}

/// Keeps the orders of a listing asked for `wanted` that `selected` (`--order`) and that
/// say they are in that state; those in another state are reported as skipped. The filter and an order's own `order_state` can
/// disagree (an index that lags a change, or a broken answer), and the order's own word
/// wins: nothing is accepted or bought for an order that says it is elsewhere (a label for
/// an order that says CANCELED would be postage lost). The next run sees it again.
pub(crate) fn keep_in_state(
    report: &mut PhaseReport,
    orders: Vec<Order>,
    wanted: &OrderState,
    selected: impl Fn(&OrderId) -> bool,
) -> Vec<Order> {
    let mut kept = Vec::with_capacity(orders.len());
    for order in orders.into_iter().filter(|order| selected(&order.id)) {
        if order.state == *wanted {
            kept.push(order);
            continue;
        }
        let reason = format!(
            "listed among the {wanted} orders but its order_state is {}; left alone this run",
            order.state
        );
        log::warn!("{}: order {}: {reason}", report.phase.name(), order.id);
        report
            .outcomes
            .push((order.id.to_string(), OrderOutcome::Skipped(reason)));
    }
    kept
}

/// Runs `work` for every item with at most `limits.concurrency` at once, in input order of
/// starting. An item is not started when it would not finish before the cycle's deadline,
/// judged by the mean time of the items finished so far (it is `Deferred`, for the next
/// run). A `Failure::Order` is logged and becomes the order's `Failed` outcome; a
/// `Failure::Stop` is fatal: no further item starts and the first such error is returned,
/// naming its order.
pub(crate) fn for_each_order<T, F>(
    cycle: &Cycle,
    phase: Phase,
    items: &[T],
    work: F,
) -> Result<Vec<OrderOutcome>>
where
    T: OrderItem + Sync,
    F: Fn(&T) -> Step + Sync,
{
    let workers = cycle.config.limits.concurrency.get().min(items.len());
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let results: Mutex<Vec<OrderOutcome>> = Mutex::new(vec![OrderOutcome::Deferred; items.len()]);
    let fatal: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    let timing = Mutex::new(OrderTiming::default());
    let progress = Progress::new(cycle.progress && !items.is_empty(), phase, items.len());

    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let index = next.fetch_add(1, Ordering::SeqCst);
                    let Some(item) = items.get(index) else {
                        return;
                    };
                    let started = Instant::now();
                    if started + lock(&timing).expected() > cycle.deadline {
                        continue; // stays Deferred
                    }
                    let outcome = match work(item) {
                        Ok(outcome) => outcome,
                        Err(Failure::Order(reason)) => {
                            log::error!("{}: order {}: {reason}", phase.name(), item.order_id());
                            OrderOutcome::Failed(reason)
                        }
                        Err(Failure::Stop(error)) => {
                            stop.store(true, Ordering::SeqCst);
                            lock(&fatal)
                                .get_or_insert(error.context(format!("order {}", item.order_id())));
                            return;
                        }
                    };
                    lock(&timing).record(started.elapsed());
                    lock(&results)[index] = outcome;
                    progress.one_done();
                }
            });
        }
    });

    progress.finish();
    if let Some(error) = lock(&fatal).take() {
        return Err(error);
    }
    Ok(std::mem::take(&mut *lock(&results)))
}

/// A one-line "label: 12/50 orders" on standard error, rewritten in place, for a person
/// at a terminal; nothing at all under cron.
struct Progress {
    shown: bool,
    phase: Phase,
    total: usize,
    done: AtomicUsize,
}

impl Progress {
    fn new(shown: bool, phase: Phase, total: usize) -> Progress {
        let progress = Progress {
            shown,
            phase,
            total,
            done: AtomicUsize::new(0),
        };
        progress.draw(0);
        progress
    }

    fn one_done(&self) {
        let done = self.done.fetch_add(1, Ordering::SeqCst) + 1;
        self.draw(done);
    }

    fn draw(&self, done: usize) {
        if self.shown {
            eprint!("\r{}", progress_line(self.phase, done, self.total));
        }
    }

    /// Clears the line, so the summary and any later message start clean.
    fn finish(&self) {
        if self.shown {
            eprint!("\r\x1b[2K");
        }
    }
}

fn progress_line(phase: Phase, done: usize, total: usize) -> String {
    format!("{}: {done}/{total} orders", phase.name())
}

/// How long the orders of one phase have taken so far, to judge whether the next one
/// can still finish inside the time budget.
#[derive(Debug, Default)]
struct OrderTiming {
    finished: u32,
    total: Duration,
}

impl OrderTiming {
    fn record(&mut self, took: Duration) {
        self.finished = self.finished.saturating_add(1);
        self.total = self.total.saturating_add(took);
    }

    /// The mean time of an order so far; nothing is known before the first one ends.
    fn expected(&self) -> Duration {
        if self.finished == 0 {
            Duration::ZERO
        } else {
            self.total / self.finished
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_each_outcome_and_gives_the_failures_reasons() {
        let mut report = PhaseReport::new(Phase::Label, WriteMode::Live);
        report.outcomes = vec![
            ("1-A".into(), OrderOutcome::Done),
            (
                "2-A".into(),
                OrderOutcome::Failed(
                    "refused: 8511 bad postal code; the next run tries again".into(),
                ),
            ),
            (
                "3-A".into(),
                OrderOutcome::Skipped("already labelled".into()),
            ),
            ("4-A".into(), OrderOutcome::Deferred),
        ];
        assert_eq!(
            report.to_string(),
            "label: 1 labelled, 1 failed, 1 skipped, 1 left for the next run (time budget) — \
             2-A: refused: 8511 bad postal code"
        );
        for index in 0..7 {
            report
                .outcomes
                .push((format!("9{index}-A"), OrderOutcome::Failed("down".into())));
        }
        assert!(report.to_string().ends_with("; and 3 more"), "{report}");
    }

    #[test]
    fn the_progress_line_names_the_phase_and_counts() {
        assert_eq!(progress_line(Phase::Label, 12, 50), "label: 12/50 orders");
    }

    #[test]
    fn the_expected_time_of_an_order_is_the_mean_so_far() {
        let mut timing = OrderTiming::default();
        assert_eq!(timing.expected(), Duration::ZERO);
        timing.record(Duration::from_millis(100));
        timing.record(Duration::from_millis(300));
        assert_eq!(timing.expected(), Duration::from_millis(200));
    }

    fn order(id: &str, state: &str) -> Order {
        Order::from_json(&serde_json::json!({
            "order_id": id,
            "order_state": state,
            "order_lines": [{"order_line_id": "1"}]
        }))
        .unwrap()
    }

    #[test]
    fn a_failed_listing_ends_the_phase_but_a_rejected_key_ends_the_run() {
        let report = PhaseReport::new(Phase::Accept, WriteMode::Live);
        let garbled = BestBuyError::BadResponse("a body that is not JSON".to_owned());
        let report = listing_failed(report, "listing the orders", garbled).unwrap();
        assert_eq!(report.failures(), 1);
        assert!(
            report.problems[0].starts_with("listing the orders failed")
                && report.problems[0].ends_with("a body that is not JSON"),
            "{:?}",
            report.problems
        );

        let report = PhaseReport::new(Phase::Accept, WriteMode::Live);
        let refused = BestBuyError::Unauthorized(crate::error::UsageError("key".to_owned()));
        let error = listing_failed(report, "listing the orders", refused).unwrap_err();
        assert_eq!(
            crate::error::exit_code_for(&error),
            crate::error::EXIT_USAGE
        );
    }

    #[test]
    fn a_refused_credential_stops_the_run_and_any_other_api_error_fails_only_the_order() {
        let refused = || BestBuyError::Unauthorized(crate::error::UsageError("key".to_owned()));
        let Failure::Stop(error) = Failure::from(refused()) else {
            panic!("a refused key must stop the run")
        };
        assert_eq!(
            crate::error::exit_code_for(&error),
            crate::error::EXIT_USAGE
        );
        let unavailable = BestBuyError::Unavailable {
            status: 503,
            message: "down".to_owned(),
        };
        let Failure::Order(reason) = Failure::from(unavailable) else {
            panic!("an outage fails only the order")
        };
        assert_eq!(reason, "Best Buy is unavailable (HTTP 503): down");

        let rejected = CanadaPostError::NotFound {
            detail: "gone".to_owned(),
        };
        assert!(matches!(
            Failure::stop_if_refused(rejected),
            Ok(CanadaPostError::NotFound { .. })
        ));
        let refused = CanadaPostError::Unauthorized(crate::error::UsageError("AA002".to_owned()));
        assert!(matches!(
            Failure::stop_if_refused(refused),
            Err(Failure::Stop(_))
        ));
        let error = stop_run_if_refused("reading again", refused_cp()).unwrap_err();
        assert_eq!(
            format!("{error:#}"),
            "reading again: credentials refused: AA002"
        );
        assert_eq!(
            crate::error::exit_code_for(&error),
            crate::error::EXIT_USAGE
        );
        // A journal that cannot be written stops the run too.
        assert!(matches!(
            Failure::from(anyhow::anyhow!("disk full")),
            Failure::Stop(_)
        ));
    }

    fn refused_cp() -> CanadaPostError {
        CanadaPostError::Unauthorized(crate::error::UsageError("AA002".to_owned()))
    }

    #[test]
    fn orders_whose_own_state_disagrees_with_the_listing_are_skipped_and_named() {
        let mut report = PhaseReport::new(Phase::Label, WriteMode::Live);
        let orders = vec![
            order("1-A", "SHIPPING"),
            order("2-A", "CANCELED"),
            order("3-A", "\u{1b}[2JNEW"),
            // Not asked for (`--order`): dropped without a word.
            order("4-A", "CANCELED"),
        ];
        let kept = keep_in_state(&mut report, orders, &OrderState::Shipping, |id| {
            id.as_str() != "4-A"
        });
        let kept: Vec<&str> = kept.iter().map(|order| order.id.as_str()).collect();
        assert_eq!(kept, ["1-A"]);
        assert_eq!(report.failures(), 0, "a skip is not a failure");
        assert_eq!(report.outcomes.len(), 2);
        let (name, OrderOutcome::Skipped(reason)) = &report.outcomes[0] else {
            panic!("{:?}", report.outcomes)
        };
        assert_eq!(name, "2-A");
        assert!(
            reason.contains("SHIPPING") && reason.contains("CANCELED"),
            "{reason}"
        );
        let OrderOutcome::Skipped(reason) = &report.outcomes[1].1 else {
            panic!("{:?}", report.outcomes)
        };
        assert!(reason.contains(r"\u{1b}[2JNEW"), "{reason}");
    }
}
