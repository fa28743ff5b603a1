//! What the rules thread found in a batch, before it becomes alerts (docs/spec §10).
//!
//! The rules thread only does what needs the interpreter: it returns the batch with the rule
//! hits (and their Python results already converted). Building the alerts and copying the
//! records that fired happen on the caller's thread, so the one thread that runs Python spends
//! its time on Python.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

use sa_engine::ClassifiedRecord;
use serde_json::{Map, Value};

use crate::alert::{Alert, alert_id_for, new_alert_id};
use crate::clock::Clock;
use crate::engine::{BatchOutcome, RuleFailure};
use crate::error::RulesError;
use crate::rule_catalog::RuleInfo;

/// A rule that fired on a record.
#[derive(Debug)]
pub(crate) struct RuleHit {
    /// Position of the record in the batch.
    pub record: usize,
    /// Index of the rule in the registry.
    pub rule: usize,
    /// Outputs and publishers computed for this alert; `None` when they are the rule's static
    /// ones.
    pub routing: Option<(BTreeSet<String>, Option<Value>)>,
    pub context: Map<String, Value>,
    pub staged: bool,
}

/// A rule, matcher or dynamic-output function that raised on a record.
#[derive(Debug)]
pub(crate) struct RuleError {
    pub record: usize,
    pub rule: usize,
    pub stage: String,
    pub message: String,
}

/// A batch after its rules ran: the records, and which rules fired or raised on which.
#[derive(Debug)]
pub struct Evaluation {
    pub(crate) records: Arc<Vec<ClassifiedRecord>>,
    /// In record order, then registry order.
    pub(crate) hits: Vec<RuleHit>,
    /// In record order.
    pub(crate) errors: Vec<RuleError>,
    pub(crate) rules: Arc<[RuleInfo]>,
    pub(crate) clock: Clock,
    pub(crate) records_evaluated: usize,
    pub(crate) rule_calls: usize,
}

impl Evaluation {
    /// The alerts and failures of the batch. Alerts own copies of the records that fired; when
    /// nobody else holds the batch, each record moves into its last alert instead, and the
    /// others are dropped here.
    pub fn into_outcome(self) -> Result<BatchOutcome, RulesError> {
        match Arc::try_unwrap(self.records) {
            Ok(records) => Self::outcome(
                records.into_iter().map(Cow::Owned),
                self.hits,
                self.errors,
                &self.rules,
                self.clock,
                (self.records_evaluated, self.rule_calls),
            ),
            Err(shared) => Self::outcome(
                shared.iter().map(Cow::Borrowed),
                self.hits,
                self.errors,
                &self.rules,
                self.clock,
                (self.records_evaluated, self.rule_calls),
            ),
        }
    }

    fn outcome<'r>(
        records: impl Iterator<Item = Cow<'r, ClassifiedRecord>>,
        hits: Vec<RuleHit>,
        errors: Vec<RuleError>,
        rules: &[RuleInfo],
        clock: Clock,
        (records_evaluated, rule_calls): (usize, usize),
    ) -> Result<BatchOutcome, RulesError> {
        let mut outcome = BatchOutcome {
            records_evaluated,
            rule_calls,
            ..BatchOutcome::default()
        };
        let mut hits = hits.into_iter().peekable();
        let mut errors = errors.into_iter().peekable();
        for (index, mut classified) in records.enumerate() {
            while let Some(error) = errors.next_if(|error| error.record == index) {
                outcome
                    .failures
                    .push(failure(&rules[error.rule], error, &classified));
            }
            while let Some(hit) = hits.next_if(|hit| hit.record == index) {
                let rule = &rules[hit.rule];
                let (outputs, publishers) = match (hit.routing, &rule.static_routing) {
                    (Some(routing), _) => routing,
                    (None, Some(routing)) => routing.clone(),
                    (None, None) => {
                        return Err(RulesError::NoOutputs(rule.name.clone()));
                    }
                };
                let last = hits.peek().is_none_or(|next| next.record != index);
                let record = if last {
                    take_record(&mut classified)
                } else {
                    classified.record.clone()
                };
                outcome.alerts.push(Alert {
                    rule_name: rule.name.clone(),
                    alert_id: if classified.origin.is_empty() {
                        new_alert_id()
                    } else {
                        alert_id_for(&rule.name, &classified.origin)
                    },
                    record,
                    outputs,
                    outputs_sent: BTreeSet::new(),
                    attempts: 0,
                    cluster: non_empty(&classified.cluster),
                    context: hit.context,
                    created: clock.now(),
                    dispatched: 0,
                    log_source: non_empty(&classified.log_type),
                    log_type: non_empty(&classified.data_type),
                    merge_by_keys: rule.merge_by_keys.clone(),
                    merge_window_mins: rule.merge_window_mins,
                    policy: rule.policy.clone(),
                    publishers,
                    rule_description: non_empty(&rule.description),
                    source_entity: non_empty(&classified.resource),
                    source_service: non_empty(&classified.service),
                    staged: hit.staged,
                });
            }
        }
        Ok(outcome)
    }
}

/// The record of an owned batch moves into its last alert; a shared one is copied.
fn take_record(classified: &mut Cow<'_, ClassifiedRecord>) -> Map<String, Value> {
    match classified {
        Cow::Owned(owned) => std::mem::take(&mut owned.record),
        Cow::Borrowed(shared) => shared.record.clone(),
    }
}

/// docs/spec §9.7: logged with the record, counted, not fatal. The alert carries the record as classified
/// (and enriched), not as the rule may have mutated it: docs/spec Appendix D #13's copy-on-alert choice.
fn failure(rule: &RuleInfo, error: RuleError, classified: &ClassifiedRecord) -> RuleFailure {
    let record_json = Value::Object(classified.record.clone());
    tracing::warn!(
        rule = %rule.name, stage = %error.stage, log_type = %classified.log_type,
        record = %record_json, "rule {} raised: {}", error.stage, error.message
    );
    RuleFailure {
        rule: rule.name.clone(),
        stage: error.stage,
        message: error.message,
        log_type: classified.log_type.clone(),
        record: classified.record.clone(),
    }
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}
