//! Phase 2: exactly one Canada Post shipment, a checked PIN and a saved 4x6 label for
//! every order ready to ship.
//!
//! A bought label is real postage and cannot be voided, so this phase never ships twice:
//! the intent (order id + request id) is on disk before the create POST, the shipment
//! right after it; an attempt whose outcome is unknown is searched for before anything
//! else (by its request id for a contract; in a time window around the attempt, matched
//! on the order, for a non-contract account, which has no request id: the client decides
//! how), and a create is never repeated within a run. Everything after the create (PIN check, label
//! download, history line) is resumable and can only ever read the existing shipment.
//!
//! A search that finds nothing right after an unknown outcome leaves the attempt open:
//! Canada Post's search may lag its create, so only a later run's search (minutes later)
//! may close it and allow a new create. Two circuit breakers bound what one run may buy:
//! a number of labels and, when configured, an amount of postage.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;

use super::preflight::{self, Prepared};
use super::{
    Cycle, OrderItem, OrderOutcome, Phase, PhaseReport, for_each_order, keep_in_state,
    listing_failed, report_unreadable,
};
use crate::address::BoundedText;
use crate::bestbuy::{BestBuyClient, Order, OrderState};
use crate::canadapost::client::Attempt;
use crate::canadapost::client::CanadaPostError;
use crate::canadapost::label_check::{self, LabelProblem};
use crate::canadapost::money::{Cad, Postage};
use crate::canadapost::shipment::{Settlement, ShipmentSpec, create_shipment_xml};
use crate::canadapost::types::ShipmentStatus;
use crate::canadapost::{CanadaPostClient, LabelDownload, ShipmentInfo, Tracking};
use crate::http::WriteMode;
use crate::ids::{OrderId, RequestId, TrackingPin};
use crate::journal::{
    LabelEvent, LabelProgress, PinVerdict, SavedLabel, ShipmentPlan, ShipmentRecord,
    ShippingHistoryLine,
};
use crate::labels;

/// The longest wait between two downloads of a label that is not ready.
const MAX_LABEL_BACKOFF: Duration = Duration::from_secs(8);

/// One order to work on: listed in SHIPPING now, or known to the journal with a label
/// still unfinished (which needs no Best Buy data: it only reads the shipment).
enum Work {
    Listed(Box<Order>),
    Unfinished(OrderId),
}

impl super::OrderItem for Work {
    fn order_id(&self) -> &OrderId {
        match self {
            Work::Listed(order) => &order.id,
            Work::Unfinished(order_id) => order_id,
        }
    }
}

pub fn run(
    cycle: &Cycle,
    bestbuy: &BestBuyClient,
    canada_post: &CanadaPostClient,
) -> Result<PhaseReport> {
    let mut report = PhaseReport::new(Phase::Label, cycle.mode);
    let listing = match bestbuy.list_orders_by_state(&OrderState::Shipping) {
        Ok(listing) => listing,
        Err(error) => return listing_failed(report, "listing the orders ready to ship", error),
    };
    let listing_whole = listing.unreadable.is_empty();
    report_unreadable(&mut report, listing.unreadable);

    let mut work: Vec<Work> =
        keep_in_state(&mut report, listing.orders, &OrderState::Shipping, |id| {
            cycle.selects(id)
        })
        .into_iter()
        .map(|order| Work::Listed(Box::new(order)))
        .collect();
    for (order_id, record) in cycle.journal.active_orders() {
        let label = &record.label;
        let unfinished =
            !label.in_history && (label.has_shipment() || !label.open_intents.is_empty());
        if unfinished
            && cycle.selects(&order_id)
            && !work.iter().any(|item| *item.order_id() == order_id)
        {
            work.push(Work::Unfinished(order_id));
        }
    }

    if listing_whole {
        release_legacy_orders_gone_from_shipping(cycle, &work)?;
    }

    let eligible = work
        .iter()
        .filter(|item| {
            matches!(item, Work::Listed(_)) && !progress_of(cycle, item.order_id()).has_shipment()
        })
        .count();
    let limits = &cycle.config.limits;
    let breaker = PostageBreaker::new(
        limits.max_labels_per_run.get(),
        eligible,
        limits.max_postage_per_run,
    );
    let outcomes = for_each_order(cycle, Phase::Label, &work, |item| {
        let order = match item {
            Work::Listed(order) => Some(order.as_ref()),
            Work::Unfinished(_) => None,
        };
        label_one(cycle, canada_post, &breaker, item.order_id(), order)
            .map_err(super::Failure::Stop)
    })?;
    for (item, outcome) in work.iter().zip(outcomes) {
        report.outcomes.push((item.order_id().to_string(), outcome));
    }
    crate::print::write_slips(cycle);
    for problem in breaker.tripped() {
        log::error!("label: {problem}");
        report.problems.push(problem);
    }
    let (known, unknown) = breaker.run_spend();
    report.postage = Some(crate::phase::RunPostage { known, unknown });
    Ok(report)
}

/// The circuit breakers on postage. Every Create Shipment of a run takes one unit of an
/// allowance of `limits.max_labels_per_run`, and never more than the orders that were
/// eligible for one when the run began: more creates than that means something is wrong
/// (a flood of orders, or a bug), and each create is money that cannot be refunded
/// automatically. Beside it, the spend breaker (`limits.max_postage_per_run`) stops the
/// creates once the postage this run bought reaches the cap, an unknown price counted as
/// the highest price seen (or as the whole cap while none is known). A create still under
/// way reserves the same guess until its answer comes, so parallel workers cannot all
/// start before the first price is known: a worker whose create the reservations leave no
/// room for waits for them to settle, and is held back only once nothing is in flight.
/// Once either breaker trips the run stops creating, finishes everything else, and says
/// so loudly; the orders held back are created by the next run.
struct PostageBreaker {
    max_labels_per_run: usize,
    eligible: usize,
    max_postage: Option<Cad>,
    sent: AtomicUsize,
    held_back: AtomicUsize,
    spend: Mutex<Spend>,
    /// Signalled whenever a reservation settles.
    settled: Condvar,
}

/// This run's postage, as the spend breaker counts it.
#[derive(Default)]
struct Spend {
    known: Cad,
    highest: Option<Cad>,
    unknown: i64,
    in_flight: i64,
    held_back: usize,
}

