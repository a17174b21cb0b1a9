//! Phase 3: tell Best Buy about each labelled parcel (tracking upload, then mark shipped),
//! read the order back, log it, and confirm it is `SHIPPED`.
//!
//! It takes the orders whose shipment is journaled with a valid PIN and a saved label and
//! that are not yet confirmed shipped, reads their current state 100 ids a call, and
//! decides from that state, never from an error text: SHIPPING → the missing writes;
//! SHIPPED → recorded, no write; anything else → the label was bought for an order Best
//! Buy no longer wants, which a person must refund. Each write is journaled, so a run
//! resumes where the last stopped and never repeats one that succeeded.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use chrono::Utc;

use super::{
    Cycle, OrderOutcome, Phase, PhaseReport, for_each_order, listing_failed, report_unreadable,
};
use crate::bestbuy::{BestBuyClient, BestBuyError, Order, OrderState, TrackingUpload};
use crate::http::WriteMode;
use crate::ids::OrderId;
use crate::journal::{Confirmation, ShipEvent, ShipmentRecord, ShippedOrderLine};

/// An order ready for phase 3: its shipment and PIN.
struct Labelled {
    order_id: OrderId,
    shipment: ShipmentRecord,
    pin: String,
}

pub fn run(cycle: &Cycle, bestbuy: &BestBuyClient) -> Result<PhaseReport> {
    let mut report = PhaseReport::new(Phase::Ship, cycle.mode);
    let ready = ready_orders(cycle);
    if ready.is_empty() {
        return Ok(report);
    }
    let ids: Vec<OrderId> = ready.iter().map(|item| item.order_id.clone()).collect();
    let listing = match bestbuy.list_orders_by_ids(&ids) {
        Ok(listing) => listing,
        Err(error) => {
            return listing_failed(report, "reading the state of the labelled orders", error);
        }
    };
    report_unreadable(&mut report, listing.unreadable);
    let current: BTreeMap<OrderId, Order> = listing
        .orders
        .into_iter()
        .map(|order| (order.id.clone(), order))
        .collect();

    let outcomes = for_each_order(cycle, Phase::Ship, &ready, |item| {
        ship_one(cycle, bestbuy, item, current.get(&item.order_id))
            .with_context(|| format!("order {}", item.order_id))
    })?;
    for (item, outcome) in ready.iter().zip(outcomes) {
        report.outcomes.push((item.order_id.to_string(), outcome));
    }

    if cycle.mode == WriteMode::Live {
        confirm_shipped(cycle, bestbuy, &mut report)?;
    }
    Ok(report)
}

/// Orders with a shipment, a valid PIN and a saved label, not yet confirmed shipped, not
/// cancelled after their label, and not shipped by the previous tool. An order marked
/// shipped whose read-back did not say SHIPPED stays here: while Best Buy still shows it
/// SHIPPING, OR24 is sent again (harmless: a shipped order only answers 400).
fn ready_orders(cycle: &Cycle) -> Vec<Labelled> {
    cycle
        .journal
        .active_orders()
        .into_iter()
        .filter(|(order_id, record)| {
            cycle.selects(order_id)
                && !cycle.journal.shipped_by_legacy_tool(order_id)
                && !record.ship.confirmed
                && record.ship.cancelled_after_label.is_none()
                && record.label.labels.is_some()
                && record.label.pin.as_ref().is_some_and(|pin| pin.is_valid())
        })
        .filter_map(|(order_id, record)| {
            let shipment = record.label.shipment?;
            let pin = shipment.tracking_pin.clone()?;
            Some(Labelled {
                order_id,
                shipment,
                pin,
            })
        })
        .collect()
}

