//! The journal: bbship's durable memory of what it did to each order.
//!
//! It is the history logs of `DESIGN.md` (JSON Lines under `logs/`), replayed at start
//! into one record per order and extended, line by line with fsync, as steps succeed. A
//! phase asks it what is already done for an order and tells it what was just done; it
//! never talks to an API. Opened read-only (dry runs, `status`), it changes no file.

pub mod jsonl;
pub mod legacy;
pub mod ship;
pub mod shipments;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use anyhow::{Result, bail};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::data_dir::DataDir;
use crate::ids::{OrderId, OrderLineId};
use jsonl::{AppendLog, TornTail};
pub use ship::{ShipEvent, ShipProgress, ShippedOrderLine, WriteOutcome};
pub use shipments::{
    LabelEvent, LabelProgress, PinVerdict, SavedLabel, ShipmentPlan, ShipmentRecord,
    ShippingHistoryLine,
};

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
    pub outcome: AcceptOutcome,
    #[serde(default)]
    pub created_date: Option<DateTime<Utc>>,
    /// `created_date` plus the configured acceptance window: Best Buy publishes no
    /// deadline, so this is bbship's estimate, used for warnings.
    #[serde(default)]
    pub acceptance_deadline: Option<DateTime<Utc>>,
    #[serde(default)]
    pub shipping_deadline: Option<DateTime<Utc>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AcceptOutcome {
    /// OR21 answered 204.
    Accepted,
    /// OR21 failed or got no answer, and a fresh read showed the order past acceptance.
    ConfirmedByState,
}

/// What the journal knows of one order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrderRecord {
    pub accepted: Option<AcceptedOrder>,
    pub label: LabelProgress,
    pub ship: ShipProgress,
}

pub struct Journal {
    records: Mutex<BTreeMap<OrderId, OrderRecord>>,
    legacy_shipped: BTreeSet<String>,
    accepted_log: Option<AppendLog>,
    label_log: Option<AppendLog>,
    history_log: Option<AppendLog>,
    ship_log: Option<AppendLog>,
    shipped_orders_log: Option<AppendLog>,
}

impl Journal {
    /// Replays the history logs of `data_dir`. With `ReadWrite` the caller must hold the
    /// run lock and have created the directories.
    pub fn open(data_dir: &DataDir, access: Access) -> Result<Journal> {
        let torn_tail = match access {
            Access::ReadWrite => TornTail::Repair,
            Access::ReadOnly => TornTail::Ignore,
        };
        let accepted_path = data_dir.accepted_orders_log();
        let mut records: BTreeMap<OrderId, OrderRecord> = BTreeMap::new();
        for accepted in jsonl::load::<AcceptedOrder>(&accepted_path, torn_tail)? {
            let order_id = accepted.order_id.clone();
            records.entry(order_id).or_default().accepted = Some(accepted);
        }
        // The history log first: the journal's events then refine what it says.
        let history_path = data_dir.shipping_history_log();
        for line in jsonl::load::<ShippingHistoryLine>(&history_path, torn_tail)? {
            let order_id = line.order_id.clone();
            records
                .entry(order_id)
                .or_default()
                .label
                .apply_history(&line);
        }
        let label_path = data_dir.label_journal();
        for event in jsonl::load::<LabelEvent>(&label_path, torn_tail)? {
            let order_id = event.order_id().clone();
            records.entry(order_id).or_default().label.apply(&event);
        }
        let ship_path = data_dir.ship_journal();
        for event in jsonl::load::<ShipEvent>(&ship_path, torn_tail)? {
            let order_id = event.order_id().clone();
            records.entry(order_id).or_default().ship.apply(&event);
        }
        let shipped_path = data_dir.shipped_orders_log();
        for line in jsonl::load::<ShippedOrderLine>(&shipped_path, torn_tail)? {
            let order_id = line.order_id.clone();
            records
                .entry(order_id)
                .or_default()
                .ship
                .apply_shipped_order(&line);
        }
        let legacy_shipped = legacy::shipped_order_ids(&data_dir.legacy_shipping_history())?;
        let open = |path: &std::path::Path| match access {
            Access::ReadWrite => AppendLog::open(path).map(Some),
            Access::ReadOnly => Ok(None),
        };
        Ok(Journal {
            records: Mutex::new(records),
            legacy_shipped,
            accepted_log: open(&accepted_path)?,
            label_log: open(&label_path)?,
            history_log: open(&history_path)?,
            ship_log: open(&ship_path)?,
            shipped_orders_log: open(&shipped_path)?,
        })
    }

