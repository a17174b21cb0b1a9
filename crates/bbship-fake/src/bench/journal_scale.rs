//! The journal at scale: a realistic journal of many orders, made by amplifying the logs
//! of a real cycle, and the time and memory `Journal::open` takes on it, with the cost
//! of one fsynced append next to a small journal's.
//!
//! Amplifying: every `*.jsonl` file found under the template's `logs/` is copied, line by
//! line, once per batch of orders, with each order's identity rewritten (its order and
//! commercial id wherever they appear, its shipment id and its tracking PIN; the PIN
//! keeps a valid check digit). Everything else in a line stays as the real run wrote it,
//! so the lines keep their real size, including the whole order JSON of the shipped
//! orders log. Only the JSON Lines logs are copied: any other file the journal keeps
//! (such as a checkpoint of those logs) would describe the template, not the copy, so the
//! copy starts without one, as a data directory upgraded from plain logs would.

use std::io::{BufWriter, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{FakeOrder, pin_for};
use anyhow::{Context, Result, bail, ensure};
use bbship::DataDir;
use bbship::OrderId;
use bbship::RunLock;
use bbship::{AcceptedOrder, Access, Confirmation, Journal};

/// How the heap is watched while the journal opens: the bench's counting allocator. The
/// smoke test has none, and gets no memory figures. Memory that is not allocated on the
/// heap (a mapped file, say) is not counted.
#[derive(Clone, Copy)]
pub struct HeapProbe {
    /// Bytes allocated and not yet freed.
    pub current: fn() -> usize,
    /// Starts a new high-water mark at the current use.
    pub reset_peak: fn(),
    /// The most bytes allocated at once since the last reset.
    pub peak: fn() -> usize,
}

/// One identity in the template, to be replaced in each copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Identity {
    /// The commercial id (the order id without `-A`), which also rewrites the order id,
    /// the request ids, label file names and the customer id that contain it.
    CommercialId,
    ShipmentId,
    TrackingPin,
}

/// A piece of a template line: text kept as it is, or an identity of the line's order.
enum Piece {
    Text(Vec<u8>),
    Identity(Identity),
}

/// A template line, cut at its order's identities.
struct TemplateLine {
    /// Which template order the line belongs to; `None` for a line naming no order,
    /// which is copied once.
    order: Option<usize>,
    pieces: Vec<Piece>,
}

/// One template order's identities as the real run wrote them.
struct TemplateOrder {
    commercial_id: String,
    shipment_id: String,
    tracking_pin: String,
}

/// What amplifying produced.
pub struct Amplified {
    /// Each log written, relative to the data directory, and its size.
    pub files: Vec<(PathBuf, u64)>,
    /// Reading the template and writing the copies.
    pub written: Duration,
    /// The one fsync of each copy at the end.
    pub flushed: Duration,
}

impl Amplified {
    pub fn total_bytes(&self) -> u64 {
        self.files.iter().map(|(_, bytes)| bytes).sum()
    }
}

/// The order id `FakeOrder::generated(index)` has, whatever the index.
pub fn order_id_of(index: usize) -> String {
    FakeOrder::generated(index).order_id().to_owned()
}