/// What the spend breaker says to one more create.
#[derive(Debug, PartialEq, Eq)]
enum SpendDecision {
    Create,
    /// The reservations of the creates in flight leave no room; one of them may settle
    /// for less (or for nothing) and make some.
    Wait,
    HoldBack,
}

impl Spend {
    /// What the run counts as spent: the known prices, and the highest price seen (the
    /// cap while none is known) for every unknown one and every create in flight.
    fn counted(&self, cap: Cad) -> Cad {
        let guess = self.highest.unwrap_or(cap);
        self.known
            .saturating_add(guess.saturating_mul(self.unknown.saturating_add(self.in_flight)))
    }

    fn decide(&self, cap: Cad) -> SpendDecision {
        if self.counted(cap) < cap {
            SpendDecision::Create
        } else if self.in_flight > 0 {
            SpendDecision::Wait
        } else {
            SpendDecision::HoldBack
        }
    }
}

/// A create the breakers allowed, holding its share of the spend breaker until it is
/// settled. Dropped unsettled (an error, whatever happened to the create), it counts as a
/// label of unknown price, so a lost answer never frees room it may have spent.
struct Reservation<'a> {
    breaker: &'a PostageBreaker,
    open: bool,
}

impl Reservation<'_> {
    /// The create bought a label whose price is `postage` (`None`: unknown, which includes
    /// a create whose outcome is unknown).
    fn bought(mut self, postage: Option<&Postage>) {
        self.open = false;
        self.breaker.settle(Some(postage));
    }

    /// The create provably bought nothing (refused, never sent).
    fn nothing_bought(mut self) {
        self.open = false;
        self.breaker.settle(None);
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.open {
            self.breaker.settle(Some(None));
        }
    }
}

impl PostageBreaker {
    fn new(max_labels_per_run: usize, eligible: usize, max_postage: Option<Cad>) -> PostageBreaker {
        PostageBreaker {
            max_labels_per_run,
            eligible,
            max_postage,
            sent: AtomicUsize::new(0),
            held_back: AtomicUsize::new(0),
            spend: Mutex::new(Spend::default()),
            settled: Condvar::new(),
        }
    }

    fn spend(&self) -> MutexGuard<'_, Spend> {
        self.spend
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn allowance(&self) -> usize {
        self.max_labels_per_run.min(self.eligible)
    }

    /// Takes one create from the allowances, waiting while the creates in flight leave
    /// the spend breaker no room; `None` once an allowance is spent (and counts the order
    /// held back).
    fn allow_create(&self) -> Option<Reservation<'_>> {
        if let Some(cap) = self.max_postage {
            let mut spend = self.spend();
            loop {
                match spend.decide(cap) {
                    SpendDecision::Create => break,
                    SpendDecision::Wait => {
                        spend = self
                            .settled
                            .wait(spend)
                            .unwrap_or_else(|poisoned| poisoned.into_inner());
                    }
                    SpendDecision::HoldBack => {
                        spend.held_back += 1;
                        return None;
                    }
                }
            }
            spend.in_flight += 1;
        }
        let reservation = Reservation {
            breaker: self,
            open: true,
        };
        let allowance = self.allowance();
        let taken = self
            .sent
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |sent| {
                (sent < allowance).then_some(sent + 1)
            })
            .is_ok();
        if !taken {
            self.held_back.fetch_add(1, Ordering::SeqCst);
            reservation.nothing_bought();
            return None;
        }
        Some(reservation)
    }

    /// Ends a reservation: `Some(price)` a label was bought (`Some(None)`: at an unknown
    /// price), `None` nothing was.
    fn settle(&self, bought: Option<Option<&Postage>>) {
        let mut spend = self.spend();
        if self.max_postage.is_some() {
            spend.in_flight -= 1;
        }
        match bought {
            Some(Some(postage)) => {
                spend.known = spend.known.saturating_add(postage.due);
                spend.highest = Some(
                    spend
                        .highest
                        .map_or(postage.due, |high| high.max(postage.due)),
                );
            }
            Some(None) => spend.unknown += 1,
            None => {}
        }
        drop(spend);
        self.settled.notify_all();
    }

    /// The known postage of this run, and how many labels' prices are unknown.
    fn run_spend(&self) -> (Cad, i64) {
        let spend = self.spend();
        (spend.known, spend.unknown)
    }

    /// The report's problems when a breaker held an order back.
    fn tripped(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let sent = self.sent.load(Ordering::SeqCst);
        let held_back = self.held_back.load(Ordering::SeqCst);
        if held_back > 0 {
            let limit = if self.max_labels_per_run <= self.eligible {
                format!("limits.max_labels_per_run is {}", self.max_labels_per_run)
            } else {
                format!(
                    "only {} order(s) were eligible for a label when the run began, so more creates \
                     would mean a fault",
                    self.eligible
                )
            };
            problems.push(format!(
                "circuit breaker: this run sent {sent} Create Shipment request(s) and stopped \
                 ({limit}); {held_back} order(s) wait for the next run. If that many labels is \
                 unexpected, stop cron and look before the next run buys more"
            ));
        }
        let spend = self.spend();
        if let Some(cap) = self.max_postage
            && spend.held_back > 0
        {
            let unknown = if spend.unknown > 0 {
                format!(
                    ", and {} label(s) of unknown price counted at {} CAD each",
                    spend.unknown,
                    spend.highest.unwrap_or(cap)
                )
            } else {
                String::new()
            };
            problems.push(format!(
                "spend breaker: this run bought {} CAD of known postage{unknown}, which reaches \
                 limits.max_postage_per_run ({cap} CAD); it stopped creating and {} order(s) wait \
                 for the next run. If that much postage is unexpected, stop cron and look",
                spend.known, spend.held_back
            ));
        }
        problems
    }
}

