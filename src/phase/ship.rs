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

use anyhow::Result;
use chrono::Utc;

use super::{
    Cycle, Failure, OrderItem, OrderOutcome, Phase, PhaseReport, Step, for_each_order,
    listing_failed, report_unreadable, stop_run_if_refused,
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

impl OrderItem for Labelled {
    fn order_id(&self) -> &OrderId {
        &self.order_id
    }
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
) -> Step {
    let order_id = &item.order_id;
    let Some(order) = current else {
        return Err(Failure::order(
            "Best Buy did not return this order in a form bbship can read; it is tried again next run",
        ));
    };
    match &order.state {
        OrderState::Shipped => {
            log::info!("ship: order {order_id}: already SHIPPED on Best Buy");
            record_shipped(cycle, order_id, Confirmation::ConfirmedByState)?;
            Ok(OrderOutcome::Done)
        }
        OrderState::Shipping => ship_writes(cycle, bestbuy, item, order),
        other => {
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
            Err(Failure::order(format!(
                "cancelled after label: Best Buy shows {other}; shipment {}, PIN {} — request a refund \
                 from Canada Post (the order is never marked shipped)",
                item.shipment.shipment_id, item.pin
            )))
        }
    }
}

/// OR23 unless already done, then OR24, for an order in SHIPPING.
fn ship_writes(cycle: &Cycle, bestbuy: &BestBuyClient, item: &Labelled, order: &Order) -> Step {
    let order_id = &item.order_id;
    let journaled = cycle
        .journal
        .active_order(order_id)
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
                Err(error) => {
                    let error = Failure::stop_if_refused(error)?;
                    // Decide from a fresh read, not from the error.
                    match read_back(bestbuy, order_id)? {
                        Some(fresh)
                            if fresh.shipping_tracking.as_deref() == Some(item.pin.as_str()) =>
                        {
                            record_tracking(
                                cycle,
                                order_id,
                                &item.pin,
                                Confirmation::ConfirmedByState,
                            )?;
                        }
                        Some(fresh) if fresh.state == OrderState::Shipped => {
                            record_shipped(cycle, order_id, Confirmation::ConfirmedByState)?;
                            return Ok(OrderOutcome::Done);
                        }
                        _ => {
                            return Err(Failure::order(format!(
                                "uploading tracking {} failed: {error}; the next run tries again",
                                item.pin
                            )));
                        }
                    }
                }
            }
        }
    }

    let error = match bestbuy.mark_shipped(order_id, cycle.mode) {
        Ok(true) => {
            record_shipped(cycle, order_id, Confirmation::Answered)?;
            return Ok(OrderOutcome::Done);
        }
        Ok(false) => return Ok(OrderOutcome::WouldDo),
        Err(error) => Failure::stop_if_refused(error)?,
    };
    // A 400 on a repeat, or a lost answer: only the state says whether it worked.
    match read_back(bestbuy, order_id)? {
        Some(fresh) if fresh.state == OrderState::Shipped => {
            record_shipped(cycle, order_id, Confirmation::ConfirmedByState)?;
            Ok(OrderOutcome::Done)
        }
        Some(fresh)
            if fresh.state == OrderState::Shipping
                && matches!(error, BestBuyError::UnknownOutcome(_)) =>
        {
            // A repeat of OR24 is harmless: on a shipped order it only gets a 400.
            match bestbuy.mark_shipped(order_id, cycle.mode) {
                Ok(_) => {
                    record_shipped(cycle, order_id, Confirmation::Answered)?;
                    Ok(OrderOutcome::Done)
                }
                Err(second) => {
                    let second = Failure::stop_if_refused(second)?;
                    Err(Failure::order(format!(
                        "marking it shipped failed: {error}; the retry failed too: {second}; the next \
                         run tries again"
                    )))
                }
            }
        }
        _ => Err(Failure::order(format!(
            "marking it shipped failed: {error}; the next run tries again (tracking is already uploaded)"
        ))),
    }
}

/// The order read back after a write whose effect is unknown; `None` when that read fails
/// too (the caller then fails the order, to be tried again next run), unless the failure
/// is a refused key, which stops the run.
fn read_back(bestbuy: &BestBuyClient, order_id: &OrderId) -> Step<Option<Order>> {
    match bestbuy.order(order_id) {
        Ok(order) => Ok(order),
        Err(error) => {
            let reason = Failure::stop_if_refused(error)?;
            log::info!("ship: order {order_id}: reading it back failed: {reason}");
            Ok(None)
        }
    }
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
        Err(error) => {
            let reason = stop_run_if_refused("reading the shipped orders back", error)?;
            report.problem(format!(
                "reading the shipped orders back failed: {reason}; the next run checks them"
            ));
            return Ok(());
        }
    };
    report_unreadable(report, listing.unreadable);
    for order_id in &pending {
        let Some(order) = listing.orders.iter().find(|order| order.id == *order_id) else {
            report.problem(format!(
                "order {order_id}: Best Buy did not return it after shipping; checked again next run"
            ));
            continue;
        };
        cycle.journal.record_shipped_order(ShippedOrderLine {
            order_id: order_id.clone(),
            order_state: order.state.to_string(),
            logged_at: Utc::now(),
            order: order.raw.clone(),
        })?;
        if order.state != OrderState::Shipped {
            report.problem(format!(
                "order {order_id}: Best Buy shows {} after it was marked shipped, not SHIPPED; \
                 checked again next run",
                order.state
            ));
        }
    }
    Ok(())
}
