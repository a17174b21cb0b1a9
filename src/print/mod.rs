//! The packing desk: a packing slip beside each new label, and both sent to the printer.
//!
//! The label phase hands over the slip's content before it buys a shipment (`remember`),
//! because a label finished by a later run may no longer have its Best Buy order at hand;
//! once labels are saved it writes each new label's slip (`write_slips`), and after the
//! last phase of a run every file saved to be printed and not printed yet goes to
//! `print.command` (`print_pending`). Printing is at-least-once: a success is journaled
//! right after the command exits 0, and a file is never sent again after that. A printer
//! that fails is a warning, never an order's failure: nothing here touches a shipment.

pub mod batch;
pub mod code128;
pub mod printer;
pub mod slip;

use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};

use crate::bestbuy::Order;
use crate::config::{PrintConfig, SlipSize};
use crate::data_dir::DataDir;
use crate::http::WriteMode;
use crate::ids::OrderId;
use crate::journal::{Journal, PrintEvent, SlipContent, SlipLine};
use crate::phase::Cycle;
use crate::phase::preflight::Prepared;

/// What the slip of `order` shows, from the order and what is sent to Canada Post for it.
pub fn slip_content(order: &Order, prepared: &Prepared) -> SlipContent {
    let destination = &prepared.destination;
    let mut ship_to = vec![destination.name.to_string()];
    ship_to.extend(destination.company.iter().map(ToString::to_string));
    ship_to.push(destination.address_line_1.to_string());
    ship_to.extend(destination.address_line_2.iter().map(ToString::to_string));
    ship_to.push(format!(
        "{} {}  {}",
        destination.city, destination.province, destination.postal_code
    ));
    let parcel = &prepared.parcel;
    SlipContent {
        commercial_id: order.commercial_id.clone(),
        order_date: order.created_date,
        ship_by: order.shipping_deadline,
        ship_to,
        lines: prepared
            .lines
            .iter()
            .map(|line| SlipLine {
                sku: line.offer_sku.clone(),
                title: line.product_title.clone(),
                quantity: line.quantity,
            })
            .collect(),
        weight_kg: parcel.weight_kg.get(),
        dimensions_cm: [
            parcel.length_cm.get(),
            parcel.width_cm.get(),
            parcel.height_cm.get(),
        ],
        service: prepared.service.to_string(),
    }
}

/// Journals what the slip of `order` will show; called before its shipment is created.
pub fn remember(journal: &Journal, order: &Order, prepared: &Prepared) -> Result<()> {
    journal.record_print_event(PrintEvent::Packing {
        order_id: order.id.clone(),
        at: Utc::now(),
        content: Box::new(slip_content(order, prepared)),
    })
}

/// Writes the packing slip of every order whose label was saved and that the desk has
/// not seen yet, and journals the label and slip as a set to print. A reprinted label
/// (`bbship reprint`) is not a new one: only an order's first label is taken.
pub fn write_slips(cycle: &Cycle) {
    if cycle.mode == WriteMode::DryRun {
        return;
    }
    for (order_id, record) in cycle.journal.active_orders() {
        let Some(labels) = &record.label.labels else {
            continue;
        };
        if !cycle.selects(&order_id) {
            continue;
        }
        let known = cycle.journal.print_record(&order_id).unwrap_or_default();
        if !known.saved.is_empty() {
            continue;
        }
        let pin = record
            .label
            .shipment
            .as_ref()
            .and_then(|shipment| shipment.tracking_pin.as_deref());
        let slip = match (&known.packing, cycle.config.print.packing_slip) {
            (_, SlipSize::None) => None,
            (None, _) => {
                log::warn!(
                    "order {order_id}: no packing slip: its order details were not journaled \
                     before its label was bought (a label bought by an older bbship)"
                );
                None
            }
            (Some(content), size) => {
                match save_slip(cycle.data_dir, &order_id, content, pin, size, Utc::now()) {
                    Ok(path) => path,
                    Err(error) => {
                        log::warn!("order {order_id}: the packing slip was not written: {error:#}");
                        None
                    }
                }
            }
        };
        if let Some(slip) = &slip {
            log::info!("order {order_id}: packing slip {slip}");
        }
        let saved = PrintEvent::Saved {
            order_id: order_id.clone(),
            at: Utc::now(),
            labels: labels.iter().map(|label| label.path.clone()).collect(),
            slip,
            print: cycle.config.print.command.is_some(),
        };
        if let Err(error) = cycle.journal.record_print_event(saved) {
            log::warn!(
                "order {order_id}: cannot journal its label and slip for printing: {error:#}"
            );
        }
    }
}