fn label_one(
    cycle: &Cycle,
    canada_post: &CanadaPostClient,
    breaker: &PostageBreaker,
    order_id: &OrderId,
    order: Option<&Order>,
) -> Result<OrderOutcome> {
    if cycle.journal.shipped_by_legacy_tool(order_id) {
        return legacy_order(cycle, order_id, order.is_some());
    }
    if let Some(settled) = cycle.journal.settled(order_id) {
        let shipment = settled
            .shipment_id
            .as_ref()
            .map_or("?", |shipment| shipment.as_str());
        log::debug!("label: order {order_id}: already labelled and shipped (shipment {shipment})");
        return Ok(OrderOutcome::Skipped(format!(
            "already labelled and shipped: shipment {shipment}"
        )));
    }
    let progress = progress_of(cycle, order_id);
    if progress.in_history {
        let shipment = progress
            .shipment
            .as_ref()
            .map_or("?", |shipment| shipment.shipment_id.as_str());
        log::debug!("label: order {order_id}: already labelled (shipment {shipment})");
        return Ok(OrderOutcome::Skipped(format!(
            "already labelled: shipment {shipment}"
        )));
    }

    if cycle.mode == WriteMode::DryRun {
        return dry_run(cycle, canada_post, order_id, order, &progress);
    }

    let mut shipment = progress.shipment.clone();
    if let Some(held) = &progress.shipment
        && !ShipmentStatus::allows_shipping(held.status.as_ref())
    {
        match read_held_again(cycle, canada_post, order_id, held)? {
            Some(transmitted) => shipment = Some(transmitted),
            // Reported when it was bought; the reminders repeat it until a person sorts it.
            None => return Ok(OrderOutcome::Skipped(held_for_a_person(held))),
        }
    }
    if shipment.is_none() && !progress.open_intents.is_empty() {
        match resolve_open_attempts(cycle, canada_post, order_id, &progress)? {
            Lookup::Found(found) => shipment = Some(found),
            Lookup::NothingFound => {}
            Lookup::Unknown(reason) => {
                log::error!("label: order {order_id}: {reason}");
                return Ok(OrderOutcome::Failed(reason));
            }
        }
    }
    let shipment = match shipment {
        Some(shipment) => shipment,
        None => {
            let Some(order) = order else {
                log::info!(
                    "label: order {order_id}: no shipment exists and the order is no longer ready to ship"
                );
                return Ok(OrderOutcome::Skipped(
                    "no longer ready to ship on Best Buy; no shipment was bought".to_owned(),
                ));
            };
            let Some(reservation) = breaker.allow_create() else {
                log::info!(
                    "label: order {order_id}: held back by a circuit breaker; the next run creates its shipment"
                );
                return Ok(OrderOutcome::Skipped(
                    "held back by a circuit breaker (limits.max_labels_per_run or \
                     limits.max_postage_per_run); the next run creates its shipment"
                        .to_owned(),
                ));
            };
            // An error on the way drops the reservation unsettled: a label of unknown price.
            match create(cycle, canada_post, order)? {
                Created::Shipment(shipment) => {
                    let shipment = priced(cycle, canada_post, order_id, shipment)?;
                    reservation.bought(shipment.postage.as_ref());
                    shipment
                }
                Created::Failed(reason, bought) => {
                    match bought {
                        Bought::Nothing => reservation.nothing_bought(),
                        Bought::Unknown => reservation.bought(None),
                    }
                    log::error!("label: order {order_id}: {reason}");
                    return Ok(OrderOutcome::Failed(reason));
                }
            }
        }
    };
    if !ShipmentStatus::allows_shipping(shipment.status.as_ref()) {
        let reason = held_for_a_person(&shipment);
        log::error!("label: order {order_id}: {reason}");
        return Ok(OrderOutcome::Failed(reason));
    }
    let shipment = if shipment.postage.is_none() {
        priced(cycle, canada_post, order_id, shipment)?
    } else {
        shipment
    };
    finish(cycle, canada_post, order_id, &shipment)
}

/// Reads a held shipment again through its `self` link: a person may have transmitted it
/// since (a manifest on Canada Post's website). Only a `transmitted` answer about the same
/// shipment releases it, and it is journaled before anything else; any other answer, or
/// none, leaves it held and quiet (the reminders speak for it).
fn read_held_again(
    cycle: &Cycle,
    canada_post: &CanadaPostClient,
    order_id: &OrderId,
    held: &ShipmentRecord,
) -> Result<Option<ShipmentRecord>> {
    let Some(link) = held.links.iter().find(|link| link.rel == "self") else {
        return Ok(None);
    };
    let info = match canada_post.shipment(link) {
        Ok(info) => info,
        Err(error) if error.is_unauthorized() => return Err(error.into()),
        Err(error) => {
            log::info!(
                "label: order {order_id}: reading held shipment {} again failed: {error}",
                held.shipment_id
            );
            return Ok(None);
        }
    };
    if info.shipment_id != held.shipment_id
        || !ShipmentStatus::allows_shipping(info.status.as_ref())
    {
        log::debug!(
            "label: order {order_id}: shipment {} is still held ({})",
            held.shipment_id,
            ShipmentStatus::describe(info.status.as_ref())
        );
        return Ok(None);
    }
    log::info!(
        "label: order {order_id}: shipment {} now reads `transmitted`; finishing its label",
        held.shipment_id
    );
    record_created(cycle, order_id, &held.request_id, info, true).map(Some)
}

/// Why an order whose shipment is not `transmitted` goes no further: it is journaled (it
/// may be billed), never created again, and never sent to Best Buy until a person acts.
fn held_for_a_person(shipment: &ShipmentRecord) -> String {
    format!(
        "shipment {} (PIN {}) came back with status {}, not `transmitted`: \
         the order is held for a person, and its tracking is not sent to Best Buy. Transmit it \
         (a manifest) or void it on Canada Post's website; bbship never buys another label for it",
        shipment.shipment_id,
        shipment.tracking_pin.as_deref().unwrap_or("none"),
        ShipmentStatus::describe(shipment.status.as_ref())
    )
}

/// An order the replaced tool's log says it labelled: never labelled again. Listed ready
/// to ship, it needs a person: the old tool may have voided that label, and its PIN was
/// perhaps never uploaded. The hold is journaled so that `status` shows it (and reminds)
/// from the files alone; the first run that finds it reports it as a failure, later runs
/// as skipped.
fn legacy_order(cycle: &Cycle, order_id: &OrderId, listed: bool) -> Result<OrderOutcome> {
    if !listed {
        log::info!("label: order {order_id}: labelled by the previous tool (its history log)");
        return Ok(OrderOutcome::Skipped(
            "already labelled by the previous tool (cp_shipping_history_log.json)".to_owned(),
        ));
    }
    let pins = cycle
        .journal
        .legacy_shipment(order_id.as_str())
        .map(|legacy| legacy.pins.clone())
        .unwrap_or_default();
    let reason = crate::journal::legacy::still_shipping_reason(order_id.as_str(), &pins);
    if progress_of(cycle, order_id).legacy_still_shipping.is_some() {
        log::debug!("label: order {order_id}: still held: {reason}");
        return Ok(OrderOutcome::Skipped(reason));
    }
    if cycle.mode == WriteMode::Live {
        cycle
            .journal
            .record_label_event(LabelEvent::LegacyStillShipping {
                order_id: order_id.clone(),
                at: Utc::now(),
                pins,
            })
            .context("journaling that the order is held")?;
    }
    log::error!("label: order {order_id}: {reason}");
    Ok(OrderOutcome::Failed(reason))
}

