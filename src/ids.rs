//! Identifiers that travel between the APIs, the journal and file names, validated when
//! they are built.
//!
//! They sit at the bottom of the crate so the journal can key on them without depending
//! on an API client.

use std::fmt;

use serde::{Deserialize, Serialize};

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
                "order id {:?} must be 1 to {} characters",
                shorten(&value),
                Self::MAX_LEN
            ));
        }
        if !bytes[0].is_ascii_alphanumeric() || !bytes.iter().all(|&b| allowed(b)) {
            return Err(format!(
                "order id {:?} has characters an order id never has (letters, digits, '-', '_' and '.' only)",
                shorten(&value)
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
            Err(format!("order line id {:?} is not valid", shorten(&value)))
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

/// Cuts a hostile value down to something that fits in an error message.
pub fn shorten(value: &str) -> String {
    const KEEP: usize = 80;
    if value.chars().count() <= KEEP {
        value.to_owned()
    } else {
        let kept: String = value.chars().take(KEEP).collect();
        format!("{kept}… ({} characters)", value.chars().count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn shorten_keeps_short_values_and_cuts_long_ones() {
        assert_eq!(shorten("abc"), "abc");
        let cut = shorten(&"x".repeat(1000));
        assert!(cut.len() < 120 && cut.contains("1000 characters"));
    }
}
