//! The print journal (`logs/print_journal.jsonl`): what the packing desk needs to know
//! from local files only. For each order it keeps what goes on its packing slip (written
//! before its shipment is bought, while the Best Buy order is in hand, so that a label
//! finished by a later run from the journal alone still gets its slip), which label and
//! slip files were saved together, and which of them a printer has accepted.
//!
//! Printing is at-least-once: a file is printed until a success is on disk, and never
//! again after one. A failure is journaled too, so that `status` can tell an order whose
//! printer keeps refusing it from one simply not printed yet.
//!
//! The log grows with every order ever labelled, so, like the other logs, it is kept in
//! the journal's checkpoint, and an order whose files are all printed (or were never to
//! be printed) is *settled* into the few fields `status` and `bbship print` still read:
//! its slip content, which only the first slip is written from, is not kept.

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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedSet {
    pub at: DateTime<Utc>,
    /// Boxed, so that one read back from the checkpoint holds no spare capacity.
    pub labels: Box<[String]>,
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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
            // A slip is written only for an order with no set saved yet, so once one is
            // saved the content is never read again and not worth its memory.
            PrintEvent::Packing { content, .. } => {
                if self.saved.is_empty() {
                    self.packing = Some((**content).clone());
                }
            }
            PrintEvent::Saved {
                at,
                labels,
                slip,
                print,
                ..
            } => {
                self.packing = None;
                self.saved.push(SavedSet {
                    at: *at,
                    labels: labels.clone().into_boxed_slice(),
                    slip: slip.clone(),
                    print: *print,
                });
            }
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

/// An order whose every file to print was printed, or that had none to print: no run
/// will print anything of it again unless a new set is saved. Kept small: the slip
/// content is gone, and the printed files are those of its sets to print.
#[derive(Clone, Debug, PartialEq)]
pub struct SettledPrint {
    /// Boxed like `SavedSet::labels`: there are as many of these as orders ever printed.
    pub saved: Box<[SavedSet]>,
    /// Files printed that are in no set saved to print (none, unless the log was edited).
    pub(super) extra_printed: Vec<String>,
    /// Failures of files that are in no set saved to print (as above).
    pub(super) failures: BTreeMap<String, (DateTime<Utc>, String)>,
}

impl SettledPrint {
    /// `record` settled, when it is: a set saved and nothing pending.
    fn of(record: &PrintRecord) -> Option<SettledPrint> {
        if record.saved.is_empty() || !record.pending().is_empty() {
            return None;
        }
        let settled = SettledPrint {
            saved: record.saved.clone().into_boxed_slice(),
            extra_printed: Vec::new(),
            failures: record.failures.clone(),
        };
        let extra_printed = record
            .printed
            .iter()
            .filter(|file| !settled.to_print(file))
            .cloned()
            .collect();
        Some(SettledPrint {
            extra_printed,
            ..settled
        })
    }

    /// Whether `file` is in a set saved to print (and so, the order being settled, printed).
    fn to_print(&self, file: &str) -> bool {
        self.saved
            .iter()
            .filter(|set| set.print)
            .any(|set| set.files().any(|saved| saved == file))
    }

    fn is_printed(&self, file: &str) -> bool {
        self.to_print(file) || self.extra_printed.iter().any(|printed| printed == file)
    }

    /// Applies `event` as `PrintRecord::apply` would to the whole record; `false` for a
    /// new set saved, which may have files to print and so reopens the order.
    fn apply(&mut self, event: &PrintEvent) -> bool {
        match event {
            PrintEvent::Packing { .. } => {}
            PrintEvent::Saved { .. } => return false,
            PrintEvent::Printed { file, .. } => {
                self.failures.remove(file);
                if !self.is_printed(file) {
                    self.extra_printed.push(file.clone());
                }
            }
            PrintEvent::PrintFailed {
                file, at, reason, ..
            } => {
                if !self.is_printed(file) {
                    let entry = self
                        .failures
                        .entry(file.clone())
                        .or_insert_with(|| (*at, String::new()));
                    entry.1 = reason.clone();
                }
            }
        }
        true
    }

    /// The whole record again, as a replay of every line would have it.
    fn to_record(&self) -> PrintRecord {
        let mut printed: BTreeSet<String> = self.extra_printed.iter().cloned().collect();
        for set in self.saved.iter().filter(|set| set.print) {
            printed.extend(set.files().map(str::to_owned));
        }
        PrintRecord {
            packing: None,
            saved: self.saved.to_vec(),
            printed,
            failures: self.failures.clone(),
        }
    }
}

/// Every order the print journal knows, in progress or settled.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PrintBook {
    pub active: BTreeMap<OrderId, PrintRecord>,
    pub settled: BTreeMap<OrderId, SettledPrint>,
}

