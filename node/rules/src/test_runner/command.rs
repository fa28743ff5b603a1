//! `sactl test rules` as a function: resolve the repository, load rules and config, run the
//! events, render the report. `sactl` only parses flags and prints.

use std::path::{Path, PathBuf};

use sa_engine::error::ConfigErrors;
use sa_engine::test_events::TestFilesError;
use sa_engine::{Classifier, Config, test_events};

use super::report::{RenderOptions, render};
use super::runner::{RunOptions, run};
use crate::clock::{Clock, Micros, parse_timestamp};
use crate::engine::{EngineOptions, LoadError, RulesEngine};
use crate::interpreter::PythonEnv;
use crate::repository::{LayoutError, RepositoryLayout};
use crate::threat_intel::{ThreatIntelConfig, ThreatIntelConfigError};

/// Everything `sactl test rules` accepts.
#[derive(Debug, Clone, Default)]
pub struct TestRulesRequest {
    /// Repository root (import root); the current directory when `None`.
    pub repo: Option<PathBuf>,
    /// Defaults to `<repo>/conf`.
    pub config_dir: Option<PathBuf>,
    /// Where rules and test events are; defaults to `general.rule_locations`.
    pub rules_dirs: Vec<PathBuf>,
    pub test_files: Vec<PathBuf>,
    pub rules: Vec<String>,
    pub verbose: bool,
    pub coverage: bool,
    pub min_tests: Option<usize>,
    pub stats: bool,
    pub whole_records: bool,
    pub check_record_keys: bool,
    /// Fixed "now" for alert times and `<helper:last_hour>`.
    pub now: Option<Micros>,
    pub python_env: Option<PathBuf>,
}

/// A `--now` that is neither a timestamp nor Unix seconds (the text given).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NowError {
    #[error("--now {0}: out of range")]
    OutOfRange(String),
    #[error("--now {0:?}: expected 2020-01-01T00:00:00Z or Unix seconds")]
    Unreadable(String),
}

/// Why `sactl test rules` could not run at all (a failing test is not one of these: it is in
/// the report).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TestRulesError {
    /// The current directory cannot be read (the OS's message).
    #[error("current directory: {0}")]
    CurrentDir(String),
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// A `rules_dirs` entry is not under the repository root.
    #[error(
        "rules directory {} is outside the repository root {} (rules import as modules relative to it)",
        dir.display(),
        root.display()
    )]
    RulesDirOutsideRoot { dir: PathBuf, root: PathBuf },
    /// The configuration directory does not load.
    #[error("{}: {errors}", dir.display())]
    Config { dir: PathBuf, errors: ConfigErrors },
    #[error(transparent)]
    ThreatIntel(#[from] ThreatIntelConfigError),
    #[error(
        "--check-record-keys calls rules a second time on the whole record: it cannot be \
         combined with --stats (the second calls would be timed too) or --whole-records (there \
         is nothing to compare)"
    )]
    CheckRecordKeysCombined,
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error(transparent)]
    TestFiles(#[from] TestFilesError),
}

/// Parses `--now`: `2020-01-01T00:00:00Z` (fraction optional) or Unix seconds.
pub fn parse_now(text: &str) -> Result<Micros, NowError> {
    if let Ok(seconds) = text.parse::<i64>() {
        return seconds
            .checked_mul(1_000_000)
            .ok_or_else(|| NowError::OutOfRange(text.to_owned()));
    }
    parse_timestamp(text).ok_or_else(|| NowError::Unreadable(text.to_owned()))
}

/// Runs the request; `Ok((report, failed))`, or `Err` when nothing could run (bad config,
/// a rule file that does not import, ...).
pub fn execute(request: &TestRulesRequest) -> Result<(String, bool), TestRulesError> {
    let cwd = std::env::current_dir().map_err(|e| TestRulesError::CurrentDir(e.to_string()))?;
    let root = absolute(&cwd, request.repo.as_deref().unwrap_or(Path::new(".")));
    let conf = request
        .config_dir
        .as_deref()
        .map_or_else(|| root.join("conf"), |dir| absolute(&cwd, dir));
    let mut layout = RepositoryLayout::from_config(&root, &conf)?;
    if !request.rules_dirs.is_empty() {
        // Explicit directories replace rule_locations and matcher_locations (docs/spec §9.2); matchers
        // are still imported by the rules that use them.
        let base = if request.repo.is_some() { &root } else { &cwd };
        layout.rule_dirs = request
            .rules_dirs
            .iter()
            .map(|dir| relative_to(&root, &absolute(base, dir)))
            .collect::<Result<_, _>>()?;
        layout.matcher_dirs.clear();
    }
    let config = Config::load_dir(&conf).map_err(|errors| TestRulesError::Config {
        dir: conf.clone(),
        errors,
    })?;
    let classifier = Classifier::new(config);
    let threat_intel = ThreatIntelConfig::load(&conf)?;
    if request.check_record_keys && (request.stats || request.whole_records) {
        return Err(TestRulesError::CheckRecordKeysCombined);
    }
    let now = request.now.unwrap_or_else(|| Clock::System.now());
    let options = EngineOptions {
        whole_records: request.whole_records,
        env: PythonEnv::resolve(request.python_env.clone()),
        test_mode: true,
        clock: Clock::Fixed(now),
        rule_timing: request.stats,
    };
    let mut engine = RulesEngine::load(&layout, &options)?;
    let dirs: Vec<PathBuf> = layout.rule_dirs.iter().map(|dir| root.join(dir)).collect();
    let test_files: Vec<PathBuf> = request
        .test_files
        .iter()
        .map(|file| absolute(&cwd, file))
        .collect();
    let files = test_events::load(&dirs, &test_files)?;
    let run_options = RunOptions {
        rules_filter: request.rules.clone(),
        now,
        threat_intel,
        check_record_keys: request.check_record_keys,
    };
    let report = run(&mut engine, &classifier, files, &run_options);
    let render_options = RenderOptions {
        verbose: request.verbose,
        coverage: request.coverage,
        min_tests: request.min_tests,
        stats: request.stats,
    };
    Ok(render(&report, render_options))
}

fn absolute(base: &Path, path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_owned()
    } else {
        base.join(path)
    };
    joined.canonicalize().unwrap_or(joined)
}

fn relative_to(root: &Path, dir: &Path) -> Result<String, TestRulesError> {
    let relative = dir
        .strip_prefix(root)
        .map_err(|_| TestRulesError::RulesDirOutsideRoot {
            dir: dir.to_owned(),
            root: root.to_owned(),
        })?;
    Ok(relative.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_accepts_timestamps_and_seconds() {
        assert_eq!(parse_now("1577836800"), Ok(1_577_836_800_000_000));
        assert_eq!(parse_now("2020-01-01T00:00:00Z"), Ok(1_577_836_800_000_000));
        assert!(
            parse_now("tomorrow")
                .unwrap_err()
                .to_string()
                .contains("tomorrow")
        );
    }

    #[test]
    fn rules_directories_must_be_inside_the_root() {
        assert_eq!(
            relative_to(Path::new("/repo"), Path::new("/repo/rules/x")),
            Ok("rules/x".to_owned())
        );
        assert!(
            relative_to(Path::new("/repo"), Path::new("/elsewhere"))
                .unwrap_err()
                .to_string()
                .contains("outside")
        );
    }
}
