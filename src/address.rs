//! Validated pieces of a Canadian postal address: province codes, postal codes (and the
//! province a postal code's first letter names) and length-bounded single-line text.
//!
//! They are shared by the configuration (the sender) and by the Canada Post shipment
//! builder (the destination), so both refuse the same bad values the same way.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The thirteen provinces and territories, by their Canada Post two-letter code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Province {
    AB,
    BC,
    MB,
    NB,
    NL,
    NS,
    NT,
    NU,
    ON,
    PE,
    QC,
    SK,
    YT,
}

impl Province {
    pub const ALL: [Province; 13] = [
        Province::AB,
        Province::BC,
        Province::MB,
        Province::NB,
        Province::NL,
        Province::NS,
        Province::NT,
        Province::NU,
        Province::ON,
        Province::PE,
        Province::QC,
        Province::SK,
        Province::YT,
    ];

    /// The provinces and territories whose postal codes begin with `letter` (Canada
    /// Post's forward sortation areas): none for D, F, I, O, Q, U, W and Z, which never
    /// begin one, and both territories for X.
    pub fn of_postal_letter(letter: char) -> &'static [Province] {
        match letter.to_ascii_uppercase() {
            'A' => &[Province::NL],
            'B' => &[Province::NS],
            'C' => &[Province::PE],
            'E' => &[Province::NB],
            'G' | 'H' | 'J' => &[Province::QC],
            'K' | 'L' | 'M' | 'N' | 'P' => &[Province::ON],
            'R' => &[Province::MB],
            'S' => &[Province::SK],
            'T' => &[Province::AB],
            'V' => &[Province::BC],
            'X' => &[Province::NT, Province::NU],
            'Y' => &[Province::YT],
            _ => &[],
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Province::AB => "AB",
            Province::BC => "BC",
            Province::MB => "MB",
            Province::NB => "NB",
            Province::NL => "NL",
            Province::NS => "NS",
            Province::NT => "NT",
            Province::NU => "NU",
            Province::ON => "ON",
            Province::PE => "PE",
            Province::QC => "QC",
            Province::SK => "SK",
            Province::YT => "YT",
        }
    }
}

impl TryFrom<String> for Province {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let wanted = value.trim().to_ascii_uppercase();
        Province::ALL
            .into_iter()
            .find(|province| province.code() == wanted)
            .ok_or_else(|| {
                format!(
                    "`{}` is not a Canadian province or territory code (AB, BC, MB, NB, NL, NS, NT, NU, ON, PE, QC, SK, YT)",
                    crate::text::printable(&value)
                )
            })
    }
}

impl From<Province> for String {
    fn from(province: Province) -> String {
        province.code().to_owned()
    }
}

impl fmt::Display for Province {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A Canadian postal code, normalised to `A1A1A1` (upper case, no space), which is the
/// form Canada Post's clients send.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PostalCode(String);

impl PostalCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this postal code can be in `province`, by its first letter. Canada Post
    /// does not check that the city, province and postal code agree: it bills a label
    /// whose parts disagree and the parcel then cannot be delivered, so bbship checks
    /// before buying. The reason names both values.
    pub fn check_province(&self, province: Province) -> Result<(), String> {
        let letter = self.0.chars().next().unwrap_or_default();
        let provinces = Province::of_postal_letter(letter);
        if provinces.contains(&province) {
            return Ok(());
        }
        let code = &self.0;
        let found = match provinces {
            [] => format!("begins with {letter}, which no Canadian postal code begins with"),
            several => format!(
                "is in {} (first letter {letter})",
                several
                    .iter()
                    .map(|province| province.code())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        };
        Err(format!(
            "postal code {code} {found}, but the province is {province}; Canada Post would \
             bill a label it cannot deliver"
        ))
    }
}

impl TryFrom<String> for PostalCode {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let normalised: String = value
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let bytes = normalised.as_bytes();
        let shape_ok = bytes.len() == 6
            && bytes.iter().enumerate().all(|(index, byte)| {
                if index % 2 == 0 {
                    byte.is_ascii_uppercase()
                } else {
                    byte.is_ascii_digit()
                }
            });
        if shape_ok {
            Ok(PostalCode(normalised))
        } else {
            // Escaped: the value comes from an order and ends up in a log line.
            Err(format!(
                "`{}` is not a Canadian postal code (expected A1A 1A1)",
                crate::text::printable(&value)
            ))
        }
    }
}

impl From<PostalCode> for String {
    fn from(code: PostalCode) -> String {
        code.0
    }
}

impl fmt::Display for PostalCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Single-line text of 1 to `MAX` characters: what Canada Post's `normalizedString`
/// fields accept (no tab, CR, LF or other control characters). Surrounding white space is
/// trimmed; nothing else is changed, so a value is never altered silently.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BoundedText<const MAX: usize>(String);

impl<const MAX: usize> BoundedText<MAX> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> TryFrom<String> for BoundedText<MAX> {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let trimmed = value.trim();
        let length = trimmed.chars().count();
        if length == 0 {
            return Err("must not be empty".to_owned());
        }
        if length > MAX {
            // Quoted: the value may be hostile and ends up in a log line.
            return Err(format!(
                "{} is {length} characters long; the limit is {MAX}",
                crate::text::quoted(trimmed)
            ));
        }
        // Control characters break a single line; U+FFFE and U+FFFF are not XML
        // characters at all (surrogates cannot occur in a Rust string).
        if trimmed
            .chars()
            .any(|c| c.is_control() || matches!(c, '\u{FFFE}' | '\u{FFFF}'))
        {
            return Err(format!(
                "{} contains a control character (tab, line break or similar) or a non-character",
                crate::text::quoted(trimmed)
            ));
        }
        Ok(BoundedText(trimmed.to_owned()))
    }
}

