//! The one pseudo-random generator: xorshift64, for retry jitter and for the seeded fuzz
//! and property tests (the same seed gives the same cases on every machine, so a
//! failure can be replayed). Randomness need not be strong for either.

/// A small seeded pseudo-random generator (xorshift64).
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`; zero (xorshift's one fixed point) is replaced.
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..bound` (`bound` > 0).
    #[cfg(test)]
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    /// One of `items` (not empty).
    #[cfg(test)]
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// True once in `times` on average.
    #[cfg(test)]
    pub fn one_in(&mut self, times: usize) -> bool {
        self.below(times) == 0
    }
}
