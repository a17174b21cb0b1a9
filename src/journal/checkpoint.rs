//! The journal's checkpoint, `logs/journal_checkpoint.json`: what the history logs said
//! up to a recorded byte position in each, so that a run replays only the lines appended
//! since, however long the history grows.
//!
//! The logs stay the only record. The checkpoint is derived from them and can be deleted
//! at any time: the next run then replays every log once and writes a new one. One that
//! does not match its logs (its version, a log shorter than its position, or different
//! bytes just before that position: a log replaced or restored from a backup) is ignored
//! with a warning, for the same full replay.
//!
//! It is JSON Lines: a first line with the version, each log's mark, the orders in
//! progress and how many settled orders follow, then one line per settled order, in id
//! order, holding both what the shipping journal and what the print journal keep of it:
//! `[order id, [shipment id, PIN, [label file, …], [due, base, taxes] in cents or null]
//! or null, [[[saved at, [label file, …] or null, slip, print], …], [other printed file,
//! …], {failed file: [since, reason]}] or null]`. A set saved with exactly the order's
//! label files says `null` for them rather than repeating the paths. Every order ever
//! shipped has a line, so the lines are kept quick to read: positions instead of field
//! names, amounts as cents, the time a set was saved as nanoseconds since 1970. Read a
//! line at a time, the checkpoint adds no more than its longest line to the open's peak.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::marker::PhantomData;
use std::os::unix::fs::FileExt;
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use chrono::{DateTime, Utc};
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::jsonl::Position;
use super::print::{PrintRecord, SavedSet, SettledPrint};
use super::{OrderRecord, PrintBook, SettledOrder};
use crate::canadapost::money::{Cad, Postage};
use crate::canadapost::types::ShipmentId;
use crate::ids::OrderId;
use crate::labels::sha256_hex;

/// Changed whenever the meaning of a field changes; another version is ignored. 2: the
/// print journal is one of the logs, its orders in `prints`. 3: JSON Lines, one line per
/// settled order for both journals. 4: an order's open create attempts each carry their
/// time (one list, where two were kept side by side).
pub const VERSION: u32 = 4;

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
#[derive(Debug)]
pub struct Checkpoint {
    /// Each log's mark, by file name.
    pub logs: BTreeMap<String, LogMark>,
    pub settled: BTreeMap<OrderId, SettledOrder>,
    pub active: BTreeMap<OrderId, OrderRecord>,
    pub prints: PrintBook,
}

/// The checkpoint to write, borrowing the journal's maps rather than copying them.
pub struct CheckpointToWrite<'a> {
    pub written_at: DateTime<Utc>,
    pub logs: &'a BTreeMap<String, LogMark>,
    pub settled: &'a BTreeMap<OrderId, SettledOrder>,
    pub active: &'a BTreeMap<OrderId, OrderRecord>,
    pub prints: &'a PrintBook,
}

/// The first line's version alone: what is read of a checkpoint of another version.
#[derive(Deserialize)]
struct Version {
    version: u32,
}

/// The first line, as read back.
#[derive(Deserialize)]
struct Header {
    logs: BTreeMap<String, LogMark>,
    active: BTreeMap<OrderId, OrderRecord>,
    printing: BTreeMap<OrderId, PrintRecord>,
    settled: u64,
}

/// The first line, as written.
#[derive(Serialize)]
struct HeaderToWrite<'a> {
    version: u32,
    written_at: DateTime<Utc>,
    logs: &'a BTreeMap<String, LogMark>,
    active: &'a BTreeMap<OrderId, OrderRecord>,
    /// The print journal's orders in progress.
    printing: &'a BTreeMap<OrderId, PrintRecord>,
    /// How many settled orders' lines follow: a checkpoint cut short is not believed.
    settled: u64,
}

/// A settled order's line, as read back (see the module's description).
#[derive(Deserialize)]
struct Row(OrderId, Option<ShippingRow>, Option<PrintingRow>);

#[derive(Deserialize)]
struct ShippingRow(
    Option<ShipmentId>,
    Option<String>,
    Exact<String>,
    Option<PostageRow>,
);

/// A postage's due, base and taxes, in cents.
#[derive(Serialize, Deserialize)]
struct PostageRow(i64, Option<i64>, Option<i64>);

#[derive(Deserialize)]
struct PrintingRow(
    Exact<SetRow>,
    Vec<String>,
    BTreeMap<String, (DateTime<Utc>, String)>,
);

