//! The metrics file: after each writing run, a Prometheus text-format file for
//! node_exporter's textfile collector (the usual way to watch a batch job), rewritten
//! atomically so a scrape never reads half of it.
//!
//! It says how each command's last run went (when, how long, its exit code, its last
//! success), what the last run did per phase, how many orders need a person, and totals
//! derived from the history logs (labels bought, their known postage, orders shipped), so
//! they survive restarts as counters must. Samples carry no timestamps: the textfile collector refuses
//! them; times are gauge values in seconds since the epoch.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use chrono::{DateTime, Utc};

use crate::canadapost::money::Cad;
use crate::data_dir::write_atomic_with_mode;
use crate::journal::JournalTotals;
use crate::runs::{CommandHistory, RunRecord};

/// Everything the file reports.
#[derive(Clone, Debug)]
pub struct MetricsInput<'a> {
    /// Each command's latest run, this one included.
    pub commands: &'a BTreeMap<String, CommandHistory>,
    /// The run that just finished.
    pub last_run: &'a RunRecord,
    /// Orders `status` marks as needing a person.
    pub needing_person: usize,
    pub totals: JournalTotals,
    /// The history logs' total size.
    pub journal_bytes: u64,
}

/// Writes the metrics to `path` atomically, readable by the collector's user (the file
/// holds counts and times only, nothing about a customer).
pub fn write(path: &Path, input: &MetricsInput<'_>) -> Result<()> {
    write_atomic_with_mode(path, render(input).as_bytes(), 0o644)
}

#[derive(Clone, Copy)]
enum Kind {
    Gauge,
    Counter,
}

/// One metric family: its `# HELP` and `# TYPE` lines, then its samples.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Family {
    fn new(name: &'static str, kind: Kind, help: &'static str) -> Family {
        Family {
            name,
            help,
            kind,
            samples: Vec::new(),
        }
    }

    fn sample(mut self, labels: Vec<(&'static str, String)>, value: f64) -> Family {
        self.samples.push((labels, value));
        self
    }

    fn render(&self, out: &mut String) {
        let kind = match self.kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        };
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} {kind}", self.name);
        for (labels, value) in &self.samples {
            out.push_str(self.name);
            if !labels.is_empty() {
                let labels: Vec<String> = labels
                    .iter()
                    .map(|(name, value)| format!("{name}=\"{}\"", escape_label(value)))
                    .collect();
                let _ = write!(out, "{{{}}}", labels.join(","));
            }
            let _ = writeln!(out, " {value}");
        }
    }
}

/// The text format's escapes for a label value.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Whole cents become a float only here, for the text format; two decimals print exactly.
fn dollars(amount: Cad) -> f64 {
    amount.cents() as f64 / 100.0
}

fn seconds(at: DateTime<Utc>) -> f64 {
    at.timestamp_millis() as f64 / 1000.0
}

fn duration_seconds(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds().max(0) as f64 / 1000.0
}

