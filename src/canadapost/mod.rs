//! Canada Post: the contract shipping client (create, lookup by request id, label,
//! tracking, refund), the Create Shipment and refund requests (shipment-v8) built from
//! validated values, and the answers read back.
//!
//! It knows nothing of Best Buy: the phase that joins the two lives in `phase::label`.

pub mod answers;
pub mod client;
pub mod label_check;
pub mod refund;
pub mod shipment;
pub mod types;
pub mod xml;

pub use answers::{Link, ShipmentInfo};
pub use client::{CanadaPostClient, CanadaPostError, LabelDownload, Tracking};
