//! `bbship status [ORDER]`: the orders bbship knows, from its own files only (the journal
//! and the runs log): step reached, PIN, label file, last error, age, and the stuck ones
//! marked. It takes no lock and calls no API, so it is safe to run at any moment, even
//! while a cycle runs.

use std::io::Write;

use anyhow::{Context, Result, bail};
use chrono::{NaiveDate, Utc};
use serde::Serialize;

use super::{Paths, StatusRequest};
use crate::config::{AlertsConfig, Config};
use crate::data_dir::DataDir;
use crate::error::EXIT_OK;
use crate::journal::{Access, Journal};
use crate::overview::{self, OrderView};
use crate::phase::RunPostage;
use crate::runs::{self, RunRecord};

#[derive(Serialize)]
struct StatusJson<'a> {
    orders: &'a [OrderView],
    in_progress: usize,
    stuck: usize,
    settled: usize,
    last_run: Option<&'a RunRecord>,
    postage: SpendJson,
}

/// Today's and the last run's postage, as the text's `postage:` line says them.
#[derive(Serialize)]
struct SpendJson {
    currency: &'static str,
    today: DaySpend,
    /// `None` when the last run had no label phase (or there is no run yet).
    last_run: Option<RunPostage>,
}

#[derive(Serialize)]
struct DaySpend {
    /// The day in UTC, as the runs log dates runs.
    date: NaiveDate,
    #[serde(flatten)]
    postage: RunPostage,
}

/// Today's (UTC) postage and the last run's, from the runs log.
fn spend(history: &runs::RunsHistory) -> SpendJson {
    let date = Utc::now().date_naive();
    SpendJson {
        currency: "CAD",
        today: DaySpend {
            date,
            postage: history
                .postage_by_day
                .get(&date)
                .copied()
                .unwrap_or_default(),
        },
        last_run: history.last_run.as_ref().and_then(RunRecord::postage),
    }
}

pub fn run(paths: &Paths, request: &StatusRequest, out: &mut dyn Write) -> Result<u8> {
    // The thresholds for "stuck" come from the configuration when it loads; status is
    // still useful without one.
    let alerts = match Config::load(&paths.config_path) {
        Ok(config) => config.alerts,
        Err(error) => {
            log::warn!("{error:#}; using the default thresholds for stuck orders");
            AlertsConfig::default()
        }
    };
    let data_dir = DataDir::new(&paths.data_dir);
    let journal = Journal::open(&data_dir, Access::ReadOnly).context("reading the history logs")?;
    let history = runs::history(&data_dir.runs_log())
        .with_context(|| format!("reading {}", data_dir.runs_log().display()))?;
    let include_settled = request.all || request.order.is_some();
    let mut orders = overview::orders(&journal, &history, &alerts, include_settled, Utc::now());
    if let Some(order) = &request.order {
        orders.retain(|view| view.order_id == order.as_str());
        if orders.is_empty() {
            bail!(
                "bbship knows nothing of order {order}: it is in none of the logs under {}",
                data_dir.logs().display()
            );
        }
    }
    let (in_progress, settled) = journal.counts();
    let stuck = orders.iter().filter(|view| view.stuck.is_some()).count();

    if request.json {
        let json = StatusJson {
            orders: &orders,
            in_progress,
            stuck,
            settled,
            last_run: history.last_run.as_ref(),
            postage: spend(&history),
        };
        serde_json::to_writer_pretty(&mut *out, &json)?;
        writeln!(out)?;
    } else if let [view] = orders.as_slice()
        && request.order.is_some()
    {
        print_one(out, view)?;
    } else {
        print_table(out, &orders)?;
        writeln!(
            out,
            "\n{in_progress} order(s) in progress, {stuck} stuck (marked !), {settled} settled{}",
            if request.all {
                ""
            } else {
                " (--all lists them)"
            }
        )?;
        if let Some(run) = &history.last_run {
            writeln!(
                out,
                "last run: {} {} at {}, exit {}",
                run.command,
                if run.failures() == 0 {
                    "ok"
                } else {
                    "with failures"
                },
                run.finished_at.format("%Y-%m-%d %H:%M:%S UTC"),
                run.exit_code
            )?;
        }
        let spend = spend(&history);
        let last = spend.last_run.map_or_else(
            || "none (no label phase)".to_owned(),
            |postage| postage.describe(),
        );
        writeln!(
            out,
            "postage: today (UTC) {}, the last run {last}",
            spend.today.postage.describe()
        )?;
    }
    Ok(EXIT_OK)
}

fn age(view: &OrderView) -> String {
    view.since
        .map(|since| overview::describe(Utc::now() - since))
        .unwrap_or_default()
}

fn print_table(out: &mut dyn Write, orders: &[OrderView]) -> Result<()> {
    let rows: Vec<[String; 7]> = orders
        .iter()
        .map(|view| {
            let mark = if view.stuck.is_some() { "! " } else { "  " };
            [
                format!("{mark}{}", view.order_id),
                view.step.name().to_owned(),
                view.pin.clone().unwrap_or_default(),
                view.label_file.clone().unwrap_or_default(),
                view.print.unwrap_or_default().to_owned(),
                age(view),
                view.stuck
                    .clone()
                    .or_else(|| view.last_error.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["  ORDER", "STEP", "PIN", "LABEL", "PRINT", "AGE", "NOTE"].map(str::to_owned);
    let mut widths = [0; 7];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (index, (cell, width)) in row.iter().zip(widths).enumerate() {
            if index + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  "));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

fn print_one(out: &mut dyn Write, view: &OrderView) -> Result<()> {
    let none = "-".to_owned();
    writeln!(out, "order:      {}", view.order_id)?;
    writeln!(out, "step:       {}", view.step.name())?;
    writeln!(out, "PIN:        {}", view.pin.as_ref().unwrap_or(&none))?;
    writeln!(
        out,
        "label:      {}",
        view.label_file.as_ref().unwrap_or(&none)
    )?;
    writeln!(out, "print:      {}", view.print.unwrap_or("-"))?;
    writeln!(
        out,
        "postage:    {}",
        view.postage.as_deref().unwrap_or("-")
    )?;
    writeln!(out, "known for:  {}", age(view))?;
    writeln!(
        out,
        "last error: {}",
        view.last_error.as_ref().unwrap_or(&none)
    )?;
    writeln!(
        out,
        "stuck:      {}",
        view.stuck.as_ref().unwrap_or(&"no".to_owned())
    )?;
    Ok(())
}