/// The file's text.
pub fn render(input: &MetricsInput<'_>) -> String {
    let command = |name: &str| vec![("command", name.to_owned())];
    let mut start = Family::new(
        "bbship_last_run_start_timestamp_seconds",
        Kind::Gauge,
        "When the last run of each command started, in seconds since the epoch.",
    );
    let mut duration = Family::new(
        "bbship_last_run_duration_seconds",
        Kind::Gauge,
        "How long the last run of each command took.",
    );
    let mut exit_code = Family::new(
        "bbship_last_run_exit_code",
        Kind::Gauge,
        "The exit code of the last run of each command (0 ran, 1 some order failed, 2 usage or configuration).",
    );
    let mut success = Family::new(
        "bbship_last_success_timestamp_seconds",
        Kind::Gauge,
        "When the last run of each command that exited 0 finished, in seconds since the epoch.",
    );
    for (name, history) in input.commands {
        start = start.sample(command(name), seconds(history.last_started_at));
        duration = duration.sample(
            command(name),
            duration_seconds(history.last_started_at, history.last_finished_at),
        );
        exit_code = exit_code.sample(command(name), f64::from(history.last_exit_code));
        if let Some(at) = history.last_success_at {
            success = success.sample(command(name), seconds(at));
        }
    }

    let mut orders = Family::new(
        "bbship_last_run_orders",
        Kind::Gauge,
        "Orders in each phase of the last run, by outcome (done: accepted, labelled or shipped).",
    );
    for phase in &input.last_run.phases {
        for (outcome, count) in [
            ("done", phase.done),
            ("failed", phase.failed),
            ("skipped", phase.skipped),
            ("deferred", phase.deferred),
        ] {
            orders = orders.sample(
                vec![
                    ("phase", phase.phase.clone()),
                    ("outcome", outcome.to_owned()),
                ],
                count as f64,
            );
        }
    }
    let problems = input.last_run.phases.iter().fold(
        Family::new(
            "bbship_last_run_problems",
            Kind::Gauge,
            "Checks after each phase of the last run that did not hold.",
        ),
        |family, phase| {
            family.sample(
                vec![("phase", phase.phase.clone())],
                phase.problems.len() as f64,
            )
        },
    );

    let totals = input.totals;
    let families = [
        start,
        duration,
        exit_code,
        success,
        orders,
        problems,
        Family::new(
            "bbship_orders_needing_person",
            Kind::Gauge,
            "Orders that need a person (marked ! by bbship status).",
        )
        .sample(Vec::new(), input.needing_person as f64),
        Family::new(
            "bbship_labels_bought_total",
            Kind::Counter,
            "Canada Post labels bought, from the history logs.",
        )
        .sample(Vec::new(), totals.labels_bought as f64),
        Family::new(
            "bbship_postage_spent_dollars_total",
            Kind::Counter,
            "Known postage of the Canada Post labels bought, from the history logs.",
        )
        .sample(
            vec![("currency", "CAD".to_owned())],
            dollars(totals.postage_spent),
        ),
        Family::new(
            "bbship_labels_price_unknown",
            Kind::Gauge,
            "Labels bought whose price is unknown, left out of the postage spent (a later run may learn it).",
        )
        .sample(Vec::new(), totals.labels_price_unknown as f64),
        Family::new(
            "bbship_orders_shipped_total",
            Kind::Counter,
            "Orders read back SHIPPED from Best Buy, from the history logs.",
        )
        .sample(Vec::new(), totals.orders_shipped as f64),
        Family::new(
            "bbship_journal_orders",
            Kind::Gauge,
            "Orders in the history logs, in progress (active) or settled.",
        )
        .sample(
            vec![("state", "active".to_owned())],
            totals.active_orders as f64,
        )
        .sample(
            vec![("state", "settled".to_owned())],
            totals.settled_orders as f64,
        ),
        Family::new(
            "bbship_journal_size_bytes",
            Kind::Gauge,
            "The history logs' total size on disk.",
        )
        .sample(Vec::new(), input.journal_bytes as f64),
    ];
    let mut out = String::new();
    for family in &families {
        family.render(&mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runs::PhaseSummary;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn rendered() -> String {
        let run = RunRecord {
            started_at: at("2026-01-01T00:00:00Z"),
            finished_at: at("2026-01-01T00:00:12.5Z"),
            command: "run-all".into(),
            exit_code: 1,
            error: None,
            phases: vec![PhaseSummary {
                phase: "label".into(),
                done: 3,
                failed: 1,
                skipped: 0,
                deferred: 2,
                problems: Vec::new(),
                orders: Vec::new(),
                postage: None,
            }],
            reminded: Vec::new(),
        };
        let commands = BTreeMap::from([(
            "run-all".to_owned(),
            CommandHistory {
                last_started_at: run.started_at,
                last_finished_at: run.finished_at,
                last_exit_code: 1,
                last_success_at: Some(at("2025-12-31T23:45:10Z")),
            },
        )]);
        render(&MetricsInput {
            commands: &commands,
            last_run: &run,
            needing_person: 2,
            totals: JournalTotals {
                labels_bought: 7,
                postage_spent: Cad::from_cents(10_185),
                labels_price_unknown: 1,
                orders_shipped: 5,
                active_orders: 4,
                settled_orders: 3,
            },
            journal_bytes: 4096,
        })
    }

    #[test]
    fn each_figure_is_a_sample_without_a_timestamp() {
        let text = rendered();
        for line in [
            "bbship_last_run_start_timestamp_seconds{command=\"run-all\"} 1767225600",
            "bbship_last_run_duration_seconds{command=\"run-all\"} 12.5",
            "bbship_last_run_exit_code{command=\"run-all\"} 1",
            "bbship_last_success_timestamp_seconds{command=\"run-all\"} 1767224710",
            "bbship_last_run_orders{phase=\"label\",outcome=\"done\"} 3",
            "bbship_last_run_orders{phase=\"label\",outcome=\"failed\"} 1",
            "bbship_last_run_orders{phase=\"label\",outcome=\"deferred\"} 2",
            "bbship_orders_needing_person 2",
            "bbship_labels_bought_total 7",
            "bbship_postage_spent_dollars_total{currency=\"CAD\"} 101.85",
            "bbship_labels_price_unknown 1",
            "bbship_orders_shipped_total 5",
            "bbship_journal_orders{state=\"active\"} 4",
            "bbship_journal_size_bytes 4096",
        ] {
            assert!(text.lines().any(|got| got == line), "{line} not in\n{text}");
        }
        for sample in text.lines().filter(|line| !line.starts_with('#')) {
            // Name (with labels, which hold no spaces here) and value: a third field would
            // be a timestamp.
            assert_eq!(sample.split_whitespace().count(), 2, "{sample}");
        }
    }

    #[test]
    fn every_family_has_help_and_type_before_its_samples() {
        let text = rendered();
        let mut typed = std::collections::BTreeSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                typed.insert(rest.split(' ').next().unwrap().to_owned());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert!(typed.contains(name), "{name} has no TYPE before it");
                assert!(text.contains(&format!("# HELP {name} ")), "{name}");
            }
        }
    }

    #[test]
    fn a_label_value_is_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
