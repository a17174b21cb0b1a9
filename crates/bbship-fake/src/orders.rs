//! Orders for the fake Best Buy: a builder, a deterministic generator for volume tests,
//! and the varied set the sandbox shows. All people, streets and phones are fictional
//! (`Example St`, `Sample Ave`, 555-01xx).
//!
//! An order can also carry `JsonEdit`s, the one way to make the fake serve an order the
//! real service should never send (a missing or null field, a wrong type, a hostile id)
//! inside an otherwise good answer.

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::Value;

#[derive(Clone, Debug)]
pub struct FakeAddress {
    pub firstname: String,
    pub lastname: String,
    pub company: String,
    pub street_1: String,
    pub street_2: Option<String>,
    pub city: String,
    pub state: String,
    pub zip_code: String,
    pub phone: Option<String>,
    pub additional_info: String,
}

#[derive(Clone, Debug)]
pub struct FakeLine {
    pub order_line_id: String,
    pub offer_sku: String,
    pub product_sku: String,
    pub product_title: String,
    pub quantity: u32,
    pub unit_price: f64,
}

/// A change to an order's JSON as the fake Best Buy renders it, in listings and reads by
/// id alike, applied after every other field is filled in. The order stays filed under its
/// `FakeOrder` id, so writes still reach it whatever its JSON now says.
#[derive(Clone, Debug, PartialEq)]
pub enum JsonEdit {
    /// Sets the value at a JSON pointer (RFC 6901): a member of an object (added or
    /// replaced), an element of an array (replaced, or appended at its length), or with
    /// `""` the whole order.
    Set(String, Value),
    /// Removes the member or element at a JSON pointer, which must exist.
    Remove(String),
}

