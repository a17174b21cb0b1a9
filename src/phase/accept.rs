//! Phase 1: accept every order waiting for acceptance, every line of it.
//!
//! All pages are read before anything is accepted (accepting while paging shifts the
//! offsets). A failed or unanswered accept is never simply repeated: the order is read
//! again, and only an order still waiting is accepted once more. After the phase, the
//! list is read again (after a short pause, since Best Buy takes a moment to move an
//! accepted order on); an order this run accepted that is still listed is read again with
//! backoff for a while, and one that still waits after that is reported.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;

use super::{
    Cycle, Failure, OrderOutcome, Phase, PhaseReport, Step, for_each_order, keep_in_state,
    listing_failed, report_unreadable, stop_run_if_refused,
};
use crate::bestbuy::{BestBuyClient, BestBuyError, Order, OrderState};
use crate::http::WriteMode;
use crate::ids::{OrderId, OrderLineId};
use crate::journal::{AcceptedOrder, Confirmation};

pub fn run(cycle: &Cycle, bestbuy: &BestBuyClient) -> Result<PhaseReport> {
    let mut report = PhaseReport::new(Phase::Accept, cycle.mode);
    let listing = match bestbuy.list_orders_by_state(&OrderState::WaitingAcceptance) {
        Ok(listing) => listing,
        Err(error) => {
            return listing_failed(report, "listing the orders waiting for acceptance", error);
        }
    };

    report_unreadable(&mut report, listing.unreadable);

    let orders = keep_in_state(
        &mut report,
        listing.orders,
        &OrderState::WaitingAcceptance,
        |id| cycle.selects(id),
    );
    let outcomes = for_each_order(cycle, Phase::Accept, &orders, |order| {
        accept_one(cycle, bestbuy, order)
    })?;
    let accepted: Vec<OrderId> = orders
        .iter()
        .zip(&outcomes)
        .filter(|(_, outcome)| **outcome == OrderOutcome::Done)
        .map(|(order, _)| order.id.clone())
        .collect();
    let window = chrono::Duration::hours(i64::from(
        cycle.config.bestbuy.acceptance_window_hours.get(),
    ));
    let warning = chrono::Duration::hours(i64::from(cycle.config.alerts.acceptance_warning_hours));
    let now = chrono::Utc::now();
    for (order, outcome) in orders.iter().zip(outcomes) {
        if let Some(deadline) = order.created_date.map(|created| created + window) {
            report
                .acceptance_deadlines
                .insert(order.id.to_string(), deadline);
            // An order accepted in this run is safe; one still waiting is not.
            if outcome != OrderOutcome::Done && deadline - now <= warning {
                log::warn!(
                    "accept: order {} still waits for acceptance and its deadline (estimated: created {} + {} h) is {}",
                    order.id,
                    order
                        .created_date
                        .map(|created| created.to_rfc3339())
                        .unwrap_or_default(),
                    window.num_hours(),
                    describe_deadline(deadline - now)
                );
            }
        }
        report.outcomes.push((order.id.to_string(), outcome));
    }

    if !accepted.is_empty() {
        recheck(cycle, bestbuy, &accepted, &mut report)?;
    }
    Ok(report)
}

/// "in 2 h 5 min" or "past by 40 min".
fn describe_deadline(left: chrono::Duration) -> String {
    let minutes = left.num_minutes().abs();
    let text = if minutes >= 60 {
        format!("{} h {} min", minutes / 60, minutes % 60)
    } else {
        format!("{minutes} min")
    };
    if left < chrono::Duration::zero() {
        format!("past by {text}")
    } else {
        format!("in {text}")
    }
}

fn accept_one(cycle: &Cycle, bestbuy: &BestBuyClient, order: &Order) -> Step {
    let line_ids: Vec<OrderLineId> = order.lines.iter().map(|line| line.id.clone()).collect();
    if line_ids.is_empty() {
        return Err(Failure::order("it has no order lines to accept"));
    }
    let first_error = match bestbuy.accept_order(&order.id, &line_ids, cycle.mode) {
        Ok(true) => return record(cycle, order, &line_ids, Confirmation::Answered),
        Ok(false) => {
            log::info!(
                "accept: order {}: would accept {} line(s)",
                order.id,
                line_ids.len()
            );
            return Ok(OrderOutcome::WouldDo);
        }
        Err(error) => Failure::stop_if_refused(error)?,
    };

    // The write failed or its outcome is unknown. Decide from the order's state now.
    log::warn!(
        "accept: order {}: {first_error}; reading its state again",
        order.id
    );
    let current = match bestbuy.order(&order.id) {
        Ok(current) => current.map(|order| order.state),
        Err(read_error) => {
            let read_error = Failure::stop_if_refused(read_error)?;
            return Err(Failure::order(format!(
                "{first_error}; then reading it again failed: {read_error}"
            )));
        }
    };
    match current {
        Some(state) if state.is_past_acceptance() => {
            log::info!(
                "accept: order {}: now {state}, so the accept took effect",
                order.id
            );
            record(cycle, order, &line_ids, Confirmation::ConfirmedByState)
        }
        Some(OrderState::WaitingAcceptance)
            if !matches!(first_error, BestBuyError::Refused { .. }) =>
        {
            // The first attempt provably did nothing: one more, no more.
            match bestbuy.accept_order(&order.id, &line_ids, cycle.mode) {
                Ok(_) => record(cycle, order, &line_ids, Confirmation::Answered),
                Err(second_error) => {
                    let second_error = Failure::stop_if_refused(second_error)?;
                    Err(Failure::order(format!(
                        "{first_error}; the retry failed too: {second_error}"
                    )))
                }
            }
        }
        Some(OrderState::WaitingAcceptance) => Err(first_error.into()),
        Some(state) => {
            let reason = format!("it is now {state}; nothing to accept");
            log::warn!("accept: order {}: {reason}", order.id);
            Ok(OrderOutcome::Skipped(reason))
        }
        None => Err(Failure::order(format!(
            "{first_error}; and Best Buy no longer lists the order"
        ))),
    }
}

