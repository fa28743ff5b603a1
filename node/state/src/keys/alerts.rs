//! Keys of the `alerts` keyspace (the alerts table, see the alert store for what each holds).
//!
//! | family | layout |
//! |---|---|
//! | [`PerAlert`] | `alert/`, `pending/`, `merged/`, `sendfirst/`, `suppressed/` + `{alert id}` |
//! | [`PerOutput`] | `sent/`, `attempt/`, `deadletter/output/` + `{alert id}/{output}` |
//! | due | `due/{due at, 20 digits}/{alert id}` |
//! | [`RuleIndex`] | `merge/`, `byrule/` + `{rule}/{created, 20 digits}/{alert id}` |
//! | [`Window`] | `window/`, `dedup/` + `{rule}/{values digest}` |
//! | classify dead letter | `deadletter/classify/{`[`DeadLetterId`]`}` |
//!
//! Alert ids are UUIDs and never hold a `/`; outputs and rule names may (a key is cut at the
//! `/` right after the id, or, where the rule comes first, at the last ones).
//!
//! Times: every time in these keys (a due time, an alert's creation, a classify dead letter's
//! arrival) is [`Micros`], microseconds since the epoch like an alert's `created`, written as
//! 20 digits so that byte order is time order; a time before the epoch is written as 0. An
//! alert due at its creation time has the same number in its `due/` key as in its rule
//! indexes.
//!
//! Before, the work list and classify dead letters counted milliseconds. Such keys still
//! decode: a `due/` entry written then reads as a time in January 1970, so it is simply due at
//! once (the dispatcher reschedules it in µs), and a dead letter id written then sorts before
//! every later one, as it arrived before them.

use std::fmt;

use sa_raft::Keyspace;
use sa_rules::{Alert, Micros};

use super::{Decoding, KeyBytes, KeyError, KeyProblem, parse_number};

/// Keys holding one thing about one alert: `{family}{alert id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PerAlert {
    /// `alert/`: the alert's Dynamo record.
    Record,
    /// `pending/`: when the alert is next due ([`Micros`], decimal).
    Pending,
    /// `merged/`: the id of the alert it was merged into.
    Merged,
    /// `sendfirst/`: the first alert of a `merge_send_first` window.
    SendFirst,
    /// `suppressed/`: why its merge group produced no alert.
    Suppressed,
}

impl PerAlert {
    fn text(self) -> &'static str {
        match self {
            PerAlert::Record => "alert/",
            PerAlert::Pending => "pending/",
            PerAlert::Merged => "merged/",
            PerAlert::SendFirst => "sendfirst/",
            PerAlert::Suppressed => "suppressed/",
        }
    }

    /// What every key of the family starts with.
    pub fn prefix(self) -> &'static [u8] {
        self.text().as_bytes()
    }
}

/// Keys holding one alert's delivery to one output: `{family}{alert id}/{output}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PerOutput {
    /// `sent/`: the output accepted the alert.
    Sent,
    /// `attempt/`: the output is being retried.
    Attempt,
    /// `deadletter/output/`: the output never accepted it.
    DeadLetter,
}

impl PerOutput {
    pub const ALL: [PerOutput; 3] = [PerOutput::Sent, PerOutput::Attempt, PerOutput::DeadLetter];

    fn text(self) -> &'static str {
        match self {
            PerOutput::Sent => "sent/",
            PerOutput::Attempt => "attempt/",
            PerOutput::DeadLetter => "deadletter/output/",
        }
    }

    /// What every key of the family starts with.
    pub fn prefix(self) -> &'static [u8] {
        self.text().as_bytes()
    }

    /// What the family's keys of `alert_id` start with, whatever their output.
    pub fn alert_prefix(self, alert_id: &str) -> Vec<u8> {
        KeyBytes::new(self.text()).text(alert_id).byte(b'/').done()
    }
}

/// Per-rule indexes of alerts ordered by creation time:
/// `{index}{rule}/{created µs, 20 digits}/{alert id}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleIndex {
    /// `merge/`: merge-enabled alerts waiting for their group to close.
    Merge,
    /// `byrule/`: every stored alert, what rule promotion counts.
    ByRule,
}

