//! `bench rules` over the fixture repository: every figure is measured and consistent.

use sa_rules::PythonEnv;
use sa_rules::bench::{BenchError, Corpus, bench_repository};

use crate::common::{exclusive, fixture_repo};

#[test]
fn bench_replays_test_events_to_the_requested_count_and_measures_each_part() {
    let _turn = exclusive();
    let root = fixture_repo();
    let report =
        bench_repository(&root, &Corpus::TestEvents, 500, 64, 2, PythonEnv::default()).unwrap();
    assert_eq!(report.records, 500);
    // The classifiable, non-classify-only events of the fixture's test files.
    assert!(report.distinct_payloads >= 8, "{report:?}");
    assert_eq!(report.rules_loaded, 16);
    assert!(
        report.alerts > 0 && report.records_evaluated == 500,
        "{report:?}"
    );
    assert!(report.rule_calls >= 500 * 10, "{report:?}");
    assert_eq!(report.pipelined_alerts, report.alerts, "{report:?}");
    assert_eq!(report.classifier_threads, 2);
    assert!(
        report.classify > std::time::Duration::ZERO && report.rules > std::time::Duration::ZERO
    );
    assert!(
        report.pipelined > std::time::Duration::ZERO
            && report.python_call > std::time::Duration::ZERO
    );
    assert!(report.records_per_second() > 0.0 && (0.0..=1.0).contains(&report.classify_share()));
    // The timing pass names the rules that took longest, longest first, each timed per call.
    let times = &report.rule_times;
    assert_eq!(times.records, 500);
    assert!(
        !times.slowest.is_empty() && times.slowest.len() <= 5,
        "{times:?}"
    );
    assert!(
        times
            .slowest
            .windows(2)
            .all(|pair| pair[0].1.total >= pair[1].1.total),
        "{times:?}"
    );
    let shown: std::time::Duration = times.slowest.iter().map(|(_, t)| t.total).sum();
    assert!(shown <= times.total && times.slowest.iter().all(|(_, t)| t.calls > 0));
    assert!(report.to_string().contains("slowest rules"));
}

/// The records a node was sent, replayed through the same engine: what node-bench compares its
/// end-to-end figure with.
#[test]
fn bench_replays_a_payload_file_as_one_sources_records() {
    let _turn = exclusive();
    let root = fixture_repo();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payloads.jsonl");
    let root_login = serde_json::json!({"user": "root", "time": 1}).to_string();
    let bob = serde_json::json!({"user": "bob", "time": 1}).to_string();
    std::fs::write(&path, format!("{root_login}\n\n{bob}\nnot json\n")).unwrap();
    let corpus = Corpus::Payloads {
        path: path.clone(),
        service: "kinesis".into(),
        source: "stream".into(),
    };
    let report = bench_repository(&root, &corpus, 300, 64, 1, PythonEnv::default()).unwrap();
    assert_eq!(
        (report.records, report.distinct_payloads),
        (300, 3),
        "{report:?}"
    );
    // root logins alert (one in three payloads), the rest do not, and nothing is lost.
    assert!(report.alerts >= 100, "{report:?}");
    assert_eq!(report.pipelined_alerts, report.alerts, "{report:?}");

    std::fs::write(&path, "\n \n").unwrap();
    let empty = bench_repository(&root, &corpus, 10, 64, 1, PythonEnv::default()).unwrap_err();
    assert!(
        matches!(&empty, BenchError::Payloads { path: p, .. } if *p == path),
        "{empty}"
    );
}
