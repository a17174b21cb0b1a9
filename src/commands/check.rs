//! `bbship check`: is this installation able to run? One line per point, `✓` or `✗`:
//! the configuration loads (and which Canada Post customer number is used for what),
//! each secret is set, and each API accepts its credentials
//! through a read-only call (Best Buy: OR11 for one order; Canada Post: the request-id
//! lookup for an id no shipment has, which checks the key, the host and the account
//! numbers and buys nothing).
//!
//! Every point is checked even after another failed, so one run shows everything to fix;
//! an API needs the configuration and its own secrets, and says so when they are
//! missing. Exit 0 when every point holds and 1 otherwise (with an `error:` line on
//! standard error saying how many do not), a missing or invalid configuration included:
//! `check` reports, it never stops at the first problem. It takes
//! no lock and writes nothing, so it is safe beside a running cycle. Each probe is one
//! attempt with no retry, so an unreachable API is reported in seconds. No line ever
//! holds a secret: only the variables' names are printed, and every line is redacted too.

use std::io::Write;
use std::time::Instant;

use anyhow::Result;

use super::Paths;
use crate::bestbuy::{BestBuyClient, BestBuyError};
use crate::canadapost::{CanadaPostClient, CanadaPostError};
use crate::config::Config;
use crate::error::{EXIT_FAILURES, EXIT_OK};
use crate::http::HttpError;
use crate::secret::{
    BESTBUY_API_KEY, CANADAPOST_PASSWORD, CANADAPOST_USERNAME, Secret, Secrets, redact,
};

/// The lines printed so far, and how many points failed.
struct Report<'a> {
    out: &'a mut dyn Write,
    points: usize,
    failed: usize,
}

impl Report<'_> {
    fn line(&mut self, holds: bool, text: &str) -> Result<()> {
        self.points += 1;
        self.failed += usize::from(!holds);
        let mark = if holds { '✓' } else { '✗' };
        writeln!(self.out, "{mark} {}", redact(text))?;
        Ok(())
    }
}

/// Checks every point, prints one line per point to `out`, and returns the exit code.
pub fn run(paths: &Paths, secrets: &Secrets, out: &mut dyn Write) -> Result<u8> {
    let mut report = Report {
        out,
        points: 0,
        failed: 0,
    };

    let config = match Config::load(&paths.config_path) {
        Ok(config) => {
            report.line(
                true,
                &format!("configuration {}", paths.config_path.display()),
            )?;
            report.line(true, &account_numbers(&config))?;
            // One attempt per probe: a check that retries for a minute helps nobody.
            let mut config = config;
            config.limits.max_retries = 0;
            Some(config)
        }
        Err(error) => {
            report.line(false, &error.to_string())?;
            None
        }
    };

    let variables = [
        (BESTBUY_API_KEY, &secrets.bestbuy_api_key),
        (CANADAPOST_USERNAME, &secrets.canadapost_username),
        (CANADAPOST_PASSWORD, &secrets.canadapost_password),
    ];
    for (variable, value) in variables {
        match value {
            Some(_) => report.line(true, &format!("{variable} is set"))?,
            None => report.line(
                false,
                &format!("{variable} is not set (bbship reads secrets only from the environment)"),
            )?,
        }
    }

    match (&config, &secrets.bestbuy_api_key) {
        (Some(config), Some(api_key)) => {
            let (holds, text) = check_best_buy(config, api_key);
            report.line(holds, &text)?;
        }
        _ => report.line(
            false,
            &format!("Best Buy: not checked (it needs the configuration and {BESTBUY_API_KEY})"),
        )?,
    }

    match (
        &config,
        &secrets.canadapost_username,
        &secrets.canadapost_password,
    ) {
        (Some(config), Some(username), Some(password)) => {
            let (holds, text) = check_canada_post(config, username, password);
            report.line(holds, &text)?;
        }
        _ => report.line(
            false,
            &format!(
                "Canada Post: not checked (it needs the configuration, {CANADAPOST_USERNAME} and \
                 {CANADAPOST_PASSWORD})"
            ),
        )?,
    }

    if report.failed == 0 {
        return Ok(EXIT_OK);
    }
    // The report is on standard output; what makes the exit code 1 is said where every
    // other error is, so a wrapper that watches standard error sees it.
    log::error!(
        "check: {} of {} points do not hold (the lines marked ✗)",
        report.failed,
        report.points
    );
    Ok(EXIT_FAILURES)
}

/// Which customer number goes where in a Create Shipment, so a person can match them with
/// the Canada Post account (an AA003 or AA004 names the mailed-by or mobo, a billing
/// problem the payer). None of them is a secret.
fn account_numbers(config: &Config) -> String {
    let canada_post = &config.canada_post;
    let defaulted = |set: bool| {
        if set {
            ""
        } else {
            ", the default: customer_number"
        }
    };
    let Some(contract_id) = &canada_post.contract_id else {
        return format!(
            "account numbers: a non-contract account (Solutions for Small Business) mailing as \
             {} (mailed-by, in the URL), paid by the card on its Canada Post profile",
            canada_post.customer_number
        );
    };
    format!(
        "account numbers: mails as {} (mailed-by, in the URL), for {} (mobo, in the URL{}), \
         paid by {} (settlement-info/paid-by-customer{}) under contract {} \
         (settlement-info/contract-id)",
        canada_post.customer_number,
        canada_post.mobo(),
        defaulted(canada_post.mobo.is_some()),
        canada_post.paid_by_customer(),
        defaulted(canada_post.paid_by_customer.is_some()),
        contract_id.as_str(),
    )
}

fn deadline(config: &Config) -> Instant {
    Instant::now() + config.limits.cycle_budget()
}

fn check_best_buy(config: &Config, api_key: &Secret) -> (bool, String) {
    let base_url = config.bestbuy.base_url.as_str();
    let client = BestBuyClient::new(config, api_key.clone(), deadline(config));
    match client.probe() {
        Ok(visible) => (
            true,
            format!("Best Buy: the API key works ({base_url}; {visible} order(s) visible)"),
        ),
        // The message names BESTBUY_API_KEY and starts with "Best Buy".
        Err(BestBuyError::Unauthorized(inner)) => (false, inner.to_string()),
        Err(BestBuyError::Transport(error)) => (false, unreachable("Best Buy", base_url, &error)),
        Err(error) => (false, format!("Best Buy ({base_url}): {error}")),
    }
}

fn check_canada_post(config: &Config, username: &Secret, password: &Secret) -> (bool, String) {
    let canada_post = &config.canada_post;
    let base_url = canada_post.base_url.as_str();
    let client = CanadaPostClient::new(config, username, password, deadline(config));
    match client.probe() {
        Ok(()) => (
            true,
            format!(
                "Canada Post: the credentials work for customer {} (mobo {}) at {base_url}",
                canada_post.customer_number,
                canada_post.mobo()
            ),
        ),
        // The message names CANADAPOST_USERNAME and CANADAPOST_PASSWORD.
        Err(CanadaPostError::Unauthorized(inner)) => (false, inner.to_string()),
        Err(CanadaPostError::Transport(error)) => {
            (false, unreachable("Canada Post", base_url, &error))
        }
        Err(error) => (false, format!("Canada Post ({base_url}): {error}")),
    }
}

/// A probe that got no HTTP answer: the API could not be reached, or did not answer.
fn unreachable(api: &str, base_url: &str, error: &HttpError) -> String {
    match error {
        HttpError::NotSent { reason, .. } => {
            format!("{api}: cannot reach {base_url} ({reason}); check the network and the base_url")
        }
        other => format!("{api}: no answer from {base_url}: {other}"),
    }
}
