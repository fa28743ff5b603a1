//! Where the dispatcher's next pass starts reading the due list. Delivered alerts leave
//! deletions behind at their due times, and RocksDB steps over every one of them when a scan
//! starts at the beginning of the list: after a few minutes of load, that was a third of the
//! busiest node's worker time, on a pass every few milliseconds. A pass reads from a little
//! before the earliest due time the previous one saw; now and then one reads the whole list, for
//! what landed earlier than that (an alert committed late, on a slow node).
//! Replays and resends are due at 0: every pass reads that instant first, which is cheap.

use std::time::{Duration, Instant};

use sa_rules::Micros;

/// How far before the earliest due time seen a pass starts: more than an alert takes from its
/// creation to its commit.
const SLACK: Micros = 10_000_000;
/// How often a pass reads the whole due list.
const FULL_EVERY: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct DueCursor {
    low: Option<Micros>,
    last_full: Option<Instant>,
}

/// The part of the due list one pass reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueRange {
    /// Everything due by now.
    Whole,
    /// What is due at 0, then from this time on.
    From(Micros),
}

impl DueCursor {
    pub fn new() -> Self {
        DueCursor {
            low: None,
            last_full: None,
        }
    }

    pub fn range(&self) -> DueRange {
        match (self.low, self.last_full) {
            (Some(low), Some(last_full)) if last_full.elapsed() < FULL_EVERY => {
                DueRange::From(low.saturating_sub(SLACK).max(1))
            }
            _ => DueRange::Whole,
        }
    }

    /// Notes what a pass over `range` found due (its due times, earliest first) at `now`.
    pub fn saw(&mut self, range: DueRange, due_at: impl IntoIterator<Item = Micros>, now: Micros) {
        let earliest = due_at.into_iter().find(|at| *at > 0).unwrap_or(now);
        self.low = Some(earliest);
        if range == DueRange::Whole {
            self.last_full = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_reads_from_before_the_earliest_due_time_seen_and_the_whole_list_at_first() {
        let mut cursor = DueCursor::new();
        assert_eq!(cursor.range(), DueRange::Whole);
        cursor.saw(DueRange::Whole, [0, 50_000_000, 60_000_000], 90_000_000);
        assert_eq!(cursor.range(), DueRange::From(40_000_000));
        // Nothing due: the next pass starts a little before now.
        cursor.saw(DueRange::From(40_000_000), [], 95_000_000);
        assert_eq!(cursor.range(), DueRange::From(85_000_000));
        // Never before the instant 0 that every pass reads anyway.
        cursor.saw(DueRange::From(85_000_000), [5], 100);
        assert_eq!(cursor.range(), DueRange::From(1));
    }

    #[test]
    fn the_whole_list_is_read_again_after_a_while() {
        let mut cursor = DueCursor::new();
        cursor.saw(DueRange::Whole, [], 100_000_000);
        cursor.last_full = Some(Instant::now() - FULL_EVERY);
        assert_eq!(cursor.range(), DueRange::Whole);
    }
}
