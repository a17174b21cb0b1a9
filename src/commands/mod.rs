//! The operator's commands, beside the cycle commands of the crate root: what a seller
//! reaches for when something looks wrong. `status` reads local files only; `check`
//! makes read-only calls; `reprint` and `refund` act on one order's existing shipment and
//! never create one; `print` merges saved labels and slips into one file and calls no API.

pub mod check;
pub mod print;
pub mod refund;
pub mod reprint;
pub mod status;

use std::path::PathBuf;

use crate::ids::OrderId;

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
