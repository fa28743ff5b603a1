//! Where records come from, one module per source kind.

pub mod file_tail;
pub mod kinesis;
pub mod kinesis_leases;
mod kinesis_reader;
pub mod s3_queue;
