//! `sactl test rules` (compat §15): test-event files run through classification and the rules
//! engine, with pass/fail per event, publisher tests, coverage and rule timing.
//!
//! Classification is behind [`EventClassifier`] so this crate stays free of the classifier's
//! configuration; `sactl` implements it with sa-engine.

mod coverage;
mod discovery;
mod event;
mod publisher_tests;
mod report;
mod runner;

pub use coverage::{Coverage, RuleCoverage};
pub use discovery::{TestFile, discover};
pub use event::{TestEvent, apply_helpers};
pub use publisher_tests::{PublisherCheck, python_equal};
pub use report::{RenderOptions, render};
pub use runner::{EventClassifier, EventResult, RunOptions, RunReport, run};
