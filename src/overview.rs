//! What bbship's own files say about each order: the step it reached, its PIN and label
//! file, its last error, how long bbship has known it, and whether it is stuck and needs
//! a person. `status` prints this and alerts send the stuck orders; it reads the journal
//! and the runs log only, never an API.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::canadapost::money::Postage;
use crate::canadapost::types::ShipmentStatus;
use crate::config::AlertsConfig;
use crate::journal::legacy::{self, LegacyShipment};
use crate::journal::{Journal, OrderRecord, PinVerdict, PrintState, RefundProgress, SettledOrder};
use crate::runs::{NoteKind, OrderHistory, RunsHistory};

/// How far an order has come, in the order of the cycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Seen waiting for acceptance, not accepted by bbship yet.
    WaitingAcceptance,
    Accepted,
    /// A Create Shipment was sent and its outcome is not known yet.
    CreateOutcomeUnknown,
    /// The shipment exists; its PIN check or label download is not finished.
    ShipmentCreated,
    Labelled,
    /// The replaced tool's log says it labelled the order; bbship never labels it again.
    LabelledByOldTool,
    TrackingUploaded,
    MarkedShipped,
    /// Read back SHIPPED: done.
    Shipped,
    /// Best Buy cancelled it after its label was bought.
    CancelledAfterLabel,
    /// Cancelled after its label, and Canada Post registered the refund request.
    RefundRequested,
}

impl Step {
    pub fn name(self) -> &'static str {
        match self {
            Step::WaitingAcceptance => "waiting acceptance",
            Step::Accepted => "accepted",
            Step::CreateOutcomeUnknown => "create unknown",
            Step::ShipmentCreated => "shipment created",
            Step::Labelled => "labelled",
            Step::LabelledByOldTool => "labelled by the old tool",
            Step::TrackingUploaded => "tracking uploaded",
            Step::MarkedShipped => "marked shipped",
            Step::Shipped => "shipped",
            Step::CancelledAfterLabel => "cancelled after label",
            Step::RefundRequested => "refund requested",
        }
    }

    fn of(record: &OrderRecord) -> Step {
        let (label, ship) = (&record.label, &record.ship);
        if ship.cancelled_after_label.is_some() {
            if matches!(label.refund, Some(RefundProgress::Requested { .. })) {
                Step::RefundRequested
            } else {
                Step::CancelledAfterLabel
            }
        } else if ship.confirmed {
            Step::Shipped
        } else if ship.marked_shipped {
            Step::MarkedShipped
        } else if ship.tracking_uploaded.is_some() {
            Step::TrackingUploaded
        } else if label.labels.is_some() {
            Step::Labelled
        } else if label.has_shipment() {
            Step::ShipmentCreated
        } else if !label.open_intents.is_empty() {
            Step::CreateOutcomeUnknown
        } else if record.accepted.is_some() {
            Step::Accepted
        } else {
            Step::WaitingAcceptance
        }
    }
}

/// One order as the files describe it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OrderView {
    pub order_id: String,
    pub step: Step,
    pub pin: Option<String>,
    /// The newest label file, relative to the data directory.
    pub label_file: Option<String>,
    /// The latest failure the runs log holds: phase, when, why.
    pub last_error: Option<String>,
    /// When bbship first knew of the order.
    pub since: Option<DateTime<Utc>>,
    /// Why a person should look, when one should.
    pub stuck: Option<String>,
    /// Printed, not printed, or print failed; none when nothing was to be printed.
    pub print: Option<&'static str>,
    /// What its label cost (`31.58 CAD (base 27.95, taxes 3.63)`), `unknown` when
    /// Canada Post did not say, none before a label was bought.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postage: Option<String>,
}

