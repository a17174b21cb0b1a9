//! Canada Post: the identifiers of a contract account and its services.
//!
//! The shipment client arrives with phase 2; the configuration already validates the
//! account it will use.

pub mod types;
