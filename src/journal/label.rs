//! The label journal: every step of buying one label, durable before the next step.
//!
//! A Canada Post label is money and cannot be voided once transmitted, so the phase
//! writes an `Intent` (order id + request id) before Create Shipment, a `Created` (id,
//! PIN, links) right after it, and then the PIN verdict and the saved label. Replaying
//! these events gives each order's `LabelProgress`, which answers the only questions that
//! matter for money: is there a shipment already, and is there an attempt whose outcome
//! is unknown (look it up before creating anything)?
//!
//! The history log (`cp_shipping_history_log.jsonl`, one line per finished shipment) is
//! replayed too: an order with a history line has a shipment even if this journal was lost.
//!
//! The same journal records what an operator's `bbship refund` got from Canada Post (a
//! service ticket, or why not), so a second `refund` knows the first was registered, and
//! when the label phase holds an order that the replaced tool labelled but Best Buy still
//! shows ready to ship (and when it no longer does), so `status`, which reads only files,
//! can say a person is needed.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::canadapost::Link;
use crate::canadapost::money::Postage;
use crate::canadapost::types::{ServiceCode, ShipmentId, ShipmentStatus};
use crate::ids::{OrderId, RequestId};

/// What a shipment was for, kept with its intent so the history line can be written by a
/// later run that adopts the shipment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShipmentPlan {
    pub service: ServiceCode,
    /// Destination city, province and postal code: enough to recognise a parcel without
    /// copying the customer's street address into one more file.
    pub destination: String,
    pub weight_kg: f64,
    pub dimensions_cm: [f64; 3],
}

/// A shipment as Canada Post described it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShipmentRecord {
    pub shipment_id: ShipmentId,
    pub request_id: RequestId,
    /// As Canada Post sent it; validated separately.
    #[serde(default)]
    pub tracking_pin: Option<String>,
    /// Only `transmitted` lets the order ship; `None` when Canada Post sent none.
    #[serde(default)]
    pub status: Option<ShipmentStatus>,
    /// What Canada Post charges for the label, when its answer (or the non-contract
    /// receipt) said; `None` is unknown, never zero.
    #[serde(
        default,
        alias = "due_amount",
        deserialize_with = "crate::canadapost::money::lenient_postage",
        skip_serializing_if = "Option::is_none"
    )]
    pub postage: Option<Postage>,
    pub links: Vec<Link>,
}

/// The PIN check's result. Only `Validated` and `NoHistoryYet` let the order go on to
/// Best Buy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum PinVerdict {
    /// Tracking knows the PIN; the latest event is kept.
    Validated {
        #[serde(default)]
        event: Option<String>,
    },
    /// Code 004 "No Pin History": valid, not yet scanned.
    NoHistoryYet,
    /// The PIN failed its check digit or tracking refused it: a person must look.
    Flagged { reason: String },
}

impl PinVerdict {
    pub fn is_valid(&self) -> bool {
        !matches!(self, PinVerdict::Flagged { .. })
    }
}

/// One saved label file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedLabel {
    /// Relative to the data directory, e.g. `labels/261300002-A_20260115T104233Z.pdf`.
    pub path: String,
    pub sha256: String,
    pub pages: usize,
}