/// Every order the journal or the runs log knows: those in progress, orders only the runs
/// log has seen (never accepted), and with `include_settled` the settled ones too.
pub fn orders(
    journal: &Journal,
    runs: &RunsHistory,
    alerts: &AlertsConfig,
    include_settled: bool,
    now: DateTime<Utc>,
) -> Vec<OrderView> {
    let none = OrderHistory::default();
    let mut views: BTreeMap<String, OrderView> = BTreeMap::new();
    for (order_id, record) in journal.active_orders() {
        let id = order_id.to_string();
        let history = runs.orders.get(&id).unwrap_or(&none);
        let legacy = journal.legacy_shipment(&id);
        views.insert(
            id.clone(),
            active_view(id, &record, legacy, history, alerts, now),
        );
    }
    for (id, history) in &runs.orders {
        if views.contains_key(id) {
            continue;
        }
        let known = id
            .parse()
            .ok()
            .and_then(|order_id| journal.settled(&order_id));
        match known {
            Some(settled) if include_settled => {
                views.insert(id.clone(), settled_view(id.clone(), &settled, history));
            }
            Some(_) => {}
            None if journal.legacy_shipment(id).is_some() && !include_settled => {}
            None => {
                let legacy = journal.legacy_shipment(id);
                views.insert(
                    id.clone(),
                    active_view(
                        id.clone(),
                        &OrderRecord::default(),
                        legacy,
                        history,
                        alerts,
                        now,
                    ),
                );
            }
        }
    }
    // The old tool's orders are finished unless held: listed with the settled ones.
    if include_settled {
        for (id, legacy) in journal.legacy_shipments() {
            if !views.contains_key(id) {
                let history = runs.orders.get(id).unwrap_or(&none);
                let view = active_view(
                    id.clone(),
                    &OrderRecord::default(),
                    Some(legacy),
                    history,
                    alerts,
                    now,
                );
                views.insert(id.clone(), view);
            }
        }
    }
    if include_settled {
        for (order_id, settled) in journal.settled_orders() {
            let id = order_id.to_string();
            if !views.contains_key(&id) {
                let history = runs.orders.get(&id).unwrap_or(&none);
                views.insert(id.clone(), settled_view(id, &settled, history));
            }
        }
    }
    // A shipped order whose label has not printed is not done for the packer.
    for (order_id, record) in journal.print_records() {
        let waiting = matches!(
            record.state(),
            Some(PrintState::Failed { .. } | PrintState::NotPrinted)
        );
        let id = order_id.to_string();
        if waiting
            && !views.contains_key(&id)
            && let Some(settled) = journal.settled(&order_id)
        {
            let history = runs.orders.get(&id).unwrap_or(&none);
            views.insert(id.clone(), settled_view(id, &settled, history));
        }
    }
    for view in views.values_mut() {
        add_print_state(view, journal, alerts, now);
    }
    views.into_values().collect()
}

/// Where the order's label and slip stand with the printer; a print that keeps failing
/// past `alerts.stuck_label_minutes` needs a person (the parcel cannot leave unlabelled).
fn add_print_state(
    view: &mut OrderView,
    journal: &Journal,
    alerts: &AlertsConfig,
    now: DateTime<Utc>,
) {
    let Some(state) = view
        .order_id
        .parse()
        .ok()
        .and_then(|order_id| journal.print_record(&order_id))
        .and_then(|record| record.state())
    else {
        return;
    };
    view.print = Some(state.name());
    if let PrintState::Failed { since, reason } = &state
        && view.stuck.is_none()
        && now - *since > Duration::minutes(i64::from(alerts.stuck_label_minutes))
    {
        view.stuck = Some(format!(
            "its label has not printed for {} ({reason}); fix the printer or print it by hand \
             (bbship print {})",
            describe(now - *since),
            view.order_id
        ));
    }
}

fn settled_view(order_id: String, settled: &SettledOrder, history: &OrderHistory) -> OrderView {
    OrderView {
        order_id,
        step: Step::Shipped,
        pin: settled.tracking_pin.clone(),
        label_file: settled.label_files.first().cloned(),
        last_error: None,
        since: history.first_noted,
        stuck: None,
        print: None,
        postage: settled
            .shipment_id
            .as_ref()
            .map(|_| Postage::describe(settled.postage.as_ref())),
    }
}

