//! The detection engine's pure-Rust half: it turns raw payloads into classified records
//! (compat spec §2–§8). No I/O beyond reading config files, no cluster, no Python.

pub mod error;
pub mod fnmatch;
pub mod jmes;
pub mod priority;
pub mod python;
pub mod record;
pub mod schema;

pub use record::ClassifiedRecord;