/// One line of the label journal.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum LabelEvent {
    /// About to POST Create Shipment with this request id.
    Intent {
        order_id: OrderId,
        request_id: RequestId,
        at: DateTime<Utc>,
        plan: ShipmentPlan,
    },
    /// Canada Post created (or a lookup found) this shipment.
    Created {
        order_id: OrderId,
        shipment: ShipmentRecord,
        at: DateTime<Utc>,
        /// Read from Canada Post (found by the request-id lookup, or a held shipment read
        /// again) rather than from the create answer.
        adopted: bool,
    },
    /// This attempt provably bought nothing (refused, never sent, or not found by a
    /// lookup in a later run).
    IntentClosed {
        order_id: OrderId,
        request_id: RequestId,
        at: DateTime<Utc>,
        reason: String,
    },
    PinChecked {
        order_id: OrderId,
        shipment_id: ShipmentId,
        at: DateTime<Utc>,
        verdict: PinVerdict,
    },
    LabelSaved {
        order_id: OrderId,
        shipment_id: ShipmentId,
        at: DateTime<Utc>,
        files: Vec<SavedLabel>,
    },
    /// What the label cost, read after its create (a non-contract receipt); `None`
    /// when the answer had no readable amount (unknown, never zero).
    Priced {
        order_id: OrderId,
        shipment_id: ShipmentId,
        at: DateTime<Utc>,
        postage: Option<Postage>,
    },
    /// Canada Post registered a refund request for this shipment's label.
    RefundRequested {
        order_id: OrderId,
        shipment_id: ShipmentId,
        at: DateTime<Utc>,
        ticket_id: String,
        #[serde(default)]
        ticket_date: Option<String>,
    },
    /// A refund request was refused, never sent, or got no clear answer: a later
    /// `bbship refund` may ask again.
    RefundFailed {
        order_id: OrderId,
        shipment_id: ShipmentId,
        at: DateTime<Utc>,
        reason: String,
    },
    /// The replaced tool's log names this order, yet Best Buy lists it ready to ship: that
    /// label may have been voided, so no label is bought and nothing uploaded until a
    /// person looks.
    LegacyStillShipping {
        order_id: OrderId,
        at: DateTime<Utc>,
        #[serde(default)]
        pins: Vec<String>,
    },
    /// Such an order is no longer listed ready to ship (shipped, or cancelled, by hand).
    LegacyNoLongerShipping {
        order_id: OrderId,
        at: DateTime<Utc>,
    },
}

impl LabelEvent {
    pub fn order_id(&self) -> &OrderId {
        match self {
            LabelEvent::Intent { order_id, .. }
            | LabelEvent::Created { order_id, .. }
            | LabelEvent::IntentClosed { order_id, .. }
            | LabelEvent::PinChecked { order_id, .. }
            | LabelEvent::LabelSaved { order_id, .. }
            | LabelEvent::Priced { order_id, .. }
            | LabelEvent::RefundRequested { order_id, .. }
            | LabelEvent::RefundFailed { order_id, .. }
            | LabelEvent::LegacyStillShipping { order_id, .. }
            | LabelEvent::LegacyNoLongerShipping { order_id, .. } => order_id,
        }
    }
}

/// One line of `cp_shipping_history_log.jsonl`: a finished shipment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShippingHistoryLine {
    pub order_id: OrderId,
    pub shipment_id: ShipmentId,
    #[serde(default)]
    pub tracking_pin: Option<String>,
    pub request_id: RequestId,
    #[serde(default)]
    pub plan: Option<ShipmentPlan>,
    pub links: Vec<Link>,
    pub labels: Vec<SavedLabel>,
    pub pin_validation: PinVerdict,
    /// What the label cost (due, base, taxes); absent when unknown, never zero.
    #[serde(
        default,
        deserialize_with = "crate::canadapost::money::lenient_postage",
        skip_serializing_if = "Option::is_none"
    )]
    pub postage: Option<Postage>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub label_saved_at: Option<DateTime<Utc>>,
    pub logged_at: DateTime<Utc>,
}

/// The latest refund request for an order's shipment, as `bbship refund` recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum RefundProgress {
    /// Registered by Canada Post: asking again would only be refused.
    Requested {
        at: DateTime<Utc>,
        ticket_id: String,
        #[serde(default)]
        ticket_date: Option<String>,
    },
    /// Not registered (or not known to be): `bbship refund` may ask again.
    Failed { at: DateTime<Utc>, reason: String },
}

