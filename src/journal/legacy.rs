//! The shipping log of the tool bbship replaced: `logs/canada_post/cp_shipping_history_log.json`,
//! one JSON array. Any order id in it already has a label, so bbship must never buy
//! another for it.
//!
//! Its exact shape is not documented; entries seen are objects with an `order_id`. An
//! entry bbship cannot read is an error, not a skip: a skipped entry could be an order
//! that would then get a second label.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// The order ids in the legacy log; empty when there is no such file.
pub fn shipped_order_ids(path: &Path) -> Result<BTreeSet<String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(BTreeSet::new());
        }
        Err(error) => {
            return Err(error).with_context(|| format!("cannot read {}", path.display()));
        }
    };
    let entries: Vec<Value> = serde_json::from_str(&text)
        .with_context(|| format!("{}: expected a JSON array of shipments", path.display()))?;
    let mut order_ids = BTreeSet::new();
    for (index, entry) in entries.iter().enumerate() {
        let order_id = match entry {
            Value::Object(fields) => fields
                .get("order_id")
                .or_else(|| fields.get("orderId"))
                .and_then(Value::as_str),
            Value::String(order_id) => Some(order_id.as_str()),
            _ => None,
        };
        match order_id.map(str::trim) {
            Some(order_id) if !order_id.is_empty() => {
                order_ids.insert(order_id.to_owned());
            }
            _ => bail!(
                "{}: entry {} has no order_id; bbship cannot tell which order it shipped. \
                 Fix or remove that entry",
                path.display(),
                index
            ),
        }
    }
    Ok(order_ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_ids_are_read_from_objects_and_strings() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("legacy.json");
        std::fs::write(
            &path,
            r#"[{"order_id":"261200001-A","tracking_pin":"123"},"261200002-A",{"orderId":"261200003-A"}]"#,
        )
        .unwrap();
        let ids = shipped_order_ids(&path).unwrap();
        assert_eq!(
            ids.into_iter().collect::<Vec<_>>(),
            vec!["261200001-A", "261200002-A", "261200003-A"]
        );
    }

    #[test]
    fn no_file_means_no_ids_and_an_unreadable_entry_is_an_error() {
        let temp = tempfile::tempdir().unwrap();
        assert!(
            shipped_order_ids(&temp.path().join("none.json"))
                .unwrap()
                .is_empty()
        );
        let path = temp.path().join("legacy.json");
        std::fs::write(&path, r#"[{"order_id":"1-A"},{"pin":"9"}]"#).unwrap();
        let message = format!("{:#}", shipped_order_ids(&path).unwrap_err());
        assert!(message.contains("entry 1"), "{message}");
    }
}
