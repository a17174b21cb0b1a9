//! The circuit breakers on what one run may buy: a number of labels and, when
//! configured, an amount of postage. The label phase asks `allow_create` before each
//! Create Shipment and settles the `Reservation` it gets with what the create bought;
//! once a breaker trips, the rest of the run creates nothing and says so in its report.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use crate::canadapost::money::{Cad, Postage};

/// The circuit breakers on postage. Every Create Shipment of a run takes one unit of an
/// allowance of `limits.max_labels_per_run`, and never more than the orders that were
/// eligible for one when the run began: more creates than that means something is wrong
/// (a flood of orders, or a bug), and each create is money that cannot be refunded
/// automatically. Beside it, the spend breaker (`limits.max_postage_per_run`) stops the
/// creates once the postage this run bought reaches the cap, an unknown price counted as
/// the highest price seen (or as the whole cap while none is known). A create still under
/// way reserves the same guess until its answer comes, so parallel workers cannot all
/// start before the first price is known: a worker whose create the reservations leave no
/// room for waits for them to settle, and is held back only once nothing is in flight.
/// Once either breaker trips the run stops creating, finishes everything else, and says
/// so loudly; the orders held back are created by the next run.
pub(super) struct PostageBreaker {
    max_labels_per_run: usize,
    eligible: usize,
    max_postage: Option<Cad>,
    sent: AtomicUsize,
    held_back: AtomicUsize,
    spend: Mutex<Spend>,
    /// Signalled whenever a reservation settles.
    settled: Condvar,
}

/// This run's postage, as the spend breaker counts it.
#[derive(Default)]
struct Spend {
    known: Cad,
    highest: Option<Cad>,
    unknown: i64,
    in_flight: i64,
    held_back: usize,
}

/// What the spend breaker says to one more create.
#[derive(Debug, PartialEq, Eq)]
enum SpendDecision {
    Create,
    /// The reservations of the creates in flight leave no room; one of them may settle
    /// for less (or for nothing) and make some.
    Wait,
    HoldBack,
}

impl Spend {
    /// What the run counts as spent: the known prices, and the highest price seen (the
    /// cap while none is known) for every unknown one and every create in flight.
    fn counted(&self, cap: Cad) -> Cad {
        let guess = self.highest.unwrap_or(cap);
        self.known
            .saturating_add(guess.saturating_mul(self.unknown.saturating_add(self.in_flight)))
    }

    fn decide(&self, cap: Cad) -> SpendDecision {
        if self.counted(cap) < cap {
            SpendDecision::Create
        } else if self.in_flight > 0 {
            SpendDecision::Wait
        } else {
            SpendDecision::HoldBack
        }
    }
}

/// A create the breakers allowed, holding its share of the spend breaker until it is
/// settled. Dropped unsettled (an error, whatever happened to the create), it counts as a
/// label of unknown price, so a lost answer never frees room it may have spent.
pub(super) struct Reservation<'a> {
    breaker: &'a PostageBreaker,
    open: bool,
}

impl Reservation<'_> {
    /// The create bought a label whose price is `postage` (`None`: unknown, which includes
    /// a create whose outcome is unknown).
    pub(super) fn bought(mut self, postage: Option<&Postage>) {
        self.open = false;
        self.breaker.settle(Some(postage));
    }

    /// The create provably bought nothing (refused, never sent).
    pub(super) fn nothing_bought(mut self) {
        self.open = false;
        self.breaker.settle(None);
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.open {
            self.breaker.settle(Some(None));
        }
    }
}

impl PostageBreaker {
    pub(super) fn new(
        max_labels_per_run: usize,
        eligible: usize,
        max_postage: Option<Cad>,
    ) -> PostageBreaker {
        PostageBreaker {
            max_labels_per_run,
            eligible,
            max_postage,
            sent: AtomicUsize::new(0),
            held_back: AtomicUsize::new(0),
            spend: Mutex::new(Spend::default()),
            settled: Condvar::new(),
        }
    }

