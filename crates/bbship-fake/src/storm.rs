//! Seeded fault storms: a share of requests, drawn from a seeded generator, meets one of
//! the faults a real day can bring (throttles, 5xx, HTML error pages, slow replies,
//! connections dropped before or after the server acted, answers garbled or cut short
//! after it acted). The same seed gives the same
//! sequence of draws, so a failing storm can be replayed.

use std::time::Duration;

use super::Fault;

/// How hard the storm blows.
#[derive(Clone, Copy, Debug)]
pub struct Storm {
    pub seed: u64,
    /// Out of every thousand requests, how many meet a fault (on average).
    pub faults_per_thousand: u32,
    /// The longest a slow reply waits before acting.
    pub slowest: Duration,
}

pub(crate) struct StormState {
    storm: Storm,
    random: SplitMix64,
}

impl StormState {
    pub(crate) fn new(storm: Storm) -> StormState {
        StormState {
            storm,
            random: SplitMix64(storm.seed),
        }
    }

    /// The fault for the next request, if it meets one.
    pub(crate) fn next_fault(&mut self) -> Option<Fault> {
        if self.random.below(1000) >= u64::from(self.storm.faults_per_thousand) {
            return None;
        }
        let slowest_ms = u64::try_from(self.storm.slowest.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let fault = match self.random.below(12) {
            0 | 1 => Fault::Throttled,
            2 => Fault::Status {
                status: 500,
                retry_after: None,
                body: "internal error".to_owned(),
                content_type: "text/plain".to_owned(),
            },
            3 => Fault::Html { status: 502 },
            4 => Fault::Status {
                status: 503,
                retry_after: Some("1".to_owned()),
                body: "service unavailable".to_owned(),
                content_type: "text/plain".to_owned(),
            },
            5 | 6 => Fault::Slow(Duration::from_millis(1 + self.random.below(slowest_ms))),
            7 => Fault::DropBeforeActing,
            8 | 9 => Fault::DropAfterActing,
            10 => Fault::AnswerAfterActing {
                status: 200,
                body: "<html><body>Gateway hiccup</body></html>".to_owned(),
                content_type: "text/html".to_owned(),
            },
            _ => Fault::CutShortAfterActing {
                keep: usize::try_from(self.random.below(64)).unwrap_or(0),
            },
        };
        Some(fault)
    }
}

/// SplitMix64: tiny, fast and good enough to scatter faults; not for anything secret.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound` > 0); the modulo bias is irrelevant here.
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draws(seed: u64) -> Vec<String> {
        let mut state = StormState::new(Storm {
            seed,
            faults_per_thousand: 300,
            slowest: Duration::from_millis(100),
        });
        (0..200)
            .map(|_| format!("{:?}", state.next_fault()))
            .collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_storm_and_another_seed_another() {
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
    }

    #[test]
    fn the_share_of_faults_follows_the_setting_and_every_kind_occurs() {
        let mut state = StormState::new(Storm {
            seed: 1,
            faults_per_thousand: 250,
            slowest: Duration::from_millis(100),
        });
        let faults: Vec<Fault> = (0..10_000).filter_map(|_| state.next_fault()).collect();
        assert!((2_200..2_800).contains(&faults.len()), "{}", faults.len());
        let kinds: std::collections::BTreeSet<&str> = faults
            .iter()
            .map(|fault| match fault {
                Fault::Throttled => "throttled",
                Fault::Status { .. } => "status",
                Fault::Html { .. } => "html",
                Fault::Slow(delay) => {
                    assert!(*delay <= Duration::from_millis(100));
                    "slow"
                }
                Fault::DropBeforeActing => "drop before",
                Fault::DropAfterActing => "drop after",
                Fault::AnswerAfterActing { .. } => "garbage after",
                Fault::CutShortAfterActing { .. } => "cut short after",
            })
            .collect();
        assert_eq!(kinds.len(), 8, "{kinds:?}");
    }
}
