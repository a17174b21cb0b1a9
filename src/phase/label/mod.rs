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

mod breaker;

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
use crate::canadapost::money::Postage;
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
use breaker::PostageBreaker;

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
