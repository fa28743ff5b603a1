//! Inside a node: the running detection config, and batches flowing from a source through the
//! classifier, rules and commit actors to committed alerts (docs/architecture.md §3).

mod batch;
mod classifier;
mod commit;
mod detection;
mod mailbox;
mod part;
mod rules;
mod supervision;
#[cfg(test)]
mod tests;
mod threat_intel;
mod ticket;

pub use batch::{BatchReport, Body, Payload, SourceBatch, origin};
pub use commit::Committer;
pub use detection::{BatchError, Detection, PipelineOptions, PipelineState};
pub use mailbox::StageState;
pub use supervision::panic_message;
