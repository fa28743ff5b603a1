//! Inside a node: the running detection config, and batches flowing from a source through the
//! classifier and the rules to committed alerts.

mod detection;
mod repository;

pub use detection::{BatchReport, Detection, IngestError};
pub use repository::{LoadedRepository, check_repository};
