//! The create request of either account: Create Shipment (shipment-v8, a contract) or
//! Create Non-Contract Shipment (ncshipment-v4), built through serde types and quick-xml,
//! never by pasting strings: quick-xml escapes `&`, `<`, `>` and quotes, and the value
//! types refuse what the schema refuses (over-long text, control characters, bad postal
//! codes and provinces, out-of-range weights), so every request this module can build
//! validates against `shipment.xsd` or `ncshipment.xsd`. The tests prove that with
//! `xmllint`. Both carry the same addresses, parcel, service and references; only the
//! envelope differs (a non-contract request has no request id, no transmit, no print
//! preferences and no settlement: the card on the profile pays).

use serde::Serialize;

use crate::address::{BoundedText, PostalCode, Province};
use crate::canadapost::types::{ContractId, CustomerNumber, ServiceCode};
use crate::config::{ParcelSpec, SenderConfig};
use crate::ids::RequestId;

pub const SHIPMENT_NAMESPACE: &str = "http://www.canadapost.ca/ws/shipment-v8";
pub const NC_SHIPMENT_NAMESPACE: &str = "http://www.canadapost.ca/ws/ncshipment-v4";

/// Who pays for the label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Settlement<'a> {
    /// The contract's account: `paid-by-customer` may not be the mailed-by customer.
    Contract {
        paid_by_customer: &'a CustomerNumber,
        contract_id: &'a ContractId,
    },
    /// The card on the non-contract profile.
    Card,
}

impl<'a> Settlement<'a> {
    /// The account's settlement. A contract account always has its contract id (the
    /// configuration refuses one without it).
    pub fn of(config: &'a crate::config::CanadaPostConfig) -> Settlement<'a> {
        match (config.account, &config.contract_id) {
            (crate::canadapost::types::AccountKind::Contract, Some(contract_id)) => {
                Settlement::Contract {
                    paid_by_customer: config.paid_by_customer(),
                    contract_id,
                }
            }
            _ => Settlement::Card,
        }
    }
}

/// Where a parcel goes, every field already within Canada Post's limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    pub name: BoundedText<44>,
    pub company: Option<BoundedText<44>>,
    pub phone: Option<BoundedText<25>>,
    pub address_line_1: BoundedText<44>,
    pub address_line_2: Option<BoundedText<44>>,
    pub city: BoundedText<40>,
    pub province: Province,
    pub postal_code: PostalCode,
}

/// Everything one Create Shipment request says.
#[derive(Clone, Debug)]
pub struct ShipmentSpec<'a> {
    pub request_id: &'a RequestId,
    /// `customer-ref-1`: the Best Buy order id, a second way to find the shipment.
    pub order_reference: &'a BoundedText<35>,
    pub service: &'a ServiceCode,
    pub sender: &'a SenderConfig,
    pub destination: &'a Destination,
    pub parcel: &'a ParcelSpec,
    pub settlement: Settlement<'a>,
}

#[derive(Serialize)]
#[serde(rename = "shipment")]
struct ShipmentXml<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "customer-request-id")]
    customer_request_id: &'a str,
    /// Exactly one of this and `group-id` is allowed; bbship always transmits.
    #[serde(rename = "transmit-shipment")]
    transmit_shipment: bool,
    #[serde(rename = "requested-shipping-point")]
    requested_shipping_point: &'a str,
    /// Asks for `shipment-price` in the answer, so each label's cost is known without
    /// another call.
    #[serde(rename = "provide-pricing-info")]
    provide_pricing_info: bool,
    #[serde(rename = "delivery-spec")]
    delivery_spec: DeliverySpecXml<'a>,
}

#[derive(Serialize)]
struct DeliverySpecXml<'a> {
    #[serde(rename = "service-code")]
    service_code: &'a str,
    sender: SenderXml<'a>,
    destination: DestinationXml<'a>,
    #[serde(rename = "parcel-characteristics")]
    parcel_characteristics: ParcelXml,
    #[serde(rename = "print-preferences")]
    print_preferences: PrintPreferencesXml,
    preferences: PreferencesXml,
    references: ReferencesXml<'a>,
    #[serde(rename = "settlement-info")]
    settlement_info: SettlementXml<'a>,
}

#[derive(Serialize)]
struct SenderXml<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    company: &'a str,
    #[serde(rename = "contact-phone")]
    contact_phone: &'a str,
    #[serde(rename = "address-details")]
    address_details: AddressXml<'a>,
}

#[derive(Serialize)]
struct DestinationXml<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    company: Option<&'a str>,
    #[serde(
        rename = "client-voice-number",
        skip_serializing_if = "Option::is_none"
    )]
    client_voice_number: Option<&'a str>,
    #[serde(rename = "address-details")]
    address_details: AddressXml<'a>,
}