/// A saved set: when, its labels (`None`: the order's label files), its slip, whether
/// to print.
#[derive(Deserialize)]
struct SetRow(Nanos, Option<Exact<String>>, Option<String>, bool);

/// A settled order's line, as written.
#[derive(Serialize)]
struct RowToWrite<'a>(
    &'a OrderId,
    Option<ShippingRowToWrite<'a>>,
    Option<PrintingRowToWrite<'a>>,
);

#[derive(Serialize)]
struct ShippingRowToWrite<'a>(
    Option<&'a ShipmentId>,
    Option<&'a str>,
    &'a [String],
    Option<PostageRow>,
);

#[derive(Serialize)]
struct PrintingRowToWrite<'a>(
    Vec<SetRowToWrite<'a>>,
    &'a [String],
    &'a BTreeMap<String, (DateTime<Utc>, String)>,
);

#[derive(Serialize)]
struct SetRowToWrite<'a>(Nanos, Option<&'a [String]>, Option<&'a str>, bool);

/// A list read back into exactly the room it takes. Read element by element, a list
/// grows by doubling and must then be shrunk; nearly every list here holds one element.
struct Exact<T>(Box<[T]>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Exact<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Elements<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Elements<T> {
            type Value = Exact<T>;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Exact<T>, A::Error> {
                let mut elements = Vec::new();
                while let Some(element) = seq.next_element()? {
                    elements.reserve_exact(1);
                    elements.push(element);
                }
                Ok(Exact(elements.into_boxed_slice()))
            }
        }
        deserializer.deserialize_seq(Elements(PhantomData))
    }
}

/// An instant as nanoseconds since 1970, much faster to read back than its text; the
/// text for one that has no such number (a leap second, or outside 1677–2262), so that
/// every instant reads back exactly as it was.
#[derive(Clone, Copy)]
struct Nanos(DateTime<Utc>);

impl Serialize for Nanos {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let leap_second = self.0.timestamp_subsec_nanos() >= 1_000_000_000;
        match self.0.timestamp_nanos_opt() {
            Some(nanos) if !leap_second => serializer.serialize_i64(nanos),
            _ => self.0.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Nanos {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Instant;
        impl Visitor<'_> for Instant {
            type Value = Nanos;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("nanoseconds since 1970 or an RFC 3339 date and time")
            }
            fn visit_i64<E: de::Error>(self, nanos: i64) -> Result<Nanos, E> {
                Ok(Nanos(DateTime::from_timestamp_nanos(nanos)))
            }
            fn visit_u64<E: de::Error>(self, nanos: u64) -> Result<Nanos, E> {
                let nanos = i64::try_from(nanos).map_err(E::custom)?;
                self.visit_i64(nanos)
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Nanos, E> {
                text.parse().map(Nanos).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Instant)
    }
}

impl PostageRow {
    fn of(postage: &Postage) -> PostageRow {
        PostageRow(
            postage.due.cents(),
            postage.base.map(Cad::cents),
            postage.taxes.map(Cad::cents),
        )
    }

    fn postage(&self) -> Postage {
        Postage {
            due: Cad::from_cents(self.0),
            base: self.1.map(Cad::from_cents),
            taxes: self.2.map(Cad::from_cents),
        }
    }
}

impl CheckpointToWrite<'_> {
    /// The checkpoint's text (see the module's description).
    pub fn encode(&self) -> Result<String> {
        let rows = || settled_pairs(self.settled, &self.prints.settled);
        let header = HeaderToWrite {
            version: VERSION,
            written_at: self.written_at,
            logs: self.logs,
            active: self.active,
            printing: &self.prints.active,
            settled: rows().count() as u64,
        };
        let mut out =
            serde_json::to_vec(&header).context("encoding the checkpoint's first line")?;
        out.push(b'\n');
        for (order_id, shipping, printing) in rows() {
            let label_files = shipping.map(|order| order.label_files.as_slice());
            let row = RowToWrite(
                order_id,
                shipping.map(|order| {
                    ShippingRowToWrite(
                        order.shipment_id.as_ref(),
                        order.tracking_pin.as_deref(),
                        &order.label_files,
                        order.postage.as_ref().map(PostageRow::of),
                    )
                }),
                printing.map(|print| {
                    let sets = print.saved.iter().map(|set| {
                        let same = label_files == Some(&*set.labels);
                        let labels = (!same).then_some(&*set.labels);
                        SetRowToWrite(Nanos(set.at), labels, set.slip.as_deref(), set.print)
                    });
                    PrintingRowToWrite(sets.collect(), &print.extra_printed, &print.failures)
                }),
            );
            serde_json::to_writer(&mut out, &row)
                .with_context(|| format!("encoding settled order {order_id} for the checkpoint"))?;
            out.push(b'\n');
        }
        String::from_utf8(out).context("encoding the journal checkpoint")
    }
}