/// Renders and saves one slip under `labels/slips/`; the path relative to the data
/// directory, or `None` for no slip.
pub fn save_slip(
    data_dir: &DataDir,
    order_id: &OrderId,
    content: &SlipContent,
    pin: Option<&str>,
    size: SlipSize,
    at: DateTime<Utc>,
) -> Result<Option<String>> {
    let Some(bytes) = slip::render(order_id, content, pin, size) else {
        return Ok(None);
    };
    let base = format!(
        "{}_{}",
        crate::labels::file_stem(order_id.as_str()),
        at.format("%Y%m%dT%H%M%SZ")
    );
    let name = crate::labels::write_under_free_name(&data_dir.slips(), &base, &bytes)
        .with_context(|| format!("saving the packing slip of order {order_id}"))?;
    Ok(Some(format!("labels/slips/{name}")))
}

/// Sends every file saved to be printed and not printed yet to `print.command`, each
/// order's label before its slip. The first failure ends printing for this run (a
/// printer that is off would otherwise cost a timeout per file); what is left waits for
/// the next run. Returns how many files were printed.
pub fn print_pending(cycle: &Cycle) -> usize {
    if cycle.mode == WriteMode::DryRun {
        return 0;
    }
    if cycle.config.print.command.is_none() {
        return 0;
    }
    let mut printed = 0;
    for (order_id, record) in cycle.journal.unsettled_print_records() {
        if !cycle.selects(&order_id) {
            continue;
        }
        for file in record.pending() {
            match print_one(cycle.data_dir, &cycle.config.print, &file) {
                Ok(()) => {
                    printed += 1;
                    log::info!("order {order_id}: printed {file}");
                    let event = PrintEvent::Printed {
                        order_id: order_id.clone(),
                        at: Utc::now(),
                        file: file.clone(),
                    };
                    if let Err(error) = cycle.journal.record_print_event(event) {
                        log::warn!(
                            "order {order_id}: printed {file} but could not journal it, so the \
                             next run may print it again: {error:#}"
                        );
                    }
                }
                Err(reason) => {
                    let waiting = cycle
                        .journal
                        .unsettled_print_records()
                        .iter()
                        .filter(|(id, _)| cycle.selects(id))
                        .map(|(_, record)| record.pending().len())
                        .sum::<usize>();
                    log::warn!(
                        "order {order_id}: printing {file} failed: {reason}; {waiting} file(s) \
                         wait for the next run (bbship print {order_id} prints it by hand)"
                    );
                    let event = PrintEvent::PrintFailed {
                        order_id: order_id.clone(),
                        at: Utc::now(),
                        file,
                        reason,
                    };
                    if let Err(error) = cycle.journal.record_print_event(event) {
                        log::warn!("order {order_id}: cannot journal the print failure: {error:#}");
                    }
                    return printed;
                }
            }
        }
    }
    printed
}

/// Prints one file of the data directory with `print.command`.
pub fn print_one(data_dir: &DataDir, config: &PrintConfig, file: &str) -> Result<(), String> {
    let Some(command) = &config.command else {
        return Err("print.command is not set".to_owned());
    };
    let path = data_dir.root().join(file);
    if !path.is_file() {
        return Err(format!("{} is missing", path.display()));
    }
    printer::print_file(
        command,
        &path,
        Duration::from_secs(config.timeout_secs.get()),
    )
}
