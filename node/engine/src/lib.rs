//! The detection engine's pure-Rust half: it turns raw payloads into classified records
//! (compat spec §2–§8). No I/O beyond reading config files, no cluster, no Python.

pub mod priority;
pub mod record;

pub use record::ClassifiedRecord;