impl RuleIndex {
    fn text(self) -> &'static str {
        match self {
            RuleIndex::Merge => "merge/",
            RuleIndex::ByRule => "byrule/",
        }
    }

    /// What every key of the index starts with.
    pub fn prefix(self) -> &'static [u8] {
        self.text().as_bytes()
    }

    /// What the index's keys of `rule` start with. Those of a rule named `{rule}/...` do too:
    /// tell them apart by the decoded rule.
    pub fn rule_prefix(self, rule: &str) -> Vec<u8> {
        KeyBytes::new(self.text()).text(rule).byte(b'/').done()
    }

    /// Where the keys of `rule` created at or after `since` begin.
    pub fn rule_from(self, rule: &str, since: Micros) -> Vec<u8> {
        KeyBytes::new(self.text())
            .text(rule)
            .byte(b'/')
            .micros(since)
            .byte(b'/')
            .done()
    }
}

/// Open windows of a rule, per digest of the alert values they cover: `{window}{rule}/{digest}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Window {
    /// `window/`: a `merge_send_first` window.
    SendFirst,
    /// `dedup/`: a `dedup_keys` window.
    Dedup,
}

impl Window {
    pub const ALL: [Window; 2] = [Window::SendFirst, Window::Dedup];

    fn text(self) -> &'static str {
        match self {
            Window::SendFirst => "window/",
            Window::Dedup => "dedup/",
        }
    }

    /// What every key of the family starts with.
    pub fn prefix(self) -> &'static [u8] {
        self.text().as_bytes()
    }
}

const DUE: &str = "due/";
const CLASSIFY_DEAD_LETTER: &str = "deadletter/classify/";

/// What every work-list key starts with.
pub const DUE_PREFIX: &[u8] = DUE.as_bytes();
/// What every classify dead letter's key starts with.
pub const CLASSIFY_DEAD_LETTER_PREFIX: &[u8] = CLASSIFY_DEAD_LETTER.as_bytes();

/// The bound below which the work list holds exactly the entries due at or before `now`.
pub fn due_until(now: Micros) -> Vec<u8> {
    KeyBytes::new(DUE).micros(now.saturating_add(1)).done()
}

/// A classified-out record's dead letter: `{received, 20 digits}-{node id}-{sequence}`, so that
/// dead letters sort by arrival. Kept as the text it is stored under, since operators name a
/// dead letter by it (the sequence had 6 digits before it had 12, and the arrival counted
/// milliseconds before it counted microseconds: the stored record's own time is the one to
/// read, not this one).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeadLetterId(String);

impl DeadLetterId {
    /// The id of the `sequence`th dead letter node `node_id` stored, received at `received_at`.
    pub fn new(received_at: Micros, node_id: u64, sequence: u64) -> Self {
        let received = super::key_micros(received_at);
        DeadLetterId(format!("{received:020}-{node_id}-{sequence:012}"))
    }

