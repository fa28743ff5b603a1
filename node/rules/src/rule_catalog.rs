//! The loaded rules as Rust sees them: what to pre-filter on (docs/spec §9.3 logs filter, §9.5
//! req_subkeys) without calling into Python.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value};

/// Which log types a rule runs on (`logs=` with Python `in` semantics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogsFilter {
    /// `logs=None` (a datatypes-only rule): every record.
    All,
    Names(Vec<String>),
    /// `logs='some string'`: Python's `in` is then a substring test.
    Substring(String),
}

impl LogsFilter {
    pub fn accepts(&self, log_type: &str) -> bool {
        match self {
            LogsFilter::All => true,
            LogsFilter::Names(names) => names.iter().any(|name| name == log_type),
            LogsFilter::Substring(text) => text.contains(log_type),
        }
    }
}

/// One registered rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    pub name: String,
    pub logs: LogsFilter,
    /// `(top key, sub keys)` pairs, in declaration order.
    pub req_subkeys: Vec<(String, Vec<String>)>,
    pub disabled: bool,
    pub description: String,
    pub merge_by_keys: Vec<String>,
    pub merge_window_mins: u64,
    pub policy: crate::alert::AlertPolicy,
    /// The rule function's file (relative to the repository root) and first line.
    pub file: String,
    pub line: u32,
    /// Outputs and publishers of every unstaged alert of a rule without dynamic outputs,
    /// resolved once at load (docs/spec §9.8, §9.10).
    pub static_routing: Option<(BTreeSet<String>, Option<Value>)>,
    /// The top-level record keys the rule, its matchers and dynamic outputs can read, found
    /// from their source (`_sa_record_keys.py`); `None` when they may read the whole record.
    pub record_keys: Option<Vec<String>>,
}

impl RuleInfo {
    /// docs/spec §9.5: each top key holds an object that has every listed sub key.
    pub fn has_required_subkeys(&self, record: &Map<String, Value>) -> bool {
        self.req_subkeys
            .iter()
            .all(|(top, subs)| match record.get(top) {
                Some(Value::Object(inner)) => subs.iter().all(|sub| inner.contains_key(sub)),
                _ => false,
            })
    }
}

/// What the rules of one log type are given of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordView {
    Whole,
    /// These top-level keys (those the record has), each with its whole value: no rule of the
    /// log type can read any other.
    Keys(Arc<[String]>),
}

/// The rules that run on one log type and the part of its records they need.
#[derive(Debug, Clone)]
pub struct LogTypeRules {
    /// Enabled rules whose `logs` accept the log type, in registry order.
    pub rules: Arc<[usize]>,
    pub view: RecordView,
}

/// The registry in evaluation order, with the per-log-type candidate lists cached.
#[derive(Debug, Default)]
pub struct RuleCatalog {
    rules: Arc<[RuleInfo]>,
    by_log_type: HashMap<String, LogTypeRules>,
}

impl RuleCatalog {
    pub fn new(rules: Vec<RuleInfo>) -> Self {
        RuleCatalog {
            rules: rules.into(),
            by_log_type: HashMap::new(),
        }
    }

    pub fn rules(&self) -> &[RuleInfo] {
        &self.rules
    }

    /// The rules, shared with whoever turns rule hits into alerts off the rules thread.
    pub fn shared(&self) -> Arc<[RuleInfo]> {
        self.rules.clone()
    }

    pub fn get(&self, index: usize) -> &RuleInfo {
        &self.rules[index]
    }

    pub fn find(&self, name: &str) -> Option<&RuleInfo> {
        self.rules.iter().find(|rule| rule.name == name)
    }

    pub fn disabled_names(&self) -> impl Iterator<Item = &str> {
        self.rules
            .iter()
            .filter(|rule| rule.disabled)
            .map(|rule| rule.name.as_str())
    }