/// What the journal knows of one order's label.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LabelProgress {
    /// Create attempts whose outcome is not known: each must be looked up before any new
    /// create.
    pub open_intents: Vec<OpenAttempt>,
    /// What each attempt was for, open or not (the history line of an adopted shipment
    /// needs it).
    pub plans: Vec<(RequestId, ShipmentPlan)>,
    pub shipment: Option<ShipmentRecord>,
    pub created_at: Option<DateTime<Utc>>,
    /// Further shipments found for the same order (a duplicate bought before bbship
    /// could prevent it, e.g. by another tool): a person must request their refund.
    pub extra_shipments: Vec<ShipmentRecord>,
    pub pin: Option<PinVerdict>,
    pub labels: Option<Vec<SavedLabel>>,
    pub label_saved_at: Option<DateTime<Utc>>,
    /// A history line exists for this order.
    pub in_history: bool,
    /// The latest refund request for `shipment`.
    pub refund: Option<RefundProgress>,
    /// Since when the label phase holds this order: labelled by the replaced tool, yet
    /// still listed ready to ship on Best Buy.
    pub legacy_still_shipping: Option<DateTime<Utc>>,
}

/// Where one order's label stands: the one question the label phase asks the journal
/// before it decides what to do with the order (`Journal::label_standing`).
#[derive(Clone, Debug, PartialEq)]
pub enum LabelStanding {
    /// The replaced tool's log names the order: bbship never labels it.
    LegacyTool {
        /// The PINs that log names for it.
        pins: Vec<String>,
        /// The label phase already holds it (it was listed ready to ship).
        held: bool,
        /// bbship's own journal has a shipment or an open attempt for it too, so the
        /// phase still looks at it when Best Buy does not list it.
        unfinished: bool,
    },
    /// Settled: labelled, in the history log and read back SHIPPED; nothing to do.
    Settled { shipment_id: Option<ShipmentId> },
    /// A history line exists: the label is finished.
    InHistory { shipment_id: Option<ShipmentId> },
    /// A shipment exists: only the steps after the create remain, never a create.
    HasShipment(Box<LabelInProgress>),
    /// No shipment, and create attempts whose outcome is unknown: each is searched for
    /// before any new create.
    OpenAttempts(Vec<OpenAttempt>),
    /// Nothing was ever attempted (or every attempt provably bought nothing).
    Fresh,
}

impl LabelStanding {
    /// Whether the label phase works on the order even when Best Buy does not list it
    /// ready to ship: it has a shipment to finish or an attempt to settle.
    pub fn is_unfinished(&self) -> bool {
        match self {
            LabelStanding::HasShipment(_) | LabelStanding::OpenAttempts(_) => true,
            LabelStanding::LegacyTool { unfinished, .. } => *unfinished,
            LabelStanding::Settled { .. }
            | LabelStanding::InHistory { .. }
            | LabelStanding::Fresh => false,
        }
    }

    /// Whether the order may come to a Create Shipment in this run (listed ready to
    /// ship): what the circuit breaker counts as eligible.
    pub fn may_create(&self) -> bool {
        matches!(self, LabelStanding::Fresh | LabelStanding::OpenAttempts(_))
    }
}

/// A shipment whose label is not finished, and the steps after its create that the
/// journal already has (each is done only once).
#[derive(Clone, Debug, PartialEq)]
pub struct LabelInProgress {
    pub shipment: ShipmentRecord,
    pub done: FinishedSteps,
}

/// The steps after a create that are already journaled.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FinishedSteps {
    pub pin: Option<PinVerdict>,
    pub labels: Option<Vec<SavedLabel>>,
}

/// A create attempt whose outcome is unknown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpenAttempt {
    pub request_id: RequestId,
    /// When its intent was journaled: the non-contract search looks around it.
    pub at: DateTime<Utc>,
}

impl LabelProgress {
    /// Whether Canada Post has (or may have) a shipment for this order: a create must
    /// not even be considered.
    pub fn has_shipment(&self) -> bool {
        self.shipment.is_some() || self.in_history
    }

    /// Where this label stands, for an order that is neither settled nor named by the
    /// replaced tool (the journal answers those first).
    pub fn standing(&self) -> LabelStanding {
        if self.in_history {
            return LabelStanding::InHistory {
                shipment_id: self
                    .shipment
                    .as_ref()
                    .map(|shipment| shipment.shipment_id.clone()),
            };
        }
        if let Some(shipment) = &self.shipment {
            return LabelStanding::HasShipment(Box::new(LabelInProgress {
                shipment: shipment.clone(),
                done: FinishedSteps {
                    pin: self.pin.clone(),
                    labels: self.labels.clone(),
                },
            }));
        }
        if self.open_intents.is_empty() {
            return LabelStanding::Fresh;
        }
        LabelStanding::OpenAttempts(self.open_intents.clone())
    }