#[derive(Serialize)]
struct AddressXml<'a> {
    #[serde(rename = "address-line-1")]
    address_line_1: &'a str,
    #[serde(rename = "address-line-2", skip_serializing_if = "Option::is_none")]
    address_line_2: Option<&'a str>,
    city: &'a str,
    #[serde(rename = "prov-state")]
    prov_state: &'static str,
    /// Absent from a non-contract sender (domestic by schema).
    #[serde(rename = "country-code", skip_serializing_if = "Option::is_none")]
    country_code: Option<&'static str>,
    #[serde(rename = "postal-zip-code")]
    postal_zip_code: &'a str,
}

#[derive(Serialize)]
struct ParcelXml {
    weight: String,
    dimensions: DimensionsXml,
}

#[derive(Serialize)]
struct DimensionsXml {
    length: String,
    width: String,
    height: String,
}

#[derive(Serialize)]
struct PrintPreferencesXml {
    #[serde(rename = "output-format")]
    output_format: &'static str,
    encoding: &'static str,
}

#[derive(Serialize)]
struct PreferencesXml {
    #[serde(rename = "show-packing-instructions")]
    show_packing_instructions: bool,
    #[serde(rename = "show-postage-rate")]
    show_postage_rate: bool,
    #[serde(rename = "show-insured-value")]
    show_insured_value: bool,
}

#[derive(Serialize)]
struct ReferencesXml<'a> {
    #[serde(rename = "customer-ref-1")]
    customer_ref_1: &'a str,
    #[serde(rename = "customer-ref-2")]
    customer_ref_2: &'a str,
}

#[derive(Serialize)]
struct SettlementXml<'a> {
    #[serde(rename = "paid-by-customer")]
    paid_by_customer: &'a str,
    #[serde(rename = "contract-id")]
    contract_id: &'a str,
    #[serde(rename = "intended-method-of-payment")]
    intended_method_of_payment: &'static str,
}

#[derive(Serialize)]
#[serde(rename = "non-contract-shipment")]
struct NonContractShipmentXml<'a> {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "requested-shipping-point")]
    requested_shipping_point: &'a str,
    #[serde(rename = "delivery-spec")]
    delivery_spec: NonContractDeliverySpecXml<'a>,
}

#[derive(Serialize)]
struct NonContractDeliverySpecXml<'a> {
    #[serde(rename = "service-code")]
    service_code: &'a str,
    sender: SenderXml<'a>,
    destination: DestinationXml<'a>,
    #[serde(rename = "parcel-characteristics")]
    parcel_characteristics: ParcelXml,
    preferences: PreferencesXml,
    references: ReferencesXml<'a>,
}

/// The request body for the account's create: Create Shipment with a contract
/// settlement, Create Non-Contract Shipment with the card.
pub fn create_shipment_xml(spec: &ShipmentSpec) -> Result<String, quick_xml::SeError> {
    let common = CommonParts::of(spec);
    let body = match spec.settlement {
        Settlement::Contract {
            paid_by_customer,
            contract_id,
        } => quick_xml::se::to_string(&ShipmentXml {
            xmlns: SHIPMENT_NAMESPACE,
            customer_request_id: spec.request_id.as_str(),
            transmit_shipment: true,
            requested_shipping_point: spec.sender.postal_code.as_str(),
            provide_pricing_info: true,
            delivery_spec: DeliverySpecXml {
                service_code: common.service_code,
                sender: common.sender,
                destination: common.destination,
                parcel_characteristics: common.parcel,
                print_preferences: PrintPreferencesXml {
                    output_format: "4x6",
                    encoding: "PDF",
                },
                preferences: common.preferences,
                references: common.references,
                settlement_info: SettlementXml {
                    paid_by_customer: paid_by_customer.as_str(),
                    contract_id: contract_id.as_str(),
                    intended_method_of_payment: "Account",
                },
            },
        })?,
        Settlement::Card => {
            let mut sender = common.sender;
            sender.address_details.country_code = None;
            quick_xml::se::to_string(&NonContractShipmentXml {
                xmlns: NC_SHIPMENT_NAMESPACE,
                requested_shipping_point: spec.sender.postal_code.as_str(),
                delivery_spec: NonContractDeliverySpecXml {
                    service_code: common.service_code,
                    sender,
                    destination: common.destination,
                    parcel_characteristics: common.parcel,
                    preferences: common.preferences,
                    references: common.references,
                },
            })?
        }
    };
    Ok(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}"
    ))
}

/// What both requests say alike.
struct CommonParts<'a> {
    service_code: &'a str,
    sender: SenderXml<'a>,
    destination: DestinationXml<'a>,
    parcel: ParcelXml,
    preferences: PreferencesXml,
    references: ReferencesXml<'a>,
}

