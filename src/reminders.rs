//! Reminders of the orders that need a person. `status` marks such an order; a writing
//! run reports it on standard error (and in the alert webhook's summary) the first time,
//! then again whenever `alerts.remind_every_hours` has passed since it last did, until
//! the order no longer needs a person. This module owns `logs/reminders.json`: when each
//! such order was first and last reported. An order that is sorted leaves the file, so a
//! new problem with it later is reported at once.
//!
//! Without it, a paid label for a cancelled order, or a shipment held for a person, is
//! reported by the one run that found it, and every later run is silent.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::overview::{self, OrderView};

/// What `logs/reminders.json` holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Reminders {
    pub orders: BTreeMap<String, Reported>,
}

/// When an order that needs a person was reported.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reported {
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

/// An order whose reminder came due in this run.
#[derive(Clone, Debug, PartialEq)]
pub struct Due<'a> {
    pub view: &'a OrderView,
    /// When it was first reported, if before this run.
    pub first_reported: Option<DateTime<Utc>>,
    /// This run's own `error:` line about the order already told a person: no second
    /// line, but the reminder counts as given.
    pub already_reported: bool,
}

impl Due<'_> {
    /// The line printed on standard error.
    pub fn line(&self, now: DateTime<Utc>) -> String {
        let reason = self.view.stuck.as_deref().unwrap_or_default();
        match self.first_reported {
            Some(first) => format!(
                "order {} still needs a person (first reported {} ago): {reason}",
                self.view.order_id,
                overview::describe(now - first)
            ),
            None => format!("order {} needs a person: {reason}", self.view.order_id),
        }
    }
}

/// Which stuck orders of `orders` are due a reminder at `now`, and the state to keep.
/// An order is due when it was never reported, or last reported `every` or longer ago;
/// orders that no longer need a person are dropped.
pub fn plan<'a>(
    previous: &Reminders,
    orders: &'a [OrderView],
    reported_this_run: &BTreeSet<String>,
    now: DateTime<Utc>,
    every: Duration,
) -> (Vec<Due<'a>>, Reminders) {
    let mut next = Reminders::default();
    let mut due = Vec::new();
    for view in orders.iter().filter(|view| view.stuck.is_some()) {
        let earlier = previous.orders.get(&view.order_id);
        let reported = match earlier {
            Some(earlier) if now - earlier.last_at < every => *earlier,
            _ => {
                due.push(Due {
                    view,
                    first_reported: earlier.map(|earlier| earlier.first_at),
                    already_reported: reported_this_run.contains(&view.order_id),
                });
                Reported {
                    first_at: earlier.map_or(now, |earlier| earlier.first_at),
                    last_at: now,
                }
            }
        };
        next.orders.insert(view.order_id.clone(), reported);
    }
    (due, next)
}

/// Reads the state; a missing file is an empty one. A file that cannot be read is
/// reported and treated as empty: every stuck order is then reported again, which is
/// the safe side.
pub fn load(path: &Path) -> Reminders {
    let text = match std::fs::read(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Reminders::default(),
        Err(error) => {
            log::warn!(
                "cannot read {} ({error}); reminding every stuck order",
                path.display()
            );
            return Reminders::default();
        }
    };
    serde_json::from_slice(&text).unwrap_or_else(|error| {
        log::warn!(
            "{} is not readable ({error}); reminding every stuck order",
            path.display()
        );
        Reminders::default()
    })
}

/// Replaces the state atomically; an unchanged state is not rewritten.
pub fn save(path: &Path, previous: &Reminders, next: &Reminders) -> Result<()> {
    if previous == next {
        return Ok(());
    }
    let body = serde_json::to_vec_pretty(next).context("encoding the reminders")?;
    crate::data_dir::write_atomic(path, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::overview::Step;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn view(id: &str, stuck: Option<&str>) -> OrderView {
        OrderView {
            order_id: id.to_owned(),
            step: Step::CancelledAfterLabel,
            pin: None,
            label_file: None,
            last_error: None,
            since: None,
            stuck: stuck.map(str::to_owned),
            print: None,
            postage: None,
        }
    }

    fn ids<'a>(due: &'a [Due<'a>]) -> Vec<&'a str> {
        due.iter().map(|due| due.view.order_id.as_str()).collect()
    }

    #[test]
    fn an_order_is_reminded_first_then_after_each_window_and_dropped_once_sorted() {
        let every = Duration::hours(24);
        let none = BTreeSet::new();
        let stuck = [view("1-A", Some("refund it")), view("2-A", None)];

        let (due, state) = plan(
            &Reminders::default(),
            &stuck,
            &none,
            at("2026-01-01T00:00:00Z"),
            every,
        );
        assert_eq!(ids(&due), ["1-A"]);
        assert_eq!(
            due[0].line(at("2026-01-01T00:00:00Z")),
            "order 1-A needs a person: refund it"
        );
        assert_eq!(state.orders.len(), 1);

        let (due, later) = plan(&state, &stuck, &none, at("2026-01-01T23:59:00Z"), every);
        assert!(due.is_empty());
        assert_eq!(later, state);

        let now = at("2026-01-02T00:00:00Z");
        let (due, after) = plan(&state, &stuck, &none, now, every);
        assert_eq!(ids(&due), ["1-A"]);
        assert_eq!(
            due[0].line(now),
            "order 1-A still needs a person (first reported 1 d 0 h ago): refund it"
        );
        assert_eq!(after.orders["1-A"].first_at, at("2026-01-01T00:00:00Z"));
        assert_eq!(after.orders["1-A"].last_at, now);

        let sorted = [view("1-A", None)];
        let (due, dropped) = plan(&after, &sorted, &none, now, every);
        assert!(due.is_empty());
        assert!(dropped.orders.is_empty());
        // A new problem later is reported at once, as a first report.
        let (due, _) = plan(&dropped, &stuck, &none, now + Duration::minutes(1), every);
        assert_eq!(ids(&due), ["1-A"]);
        assert_eq!(due[0].first_reported, None);
    }

    #[test]
    fn an_order_this_run_already_reported_counts_as_reminded() {
        let reported = BTreeSet::from(["1-A".to_owned()]);
        let stuck = [view("1-A", Some("refund it"))];
        let now = at("2026-01-01T00:00:00Z");
        let (due, state) = plan(
            &Reminders::default(),
            &stuck,
            &reported,
            now,
            Duration::hours(1),
        );
        assert!(due[0].already_reported);
        assert_eq!(state.orders["1-A"].last_at, now);
    }

    #[test]
    fn the_state_survives_a_round_trip_and_a_broken_file_is_an_empty_one() {
        let temp = tempfile::tempdir().unwrap();
        let path = temp.path().join("reminders.json");
        assert_eq!(load(&path), Reminders::default());
        let stuck = [view("1-A", Some("x"))];
        let (_, state) = plan(
            &Reminders::default(),
            &stuck,
            &BTreeSet::new(),
            at("2026-01-01T00:00:00Z"),
            Duration::hours(1),
        );
        save(&path, &Reminders::default(), &state).unwrap();
        assert_eq!(load(&path), state);
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(load(&path), Reminders::default());
    }
}
