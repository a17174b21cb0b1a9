//! `bbship.json`: loading, defaults and validation.
//!
//! Every value is checked when it is read, by a type that refuses bad input, so the
//! error can name the file and the exact key (`serde_path_to_error` tracks the path).
//! Unknown keys are refused to catch typos. Secrets never live here: see `secret`.

use std::collections::BTreeMap;
use std::fmt;
use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::address::{BoundedText, PostalCode, Province};
use crate::canadapost::money::Cad;
use crate::canadapost::types::{AccountKind, ContractId, CustomerNumber, Email, ServiceCode};
use crate::error::UsageError;

pub const DEFAULT_CONFIG_FILE: &str = "bbship.json";
pub const DEFAULT_BESTBUY_URL: &str = "https://marketplace.bestbuy.ca/api";
pub const DEFAULT_CANADA_POST_URL: &str = "https://soa-gw.canadapost.ca";

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub bestbuy: BestBuyConfig,
    pub canada_post: CanadaPostConfig,
    pub sender: SenderConfig,
    pub parcel: ParcelConfig,
    #[serde(default)]
    pub limits: Limits,
    #[serde(default)]
    pub alerts: AlertsConfig,
    #[serde(default)]
    pub print: PrintConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
}

/// The packing desk: the slip written beside each new label, and the printer both go to.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrintConfig {
    /// The program and its arguments, run without a shell with the file's path appended;
    /// none prints nothing.
    pub command: Option<PrintCommand>,
    pub packing_slip: SlipSize,
    /// A printer that does not answer in this long is given up on until the next run.
    pub timeout_secs: NonZeroU64,
}

impl Default for PrintConfig {
    fn default() -> Self {
        PrintConfig {
            command: None,
            packing_slip: SlipSize::default(),
            timeout_secs: const { nonzero_u64(30) },
        }
    }
}

/// A print command: at least the program, none of it empty or holding a NUL.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Vec<String>")]
pub struct PrintCommand(Vec<String>);

impl PrintCommand {
    pub fn program(&self) -> &str {
        self.0.first().map_or("", String::as_str)
    }

    pub fn arguments(&self) -> &[String] {
        self.0.get(1..).unwrap_or_default()
    }
}

impl TryFrom<Vec<String>> for PrintCommand {
    type Error = String;

    fn try_from(parts: Vec<String>) -> Result<Self, Self::Error> {
        match parts.first() {
            None => Err("an empty list: give the program, e.g. [\"lp\", \"-d\", \"Zebra\"]".into()),
            Some(program) if program.trim().is_empty() => Err("the program is empty".into()),
            Some(_) if parts.iter().any(|part| part.contains('\0')) => {
                Err("an argument holds a NUL character".into())
            }
            Some(_) => Ok(PrintCommand(parts)),
        }
    }
}

impl fmt::Display for PrintCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.join(" "))
    }
}

/// The packing slip's page, or none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum SlipSize {
    /// 4 x 6 inches, for the label's thermal printer.
    #[default]
    #[serde(rename = "4x6")]
    FourBySix,
    #[serde(rename = "letter")]
    Letter,
    #[serde(rename = "none")]
    None,
}

/// What monitoring reads.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// A Prometheus text-format file rewritten after each writing run (for
    /// node_exporter's textfile collector); its directory must exist.
    #[serde(default)]
    pub textfile: Option<PathBuf>,
}

/// Where to tell someone about a run, beyond cron's e-mail.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// POSTed a JSON summary after a run with failures or stuck orders.
    pub webhook_url: Option<BaseUrl>,
    /// Pinged (GET) after every run that completed, so an outside dead-man's switch
    /// notices when cron stops running bbship.
    pub healthcheck_url: Option<BaseUrl>,
    /// An alert is never worth holding up a run for.
    pub timeout_secs: NonZeroU64,
    /// Warn about an order still waiting for acceptance this close to its deadline.
    pub acceptance_warning_hours: u32,
    /// An order ready to ship without a label for this long is stuck.
    pub stuck_label_minutes: u32,
    /// An order that needs a person is reported again at least this often until it is
    /// sorted.
    pub remind_every_hours: RemindEvery,
}

/// How often an order that needs a person is reported again: hours, fractions allowed,
/// more than 0 and at most a year (beyond that it would never be reminded).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Deserialize, Serialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct RemindEvery(f64);

