//! The shipping log of the tool bbship replaced: `logs/canada_post/cp_shipping_history_log.json`,
//! one JSON array, read and never written. Every order in it already has a label, so bbship
//! must never buy another for it.
//!
//! The old tool wrote each entry as `{"timestamp": …, "shipment_details": "<XML>"}`, the
//! XML being Canada Post's Get Shipment Details answer as it came (the order in
//! `references/customer-ref-1`, the PIN in `tracking-pin`); some versions stored a
//! `shipment-info` holding `customer-ref-no` instead. Entries that are plain objects with an
//! `order_id`, or bare order-id strings, are read too. An entry bbship cannot attribute to
//! an order is an error, not a skip: a skipped entry could be an order that would then get
//! a second label.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Map, Value};

use crate::canadapost::answers;
use crate::canadapost::xml::{self, Element};

/// What the old tool's log says about one order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LegacyShipment {
    /// Every distinct PIN its entries name, in file order (more than one means the old
    /// tool bought more than one label).
    pub pins: Vec<String>,
    /// The `timestamp` of its first entry, as written (local time of the old tool's
    /// machine, with no zone, in most versions).
    pub recorded_at: Option<String>,
}

impl LegacyShipment {
    /// The PINs for a person to read: `1234567200001012`, or several joined by ", ".
    pub fn pins_text(&self) -> Option<String> {
        (!self.pins.is_empty()).then(|| self.pins.join(", "))
    }
}

/// Why an order the replaced tool labelled, that Best Buy still lists ready to ship, needs
/// a person, and what to do: the label phase reports it and `status` shows it.
pub fn still_shipping_reason(order_id: &str, pins: &[String]) -> String {
    let pins = if pins.is_empty() {
        "no PIN in its log".to_owned()
    } else {
        format!("PIN {}", pins.join(", "))
    };
    format!(
        "labelled by the previous tool ({pins}) but Best Buy still shows it ready to ship: that \
         label may have been voided, so bbship buys none and uploads nothing. Look the PIN up on \
         canadapost.ca: if the parcel went, upload the PIN on Best Buy by hand; if the label was \
         voided, remove order {order_id} from logs/canada_post/cp_shipping_history_log.json and \
         the next run labels it"
    )
}

/// The orders in the legacy log, by order id; empty when there is no such file.
pub fn read(path: &Path) -> Result<BTreeMap<String, LegacyShipment>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(BTreeMap::new());
        }
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", path.display()));
        }
    };
    let entries: Vec<Value> = serde_json::from_str(&text)
        .with_context(|| format!("{}: expected a JSON array of shipments", path.display()))?;
    let mut orders: BTreeMap<String, LegacyShipment> = BTreeMap::new();
    for (index, entry) in entries.iter().enumerate() {
        let (order_id, pin, timestamp) = read_entry(entry).map_err(|problem| {
            anyhow::anyhow!(
                "{}: entry {index} {problem}; bbship cannot tell which order it shipped. \
                 Fix or remove that entry",
                path.display()
            )
        })?;
        let shipment = orders.entry(order_id).or_default();
        if let Some(pin) = pin
            && !shipment.pins.contains(&pin)
        {
            shipment.pins.push(pin);
        }
        if shipment.recorded_at.is_none() {
            shipment.recorded_at = timestamp;
        }
    }
    Ok(orders)
}

/// One entry: its order id, PIN and timestamp, or what is missing.
fn read_entry(entry: &Value) -> Result<(String, Option<String>, Option<String>), String> {
    match entry {
        Value::String(order_id) => Ok((non_empty(order_id).ok_or("is empty")?, None, None)),
        Value::Object(fields) => {
            let timestamp = fields
                .get("timestamp")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let (order_id, pin) = match fields.get("shipment_details") {
                Some(Value::String(details)) => from_xml(details)?,
                Some(_) => return Err("has a shipment_details that is not a string".to_owned()),
                None => (None, None),
            };
            let order_id = order_id
                .or_else(|| field(fields, &["order_id", "orderId"]))
                .ok_or("has no order_id")?;
            let pin = pin.or_else(|| field(fields, &["tracking_pin", "trackingPin"]));
            Ok((order_id, pin, timestamp))
        }
        _ => Err("is neither an object nor an order id".to_owned()),
    }
}

/// The order and PIN of a stored Canada Post answer: Get Shipment Details
/// (`customer-ref-1`), or a `shipment-info` with `customer-ref-no`.
fn from_xml(details: &str) -> Result<(Option<String>, Option<String>), String> {
    let root = xml::parse(details.trim().as_bytes())
        .map_err(|problem| format!("holds shipment_details that are not XML ({problem})"))?;
    let text = |element: &Element, name: &str| element.child_text(name).and_then(non_empty);
    match root.name.as_str() {
        "shipment-details" => {
            let details = answers::shipment_details(&root)?;
            Ok((
                details.customer_ref_1.as_deref().and_then(non_empty),
                details.tracking_pin,
            ))
        }
        "shipment-info" => Ok((
            text(&root, "customer-ref-no").or_else(|| text(&root, "customer-ref-1")),
            text(&root, "tracking-pin"),
        )),
        other => Err(format!(
            "holds <{}> where a Canada Post shipment was expected",
            crate::text::printable(other)
        )),
    }
}

