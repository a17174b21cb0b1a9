//! The print journal (`logs/print_journal.jsonl`): what the packing desk needs to know
//! from local files only. For each order it keeps what goes on its packing slip (written
//! before its shipment is bought, while the Best Buy order is in hand, so that a label
//! finished by a later run from the journal alone still gets its slip), which label and
//! slip files were saved together, and which of them a printer has accepted.
//!
//! Printing is at-least-once: a file is printed until a success is on disk, and never
//! again after one. A failure is journaled too, so that `status` can tell an order whose
//! printer keeps refusing it from one simply not printed yet.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::OrderId;

/// What a packing slip shows of an order, as the label phase had it before the create.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlipContent {
    #[serde(default)]
    pub commercial_id: Option<String>,
    #[serde(default)]
    pub order_date: Option<DateTime<Utc>>,
    #[serde(default)]
    pub ship_by: Option<DateTime<Utc>>,
    /// The ship-to block as sent to Canada Post, one entry a line.
    pub ship_to: Vec<String>,
    pub lines: Vec<SlipLine>,
    pub weight_kg: f64,
    pub dimensions_cm: [f64; 3],
    pub service: String,
}

/// One order line in the parcel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlipLine {
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    pub quantity: u32,
}

/// One line of the print journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum PrintEvent {
    /// What the slip will show; written before the Create Shipment.
    Packing {
        order_id: OrderId,
        at: DateTime<Utc>,
        content: Box<SlipContent>,
    },
    /// A new label and its slip (when one is made), to be printed when `print` is set.
    Saved {
        order_id: OrderId,
        at: DateTime<Utc>,
        labels: Vec<String>,
        #[serde(default)]
        slip: Option<String>,
        print: bool,
    },
    /// The print command accepted `file` (exit 0).
    Printed {
        order_id: OrderId,
        at: DateTime<Utc>,
        file: String,
    },
    /// The print command failed for `file`; it is tried again by the next run.
    PrintFailed {
        order_id: OrderId,
        at: DateTime<Utc>,
        file: String,
        reason: String,
    },
}

impl PrintEvent {
    pub fn order_id(&self) -> &OrderId {
        match self {
            PrintEvent::Packing { order_id, .. }
            | PrintEvent::Saved { order_id, .. }
            | PrintEvent::Printed { order_id, .. }
            | PrintEvent::PrintFailed { order_id, .. } => order_id,
        }
    }
}

/// A label saved with its slip, as the journal recorded it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SavedSet {
    pub at: DateTime<Utc>,
    pub labels: Vec<String>,
    pub slip: Option<String>,
    pub print: bool,
}

impl SavedSet {
    /// The files in print order: each label page, then the slip.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.labels
            .iter()
            .map(String::as_str)
            .chain(self.slip.as_deref())
    }
}

/// Everything the print journal says about one order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PrintRecord {
    pub packing: Option<SlipContent>,
    pub saved: Vec<SavedSet>,
    pub printed: BTreeSet<String>,
    /// For each file not printed yet that failed: when it first failed and the last reason.
    pub failures: BTreeMap<String, (DateTime<Utc>, String)>,
}

/// Where an order stands with its printer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "print", rename_all = "snake_case")]
pub enum PrintState {
    /// Every file asked for was printed.
    Printed,
    /// Files wait for the printer (a crash, or not tried yet).
    NotPrinted,
    /// The print command failed for a file, first at `since`.
    Failed {
        since: DateTime<Utc>,
        reason: String,
    },
}

impl PrintState {
    pub fn name(&self) -> &'static str {
        match self {
            PrintState::Printed => "printed",
            PrintState::NotPrinted => "not printed",
            PrintState::Failed { .. } => "print failed",
        }
    }
}

impl PrintRecord {
    pub fn apply(&mut self, event: &PrintEvent) {
        match event {
            PrintEvent::Packing { content, .. } => self.packing = Some((**content).clone()),
            PrintEvent::Saved {
                at,
                labels,
                slip,
                print,
                ..
            } => self.saved.push(SavedSet {
                at: *at,
                labels: labels.clone(),
                slip: slip.clone(),
                print: *print,
            }),
            PrintEvent::Printed { file, .. } => {
                self.failures.remove(file);
                self.printed.insert(file.clone());
            }
            PrintEvent::PrintFailed {
                file, at, reason, ..
            } => {
                if !self.printed.contains(file) {
                    let entry = self
                        .failures
                        .entry(file.clone())
                        .or_insert_with(|| (*at, String::new()));
                    entry.1 = reason.clone();
                }
            }
        }
    }

