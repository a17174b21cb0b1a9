//! The sandbox: a full bbship cycle against the project's fake APIs, with no credentials
//! and no network. `cargo run --example sandbox`
//!
//! It starts the fake on 127.0.0.1 with a dozen varied orders, writes a configuration
//! into `target/sandbox/`, and runs `run-all` through the same library entry point the
//! binary uses, as cron would, until no order is left to act on: orders are accepted,
//! then (once paid) get a Canada Post shipment and a real 4x6 PDF label, and are marked
//! shipped on Best Buy with their tracking PIN.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use bbship::OrderOutcome;
use bbship::{CycleCommand, Invocation};
use bbship::{Secret, Secrets};
use bbship_fake::config::ConfigBuilder;
use bbship_fake::{FakeOptions, FakeServer, files_below, sandbox_orders};

const SANDBOX_KEY: &str = "sandbox-bestbuy-key";
const SANDBOX_CANADA_POST_USER: &str = "sandbox-canada-post-user";
const SANDBOX_CANADA_POST_PASSWORD: &str = "sandbox-canada-post-password";

fn main() -> ExitCode {
    bbship::init_logging(log::LevelFilter::Warn);
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("sandbox: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    // `--non-contract`: a Solutions for Small Business seller (no contract, paid by card).
    let non_contract = std::env::args().skip(1).any(|arg| arg == "--non-contract");
    let fake = FakeServer::start(FakeOptions {
        api_key: SANDBOX_KEY.to_owned(),
        payment_delay: Some(Duration::from_secs(2)),
        canada_post_username: SANDBOX_CANADA_POST_USER.to_owned(),
        canada_post_password: SANDBOX_CANADA_POST_PASSWORD.to_owned(),
        // Like the real service: the first label download is not ready yet, and a fresh
        // PIN has no tracking history.
        label_not_ready_downloads: 1,
        no_pin_history_calls: 1,
        ..FakeOptions::default()
    })
    .context("starting the fake APIs")?;
    let orders = sandbox_orders();
    let order_ids: Vec<String> = orders
        .iter()
        .map(|order| order.order_id().to_owned())
        .collect();
    fake.add_orders(orders);

    let root = sandbox_dir();
    if root.exists() {
        std::fs::remove_dir_all(&root).with_context(|| format!("clearing {}", root.display()))?;
    }
    std::fs::create_dir_all(&root)?;
    let config_path = root.join("bbship.json");
    write_config(&config_path, &fake, non_contract)?;
    let data_dir = root.join("data");

    println!("bbship sandbox");
    println!("  fake Best Buy API: {}", fake.bestbuy_url());
    println!("  fake Canada Post:  {}", fake.base_url());
    println!("  configuration:     {}", config_path.display());
    println!("  data directory:    {}", data_dir.display());
    println!("  {} orders waiting for acceptance\n", order_ids.len());

    let secrets = Secrets {
        bestbuy_api_key: Some(Secret::new(SANDBOX_KEY)),
        canadapost_username: Some(Secret::new(SANDBOX_CANADA_POST_USER)),
        canadapost_password: Some(Secret::new(SANDBOX_CANADA_POST_PASSWORD)),
    };
    let invocation = Invocation {
        command: CycleCommand::RunAll,
        config_path,
        data_dir: data_dir.clone(),
        dry_run: false,
        only_orders: Vec::new(),
        progress: false,
    };

    // Cron runs the cycle every 15 minutes; the sandbox runs it until nothing is left,
    // pausing for the fake's payment delay (orders become ready to ship after it).
    for run_number in 1..=4 {
        if run_number > 1 {
            std::thread::sleep(Duration::from_millis(2100));
        }
        println!("Run {run_number} (what cron starts every 15 minutes): bbship run-all");
        fake.reset_log();
        let outcome = bbship::run(&invocation, &secrets)?;
        let mut acted = false;
        for report in &outcome.phases {
            println!("  {report}");
            for (order, result) in &report.outcomes {
                let shown = match result {
                    OrderOutcome::Done => "done".to_owned(),
                    OrderOutcome::WouldDo => "would be done (dry run)".to_owned(),
                    OrderOutcome::Skipped(reason) => format!("skipped: {reason}"),
                    OrderOutcome::Failed(reason) => format!("FAILED: {reason}"),
                    OrderOutcome::Deferred => "left for the next run".to_owned(),
                };
                if matches!(result, OrderOutcome::Done | OrderOutcome::Failed(_)) {
                    acted = true;
                }
                if !matches!(result, OrderOutcome::Skipped(_)) {
                    println!("    {order:<14} {shown}");
                }
            }
        }
        println!(
            "  exit code {}, {} API calls\n",
            outcome.exit_code(),
            fake.requests().len()
        );
        if !acted && run_number > 1 {
            break;
        }
    }

    println!("Best Buy now has:");
    for id in &order_ids {
        let shipments = fake.shipments_for(id);
        let shipment = shipments
            .first()
            .map(|shipment| {
                format!(
                    "shipment {}  PIN {}",
                    shipment.shipment_id, shipment.tracking_pin
                )
            })
            .unwrap_or_default();
        println!(
            "    {id:<14} {:<15} {shipment}",
            fake.order_state(id).unwrap_or_else(|| "?".to_owned())
        );
    }
    println!("\nFiles written:");
    for file in files_below(&data_dir) {
        println!("    {}", file.display());
    }
    let page = if non_contract {
        "a letter page holding the 4x6 label, as non-contract labels come"
    } else {
        "a real one-page 4x6 PDF"
    };
    println!(
        "\nOpen a label ({page}; the fake's, not postage):\n    xdg-open {}\n\
         Open its packing slip (what goes in the box, with the PIN as a barcode):\n    xdg-open {}\n\
         Read the shipping history and the shipped orders with:\n    cat {}\n    cat {}",
        data_dir.join("labels").display(),
        data_dir.join("labels/slips").display(),
        data_dir
            .join("logs/canada_post/cp_shipping_history_log.jsonl")
            .display(),
        data_dir
            .join("logs/best_buy/shipped_orders_log.jsonl")
            .display()
    );
    Ok(())
}

fn sandbox_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("sandbox")
}

fn write_config(path: &Path, fake: &FakeServer, non_contract: bool) -> Result<()> {
    let mut config = ConfigBuilder::new(fake).non_contract(non_contract).build();
    config["bestbuy"]["accept_recheck_delay_secs"] = 1.into();
    config["limits"] = serde_json::json!({
        "bestbuy_requests_per_minute": 600,
        "canada_post_requests_per_minute": 600,
        "canada_post_tracking_per_minute": 600,
        "label_retry_initial_ms": 200
    });
    bbship_fake::config::write(&config, path).with_context(|| format!("writing {}", path.display()))
}
