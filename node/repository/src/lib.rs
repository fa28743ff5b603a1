//! A StreamAlert repository (conf/, rules/, matchers/, publishers/) as sa handles it, for both
//! binaries: the config bundle that travels through Raft, loading it for detection, the full
//! check `sactl config validate` and the node's bundle check run, and the lookup tables its
//! `conf/lookup_tables.json` declares.

pub mod bundle;
#[cfg(feature = "check")]
mod check;
mod loaded;
pub mod lookup_tables;

pub use bundle::{BundleDiff, BundleFile, ConfigBundle};
#[cfg(feature = "check")]
pub use check::{RepositorySummary, SUMMARY_MARKER, check_repository};
pub use loaded::LoadedRepository;
