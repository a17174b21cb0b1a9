//! The ship journal: which Best Buy writes of phase 3 already happened for an order, so a
//! run resumes where the last stopped and never repeats a write that succeeded.
//!
//! `logs/best_buy/ship_journal.jsonl` holds the steps (tracking uploaded, marked shipped,
//! cancelled after its label); `logs/best_buy/shipped_orders_log.jsonl` holds the full
//! order read back after shipping, and an order is confirmed once a line there says
//! `SHIPPED`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Confirmation;
use crate::ids::OrderId;

/// One line of the ship journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum ShipEvent {
    TrackingUploaded {
        order_id: OrderId,
        tracking_number: String,
        at: DateTime<Utc>,
        outcome: Confirmation,
    },
    MarkedShipped {
        order_id: OrderId,
        at: DateTime<Utc>,
        outcome: Confirmation,
    },
    /// Best Buy no longer wants the parcel, but its label was bought: a person must ask
    /// Canada Post for a refund.
    CancelledAfterLabel {
        order_id: OrderId,
        state: String,
        shipment_id: String,
        tracking_pin: String,
        at: DateTime<Utc>,
    },
}

impl ShipEvent {
    pub fn order_id(&self) -> &OrderId {
        match self {
            ShipEvent::TrackingUploaded { order_id, .. }
            | ShipEvent::MarkedShipped { order_id, .. }
            | ShipEvent::CancelledAfterLabel { order_id, .. } => order_id,
        }
    }
}

/// One line of `shipped_orders_log.jsonl`: the order as Best Buy returned it after shipping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShippedOrderLine {
    pub order_id: OrderId,
    pub order_state: String,
    pub logged_at: DateTime<Utc>,
    pub order: serde_json::Value,
}

/// The part of a `shipped_orders_log.jsonl` line the journal needs: replaying the log
/// skips over each order's full details without keeping them.
#[derive(Clone, Debug, Deserialize)]
pub struct ShippedOrderState {
    pub order_id: OrderId,
    pub order_state: String,
}

/// What the journal knows of one order's phase 3.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ShipProgress {
    /// The tracking number uploaded (OR23 done).
    pub tracking_uploaded: Option<String>,
    /// OR24 done (or the order found already shipped).
    pub marked_shipped: bool,
    /// A full read after shipping said SHIPPED.
    pub confirmed: bool,
    /// The state Best Buy showed when it no longer wanted the parcel.
    pub cancelled_after_label: Option<String>,
}

impl ShipProgress {
    pub fn apply(&mut self, event: &ShipEvent) {
        match event {
            ShipEvent::TrackingUploaded {
                tracking_number, ..
            } => self.tracking_uploaded = Some(tracking_number.clone()),
            ShipEvent::MarkedShipped { .. } => self.marked_shipped = true,
            ShipEvent::CancelledAfterLabel { state, .. } => {
                self.cancelled_after_label = Some(state.clone());
            }
        }
    }

    /// Applies the state an order was read back in after shipping.
    pub fn apply_read_back(&mut self, order_state: &str) {
        if order_state == "SHIPPED" {
            self.marked_shipped = true;
            self.confirmed = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> OrderId {
        "261300002-A".parse().unwrap()
    }

    #[test]
    fn steps_replay_into_progress() {
        let mut progress = ShipProgress::default();
        progress.apply(&ShipEvent::TrackingUploaded {
            order_id: order(),
            tracking_number: "7023210039414604".into(),
            at: Utc::now(),
            outcome: Confirmation::Answered,
        });
        assert_eq!(
            progress.tracking_uploaded.as_deref(),
            Some("7023210039414604")
        );
        assert!(!progress.marked_shipped);
        progress.apply(&ShipEvent::MarkedShipped {
            order_id: order(),
            at: Utc::now(),
            outcome: Confirmation::ConfirmedByState,
        });
        assert!(progress.marked_shipped && !progress.confirmed);
    }

    #[test]
    fn only_a_shipped_read_back_confirms() {
        let mut progress = ShipProgress::default();
        let mut line = ShippedOrderLine {
            order_id: order(),
            order_state: "SHIPPING".into(),
            logged_at: Utc::now(),
            order: serde_json::json!({}),
        };
        progress.apply_read_back(&line.order_state);
        assert!(!progress.confirmed);
        line.order_state = "SHIPPED".into();
        progress.apply_read_back(&line.order_state);
        assert!(progress.confirmed);
    }

    #[test]
    fn events_round_trip_through_json() {
        let event = ShipEvent::CancelledAfterLabel {
            order_id: order(),
            state: "CANCELED".into(),
            shipment_id: "347881315405043891".into(),
            tracking_pin: "7023210039414604".into(),
            at: Utc::now(),
        };
        let line = serde_json::to_string(&event).unwrap();
        assert!(
            line.contains("\"event\":\"cancelled_after_label\""),
            "{line}"
        );
        assert_eq!(serde_json::from_str::<ShipEvent>(&line).unwrap(), event);
    }
}
