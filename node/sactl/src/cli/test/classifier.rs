//! `sactl test classifier`: runs every test event of a StreamAlert repository through the
//! classifier (docs/spec §15) and says, for each failure, which log type it got and why each
//! candidate rejected the record.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use sa_engine::{Classifier, Config, test_events};

#[derive(Debug, Args)]
pub struct TestClassifierArgs {
    /// Repository root holding conf/ and rules/.
    #[arg(long, conflicts_with_all = ["config_dir", "rules_dir"])]
    pub repo: Option<PathBuf>,
    /// Configuration directory (default: <repo>/conf, or ./conf).
    #[arg(long)]
    pub config_dir: Option<PathBuf>,
    /// Directory searched recursively for test-event files; repeatable (default: <repo>/rules).
    #[arg(long)]
    pub rules_dir: Vec<PathBuf>,
    /// Only these test-event files (paths as found under the rules directories).
    #[arg(long, num_args = 1..)]
    pub test_files: Vec<PathBuf>,
    /// Also list passing events.
    #[arg(long, short)]
    pub verbose: bool,
    /// Count test-event files that are not a JSON array as failures (StreamAlert skips them).
    #[arg(long)]
    pub strict: bool,
    /// Report events that more than one candidate log type would accept.
    #[arg(long)]
    pub show_ambiguous: bool,
}

/// The events failed; `main` turns this into exit status 1.
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} test events failed classification")]
pub struct TestsFailed {
    pub failed: usize,
    pub total: usize,
}

pub fn run(args: TestClassifierArgs) -> anyhow::Result<()> {
    let repo = args.repo.clone().unwrap_or_else(|| PathBuf::from("."));
    let config_dir = args.config_dir.clone().unwrap_or_else(|| repo.join("conf"));
    let rules_dirs = if args.rules_dir.is_empty() {
        vec![repo.join("rules")]
    } else {
        args.rules_dir.clone()
    };
    let config = Config::load_dir(&config_dir)
        .with_context(|| format!("configuration in {} is invalid", config_dir.display()))?;
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
    let classifier = Classifier::new(config);
    let files = test_events::load(&rules_dirs, &args.test_files).map_err(anyhow::Error::msg)?;
    let now = test_events::now();
    let (mut passed, mut failed) = (0usize, 0usize);
    for file in &files {
        let path = file.path.display();
        let events = match &file.events {
            Ok(events) => events,
            Err(reason) if args.strict => {
                println!("FAIL {path}: {reason}");
                failed += 1;
                continue;
            }
            Err(reason) => {
                eprintln!("warning: skipped {path}: {reason}");
                continue;
            }
        };
        for event in events {
            let prepared = test_events::prepare(&event.value, classifier.config(), now);
            let result = test_events::run_event(&classifier, prepared);
            let description = result
                .prepared
                .as_ref()
                .map_or("", |p| p.spec.description.as_str());
            if let Some(prepared) = result
                .prepared
                .as_ref()
                .filter(|p| !p.spec.unknown_keys.is_empty())
            {
                eprintln!(
                    "warning: {path}[{}]: unknown keys {}",
                    event.index,
                    prepared.spec.unknown_keys.join(", ")
                );
            }
            if result.passed() {
                passed += 1;
                if args.verbose {
                    println!("pass {path}[{}] {description}", event.index);
                }
                if args.show_ambiguous && !result.also_matching.is_empty() {
                    let got = result
                        .outcome
                        .as_ref()
                        .map(|r| r.log_type.as_str())
                        .unwrap_or_default();
                    println!(
                        "ambiguous {path}[{}]: {got} won; also matching: {}",
                        event.index,
                        result.also_matching.join(", ")
                    );
                }
                continue;
            }
            failed += 1;
            print_failure(&path.to_string(), event.index, description, &result);
        }
    }
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        return Err(TestsFailed {
            failed,
            total: passed + failed,
        }
        .into());
    }
    Ok(())
}

/// File and index, expected and actual log type, and why each candidate rejected the record.
fn print_failure(path: &str, index: usize, description: &str, result: &test_events::EventResult) {
    let expected = result
        .prepared
        .as_ref()
        .map_or("?", |p| p.spec.log.as_str());
    println!("FAIL {path}[{index}] {description}");
    match &result.outcome {
        Ok(record) => {
            println!("  expected {expected}, got {}", record.log_type);
            println!(
                "    {expected}: {}",
                result.expected_rejection.as_deref().unwrap_or("rejects it")
            );
        }
        Err(failure) if failure.candidates.is_empty() => println!("  {failure}"),
        Err(failure) => {
            println!("  expected {expected}, got nothing: {failure}");
            for candidate in &failure.candidates {
                println!("    {candidate}");
            }
        }
    }
    if !result.also_matching.is_empty() {
        println!("  also matching: {}", result.also_matching.join(", "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../engine/tests/fixtures/repo")
    }

    fn args(repo: PathBuf) -> TestClassifierArgs {
        TestClassifierArgs {
            repo: Some(repo),
            config_dir: None,
            rules_dir: Vec::new(),
            test_files: Vec::new(),
            verbose: false,
            strict: false,
            show_ambiguous: false,
        }
    }

    #[test]
    fn fixture_repository_passes() {
        run(args(fixture())).unwrap();
    }

    #[test]
    fn strict_counts_files_that_are_not_event_arrays() {
        let err = run(TestClassifierArgs {
            strict: true,
            ..args(fixture())
        })
        .unwrap_err();
        let failed = err.downcast_ref::<TestsFailed>().unwrap();
        assert_eq!((failed.failed, failed.total), (1, 10));
    }

    #[test]
    fn a_misclassified_event_fails_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf");
        let rules = dir.path().join("rules");
        std::fs::create_dir_all(conf.join("schemas")).unwrap();
        std::fs::create_dir_all(conf.join("clusters")).unwrap();
        std::fs::create_dir_all(&rules).unwrap();
        std::fs::write(
            conf.join("schemas/demo.json"),
            r#"{"demo:login": {"parser": "kv", "schema": {"user": "string"}}}"#,
        )
        .unwrap();
        std::fs::write(
            conf.join("clusters/c.json"),
            r#"{"classifier_config": {}, "data_sources": {"sns": {"t": ["demo"]}}}"#,
        )
        .unwrap();
        let events = r#"[{"data": "user=a", "description": "ok", "log": "demo:login", "service": "sns", "source": "t", "classify_only": true},
                          {"data": "nope", "description": "bad", "log": "demo:login", "service": "sns", "source": "t", "classify_only": true}]"#;
        std::fs::write(rules.join("events.json"), events).unwrap();
        let err = run(args(dir.path().to_path_buf())).unwrap_err();
        let failed = err.downcast_ref::<TestsFailed>().unwrap();
        assert_eq!((failed.failed, failed.total), (1, 2));
    }
}
