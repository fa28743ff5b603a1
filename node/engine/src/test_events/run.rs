//! Classifying a prepared test event and judging it (docs/spec §15.4, §15.5 for classification).

use std::fmt;

use crate::classifier::{CandidateFailure, Classifier};
use crate::record::ClassifiedRecord;

use super::prepare::{EventError, PreparedEvent};

/// Why an event did not classify as expected.
#[derive(Debug, Clone, PartialEq)]
pub struct EventFailure {
    pub reason: String,
    /// Why each candidate log type rejected the record, when classification was attempted.
    pub candidates: Vec<CandidateFailure>,
}

impl fmt::Display for EventFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.reason)
    }
}

impl std::error::Error for EventFailure {}

impl EventFailure {
    fn new(reason: impl Into<String>) -> EventFailure {
        EventFailure {
            reason: reason.into(),
            candidates: Vec::new(),
        }
    }
}

/// What a test event classified as: every record the winning log type extracted from the
/// event's payload (a CloudTrail file's `Records`, a CloudWatch Logs batch's `logEvents`), in
/// order.
#[derive(Debug, Clone)]
pub struct ClassifiedEvent {
    /// The event's classified result (docs/spec §15.4 step 2).
    pub first: ClassifiedRecord,
    /// The payload's other records, of the same log type.
    pub rest: Vec<ClassifiedRecord>,
}

impl ClassifiedEvent {
    /// All of them, which the rules run on: StreamAlert's runner gives its rules engine every
    /// record of the classified payload record (its `sqs_messages`), not only the first
    /// (docs/spec §15.4 step 6).
    pub fn into_records(self) -> Vec<ClassifiedRecord> {
        let mut records = Vec::with_capacity(1 + self.rest.len());
        records.push(self.first);
        records.extend(self.rest);
        records
    }
}

/// Classifies a prepared event through the cluster whose `data_sources[service]` lists its
/// `source` (docs/spec §15.4 steps 1–2). The log type is not compared with the expected one
/// here: see [`run_event`].
pub fn classify_event(
    classifier: &Classifier,
    event: &PreparedEvent,
) -> Result<ClassifiedEvent, EventFailure> {
    let spec = &event.spec;
    let classification = classifier
        .classify(&spec.service, &spec.source, event.root.clone())
        .map_err(|e| EventFailure::new(e.to_string()))?;
    let mut records = classification.records.into_iter();
    if let Some(first) = records.next() {
        return Ok(ClassifiedEvent {
            first,
            rest: records.collect(),
        });
    }
    let candidates = classification
        .dead_letters
        .into_iter()
        .flat_map(|d| d.failures)
        .collect();
    Err(EventFailure {
        reason: "the record matches none of the candidate log types".into(),
        candidates,
    })
}

/// The classification verdict on one event.
#[derive(Debug, Clone)]
pub struct EventResult {
    pub prepared: Option<PreparedEvent>,
    /// The first classified record, or why there is none (including event errors).
    pub outcome: Result<ClassifiedRecord, EventFailure>,
    /// When the record classified as another log type: why the expected one rejected it.
    pub expected_rejection: Option<String>,
    /// Other candidate log types that would also accept the record.
    pub also_matching: Vec<String>,
}

impl EventResult {
    /// docs/spec §15.5's classification condition: classified, as the expected log type.
    pub fn passed(&self) -> bool {
        match (&self.outcome, &self.prepared) {
            (Ok(record), Some(prepared)) => record.log_type == prepared.spec.log,
            _ => false,
        }
    }
}

/// Classifies one event and compares the log type with its `log`. When another type wins,
/// [`EventResult::expected_rejection`] says why the expected type did not.
pub fn run_event(
    classifier: &Classifier,
    prepared: Result<PreparedEvent, EventError>,
) -> EventResult {
    let prepared = match prepared {
        Ok(p) => p,
        Err(error) => {
            return EventResult {
                prepared: None,
                outcome: Err(EventFailure::new(error.to_string())),
                expected_rejection: None,
                also_matching: Vec::new(),
            };
        }
    };
    let outcome = classify_event(classifier, &prepared).map(|classified| classified.first);
    let spec = &prepared.spec;
    let matching = classifier
        .matching_log_types(&spec.service, &spec.source, &prepared.root)
        .unwrap_or_default();
    let winner = outcome.as_ref().ok().map(|r| r.log_type.clone());
    let expected_rejection = match &winner {
        Some(actual) if *actual != spec.log => Some(if matching.contains(&spec.log) {
            format!("also matches, but {actual} comes first in priority order")
        } else {
            classifier
                .explain_log_type(&spec.service, &spec.source, &prepared.root, &spec.log)
                .unwrap_or_else(|| {
                    format!(
                        "not a candidate for {}/{} (its data_sources do not list it)",
                        spec.service, spec.source
                    )
                })
        }),
        _ => None,
    };
    let also_matching = matching
        .into_iter()
        .filter(|m| Some(m) != winner.as_ref())
        .collect();
    EventResult {
        prepared: Some(prepared),
        outcome,
        expected_rejection,
        also_matching,
    }
}