fn ship_one(
    cycle: &Cycle,
    bestbuy: &BestBuyClient,
    item: &Labelled,
    current: Option<&Order>,
) -> Result<OrderOutcome> {
    let order_id = &item.order_id;
    let Some(order) = current else {
        let reason = "Best Buy did not return this order in a form bbship can read; it is tried again next run"
            .to_owned();
        log::error!("ship: order {order_id}: {reason}");
        return Ok(OrderOutcome::Failed(reason));
    };
    match &order.state {
        OrderState::Shipped => {
            log::info!("ship: order {order_id}: already SHIPPED on Best Buy");
            record_shipped(cycle, order_id, Confirmation::ConfirmedByState)?;
            Ok(OrderOutcome::Done)
        }
        OrderState::Shipping => ship_writes(cycle, bestbuy, item, order),
        other => {
            let reason = format!(
                "cancelled after label: Best Buy shows {other}; shipment {}, PIN {} — request a refund \
                 from Canada Post (the order is never marked shipped)",
                item.shipment.shipment_id, item.pin
            );
            log::error!("ship: order {order_id}: {reason}");
            if cycle.mode == WriteMode::Live {
                cycle
                    .journal
                    .record_ship_event(ShipEvent::CancelledAfterLabel {
                        order_id: order_id.clone(),
                        state: other.to_string(),
                        shipment_id: item.shipment.shipment_id.to_string(),
                        tracking_pin: item.pin.clone(),
                        at: Utc::now(),
                    })?;
            }
            Ok(OrderOutcome::Failed(reason))
        }
    }
}

/// OR23 unless already done, then OR24, for an order in SHIPPING.
fn ship_writes(
    cycle: &Cycle,
    bestbuy: &BestBuyClient,
    item: &Labelled,
    order: &Order,
) -> Result<OrderOutcome> {
    let order_id = &item.order_id;
    let journaled = cycle
        .journal
        .order(order_id)
        .and_then(|record| record.ship.tracking_uploaded);
    let already_on_best_buy = order.shipping_tracking.as_deref() == Some(item.pin.as_str());
    if journaled.as_deref() != Some(item.pin.as_str()) {
        if already_on_best_buy {
            record_tracking(cycle, order_id, &item.pin, Confirmation::ConfirmedByState)?;
        } else {
            let upload = tracking_upload(cycle, &item.pin);
            match bestbuy.upload_tracking(order_id, &upload, cycle.mode) {
                Ok(true) => record_tracking(cycle, order_id, &item.pin, Confirmation::Answered)?,
                Ok(false) => {} // dry run: printed
                Err(error) if error.is_unauthorized() => return Err(error.into()),
                Err(error) => {
                    // Decide from a fresh read, not from the error.
                    match reread(bestbuy, order_id) {
                        Ok(Some(fresh))
                            if fresh.shipping_tracking.as_deref() == Some(item.pin.as_str()) =>
                        {
                            record_tracking(
                                cycle,
                                order_id,
                                &item.pin,
                                Confirmation::ConfirmedByState,
                            )?;
                        }
                        Ok(Some(fresh)) if fresh.state == OrderState::Shipped => {
                            record_shipped(cycle, order_id, Confirmation::ConfirmedByState)?;
                            return Ok(OrderOutcome::Done);
                        }
                        Ok(_) | Err(_) => {
                            let reason = format!(
                                "uploading tracking {} failed: {error}; the next run tries again",
                                item.pin
                            );
                            log::error!("ship: order {order_id}: {reason}");
                            return Ok(OrderOutcome::Failed(reason));
                        }
                    }
                }
            }
        }
    }

    match bestbuy.mark_shipped(order_id, cycle.mode) {
        Ok(true) => {
            record_shipped(cycle, order_id, Confirmation::Answered)?;
            Ok(OrderOutcome::Done)
        }
        Ok(false) => Ok(OrderOutcome::WouldDo),
        Err(error) if error.is_unauthorized() => Err(error.into()),
        Err(error) => {
            // A 400 on a repeat, or a lost answer: only the state says whether it worked.
            match reread(bestbuy, order_id) {
                Ok(Some(fresh)) if fresh.state == OrderState::Shipped => {
                    record_shipped(cycle, order_id, Confirmation::ConfirmedByState)?;
                    Ok(OrderOutcome::Done)
                }
                Ok(Some(fresh))
                    if fresh.state == OrderState::Shipping
                        && matches!(error, BestBuyError::UnknownOutcome(_)) =>
                {
                    // A repeat of OR24 is harmless: on a shipped order it only gets a 400.
                    match bestbuy.mark_shipped(order_id, cycle.mode) {
                        Ok(_) => {
                            record_shipped(cycle, order_id, Confirmation::Answered)?;
                            Ok(OrderOutcome::Done)
                        }
                        Err(second) => Ok(fail(
                            order_id,
                            format!(
                                "marking it shipped failed: {error}; the retry failed too: {second}; the next run tries again"
                            ),
                        )),
                    }
                }
                Ok(_) | Err(_) => Ok(fail(
                    order_id,
                    format!(
                        "marking it shipped failed: {error}; the next run tries again (tracking is already uploaded)"
                    ),
                )),
            }
        }
    }
}

