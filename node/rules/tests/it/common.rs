//! Helpers the test modules share.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

/// One interpreter per process: tests that load a repository (or run Python) take turns.
pub fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `tests/fixtures/<name>`.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The fixture repository (`tests/fixtures/repo`).
pub fn fixture_repo() -> PathBuf {
    fixture("repo")
}

/// This repository's root, with the shipped `conf/` and `rules/`.
pub fn shipped_repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Set in the child process [`alone_in_process`] starts.
const ALONE: &str = "SA_RULES_TEST_ALONE";

/// Whether the calling test, `test` (its path in this binary, `module::name`), runs alone in
/// its process and should go on. nextest gives every test a process of its own; `cargo test`
/// runs a binary's tests as threads of one process, so there the test is run again in a child
/// process of this binary, and this returns false once the child passed.
pub fn alone_in_process(test: &str) -> bool {
    if std::env::var_os(ALONE).is_some()
        || std::env::var("NEXTEST_EXECUTION_MODE").is_ok_and(|mode| mode == "process-per-test")
    {
        return true;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--test-threads=1"])
        .env(ALONE, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "{test} in its own process: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    false
}
