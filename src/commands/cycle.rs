//! The cycle commands, `accept`, `label`, `ship` and `run-all`: one invocation opens the
//! data directory and the journal, runs the phases it asks for within the time budget,
//! and ends by writing the runs log, the reminders and the alerts. The binary and the
//! sandbox both call `run`, with everything it needs passed in (paths, secrets), so
//! nothing here reads the process environment.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use chrono::Utc;

use super::open_for;
use crate::bestbuy::BestBuyClient;
use crate::canadapost::CanadaPostClient;
use crate::error::{EXIT_FAILURES, EXIT_OK};
use crate::http::WriteMode;
use crate::phase::{self, Cycle, Phase, PhaseReport};
use crate::{Config, DataDir, Journal, OrderId, Secrets};
use crate::{alerts, error, metrics, overview, print, reminders, runs, secret};

/// The cycle commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CycleCommand {
    Accept,
    Label,
    Ship,
    RunAll,
}

impl CycleCommand {
    /// The subcommand's name.
    pub fn name(self) -> &'static str {
        match self {
            CycleCommand::Accept => "accept",
            CycleCommand::Label => "label",
            CycleCommand::Ship => "ship",
            CycleCommand::RunAll => "run-all",
        }
    }

    fn runs_accept(self) -> bool {
        matches!(self, CycleCommand::Accept | CycleCommand::RunAll)
    }

    fn runs_label(self) -> bool {
        matches!(self, CycleCommand::Label | CycleCommand::RunAll)
    }

    fn runs_ship(self) -> bool {
        matches!(self, CycleCommand::Ship | CycleCommand::RunAll)
    }
}

/// One invocation of a cycle command, as the command line (or the sandbox) describes it.
#[derive(Clone, Debug)]
pub struct Invocation {
    pub command: CycleCommand,
    pub config_path: PathBuf,
    pub data_dir: PathBuf,
    pub dry_run: bool,
    pub only_orders: Vec<OrderId>,
    /// Show a progress line per phase (the binary sets it when standard error is a
    /// terminal and the output is not verbose).
    pub progress: bool,
}

/// What a cycle did, phase by phase.
#[derive(Debug, Default)]
pub struct Outcome {
    pub phases: Vec<PhaseReport>,
    /// Orders that need a person and were reported again by this run (an `error:` line
    /// each), beyond the phases' own failures.
    pub reminders: usize,
}

impl Outcome {
    pub fn failures(&self) -> usize {
        self.phases.iter().map(PhaseReport::failures).sum::<usize>() + self.reminders
    }

    /// Logs a phase's summary (and any orders the time budget left over) and keeps it.
    fn record(&mut self, report: PhaseReport) {
        log::info!("{report}");
        let deferred = report.deferred();
        if deferred > 0 {
            log::warn!(
                "{}: the cycle's time budget (limits.cycle_budget_secs) ran out; {deferred} of {} order(s) left for the next run",
                report.phase.name(),
                report.outcomes.len()
            );
        }
        self.phases.push(report);
    }

    pub fn exit_code(&self) -> u8 {
        if self.failures() > 0 {
            EXIT_FAILURES
        } else {
            EXIT_OK
        }
    }
}

/// Runs a cycle command. Errors that end the run early carry their exit code
/// (`error::exit_code_for`); a run that went through reports its failures per phase.
pub fn run(invocation: &Invocation, secrets: &Secrets) -> Result<Outcome> {
    let started = Instant::now();
    let config = Config::load(&invocation.config_path)?;
    let api_key = secrets.bestbuy_api_key()?.clone();
    // Asked for before anything happens, so a missing secret never ends a run halfway.
    let canada_post_credentials = if invocation.command.runs_label() {
        Some(secrets.canadapost_credentials()?)
    } else {
        None
    };
    let mode = if invocation.dry_run {
        WriteMode::DryRun
    } else {
        WriteMode::Live
    };
    let data_dir = DataDir::new(&invocation.data_dir);
    let (_lock, journal) = open_for(&data_dir, &config, mode)?;

    let deadline = started + config.limits.cycle_budget();
    let bestbuy = BestBuyClient::new(&config, api_key, deadline);
    let only_orders = (!invocation.only_orders.is_empty()).then(|| {
        invocation
            .only_orders
            .iter()
            .cloned()
            .collect::<BTreeSet<_>>()
    });
    let canada_post = canada_post_credentials
        .map(|(username, password)| CanadaPostClient::new(&config, username, password, deadline));
    let cycle = Cycle {
        config: &config,
        data_dir: &data_dir,
        journal: &journal,
        mode,
        only_orders,
        deadline,
        progress: invocation.progress,
    };

    let started_at = Utc::now();
    let mut result = run_phases(invocation.command, &cycle, &bestbuy, canada_post.as_ref());
    // Only a speed-up for the next run: the logs are already complete without it.
    if let Err(error) = journal.write_checkpoint_if_due() {
        log::warn!("the next run replays the history logs in full: {error:#}");
    }
    if mode == WriteMode::Live {
        after_run(
            invocation.command,
            &config,
            &data_dir,
            &journal,
            started_at,
            &mut result,
        );
    }
    result
}

