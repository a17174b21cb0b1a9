//! The bbship configuration that points a run at a `FakeServer`: one builder for the
//! integration tests, the sandbox and the benchmark, so the sections every run needs (the
//! fakes' URLs, the Canada Post account, the sample sender and parcel) are written in one
//! place. It gives back the JSON, which the caller still adjusts with its own tuning (the
//! Best Buy re-check delay, `limits`) before `write` puts it where bbship reads it.

use std::path::Path;

use serde_json::{Value, json};

use crate::FakeServer;

/// A bbship configuration for one fake, built with `ConfigBuilder::new(&fake).build()`.
pub struct ConfigBuilder {
    bestbuy_url: String,
    canada_post_url: String,
    non_contract: bool,
    sender_name: bool,
}

impl ConfigBuilder {
    /// A contract account (the fake's customer number and contract id), the sample
    /// sender in Toronto with a contact name, and a default parcel of 2 kg,
    /// 40 × 30 × 10 cm; no `limits` and no Best Buy tuning, so bbship's defaults hold
    /// until the caller sets its own.
    pub fn new(fake: &FakeServer) -> ConfigBuilder {
        ConfigBuilder {
            bestbuy_url: fake.bestbuy_url(),
            canada_post_url: fake.base_url(),
            non_contract: false,
            sender_name: true,
        }
    }

    /// With `non_contract`, a Solutions for Small Business seller: `canada_post.account`
    /// is `"non_contract"` and there is no `contract_id`.
    pub fn non_contract(mut self, non_contract: bool) -> ConfigBuilder {
        self.non_contract = non_contract;
        self
    }

    /// The sender with no contact name (`sender.name` is optional in bbship).
    pub fn without_sender_name(mut self) -> ConfigBuilder {
        self.sender_name = false;
        self
    }

    pub fn build(self) -> Value {
        let canada_post = if self.non_contract {
            json!({
                "base_url": self.canada_post_url,
                "customer_number": "1234567",
                "account": "non_contract"
            })
        } else {
            json!({
                "base_url": self.canada_post_url,
                "customer_number": "1234567",
                "contract_id": "42708517"
            })
        };
        let mut sender = json!({
            "company": "Example Electronics Inc.",
            "phone": "416-555-0100",
            "address_line_1": "1 Example Warehouse Rd",
            "city": "Toronto",
            "province": "ON",
            "postal_code": "M1M 1M1"
        });
        if self.sender_name {
            sender["name"] = "Jane Seller".into();
        }
        json!({
            "bestbuy": {"base_url": self.bestbuy_url},
            "canada_post": canada_post,
            "sender": sender,
            "parcel": {
                "default": {"weight_kg": 2.0, "length_cm": 40.0, "width_cm": 30.0, "height_cm": 10.0}
            }
        })
    }
}

/// Writes `config` to `path` as bbship reads it (pretty-printed JSON).
pub fn write(config: &Value, path: &Path) -> std::io::Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(config)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FakeOptions;

    #[test]
    fn the_account_and_the_sender_name_are_the_only_choices() {
        let fake = FakeServer::start(FakeOptions::default()).unwrap();
        let contract = ConfigBuilder::new(&fake).build();
        assert_eq!(contract["bestbuy"]["base_url"], json!(fake.bestbuy_url()));
        assert_eq!(contract["canada_post"]["base_url"], json!(fake.base_url()));
        assert_eq!(contract["canada_post"]["contract_id"], json!("42708517"));
        assert!(contract["canada_post"].get("account").is_none());
        assert_eq!(contract["sender"]["name"], json!("Jane Seller"));
        assert!(contract.get("limits").is_none());

        let other = ConfigBuilder::new(&fake)
            .non_contract(true)
            .without_sender_name()
            .build();
        assert_eq!(other["canada_post"]["account"], json!("non_contract"));
        assert!(other["canada_post"].get("contract_id").is_none());
        assert!(other["sender"].get("name").is_none());
        assert_eq!(other["sender"], {
            let mut sender = contract["sender"].clone();
            sender.as_object_mut().unwrap().remove("name");
            sender
        });
    }
}
