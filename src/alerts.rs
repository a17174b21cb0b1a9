//! Alerts beyond cron's e-mail: a JSON summary POSTed to `alerts.webhook_url` after a run
//! with failures or with orders that need a person whose reminder came due, and a ping of `alerts.healthcheck_url` after every run
//! that completed, so an outside dead-man's switch notices when cron stops running
//! bbship. Both are best effort: short timeouts, one try, and a failure is a warning,
//! never a failed run.

use std::time::Duration;

use serde::Serialize;

use crate::config::AlertsConfig;
use crate::overview::OrderView;
use crate::runs::RunRecord;
use crate::secret::redact_json;

/// What the webhook receives.
#[derive(Serialize)]
struct Summary<'a> {
    tool: &'static str,
    version: &'static str,
    run: &'a RunRecord,
    /// Every order that needs a person now.
    stuck: Vec<&'a OrderView>,
    /// The orders among them whose reminder came due in this run.
    reminded: &'a [&'a str],
}

/// Sends what `config` asks for after a run: the webhook when the run had failures or a
/// reminder came due (`reminded`), the healthcheck when it `completed` (false when the
/// run ended early on an error: the switch should notice).
pub fn after_run(
    config: &AlertsConfig,
    record: &RunRecord,
    orders: &[OrderView],
    reminded: &[&str],
    completed: bool,
) {
    let wanted = config.webhook_url.is_some() || config.healthcheck_url.is_some();
    if !wanted {
        return;
    }
    let agent = agent(Duration::from_secs(config.timeout_secs.get()));
    let stuck: Vec<&OrderView> = orders.iter().filter(|view| view.stuck.is_some()).collect();
    if let Some(url) = &config.webhook_url
        && (record.failures() > 0 || !reminded.is_empty())
    {
        let summary = Summary {
            tool: "bbship",
            version: env!("CARGO_PKG_VERSION"),
            run: record,
            stuck,
            reminded,
        };
        match serde_json::to_string(&summary) {
            Ok(body) => {
                let result = agent
                    .post(url.as_str())
                    .header("Content-Type", "application/json")
                    .send(redact_json(&body));
                report("the alert webhook", result);
            }
            Err(error) => log::warn!("cannot encode the alert: {error}"),
        }
    }
    if completed && let Some(url) = &config.healthcheck_url {
        report("the healthcheck", agent.get(url.as_str()).call());
    }
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .user_agent(crate::http::USER_AGENT)
        .build()
        .into()
}

fn report(what: &str, result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) {
    match result {
        Ok(response) if response.status().is_success() => {
            log::debug!("{what} answered {}", response.status());
        }
        Ok(response) => log::warn!(
            "{what} answered {}; the run itself is not affected",
            response.status()
        ),
        Err(error) => {
            log::warn!("{what} could not be reached ({error}); the run itself is not affected")
        }
    }
}