fn active_view(
    order_id: String,
    record: &OrderRecord,
    legacy: Option<&LegacyShipment>,
    history: &OrderHistory,
    alerts: &AlertsConfig,
    now: DateTime<Utc>,
) -> OrderView {
    let label = &record.label;
    // bbship never labels an order the old tool labelled, so its own steps stop short of
    // a shipment and the old tool's label is the one to show.
    let by_old_tool = legacy.filter(|_| !label.has_shipment());
    let step = match by_old_tool {
        Some(_) => Step::LabelledByOldTool,
        None => Step::of(record),
    };
    let since = [
        record
            .accepted
            .as_ref()
            .map(|accepted| accepted.accepted_at),
        label.created_at,
        history.first_noted,
    ]
    .into_iter()
    .flatten()
    .min();
    let last_error = history
        .last_error
        .as_ref()
        // A failure from before the order's latest progress is history, not news; the
        // runs log notes only what did not go through, so compare with its last note.
        .filter(|(at, _, _)| {
            history
                .last_noted
                .as_ref()
                .is_some_and(|(noted, _, kind)| noted == at && *kind == NoteKind::Failed)
        })
        .map(|(at, phase, reason)| format!("{phase} at {}: {reason}", at.format("%Y-%m-%d %H:%M")));
    let stuck = stuck_reason(&order_id, record, by_old_tool, step, history, alerts, now);
    OrderView {
        order_id,
        step,
        pin: label
            .shipment
            .as_ref()
            .and_then(|shipment| shipment.tracking_pin.clone())
            .or_else(|| by_old_tool.and_then(LegacyShipment::pins_text)),
        label_file: label
            .labels
            .as_ref()
            .and_then(|files| files.first())
            .map(|file| file.path.clone()),
        last_error,
        since,
        stuck,
        print: None,
        postage: label
            .shipment
            .as_ref()
            .map(|shipment| Postage::describe(shipment.postage.as_ref())),
    }
}

fn stuck_reason(
    order_id: &str,
    record: &OrderRecord,
    by_old_tool: Option<&LegacyShipment>,
    step: Step,
    history: &OrderHistory,
    alerts: &AlertsConfig,
    now: DateTime<Utc>,
) -> Option<String> {
    let label = &record.label;
    if let Some(legacy) = by_old_tool {
        // Held by the label phase while Best Buy listed it ready to ship; otherwise the
        // old tool's label is all there is to say, and nothing here is bbship's to do.
        return label
            .legacy_still_shipping
            .map(|_| legacy::still_shipping_reason(order_id, &legacy.pins));
    }
    if let Some(RefundProgress::Failed { reason, .. }) = &label.refund
        && step == Step::CancelledAfterLabel
    {
        return Some(format!(
            "its refund request did not go through ({reason}); ask again (bbship refund {order_id})"
        ));
    }
    if let Some(state) = &record.ship.cancelled_after_label
        && step == Step::CancelledAfterLabel
    {
        return Some(format!(
            "Best Buy shows {state} but its label was bought: request the refund (bbship refund {order_id})"
        ));
    }
    if !label.extra_shipments.is_empty() {
        let extra: Vec<&str> = label
            .extra_shipments
            .iter()
            .map(|shipment| shipment.shipment_id.as_str())
            .collect();
        return Some(format!(
            "more than one Canada Post shipment exists ({}): request a refund of the extra one",
            extra.join(", ")
        ));
    }
    if let Some(PinVerdict::Flagged { reason }) = &label.pin {
        return Some(format!(
            "its tracking PIN was flagged ({reason}); it is not shipped on Best Buy until a person looks"
        ));
    }
    if step == Step::ShipmentCreated
        && let Some(shipment) = &label.shipment
        && !ShipmentStatus::allows_shipping(shipment.status.as_ref())
    {
        return Some(format!(
            "shipment {} (PIN {}) came back with status {}, not `transmitted`: it is not shipped \
             on Best Buy until a person transmits (manifests) or voids it on Canada Post's website",
            shipment.shipment_id,
            shipment.tracking_pin.as_deref().unwrap_or("none"),
            ShipmentStatus::describe(shipment.status.as_ref())
        ));
    }
    if step < Step::Labelled {
        // Ready to ship since: the first run that tried to label it, or its shipment.
        let ready_since = [
            history.first_noted_in.get("label").copied(),
            label.created_at,
        ]
        .into_iter()
        .flatten()
        .min();
        let limit = Duration::minutes(i64::from(alerts.stuck_label_minutes));
        if let Some(ready_since) = ready_since
            && now - ready_since > limit
        {
            let waited = describe(now - ready_since);
            return Some(match &label.shipment {
                // The postage is paid: what is missing is only the file.
                Some(shipment) => format!(
                    "shipment {} was bought but its label could not be obtained for {waited}: \
                     get it with `bbship reprint {order_id}`, or download it from Canada Post's website",
                    shipment.shipment_id
                ),
                None => format!("ready to ship for {waited} without a label"),
            });
        }
    }
    if step == Step::WaitingAcceptance
        && let Some(deadline) = history.acceptance_deadline
        && deadline - now <= Duration::hours(i64::from(alerts.acceptance_warning_hours))
    {
        let left = deadline - now;
        return Some(if left < Duration::zero() {
            format!(
                "still not accepted, {} past its estimated acceptance deadline",
                describe(-left)
            )
        } else {
            format!(
                "still not accepted, {} before its estimated acceptance deadline",
                describe(left)
            )
        });
    }
    None
}

