//! One benchmark scenario: a fresh fake with generated orders, a configuration written for
//! it, and one `run-all` through the library (as cron starts it) that must take every
//! order from waiting for acceptance to shipped; then one more `run-all` with nothing
//! left to do. It returns what the fake saw, for the figures `main` prints.
//!
//! bbship's rate limits are mirrored in the fake's Canada Post throttle, so any overshoot
//! of a configured limit shows as a rejection instead of passing unnoticed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::ConfigBuilder;
use crate::{Endpoint, FakeOptions, FakeOrder, FakeServer, RecordedRequest};
use anyhow::{Context, Result, bail, ensure};
use bbship::{CycleCommand, Invocation};
use bbship::{Secret, Secrets};

const API_KEY: &str = "bench-bestbuy-key";
const CANADA_POST_USER: &str = "bench-canada-post-user";
const CANADA_POST_PASSWORD: &str = "bench-canada-post-password";

/// A limit far above anything a benchmark run reaches: "no effective rate limit".
pub const UNLIMITED_PER_MINUTE: u32 = 1_000_000;

/// bbship's `limits` for one scenario; the Canada Post ones are also the fake's throttle.
#[derive(Clone, Copy, Debug)]
pub struct RateLimits {
    pub bestbuy_per_minute: u32,
    /// Canada Post's shipment groups (create, lookup, get, label).
    pub canada_post_per_minute: u32,
    /// Canada Post's tracking group.
    pub tracking_per_minute: u32,
    pub create_spacing: Duration,
}

