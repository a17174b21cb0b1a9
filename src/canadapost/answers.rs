//! Canada Post's answers, read leniently but checked where it matters.
//!
//! Canada Post decides success by the root element, not by the HTTP status (its own
//! samples do the same): a `<messages>` body is an error whatever the status, and an
//! expected root must also carry the fields bbship relies on (a shipment id, a PIN, the
//! PIN asked about). Unknown elements are ignored, so a newer schema minor version does
//! not break a run.

use std::fmt;

use crate::canadapost::money::Postage;
use crate::canadapost::types::{ShipmentId, ShipmentStatus};
use crate::canadapost::xml::{self, Element};

/// One `<message>` of a `<messages>` body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub code: String,
    pub description: String,
}

/// A `<messages>` body: zero or more messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Messages(pub Vec<Message>);

impl Messages {
    pub fn has_code(&self, code: &str) -> bool {
        self.0.iter().any(|message| message.code == code)
    }

    /// "Rejected by SLM Monitor": the per-key throttle. Its code is the generic `Server`
    /// and its HTTP status is unconfirmed, so the description decides.
    pub fn is_throttle(&self) -> bool {
        self.0.iter().any(|message| {
            message
                .description
                .to_ascii_lowercase()
                .contains("slm monitor")
        })
    }

    /// Codes that mean the credentials or the account numbers are wrong: nothing else
    /// will work this run either.
    pub fn is_authentication_failure(&self) -> bool {
        self.0.iter().any(|message| {
            matches!(
                message.code.as_str(),
                "AA001" | "AA002" | "AA003" | "AA004" | "E002"
            )
        })
    }
}

/// How much of one message's description an error shows: Canada Post's sentences run
/// past the usual 80 characters (its 404 quotes the whole path).
const MESSAGE_KEEP: usize = 240;

impl fmt::Display for Messages {
    /// `2695 Contact Phone number is a required field.; 1151 …`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(an empty <messages> body)");
        }
        for (index, message) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("; ")?;
            }
            write!(
                f,
                "{} {}",
                crate::text::printable(&message.code),
                crate::text::printable_within(&message.description, MESSAGE_KEEP)
            )?;
        }
        Ok(())
    }
}

/// A `<link>`: followed as an opaque URL, never built.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Link {
    pub rel: String,
    pub href: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
}

/// The label links among `links`, in page order (a label may have several pages).
pub fn label_links(links: &[Link]) -> Vec<&Link> {
    let mut labels: Vec<&Link> = links.iter().filter(|link| link.rel == "label").collect();
    labels.sort_by_key(|link| link.index.unwrap_or(0));
    labels
}

/// The parts of `<shipment-info>` bbship keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShipmentInfo {
    pub shipment_id: ShipmentId,
    pub customer_request_id: Option<String>,
    /// `None` when the answer had no `<shipment-status>`.
    pub status: Option<ShipmentStatus>,
    /// As Canada Post sent it; the phase checks its format and check digit.
    pub tracking_pin: Option<String>,
    /// Canada Post's purchase order number for the label (`P344547877`), on invoices.
    pub po_number: Option<String>,
    /// `shipment-price` (contract, when the request asked for pricing information) or
    /// the non-contract receipt; `None` when the answer gave none or it did not read.
    pub postage: Option<Postage>,
    pub links: Vec<Link>,
}

impl ShipmentInfo {
    pub fn link(&self, rel: &str) -> Option<&Link> {
        self.links.iter().find(|link| link.rel == rel)
    }

    /// The label links in page order.
    pub fn label_links(&self) -> Vec<&Link> {
        let mut labels: Vec<&Link> = self.links.iter().filter(|l| l.rel == "label").collect();
        labels.sort_by_key(|link| link.index.unwrap_or(0));
        labels
    }
}

/// One `<pin-summary>` of a tracking summary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinSummary {
    pub pin: String,
    pub event_type: Option<String>,
    pub event_description: Option<String>,
    pub event_date_time: Option<String>,
    pub expected_delivery_date: Option<String>,
}

/// `<shipment-refund-request-info>`: Canada Post registered a refund request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundTicket {
    pub service_ticket_id: String,
    pub service_ticket_date: Option<String>,
}

/// What an answer body held: the element the call expects, or `<messages>`.
#[derive(Debug)]
pub enum Answer<T> {
    Expected(T),
    Messages(Messages),
}

/// Reads `body`, expecting the root `expected`; `read` turns that root into a value.
pub fn read<T>(
    body: &[u8],
    expected: &str,
    read: impl FnOnce(&Element) -> Result<T, String>,
) -> Result<Answer<T>, String> {
    let root = xml::parse(body)?;
    if root.name == "messages" {
        return Ok(Answer::Messages(messages(&root)));
    }
    if root.name != expected {
        return Err(format!(
            "expected <{expected}> or <messages>, got <{}>",
            crate::text::printable(&root.name)
        ));
    }
    read(&root).map(Answer::Expected)
}

