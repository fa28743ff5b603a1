//! The sa node runtime (`sanode`) and the admin CLI (`sactl`). The detection engine itself lives
//! in `sa-engine` (classification) and `sa-rules` (Python rules) so it runs without a cluster.

pub mod alerts;
pub mod bundle;
pub mod cli;
pub mod logging;
pub mod node;
pub mod pipeline;
pub mod sinks;
pub mod sources;
pub mod state;
