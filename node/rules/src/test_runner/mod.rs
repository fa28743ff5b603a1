//! `sactl test rules` (docs/spec §15): test events classified by sa-engine and run through the
//! rules engine, with pass/fail per event, publisher tests, coverage and rule timing.
//!
//! Discovery, event preparation and classification are sa-engine's (`test_events`); this
//! module adds what needs the rules: expected rules, fixtures, publisher tests.

mod command;
mod coverage;
mod publisher_tests;
mod report;
mod runner;

pub use command::{NowError, TestRulesError, TestRulesRequest, execute, parse_now};
pub use coverage::{Coverage, RuleCoverage};
pub use publisher_tests::PublisherCheck;
pub use report::{RenderOptions, render};
pub use runner::{EventResult, RunOptions, RunReport, run};