    /// The files saved to be printed that no printer has accepted yet, in print order.
    pub fn pending(&self) -> Vec<String> {
        let mut pending = Vec::new();
        for set in self.saved.iter().filter(|set| set.print) {
            for file in set.files() {
                if !self.printed.contains(file) && !pending.iter().any(|seen| seen == file) {
                    pending.push(file.to_owned());
                }
            }
        }
        pending
    }

    /// The newest label and slip saved.
    pub fn newest(&self) -> Option<&SavedSet> {
        self.saved.last()
    }

    /// `None` when nothing was ever to be printed.
    pub fn state(&self) -> Option<PrintState> {
        if !self.saved.iter().any(|set| set.print) {
            return None;
        }
        let pending = self.pending();
        if pending.is_empty() {
            return Some(PrintState::Printed);
        }
        let failed = pending
            .iter()
            .filter_map(|file| self.failures.get(file))
            .min_by_key(|(since, _)| *since);
        Some(match failed {
            Some((since, reason)) => PrintState::Failed {
                since: *since,
                reason: reason.clone(),
            },
            None => PrintState::NotPrinted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        format!("2026-11-25T12:{minute:02}:00Z").parse().unwrap()
    }

    fn order() -> OrderId {
        "1-A".parse().unwrap()
    }

    fn saved(print: bool) -> PrintEvent {
        PrintEvent::Saved {
            order_id: order(),
            at: at(0),
            labels: vec!["labels/1-A.pdf".into()],
            slip: Some("labels/slips/1-A.pdf".into()),
            print,
        }
    }

    #[test]
    fn files_are_pending_until_printed_and_never_after() {
        let mut record = PrintRecord::default();
        record.apply(&saved(true));
        assert_eq!(record.pending(), ["labels/1-A.pdf", "labels/slips/1-A.pdf"]);
        assert_eq!(record.state(), Some(PrintState::NotPrinted));
        record.apply(&PrintEvent::Printed {
            order_id: order(),
            at: at(1),
            file: "labels/1-A.pdf".into(),
        });
        assert_eq!(record.pending(), ["labels/slips/1-A.pdf"]);
        record.apply(&PrintEvent::PrintFailed {
            order_id: order(),
            at: at(2),
            file: "labels/slips/1-A.pdf".into(),
            reason: "jammed".into(),
        });
        record.apply(&PrintEvent::PrintFailed {
            order_id: order(),
            at: at(3),
            file: "labels/slips/1-A.pdf".into(),
            reason: "still jammed".into(),
        });
        assert_eq!(
            record.state(),
            Some(PrintState::Failed {
                since: at(2),
                reason: "still jammed".into()
            })
        );
        record.apply(&PrintEvent::Printed {
            order_id: order(),
            at: at(4),
            file: "labels/slips/1-A.pdf".into(),
        });
        assert!(record.pending().is_empty());
        assert_eq!(record.state(), Some(PrintState::Printed));
        // A failure reported after the success changes nothing.
        record.apply(&PrintEvent::PrintFailed {
            order_id: order(),
            at: at(5),
            file: "labels/slips/1-A.pdf".into(),
            reason: "late".into(),
        });
        assert_eq!(record.state(), Some(PrintState::Printed));
    }

    #[test]
    fn a_label_saved_without_a_print_command_is_never_pending() {
        let mut record = PrintRecord::default();
        record.apply(&saved(false));
        assert!(record.pending().is_empty());
        assert_eq!(record.state(), None);
        assert_eq!(record.newest().unwrap().files().count(), 2);
    }

    #[test]
    fn events_round_trip_through_json() {
        let event = saved(true);
        let json = serde_json::to_string(&event).unwrap();
        assert!(json.contains("\"event\":\"saved\""), "{json}");
        assert_eq!(serde_json::from_str::<PrintEvent>(&json).unwrap(), event);
    }
}