/// Every order settled in either journal, in id order, with what each keeps of it.
fn settled_pairs<'a>(
    shipping: &'a BTreeMap<OrderId, SettledOrder>,
    printing: &'a BTreeMap<OrderId, SettledPrint>,
) -> impl Iterator<
    Item = (
        &'a OrderId,
        Option<&'a SettledOrder>,
        Option<&'a SettledPrint>,
    ),
> {
    let mut shipping = shipping.iter().peekable();
    let mut printing = printing.iter().peekable();
    std::iter::from_fn(move || {
        let order = match (shipping.peek(), printing.peek()) {
            (None, None) => return None,
            (Some((id, _)), None) => *id,
            (None, Some((id, _))) => *id,
            (Some((left, _)), Some((right, _))) => (*left).min(*right),
        };
        let shipped = shipping
            .next_if(|(id, _)| *id == order)
            .map(|(_, value)| value);
        let printed = printing
            .next_if(|(id, _)| *id == order)
            .map(|(_, value)| value);
        Some((order, shipped, printed))
    })
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
    match decode(BufReader::with_capacity(1 << 16, file)) {
        Ok(checkpoint) => Some(checkpoint),
        Err(unusable) => {
            log::warn!(
                "the journal checkpoint {} {unusable}; replaying every history log",
                path.display(),
            );
            None
        }
    }
}

/// Why a checkpoint on disk is not used (a full replay is made instead).
#[derive(Debug, thiserror::Error)]
enum Unusable {
    #[error("has version {0} (this bbship writes {VERSION})")]
    OtherVersion(u32),
    #[error("does not read ({0:#})")]
    Unreadable(#[from] anyhow::Error),
}

/// The checkpoint `reader` holds. Read a line at a time, each parsed from memory (much
/// faster than from a reader), so only the longest line is ever held whole.
fn decode(mut reader: impl BufRead) -> Result<Checkpoint, Unusable> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line).context("line 1")?;
    let version = serde_json::from_slice::<Version>(&line)
        .context("line 1")?
        .version;
    if version != VERSION {
        return Err(Unusable::OtherVersion(version));
    }
    Ok(decode_current(&line, reader)?)
}

/// The rest of a checkpoint of this version, after its first line.
fn decode_current(line: &[u8], mut reader: impl BufRead) -> Result<Checkpoint> {
    let header: Header = serde_json::from_slice(line).context("line 1")?;
    let mut line = Vec::new();
    // Collected, then built into maps in one pass each: the lines are in id order, and a
    // map built from sorted entries has full nodes, where one grown an order at a time
    // is half empty (and slower to grow, each insert searching the tree).
    let mut shipped: Vec<(OrderId, SettledOrder)> = Vec::new();
    let mut printed: Vec<(OrderId, SettledPrint)> = Vec::new();
    for number in 0..header.settled {
        line.clear();
        reader.read_until(b'\n', &mut line)?;
        let line_number = number + 2;
        let Row(order_id, shipping, printing) =
            serde_json::from_slice(&line).with_context(|| format!("line {line_number}"))?;
        // In strictly increasing id order, as written: two lines for an order would
        // otherwise be merged silently.
        let last = (shipped.last().map(|(id, _)| id)).max(printed.last().map(|(id, _)| id));
        ensure!(
            last.is_none_or(|last| *last < order_id),
            "line {line_number}: order {order_id} is out of order"
        );
        let label_files = shipping.as_ref().map(|shipping| &*shipping.2.0);
        let printing = match printing {
            Some(printing) => Some(
                settled_print(printing, label_files)
                    .with_context(|| format!("line {line_number}, order {order_id}"))?,
            ),
            None => None,
        };
        let shipping = shipping.map(
            |ShippingRow(shipment_id, tracking_pin, Exact(label_files), postage)| SettledOrder {
                shipment_id,
                tracking_pin,
                label_files: label_files.into_vec(),
                postage: postage.as_ref().map(PostageRow::postage),
            },
        );
        match (shipping, printing) {
            (Some(shipping), Some(printing)) => {
                printed.push((order_id.clone(), printing));
                shipped.push((order_id, shipping));
            }
            (Some(shipping), None) => shipped.push((order_id, shipping)),
            (None, Some(printing)) => printed.push((order_id, printing)),
            (None, None) => bail!("line {line_number}: order {order_id} is settled nowhere"),
        }
    }
    line.clear();
    reader.read_until(b'\n', &mut line)?;
    ensure!(
        line.is_empty(),
        "more lines than the {} settled orders it counts",
        header.settled
    );
    let settled = shipped.into_iter().collect();
    let prints_settled = printed.into_iter().collect();
    Ok(Checkpoint {
        logs: header.logs,
        settled,
        active: header.active,
        prints: PrintBook {
            active: header.printing,
            settled: prints_settled,
        },
    })
}