impl RemindEvery {
    const MAX_HOURS: f64 = 24.0 * 366.0;

    pub fn hours(self) -> f64 {
        self.0
    }

    pub fn duration(self) -> chrono::Duration {
        // Proven invariant: at most a year of milliseconds fits an i64.
        chrono::Duration::milliseconds((self.0 * 3_600_000.0).round() as i64)
    }
}

impl Default for RemindEvery {
    fn default() -> Self {
        RemindEvery(24.0)
    }
}

impl TryFrom<f64> for RemindEvery {
    type Error = String;

    fn try_from(value: f64) -> Result<Self, Self::Error> {
        if value > 0.0 && value <= Self::MAX_HOURS {
            Ok(RemindEvery(value))
        } else {
            Err(format!(
                "{value} hours is out of range (more than 0, at most {})",
                Self::MAX_HOURS
            ))
        }
    }
}

impl From<RemindEvery> for f64 {
    fn from(every: RemindEvery) -> f64 {
        every.0
    }
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            webhook_url: None,
            healthcheck_url: None,
            timeout_secs: const { nonzero_u64(5) },
            acceptance_warning_hours: 6,
            stuck_label_minutes: 60,
            remind_every_hours: RemindEvery::default(),
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BestBuyConfig {
    pub base_url: BaseUrl,
    /// Only needed when the key's user has several shops.
    pub shop_id: Option<ShopId>,
    pub carrier_code: Option<BoundedText<50>>,
    pub carrier_name: Option<BoundedText<50>>,
    pub carrier_url: Option<TrackingUrlTemplate>,
    /// Best Buy gives no acceptance deadline; this window after `created_date` is used
    /// only to warn about orders close to it.
    pub acceptance_window_hours: NonZeroU32,
    /// Orders take a few seconds to leave WAITING_ACCEPTANCE after a 204; the re-check
    /// waits this long first so that lag is not reported as a failure.
    pub accept_recheck_delay_secs: u64,
    /// An accepted order still listed as waiting is read again, with waits that double
    /// from `accept_recheck_delay_secs`, until this long after the accepts; only then is
    /// it an error.
    pub accept_recheck_max_secs: u64,
}

impl Default for BestBuyConfig {
    fn default() -> Self {
        BestBuyConfig {
            base_url: BaseUrl(DEFAULT_BESTBUY_URL.to_owned()),
            shop_id: None,
            carrier_code: BoundedText::try_from("CPCL".to_owned()).ok(),
            carrier_name: BoundedText::try_from("Canada Post".to_owned()).ok(),
            carrier_url: None,
            acceptance_window_hours: const { nonzero_u32(24) },
            accept_recheck_delay_secs: 5,
            accept_recheck_max_secs: 30,
        }
    }
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CanadaPostConfig {
    #[serde(default = "default_canada_post_url")]
    pub base_url: BaseUrl,
    pub customer_number: CustomerNumber,
    /// `contract` (a parcel agreement) or `non_contract` (Solutions for Small Business).
    #[serde(default)]
    pub account: AccountKind,
    /// The parcel contract; required with `account = "contract"`, refused without it.
    #[serde(default)]
    pub contract_id: Option<ContractId>,
    /// The customer shipped for; a merchant shipping for itself repeats its own number.
    #[serde(default)]
    pub mobo: Option<CustomerNumber>,
    /// The customer number that pays (`settlement-info/paid-by-customer`). Contract
    /// accounts often mail under one number and pay under another, whose contract
    /// `contract_id` then is.
    #[serde(default)]
    pub paid_by_customer: Option<CustomerNumber>,
    #[serde(default = "default_service_code")]
    pub service_code: ServiceCode,
    /// Best Buy `shipping_type_code` → Canada Post service.
    #[serde(default)]
    pub services: BTreeMap<String, ServiceCode>,
    #[serde(default)]
    pub language: Language,
    /// Where Canada Post writes about a refund `bbship refund` requests (required by its
    /// refund request; only that command needs it).
    #[serde(default)]
    pub refund_email: Option<Email>,
}

impl CanadaPostConfig {
    pub fn mobo(&self) -> &CustomerNumber {
        self.mobo.as_ref().unwrap_or(&self.customer_number)
    }