    fn spend(&self) -> MutexGuard<'_, Spend> {
        self.spend
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn allowance(&self) -> usize {
        self.max_labels_per_run.min(self.eligible)
    }

    /// Takes one create from the allowances, waiting while the creates in flight leave
    /// the spend breaker no room; `None` once an allowance is spent (and counts the order
    /// held back).
    pub(super) fn allow_create(&self) -> Option<Reservation<'_>> {
        if let Some(cap) = self.max_postage {
            let mut spend = self.spend();
            loop {
                match spend.decide(cap) {
                    SpendDecision::Create => break,
                    SpendDecision::Wait => {
                        spend = self
                            .settled
                            .wait(spend)
                            .unwrap_or_else(|poisoned| poisoned.into_inner());
                    }
                    SpendDecision::HoldBack => {
                        spend.held_back += 1;
                        return None;
                    }
                }
            }
            spend.in_flight += 1;
        }
        let reservation = Reservation {
            breaker: self,
            open: true,
        };
        let allowance = self.allowance();
        let taken = self
            .sent
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |sent| {
                (sent < allowance).then_some(sent + 1)
            })
            .is_ok();
        if !taken {
            self.held_back.fetch_add(1, Ordering::SeqCst);
            reservation.nothing_bought();
            return None;
        }
        Some(reservation)
    }

    /// Ends a reservation: `Some(price)` a label was bought (`Some(None)`: at an unknown
    /// price), `None` nothing was.
    fn settle(&self, bought: Option<Option<&Postage>>) {
        let mut spend = self.spend();
        if self.max_postage.is_some() {
            spend.in_flight -= 1;
        }
        match bought {
            Some(Some(postage)) => {
                spend.known = spend.known.saturating_add(postage.due);
                spend.highest = Some(
                    spend
                        .highest
                        .map_or(postage.due, |high| high.max(postage.due)),
                );
            }
            Some(None) => spend.unknown += 1,
            None => {}
        }
        drop(spend);
        self.settled.notify_all();
    }

    /// The known postage of this run, and how many labels' prices are unknown.
    pub(super) fn run_spend(&self) -> (Cad, i64) {
        let spend = self.spend();
        (spend.known, spend.unknown)
    }

    /// The report's problems when a breaker held an order back.
    pub(super) fn tripped(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let sent = self.sent.load(Ordering::SeqCst);
        let held_back = self.held_back.load(Ordering::SeqCst);
        if held_back > 0 {
            let limit = if self.max_labels_per_run <= self.eligible {
                format!("limits.max_labels_per_run is {}", self.max_labels_per_run)
            } else {
                format!(
                    "only {} order(s) were eligible for a label when the run began, so more creates \
                     would mean a fault",
                    self.eligible
                )
            };
            problems.push(format!(
                "circuit breaker: this run sent {sent} Create Shipment request(s) and stopped \
                 ({limit}); {held_back} order(s) wait for the next run. If that many labels is \
                 unexpected, stop cron and look before the next run buys more"
            ));
        }
        let spend = self.spend();
        if let Some(cap) = self.max_postage
            && spend.held_back > 0
        {
            let unknown = if spend.unknown > 0 {
                format!(
                    ", and {} label(s) of unknown price counted at {} CAD each",
                    spend.unknown,
                    spend.highest.unwrap_or(cap)
                )
            } else {
                String::new()
            };
            problems.push(format!(
                "spend breaker: this run bought {} CAD of known postage{unknown}, which reaches \
                 limits.max_postage_per_run ({cap} CAD); it stopped creating and {} order(s) wait \
                 for the next run. If that much postage is unexpected, stop cron and look",
                spend.known, spend.held_back
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// Allows one create and settles it at once: `Some(price)` bought at that price
    /// (`Some(None)` unknown), `None` bought nothing. `false` when held back.
    fn create(breaker: &PostageBreaker, bought: Option<Option<&str>>) -> bool {
        let Some(reservation) = breaker.allow_create() else {
            return false;
        };
        match bought {
            Some(Some(due)) => reservation.bought(Some(&price(due))),
            Some(None) => reservation.bought(None),
            None => reservation.nothing_bought(),
        }
        true
    }

    #[test]
    fn the_breaker_allows_at_most_max_labels_per_run_and_counts_the_rest() {
        let breaker = PostageBreaker::new(3, 5, None);
        let allowed = (0..5).filter(|_| create(&breaker, None)).count();
        assert_eq!(allowed, 3);
        let problem = breaker.tripped().remove(0);
        assert!(problem.contains("sent 3 Create Shipment"), "{problem}");
        assert!(problem.contains("max_labels_per_run is 3"), "{problem}");
        assert!(problem.contains("2 order(s) wait"), "{problem}");
    }

    #[test]
    fn the_breaker_never_allows_more_creates_than_orders_eligible() {
        let breaker = PostageBreaker::new(50, 2, None);
        assert!(create(&breaker, None));
        assert!(create(&breaker, None));
        assert!(!create(&breaker, None));
        let problem = breaker.tripped().remove(0);
        assert!(
            problem.contains("only 2 order(s) were eligible"),
            "{problem}"
        );
    }

    #[test]
    fn an_untripped_breaker_reports_nothing() {
        let breaker = PostageBreaker::new(50, 4, None);
        for _ in 0..4 {
            assert!(create(&breaker, Some(Some("9.99"))));
        }
        assert!(breaker.tripped().is_empty());
    }

    fn price(text: &str) -> Postage {
        Postage {
            due: Cad::parse(text).unwrap(),
            base: None,
            taxes: None,
        }
    }

    fn cad(text: &str) -> Cad {
        Cad::parse(text).unwrap()
    }

    #[test]
    fn the_spend_breaker_stops_once_known_postage_reaches_the_cap() {
        let breaker = PostageBreaker::new(50, 50, Some(cad("50.00")));
        for _ in 0..3 {
            assert!(create(&breaker, Some(Some("16.95"))));
        }
        // 50.85 reached 50.00: no fourth label.
        assert!(!create(&breaker, None));
        let problems = breaker.tripped();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("spend breaker"), "{problems:?}");
        assert!(problems[0].contains("50.85 CAD"), "{problems:?}");
        assert!(problems[0].contains("(50.00 CAD)"), "{problems:?}");
        assert_eq!(breaker.run_spend(), (cad("50.85"), 0));
    }

    #[test]
    fn an_unknown_price_counts_as_the_highest_seen_or_as_the_cap() {
        // No price known yet: the unknown one counts as the whole cap.
        let breaker = PostageBreaker::new(50, 50, Some(cad("100")));
        assert!(create(&breaker, Some(None)));
        assert!(!create(&breaker, None));
        assert!(breaker.tripped()[0].contains("1 label(s) of unknown price counted at 100.00"));

        // With 30.00 the highest seen: 30 + 30 (unknown) + 10 = 70 < 100, then 105.
        let breaker = PostageBreaker::new(50, 50, Some(cad("100")));
        assert!(create(&breaker, Some(Some("30.00"))));
        assert!(create(&breaker, Some(None)));
        assert!(create(&breaker, Some(Some("10.00"))));
        assert!(create(&breaker, Some(Some("35.00"))));
        assert!(!create(&breaker, None));
        // A create that bought nothing gives its share back.
        let breaker = PostageBreaker::new(50, 50, Some(cad("20")));
        assert!(create(&breaker, None));
        assert!(create(&breaker, None));
        // So does a create the label allowance refused after the spend breaker let it by.
        let breaker = PostageBreaker::new(1, 50, Some(cad("20")));
        assert!(create(&breaker, Some(Some("5.00"))));
        assert!(!create(&breaker, None));
        assert_eq!(breaker.spend().in_flight, 0);
    }

    #[test]
    fn a_create_in_flight_reserves_the_highest_price_seen_or_the_whole_cap() {
        let cap = cad("100");
        let mut spend = Spend::default();
        assert_eq!(spend.decide(cap), SpendDecision::Create);
        // No price known: one create in flight holds the whole cap.
        spend.in_flight = 1;
        assert_eq!(spend.counted(cap), cap);
        assert_eq!(spend.decide(cap), SpendDecision::Wait);
        // Its answer: 30.00. Two more fit beside it (30 + 30 + 30 = 90 < 100), a third
        // would start at 90 and may end at 120: the rule's one label over, no more.
        spend.in_flight = 0;
        spend.known = cad("30");
        spend.highest = Some(cad("30"));
        for in_flight in 0..3 {
            spend.in_flight = in_flight;
            assert_eq!(spend.decide(cap), SpendDecision::Create, "{in_flight}");
        }
        spend.in_flight = 3;
        assert_eq!(spend.counted(cap), cad("120"));
        assert_eq!(spend.decide(cap), SpendDecision::Wait);
        // Nothing in flight and the cap reached: held back, never a wait.
        spend.in_flight = 0;
        spend.known = cad("100");
        assert_eq!(spend.decide(cap), SpendDecision::HoldBack);
    }

    #[test]
    fn before_the_first_price_a_second_create_waits_for_the_first_answer() {
        let breaker = PostageBreaker::new(50, 50, Some(cad("100")));
        let first = breaker.allow_create().unwrap();
        let started = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let second = scope.spawn(|| {
                let reservation = breaker.allow_create();
                started.fetch_add(1, Ordering::SeqCst);
                reservation.map(|reservation| reservation.bought(Some(&price("30.00"))))
            });
            std::thread::sleep(Duration::from_millis(200));
            assert_eq!(
                started.load(Ordering::SeqCst),
                0,
                "started beside the first"
            );
            first.bought(Some(&price("30.00")));
            assert!(second.join().unwrap().is_some());
        });
        assert_eq!(breaker.run_spend(), (cad("60"), 0));

        // The first create's answer lost: its reservation dropped counts as the cap, and
        // the waiting create is held back instead of spending past it.
        let breaker = PostageBreaker::new(50, 50, Some(cad("100")));
        let first = breaker.allow_create().unwrap();
        std::thread::scope(|scope| {
            let second = scope.spawn(|| breaker.allow_create().is_some());
            std::thread::sleep(Duration::from_millis(100));
            drop(first);
            assert!(!second.join().unwrap());
        });
        assert_eq!(breaker.run_spend(), (Cad::ZERO, 1));
    }

    #[test]
    fn parallel_creates_never_pass_the_cap_by_more_than_the_rule_allows() {
        // Eight workers, a cap of 100.00, labels of 30.00 answered slowly: the first
        // create alone, then at most the creates that started below the cap.
        let breaker = PostageBreaker::new(50, 50, Some(cad("100")));
        let most_in_flight = AtomicUsize::new(0);
        let in_flight = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    while let Some(reservation) = breaker.allow_create() {
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        most_in_flight.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        reservation.bought(Some(&price("30.00")));
                    }
                });
            }
        });
        // 30 alone, then 60, 90 (started at 60), 120 (started at 90): four labels.
        assert_eq!(breaker.run_spend(), (cad("120"), 0));
        assert!(most_in_flight.load(Ordering::SeqCst) <= 3);
        assert!(breaker.tripped()[0].contains("8 order(s) wait"));
    }

    #[test]
    fn both_breakers_work_side_by_side() {
        let breaker = PostageBreaker::new(2, 10, Some(cad("1000")));
        assert!(create(&breaker, Some(Some("5.00"))));
        assert!(create(&breaker, Some(Some("5.00"))));
        assert!(!create(&breaker, None));
        let problems = breaker.tripped();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(
            problems[0].contains("max_labels_per_run is 2"),
            "{problems:?}"
        );
    }

    #[test]
    fn concurrent_creates_never_exceed_the_allowance() {
        let breaker = PostageBreaker::new(10, 100, None);
        let allowed = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..8 {
                scope.spawn(|| {
                    for _ in 0..10 {
                        if create(&breaker, Some(Some("1.00"))) {
                            allowed.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                });
            }
        });
        assert_eq!(allowed.load(Ordering::SeqCst), 10);
        assert!(breaker.tripped()[0].contains("70 order(s) wait"));
    }
}
