//! Canada Post account and service identifiers, validated when they are built.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Which Canada Post account bbship ships with: a parcel contract (Create Shipment,
/// transmitted, billed to the account) or Solutions for Small Business (non-contract
/// shipping, charged to the card on the profile at creation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    #[default]
    Contract,
    NonContract,
}

impl AccountKind {
    pub fn config_value(self) -> &'static str {
        match self {
            AccountKind::Contract => "contract",
            AccountKind::NonContract => "non_contract",
        }
    }
}

/// A Canada Post customer number (`mailed-by`, `mobo`, `paid-by-customer`): 1 to 10
/// digits. Canada Post pads it to 10 digits in links, so equality is numeric.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CustomerNumber(String);

impl CustomerNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn numeric(&self) -> u64 {
        // Proven invariant: 1 to 10 ASCII digits always fit in a u64.
        self.0.parse().unwrap_or(u64::MAX)
    }
}

impl PartialEq for CustomerNumber {
    fn eq(&self, other: &Self) -> bool {
        self.numeric() == other.numeric()
    }
}

impl Eq for CustomerNumber {}

impl TryFrom<String> for CustomerNumber {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        digits(&value, "customer number").map(CustomerNumber)
    }
}

impl From<CustomerNumber> for String {
    fn from(number: CustomerNumber) -> String {
        number.0
    }
}

impl fmt::Display for CustomerNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The parcel-agreement (contract) number sent in `settlement-info`: 1 to 10 digits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContractId(String);

impl ContractId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ContractId {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        digits(&value, "contract id").map(ContractId)
    }
}

impl From<ContractId> for String {
    fn from(id: ContractId) -> String {
        id.0
    }
}

fn digits(value: &str, what: &str) -> Result<String, String> {
    let value = value.trim();
    if (1..=10).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "`{value}` is not a Canada Post {what} (1 to 10 digits)"
        ))
    }
}

/// A Canada Post service code such as `DOM.EP` (at most 32 characters of upper-case
/// letters, digits and dots). Which codes an account may use depends on its contract,
/// so only the shape is checked here.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ServiceCode(String);

impl ServiceCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ServiceCode {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let shape_ok = (1..=32).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'.');
        if shape_ok {
            Ok(ServiceCode(value))
        } else {
            Err(format!(
                "`{value}` is not a Canada Post service code (such as DOM.EP, DOM.RP, DOM.XP, DOM.PC)"
            ))
        }
    }
}

impl From<ServiceCode> for String {
    fn from(code: ServiceCode) -> String {
        code.0
    }
}

impl fmt::Display for ServiceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Canada Post shipment id: at most 32 characters, digits in practice. Letters are
/// allowed because the schema does not promise digits; anything else is refused so an
/// id can never smuggle a path or a quote into a log or a file name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ShipmentId(String);

impl ShipmentId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ShipmentId {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let shape_ok =
            (1..=32).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric());
        if shape_ok {
            Ok(ShipmentId(value))
        } else {
            Err(format!(
                "`{}` is not a Canada Post shipment id (1 to 32 letters or digits)",
                crate::text::printable(&value)
            ))
        }
    }
}

impl From<ShipmentId> for String {
    fn from(id: ShipmentId) -> String {
        id.0
    }
}

impl fmt::Display for ShipmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A shipment's `shipment-status`. Only `transmitted` means the shipment went out with
/// its manifest and is billed at the contract rate: a `created` one waits for a manifest
/// (and is billed in full without one), so no other status may ship an order. Unknown
/// words are kept as sent so a person can see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum ShipmentStatus {
    Transmitted,
    Created,
    /// A non-contract shipment: charged to the card when it was created, with nothing
    /// to transmit and no status in Canada Post's answers. It is as final as a
    /// transmitted one. Only the non-contract reader gives it; Canada Post never sends it.
    PaidByCard,
    Other(String),
}

impl ShipmentStatus {
    pub fn is_transmitted(&self) -> bool {
        *self == ShipmentStatus::Transmitted
    }

    /// Whether `status` (absent when the answer had none) lets an order ship.
    pub fn allows_shipping(status: Option<&ShipmentStatus>) -> bool {
        status.is_some_and(|status| {
            matches!(
                status,
                ShipmentStatus::Transmitted | ShipmentStatus::PaidByCard
            )
        })
    }

    /// `created`, or `no status` when the answer had none, for messages.
    pub fn describe(status: Option<&ShipmentStatus>) -> String {
        status.map_or_else(|| "no status".to_owned(), |status| format!("`{status}`"))
    }
}

/// How a non-contract shipment's status is journaled; not a word Canada Post uses.
const PAID_BY_CARD: &str = "non-contract (paid by card)";

impl From<String> for ShipmentStatus {
    fn from(value: String) -> ShipmentStatus {
        match value.trim() {
            "transmitted" => ShipmentStatus::Transmitted,
            "created" => ShipmentStatus::Created,
            PAID_BY_CARD => ShipmentStatus::PaidByCard,
            _ => ShipmentStatus::Other(value),
        }
    }
}

