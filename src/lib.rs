//! bbship fulfils Best Buy Canada marketplace orders with Canada Post, one cycle per
//! invocation.
//!
//! The commands live in `commands` (the cycle's and the operator's), each a function that
//! the binary and the sandbox both call with everything it needs passed in (paths,
//! secrets), so nothing reads the process environment but `main` and `secret`. The
//! layout follows one order through a cycle:
//! `phase` decides, the API clients (`bestbuy`, `canadapost`) speak to the services over
//! `http`, and `journal` remembers what was done, under the `lock` of one `data_dir`.

mod address;
mod alerts;
mod bestbuy;
mod canadapost;
pub mod cli;
pub mod commands;
mod config;
mod data_dir;
mod error;
#[cfg(test)]
mod fuzz;
mod http;
mod ids;
mod journal;
mod label_fetch;
mod labels;
mod lock;
mod logging;
mod metrics;
mod overview;
mod phase;
mod print;
mod rate;
mod reminders;
mod rng;
mod runs;
mod secret;
#[cfg(test)]
mod testing;
mod text;

// The library's surface: what the binary calls, and what the end-to-end tests, the
// sandbox and the benchmark drive or inspect directly. Everything else is private, so
// rustc sees what nothing uses.
pub use crate::canadapost::label_check::{LabelInspection, inspect_label};
pub use crate::commands::cycle::{CycleCommand, Invocation, Outcome, run};
pub use crate::config::Config;
pub use crate::data_dir::DataDir;
pub use crate::error::exit_code_for;
pub use crate::ids::{OrderId, pin_check_digit_holds};
pub use crate::journal::{AcceptedOrder, Access, Confirmation, Journal};
pub use crate::labels::sha256_hex;
pub use crate::lock::RunLock;
pub use crate::logging::{init as init_logging, level_for as log_level_for};
pub use crate::phase::OrderOutcome;
pub use crate::secret::{Secret, Secrets, redact};
