//! Identifiers that travel between the APIs, the journal and file names, validated when
//! they are built.
//!
//! They sit at the bottom of the crate so the journal can key on them without depending
//! on an API client.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::text::quoted;

/// A Best Buy (Mirakl) order id, such as `261236951-A`.
///
/// Accepted: 1 to 64 ASCII letters, digits, `-`, `_` and `.`, starting with a letter or
/// digit. This covers every Mirakl id seen and refuses anything that could walk out of a
/// directory (`/`, `..` at the start), hide in a terminal (control characters) or break a
/// URL path, so an id can go into a path segment or a file name unchanged.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrderId(String);

impl OrderId {
    pub const MAX_LEN: usize = 64;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OrderId {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        let bytes = value.as_bytes();
        if bytes.is_empty() || bytes.len() > Self::MAX_LEN {
            return Err(format!(
                "order id {} must be 1 to {} characters",
                quoted(&value),
                Self::MAX_LEN
            ));
        }
        if !bytes[0].is_ascii_alphanumeric() || !bytes.iter().all(|&b| allowed(b)) {
            return Err(format!(
                "order id {} has characters an order id never has (letters, digits, '-', '_' and '.' only)",
                quoted(&value)
            ));
        }
        Ok(OrderId(value))
    }
}

impl std::str::FromStr for OrderId {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        OrderId::try_from(value.to_owned())
    }
}

impl From<OrderId> for String {
    fn from(id: OrderId) -> String {
        id.0
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Mirakl order line id: the `id` sent for each line in OR21. Digits on Best Buy
/// Canada; any 1 to 64 visible ASCII characters are accepted since only Best Buy reads it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrderLineId(String);

impl OrderLineId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OrderLineId {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        if (1..=64).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(OrderLineId(value))
        } else {
            Err(format!("order line id {} is not valid", quoted(&value)))
        }
    }
}

impl From<OrderLineId> for String {
    fn from(id: OrderLineId) -> String {
        id.0
    }
}

impl fmt::Display for OrderLineId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Canada Post tracking PIN: 11 to 16 ASCII letters and digits (the schema's range;
/// Canada Post issues 12, 13 and 16). A 16-digit domestic PIN must also pass its check
/// digit: one that fails is never uploaded to Best Buy.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TrackingPin(String);

impl TrackingPin {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a 16-digit domestic parcel PIN carries the right check digit: with d0…d14
/// the first 15 digits, S = 3 × (d0 + d2 + … + d14) + (d1 + d3 + … + d13), and the last
/// digit must be (10 − S mod 10) mod 10. Other lengths carry no digit this rule covers.
pub fn pin_check_digit_holds(pin: &str) -> bool {
    let digits: Vec<u32> = pin.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() != 16 || pin.len() != 16 {
        return true;
    }
    let sum: u32 = digits[..15]
        .iter()
        .enumerate()
        .map(|(index, digit)| if index % 2 == 0 { 3 * digit } else { *digit })
        .sum();
    (10 - sum % 10) % 10 == digits[15]
}

impl TryFrom<String> for TrackingPin {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        if !(11..=16).contains(&value.len()) || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!(
                "tracking PIN {} must be 11 to 16 letters and digits",
                quoted(&value)
            ));
        }
        if !pin_check_digit_holds(&value) {
            return Err(format!("tracking PIN {value} fails its check digit"));
        }
        Ok(TrackingPin(value))
    }
}

impl From<TrackingPin> for String {
    fn from(pin: TrackingPin) -> String {
        pin.0
    }
}

impl fmt::Display for TrackingPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Create Shipment `customer-request-id`: unique to one attempt, at most 35 visible
/// ASCII characters, the key that finds a shipment again after a lost answer.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequestId(String);

