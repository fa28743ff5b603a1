//! The loaded rules as Rust sees them: what to pre-filter on (compat §9.3 logs filter, §9.5
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
    /// resolved once at load (§9.8, §9.10).
    pub static_routing: Option<(BTreeSet<String>, Option<Value>)>,
}

impl RuleInfo {
    /// §9.5: each top key holds an object that has every listed sub key.
    pub fn has_required_subkeys(&self, record: &Map<String, Value>) -> bool {
        self.req_subkeys
            .iter()
            .all(|(top, subs)| match record.get(top) {
                Some(Value::Object(inner)) => subs.iter().all(|sub| inner.contains_key(sub)),
                _ => false,
            })
    }
}

/// The registry in evaluation order, with the per-log-type candidate lists cached.
#[derive(Debug, Default)]
pub struct RuleCatalog {
    rules: Arc<[RuleInfo]>,
    by_log_type: HashMap<String, Arc<[usize]>>,
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

    /// Enabled rules whose `logs` accept `log_type`, in registry order.
    pub fn for_log_type(&mut self, log_type: &str) -> Arc<[usize]> {
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
        self.by_log_type
            .insert(log_type.to_owned(), indices.clone());
        indices
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
        assert_eq!(&*catalog.for_log_type("cloudwatch:events"), &[0, 1, 2]);
        assert_eq!(&*catalog.for_log_type("cloudwatch"), &[1, 2]);
        assert_eq!(&*catalog.for_log_type("osquery:differential"), &[1]);
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