    /// The enabled rules whose `logs` accept `log_type`, and the view of the record that
    /// serves them all.
    pub fn for_log_type(&mut self, log_type: &str) -> LogTypeRules {
        if let Some(cached) = self.by_log_type.get(log_type) {
            return cached.clone();
        }
        let indices: Arc<[usize]> = self
            .rules
            .iter()
            .enumerate()
            .filter(|(_, rule)| !rule.disabled && rule.logs.accepts(log_type))
            .map(|(index, _)| index)
            .collect();
        let mut keys = BTreeSet::new();
        let mut view_of_keys = true;
        for &index in indices.iter() {
            match &self.rules[index].record_keys {
                Some(read) => keys.extend(read.iter().cloned()),
                None => view_of_keys = false,
            }
        }
        let entry = LogTypeRules {
            rules: indices,
            view: if view_of_keys {
                RecordView::Keys(keys.into_iter().collect())
            } else {
                RecordView::Whole
            },
        };
        self.by_log_type.insert(log_type.to_owned(), entry.clone());
        entry
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(name: &str, logs: LogsFilter, disabled: bool) -> RuleInfo {
        RuleInfo {
            name: name.into(),
            logs,
            req_subkeys: vec![("detail".into(), vec!["eventName".into()])],
            disabled,
            description: String::new(),
            merge_by_keys: vec![],
            merge_window_mins: 0,
            policy: Default::default(),
            file: String::new(),
            line: 0,
            static_routing: None,
            record_keys: None,
        }
    }

    #[test]
    fn candidates_follow_logs_with_python_in_semantics_and_skip_disabled_rules() {
        let mut catalog = RuleCatalog::new(vec![
            rule(
                "a",
                LogsFilter::Names(vec!["cloudwatch:events".into()]),
                false,
            ),
            rule("b", LogsFilter::All, false),
            rule(
                "c",
                LogsFilter::Substring("cloudwatch:events".into()),
                false,
            ),
            rule("d", LogsFilter::All, true),
        ]);
        assert_eq!(
            &*catalog.for_log_type("cloudwatch:events").rules,
            &[0, 1, 2]
        );
        assert_eq!(&*catalog.for_log_type("cloudwatch").rules, &[1, 2]);
        assert_eq!(&*catalog.for_log_type("osquery:differential").rules, &[1]);
    }

    #[test]
    fn a_log_type_gets_the_keys_its_rules_read_unless_one_may_read_the_whole_record() {
        let reading = |name: &str, logs: &str, keys: Option<&[&str]>, disabled: bool| RuleInfo {
            record_keys: keys.map(|keys| keys.iter().map(|key| key.to_string()).collect()),
            ..rule(name, LogsFilter::Names(vec![logs.into()]), disabled)
        };
        let mut catalog = RuleCatalog::new(vec![
            reading(
                "a",
                "cloudtrail:events",
                Some(&["eventName", "userIdentity"]),
                false,
            ),
            reading(
                "b",
                "cloudtrail:events",
                Some(&["errorCode", "eventName"]),
                false,
            ),
            reading("c", "cloudtrail:events", None, true),
            reading("d", "osquery:differential", Some(&["name"]), false),
            reading("e", "osquery:differential", None, false),
            reading("f", "okta:systemlog", Some(&[]), false),
        ]);
        let keys =
            |names: &[&str]| RecordView::Keys(names.iter().map(|name| name.to_string()).collect());
        assert_eq!(
            catalog.for_log_type("cloudtrail:events").view,
            keys(&["errorCode", "eventName", "userIdentity"]),
            "a disabled rule does not run, so its needs do not count"
        );
        assert_eq!(
            catalog.for_log_type("osquery:differential").view,
            RecordView::Whole
        );
        assert_eq!(catalog.for_log_type("okta:systemlog").view, keys(&[]));
        assert_eq!(catalog.for_log_type("unknown").view, keys(&[]));
    }

    #[test]
    fn required_subkeys_need_an_object_with_every_key_even_null_valued() {
        let info = rule("a", LogsFilter::All, false);
        let record = |v: Value| v.as_object().unwrap().clone();
        assert!(info.has_required_subkeys(&record(json!({"detail": {"eventName": null}}))));
        assert!(!info.has_required_subkeys(&record(json!({"detail": {"other": 1}}))));
        assert!(!info.has_required_subkeys(&record(json!({"detail": "eventName"}))));
        assert!(!info.has_required_subkeys(&record(json!({}))));
    }
}
