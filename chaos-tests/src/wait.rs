//! Waiting for a condition a test expects to become true, bounded in time.

use std::time::{Duration, Instant};

/// Polls `check` every 100 ms until it holds and returns how long that took; panics naming
/// `what` once `timeout` has passed.
pub fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}
