//! Best Buy (Mirakl) orders as bbship reads them.
//!
//! Mirakl adds fields and enum values without notice and real answers carry nulls where
//! the schema promises values, so the wire form (`Raw*`) makes every field optional and
//! ignores unknown ones. `Order::from_json` then checks only what bbship decides on (the
//! id, the state, the lines) and reports a bad order by name without failing its page.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{OrderId, OrderLineId};
use crate::text::{printable, quoted};

/// Mirakl's order (and order line) states, with an `Other` case for values added later.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum OrderState {
    Staging,
    WaitingAcceptance,
    WaitingDebit,
    WaitingDebitPayment,
    Shipping,
    Shipped,
    ToCollect,
    Received,
    Closed,
    Refused,
    Canceled,
    IncidentOpen,
    Refunded,
    Other(String),
}

impl OrderState {
    pub fn as_str(&self) -> &str {
        match self {
            OrderState::Staging => "STAGING",
            OrderState::WaitingAcceptance => "WAITING_ACCEPTANCE",
            OrderState::WaitingDebit => "WAITING_DEBIT",
            OrderState::WaitingDebitPayment => "WAITING_DEBIT_PAYMENT",
            OrderState::Shipping => "SHIPPING",
            OrderState::Shipped => "SHIPPED",
            OrderState::ToCollect => "TO_COLLECT",
            OrderState::Received => "RECEIVED",
            OrderState::Closed => "CLOSED",
            OrderState::Refused => "REFUSED",
            OrderState::Canceled => "CANCELED",
            OrderState::IncidentOpen => "INCIDENT_OPEN",
            OrderState::Refunded => "REFUNDED",
            OrderState::Other(other) => other,
        }
    }

    /// Whether an order in this state has been accepted by the seller at some point:
    /// everything on the happy path after WAITING_ACCEPTANCE.
    pub fn is_past_acceptance(&self) -> bool {
        matches!(
            self,
            OrderState::WaitingDebit
                | OrderState::WaitingDebitPayment
                | OrderState::Shipping
                | OrderState::Shipped
                | OrderState::ToCollect
                | OrderState::Received
                | OrderState::Closed
        )
    }
}

impl From<String> for OrderState {
    fn from(value: String) -> Self {
        match value.as_str() {
            "STAGING" => OrderState::Staging,
            "WAITING_ACCEPTANCE" => OrderState::WaitingAcceptance,
            "WAITING_DEBIT" => OrderState::WaitingDebit,
            "WAITING_DEBIT_PAYMENT" => OrderState::WaitingDebitPayment,
            "SHIPPING" => OrderState::Shipping,
            "SHIPPED" => OrderState::Shipped,
            "TO_COLLECT" => OrderState::ToCollect,
            "RECEIVED" => OrderState::Received,
            "CLOSED" => OrderState::Closed,
            "REFUSED" => OrderState::Refused,
            "CANCELED" => OrderState::Canceled,
            "INCIDENT_OPEN" => OrderState::IncidentOpen,
            "REFUNDED" => OrderState::Refunded,
            _ => OrderState::Other(value),
        }
    }
}

impl From<OrderState> for String {
    fn from(state: OrderState) -> String {
        state.as_str().to_owned()
    }
}

impl fmt::Display for OrderState {
    /// The state as Mirakl spells it; an unknown one is Best Buy's text, so it is shown
    /// with its control characters escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OrderState::Other(other) => f.write_str(&printable(other)),
            known => f.write_str(known.as_str()),
        }
    }
}

