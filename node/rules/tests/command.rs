//! `sactl test rules` end to end as a function: the fixture repository, and the shipped one.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use sa_rules::test_runner::{TestRulesRequest, execute, parse_now};

fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn fixture_repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/repo")
}

#[test]
fn selected_test_files_pass_and_the_last_line_counts_them() {
    let _turn = exclusive();
    let repo = fixture_repo();
    let request = TestRulesRequest {
        repo: Some(repo.clone()),
        test_files: vec![
            repo.join("rules/fixture/alpha.json"),
            repo.join("rules/fixture/threat_intel.json"),
        ],
        now: Some(parse_now("2020-09-13T12:26:40Z").unwrap()),
        ..Default::default()
    };
    let (text, failed) = execute(&request).unwrap();
    assert!(!failed, "{text}");
    assert_eq!(text.lines().last(), Some("10 passed, 0 failed"), "{text}");
}

#[test]
fn rules_directories_outside_the_repository_are_refused_with_the_reason() {
    let _turn = exclusive();
    let request = TestRulesRequest {
        repo: Some(fixture_repo()),
        rules_dirs: vec![std::env::temp_dir()],
        ..Default::default()
    };
    let error = execute(&request).unwrap_err();
    assert!(error.contains("outside the repository root"), "{error}");
}

/// A repository (run with the fixture's config) of one rule that answers differently when called
/// twice: the check of the record-key analysis sees two answers.
fn stateful_rule_repo() -> PathBuf {
    let root = std::env::temp_dir().join(format!("sa-record-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("rules/keys")).unwrap();
    std::fs::write(
        root.join("rules/keys/stateful.py"),
        "from streamalert.shared.rule import rule\n\nCALLS = []\n\n\n\
         @rule(logs=['test:events'])\ndef every_other_call(rec):\n    \
         CALLS.append(rec['user'])\n    return len(CALLS) % 2 == 1\n",
    )
    .unwrap();
    std::fs::write(
        root.join("rules/keys/stateful.json"),
        r#"[{"description": "fires on its first call", "log": "test:events", "service": "kinesis",
             "source": "stream", "data": {"user": "alice"}, "trigger_rules": ["every_other_call"]}]"#,
    )
    .unwrap();
    root
}

#[test]
fn a_rule_that_differs_on_the_whole_record_is_reported_and_whole_records_turn_the_check_off() {
    let _turn = exclusive();
    let root = stateful_rule_repo();
    let request = TestRulesRequest {
        repo: Some(root.clone()),
        config_dir: Some(fixture_repo().join("conf")),
        ..Default::default()
    };
    let (text, failed) = execute(&request).unwrap();
    assert!(!failed, "{text}");
    assert!(
        text.contains(
            "Warning: the rules behave differently on the whole record than on the keys sa \
             found they read (user): fired only on the keys: every_other_call (outputs \
             aws-firehose:alerts, publishers null, context {})"
        ),
        "{text}"
    );
    let request = TestRulesRequest {
        repo: Some(root.clone()),
        config_dir: Some(fixture_repo().join("conf")),
        whole_records: true,
        ..Default::default()
    };
    let (text, failed) = execute(&request).unwrap();
    assert!(!failed, "{text}");
    assert!(!text.contains("Warning"), "{text}");
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn the_shipped_repository_passes_with_two_tests_per_rule() {
    let _turn = exclusive();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let request = TestRulesRequest {
        repo: Some(root),
        min_tests: Some(2),
        ..Default::default()
    };
    let (text, failed) = execute(&request).unwrap();
    assert!(!failed, "{text}");
    assert!(
        text.lines().last().unwrap().ends_with(" passed, 0 failed"),
        "{text}"
    );
    assert!(!text.contains("behave differently"), "{text}");
}
