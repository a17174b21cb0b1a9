//! `bbship reprint ORDER`: the label of an order's existing shipment, downloaded again
//! into a new file under `labels/`, for a label that was lost, misprinted or jammed.
//!
//! It never creates a shipment: it only follows the `label` links Canada Post gave when
//! the shipment was created, as the journal keeps them (an order in progress keeps them
//! in memory; a settled one keeps only its shipment id, so its links are read back from
//! its line in `cp_shipping_history_log.jsonl`). The new file never replaces an earlier
//! one (`labels::save` picks a free name), is checked to be a PDF, and is journaled as a
//! `LabelSaved` so that `status` shows the newest file. Label links live 90 days; past
//! that Canada Post no longer serves the label, and the error says so.
//!
//! It writes, so it takes the run lock (exit 75 while a cycle holds it). With `--dry-run`
//! it says what it would download and downloads nothing.

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{DateTime, Utc};

use super::Paths;
use crate::canadapost::types::ShipmentId;
use crate::canadapost::{CanadaPostClient, Link};
use crate::config::Config;
use crate::data_dir::DataDir;
use crate::error::EXIT_OK;
use crate::http::WriteMode;
use crate::ids::OrderId;
use crate::journal::{Journal, LabelEvent};
use crate::label_fetch::{self, FetchError, Fetched, IfNotALabel, Patience};
use crate::secret::Secrets;

/// How long Canada Post keeps a shipment's links.
const LINK_LIFETIME_DAYS: i64 = 90;

/// The shipment whose label is printed again.
struct Existing {
    shipment_id: ShipmentId,
    links: Vec<Link>,
    created_at: Option<DateTime<Utc>>,
    /// Best Buy's state when it no longer wanted the parcel.
    cancelled: Option<String>,
}

/// Downloads the label of `order_id`'s shipment again, saves it, journals it, and prints
/// the path of each new file to `out`.
pub fn run(
    paths: &Paths,
    secrets: &Secrets,
    order_id: &OrderId,
    dry_run: bool,
    out: &mut dyn Write,
) -> Result<u8> {
    let config = Config::load(&paths.config_path)?;
    let (username, password) = secrets.canadapost_credentials()?;
    let data_dir = DataDir::new(&paths.data_dir);
    // Held until the end of this function.
    let mode = if dry_run {
        WriteMode::DryRun
    } else {
        WriteMode::Live
    };
    let (_lock, journal) = super::open_for(&data_dir, &config, mode)?;
    let existing = existing_shipment(&journal, &data_dir, order_id)?;
    let shipment_id = &existing.shipment_id;
    if let Some(state) = &existing.cancelled {
        log::warn!(
            "reprint: order {order_id} was cancelled on Best Buy after its label was bought \
             (Best Buy showed {state}): do not ship this parcel; `bbship refund {order_id}` \
             asks Canada Post to refund the label"
        );
    }
    let links = crate::canadapost::answers::label_links(&existing.links);
    if links.is_empty() {
        bail!(
            "order {order_id}: bbship has no label link for shipment {shipment_id}; print the \
             label from Canada Post's website (no shipment was created)"
        );
    }
    if dry_run {
        writeln!(
            out,
            "[dry run] would download {} label page(s) of shipment {shipment_id} for order \
             {order_id} into {}; nothing downloaded or written",
            links.len(),
            data_dir.labels().display()
        )?;
        return Ok(EXIT_OK);
    }

    let deadline = Instant::now() + config.limits.cycle_budget();
    let canada_post = CanadaPostClient::new(&config, username, password, deadline);
    let patience = Patience {
        limits: &config.limits,
        deadline: None,
    };
    let Fetched { saved, at, notes } = label_fetch::fetch(
        &canada_post,
        &links,
        patience,
        IfNotALabel::Refuse,
        &data_dir,
        order_id,
    )
    .map_err(|error| not_fetched(error, &existing, order_id))?;
    for note in notes {
        // The label is the one paid for: keep it, and say it may print wrong.
        log::warn!("reprint: order {order_id}: shipment {shipment_id}: {note}");
    }
    journal
        .record_label_event(LabelEvent::LabelSaved {
            order_id: order_id.clone(),
            shipment_id: shipment_id.clone(),
            at,
            files: saved.clone(),
        })
        .with_context(|| format!("recording the new label file of order {order_id}"))?;
    for label in &saved {
        writeln!(out, "{}", data_dir.root().join(&label.path).display())?;
    }
    Ok(EXIT_OK)
}