/// An order, with what bbship decides on checked.
#[derive(Clone, Debug)]
pub struct Order {
    pub id: OrderId,
    pub commercial_id: Option<String>,
    pub state: OrderState,
    pub created_date: Option<DateTime<Utc>>,
    pub shipping_deadline: Option<DateTime<Utc>>,
    pub shipping_type_code: Option<String>,
    pub shipping_tracking: Option<String>,
    pub customer: Option<Customer>,
    pub lines: Vec<OrderLine>,
    /// The order exactly as Best Buy sent it, for the shipped-orders log.
    pub raw: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OrderLine {
    pub id: OrderLineId,
    pub state: Option<OrderState>,
    pub offer_sku: Option<String>,
    pub product_title: Option<String>,
    pub quantity: u32,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Customer {
    /// Null until the order reaches SHIPPING on Best Buy Canada.
    #[serde(default)]
    pub shipping_address: Option<ShippingAddress>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ShippingAddress {
    #[serde(default)]
    pub firstname: Option<String>,
    #[serde(default)]
    pub lastname: Option<String>,
    #[serde(default)]
    pub company: Option<String>,
    #[serde(default)]
    pub street_1: Option<String>,
    #[serde(default)]
    pub street_2: Option<String>,
    #[serde(default)]
    pub city: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub zip_code: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub country_iso_code: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub additional_info: Option<String>,
}

#[derive(Deserialize)]
struct RawOrder {
    order_id: Option<String>,
    #[serde(default)]
    commercial_id: Option<String>,
    order_state: Option<String>,
    #[serde(default)]
    created_date: Option<String>,
    #[serde(default)]
    shipping_deadline: Option<String>,
    #[serde(default)]
    shipping_type_code: Option<String>,
    #[serde(default)]
    shipping_tracking: Option<String>,
    #[serde(default)]
    customer: Option<Customer>,
    #[serde(default)]
    order_lines: Option<Vec<RawOrderLine>>,
}

#[derive(Deserialize)]
struct RawOrderLine {
    order_line_id: Option<String>,
    #[serde(default)]
    order_line_state: Option<String>,
    #[serde(default)]
    offer_sku: Option<String>,
    #[serde(default)]
    product_title: Option<String>,
    #[serde(default)]
    quantity: Option<u32>,
}

/// An order in an answer that bbship could not use, with the best name it has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnreadableOrder {
    /// How the answer named the order, ready to print: a string id quoted, shortened and
    /// escaped (`"../x"`, `"a\0b"`), a number as it was; `None` when there was no such
    /// name.
    pub order_id: Option<String>,
    /// Its `commercial_id`, in the same form: the only name left when `order_id` is
    /// unusable.
    pub commercial_id: Option<String>,
    pub reason: String,
}

impl UnreadableOrder {
    /// The name a report lists the order under.
    pub fn name(&self) -> String {
        match (&self.order_id, &self.commercial_id) {
            (Some(id), _) => id.clone(),
            (None, Some(commercial)) => format!("(no order_id; commercial_id {commercial})"),
            (None, None) => "(no order_id)".to_owned(),
        }
    }
}

impl fmt::Display for UnreadableOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.order_id, &self.commercial_id) {
            (Some(id), _) => write!(f, "order {id}: {}", self.reason),
            (None, Some(commercial)) => write!(
                f,
                "an order without a usable order_id (commercial_id {commercial}): {}",
                self.reason
            ),
            (None, None) => write!(f, "an order without a usable order_id: {}", self.reason),
        }
    }
}

/// How an answer named something, for a message: a string quoted with escapes and cut
/// short, a number as it was, anything else not a name.
fn claimed_name(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) => Some(quoted(text)),
        Value::Number(number) => Some(printable(&number.to_string())),
        _ => None,
    }
}

impl Order {
    /// The shipping address, once Best Buy fills it in (from SHIPPING on).
    pub fn shipping_address(&self) -> Option<&ShippingAddress> {
        self.customer
            .as_ref()
            .and_then(|customer| customer.shipping_address.as_ref())
    }

