//! Phase 2: exactly one Canada Post shipment, a checked PIN and a saved 4x6 label for
//! every order ready to ship.
//!
//! A transmitted label is real postage and cannot be voided, so this phase follows
//! the never-ship-twice protocol to the letter: the intent (order id + request id) is
//! on disk before the Create Shipment POST, the shipment right after it; an attempt whose
//! outcome is unknown is looked up by its request id before anything else, and a create
//! is never repeated within a run. Everything after the create (PIN check, label
//! download, history line) is resumable and can only ever read the existing shipment.
//!
//! A lookup that finds nothing right after an unknown outcome leaves the attempt open:
//! Canada Post's search may lag its create, so only a later run's lookup (minutes later)
//! may close it and allow a new create.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;

use super::preflight::{self, Prepared};
use super::{
    Cycle, OrderOutcome, Phase, PhaseReport, for_each_order, keep_in_state, listing_failed,
    report_unreadable,
};
use crate::address::BoundedText;
use crate::bestbuy::{BestBuyClient, Order, OrderState};
use crate::canadapost::client::CanadaPostError;
use crate::canadapost::label_check::{self, LabelProblem};
use crate::canadapost::shipment::{ShipmentSpec, create_shipment_xml};
use crate::canadapost::types::ShipmentStatus;
use crate::canadapost::{CanadaPostClient, LabelDownload, Link, ShipmentInfo, Tracking};
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

impl Work {
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
    let breaker = PostageBreaker::new(cycle.config.limits.max_labels_per_run.get(), eligible);
    let outcomes = for_each_order(cycle, Phase::Label, &work, |item| {
        let order = match item {
            Work::Listed(order) => Some(order.as_ref()),
            Work::Unfinished(_) => None,
        };
        label_one(cycle, canada_post, &breaker, item.order_id(), order)
            .with_context(|| format!("order {}", item.order_id()))
    })?;
    for (item, outcome) in work.iter().zip(outcomes) {
        report.outcomes.push((item.order_id().to_string(), outcome));
    }
    crate::print::write_slips(cycle);
    if let Some(problem) = breaker.tripped() {
        log::error!("label: {problem}");
        report.problems.push(problem);
    }
    Ok(report)
}

/// The circuit breaker on postage. Every Create Shipment of a run takes one unit of an
/// allowance of `limits.max_labels_per_run`, and never more than the orders that were
/// eligible for one when the run began: more creates than that means something is wrong
/// (a flood of orders, or a bug), and each create is money that cannot be refunded
/// automatically. Once it is spent the run stops creating, finishes everything else, and
/// says so loudly; the orders held back are created by the next run.
struct PostageBreaker {
    max_labels_per_run: usize,
    eligible: usize,
    sent: AtomicUsize,
    held_back: AtomicUsize,
}

impl PostageBreaker {
    fn new(max_labels_per_run: usize, eligible: usize) -> PostageBreaker {
        PostageBreaker {
            max_labels_per_run,
            eligible,
            sent: AtomicUsize::new(0),
            held_back: AtomicUsize::new(0),
        }
    }

    fn allowance(&self) -> usize {
        self.max_labels_per_run.min(self.eligible)
    }

