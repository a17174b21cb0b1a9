//! Everything after the create, for a shipment that exists: the PIN checked (offline,
//! then by Canada Post's tracking), the label downloaded and saved, and the history line
//! that finishes the label. Each step runs only if the journal does not already have it,
//! so a run that stops half-way is finished by the next one, which only ever reads the
//! existing shipment.

use chrono::{DateTime, Utc};

use super::super::{Cycle, Failure, OrderOutcome, Step};
use crate::canadapost::money::Postage;
use crate::canadapost::{CanadaPostClient, CanadaPostError, Tracking};
use crate::ids::{OrderId, TrackingPin};
use crate::journal::{FinishedSteps, LabelEvent, PinVerdict, SavedLabel, ShipmentRecord};
use crate::label_fetch::{self, FetchError, IfNotALabel, PageNote, Patience};

/// Checks the PIN, saves the label and writes the history line, each unless `done` has
/// it. A step that cannot be done this run (a PIN not checked yet, a label not ready) is
/// one of the order's problems, and the others still run.
pub(super) fn finish(
    cycle: &Cycle,
    canada_post: &CanadaPostClient,
    order_id: &OrderId,
    shipment: &ShipmentRecord,
    done: FinishedSteps,
) -> Step {
    let shipment_id = &shipment.shipment_id;
    let pin_text = shipment.tracking_pin.as_deref().unwrap_or("none");
    let mut problems: Vec<String> = Vec::new();

    let verdict = match done.pin {
        Some(verdict) => Some(verdict),
        None => match noted(check_pin(canada_post, shipment), &mut problems)? {
            Some(verdict) => {
                cycle.journal.record_label_event(LabelEvent::PinChecked {
                    order_id: order_id.clone(),
                    shipment_id: shipment_id.clone(),
                    at: Utc::now(),
                    verdict: verdict.clone(),
                })?;
                Some(verdict)
            }
            None => None,
        },
    };
    if let Some(PinVerdict::Flagged { reason }) = &verdict {
        problems.push(format!(
            "PIN {pin_text} of shipment {shipment_id} did not validate: {reason}; the order is held \
             back from Best Buy until a person checks it"
        ));
    }

    let saved = match done.labels {
        Some(saved) => Some(saved),
        None => match noted(
            download(cycle, canada_post, order_id, shipment, &mut problems),
            &mut problems,
        )? {
            Some((saved, at)) => {
                // Journaled at the time its file names carry.
                cycle.journal.record_label_event(LabelEvent::LabelSaved {
                    order_id: order_id.clone(),
                    shipment_id: shipment_id.clone(),
                    at,
                    files: saved.clone(),
                })?;
                Some(saved)
            }
            None => None,
        },
    };

    if let (Some(verdict), Some(saved)) = (&verdict, &saved) {
        cycle
            .journal
            .complete_label(order_id, shipment, verdict, saved)?;
        log::info!(
            "label: order {order_id}: shipment {shipment_id}, PIN {pin_text}, postage {}, label {}",
            Postage::describe(shipment.postage.as_ref()),
            saved
                .iter()
                .map(|label| label.path.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    if problems.is_empty() {
        Ok(OrderOutcome::Done)
    } else {
        Err(Failure::order(problems.join("; ")))
    }
}

/// A step whose failure is one of the order's problems rather than the end of its
/// finish: `None`, the reason kept in `problems`. What stops the run still stops it.
fn noted<T>(step: Step<T>, problems: &mut Vec<String>) -> Step<Option<T>> {
    match step {
        Ok(value) => Ok(Some(value)),
        Err(Failure::Order(reason)) => {
            problems.push(reason);
            Ok(None)
        }
        Err(stop @ Failure::Stop(_)) => Err(stop),
    }
}

/// The offline format and check digit first, then Get Tracking Summary. A verdict, or
/// the order's failure when there is none this run (throttle, outage: not a reason to
/// doubt the PIN).
fn check_pin(canada_post: &CanadaPostClient, shipment: &ShipmentRecord) -> Step<PinVerdict> {
    let Some(pin_text) = &shipment.tracking_pin else {
        return Ok(PinVerdict::Flagged {
            reason: "Canada Post sent no tracking PIN".to_owned(),
        });
    };
    let pin = match TrackingPin::try_from(pin_text.clone()) {
        Ok(pin) => pin,
        Err(reason) => return Ok(PinVerdict::Flagged { reason }),
    };
    match canada_post.tracking_summary(&pin) {
        Ok(Tracking::Summary(summary)) => Ok(PinVerdict::Validated {
            event: summary
                .event_type
                .or(summary.event_description)
                .filter(|event| !event.is_empty()),
        }),
        Ok(Tracking::NoHistoryYet) => Ok(PinVerdict::NoHistoryYet),
        Err(error) => match Failure::stop_if_refused(error)? {
            error @ (CanadaPostError::Rejected { .. } | CanadaPostError::NotFound { .. }) => {
                Ok(PinVerdict::Flagged {
                    reason: format!("tracking: {error}"),
                })
            }
            error => Err(Failure::order(format!(
                "PIN {pin_text} not validated yet ({error}); the next run checks it again"
            ))),
        },
    }
}

/// Downloads and saves every label page, and says when they were saved. A page that is not 4x6 is kept (it is paid for)
/// and is one of `problems`; a label that cannot be had this run fails the order and is
/// left for the next run (never a new shipment).
fn download(
    cycle: &Cycle,
    canada_post: &CanadaPostClient,
    order_id: &OrderId,
    shipment: &ShipmentRecord,
    problems: &mut Vec<String>,
) -> Step<(Vec<SavedLabel>, DateTime<Utc>)> {
    let shipment_id = &shipment.shipment_id;
    let links = crate::canadapost::answers::label_links(&shipment.links);
    if links.is_empty() {
        return Err(Failure::order(format!(
            "shipment {shipment_id} has no label link; print it from Canada Post's site"
        )));
    }
    let patience = Patience {
        limits: &cycle.config.limits,
        deadline: Some(cycle.deadline),
    };
    let fetched = label_fetch::fetch(
        canada_post,
        &links,
        patience,
        IfNotALabel::Save,
        cycle.data_dir,
        order_id,
    );
    let fetched = match fetched {
        Ok(fetched) => fetched,
        Err(FetchError::NotReady { attempts, why }) => {
            return Err(Failure::order(format!(
                "the label of shipment {shipment_id} was not ready after {attempts} tries ({why}); \
                 the next run downloads it (no new shipment is bought)"
            )));
        }
        Err(FetchError::NotServed(error)) => {
            return Err(Failure::order(format!(
                "Canada Post does not serve the label of shipment {shipment_id}: {error}; the next \
                 run tries again (no new shipment is bought); if it stays so, get it with \
                 `bbship reprint {order_id}` or from Canada Post's website"
            )));
        }
        Err(FetchError::Api(error)) => {
            let error = Failure::stop_if_refused(error)?;
            return Err(Failure::order(format!(
                "downloading the label of shipment {shipment_id} failed: {error}; the next run \
                 tries again (no new shipment is bought)"
            )));
        }
        Err(FetchError::Save(error)) => {
            // The journal would not know the files: the run stops.
            return Err(Failure::Stop(
                error.context(format!("saving the label of shipment {shipment_id}")),
            ));
        }
        // Not asked for (`IfNotALabel::Save`), so never met; the next run tries again.
        Err(error @ FetchError::NotALabel(_)) => return Err(Failure::order(error.to_string())),
    };
    let mut warning = None;
    for note in fetched.notes {
        match note {
            PageNote::LetterPage(problem) => log::info!(
                "label: order {order_id}: the non-contract label of shipment {shipment_id} is a \
                 letter page ({problem})"
            ),
            PageNote::NotFourBySix(problem) => {
                warning = Some(format!(
                    "the label of shipment {shipment_id} is not 4x6: {problem}"
                ));
            }
            PageNote::Unconfirmed(problem) => log::warn!(
                "label: order {order_id}: could not confirm the label's page size ({problem}); saved \
                 it anyway"
            ),
        }
    }
    problems.extend(warning);
    Ok((fetched.saved, fetched.at))
}
