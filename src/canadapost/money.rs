//! Money as Canada Post writes it: Canadian dollars with at most two decimals, held as
//! whole cents so that sums and comparisons are exact (no floating point ever touches an
//! amount), and a label's postage (due, base, taxes) as read from an answer.
//!
//! An amount that is missing or does not read is never turned into zero: callers keep it
//! as `None`, which every report shows as "unknown".

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// An amount in Canadian dollars, in cents. Negative amounts exist (adjustments).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Cad(i64);

impl Cad {
    pub const ZERO: Cad = Cad(0);

    pub fn from_cents(cents: i64) -> Cad {
        Cad(cents)
    }

    pub fn cents(self) -> i64 {
        self.0
    }

    /// The sum, or `None` when it would overflow (no real postage comes near).
    pub fn checked_add(self, other: Cad) -> Option<Cad> {
        self.0.checked_add(other.0).map(Cad)
    }

    pub fn saturating_add(self, other: Cad) -> Cad {
        Cad(self.0.saturating_add(other.0))
    }

    pub fn saturating_mul(self, times: i64) -> Cad {
        Cad(self.0.saturating_mul(times))
    }

    /// Reads `12`, `12.5`, `12.50`, `-0.75` (surrounding spaces allowed). Refuses an
    /// exponent, a third decimal, thousands separators and anything else.
    pub fn parse(text: &str) -> Result<Cad, String> {
        let trimmed = text.trim();
        let (negative, unsigned) = match trimmed.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
        };
        let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
        if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 2 {
            return Err(format!(
                "{:?} is not an amount in dollars with at most 2 decimals",
                crate::text::printable(text)
            ));
        }
        let too_large = || format!("{:?} is too large an amount", crate::text::printable(text));
        let dollars: i64 = whole.parse().map_err(|_| too_large())?;
        let cents: i64 = match fraction.len() {
            0 => 0,
            1 => i64::from(fraction.as_bytes()[0] - b'0') * 10,
            _ => fraction.parse().map_err(|_| too_large())?,
        };
        let total = dollars
            .checked_mul(100)
            .and_then(|value| value.checked_add(cents))
            .ok_or_else(too_large)?;
        Ok(Cad(if negative { -total } else { total }))
    }
}

impl fmt::Display for Cad {
    /// `31.58`, `-0.75`, `0.00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let magnitude = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", magnitude / 100, magnitude % 100)
    }
}

impl TryFrom<String> for Cad {
    type Error = String;
    fn try_from(value: String) -> Result<Cad, String> {
        Cad::parse(&value)
    }
}

impl From<Cad> for String {
    fn from(value: Cad) -> String {
        value.to_string()
    }
}

/// What one label costs, as Canada Post's answer gave it: the amount due (charged to the
/// account, or to the card of a non-contract profile), and the base and the taxes when
/// the answer had them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Postage {
    pub due: Cad,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Cad>,
    /// GST + PST + HST.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub taxes: Option<Cad>,
}

impl Postage {
    /// Reads the amounts under `due`, `base` and the three tax elements' texts. The due
    /// amount must read; an unreadable base or tax is left out (and `None` is returned
    /// for the whole when the due amount does not read: unknown, never zero).
    pub fn from_texts(
        due: Option<&str>,
        base: Option<&str>,
        taxes: [Option<&str>; 3],
    ) -> Option<Postage> {
        let due = Cad::parse(due?).ok()?;
        let base = base.and_then(|base| Cad::parse(base).ok());
        let mut total = Some(Cad::ZERO);
        let mut any = false;
        for tax in taxes.into_iter().flatten() {
            any = true;
            total = match (total, Cad::parse(tax)) {
                (Some(sum), Ok(tax)) => sum.checked_add(tax),
                _ => None,
            };
        }
        Some(Postage {
            due,
            base,
            taxes: if any { total } else { None },
        })
    }

    /// `31.58 CAD (base 27.95, taxes 3.63)`.
    pub fn describe(postage: Option<&Postage>) -> String {
        let Some(postage) = postage else {
            return "unknown".to_owned();
        };
        let mut text = format!("{} CAD", postage.due);
        let parts: Vec<String> = [("base", postage.base), ("taxes", postage.taxes)]
            .into_iter()
            .filter_map(|(name, amount)| amount.map(|amount| format!("{name} {amount}")))
            .collect();
        if !parts.is_empty() {
            text.push_str(&format!(" ({})", parts.join(", ")));
        }
        text
    }
}

/// A journaled postage that no longer reads (an older file, a hand edit) is unknown, not
/// an error that stops every run and not zero.
pub fn lenient_postage<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Postage>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(match value {
        // The earlier journal kept the due amount alone, as text.
        serde_json::Value::String(text) => Cad::parse(&text).ok().map(|due| Postage {
            due,
            base: None,
            taxes: None,
        }),
        other => serde_json::from_value(other).ok(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_exactly_in_cents() {
        for (text, cents) in [
            ("31.58", 3158),
            ("16.9", 1690),
            ("12", 1200),
            ("0.00", 0),
            (" 7.05 ", 705),
            ("-0.75", -75),
            ("+1.10", 110),
        ] {
            assert_eq!(Cad::parse(text), Ok(Cad::from_cents(cents)), "{text}");
        }
        for text in [
            "", ".5", "1.234", "1e3", "1,000.00", "abc", "1.-5", "--1", "NaN",
        ] {
            assert!(Cad::parse(text).is_err(), "{text}");
        }
        assert!(Cad::parse("99999999999999999999").is_err());
    }

    #[test]
    fn amounts_print_with_two_decimals() {
        assert_eq!(Cad::from_cents(3158).to_string(), "31.58");
        assert_eq!(Cad::from_cents(5).to_string(), "0.05");
        assert_eq!(Cad::from_cents(-75).to_string(), "-0.75");
        assert_eq!(Cad::ZERO.to_string(), "0.00");
    }

    #[test]
    fn postage_sums_the_taxes_and_an_unreadable_due_amount_is_unknown() {
        let postage = Postage::from_texts(
            Some("31.58"),
            Some("27.95"),
            [Some("0.00"), None, Some("3.63")],
        )
        .unwrap();
        assert_eq!(postage.taxes, Some(Cad::from_cents(363)));
        assert_eq!(
            Postage::describe(Some(&postage)),
            "31.58 CAD (base 27.95, taxes 3.63)"
        );
        assert_eq!(Postage::from_texts(Some("n/a"), None, [None; 3]), None);
        assert_eq!(Postage::from_texts(None, Some("1.00"), [None; 3]), None);
        assert_eq!(Postage::describe(None), "unknown");
        let bad_tax = Postage::from_texts(Some("2.00"), None, [Some("x"), None, None]).unwrap();
        assert_eq!(bad_tax.taxes, None);
    }

    #[test]
    fn journaled_postage_reads_old_and_new_shapes_and_unreadable_is_unknown() {
        #[derive(Deserialize)]
        struct Holder {
            #[serde(deserialize_with = "lenient_postage")]
            postage: Option<Postage>,
        }
        let read = |json: &str| serde_json::from_str::<Holder>(json).unwrap().postage;
        assert_eq!(
            read(r#"{"postage":"16.95"}"#).unwrap().due,
            Cad::from_cents(1695)
        );
        let new = read(r#"{"postage":{"due":"31.58","base":"27.95"}}"#).unwrap();
        assert_eq!(new.base, Some(Cad::from_cents(2795)));
        assert_eq!(read(r#"{"postage":"free"}"#), None);
        assert_eq!(read(r#"{"postage":null}"#), None);
    }
}
