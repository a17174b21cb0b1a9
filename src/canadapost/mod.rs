//! Canada Post: the identifiers of a contract account and its services, and the Create
//! Shipment request (shipment-v8) built from validated values.
//!
//! It knows nothing of Best Buy. The HTTP client (create, lookup by request id, label,
//! tracking) arrives with the rest of phase 2.

pub mod shipment;
pub mod types;
