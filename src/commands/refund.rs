//! `bbship refund ORDER`: asks Canada Post to refund the label of an order Best Buy
//! cancelled after the label was bought (the ship phase records that as
//! `cancelled_after_label` and never marks such an order shipped).
//!
//! A refund is only for a label that will never be used, so it refuses, sending nothing,
//! unless every sign agrees: the journal knows the order, its shipment, and its
//! cancellation; the journal has never seen it marked or confirmed shipped; and Best Buy,
//! read now, shows it CANCELED or REFUSED. It then says what it is about to do and asks
//! `[y/N]` on standard input (only `y` or `yes` goes on; no input is a no), unless
//! `--yes`. The request goes to the shipment's `refund` link, once; the answer (a
//! service ticket, or why not) is journaled, so a second `refund` says the first was
//! registered and sends nothing, while one after a failure may ask again. A crash between
//! the request and the journal line costs nothing: asking again is only refused by Canada
//! Post ("already submitted").
//!
//! It writes, so it takes the run lock (exit 75 while a cycle holds it). With `--dry-run`
//! it prints the request (credentials `[REDACTED]`) and sends nothing.
//!
//! Exit codes: 0 the refund was requested now or before (or a dry run printed it); 1 it
//! was refused, declined at the prompt, or failed; 2 configuration, secrets or
//! credentials; 75 the lock is held.

use std::io::{BufRead, Write};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use chrono::Utc;

use super::Paths;
use crate::bestbuy::{BestBuyClient, OrderState};
use crate::canadapost::CanadaPostClient;
use crate::canadapost::refund::refund_request_xml;
use crate::config::Config;
use crate::data_dir::DataDir;
use crate::error::{EXIT_FAILURES, EXIT_OK, UsageError};
use crate::http::WriteMode;
use crate::ids::OrderId;
use crate::journal::{Journal, LabelEvent, OrderRecord, RefundProgress, ShipmentRecord};
use crate::secret::Secrets;
use crate::text::printable;

/// One `bbship refund` invocation.
#[derive(Clone, Debug)]
pub struct RefundRequest {
    pub order_id: OrderId,
    /// `--yes`: no confirmation question.
    pub yes: bool,
    pub dry_run: bool,
}