/// Reads a body that may be a `<messages>` error, whatever the call; `None` otherwise.
pub fn messages_in(body: &[u8]) -> Option<Messages> {
    let root = xml::parse(body).ok()?;
    (root.name == "messages").then(|| messages(&root))
}

fn messages(root: &Element) -> Messages {
    Messages(
        root.children_named("message")
            .map(|message| Message {
                code: message.child_text("code").unwrap_or("").to_owned(),
                description: message.child_text("description").unwrap_or("").to_owned(),
            })
            .collect(),
    )
}

fn links(parent: &Element) -> Vec<Link> {
    parent
        .children_named("link")
        .filter_map(|link| {
            Some(Link {
                rel: link.attribute("rel")?.to_owned(),
                href: link.attribute("href")?.to_owned(),
                media_type: link.attribute("media-type").map(str::to_owned),
                index: link.attribute("index").and_then(|i| i.parse().ok()),
            })
        })
        .collect()
}

/// `<shipment-info>`: a shipment id is required; everything else is optional here and
/// checked by the caller where it matters.
pub fn shipment_info(root: &Element) -> Result<ShipmentInfo, String> {
    let shipment_id = root
        .child_text("shipment-id")
        .ok_or("<shipment-info> has no <shipment-id>")?;
    let shipment_id = ShipmentId::try_from(shipment_id.to_owned())?;
    Ok(ShipmentInfo {
        shipment_id,
        customer_request_id: root.child_text("customer-request-id").map(str::to_owned),
        status: root
            .child_text("shipment-status")
            .map(|status| ShipmentStatus::from(status.to_owned())),
        tracking_pin: root.child_text("tracking-pin").map(str::to_owned),
        po_number: root.child_text("po-number").map(str::to_owned),
        postage: root.child("shipment-price").and_then(price_amounts),
        links: root.child("links").map(links).unwrap_or_default(),
    })
}

/// The amounts of a `<shipment-price>` or a `<non-contract-shipment-receipt>`, which
/// name them alike; `None` when the due amount is missing or does not read. A receipt
/// has no `due-amount`: what the card was charged (`cc-receipt-details/charge-amount`) is
/// due, else the pre-tax amount plus the taxes.
pub fn price_amounts(price: &Element) -> Option<Postage> {
    let taxes = ["gst-amount", "pst-amount", "hst-amount"].map(|name| price.child_text(name));
    let base = price.child_text("base-amount");
    let charged = price
        .child("cc-receipt-details")
        .and_then(|card| card.child_text("charge-amount"));
    if let Some(postage) =
        Postage::from_texts(price.child_text("due-amount").or(charged), base, taxes)
    {
        return Some(postage);
    }
    // Neither amount: the pre-tax amount and the taxes, all of which must read.
    let pre_tax = Postage::from_texts(price.child_text("pre-tax-amount"), base, taxes)?;
    Some(Postage {
        due: pre_tax.due.checked_add(pre_tax.taxes?)?,
        ..pre_tax
    })
}

/// The parts of `<shipment-details>` (Get Shipment Details) bbship reads.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShipmentDetails {
    pub status: Option<String>,
    pub tracking_pin: Option<String>,
    pub po_number: Option<String>,
    pub service_code: Option<String>,
    /// `references/customer-ref-1`: the order the label was bought for.
    pub customer_ref_1: Option<String>,
    /// `references/customer-ref-2`: bbship writes the attempt's request id there.
    pub customer_ref_2: Option<String>,
    pub paid_by_customer: Option<String>,
    pub contract_id: Option<String>,
}

/// `<shipment-details>`. Production nests the specification one level down
/// (`shipment-detail/delivery-spec`, beside the status and PIN, with no shipment id or
/// links); a `delivery-spec` directly under the root is read too, as the older
/// documentation draws it. Nothing is required here: the caller decides what it needs.
pub fn shipment_details(root: &Element) -> Result<ShipmentDetails, String> {
    // A non-contract `<non-contract-shipment-details>` has its delivery spec directly
    // under the root too.
    let spec = root
        .child("shipment-detail")
        .and_then(|detail| detail.child("delivery-spec"))
        .or_else(|| root.child("delivery-spec"));
    let in_spec = |path: &[&str]| {
        let (last, parents) = path.split_last()?;
        let parent = parents
            .iter()
            .try_fold(spec?, |element, name| element.child(name))?;
        parent.child_text(last).map(str::to_owned)
    };
    Ok(ShipmentDetails {
        status: root.child_text("shipment-status").map(str::to_owned),
        tracking_pin: root.child_text("tracking-pin").map(str::to_owned),
        po_number: root.child_text("po-number").map(str::to_owned),
        service_code: in_spec(&["service-code"]),
        customer_ref_1: in_spec(&["references", "customer-ref-1"]),
        customer_ref_2: in_spec(&["references", "customer-ref-2"]),
        paid_by_customer: in_spec(&["settlement-info", "paid-by-customer"]),
        contract_id: in_spec(&["settlement-info", "contract-id"]),
    })
}