impl From<ShipmentStatus> for String {
    fn from(status: ShipmentStatus) -> String {
        match status {
            ShipmentStatus::Transmitted => "transmitted".to_owned(),
            ShipmentStatus::Created => "created".to_owned(),
            ShipmentStatus::PaidByCard => PAID_BY_CARD.to_owned(),
            ShipmentStatus::Other(value) => value,
        }
    }
}

impl fmt::Display for ShipmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShipmentStatus::Transmitted => f.write_str("transmitted"),
            ShipmentStatus::Created => f.write_str("created"),
            ShipmentStatus::PaidByCard => f.write_str(PAID_BY_CARD),
            ShipmentStatus::Other(value) => f.write_str(&crate::text::printable(value)),
        }
    }
}

/// The e-mail address a refund request gives Canada Post (`<email>` of
/// `<shipment-refund-request>`): at most 60 characters matching shipment.xsd's
/// `EmailType` pattern, checked here so a request bbship sends always validates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 60;

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = String;

    /// The schema's pattern, `(['_A-Za-z0-9\-\+]+)(\.['_A-Za-z0-9\-\+]+)*@([A-Za-z0-9-]+)
    /// (\.[A-Za-z0-9-]+)*(\.[A-Za-z]{2,})`, spelled out: dot-separated words before the
    /// `@`, at least two dot-separated labels after it, the last one letters only.
    fn try_from(value: String) -> Result<Self, Self::Error> {
        let refuse = || {
            Err(format!(
                "`{}` is not an e-mail address Canada Post accepts (name@example.com, at most {} characters)",
                crate::text::printable(&value),
                Email::MAX_LEN
            ))
        };
        if value.len() > Email::MAX_LEN {
            return refuse();
        }
        let Some((local, domain)) = value.split_once('@') else {
            return refuse();
        };
        let local_ok = local.split('.').all(|word| {
            !word.is_empty()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'\'' | b'_' | b'-' | b'+'))
        });
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
            && labels
                .last()
                .is_some_and(|top| top.len() >= 2 && top.bytes().all(|b| b.is_ascii_alphabetic()));
        if local_ok && domain_ok {
            Ok(Email(value))
        } else {
            refuse()
        }
    }
}

impl From<Email> for String {
    fn from(email: Email) -> String {
        email.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_numbers_compare_numerically() {
        let short = CustomerNumber::try_from("1234567".to_owned()).unwrap();
        let padded = CustomerNumber::try_from("0001234567".to_owned()).unwrap();
        assert_eq!(short, padded);
        assert!(CustomerNumber::try_from("12345678901".to_owned()).is_err());
        assert!(CustomerNumber::try_from("12a".to_owned()).is_err());
        assert!(CustomerNumber::try_from(String::new()).is_err());
    }

    #[test]
    fn service_codes_have_the_documented_shape() {
        for good in ["DOM.EP", "DOM.RP", "USA.TP", "INT.XP"] {
            assert!(ServiceCode::try_from(good.to_owned()).is_ok(), "{good}");
        }
        for bad in ["", "dom.ep", "DOM EP", &"A".repeat(33)] {
            assert!(ServiceCode::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn e_mail_addresses_follow_the_schema_pattern() {
        for good in [
            "seller@example.com",
            "o'brien+refunds@mail.example-shop.ca",
            "a.b_c@x1.io",
        ] {
            assert!(Email::try_from(good.to_owned()).is_ok(), "{good}");
        }
        let long = format!("{}@example.com", "a".repeat(49));
        for bad in [
            "",
            "seller",
            "seller@localhost",
            "seller@example.c",
            "seller@example.c0m",
            ".seller@example.com",
            "sel..ler@example.com",
            "seller@@example.com",
            "sel ler@example.com",
            "seller@exa_mple.com",
            "seller@example.com\n",
            "<seller@example.com>",
            long.as_str(),
        ] {
            assert!(Email::try_from(bad.to_owned()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_transmitted_allows_shipping() {
        let status = |text: &str| ShipmentStatus::from(text.to_owned());
        assert!(ShipmentStatus::allows_shipping(Some(&status(
            "transmitted"
        ))));
        for held in ["created", "suspended", "", "TRANSMITTED"] {
            assert!(
                !ShipmentStatus::allows_shipping(Some(&status(held))),
                "{held}"
            );
        }
        assert!(!ShipmentStatus::allows_shipping(None));
        assert_eq!(status("created"), ShipmentStatus::Created);
        assert_eq!(ShipmentStatus::describe(None), "no status");
        assert_eq!(
            ShipmentStatus::describe(Some(&status("odd\nline"))),
            "`odd\\nline`"
        );
        let json = serde_json::to_string(&status("created")).unwrap();
        assert_eq!(json, "\"created\"");
        assert_eq!(
            serde_json::from_str::<ShipmentStatus>("\"transmitted\"").unwrap(),
            ShipmentStatus::Transmitted
        );
    }

    #[test]
    fn shipment_ids_are_short_and_plain() {
        assert!(ShipmentId::try_from("347881315405043891".to_owned()).is_ok());
        for bad in ["", "../x", "12 3", &"1".repeat(33)] {
            assert!(ShipmentId::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }
}
