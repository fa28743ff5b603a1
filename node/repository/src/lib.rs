//! A StreamAlert repository (conf/, rules/, matchers/, publishers/) as sa handles it, for both
//! binaries: the config bundle that travels through Raft, loading it for detection, the full
//! check `sactl config validate` and the node's bundle check run, and the lookup tables its
//! `conf/lookup_tables.json` declares.

pub mod bundle;
mod check;
pub mod lookup_tables;

pub use bundle::{BundleDiff, BundleFile, ConfigBundle};
pub use check::{LoadedRepository, RepositorySummary, SUMMARY_MARKER, check_repository};