    pub fn paid_by_customer(&self) -> &CustomerNumber {
        self.paid_by_customer
            .as_ref()
            .unwrap_or(&self.customer_number)
    }
}

/// The language of Canada Post's error descriptions and service names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub enum Language {
    #[default]
    #[serde(rename = "en-CA")]
    English,
    #[serde(rename = "fr-CA")]
    French,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderConfig {
    #[serde(default)]
    pub name: Option<BoundedText<44>>,
    pub company: BoundedText<44>,
    pub phone: BoundedText<25>,
    pub address_line_1: BoundedText<44>,
    #[serde(default)]
    pub address_line_2: Option<BoundedText<44>>,
    pub city: BoundedText<40>,
    pub province: Province,
    pub postal_code: PostalCode,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParcelConfig {
    pub default: ParcelSpec,
    /// Seller SKU (`offer_sku`) → its parcel.
    #[serde(default)]
    pub by_sku: BTreeMap<String, ParcelSpec>,
}

#[derive(Clone, Copy, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ParcelSpec {
    pub weight_kg: WeightKg,
    pub length_cm: DimensionCm,
    pub width_cm: DimensionCm,
    pub height_cm: DimensionCm,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub bestbuy_requests_per_minute: NonZeroU32,
    pub canada_post_requests_per_minute: NonZeroU32,
    /// Canada Post's tracking group has the lowest limit (20 a minute by default).
    pub canada_post_tracking_per_minute: NonZeroU32,
    /// Canada Post asks for Create Shipment calls at least 250 ms apart, whatever the
    /// account's limits.
    pub canada_post_create_spacing_ms: u64,
    /// Orders worked on at once. Best Buy recommends one request at a time.
    pub concurrency: NonZeroUsize,
    /// The circuit breaker on postage: one run sends at most this many Create Shipment
    /// requests. A flood of orders (or a bug) can then cost at most this much before a
    /// person looks; the orders held back are created by the next run.
    pub max_labels_per_run: NonZeroUsize,
    /// The spend breaker: a run stops creating once the postage it bought reaches this
    /// many Canadian dollars (an unknown price counted as the highest seen). None by
    /// default.
    #[serde(default, deserialize_with = "dollars")]
    pub max_postage_per_run: Option<Cad>,
    /// No new order is started once this much of the cycle has passed; keep it below
    /// the cron period so two runs never queue behind the lock.
    pub cycle_budget_secs: NonZeroU64,
    pub connect_timeout_secs: NonZeroU64,
    pub request_timeout_secs: NonZeroU64,
    /// Retries of one read (and of a write refused with 429) before giving up.
    pub max_retries: u32,
    pub retry_backoff_initial_ms: NonZeroU64,
    /// A `Retry-After` longer than this is cut to it.
    pub max_retry_after_secs: u64,
    /// After Canada Post's "Rejected by SLM Monitor", no Canada Post call for this long:
    /// its throttle counts calls over a rolling minute.
    pub canada_post_throttle_pause_secs: u64,
    /// How long one run keeps asking for a label that is not ready yet before leaving it
    /// for the next run (which downloads it; it never buys another).
    pub label_wait_secs: u64,
    /// The first wait between label downloads; it doubles up to 8 seconds.
    pub label_retry_initial_ms: NonZeroU64,
    /// A writing run refuses to start with less free space than this on the disk of the
    /// data directory: a label bought but not journaled would be postage lost.
    pub min_free_disk_mb: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            bestbuy_requests_per_minute: const { nonzero_u32(60) },
            canada_post_requests_per_minute: const { nonzero_u32(120) },
            canada_post_tracking_per_minute: const { nonzero_u32(15) },
            canada_post_create_spacing_ms: 250,
            concurrency: NonZeroUsize::MIN,
            max_labels_per_run: const { nonzero_usize(50) },
            max_postage_per_run: None,
            cycle_budget_secs: const { nonzero_u64(600) },
            connect_timeout_secs: const { nonzero_u64(10) },
            request_timeout_secs: const { nonzero_u64(60) },
            max_retries: 4,
            retry_backoff_initial_ms: const { nonzero_u64(2000) },
            max_retry_after_secs: 120,
            canada_post_throttle_pause_secs: 60,
            label_wait_secs: 60,
            label_retry_initial_ms: const { nonzero_u64(500) },
            min_free_disk_mb: 64,
        }
    }
}

impl Limits {
    pub fn min_free_disk_bytes(&self) -> u64 {
        self.min_free_disk_mb.saturating_mul(1024 * 1024)
    }