fn commercial_id_of(index: usize) -> String {
    order_id_of(index)
        .split('-')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A shipment id for the copy: the template's, with its serial (the last 8 digits, as
/// the fake numbers them) made the order's own.
fn shipment_id_for(template: &str, index: usize) -> String {
    let keep = template.len().saturating_sub(8);
    let prefix = template.get(..keep).unwrap_or_default();
    format!("{prefix}{:08}", index + 1)
}

/// Writes, under `target`'s `logs/`, the logs of `orders` orders made from the template
/// data directory, whose orders are `FakeOrder::generated(0..template_orders)`, each
/// with its one shipment `(shipment id, PIN)` in `shipments`. Order `i` of the copy is
/// `FakeOrder::generated(i)`'s id, so the copy holds orders `0..orders`.
pub fn amplify(
    template: &Path,
    shipments: &[(String, String)],
    target: &Path,
    orders: usize,
) -> Result<Amplified> {
    let started = Instant::now();
    let template_orders: Vec<TemplateOrder> = shipments
        .iter()
        .enumerate()
        .map(|(index, (shipment_id, tracking_pin))| TemplateOrder {
            commercial_id: commercial_id_of(index),
            shipment_id: shipment_id.clone(),
            tracking_pin: tracking_pin.clone(),
        })
        .collect();
    ensure!(
        !template_orders.is_empty(),
        "the template has no orders to amplify"
    );
    let batches = orders.div_ceil(template_orders.len());
    let template_logs = template.join("logs");
    let mut files = Vec::new();
    let mut written_files = Vec::new();
    for source in jsonl_files_below(&template_logs)? {
        let relative = source
            .strip_prefix(template)
            .with_context(|| format!("{} is outside the template", source.display()))?;
        let destination = target.join(relative);
        if let Some(parent) = destination.parent() {
            // Private, as bbship makes them, so opening them warns about nothing.
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let text = std::fs::read(&source)
            .with_context(|| format!("reading the template log {}", source.display()))?;
        let lines: Vec<TemplateLine> = text
            .split_inclusive(|&byte| byte == b'\n')
            .map(|line| cut_line(line, &template_orders))
            .collect();
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&destination)
            .with_context(|| format!("creating {}", destination.display()))?;
        let mut writer = BufWriter::with_capacity(1 << 20, file);
        for batch in 0..batches {
            for line in &lines {
                let index = match line.order {
                    Some(order) => batch * template_orders.len() + order,
                    None if batch == 0 => 0,
                    None => continue,
                };
                if index >= orders {
                    continue;
                }
                write_line(&mut writer, line, index, &template_orders)?;
            }
        }
        // Buffered, with no fsync per line: the bench times reading the logs, not
        // writing them.
        let file = writer
            .into_inner()
            .map_err(|error| error.into_error())
            .with_context(|| format!("writing {}", destination.display()))?;
        let bytes = file.metadata()?.len();
        files.push((relative.to_owned(), bytes));
        written_files.push(file);
    }
    let written = started.elapsed();
    // One fsync per file at the end, timed apart: hundreds of megabytes left dirty in
    // the page cache would be written back during the timed appends (an fsync waits for
    // the file system's other pending data too) and be charged to the journal.
    let flushing = Instant::now();
    for file in &written_files {
        file.sync_all().context("flushing the amplified logs")?;
    }
    let flushed = flushing.elapsed();
    ensure!(
        !files.is_empty(),
        "no *.jsonl file under {}",
        template_logs.display()
    );
    Ok(Amplified {
        files,
        written,
        flushed,
    })
}

fn write_line(
    writer: &mut impl Write,
    line: &TemplateLine,
    index: usize,
    template_orders: &[TemplateOrder],
) -> Result<()> {
    let Some(order) = line.order.and_then(|order| template_orders.get(order)) else {
        for piece in &line.pieces {
            if let Piece::Text(text) = piece {
                writer.write_all(text)?;
            }
        }
        return Ok(());
    };
    for piece in &line.pieces {
        match piece {
            Piece::Text(text) => writer.write_all(text)?,
            Piece::Identity(Identity::CommercialId) => {
                writer.write_all(commercial_id_of(index).as_bytes())?
            }
            Piece::Identity(Identity::ShipmentId) => {
                writer.write_all(shipment_id_for(&order.shipment_id, index).as_bytes())?
            }
            Piece::Identity(Identity::TrackingPin) => {
                writer.write_all(pin_for("1234567", index as u64 + 1).as_bytes())?
            }
        }
    }
    Ok(())
}

/// Cuts `line` at the identities of the first template order it names.
fn cut_line(line: &[u8], template_orders: &[TemplateOrder]) -> TemplateLine {
    let order = (0..template_orders.len())
        .find(|&order| contains(line, template_orders[order].commercial_id.as_bytes()));
    let Some(order) = order else {
        return TemplateLine {
            order: None,
            pieces: vec![Piece::Text(line.to_vec())],
        };
    };
    let identities = [
        (
            template_orders[order].commercial_id.as_bytes(),
            Identity::CommercialId,
        ),
        (
            template_orders[order].shipment_id.as_bytes(),
            Identity::ShipmentId,
        ),
        (
            template_orders[order].tracking_pin.as_bytes(),
            Identity::TrackingPin,
        ),
    ];
    let mut pieces = Vec::new();
    let mut text = Vec::new();
    let mut at = 0;
    'scan: while at < line.len() {
        for (needle, identity) in identities {
            if !needle.is_empty() && line[at..].starts_with(needle) {
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Identity(identity));
                at += needle.len();
                continue 'scan;
            }
        }
        text.push(line[at]);
        at += 1;
    }
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    TemplateLine {
        order: Some(order),
        pieces,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

/// Every `*.jsonl` file below `root`, sorted: the journal's logs, whatever their set.
fn jsonl_files_below(root: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(directory) = pending.pop() {
        let entries = std::fs::read_dir(&directory)
            .with_context(|| format!("listing {}", directory.display()))?;
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() && path.extension().is_some_and(|ext| ext == "jsonl") {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

/// One timed `Journal::open`.
#[derive(Clone, Copy, Debug)]
pub struct OpenCost {
    pub took: Duration,
    /// The heap's high-water mark during the open, above what was in use before it.
    pub peak_heap: Option<usize>,
    /// What the open journal still holds on the heap.
    pub retained_heap: Option<usize>,
}

/// The cost of fsynced appends: the median and the slowest of several.
#[derive(Clone, Copy, Debug)]
pub struct AppendCost {
    pub median: Duration,
    pub slowest: Duration,
}

/// Opens the journal of `data_dir` and measures it. `ReadWrite` takes the run lock, as a
/// writing run does.
pub fn open_timed(
    data_dir: &DataDir,
    access: Access,
    probe: Option<HeapProbe>,
) -> Result<(Journal, Option<RunLock>, OpenCost)> {
    let lock = match access {
        Access::ReadWrite => {
            let lock = RunLock::acquire(data_dir)?;
            data_dir.create()?;
            Some(lock)
        }
        Access::ReadOnly => None,
    };
    let before = probe.map(|probe| {
        (probe.reset_peak)();
        (probe.current)()
    });
    let started = Instant::now();
    let journal = Journal::open(data_dir, access)
        .with_context(|| format!("opening the journal of {}", data_dir.root().display()))?;
    let took = started.elapsed();
    let (peak_heap, retained_heap) = match (probe, before) {
        (Some(probe), Some(before)) => (
            Some((probe.peak)().saturating_sub(before)),
            Some((probe.current)().saturating_sub(before)),
        ),
        _ => (None, None),
    };
    Ok((
        journal,
        lock,
        OpenCost {
            took,
            peak_heap,
            retained_heap,
        },
    ))
}

/// Times `appends` acceptances recorded (each fsynced) in each of several open writing
/// journals, taking turns, so that every journal meets the machine in the same state
/// (other writes to the disk, the heap): only the journal differs. Each `(journal,
/// first_index)` gets orders it does not know yet, ids from `first_index` on.
pub fn appends_timed(journals: &[(&Journal, usize)], appends: usize) -> Result<Vec<AppendCost>> {
    ensure!(appends > 0, "no append to time");
    let mut times = vec![Vec::with_capacity(appends); journals.len()];
    for offset in 0..appends {
        for (&(journal, first_index), times) in journals.iter().zip(&mut times) {
            let index = first_index + offset;
            let accepted = AcceptedOrder {
                order_id: order_id_of(index).parse().map_err(anyhow::Error::msg)?,
                commercial_id: Some(commercial_id_of(index)),
                line_ids: Vec::new(),
                accepted_at: chrono::Utc::now(),
                outcome: Confirmation::Answered,
                created_date: None,
                acceptance_deadline: None,
                shipping_deadline: None,
            };
            let started = Instant::now();
            journal.record_accepted(accepted)?;
            times.push(started.elapsed());
        }
    }
    Ok(times
        .into_iter()
        .map(|mut times| {
            times.sort();
            AppendCost {
                median: times[times.len() / 2],
                slowest: times[times.len() - 1],
            }
        })
        .collect())
}

/// Checks that the journal knows the first and the last order of the copy as shipped
/// and confirmed, so the figures are about a journal that was read, not one found empty.
pub fn check_complete(journal: &Journal, orders: usize) -> Result<()> {
    for index in [0, orders / 2, orders - 1] {
        let id: OrderId = order_id_of(index).parse().map_err(anyhow::Error::msg)?;
        // A shipped order is settled: the journal keeps only its shipment, PIN and label.
        let Some(settled) = journal.settled(&id) else {
            bail!("the amplified journal does not show order {id} settled (shipped and confirmed)");
        };
        ensure!(
            settled.tracking_pin.is_some() && !settled.label_files.is_empty(),
            "the amplified journal lost order {id}'s PIN or label file"
        );
    }
    Ok(())
}