impl RequestId {
    pub const MAX_LEN: usize = 35;

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A fresh id for one Create Shipment attempt on `order_id`: the order id (cut to 16
    /// characters, so a person reading Canada Post's records recognises it), the time in
    /// milliseconds and a per-process counter mixed with the process id. Two attempts of
    /// one data directory never share an id: they are under one lock, in one process,
    /// or milliseconds apart.
    pub fn for_attempt(order_id: &OrderId, now: chrono::DateTime<chrono::Utc>) -> RequestId {
        use std::sync::atomic::{AtomicU32, Ordering};
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let prefix: String = order_id.as_str().chars().take(16).collect();
        let millis = u64::try_from(now.timestamp_millis()).unwrap_or(0);
        let counter = COUNTER.fetch_add(1, Ordering::Relaxed);
        let salt = (std::process::id() ^ counter.wrapping_mul(0x9E37_79B9)) & 0xFFFF;
        // At most 16 + 1 + 11 + 1 + 4 = 33 characters, all allowed.
        RequestId(format!("{prefix}-{}-{salt:04x}", base36(millis)))
    }
}

fn base36(mut value: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut digits = Vec::new();
    loop {
        digits.push(DIGITS[(value % 36) as usize]);
        value /= 36;
        if value == 0 {
            break;
        }
    }
    digits
        .iter()
        .rev()
        .map(|&digit| char::from(digit))
        .collect()
}

impl TryFrom<String> for RequestId {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
        if (1..=Self::MAX_LEN).contains(&value.len()) && value.bytes().all(allowed) {
            Ok(RequestId(value))
        } else {
            Err(format!(
                "request id {} must be 1 to {} letters, digits, '-', '_' or '.'",
                quoted(&value),
                Self::MAX_LEN
            ))
        }
    }
}

impl From<RequestId> for String {
    fn from(id: RequestId) -> String {
        id.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempt_ids_are_valid_and_distinct() {
        let order: OrderId = "a-very-long-order-id-of-sixty-characters-for-the-test-0123456"
            .parse()
            .unwrap();
        let now = chrono::Utc::now();
        let first = RequestId::for_attempt(&order, now);
        let second = RequestId::for_attempt(&order, now);
        assert_ne!(first, second);
        for id in [&first, &second] {
            assert!(RequestId::try_from(id.as_str().to_owned()).is_ok(), "{id}");
            assert!(id.as_str().starts_with("a-very-long-orde-"), "{id}");
        }
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert_eq!(base36(36), "10");
    }

    #[test]
    fn real_order_ids_are_accepted() {
        for id in ["261236951-A", "261300002-A", "ORDER_1.2", "a"] {
            assert_eq!(id.parse::<OrderId>().unwrap().as_str(), id);
        }
    }

    #[test]
    fn hostile_order_ids_are_refused() {
        let long = "1".repeat(65);
        for id in [
            "",
            "../etc/passwd",
            "a/b",
            "..",
            ".hidden",
            "-rf",
            "a\0b",
            "a b",
            "é123",
            "a\nb",
            "a%2Fb",
            &long,
        ] {
            assert!(id.parse::<OrderId>().is_err(), "{id:?}");
        }
    }

    #[test]
    fn line_ids_refuse_empty_space_and_control() {
        assert!(OrderLineId::try_from("113300001".to_owned()).is_ok());
        for id in ["", "a b", "a\tb", "x".repeat(65).as_str()] {
            assert!(OrderLineId::try_from(id.to_owned()).is_err(), "{id:?}");
        }
    }

    #[test]
    fn the_documented_pins_pass_their_check_digit() {
        // canada-post.md §8's worked example, and the OR23 fixture's PIN.
        for pin in ["7023210039414604", "4017968200000009"] {
            assert!(pin_check_digit_holds(pin), "{pin}");
            assert!(TrackingPin::try_from(pin.to_owned()).is_ok());
        }
        // The sandbox's 12-digit PIN has no check digit under this rule.
        assert!(TrackingPin::try_from("123456789012".to_owned()).is_ok());
    }

    #[test]
    fn every_wrong_check_digit_is_refused() {
        for last in 0..10u32 {
            let pin = format!("702321003941460{last}");
            assert_eq!(TrackingPin::try_from(pin).is_ok(), last == 4);
        }
        // A transposition of neighbouring digits changes the weights and is caught too.
        assert!(!pin_check_digit_holds("7023210039414640"));
    }

    #[test]
    fn pins_and_request_ids_refuse_bad_shapes() {
        for pin in [
            "",
            "1234567890",
            "12345678901234567",
            "7023 2100 3941 46",
            "70232100394146/4",
        ] {
            assert!(TrackingPin::try_from(pin.to_owned()).is_err(), "{pin:?}");
        }
        assert!(RequestId::try_from("ord-261236951-A-7f3a9c2e".to_owned()).is_ok());
        for id in ["", &"x".repeat(36), "a b", "a/b", "é"] {
            assert!(RequestId::try_from(id.to_owned()).is_err(), "{id:?}");
        }
        assert!(RequestId::try_from("x".repeat(35)).is_ok());
    }
}