    pub fn cycle_budget(&self) -> Duration {
        Duration::from_secs(self.cycle_budget_secs.get())
    }
}

/// An API root URL: http or https with a host, no credentials, query or fragment, kept
/// without a trailing slash. Plain http is allowed only to this machine (the fake APIs),
/// so an API key can never travel unencrypted by mistake.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct BaseUrl(String);

impl BaseUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BaseUrl {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        let uri: ureq::http::Uri = value
            .parse()
            .map_err(|error| format!("`{value}` is not a URL: {error}"))?;
        let scheme = uri.scheme_str().unwrap_or_default();
        let Some(authority) = uri.authority() else {
            return Err(format!("`{value}` has no host"));
        };
        if authority.as_str().contains('@') {
            return Err(
                "a URL must not carry credentials; secrets come from the environment".to_owned(),
            );
        }
        if uri.query().is_some() || value.contains('#') {
            return Err(format!("`{value}` must not have a query or fragment"));
        }
        let host = authority.host();
        let local = matches!(host, "127.0.0.1" | "localhost" | "[::1]" | "::1");
        match scheme {
            "https" => {}
            "http" if local => {}
            "http" => {
                return Err(format!(
                    "`{value}` uses plain http; credentials would travel unencrypted (use https)"
                ));
            }
            _ => return Err(format!("`{value}` must start with https://")),
        }
        Ok(BaseUrl(value.trim_end_matches('/').to_owned()))
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Mirakl shop id: digits.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ShopId(String);

impl ShopId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ShopId {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        if (1..=20).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(ShopId(value))
        } else {
            Err(format!("`{value}` is not a shop id (digits)"))
        }
    }
}

/// The tracking link sent with OR23 for a carrier Best Buy does not know: an https URL
/// with `{pin}` where the tracking number goes.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TrackingUrlTemplate(String);

impl TrackingUrlTemplate {
    pub fn render(&self, pin: &str) -> String {
        self.0.replace("{pin}", pin)
    }
}

impl TryFrom<String> for TrackingUrlTemplate {
    type Error = String;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        if !value.starts_with("https://") {
            return Err(format!("`{value}` must start with https://"));
        }
        if !value.contains("{pin}") {
            return Err(format!(
                "`{value}` must contain {{pin}}, where the tracking number goes"
            ));
        }
        Ok(TrackingUrlTemplate(value))
    }
}

/// A parcel weight in kilograms: more than 0, at most 30 (Canada Post's practical
/// maximum for a parcel), at most 3 decimals (the schema's limit).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Deserialize, Serialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct WeightKg(f64);

impl WeightKg {
    pub const MAX: f64 = 30.0;

    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for WeightKg {
    type Error = String;

    fn try_from(value: f64) -> Result<Self, Self::Error> {
        if !(value > 0.0 && value <= Self::MAX) {
            return Err(format!(
                "weight {value} kg is out of range (more than 0, at most {})",
                Self::MAX
            ));
        }
        if !has_at_most_decimals(value, 3) {
            return Err(format!("weight {value} kg has more than 3 decimals"));
        }
        Ok(WeightKg(value))
    }
}

impl From<WeightKg> for f64 {
    fn from(weight: WeightKg) -> f64 {
        weight.0
    }
}

/// A parcel dimension in centimetres: more than 0, at most 999.9, at most 1 decimal.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Deserialize, Serialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct DimensionCm(f64);

impl DimensionCm {
    pub const MAX: f64 = 999.9;

    pub fn get(self) -> f64 {
        self.0
    }
}

impl TryFrom<f64> for DimensionCm {
    type Error = String;

    fn try_from(value: f64) -> Result<Self, Self::Error> {
        if !(value > 0.0 && value <= Self::MAX) {
            return Err(format!(
                "dimension {value} cm is out of range (more than 0, at most {})",
                Self::MAX
            ));
        }
        if !has_at_most_decimals(value, 1) {
            return Err(format!("dimension {value} cm has more than 1 decimal"));
        }
        Ok(DimensionCm(value))
    }
}

impl From<DimensionCm> for f64 {
    fn from(dimension: DimensionCm) -> f64 {
        dimension.0
    }
}

fn has_at_most_decimals(value: f64, decimals: i32) -> bool {
    let scaled = value * 10f64.powi(decimals);
    (scaled - scaled.round()).abs() < 1e-6
}

impl Config {
    /// Reads and validates a configuration file. Every error is a usage error that names
    /// the file and, where there is one, the key.
    pub fn load(path: &Path) -> Result<Config, UsageError> {
        let text = std::fs::read_to_string(path).map_err(|error| {
            let hint = if error.kind() == std::io::ErrorKind::NotFound {
                " (choose one with --config or BBSHIP_CONFIG; examples/bbship.example.json is a complete example)"
            } else {
                ""
            };
            UsageError(format!(
                "cannot read the configuration file {}: {error}{hint}",
                path.display()
            ))
        })?;
        Config::parse(&text).map_err(|message| {
            UsageError(format!("configuration file {}: {message}", path.display()))
        })
    }

