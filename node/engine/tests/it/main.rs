//! sa-engine's integration tests, one binary: classification, configuration errors, test events,
//! the shipped repository and the fuzzers' regressions, each a module over the public API.

mod common;

mod classify;
mod config_errors;
mod fuzz_regressions;
mod jmespath_python;
mod shipped_repo;
mod test_events;
