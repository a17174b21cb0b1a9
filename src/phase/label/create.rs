//! The create protocol, the only code that may buy a label: the intent on disk before the
//! one Create Shipment POST, the shipment on disk right after it, and, for an attempt
//! whose outcome is unknown, the account's search before anything else (the request id
//! of a contract; a time window around the attempt, matched on the order, for a
//! non-contract account). A shipment found is adopted, never bought again; a held one is
//! read again only to see whether a person transmitted it; a price the answer did not
//! give is read once (a contract shipment's `price` link, a non-contract receipt).

use anyhow::Context;
use chrono::Utc;

use super::super::preflight::{self, Prepared};
use super::super::{Cycle, Failure, Step};
use super::breaker::Reservation;
use crate::address::BoundedText;
use crate::bestbuy::Order;
use crate::canadapost::client::{Attempt, CanadaPostError};
use crate::canadapost::money::Postage;
use crate::canadapost::shipment::{Settlement, ShipmentSpec, create_shipment_xml};
use crate::canadapost::types::{AccountKind, ShipmentStatus};
use crate::canadapost::{CanadaPostClient, ShipmentInfo};
use crate::http::WriteMode;
use crate::ids::{OrderId, RequestId};
use crate::journal::{LabelEvent, OpenAttempt, ShipmentPlan, ShipmentRecord};

/// Checks the order can be shipped as it stands, and says what preflight noted.
pub(super) fn prepare(cycle: &Cycle, order: &Order) -> Step<Prepared> {
    let prepared = preflight::prepare(order, cycle.config)
        .map_err(|error| Failure::order(format!("cannot ship it as it stands: {error}")))?;
    for note in &prepared.notes {
        log::warn!("label: order {}: {note}", order.id);
    }
    Ok(prepared)
}

/// The Create Shipment XML for one attempt.
pub(super) fn request_body(
    cycle: &Cycle,
    order_id: &OrderId,
    request_id: &RequestId,
    prepared: &Prepared,
) -> Step<String> {
    let order_reference = BoundedText::<35>::try_from(order_id.to_string()).map_err(|error| {
        Failure::order(format!("the order id cannot be customer-ref-1: {error}"))
    })?;
    let canada_post = &cycle.config.canada_post;
    let spec = ShipmentSpec {
        request_id,
        order_reference: &order_reference,
        service: &prepared.service,
        sender: &cycle.config.sender,
        destination: &prepared.destination,
        parcel: &prepared.parcel,
        settlement: Settlement::of(canada_post),
    };
    create_shipment_xml(&spec)
        .map_err(|error| Failure::order(format!("building the shipment XML failed: {error}")))
}

/// What a shipment is for, kept with its intent.
fn plan(prepared: &Prepared) -> ShipmentPlan {
    let destination = &prepared.destination;
    ShipmentPlan {
        service: prepared.service.clone(),
        destination: format!(
            "{} {} {}",
            destination.city.as_str(),
            destination.province,
            destination.postal_code.as_str()
        ),
        weight_kg: prepared.parcel.weight_kg.get(),
        dimensions_cm: [
            prepared.parcel.length_cm.get(),
            prepared.parcel.width_cm.get(),
            prepared.parcel.height_cm.get(),
        ],
    }
}

