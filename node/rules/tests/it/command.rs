//! `sactl test rules` end to end as a function: the fixture repository, and the shipped one.

use std::path::{Path, PathBuf};

use sa_rules::test_runner::{TestRulesRequest, execute, parse_now};

use crate::common::{exclusive, fixture_repo, shipped_repo};

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
    let error = execute(&request).unwrap_err().to_string();
    assert!(error.contains("outside the repository root"), "{error}");
}

/// A repository (run with the fixture's config) of two rules that read only `user`:
/// `every_other_call` keeps state between calls, and `sees_only_what_it_reads` looks at the dict
/// it was given through its own frame, which the analysis does not follow (docs/compat.md).
fn record_keys_repo() -> PathBuf {
    let root = std::env::temp_dir().join(format!("sa-record-keys-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("rules/keys")).unwrap();
    std::fs::write(
        root.join("rules/keys/keys.py"),
        r#"import sys

from streamalert.shared.rule import rule

CALLS = []


def keys_given():
    return sorted(sys._getframe(1).f_locals['rec'])


@rule(logs=['test:events'])
def every_other_call(rec):
    CALLS.append(rec['user'])
    return len(CALLS) % 2 == 1


@rule(logs=['test:other'])
def sees_only_what_it_reads(rec):
    return rec['user'] == 'peek' and keys_given() == ['user']
"#,
    )
    .unwrap();
    std::fs::write(
        root.join("rules/keys/keys.json"),
        r#"[{"description": "fires on its first call", "log": "test:events", "service": "kinesis",
             "source": "stream", "data": {"user": "alice"}, "trigger_rules": ["every_other_call"]},
            {"description": "the rule's dict holds only user", "log": "test:other",
             "service": "kinesis", "source": "stream", "data": {"user": "peek", "other_only": "x"},
             "trigger_rules": ["sees_only_what_it_reads"]}]"#,
    )
    .unwrap();
    root
}

fn record_keys_request(root: &Path) -> TestRulesRequest {
    TestRulesRequest {
        repo: Some(root.to_owned()),
        config_dir: Some(fixture_repo().join("conf")),
        ..Default::default()
    }
}

#[test]
fn rules_get_dicts_of_the_keys_they_read_unless_whole_records_are_asked_for() {
    let _turn = exclusive();
    let root = record_keys_repo();
    let (text, failed) = execute(&record_keys_request(&root)).unwrap();
    assert!(!failed, "{text}");
    assert!(!text.contains("Warning"), "each rule ran once: {text}");
    let (text, failed) = execute(&TestRulesRequest {
        whole_records: true,
        ..record_keys_request(&root)
    })
    .unwrap();
    assert!(failed, "the rule saw other_only too: {text}");
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn the_record_key_check_reports_rules_that_answer_differently_on_the_whole_record() {
    let _turn = exclusive();
    let root = record_keys_repo();
    let (text, failed) = execute(&TestRulesRequest {
        check_record_keys: true,
        ..record_keys_request(&root)
    })
    .unwrap();
    assert!(!failed, "{text}");
    for (keys_only, rule) in [
        ("user", "every_other_call"),
        ("user", "sees_only_what_it_reads"),
    ] {
        let warning = format!(
            "Warning: the rules behave differently on the whole record than on the keys sa \
             found they read ({keys_only}): fired only on the keys: {rule} (outputs \
             aws-firehose:alerts, publishers null, context {{}})"
        );
        assert!(text.contains(&warning), "{warning} in {text}");
    }
    let refusal = execute(&TestRulesRequest {
        check_record_keys: true,
        stats: true,
        ..record_keys_request(&root)
    })
    .unwrap_err()
    .to_string();
    assert!(
        refusal.contains("cannot be combined with --stats"),
        "{refusal}"
    );
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn the_shipped_repository_passes_with_two_tests_per_rule() {
    let _turn = exclusive();
    let root = shipped_repo();
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