    /// Checks one order of an OR11 answer.
    pub fn from_json(value: &Value) -> Result<Order, UnreadableOrder> {
        let fail = |reason: String| UnreadableOrder {
            order_id: claimed_name(value.get("order_id")),
            commercial_id: claimed_name(value.get("commercial_id")),
            reason,
        };
        if !value.is_object() {
            return Err(fail(format!(
                "the order is not a JSON object but {}",
                json_kind(value)
            )));
        }
        // The path names the field a person must look at (`order_lines[0].quantity`).
        let raw: RawOrder = serde_path_to_error::deserialize(value).map_err(|error| {
            fail(format!(
                "field {}: {}",
                printable(&error.path().to_string()),
                printable(&error.inner().to_string())
            ))
        })?;
        let id = raw
            .order_id
            .ok_or_else(|| fail("no order_id".to_owned()))
            .and_then(|id| OrderId::try_from(id).map_err(&fail))?;
        let state = raw
            .order_state
            .map(OrderState::from)
            .ok_or_else(|| fail("no order_state".to_owned()))?;
        let raw_lines = raw
            .order_lines
            .ok_or_else(|| fail("no order_lines".to_owned()))?;
        let mut lines = Vec::with_capacity(raw_lines.len());
        for (index, line) in raw_lines.into_iter().enumerate() {
            let line_id = line
                .order_line_id
                .ok_or_else(|| fail(format!("order line {index} has no order_line_id")))
                .and_then(|id| OrderLineId::try_from(id).map_err(&fail))?;
            lines.push(OrderLine {
                id: line_id,
                state: line.order_line_state.map(OrderState::from),
                offer_sku: line.offer_sku,
                product_title: line.product_title,
                quantity: line.quantity.unwrap_or(1),
            });
        }
        Ok(Order {
            id,
            commercial_id: raw.commercial_id,
            state,
            created_date: raw.created_date.as_deref().and_then(parse_date),
            shipping_deadline: raw.shipping_deadline.as_deref().and_then(parse_date),
            shipping_type_code: raw.shipping_type_code,
            shipping_tracking: raw.shipping_tracking,
            customer: raw.customer,
            lines,
            raw: value.clone(),
        })
    }
}