impl<'a> CommonParts<'a> {
    fn of(spec: &ShipmentSpec<'a>) -> CommonParts<'a> {
        let sender = spec.sender;
        let destination = spec.destination;
        CommonParts {
            service_code: spec.service.as_str(),
            sender: SenderXml {
                name: sender.name.as_ref().map(BoundedText::as_str),
                company: sender.company.as_str(),
                contact_phone: sender.phone.as_str(),
                address_details: AddressXml {
                    address_line_1: sender.address_line_1.as_str(),
                    address_line_2: sender.address_line_2.as_ref().map(BoundedText::as_str),
                    city: sender.city.as_str(),
                    prov_state: sender.province.code(),
                    country_code: Some("CA"),
                    postal_zip_code: sender.postal_code.as_str(),
                },
            },
            destination: DestinationXml {
                name: destination.name.as_str(),
                company: destination.company.as_ref().map(BoundedText::as_str),
                client_voice_number: destination.phone.as_ref().map(BoundedText::as_str),
                address_details: AddressXml {
                    address_line_1: destination.address_line_1.as_str(),
                    address_line_2: destination.address_line_2.as_ref().map(BoundedText::as_str),
                    city: destination.city.as_str(),
                    prov_state: destination.province.code(),
                    country_code: Some("CA"),
                    postal_zip_code: destination.postal_code.as_str(),
                },
            },
            parcel: ParcelXml {
                // Fixed decimals: the schema wants a plain decimal, never an exponent.
                weight: format!("{:.3}", spec.parcel.weight_kg.get()),
                dimensions: DimensionsXml {
                    length: format!("{:.1}", spec.parcel.length_cm.get()),
                    width: format!("{:.1}", spec.parcel.width_cm.get()),
                    height: format!("{:.1}", spec.parcel.height_cm.get()),
                },
            },
            preferences: PreferencesXml {
                show_packing_instructions: false,
                show_postage_rate: false,
                show_insured_value: false,
            },
            // The request id rides in customer-ref-2 too: the one place a non-contract
            // shipment, which has no request id, can say which attempt made it.
            references: ReferencesXml {
                customer_ref_1: spec.order_reference.as_str(),
                customer_ref_2: spec.request_id.as_str(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::testing::xmllint;
    use std::path::Path;

    fn config() -> Config {
        Config::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/bbship.example.json"))
            .unwrap()
    }

    fn text<const N: usize>(value: &str) -> BoundedText<N> {
        BoundedText::try_from(value.to_owned()).unwrap()
    }

    fn destination() -> Destination {
        Destination {
            name: text("John Sample"),
            company: Some(text("Smith & Sons <Ltd>")),
            phone: Some(text("902-555-0100")),
            address_line_1: text("123 Example St"),
            address_line_2: Some(text("Apt 4")),
            city: text("Halifax"),
            province: Province::NS,
            postal_code: PostalCode::try_from("b3h 0a1".to_owned()).unwrap(),
        }
    }

    fn build(config: &Config, destination: &Destination) -> String {
        let request_id = RequestId::try_from("ord-261300002-A-7f3a9c2e".to_owned()).unwrap();
        let reference = text("261300002-A");
        crate::testing::shipment_xml_for(config, destination, &request_id, &reference)
    }

    #[test]
    fn a_non_contract_request_validates_against_ncshipment_and_carries_the_same_parts() {
        let mut config = config();
        config.canada_post.account = crate::canadapost::types::AccountKind::NonContract;
        config.canada_post.contract_id = None;
        let xml = build(&config, &destination());
        crate::testing::xmllint_against(
            &crate::testing::vendored_xsd("ncshipment.xsd"),
            std::slice::from_ref(&xml),
        )
        .unwrap();
        for expected in [
            r#"<non-contract-shipment xmlns="http://www.canadapost.ca/ws/ncshipment-v4">"#,
            "<requested-shipping-point>M1M1M1</requested-shipping-point>",
            "<service-code>DOM.EP</service-code>",
            "<company>Smith &amp; Sons &lt;Ltd&gt;</company>",
            "<postal-zip-code>B3H0A1</postal-zip-code>",
            "<weight>2.000</weight>",
            "<customer-ref-1>261300002-A</customer-ref-1>",
            "<customer-ref-2>ord-261300002-A-7f3a9c2e</customer-ref-2>",
            "<country-code>CA</country-code>",
        ] {
            assert!(xml.contains(expected), "{expected} missing from\n{xml}");
        }
        for absent in [
            "customer-request-id",
            "transmit-shipment",
            "print-preferences",
            "settlement-info",
            "contract-id",
            "provide-pricing-info",
        ] {
            assert!(!xml.contains(absent), "{absent} in\n{xml}");
        }
        // The sender's domestic address has no country code in this schema.
        let sender = &xml[xml.find("<sender>").unwrap()..xml.find("</sender>").unwrap()];
        assert!(!sender.contains("country-code"), "{sender}");
    }

    #[test]
    fn a_typical_request_validates_and_says_what_it_must() {
        let config = config();
        let xml = build(&config, &destination());
        xmllint(std::slice::from_ref(&xml)).unwrap();
        for expected in [
            r#"<shipment xmlns="http://www.canadapost.ca/ws/shipment-v8">"#,
            "<transmit-shipment>true</transmit-shipment>",
            "<customer-request-id>ord-261300002-A-7f3a9c2e</customer-request-id>",
            "<requested-shipping-point>M1M1M1</requested-shipping-point>",
            "<provide-pricing-info>true</provide-pricing-info>",
            "<company>Smith &amp; Sons &lt;Ltd&gt;</company>",
            "<address-line-2>Apt 4</address-line-2>",
            "<postal-zip-code>B3H0A1</postal-zip-code>",
            "<weight>2.000</weight>",
            "<length>40.0</length>",
            "<output-format>4x6</output-format><encoding>PDF</encoding>",
            "<customer-ref-1>261300002-A</customer-ref-1>",
            "<contract-id>0042708517</contract-id>",
            "<intended-method-of-payment>Account</intended-method-of-payment>",
        ] {
            assert!(xml.contains(expected), "{expected} missing from\n{xml}");
        }
        assert!(!xml.contains("group-id"));
    }

    #[test]
    fn the_payer_is_the_paying_customer_not_the_mailer() {
        // The example mails and pays as one customer: the payer defaults to it.
        let config = config();
        let xml = build(&config, &destination());
        assert!(
            xml.contains(
                "<settlement-info><paid-by-customer>1234567</paid-by-customer>\
                 <contract-id>0042708517</contract-id>"
            ),
            "{xml}"
        );
        // A contract account that pays under another number sends that number, beside
        // the payer's contract, and the request still validates.
        let mut config = config;
        config.canada_post.paid_by_customer =
            Some(CustomerNumber::try_from("0009876543".to_owned()).unwrap());
        let xml = build(&config, &destination());
        xmllint(std::slice::from_ref(&xml)).unwrap();
        assert!(
            xml.contains(
                "<settlement-info><paid-by-customer>0009876543</paid-by-customer>\
                 <contract-id>0042708517</contract-id>\
                 <intended-method-of-payment>Account</intended-method-of-payment>\
                 </settlement-info>"
            ),
            "{xml}"
        );
        assert!(
            !xml.contains("1234567"),
            "the mailer is in the URL only: {xml}"
        );
    }

    #[test]
    fn hostile_strings_give_a_refusal_or_schema_valid_xml() {
        let config = config();
        let corpus: Vec<String> = vec![
            "& < > \" '".into(),
            "]]><!--".into(),
            "Hélène Côté-O'Brien".into(),
            "Smith & Sons 🚚📦".into(),
            "ß ø å ñ ü ç".into(),
            "line\nbreak".into(),
            "tab\there".into(),
            "nul\0byte".into(),
            "bell\u{7}".into(),
            "nel\u{85}".into(),
            "noncharacter\u{FFFF}".into(),
            "noncharacter\u{FFFE}".into(),
            "   ".into(),
            String::new(),
            "é".repeat(40),
            "x".repeat(44),
            "x".repeat(45),
            "x".repeat(10_000),
            "<shipment xmlns=\"evil\">".into(),
            "&amp;&#x0;".into(),
        ];
        let mut documents = Vec::new();
        let mut refused = 0;
        for value in &corpus {
            let built = (|| -> Result<Destination, String> {
                Ok(Destination {
                    name: BoundedText::try_from(value.clone())?,
                    company: Some(BoundedText::try_from(value.clone())?),
                    phone: Some(text("555-0100")),
                    address_line_1: BoundedText::try_from(value.clone())?,
                    address_line_2: Some(BoundedText::try_from(value.clone())?),
                    city: BoundedText::try_from(value.clone())?,
                    province: Province::QC,
                    postal_code: PostalCode::try_from("H2X 1Y4".to_owned())?,
                })
            })();
            match built {
                Ok(destination) => documents.push(build(&config, &destination)),
                Err(reason) => {
                    assert!(!reason.is_empty());
                    refused += 1;
                }
            }
        }
        assert!(refused > 0 && !documents.is_empty(), "{refused} refused");
        xmllint(&documents).unwrap();
    }
}
