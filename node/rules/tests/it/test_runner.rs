//! `sactl test rules` semantics (docs/spec §15) over the fixture repository, classified by sa-engine.

use std::path::Path;

use sa_engine::{Classifier, Config, test_events};
use sa_rules::test_runner::{RenderOptions, RunOptions, run};
use sa_rules::threat_intel::ThreatIntelConfig;
use sa_rules::{Clock, EngineOptions, RepositoryLayout, RulesEngine, test_runner::render};

use crate::common::{exclusive, fixture_repo};

fn classifier(root: &Path) -> Classifier {
    Classifier::new(Config::load_dir(&root.join("conf")).unwrap())
}

const NOW: i64 = 1_600_000_000_000_000;

fn engine(root: &Path) -> RulesEngine {
    let layout = RepositoryLayout::from_config(root, &root.join("conf")).unwrap();
    let options = EngineOptions {
        whole_records: false,
        test_mode: true,
        clock: Clock::Fixed(NOW),
        rule_timing: true,
        ..Default::default()
    };
    RulesEngine::load(&layout, &options).unwrap()
}

#[test]
fn runs_events_decides_pass_fail_and_explains_failures() {
    let _turn = exclusive();
    let root = fixture_repo();
    let mut engine = engine(&root);
    let files = test_events::load(&[root.join("rules")], &[]).unwrap();
    let options = RunOptions {
        now: NOW,
        threat_intel: ThreatIntelConfig::load(&root.join("conf")).unwrap(),
        ..Default::default()
    };
    let report = run(&mut engine, &classifier(&root), files, &options);

    let verdicts: Vec<(String, bool)> = report
        .results
        .iter()
        .map(|r| (r.description.clone(), r.passed))
        .collect();
    let passing = |d: &str| {
        verdicts
            .iter()
            .find(|(desc, _)| desc == d)
            .unwrap_or_else(|| panic!("{d}"))
            .1
    };
    for description in [
        "root login fires root_login",
        "an ordinary user fires nothing",
        "a disabled rule in trigger_rules is ignored",
        "publisher tests over the composed publications",
        "lookup fixtures feed LookupTables",
        "fixtures do not leak into the next event",
        "classify only",
        "an IP in the event's IOC fixtures fires known_bad_ip",
        "the same IP without fixtures does not",
        "an excluded IP never matches",
    ] {
        assert!(passing(description), "{description}: {report:#?}");
    }
    assert_eq!(report.passed(), 10);
    assert_eq!(report.failed(), 5);

    let (text, failed) = render(
        &report,
        RenderOptions {
            verbose: false,
            coverage: true,
            min_tests: None,
            stats: true,
        },
    );
    assert!(failed);
    assert!(text.ends_with("10 passed, 5 failed"), "{text}");
    for explanation in [
        "Expected: deletes, no_such_rule (does not exist)",
        "Fired but not expected: root_login",
        "Expected but did not fire: deletes, no_such_rule (does not exist)",
        "Classified Type: test:events",
        "Expected Type: test:other",
        "(not classified: no schema matched the data)",
        "Why: the record matches none of the candidate log types",
        "record.user is \"someone else\": actual value is \"dyn\"",
        "No such output email:x was configured for this alert",
        "Error: missing key service",
        "Publishers: 0/2 Passed",
    ] {
        assert!(
            text.contains(explanation),
            "missing {explanation:?} in:\n{text}"
        );
    }
    assert!(text.contains("Rule timing"), "{text}");
    assert!(
        text.contains("  root_login: 1 positive, 11 negative"),
        "{text}"
    );
    assert!(
        text.contains("Warning: no test event expects these enabled rules:"),
        "{text}"
    );
}

#[test]
fn min_tests_turns_coverage_gaps_into_failures_and_rule_filter_suppresses_events() {
    let _turn = exclusive();
    let root = fixture_repo();
    let mut engine = engine(&root);
    let alpha = root.join("rules/fixture/alpha.json");
    let files = test_events::load(&[root.join("rules")], std::slice::from_ref(&alpha)).unwrap();
    let options = RunOptions {
        now: NOW,
        rules_filter: vec!["root_login".into()],
        ..Default::default()
    };
    let report = run(&mut engine, &classifier(&root), files, &options);
    assert_eq!(
        report.results.len(),
        1,
        "only the event expecting root_login is reported"
    );
    assert!(report.results[0].passed);

    let files = test_events::load(&[root.join("rules")], &[alpha]).unwrap();
    let report = run(
        &mut engine,
        &classifier(&root),
        files,
        &RunOptions {
            now: NOW,
            ..Default::default()
        },
    );
    let (text, failed) = render(
        &report,
        RenderOptions {
            min_tests: Some(2),
            ..Default::default()
        },
    );
    assert!(failed, "{text}");
    assert!(
        text.contains("Coverage failure: deletes: no event where it fires"),
        "{text}"
    );
    assert!(
        !text.contains("Coverage failure: root_login"),
        "root_login fires once and stays quiet otherwise:\n{text}"
    );
    let last = text.lines().last().unwrap();
    assert!(
        last.starts_with("7 passed, ") && last != "7 passed, 0 failed",
        "{text}"
    );
}
