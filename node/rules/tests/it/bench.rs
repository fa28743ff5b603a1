//! `bench rules` over the fixture repository: every figure is measured and consistent.

use sa_rules::PythonEnv;
use sa_rules::bench::bench_repository;

use crate::common::{exclusive, fixture_repo};

#[test]
fn bench_replays_test_events_to_the_requested_count_and_measures_each_part() {
    let _turn = exclusive();
    let root = fixture_repo();
    let report = bench_repository(&root, 500, 64, 2, PythonEnv::default()).unwrap();
    assert_eq!(report.records, 500);
    // The classifiable, non-classify-only events of the fixture's test files.
    assert!(report.distinct_events >= 8, "{report:?}");
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
