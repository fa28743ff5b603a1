//! What flows through the pipeline: a source's batch of payloads, each with the position it was
//! read from, and what became of the batch.

use std::collections::BTreeMap;

use sa_engine::{DeadLetter, Root};
use sa_rules::Alert;

/// One raw payload and where its source read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    pub root: Root,
    /// Unique within the source and stable across re-reads (a file's inode and byte offset, a
    /// client's batch id and index); `None` when the source cannot tell a replay from new data.
    pub position: Option<String>,
}

impl Payload {
    pub fn at(root: Root, position: String) -> Self {
        Payload {
            root,
            position: Some(position),
        }
    }

    pub fn unplaced(root: Root) -> Self {
        Payload {
            root,
            position: None,
        }
    }
}

/// A source's unit of work: acknowledged (or checkpointed) as a whole once its alerts are
/// committed.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceBatch {
    /// The `data_sources` service (`http`, `file`, ...).
    pub service: String,
    /// The resource under that service the payloads came from.
    pub resource: String,
    pub payloads: Vec<Payload>,
}

/// The origin of the `index`-th record classified out of the payload at `position`; alert ids
/// derive from it, so it must name the same record every time the payload is read again.
pub fn origin(service: &str, resource: &str, position: &str, index: usize) -> String {
    format!("{service}/{resource}/{position}#{index}")
}

/// Where a payload came from, for its dead letters: `<service>/<resource>/<position>`.
pub fn payload_origin(service: &str, resource: &str, position: &str) -> String {
    format!("{service}/{resource}/{position}")
}

/// What became of one batch.
#[derive(Debug, Default)]
pub struct BatchReport {
    pub config_version: u64,
    pub records: usize,
    pub classified: usize,
    pub classified_by_type: BTreeMap<String, u64>,
    pub alerts: Vec<Alert>,
    pub dead_letters: Vec<DeadLetter>,
    pub rule_errors: usize,
    pub rule_errors_by_rule: BTreeMap<String, u64>,
}
