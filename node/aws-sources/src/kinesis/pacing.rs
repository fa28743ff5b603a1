//! When a shard reader may call GetRecords next: per-shard limits (5 calls/s, 2 MB/s) as token
//! buckets, exponential backoff after throttling, and an idle delay that grows while the shard is
//! empty. Pure over a caller-supplied clock (time since an arbitrary origin), so tests drive it
//! with simulated time.

use std::time::Duration;

/// A token bucket: `rate` tokens per second up to `capacity`. Taking may overdraw it; the debt is
/// paid back by waiting (how a GetRecords response larger than the byte budget is accounted for).
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate_per_sec: f64,
    capacity: f64,
    tokens: f64,
    updated: Duration,
}

impl TokenBucket {
    /// A full bucket at time `now`.
    pub fn new(rate_per_sec: f64, capacity: f64, now: Duration) -> TokenBucket {
        TokenBucket {
            rate_per_sec,
            capacity,
            tokens: capacity,
            updated: now,
        }
    }

    fn refill(&mut self, now: Duration) {
        let elapsed = now.saturating_sub(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate_per_sec).min(self.capacity);
        self.updated = self.updated.max(now);
    }

    /// How long from `now` until the bucket holds at least `amount` tokens.
    pub fn wait_for(&mut self, amount: f64, now: Duration) -> Duration {
        self.refill(now);
        let missing = amount - self.tokens;
        if missing <= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(missing / self.rate_per_sec)
        }
    }

    /// Takes `amount` tokens at `now`, overdrawing if needed.
    pub fn take(&mut self, amount: f64, now: Duration) {
        self.refill(now);
        self.tokens -= amount;
    }
}

/// Exponential backoff with jitter: the n-th consecutive delay is drawn from
/// `[d/2, d]` where `d = min(base * 2^n, max)` ("equal jitter"), so retrying readers spread out.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempts: u32,
}

impl Backoff {
    /// Delays start around `base` and double per attempt up to `max`.
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff {
            base,
            max,
            attempts: 0,
        }
    }

    /// The next delay; `jitter` in `[0, 1)` picks where in `[d/2, d]` it falls.
    pub fn next_delay(&mut self, jitter: f64) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(self.attempts.min(20)))
            .min(self.max);
        self.attempts = self.attempts.saturating_add(1);
        ceiling / 2 + ceiling.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
    }

    /// Back to the first delay (after a success).
    pub fn reset(&mut self) {
        self.attempts = 0;
    }

    /// Consecutive delays handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }
}

/// Limits and delays of one shard reader.
#[derive(Debug, Clone, PartialEq)]
pub struct PacingConfig {
    /// GetRecords calls per second per shard (Kinesis allows 5).
    pub calls_per_sec: f64,
    /// Bytes per second per shard (Kinesis allows 2 MB).
    pub bytes_per_sec: f64,
    /// First backoff after a throttling error; doubles per consecutive one.
    pub backoff_base: Duration,
    /// Ceiling of the throttling backoff.
    pub backoff_max: Duration,
    /// Delay after the first empty response at the tip of the shard; doubles while it stays empty.
    pub idle_min: Duration,
    /// Ceiling of the idle delay.
    pub idle_max: Duration,
}

impl Default for PacingConfig {
    fn default() -> PacingConfig {
        PacingConfig {
            calls_per_sec: 5.0,
            bytes_per_sec: 2_000_000.0,
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            idle_min: Duration::from_millis(100),
            idle_max: Duration::from_secs(1),
        }
    }
}

/// Decides how long a shard reader waits before its next GetRecords call.
#[derive(Debug, Clone)]
pub struct ReadPacer {
    config: PacingConfig,
    calls: TokenBucket,
    bytes: TokenBucket,
    throttled: Backoff,
    idle: Duration,
    not_before: Duration,
}

impl ReadPacer {
    /// A pacer that allows a call at once (`now` on the caller's clock).
    pub fn new(config: PacingConfig, now: Duration) -> ReadPacer {
        ReadPacer {
            // A capacity of one call (not five) spreads calls evenly instead of bursting five at
            // once and then stalling for a second.
            calls: TokenBucket::new(config.calls_per_sec, 1.0, now),
            bytes: TokenBucket::new(config.bytes_per_sec, config.bytes_per_sec, now),
            throttled: Backoff::new(config.backoff_base, config.backoff_max),
            idle: Duration::ZERO,
            not_before: now,
            config,
        }
    }

    /// How long to wait from `now` before the next call.
    pub fn delay(&mut self, now: Duration) -> Duration {
        let call = self.calls.wait_for(1.0, now);
        // Bytes are charged after each response, so only a debt (negative balance) delays a call.
        let bytes = self.bytes.wait_for(0.0, now);
        call.max(bytes).max(self.not_before.saturating_sub(now))
    }

    /// A call is being made at `now`.
    pub fn on_call(&mut self, now: Duration) {
        self.calls.take(1.0, now);
    }

