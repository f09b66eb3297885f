//! [`SimRng`]: the seed of a run split into named, independent sub-streams.
//!
//! Each stream is seeded from `splitmix64(seed ^ fnv1a(name))`, so the
//! numbers a component draws depend only on the seed and its own name:
//! adding a component (a new stream) never reshuffles the others.

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// The workload's choices: reconnect back-off, generated traffic.
pub const WORKLOAD: &str = "workload";
/// The fault plan's choices (swarm rates, fault times and targets).
pub const FAULTS: &str = "faults";
/// Per-segment network latency.
pub const LATENCY: &str = "latency";
/// The broker's allowed random choices.
pub const BROKER: &str = "broker";

/// The named sub-streams of one run, all derived from one seed.
#[derive(Debug, Clone)]
pub struct SimRng {
    seed: u64,
    /// The workload stream.
    pub workload: Stream,
    /// The fault stream.
    pub faults: Stream,
    /// The latency stream.
    pub latency: Stream,
    /// The broker stream.
    pub broker: Stream,
}

impl SimRng {
    /// The four standard streams of `seed`.
    pub fn new(seed: u64) -> SimRng {
        SimRng {
            seed,
            workload: Stream::new(seed, WORKLOAD),
            faults: Stream::new(seed, FAULTS),
            latency: Stream::new(seed, LATENCY),
            broker: Stream::new(seed, BROKER),
        }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A further stream named `name`, independent of the standard ones.
    pub fn stream(&self, name: &str) -> Stream {
        Stream::new(self.seed, name)
    }
}

/// One named, seeded pseudo-random stream (PCG 64 MCG).
#[derive(Debug, Clone)]
pub struct Stream {
    rng: Pcg64Mcg,
}

impl Stream {
    /// The stream `name` of `seed`.
    pub fn new(seed: u64, name: &str) -> Stream {
        Stream { rng: Pcg64Mcg::seed_from_u64(stream_seed(seed, name)) }
    }

    /// A number in `min..=max` (`min` when `max < min`).
    pub fn range_u64(&mut self, min: u64, max: u64) -> u64 {
        if max <= min {
            min
        } else {
            self.rng.random_range(min..=max)
        }
    }

    /// True with probability `p` (clamped to 0..=1).
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            return false;
        }
        if p >= 1.0 {
            return true;
        }
        self.rng.random_range(0.0..1.0) < p
    }

    /// A float in `min..max` (`min` when the range is empty).
    pub fn range_f64(&mut self, min: f64, max: f64) -> f64 {
        if max <= min {
            min
        } else {
            self.rng.random_range(min..max)
        }
    }

    /// An index in `0..len`; `len` must not be zero.
    pub fn index(&mut self, len: usize) -> usize {
        assert!(len > 0, "index of an empty range");
        self.rng.random_range(0..len)
    }
}

/// The seed of stream `name`: SplitMix64 over `seed` xor FNV-1a 64 of `name`.
pub fn stream_seed(seed: u64, name: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    splitmix64(seed ^ hash)
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same seed and name give the same numbers; another name gives others.
    #[test]
    fn streams_are_a_function_of_seed_and_name_only() {
        let draw = |mut s: Stream| (0..8).map(|_| s.range_u64(0, 1_000_000)).collect::<Vec<_>>();
        assert_eq!(draw(Stream::new(7, LATENCY)), draw(SimRng::new(7).latency));
        assert_ne!(draw(Stream::new(7, LATENCY)), draw(Stream::new(7, FAULTS)));
        assert_ne!(draw(Stream::new(7, LATENCY)), draw(Stream::new(8, LATENCY)));
        // A new stream does not disturb an existing one.
        let rng = SimRng::new(7);
        let _extra = rng.stream("a-new-component");
        assert_eq!(draw(rng.latency.clone()), draw(Stream::new(7, LATENCY)));
    }

    /// Ranges are inclusive and degenerate ranges give their minimum.
    #[test]
    fn ranges_are_inclusive_and_degenerate_ranges_are_safe() {
        let mut s = Stream::new(1, "x");
        assert_eq!(s.range_u64(5, 5), 5);
        assert_eq!(s.range_u64(9, 3), 9);
        assert!((0..100).all(|_| (1..=3).contains(&s.range_u64(1, 3))));
        assert!(!s.chance(0.0));
        assert!(s.chance(1.0));
    }
}
