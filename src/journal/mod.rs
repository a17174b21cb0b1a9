//! The journal: bbship's durable memory of what it did to each order.
//!
//! It is the history logs (JSON Lines under `logs/`), replayed at start
//! into one record per order and extended, line by line with fsync, as steps succeed. A
//! phase asks it what is already done for an order and tells it what was just done; it
//! never talks to an API. Opened read-only (dry runs, `status`), it changes no file.
//!
//! The history grows with every order ever shipped, but a run only needs the orders still
//! in progress. So an order that nothing will ever touch again (labelled, in the history
//! log, read back SHIPPED, with no duplicate shipment or cancellation to sort out) is
//! *settled* and kept as a few fields; and a writing run ends by saving a `checkpoint` of
//! what the logs said up to where they end, so the next run replays only the lines
//! appended since. Loading and memory then follow the orders in progress, not the size
//! of the history. The packing desk's print journal is one of those logs, its orders
//! settled the same way once their files are printed (see `print`).

pub mod checkpoint;
pub mod jsonl;
pub mod label;
pub mod legacy;
pub mod print;
pub mod ship;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::canadapost::types::ShipmentId;
use crate::data_dir::DataDir;
use crate::ids::{OrderId, OrderLineId};
use checkpoint::{CheckpointToWrite, LogMark};
use jsonl::{AppendLog, Position, TornTail};
pub use label::{
    FinishedSteps, LabelEvent, LabelInProgress, LabelProgress, LabelStanding, OpenAttempt,
    PinVerdict, RefundProgress, SavedLabel, ShipmentPlan, ShipmentRecord, ShippingHistoryLine,
};
use print::PrintBook;
pub use print::{PrintEvent, PrintRecord, PrintState, SavedSet, SlipContent, SlipLine};
pub use ship::{ShipEvent, ShipProgress, ShippedOrderLine, ShippedOrderState};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A writing run, holding the lock: torn lines are repaired and logs opened for append.
    ReadWrite,
    /// Nothing on disk is created or changed.
    ReadOnly,
}

/// One line of `logs/best_buy/accepted_orders_log.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AcceptedOrder {
    pub order_id: OrderId,
    #[serde(default)]
    pub commercial_id: Option<String>,
    pub line_ids: Vec<OrderLineId>,
    pub accepted_at: DateTime<Utc>,
    /// How bbship knows the order is accepted.
    #[serde(with = "accepted_wording")]
    pub outcome: Confirmation,
    #[serde(default)]
    pub created_date: Option<DateTime<Utc>>,
    /// `created_date` plus the configured acceptance window: Best Buy publishes no
    /// deadline, so this is bbship's estimate, used for warnings.
    #[serde(default)]
    pub acceptance_deadline: Option<DateTime<Utc>>,
    #[serde(default)]
    pub shipping_deadline: Option<DateTime<Utc>>,
}

/// How bbship knows a write to Best Buy (accept, tracking, shipped) took effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confirmation {
    /// Best Buy answered 204.
    Answered,
    /// The write failed or got no answer, and a fresh read showed its effect.
    ConfirmedByState,
}

/// The accepted-orders log has always said `accepted` for a 204, where the ship journal
/// says `answered`; both files keep their words.
mod accepted_wording {
    use serde::{Deserialize, Deserializer, Serializer};

    use super::Confirmation;

    pub fn serialize<S: Serializer>(outcome: &Confirmation, out: S) -> Result<S::Ok, S::Error> {
        out.serialize_str(match outcome {
            Confirmation::Answered => "accepted",
            Confirmation::ConfirmedByState => "confirmed_by_state",
        })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Confirmation, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "snake_case")]
        enum Word {
            Accepted,
            ConfirmedByState,
        }
        Ok(match Word::deserialize(input)? {
            Word::Accepted => Confirmation::Answered,
            Word::ConfirmedByState => Confirmation::ConfirmedByState,
        })
    }
}

/// What the journal knows of one order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrderRecord {
    pub accepted: Option<AcceptedOrder>,
    pub label: LabelProgress,
    pub ship: ShipProgress,
}

impl OrderRecord {
    fn apply(&mut self, line: &Line) {
        match line {
            Line::Accepted(accepted) => self.accepted = Some((*accepted).clone()),
            Line::History(history) => self.label.apply_history(history),
            Line::Label(event) => self.label.apply(event),
            Line::Ship(event) => self.ship.apply(event),
            Line::ReadBack(state) => self.ship.apply_read_back(state),
            // The print book takes these (`OrderBook::apply`).
            Line::Print(_) => {}
        }
    }

    /// Whether nothing will ever be done to this order again: labelled and in the history
    /// log, read back SHIPPED, with no duplicate shipment or cancellation for a person to
    /// sort out.
    pub fn is_settled(&self) -> bool {
        self.label.in_history
            && self.ship.confirmed
            && self.label.extra_shipments.is_empty()
            && self.ship.cancelled_after_label.is_none()
    }
}

/// A settled order, kept small: the history logs hold the rest. The checkpoint keeps it
/// in its own short form (`checkpoint`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettledOrder {
    pub shipment_id: Option<ShipmentId>,
    pub tracking_pin: Option<String>,
    /// Read back without spare capacity: there is one per order ever shipped.
    pub label_files: Vec<String>,
    /// What its label cost; `None` when unknown.
    pub postage: Option<crate::canadapost::money::Postage>,
}

impl SettledOrder {
    fn of(record: &OrderRecord) -> SettledOrder {
        let shipment = record.label.shipment.as_ref();
        SettledOrder {
            shipment_id: shipment.map(|shipment| shipment.shipment_id.clone()),
            tracking_pin: shipment.and_then(|shipment| shipment.tracking_pin.clone()),
            label_files: label_paths(record.label.labels.as_deref()),
            postage: shipment.and_then(|shipment| shipment.postage),
        }
    }

    /// A line about an order already settled can only add to what it shows (a label
    /// printed again); it never reopens the order.
    fn apply(&mut self, line: &Line) {
        if let Line::Label(LabelEvent::LabelSaved {
            shipment_id, files, ..
        }) = line
            && self.shipment_id.as_ref() == Some(shipment_id)
        {
            self.label_files = label_paths(Some(files));
        }
    }
}

fn label_paths(labels: Option<&[SavedLabel]>) -> Vec<String> {
    labels
        .unwrap_or_default()
        .iter()
        .map(|label| label.path.clone())
        .collect()
}