/// The one place that buys a label: intent on disk, one POST, shipment on disk, its
/// price read when the answer did not give it. It settles `reservation` with what the
/// create bought: nothing (refused, never sent), a label of unknown price (an outcome
/// still unknown), or the shipment's price; a run-stopping error on the way drops it
/// unsettled, which counts as a label of unknown price.
pub(super) fn create(
    cycle: &Cycle,
    canada_post: &CanadaPostClient,
    order: &Order,
    reservation: Reservation<'_>,
) -> Step<ShipmentRecord> {
    let order_id = &order.id;
    let ready = prepare(cycle, order).and_then(|prepared| {
        let request_id = RequestId::for_attempt(order_id, Utc::now());
        let body = request_body(cycle, order_id, &request_id, &prepared)?;
        Ok((prepared, request_id, body))
    });
    let (prepared, request_id, body) = match ready {
        Ok(ready) => ready,
        Err(failure) => {
            reservation.nothing_bought();
            return Err(failure);
        }
    };
    // Before the create, while the Best Buy order is in hand: a later run may finish the
    // label from the journal alone and still owes it a packing slip.
    crate::print::remember(cycle.journal, order, &prepared)
        .context("journaling what the packing slip shows; nothing was sent")?;
    let intent_at = Utc::now();
    cycle
        .journal
        .record_label_event(LabelEvent::Intent {
            order_id: order_id.clone(),
            request_id: request_id.clone(),
            at: intent_at,
            plan: plan(&prepared),
        })
        .context("recording the intent to create a shipment; nothing was sent")?;
    log::info!("label: order {order_id}: creating a shipment (request id {request_id})");

    let close = |reason: String| {
        cycle.journal.record_label_event(LabelEvent::IntentClosed {
            order_id: order_id.clone(),
            request_id: request_id.clone(),
            at: Utc::now(),
            reason,
        })
    };
    let error = match canada_post.create_shipment(body, WriteMode::Live) {
        Ok(Some(info)) => {
            let shipment = record_created(cycle, order_id, &request_id, info, false)?;
            let shipment = priced(cycle, canada_post, order_id, shipment)?;
            reservation.bought(shipment.postage.as_ref());
            return Ok(shipment);
        }
        Ok(None) => {
            reservation.nothing_bought();
            return Err(Failure::order(
                "Create Shipment returned nothing in a live run",
            ));
        }
        Err(error) => Failure::stop_if_refused(error)?,
    };
    match error {
        CanadaPostError::Rejected { .. } => {
            close(format!("refused: {error}"))?;
            reservation.nothing_bought();
            return Err(Failure::order(error.to_string()));
        }
        CanadaPostError::Transport(_) => {
            // The connection was never made, so nothing was bought.
            close(format!("never sent: {error}"))?;
            reservation.nothing_bought();
            return Err(Failure::order(error.to_string()));
        }
        _ => {}
    }
    log::warn!(
        "label: order {order_id}: {error}; searching for the shipment of attempt {request_id}"
    );
    let reason = match search(cycle, canada_post, order_id, &request_id, intent_at) {
        Ok(infos) if !infos.is_empty() => match adopt(cycle, order_id, &request_id, infos)? {
            Some(shipment) => {
                let shipment = priced(cycle, canada_post, order_id, shipment)?;
                reservation.bought(shipment.postage.as_ref());
                return Ok(shipment);
            }
            None => format!(
                "{error}; the search found nothing it could record; the next run looks again"
            ),
        },
        Ok(_) => format!(
            "{error}; the search finds no shipment yet, so nothing more is created in this run; \
             the next run looks again before creating anything"
        ),
        Err(lookup_error) => {
            let lookup_error = Failure::stop_if_refused(lookup_error)?;
            format!(
                "{error}; searching for it failed too ({lookup_error}); the next run searches \
                 before creating anything"
            )
        }
    };
    reservation.bought(None);
    Err(Failure::order(reason))
}

/// Journals a shipment Canada Post created (`adopted`: read from it instead) and logs it.
fn record_created(
    cycle: &Cycle,
    order_id: &OrderId,
    request_id: &RequestId,
    info: ShipmentInfo,
    adopted: bool,
) -> Step<ShipmentRecord> {
    let shipment = ShipmentRecord {
        shipment_id: info.shipment_id,
        request_id: request_id.clone(),
        tracking_pin: info.tracking_pin,
        status: info.status,
        postage: info.postage,
        links: info.links,
    };
    log::info!(
        "label: order {order_id}: shipment {} {} (PIN {}, status {}, postage {})",
        shipment.shipment_id,
        if adopted {
            "read from Canada Post"
        } else {
            "created"
        },
        shipment.tracking_pin.as_deref().unwrap_or("none"),
        ShipmentStatus::describe(shipment.status.as_ref()),
        Postage::describe(shipment.postage.as_ref())
    );
    cycle
        .journal
        .record_label_event(LabelEvent::Created {
            order_id: order_id.clone(),
            shipment: shipment.clone(),
            at: Utc::now(),
            adopted,
        })
        .with_context(|| {
            // The one failure a person must hear about: postage was bought and the
            // journal could not say so. The ids are in this message.
            format!(
                "shipment {} (PIN {}) exists at Canada Post but could not be recorded",
                shipment.shipment_id,
                shipment.tracking_pin.as_deref().unwrap_or("none")
            )
        })?;
    Ok(shipment)
}

/// Settles every earlier attempt with an unknown outcome before any new create, by the
/// account's search. `None`: every attempt provably created nothing, and a create may
/// follow; a search that does not answer fails the order (nothing is created until one
/// does).
pub(super) fn resolve_open_attempts(
    cycle: &Cycle,
    canada_post: &CanadaPostClient,
    order_id: &OrderId,
    attempts: &[OpenAttempt],
) -> Step<Option<ShipmentRecord>> {
    let mut found = None;
    for OpenAttempt { request_id, at } in attempts {
        match search(cycle, canada_post, order_id, request_id, *at) {
            Ok(infos) if infos.is_empty() => {
                log::info!(
                    "label: order {order_id}: the attempt {request_id} created nothing (the search found no shipment)"
                );
                cycle.journal.record_label_event(LabelEvent::IntentClosed {
                    order_id: order_id.clone(),
                    request_id: request_id.clone(),
                    at: Utc::now(),
                    reason: "not found by the search for its shipment".to_owned(),
                })?;
            }
            Ok(infos) => {
                if let Some(shipment) = adopt(cycle, order_id, request_id, infos)? {
                    found.get_or_insert(shipment);
                }
            }
            Err(error) => {
                let error = Failure::stop_if_refused(error)?;
                return Err(Failure::order(format!(
                    "an earlier create attempt ({request_id}) has an unknown outcome and searching \
                     for its shipment failed: {error}; nothing is created until a search answers \
                     (next run)"
                )));
            }
        }
    }
    Ok(found)
}