/// What kind of JSON value this is, for a message ("a string").
fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Mirakl dates, with or without milliseconds. An unreadable date is treated as absent:
/// bbship only uses dates for warnings and logs.
fn parse_date(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(value)
        .ok()
        .map(|date| date.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample_orders() -> Vec<Value> {
        let text = include_str!("../../tests/fixtures/best-buy/or11-list-orders-response.json");
        let page: Value = serde_json::from_str(text).unwrap();
        page["orders"].as_array().unwrap().clone()
    }

    #[test]
    fn the_sample_orders_parse_with_their_nulls() {
        let orders: Vec<Order> = sample_orders()
            .iter()
            .map(|value| Order::from_json(value).unwrap())
            .collect();
        assert_eq!(orders[0].id.as_str(), "261300001-A");
        assert_eq!(orders[0].state, OrderState::WaitingAcceptance);
        assert!(
            orders[0]
                .customer
                .as_ref()
                .unwrap()
                .shipping_address
                .is_none()
        );
        assert_eq!(orders[0].lines[0].id.as_str(), "113300001");
        assert_eq!(
            orders[0].created_date.unwrap().to_rfc3339(),
            "2025-08-28T14:06:34+00:00"
        );
        assert!(orders[0].shipping_deadline.is_some());

        assert_eq!(orders[1].state, OrderState::Shipping);
        assert_eq!(orders[1].lines[0].quantity, 2);
        let address = orders[1].shipping_address().unwrap();
        assert_eq!(address.street_2.as_deref(), Some("Apt 4"));
        assert_eq!(address.country_iso_code, None);
    }

    /// Every order of an OR11 answer captured from production (personal values replaced).
    fn production_orders(name: &str) -> Vec<Order> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/production/best-buy")
            .join(name);
        let page: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        page["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|order| Order::from_json(order).unwrap())
            .collect()
    }

    #[test]
    fn production_orders_parse_in_every_state() {
        let waiting = production_orders("or11-waiting-acceptance.json");
        assert_eq!(waiting.len(), 2);
        assert!(waiting.iter().all(|order| {
            order.state == OrderState::WaitingAcceptance
                && order.customer.as_ref().unwrap().shipping_address.is_none()
        }));

        let shipping = production_orders("or11-shipping.json");
        assert_eq!(shipping[0].id.as_str(), "261300101-A");
        assert_eq!(shipping[0].state, OrderState::Shipping);
        assert_eq!(shipping[0].shipping_type_code.as_deref(), Some("M"));
        assert_eq!(shipping[0].shipping_tracking, None);
        assert_eq!(
            shipping[0].shipping_deadline.unwrap().to_rfc3339(),
            "2025-09-06T06:59:59.999+00:00"
        );
        // `delivery_date` is an object on one and null on the other; neither matters.
        assert!(shipping[0].raw["delivery_date"]["earliest"].is_string());
        assert!(shipping[1].raw["delivery_date"].is_null());
        let address = shipping[0].shipping_address().unwrap();
        assert_eq!(address.street_2.as_deref(), Some(""));
        assert_eq!(address.country_iso_code, None);
        assert_eq!(
            shipping[0].lines[0].offer_sku.as_deref(),
            Some("P52-32-512-FP-FL-BL-Mouse")
        );

        let shipped = production_orders("or11-shipped.json");
        assert_eq!(shipped[0].state, OrderState::Shipped);
        assert_eq!(
            shipped[0].shipping_tracking.as_deref(),
            Some("1234567200001012")
        );
        assert_eq!(shipped[0].raw["shipping_carrier_code"], "CPCL");
    }

    #[test]
    fn unknown_states_and_fields_are_tolerated() {
        let mut order = sample_orders()[0].clone();
        order["order_state"] = json!("SOMETHING_NEW");
        order["brand_new_field"] = json!({"x": 1});
        let parsed = Order::from_json(&order).unwrap();
        assert_eq!(parsed.state, OrderState::Other("SOMETHING_NEW".to_owned()));
        assert_eq!(parsed.state.as_str(), "SOMETHING_NEW");
    }

    #[test]
    fn a_bad_order_is_named_in_its_error() {
        let base = sample_orders()[0].clone();
        let cases: Vec<(Value, Option<&str>, &str)> = vec![
            (
                json!({"order_state": "SHIPPING", "order_lines": []}),
                None,
                "no order_id",
            ),
            (
                {
                    let mut o = base.clone();
                    o["order_id"] = json!(261_300_001);
                    o
                },
                Some("261300001"),
                "field order_id: invalid type: integer",
            ),
            (
                {
                    let mut o = base.clone();
                    o["order_id"] = json!("a\u{0}b\n");
                    o
                },
                Some(r#""a\0b\n""#),
                "characters",
            ),
            (
                {
                    let mut o = base.clone();
                    o["customer"]["shipping_address"] = json!({"zip_code": 90210});
                    o
                },
                Some("\"261300001-A\""),
                "field customer.shipping_address.zip_code: invalid type: integer",
            ),
            (
                {
                    let mut o = base.clone();
                    o["order_state"] = Value::Null;
                    o
                },
                Some("\"261300001-A\""),
                "no order_state",
            ),
            (
                {
                    let mut o = base.clone();
                    o["order_id"] = json!("../../etc/passwd");
                    o
                },
                Some("\"../../etc/passwd\""),
                "characters",
            ),
            (
                {
                    let mut o = base.clone();
                    o["order_lines"][0]["quantity"] = json!("two");
                    o
                },
                Some("\"261300001-A\""),
                "field order_lines[0].quantity: invalid type: string",
            ),
            (
                {
                    let mut o = base.clone();
                    o["order_lines"][0]["order_line_id"] = Value::Null;
                    o
                },
                Some("\"261300001-A\""),
                "order_line_id",
            ),
            (
                json!("not an object"),
                None,
                "not a JSON object but a string",
            ),
        ];
        for (value, id, reason) in cases {
            let error = Order::from_json(&value).unwrap_err();
            assert_eq!(error.order_id.as_deref(), id, "{error}");
            assert!(error.reason.contains(reason), "{error}");
            assert!(!error.to_string().chars().any(char::is_control), "{error}");
        }
        let nameless = Order::from_json(&json!({"commercial_id": "2613"})).unwrap_err();
        assert_eq!(
            nameless.to_string(),
            "an order without a usable order_id (commercial_id \"2613\"): no order_id"
        );
        assert_eq!(nameless.name(), "(no order_id; commercial_id \"2613\")");
    }

    #[test]
    fn states_past_acceptance() {
        assert!(!OrderState::WaitingAcceptance.is_past_acceptance());
        assert!(OrderState::WaitingDebitPayment.is_past_acceptance());
        assert!(OrderState::Shipping.is_past_acceptance());
        assert!(!OrderState::Refused.is_past_acceptance());
        assert!(!OrderState::Canceled.is_past_acceptance());
    }
}