impl PrintBook {
    pub fn apply(&mut self, event: &PrintEvent) {
        let order_id = event.order_id();
        if let Some(settled) = self.settled.get_mut(order_id) {
            if settled.apply(event) {
                return;
            }
            let record = settled.to_record();
            self.settled.remove(order_id);
            self.active.insert(order_id.clone(), record);
        }
        let record = self.active.entry(order_id.clone()).or_default();
        record.apply(event);
        if let Some(settled) = SettledPrint::of(record) {
            self.active.remove(order_id);
            self.settled.insert(order_id.clone(), settled);
        }
    }

    /// Everything known of one order.
    pub fn get(&self, order_id: &OrderId) -> Option<PrintRecord> {
        self.active
            .get(order_id)
            .cloned()
            .or_else(|| self.settled.get(order_id).map(SettledPrint::to_record))
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
    fn a_printed_order_is_settled_without_its_slip_content_and_answers_as_before() {
        let packing = PrintEvent::Packing {
            order_id: order(),
            at: at(0),
            content: Box::new(SlipContent {
                commercial_id: None,
                order_date: None,
                ship_by: None,
                ship_to: vec!["A Person".into()],
                lines: Vec::new(),
                weight_kg: 1.0,
                dimensions_cm: [1.0, 1.0, 1.0],
                service: "DOM.EP".into(),
            }),
        };
        let printed = |file: &str| PrintEvent::Printed {
            order_id: order(),
            at: at(1),
            file: file.into(),
        };
        let events = [
            packing.clone(),
            saved(true),
            printed("labels/1-A.pdf"),
            printed("labels/slips/1-A.pdf"),
            // After it settled: only a new set saved reopens it.
            packing,
            printed("labels/other.pdf"),
            PrintEvent::PrintFailed {
                order_id: order(),
                at: at(2),
                file: "labels/slips/1-A.pdf".into(),
                reason: "late".into(),
            },
            saved(false),
        ];
        let mut whole = PrintRecord::default();
        let mut book = PrintBook::default();
        for (index, event) in events.iter().enumerate() {
            whole.apply(event);
            book.apply(event);
            assert_eq!(
                book.get(&order()).as_ref(),
                Some(&whole),
                "after event {index}"
            );
            assert_eq!(
                book.settled.contains_key(&order()),
                index >= 3,
                "event {index}"
            );
        }
        assert!(whole.packing.is_none());
        book.apply(&PrintEvent::Saved {
            order_id: order(),
            at: at(3),
            labels: vec!["labels/other.pdf".into(), "labels/new.pdf".into()],
            slip: None,
            print: true,
        });
        assert!(book.settled.is_empty());
        assert_eq!(book.get(&order()).unwrap().pending(), ["labels/new.pdf"]);
    }

    #[test]
    fn events_round_trip_through_json() {
        let event = saved(true);
        let json = serde_json::to_string(&event).unwrap();
        assert!(json.contains("\"event\":\"saved\""), "{json}");
        assert_eq!(serde_json::from_str::<PrintEvent>(&json).unwrap(), event);
    }
}