/// Orders held because the replaced tool labelled them while Best Buy listed them ready to
/// ship, that this (complete) listing no longer shows ready to ship: someone shipped or
/// cancelled them by hand, and the hold is lifted.
fn release_legacy_orders_gone_from_shipping(cycle: &Cycle, work: &[Work]) -> Result<()> {
    if cycle.mode != WriteMode::Live {
        return Ok(());
    }
    for (order_id, record) in cycle.journal.active_orders() {
        let listed = work
            .iter()
            .any(|item| matches!(item, Work::Listed(order) if order.id == order_id));
        if record.label.legacy_still_shipping.is_some() && cycle.selects(&order_id) && !listed {
            log::info!(
                "label: order {order_id}: labelled by the previous tool and no longer ready to ship on Best Buy"
            );
            cycle
                .journal
                .record_label_event(LabelEvent::LegacyNoLongerShipping {
                    order_id: order_id.clone(),
                    at: Utc::now(),
                })
                .with_context(|| format!("order {order_id}: journaling that it left SHIPPING"))?;
        }
    }
    Ok(())
}

fn progress_of(cycle: &Cycle, order_id: &OrderId) -> LabelProgress {
    cycle
        .journal
        .order(order_id)
        .map(|record| record.label)
        .unwrap_or_default()
}

/// A dry run prints the Create Shipment it would send and touches nothing else.
fn dry_run(
    cycle: &Cycle,
    canada_post: &CanadaPostClient,
    order_id: &OrderId,
    order: Option<&Order>,
    progress: &LabelProgress,
) -> Result<OrderOutcome> {
    if let Some(shipment) = &progress.shipment {
        if !ShipmentStatus::allows_shipping(shipment.status.as_ref()) {
            return Ok(OrderOutcome::Skipped(held_for_a_person(shipment)));
        }
        return Ok(OrderOutcome::Skipped(format!(
            "has shipment {}; a live run finishes its PIN check and label",
            shipment.shipment_id
        )));
    }
    if !progress.open_intents.is_empty() {
        return Ok(OrderOutcome::Skipped(
            "an earlier create attempt has an unknown outcome; a live run looks it up before anything else"
                .to_owned(),
        ));
    }
    let Some(order) = order else {
        return Ok(OrderOutcome::Skipped("no longer ready to ship".to_owned()));
    };
    let prepared = match prepare(cycle, order) {
        Ok(prepared) => prepared,
        Err(reason) => {
            log::error!("label: order {order_id}: {reason}");
            return Ok(OrderOutcome::Failed(reason));
        }
    };
    let request_id = RequestId::for_attempt(order_id, Utc::now());
    let body = match request_body(cycle, order_id, &request_id, &prepared) {
        Ok(body) => body,
        Err(reason) => {
            log::error!("label: order {order_id}: {reason}");
            return Ok(OrderOutcome::Failed(reason));
        }
    };
    canada_post
        .create_shipment(body, WriteMode::DryRun)
        .map_err(anyhow::Error::new)?;
    Ok(OrderOutcome::WouldDo)
}

fn prepare(cycle: &Cycle, order: &Order) -> Result<Prepared, String> {
    let prepared = preflight::prepare(order, cycle.config)
        .map_err(|error| format!("cannot ship it as it stands: {error}"))?;
    for note in &prepared.notes {
        log::warn!("label: order {}: {note}", order.id);
    }
    Ok(prepared)
}

fn request_body(
    cycle: &Cycle,
    order_id: &OrderId,
    request_id: &RequestId,
    prepared: &Prepared,
) -> Result<String, String> {
    let order_reference = BoundedText::<35>::try_from(order_id.to_string())
        .map_err(|error| format!("the order id cannot be customer-ref-1: {error}"))?;
    let canada_post = &cycle.config.canada_post;
    let spec = ShipmentSpec {
        request_id,
        order_reference: &order_reference,
        service: &prepared.service,
        sender: &cycle.config.sender,
        destination: &prepared.destination,
        parcel: &prepared.parcel,
        settlement: Settlement::of(canada_post),
    };
    create_shipment_xml(&spec).map_err(|error| format!("building the shipment XML failed: {error}"))
}

enum Created {
    Shipment(ShipmentRecord),
    Failed(String, Bought),
}

/// What a failed create may have cost, for the spend breaker.
enum Bought {
    Nothing,
    Unknown,
}

/// Reads what a shipment cost when its create answer did not say (a non-contract
/// receipt; nothing is read for a contract shipment) and journals it. A failed read
/// leaves the price unknown, never zero; a later run that finishes the label asks again.
fn priced(
    cycle: &Cycle,
    canada_post: &CanadaPostClient,
    order_id: &OrderId,
    mut shipment: ShipmentRecord,
) -> Result<ShipmentRecord> {
    if shipment.postage.is_some() {
        return Ok(shipment);
    }
    let postage = match canada_post.postage(&shipment.links) {
        Ok(postage) => postage,
        Err(error) if error.is_unauthorized() => return Err(error.into()),
        Err(error) => {
            log::warn!(
                "label: order {order_id}: the price of shipment {} is unknown for now (reading its \
                 receipt failed: {error})",
                shipment.shipment_id
            );
            return Ok(shipment);
        }
    };
    if canada_post.account() == crate::canadapost::types::AccountKind::Contract && postage.is_none()
    {
        return Ok(shipment);
    }
    cycle.journal.record_label_event(LabelEvent::Priced {
        order_id: order_id.clone(),
        shipment_id: shipment.shipment_id.clone(),
        at: Utc::now(),
        postage,
    })?;
    log::info!(
        "label: order {order_id}: shipment {} cost {}",
        shipment.shipment_id,
        Postage::describe(postage.as_ref())
    );
    shipment.postage = postage;
    Ok(shipment)
}