    /// What is known of one order.
    pub fn order(&self, order_id: &OrderId) -> Option<OrderRecord> {
        self.lock().get(order_id).cloned()
    }

    /// Every order the journal knows, in id order.
    pub fn orders(&self) -> Vec<(OrderId, OrderRecord)> {
        self.lock()
            .iter()
            .map(|(id, record)| (id.clone(), record.clone()))
            .collect()
    }

    /// Whether the tool bbship replaced already shipped this order.
    pub fn shipped_by_legacy_tool(&self, order_id: &OrderId) -> bool {
        self.legacy_shipped.contains(order_id.as_str())
    }

    /// Records an acceptance; returns once the line is on disk.
    pub fn record_accepted(&self, accepted: AcceptedOrder) -> Result<()> {
        let order_id = accepted.order_id.clone();
        self.append(&self.accepted_log, &order_id, &accepted, |record| {
            record.accepted = Some(accepted.clone());
        })
    }

    /// Records one step of buying a label; returns once the line is on disk, so the
    /// caller may take the next step (the Create Shipment POST after an `Intent`).
    pub fn record_label_event(&self, event: LabelEvent) -> Result<()> {
        let order_id = event.order_id().clone();
        self.append(&self.label_log, &order_id, &event, |record| {
            record.label.apply(&event);
        })
    }

    /// Appends an order's line to the shipping history log.
    pub fn record_shipping_history(&self, line: ShippingHistoryLine) -> Result<()> {
        let order_id = line.order_id.clone();
        self.append(&self.history_log, &order_id, &line, |record| {
            record.label.apply_history(&line);
        })
    }

    /// Records one Best Buy write of phase 3; returns once the line is on disk.
    pub fn record_ship_event(&self, event: ShipEvent) -> Result<()> {
        let order_id = event.order_id().clone();
        self.append(&self.ship_log, &order_id, &event, |record| {
            record.ship.apply(&event);
        })
    }

    /// Appends the order as read back after shipping to the shipped-orders log.
    pub fn record_shipped_order(&self, line: ShippedOrderLine) -> Result<()> {
        let order_id = line.order_id.clone();
        self.append(&self.shipped_orders_log, &order_id, &line, |record| {
            record.ship.apply_shipped_order(&line);
        })
    }

    /// Appends `line` to `log` (on disk first), then applies it to the order's record.
    fn append<T: serde::Serialize>(
        &self,
        log: &Option<AppendLog>,
        order_id: &OrderId,
        line: &T,
        apply: impl FnOnce(&mut OrderRecord),
    ) -> Result<()> {
        let Some(log) = log else {
            bail!("the journal was opened read-only; cannot record order {order_id}");
        };
        log.append(line)?;
        apply(self.lock().entry(order_id.clone()).or_default());
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<OrderId, OrderRecord>> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(order_id: &str, at: &str) -> AcceptedOrder {
        AcceptedOrder {
            order_id: order_id.parse().unwrap(),
            commercial_id: Some("261300001".into()),
            line_ids: vec![OrderLineId::try_from("1".to_owned()).unwrap()],
            accepted_at: at.parse().unwrap(),
            outcome: AcceptOutcome::Accepted,
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
        let orders = replayed.orders();
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
        let record = replayed.order(&"1-A".parse().unwrap()).unwrap();
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
        assert!(journal.orders().is_empty());
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
}
