//! The sa node daemon (`sanode`): servers, the detection pipeline, the alerts runtime, sources
//! and leader tasks. The detection engine itself lives in `sa-engine` (classification) and
//! `sa-rules` (Python rules), the replicated stores in `sa-state`.

pub mod actors;
pub mod alerts;
pub mod leader;
pub mod logging;
pub mod lookup_refresh;
pub mod metrics;
pub mod node;
pub mod pipeline;
pub mod retry;
pub mod sinks;
pub mod sources;