fn fail(order_id: &OrderId, reason: String) -> OrderOutcome {
    log::error!("ship: order {order_id}: {reason}");
    OrderOutcome::Failed(reason)
}

/// The OR23 body. A carrier Best Buy knows by its code gets only the code and the number,
/// the body production answered 204 to (Best Buy builds the tracking link itself); the
/// name and link are for a carrier it does not know, so a default name never travels
/// beside a code.
fn tracking_upload(cycle: &Cycle, pin: &str) -> TrackingUpload {
    let bestbuy = &cycle.config.bestbuy;
    match &bestbuy.carrier_code {
        Some(code) => TrackingUpload {
            carrier_code: Some(code.to_string()),
            carrier_name: None,
            carrier_url: None,
            tracking_number: pin.to_owned(),
        },
        None => TrackingUpload {
            carrier_code: None,
            carrier_name: bestbuy.carrier_name.as_ref().map(|name| name.to_string()),
            carrier_url: bestbuy.carrier_url.as_ref().map(|url| url.render(pin)),
            tracking_number: pin.to_owned(),
        },
    }
}

fn reread(bestbuy: &BestBuyClient, order_id: &OrderId) -> Result<Option<Order>, BestBuyError> {
    Ok(bestbuy
        .list_orders_by_ids(std::slice::from_ref(order_id))?
        .orders
        .into_iter()
        .find(|order| order.id == *order_id))
}

fn record_tracking(
    cycle: &Cycle,
    order_id: &OrderId,
    pin: &str,
    outcome: Confirmation,
) -> Result<()> {
    if cycle.mode == WriteMode::DryRun {
        return Ok(());
    }
    log::info!("ship: order {order_id}: tracking {pin} uploaded");
    cycle
        .journal
        .record_ship_event(ShipEvent::TrackingUploaded {
            order_id: order_id.clone(),
            tracking_number: pin.to_owned(),
            at: Utc::now(),
            outcome,
        })
}

fn record_shipped(cycle: &Cycle, order_id: &OrderId, outcome: Confirmation) -> Result<()> {
    if cycle.mode == WriteMode::DryRun {
        return Ok(());
    }
    log::info!("ship: order {order_id}: marked shipped");
    cycle.journal.record_ship_event(ShipEvent::MarkedShipped {
        order_id: order_id.clone(),
        at: Utc::now(),
        outcome,
    })
}

/// Reads back every order marked shipped and not yet confirmed, 100 ids a call, logs
/// each whole, and checks its state is SHIPPED; a mismatch is reported and checked again
/// next run.
fn confirm_shipped(cycle: &Cycle, bestbuy: &BestBuyClient, report: &mut PhaseReport) -> Result<()> {
    let pending: Vec<OrderId> = cycle
        .journal
        .active_orders()
        .into_iter()
        .filter(|(order_id, record)| {
            cycle.selects(order_id) && record.ship.marked_shipped && !record.ship.confirmed
        })
        .map(|(order_id, _)| order_id)
        .collect();
    if pending.is_empty() {
        return Ok(());
    }
    let listing = match bestbuy.list_orders_by_ids(&pending) {
        Ok(listing) => listing,
        Err(error) if error.is_unauthorized() => {
            return Err(anyhow::Error::new(error).context("reading the shipped orders back"));
        }
        Err(error) => {
            let problem = format!(
                "reading the shipped orders back failed: {error}; the next run checks them"
            );
            log::error!("ship: {problem}");
            report.problems.push(problem);
            return Ok(());
        }
    };
    report_unreadable(report, listing.unreadable);
    for order_id in &pending {
        let Some(order) = listing.orders.iter().find(|order| order.id == *order_id) else {
            let problem = format!(
                "order {order_id}: Best Buy did not return it after shipping; checked again next run"
            );
            log::error!("ship: {problem}");
            report.problems.push(problem);
            continue;
        };
        cycle.journal.record_shipped_order(ShippedOrderLine {
            order_id: order_id.clone(),
            order_state: order.state.to_string(),
            logged_at: Utc::now(),
            order: order.raw.clone(),
        })?;
        if order.state != OrderState::Shipped {
            let problem = format!(
                "order {order_id}: Best Buy shows {} after it was marked shipped, not SHIPPED; checked again next run",
                order.state
            );
            log::error!("ship: {problem}");
            report.problems.push(problem);
        }
    }
    Ok(())
}
