//! `bbship print [ORDER]... [--since DURATION]`: one PDF, under `labels/batches/`, of the
//! newest label of each order named, or of every label saved in the last DURATION, each
//! followed by its packing slip: the day's labels in one file for a seller who prints
//! once a day. It prints the file's path, and sends the file to `print.command` when one
//! is set.
//!
//! It reads local files only (the journal, the labels and slips) and calls no API, so it
//! can never buy a shipment. It writes the batch, so it takes the run lock like the other
//! writing commands.

use std::io::Write;

use anyhow::{Context, Result, anyhow, bail};
use chrono::{Duration, Utc};

use super::Paths;
use crate::config::Config;
use crate::data_dir::DataDir;
use crate::error::EXIT_OK;
use crate::http::WriteMode;
use crate::ids::OrderId;
use crate::journal::Journal;
use crate::print::batch;

/// What to put in the batch: these orders, and those saved in the last `since`.
#[derive(Clone, Debug)]
pub struct PrintRequest {
    pub orders: Vec<OrderId>,
    pub since: Option<Duration>,
}

pub fn run(paths: &Paths, request: &PrintRequest, out: &mut dyn Write) -> Result<u8> {
    let config = Config::load(&paths.config_path)?;
    let data_dir = DataDir::new(&paths.data_dir);
    // Held until the end of this function.
    let (_lock, journal) = super::open_for(&data_dir, &config, WriteMode::Live)?;
    let now = Utc::now();

    let mut files: Vec<String> = Vec::new();
    let mut take = |picked: Vec<String>| {
        for file in picked {
            if !files.contains(&file) {
                files.push(file);
            }
        }
    };
    for order_id in &request.orders {
        take(newest_files(&journal, order_id)?);
    }
    if let Some(since) = request.since {
        let from = now - since;
        for set in journal.saved_since(from) {
            take(set.files().map(str::to_owned).collect());
        }
        if files.is_empty() {
            bail!(
                "nothing to print: no label was saved in the last {}",
                crate::overview::describe(since)
            );
        }
    }

    let mut inputs = Vec::with_capacity(files.len());
    for file in &files {
        let path = data_dir.root().join(file);
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        inputs.push((file.clone(), bytes));
    }
    let merged = batch::merge(&inputs)?;
    let name = crate::labels::write_under_free_name(
        &data_dir.batches(),
        &now.format("%Y%m%dT%H%M%SZ").to_string(),
        &merged,
    )?;
    let relative = format!("labels/batches/{name}");
    writeln!(out, "{}", data_dir.root().join(&relative).display())?;
    log::info!("print: {} file(s) merged into {relative}", inputs.len());
    if config.print.command.is_some() {
        crate::print::print_one(&data_dir, &config.print, &relative)
            .map_err(|reason| anyhow!("printing {relative} failed: {reason}"))?;
    }
    Ok(EXIT_OK)
}

/// The newest label files of `order_id`, then its packing slip when it has one.
fn newest_files(journal: &Journal, order_id: &OrderId) -> Result<Vec<String>> {
    let labels: Vec<String> = journal
        .active_order(order_id)
        .and_then(|record| record.label.labels)
        .map(|labels| labels.into_iter().map(|label| label.path).collect())
        .or_else(|| journal.settled(order_id).map(|settled| settled.label_files))
        .unwrap_or_default();
    if labels.is_empty() {
        bail!("bbship has no label of order {order_id} (see bbship status --all)");
    }
    let slip = journal
        .print_record(order_id)
        .and_then(|record| record.newest().and_then(|set| set.slip.clone()));
    Ok(labels.into_iter().chain(slip).collect())
}