/// A print journal's settled order from its line, its sets' `null` labels being
/// `label_files`, those of the order's shipping side.
fn settled_print(row: PrintingRow, label_files: Option<&[String]>) -> Result<SettledPrint> {
    let PrintingRow(Exact(sets), extra_printed, failures) = row;
    let mut saved = Vec::with_capacity(sets.len());
    for SetRow(Nanos(at), labels, slip, print) in sets {
        let labels = match labels {
            Some(Exact(labels)) => labels,
            None => label_files
                .context("a set saved says it has the order's label files, but the order has none")?
                .into(),
        };
        saved.push(SavedSet {
            at,
            labels,
            slip,
            print,
        });
    }
    Ok(SettledPrint {
        saved: saved.into_boxed_slice(),
        extra_printed,
        failures,
    })
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
        // A checkpoint in the shape version 2 had (one object, both journals' settled
        // orders apart) says its version and no more is read of it.
        let older = r#"{"version":2,"logs":{},"settled":{},"active":{},"prints":{"active":{},"settled":{}}}"#;
        assert!(matches!(
            decode(older.as_bytes()),
            Err(Unusable::OtherVersion(2))
        ));
        let empty = PrintBook::default();
        let current = CheckpointToWrite {
            written_at: instant("2026-12-01T00:00:00Z"),
            logs: &BTreeMap::new(),
            settled: &BTreeMap::new(),
            active: &BTreeMap::new(),
            prints: &empty,
        };
        std::fs::write(&path, current.encode().unwrap()).unwrap();
        assert!(read(&path).is_some());
    }

    fn instant(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn id(text: &str) -> OrderId {
        text.parse().unwrap()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|item| (*item).to_owned()).collect()
    }

    fn set(at: DateTime<Utc>, labels: &[&str], slip: Option<&str>, print: bool) -> SavedSet {
        SavedSet {
            at,
            labels: strings(labels).into_boxed_slice(),
            slip: slip.map(str::to_owned),
            print,
        }
    }

    /// Orders settled in both journals or in one, with and without a price, label files
    /// named once or twice, files printed outside any set, a failure kept, and instants
    /// that have no number of nanoseconds.
    fn book() -> (BTreeMap<OrderId, SettledOrder>, PrintBook) {
        let shipment = |text: &str| Some(ShipmentId::try_from(text.to_owned()).unwrap());
        let settled = BTreeMap::from([
            (
                id("1-A"),
                SettledOrder {
                    shipment_id: shipment("100"),
                    tracking_pin: Some("7023210000000010".into()),
                    label_files: strings(&["labels/1-A_1.pdf"]),
                    postage: Some(Postage {
                        due: Cad::from_cents(3158),
                        base: Some(Cad::from_cents(2795)),
                        taxes: Some(Cad::from_cents(363)),
                    }),
                },
            ),
            (
                id("2-A"),
                SettledOrder {
                    shipment_id: None,
                    tracking_pin: None,
                    label_files: Vec::new(),
                    postage: None,
                },
            ),
            (
                id("3-A"),
                SettledOrder {
                    shipment_id: shipment("300"),
                    tracking_pin: None,
                    label_files: strings(&["labels/3-A_1.pdf", "labels/3-A_2.pdf"]),
                    postage: Some(Postage {
                        due: Cad::from_cents(-75),
                        base: None,
                        taxes: None,
                    }),
                },
            ),
        ]);
        let leap_second = chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
            .unwrap()
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap()
            .and_utc();
        let settled_print = |saved: Vec<SavedSet>| SettledPrint {
            saved: saved.into_boxed_slice(),
            extra_printed: Vec::new(),
            failures: BTreeMap::new(),
        };
        let settled_prints = BTreeMap::from([
            (
                id("1-A"),
                SettledPrint {
                    extra_printed: strings(&["labels/elsewhere.pdf"]),
                    failures: BTreeMap::from([(
                        "labels/never.pdf".to_owned(),
                        (instant("2026-11-25T12:00:00Z"), "jammed".to_owned()),
                    )]),
                    ..settled_print(vec![
                        set(
                            instant("2026-11-25T12:00:00.123456789Z"),
                            &["labels/1-A_1.pdf"],
                            Some("labels/slips/1-A_1.pdf"),
                            true,
                        ),
                        set(leap_second, &["labels/1-A_0.pdf"], None, false),
                    ])
                },
            ),
            (
                id("3-A"),
                settled_print(vec![set(
                    instant("2300-01-01T00:00:00Z"),
                    &["labels/3-A_1.pdf", "labels/3-A_2.pdf"],
                    None,
                    true,
                )]),
            ),
            (
                id("4-A"),
                settled_print(vec![set(
                    instant("1900-01-01T00:00:00Z"),
                    &["labels/4-A_1.pdf"],
                    Some("labels/slips/4-A_1.pdf"),
                    false,
                )]),
            ),
        ]);
        let prints = PrintBook {
            active: BTreeMap::from([(id("5-A"), PrintRecord::default())]),
            settled: settled_prints,
        };
        (settled, prints)
    }

    fn encode(settled: &BTreeMap<OrderId, SettledOrder>, prints: &PrintBook) -> String {
        let logs = BTreeMap::from([(
            "label_journal".to_owned(),
            LogMark {
                position: Position {
                    offset: 10,
                    lines: 1,
                },
                fingerprint: "ab".into(),
            },
        )]);
        let active = BTreeMap::from([(id("6-A"), OrderRecord::default())]);
        CheckpointToWrite {
            written_at: instant("2026-12-01T00:00:00Z"),
            logs: &logs,
            settled,
            active: &active,
            prints,
        }
        .encode()
        .unwrap()
    }

    #[test]
    fn every_settled_order_reads_back_as_it_was_written() {
        let (settled, prints) = book();
        let text = encode(&settled, &prints);
        let checkpoint = decode(text.as_bytes()).unwrap();
        assert_eq!(checkpoint.settled, settled);
        assert_eq!(checkpoint.prints, prints);
        assert_eq!(checkpoint.logs["label_journal"].position.offset, 10);
        assert_eq!(checkpoint.active.keys().collect::<Vec<_>>(), [&id("6-A")]);
        // One line per order settled anywhere, each order's label files named once when
        // its set saved has the same.
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + 4, "{text}");
        assert_eq!(
            lines[1].matches("labels/1-A_1.pdf").count(),
            1,
            "{}",
            lines[1]
        );
        assert_eq!(
            lines[3].matches("labels/3-A_2.pdf").count(),
            1,
            "{}",
            lines[3]
        );
        assert_eq!(
            lines[4].matches("labels/4-A_1.pdf").count(),
            1,
            "{}",
            lines[4]
        );
    }

    #[test]
    fn a_checkpoint_cut_short_lengthened_or_reordered_is_not_used() {
        let (settled, prints) = book();
        let text = encode(&settled, &prints);
        let lines: Vec<&str> = text.lines().collect();
        let joined = |lines: &[&str]| {
            lines
                .iter()
                .map(|line| format!("{line}\n"))
                .collect::<String>()
        };
        assert!(decode(joined(&lines).as_bytes()).is_ok());
        // A set saved with "the order's label files" for an order with none settled.
        let borrowed = lines[4].replace(r#"["labels/4-A_1.pdf"]"#, "null");
        assert_ne!(borrowed, lines[4]);
        let spoiled = [
            (joined(&lines[..4]), "line 5"),
            (joined(&[&lines[..], &lines[4..]].concat()), "more lines"),
            (
                joined(&[lines[0], lines[2], lines[1], lines[3], lines[4]]),
                "out of order",
            ),
            (
                joined(&[&lines[..4], &[borrowed.as_str()]].concat()),
                "has none",
            ),
        ];
        for (text, why) in spoiled {
            let error = decode(text.as_bytes()).err().unwrap();
            assert!(
                format!("{error:#}").contains(why),
                "{error:#}, not {why}: {text}"
            );
        }
    }
}
