//! Inside a node: the running detection config, and batches flowing from a source through the
//! classifier and rules actors to committed alerts (docs/architecture.md §3).

mod actor_system;
mod batch;
mod classifier;
mod commit;
mod detection;
mod mailbox;
mod rules;
mod supervision;
#[cfg(test)]
mod tests;
mod threat_intel;

pub use batch::{BatchReport, Body, Payload, SourceBatch, origin};
pub use commit::Committer;
pub use detection::{BatchError, Detection, PipelineOptions};
pub use supervision::StageFailure;