    /// A GetRecords response arrived at `now` with `bytes` of record data. `caught_up` is true
    /// when it was empty and the shard has nothing newer (MillisBehindLatest 0): the reader
    /// then idles, longer each time. An empty response while behind (a gap in a sparse shard)
    /// does not idle.
    pub fn on_response(&mut self, now: Duration, bytes: usize, caught_up: bool) {
        self.throttled.reset();
        self.bytes.take(bytes as f64, now);
        self.idle = if caught_up {
            (self.idle * 2).clamp(self.config.idle_min, self.config.idle_max)
        } else {
            Duration::ZERO
        };
        self.not_before = now + self.idle;
    }

    /// The call made before `now` was throttled; `jitter` in `[0, 1)`.
    pub fn on_throttled(&mut self, now: Duration, jitter: f64) -> Duration {
        let delay = self.throttled.next_delay(jitter);
        self.not_before = now + delay;
        delay
    }

    /// Throttling errors since the last successful response.
    pub fn consecutive_throttles(&self) -> u32 {
        self.throttled.attempts()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Runs a reader that calls as soon as the pacer allows, over simulated time, and returns
    /// the times of its calls.
    fn simulate(pacer: &mut ReadPacer, calls: usize, bytes_per_response: usize) -> Vec<Duration> {
        let mut now = Duration::ZERO;
        let mut times = Vec::new();
        for _ in 0..calls {
            now += pacer.delay(now);
            pacer.on_call(now);
            times.push(now);
            pacer.on_response(now, bytes_per_response, false);
        }
        times
    }

    #[test]
    fn never_more_than_five_calls_in_any_second() {
        let mut pacer = ReadPacer::new(PacingConfig::default(), Duration::ZERO);
        let times = simulate(&mut pacer, 50, 10);
        for window in times.windows(6) {
            assert!(
                window[5] - window[0] >= Duration::from_secs(1) - ms(1),
                "six calls within a second: {window:?}"
            );
        }
        // and it is not slower than the limit either: 50 calls take about 10 s
        assert!(times[49] <= Duration::from_secs(10), "{:?}", times[49]);
    }

    #[test]
    fn large_responses_are_held_to_two_megabytes_per_second() {
        let mut pacer = ReadPacer::new(PacingConfig::default(), Duration::ZERO);
        // 10 responses of 1 MB: the first two fit the initial 2 MB, then one per half second
        let times = simulate(&mut pacer, 10, 1_000_000);
        let span = times[9] - times[0];
        let bytes_after_first = 9.0 * 1_000_000.0;
        let rate = (bytes_after_first - 2_000_000.0) / span.as_secs_f64();
        assert!(rate <= 2_000_000.0 * 1.01, "{rate} B/s over {span:?}");
        assert!(span >= Duration::from_millis(3400), "{span:?}");
    }

    #[test]
    fn a_ten_megabyte_response_stalls_the_shard_for_four_seconds() {
        let mut pacer = ReadPacer::new(PacingConfig::default(), Duration::ZERO);
        pacer.on_call(Duration::ZERO);
        pacer.on_response(Duration::ZERO, 10_000_000, false);
        assert_eq!(pacer.delay(Duration::ZERO), Duration::from_secs(4));
        assert_eq!(pacer.delay(Duration::from_secs(4)), Duration::ZERO);
    }

    #[test]
    fn throttling_backs_off_exponentially_with_jitter_and_resets_on_success() {
        let mut pacer = ReadPacer::new(PacingConfig::default(), Duration::ZERO);
        let mut now = Duration::ZERO;
        let mut delays = Vec::new();
        for _ in 0..8 {
            pacer.on_call(now);
            let d = pacer.on_throttled(now, 0.999_999);
            assert_eq!(
                pacer.delay(now),
                d.max(pacer.calls.clone().wait_for(1.0, now))
            );
            delays.push(d);
            now += d;
        }
        let rounded: Vec<u128> = delays.iter().map(|d| d.as_millis()).collect();
        assert_eq!(rounded, vec![99, 199, 399, 799, 1599, 3199, 4999, 4999]);
        assert_eq!(pacer.consecutive_throttles(), 8);
        let lowest = Backoff::new(ms(100), ms(5000)).next_delay(0.0);
        assert_eq!(lowest, ms(50));
        pacer.on_call(now);
        pacer.on_response(now, 100, false);
        assert_eq!(pacer.consecutive_throttles(), 0);
        assert_eq!(pacer.on_throttled(now, 0.0), ms(50));
    }

    #[test]
    fn an_empty_shard_is_polled_less_and_less_often_up_to_the_idle_cap() {
        let mut pacer = ReadPacer::new(PacingConfig::default(), Duration::ZERO);
        let mut now = Duration::ZERO;
        let mut gaps = Vec::new();
        for _ in 0..6 {
            let wait = pacer.delay(now);
            gaps.push(wait.as_millis());
            now += wait;
            pacer.on_call(now);
            pacer.on_response(now, 0, true);
        }
        assert_eq!(gaps, vec![0, 200, 200, 400, 800, 1000]);
        // data again: back to the call limit
        pacer.on_response(now, 10, false);
        assert_eq!(pacer.delay(now).as_millis(), 200);
    }
}