    /// The history line of this finished label: what the journal holds of it (its
    /// plan, when it was bought and saved) with the verdict and files that finish it.
    pub fn history_line(
        &self,
        order_id: &OrderId,
        shipment: &ShipmentRecord,
        verdict: &PinVerdict,
        labels: &[SavedLabel],
        logged_at: DateTime<Utc>,
    ) -> ShippingHistoryLine {
        ShippingHistoryLine {
            order_id: order_id.clone(),
            shipment_id: shipment.shipment_id.clone(),
            tracking_pin: shipment.tracking_pin.clone(),
            request_id: shipment.request_id.clone(),
            plan: self.plan_for(&shipment.request_id).cloned(),
            links: shipment.links.clone(),
            labels: labels.to_vec(),
            pin_validation: verdict.clone(),
            postage: shipment.postage,
            created_at: self.created_at,
            label_saved_at: self.label_saved_at,
            logged_at,
        }
    }

    /// Applies one journal event, in file order.
    pub fn apply(&mut self, event: &LabelEvent) {
        match event {
            LabelEvent::Intent {
                request_id,
                plan,
                at,
                ..
            } => {
                self.open_intents.push(OpenAttempt {
                    request_id: request_id.clone(),
                    at: *at,
                });
                self.plans.push((request_id.clone(), plan.clone()));
            }
            LabelEvent::Created { shipment, at, .. } => {
                self.open_intents
                    .retain(|open| open.request_id != shipment.request_id);
                match &self.shipment {
                    Some(existing) if existing.shipment_id != shipment.shipment_id => {
                        if !self
                            .extra_shipments
                            .iter()
                            .any(|extra| extra.shipment_id == shipment.shipment_id)
                        {
                            self.extra_shipments.push(shipment.clone());
                        }
                    }
                    // The same shipment read again (a held one now transmitted) keeps
                    // the time it was bought.
                    Some(_) => {
                        self.shipment = Some(shipment.clone());
                        self.created_at.get_or_insert(*at);
                    }
                    None => {
                        self.shipment = Some(shipment.clone());
                        self.created_at = Some(*at);
                    }
                }
            }
            LabelEvent::IntentClosed { request_id, .. } => {
                self.open_intents
                    .retain(|open| open.request_id != *request_id);
            }
            LabelEvent::PinChecked {
                shipment_id,
                verdict,
                ..
            } => {
                if self.is_current(shipment_id) {
                    self.pin = Some(verdict.clone());
                }
            }
            LabelEvent::Priced {
                shipment_id,
                postage: Some(postage),
                ..
            } => {
                if let Some(shipment) = self
                    .shipment
                    .as_mut()
                    .filter(|shipment| shipment.shipment_id == *shipment_id)
                {
                    shipment.postage = Some(*postage);
                }
            }
            LabelEvent::Priced { postage: None, .. } => {}
            LabelEvent::LabelSaved {
                shipment_id,
                files,
                at,
                ..
            } => {
                if self.is_current(shipment_id) {
                    self.labels = Some(files.clone());
                    self.label_saved_at = Some(*at);
                }
            }
            LabelEvent::RefundRequested {
                shipment_id,
                at,
                ticket_id,
                ticket_date,
                ..
            } => {
                if self.is_current(shipment_id) {
                    self.refund = Some(RefundProgress::Requested {
                        at: *at,
                        ticket_id: ticket_id.clone(),
                        ticket_date: ticket_date.clone(),
                    });
                }
            }
            LabelEvent::RefundFailed {
                shipment_id,
                at,
                reason,
                ..
            } => {
                // A failure after a registered request (a repeat answered "already
                // submitted") does not undo the registration.
                let registered = matches!(self.refund, Some(RefundProgress::Requested { .. }));
                if self.is_current(shipment_id) && !registered {
                    self.refund = Some(RefundProgress::Failed {
                        at: *at,
                        reason: reason.clone(),
                    });
                }
            }
            LabelEvent::LegacyStillShipping { at, .. } => {
                self.legacy_still_shipping.get_or_insert(*at);
            }
            LabelEvent::LegacyNoLongerShipping { .. } => self.legacy_still_shipping = None,
        }
    }

