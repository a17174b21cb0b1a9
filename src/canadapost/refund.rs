//! Request Shipment Refund (shipment-v8): the `<shipment-refund-request>` body, built
//! through serde types and quick-xml like the Create Shipment request, never by pasting
//! strings. Its one field, the e-mail address Canada Post writes to, is an `Email`, which
//! refuses what the schema's `EmailType` refuses, so every body this module builds
//! validates against `shipment.xsd` (the tests prove it with `xmllint`).
//!
//! A transmitted label cannot be voided, only refunded, and only while unused: Canada Post
//! answers with a service ticket and settles the refund days later.

use serde::Serialize;

use crate::canadapost::shipment::{NC_SHIPMENT_NAMESPACE, SHIPMENT_NAMESPACE};
use crate::canadapost::types::{AccountKind, Email};

#[derive(Serialize)]
#[serde(rename = "shipment-refund-request")]
struct RefundRequestXml<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    email: &'a str,
}

/// The request body for Request Shipment Refund.
#[derive(Serialize)]
#[serde(rename = "non-contract-shipment-refund-request")]
struct NonContractRefundRequestXml<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    email: &'a str,
}

pub fn refund_request_xml(
    email: &Email,
    account: AccountKind,
) -> Result<String, quick_xml::SeError> {
    let body = match account {
        AccountKind::Contract => quick_xml::se::to_string(&RefundRequestXml {
            xmlns: SHIPMENT_NAMESPACE,
            email: email.as_str(),
        })?,
        AccountKind::NonContract => quick_xml::se::to_string(&NonContractRefundRequestXml {
            xmlns: NC_SHIPMENT_NAMESPACE,
            email: email.as_str(),
        })?,
    };
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::xmllint;

    fn email(value: &str) -> Email {
        Email::try_from(value.to_owned()).unwrap()
    }

    #[test]
    fn the_refund_request_says_what_the_sample_says_and_validates() {
        let xml = refund_request_xml(&email("seller@example.com"), AccountKind::Contract).unwrap();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<shipment-refund-request \
             xmlns=\"http://www.canadapost.ca/ws/shipment-v8\"><email>seller@example.com</email>\
             </shipment-refund-request>"
        );
        xmllint(&[xml]).unwrap();
    }

    #[test]
    fn the_non_contract_refund_request_validates_against_ncshipment() {
        let xml =
            refund_request_xml(&email("seller@example.com"), AccountKind::NonContract).unwrap();
        assert!(
            xml.contains(
                "<non-contract-shipment-refund-request xmlns=\"http://www.canadapost.ca/ws/ncshipment-v4\">"
            ),
            "{xml}"
        );
        crate::testing::xmllint_against(&crate::testing::vendored_xsd("ncshipment.xsd"), &[xml])
            .unwrap();
    }

    #[test]
    fn every_address_the_type_accepts_gives_a_valid_request() {
        let documents: Vec<String> = [
            "a@b.co",
            "o'brien+refunds@mail.example-shop.ca",
            "first.last_name@sub.domain.example.technology",
            &format!("{}@example.com", "x".repeat(48)),
        ]
        .iter()
        .map(|value| refund_request_xml(&email(value), AccountKind::Contract).unwrap())
        .collect();
        xmllint(&documents).unwrap();
    }

    #[test]
    fn the_schema_refuses_what_the_type_refuses() {
        // The check works both ways: an address the type refuses also fails the schema,
        // so the type is not stricter or looser than Canada Post by accident.
        for refused in [
            "seller@localhost",
            "seller@example.c0m",
            "sel..ler@example.com",
        ] {
            assert!(Email::try_from(refused.to_owned()).is_err(), "{refused}");
            let xml = format!(
                "<shipment-refund-request xmlns=\"{SHIPMENT_NAMESPACE}\"><email>{refused}</email></shipment-refund-request>"
            );
            assert!(xmllint(&[xml]).is_err(), "{refused}");
        }
    }
}
