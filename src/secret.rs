//! Secrets: where they come from (the environment only) and how they stay out of output.
//!
//! A `Secret` never prints its value through `Debug` or `Display`; the only way to read it
//! is `expose`, which the HTTP layer calls when it builds a header. Every secret that was
//! loaded is also registered with the redactor, which the logger and the final error
//! printer run over all text as a second line of defence.

use std::fmt;
use std::sync::{Mutex, OnceLock};

use crate::error::UsageError;

pub const BESTBUY_API_KEY: &str = "BESTBUY_API_KEY";
pub const CANADAPOST_USERNAME: &str = "CANADAPOST_USERNAME";
pub const CANADAPOST_PASSWORD: &str = "CANADAPOST_PASSWORD";

/// What replaces a secret in any text shown to a person.
pub const REDACTED: &str = "[REDACTED]";

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value and registers it for redaction.
    pub fn new(value: impl Into<String>) -> Secret {
        let value = value.into();
        register_for_redaction(&value);
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// The credentials of both APIs. Each is optional here; a command asks for the ones it
/// needs through the accessors, which turn a missing one into a usage error naming the
/// environment variable.
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    pub bestbuy_api_key: Option<Secret>,
    pub canadapost_username: Option<Secret>,
    pub canadapost_password: Option<Secret>,
}

impl Secrets {
    /// Reads the three variables. Empty values count as missing.
    pub fn from_env() -> Secrets {
        let read = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|value| !value.trim().is_empty())
                .map(Secret::new)
        };
        Secrets {
            bestbuy_api_key: read(BESTBUY_API_KEY),
            canadapost_username: read(CANADAPOST_USERNAME),
            canadapost_password: read(CANADAPOST_PASSWORD),
        }
    }

    pub fn bestbuy_api_key(&self) -> Result<&Secret, UsageError> {
        required(&self.bestbuy_api_key, BESTBUY_API_KEY)
    }

    pub fn canadapost_credentials(&self) -> Result<(&Secret, &Secret), UsageError> {
        Ok((
            required(&self.canadapost_username, CANADAPOST_USERNAME)?,
            required(&self.canadapost_password, CANADAPOST_PASSWORD)?,
        ))
    }
}

fn required<'a>(secret: &'a Option<Secret>, variable: &str) -> Result<&'a Secret, UsageError> {
    secret.as_ref().ok_or_else(|| {
        UsageError(format!(
            "the environment variable {variable} is not set; bbship reads secrets only from the environment"
        ))
    })
}

fn registry() -> &'static Mutex<Vec<String>> {
    static REGISTRY: OnceLock<Mutex<Vec<String>>> = OnceLock::new();
    REGISTRY.get_or_init(|| Mutex::new(Vec::new()))
}

/// Adds a value to the set that `redact` removes from text. Values shorter than four
/// characters are not registered: redacting them would mangle ordinary words while
/// protecting nothing worth protecting.
pub fn register_for_redaction(value: &str) {
    if value.len() < 4 {
        return;
    }
    let mut values = registry()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !values.iter().any(|known| known == value) {
        values.push(value.to_owned());
        // Longest first, so a secret that contains another is replaced whole.
        values.sort_by_key(|known| std::cmp::Reverse(known.len()));
    }
}

/// Replaces every registered secret in `text`.
pub fn redact(text: &str) -> String {
    let values = registry()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut text = text.to_owned();
    for value in values.iter() {
        if text.contains(value.as_str()) {
            text = text.replace(value.as_str(), REDACTED);
        }
    }
    text
}

/// Replaces every registered secret in one line of JSON, as it appears there (escaped
/// like any string), so that text a server echoed back never carries a secret into a
/// file. The replacement has nothing to escape, so the line stays valid JSON.
pub fn redact_json(line: &str) -> String {
    let values = registry()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut line = line.to_owned();
    for value in values.iter() {
        let encoded = serde_json::to_string(value).unwrap_or_default();
        let escaped = encoded
            .strip_prefix('"')
            .and_then(|inner| inner.strip_suffix('"'))
            .unwrap_or_default();
        if !escaped.is_empty() && line.contains(escaped) {
            line = line.replace(escaped, REDACTED);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_formats_its_value() {
        let secret = Secret::new("sk-test-abcdef-123");
        assert_eq!(format!("{secret}"), REDACTED);
        assert_eq!(format!("{secret:?}"), REDACTED);
        assert_eq!(secret.expose(), "sk-test-abcdef-123");
    }

    #[test]
    fn redact_removes_registered_values_longest_first() {
        register_for_redaction("pass-word-long");
        register_for_redaction("pass-word-long-and-longer");
        let text = redact("a pass-word-long-and-longer b pass-word-long c");
        assert_eq!(text, format!("a {REDACTED} b {REDACTED} c"));
    }

    #[test]
    fn a_missing_secret_names_the_variable() {
        let secrets = Secrets::default();
        let error = secrets.bestbuy_api_key().unwrap_err();
        assert!(error.to_string().contains(BESTBUY_API_KEY));
        let error = secrets.canadapost_credentials().unwrap_err();
        assert!(error.to_string().contains(CANADAPOST_USERNAME));
    }

    #[test]
    fn redacting_json_keeps_it_valid_and_catches_escaped_secrets() {
        register_for_redaction("plain-secret-4242");
        register_for_redaction("quote\"and\\slash-4242");
        let value = serde_json::json!({
            "reason": "server said plain-secret-4242 and quote\"and\\slash-4242",
            "plain-secret-4242": 1
        });
        let line = redact_json(&value.to_string());
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            back["reason"],
            format!("server said {REDACTED} and {REDACTED}")
        );
        assert_eq!(back[REDACTED], 1);
    }
}
