//! Canada Post: the shipping client of either account kind (a contract's shipment-v8, a
//! non-contract seller's ncshipment-v4: create, the search for an unknown attempt, label,
//! tracking, receipt, refund), the create and refund requests built from validated
//! values, the answers read back, money in exact cents, and Eastern time for the
//! non-contract search.
//!
//! It knows nothing of Best Buy: the phase that joins the two lives in `phase::label`.

pub mod answers;
pub mod client;
pub mod eastern;
pub mod label_check;
pub mod money;
pub mod refund;
pub mod shipment;
pub mod types;
pub mod xml;

pub use answers::{Link, ShipmentInfo};
pub use client::{CanadaPostClient, CanadaPostError, LabelDownload, Tracking};
