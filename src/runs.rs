//! The runs log, `logs/runs.jsonl`: one line per writing run, saying what it did and what
//! went wrong, order by order. It is what `status` reads for each order's last error and
//! for how long an order has been waiting, and what an alert sends. Orders that went
//! through are only counted: their steps are in the history logs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Result;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::EXIT_OK;
use crate::journal::jsonl::{self, AppendLog, Position, TornTail};
use crate::phase::{OrderOutcome, PhaseReport, RunPostage};

/// One run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `accept`, `label`, `ship` or `run-all`.
    pub command: String,
    pub exit_code: u8,
    /// The error that ended the run early, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub phases: Vec<PhaseSummary>,
    /// Orders that need a person and that this run reported again (`reminders`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reminded: Vec<String>,
}

/// One phase of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseSummary {
    pub phase: String,
    pub done: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Left for the next run by the time budget.
    pub deferred: usize,
    /// Checks after the phase that did not hold.
    #[serde(default)]
    pub problems: Vec<String>,
    /// Every order that did not go through, and why.
    #[serde(default)]
    pub orders: Vec<OrderNote>,
    /// The label phase of a live run: the postage it bought.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postage: Option<RunPostage>,
}

/// An order that did not go through a phase.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderNote {
    pub order: String,
    pub outcome: NoteKind,
    #[serde(default)]
    pub reason: String,
    /// For an order still waiting for acceptance: bbship's estimate of its deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acceptance_deadline: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoteKind {
    Failed,
    Skipped,
    Deferred,
}

impl PhaseSummary {
    pub fn of(report: &PhaseReport) -> PhaseSummary {
        let count = |wanted: fn(&OrderOutcome) -> bool| report.count(wanted);
        let orders = report
            .outcomes
            .iter()
            .filter_map(|(order, outcome)| {
                let (kind, reason) = match outcome {
                    OrderOutcome::Done | OrderOutcome::WouldDo => return None,
                    OrderOutcome::Failed(reason) => (NoteKind::Failed, reason.clone()),
                    OrderOutcome::Skipped(reason) => (NoteKind::Skipped, reason.clone()),
                    OrderOutcome::Deferred => (
                        NoteKind::Deferred,
                        "left for the next run (time budget)".to_owned(),
                    ),
                };
                Some(OrderNote {
                    order: order.clone(),
                    outcome: kind,
                    reason,
                    acceptance_deadline: report.acceptance_deadlines.get(order).copied(),
                })
            })
            .collect();
        PhaseSummary {
            phase: report.phase.name().to_owned(),
            done: count(|outcome| *outcome == OrderOutcome::Done),
            failed: count(|outcome| matches!(outcome, OrderOutcome::Failed(_))),
            skipped: count(|outcome| matches!(outcome, OrderOutcome::Skipped(_))),
            deferred: count(|outcome| *outcome == OrderOutcome::Deferred),
            problems: report.problems.clone(),
            orders,
            postage: report.postage,
        }
    }
}

impl RunRecord {
    /// The postage the run bought, when it ran the label phase live.
    pub fn postage(&self) -> Option<RunPostage> {
        self.phases.iter().find_map(|phase| phase.postage)
    }

    /// The orders this run noted as failed (each had its `error:` line printed).
    pub fn failed_orders(&self) -> BTreeSet<String> {
        self.phases
            .iter()
            .flat_map(|phase| &phase.orders)
            .filter(|note| note.outcome == NoteKind::Failed)
            .map(|note| note.order.clone())
            .collect()
    }

    /// Failed orders plus problems plus reminders plus an early end: what makes a run
    /// worth an alert.
    pub fn failures(&self) -> usize {
        self.phases
            .iter()
            .map(|phase| phase.failed + phase.problems.len())
            .sum::<usize>()
            + self.reminded.len()
            + usize::from(self.error.is_some())
    }
}

/// Appends `record` to the runs log at `path`.
pub fn append(path: &Path, record: &RunRecord) -> Result<()> {
    AppendLog::open(path)?.append(record)?;
    Ok(())
}

/// What the runs log says about each order, for `status`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrderHistory {
    /// When a run first saw it not go through a phase.
    pub first_noted: Option<DateTime<Utc>>,
    /// When a run first saw it not go through each phase, by phase name.
    pub first_noted_in: BTreeMap<String, DateTime<Utc>>,
    /// The latest failure: when, in which phase, why.
    pub last_error: Option<(DateTime<Utc>, String, String)>,
    /// The latest note of any kind (a later success is not in the runs log).
    pub last_noted: Option<(DateTime<Utc>, String, NoteKind)>,
    /// The latest acceptance deadline estimate seen for it.
    pub acceptance_deadline: Option<DateTime<Utc>>,
}

/// Everything the runs log says: each order's history, each command's latest runs, and
/// the last run.
#[derive(Clone, Debug, Default)]
pub struct RunsHistory {
    pub orders: BTreeMap<String, OrderHistory>,
    /// By command name.
    pub commands: BTreeMap<String, CommandHistory>,
    pub last_run: Option<RunRecord>,
    /// The postage the runs bought, by the UTC day each started.
    pub postage_by_day: BTreeMap<chrono::NaiveDate, RunPostage>,
}

/// A command's latest run, and its latest successful one.
#[derive(Clone, Debug, PartialEq)]
pub struct CommandHistory {
    pub last_started_at: DateTime<Utc>,
    pub last_finished_at: DateTime<Utc>,
    pub last_exit_code: u8,
    /// When its latest run that exited 0 finished.
    pub last_success_at: Option<DateTime<Utc>>,
}