    /// Applies a history line (from the history log, which may hold shipments whose
    /// journal lines are gone).
    pub fn apply_history(&mut self, line: &ShippingHistoryLine) {
        self.in_history = true;
        if self.shipment.is_none() {
            self.shipment = Some(ShipmentRecord {
                shipment_id: line.shipment_id.clone(),
                request_id: line.request_id.clone(),
                tracking_pin: line.tracking_pin.clone(),
                status: None,
                postage: None,
                links: line.links.clone(),
            });
            self.created_at = line.created_at;
        }
        if self.pin.is_none() {
            self.pin = Some(line.pin_validation.clone());
        }
        if self.labels.is_none() {
            self.labels = Some(line.labels.clone());
            self.label_saved_at = line.label_saved_at;
        }
    }

    pub fn plan_for(&self, request_id: &RequestId) -> Option<&ShipmentPlan> {
        self.plans
            .iter()
            .find(|(id, _)| id == request_id)
            .map(|(_, plan)| plan)
    }

    fn is_current(&self, shipment_id: &ShipmentId) -> bool {
        self.shipment
            .as_ref()
            .is_some_and(|shipment| shipment.shipment_id == *shipment_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order() -> OrderId {
        "261300002-A".parse().unwrap()
    }

    fn request(id: &str) -> RequestId {
        RequestId::try_from(id.to_owned()).unwrap()
    }

    fn plan() -> ShipmentPlan {
        ShipmentPlan {
            service: ServiceCode::try_from("DOM.EP".to_owned()).unwrap(),
            destination: "Ottawa ON K1A0B1".into(),
            weight_kg: 1.0,
            dimensions_cm: [30.0, 20.0, 10.0],
        }
    }

    fn intent(id: &str) -> LabelEvent {
        LabelEvent::Intent {
            order_id: order(),
            request_id: request(id),
            at: Utc::now(),
            plan: plan(),
        }
    }

    fn created(id: &str, shipment: &str) -> LabelEvent {
        LabelEvent::Created {
            order_id: order(),
            shipment: ShipmentRecord {
                shipment_id: ShipmentId::try_from(shipment.to_owned()).unwrap(),
                request_id: request(id),
                tracking_pin: Some("7023210039414604".into()),
                status: Some(ShipmentStatus::Transmitted),
                postage: None,
                links: vec![],
            },
            at: Utc::now(),
            adopted: false,
        }
    }

    fn replay(events: &[LabelEvent]) -> LabelProgress {
        let mut progress = LabelProgress::default();
        for event in events {
            progress.apply(event);
        }
        progress
    }

    #[test]
    fn the_same_shipment_read_again_takes_its_new_status_and_keeps_its_time() {
        let mut held = created("r1", "111");
        let LabelEvent::Created { shipment, at, .. } = &mut held else {
            unreachable!()
        };
        shipment.status = Some(ShipmentStatus::Created);
        *at = "2026-01-01T00:00:00Z".parse().unwrap();
        let progress = replay(&[intent("r1"), held, created("r1", "111")]);
        let shipment = progress.shipment.unwrap();
        assert_eq!(shipment.status, Some(ShipmentStatus::Transmitted));
        assert_eq!(
            progress.created_at.unwrap().to_rfc3339(),
            "2026-01-01T00:00:00+00:00"
        );
        assert!(progress.extra_shipments.is_empty());
    }

    #[test]
    fn an_intent_without_a_shipment_stays_open() {
        let progress = replay(&[intent("r1")]);
        assert_eq!(progress.open_intents.len(), 1);
        assert!(!progress.has_shipment());
        // The search needs its time.
        let event = intent("r1");
        let LabelEvent::Intent { at, .. } = &event else {
            unreachable!()
        };
        let progress = replay(std::slice::from_ref(&event));
        assert_eq!(progress.open_intents[0].request_id, request("r1"));
        assert_eq!(progress.open_intents[0].at, *at);
        // Once settled, the attempt and its time are no longer kept.
        let progress = replay(&[intent("r1"), created("r1", "111")]);
        assert!(progress.open_intents.is_empty());
    }

    #[test]
    fn a_created_shipment_closes_its_intent() {
        let progress = replay(&[intent("r1"), created("r1", "111")]);
        assert!(progress.open_intents.is_empty());
        assert!(progress.has_shipment());
        assert_eq!(progress.plan_for(&request("r1")), Some(&plan()));
    }

    #[test]
    fn a_closed_intent_allows_a_new_attempt() {
        let progress = replay(&[
            intent("r1"),
            LabelEvent::IntentClosed {
                order_id: order(),
                request_id: request("r1"),
                at: Utc::now(),
                reason: "not found".into(),
            },
        ]);
        assert!(progress.open_intents.is_empty());
        assert!(!progress.has_shipment());
    }

    #[test]
    fn a_second_shipment_is_kept_apart_as_a_duplicate() {
        let progress = replay(&[
            intent("r1"),
            created("r1", "111"),
            intent("r2"),
            created("r2", "222"),
        ]);
        assert_eq!(
            progress.shipment.as_ref().unwrap().shipment_id.as_str(),
            "111"
        );
        assert_eq!(progress.extra_shipments.len(), 1);
        // The same shipment found twice is not a duplicate.
        let again = replay(&[intent("r1"), created("r1", "111"), created("r1", "111")]);
        assert!(again.extra_shipments.is_empty());
    }

    #[test]
    fn verdicts_and_labels_of_another_shipment_are_ignored() {
        let progress = replay(&[
            intent("r1"),
            created("r1", "111"),
            LabelEvent::PinChecked {
                order_id: order(),
                shipment_id: ShipmentId::try_from("999".to_owned()).unwrap(),
                at: Utc::now(),
                verdict: PinVerdict::NoHistoryYet,
            },
        ]);
        assert!(progress.pin.is_none());
    }

    #[test]
    fn a_registered_refund_stays_registered_and_a_failed_one_may_be_asked_again() {
        let shipment = || ShipmentId::try_from("111".to_owned()).unwrap();
        let failed = || LabelEvent::RefundFailed {
            order_id: order(),
            shipment_id: shipment(),
            at: Utc::now(),
            reason: "no answer".into(),
        };
        let requested = LabelEvent::RefundRequested {
            order_id: order(),
            shipment_id: shipment(),
            at: Utc::now(),
            ticket_id: "GT1RT".into(),
            ticket_date: Some("2026-01-15".into()),
        };
        let progress = replay(&[intent("r1"), created("r1", "111"), failed()]);
        assert!(matches!(
            progress.refund,
            Some(RefundProgress::Failed { .. })
        ));
        let progress = replay(&[
            intent("r1"),
            created("r1", "111"),
            failed(),
            requested.clone(),
            failed(),
        ]);
        assert!(
            matches!(&progress.refund, Some(RefundProgress::Requested { ticket_id, .. }) if ticket_id == "GT1RT")
        );
        // A refund of another shipment says nothing about this one.
        let other = replay(&[intent("r1"), created("r1", "222"), requested.clone()]);
        assert!(other.refund.is_none());
        let line = serde_json::to_string(&requested).unwrap();
        assert!(line.contains("\"event\":\"refund_requested\""), "{line}");
        assert_eq!(
            serde_json::from_str::<LabelEvent>(&line).unwrap(),
            requested
        );
    }

    #[test]
    fn events_round_trip_through_json() {
        for event in [intent("r1"), created("r1", "111")] {
            let line = serde_json::to_string(&event).unwrap();
            assert!(line.contains("\"event\":"), "{line}");
            let back: LabelEvent = serde_json::from_str(&line).unwrap();
            assert_eq!(back, event);
        }
    }
}