/// The one place that buys a label: intent on disk, one POST, shipment on disk.
fn create(cycle: &Cycle, canada_post: &CanadaPostClient, order: &Order) -> Result<Created> {
    let order_id = &order.id;
    let prepared = match prepare(cycle, order) {
        Ok(prepared) => prepared,
        Err(reason) => return Ok(Created::Failed(reason, Bought::Nothing)),
    };
    let request_id = RequestId::for_attempt(order_id, Utc::now());
    let body = match request_body(cycle, order_id, &request_id, &prepared) {
        Ok(body) => body,
        Err(reason) => return Ok(Created::Failed(reason, Bought::Nothing)),
    };
    // Before the create, while the Best Buy order is in hand: a later run may finish the
    // label from the journal alone and still owes it a packing slip.
    crate::print::remember(cycle.journal, order, &prepared)
        .context("journaling what the packing slip shows; nothing was sent")?;
    let destination = &prepared.destination;
    let plan = ShipmentPlan {
        service: prepared.service.clone(),
        destination: format!(
            "{} {} {}",
            destination.city.as_str(),
            destination.province,
            destination.postal_code.as_str()
        ),
        weight_kg: prepared.parcel.weight_kg.get(),
        dimensions_cm: [
            prepared.parcel.length_cm.get(),
            prepared.parcel.width_cm.get(),
            prepared.parcel.height_cm.get(),
        ],
    };
    let intent_at = Utc::now();
    cycle
        .journal
        .record_label_event(LabelEvent::Intent {
            order_id: order_id.clone(),
            request_id: request_id.clone(),
            at: intent_at,
            plan,
        })
        .context("recording the intent to create a shipment; nothing was sent")?;
    log::info!("label: order {order_id}: creating a shipment (request id {request_id})");

    let close = |reason: String| {
        cycle.journal.record_label_event(LabelEvent::IntentClosed {
            order_id: order_id.clone(),
            request_id: request_id.clone(),
            at: Utc::now(),
            reason,
        })
    };
    match canada_post.create_shipment(body, WriteMode::Live) {
        Ok(Some(info)) => Ok(Created::Shipment(record_created(
            cycle,
            order_id,
            &request_id,
            info,
            false,
        )?)),
        Ok(None) => Ok(Created::Failed(
            "Create Shipment returned nothing in a live run".to_owned(),
            Bought::Nothing,
        )),
        Err(error) if error.is_unauthorized() => Err(error.into()),
        Err(error @ CanadaPostError::Rejected { .. }) => {
            close(format!("refused: {error}"))?;
            Ok(Created::Failed(error.to_string(), Bought::Nothing))
        }
        Err(error @ CanadaPostError::Transport(_)) => {
            // The connection was never made, so nothing was bought.
            close(format!("never sent: {error}"))?;
            Ok(Created::Failed(error.to_string(), Bought::Nothing))
        }
        Err(error) => {
            log::warn!(
                "label: order {order_id}: {error}; searching for the shipment of attempt {request_id}"
            );
            match search(cycle, canada_post, order_id, &request_id, intent_at) {
                Ok(infos) if !infos.is_empty() => {
                    Ok(match adopt(cycle, order_id, &request_id, infos)? {
                        Some(shipment) => Created::Shipment(shipment),
                        None => Created::Failed(
                            format!(
                                "{error}; the search found nothing it could record; the next run looks again"
                            ),
                            Bought::Unknown,
                        ),
                    })
                }
                Ok(_) => Ok(Created::Failed(
                    format!(
                        "{error}; the search finds no shipment yet, so nothing more is created in \
                         this run; the next run looks again before creating anything"
                    ),
                    Bought::Unknown,
                )),
                Err(lookup_error) if lookup_error.is_unauthorized() => Err(lookup_error.into()),
                Err(lookup_error) => Ok(Created::Failed(
                    format!(
                        "{error}; searching for it failed too ({lookup_error}); the next run \
                         searches before creating anything"
                    ),
                    Bought::Unknown,
                )),
            }
        }
    }
}

fn record_created(
    cycle: &Cycle,
    order_id: &OrderId,
    request_id: &RequestId,
    info: ShipmentInfo,
    adopted: bool,
) -> Result<ShipmentRecord> {
    let shipment = ShipmentRecord {
        shipment_id: info.shipment_id,
        request_id: request_id.clone(),
        tracking_pin: info.tracking_pin,
        status: info.status,
        postage: info.postage,
        links: info.links,
    };
    log::info!(
        "label: order {order_id}: shipment {} {} (PIN {}, status {}, postage {})",
        shipment.shipment_id,
        if adopted {
            "read from Canada Post"
        } else {
            "created"
        },
        shipment.tracking_pin.as_deref().unwrap_or("none"),
        ShipmentStatus::describe(shipment.status.as_ref()),
        Postage::describe(shipment.postage.as_ref())
    );
    cycle
        .journal
        .record_label_event(LabelEvent::Created {
            order_id: order_id.clone(),
            shipment: shipment.clone(),
            at: Utc::now(),
            adopted,
        })
        .with_context(|| {
            // The one failure a person must hear about: postage was bought and the
            // journal could not say so. The ids are in this message.
            format!(
                "shipment {} (PIN {}) exists at Canada Post but could not be recorded",
                shipment.shipment_id,
                shipment.tracking_pin.as_deref().unwrap_or("none")
            )
        })?;
    Ok(shipment)
}

enum Lookup {
    Found(ShipmentRecord),
    NothingFound,
    Unknown(String),
}

/// Settles every earlier attempt with an unknown outcome before any new create, by the
/// account's search (the request id of a contract; the time window and the order of a
/// non-contract account).
fn resolve_open_attempts(
    cycle: &Cycle,
    canada_post: &CanadaPostClient,
    order_id: &OrderId,
    progress: &LabelProgress,
) -> Result<Lookup> {
    let mut found = None;
    for request_id in &progress.open_intents {
        let at = progress.intent_time(request_id).unwrap_or_else(Utc::now);
        match search(cycle, canada_post, order_id, request_id, at) {
            Ok(infos) if infos.is_empty() => {
                log::info!(
                    "label: order {order_id}: the attempt {request_id} created nothing (the search found no shipment)"
                );
                cycle.journal.record_label_event(LabelEvent::IntentClosed {
                    order_id: order_id.clone(),
                    request_id: request_id.clone(),
                    at: Utc::now(),
                    reason: "not found by the search for its shipment".to_owned(),
                })?;
            }
            Ok(infos) => {
                if let Some(shipment) = adopt(cycle, order_id, request_id, infos)? {
                    found.get_or_insert(shipment);
                }
            }
            Err(error) if error.is_unauthorized() => return Err(error.into()),
            Err(error) => {
                return Ok(Lookup::Unknown(format!(
                    "an earlier create attempt ({request_id}) has an unknown outcome and searching \
                     for its shipment failed: {error}; nothing is created until a search answers \
                     (next run)"
                )));
            }
        }
    }
    Ok(found.map_or(Lookup::NothingFound, Lookup::Found))
}

