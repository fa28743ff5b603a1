//! Where records come from, one module per source kind, each given a [`SourceContext`].

mod context;
pub mod file_tail;
pub mod ingest;
pub mod kinesis;
pub mod kinesis_leases;
mod kinesis_reader;
pub mod s3_queue;

pub use context::SourceContext;