/// The shipment the journal knows for `order_id`, with its links; a clear error when
/// there is none.
fn existing_shipment(
    journal: &Journal,
    data_dir: &DataDir,
    order_id: &OrderId,
) -> Result<Existing> {
    if let Some(settled) = journal.settled(order_id) {
        let shipment_id = settled.shipment_id.ok_or_else(|| {
            anyhow!("order {order_id} is shipped, but bbship's records name no shipment for it")
        })?;
        let line = journal
            .history_line(order_id, &shipment_id)?
            .ok_or_else(|| {
                anyhow!(
                    "order {order_id}: {} has no line for shipment {shipment_id}, so bbship \
                     has no label link for it; print the label from Canada Post's website",
                    data_dir.shipping_history_log().display()
                )
            })?;
        return Ok(Existing {
            shipment_id,
            links: line.links,
            created_at: line.created_at,
            cancelled: None,
        });
    }
    let Some(record) = journal.active_order(order_id) else {
        bail!(
            "bbship has no record of order {order_id} in {} (is the order id right, and is \
             --data-dir the one cron uses?)",
            data_dir.logs().display()
        );
    };
    match record.label.shipment {
        Some(shipment) => Ok(Existing {
            shipment_id: shipment.shipment_id,
            links: shipment.links,
            created_at: record.label.created_at,
            cancelled: record.ship.cancelled_after_label,
        }),
        None if !record.label.open_intents.is_empty() => bail!(
            "order {order_id} has a Create Shipment attempt whose outcome is unknown; \
             `bbship label --order {order_id}` looks it up first (and never buys a second)"
        ),
        None => bail!(
            "no shipment exists for order {order_id}; `bbship label --order {order_id}` buys one"
        ),
    }
}

/// Why the label could not be downloaded again, for a person.
fn not_fetched(error: FetchError, existing: &Existing, order_id: &OrderId) -> anyhow::Error {
    let shipment_id = &existing.shipment_id;
    let reprinting = format!("reprinting the label of order {order_id}");
    match error {
        FetchError::NotALabel(problem) => anyhow!(
            "order {order_id}: Canada Post's answer for the label of shipment {shipment_id} \
             is not a label: {problem}; nothing was saved"
        ),
        FetchError::Save(error) => {
            error.context(format!("saving the label of order {order_id} again"))
        }
        FetchError::NotReady { why, .. } => anyhow!(not_served(existing, &why)).context(reprinting),
        // Canada Post's own "not found": what it said, and where else to get the label.
        FetchError::NotServed(error) => {
            anyhow!(not_served(existing, &error.to_string())).context(reprinting)
        }
        // Kept as the source, so a refused credential still exits 2.
        FetchError::Api(error) => anyhow::Error::new(error)
            .context(format!(
                "downloading the label of shipment {shipment_id} (no shipment was created)"
            ))
            .context(reprinting),
    }
}

fn not_served(existing: &Existing, why: &str) -> String {
    format!(
        "Canada Post did not serve the label of shipment {} ({why}). Label links live \
         {LINK_LIFETIME_DAYS} days after the shipment is created{}; past that, print the label \
         from Canada Post's website. No shipment was created",
        existing.shipment_id,
        age(existing.created_at)
    )
}

/// ` (this one was created 2026-01-15, 97 days ago)`, or nothing when unknown.
fn age(created_at: Option<DateTime<Utc>>) -> String {
    match created_at {
        Some(created_at) => format!(
            " (this one was created {}, {} days ago)",
            created_at.format("%Y-%m-%d"),
            (Utc::now() - created_at).num_days()
        ),
        None => String::new(),
    }
}
