//! How far a shard has been read: a sequence number, plus the position inside a KPL-aggregated
//! record when the shard carries those.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// A position in a shard, stored in the replicated state. `sub_sequence` is `None` for a plain
/// record and for "the whole record"; `Some(i)` means sub-records `0..=i` of an aggregated record.
///
/// Ordered like Kinesis orders records: sequence numbers numerically (they are decimal strings
/// wider than 64 bits), then `Some(0) < Some(1) < ... < None` within one sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Checkpoint {
    pub sequence_number: String,
    pub sub_sequence: Option<u64>,
}

impl Checkpoint {
    /// The checkpoint of a whole (plain or fully read) record.
    pub fn after_record(sequence_number: impl Into<String>) -> Checkpoint {
        Checkpoint {
            sequence_number: sequence_number.into(),
            sub_sequence: None,
        }
    }
}

impl Ord for Checkpoint {
    fn cmp(&self, other: &Self) -> Ordering {
        compare_sequence_numbers(&self.sequence_number, &other.sequence_number)
            // Equal numbers written differently ("07" vs "7") still differ, so Ord agrees with Eq.
            .then_with(|| self.sequence_number.cmp(&other.sequence_number))
            .then_with(|| match (self.sub_sequence, other.sub_sequence) {
                (Some(a), Some(b)) => a.cmp(&b),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            })
    }
}

impl PartialOrd for Checkpoint {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Numeric order of two decimal sequence numbers of any width.
pub fn compare_sequence_numbers(a: &str, b: &str) -> Ordering {
    let a = a.trim_start_matches('0');
    let b = b.trim_start_matches('0');
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(seq: &str, sub: Option<u64>) -> Checkpoint {
        Checkpoint {
            sequence_number: seq.into(),
            sub_sequence: sub,
        }
    }

    #[test]
    fn sequence_numbers_order_numerically_beyond_u128() {
        let small = "49590338271490256608559692538361571095921575989136588898";
        let large = "49590338271490256608559692540925702759324208523137515618";
        assert!(cp(small, None) < cp(large, None));
        assert!(cp("9", None) < cp("10", None));
        assert!(cp("100000000000000000000000000000000000000000", None) > cp("99", None));
    }

    #[test]
    fn sub_sequences_order_inside_their_record_and_before_the_whole_record() {
        let mut sorted = vec![
            cp("2", None),
            cp("2", Some(1)),
            cp("1", None),
            cp("2", Some(0)),
            cp("3", Some(0)),
        ];
        sorted.sort();
        assert_eq!(
            sorted,
            vec![
                cp("1", None),
                cp("2", Some(0)),
                cp("2", Some(1)),
                cp("2", None),
                cp("3", Some(0)),
            ]
        );
    }

    #[test]
    fn order_agrees_with_equality() {
        assert_ne!(cp("07", None), cp("7", None));
        assert_ne!(cp("07", None).cmp(&cp("7", None)), Ordering::Equal);
        assert_eq!(cp("7", Some(2)).cmp(&cp("7", Some(2))), Ordering::Equal);
    }

    #[test]
    fn round_trips_through_serde() {
        let checkpoint = cp("4959033827149025660855969253836157", Some(3));
        let json = serde_json::to_string(&checkpoint).unwrap();
        assert_eq!(
            json,
            r#"{"sequence_number":"4959033827149025660855969253836157","sub_sequence":3}"#
        );
        assert_eq!(
            serde_json::from_str::<Checkpoint>(&json).unwrap(),
            checkpoint
        );
    }
}
