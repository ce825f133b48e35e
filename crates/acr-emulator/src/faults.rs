//! Deterministic fault injection.

use std::time::Duration;

/// Which failures to inject, and how often. Everything is off by default.
///
/// Each request draws from one random sequence seeded with [`Faults::seed`], in a fixed
/// order, so the same requests in the same order meet the same faults on every run.
/// Rates are probabilities in `0.0..=1.0`; `1.0` makes a fault certain.
#[derive(Clone, Debug, PartialEq)]
pub struct Faults {
    /// Seed of the random sequence.
    pub seed: u64,
    /// Chance that a request is answered `503 Service Unavailable` without being handled.
    pub error_rate: f64,
    /// Chance that a request is answered `429 Too Many Requests` with `Retry-After: 1`
    /// without being handled.
    pub throttle_rate: f64,
    /// Chance that a successful response with a body is cut off halfway: the headers
    /// promise the full `Content-Length`, then the connection is dropped.
    pub reset_mid_body_rate: f64,
    /// Chance that a successful response with a body is silently shortened to half: the
    /// `Content-Length` matches the shortened body, so only a digest or size check notices.
    pub truncate_body_rate: f64,
    /// Chance that one byte of a successful blob `GET` body is flipped.
    pub flip_byte_rate: f64,
    /// Delay added before handling every request that faults apply to.
    pub delay: Option<Duration>,
    /// Whether the token endpoints (`/oauth2/...`) get faults too. Off by default so that
    /// authentication keeps working while data requests fail.
    pub include_token_endpoints: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            seed: 0,
            error_rate: 0.0,
            throttle_rate: 0.0,
            reset_mid_body_rate: 0.0,
            truncate_body_rate: 0.0,
            flip_byte_rate: 0.0,
            delay: None,
            include_token_endpoints: false,
        }
    }
}

/// What happens to one request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Decision {
    pub(crate) error: bool,
    pub(crate) throttle: bool,
    pub(crate) reset: bool,
    pub(crate) truncate: bool,
    pub(crate) flip: bool,
    /// Which byte to flip, as a fraction of the body length in 1/2^32 units.
    pub(crate) flip_at: u32,
}

/// SplitMix64: tiny, fast and good enough to spread faults; not for secrets.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Draws the same number of values whatever the outcome, so one request's faults never
    /// shift the sequence seen by the next.
    pub(crate) fn decide(&mut self, faults: &Faults) -> Decision {
        let draws = [
            self.unit(),
            self.unit(),
            self.unit(),
            self.unit(),
            self.unit(),
        ];
        let flip_at = (self.next_u64() >> 32) as u32;
        let error = draws[0] < faults.error_rate;
        let throttle = !error && draws[1] < faults.throttle_rate;
        Decision {
            error,
            throttle,
            reset: draws[2] < faults.reset_mid_body_rate,
            truncate: draws[3] < faults.truncate_body_rate,
            flip: draws[4] < faults.flip_byte_rate,
            flip_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_decisions_and_rates_are_respected() {
        let faults = Faults {
            seed: 7,
            error_rate: 0.3,
            ..Faults::default()
        };
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..1000)
                .map(|_| rng.decide(&faults).error)
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let errors = run(7).iter().filter(|e| **e).count();
        assert!(
            (200..400).contains(&errors),
            "{errors} errors out of 1000 at rate 0.3"
        );
        let mut rng = Rng::new(1);
        assert_eq!(
            rng.decide(&Faults::default()),
            Decision {
                flip_at: rng_flip_at(1),
                ..Decision::default()
            }
        );
    }

    fn rng_flip_at(seed: u64) -> u32 {
        let mut rng = Rng::new(seed);
        for _ in 0..5 {
            rng.next_u64();
        }
        (rng.next_u64() >> 32) as u32
    }
}
