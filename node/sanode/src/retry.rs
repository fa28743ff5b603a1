//! The node's one retry policy: exponential backoff from `base`, doubling per failure up to
//! `max`. The dispatcher spreads its waits with full jitter (many alerts fail at once when an
//! output goes down); a loop that retries one thing (lease planning for one stream) waits the
//! ceiling itself.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The wait after `failures` failures in a row (1 for the first): `base`, `2 base`, ...,
    /// at most `max`.
    pub fn ceiling(&self, failures: u32) -> Duration {
        let exponent = failures.saturating_sub(1).min(20);
        self.base.saturating_mul(1u32 << exponent).min(self.max)
    }

    /// A wait drawn uniformly below the ceiling ("full jitter"), but never shorter than what
    /// the other side asked for (an HTTP `Retry-After`).
    pub fn jittered(&self, failures: u32, at_least: Option<Duration>) -> Duration {
        let jittered = self.ceiling(failures).mul_f64(fastrand::f64());
        jittered.max(at_least.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Backoff = Backoff {
        base: Duration::from_secs(1),
        max: Duration::from_secs(10),
    };

    #[test]
    fn the_ceiling_doubles_per_failure_up_to_the_maximum() {
        let ceilings: Vec<u64> = (1..=6).map(|n| POLICY.ceiling(n).as_secs()).collect();
        assert_eq!(ceilings, [1, 2, 4, 8, 10, 10]);
        assert_eq!(
            POLICY.ceiling(0),
            POLICY.base,
            "no failure yet waits the base"
        );
        assert_eq!(POLICY.ceiling(u32::MAX), POLICY.max);
    }

    #[test]
    fn jitter_stays_under_the_ceiling_and_honours_retry_after() {
        for failures in 1..=8 {
            let wait = POLICY.jittered(failures, None);
            assert!(wait <= POLICY.ceiling(failures), "{wait:?}");
        }
        let asked = Duration::from_secs(30);
        assert_eq!(POLICY.jittered(1, Some(asked)), asked);
    }
}