/// `<shipment-info>` answering a create: as `shipment_info`, and it must also carry the
/// tracking PIN and a label link. A create answer without them is not taken as the
/// shipment's record: the caller looks the shipment up by its request id instead and
/// reads what Canada Post really holds.
pub fn created_shipment_info(root: &Element) -> Result<ShipmentInfo, String> {
    created(shipment_info(root)?)
}

/// A shipment read from a create answer: it must carry its PIN and a label link.
pub fn created(info: ShipmentInfo) -> Result<ShipmentInfo, String> {
    if info.tracking_pin.is_none() {
        return Err("<shipment-info> has no <tracking-pin>".to_owned());
    }
    if info.label_links().is_empty() {
        return Err("<shipment-info> has no label <link>".to_owned());
    }
    Ok(info)
}

/// `<non-contract-shipment-info>`: shipment id, PIN and links, and no status (the
/// schema has none): a non-contract shipment is charged to the card when it is made,
/// with nothing left to transmit, so it reads as `PaidByCard`.
pub fn non_contract_shipment_info(root: &Element) -> Result<ShipmentInfo, String> {
    let shipment_id = root
        .child_text("shipment-id")
        .ok_or("<non-contract-shipment-info> has no <shipment-id>")?;
    Ok(ShipmentInfo {
        shipment_id: ShipmentId::try_from(shipment_id.to_owned())?,
        customer_request_id: None,
        status: Some(ShipmentStatus::PaidByCard),
        tracking_pin: root.child_text("tracking-pin").map(str::to_owned),
        po_number: None,
        postage: None,
        links: root.child("links").map(links).unwrap_or_default(),
    })
}

/// Every `<link>` directly under `root`, whatever its rel.
pub fn all_links(root: &Element) -> Vec<Link> {
    links(root)
}

/// `<shipments>`: the `rel="shipment"` links (none means not found).
pub fn shipment_links(root: &Element) -> Result<Vec<Link>, String> {
    Ok(links(root)
        .into_iter()
        .filter(|link| link.rel == "shipment")
        .collect())
}

/// `<shipment-refund-request-info>`: the service ticket id is required (it is what a
/// person quotes to Canada Post); the date is kept when present.
pub fn refund_request_info(root: &Element) -> Result<RefundTicket, String> {
    let service_ticket_id = root
        .child_text("service-ticket-id")
        .ok_or("<shipment-refund-request-info> has no <service-ticket-id>")?;
    Ok(RefundTicket {
        service_ticket_id: service_ticket_id.to_owned(),
        service_ticket_date: root.child_text("service-ticket-date").map(str::to_owned),
    })
}