/// One line of any history log, as the journal applies it to an order.
enum Line<'a> {
    Accepted(&'a AcceptedOrder),
    History(&'a ShippingHistoryLine),
    Label(&'a LabelEvent),
    Ship(&'a ShipEvent),
    /// The state in a `shipped_orders_log.jsonl` line.
    ReadBack(&'a str),
    /// The packing desk's, kept apart from the order's shipping record.
    Print(&'a PrintEvent),
}

/// The history logs the journal replays, in replay order: the history log before the
/// label journal, whose events then refine what it says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum HistoryLog {
    Accepted,
    ShippingHistory,
    Label,
    Ship,
    ShippedOrders,
    Print,
}

impl HistoryLog {
    const ALL: [HistoryLog; 6] = [
        HistoryLog::Accepted,
        HistoryLog::ShippingHistory,
        HistoryLog::Label,
        HistoryLog::Ship,
        HistoryLog::ShippedOrders,
        HistoryLog::Print,
    ];

    fn path(self, data_dir: &DataDir) -> PathBuf {
        match self {
            HistoryLog::Accepted => data_dir.accepted_orders_log(),
            HistoryLog::ShippingHistory => data_dir.shipping_history_log(),
            HistoryLog::Label => data_dir.label_journal(),
            HistoryLog::Ship => data_dir.ship_journal(),
            HistoryLog::ShippedOrders => data_dir.shipped_orders_log(),
            HistoryLog::Print => data_dir.print_journal(),
        }
    }

    /// The log's key in the checkpoint.
    fn name(self) -> &'static str {
        match self {
            HistoryLog::Accepted => "accepted_orders_log",
            HistoryLog::ShippingHistory => "cp_shipping_history_log",
            HistoryLog::Label => "label_journal",
            HistoryLog::Ship => "ship_journal",
            HistoryLog::ShippedOrders => "shipped_orders_log",
            HistoryLog::Print => "print_journal",
        }
    }
}

/// Every order, in progress or settled, and what the packing desk knows of each.
#[derive(Debug, Default)]
struct OrderBook {
    active: BTreeMap<OrderId, OrderRecord>,
    settled: BTreeMap<OrderId, SettledOrder>,
    prints: PrintBook,
}

impl OrderBook {
    fn apply(&mut self, order_id: &OrderId, line: &Line) {
        if let Line::Print(event) = line {
            self.prints.apply(event);
            return;
        }
        if let Some(settled) = self.settled.get_mut(order_id) {
            settled.apply(line);
            return;
        }
        let record = self.active.entry(order_id.clone()).or_default();
        record.apply(line);
        if record.is_settled() {
            let settled = SettledOrder::of(record);
            self.active.remove(order_id);
            self.settled.insert(order_id.clone(), settled);
        }
    }

    /// Replays `log` from `from` into the book and returns where it ends.
    fn replay(
        &mut self,
        log: HistoryLog,
        path: &std::path::Path,
        from: Position,
        torn_tail: TornTail,
    ) -> Result<Position> {
        match log {
            HistoryLog::Accepted => jsonl::replay(path, from, torn_tail, |line: AcceptedOrder| {
                self.apply(&line.order_id, &Line::Accepted(&line));
                Ok(())
            }),
            HistoryLog::ShippingHistory => {
                jsonl::replay(path, from, torn_tail, |line: ShippingHistoryLine| {
                    self.apply(&line.order_id, &Line::History(&line));
                    Ok(())
                })
            }
            HistoryLog::Label => jsonl::replay(path, from, torn_tail, |event: LabelEvent| {
                self.apply(event.order_id(), &Line::Label(&event));
                Ok(())
            }),
            HistoryLog::Ship => jsonl::replay(path, from, torn_tail, |event: ShipEvent| {
                self.apply(event.order_id(), &Line::Ship(&event));
                Ok(())
            }),
            HistoryLog::ShippedOrders => {
                jsonl::replay(path, from, torn_tail, |line: ShippedOrderState| {
                    self.apply(&line.order_id, &Line::ReadBack(&line.order_state));
                    Ok(())
                })
            }
            HistoryLog::Print => jsonl::replay(path, from, torn_tail, |event: PrintEvent| {
                self.apply(event.order_id(), &Line::Print(&event));
                Ok(())
            }),
        }
    }
}

/// How many log lines after the checkpoint make a run write a new one (about 150
/// orders' worth: replaying them takes milliseconds).
const CHECKPOINT_EVERY_LINES: u64 = 1_000;

/// What the journal holds in memory.
struct JournalState {
    book: OrderBook,
    /// Where each log ends (what has been replayed or appended).
    positions: BTreeMap<HistoryLog, Position>,
    /// Lines in the logs after the checkpoint on disk (all of them when there is none).
    lines_since_checkpoint: u64,
}

/// See `Journal::totals`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct JournalTotals {
    pub labels_bought: usize,
    /// The known postage of every label bought.
    pub postage_spent: crate::canadapost::money::Cad,
    /// Labels bought whose price is unknown (never counted as zero in `postage_spent`).
    pub labels_price_unknown: usize,
    pub orders_shipped: usize,
    pub active_orders: usize,
    pub settled_orders: usize,
}

pub struct Journal {
    data_dir: DataDir,
    state: Mutex<JournalState>,
    /// The orders the replaced tool's log says it labelled.
    legacy: BTreeMap<String, legacy::LegacyShipment>,
    /// The logs open for appending; empty when opened read-only.
    appenders: BTreeMap<HistoryLog, AppendLog>,
}

impl Journal {
    /// Replays the history logs of `data_dir`, from the checkpoint when it matches them.
    /// With `ReadWrite` the caller must hold the run lock and have created the
    /// directories.
    pub fn open(data_dir: &DataDir, access: Access) -> Result<Journal> {
        let torn_tail = match access {
            Access::ReadWrite => TornTail::Repair,
            Access::ReadOnly => TornTail::Ignore,
        };
        let (mut book, mut positions) = Journal::from_checkpoint(data_dir);
        let mut lines_since_checkpoint = 0;
        for log in HistoryLog::ALL {
            let path = log.path(data_dir);
            let from = positions.get(&log).copied().unwrap_or_default();
            let end = book.replay(log, &path, from, torn_tail)?;
            lines_since_checkpoint += end.lines - from.lines;
            positions.insert(log, end);
        }
        let legacy = legacy::read(&data_dir.legacy_shipping_history())?;
        let mut appenders = BTreeMap::new();
        if access == Access::ReadWrite {
            for log in HistoryLog::ALL {
                appenders.insert(log, AppendLog::open(&log.path(data_dir))?);
            }
        }
        Ok(Journal {
            data_dir: data_dir.clone(),
            state: Mutex::new(JournalState {
                book,
                positions,
                lines_since_checkpoint,
            }),
            legacy,
            appenders,
        })
    }

    /// The orders and log positions of a checkpoint that still matches every log; empty
    /// (a full replay) otherwise.
    fn from_checkpoint(data_dir: &DataDir) -> (OrderBook, BTreeMap<HistoryLog, Position>) {
        let path = data_dir.journal_checkpoint();
        let Some(checkpoint) = checkpoint::read(&path) else {
            return (OrderBook::default(), BTreeMap::new());
        };
        let mut positions = BTreeMap::new();
        for log in HistoryLog::ALL {
            match checkpoint.logs.get(log.name()) {
                Some(mark) if mark.still_matches(&log.path(data_dir)) => {
                    positions.insert(log, mark.position);
                }
                _ => {
                    log::warn!(
                        "the journal checkpoint {} no longer matches {}; replaying every \
                         history log (slower, this once)",
                        path.display(),
                        log.path(data_dir).display()
                    );
                    return (OrderBook::default(), BTreeMap::new());
                }
            }
        }
        let book = OrderBook {
            active: checkpoint.active,
            settled: checkpoint.settled,
            prints: checkpoint.prints,
        };
        (book, positions)
    }

    /// Writes a checkpoint once the logs have grown by `CHECKPOINT_EVERY_LINES` since
    /// the last: replaying fewer lines costs less than rewriting the checkpoint, which
    /// holds every order ever shipped.
    pub fn write_checkpoint_if_due(&self) -> Result<()> {
        if self.lock().lines_since_checkpoint < CHECKPOINT_EVERY_LINES {
            return Ok(());
        }
        self.write_checkpoint()
    }

    /// Saves where every log ends and what it says, so the next run replays only what is
    /// appended after this. Call it when no record is being appended (at the end of a
    /// run). A read-only journal, or one whose checkpoint is current, writes nothing.
    pub fn write_checkpoint(&self) -> Result<()> {
        if self.appenders.is_empty() {
            return Ok(());
        }
        let mut state = self.lock();
        if state.lines_since_checkpoint == 0 {
            return Ok(());
        }
        let mut marks = BTreeMap::new();
        for log in HistoryLog::ALL {
            let path = log.path(&self.data_dir);
            let position = state.positions.get(&log).copied().unwrap_or_default();
            // A position that is not the end of the file would make the next run start
            // mid-line; better no checkpoint (a slower start) than a wrong one.
            let length = std::fs::metadata(&path).map_or(0, |metadata| metadata.len());
            if position.offset != length {
                bail!(
                    "{} is {length} bytes but the journal counted {}; not saving a checkpoint",
                    path.display(),
                    position.offset
                );
            }
            marks.insert(log.name().to_owned(), LogMark::take(&path, position)?);
        }
        let contents = CheckpointToWrite {
            written_at: Utc::now(),
            logs: &marks,
            settled: &state.book.settled,
            active: &state.book.active,
            prints: &state.book.prints,
        }
        .encode()?;
        let contents = crate::secret::redact_json(&contents);
        crate::data_dir::write_atomic(&self.data_dir.journal_checkpoint(), contents.as_bytes())?;
        state.lines_since_checkpoint = 0;
        Ok(())
    }

    /// What is known of one order still in progress; `None` for an order the journal
    /// has never seen and for a settled one (`settled` answers for that, and the label
    /// phase asks `label_standing`, which says both).
    pub fn active_order(&self, order_id: &OrderId) -> Option<OrderRecord> {
        self.lock().book.active.get(order_id).cloned()
    }

    /// The settled order `order_id`, if it is one.
    pub fn settled(&self, order_id: &OrderId) -> Option<SettledOrder> {
        self.lock().book.settled.get(order_id).cloned()
    }

    /// Where the label of `order_id` stands: what the label phase decides on. The
    /// replaced tool's word comes first (bbship never labels such an order), then a
    /// settled order, then what the label journal says.
    pub fn label_standing(&self, order_id: &OrderId) -> LabelStanding {
        let state = self.lock();
        let label = state.book.active.get(order_id).map(|record| &record.label);
        if let Some(legacy) = self.legacy.get(order_id.as_str()) {
            return LabelStanding::LegacyTool {
                pins: legacy.pins.clone(),
                held: label.is_some_and(|label| label.legacy_still_shipping.is_some()),
                unfinished: label.is_some_and(|label| label.standing().is_unfinished()),
            };
        }
        if let Some(settled) = state.book.settled.get(order_id) {
            return LabelStanding::Settled {
                shipment_id: settled.shipment_id.clone(),
            };
        }
        label.map_or(LabelStanding::Fresh, LabelProgress::standing)
    }

    /// Finishes the label of `order_id`: appends its history line, built from what the
    /// journal holds of the label (its plan, when it was bought and saved) and the
    /// verdict and files that finish it, and returns the line once it is on disk.
    pub fn complete_label(
        &self,
        order_id: &OrderId,
        shipment: &ShipmentRecord,
        verdict: &PinVerdict,
        labels: &[SavedLabel],
    ) -> Result<ShippingHistoryLine> {
        let line = {
            let state = self.lock();
            let nothing = LabelProgress::default();
            let label = (state.book.active.get(order_id)).map_or(&nothing, |record| &record.label);
            label.history_line(order_id, shipment, verdict, labels, Utc::now())
        };
        self.record_shipping_history(line.clone())?;
        Ok(line)
    }

    /// The last history line of `order_id` for `shipment_id`: what a settled order no
    /// longer keeps in memory (its links, for a reprint). Reads the whole history log, so
    /// it is for an operator's command, not for a cycle.
    pub fn history_line(
        &self,
        order_id: &OrderId,
        shipment_id: &ShipmentId,
    ) -> Result<Option<ShippingHistoryLine>> {
        let mut found = None;
        jsonl::replay(
            &self.data_dir.shipping_history_log(),
            Position::default(),
            TornTail::Ignore,
            |line: ShippingHistoryLine| {
                if line.order_id == *order_id && line.shipment_id == *shipment_id {
                    found = Some(line);
                }
                Ok(())
            },
        )?;
        Ok(found)
    }

    /// Every order still in progress (not settled), in id order.
    pub fn active_orders(&self) -> Vec<(OrderId, OrderRecord)> {
        self.lock()
            .book
            .active
            .iter()
            .map(|(id, record)| (id.clone(), record.clone()))
            .collect()
    }

    /// Every settled order, in id order.
    pub fn settled_orders(&self) -> Vec<(OrderId, SettledOrder)> {
        self.lock()
            .book
            .settled
            .iter()
            .map(|(id, settled)| (id.clone(), settled.clone()))
            .collect()
    }

    /// The id of every shipment the journal holds, for any order: what a search for an
    /// unknown attempt need not read again.
    pub fn known_shipment_ids(&self) -> std::collections::BTreeSet<String> {
        let state = self.lock();
        let active = state.book.active.values().flat_map(|record| {
            let label = &record.label;
            label.shipment.iter().chain(&label.extra_shipments)
        });
        let mut ids: std::collections::BTreeSet<String> = active
            .map(|shipment| shipment.shipment_id.as_str().to_owned())
            .collect();
        ids.extend(
            state
                .book
                .settled
                .values()
                .filter_map(|settled| settled.shipment_id.as_ref())
                .map(|id| id.as_str().to_owned()),
        );
        ids
    }

    /// How many orders are in progress and how many settled.
    pub fn counts(&self) -> (usize, usize) {
        let state = self.lock();
        (state.book.active.len(), state.book.settled.len())
    }

    /// What the whole history adds up to, for the metrics: every label bbship bought (an
    /// order's shipment and any duplicate found for it) and every order read back
    /// SHIPPED. Derived from the logs, so the totals survive restarts and only grow.
    pub fn totals(&self) -> JournalTotals {
        let state = self.lock();
        let settled = &state.book.settled;
        let active = &state.book.active;
        // Each label bought, by its price: a settled order keeps its label's, so the sums
        // only grow as orders settle.
        let prices = settled
            .values()
            .filter(|order| order.shipment_id.is_some())
            .map(|order| order.postage.as_ref())
            .chain(active.values().flat_map(|record| {
                let label = &record.label;
                label
                    .shipment
                    .iter()
                    .chain(&label.extra_shipments)
                    .map(|shipment| shipment.postage.as_ref())
            }));
        let mut totals = JournalTotals {
            orders_shipped: settled.len()
                + active
                    .values()
                    .filter(|record| record.ship.confirmed)
                    .count(),
            active_orders: active.len(),
            settled_orders: settled.len(),
            ..JournalTotals::default()
        };
        for price in prices {
            totals.labels_bought += 1;
            match price {
                Some(postage) => {
                    totals.postage_spent = totals.postage_spent.saturating_add(postage.due)
                }
                None => totals.labels_price_unknown += 1,
            }
        }
        totals
    }

    /// Whether the tool bbship replaced already labelled this order.
    pub fn shipped_by_legacy_tool(&self, order_id: &OrderId) -> bool {
        self.legacy.contains_key(order_id.as_str())
    }

    /// What the replaced tool's log says about this order, if it names it.
    pub fn legacy_shipment(&self, order_id: &str) -> Option<&legacy::LegacyShipment> {
        self.legacy.get(order_id)
    }

    /// Every order the replaced tool's log names, by id.
    pub fn legacy_shipments(&self) -> &BTreeMap<String, legacy::LegacyShipment> {
        &self.legacy
    }

    /// Records an acceptance; returns once the line is on disk.
    pub fn record_accepted(&self, accepted: AcceptedOrder) -> Result<()> {
        let order_id = accepted.order_id.clone();
        self.append(
            HistoryLog::Accepted,
            &order_id,
            &accepted,
            &Line::Accepted(&accepted),
        )
    }

    /// Records one step of buying a label; returns once the line is on disk, so the
    /// caller may take the next step (the Create Shipment POST after an `Intent`).
    pub fn record_label_event(&self, event: LabelEvent) -> Result<()> {
        let order_id = event.order_id().clone();
        self.append(HistoryLog::Label, &order_id, &event, &Line::Label(&event))
    }

    /// Appends an order's line to the shipping history log.
    pub fn record_shipping_history(&self, line: ShippingHistoryLine) -> Result<()> {
        let order_id = line.order_id.clone();
        self.append(
            HistoryLog::ShippingHistory,
            &order_id,
            &line,
            &Line::History(&line),
        )
    }

    /// Records one Best Buy write of phase 3; returns once the line is on disk.
    pub fn record_ship_event(&self, event: ShipEvent) -> Result<()> {
        let order_id = event.order_id().clone();
        self.append(HistoryLog::Ship, &order_id, &event, &Line::Ship(&event))
    }

    /// Appends the order as read back after shipping to the shipped-orders log.
    pub fn record_shipped_order(&self, line: ShippedOrderLine) -> Result<()> {
        let order_id = line.order_id.clone();
        self.append(
            HistoryLog::ShippedOrders,
            &order_id,
            &line,
            &Line::ReadBack(&line.order_state),
        )
    }

    /// Records one step of the packing desk; returns once the line is on disk.
    pub fn record_print_event(&self, event: PrintEvent) -> Result<()> {
        let order_id = event.order_id().clone();
        self.append(HistoryLog::Print, &order_id, &event, &Line::Print(&event))
    }

    /// What the print journal knows of one order.
    pub fn print_record(&self, order_id: &OrderId) -> Option<PrintRecord> {
        self.lock().book.prints.get(order_id)
    }

    /// Every order the print journal knows that is not settled, in id order: the only
    /// ones with files waiting for the printer.
    pub fn unsettled_print_records(&self) -> Vec<(OrderId, PrintRecord)> {
        self.lock()
            .book
            .prints
            .active
            .iter()
            .map(|(id, record)| (id.clone(), record.clone()))
            .collect()
    }

    /// Every set of label and slip saved at or after `from`, for any order.
    pub fn saved_since(&self, from: DateTime<Utc>) -> Vec<SavedSet> {
        let state = self.lock();
        let prints = &state.book.prints;
        let active = (prints.active.iter()).map(|(id, record)| (id, record.saved.as_slice()));
        let settled = (prints.settled.iter()).map(|(id, settled)| (id, &*settled.saved));
        // In order id order, as a batch lists them.
        let mut orders: Vec<_> = active.chain(settled).collect();
        orders.sort_by_key(|(id, _)| *id);
        orders
            .into_iter()
            .flat_map(|(_, saved)| saved)
            .filter(|set| set.at >= from)
            .cloned()
            .collect()
    }

    /// Appends `record` to `log` (on disk first), then applies it to the order.
    fn append<T: Serialize>(
        &self,
        log: HistoryLog,
        order_id: &OrderId,
        record: &T,
        line: &Line,
    ) -> Result<()> {
        let Some(appender) = self.appenders.get(&log) else {
            bail!("the journal was opened read-only; cannot record order {order_id}");
        };
        let written = appender.append(record)?;
        let mut state = self.lock();
        let position = state.positions.entry(log).or_default();
        position.offset += written;
        position.lines += 1;
        state.lines_since_checkpoint += 1;
        state.book.apply(order_id, line);
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, JournalState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_log_keeps_its_word_for_a_204() {
        let mut line = accepted("1-A", "2026-01-01T00:00:00Z");
        for (outcome, word) in [
            (Confirmation::Answered, "accepted"),
            (Confirmation::ConfirmedByState, "confirmed_by_state"),
        ] {
            line.outcome = outcome;
            let json = serde_json::to_value(&line).unwrap();
            assert_eq!(json["outcome"], word);
            assert_eq!(serde_json::from_value::<AcceptedOrder>(json).unwrap(), line);
        }
        let shipped = ShipEvent::MarkedShipped {
            order_id: "1-A".parse().unwrap(),
            at: "2026-01-01T00:00:00Z".parse().unwrap(),
            outcome: Confirmation::Answered,
        };
        let json = serde_json::to_value(&shipped).unwrap();
        assert_eq!(json["outcome"], "answered");
        assert_eq!(serde_json::from_value::<ShipEvent>(json).unwrap(), shipped);
    }

    fn accepted(order_id: &str, at: &str) -> AcceptedOrder {
        AcceptedOrder {
            order_id: order_id.parse().unwrap(),
            commercial_id: Some("261300001".into()),
            line_ids: vec![OrderLineId::try_from("1".to_owned()).unwrap()],
            accepted_at: at.parse().unwrap(),
            outcome: Confirmation::Answered,
            created_date: None,
            acceptance_deadline: None,
            shipping_deadline: None,
        }
    }

    fn open(data_dir: &DataDir) -> Journal {
        data_dir.create().unwrap();
        Journal::open(data_dir, Access::ReadWrite).unwrap()
    }

    #[test]
    fn recorded_acceptances_are_replayed_by_the_next_run() {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(temp.path());
        let journal = open(&data_dir);
        journal
            .record_accepted(accepted("1-A", "2026-01-01T00:00:00Z"))
            .unwrap();
        journal
            .record_accepted(accepted("2-A", "2026-01-01T00:01:00Z"))
            .unwrap();
        drop(journal);

        let replayed = Journal::open(&data_dir, Access::ReadOnly).unwrap();
        let orders = replayed.active_orders();
        assert_eq!(orders.len(), 2);
        assert_eq!(
            orders[0].1.accepted.as_ref().unwrap(),
            &accepted("1-A", "2026-01-01T00:00:00Z")
        );
    }

    #[test]
    fn a_later_line_for_the_same_order_wins() {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(temp.path());
        let journal = open(&data_dir);
        journal
            .record_accepted(accepted("1-A", "2026-01-01T00:00:00Z"))
            .unwrap();
        journal
            .record_accepted(accepted("1-A", "2026-01-02T00:00:00Z"))
            .unwrap();
        drop(journal);
        let replayed = Journal::open(&data_dir, Access::ReadOnly).unwrap();
        let record = replayed.active_order(&"1-A".parse().unwrap()).unwrap();
        assert_eq!(
            record.accepted.unwrap().accepted_at.to_rfc3339(),
            "2026-01-02T00:00:00+00:00"
        );
    }

    #[test]
    fn read_only_creates_nothing_and_refuses_to_record() {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(temp.path().join("absent"));
        let journal = Journal::open(&data_dir, Access::ReadOnly).unwrap();
        assert!(journal.active_orders().is_empty());
        assert!(
            journal
                .record_accepted(accepted("1-A", "2026-01-01T00:00:00Z"))
                .is_err()
        );
        assert!(!data_dir.root().exists());
    }

    #[test]
    fn the_legacy_log_marks_orders_as_shipped() {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(temp.path());
        data_dir.create().unwrap();
        std::fs::write(
            data_dir.legacy_shipping_history(),
            r#"[{"order_id":"9-A"}]"#,
        )
        .unwrap();
        let journal = Journal::open(&data_dir, Access::ReadWrite).unwrap();
        assert!(journal.shipped_by_legacy_tool(&"9-A".parse().unwrap()));
        assert!(!journal.shipped_by_legacy_tool(&"1-A".parse().unwrap()));
    }

    /// One order's whole history through the journal: accepted, shipment created, PIN
    /// checked, label saved, history line, tracking uploaded, marked shipped and, when
    /// `shipped`, read back SHIPPED.
    fn record_full_cycle(journal: &Journal, order_id: &str, shipment: &str, shipped: bool) {
        let value = |value: serde_json::Value| value;
        let request_id = format!("{order_id}-mwvxxqk8-6d81");
        let links = value(serde_json::json!([
            {"rel": "label", "href": "http://127.0.0.1:1/rs/artifact/a/1/0", "media_type": "application/pdf", "index": 0}
        ]));
        let labels = value(serde_json::json!([
            {"path": format!("labels/{order_id}_20261125T094817Z.pdf"), "sha256": "ab", "pages": 1}
        ]));
        journal
            .record_accepted(accepted(order_id, "2026-01-01T00:00:00Z"))
            .unwrap();
        let event = |json: serde_json::Value| serde_json::from_value::<LabelEvent>(json).unwrap();
        journal
            .record_label_event(event(serde_json::json!({
                "event": "created", "order_id": order_id, "at": "2026-01-01T00:01:00Z", "adopted": false,
                "shipment": {"shipment_id": shipment, "request_id": request_id, "tracking_pin": "7023210000000010", "links": links}
            })))
            .unwrap();
        journal
            .record_label_event(event(serde_json::json!({
                "event": "label_saved", "order_id": order_id, "shipment_id": shipment,
                "at": "2026-01-01T00:02:00Z", "files": labels
            })))
            .unwrap();
        journal
            .record_shipping_history(
                serde_json::from_value(serde_json::json!({
                    "order_id": order_id, "shipment_id": shipment, "tracking_pin": "7023210000000010",
                    "request_id": request_id, "links": links, "labels": labels,
                    "pin_validation": {"result": "no_history_yet"}, "logged_at": "2026-01-01T00:03:00Z"
                }))
                .unwrap(),
            )
            .unwrap();
        journal
            .record_ship_event(ShipEvent::MarkedShipped {
                order_id: order_id.parse().unwrap(),
                at: Utc::now(),
                outcome: Confirmation::Answered,
            })
            .unwrap();
        if shipped {
            journal
                .record_shipped_order(ShippedOrderLine {
                    order_id: order_id.parse().unwrap(),
                    order_state: "SHIPPED".into(),
                    logged_at: Utc::now(),
                    order: serde_json::json!({"order_id": order_id, "customer": {"firstname": "A"}}),
                })
                .unwrap();
        }
    }

    /// Opens the journal from its checkpoint, then again from the logs alone, checks both
    /// say the same, and returns the second.
    fn same_from_checkpoint_and_in_full(data_dir: &DataDir) -> Journal {
        let from_checkpoint = Journal::open(data_dir, Access::ReadOnly).unwrap();
        std::fs::remove_file(data_dir.journal_checkpoint()).unwrap();
        let full = Journal::open(data_dir, Access::ReadOnly).unwrap();
        assert_eq!(everything(&from_checkpoint), everything(&full));
        full
    }

    /// Everything the journal knows, for comparing two ways of loading it.
    fn everything(journal: &Journal) -> String {
        let state = journal.lock();
        format!(
            "{:?}\n{:?}\n{:?}",
            state.book.active, state.book.settled, state.book.prints
        )
    }

    /// The packing desk's lines for one order: its slip content, the label and slip saved
    /// (to print when `print`), and, when printed, the printer's success for each file.
    fn record_print_cycle(journal: &Journal, order_id: &str, print: bool, printed: bool) {
        let order: OrderId = order_id.parse().unwrap();
        let at: DateTime<Utc> = "2026-11-25T12:00:00Z".parse().unwrap();
        let label = format!("labels/{order_id}_20261125T120000Z.pdf");
        let slip = format!("labels/slips/{order_id}_20261125T120000Z.pdf");
        let content = SlipContent {
            commercial_id: Some("261300001".into()),
            order_date: None,
            ship_by: None,
            ship_to: vec!["A Person".into(), "1 Main St".into()],
            lines: vec![SlipLine {
                sku: Some("SKU-1".into()),
                title: Some("A thing".into()),
                quantity: 1,
            }],
            weight_kg: 1.0,
            dimensions_cm: [10.0, 10.0, 10.0],
            service: "DOM.EP".into(),
        };
        let events = [
            PrintEvent::Packing {
                order_id: order.clone(),
                at,
                content: Box::new(content),
            },
            PrintEvent::Saved {
                order_id: order.clone(),
                at,
                labels: vec![label.clone()],
                slip: Some(slip.clone()),
                print,
            },
        ];
        for event in events {
            journal.record_print_event(event).unwrap();
        }
        if printed {
            for file in [label, slip] {
                journal
                    .record_print_event(PrintEvent::Printed {
                        order_id: order.clone(),
                        at,
                        file,
                    })
                    .unwrap();
            }
        }
    }

    #[test]
    fn a_checkpoint_and_the_print_lines_after_it_say_what_a_full_replay_says() {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(temp.path());
        let journal = open(&data_dir);
        record_full_cycle(&journal, "1-A", "100", true);
        record_print_cycle(&journal, "1-A", true, true);
        record_print_cycle(&journal, "2-A", false, false);
        record_print_cycle(&journal, "3-A", true, false);
        journal
            .record_print_event(print_failed("3-A", 5, "jammed"))
            .unwrap();
        journal.write_checkpoint().unwrap();
        drop(journal);

        // After the checkpoint: the failed order printed (settling it), a new one waiting,
        // a late failure for a settled order, and a set saved again for one.
        let journal = open(&data_dir);
        for file in [
            "labels/3-A_20261125T120000Z.pdf",
            "labels/slips/3-A_20261125T120000Z.pdf",
        ] {
            journal
                .record_print_event(PrintEvent::Printed {
                    order_id: "3-A".parse().unwrap(),
                    at: "2026-11-25T12:10:00Z".parse().unwrap(),
                    file: file.into(),
                })
                .unwrap();
        }
        record_print_cycle(&journal, "4-A", true, false);
        journal
            .record_print_event(print_failed("1-A", 11, "late"))
            .unwrap();
        journal
            .record_print_event(PrintEvent::Saved {
                order_id: "2-A".parse().unwrap(),
                at: "2026-11-26T12:00:00Z".parse().unwrap(),
                labels: vec!["labels/2-A_20261126T120000Z.pdf".into()],
                slip: None,
                print: true,
            })
            .unwrap();
        drop(journal);

        let full = same_from_checkpoint_and_in_full(&data_dir);
        let waiting: Vec<OrderId> = full
            .unsettled_print_records()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(waiting, ["2-A".parse().unwrap(), "4-A".parse().unwrap()]);
        let settled = full.print_record(&"3-A".parse().unwrap()).unwrap();
        assert_eq!(settled.state(), Some(PrintState::Printed));
        assert!(settled.packing.is_none());
        assert_eq!(full.saved_since(at_minute(0)).len(), 5);
    }

    #[test]
    fn a_checkpoint_naming_an_order_s_label_files_once_says_what_a_full_replay_says() {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(temp.path());
        let journal = open(&data_dir);
        // The packing desk saves the very label file the label journal names, so the
        // checkpoint names it once for both.
        let label = "labels/1-A_20261125T094817Z.pdf";
        record_full_cycle(&journal, "1-A", "100", true);
        for event in [
            PrintEvent::Saved {
                order_id: "1-A".parse().unwrap(),
                at: at_minute(0),
                labels: vec![label.into()],
                slip: Some("labels/slips/1-A_20261125T094817Z.pdf".into()),
                print: false,
            },
            PrintEvent::Printed {
                order_id: "1-A".parse().unwrap(),
                at: at_minute(1),
                file: "labels/elsewhere.pdf".into(),
            },
        ] {
            journal.record_print_event(event).unwrap();
        }
        journal.write_checkpoint().unwrap();
        drop(journal);
        let text = std::fs::read_to_string(data_dir.journal_checkpoint()).unwrap();
        assert_eq!(text.matches(label).count(), 1, "{text}");

        // After it, the same label saved again to print (reopening the order's printing)
        // and printed.
        let journal = open(&data_dir);
        journal
            .record_print_event(PrintEvent::Saved {
                order_id: "1-A".parse().unwrap(),
                at: at_minute(2),
                labels: vec![label.into()],
                slip: None,
                print: true,
            })
            .unwrap();
        journal.write_checkpoint().unwrap();
        journal
            .record_print_event(PrintEvent::Printed {
                order_id: "1-A".parse().unwrap(),
                at: at_minute(3),
                file: label.into(),
            })
            .unwrap();
        drop(journal);

        let full = same_from_checkpoint_and_in_full(&data_dir);
        let record = full.print_record(&"1-A".parse().unwrap()).unwrap();
        assert_eq!(record.saved.len(), 2);
        assert_eq!(record.state(), Some(PrintState::Printed));
        assert_eq!(
            full.settled(&"1-A".parse().unwrap()).unwrap().label_files,
            [label]
        );
    }

    #[test]
    fn a_checkpoint_of_an_older_version_is_replaced_after_a_full_replay() {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(temp.path());
        let journal = open(&data_dir);
        record_full_cycle(&journal, "1-A", "100", true);
        record_full_cycle(&journal, "2-A", "200", false);
        record_print_cycle(&journal, "1-A", true, true);
        journal.write_checkpoint().unwrap();
        drop(journal);
        // Version 2's shape, with marks that match the logs but no order: believed, it
        // would make the journal forget both.
        let path = data_dir.journal_checkpoint();
        let header = checkpoint_header(&data_dir);
        let older = serde_json::json!({
            "version": 2, "logs": header["logs"], "settled": {}, "active": {},
            "prints": {"active": {}, "settled": {}}
        });
        std::fs::write(&path, older.to_string()).unwrap();

        let journal = open(&data_dir);
        assert_eq!(journal.counts(), (1, 1));
        journal.write_checkpoint().unwrap();
        drop(journal);
        assert_eq!(checkpoint_header(&data_dir)["version"], checkpoint::VERSION);
        let full = same_from_checkpoint_and_in_full(&data_dir);
        assert_eq!(full.counts(), (1, 1));
        assert!(full.print_record(&"1-A".parse().unwrap()).is_some());
    }

    /// The first line of the checkpoint of `data_dir`.
    fn checkpoint_header(data_dir: &DataDir) -> serde_json::Value {
        let text = std::fs::read_to_string(data_dir.journal_checkpoint()).unwrap();
        serde_json::from_str(text.lines().next().unwrap()).unwrap()
    }

    /// The printer refusing the label `record_print_cycle` saved for `order_id`.
    fn print_failed(order_id: &str, minute: u32, reason: &str) -> PrintEvent {
        PrintEvent::PrintFailed {
            order_id: order_id.parse().unwrap(),
            at: at_minute(minute),
            file: format!("labels/{order_id}_20261125T120000Z.pdf"),
            reason: reason.into(),
        }
    }

    fn at_minute(minute: u32) -> DateTime<Utc> {
        format!("2026-11-25T12:{minute:02}:00Z").parse().unwrap()
    }

    #[test]
    fn an_order_read_back_shipped_is_settled_and_no_longer_in_progress() {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(temp.path());
        let journal = open(&data_dir);
        record_full_cycle(&journal, "1-A", "100", true);
        record_full_cycle(&journal, "2-A", "200", false);
        let settled_id: OrderId = "1-A".parse().unwrap();
        assert_eq!(journal.counts(), (1, 1));
        let settled = journal.settled(&settled_id).unwrap();
        assert_eq!(settled.shipment_id.unwrap().as_str(), "100");
        assert_eq!(settled.tracking_pin.as_deref(), Some("7023210000000010"));
        assert_eq!(settled.label_files, vec!["labels/1-A_20261125T094817Z.pdf"]);
        // One way to say "done": settled, and no longer an order in progress.
        assert!(journal.active_order(&settled_id).is_none());
        assert!(matches!(
            journal.label_standing(&settled_id),
            LabelStanding::Settled { .. }
        ));
        let active: Vec<OrderId> = journal
            .active_orders()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        assert_eq!(active, vec!["2-A".parse::<OrderId>().unwrap()]);
    }

    #[test]
    fn a_checkpoint_and_the_lines_after_it_say_what_a_full_replay_says() {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(temp.path());
        let journal = open(&data_dir);
        for index in 0..5 {
            record_full_cycle(
                &journal,
                &format!("{index}-A"),
                &format!("{index}00"),
                index % 2 == 0,
            );
        }
        journal.write_checkpoint().unwrap();
        drop(journal);
        assert!(data_dir.journal_checkpoint().exists());

        // More lines after the checkpoint, including one settling an order it had active.
        let journal = open(&data_dir);
        record_full_cycle(&journal, "7-A", "700", true);
        journal
            .record_shipped_order(ShippedOrderLine {
                order_id: "1-A".parse().unwrap(),
                order_state: "SHIPPED".into(),
                logged_at: Utc::now(),
                order: serde_json::json!({}),
            })
            .unwrap();
        drop(journal);

        let full = same_from_checkpoint_and_in_full(&data_dir);
        assert_eq!(full.counts(), (1, 5));
    }

    #[test]
    fn lines_before_the_checkpoint_are_not_read_again() {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(temp.path());
        let journal = open(&data_dir);
        for index in 0..6 {
            journal
                .record_accepted(accepted(&format!("{index}-A"), "2026-01-01T00:00:00Z"))
                .unwrap();
        }
        journal.write_checkpoint().unwrap();
        drop(journal);
        // Spoil the first line, far before the checkpoint's fingerprint: a replay from
        // the start would stop on it; one from the checkpoint never sees it.
        let path = data_dir.accepted_orders_log();
        let text = std::fs::read_to_string(&path).unwrap();
        let first_line_length = text.find('\n').unwrap();
        let spoiled = format!(
            "{}{}",
            "x".repeat(first_line_length),
            &text[first_line_length..]
        );
        std::fs::write(&path, spoiled).unwrap();
        let journal = Journal::open(&data_dir, Access::ReadOnly).unwrap();
        assert_eq!(journal.counts(), (6, 0));
        std::fs::remove_file(data_dir.journal_checkpoint()).unwrap();
        assert!(Journal::open(&data_dir, Access::ReadOnly).is_err());
    }

    #[test]
    fn a_checkpoint_that_no_longer_matches_its_log_is_ignored() {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(temp.path());
        let journal = open(&data_dir);
        record_full_cycle(&journal, "1-A", "100", true);
        journal.write_checkpoint().unwrap();
        drop(journal);
        // The shipped-orders log is replaced by one where the order is not SHIPPED yet
        // (restored from an older backup, say): the checkpoint must not be believed.
        std::fs::write(data_dir.shipped_orders_log(), "").unwrap();
        let journal = Journal::open(&data_dir, Access::ReadOnly).unwrap();
        assert_eq!(journal.counts(), (1, 0));
        assert!(
            !journal
                .active_order(&"1-A".parse().unwrap())
                .unwrap()
                .ship
                .confirmed
        );
    }

    #[test]
    fn a_label_printed_again_for_a_settled_order_keeps_it_settled() {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(temp.path());
        let journal = open(&data_dir);
        record_full_cycle(&journal, "1-A", "100", true);
        journal
            .record_label_event(
                serde_json::from_value(serde_json::json!({
                    "event": "label_saved", "order_id": "1-A", "shipment_id": "100",
                    "at": "2026-02-01T00:00:00Z",
                    "files": [{"path": "labels/1-A_20260201T000000Z.pdf", "sha256": "cd", "pages": 1}]
                }))
                .unwrap(),
            )
            .unwrap();
        let settled = journal.settled(&"1-A".parse().unwrap()).unwrap();
        assert_eq!(settled.label_files, vec!["labels/1-A_20260201T000000Z.pdf"]);
        assert_eq!(journal.counts(), (0, 1));
    }

    #[test]
    fn a_settled_order_s_links_are_read_back_from_its_history_line() {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(temp.path());
        let journal = open(&data_dir);
        record_full_cycle(&journal, "1-A", "100", true);
        record_full_cycle(&journal, "2-A", "200", true);
        let order: OrderId = "1-A".parse().unwrap();
        let shipment = ShipmentId::try_from("100".to_owned()).unwrap();
        let line = journal.history_line(&order, &shipment).unwrap().unwrap();
        assert_eq!(line.links[0].rel, "label");
        let other = ShipmentId::try_from("200".to_owned()).unwrap();
        assert!(journal.history_line(&order, &other).unwrap().is_none());
    }

    #[test]
    fn a_read_only_journal_writes_no_checkpoint() {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(temp.path());
        let journal = open(&data_dir);
        record_full_cycle(&journal, "1-A", "100", true);
        drop(journal);
        let journal = Journal::open(&data_dir, Access::ReadOnly).unwrap();
        journal.write_checkpoint().unwrap();
        assert!(!data_dir.journal_checkpoint().exists());
    }

    fn label_event(json: serde_json::Value) -> LabelEvent {
        serde_json::from_value(json).unwrap()
    }

    fn intent(order_id: &str, request_id: &str, at: &str) -> LabelEvent {
        label_event(serde_json::json!({
            "event": "intent", "order_id": order_id, "request_id": request_id, "at": at,
            "plan": {"service": "DOM.EP", "destination": "Ottawa ON K1A0B1", "weight_kg": 1.0,
                     "dimensions_cm": [30.0, 20.0, 10.0]}
        }))
    }

    fn created(order_id: &str, request_id: &str, shipment: &str, at: &str) -> LabelEvent {
        label_event(serde_json::json!({
            "event": "created", "order_id": order_id, "at": at, "adopted": false,
            "shipment": {"shipment_id": shipment, "request_id": request_id,
                         "tracking_pin": "7023210000000010", "status": "transmitted", "links": []}
        }))
    }

    #[test]
    fn the_label_standing_of_each_kind_of_order() {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(temp.path());
        data_dir.create().unwrap();
        std::fs::write(
            data_dir.legacy_shipping_history(),
            r#"[{"order_id":"9-A","tracking_pin":"1234"},{"order_id":"8-A"}]"#,
        )
        .unwrap();
        let journal = Journal::open(&data_dir, Access::ReadWrite).unwrap();
        let standing = |id: &str| journal.label_standing(&id.parse().unwrap());

        assert_eq!(standing("1-A"), LabelStanding::Fresh);
        assert!(standing("1-A").may_create() && !standing("1-A").is_unfinished());

        record_full_cycle(&journal, "2-A", "200", true);
        let shipment = |id: &str| Some(ShipmentId::try_from(id.to_owned()).unwrap());
        assert_eq!(
            standing("2-A"),
            LabelStanding::Settled {
                shipment_id: shipment("200")
            }
        );
        record_full_cycle(&journal, "3-A", "300", false);
        assert_eq!(
            standing("3-A"),
            LabelStanding::InHistory {
                shipment_id: shipment("300")
            }
        );
        for id in ["2-A", "3-A"] {
            assert!(!standing(id).may_create() && !standing(id).is_unfinished());
        }

        journal
            .record_label_event(intent("4-A", "4-A-r1", "2026-01-01T00:00:00Z"))
            .unwrap();
        let LabelStanding::OpenAttempts(attempts) = standing("4-A") else {
            panic!("{:?}", standing("4-A"))
        };
        assert_eq!(attempts.len(), 1);
        assert_eq!(attempts[0].request_id.as_str(), "4-A-r1");
        assert_eq!(
            attempts[0].at,
            "2026-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert!(standing("4-A").may_create() && standing("4-A").is_unfinished());
        // An attempt that provably bought nothing leaves the order fresh.
        journal
            .record_label_event(label_event(serde_json::json!({
                "event": "intent_closed", "order_id": "4-A", "request_id": "4-A-r1",
                "at": "2026-01-01T00:01:00Z", "reason": "refused"
            })))
            .unwrap();
        assert_eq!(standing("4-A"), LabelStanding::Fresh);

        journal
            .record_label_event(intent("5-A", "5-A-r1", "2026-01-01T00:00:00Z"))
            .unwrap();
        journal
            .record_label_event(created("5-A", "5-A-r1", "500", "2026-01-01T00:01:00Z"))
            .unwrap();
        journal
            .record_label_event(label_event(serde_json::json!({
                "event": "pin_checked", "order_id": "5-A", "shipment_id": "500",
                "at": "2026-01-01T00:02:00Z", "verdict": {"result": "no_history_yet"}
            })))
            .unwrap();
        let LabelStanding::HasShipment(progress) = standing("5-A") else {
            panic!("{:?}", standing("5-A"))
        };
        assert_eq!(progress.shipment.shipment_id.as_str(), "500");
        assert_eq!(progress.done.pin, Some(PinVerdict::NoHistoryYet));
        assert_eq!(progress.done.labels, None);
        assert!(!standing("5-A").may_create() && standing("5-A").is_unfinished());

        // The replaced tool's word comes first, whatever bbship's journal says.
        assert_eq!(
            standing("9-A"),
            LabelStanding::LegacyTool {
                pins: vec!["1234".to_owned()],
                held: false,
                unfinished: false
            }
        );
        journal
            .record_label_event(LabelEvent::LegacyStillShipping {
                order_id: "9-A".parse().unwrap(),
                at: Utc::now(),
                pins: vec!["1234".to_owned()],
            })
            .unwrap();
        journal
            .record_label_event(intent("8-A", "8-A-r1", "2026-01-01T00:00:00Z"))
            .unwrap();
        let LabelStanding::LegacyTool { held, .. } = standing("9-A") else {
            panic!("{:?}", standing("9-A"))
        };
        assert!(held);
        let legacy_attempted = standing("8-A");
        assert!(
            matches!(
                legacy_attempted,
                LabelStanding::LegacyTool {
                    held: false,
                    unfinished: true,
                    ..
                }
            ),
            "{legacy_attempted:?}"
        );
        assert!(!legacy_attempted.may_create() && legacy_attempted.is_unfinished());
    }

    #[test]
    fn completing_a_label_writes_its_history_line_from_what_the_journal_holds() {
        let temp = tempfile::tempdir().unwrap();
        let data_dir = DataDir::new(temp.path());
        let journal = open(&data_dir);
        let order: OrderId = "1-A".parse().unwrap();
        journal
            .record_label_event(intent("1-A", "1-A-r1", "2026-01-01T00:00:00Z"))
            .unwrap();
        journal
            .record_label_event(created("1-A", "1-A-r1", "100", "2026-01-01T00:01:00Z"))
            .unwrap();
        let labels = vec![SavedLabel {
            path: "labels/1-A_20260101T000200Z.pdf".into(),
            sha256: "ab".into(),
            pages: 1,
        }];
        journal
            .record_label_event(LabelEvent::LabelSaved {
                order_id: order.clone(),
                shipment_id: ShipmentId::try_from("100".to_owned()).unwrap(),
                at: "2026-01-01T00:02:00Z".parse().unwrap(),
                files: labels.clone(),
            })
            .unwrap();
        let LabelStanding::HasShipment(progress) = journal.label_standing(&order) else {
            panic!("no shipment")
        };
        let verdict = PinVerdict::Validated {
            event: Some("INDUCTION".into()),
        };
        let line = journal
            .complete_label(&order, &progress.shipment, &verdict, &labels)
            .unwrap();
        assert_eq!(line.shipment_id.as_str(), "100");
        assert_eq!(line.request_id.as_str(), "1-A-r1");
        assert_eq!(line.tracking_pin.as_deref(), Some("7023210000000010"));
        assert_eq!(line.plan.as_ref().unwrap().destination, "Ottawa ON K1A0B1");
        assert_eq!(
            line.created_at,
            Some("2026-01-01T00:01:00Z".parse().unwrap())
        );
        assert_eq!(
            line.label_saved_at,
            Some("2026-01-01T00:02:00Z".parse().unwrap())
        );
        assert_eq!(
            (line.labels.clone(), line.pin_validation.clone()),
            (labels, verdict)
        );
        assert_eq!(
            journal.label_standing(&order),
            LabelStanding::InHistory {
                shipment_id: Some(line.shipment_id.clone())
            }
        );
        // On disk: the next run reads the same line back.
        drop(journal);
        let journal = Journal::open(&data_dir, Access::ReadOnly).unwrap();
        let shipment = ShipmentId::try_from("100".to_owned()).unwrap();
        assert_eq!(journal.history_line(&order, &shipment).unwrap(), Some(line));
    }
}
