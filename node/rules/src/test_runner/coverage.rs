//! `--coverage`: which rules the test events exercise, positively (expected to fire) and
//! negatively (run on a record of their log type without being expected to fire).

use std::collections::BTreeMap;

use super::runner::EventResult;
use crate::rule_catalog::RuleCatalog;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleCoverage {
    pub positive: usize,
    pub negative: usize,
}

impl RuleCoverage {
    pub fn total(&self) -> usize {
        self.positive + self.negative
    }
}

/// Per enabled rule, in registry order once finished.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    by_rule: BTreeMap<String, RuleCoverage>,
    order: Vec<String>,
}

impl Coverage {
    pub(crate) fn record(&mut self, catalog: &RuleCatalog, result: &EventResult) {
        if !result.ran_rules {
            return;
        }
        let Some(log_type) = result.classified_as.as_deref() else {
            return;
        };
        for rule in catalog.rules().iter().filter(|rule| !rule.disabled) {
            let entry = self.by_rule.entry(rule.name.clone()).or_default();
            if result.expected.contains(&rule.name) {
                entry.positive += 1;
            } else if rule.logs.accepts(log_type) {
                entry.negative += 1;
            }
        }
    }

    pub(crate) fn finish(&mut self, catalog: &RuleCatalog) {
        self.order = catalog
            .rules()
            .iter()
            .filter(|rule| !rule.disabled)
            .map(|rule| rule.name.clone())
            .collect();
        for name in &self.order {
            self.by_rule.entry(name.clone()).or_default();
        }
    }

    /// Enabled rules with their counts, in registry order.
    pub fn rules(&self) -> impl Iterator<Item = (&str, &RuleCoverage)> {
        self.order
            .iter()
            .map(|name| (name.as_str(), &self.by_rule[name]))
    }

    /// Rules short of `min_tests` events, or (from 2 up) lacking a positive or a negative one,
    /// each with the reason.
    pub fn shortfalls(&self, min_tests: usize) -> Vec<(String, String)> {
        self.rules()
            .filter_map(|(name, coverage)| {
                let mut reasons = Vec::new();
                if coverage.total() < min_tests {
                    reasons.push(format!(
                        "{} test event(s), at least {min_tests} required",
                        coverage.total()
                    ));
                }
                if min_tests >= 2 && coverage.positive == 0 {
                    reasons.push("no event where it fires".to_owned());
                }
                if min_tests >= 2 && coverage.negative == 0 {
                    reasons.push("no event where it must stay quiet".to_owned());
                }
                (!reasons.is_empty()).then(|| (name.to_owned(), reasons.join("; ")))
            })
            .collect()
    }
}