    /// Takes one create from the allowance; `false` once it is spent (and counts the
    /// order held back).
    fn allow_create(&self) -> bool {
        let allowance = self.allowance();
        let taken = self
            .sent
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |sent| {
                (sent < allowance).then_some(sent + 1)
            })
            .is_ok();
        if !taken {
            self.held_back.fetch_add(1, Ordering::SeqCst);
        }
        taken
    }

    /// The report's problem when the breaker held an order back.
    fn tripped(&self) -> Option<String> {
        let held_back = self.held_back.load(Ordering::SeqCst);
        if held_back == 0 {
            return None;
        }
        let sent = self.sent.load(Ordering::SeqCst);
        let limit = if self.max_labels_per_run <= self.eligible {
            format!("limits.max_labels_per_run is {}", self.max_labels_per_run)
        } else {
            format!(
                "only {} order(s) were eligible for a label when the run began, so more creates \
                 would mean a fault",
                self.eligible
            )
        };
        Some(format!(
            "circuit breaker: this run sent {sent} Create Shipment request(s) and stopped \
             ({limit}); {held_back} order(s) wait for the next run. If that many labels is \
             unexpected, stop cron and look before the next run buys more"
        ))
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
            if !breaker.allow_create() {
                log::info!(
                    "label: order {order_id}: held back by the circuit breaker; the next run creates its shipment"
                );
                return Ok(OrderOutcome::Skipped(
                    "held back by the circuit breaker (limits.max_labels_per_run); the next run creates its shipment"
                        .to_owned(),
                ));
            }
            match create(cycle, canada_post, order)? {
                Created::Shipment(shipment) => shipment,
                Created::Failed(reason) => {
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
        paid_by_customer: canada_post.paid_by_customer(),
        contract_id: &canada_post.contract_id,
    };
    create_shipment_xml(&spec).map_err(|error| format!("building the shipment XML failed: {error}"))
}

enum Created {
    Shipment(ShipmentRecord),
    Failed(String),
}

/// The one place that buys a label: intent on disk, one POST, shipment on disk.
fn create(cycle: &Cycle, canada_post: &CanadaPostClient, order: &Order) -> Result<Created> {
    let order_id = &order.id;
    let prepared = match prepare(cycle, order) {
        Ok(prepared) => prepared,
        Err(reason) => return Ok(Created::Failed(reason)),
    };
    let request_id = RequestId::for_attempt(order_id, Utc::now());
    let body = match request_body(cycle, order_id, &request_id, &prepared) {
        Ok(body) => body,
        Err(reason) => return Ok(Created::Failed(reason)),
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
    cycle
        .journal
        .record_label_event(LabelEvent::Intent {
            order_id: order_id.clone(),
            request_id: request_id.clone(),
            at: Utc::now(),
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
        )),
        Err(error) if error.is_unauthorized() => Err(error.into()),
        Err(error @ CanadaPostError::Rejected { .. }) => {
            close(format!("refused: {error}"))?;
            Ok(Created::Failed(error.to_string()))
        }
        Err(error @ CanadaPostError::Transport(_)) => {
            // The connection was never made, so nothing was bought.
            close(format!("never sent: {error}"))?;
            Ok(Created::Failed(error.to_string()))
        }
        Err(error) => {
            log::warn!(
                "label: order {order_id}: {error}; looking it up by request id {request_id}"
            );
            match canada_post.find_by_request_id(&request_id) {
                Ok(links) if !links.is_empty() => {
                    adopt(cycle, canada_post, order_id, &request_id, &links).map(|found| {
                        match found {
                            Some(shipment) => Created::Shipment(shipment),
                            None => Created::Failed(format!(
                                "{error}; the lookup found it but reading it failed; the next run tries again"
                            )),
                        }
                    })
                }
                Ok(_) => Ok(Created::Failed(format!(
                    "{error}; the lookup finds no shipment yet, so nothing more is created in this run; \
                     the next run looks again before creating anything"
                ))),
                Err(lookup_error) if lookup_error.is_unauthorized() => Err(lookup_error.into()),
                Err(lookup_error) => Ok(Created::Failed(format!(
                    "{error}; looking it up failed too ({lookup_error}); the next run looks it up \
                     before creating anything"
                ))),
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
        due_amount: info.due_amount,
        links: info.links,
    };
    log::info!(
        "label: order {order_id}: shipment {} {} (PIN {}, status {}, due {})",
        shipment.shipment_id,
        if adopted {
            "read from Canada Post"
        } else {
            "created"
        },
        shipment.tracking_pin.as_deref().unwrap_or("none"),
        ShipmentStatus::describe(shipment.status.as_ref()),
        shipment
            .due_amount
            .as_deref()
            .map_or_else(|| "not given".to_owned(), |due| format!("{due} CAD"))
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

/// Settles every earlier attempt with an unknown outcome, by request id, before any
/// new create.
fn resolve_open_attempts(
    cycle: &Cycle,
    canada_post: &CanadaPostClient,
    order_id: &OrderId,
    progress: &LabelProgress,
) -> Result<Lookup> {
    let mut found = None;
    for request_id in &progress.open_intents {
        match canada_post.find_by_request_id(request_id) {
            Ok(links) if links.is_empty() => {
                log::info!(
                    "label: order {order_id}: the attempt {request_id} created nothing (lookup found no shipment)"
                );
                cycle.journal.record_label_event(LabelEvent::IntentClosed {
                    order_id: order_id.clone(),
                    request_id: request_id.clone(),
                    at: Utc::now(),
                    reason: "not found by the request-id lookup".to_owned(),
                })?;
            }
            Ok(links) => match adopt(cycle, canada_post, order_id, request_id, &links)? {
                Some(shipment) => {
                    found.get_or_insert(shipment);
                }
                None => {
                    return Ok(Lookup::Unknown(format!(
                        "attempt {request_id} created a shipment but reading it failed; the next run tries again"
                    )));
                }
            },
            Err(error) if error.is_unauthorized() => return Err(error.into()),
            Err(error) => {
                return Ok(Lookup::Unknown(format!(
                    "an earlier create attempt ({request_id}) has an unknown outcome and looking it up failed: \
                     {error}; nothing is created until a lookup answers (next run)"
                )));
            }
        }
    }
    Ok(found.map_or(Lookup::NothingFound, Lookup::Found))
}

/// Reads and records the shipments a lookup found. More than one is a duplicate bought
/// outside bbship's protocol: each is journaled, and a person is told to refund the rest.
fn adopt(
    cycle: &Cycle,
    canada_post: &CanadaPostClient,
    order_id: &OrderId,
    request_id: &RequestId,
    links: &[Link],
) -> Result<Option<ShipmentRecord>> {
    let mut adopted: Option<ShipmentRecord> = None;
    for link in links {
        match canada_post.shipment(link) {
            Ok(info) => {
                let record = record_created(cycle, order_id, request_id, info, true)?;
                match &adopted {
                    None => adopted = Some(record),
                    Some(first) => log::error!(
                        "label: order {order_id}: request id {request_id} found more than one shipment; \
                         keeping {} and a person should request a refund for {} (PIN {})",
                        first.shipment_id,
                        record.shipment_id,
                        record.tracking_pin.as_deref().unwrap_or("none")
                    ),
                }
            }
            Err(error) if error.is_unauthorized() => return Err(error.into()),
            Err(error) => {
                log::warn!(
                    "label: order {order_id}: reading a shipment found by request id {request_id}: {error}"
                );
                return Ok(None);
            }
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
            created_at: progress.created_at,
            label_saved_at: progress.label_saved_at,
            logged_at: Utc::now(),
        };
        cycle.journal.record_shipping_history(line)?;
        log::info!(
            "label: order {order_id}: shipment {shipment_id}, PIN {pin_text}, label {}",
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

    #[test]
    fn the_breaker_allows_at_most_max_labels_per_run_and_counts_the_rest() {
        let breaker = PostageBreaker::new(3, 5);
        let allowed = (0..5).filter(|_| breaker.allow_create()).count();
        assert_eq!(allowed, 3);
        let problem = breaker.tripped().unwrap();
        assert!(problem.contains("sent 3 Create Shipment"), "{problem}");
        assert!(problem.contains("max_labels_per_run is 3"), "{problem}");
        assert!(problem.contains("2 order(s) wait"), "{problem}");
    }

    #[test]
    fn the_breaker_never_allows_more_creates_than_orders_eligible() {
        let breaker = PostageBreaker::new(50, 2);
        assert!(breaker.allow_create());
        assert!(breaker.allow_create());
        assert!(!breaker.allow_create());
        let problem = breaker.tripped().unwrap();
        assert!(
            problem.contains("only 2 order(s) were eligible"),
            "{problem}"
        );
    }

    #[test]
    fn an_untripped_breaker_reports_nothing() {
        let breaker = PostageBreaker::new(50, 4);
        for _ in 0..4 {
            assert!(breaker.allow_create());
        }
        assert_eq!(breaker.tripped(), None);
    }

    #[test]
    fn concurrent_creates_never_exceed_the_allowance() {
        let breaker = PostageBreaker::new(10, 100);
        let allowed = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..10 {
                        if breaker.allow_create() {
                            allowed.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        assert_eq!(allowed.load(Ordering::SeqCst), 10);
        assert!(breaker.tripped().unwrap().contains("70 order(s) wait"));
    }
}