/// The account's search for the shipments of one attempt, skipping every shipment the
/// journal already holds (another order's, or this one's).
fn search(
    cycle: &Cycle,
    canada_post: &CanadaPostClient,
    order_id: &OrderId,
    request_id: &RequestId,
    at: chrono::DateTime<Utc>,
) -> Result<Vec<ShipmentInfo>, CanadaPostError> {
    let known = cycle.journal.known_shipment_ids();
    let attempt = Attempt {
        request_id,
        order_reference: order_id.as_str(),
        at,
    };
    canada_post.find_attempt(&attempt, &|id| known.contains(id))
}

/// Records the shipments a search found. More than one is a duplicate bought outside
/// bbship's protocol: each is journaled, and a person is told to refund the rest.
fn adopt(
    cycle: &Cycle,
    order_id: &OrderId,
    request_id: &RequestId,
    infos: Vec<ShipmentInfo>,
) -> Result<Option<ShipmentRecord>> {
    let mut adopted: Option<ShipmentRecord> = None;
    for info in infos {
        let record = record_created(cycle, order_id, request_id, info, true)?;
        match &adopted {
            None => adopted = Some(record),
            Some(first) => log::error!(
                "label: order {order_id}: the search for attempt {request_id} found more than one \
                 shipment; keeping {} and a person should request a refund for {} (PIN {})",
                first.shipment_id,
                record.shipment_id,
                record.tracking_pin.as_deref().unwrap_or("none")
            ),
        }
    }
    Ok(adopted)
}

