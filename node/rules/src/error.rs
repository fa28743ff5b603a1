//! What the rules engine and its thread fail with.

use crate::engine::LoadError;

/// Why the rules engine, or the thread that runs it, could not do what was asked. A rule,
/// matcher or dynamic-output function that raises is not one of these: it is a
/// [`RuleFailure`](crate::RuleFailure) of its batch, and the batch goes on.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RulesError {
    /// The repository did not load (when the rules thread starts, or on a reload: the previous
    /// version then keeps serving).
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The OS refused the rules thread (its message).
    #[error("python error while loading the repository: cannot start the rules thread: {0}")]
    ThreadStart(String),
    /// The rules thread stopped (it panicked) before the repository was loaded.
    #[error("python error while loading the repository: the rules thread stopped while loading")]
    StoppedWhileLoading,
    /// The rules thread has stopped (it panicked or the worker was dropped): the request was
    /// not served.
    #[error("the rules thread is gone")]
    WorkerGone,
    /// A reload failed and the previous repository did not load again: the thread serves no
    /// repository until a reload succeeds.
    #[error("no repository is loaded (a reload failed and the previous one did not load again)")]
    NotLoaded,
    /// Python raised outside any one rule: while building the records' dicts, running the
    /// batch, applying the rule table, composing a publication or reading timings (the
    /// exception, with its traceback when there is one).
    #[error("{0}")]
    Python(String),
    /// Threat-intel enrichment failed before the rules ran (the IOC store's message).
    #[error("threat intel: {0}")]
    ThreatIntel(String),
    /// A rule fired without static outputs and its dynamic outputs were not computed.
    #[error("rule {0} has no static outputs but none were computed")]
    NoOutputs(String),
}
