//! What flows through the pipeline: a source's batch of payloads, each with the position it was
//! read from, and what became of the batch.

use std::collections::BTreeMap;

use sa_engine::{DeadLetter, Root};
use sa_raft::{Command, CommandResult};
use sa_rules::Alert;

use crate::metrics::NodeMetrics;

/// A payload as its source has it. Sources hand text and bytes over undecoded: the JSON decode
/// (docs/spec §5.1) then runs on a classifier thread rather than on the async runtime, and a batch kept
/// for a retry holds bytes, not a decoded tree each attempt would have to copy.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Encoded {
        bytes: Vec<u8>,
        encoding: Encoding,
    },
    /// A JSON value the source already holds (a document of an S3 object).
    Decoded(Root),
}

/// How [`Body::Encoded`] bytes become a payload root.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// A line of text: JSON if it decodes, else the text itself.
    Text,
    /// A Kinesis record's data: gzip or zlib compressed or not, then as `Text`.
    Kinesis,
}

impl Body {
    pub fn text(text: String) -> Self {
        Body::Encoded {
            bytes: text.into_bytes(),
            encoding: Encoding::Text,
        }
    }

    pub fn kinesis(data: Vec<u8>) -> Self {
        Body::Encoded {
            bytes: data,
            encoding: Encoding::Kinesis,
        }
    }

    /// The payload decoded (docs/spec §5.1), for the classifier.
    pub fn root(&self) -> Root {
        match self {
            Body::Encoded {
                bytes,
                encoding: Encoding::Text,
            } => Root::from_bytes(bytes),
            Body::Encoded {
                bytes,
                encoding: Encoding::Kinesis,
            } => sa_engine::payload::kinesis_bytes(bytes),
            Body::Decoded(root) => root.clone(),
        }
    }

    /// The payload as a dead letter stores it: text as received, or the decoded document.
    pub fn raw_string(&self) -> String {
        match self {
            Body::Encoded {
                bytes,
                encoding: Encoding::Text,
            } => String::from_utf8_lossy(bytes).into_owned(),
            other => other.root().to_raw_string(),
        }
    }
}

impl From<Root> for Body {
    fn from(root: Root) -> Self {
        Body::Decoded(root)
    }
}

/// One payload and where its source read it.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    pub body: Body,
    /// Unique within the source and stable across re-reads (a file's inode and byte offset, a
    /// client's batch id and index); `None` when the source cannot tell a replay from new data.
    pub position: Option<String>,
}

impl Payload {
    pub fn at(body: impl Into<Body>, position: String) -> Self {
        Payload {
            body: body.into(),
            position: Some(position),
        }
    }

    pub fn unplaced(body: impl Into<Body>) -> Self {
        Payload {
            body: body.into(),
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
    /// The source's position after these payloads (a Kinesis checkpoint fenced by its lease),
    /// committed in the same Raft entry as the batch's alerts and dead letters: a position is
    /// never ahead of what was read before it, and a node that lost its lease stores nothing.
    pub position: Option<Command>,
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
#[derive(Debug, Default, Clone)]
pub struct BatchReport {
    pub config_version: u64,
    pub records: usize,
    pub classified: usize,
    pub classified_by_type: BTreeMap<String, u64>,
    pub alerts: Vec<Alert>,
    pub dead_letters: Vec<DeadLetter>,
    pub rule_errors: usize,
    pub rule_errors_by_rule: BTreeMap<String, u64>,
    /// What became of the batch's [`SourceBatch::position`], once committed.
    pub position: Option<CommandResult>,
}

impl BatchReport {
    /// Counts one processed batch (before its commit).
    pub fn count_in(&self, metrics: &NodeMetrics, service: &str) {
        metrics
            .records_failed_total
            .with_label_values(&[service])
            .inc_by(self.dead_letters.len() as u64);
        for (log_type, count) in &self.classified_by_type {
            metrics.record_classified(log_type, *count);
        }
        for alert in &self.alerts {
            metrics
                .rule_hits_total
                .with_label_values(&[alert.rule_name.as_str()])
                .inc();
        }
        for (rule, errors) in &self.rule_errors_by_rule {
            metrics
                .rule_errors_total
                .with_label_values(&[rule.as_str()])
                .inc_by(*errors);
        }
    }
}
