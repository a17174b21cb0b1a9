//! JSON Lines files that are only ever appended to: one complete record per line,
//! written with a single `write` and made durable with fsync before the caller goes on.
//!
//! A crash can leave the last line cut short. Loading for writing repairs that (the cut
//! record never reached the disk whole, so no API write depended on it); loading for
//! reading only warns. A complete line that does not parse is never guessed at: it is a
//! hard error naming the file and line, for a person to look at.

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::data_dir::open_private_append;

/// Whether loading may change the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TornTail {
    /// Cut the torn line off (a writing run, holding the lock).
    Repair,
    /// Leave the file alone and ignore the torn line (dry runs and read-only commands).
    Ignore,
}

/// How far a log has been read: the byte just after the last complete line, and how
/// many lines that is (for error messages that name a line).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub offset: u64,
    pub lines: u64,
}

/// Reads every record of `path`, in order. A missing file has no records.
#[cfg(test)]
pub fn load<T: DeserializeOwned>(path: &Path, torn_tail: TornTail) -> Result<Vec<T>> {
    let mut records = Vec::new();
    replay(path, Position::default(), torn_tail, |record| {
        records.push(record);
        Ok(())
    })?;
    Ok(records)
}

/// Streams the records of `path` that follow `from` to `each`, in order, and returns
/// where the log ends. Memory stays bounded by the longest line, however long the log.
/// A missing file is an empty log.
pub fn replay<T: DeserializeOwned>(
    path: &Path,
    from: Position,
    torn_tail: TornTail,
    mut each: impl FnMut(T) -> Result<()>,
) -> Result<Position> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
    {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound && from.offset == 0 => {
            return Ok(from);
        }
        Err(error) => {
            return Err(error).with_context(|| format!("cannot open {}", path.display()));
        }
    };
    let mut reader = BufReader::with_capacity(1 << 16, file);
    reader
        .seek(SeekFrom::Start(from.offset))
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut position = from;
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if read == 0 {
            return Ok(position);
        }
        if line.last() != Some(&b'\n') {
            // The last line has no ending: a crash cut it, or only its newline.
            let kept_whole = handle_torn_tail(path, &line, position.offset, torn_tail)?;
            if kept_whole {
                parse_line(path, position.lines + 1, &line, &mut each)?;
                position.lines += 1;
                position.offset += read as u64;
                if torn_tail == TornTail::Repair {
                    position.offset += 1; // the restored line ending
                }
            }
            return Ok(position);
        }
        parse_line(path, position.lines + 1, &line, &mut each)?;
        position.lines += 1;
        position.offset += read as u64;
    }
}

fn parse_line<T: DeserializeOwned>(
    path: &Path,
    line_number: u64,
    line: &[u8],
    each: &mut impl FnMut(T) -> Result<()>,
) -> Result<()> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let record = serde_json::from_slice(line).with_context(|| {
        format!(
            "{}:{line_number}: corrupt line in a history log; bbship will not guess what it said. \
             Move the file aside or fix the line by hand",
            path.display(),
        )
    })?;
    each(record)
}

/// Deals with a last line that has no line ending. Returns whether it is a whole record
/// to keep: one that lost only its newline was written in full, and what it says (such
/// as a created shipment) is worth more than the lost byte.
fn handle_torn_tail(path: &Path, tail: &[u8], keep: u64, torn_tail: TornTail) -> Result<bool> {
    let whole = serde_json::from_slice::<serde_json::Value>(tail).is_ok();
    match torn_tail {
        TornTail::Ignore => {
            if !whole {
                log::warn!(
                    "{}: the last line is incomplete ({} bytes, probably a crash mid-write); \
                     ignoring it. The next writing run repairs it",
                    path.display(),
                    tail.len()
                );
            }
            Ok(whole)
        }
        TornTail::Repair => {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(path)
                .with_context(|| format!("cannot open {} to repair it", path.display()))?;
            if whole {
                file.seek(SeekFrom::End(0))?;
                file.write_all(b"\n")?;
                log::warn!(
                    "{}: the last line had lost its line ending (a crash mid-write); restored it",
                    path.display()
                );
            } else {
                file.set_len(keep)
                    .with_context(|| format!("cannot repair {}", path.display()))?;
                log::warn!(
                    "{}: removed an incomplete last line ({} bytes) left by a crash mid-write; \
                     the step it described had not been carried out",
                    path.display(),
                    tail.len()
                );
            }
            file.sync_all()
                .with_context(|| format!("cannot repair {}", path.display()))?;
            Ok(whole)
        }
    }
}

/// A history log open for appending. Appends from several threads are whole lines in
/// the order they took the mutex.
#[derive(Debug)]
pub struct AppendLog {
    path: PathBuf,
    file: Mutex<File>,
}

