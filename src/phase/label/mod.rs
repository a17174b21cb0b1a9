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
//!
//! This module picks the orders and decides, with one `match` on what the journal says
//! of each (`LabelStanding`), which step comes next; `create` buys (and searches),
//! `finish` does what follows the create, `breaker` bounds what a run buys.

mod breaker;
mod create;
mod finish;

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use chrono::Utc;

use super::{
    Cycle, Failure, OrderItem, OrderOutcome, Phase, PhaseReport, Step, for_each_order,
    keep_in_state, listing_failed, report_unreadable,
};
use crate::bestbuy::{BestBuyClient, Order, OrderState};
use crate::canadapost::CanadaPostClient;
use crate::canadapost::types::ShipmentStatus;
use crate::http::WriteMode;
use crate::ids::{OrderId, RequestId};
use crate::journal::{FinishedSteps, LabelEvent, LabelInProgress, LabelStanding, ShipmentRecord};
use breaker::PostageBreaker;

/// One order to work on: listed in SHIPPING now, or known to the journal with a label
/// still unfinished (which needs no Best Buy data: it only reads the shipment).
enum Work {
    Listed(Box<Order>),
    Unfinished(OrderId),
}

impl OrderItem for Work {
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
    let listed: BTreeSet<OrderId> = work.iter().map(|item| item.order_id().clone()).collect();
    for (order_id, _) in cycle.journal.active_orders() {
        if cycle.selects(&order_id)
            && !listed.contains(&order_id)
            && cycle.journal.label_standing(&order_id).is_unfinished()
        {
            work.push(Work::Unfinished(order_id));
        }
    }

    if listing_whole {
        release_legacy_orders_gone_from_shipping(cycle, &listed)?;
    }

    let eligible = work
        .iter()
        .filter(|item| {
            matches!(item, Work::Listed(_))
                && cycle.journal.label_standing(item.order_id()).may_create()
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
    })?;
    for (item, outcome) in work.iter().zip(outcomes) {
        report.outcomes.push((item.order_id().to_string(), outcome));
    }
    crate::print::write_slips(cycle);
    for problem in breaker.tripped() {
        report.problem(problem);
    }
    let (known, unknown) = breaker.run_spend();
    report.postage = Some(crate::phase::RunPostage { known, unknown });
    Ok(report)
}

/// The next step for one order, from where the journal says its label stands.
fn label_one(
    cycle: &Cycle,
    canada_post: &CanadaPostClient,
    breaker: &PostageBreaker,
    order_id: &OrderId,
    order: Option<&Order>,
) -> Step {
    let dry_run = cycle.mode == WriteMode::DryRun;
    match cycle.journal.label_standing(order_id) {
        LabelStanding::LegacyTool { pins, held, .. } => {
            legacy_order(cycle, order_id, order.is_some(), pins, held)
        }
        LabelStanding::Settled { shipment_id } => {
            let shipment = shipment_id.as_ref().map_or("?", |shipment| shipment.as_str());
            log::debug!(
                "label: order {order_id}: already labelled and shipped (shipment {shipment})"
            );
            Ok(OrderOutcome::Skipped(format!(
                "already labelled and shipped: shipment {shipment}"
            )))
        }
        LabelStanding::InHistory { shipment_id } => {
            let shipment = shipment_id.as_ref().map_or("?", |shipment| shipment.as_str());
            log::debug!("label: order {order_id}: already labelled (shipment {shipment})");
            Ok(OrderOutcome::Skipped(format!(
                "already labelled: shipment {shipment}"
            )))
        }
        LabelStanding::HasShipment(progress) if dry_run => {
            let shipment = &progress.shipment;
            if !ShipmentStatus::allows_shipping(shipment.status.as_ref()) {
                return Ok(OrderOutcome::Skipped(held_for_a_person(shipment)));
            }
            Ok(OrderOutcome::Skipped(format!(
                "has shipment {}; a live run finishes its PIN check and label",
                shipment.shipment_id
            )))
        }
        LabelStanding::HasShipment(progress) => {
            let LabelInProgress { shipment, done } = *progress;
            let shipment = if ShipmentStatus::allows_shipping(shipment.status.as_ref()) {
                shipment
            } else {
                match create::read_held_again(cycle, canada_post, order_id, &shipment)? {
                    Some(transmitted) => transmitted,
                    // Reported when it was bought; the reminders repeat it until a person
                    // sorts it.
                    None => return Ok(OrderOutcome::Skipped(held_for_a_person(&shipment))),
                }
            };
            finish_shipment(cycle, canada_post, order_id, shipment, done)
        }
        LabelStanding::OpenAttempts(_) if dry_run => Ok(OrderOutcome::Skipped(
            "an earlier create attempt has an unknown outcome; a live run looks it up before anything else"
                .to_owned(),
        )),
        LabelStanding::OpenAttempts(attempts) => {
            match create::resolve_open_attempts(cycle, canada_post, order_id, &attempts)? {
                Some(found) => {
                    finish_shipment(cycle, canada_post, order_id, found, FinishedSteps::default())
                }
                None => create_new(cycle, canada_post, breaker, order_id, order),
            }
        }
        LabelStanding::Fresh if dry_run => dry_run_create(cycle, canada_post, order),
        LabelStanding::Fresh => create_new(cycle, canada_post, breaker, order_id, order),
    }
}