    /// Parses configuration text; an error names the key that is wrong.
    pub fn parse(text: &str) -> Result<Config, String> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let config: Config =
            serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
                let path = error.path().to_string();
                let inner = error.into_inner();
                if path == "." {
                    inner.to_string()
                } else {
                    format!("key `{path}`: {inner}")
                }
            })?;
        deserializer
            .end()
            .map_err(|error| format!("trailing text after the configuration: {error}"))?;
        config.check_across_keys()?;
        Ok(config)
    }

    /// What no single key's type can refuse: values that are each valid but disagree.
    fn check_across_keys(&self) -> Result<(), String> {
        let canada_post = &self.canada_post;
        match (canada_post.account, &canada_post.contract_id) {
            (AccountKind::Contract, None) => {
                return Err("key `canada_post.contract_id`: a contract account needs its contract id (or set canada_post.account to \"non_contract\")"
                    .to_owned());
            }
            (AccountKind::NonContract, Some(_)) => {
                return Err("key `canada_post.contract_id`: a non-contract account (canada_post.account = \"non_contract\") has no contract; remove the key"
                    .to_owned());
            }
            _ => {}
        }
        if let Some(cap) = self.limits.max_postage_per_run
            && cap <= Cad::ZERO
        {
            return Err(format!(
                "key `limits.max_postage_per_run`: {cap} CAD would allow no label; leave the key                  out for no cap"
            ));
        }
        let sender = &self.sender;
        sender
            .postal_code
            .check_province(sender.province)
            .map_err(|reason| format!("key `sender.postal_code`: {reason}"))?;
        let bestbuy = &self.bestbuy;
        if bestbuy.carrier_code.is_none() && bestbuy.carrier_name.is_none() {
            return Err(
                "key `bestbuy.carrier_code`: the tracking upload needs a carrier: set \
                 carrier_code (a carrier Best Buy knows, such as CPCL) or carrier_name"
                    .to_owned(),
            );
        }
        Ok(())
    }
}

// The defaults' non-zero numbers, checked when the crate compiles.
const fn nonzero_u32(value: u32) -> NonZeroU32 {
    match NonZeroU32::new(value) {
        Some(value) => value,
        None => panic!("zero"),
    }
}

const fn nonzero_u64(value: u64) -> NonZeroU64 {
    match NonZeroU64::new(value) {
        Some(value) => value,
        None => panic!("zero"),
    }
}

const fn nonzero_usize(value: usize) -> NonZeroUsize {
    match NonZeroUsize::new(value) {
        Some(value) => value,
        None => panic!("zero"),
    }
}

