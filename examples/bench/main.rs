//! The benchmark: full bbship cycles on the project's fake APIs, and the journal at
//! 100,000 orders, each figure printed next to its target. `cargo run --release --example
//! bench` (`-- --help` for the options, `-- --quick` for a smoke run of about 20 seconds,
//! `-- --journal-only` for the journal scenario alone).
//!
//! It is a measurement, not a test: it exits 0 after printing, whether targets were met
//! or not (the last lines list the ones missed), and fails only when a run went wrong,
//! such as an order not ending SHIPPED with exactly one shipment. The scenarios:
//!
//! - volume: `--orders` at `--concurrency`, `--latency-ms` per request, no effective
//!   rate limit: wall time, API calls per shipped order by endpoint, then the calls of a
//!   `run-all` with nothing left to do;
//! - speed-up: `--speedup-orders` the same way at concurrency 1 and at `--concurrency`;
//! - throughput: Canada Post tracking limited to `--tracking-limit` a minute, in bbship's
//!   `limits` and in the fake's throttle alike, so tracking is the bottleneck: the pace
//!   achieved as a fraction of that ceiling (see `throughput_figures`);
//! - journal: a real cycle's logs amplified to `--journal-orders` orders, then the time
//!   and memory of `Journal::open`, each in a fresh process as every cron run is (the
//!   bench runs itself as a child, `--measure-journal`), and the cost of an fsynced
//!   append against a 10-order journal's.
//!
//! The counting allocator below is why this is an example and not part of the library:
//! it sees every heap allocation of the process, which is how the journal's heap peak is
//! measured; the child's peak resident set (VmHWM) covers everything else.

use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use bbship::Access;
use bbship::DataDir;
use bbship_fake::bench::{journal_scale, scenario};
use bbship_fake::{Endpoint, RecordedRequest};
use clap::Parser;
use serde::{Deserialize, Serialize};

use journal_scale::{AppendCost, HeapProbe};
use scenario::{GroupRate, RateLimits, Scenario, ScenarioRun};

/// Counts the bytes the process has allocated and the most it has had at once.
struct CountingAllocator;

static HEAP_CURRENT: AtomicUsize = AtomicUsize::new(0);
static HEAP_PEAK: AtomicUsize = AtomicUsize::new(0);

fn heap_grew(bytes: usize) {
    let now = HEAP_CURRENT.fetch_add(bytes, Ordering::Relaxed) + bytes;
    HEAP_PEAK.fetch_max(now, Ordering::Relaxed);
}