impl JsonEdit {
    /// Applies the edit to `order`. An edit whose target does not exist is an error, so a
    /// test that aims at the wrong field fails loudly instead of testing nothing.
    pub fn apply(&self, order: &mut Value) -> Result<(), String> {
        let (pointer, value) = match self {
            JsonEdit::Set(pointer, value) => (pointer, Some(value)),
            JsonEdit::Remove(pointer) => (pointer, None),
        };
        let Some((parent_pointer, last)) = pointer.rsplit_once('/') else {
            return match (pointer.is_empty(), value) {
                (true, Some(value)) => {
                    *order = value.clone();
                    Ok(())
                }
                _ => Err(format!("the JSON edit {self:?} has no target")),
            };
        };
        let key = last.replace("~1", "/").replace("~0", "~");
        let missing = || format!("the JSON edit {self:?} aims at nothing in the order");
        let parent = order.pointer_mut(parent_pointer).ok_or_else(missing)?;
        match (parent, value) {
            (Value::Object(members), Some(value)) => {
                members.insert(key, value.clone());
            }
            (Value::Object(members), None) => {
                members.remove(&key).ok_or_else(missing)?;
            }
            (Value::Array(items), value) => {
                let index: usize = key.parse().map_err(|_| missing())?;
                match value {
                    Some(value) if index < items.len() => items[index] = value.clone(),
                    Some(value) if index == items.len() => items.push(value.clone()),
                    None if index < items.len() => {
                        items.remove(index);
                    }
                    _ => return Err(missing()),
                }
            }
            _ => return Err(missing()),
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct FakeOrder {
    pub(crate) order_id: String,
    pub(crate) commercial_id: String,
    pub(crate) created: DateTime<Utc>,
    pub(crate) locale: String,
    pub(crate) address: FakeAddress,
    pub(crate) shipping_type_code: String,
    pub(crate) shipping_type_label: String,
    pub(crate) lines: Vec<FakeLine>,
    pub(crate) state: String,
    pub(crate) json_edits: Vec<JsonEdit>,
}

impl FakeOrder {
    /// An order waiting for acceptance with one line and a plain Ontario address.
    pub fn new(order_id: &str) -> FakeOrder {
        let commercial_id = order_id.split('-').next().unwrap_or(order_id).to_owned();
        FakeOrder {
            order_id: order_id.to_owned(),
            commercial_id: commercial_id.clone(),
            created: Utc
                .with_ymd_and_hms(2026, 11, 24, 14, 6, 34)
                .single()
                .unwrap_or_else(Utc::now),
            locale: "en_US".to_owned(),
            address: FakeAddress {
                firstname: "Jane".to_owned(),
                lastname: "Example".to_owned(),
                company: String::new(),
                street_1: "123 Example St".to_owned(),
                street_2: None,
                city: "Toronto".to_owned(),
                state: "ON".to_owned(),
                zip_code: "M5V2T6".to_owned(),
                phone: Some("416-555-0101".to_owned()),
                additional_info: String::new(),
            },
            shipping_type_code: "M".to_owned(),
            shipping_type_label: "Ground Regular".to_owned(),
            lines: vec![FakeLine {
                order_line_id: format!("{commercial_id}1"),
                offer_sku: "LAPTOP-15-16GB-BLK".to_owned(),
                product_sku: "19400001".to_owned(),
                product_title: "Example 15.6\" Laptop".to_owned(),
                quantity: 1,
                unit_price: 449.99,
            }],
            state: "WAITING_ACCEPTANCE".to_owned(),
            json_edits: Vec::new(),
        }
    }

    /// Order number `index` of a deterministic stream: 1 to 3 lines, quantities 1 to 3,
    /// addresses across the provinces. Ids are `2613{index:05}-A`.
    pub fn generated(index: usize) -> FakeOrder {
        const PLACES: [(&str, &str, &str); 6] = [
            ("Toronto", "ON", "M5V2T6"),
            ("Montréal", "QC", "H2X1Y4"),
            ("Halifax", "NS", "B3H0A1"),
            ("Vancouver", "BC", "V6B1A1"),
            ("Calgary", "AB", "T2P1J9"),
            ("St. John's", "NL", "A1C5M2"),
        ];
        const FIRST: [&str; 4] = ["Jane", "John", "Hélène", "Liam"];
        const LAST: [&str; 4] = ["Example", "Sample", "Côté", "O'Brien"];
        const SKUS: [&str; 3] = ["LAPTOP-15-16GB-BLK", "LAPTOP-14-8GB-SLV", "MOUSE-WL-01"];
        let mut order = FakeOrder::new(&format!("2613{index:05}-A"));
        order.created += Duration::minutes(index as i64);
        let (city, province, postal) = PLACES[index % PLACES.len()];
        order.address.firstname = FIRST[index % FIRST.len()].to_owned();
        order.address.lastname = LAST[(index / 4) % LAST.len()].to_owned();
        order.address.street_1 = format!("{} Sample Ave", 10 + index % 900);
        order.address.city = city.to_owned();
        order.address.state = province.to_owned();
        order.address.zip_code = postal.to_owned();
        order.address.phone = Some(format!("555-01{:02}", index % 100));
        if index.is_multiple_of(5) {
            order.address.street_2 = Some(format!("Unit {}", index % 40 + 1));
        }
        let line_count = 1 + index % 3;
        order.lines = (0..line_count)
            .map(|line| FakeLine {
                order_line_id: format!("11{index:05}{line}"),
                offer_sku: SKUS[(index + line) % SKUS.len()].to_owned(),
                product_sku: format!("194{:05}", (index + line) % 1000),
                product_title: format!("Example product {}", (index + line) % SKUS.len()),
                quantity: 1 + ((index + line) % 3) as u32,
                unit_price: 19.99 + line as f64 * 10.0,
            })
            .collect();
        order
    }

    pub fn order_id(&self) -> &str {
        &self.order_id
    }

    pub fn line_ids(&self) -> Vec<&str> {
        self.lines
            .iter()
            .map(|line| line.order_line_id.as_str())
            .collect()
    }

    pub fn with_state(mut self, state: &str) -> FakeOrder {
        self.state = state.to_owned();
        self
    }

    pub fn with_created(mut self, created: DateTime<Utc>) -> FakeOrder {
        self.created = created;
        self
    }

    /// Changes some fields of the shipping address.
    pub fn edit_address(mut self, edit: impl FnOnce(&mut FakeAddress)) -> FakeOrder {
        edit(&mut self.address);
        self
    }

    pub fn with_address(mut self, address: FakeAddress) -> FakeOrder {
        self.address = address;
        self
    }

    pub fn with_lines(mut self, lines: Vec<FakeLine>) -> FakeOrder {
        self.lines = lines;
        self
    }

    pub fn with_shipping_type(mut self, code: &str, label: &str) -> FakeOrder {
        self.shipping_type_code = code.to_owned();
        self.shipping_type_label = label.to_owned();
        self
    }

    /// Serves `value` at `pointer` in this order's JSON (see `JsonEdit::Set`).
    pub fn with_json(mut self, pointer: &str, value: Value) -> FakeOrder {
        self.json_edits
            .push(JsonEdit::Set(pointer.to_owned(), value));
        self
    }

    /// Leaves the member at `pointer` out of this order's JSON (see `JsonEdit::Remove`).
    pub fn without_json(mut self, pointer: &str) -> FakeOrder {
        self.json_edits.push(JsonEdit::Remove(pointer.to_owned()));
        self
    }
}

fn line(id: &str, sku: &str, title: &str, quantity: u32, price: f64) -> FakeLine {
    FakeLine {
        order_line_id: id.to_owned(),
        offer_sku: sku.to_owned(),
        product_sku: format!("194{}", &id[id.len().saturating_sub(5)..]),
        product_title: title.to_owned(),
        quantity,
        unit_price: price,
    }
}

#[allow(clippy::too_many_arguments)]
fn address(
    first: &str,
    last: &str,
    company: &str,
    street_1: &str,
    street_2: Option<&str>,
    city: &str,
    province: &str,
    postal: &str,
) -> FakeAddress {
    FakeAddress {
        firstname: first.to_owned(),
        lastname: last.to_owned(),
        company: company.to_owned(),
        street_1: street_1.to_owned(),
        street_2: street_2.map(str::to_owned),
        city: city.to_owned(),
        state: province.to_owned(),
        zip_code: postal.to_owned(),
        phone: Some("555-0142".to_owned()),
        additional_info: String::new(),
    }
}

/// A dozen varied orders for the sandbox: several lines, quantities, accents,
/// apostrophes, an `&`, apartment units, different provinces and services.
pub fn sandbox_orders() -> Vec<FakeOrder> {
    let laptop = "Example 15.6\" Laptop, 16GB RAM";
    vec![
        FakeOrder::new("261400001-A").with_address(address(
            "Jane",
            "Example",
            "",
            "123 Example St",
            None,
            "Toronto",
            "ON",
            "M5V 2T6",
        )),
        FakeOrder::new("261400002-A")
            .with_address(address(
                "Hélène",
                "Côté",
                "",
                "45 rue Sample",
                Some("App. 3"),
                "Montréal",
                "QC",
                "H2X1Y4",
            ))
            .with_lines(vec![
                line(
                    "1134000021",
                    "LAPTOP-14-8GB-SLV",
                    "Portable 14 po",
                    1,
                    399.99,
                ),
                line("1134000022", "MOUSE-WL-01", "Souris sans fil", 2, 24.99),
            ]),
        FakeOrder::new("261400003-A").with_address(address(
            "Liam",
            "O'Brien",
            "",
            "7 Sample Ave",
            None,
            "St. John's",
            "NL",
            "A1C 5M2",
        )),
        FakeOrder::new("261400004-A")
            .with_address(address(
                "John",
                "Sample",
                "Smith & Sons Ltd.",
                "900 Example St",
                Some("Suite 210"),
                "Vancouver",
                "BC",
                "V6B1A1",
            ))
            .with_lines(vec![line(
                "1134000041",
                "MOUSE-WL-01",
                "Wireless mouse",
                5,
                24.99,
            )]),
        FakeOrder::new("261400005-A")
            .with_address(address(
                "Zoë",
                "Example-Sample",
                "",
                "1 Example Crescent",
                None,
                "Halifax",
                "NS",
                "B3H 0A1",
            ))
            .with_shipping_type("E", "Expedited"),
        FakeOrder::new("261400006-A")
            .with_address(address(
                "François",
                "D'Amours",
                "",
                "88 chemin Sample",
                None,
                "Québec",
                "QC",
                "G1R 4P5",
            ))
            .with_lines(vec![
                line("1134000061", "LAPTOP-15-16GB-BLK", laptop, 1, 449.99),
                line(
                    "1134000062",
                    "LAPTOP-14-8GB-SLV",
                    "Example 14\" Laptop",
                    1,
                    399.99,
                ),
                line("1134000063", "MOUSE-WL-01", "Wireless mouse", 3, 24.99),
            ]),
        FakeOrder::new("261400007-A").with_address(address(
            "Amélie",
            "Tremblay",
            "",
            "12 Sample Ave",
            Some("Unit 4B"),
            "Gatineau",
            "QC",
            "J8X 3X5",
        )),
        FakeOrder::new("261400008-A").with_address(address(
            "Noah",
            "Example",
            "A & B Repairs",
            "300 Example Blvd",
            None,
            "Calgary",
            "AB",
            "T2P1J9",
        )),
        FakeOrder::new("261400009-A")
            .with_address(address(
                "Olivia",
                "Sample",
                "",
                "5 Example Lane",
                None,
                "Winnipeg",
                "MB",
                "R3C 4T3",
            ))
            .with_shipping_type("X", "Express"),
        FakeOrder::new("261400010-A").with_address(address(
            "Émile",
            "Bélanger",
            "",
            "77 Sample Road",
            None,
            "Moncton",
            "NB",
            "E1C 4M3",
        )),
        FakeOrder::new("261400011-A").with_address(address(
            "Ava",
            "Example",
            "",
            "21 Sample Ave",
            Some("Apt 1203"),
            "Regina",
            "SK",
            "S4P 3Y2",
        )),
        FakeOrder::new("261400012-A")
            .with_address(address(
                "William",
                "O'Neil",
                "",
                "4 Example Way",
                None,
                "Charlottetown",
                "PE",
                "C1A 1A1",
            ))
            .with_lines(vec![line(
                "1134000121",
                "LAPTOP-15-16GB-BLK",
                laptop,
                2,
                449.99,
            )]),
    ]
}