fn record(cycle: &Cycle, order: &Order, line_ids: &[OrderLineId], outcome: Confirmation) -> Step {
    if cycle.mode == WriteMode::DryRun {
        return Ok(OrderOutcome::WouldDo);
    }
    let window = chrono::Duration::hours(i64::from(
        cycle.config.bestbuy.acceptance_window_hours.get(),
    ));
    let entry = AcceptedOrder {
        order_id: order.id.clone(),
        commercial_id: order.commercial_id.clone(),
        line_ids: line_ids.to_vec(),
        accepted_at: Utc::now(),
        outcome,
        created_date: order.created_date,
        acceptance_deadline: order.created_date.map(|created| created + window),
        shipping_deadline: order.shipping_deadline,
    };
    // A journal that cannot be written makes every later step unsafe: stop the phase.
    cycle
        .journal
        .record_accepted(entry)
        .with_context(|| format!("recording the acceptance of order {}", order.id))?;
    log::info!(
        "accept: order {}: accepted {} line(s)",
        order.id,
        line_ids.len()
    );
    Ok(OrderOutcome::Done)
}

/// The first wait between two re-checks when `bestbuy.accept_recheck_delay_secs` is 0.
const MIN_RECHECK_WAIT: Duration = Duration::from_millis(500);

/// Reads the waiting list again and reports every order this run accepted that is still
/// on it. Orders that arrived meanwhile are left for the next run. Best Buy may keep an
/// accepted order listed as waiting for a while, so one that is still there is read again
/// by id, with waits that double, until `bestbuy.accept_recheck_max_secs` after the first
/// wait began; only an order still waiting then is an error.
fn recheck(
    cycle: &Cycle,
    bestbuy: &BestBuyClient,
    accepted: &[OrderId],
    report: &mut PhaseReport,
) -> Result<()> {
    let settings = &cycle.config.bestbuy;
    let started = Instant::now();
    let window = Duration::from_secs(settings.accept_recheck_max_secs);
    // The first re-check always happens, after its delay, even past a shorter window.
    let mut wait = Duration::from_secs(settings.accept_recheck_delay_secs);
    if !wait.is_zero() {
        std::thread::sleep(wait);
    }
    let listing = match bestbuy.list_orders_by_state(&OrderState::WaitingAcceptance) {
        Ok(listing) => listing,
        Err(error) => {
            let reason =
                stop_run_if_refused("listing the orders waiting for acceptance again", error)?;
            report.problem(format!(
                "listing the orders waiting for acceptance again, to confirm the accepts, failed: \
                 {reason}; the next run sees any that still wait"
            ));
            return Ok(());
        }
    };
    let mut waiting: Vec<OrderId> = still_waiting(accepted, &listing.orders);
    while !waiting.is_empty() {
        wait = (wait * 2).max(MIN_RECHECK_WAIT);
        let Some(left) = window
            .checked_sub(started.elapsed())
            .filter(|left| !left.is_zero())
        else {
            break;
        };
        let wait = wait.min(left);
        if Instant::now() + wait > cycle.deadline {
            break;
        }
        log::info!(
            "accept: {} accepted order(s) still listed as waiting; reading them again in {} ms",
            waiting.len(),
            wait.as_millis()
        );
        std::thread::sleep(wait);
        match bestbuy.list_orders_by_ids(&waiting) {
            Ok(listing) => waiting = still_waiting(&waiting, &listing.orders),
            // One more try while the window lasts; the report below says what is left.
            Err(error) => {
                let reason = stop_run_if_refused("reading the accepted orders again", error)?;
                log::info!("accept: reading the accepted orders again failed: {reason}");
            }
        }
    }
    for order_id in waiting {
        report.problem(format!(
            "order {order_id} is still waiting for acceptance {} s after it was accepted; \
             the next run accepts it again",
            started.elapsed().as_secs()
        ));
    }
    Ok(())
}

/// The orders of `accepted` that `orders` lists as waiting for acceptance.
fn still_waiting(accepted: &[OrderId], orders: &[Order]) -> Vec<OrderId> {
    accepted
        .iter()
        .filter(|order_id| {
            orders
                .iter()
                .any(|order| order.id == **order_id && order.state == OrderState::WaitingAcceptance)
        })
        .cloned()
        .collect()
}