fn field(fields: &Map<String, Value>, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| fields.get(*name).and_then(Value::as_str))
        .and_then(non_empty)
}

fn non_empty(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn production(name: &str) -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/production/legacy")
            .join(name)
    }

    fn pins(orders: &BTreeMap<String, LegacyShipment>, order: &str) -> Vec<String> {
        orders[order].pins.clone()
    }

    #[test]
    fn the_old_tools_shipment_details_entries_give_order_and_pin() {
        let orders = read(&production("cp_shipping_history_log.details.json")).unwrap();
        assert_eq!(
            orders.keys().collect::<Vec<_>>(),
            ["261300101-A", "261300102-A", "261300103-A", "261300104-A"]
        );
        assert_eq!(pins(&orders, "261300101-A"), ["1234567200001012"]);
        assert_eq!(
            orders["261300101-A"].recorded_at.as_deref(),
            Some("2025-08-29T18:24:49.234380")
        );
        let earlier = read(&production("cp_shipping_history_log.details-2.json")).unwrap();
        assert_eq!(earlier.len(), 3);
        assert_eq!(pins(&earlier, "261300106-A"), ["1234567200001067"]);
        let test_order = read(&production("cp_shipping_history_log.test-order.json")).unwrap();
        assert_eq!(pins(&test_order, "TEST-ORDER-123"), ["1234567200001081"]);
    }

    #[test]
    fn a_shipment_info_entry_names_its_order_in_customer_ref_no() {
        let orders = read(&production("cp_shipping_history_log.shipment-info.json")).unwrap();
        assert_eq!(pins(&orders, "261300108-A"), ["1234567890123456"]);
        assert_eq!(
            orders["261300108-A"].recorded_at.as_deref(),
            Some("2025-09-04T08:28:00.000Z")
        );
    }

    #[test]
    fn order_ids_are_read_from_objects_and_strings() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("legacy.json");
        std::fs::write(
            &path,
            r#"[{"order_id":"261200001-A","tracking_pin":"123"},"261200002-A",{"orderId":"261200003-A"},
               {"order_id":"261200001-A","tracking_pin":"456"},{"order_id":"261200001-A","tracking_pin":"123"}]"#,
        )
        .unwrap();
        let orders = read(&path).unwrap();
        assert_eq!(
            orders.keys().collect::<Vec<_>>(),
            ["261200001-A", "261200002-A", "261200003-A"]
        );
        assert_eq!(pins(&orders, "261200001-A"), ["123", "456"]);
        assert_eq!(
            orders["261200001-A"].pins_text().as_deref(),
            Some("123, 456")
        );
        assert_eq!(orders["261200002-A"].pins_text(), None);
    }

    #[test]
    fn no_file_means_no_orders_and_an_entry_naming_no_order_is_an_error() {
        let temp = tempfile::tempdir().unwrap();
        assert!(read(&temp.path().join("none.json")).unwrap().is_empty());
        let path = temp.path().join("legacy.json");
        let details = |references: &str| {
            serde_json::json!({
                "timestamp": "2025-08-29T18:24:49.234380",
                "shipment_details": format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<shipment-details xmlns=\"http://www.canadapost.ca/ws/shipment-v8\">\
                     <tracking-pin>1234567200001012</tracking-pin><shipment-detail><delivery-spec>{references}</delivery-spec>\
                     </shipment-detail></shipment-details>"
                ),
            })
        };
        for (entries, problem) in [
            (
                serde_json::json!([{"order_id": "1-A"}, {"pin": "9"}]),
                "entry 1 has no order_id",
            ),
            (
                serde_json::json!([
                    details("<references><customer-ref-1>1-A</customer-ref-1></references>"),
                    details("")
                ]),
                "entry 1 has no order_id",
            ),
            (
                serde_json::json!([details(
                    "<references><customer-ref-1>  </customer-ref-1></references>"
                )]),
                "entry 0 has no order_id",
            ),
            (
                serde_json::json!([{"timestamp": "x", "shipment_details": "<messages><message><code>E002</code></message></messages>"}]),
                "entry 0 holds <messages>",
            ),
            (
                serde_json::json!([{"timestamp": "x", "shipment_details": "<shipment-details"}]),
                "entry 0 holds shipment_details that are not XML",
            ),
            (serde_json::json!([{"shipment_details": 7}]), "not a string"),
            (serde_json::json!([7]), "entry 0 is neither"),
        ] {
            std::fs::write(&path, entries.to_string()).unwrap();
            let message = format!("{:#}", read(&path).unwrap_err());
            assert!(message.contains(problem), "{problem}: {message}");
            assert!(message.contains("Fix or remove that entry"), "{message}");
        }
    }
}