/// An order with no shipment and no attempt left open: a create, if it is still listed
/// ready to ship and the breakers allow one.
fn create_new(
    cycle: &Cycle,
    canada_post: &CanadaPostClient,
    breaker: &PostageBreaker,
    order_id: &OrderId,
    order: Option<&Order>,
) -> Step {
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
    let shipment = create::create(cycle, canada_post, order, reservation)?;
    finish_shipment(
        cycle,
        canada_post,
        order_id,
        shipment,
        FinishedSteps::default(),
    )
}

/// A shipment in hand: held for a person unless `transmitted`, priced if its price is
/// still unknown, then finished.
fn finish_shipment(
    cycle: &Cycle,
    canada_post: &CanadaPostClient,
    order_id: &OrderId,
    shipment: ShipmentRecord,
    done: FinishedSteps,
) -> Step {
    if !ShipmentStatus::allows_shipping(shipment.status.as_ref()) {
        return Err(Failure::order(held_for_a_person(&shipment)));
    }
    let shipment = if shipment.postage.is_none() {
        create::priced(cycle, canada_post, order_id, shipment)?
    } else {
        shipment
    };
    finish::finish(cycle, canada_post, order_id, &shipment, done)
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
fn legacy_order(
    cycle: &Cycle,
    order_id: &OrderId,
    listed: bool,
    pins: Vec<String>,
    held: bool,
) -> Step {
    if !listed {
        log::info!("label: order {order_id}: labelled by the previous tool (its history log)");
        return Ok(OrderOutcome::Skipped(
            "already labelled by the previous tool (cp_shipping_history_log.json)".to_owned(),
        ));
    }
    let reason = crate::journal::legacy::still_shipping_reason(order_id.as_str(), &pins);
    if held {
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
    Err(Failure::order(reason))
}

/// Orders held because the replaced tool labelled them while Best Buy listed them ready to
/// ship, that this (complete) listing no longer shows ready to ship: someone shipped or
/// cancelled them by hand, and the hold is lifted.
fn release_legacy_orders_gone_from_shipping(
    cycle: &Cycle,
    listed: &BTreeSet<OrderId>,
) -> Result<()> {
    if cycle.mode != WriteMode::Live {
        return Ok(());
    }
    for (order_id, record) in cycle.journal.active_orders() {
        if record.label.legacy_still_shipping.is_some()
            && cycle.selects(&order_id)
            && !listed.contains(&order_id)
        {
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

/// A dry run prints the Create Shipment it would send and touches nothing else.
fn dry_run_create(cycle: &Cycle, canada_post: &CanadaPostClient, order: Option<&Order>) -> Step {
    let Some(order) = order else {
        return Ok(OrderOutcome::Skipped("no longer ready to ship".to_owned()));
    };
    let prepared = create::prepare(cycle, order)?;
    let request_id = RequestId::for_attempt(&order.id, Utc::now());
    let body = create::request_body(cycle, &order.id, &request_id, &prepared)?;
    canada_post
        .create_shipment(body, WriteMode::DryRun)
        .map_err(anyhow::Error::new)?;
    Ok(OrderOutcome::WouldDo)
}
