//! The detection engine's pure-Rust half: it turns raw payloads into classified records
//! (docs/spec §2–§8). No I/O beyond reading config and test-event files, no cluster, no Python.

pub mod bench_corpus;
pub mod classifier;
pub mod config;
pub mod decode;
pub mod envelope;
pub mod error;
pub mod fnmatch;
pub mod fxhash;
pub mod jmes;
pub mod log_type;
pub mod normalize;
pub mod parsers;
pub mod patterns;
pub mod payload;
pub mod priority;
pub mod python;
pub mod record;
pub mod schema;
pub mod service;
pub mod test_events;

pub use classifier::{Classification, Classifier, DeadLetter};
pub use config::Config;
pub use parsers::Root;
pub use record::ClassifiedRecord;