impl<const MAX: usize> From<BoundedText<MAX>> for String {
    fn from(text: BoundedText<MAX>) -> String {
        text.0
    }
}

impl<const MAX: usize> fmt::Display for BoundedText<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postal_codes_are_normalised_or_refused() {
        for input in ["k1a 0b1", "K1A0B1", " K1A-0B1 "] {
            assert_eq!(
                PostalCode::try_from(input.to_owned()).unwrap().as_str(),
                "K1A0B1"
            );
        }
        for input in [
            "", "K1A0B", "K1A0B1X", "11A0B1", "KKA0B1", "90210", "K1A 0É1",
        ] {
            assert!(PostalCode::try_from(input.to_owned()).is_err(), "{input}");
        }
    }

    fn postal(code: &str) -> PostalCode {
        PostalCode::try_from(code.to_owned()).unwrap()
    }

    #[test]
    fn the_first_letter_of_a_postal_code_names_its_province() {
        let table = [
            ("A1C5M2", Province::NL),
            ("B3H0A1", Province::NS),
            ("C1A4P3", Province::PE),
            ("E1C4M3", Province::NB),
            ("G1R4P5", Province::QC),
            ("H2X1Y4", Province::QC),
            ("J4K2T1", Province::QC),
            ("K1A0B1", Province::ON),
            ("L5B3C2", Province::ON),
            ("M5V2T6", Province::ON),
            ("N2L3G1", Province::ON),
            ("P3E4N1", Province::ON),
            ("R3C4T3", Province::MB),
            ("S4P3Y2", Province::SK),
            ("T2P1J9", Province::AB),
            ("V6B1A1", Province::BC),
            ("X1A2P7", Province::NT),
            ("X0A0H0", Province::NU),
            ("Y1A2C6", Province::YT),
        ];
        for (code, province) in table {
            let code = postal(code);
            assert_eq!(code.check_province(province), Ok(()), "{code} {province}");
            // Every other province is refused, naming both values.
            for other in Province::ALL.into_iter().filter(|other| *other != province) {
                if code.as_str().starts_with('X') && matches!(other, Province::NT | Province::NU) {
                    continue;
                }
                let refusal = code.check_province(other).unwrap_err();
                assert!(
                    refusal.contains(code.as_str()) && refusal.contains(other.code()),
                    "{refusal}"
                );
            }
        }
        // Both territories share X.
        assert_eq!(postal("X1A2P7").check_province(Province::NU), Ok(()));
        assert_eq!(postal("X0A0H0").check_province(Province::NT), Ok(()));
        let refusal = postal("H2X1Y4").check_province(Province::ON).unwrap_err();
        assert!(
            refusal.contains("H2X1Y4") && refusal.contains("QC") && refusal.contains("ON"),
            "{refusal}"
        );
    }

    #[test]
    fn letters_that_never_begin_a_postal_code_belong_to_no_province() {
        for letter in ['D', 'F', 'I', 'O', 'Q', 'U', 'W', 'Z'] {
            assert!(Province::of_postal_letter(letter).is_empty(), "{letter}");
            let code = postal(&format!("{letter}1A1A1"));
            for province in Province::ALL {
                let refusal = code.check_province(province).unwrap_err();
                assert!(refusal.contains("no Canadian postal code"), "{refusal}");
            }
        }
        // Every province and territory has at least one letter.
        for province in Province::ALL {
            assert!(
                ('A'..='Z').any(|letter| Province::of_postal_letter(letter).contains(&province)),
                "{province}"
            );
        }
    }

    #[test]
    fn provinces_are_the_thirteen_codes() {
        assert_eq!(Province::try_from("qc".to_owned()).unwrap(), Province::QC);
        for input in ["", "Quebec", "XX", "CA"] {
            assert!(Province::try_from(input.to_owned()).is_err(), "{input}");
        }
        assert_eq!(Province::ALL.len(), 13);
    }

    #[test]
    fn refusals_show_the_value_escaped() {
        let postal = PostalCode::try_from("K1A\n0B1\u{1b}[2J".to_owned()).unwrap_err();
        let province = Province::try_from("O\nN".to_owned()).unwrap_err();
        for refusal in [postal, province] {
            assert!(!refusal.chars().any(char::is_control), "{refusal:?}");
        }
    }

    #[test]
    fn bounded_text_counts_characters_not_bytes_and_refuses_control_characters() {
        let accented = "é".repeat(44);
        assert!(BoundedText::<44>::try_from(accented).is_ok());
        assert!(BoundedText::<44>::try_from("a".repeat(45)).is_err());
        assert!(BoundedText::<44>::try_from("   ".to_owned()).is_err());
        assert!(BoundedText::<44>::try_from("line\nbreak".to_owned()).is_err());
        assert!(BoundedText::<44>::try_from("tab\there".to_owned()).is_err());
        assert!(BoundedText::<44>::try_from("bad\u{FFFF}".to_owned()).is_err());
        assert_eq!(
            BoundedText::<44>::try_from("  Smith & Sons  ".to_owned())
                .unwrap()
                .as_str(),
            "Smith & Sons"
        );
    }
}