    /// An id as listed.
    pub fn parse(text: &str) -> Result<Self, KeyProblem> {
        let mut parts = text.splitn(3, '-');
        let received = parts.next().and_then(parse_number);
        let numbers = parts.filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        match (received, numbers.count()) {
            (Some(_), 2) => Ok(DeadLetterId(text.to_owned())),
            _ => Err(KeyProblem::DeadLetterId),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DeadLetterId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A key of the `alerts` keyspace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertKey {
    PerAlert {
        family: PerAlert,
        alert_id: String,
    },
    PerOutput {
        family: PerOutput,
        alert_id: String,
        output: String,
    },
    /// The dispatcher's work list, by time: `due/{at}/{alert id}`.
    Due {
        at: Micros,
        alert_id: String,
    },
    /// `created` is the alert's, or 0 for an alert created before the epoch.
    RuleIndex {
        index: RuleIndex,
        rule: String,
        created: Micros,
        alert_id: String,
    },
    Window {
        window: Window,
        rule: String,
        digest: String,
    },
    ClassifyDeadLetter(DeadLetterId),
}

/// Every family, for decoding; no two prefixes start one another.
#[derive(Debug, Clone, Copy)]
enum Family {
    PerAlert(PerAlert),
    PerOutput(PerOutput),
    Due,
    RuleIndex(RuleIndex),
    Window(Window),
    ClassifyDeadLetter,
}

impl Family {
    const ALL: [Family; 14] = [
        Family::PerAlert(PerAlert::Record),
        Family::PerAlert(PerAlert::Pending),
        Family::PerAlert(PerAlert::Merged),
        Family::PerAlert(PerAlert::SendFirst),
        Family::PerAlert(PerAlert::Suppressed),
        Family::PerOutput(PerOutput::Sent),
        Family::PerOutput(PerOutput::Attempt),
        Family::PerOutput(PerOutput::DeadLetter),
        Family::Due,
        Family::RuleIndex(RuleIndex::Merge),
        Family::RuleIndex(RuleIndex::ByRule),
        Family::Window(Window::SendFirst),
        Family::Window(Window::Dedup),
        Family::ClassifyDeadLetter,
    ];

    fn text(self) -> &'static str {
        match self {
            Family::PerAlert(family) => family.text(),
            Family::PerOutput(family) => family.text(),
            Family::Due => DUE,
            Family::RuleIndex(index) => index.text(),
            Family::Window(window) => window.text(),
            Family::ClassifyDeadLetter => CLASSIFY_DEAD_LETTER,
        }
    }
}

impl AlertKey {
    pub fn per_alert(family: PerAlert, alert_id: &str) -> Self {
        AlertKey::PerAlert {
            family,
            alert_id: alert_id.to_owned(),
        }
    }

    pub fn per_output(family: PerOutput, alert_id: &str, output: &str) -> Self {
        AlertKey::PerOutput {
            family,
            alert_id: alert_id.to_owned(),
            output: output.to_owned(),
        }
    }

    /// `alert_id` due at `at` (a time before the epoch as 0, as it is stored).
    pub fn due(at: Micros, alert_id: &str) -> Self {
        AlertKey::Due {
            at: at.max(0),
            alert_id: alert_id.to_owned(),
        }
    }

    /// `alert`'s entry in `index`.
    pub fn rule_index(index: RuleIndex, alert: &Alert) -> Self {
        AlertKey::RuleIndex {
            index,
            rule: alert.rule_name.clone(),
            created: alert.created.max(0),
            alert_id: alert.alert_id.clone(),
        }
    }

    pub fn window(window: Window, rule: &str, digest: &str) -> Self {
        AlertKey::Window {
            window,
            rule: rule.to_owned(),
            digest: digest.to_owned(),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        match self {
            AlertKey::PerAlert { family, alert_id } => {
                KeyBytes::new(family.text()).text(alert_id).done()
            }
            AlertKey::PerOutput {
                family,
                alert_id,
                output,
            } => KeyBytes::new(family.text())
                .text(alert_id)
                .byte(b'/')
                .text(output)
                .done(),
            AlertKey::Due { at, alert_id } => KeyBytes::new(DUE)
                .micros(*at)
                .byte(b'/')
                .text(alert_id)
                .done(),
            AlertKey::RuleIndex {
                index,
                rule,
                created,
                alert_id,
            } => KeyBytes::new(index.text())
                .text(rule)
                .byte(b'/')
                .micros(*created)
                .byte(b'/')
                .text(alert_id)
                .done(),
            AlertKey::Window {
                window,
                rule,
                digest,
            } => KeyBytes::new(window.text())
                .text(rule)
                .byte(b'/')
                .text(digest)
                .done(),
            AlertKey::ClassifyDeadLetter(id) => {
                KeyBytes::new(CLASSIFY_DEAD_LETTER).text(id.as_str()).done()
            }
        }
    }

    pub fn decode(key: &[u8]) -> Result<Self, KeyError> {
        let d = Decoding::new(Keyspace::Alerts, key);
        let (family, rest) = d.family(&Family::ALL, Family::text)?;
        Ok(match family {
            Family::PerAlert(family) => AlertKey::PerAlert {
                family,
                alert_id: d.non_empty(rest, "alert id")?,
            },
            Family::PerOutput(family) => {
                let (alert_id, output) = d.split_first(rest, "'/' after the alert id")?;
                AlertKey::PerOutput {
                    family,
                    alert_id: d.non_empty(alert_id, "alert id")?,
                    output: d.non_empty(output, "output")?,
                }
            }
            Family::Due => {
                let (at, alert_id) = d.split_first(rest, "'/' after the due time")?;
                AlertKey::Due {
                    at: d.micros(at, "due time")?,
                    alert_id: d.non_empty(alert_id, "alert id")?,
                }
            }
            Family::RuleIndex(index) => {
                let (head, alert_id) = d.split_last(rest, "'/' before the alert id")?;
                let (rule, created) = d.split_last(head, "'/' before the creation time")?;
                AlertKey::RuleIndex {
                    index,
                    rule: d.non_empty(rule, "rule")?,
                    created: d.micros(created, "creation time")?,
                    alert_id: d.non_empty(alert_id, "alert id")?,
                }
            }
            Family::Window(window) => {
                let (rule, digest) = d.split_last(rest, "'/' before the values digest")?;
                AlertKey::Window {
                    window,
                    rule: d.non_empty(rule, "rule")?,
                    digest: d.non_empty(digest, "values digest")?,
                }
            }
            Family::ClassifyDeadLetter => {
                AlertKey::ClassifyDeadLetter(DeadLetterId::parse(rest).map_err(|p| d.error(p))?)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::testing::{assert_refused, assert_round_trips};

    const ID: &str = "3f0c2a4e-1b2c-4d3e-8f40-5a6b7c8d9e0f";
    const DIGEST: &str = "00112233445566778899aabbccddeeff";

    fn text(key: &AlertKey) -> String {
        String::from_utf8(key.encode()).unwrap()
    }

    /// One key of every family, with the bytes sa has always stored it under.
    fn pinned() -> Vec<(AlertKey, String)> {
        let mut pinned = Vec::new();
        for (family, prefix) in [
            (PerAlert::Record, "alert/"),
            (PerAlert::Pending, "pending/"),
            (PerAlert::Merged, "merged/"),
            (PerAlert::SendFirst, "sendfirst/"),
            (PerAlert::Suppressed, "suppressed/"),
        ] {
            pinned.push((AlertKey::per_alert(family, ID), format!("{prefix}{ID}")));
        }
        for (family, prefix) in [
            (PerOutput::Sent, "sent/"),
            (PerOutput::Attempt, "attempt/"),
            (PerOutput::DeadLetter, "deadletter/output/"),
        ] {
            pinned.push((
                AlertKey::per_output(family, ID, "slack:sec/ops"),
                format!("{prefix}{ID}/slack:sec/ops"),
            ));
        }
        pinned.push((
            AlertKey::due(1_700_000_000_000_123, ID),
            format!("due/00001700000000000123/{ID}"),
        ));
        for (index, prefix) in [(RuleIndex::Merge, "merge/"), (RuleIndex::ByRule, "byrule/")] {
            pinned.push((
                AlertKey::RuleIndex {
                    index,
                    rule: "root_login".into(),
                    created: 1_700_000_000_000_001,
                    alert_id: ID.into(),
                },
                format!("{prefix}root_login/00001700000000000001/{ID}"),
            ));
        }
        for (window, prefix) in [(Window::SendFirst, "window/"), (Window::Dedup, "dedup/")] {
            pinned.push((
                AlertKey::window(window, "root_login", DIGEST),
                format!("{prefix}root_login/{DIGEST}"),
            ));
        }
        pinned.push((
            AlertKey::ClassifyDeadLetter(DeadLetterId::new(1_700_000_000_000_123, 3, 42)),
            "deadletter/classify/00001700000000000123-3-000000000042".into(),
        ));
        pinned
    }

    #[test]
    fn every_family_encodes_to_the_bytes_stored_today() {
        let pinned = pinned();
        assert_eq!(pinned.len(), Family::ALL.len());
        for (key, bytes) in pinned {
            assert_eq!(text(&key), bytes);
        }
    }

    #[test]
    fn every_family_decodes_what_it_encodes() {
        let mut keys: Vec<AlertKey> = pinned().into_iter().map(|(key, _)| key).collect();
        keys.extend([
            AlertKey::due(0, ID),
            AlertKey::due(Micros::MAX, ID),
            AlertKey::RuleIndex {
                index: RuleIndex::ByRule,
                rule: "a/b".into(),
                created: 0,
                alert_id: ID.into(),
            },
            AlertKey::RuleIndex {
                index: RuleIndex::Merge,
                rule: "a".into(),
                created: Micros::MAX,
                alert_id: ID.into(),
            },
            // written when the work list counted milliseconds
            AlertKey::decode(format!("due/00000001700000000123/{ID}").as_bytes()).unwrap(),
            AlertKey::window(Window::Dedup, "a/b", DIGEST),
            AlertKey::per_output(PerOutput::Sent, ID, "a/b/c"),
            // written before the sequence had 12 digits
            AlertKey::ClassifyDeadLetter(
                DeadLetterId::parse("00000001700000000123-1-000007").unwrap(),
            ),
        ]);
        assert_round_trips(keys, AlertKey::encode, AlertKey::decode);
    }

    #[test]
    fn an_alerts_creation_time_is_indexed_in_microseconds_and_never_below_zero() {
        let mut alert = crate::test_alert("root_login", 1_700_000_000_000_001);
        assert_eq!(
            text(&AlertKey::rule_index(RuleIndex::ByRule, &alert)),
            format!("byrule/root_login/00001700000000000001/{}", alert.alert_id)
        );
        alert.created = -5;
        let key = AlertKey::rule_index(RuleIndex::Merge, &alert);
        assert_eq!(
            text(&key),
            format!("merge/root_login/00000000000000000000/{}", alert.alert_id)
        );
        assert_eq!(
            AlertKey::decode(&key.encode()),
            Ok(key),
            "stored as 0, read as 0"
        );
        let due = AlertKey::due(-5, ID);
        assert_eq!(due, AlertKey::due(0, ID));
        assert_eq!(text(&due), format!("due/00000000000000000000/{ID}"));
        assert_eq!(
            DeadLetterId::new(-5, 1, 2).as_str(),
            "00000000000000000000-1-000000000002"
        );
    }

    #[test]
    fn due_times_creation_times_and_arrivals_share_the_unit() {
        let alert = crate::test_alert("root_login", 1_700_000_000_123_456);
        let indexed = AlertKey::rule_index(RuleIndex::ByRule, &alert);
        // due at its creation time: the same 20 digits in both keys
        let due = AlertKey::due(alert.created, &alert.alert_id);
        assert_eq!(
            text(&due),
            format!("due/00001700000000123456/{}", alert.alert_id)
        );
        assert!(text(&indexed).contains("/00001700000000123456/"));
        let (AlertKey::Due { at, .. }, AlertKey::RuleIndex { created, .. }) = (
            AlertKey::decode(&due.encode()).unwrap(),
            AlertKey::decode(&indexed.encode()).unwrap(),
        ) else {
            panic!("decoded into another family");
        };
        assert_eq!(at, created);
        assert_eq!(at, alert.created);

        // the work list counts the same µs: due at `created`, not a microsecond before
        assert!(due.encode() < due_until(alert.created));
        assert!(due.encode() >= due_until(alert.created - 1));
        // one millisecond later is 1000 of them, not 1
        let a_ms_later = AlertKey::due(alert.created + 1_000, &alert.alert_id).encode();
        assert!(a_ms_later >= due_until(alert.created + 999));
        assert!(a_ms_later < due_until(alert.created + 1_000));

        // scanning the index from `created` finds it; from a µs later, not
        let from = |since| RuleIndex::ByRule.rule_from("root_login", since);
        assert!(indexed.encode() >= from(alert.created));
        assert!(indexed.encode() < from(alert.created + 1));

        // a record dead-lettered as the alert was created carries the same number
        let dead = DeadLetterId::new(alert.created, 1, 0);
        assert!(dead.as_str().starts_with("00001700000000123456-"));
    }

    #[test]
    fn malformed_keys_are_refused_with_the_keyspace_and_the_bytes() {
        assert_refused(
            Keyspace::Alerts,
            AlertKey::decode,
            &[
                (&b"unknown/x"[..], KeyProblem::UnknownFamily),
                (b"alert/", KeyProblem::Empty("alert id")),
                (b"alert/\xff", KeyProblem::NotUtf8),
                (b"sent/abc", KeyProblem::Missing("'/' after the alert id")),
                (b"due/17/abc", KeyProblem::BadNumber("due time")),
                (
                    b"due/09223372036854775808/abc",
                    KeyProblem::TimeOutOfRange("due time"),
                ),
                (
                    b"byrule/rule/18446744073709551615/abc",
                    KeyProblem::TimeOutOfRange("creation time"),
                ),
                (
                    b"due/00000001700000000123",
                    KeyProblem::Missing("'/' after the due time"),
                ),
                (
                    b"byrule/rule/123/abc",
                    KeyProblem::BadNumber("creation time"),
                ),
                (
                    b"merge/00000001700000000123/abc",
                    KeyProblem::Missing("'/' before the creation time"),
                ),
                (
                    b"window/digest",
                    KeyProblem::Missing("'/' before the values digest"),
                ),
                (b"deadletter/classify/17-1-2", KeyProblem::DeadLetterId),
                (
                    b"deadletter/classify/00000001700000000123-1",
                    KeyProblem::DeadLetterId,
                ),
                (
                    b"deadletter/classify/00000001700000000123-x-1",
                    KeyProblem::DeadLetterId,
                ),
            ],
        );
        let error = AlertKey::decode(b"due/x/y").unwrap_err();
        assert_eq!(
            error.to_string(),
            "malformed alerts key \"due/x/y\": its due time is not 20 decimal digits of a u64"
        );
    }

    #[test]
    fn the_work_list_sorts_by_due_time_and_stops_at_now() {
        let entries = [
            (5, "b"),
            (1_000, "a"),
            (5, "a"),
            (999, "z"),
            (0, "q"),
            (10_000, "a"),
        ];
        let mut encoded: Vec<Vec<u8>> = entries
            .iter()
            .map(|&(at, id)| AlertKey::due(at, id).encode())
            .collect();
        encoded.sort();
        let decoded: Vec<(Micros, String)> = encoded
            .iter()
            .map(|key| match AlertKey::decode(key).unwrap() {
                AlertKey::Due { at, alert_id } => (at, alert_id),
                other => panic!("{other:?}"),
            })
            .collect();
        let mut expected: Vec<(Micros, String)> = entries
            .iter()
            .map(|&(at, id)| (at, id.to_owned()))
            .collect();
        expected.sort();
        assert_eq!(decoded, expected);
        let bound = due_until(999);
        assert_eq!(bound, b"due/00000000000000001000");
        let due: Vec<Micros> = expected
            .iter()
            .filter(|(at, id)| AlertKey::due(*at, id).encode() < bound)
            .map(|(at, _)| *at)
            .collect();
        assert_eq!(due, [0, 5, 5, 999]);
        assert!(encoded.iter().all(|key| key.starts_with(DUE_PREFIX)));
    }

    #[test]
    fn rule_indexes_sort_by_rule_then_creation_time_and_scan_from_a_time() {
        let entry = |rule: &str, created, id: &str| AlertKey::RuleIndex {
            index: RuleIndex::ByRule,
            rule: rule.into(),
            created,
            alert_id: id.into(),
        };
        let mut keys = vec![
            entry("a", 1_700_000_000_000_000, "x"),
            entry("a", 999, "y"),
            entry("a", 1_000, "a"),
            entry("a/b", 5, "z"),
            entry("ab", 1, "w"),
            entry("b", 0, "v"),
        ];
        let mut encoded: Vec<Vec<u8>> = keys.iter().map(AlertKey::encode).collect();
        encoded.sort();
        let decoded: Vec<AlertKey> = encoded
            .iter()
            .map(|key| AlertKey::decode(key).unwrap())
            .collect();
        keys.sort_by_key(|key| match key {
            AlertKey::RuleIndex { rule, created, .. } => (rule != "a", rule.clone(), *created),
            _ => unreachable!(),
        });
        assert_eq!(decoded, keys, "rule a's entries come first, oldest first");

        // rule a's entries from 1000 on: the scan starts there and stops at the prefix's end;
        // the decoded rule tells rule "a/b" apart
        let prefix = RuleIndex::ByRule.rule_prefix("a");
        let from = RuleIndex::ByRule.rule_from("a", 1_000);
        assert_eq!(from, b"byrule/a/00000000000000001000/");
        let scanned: Vec<AlertKey> = decoded
            .iter()
            .zip(&encoded)
            .filter(|(_, key)| key.starts_with(&prefix) && key.as_slice() >= from.as_slice())
            .map(|(key, _)| key.clone())
            .collect();
        assert_eq!(scanned.len(), 3, "{scanned:?}");
        let of_a: Vec<Micros> = scanned
            .into_iter()
            .filter_map(|key| match key {
                AlertKey::RuleIndex { rule, created, .. } if rule == "a" => Some(created),
                _ => None,
            })
            .collect();
        assert_eq!(of_a, [1_000, 1_700_000_000_000_000]);
    }

    #[test]
    fn classify_dead_letters_sort_by_arrival() {
        let ids = [
            DeadLetterId::new(2_000, 1, 0),
            DeadLetterId::new(1_000, 2, 7),
            DeadLetterId::new(1_000, 1, 9),
            DeadLetterId::new(10_000, 1, 1),
            // stored when the arrival counted milliseconds: before any arrival in µs since
            DeadLetterId::parse("00000001700000000123-1-000007").unwrap(),
            DeadLetterId::new(1_700_000_000_123_000, 1, 0),
        ];
        let mut encoded: Vec<Vec<u8>> = ids
            .iter()
            .map(|id| AlertKey::ClassifyDeadLetter(id.clone()).encode())
            .collect();
        encoded.sort();
        let order: Vec<DeadLetterId> = encoded
            .iter()
            .map(|key| match AlertKey::decode(key).unwrap() {
                AlertKey::ClassifyDeadLetter(id) => id,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            order,
            [&ids[2], &ids[1], &ids[0], &ids[3], &ids[4], &ids[5]].map(Clone::clone)
        );
    }

    #[test]
    fn a_family_prefix_scans_its_own_family_only() {
        let mut keys: Vec<AlertKey> = pinned().into_iter().map(|(key, _)| key).collect();
        // ids and names that extend one another
        keys.extend([
            AlertKey::per_alert(PerAlert::Record, "a"),
            AlertKey::per_alert(PerAlert::Record, "ab"),
            AlertKey::per_output(PerOutput::Sent, "a", "x"),
            AlertKey::per_output(PerOutput::Sent, "ab", "x"),
        ]);
        let encoded: Vec<Vec<u8>> = keys.iter().map(AlertKey::encode).collect();
        let under = |prefix: &[u8]| -> Vec<&AlertKey> {
            keys.iter()
                .zip(&encoded)
                .filter(|(_, key)| key.starts_with(prefix))
                .map(|(key, _)| key)
                .collect()
        };
        for family in Family::ALL {
            for key in under(family.text().as_bytes()) {
                let same = match (family, key) {
                    (Family::PerAlert(f), AlertKey::PerAlert { family, .. }) => f == *family,
                    (Family::PerOutput(f), AlertKey::PerOutput { family, .. }) => f == *family,
                    (Family::Due, AlertKey::Due { .. }) => true,
                    (Family::RuleIndex(i), AlertKey::RuleIndex { index, .. }) => i == *index,
                    (Family::Window(w), AlertKey::Window { window, .. }) => w == *window,
                    (Family::ClassifyDeadLetter, AlertKey::ClassifyDeadLetter(_)) => true,
                    _ => false,
                };
                assert!(same, "{family:?} picks up {key:?}");
            }
        }
        assert_eq!(
            under(&PerOutput::Sent.alert_prefix("a")),
            [&AlertKey::per_output(PerOutput::Sent, "a", "x")]
        );
        assert_eq!(
            under(PerAlert::Merged.prefix()).len(),
            1,
            "merge/ is not merged/"
        );
        assert_eq!(
            under(RuleIndex::Merge.prefix()).len(),
            1,
            "merged/ is not merge/"
        );
        assert_eq!(under(PerAlert::Record.prefix()).len(), 3);
    }
}
