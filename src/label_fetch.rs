//! Fetching a shipment's label: every page downloaded, asked again while Canada Post says
//! it is not ready, inspected (a PDF, 4x6), and saved under `labels/`. The label phase and
//! `bbship reprint` both fetch through here and only word the outcome themselves; neither
//! ever creates a shipment, so nothing here can buy one.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use crate::canadapost::label_check::{self, LabelProblem};
use crate::canadapost::types::AccountKind;
use crate::canadapost::{CanadaPostClient, CanadaPostError, LabelDownload, Link};
use crate::config::Limits;
use crate::data_dir::DataDir;
use crate::ids::OrderId;
use crate::journal::SavedLabel;
use crate::labels;

/// The longest wait between two downloads of a label that is not ready.
const MAX_LABEL_BACKOFF: Duration = Duration::from_secs(8);

/// How long to keep asking for a label that is not ready.
#[derive(Clone, Copy)]
pub struct Patience<'a> {
    /// `label_wait_secs` bounds the waiting for each page, `label_retry_initial_ms` the
    /// first wait (doubled each time, up to `MAX_LABEL_BACKOFF`).
    pub limits: &'a Limits,
    /// No wait that would end after this (a cycle's deadline).
    pub deadline: Option<Instant>,
}

/// What to do with a download that is no label at all (empty, or not a PDF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IfNotALabel {
    /// Save nothing: `FetchError::NotALabel`.
    Refuse,
    /// Save it, with a `PageNote::Unconfirmed`.
    Save,
}

/// The label pages saved, and what the inspection said of those that are not plain 4x6.
#[derive(Debug)]
pub struct Fetched {
    pub saved: Vec<SavedLabel>,
    /// When the files were saved (their names say it too).
    pub at: DateTime<Utc>,
    pub notes: Vec<PageNote>,
}

/// A saved page that is not a confirmed 4x6 label: the label is paid for, so it is kept.
#[derive(Debug, thiserror::Error)]
pub enum PageNote {
    /// What a non-contract label is: its request cannot ask for 4x6, and it comes as a
    /// letter page holding the label.
    #[error("{0}")]
    LetterPage(LabelProblem),
    /// A page of another size.
    #[error("{0}")]
    NotFourBySix(LabelProblem),
    /// Its page size could not be read (or it is no PDF, when such a page is saved).
    #[error("{0}")]
    Unconfirmed(LabelProblem),
}

/// Why no label was saved.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Canada Post kept saying the label is not ready.
    #[error("not ready after {attempts} tries ({why})")]
    NotReady { attempts: u32, why: String },
    /// Canada Post's own 404: it does not know the label (the error has what it said).
    #[error(transparent)]
    NotServed(CanadaPostError),
    /// The download is no label (empty, or not a PDF), refused by `IfNotALabel::Refuse`.
    #[error(transparent)]
    NotALabel(LabelProblem),
    /// Any other error of the download, a refused credential included.
    #[error(transparent)]
    Api(CanadaPostError),
    /// The pages could not be written under `labels/`.
    #[error(transparent)]
    Save(anyhow::Error),
}

/// Downloads, inspects and saves every page of one order's label, in the order of
/// `links`.
pub fn fetch(
    canada_post: &CanadaPostClient,
    links: &[&Link],
    patience: Patience,
    if_not_a_label: IfNotALabel,
    data_dir: &DataDir,
    order_id: &OrderId,
) -> Result<Fetched, FetchError> {
    let mut pages = Vec::with_capacity(links.len());
    let mut page_counts = Vec::with_capacity(links.len());
    let mut notes = Vec::new();
    for link in links {
        let bytes = download(canada_post, link, patience, order_id)?;
        match label_check::inspect_label(&bytes) {
            Ok(inspection) => page_counts.push(inspection.pages),
            Err(problem) => {
                notes.push(note(problem, canada_post.account(), if_not_a_label)?);
                page_counts.push(1);
            }
        }
        pages.push(bytes);
    }
    let at = Utc::now();
    let saved =
        labels::save(data_dir, order_id, &pages, &page_counts, at).map_err(FetchError::Save)?;
    Ok(Fetched { saved, at, notes })
}