fn default_canada_post_url() -> BaseUrl {
    BaseUrl(DEFAULT_CANADA_POST_URL.to_owned())
}
fn default_service_code() -> ServiceCode {
    ServiceCode::try_from("DOM.EP".to_owned()).unwrap_or_else(|_| unreachable!())
}
/// A CAD amount written as a JSON number (`150`, `99.5`) or string (`"99.50"`), read
/// exactly into cents through its decimal text.
fn dollars<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Cad>, D::Error> {
    let value = serde_json::Value::deserialize(deserializer)?;
    let text = match &value {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Number(number) => number.to_string(),
        serde_json::Value::String(text) => text.clone(),
        _ => {
            return Err(serde::de::Error::custom(
                "expected an amount in CAD, like 150.00",
            ));
        }
    };
    Cad::parse(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{
        "canada_post": {"customer_number": "1234567", "contract_id": "42708517"},
        "sender": {"company": "Example Co", "phone": "416-555-0100",
                   "address_line_1": "1 Example St", "city": "Toronto",
                   "province": "ON", "postal_code": "m5v 2t6"},
        "parcel": {"default": {"weight_kg": 1.5, "length_cm": 30, "width_cm": 20, "height_cm": 10}}
    }"#;

    fn with(pointer: &str, value: serde_json::Value) -> String {
        let mut json: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
        *json.pointer_mut(pointer).unwrap() = value;
        json.to_string()
    }

    fn error_of(text: &str) -> String {
        Config::parse(text).unwrap_err()
    }

    fn with_print(print: serde_json::Value) -> String {
        let mut json: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
        json["print"] = print;
        json.to_string()
    }

    #[test]
    fn print_defaults_to_a_4x6_slip_and_no_printer() {
        let config = Config::parse(MINIMAL).unwrap();
        assert_eq!(config.print.command, None);
        assert_eq!(config.print.packing_slip, SlipSize::FourBySix);
        assert_eq!(config.print.timeout_secs.get(), 30);
        let config = Config::parse(&with_print(serde_json::json!({
            "command": ["lp", "-d", "Zebra"], "packing_slip": "letter", "timeout_secs": 5
        })))
        .unwrap();
        let command = config.print.command.unwrap();
        assert_eq!(command.program(), "lp");
        assert_eq!(command.arguments(), ["-d", "Zebra"]);
        assert_eq!(config.print.packing_slip, SlipSize::Letter);
    }

    #[test]
    fn a_bad_print_key_is_named() {
        for (print, key) in [
            (serde_json::json!({"command": []}), "print.command"),
            (serde_json::json!({"command": ""}), "print.command"),
            (serde_json::json!({"command": [" "]}), "print.command"),
            (
                serde_json::json!({"packing_slip": "A4"}),
                "print.packing_slip",
            ),
            (serde_json::json!({"timeout_secs": 0}), "print.timeout_secs"),
            (serde_json::json!({"printer": "Zebra"}), "print"),
        ] {
            let error = error_of(&with_print(print.clone()));
            assert!(error.contains(key), "{print}: {error}");
        }
    }

    #[test]
    fn a_section_given_in_part_keeps_the_defaults_of_the_keys_it_leaves_out() {
        let mut json: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
        json["limits"] = serde_json::json!({"concurrency": 3});
        json["bestbuy"] = serde_json::json!({"shop_id": "2001"});
        json["alerts"] = serde_json::json!({"stuck_label_minutes": 5});
        let config = Config::parse(&json.to_string()).unwrap();
        assert_eq!(config.limits.concurrency.get(), 3);
        assert_eq!(config.limits.max_labels_per_run.get(), 50);
        assert_eq!(config.limits.canada_post_tracking_per_minute.get(), 15);
        assert_eq!(config.bestbuy.base_url.as_str(), DEFAULT_BESTBUY_URL);
        assert_eq!(
            config.bestbuy.carrier_code.as_ref().unwrap().as_str(),
            "CPCL"
        );
        assert_eq!(config.alerts.stuck_label_minutes, 5);
        assert_eq!(config.alerts.timeout_secs.get(), 5);
    }

    #[test]
    fn a_minimal_config_gets_the_documented_defaults() {
        let config = Config::parse(MINIMAL).unwrap();
        assert_eq!(config.bestbuy.base_url.as_str(), DEFAULT_BESTBUY_URL);
        assert_eq!(
            config.canada_post.base_url.as_str(),
            DEFAULT_CANADA_POST_URL
        );
        assert_eq!(config.canada_post.service_code.as_str(), "DOM.EP");
        assert_eq!(
            config.canada_post.mobo(),
            &config.canada_post.customer_number
        );
        assert_eq!(
            config.canada_post.paid_by_customer(),
            &config.canada_post.customer_number
        );
        assert_eq!(config.bestbuy.accept_recheck_max_secs, 30);
        assert_eq!(config.sender.postal_code.as_str(), "M5V2T6");
        assert_eq!(config.limits.concurrency.get(), 1);
        assert_eq!(config.limits.cycle_budget_secs.get(), 600);
    }

    #[test]
    fn reminders_default_to_a_day_and_take_fractions_of_an_hour() {
        let config = Config::parse(MINIMAL).unwrap();
        assert_eq!(config.alerts.remind_every_hours.hours(), 24.0);
        let mut json: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
        json["alerts"] = serde_json::json!({"remind_every_hours": 0.5});
        let config = Config::parse(&json.to_string()).unwrap();
        assert_eq!(
            config.alerts.remind_every_hours.duration(),
            chrono::Duration::minutes(30)
        );
        for bad in [
            serde_json::json!(0),
            serde_json::json!(-1),
            serde_json::json!(1e9),
            serde_json::json!("24"),
        ] {
            json["alerts"] = serde_json::json!({ "remind_every_hours": bad });
            let error = error_of(&json.to_string());
            assert!(error.contains("alerts.remind_every_hours"), "{error}");
        }
    }

    #[test]
    fn an_unknown_key_is_named_with_its_path() {
        let text = MINIMAL.replacen("\"sender\": {", "\"sender\": {\"compnay\": \"x\", ", 1);
        let error = error_of(&text);
        assert!(error.contains("sender.compnay"), "{error}");
        assert!(error.contains("unknown field"), "{error}");
    }

    #[test]
    fn invalid_values_are_named_with_their_key() {
        let cases = [
            (
                "/sender/postal_code",
                serde_json::json!("12345"),
                "sender.postal_code",
            ),
            (
                "/sender/province",
                serde_json::json!("ZZ"),
                "sender.province",
            ),
            (
                "/parcel/default/weight_kg",
                serde_json::json!(0),
                "parcel.default.weight_kg",
            ),
            (
                "/parcel/default/weight_kg",
                serde_json::json!(1.2345),
                "parcel.default.weight_kg",
            ),
            (
                "/parcel/default/height_cm",
                serde_json::json!(-1),
                "parcel.default.height_cm",
            ),
            (
                "/parcel/default/length_cm",
                serde_json::json!(10.25),
                "parcel.default.length_cm",
            ),
            (
                "/canada_post/customer_number",
                serde_json::json!("abc"),
                "canada_post.customer_number",
            ),
            (
                "/sender/company",
                serde_json::json!("x".repeat(45)),
                "sender.company",
            ),
        ];
        for (pointer, value, key) in cases {
            let error = error_of(&with(pointer, value));
            assert!(error.contains(key), "{key}: {error}");
        }
    }

    #[test]
    fn urls_rates_and_concurrency_are_checked() {
        let mut json: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
        json["bestbuy"] = serde_json::json!({"base_url": "not a url"});
        assert!(error_of(&json.to_string()).contains("bestbuy.base_url"));
        json["bestbuy"] = serde_json::json!({"base_url": "http://marketplace.example.com/api"});
        assert!(error_of(&json.to_string()).contains("plain http"));
        json["bestbuy"] = serde_json::json!({"base_url": "https://user:pw@example.com/api"});
        assert!(error_of(&json.to_string()).contains("credentials"));
        json["bestbuy"] = serde_json::json!({"base_url": "http://127.0.0.1:8080/api/"});
        let config = Config::parse(&json.to_string()).unwrap();
        assert_eq!(
            config.bestbuy.base_url.as_str(),
            "http://127.0.0.1:8080/api"
        );

        json["limits"] = serde_json::json!({"concurrency": 0});
        assert!(error_of(&json.to_string()).contains("limits.concurrency"));
        json["limits"] = serde_json::json!({"bestbuy_requests_per_minute": 0});
        assert!(error_of(&json.to_string()).contains("limits.bestbuy_requests_per_minute"));
    }

    #[test]
    fn the_refund_email_is_optional_and_checked() {
        assert!(
            Config::parse(MINIMAL)
                .unwrap()
                .canada_post
                .refund_email
                .is_none()
        );
        let mut json: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
        json["canada_post"]["refund_email"] = serde_json::json!("seller at example.com");
        let error = error_of(&json.to_string());
        assert!(error.contains("canada_post.refund_email"), "{error}");
        json["canada_post"]["refund_email"] = serde_json::json!("seller@example.com");
        let config = Config::parse(&json.to_string()).unwrap();
        assert_eq!(
            config.canada_post.refund_email.unwrap().as_str(),
            "seller@example.com"
        );
    }

    #[test]
    fn the_paying_customer_is_its_own_number_when_set() {
        let config = Config::parse(&with(
            "/canada_post",
            serde_json::json!({"customer_number": "1234567", "contract_id": "42708517",
                               "paid_by_customer": "7654321"}),
        ))
        .unwrap();
        assert_eq!(config.canada_post.paid_by_customer().as_str(), "7654321");
        assert_eq!(config.canada_post.mobo().as_str(), "1234567");
        for bad in ["", "12345678901", "12a4", "-1"] {
            let error = error_of(&with(
                "/canada_post",
                serde_json::json!({"customer_number": "1234567", "contract_id": "42708517",
                                   "paid_by_customer": bad}),
            ));
            assert!(
                error.contains("canada_post.paid_by_customer"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn a_sender_postal_code_outside_its_province_is_refused() {
        let error = error_of(&with("/sender/province", serde_json::json!("QC")));
        assert!(error.contains("sender.postal_code"), "{error}");
        assert!(
            error.contains("M5V2T6") && error.contains("ON") && error.contains("QC"),
            "{error}"
        );
    }

    #[test]
    fn a_carrier_is_needed_by_code_or_by_name() {
        let mut json: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
        json["bestbuy"] = serde_json::json!({"carrier_code": null, "carrier_name": null});
        let error = error_of(&json.to_string());
        assert!(error.contains("bestbuy.carrier_code"), "{error}");
        json["bestbuy"] = serde_json::json!({"carrier_code": null});
        assert!(Config::parse(&json.to_string()).is_ok(), "the default name");
    }

    #[test]
    fn the_default_service_is_expedited_parcel() {
        assert_eq!(default_service_code().as_str(), "DOM.EP");
    }

    #[test]
    fn the_example_maps_best_buy_ground_regular_to_expedited_parcel() {
        // What a real Best Buy Canada seller shipped its `M` orders with.
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/bbship.example.json");
        let config = Config::load(&example).unwrap();
        assert_eq!(config.canada_post.services["M"].as_str(), "DOM.EP");
        assert_eq!(
            config
                .bestbuy
                .carrier_code
                .as_ref()
                .map(BoundedText::as_str),
            Some("CPCL")
        );
        assert_eq!(config.canada_post.paid_by_customer().as_str(), "1234567");
    }

    #[test]
    fn missing_required_keys_are_named() {
        let mut json: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
        json["canada_post"]
            .as_object_mut()
            .unwrap()
            .remove("contract_id");
        let error = error_of(&json.to_string());
        assert!(error.contains("contract_id"), "{error}");
    }

    #[test]
    fn a_non_contract_account_refuses_a_contract_id_and_needs_none() {
        let mut json: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
        json["canada_post"]["account"] = "non_contract".into();
        let error = error_of(&json.to_string());
        assert!(error.contains("`canada_post.contract_id`"), "{error}");
        assert!(error.contains("non-contract"), "{error}");
        json["canada_post"]
            .as_object_mut()
            .unwrap()
            .remove("contract_id");
        let config = Config::parse(&json.to_string()).unwrap();
        assert_eq!(config.canada_post.account, AccountKind::NonContract);
        json["canada_post"]["account"] = "contractless".into();
        assert!(error_of(&json.to_string()).contains("canada_post.account"));
    }

    #[test]
    fn the_postage_cap_reads_dollars_exactly_and_refuses_nonsense() {
        let mut json: serde_json::Value = serde_json::from_str(MINIMAL).unwrap();
        assert_eq!(
            Config::parse(MINIMAL).unwrap().limits.max_postage_per_run,
            None
        );
        for (value, cents) in [
            (serde_json::json!(150), 15_000),
            (serde_json::json!(99.5), 9_950),
            (serde_json::json!("12.34"), 1_234),
        ] {
            json["limits"] = serde_json::json!({"max_postage_per_run": value});
            let config = Config::parse(&json.to_string()).unwrap();
            assert_eq!(
                config.limits.max_postage_per_run,
                Some(Cad::from_cents(cents))
            );
        }
        for value in [
            serde_json::json!(0),
            serde_json::json!(1.234),
            serde_json::json!(true),
        ] {
            json["limits"] = serde_json::json!({"max_postage_per_run": value});
            let error = error_of(&json.to_string());
            assert!(error.contains("max_postage_per_run"), "{error}");
        }
    }

    #[test]
    fn decimals_are_counted_exactly_enough() {
        assert!(has_at_most_decimals(1.234, 3));
        assert!(has_at_most_decimals(0.1, 1));
        assert!(has_at_most_decimals(999.9, 1));
        assert!(!has_at_most_decimals(1.2345, 3));
        assert!(!has_at_most_decimals(0.15, 1));
    }
}
