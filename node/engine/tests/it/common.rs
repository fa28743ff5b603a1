//! Helpers the test modules share.

use std::path::PathBuf;

/// The fixture repository (`tests/fixtures/repo`).
pub fn fixture_repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repo")
}

/// This repository's root, with the shipped `conf/` and `rules/`.
pub fn shipped_repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}
