//! Where records come from: one module per source kind, started from [`SOURCES`] with a
//! [`SourceContext`]. Ingest (HTTP and gRPC) is a source too; it is served by the node's
//! servers rather than started.

pub mod admission;
mod args;
mod context;
pub mod file_tail;
pub mod ingest;
mod ingest_encoding;
pub mod kinesis;
pub mod kinesis_leases;
mod kinesis_reader;
pub mod s3_queue;

use std::sync::Arc;

pub use args::SourceArgs;
pub use context::{SourceContext, Started};

/// Every source the node starts: a new source is a module and one line here.
const SOURCES: &[fn(&Arc<SourceContext>, &mut Started)] =
    &[file_tail::start, kinesis::start, s3_queue::start];

/// Starts every source; they stop on the context's shutdown token.
pub fn start_all(context: &Arc<SourceContext>, started: &mut Started) {
    for start in SOURCES {
        start(context, started);
    }
}
