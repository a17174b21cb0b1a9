//! Client-side rate limits, so that bbship stays under each API's limit instead of
//! discovering it: a token bucket per API (or per Canada Post throttle group), and a
//! minimum spacing for the calls an API asks to be spaced.
//!
//! Canada Post counts calls over a rolling 60-second window. A token bucket of `burst`
//! tokens refilled at `rate` per second lets through at most `burst + 60 × rate` calls in
//! any 60 seconds, so the bucket for a limit of N a minute is sized `burst + 60 × rate =
//! N`: a small burst lets several orders start together, and the steady pace stays just
//! under the limit. Both types hand out waits rather than sleeping themselves, so their
//! arithmetic is tested without a clock.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A token bucket shared by every thread of one client. Callers reserve a token and wait
/// the time they are given; tokens may go into debt, which queues callers fairly.
#[derive(Debug)]
pub struct TokenBucket {
    burst: f64,
    per_second: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A bucket that lets through at most `per_minute` calls in any 60 seconds (for
    /// `per_minute` ≥ 2; a limit of 1 allows 2 in the very first minute). The burst is a
    /// twentieth of the limit, between 1 and 10.
    pub fn per_minute(per_minute: u32, now: Instant) -> TokenBucket {
        let limit = f64::from(per_minute.max(1));
        let burst = (limit / 20.0).floor().clamp(1.0, 10.0);
        let per_second = (limit - burst).max(1.0) / 60.0;
        TokenBucket {
            burst,
            per_second,
            state: Mutex::new(BucketState {
                tokens: burst,
                updated: now,
            }),
        }
    }

    /// Takes one token at `now` and returns how long to wait before using it.
    pub fn reserve(&self, now: Instant) -> Duration {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let elapsed = now.saturating_duration_since(state.updated).as_secs_f64();
        state.tokens = (state.tokens + elapsed * self.per_second).min(self.burst);
        state.updated = state.updated.max(now);
        state.tokens -= 1.0;
        if state.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-state.tokens / self.per_second)
        }
    }

    /// Reserves a token and sleeps until it may be used.
    pub fn wait(&self) {
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// At least `interval` between two calls, across all threads.
#[derive(Debug)]
pub struct Spacing {
    interval: Duration,
    next_slot: Mutex<Option<Instant>>,
}

impl Spacing {
    pub fn new(interval: Duration) -> Spacing {
        Spacing {
            interval,
            next_slot: Mutex::new(None),
        }
    }

    /// Takes the next slot at or after `now` and returns how long to wait for it.
    pub fn reserve(&self, now: Instant) -> Duration {
        let mut next = self
            .next_slot
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let slot = next.map_or(now, |next| next.max(now));
        *next = Some(slot + self.interval);
        slot - now
    }

    /// Reserves a slot and sleeps until it comes.
    pub fn wait(&self) {
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Plays `calls` callers arriving together at `start` and returns when each may go.
    fn departures(bucket: &TokenBucket, start: Instant, calls: usize) -> Vec<Instant> {
        (0..calls).map(|_| start + bucket.reserve(start)).collect()
    }

    /// The most departures inside any window of `window` length.
    fn busiest_window(times: &[Instant], window: Duration) -> usize {
        let mut sorted = times.to_vec();
        sorted.sort();
        let mut first = 0;
        let mut busiest = 0;
        for last in 0..sorted.len() {
            while sorted[last] >= sorted[first] + window {
                first += 1;
            }
            busiest = busiest.max(last - first + 1);
        }
        busiest
    }

    #[test]
    fn a_queue_of_callers_never_exceeds_the_limit_in_any_rolling_minute() {
        for limit in [2, 15, 20, 60, 120, 646, 6000] {
            let start = Instant::now();
            let bucket = TokenBucket::per_minute(limit, start);
            let times = departures(&bucket, start, 3 * limit as usize);
            let busiest = busiest_window(&times, Duration::from_secs(60));
            assert!(
                busiest <= limit as usize,
                "limit {limit}: {busiest} in a minute"
            );
            // …and uses at least 90% of it, once the limit is above a handful (the burst
            // of 1 is a whole minute's worth of a limit of 2).
            assert!(
                limit < 10 || busiest as f64 >= 0.9 * f64::from(limit),
                "limit {limit}: only {busiest} in the busiest minute"
            );
        }
    }

    #[test]
    fn the_burst_goes_at_once_then_the_pace_is_steady() {
        let start = Instant::now();
        let bucket = TokenBucket::per_minute(120, start); // burst 6, then 114 a minute
        let waits: Vec<Duration> = (0..8).map(|_| bucket.reserve(start)).collect();
        assert!(waits[..6].iter().all(|wait| wait.is_zero()), "{waits:?}");
        let step = Duration::from_secs_f64(60.0 / 114.0);
        assert!(
            waits[6].abs_diff(step) < Duration::from_millis(1),
            "{waits:?}"
        );
        assert!(
            waits[7].abs_diff(step * 2) < Duration::from_millis(1),
            "{waits:?}"
        );
        assert!((bucket.per_second * 60.0 - 114.0).abs() < 1e-9);
    }

    #[test]
    fn an_idle_bucket_refills_only_up_to_its_burst() {
        let start = Instant::now();
        let bucket = TokenBucket::per_minute(60, start); // burst 3
        let later = start + Duration::from_secs(3600);
        let waits: Vec<Duration> = (0..4).map(|_| bucket.reserve(later)).collect();
        assert!(waits[..3].iter().all(|wait| wait.is_zero()));
        assert!(!waits[3].is_zero());
    }

    #[test]
    fn a_clock_reading_from_before_the_last_one_changes_nothing() {
        let start = Instant::now();
        let bucket = TokenBucket::per_minute(60, start + Duration::from_secs(1));
        assert_eq!(bucket.reserve(start), Duration::ZERO);
    }

    #[test]
    fn spacing_keeps_calls_apart_from_the_first() {
        let start = Instant::now();
        let spacing = Spacing::new(Duration::from_millis(250));
        assert_eq!(spacing.reserve(start), Duration::ZERO);
        assert_eq!(spacing.reserve(start), Duration::from_millis(250));
        assert_eq!(spacing.reserve(start), Duration::from_millis(500));
        // Long after, the next call goes at once.
        let later = start + Duration::from_secs(10);
        assert_eq!(spacing.reserve(later), Duration::ZERO);
    }
}