impl RateLimits {
    /// No limit that a run could reach, and no spacing between creates.
    pub fn unlimited() -> RateLimits {
        RateLimits {
            bestbuy_per_minute: UNLIMITED_PER_MINUTE,
            canada_post_per_minute: UNLIMITED_PER_MINUTE,
            tracking_per_minute: UNLIMITED_PER_MINUTE,
            create_spacing: Duration::ZERO,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Scenario {
    pub orders: usize,
    /// The fake's latency, added to every request.
    pub latency: Duration,
    pub concurrency: usize,
    pub limits: RateLimits,
    /// Ship with a non-contract account (`canada_post.account = "non_contract"`).
    pub non_contract: bool,
}

/// What one scenario did.
pub struct ScenarioRun {
    /// The `run-all` that shipped every order, from its call to its return.
    pub wall_time: Duration,
    pub orders: usize,
    /// Every request of that `run-all`, in arrival order.
    pub requests: Vec<RecordedRequest>,
    /// "Rejected by SLM Monitor" answers from the fake's Canada Post throttle.
    pub canada_post_throttled: usize,
    /// 429 answers from Best Buy.
    pub bestbuy_throttled: usize,
    /// Requests of the `run-all` that followed, with nothing left to do.
    pub idle_calls: usize,
    /// Each order's one shipment, `(shipment id, tracking PIN)`, in the order of
    /// `FakeOrder::generated`'s indexes.
    pub shipments: Vec<(String, String)>,
}

impl ScenarioRun {
    /// Requests of the shipping run per endpoint.
    pub fn calls_by_endpoint(&self) -> HashMap<Endpoint, usize> {
        let mut counts = HashMap::new();
        for request in &self.requests {
            *counts.entry(request.endpoint).or_insert(0) += 1;
        }
        counts
    }
}

/// Runs `scenario` in a fresh data directory under `work_dir` and checks that every
/// order ended SHIPPED on Best Buy with exactly one Canada Post shipment.
pub fn run(scenario: &Scenario, work_dir: &Path) -> Result<ScenarioRun> {
    ensure!(scenario.orders > 0, "a scenario needs at least one order");
    let limits = scenario.limits;
    let fake = FakeServer::start(FakeOptions {
        api_key: API_KEY.to_owned(),
        // Paid at once, so one run-all takes an order from acceptance to shipped.
        payment_delay: Some(Duration::ZERO),
        canada_post_username: CANADA_POST_USER.to_owned(),
        canada_post_password: CANADA_POST_PASSWORD.to_owned(),
        canada_post_calls_per_minute: Some(limits.canada_post_per_minute),
        canada_post_tracking_calls_per_minute: Some(limits.tracking_per_minute),
        latency: scenario.latency,
        ..FakeOptions::default()
    })
    .context("starting the fake APIs")?;
    let order_ids: Vec<String> = (0..scenario.orders)
        .map(|index| FakeOrder::generated(index).order_id().to_owned())
        .collect();
    fake.add_orders((0..scenario.orders).map(FakeOrder::generated));

    std::fs::create_dir_all(work_dir)
        .with_context(|| format!("creating {}", work_dir.display()))?;
    let config_path = work_dir.join("bbship.json");
    write_config(&config_path, &fake, scenario)?;
    let invocation = Invocation {
        command: CycleCommand::RunAll,
        config_path,
        data_dir: data_dir_of(work_dir),
        dry_run: false,
        only_orders: Vec::new(),
        progress: false,
    };
    let secrets = Secrets {
        bestbuy_api_key: Some(Secret::new(API_KEY)),
        canadapost_username: Some(Secret::new(CANADA_POST_USER)),
        canadapost_password: Some(Secret::new(CANADA_POST_PASSWORD)),
    };

    let started = Instant::now();
    let outcome = bbship::run(&invocation, &secrets).context("the shipping run-all")?;
    let wall_time = started.elapsed();
    let requests = fake.requests();
    let canada_post_throttled = fake.canada_post_throttled();
    ensure!(
        outcome.failures() == 0,
        "the shipping run-all reported {} failure(s): {}",
        outcome.failures(),
        outcome
            .phases
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    );
    check_all_shipped_once(&fake, &order_ids)?;
    let shipments = order_ids
        .iter()
        .flat_map(|id| fake.shipments_for(id))
        .map(|shipment| (shipment.shipment_id, shipment.tracking_pin))
        .collect();

    fake.reset_log();
    let idle = bbship::run(&invocation, &secrets).context("the idle run-all")?;
    ensure!(idle.failures() == 0, "the idle run-all reported failures");
    let idle_calls = fake.requests().len();

    let bestbuy_throttled = requests
        .iter()
        .filter(|request| is_bestbuy(request) && request.status == Some(429))
        .count();
    Ok(ScenarioRun {
        wall_time,
        orders: scenario.orders,
        requests,
        canada_post_throttled,
        bestbuy_throttled,
        idle_calls,
        shipments,
    })
}

/// Where a scenario's `logs/` and `labels/` live.
pub fn data_dir_of(work_dir: &Path) -> PathBuf {
    work_dir.join("data")
}

/// Fails loudly unless every order is SHIPPED with exactly one shipment: a benchmark
/// figure from a run that did not do the work would be meaningless.
fn check_all_shipped_once(fake: &FakeServer, order_ids: &[String]) -> Result<()> {
    let mut wrong = Vec::new();
    for id in order_ids {
        let state = fake.order_state(id).unwrap_or_else(|| "unknown".to_owned());
        let shipments = fake.shipments_for(id).len();
        if state != "SHIPPED" || shipments != 1 {
            wrong.push(format!("{id}: {state}, {shipments} shipment(s)"));
        }
    }
    if !wrong.is_empty() {
        bail!(
            "{} of {} orders did not end SHIPPED with exactly one shipment after one run-all: {}",
            wrong.len(),
            order_ids.len(),
            wrong.join("; ")
        );
    }
    Ok(())
}

fn is_bestbuy(request: &RecordedRequest) -> bool {
    request.path == "/api" || request.path.starts_with("/api/")
}

fn write_config(path: &Path, fake: &FakeServer, scenario: &Scenario) -> Result<()> {
    let limits = scenario.limits;
    let mut config = ConfigBuilder::new(fake)
        .non_contract(scenario.non_contract)
        .build();
    // The fake moves an accepted order on at once.
    config["bestbuy"]["accept_recheck_delay_secs"] = 0.into();
    config["limits"] = serde_json::json!({
        "bestbuy_requests_per_minute": limits.bestbuy_per_minute,
        "canada_post_requests_per_minute": limits.canada_post_per_minute,
        "canada_post_tracking_per_minute": limits.tracking_per_minute,
        "canada_post_create_spacing_ms": limits.create_spacing.as_millis(),
        "concurrency": scenario.concurrency,
        // The circuit breaker on postage would otherwise stop the run at 50 labels.
        "max_labels_per_run": scenario.orders,
        "label_retry_initial_ms": 100
    });
    crate::config::write(&config, path).with_context(|| format!("writing {}", path.display()))
}

/// The pace of one group of calls over the stretch where they were made.
#[derive(Clone, Copy, Debug)]
pub struct GroupRate {
    pub calls: usize,
    /// From the first call of the group to the last, as the fake handled them.
    pub span: Duration,
    /// Calls per minute between the first and the last: `(calls − 1) / span`, the number
    /// of intervals over their total length.
    pub per_minute: f64,
    /// The most calls inside any 60-second window `[t, t + 60 s)`: what Canada Post's
    /// throttle compares with its limit.
    pub busiest_minute: usize,
}

/// Measures the requests that `belongs` picks out, by the time the fake handled them.
pub fn group_rate(
    requests: &[RecordedRequest],
    belongs: impl Fn(&RecordedRequest) -> bool,
) -> Option<GroupRate> {
    let mut times: Vec<Instant> = requests
        .iter()
        .filter(|request| belongs(request))
        .map(|request| request.at)
        .collect();
    times.sort();
    let (first, last) = (*times.first()?, *times.last()?);
    let span = last - first;
    let per_minute = if span.is_zero() {
        0.0
    } else {
        (times.len() - 1) as f64 * 60.0 / span.as_secs_f64()
    };
    let minute = Duration::from_secs(60);
    let mut window_start = 0;
    let mut busiest_minute = 0;
    for (window_end, &at) in times.iter().enumerate() {
        while at >= times[window_start] + minute {
            window_start += 1;
        }
        busiest_minute = busiest_minute.max(window_end - window_start + 1);
    }
    Some(GroupRate {
        calls: times.len(),
        span,
        per_minute,
        busiest_minute,
    })
}