/// Everything after the create: check the PIN, save the label, write the history line.
/// Each step runs only if the journal does not already have it.
fn finish(
    cycle: &Cycle,
    canada_post: &CanadaPostClient,
    order_id: &OrderId,
    shipment: &ShipmentRecord,
) -> Result<OrderOutcome> {
    let progress = progress_of(cycle, order_id);
    let shipment_id = &shipment.shipment_id;
    let pin_text = shipment.tracking_pin.as_deref().unwrap_or("none");
    let mut problems: Vec<String> = Vec::new();

    let verdict = match progress.pin.clone() {
        Some(verdict) => Some(verdict),
        None => match check_pin(canada_post, shipment)? {
            PinCheck::Verdict(verdict) => {
                cycle.journal.record_label_event(LabelEvent::PinChecked {
                    order_id: order_id.clone(),
                    shipment_id: shipment_id.clone(),
                    at: Utc::now(),
                    verdict: verdict.clone(),
                })?;
                Some(verdict)
            }
            PinCheck::NotYet(reason) => {
                problems.push(format!(
                    "PIN {pin_text} not validated yet ({reason}); the next run checks it again"
                ));
                None
            }
        },
    };
    if let Some(PinVerdict::Flagged { reason }) = &verdict {
        problems.push(format!(
            "PIN {pin_text} of shipment {shipment_id} did not validate: {reason}; the order is held \
             back from Best Buy until a person checks it"
        ));
    }

    let saved = match progress.labels.clone() {
        Some(saved) => Some(saved),
        None => match download_labels(cycle, canada_post, order_id, shipment)? {
            Ok(Downloaded { saved, warning }) => {
                if let Some(warning) = warning {
                    problems.push(warning);
                }
                cycle.journal.record_label_event(LabelEvent::LabelSaved {
                    order_id: order_id.clone(),
                    shipment_id: shipment_id.clone(),
                    at: Utc::now(),
                    files: saved.clone(),
                })?;
                Some(saved)
            }
            Err(reason) => {
                problems.push(reason);
                None
            }
        },
    };

    if let (Some(verdict), Some(saved)) = (&verdict, &saved) {
        let progress = progress_of(cycle, order_id);
        let line = ShippingHistoryLine {
            order_id: order_id.clone(),
            shipment_id: shipment_id.clone(),
            tracking_pin: shipment.tracking_pin.clone(),
            request_id: shipment.request_id.clone(),
            plan: progress.plan_for(&shipment.request_id).cloned(),
            links: shipment.links.clone(),
            labels: saved.clone(),
            pin_validation: verdict.clone(),
            postage: shipment.postage,
            created_at: progress.created_at,
            label_saved_at: progress.label_saved_at,
            logged_at: Utc::now(),
        };
        cycle.journal.record_shipping_history(line)?;
        log::info!(
            "label: order {order_id}: shipment {shipment_id}, PIN {pin_text}, postage {}, label {}",
            Postage::describe(shipment.postage.as_ref()),
            saved
                .iter()
                .map(|label| label.path.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    if problems.is_empty() {
        Ok(OrderOutcome::Done)
    } else {
        let reason = problems.join("; ");
        log::error!("label: order {order_id}: {reason}");
        Ok(OrderOutcome::Failed(reason))
    }
}

enum PinCheck {
    Verdict(PinVerdict),
    /// No verdict this run (throttle, outage): not a reason to doubt the PIN.
    NotYet(String),
}

/// The offline format and check digit first, then Get Tracking Summary.
fn check_pin(canada_post: &CanadaPostClient, shipment: &ShipmentRecord) -> Result<PinCheck> {
    let Some(pin_text) = &shipment.tracking_pin else {
        return Ok(PinCheck::Verdict(PinVerdict::Flagged {
            reason: "Canada Post sent no tracking PIN".to_owned(),
        }));
    };
    let pin = match TrackingPin::try_from(pin_text.clone()) {
        Ok(pin) => pin,
        Err(reason) => {
            return Ok(PinCheck::Verdict(PinVerdict::Flagged { reason }));
        }
    };
    Ok(match canada_post.tracking_summary(&pin) {
        Ok(Tracking::Summary(summary)) => PinCheck::Verdict(PinVerdict::Validated {
            event: summary
                .event_type
                .or(summary.event_description)
                .filter(|event| !event.is_empty()),
        }),
        Ok(Tracking::NoHistoryYet) => PinCheck::Verdict(PinVerdict::NoHistoryYet),
        Err(error) if error.is_unauthorized() => return Err(error.into()),
        Err(error @ (CanadaPostError::Rejected { .. } | CanadaPostError::NotFound { .. })) => {
            PinCheck::Verdict(PinVerdict::Flagged {
                reason: format!("tracking: {error}"),
            })
        }
        Err(error) => PinCheck::NotYet(error.to_string()),
    })
}

/// Label files saved, and a warning when a page is not 4x6 (the paid label is kept).
struct Downloaded {
    saved: Vec<SavedLabel>,
    warning: Option<String>,
}

/// Downloads every label page, asking again while Canada Post says it is not ready, and
/// saves them. `Ok(Err(reason))` leaves the label for the next run (never a new
/// shipment).
fn download_labels(
    cycle: &Cycle,
    canada_post: &CanadaPostClient,
    order_id: &OrderId,
    shipment: &ShipmentRecord,
) -> Result<Result<Downloaded, String>> {
    let links = crate::canadapost::answers::label_links(&shipment.links);
    if links.is_empty() {
        return Ok(Err(format!(
            "shipment {} has no label link; print it from Canada Post's site",
            shipment.shipment_id
        )));
    }
    let limits = &cycle.config.limits;
    let mut pages = Vec::with_capacity(links.len());
    let mut page_counts = Vec::with_capacity(links.len());
    let mut warning = None;
    for link in links {
        let started = Instant::now();
        let mut wait = Duration::from_millis(limits.label_retry_initial_ms.get());
        let mut attempts = 0u32;
        let bytes = loop {
            attempts += 1;
            match canada_post.label(link) {
                Ok(LabelDownload::Pdf(bytes)) => break bytes,
                Ok(LabelDownload::NotReady(why)) => {
                    let give_up = started.elapsed() + wait
                        > Duration::from_secs(limits.label_wait_secs)
                        || Instant::now() + wait > cycle.deadline;
                    if give_up {
                        return Ok(Err(format!(
                            "the label of shipment {} was not ready after {attempts} tries ({why}); \
                             the next run downloads it (no new shipment is bought)",
                            shipment.shipment_id
                        )));
                    }
                    log::debug!(
                        "label: order {order_id}: label not ready ({why}); asking again in {} ms",
                        wait.as_millis()
                    );
                    std::thread::sleep(wait);
                    wait = (wait * 2).min(MAX_LABEL_BACKOFF);
                }
                Err(error) if error.is_unauthorized() => return Err(error.into()),
                Err(error @ CanadaPostError::NotFound { .. }) => {
                    return Ok(Err(format!(
                        "Canada Post does not serve the label of shipment {}: {error}; the next run \
                         tries again (no new shipment is bought); if it stays so, get it with \
                         `bbship reprint {order_id}` or from Canada Post's website",
                        shipment.shipment_id
                    )));
                }
                Err(error) => {
                    return Ok(Err(format!(
                        "downloading the label of shipment {} failed: {error}; the next run tries again \
                         (no new shipment is bought)",
                        shipment.shipment_id
                    )));
                }
            }
        };
        match label_check::inspect_label(&bytes) {
            Ok(inspection) => page_counts.push(inspection.pages),
            Err(problem)
                if problem.is_letter_page()
                    && canada_post.account()
                        == crate::canadapost::types::AccountKind::NonContract =>
            {
                // What a non-contract label is: its request cannot ask for 4x6, and it
                // comes as a letter page holding the label. Print it on letter paper.
                log::info!(
                    "label: order {order_id}: the non-contract label of shipment {} is a letter page \
                     ({problem})",
                    shipment.shipment_id
                );
                page_counts.push(1);
            }
            Err(problem @ LabelProblem::WrongPageSize { .. }) => {
                // The label is paid for: keep it, and say loudly it is not 4x6.
                warning = Some(format!(
                    "the label of shipment {} is not 4x6: {problem}",
                    shipment.shipment_id
                ));
                page_counts.push(1);
            }
            Err(problem) => {
                log::warn!(
                    "label: order {order_id}: could not confirm the label's page size ({problem}); saved it anyway"
                );
                page_counts.push(1);
            }
        }
        pages.push(bytes);
    }
    let saved = labels::save(cycle.data_dir, order_id, &pages, &page_counts, Utc::now())
        .with_context(|| format!("saving the label of shipment {}", shipment.shipment_id))?;
    Ok(Ok(Downloaded { saved, warning }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Allows one create and settles it at once: `Some(price)` bought at that price
    /// (`Some(None)` unknown), `None` bought nothing. `false` when held back.
    fn create(breaker: &PostageBreaker, bought: Option<Option<&str>>) -> bool {
        let Some(reservation) = breaker.allow_create() else {
            return false;
        };
        match bought {
            Some(Some(due)) => reservation.bought(Some(&price(due))),
            Some(None) => reservation.bought(None),
            None => reservation.nothing_bought(),
        }
        true
    }

    #[test]
    fn the_breaker_allows_at_most_max_labels_per_run_and_counts_the_rest() {
        let breaker = PostageBreaker::new(3, 5, None);
        let allowed = (0..5).filter(|_| create(&breaker, None)).count();
        assert_eq!(allowed, 3);
        let problem = breaker.tripped().remove(0);
        assert!(problem.contains("sent 3 Create Shipment"), "{problem}");
        assert!(problem.contains("max_labels_per_run is 3"), "{problem}");
        assert!(problem.contains("2 order(s) wait"), "{problem}");
    }

    #[test]
    fn the_breaker_never_allows_more_creates_than_orders_eligible() {
        let breaker = PostageBreaker::new(50, 2, None);
        assert!(create(&breaker, None));
        assert!(create(&breaker, None));
        assert!(!create(&breaker, None));
        let problem = breaker.tripped().remove(0);
        assert!(
            problem.contains("only 2 order(s) were eligible"),
            "{problem}"
        );
    }

    #[test]
    fn an_untripped_breaker_reports_nothing() {
        let breaker = PostageBreaker::new(50, 4, None);
        for _ in 0..4 {
            assert!(create(&breaker, Some(Some("9.99"))));
        }
        assert!(breaker.tripped().is_empty());
    }

    fn price(text: &str) -> Postage {
        Postage {
            due: Cad::parse(text).unwrap(),
            base: None,
            taxes: None,
        }
    }

    fn cad(text: &str) -> Cad {
        Cad::parse(text).unwrap()
    }

    #[test]
    fn the_spend_breaker_stops_once_known_postage_reaches_the_cap() {
        let breaker = PostageBreaker::new(50, 50, Some(cad("50.00")));
        for _ in 0..3 {
            assert!(create(&breaker, Some(Some("16.95"))));
        }
        // 50.85 reached 50.00: no fourth label.
        assert!(!create(&breaker, None));
        let problems = breaker.tripped();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("spend breaker"), "{problems:?}");
        assert!(problems[0].contains("50.85 CAD"), "{problems:?}");
        assert!(problems[0].contains("(50.00 CAD)"), "{problems:?}");
        assert_eq!(breaker.run_spend(), (cad("50.85"), 0));
    }

    #[test]
    fn an_unknown_price_counts_as_the_highest_seen_or_as_the_cap() {
        // No price known yet: the unknown one counts as the whole cap.
        let breaker = PostageBreaker::new(50, 50, Some(cad("100")));
        assert!(create(&breaker, Some(None)));
        assert!(!create(&breaker, None));
        assert!(breaker.tripped()[0].contains("1 label(s) of unknown price counted at 100.00"));

        // With 30.00 the highest seen: 30 + 30 (unknown) + 10 = 70 < 100, then 105.
        let breaker = PostageBreaker::new(50, 50, Some(cad("100")));
        assert!(create(&breaker, Some(Some("30.00"))));
        assert!(create(&breaker, Some(None)));
        assert!(create(&breaker, Some(Some("10.00"))));
        assert!(create(&breaker, Some(Some("35.00"))));
        assert!(!create(&breaker, None));
        // A create that bought nothing gives its share back.
        let breaker = PostageBreaker::new(50, 50, Some(cad("20")));
        assert!(create(&breaker, None));
        assert!(create(&breaker, None));
        // So does a create the label allowance refused after the spend breaker let it by.
        let breaker = PostageBreaker::new(1, 50, Some(cad("20")));
        assert!(create(&breaker, Some(Some("5.00"))));
        assert!(!create(&breaker, None));
        assert_eq!(breaker.spend().in_flight, 0);
    }

    #[test]
    fn a_create_in_flight_reserves_the_highest_price_seen_or_the_whole_cap() {
        let cap = cad("100");
        let mut spend = Spend::default();
        assert_eq!(spend.decide(cap), SpendDecision::Create);
        // No price known: one create in flight holds the whole cap.
        spend.in_flight = 1;
        assert_eq!(spend.counted(cap), cap);
        assert_eq!(spend.decide(cap), SpendDecision::Wait);
        // Its answer: 30.00. Two more fit beside it (30 + 30 + 30 = 90 < 100), a third
        // would start at 90 and may end at 120: the rule's one label over, no more.
        spend.in_flight = 0;
        spend.known = cad("30");
        spend.highest = Some(cad("30"));
        for in_flight in 0..3 {
            spend.in_flight = in_flight;
            assert_eq!(spend.decide(cap), SpendDecision::Create, "{in_flight}");
        }
        spend.in_flight = 3;
        assert_eq!(spend.counted(cap), cad("120"));
        assert_eq!(spend.decide(cap), SpendDecision::Wait);
        // Nothing in flight and the cap reached: held back, never a wait.
        spend.in_flight = 0;
        spend.known = cad("100");
        assert_eq!(spend.decide(cap), SpendDecision::HoldBack);
    }

    #[test]
    fn before_the_first_price_a_second_create_waits_for_the_first_answer() {
        let breaker = PostageBreaker::new(50, 50, Some(cad("100")));
        let first = breaker.allow_create().unwrap();
        let started = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let second = scope.spawn(|| {
                let reservation = breaker.allow_create();
                started.fetch_add(1, Ordering::SeqCst);
                reservation.map(|reservation| reservation.bought(Some(&price("30.00"))))
            });
            std::thread::sleep(Duration::from_millis(200));
            assert_eq!(
                started.load(Ordering::SeqCst),
                0,
                "started beside the first"
            );
            first.bought(Some(&price("30.00")));
            assert!(second.join().unwrap().is_some());
        });
        assert_eq!(breaker.run_spend(), (cad("60"), 0));

        // The first create's answer lost: its reservation dropped counts as the cap, and
        // the waiting create is held back instead of spending past it.
        let breaker = PostageBreaker::new(50, 50, Some(cad("100")));
        let first = breaker.allow_create().unwrap();
        std::thread::scope(|scope| {
            let second = scope.spawn(|| breaker.allow_create().is_some());
            std::thread::sleep(Duration::from_millis(100));
            drop(first);
            assert!(!second.join().unwrap());
        });
        assert_eq!(breaker.run_spend(), (Cad::ZERO, 1));
    }

    #[test]
    fn parallel_creates_never_pass_the_cap_by_more_than_the_rule_allows() {
        // Eight workers, a cap of 100.00, labels of 30.00 answered slowly: the first
        // create alone, then at most the creates that started below the cap.
        let breaker = PostageBreaker::new(50, 50, Some(cad("100")));
        let most_in_flight = AtomicUsize::new(0);
        let in_flight = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    while let Some(reservation) = breaker.allow_create() {
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        most_in_flight.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        reservation.bought(Some(&price("30.00")));
                    }
                });
            }
        });
        // 30 alone, then 60, 90 (started at 60), 120 (started at 90): four labels.
        assert_eq!(breaker.run_spend(), (cad("120"), 0));
        assert!(most_in_flight.load(Ordering::SeqCst) <= 3);
        assert!(breaker.tripped()[0].contains("8 order(s) wait"));
    }

    #[test]
    fn both_breakers_work_side_by_side() {
        let breaker = PostageBreaker::new(2, 10, Some(cad("1000")));
        assert!(create(&breaker, Some(Some("5.00"))));
        assert!(create(&breaker, Some(Some("5.00"))));
        assert!(!create(&breaker, None));
        let problems = breaker.tripped();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("max_labels_per_run is 2"),
            "{problems:?}"
        );
    }

    #[test]
    fn concurrent_creates_never_exceed_the_allowance() {
        let breaker = PostageBreaker::new(10, 100, None);
        let allowed = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..10 {
                        if create(&breaker, Some(Some("1.00"))) {
                            allowed.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        assert_eq!(allowed.load(Ordering::SeqCst), 10);
        assert!(breaker.tripped()[0].contains("70 order(s) wait"));
    }
}
