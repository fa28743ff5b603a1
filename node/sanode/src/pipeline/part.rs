//! A part of a batch on its way through the actors, and what it became. A large batch goes
//! through in parts of at most `part_payloads` payloads (see [`super::PipelineOptions`]): a
//! part's rules run while the next part is classified, and its records reach the rules thread
//! while they are still in cache. The commit actor puts the parts back together.

use std::collections::BTreeMap;
use std::sync::Arc;

use sa_engine::classifier::CandidateFailure;
use sa_engine::{ClassifiedRecord, DeadLetter};
use sa_rules::{Alert, RuleFailure};

use super::batch::{SourceBatch, payload_origin};
use super::detection::BatchError;
use super::ticket::BatchTicket;

pub struct Part {
    pub ticket: Arc<BatchTicket>,
    /// The part's place in its batch.
    pub index: usize,
    pub payloads: Arc<SourceBatch>,
}

/// What one part became.
#[derive(Debug, Default)]
pub struct PartReport {
    pub classified: usize,
    pub classified_by_type: BTreeMap<String, u64>,
    pub alerts: Vec<Alert>,
    /// Its unclassified payloads, then its records the rules could not evaluate.
    pub dead_letters: Vec<DeadLetter>,
    pub rule_failures: Vec<RuleFailure>,
    /// The actor that crashed on the part on every attempt (the part was dead-lettered).
    pub gave_up: Option<&'static str>,
}

pub type PartOutcome = Result<PartReport, BatchError>;

impl PartReport {
    /// A classified part: its records are counted here and go on to the rules.
    pub fn classified(records: &[ClassifiedRecord], dead_letters: Vec<DeadLetter>) -> Self {
        let mut report = PartReport {
            classified: records.len(),
            dead_letters,
            ..PartReport::default()
        };
        for record in records {
            *report
                .classified_by_type
                .entry(record.log_type.clone())
                .or_insert(0) += 1;
        }
        report
    }
}

/// The payloads of a part `actor` kept crashing on, as dead letters with the reason.
pub fn unclassified(batch: &SourceBatch, actor: &str, reason: &str) -> Vec<DeadLetter> {
    batch
        .payloads
        .iter()
        .map(|payload| DeadLetter {
            cluster: String::new(),
            service: batch.service.clone(),
            resource: batch.resource.clone(),
            log_type: None,
            record: payload.body.raw_string(),
            failures: vec![CandidateFailure::new(actor, reason)],
            origin: payload
                .position
                .as_deref()
                .map(|position| payload_origin(&batch.service, &batch.resource, position))
                .unwrap_or_default(),
        })
        .collect()
}

/// Classified records the rules actor kept crashing on, as dead letters with the reason.
pub fn unevaluated(records: &[ClassifiedRecord], reason: &str) -> Vec<DeadLetter> {
    records
        .iter()
        .map(|record| DeadLetter {
            cluster: record.cluster.clone(),
            service: record.service.clone(),
            resource: record.resource.clone(),
            log_type: Some(record.log_type.clone()),
            record: serde_json::Value::Object(record.record.clone()).to_string(),
            failures: vec![CandidateFailure::new(record.log_type.clone(), reason)],
            origin: record.origin.clone(),
        })
        .collect()
}