impl AppendLog {
    pub fn open(path: &Path) -> Result<AppendLog> {
        let file = open_private_append(path)
            .with_context(|| format!("cannot open {} for appending", path.display()))?;
        Ok(AppendLog {
            path: path.to_owned(),
            file: Mutex::new(file),
        })
    }

    /// Appends one record and waits until it is on disk; returns the bytes written.
    pub fn append<T: Serialize>(&self, record: &T) -> Result<u64> {
        let encoded = serde_json::to_string(record)
            .with_context(|| format!("cannot encode a record for {}", self.path.display()))?;
        // Records quote what servers answered, and a server may echo a credential.
        let mut line = crate::secret::redact_json(&encoded).into_bytes();
        line.push(b'\n');
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .with_context(|| format!("cannot append to {}", self.path.display()))?;
        Ok(line.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Entry {
        n: u32,
    }

    fn write(path: &Path, text: &str) {
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn appended_records_load_back_in_order() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("log.jsonl");
        let log = AppendLog::open(&path).unwrap();
        for n in 0..3 {
            log.append(&Entry { n }).unwrap();
        }
        let entries: Vec<Entry> = load(&path, TornTail::Repair).unwrap();
        assert_eq!(
            entries,
            vec![Entry { n: 0 }, Entry { n: 1 }, Entry { n: 2 }]
        );
    }

    #[test]
    fn a_missing_file_has_no_records() {
        let temp = tempfile::tempdir().unwrap();
        let entries: Vec<Entry> = load(&temp.path().join("none"), TornTail::Repair).unwrap();
        assert!(entries.is_empty());
    }

    #[test]
    fn a_torn_last_line_is_removed_when_repairing() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("log.jsonl");
        write(&path, "{\"n\":1}\n{\"n\":2}\n{\"n\":");
        let entries: Vec<Entry> = load(&path, TornTail::Repair).unwrap();
        assert_eq!(entries, vec![Entry { n: 1 }, Entry { n: 2 }]);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"n\":1}\n{\"n\":2}\n"
        );
    }

    #[test]
    fn a_torn_last_line_is_left_alone_when_only_reading() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("log.jsonl");
        write(&path, "{\"n\":1}\n{\"n\":");
        let entries: Vec<Entry> = load(&path, TornTail::Ignore).unwrap();
        assert_eq!(entries, vec![Entry { n: 1 }]);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"n\":1}\n{\"n\":"
        );
    }

    #[test]
    fn a_whole_record_that_lost_its_newline_is_kept() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("log.jsonl");
        write(&path, "{\"n\":1}\n{\"n\":2}");
        let entries: Vec<Entry> = load(&path, TornTail::Repair).unwrap();
        assert_eq!(entries, vec![Entry { n: 1 }, Entry { n: 2 }]);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"n\":1}\n{\"n\":2}\n"
        );
        // Appending after the repair starts a new line.
        AppendLog::open(&path)
            .unwrap()
            .append(&Entry { n: 3 })
            .unwrap();
        let entries: Vec<Entry> = load(&path, TornTail::Repair).unwrap();
        assert_eq!(entries.len(), 3);
    }

    #[test]
    fn a_corrupt_complete_line_is_an_error_naming_file_and_line() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("log.jsonl");
        write(&path, "{\"n\":1}\nnot json\n{\"n\":3}\n");
        let error = load::<Entry>(&path, TornTail::Repair).unwrap_err();
        let message = format!("{error:#}");
        assert!(message.contains("log.jsonl:2"), "{message}");
        // Nothing was changed.
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"n\":1}\nnot json\n{\"n\":3}\n"
        );
    }

    #[test]
    fn a_replay_from_a_position_reads_only_what_follows_and_counts_lines_on() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("log.jsonl");
        let log = AppendLog::open(&path).unwrap();
        for n in 0..3 {
            log.append(&Entry { n }).unwrap();
        }
        let mut seen = Vec::new();
        let middle = replay(
            &path,
            Position::default(),
            TornTail::Repair,
            |entry: Entry| {
                seen.push(entry.n);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, vec![0, 1, 2]);
        assert_eq!(middle.lines, 3);
        assert_eq!(middle.offset, std::fs::metadata(&path).unwrap().len());

        log.append(&Entry { n: 3 }).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"not json\n")
            .unwrap();
        let mut seen = Vec::new();
        let error = replay(&path, middle, TornTail::Repair, |entry: Entry| {
            seen.push(entry.n);
            Ok(())
        })
        .unwrap_err();
        assert_eq!(seen, vec![3]);
        assert!(format!("{error:#}").contains("log.jsonl:5"), "{error:#}");
    }
}