/// "3 h 5 min", "12 min", "2 d 4 h".
pub fn describe(duration: Duration) -> String {
    let minutes = duration.num_minutes().max(0);
    if minutes >= 24 * 60 {
        format!("{} d {} h", minutes / (24 * 60), minutes / 60 % 24)
    } else if minutes >= 60 {
        format!("{} h {} min", minutes / 60, minutes % 60)
    } else {
        format!("{minutes} min")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{LabelProgress, ShipProgress};

    fn now() -> DateTime<Utc> {
        "2026-11-25T12:00:00Z".parse().unwrap()
    }

    fn view(record: &OrderRecord, history: &OrderHistory) -> OrderView {
        active_view(
            "1-A".into(),
            record,
            None,
            history,
            &AlertsConfig::default(),
            now(),
        )
    }

    #[test]
    fn a_cancelled_label_is_stuck_until_refunded() {
        let record = OrderRecord {
            ship: ShipProgress {
                cancelled_after_label: Some("CANCELED".into()),
                ..ShipProgress::default()
            },
            ..OrderRecord::default()
        };
        let shown = view(&record, &OrderHistory::default());
        assert_eq!(shown.step, Step::CancelledAfterLabel);
        assert!(shown.stuck.unwrap().contains("bbship refund 1-A"));

        let mut refunded = record.clone();
        refunded.label.refund = Some(RefundProgress::Requested {
            at: now(),
            ticket_id: "0123456789".into(),
            ticket_date: None,
        });
        let shown = view(&refunded, &OrderHistory::default());
        assert_eq!(shown.step, Step::RefundRequested);
        assert_eq!(shown.stuck, None);

        refunded.label.refund = Some(RefundProgress::Failed {
            at: now(),
            reason: "9999 no".into(),
        });
        let shown = view(&refunded, &OrderHistory::default());
        assert!(
            shown
                .stuck
                .unwrap()
                .contains("did not go through (9999 no)")
        );
    }

    #[test]
    fn ready_to_ship_for_over_an_hour_without_a_label_is_stuck() {
        let mut history = OrderHistory::default();
        history
            .first_noted_in
            .insert("label".into(), now() - Duration::minutes(50));
        assert_eq!(view(&OrderRecord::default(), &history).stuck, None);
        history
            .first_noted_in
            .insert("label".into(), now() - Duration::minutes(75));
        let stuck = view(&OrderRecord::default(), &history).stuck.unwrap();
        assert_eq!(stuck, "ready to ship for 1 h 15 min without a label");
        // Once labelled it is not.
        let labelled = OrderRecord {
            label: LabelProgress {
                labels: Some(Vec::new()),
                ..LabelProgress::default()
            },
            ..OrderRecord::default()
        };
        assert_eq!(view(&labelled, &history).stuck, None);
    }

    fn with_shipment(status: Option<ShipmentStatus>) -> OrderRecord {
        OrderRecord {
            label: LabelProgress {
                shipment: Some(crate::journal::ShipmentRecord {
                    shipment_id: "347881315400000001".to_owned().try_into().unwrap(),
                    request_id: "1-A-r1".to_owned().try_into().unwrap(),
                    tracking_pin: Some("7023210039414604".into()),
                    status,
                    postage: None,
                    links: Vec::new(),
                }),
                created_at: Some(now() - Duration::minutes(5)),
                ..LabelProgress::default()
            },
            ..OrderRecord::default()
        }
    }

    #[test]
    fn a_shipment_that_is_not_transmitted_needs_a_person_at_once() {
        for status in [Some(ShipmentStatus::Created), None] {
            let shown = view(&with_shipment(status.clone()), &OrderHistory::default());
            assert_eq!(shown.step, Step::ShipmentCreated);
            let stuck = shown.stuck.unwrap();
            assert!(stuck.contains("347881315400000001"), "{stuck}");
            assert!(stuck.contains("not `transmitted`"), "{stuck}");
        }
        let transmitted = with_shipment(Some(ShipmentStatus::Transmitted));
        assert_eq!(view(&transmitted, &OrderHistory::default()).stuck, None);
    }

    #[test]
    fn a_bought_label_not_obtained_past_its_limit_says_how_to_get_it() {
        let mut record = with_shipment(Some(ShipmentStatus::Transmitted));
        record.label.created_at = Some(now() - Duration::minutes(61));
        let stuck = view(&record, &OrderHistory::default()).stuck.unwrap();
        assert!(stuck.contains("bbship reprint 1-A"), "{stuck}");
        assert!(stuck.contains("Canada Post's website"), "{stuck}");
    }

    #[test]
    fn an_order_near_its_acceptance_deadline_is_stuck() {
        let mut history = OrderHistory {
            acceptance_deadline: Some(now() + Duration::hours(2)),
            ..OrderHistory::default()
        };
        let stuck = view(&OrderRecord::default(), &history).stuck.unwrap();
        assert!(stuck.contains("2 h 0 min before"), "{stuck}");
        history.acceptance_deadline = Some(now() + Duration::hours(30));
        assert_eq!(view(&OrderRecord::default(), &history).stuck, None);
    }

    #[test]
    fn an_order_the_old_tool_labelled_needs_a_person_only_while_held() {
        let legacy = LegacyShipment {
            pins: vec!["1234567200001012".into()],
            recorded_at: None,
        };
        let mut history = OrderHistory::default();
        // Long listed ready to ship without a label of bbship's own: not that complaint.
        history
            .first_noted_in
            .insert("label".into(), now() - Duration::hours(5));
        let shown = |record: &OrderRecord| {
            active_view(
                "1-A".into(),
                record,
                Some(&legacy),
                &history,
                &AlertsConfig::default(),
                now(),
            )
        };
        let finished = shown(&OrderRecord::default());
        assert_eq!(finished.step, Step::LabelledByOldTool);
        assert_eq!(finished.pin.as_deref(), Some("1234567200001012"));
        assert_eq!(finished.stuck, None);

        let mut held = OrderRecord::default();
        held.label.legacy_still_shipping = Some(now());
        let stuck = shown(&held).stuck.unwrap();
        assert!(stuck.contains("PIN 1234567200001012"), "{stuck}");
        assert!(stuck.contains("may have been voided"), "{stuck}");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(describe(Duration::minutes(12)), "12 min");
        assert_eq!(describe(Duration::minutes(185)), "3 h 5 min");
        assert_eq!(describe(Duration::hours(52)), "2 d 4 h");
    }
}