/// The phases the command asks for, in cycle order, each only if the time budget allows.
fn run_phases(
    command: CycleCommand,
    cycle: &Cycle,
    bestbuy: &BestBuyClient,
    canada_post: Option<&CanadaPostClient>,
) -> Result<Outcome> {
    let mut outcome = Outcome::default();
    if command.runs_accept() && within_budget(cycle, Phase::Accept) {
        outcome.record(phase::accept::run(cycle, bestbuy)?);
    }
    if let Some(canada_post) = canada_post
        && within_budget(cycle, Phase::Label)
    {
        outcome.record(phase::label::run(cycle, bestbuy, canada_post)?);
    }
    if command.runs_ship() && within_budget(cycle, Phase::Ship) {
        outcome.record(phase::ship::run(cycle, bestbuy)?);
    }
    // Last, so that a slow or broken printer never holds up a label or a shipment.
    if canada_post.is_some() {
        print::print_pending(cycle);
    }
    Ok(outcome)
}

/// Reminds of the orders that need a person, records a writing run in the runs log and
/// sends the alerts it calls for. A reminder printed makes the run's exit code 1 (it is
/// an `error:` line); nothing else here may change the run's result: a failure here is a
/// warning.
fn after_run(
    command: CycleCommand,
    config: &Config,
    data_dir: &DataDir,
    journal: &Journal,
    started_at: chrono::DateTime<Utc>,
    result: &mut Result<Outcome>,
) {
    let mut record = runs::RunRecord {
        started_at,
        finished_at: Utc::now(),
        command: command.name().to_owned(),
        exit_code: match result {
            Ok(outcome) => outcome.exit_code(),
            Err(error) => error::exit_code_for(error),
        },
        error: result
            .as_ref()
            .err()
            .map(|error| secret::redact(&format!("{error:#}"))),
        phases: result
            .as_ref()
            .map(|outcome| outcome.phases.iter().map(runs::PhaseSummary::of).collect())
            .unwrap_or_default(),
        reminded: Vec::new(),
    };
    let runs_log = data_dir.runs_log();
    // The orders as `status` will show them once this run is in the log.
    let mut history = runs::history(&runs_log).unwrap_or_else(|error| {
        log::warn!("cannot read {}: {error:#}", runs_log.display());
        runs::RunsHistory::default()
    });
    // Each command's runs before this one: the metrics add this run once its exit code is
    // final.
    let mut earlier_commands = history.commands.clone();
    history.add(record.clone());
    let now = Utc::now();
    let orders = overview::orders(journal, &history, &config.alerts, false, now);
    let reminded = remind(config, data_dir, &record, &orders, now);
    record.reminded = reminded
        .iter()
        .filter(|due| !due.already_reported)
        .map(|due| due.view.order_id.clone())
        .collect();
    if let Ok(outcome) = result {
        outcome.reminders = record.reminded.len();
        record.exit_code = outcome.exit_code();
    }
    if let Err(error) = runs::append(&runs_log, &record) {
        log::warn!(
            "cannot record this run in {}: {error:#}",
            runs_log.display()
        );
    }
    if let Some(path) = &config.metrics.textfile {
        runs::note_command(&mut earlier_commands, &record);
        write_metrics(path, data_dir, journal, &earlier_commands, &record, &orders);
    }
    let reminded: Vec<&str> = reminded
        .iter()
        .map(|due| due.view.order_id.as_str())
        .collect();
    alerts::after_run(&config.alerts, &record, &orders, &reminded, result.is_ok());
}

/// Rewrites the metrics file; a failure is only a warning.
fn write_metrics(
    path: &std::path::Path,
    data_dir: &DataDir,
    journal: &Journal,
    commands: &BTreeMap<String, runs::CommandHistory>,
    record: &runs::RunRecord,
    orders: &[overview::OrderView],
) {
    let journal_bytes = data_dir
        .journal_files()
        .iter()
        .filter_map(|log| std::fs::symlink_metadata(log).ok())
        .map(|metadata| metadata.len())
        .sum();
    let input = metrics::MetricsInput {
        commands,
        last_run: record,
        needing_person: orders.iter().filter(|order| order.stuck.is_some()).count(),
        totals: journal.totals(),
        journal_bytes,
    };
    if let Err(error) = metrics::write(path, &input) {
        log::warn!("metrics.textfile not updated: {error:#}");
    }
}

/// Prints the reminders that are due (one `error:` line per order this run has not
/// already reported) and keeps when they were given.
fn remind<'a>(
    config: &Config,
    data_dir: &DataDir,
    record: &runs::RunRecord,
    orders: &'a [overview::OrderView],
    now: chrono::DateTime<Utc>,
) -> Vec<reminders::Due<'a>> {
    let path = data_dir.reminders();
    let previous = reminders::load(&path);
    let (due, next) = reminders::plan(
        &previous,
        orders,
        &record.failed_orders(),
        now,
        config.alerts.remind_every_hours.duration(),
    );
    for reminder in due.iter().filter(|due| !due.already_reported) {
        log::error!("{}", reminder.line(now));
    }
    if let Err(error) = reminders::save(&path, &previous, &next) {
        log::warn!("the next run may repeat these reminders: {error:#}");
    }
    due
}

/// Whether a phase may start: once the cycle's time budget is spent, later phases wait
/// for the next run instead of making calls whose orders could not be started anyway.
fn within_budget(cycle: &Cycle, phase: Phase) -> bool {
    let within = Instant::now() < cycle.deadline;
    if !within {
        log::warn!(
            "{}: not started: the cycle's time budget (limits.cycle_budget_secs) is spent; the next run does it",
            phase.name()
        );
    }
    within
}
