//! Every command the binary runs. `cycle` holds the cycle commands (accept, label, ship,
//! run-all); beside it are the operator's commands, what a seller reaches for when
//! something looks wrong. `status` reads local files only; `check`
//! makes read-only calls; `reprint` and `refund` act on one order's existing shipment and
//! never create one; `print` merges saved labels and slips into one file and calls no API.
//! `completions` and `man` print what bbship knows of itself.

pub mod check;
pub mod cycle;
pub mod docs;
pub mod print;
pub mod refund;
pub mod reprint;
pub mod status;

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::http::WriteMode;
use crate::ids::OrderId;
use crate::{Access, Config, DataDir, Journal, RunLock};

/// Where the configuration and the data directory are, as the command line says.
#[derive(Clone, Debug)]
pub struct Paths {
    pub config_path: PathBuf,
    pub data_dir: PathBuf,
}

/// `status`: which orders to show, and how.
#[derive(Clone, Debug)]
pub struct StatusRequest {
    pub order: Option<OrderId>,
    pub all: bool,
    pub json: bool,
}

/// Readies the data directory for a command that may write in `mode`: a live command
/// takes the run lock (held as long as the returned lock lives), creates the directories
/// and checks they can be written before any API call, and opens the journal for writing;
/// a dry run takes no lock, creates nothing and reads the journal only.
pub fn open_for(
    data_dir: &DataDir,
    config: &Config,
    mode: WriteMode,
) -> Result<(Option<RunLock>, Journal)> {
    let (lock, access) = match mode {
        WriteMode::Live => {
            let lock = RunLock::acquire(data_dir)?;
            data_dir.create()?;
            data_dir.check_writable(config.limits.min_free_disk_bytes())?;
            (Some(lock), Access::ReadWrite)
        }
        WriteMode::DryRun => (None, Access::ReadOnly),
    };
    let journal = Journal::open(data_dir, access).context("reading the history logs")?;
    Ok((lock, journal))
}