/// What a page that is not a plain 4x6 PDF is, or why it is refused.
fn note(
    problem: LabelProblem,
    account: AccountKind,
    if_not_a_label: IfNotALabel,
) -> Result<PageNote, FetchError> {
    Ok(match problem {
        LabelProblem::Empty | LabelProblem::NotPdf if if_not_a_label == IfNotALabel::Refuse => {
            return Err(FetchError::NotALabel(problem));
        }
        problem if problem.is_letter_page() && account == AccountKind::NonContract => {
            PageNote::LetterPage(problem)
        }
        problem @ LabelProblem::WrongPageSize { .. } => PageNote::NotFourBySix(problem),
        problem => PageNote::Unconfirmed(problem),
    })
}

/// One label page, asking again while Canada Post says it is not ready.
fn download(
    canada_post: &CanadaPostClient,
    link: &Link,
    patience: Patience,
    order_id: &OrderId,
) -> Result<Vec<u8>, FetchError> {
    let limits = patience.limits;
    let started = Instant::now();
    let mut wait = Duration::from_millis(limits.label_retry_initial_ms.get());
    let mut attempts = 0u32;
    loop {
        attempts = attempts.saturating_add(1);
        match canada_post.label(link) {
            Ok(LabelDownload::Pdf(bytes)) => return Ok(bytes),
            Ok(LabelDownload::NotReady(why)) => {
                let past_deadline = patience.deadline.is_some_and(|deadline| {
                    Instant::now()
                        .checked_add(wait)
                        .is_none_or(|then| then > deadline)
                });
                if started.elapsed().saturating_add(wait)
                    > Duration::from_secs(limits.label_wait_secs)
                    || past_deadline
                {
                    return Err(FetchError::NotReady { attempts, why });
                }
                log::debug!(
                    "label: order {order_id}: label not ready ({why}); asking again in {} ms",
                    wait.as_millis()
                );
                std::thread::sleep(wait);
                wait = wait.saturating_mul(2).min(MAX_LABEL_BACKOFF);
            }
            Err(error @ CanadaPostError::NotFound { .. }) => {
                return Err(FetchError::NotServed(error));
            }
            Err(error) => return Err(FetchError::Api(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrong_size(width_points: f64, height_points: f64) -> LabelProblem {
        LabelProblem::WrongPageSize {
            width_points,
            height_points,
        }
    }

    #[test]
    fn each_page_problem_is_noted_or_refused_as_the_caller_asked() {
        use AccountKind::{Contract, NonContract};
        let letter = || wrong_size(612.0, 792.0);
        assert!(matches!(
            note(letter(), NonContract, IfNotALabel::Save),
            Ok(PageNote::LetterPage(_))
        ));
        // A contract label can ask for 4x6: a letter page is just the wrong size.
        assert!(matches!(
            note(letter(), Contract, IfNotALabel::Save),
            Ok(PageNote::NotFourBySix(_))
        ));
        assert!(matches!(
            note(wrong_size(100.0, 100.0), NonContract, IfNotALabel::Refuse),
            Ok(PageNote::NotFourBySix(_))
        ));
        assert!(matches!(
            note(LabelProblem::NoPage, Contract, IfNotALabel::Refuse),
            Ok(PageNote::Unconfirmed(LabelProblem::NoPage))
        ));
        for problem in [LabelProblem::Empty, LabelProblem::NotPdf] {
            let refused = note(problem, Contract, IfNotALabel::Refuse).unwrap_err();
            assert!(matches!(refused, FetchError::NotALabel(_)), "{refused:?}");
        }
        assert!(matches!(
            note(LabelProblem::NotPdf, Contract, IfNotALabel::Save),
            Ok(PageNote::Unconfirmed(LabelProblem::NotPdf))
        ));
    }

    #[test]
    fn the_outcomes_say_what_happened() {
        let not_ready = FetchError::NotReady {
            attempts: 3,
            why: "HTTP 202".to_owned(),
        };
        assert_eq!(not_ready.to_string(), "not ready after 3 tries (HTTP 202)");
        let not_served = FetchError::NotServed(CanadaPostError::NotFound {
            detail: "gone".to_owned(),
        });
        assert_eq!(
            not_served.to_string(),
            "Canada Post has no such resource (HTTP 404): gone"
        );
    }
}