/// `<tracking-summary>`: the `<pin-summary>` elements.
pub fn tracking_summary(root: &Element) -> Result<Vec<PinSummary>, String> {
    let text = |summary: &Element, name: &str| summary.child_text(name).map(str::to_owned);
    let summaries: Vec<PinSummary> = root
        .children_named("pin-summary")
        .map(|summary| {
            Ok(PinSummary {
                pin: text(summary, "pin").ok_or("a <pin-summary> has no <pin>")?,
                event_type: text(summary, "event-type"),
                event_description: text(summary, "event-description"),
                event_date_time: text(summary, "event-date-time"),
                expected_delivery_date: text(summary, "expected-delivery-date"),
            })
        })
        .collect::<Result<_, String>>()?;
    if summaries.is_empty() {
        return Err("<tracking-summary> holds no <pin-summary>".to_owned());
    }
    Ok(summaries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/canada-post")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    }

    #[test]
    fn the_create_shipment_answer_gives_id_pin_and_links() {
        let Answer::Expected(info) = read(
            &fixture("create-shipment-response.xml"),
            "shipment-info",
            shipment_info,
        )
        .unwrap() else {
            panic!("messages")
        };
        assert_eq!(info.shipment_id.as_str(), "347881315405043891");
        assert_eq!(info.tracking_pin.as_deref(), Some("123456789012"));
        assert_eq!(
            info.customer_request_id.as_deref(),
            Some("ord-1042-7f3a9c2e")
        );
        let labels = info.label_links();
        assert_eq!(labels.len(), 1);
        assert_eq!(labels[0].media_type.as_deref(), Some("application/pdf"));
        assert!(info.link("refund").is_some());
    }

    fn production(name: &str) -> Vec<u8> {
        fixture(&format!("../production/canada-post/{name}"))
    }

    /// The value `reader` makes of `body`, which must hold the root `root`.
    fn expected<T>(
        body: &[u8],
        root: &str,
        reader: impl FnOnce(&Element) -> Result<T, String>,
    ) -> T {
        match read(body, root, reader) {
            Ok(Answer::Expected(value)) => value,
            Ok(Answer::Messages(messages)) => panic!("expected <{root}>, got {messages}"),
            Err(problem) => panic!("{problem}"),
        }
    }

    /// The `<messages>` of `body`, which must hold them.
    fn messages_of(body: &[u8]) -> Messages {
        match read(body, "shipment-info", shipment_info) {
            Ok(Answer::Messages(messages)) => messages,
            other => panic!("expected <messages>, got {other:?}"),
        }
    }

    #[test]
    fn the_non_contract_answers_read_their_shipment_links_price_and_order() {
        let body = fixture("ncshipment-response.xml");
        let info = expected(&body, "non-contract-shipment-info", |root| {
            created(non_contract_shipment_info(root)?)
        });
        assert_eq!(info.shipment_id.as_str(), "406951321983787352");
        assert_eq!(info.tracking_pin.as_deref(), Some("1234567200001012"));
        assert_eq!(info.status, Some(ShipmentStatus::PaidByCard));
        assert_eq!(info.postage, None, "the create answer has no price");
        for rel in ["self", "details", "receipt", "refund"] {
            assert!(info.link(rel).is_some(), "{rel}");
        }

        let receipt = expected(
            &fixture("ncshipment-receipt.xml"),
            "non-contract-shipment-receipt",
            |root| Ok(price_amounts(root)),
        )
        .unwrap();
        assert_eq!(
            receipt.due.to_string(),
            "21.99",
            "what the card was charged"
        );
        assert_eq!(
            receipt.base.map(|base| base.to_string()).as_deref(),
            Some("18.10")
        );
        assert_eq!(
            receipt.taxes.map(|taxes| taxes.to_string()).as_deref(),
            Some("2.53")
        );

        let details = expected(
            &fixture("ncshipment-details.xml"),
            "non-contract-shipment-details",
            shipment_details,
        );
        assert_eq!(details.customer_ref_1.as_deref(), Some("261300101-A"));
        assert_eq!(
            details.customer_ref_2.as_deref(),
            Some("261300101-A-mx4zxjpj-1bf5")
        );
        assert_eq!(details.tracking_pin.as_deref(), Some("1234567200001012"));

        let list = expected(
            &fixture("ncshipments-list.xml"),
            "non-contract-shipments",
            |root| Ok(all_links(root)),
        );
        assert_eq!(list.len(), 2);
        let ticket = expected(
            &fixture("ncshipment-refund-response.xml"),
            "non-contract-shipment-refund-request-info",
            refund_request_info,
        );
        assert_eq!(ticket.service_ticket_id, "GT12345678RT");
    }

    #[test]
    fn a_receipt_without_a_charge_is_priced_from_its_pre_tax_amount_and_taxes_or_unknown() {
        let receipt = |inner: &str| {
            let body =
                format!("<non-contract-shipment-receipt>{inner}</non-contract-shipment-receipt>");
            expected(body.as_bytes(), "non-contract-shipment-receipt", |root| {
                Ok(price_amounts(root))
            })
        };
        let priced = receipt(
            "<base-amount>10.00</base-amount><pre-tax-amount>10.50</pre-tax-amount>\
             <gst-amount>0.53</gst-amount><pst-amount>0.00</pst-amount><hst-amount>0.00</hst-amount>",
        )
        .unwrap();
        assert_eq!(priced.due.to_string(), "11.03");
        assert_eq!(
            receipt("<base-amount>10.00</base-amount>"),
            None,
            "unknown, not 10 or 0"
        );
        assert_eq!(receipt("<charge-amount>x</charge-amount>"), None);
    }

    #[test]
    fn a_production_create_answer_needs_no_request_id() {
        // Captured from production: no customer-request-id, a po-number, a price link.
        let body = production("create-shipment-response.xml");
        let info = expected(&body, "shipment-info", created_shipment_info);
        assert_eq!(info.shipment_id.as_str(), "100000000000000101");
        assert_eq!(info.customer_request_id, None);
        assert_eq!(info.status, Some(ShipmentStatus::Transmitted));
        assert_eq!(info.tracking_pin.as_deref(), Some("1234567200001012"));
        assert_eq!(info.po_number.as_deref(), Some("P100000101"));
        assert_eq!(info.postage, None, "not asked for pricing");
        for rel in ["self", "details", "price", "refund"] {
            assert!(info.link(rel).is_some(), "{rel}");
        }
        assert_eq!(info.label_links()[0].index, Some(0));

        let body = production("create-shipment-response-priced.xml");
        let priced = expected(&body, "shipment-info", created_shipment_info);
        let postage = priced.postage.unwrap();
        assert_eq!(postage.due.to_string(), "31.58");
        assert!(
            postage.base.is_some() && postage.taxes.is_some(),
            "{postage:?}"
        );
        assert_eq!(priced.po_number.as_deref(), Some("P123456789"));
        assert_eq!(priced.customer_request_id, None);
    }

    #[test]
    fn production_shipment_details_are_read_through_shipment_detail() {
        let body = production("shipment-details.xml");
        let details = expected(&body, "shipment-details", shipment_details);
        assert_eq!(
            details,
            ShipmentDetails {
                status: Some("transmitted".into()),
                tracking_pin: Some("1234567200001012".into()),
                po_number: Some("P100000101".into()),
                service_code: Some("DOM.EP".into()),
                customer_ref_1: Some("261300101-A".into()),
                customer_ref_2: None,
                paid_by_customer: Some("0007654321".into()),
                contract_id: Some("0040012345".into()),
            }
        );
        // The flat shape of the older documentation is read the same way.
        let flat = br#"<shipment-details><delivery-spec><references><customer-ref-1>1-A</customer-ref-1></references></delivery-spec></shipment-details>"#;
        let flat = expected(flat, "shipment-details", shipment_details);
        assert_eq!(flat.customer_ref_1.as_deref(), Some("1-A"));
    }

    #[test]
    fn no_pin_history_is_read_in_either_namespace() {
        for name in [
            "tracking-004-messages-namespace.xml",
            "tracking-004-track-namespace.xml",
        ] {
            assert!(messages_of(&production(name)).has_code("004"), "{name}");
        }
    }

    #[test]
    fn production_errors_and_refunds_are_read() {
        let gone = messages_of(&production("label-404-url-not-found.xml"));
        assert!(gone.has_code("404"));
        assert!(
            gone.0[0]
                .description
                .ends_with("was not found on this server.")
        );
        // No namespace at all on this refund answer.
        let body = production("shipment-refund-response.xml");
        let ticket = expected(&body, "shipment-refund-request-info", refund_request_info);
        assert_eq!(ticket.service_ticket_id, "GT12345678RT");
    }

    #[test]
    fn several_messages_are_all_kept() {
        let Answer::Messages(messages) = read(
            &fixture("create-shipment-validation-error.xml"),
            "shipment-info",
            shipment_info,
        )
        .unwrap() else {
            panic!("expected messages")
        };
        assert_eq!(messages.0.len(), 3);
        assert!(messages.has_code("2695"));
        let text = messages.to_string();
        assert!(text.contains("2695 Contact Phone"), "{text}");
        assert!(text.contains("8716"), "{text}");
    }

    #[test]
    fn the_request_id_lookup_gives_shipment_links() {
        let Answer::Expected(links) = read(
            &fixture("get-shipments-by-request-id-response.xml"),
            "shipments",
            shipment_links,
        )
        .unwrap() else {
            panic!("messages")
        };
        assert_eq!(links.len(), 1);
        let Answer::Expected(none) = read(
            br#"<shipments xmlns="http://www.canadapost.ca/ws/shipment-v8"/>"#,
            "shipments",
            shipment_links,
        )
        .unwrap() else {
            panic!("messages")
        };
        assert!(none.is_empty());
    }

    #[test]
    fn the_refund_answer_gives_the_service_ticket() {
        let Answer::Expected(ticket) = read(
            &fixture("shipment-refund-response.xml"),
            "shipment-refund-request-info",
            refund_request_info,
        )
        .unwrap() else {
            panic!("messages")
        };
        assert_eq!(ticket.service_ticket_id, "GT12345678RT");
        assert_eq!(ticket.service_ticket_date.as_deref(), Some("2015-01-28"));
        assert!(
            read(
                b"<shipment-refund-request-info><service-ticket-date>2015-01-28</service-ticket-date></shipment-refund-request-info>",
                "shipment-refund-request-info",
                refund_request_info
            )
            .is_err()
        );
    }

    #[test]
    fn tracking_answers_are_a_summary_or_no_pin_history() {
        let Answer::Expected(summaries) = read(
            &fixture("tracking-summary-response.xml"),
            "tracking-summary",
            tracking_summary,
        )
        .unwrap() else {
            panic!("messages")
        };
        assert_eq!(summaries[0].pin, "7023210039414604");
        assert_eq!(summaries[0].event_type.as_deref(), Some("INDUCTION"));
        let Answer::Messages(messages) = read(
            &fixture("tracking-no-pin-history.xml"),
            "tracking-summary",
            tracking_summary,
        )
        .unwrap() else {
            panic!("expected messages")
        };
        assert!(messages.has_code("004"));
    }

    #[test]
    fn canada_posts_own_404_description_is_shown_whole_and_escaped() {
        let path = format!("/rs/artifact/76108cb5192002d5/{}/0", "1".repeat(40));
        let body = format!(
            "<messages xmlns=\"http://www.canadapost.ca/ws/messages\"><message><code>404</code>\
             <description>The requested URL {path} was not found on this server.</description>\
             </message></messages>"
        );
        let shown = messages_in(body.as_bytes()).unwrap().to_string();
        assert_eq!(
            shown,
            format!("404 The requested URL {path} was not found on this server.")
        );
        let hostile = Messages(vec![Message {
            code: "404".into(),
            description: format!("{}\nbbship: error: forged", "x".repeat(300)),
        }]);
        let shown = hostile.to_string();
        assert!(
            !shown.contains('\n') && shown.ends_with("(322 characters)"),
            "{shown}"
        );
    }

    #[test]
    fn the_throttle_and_authentication_failures_are_recognised() {
        let slm = br#"<messages xmlns="http://www.canadapost.ca/ws/messages"><message><code>Server</code><description>Rejected by SLM Monitor</description></message></messages>"#;
        assert!(messages_in(slm).unwrap().is_throttle());
        let auth = br#"<messages><message><code>AA002</code><description>x</description></message></messages>"#;
        assert!(messages_in(auth).unwrap().is_authentication_failure());
        assert!(messages_in(b"<html/>").is_none());
    }

    #[test]
    fn unexpected_or_incomplete_answers_are_errors() {
        assert!(
            read(
                b"<html><body>oops</body></html>",
                "shipment-info",
                shipment_info
            )
            .is_err()
        );
        assert!(read(b"<shipment-info/>", "shipment-info", shipment_info).is_err());
        let no_pin = b"<shipment-info><shipment-id>123</shipment-id><links><link rel=\"label\" href=\"x\"/></links></shipment-info>";
        assert!(matches!(
            read(no_pin, "shipment-info", shipment_info),
            Ok(Answer::Expected(_))
        ));
        let problem = read(no_pin, "shipment-info", created_shipment_info).unwrap_err();
        assert_eq!(problem, "<shipment-info> has no <tracking-pin>");
        let no_label = b"<shipment-info><shipment-id>123</shipment-id><tracking-pin>123456789012</tracking-pin></shipment-info>";
        let problem = read(no_label, "shipment-info", created_shipment_info).unwrap_err();
        assert_eq!(problem, "<shipment-info> has no label <link>");
        assert!(
            read(
                &fixture("create-shipment-response.xml"),
                "shipment-info",
                created_shipment_info
            )
            .is_ok()
        );
        assert!(
            read(
                b"<shipment-info><shipment-id>../../x</shipment-id></shipment-info>",
                "shipment-info",
                shipment_info
            )
            .is_err()
        );
        assert!(read(b"<tracking-summary/>", "tracking-summary", tracking_summary).is_err());
        let Answer::Messages(empty) = read(b"<messages/>", "shipments", shipment_links).unwrap()
        else {
            panic!("expected messages")
        };
        assert_eq!(empty.to_string(), "(an empty <messages> body)");
        let hostile = Messages(vec![Message {
            code: "E\u{1b}[2J".to_owned(),
            description: "line one\nbbship: error: forged".to_owned(),
        }]);
        assert_eq!(
            hostile.to_string(),
            r"E\u{1b}[2J line one\nbbship: error: forged"
        );
    }

    /// The fake's default Canada Post credentials, as Basic.
    fn basic() -> String {
        "Basic ZmFrZS1jYW5hZGEtcG9zdC11c2VyOmZha2UtY2FuYWRhLXBvc3QtcGFzc3dvcmQ=".to_owned()
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into()
    }

    fn sample_request() -> String {
        String::from_utf8(fixture("create-shipment-request.xml")).unwrap()
    }

    fn post(fake: &bbship_fake::FakeServer, headers: &[(&str, &str)], body: &str) -> (u16, String) {
        post_to(fake, "/rs/1234567/1234567/shipment", headers, body)
    }

    fn post_to(
        fake: &bbship_fake::FakeServer,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> (u16, String) {
        let mut request = agent().post(format!("{}{path}", fake.base_url()));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let mut response = request.send(body).unwrap();
        (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap(),
        )
    }

    fn get(fake: &bbship_fake::FakeServer, url: &str, accept: &str) -> (u16, String) {
        assert!(url.starts_with(&fake.base_url()), "{url}");
        let mut response = agent()
            .get(url)
            .header("Authorization", basic())
            .header("Accept", accept)
            .header("Accept-language", "en-CA")
            .call()
            .unwrap();
        (
            response.status().as_u16(),
            response.body_mut().read_to_string().unwrap(),
        )
    }

    #[test]
    fn the_fakes_create_answers_and_details_are_read_as_production_shapes() {
        const SHIPMENT: &str = "application/vnd.cpc.shipment-v8+xml";
        let fake = bbship_fake::FakeServer::start(bbship_fake::FakeOptions::default()).unwrap();
        let auth = basic();
        let headers = [
            ("Authorization", auth.as_str()),
            ("Accept", SHIPMENT),
            ("Content-Type", SHIPMENT),
            ("Accept-language", "en-CA"),
        ];
        let (status, body) = post(&fake, &headers, &sample_request());
        assert_eq!(status, 200, "{body}");
        assert!(!body.contains("customer-request-id"), "{body}");
        let Answer::Expected(info) =
            read(body.as_bytes(), "shipment-info", created_shipment_info).unwrap()
        else {
            panic!("{body}")
        };
        assert_eq!(info.customer_request_id, None);
        assert!(info.po_number.as_deref().unwrap().starts_with('P'));
        assert!(info.link("price").is_some(), "{body}");
        // 12.50 + 2.00 × 1.25 kg = 15.00, and 13 % HST.
        assert_eq!(
            info.postage.map(|p| p.due.to_string()).as_deref(),
            Some("16.95"),
            "{body}"
        );
        for part in [
            "<base-amount>15.00</base-amount>",
            "<hst-amount>1.95</hst-amount>",
        ] {
            assert!(body.contains(part), "{part} missing from {body}");
        }
        let pin = info.tracking_pin.clone().unwrap();
        assert!(pin.len() == 16 && pin.starts_with("1234567"), "{pin}");
        assert!(crate::ids::pin_check_digit_holds(&pin));

        let details_url = info.link("details").unwrap().href.clone();
        let (status, details_body) = get(&fake, &details_url, SHIPMENT);
        assert_eq!(status, 200, "{details_body}");
        let Answer::Expected(details) = read(
            details_body.as_bytes(),
            "shipment-details",
            shipment_details,
        )
        .unwrap() else {
            panic!("{details_body}")
        };
        assert_eq!(details.customer_ref_1.as_deref(), Some("ORDER-1042"));
        assert_eq!(details.tracking_pin.as_deref(), Some(pin.as_str()));
        assert_eq!(details.status.as_deref(), Some("transmitted"));
        assert_eq!(details.po_number, info.po_number);
        for part in [
            "<shipment-detail><transmit-shipment>true</transmit-shipment><expected-mailing-date>2026-01-15</expected-mailing-date><delivery-spec>",
            "<final-shipping-point>K2B8J6</final-shipping-point>",
            "<weight>1.250</weight>",
            "<unpackaged>false</unpackaged><mailing-tube>false</mailing-tube><oversized>false</oversized>",
        ] {
            assert!(
                details_body.contains(part),
                "{part} missing from {details_body}"
            );
        }
        for absent in ["<shipment-id>", "<links>", "customer-request-id"] {
            assert!(!details_body.contains(absent), "{absent} in {details_body}");
        }
        let (status, _) = get(&fake, &format!("{details_url}x"), SHIPMENT);
        assert_eq!(status, 404);

        // Get Shipment Price (the `price` link): the same amounts as their own document,
        // valid against shipment.xsd, for a shipment found without its create answer.
        let price_url = info.link("price").unwrap().href.clone();
        let (status, price_body) = get(&fake, &price_url, SHIPMENT);
        assert_eq!(status, 200, "{price_body}");
        let xsd = crate::testing::vendored_xsd("shipment.xsd");
        if let Err(complaints) =
            crate::testing::xmllint_against(&xsd, std::slice::from_ref(&price_body))
        {
            panic!("{complaints}\n{price_body}");
        }
        let Answer::Expected(postage) = read(price_body.as_bytes(), "shipment-price", |root| {
            Ok(price_amounts(root))
        })
        .unwrap() else {
            panic!("{price_body}")
        };
        assert_eq!(postage, info.postage, "{price_body}");

        // Without provide-pricing-info the answer has no price, as Canada Post's.
        let unpriced =
            sample_request().replace("<provide-pricing-info>true</provide-pricing-info>", "");
        let (status, body) = post(&fake, &headers, &unpriced);
        assert_eq!(status, 200, "{body}");
        assert!(
            !body.contains("shipment-price") && body.contains("<po-number>"),
            "{body}"
        );
    }

    /// Every answer of the fake's non-contract side validates against ncshipment.xsd.
    fn assert_nc_valid(body: &str) {
        let xsd = crate::testing::vendored_xsd("ncshipment.xsd");
        if let Err(complaints) = crate::testing::xmllint_against(&xsd, &[body.to_owned()]) {
            panic!("{complaints}\n{body}");
        }
    }

    #[test]
    fn the_fake_serves_non_contract_shipping_as_strictly_as_contract() {
        const NC: &str = "application/vnd.cpc.ncshipment-v4+xml";
        let fake = bbship_fake::FakeServer::start(bbship_fake::FakeOptions::default()).unwrap();
        let auth = basic();
        let good = [
            ("Authorization", auth.as_str()),
            ("Accept", NC),
            ("Content-Type", NC),
            ("Accept-language", "en-CA"),
        ];
        let request = std::fs::read_to_string("tests/fixtures/canada-post/ncshipment-request.xml")
            .unwrap()
            .replace(
                "</customer-ref-1>",
                "</customer-ref-1><customer-ref-2>ORDER-1042-r1</customer-ref-2>",
            );
        let create = "/rs/1234567/ncshipment";
        // Exact media types: the contract ones, or */*, are refused.
        let mut contract_type = good;
        contract_type[1].1 = "application/vnd.cpc.shipment-v8+xml";
        assert_eq!(post_to(&fake, create, &contract_type, &request).0, 406);
        let mut any = good;
        any[1].1 = "*/*";
        assert_eq!(post_to(&fake, create, &any, &request).0, 406);
        let mut wrong_type = good;
        wrong_type[2].1 = "application/vnd.cpc.shipment-v8+xml";
        assert_eq!(post_to(&fake, create, &wrong_type, &request).0, 415);
        // A contract request, or contract elements in a non-contract one, are refused.
        let (status, body) = post_to(&fake, create, &good, &sample_request());
        assert_eq!(status, 400, "{body}");
        let with_contract = request.replace(
            "<requested-shipping-point>",
            "<transmit-shipment>true</transmit-shipment><requested-shipping-point>",
        );
        let (status, body) = post_to(&fake, create, &good, &with_contract);
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("transmit-shipment"), "{body}");
        let sender_country = request.replace(
            "<prov-state>ON</prov-state>",
            "<prov-state>ON</prov-state><country-code>CA</country-code>",
        );
        let (status, body) = post_to(&fake, create, &good, &sender_country);
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("country-code"), "{body}");
        assert!(fake.shipments().is_empty());

        let (status, body) = post_to(&fake, create, &good, &request);
        assert_eq!(status, 200, "{body}");
        assert_nc_valid(&body);
        let Answer::Expected(info) = read(body.as_bytes(), "non-contract-shipment-info", |root| {
            created(non_contract_shipment_info(root)?)
        })
        .unwrap() else {
            panic!("{body}")
        };
        assert!(crate::ids::pin_check_digit_holds(
            info.tracking_pin.as_deref().unwrap()
        ));
        for rel in ["details", "receipt", "refund"] {
            let link = info.link(rel).unwrap_or_else(|| panic!("{rel}: {body}"));
            if rel != "refund" {
                let (status, answer) = get(&fake, &link.href, NC);
                assert_eq!(status, 200, "{answer}");
                assert_nc_valid(&answer);
                let (status, _) = get(&fake, &link.href, "application/vnd.cpc.shipment-v8+xml");
                assert_eq!(status, 406);
            }
        }

        // The window is read in Eastern time: now, in Toronto, holds the shipment; the
        // same digits read as UTC do not (unless they agree, which they never do).
        let toronto = |at: chrono::DateTime<chrono::Utc>| {
            let offset = if crate::canadapost::eastern::offset_hours(at) == -4 {
                4
            } else {
                5
            };
            (at - chrono::Duration::hours(offset))
                .format("%Y%m%d%H%M")
                .to_string()
        };
        let now = chrono::Utc::now();
        let list = |from: String, to: String| {
            get(
                &fake,
                &format!("{}{create}?from={from}&to={to}", fake.base_url()),
                NC,
            )
        };
        let (status, body) = list(
            toronto(now - chrono::Duration::minutes(2)),
            toronto(now + chrono::Duration::minutes(2)),
        );
        assert_eq!(status, 200, "{body}");
        assert_nc_valid(&body);
        assert_eq!(body.matches("rel=\"shipment\"").count(), 1, "{body}");
        let utc = |at: chrono::DateTime<chrono::Utc>| at.format("%Y%m%d%H%M").to_string();
        let (_, body) = list(
            utc(now - chrono::Duration::minutes(2)),
            utc(now + chrono::Duration::minutes(2)),
        );
        assert_eq!(body.matches("rel=\"shipment\"").count(), 0, "{body}");
        // A search without `from`, or a malformed one, is refused with messages.
        let (status, body) = get(&fake, &format!("{}{create}", fake.base_url()), NC);
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("<messages"), "{body}");
        assert_eq!(list("2026".to_owned(), "2027".to_owned()).0, 400);

        // Refund: the ncshipment body, once.
        let refund = info.link("refund").unwrap().href.clone();
        let refund_path = refund.trim_start_matches(&fake.base_url()).to_owned();
        let body =
            std::fs::read_to_string("tests/fixtures/canada-post/shipment-refund-request.xml")
                .unwrap();
        assert_eq!(
            post_to(&fake, &refund_path, &good, &body).0,
            400,
            "a contract refund body"
        );
        let nc_refund = "<non-contract-shipment-refund-request xmlns=\"http://www.canadapost.ca/ws/ncshipment-v4\"><email>a@example.com</email></non-contract-shipment-refund-request>";
        let (status, answer) = post_to(&fake, &refund_path, &good, nc_refund);
        assert_eq!(status, 200, "{answer}");
        assert_nc_valid(&answer);
        let (status, answer) = post_to(&fake, &refund_path, &good, nc_refund);
        assert_eq!(status, 400, "{answer}");
        assert!(answer.contains("already been submitted"), "{answer}");
    }
}
