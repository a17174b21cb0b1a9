//! The journal's checkpoint, `logs/journal_checkpoint.json`: what the history logs said
//! up to a recorded byte position in each, so that a run replays only the lines appended
//! since, however long the history grows.
//!
//! The logs stay the only record. The checkpoint is derived from them and can be deleted
//! at any time: the next run then replays every log once and writes a new one. One that
//! does not match its logs (its version, a log shorter than its position, or different
//! bytes just before that position: a log replaced or restored from a backup) is ignored
//! with a warning, for the same full replay.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader};
use std::os::unix::fs::FileExt;
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::jsonl::Position;
use super::{OrderRecord, PrintBook, SettledOrder};
use crate::ids::OrderId;
use crate::labels::sha256_hex;

/// Changed whenever the meaning of a field changes; another version is ignored. 2: the
/// print journal is one of the logs, its orders in `prints`.
pub const VERSION: u32 = 2;

/// How many bytes before a log's position must match for the checkpoint to be trusted.
const FINGERPRINT_BYTES: u64 = 256;

/// Where the checkpoint stopped in one log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogMark {
    pub position: Position,
    /// SHA-256 of the (up to) 256 bytes before `position.offset`.
    pub fingerprint: String,
}

impl LogMark {
    /// Marks `path` at `position`.
    pub fn take(path: &Path, position: Position) -> Result<LogMark> {
        Ok(LogMark {
            position,
            fingerprint: fingerprint(path, position.offset)
                .with_context(|| format!("cannot read {}", path.display()))?,
        })
    }

    /// Whether `path` still holds, up to this mark, what it held when the mark was taken.
    pub fn still_matches(&self, path: &Path) -> bool {
        fingerprint(path, self.position.offset).is_ok_and(|now| now == self.fingerprint)
    }
}

fn fingerprint(path: &Path, offset: u64) -> io::Result<String> {
    if offset == 0 {
        return Ok(sha256_hex(b""));
    }
    let file = File::open(path)?;
    let start = offset.saturating_sub(FINGERPRINT_BYTES);
    let mut bytes = vec![0; usize::try_from(offset - start).unwrap_or(0)];
    file.read_exact_at(&mut bytes, start)?;
    Ok(sha256_hex(&bytes))
}

/// The checkpoint as read back.
#[derive(Debug, Deserialize)]
pub struct Checkpoint {
    pub version: u32,
    /// Each log's mark, by file name.
    pub logs: BTreeMap<String, LogMark>,
    pub settled: BTreeMap<OrderId, SettledOrder>,
    pub active: BTreeMap<OrderId, OrderRecord>,
    pub prints: PrintBook,
}

/// The checkpoint as written, borrowing the journal's maps rather than copying them.
#[derive(Serialize)]
pub struct CheckpointToWrite<'a> {
    pub version: u32,
    pub written_at: DateTime<Utc>,
    pub logs: &'a BTreeMap<String, LogMark>,
    pub settled: &'a BTreeMap<OrderId, SettledOrder>,
    pub active: &'a BTreeMap<OrderId, OrderRecord>,
    pub prints: &'a PrintBook,
}

/// Reads the checkpoint at `path`: `None` when there is none or it cannot be used (with a
/// warning saying why, for the latter).
pub fn read(path: &Path) -> Option<Checkpoint> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return None,
        Err(error) => {
            log::warn!(
                "cannot read the journal checkpoint {} ({error}); replaying every history log",
                path.display()
            );
            return None;
        }
    };
    // Parsed as it is read rather than read whole first: the checkpoint holds every order
    // ever shipped, and its bytes held whole would add their size to the open's peak.
    match serde_json::from_reader::<_, Checkpoint>(BufReader::new(file)) {
        Ok(checkpoint) if checkpoint.version == VERSION => Some(checkpoint),
        Ok(checkpoint) => {
            log::warn!(
                "the journal checkpoint {} has version {} (this bbship writes {VERSION}); \
                 replaying every history log",
                path.display(),
                checkpoint.version
            );
            None
        }
        Err(error) => {
            log::warn!(
                "the journal checkpoint {} does not read ({error}); replaying every history log",
                path.display()
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_matches_until_the_bytes_before_it_change() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("log.jsonl");
        std::fs::write(&path, "{\"n\":1}\n{\"n\":2}\n").unwrap();
        let mark = LogMark::take(
            &path,
            Position {
                offset: 16,
                lines: 2,
            },
        )
        .unwrap();
        // Appending after the mark changes nothing.
        std::fs::write(&path, "{\"n\":1}\n{\"n\":2}\n{\"n\":3}\n").unwrap();
        assert!(mark.still_matches(&path));
        // A log replaced by another, or cut short, no longer matches.
        std::fs::write(&path, "{\"n\":1}\n{\"n\":9}\n{\"n\":3}\n").unwrap();
        assert!(!mark.still_matches(&path));
        std::fs::write(&path, "{\"n\":1}\n").unwrap();
        assert!(!mark.still_matches(&path));
        std::fs::remove_file(&path).unwrap();
        assert!(!mark.still_matches(&path));
    }

    #[test]
    fn a_mark_at_the_start_matches_a_missing_or_any_log() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("absent.jsonl");
        let mark = LogMark::take(&path, Position::default()).unwrap();
        assert!(mark.still_matches(&path));
    }

    #[test]
    fn an_unreadable_or_foreign_checkpoint_is_not_used() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("journal_checkpoint.json");
        assert!(read(&path).is_none());
        std::fs::write(&path, "{not json").unwrap();
        assert!(read(&path).is_none());
        std::fs::write(
            &path,
            r#"{"version":999,"logs":{},"settled":{},"active":{},"prints":{"active":{},"settled":{}}}"#,
        )
        .unwrap();
        assert!(read(&path).is_none());
        std::fs::write(
            &path,
            format!(
                r#"{{"version":{VERSION},"logs":{{}},"settled":{{}},"active":{{}},"prints":{{"active":{{}},"settled":{{}}}}}}"#
            ),
        )
        .unwrap();
        assert!(read(&path).is_some());
    }
}