/// Adds `run`, the latest run of its command, to `commands`.
pub fn note_command(commands: &mut BTreeMap<String, CommandHistory>, run: &RunRecord) {
    let earlier_success = commands
        .get(&run.command)
        .and_then(|command| command.last_success_at);
    commands.insert(
        run.command.clone(),
        CommandHistory {
            last_started_at: run.started_at,
            last_finished_at: run.finished_at,
            last_exit_code: run.exit_code,
            last_success_at: if run.exit_code == EXIT_OK {
                Some(run.finished_at)
            } else {
                earlier_success
            },
        },
    );
}

/// Reads the runs log (read-only; a torn last line is ignored).
pub fn history(path: &Path) -> Result<RunsHistory> {
    let mut history = RunsHistory::default();
    jsonl::replay(
        path,
        Position::default(),
        TornTail::Ignore,
        |run: RunRecord| {
            history.add(run);
            Ok(())
        },
    )?;
    Ok(history)
}

impl RunsHistory {
    /// Takes in one more run, as if it were the next line of the log.
    pub fn add(&mut self, run: RunRecord) {
        for phase in &run.phases {
            for note in &phase.orders {
                let order = self.orders.entry(note.order.clone()).or_default();
                order.first_noted.get_or_insert(run.started_at);
                order
                    .first_noted_in
                    .entry(phase.phase.clone())
                    .or_insert(run.started_at);
                order.last_noted = Some((run.started_at, phase.phase.clone(), note.outcome));
                if note.outcome == NoteKind::Failed {
                    order.last_error =
                        Some((run.started_at, phase.phase.clone(), note.reason.clone()));
                }
                if note.acceptance_deadline.is_some() {
                    order.acceptance_deadline = note.acceptance_deadline;
                }
            }
        }
        note_command(&mut self.commands, &run);
        if let Some(postage) = run.postage() {
            let day = self
                .postage_by_day
                .entry(run.started_at.date_naive())
                .or_default();
            *day = day.plus(postage);
        }
        self.last_run = Some(run);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::WriteMode;
    use crate::phase::Phase;

    fn report() -> PhaseReport {
        let mut report = PhaseReport::new(Phase::Label, WriteMode::Live);
        report.outcomes = vec![
            ("1-A".into(), OrderOutcome::Done),
            ("2-A".into(), OrderOutcome::Failed("refused: 8511".into())),
            ("3-A".into(), OrderOutcome::Deferred),
        ];
        report.problems.push("a check did not hold".into());
        report
    }

    fn run(at: &str, phases: Vec<PhaseSummary>) -> RunRecord {
        RunRecord {
            started_at: at.parse().unwrap(),
            finished_at: at.parse().unwrap(),
            command: "run-all".into(),
            exit_code: 1,
            error: None,
            phases,
            reminded: Vec::new(),
        }
    }

    #[test]
    fn a_summary_counts_everything_and_notes_only_what_did_not_go_through() {
        let summary = PhaseSummary::of(&report());
        assert_eq!((summary.done, summary.failed, summary.deferred), (1, 1, 1));
        let noted: Vec<&str> = summary
            .orders
            .iter()
            .map(|note| note.order.as_str())
            .collect();
        assert_eq!(noted, ["2-A", "3-A"]);
        let record = run("2026-01-01T00:00:00Z", vec![summary]);
        assert_eq!(record.failures(), 2);
    }

    #[test]
    fn the_history_keeps_each_orders_first_note_and_last_error() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("runs.jsonl");
        append(
            &path,
            &run("2026-01-01T00:00:00Z", vec![PhaseSummary::of(&report())]),
        )
        .unwrap();
        let mut later = PhaseSummary::of(&report());
        later.orders[0].reason = "refused: 9111".into();
        append(&path, &run("2026-01-01T00:15:00Z", vec![later])).unwrap();

        let history = history(&path).unwrap();
        let order = &history.orders["2-A"];
        assert_eq!(
            order.first_noted.unwrap().to_rfc3339(),
            "2026-01-01T00:00:00+00:00"
        );
        let (at, phase, reason) = order.last_error.clone().unwrap();
        assert_eq!(at.to_rfc3339(), "2026-01-01T00:15:00+00:00");
        assert_eq!(
            (phase.as_str(), reason.as_str()),
            ("label", "refused: 9111")
        );
        assert!(history.orders["3-A"].last_error.is_none());
        assert_eq!(
            history.last_run.unwrap().started_at.to_rfc3339(),
            "2026-01-01T00:15:00+00:00"
        );
    }

    #[test]
    fn each_command_keeps_its_last_run_and_its_last_success() {
        let mut commands = BTreeMap::new();
        let mut ok = run("2026-01-01T00:00:00Z", Vec::new());
        ok.exit_code = 0;
        note_command(&mut commands, &ok);
        note_command(&mut commands, &run("2026-01-01T00:15:00Z", Vec::new()));
        let mut other = run("2026-01-01T00:20:00Z", Vec::new());
        other.command = "ship".into();
        note_command(&mut commands, &other);
        let run_all = &commands["run-all"];
        assert_eq!(run_all.last_exit_code, 1);
        assert_eq!(
            run_all.last_started_at.to_rfc3339(),
            "2026-01-01T00:15:00+00:00"
        );
        assert_eq!(
            run_all.last_success_at.unwrap().to_rfc3339(),
            "2026-01-01T00:00:00+00:00"
        );
        assert_eq!(commands["ship"].last_success_at, None);
    }
}