/// Requests the refund of `request.order_id`'s label when every check holds; reads the
/// confirmation from `input` and writes what it does to `out`.
pub fn run(
    paths: &Paths,
    secrets: &Secrets,
    request: &RefundRequest,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<u8> {
    let order_id = &request.order_id;
    let config = Config::load(&paths.config_path)?;
    let email = config.canada_post.refund_email.clone().ok_or_else(|| {
        UsageError(format!(
            "configuration file {}: `canada_post.refund_email` is not set; Canada Post's refund \
             request needs the address it writes to about the refund",
            paths.config_path.display()
        ))
    })?;
    let api_key = secrets.bestbuy_api_key()?.clone();
    let (username, password) = secrets.canadapost_credentials()?;
    let mode = if request.dry_run {
        WriteMode::DryRun
    } else {
        WriteMode::Live
    };
    let data_dir = DataDir::new(&paths.data_dir);
    // Held until the end of this function, so no cycle works on the order meanwhile.
    let (_lock, journal) = super::open_for(&data_dir, &config, mode)?;

    let (record, shipment) = refundable(&journal, &data_dir, order_id)?;
    let shipment_id = &shipment.shipment_id;
    let pin = shipment.tracking_pin.as_deref().unwrap_or("none");
    if let Some(RefundProgress::Requested {
        at,
        ticket_id,
        ticket_date,
    }) = &record.label.refund
    {
        writeln!(
            out,
            "A refund was already requested for order {order_id} (shipment {shipment_id}, PIN \
             {pin}) on {}: Canada Post service ticket {}{}. Nothing sent.",
            at.format("%Y-%m-%d %H:%M UTC"),
            printable(ticket_id),
            ticket_date
                .as_deref()
                .map(|date| format!(" of {}", printable(date)))
                .unwrap_or_default()
        )?;
        return Ok(EXIT_OK);
    }

    let deadline = Instant::now() + config.limits.cycle_budget();
    let bestbuy = BestBuyClient::new(&config, api_key, deadline);
    let state = best_buy_state(&bestbuy, order_id)?;
    let link = shipment
        .links
        .iter()
        .find(|link| link.rel == "refund")
        .ok_or_else(|| {
            anyhow!(
                "order {order_id}: Canada Post gave no refund link for shipment {shipment_id} (it \
             offers one once a shipment is transmitted and until a refund is requested); \
             request the refund on Canada Post's website. Nothing sent"
            )
        })?;
    let body = refund_request_xml(&email, config.canada_post.account)
        .with_context(|| format!("building the refund request of order {order_id}"))?;

    writeln!(
        out,
        "Order {order_id}: Best Buy shows it {state}; its label was bought: shipment \
         {shipment_id}, PIN {pin}."
    )?;
    writeln!(
        out,
        "Canada Post will be asked to refund this label (it first checks the label was never \
         used; it writes to {email})."
    )?;
    for extra in &record.label.extra_shipments {
        writeln!(
            out,
            "Note: order {order_id} also has shipment {} (PIN {}); this command does not refund \
             it: request that on Canada Post's website.",
            extra.shipment_id,
            extra.tracking_pin.as_deref().unwrap_or("none")
        )?;
    }
    if mode == WriteMode::Live && !request.yes && !confirmed(order_id, &shipment, input, out)? {
        writeln!(out, "No refund requested; nothing sent.")?;
        return Ok(EXIT_FAILURES);
    }

    let canada_post = CanadaPostClient::new(&config, username, password, deadline);
    match canada_post.request_refund(link, body, mode) {
        Ok(None) => Ok(EXIT_OK),
        Ok(Some(ticket)) => {
            journal
                .record_label_event(LabelEvent::RefundRequested {
                    order_id: order_id.clone(),
                    shipment_id: shipment_id.clone(),
                    at: Utc::now(),
                    ticket_id: ticket.service_ticket_id.clone(),
                    ticket_date: ticket.service_ticket_date.clone(),
                })
                .with_context(|| {
                    format!(
                        "Canada Post registered the refund of order {order_id} (service ticket {}), \
                         but recording it failed",
                        printable(&ticket.service_ticket_id)
                    )
                })?;
            writeln!(
                out,
                "Refund requested for order {order_id} (shipment {shipment_id}): Canada Post \
                 service ticket {}{}. Canada Post settles it within days.",
                printable(&ticket.service_ticket_id),
                ticket
                    .service_ticket_date
                    .as_deref()
                    .map(|date| format!(" of {}", printable(date)))
                    .unwrap_or_default()
            )?;
            Ok(EXIT_OK)
        }
        Err(error) => {
            journal
                .record_label_event(LabelEvent::RefundFailed {
                    order_id: order_id.clone(),
                    shipment_id: shipment_id.clone(),
                    at: Utc::now(),
                    reason: error.to_string(),
                })
                .with_context(|| format!("recording the failed refund of order {order_id}"))?;
            // Kept as the source, so a refused credential still exits 2.
            Err(anyhow::Error::new(error).context(format!(
                "order {order_id}: the refund of shipment {shipment_id} was not registered; \
                 `bbship refund {order_id}` may ask again"
            )))
        }
    }
}

/// The order's record and shipment, when the journal says its label may be refunded: a
/// known order with a shipment, cancelled after its label, never marked shipped.
fn refundable(
    journal: &Journal,
    data_dir: &DataDir,
    order_id: &OrderId,
) -> Result<(OrderRecord, ShipmentRecord)> {
    if journal.settled(order_id).is_some() {
        bail!(
            "order {order_id} is shipped on Best Buy (bbship confirmed it SHIPPED); its label \
             is in use and is not refunded. Nothing sent"
        );
    }
    let Some(record) = journal.active_order(order_id) else {
        bail!(
            "bbship has no record of order {order_id} in {} (is the order id right, and is \
             --data-dir the one cron uses?). Nothing sent",
            data_dir.logs().display()
        );
    };
    if record.ship.confirmed || record.ship.marked_shipped {
        bail!(
            "order {order_id} was marked shipped on Best Buy; its label is in use and is not \
             refunded. Nothing sent"
        );
    }
    let Some(shipment) = record.label.shipment.clone() else {
        bail!("order {order_id} has no Canada Post shipment, so no label to refund. Nothing sent");
    };
    if record.ship.cancelled_after_label.is_none() {
        bail!(
            "order {order_id} has no cancelled label to refund: bbship has not seen Best Buy \
             cancel it after its label was bought (`bbship ship --order {order_id}` reads its \
             state and records a cancellation). Nothing sent"
        );
    }
    Ok((record, shipment))
}

/// Best Buy's state of the order now; only CANCELED and REFUSED let a refund go on.
fn best_buy_state(bestbuy: &BestBuyClient, order_id: &OrderId) -> Result<OrderState> {
    let order = bestbuy
        .order(order_id)
        .map_err(anyhow::Error::new)
        .with_context(|| {
            format!("reading order {order_id} from Best Buy before a refund; nothing sent")
        })?;
    let Some(order) = order else {
        bail!(
            "Best Buy did not return order {order_id} in a form bbship can read; without its \
             current state no refund is requested. Nothing sent"
        );
    };
    match order.state {
        state @ (OrderState::Canceled | OrderState::Refused) => Ok(state),
        state @ (OrderState::Shipped
        | OrderState::ToCollect
        | OrderState::Received
        | OrderState::Closed) => bail!(
            "order {order_id} is {state} on Best Buy: a shipped order's label is in use and is \
             not refunded. Nothing sent"
        ),
        state => bail!(
            "Best Buy shows order {order_id} as {state}, not CANCELED or REFUSED; bbship \
             refunds only a label Best Buy no longer wants. Nothing sent"
        ),
    }
}

/// Asks on `out` and reads one line of `input`: only `y` or `yes` (any case) confirms;
/// anything else, an empty line or no input at all (cron, a closed stdin) is a no.
fn confirmed(
    order_id: &OrderId,
    shipment: &ShipmentRecord,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<bool> {
    write!(
        out,
        "Request a refund for order {order_id} (shipment {}, PIN {})? [y/N] ",
        shipment.shipment_id,
        shipment.tracking_pin.as_deref().unwrap_or("none")
    )?;
    out.flush()?;
    let mut answer = String::new();
    input
        .read_line(&mut answer)
        .context("reading the answer from standard input")?;
    let answer = answer.trim().to_ascii_lowercase();
    Ok(matches!(answer.as_str(), "y" | "yes"))
}