/// The account's search for the shipments of one attempt, skipping every shipment the
/// journal already holds (another order's, or this one's).
fn search(
    cycle: &Cycle,
    canada_post: &CanadaPostClient,
    order_id: &OrderId,
    request_id: &RequestId,
    at: chrono::DateTime<Utc>,
) -> Result<Vec<ShipmentInfo>, CanadaPostError> {
    let known = cycle.journal.known_shipment_ids();
    let attempt = Attempt {
        request_id,
        order_reference: order_id.as_str(),
        at,
    };
    canada_post.find_attempt(&attempt, &|id| known.contains(id))
}

/// Records the shipments a search found. More than one is a duplicate bought outside
/// bbship's protocol: each is journaled, and a person is told to refund the rest.
fn adopt(
    cycle: &Cycle,
    order_id: &OrderId,
    request_id: &RequestId,
    infos: Vec<ShipmentInfo>,
) -> Step<Option<ShipmentRecord>> {
    let mut adopted: Option<ShipmentRecord> = None;
    for info in infos {
        let record = record_created(cycle, order_id, request_id, info, true)?;
        match &adopted {
            None => adopted = Some(record),
            Some(first) => log::error!(
                "label: order {order_id}: the search for attempt {request_id} found more than one \
                 shipment; keeping {} and a person should request a refund for {} (PIN {})",
                first.shipment_id,
                record.shipment_id,
                record.tracking_pin.as_deref().unwrap_or("none")
            ),
        }
    }
    Ok(adopted)
}

/// Reads what a shipment cost when its create answer did not say (a contract shipment's
/// price link: one found by the search or read again; a non-contract receipt) and
/// journals it. A failed read
/// leaves the price unknown, never zero; a later run that finishes the label asks again.
pub(super) fn priced(
    cycle: &Cycle,
    canada_post: &CanadaPostClient,
    order_id: &OrderId,
    mut shipment: ShipmentRecord,
) -> Step<ShipmentRecord> {
    if shipment.postage.is_some() {
        return Ok(shipment);
    }
    let postage = match canada_post.postage(&shipment.links) {
        Ok(postage) => postage,
        Err(error) => {
            let error = Failure::stop_if_refused(error)?;
            log::warn!(
                "label: order {order_id}: the price of shipment {} is unknown for now (reading its \
                 price failed: {error})",
                shipment.shipment_id
            );
            return Ok(shipment);
        }
    };
    if canada_post.account() == AccountKind::Contract && postage.is_none() {
        return Ok(shipment);
    }
    cycle.journal.record_label_event(LabelEvent::Priced {
        order_id: order_id.clone(),
        shipment_id: shipment.shipment_id.clone(),
        at: Utc::now(),
        postage,
    })?;
    log::info!(
        "label: order {order_id}: shipment {} cost {}",
        shipment.shipment_id,
        Postage::describe(postage.as_ref())
    );
    shipment.postage = postage;
    Ok(shipment)
}

/// Reads a held shipment again through its `self` link: a person may have transmitted it
/// since (a manifest on Canada Post's website). Only a `transmitted` answer about the same
/// shipment releases it, and it is journaled before anything else; any other answer, or
/// none, leaves it held and quiet (the reminders speak for it).
pub(super) fn read_held_again(
    cycle: &Cycle,
    canada_post: &CanadaPostClient,
    order_id: &OrderId,
    held: &ShipmentRecord,
) -> Step<Option<ShipmentRecord>> {
    let Some(link) = held.links.iter().find(|link| link.rel == "self") else {
        return Ok(None);
    };
    let info = match canada_post.shipment(link) {
        Ok(info) => info,
        Err(error) => {
            let error = Failure::stop_if_refused(error)?;
            log::info!(
                "label: order {order_id}: reading held shipment {} again failed: {error}",
                held.shipment_id
            );
            return Ok(None);
        }
    };
    if info.shipment_id != held.shipment_id
        || !ShipmentStatus::allows_shipping(info.status.as_ref())
    {
        log::debug!(
            "label: order {order_id}: shipment {} is still held ({})",
            held.shipment_id,
            ShipmentStatus::describe(info.status.as_ref())
        );
        return Ok(None);
    }
    log::info!(
        "label: order {order_id}: shipment {} now reads `transmitted`; finishing its label",
        held.shipment_id
    );
    record_created(cycle, order_id, &held.request_id, info, true).map(Some)
}