fn heap_shrank(bytes: usize) {
    HEAP_CURRENT.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every call is passed to the system allocator unchanged; the counters only
// observe sizes and never touch memory.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is the system allocator's.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            heap_grew(layout.size());
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `alloc`.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            heap_grew(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: `pointer` came from this allocator, which is the system's.
        unsafe { System.dealloc(pointer, layout) };
        heap_shrank(layout.size());
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as `dealloc`, and the caller's contract for `realloc` is the system's.
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            if new_size >= layout.size() {
                heap_grew(new_size - layout.size());
            } else {
                heap_shrank(layout.size() - new_size);
            }
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const HEAP_PROBE: HeapProbe = HeapProbe {
    current: || HEAP_CURRENT.load(Ordering::Relaxed),
    reset_peak: || HEAP_PEAK.store(HEAP_CURRENT.load(Ordering::Relaxed), Ordering::Relaxed),
    peak: || HEAP_PEAK.load(Ordering::Relaxed),
};

/// The orders of the real cycle whose logs are amplified into the large journal.
const TEMPLATE_ORDERS: usize = 10;
/// Fsynced appends timed on each journal (the median is reported).
const APPENDS_TIMED: usize = 20;
/// Canada Post's lowest shipment-group limit on the account (README), used in the
/// throughput scenario so that only tracking binds.
const SHIPPING_GROUP_LIMIT: u32 = 646;
/// The pause Canada Post asks for between two creates, bbship's default.
const CREATE_SPACING: Duration = Duration::from_millis(250);
/// A throughput figure needs this long a stretch of sustained calls for the burst at its
/// start to weigh little.
const THROUGHPUT_MIN_SPAN: Duration = Duration::from_secs(120);

const TARGET_CALLS_PER_ORDER: f64 = 6.1;
const TARGET_CEILING_FRACTION: f64 = 0.9;
const TARGET_SPEED_UP: f64 = 5.0;
const TARGET_IDLE_CALLS: usize = 2;
const TARGET_LOAD_TIME: Duration = Duration::from_millis(300);
const TARGET_LOAD_BYTES: usize = 100 * 1_000_000;
/// An append at scale may cost up to this many times the small journal's (fsync times
/// vary by more than that from one call to the next on a shared disk).
const TARGET_APPEND_RATIO: f64 = 2.0;

/// bbship benchmark: full cycles on the fake APIs, and the journal at scale.
#[derive(Parser, Debug)]
#[command(name = "bench")]
struct Options {
    /// Orders in the volume scenario [default: 100; --quick: 10]
    #[arg(long)]
    orders: Option<usize>,
    /// The fake's latency per request in the volume and speed-up scenarios, ms [default: 50]
    #[arg(long)]
    latency_ms: Option<u64>,
    /// Orders worked on at once (limits.concurrency) [default: 8]
    #[arg(long)]
    concurrency: Option<usize>,
    /// Orders in the speed-up scenario, run at concurrency 1 and at --concurrency
    /// [default: 50; --quick: 16]
    #[arg(long)]
    speedup_orders: Option<usize>,
    /// Canada Post tracking calls a minute in the throughput scenario; keep it under 240
    /// so the 250 ms create spacing does not bind first [default: 120]
    #[arg(long)]
    tracking_limit: Option<u32>,
    /// Orders in the throughput scenario [default: 2.2 minutes' worth of --tracking-limit;
    /// --quick: 20]
    #[arg(long)]
    throughput_orders: Option<usize>,
    /// Orders in the large journal [default: 100000; --quick: 10000]
    #[arg(long)]
    journal_orders: Option<usize>,
    /// Shrink everything for a smoke run of about 20 seconds (figures then mean little)
    #[arg(long)]
    quick: bool,
    /// Run only the journal scenario (point 7), about half a minute at 100,000 orders
    #[arg(long)]
    journal_only: bool,
    /// Internal: open the journal of this data directory in this (fresh) process and print
    /// what it cost as one JSON line
    #[arg(long, hide = true)]
    measure_journal: Option<PathBuf>,
    /// Internal, with --measure-journal: open it for writing, under the run lock
    #[arg(long, hide = true)]
    writing: bool,
    /// Internal, with --measure-journal: check that it knows this many orders
    #[arg(long, hide = true)]
    check_orders: Option<usize>,
    /// Internal, with --measure-journal --writing --check-orders: then time appends to it
    /// and to this (small) journal, taking turns
    #[arg(long, hide = true)]
    append_beside: Option<PathBuf>,
}

/// The options with their defaults filled in.
#[derive(Clone, Copy, Debug)]
struct Settings {
    orders: usize,
    latency: Duration,
    concurrency: usize,
    speedup_orders: usize,
    tracking_limit: u32,
    throughput_orders: usize,
    journal_orders: usize,
}

impl Settings {
    fn from(options: &Options) -> Result<Settings> {
        let quick = options.quick;
        let tracking_limit = options.tracking_limit.unwrap_or(120);
        let settings = Settings {
            orders: options.orders.unwrap_or(if quick { 10 } else { 100 }),
            latency: Duration::from_millis(options.latency_ms.unwrap_or(50)),
            concurrency: options.concurrency.unwrap_or(8),
            speedup_orders: options
                .speedup_orders
                .unwrap_or(if quick { 16 } else { 50 }),
            tracking_limit,
            throughput_orders: options.throughput_orders.unwrap_or(if quick {
                20
            } else {
                (f64::from(tracking_limit) * 2.2).ceil() as usize
            }),
            journal_orders: options
                .journal_orders
                .unwrap_or(if quick { 10_000 } else { 100_000 }),
        };
        ensure!(
            settings.orders > 0 && settings.speedup_orders > 0 && settings.throughput_orders > 0,
            "every scenario needs at least one order"
        );
        ensure!(settings.concurrency > 0, "--concurrency must be at least 1");
        ensure!(
            settings.tracking_limit > 0,
            "--tracking-limit must be at least 1"
        );
        ensure!(
            settings.journal_orders >= TEMPLATE_ORDERS,
            "--journal-orders must be at least {TEMPLATE_ORDERS}"
        );
        Ok(settings)
    }
}

fn main() -> ExitCode {
    let options = Options::parse();
    // bbship's own warnings (throttle pauses, the time budget) show on standard error.
    bbship::init_logging(log::LevelFilter::Warn);
    let result = match &options.measure_journal {
        Some(data_dir) => measure_journal_here(data_dir, &options),
        None => run(&options),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// One target, met or missed, for the summary.
struct Target {
    what: String,
    met: bool,
}

fn mark(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn run(options: &Options) -> Result<()> {
    let settings = Settings::from(options)?;
    let started = Instant::now();
    let root = bench_root();
    std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
    let mut targets = Vec::new();

    println!("bbship benchmark");
    println!(
        "  {} UTC, {} CPU(s) available, {} build{}",
        chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        std::thread::available_parallelism().map_or(1, |count| count.get()),
        if cfg!(debug_assertions) {
            "DEBUG"
        } else {
            "release"
        },
        if options.quick {
            ", --quick (figures are for a smoke run only)"
        } else {
            ""
        }
    );
    println!(
        "  Fake APIs on 127.0.0.1; orders are paid at once, so one run-all takes every order from\n  \
         waiting for acceptance to shipped (checked: each ends SHIPPED with exactly one shipment).\n  \
         Labels are ready at the first download; a fresh PIN answers \"004 No Pin History\" once\n  \
         (which validates it). bbship's Canada Post limits are also the fake's throttle."
    );
    println!(
        "  Scratch data under {} (removed afterwards).",
        root.display()
    );
    println!();
    if options.journal_only {
        print!("{}", journal_figures(&root, &settings, &mut targets)?);
        println!();
        print_summary(&targets, started);
        return Ok(());
    }

    // 1, 2, 3, 6: the volume scenario.
    let volume_scenario = Scenario {
        orders: settings.orders,
        latency: settings.latency,
        concurrency: settings.concurrency,
        limits: RateLimits::unlimited(),
        non_contract: false,
    };
    let volume = run_scenario(&root, "volume", &volume_scenario)?;
    println!(
        "1. Volume: {} orders, {} fake latency per request, concurrency {}, no effective rate\n   \
         limit, creates not spaced (create spacing 0 ms: it changes no call count)",
        settings.orders,
        show_duration(settings.latency),
        settings.concurrency
    );
    println!(
        "   wall time of the run-all: {}",
        show_duration(volume.wall_time)
    );
    println!();
    let shipped = volume.orders;
    let calls_per_order = volume.requests.len() as f64 / shipped as f64;
    let met = calls_per_order <= TARGET_CALLS_PER_ORDER;
    println!(
        "2. API calls per shipped order: {calls_per_order:.2} ({} calls, {shipped} orders shipped)   \
         target <= {TARGET_CALLS_PER_ORDER} at 100 orders: {}",
        volume.requests.len(),
        mark(met)
    );
    targets.push(Target {
        what: format!(
            "API calls per shipped order {calls_per_order:.2} (<= {TARGET_CALLS_PER_ORDER})"
        ),
        met,
    });
    print!("{}", endpoint_table(&volume, shipped));
    println!();

    // 2b: the same volume for a non-contract seller: one receipt read per label more.
    let non_contract = run_scenario(
        &root,
        "volume-non-contract",
        &Scenario {
            non_contract: true,
            ..volume_scenario
        },
    )?;
    let nc_calls_per_order = non_contract.requests.len() as f64 / non_contract.orders as f64;
    let nc_met = nc_calls_per_order <= TARGET_CALLS_PER_ORDER + 1.0;
    println!(
        "2b. Non-contract account, API calls per shipped order: {nc_calls_per_order:.2} ({} calls, {} \
         orders shipped; the receipt, where its price is, is one call more)   target <= {:.1}: {}",
        non_contract.requests.len(),
        non_contract.orders,
        TARGET_CALLS_PER_ORDER + 1.0,
        mark(nc_met)
    );
    targets.push(Target {
        what: format!(
            "non-contract API calls per shipped order {nc_calls_per_order:.2} (<= {:.1})",
            TARGET_CALLS_PER_ORDER + 1.0
        ),
        met: nc_met,
    });
    print!("{}", endpoint_table(&non_contract, non_contract.orders));
    println!();

    // 5: the speed-up.
    let speedup_scenario = |concurrency| Scenario {
        orders: settings.speedup_orders,
        latency: settings.latency,
        concurrency,
        limits: RateLimits::unlimited(),
        non_contract: false,
    };
    let sequential = run_scenario(&root, "speed-up-1", &speedup_scenario(1))?;
    let concurrent = run_scenario(&root, "speed-up-n", &speedup_scenario(settings.concurrency))?;

    // 4: the throughput against a rate limit.
    let throughput_scenario = Scenario {
        orders: settings.throughput_orders,
        latency: settings.latency,
        concurrency: settings.concurrency,
        limits: RateLimits {
            bestbuy_per_minute: scenario::UNLIMITED_PER_MINUTE,
            canada_post_per_minute: SHIPPING_GROUP_LIMIT,
            tracking_per_minute: settings.tracking_limit,
            create_spacing: CREATE_SPACING,
        },
        non_contract: false,
    };
    let throughput = run_scenario(&root, "throughput", &throughput_scenario)?;

    println!("3. Throttle rejections (Canada Post \"Rejected by SLM Monitor\" / Best Buy 429):");
    for (name, run) in [
        ("volume", &volume),
        ("speed-up, concurrency 1", &sequential),
        ("speed-up, concurrency N", &concurrent),
        ("throughput", &throughput),
    ] {
        println!(
            "   {name:<26} {} / {}",
            run.canada_post_throttled, run.bestbuy_throttled
        );
    }
    println!();

    print!(
        "{}",
        throughput_figures(&settings, &throughput_scenario, &throughput, &mut targets)
    );
    println!();

    let speed_up = sequential.wall_time.as_secs_f64() / concurrent.wall_time.as_secs_f64();
    let met = speed_up >= TARGET_SPEED_UP;
    println!(
        "5. Speed-up: {} orders, {} fake latency per request, no effective rate limit, creates\n   \
         not spaced (the 250 ms create spacing alone would hold {} orders to {} whatever the\n   \
         concurrency)",
        settings.speedup_orders,
        show_duration(settings.latency),
        settings.speedup_orders,
        show_duration(CREATE_SPACING * settings.speedup_orders as u32)
    );
    println!(
        "   concurrency 1: {}   concurrency {}: {}   speed-up {speed_up:.1}x   target >= {TARGET_SPEED_UP}x at 50 ms: {}",
        show_duration(sequential.wall_time),
        settings.concurrency,
        show_duration(concurrent.wall_time),
        mark(met)
    );
    targets.push(Target {
        what: format!(
            "speed-up {speed_up:.1}x at concurrency {} (>= {TARGET_SPEED_UP}x)",
            settings.concurrency
        ),
        met,
    });
    println!();

    let met = volume.idle_calls <= TARGET_IDLE_CALLS;
    println!(
        "6. Idle cycle (a run-all with nothing to do, after the volume run): {} call(s)   \
         target <= {TARGET_IDLE_CALLS}: {}",
        volume.idle_calls,
        mark(met)
    );
    targets.push(Target {
        what: format!(
            "idle cycle {} call(s) (<= {TARGET_IDLE_CALLS})",
            volume.idle_calls
        ),
        met,
    });
    println!();

    print!("{}", journal_figures(&root, &settings, &mut targets)?);
    println!();
    print_summary(&targets, started);
    Ok(())
}

/// The last lines: how many targets were met, and each one missed.
fn print_summary(targets: &[Target], started: Instant) {
    let missed: Vec<&Target> = targets.iter().filter(|target| !target.met).collect();
    println!(
        "Targets: {} of {} met. Whole bench: {}.",
        targets.len() - missed.len(),
        targets.len(),
        show_duration(started.elapsed())
    );
    for target in &missed {
        println!("  MISSED: {}", target.what);
    }
}

/// Runs one scenario in its own scratch directory, removed afterwards.
fn run_scenario(root: &Path, name: &str, scenario: &Scenario) -> Result<ScenarioRun> {
    let work = tempfile::Builder::new()
        .prefix(&format!("{name}-"))
        .tempdir_in(root)
        .context("a scratch directory")?;
    eprintln!(
        "bench: running {name} ({} orders, concurrency {})…",
        scenario.orders, scenario.concurrency
    );
    scenario::run(scenario, work.path()).with_context(|| format!("the {name} scenario"))
}

/// The calls of a run per shipped order, by endpoint, in the order of a cycle.
fn endpoint_table(run: &ScenarioRun, shipped: usize) -> String {
    let counts = run.calls_by_endpoint();
    let mut rows: Vec<(usize, &str, usize)> = counts
        .iter()
        .map(|(endpoint, count)| {
            let (rank, name) = describe(*endpoint);
            (rank, name, *count)
        })
        .collect();
    rows.sort();
    let mut table = String::new();
    for (_, name, count) in rows {
        let _ = writeln!(
            table,
            "     {name:<44} {:>6.2}  ({count})",
            count as f64 / shipped as f64
        );
    }
    table
}

/// Where an endpoint comes in a cycle, and its name in the report. Exhaustive, so a new
/// endpoint of the fake must be named here.
fn describe(endpoint: Endpoint) -> (usize, &'static str) {
    match endpoint {
        Endpoint::ListOrders => (0, "Best Buy list/read orders (OR11)"),
        Endpoint::Accept => (1, "Best Buy accept (OR21)"),
        Endpoint::CreateShipment => (2, "Canada Post create shipment"),
        Endpoint::FindShipment => (3, "Canada Post find shipment by request id"),
        Endpoint::GetShipment => (4, "Canada Post get shipment"),
        Endpoint::ShipmentDetails => (4, "Canada Post shipment details"),
        Endpoint::TrackingSummary => (5, "Canada Post tracking summary"),
        Endpoint::Label => (6, "Canada Post label download"),
        Endpoint::Carriers => (7, "Best Buy carriers (SH21)"),
        Endpoint::Tracking => (8, "Best Buy upload tracking (OR23)"),
        Endpoint::Ship => (9, "Best Buy mark shipped (OR24)"),
        Endpoint::Refund => (10, "Canada Post refund"),
        Endpoint::Price => (6, "Canada Post non-contract receipt (price)"),
        Endpoint::Hook => (11, "alert hooks"),
        Endpoint::Other => (12, "other"),
    }
}

/// Point 4: how close the tracking calls came to their limit.
///
/// Canada Post's throttle allows at most N calls of a group in any rolling minute: that
/// is the ceiling, N a minute. bbship's token bucket for a limit of N holds a burst of b
/// (N/20, between 1 and 10) and refills at N − b a minute, so no rolling minute can see
/// more than b + (N − b) = N calls, and once the burst is spent it sustains N − b a
/// minute: 1 − b/N of the ceiling (0.95 at 120). Over a stretch of T minutes the best it
/// can show is therefore (b + (N − b)·T) / (N·T), near 0.95 once T is a few minutes; the
/// stretch must be long (2 minutes and more) for the burst not to flatter the figure.
///
/// Measured: the tracking calls as the fake handled them (what its throttle counts),
/// from the first to the last. The pace is (calls − 1) / (last − first), calls per
/// minute between the two, and the fraction is that ÷ N. The busiest rolling minute
/// (which must stay ≤ N) and the fake's rejections (which must be 0) are shown with it.
fn throughput_figures(
    settings: &Settings,
    scenario: &Scenario,
    run: &ScenarioRun,
    targets: &mut Vec<Target>,
) -> String {
    let limit = settings.tracking_limit;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "4. Throughput against a rate limit: Canada Post tracking (one call per order) is the bottleneck\n   \
         {} orders, concurrency {}, {} fake latency. Limits, in bbship's config and the fake's\n   \
         throttle alike: tracking {limit}/min, shipment calls {}/min; creates spaced {} ms (bbship's\n   \
         default); Best Buy unlimited.",
        scenario.orders,
        scenario.concurrency,
        show_duration(scenario.latency),
        scenario.limits.canada_post_per_minute,
        scenario.limits.create_spacing.as_millis(),
    );
    let _ = writeln!(
        text,
        "   wall time of the run-all: {}",
        show_duration(run.wall_time)
    );
    let Some(rate) = scenario::group_rate(&run.requests, |request: &RecordedRequest| {
        request.endpoint == Endpoint::TrackingSummary
    }) else {
        let _ = writeln!(text, "   no tracking call was made: no figure");
        targets.push(Target {
            what: "throughput: no tracking call was made".to_owned(),
            met: false,
        });
        return text;
    };
    let GroupRate {
        calls,
        span,
        per_minute,
        busiest_minute,
    } = rate;
    let ceiling = f64::from(limit);
    let fraction = per_minute / ceiling;
    let burst = (ceiling / 20.0).floor().clamp(1.0, 10.0);
    let minutes = span.as_secs_f64() / 60.0;
    let best = if minutes > 0.0 {
        (burst + (ceiling - burst) * minutes) / (ceiling * minutes)
    } else {
        0.0
    };
    let throttled = run.canada_post_throttled;
    let long_enough = span >= THROUGHPUT_MIN_SPAN;
    let met = fraction >= TARGET_CEILING_FRACTION && throttled == 0 && long_enough;
    let _ = writeln!(
        text,
        "   tracking calls: {calls} over {} (first to last), pace {per_minute:.1}/min\n   \
         achieved {fraction:.3} of the {limit}/min ceiling with {throttled} Canada Post rejection(s)   \
         target >= {TARGET_CEILING_FRACTION} with 0, over >= {}: {}\n   \
         busiest rolling minute: {busiest_minute} calls (limit {limit})",
        show_duration(span),
        show_duration(THROUGHPUT_MIN_SPAN),
        mark(met)
    );
    let _ = writeln!(
        text,
        "   How: the ceiling is N calls in any rolling minute. bbship's token bucket (burst {burst}, then\n   \
         {}/min) never exceeds it, and sustains 1 - burst/N = {:.3} of it once the burst is spent;\n   \
         over this stretch the most it could show is {best:.3}. Pace = (calls - 1) / (last - first),\n   \
         from the times the fake handled the calls (what its throttle counts).",
        ceiling - burst,
        1.0 - burst / ceiling
    );
    if !long_enough {
        let _ = writeln!(
            text,
            "   NOTE: the stretch is under {}, so the burst flatters the figure: not judged.",
            show_duration(THROUGHPUT_MIN_SPAN)
        );
    }
    targets.push(Target {
        what: format!(
            "throughput {fraction:.3} of the ceiling with {throttled} Canada Post rejection(s) (>= {TARGET_CEILING_FRACTION}, 0)"
        ),
        met,
    });
    text
}

/// Point 7: the journal at `settings.journal_orders` orders.
fn journal_figures(root: &Path, settings: &Settings, targets: &mut Vec<Target>) -> Result<String> {
    let orders = settings.journal_orders;
    let mut text = String::new();
    let template_work = tempfile::Builder::new()
        .prefix("journal-template-")
        .tempdir_in(root)?;
    eprintln!("bench: running the journal's template cycle ({TEMPLATE_ORDERS} orders)…");
    let template = scenario::run(
        &Scenario {
            orders: TEMPLATE_ORDERS,
            latency: Duration::ZERO,
            concurrency: 1,
            limits: RateLimits::unlimited(),
            non_contract: false,
        },
        template_work.path(),
    )
    .context("the journal's template cycle")?;
    let template_dir = scenario::data_dir_of(template_work.path());

    let large_work = tempfile::Builder::new()
        .prefix("journal-large-")
        .tempdir_in(root)?;
    let large_dir = large_work.path().join("data");
    eprintln!("bench: writing a journal of {orders} orders…");
    let amplified = journal_scale::amplify(&template_dir, &template.shipments, &large_dir, orders)?;
    let _ = writeln!(
        text,
        "7. Journal at {orders} orders: the logs of a real {TEMPLATE_ORDERS}-order cycle, amplified \
         (ids, shipment ids\n   and PINs rewritten per order), written in {} and flushed to disk in {}: {} in {} file(s)",
        show_duration(amplified.written),
        show_duration(amplified.flushed),
        show_bytes(amplified.total_bytes() as usize),
        amplified.files.len()
    );
    for (path, bytes) in &amplified.files {
        let _ = writeln!(
            text,
            "     {:<50} {}",
            path.display(),
            show_bytes(*bytes as usize)
        );
    }

    // Each open in a fresh process, as each cron run is one: its heap starts empty, so
    // the figures include the page faults of growing it, and the process's peak resident
    // set is the journal's (plus the few MB any process has).
    eprintln!("bench: opening the large journal…");
    let small_open = measure_journal_in_child(&template_dir, false, None, None)?.open;
    let read_only = measure_journal_in_child(&large_dir, false, Some(orders), None)?.open;
    let first_writing = measure_journal_in_child(&large_dir, true, None, None)?.open;
    let next_run = measure_journal_in_child(&large_dir, true, Some(orders), Some(&template_dir))?;
    let writing = next_run.open;
    let Some((small_append, large_append)) = next_run.appends else {
        anyhow::bail!("the journal child timed no appends");
    };

    let _ = writeln!(
        text,
        "   Journal::open, each in a fresh process         time   heap peak   heap kept    peak RSS"
    );
    for (name, cost) in [
        (format!("{TEMPLATE_ORDERS} orders, read-only"), small_open),
        (format!("{orders}, read-only (first open)"), read_only),
        (format!("{orders}, writing (first run)"), first_writing),
        (format!("{orders}, writing (next run)"), writing),
    ] {
        let _ = writeln!(text, "     {name:<40} {}", show_open(&cost));
    }
    let load_met = writing.took <= TARGET_LOAD_TIME;
    // Memory is judged on the whole process's peak resident set: everything the open made
    // the system hold, heap or not (the heap peak alone where /proc is not available).
    let (memory, memory_kind) = match writing.peak_resident {
        Some(resident) => (resident, "peak RSS"),
        None => (writing.peak_heap, "heap peak"),
    };
    let memory_met = memory <= TARGET_LOAD_BYTES;
    let _ = writeln!(
        text,
        "   judged on the writing run's open after a previous one (what every cron run does):\n   \
         {} target <= {}: {}; {memory_kind} {} target <= {}: {}",
        show_duration(writing.took),
        show_duration(TARGET_LOAD_TIME),
        mark(load_met),
        show_bytes(memory),
        show_bytes(TARGET_LOAD_BYTES),
        mark(memory_met)
    );
    let ratio = large_append.median.as_secs_f64() / small_append.median.as_secs_f64().max(1e-9);
    let append_met = ratio <= TARGET_APPEND_RATIO;
    let _ = writeln!(
        text,
        "   fsynced append (record_accepted), median of {APPENDS_TIMED} (slowest), the two journals taking turns:\n   {TEMPLATE_ORDERS} orders {} ({}), \
         {orders} orders {} ({}); ratio {ratio:.2}   target: the same (<= {TARGET_APPEND_RATIO}x): {}",
        show_duration(small_append.median),
        show_duration(small_append.slowest),
        show_duration(large_append.median),
        show_duration(large_append.slowest),
        mark(append_met)
    );
    targets.push(Target {
        what: format!(
            "journal open at {orders} orders {} (<= {})",
            show_duration(writing.took),
            show_duration(TARGET_LOAD_TIME)
        ),
        met: load_met,
    });
    targets.push(Target {
        what: format!(
            "journal open {memory_kind} at {orders} orders {} (<= {})",
            show_bytes(memory),
            show_bytes(TARGET_LOAD_BYTES)
        ),
        met: memory_met,
    });
    targets.push(Target {
        what: format!("journal append at {orders} orders {ratio:.2}x the 10-order cost (<= {TARGET_APPEND_RATIO}x)"),
        met: append_met,
    });
    Ok(text)
}

fn show_open(cost: &ChildOpen) -> String {
    let bytes = |value: Option<usize>| value.map_or_else(|| "n/a".to_owned(), show_bytes);
    format!(
        "{:>9} {:>11} {:>11} {:>11}",
        show_duration(cost.took),
        show_bytes(cost.peak_heap),
        show_bytes(cost.retained_heap),
        bytes(cost.peak_resident),
    )
}

/// What a journal child measured.
#[derive(Clone, Copy, Debug)]
struct ChildOpen {
    took: Duration,
    peak_heap: usize,
    retained_heap: usize,
    /// VmHWM of the child once the journal was open: its whole peak resident set.
    peak_resident: Option<usize>,
}

struct ChildReport {
    open: ChildOpen,
    /// The small journal's appends, then the measured one's.
    appends: Option<(AppendCost, AppendCost)>,
}

/// The child's answer on its standard output, one JSON line.
#[derive(Debug, Serialize, Deserialize)]
struct ChildLine {
    open_nanos: u64,
    peak_heap: usize,
    retained_heap: usize,
    peak_resident: Option<usize>,
    /// `[median, slowest]` in nanoseconds: the small journal's, then the measured one's.
    appends: Option<[[u64; 2]; 2]>,
}

/// Runs this bench again as a child that opens one journal and reports on it.
fn measure_journal_in_child(
    data_dir: &Path,
    writing: bool,
    check_orders: Option<usize>,
    append_beside: Option<&Path>,
) -> Result<ChildReport> {
    let mut command = std::process::Command::new(
        std::env::current_exe().context("finding the bench's own executable")?,
    );
    command.arg("--measure-journal").arg(data_dir);
    if writing {
        command.arg("--writing");
    }
    if let Some(orders) = check_orders {
        command.arg("--check-orders").arg(orders.to_string());
    }
    if let Some(small) = append_beside {
        command.arg("--append-beside").arg(small);
    }
    let output = command
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running the journal child")?;
    ensure!(
        output.status.success(),
        "the journal child for {} failed ({})",
        data_dir.display(),
        output.status
    );
    let line: ChildLine =
        serde_json::from_slice(&output.stdout).context("reading the journal child's report")?;
    let duration = |nanos: u64| Duration::from_nanos(nanos);
    let cost = |[median, slowest]: [u64; 2]| AppendCost {
        median: duration(median),
        slowest: duration(slowest),
    };
    Ok(ChildReport {
        open: ChildOpen {
            took: duration(line.open_nanos),
            peak_heap: line.peak_heap,
            retained_heap: line.retained_heap,
            peak_resident: line.peak_resident,
        },
        appends: line
            .appends
            .map(|[small, large]| (cost(small), cost(large))),
    })
}

/// The child's side: opens the journal of `data_dir` (for writing with `--writing`),
/// measures it with the counting allocator, optionally checks it and times appends beside
/// a small journal, and prints one `ChildLine`.
fn measure_journal_here(data_dir: &Path, options: &Options) -> Result<()> {
    let nanos = |duration: Duration| u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
    // The small journal is opened first, so the measured open is the heap's last growth.
    let small = match (&options.append_beside, options.writing) {
        (Some(small_dir), true) => Some(journal_scale::open_timed(
            &DataDir::new(small_dir),
            Access::ReadWrite,
            None,
        )?),
        (Some(_), false) => anyhow::bail!("--append-beside needs --writing"),
        (None, _) => None,
    };
    let access = if options.writing {
        Access::ReadWrite
    } else {
        Access::ReadOnly
    };
    let data_dir = DataDir::new(data_dir);
    let (journal, _lock, cost) = journal_scale::open_timed(&data_dir, access, Some(HEAP_PROBE))?;
    let peak_resident = vm_hwm();
    if let Some(orders) = options.check_orders {
        journal_scale::check_complete(&journal, orders)?;
    }
    let appends = match &small {
        Some((small_journal, _, _)) => {
            let Some(known) = options.check_orders else {
                anyhow::bail!("--append-beside needs --check-orders");
            };
            // New orders after the ones each journal knows.
            let costs = journal_scale::appends_timed(
                &[(small_journal, TEMPLATE_ORDERS), (&journal, known)],
                APPENDS_TIMED,
            )?;
            match costs.as_slice() {
                [small, large] => Some([
                    [nanos(small.median), nanos(small.slowest)],
                    [nanos(large.median), nanos(large.slowest)],
                ]),
                _ => anyhow::bail!("expected the append costs of two journals"),
            }
        }
        None => None,
    };
    // A writing run ends by saving the journal's checkpoint when it is due (as
    // `bbship::run` does), so the next run's open starts from it.
    if options.writing {
        journal.write_checkpoint_if_due()?;
    }
    let line = ChildLine {
        open_nanos: nanos(cost.took),
        peak_heap: cost.peak_heap.unwrap_or_default(),
        retained_heap: cost.retained_heap.unwrap_or_default(),
        peak_resident,
        appends,
    };
    println!("{}", serde_json::to_string(&line)?);
    Ok(())
}

/// The process's peak resident set (VmHWM in `/proc/self/status`), in bytes.
fn vm_hwm() -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kilobytes: usize = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kilobytes * 1024)
}

fn show_duration(duration: Duration) -> String {
    if duration < Duration::from_millis(10) {
        format!("{:.2} ms", duration.as_secs_f64() * 1000.0)
    } else if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else if duration < Duration::from_secs(60) {
        format!("{:.2} s", duration.as_secs_f64())
    } else {
        let seconds = duration.as_secs_f64();
        format!("{} min {:.1} s", (seconds / 60.0).floor(), seconds % 60.0)
    }
}

fn show_bytes(bytes: usize) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

/// `target/bench/` (or under `CARGO_TARGET_DIR`): scratch space inside the build tree.
fn bench_root() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("bench")
}
