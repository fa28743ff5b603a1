//! `sactl test rules`: a StreamAlert repository's test events through the classifier and its
//! rules (docs/spec §15), offline. The work is sa-rules' test runner; this parses flags.

use std::path::PathBuf;

use clap::Args;
use sa_rules::test_runner::{TestRulesRequest, execute, parse_now};

#[derive(Debug, Args)]
pub struct TestRulesArgs {
    /// Repository root holding conf/ and the rule, matcher and publisher folders (default: ./).
    #[arg(long)]
    pub repo: Option<PathBuf>,
    /// Configuration directory (default: <repo>/conf).
    #[arg(long)]
    pub config_dir: Option<PathBuf>,
    /// Directory of rules and test events; repeatable (default: global.json rule_locations).
    #[arg(long)]
    pub rules_dir: Vec<PathBuf>,
    /// Only these test-event files.
    #[arg(long, num_args = 1..)]
    pub test_files: Vec<PathBuf>,
    /// Only report events that expect one of these rules; repeatable.
    #[arg(long = "rule")]
    pub rules: Vec<String>,
    /// Print every event in full, passing ones included.
    #[arg(long, short)]
    pub verbose: bool,
    /// List per rule how many events make it fire and how many keep it quiet.
    #[arg(long)]
    pub coverage: bool,
    /// Fail unless every enabled rule has N events (from 2: at least one firing, one quiet).
    #[arg(long, value_name = "N")]
    pub min_tests: Option<usize>,
    /// Per-rule timing: calls, mean and max time.
    #[arg(long)]
    pub stats: bool,
    /// Give rules whole records, as `sanode --rules-whole-records` (by default the rules of
    /// a log type get only the record keys they read, found from their source).
    #[arg(long)]
    pub whole_records: bool,
    /// Check sa's record-key analysis: run each event whose rules get only some keys a second
    /// time on the whole record, and warn where any rule fires, routes, sets its context or
    /// raises differently. Rules are called twice, so a rule that keeps state differs too.
    #[arg(long, conflicts_with_all = ["stats", "whole_records"])]
    pub check_record_keys: bool,
    /// Fixed clock for alert times and <helper:last_hour>: 2020-01-01T00:00:00Z or Unix seconds.
    #[arg(long, env = "SA_TEST_NOW")]
    pub now: Option<String>,
    /// Python environment (a virtualenv) whose packages rules import (default: $VIRTUAL_ENV).
    #[arg(long)]
    pub python_env: Option<PathBuf>,
}

/// Some events failed; `main` turns this into exit status 1.
#[derive(Debug, thiserror::Error)]
#[error("rule tests failed")]
pub struct TestsFailed;

pub fn run(args: TestRulesArgs) -> anyhow::Result<()> {
    let now = args
        .now
        .as_deref()
        .map(parse_now)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let request = TestRulesRequest {
        repo: args.repo,
        config_dir: args.config_dir,
        rules_dirs: args.rules_dir,
        test_files: args.test_files,
        rules: args.rules,
        verbose: args.verbose,
        coverage: args.coverage,
        min_tests: args.min_tests,
        stats: args.stats,
        whole_records: args.whole_records,
        check_record_keys: args.check_record_keys,
        now,
        python_env: args.python_env,
    };
    let (report, failed) = execute(&request).map_err(anyhow::Error::msg)?;
    println!("{report}");
    if failed {
        return Err(TestsFailed.into());
    }
    Ok(())
}
