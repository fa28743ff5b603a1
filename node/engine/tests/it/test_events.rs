//! Test events (docs/spec §15.1–§15.4) on the fixture repository.

use sa_engine::{Classifier, Config, test_events};

use crate::common::fixture_repo;

#[test]
fn fixture_events_all_pass_and_invalid_files_are_reported() {
    let classifier = Classifier::new(Config::load_dir(&fixture_repo().join("conf")).unwrap());
    let files = test_events::load(&[fixture_repo().join("rules")], &[]).unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| {
            f.path
                .strip_prefix(fixture_repo())
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(
        names,
        [
            "rules/classifier/aws.json",
            "rules/classifier/not_events.json",
            "rules/demo/failed_login.json"
        ]
    );
    assert!(files[1].events.is_err());
    let mut results = Vec::new();
    for file in &files {
        for event in file.events.iter().flatten() {
            let prepared = test_events::prepare(&event.value, classifier.config(), 1_700_000_000);
            let result = test_events::run_event(&classifier, prepared);
            assert!(
                result.passed(),
                "{}[{}]: {:?}",
                file.path.display(),
                event.index,
                result.outcome
            );
            results.push(result);
        }
    }
    assert_eq!(results.len(), 9);
    // <helper:last_hour> became now - 60, then the integer coercion applied.
    let compressed = results
        .iter()
        .find(|r| r.prepared.as_ref().unwrap().spec.compress)
        .unwrap();
    assert_eq!(
        compressed.outcome.as_ref().unwrap().record["time"],
        serde_json::json!(1_699_999_940)
    );
    assert_eq!(compressed.also_matching, ["demo:any_login"]);
    // override_record: schema defaults overlaid with the given keys.
    let synthesized = results
        .iter()
        .find(|r| r.prepared.as_ref().unwrap().spec.override_record.is_some())
        .unwrap();
    assert_eq!(
        synthesized.prepared.as_ref().unwrap().data,
        r#"{"time": 0, "user": "alice", "result": "success"}"#
    );
}

#[test]
fn wrong_log_type_and_bad_events_fail_with_reasons() {
    let classifier = Classifier::new(Config::load_dir(&fixture_repo().join("conf")).unwrap());
    let run = |event: serde_json::Value| {
        test_events::run_event(
            &classifier,
            test_events::prepare(&event, classifier.config(), 0),
        )
    };
    let wrong = run(
        serde_json::json!({"data": "time=1 user=b result=x", "description": "d", "log": "demo:json_login", "service": "sns", "source": "demo_topic", "classify_only": true}),
    );
    assert!(!wrong.passed());
    assert_eq!(wrong.outcome.as_ref().unwrap().log_type, "demo:login");
    assert_eq!(
        wrong.expected_rejection.as_deref(),
        Some("payload is not JSON")
    );
    assert!(
        wrong.also_matching.is_empty(),
        "the winner is not listed as also matching"
    );
    let unknown_log = run(
        serde_json::json!({"data": "x", "description": "d", "log": "nope:nope", "service": "sns", "source": "demo_topic", "classify_only": true}),
    );
    assert_eq!(
        unknown_log.outcome.unwrap_err().reason,
        "log nope:nope is not defined in the schemas"
    );
    let unknown_source = run(
        serde_json::json!({"data": "x", "description": "d", "log": "demo:login", "service": "sns", "source": "elsewhere", "classify_only": true}),
    );
    assert_eq!(
        unknown_source.outcome.unwrap_err().reason,
        "no cluster lists elsewhere under data_sources.sns"
    );
    let bad_data = run(
        serde_json::json!({"data": 5, "description": "d", "log": "demo:login", "service": "sns", "source": "demo_topic", "classify_only": true}),
    );
    assert_eq!(
        bad_data.outcome.unwrap_err().reason,
        "data must be an object or a string, got 5"
    );
    let unmatched = run(
        serde_json::json!({"data": "no equals signs", "description": "d", "log": "demo:login", "service": "sns", "source": "demo_topic", "classify_only": true}),
    );
    let failure = unmatched.outcome.unwrap_err();
    assert_eq!(
        failure.reason,
        "the record matches none of the candidate log types"
    );
    assert_eq!(
        failure.candidates[0].to_string(),
        "demo:login: missing keys time, user, result"
    );
}

#[test]
fn classify_event_returns_every_record_of_the_payload_in_order() {
    // docs/spec §15.4: the rules run on all records of the classified payload record, e.g. every
    // entry of a CloudTrail file's Records.
    let classifier = Classifier::new(Config::load_dir(&fixture_repo().join("conf")).unwrap());
    let record = |id: &str| {
        serde_json::json!({"eventID": id, "eventName": "GetObject", "eventTime": "t",
                           "sourceIPAddress": "1.2.3.4", "userIdentity": {}})
    };
    let event = serde_json::json!({"data": {"Records": [record("1"), record("2"), record("3")]},
        "description": "d", "log": "cloudtrail:events", "service": "s3", "source": "fixture-bucket",
        "classify_only": true});
    let prepared = test_events::prepare(&event, classifier.config(), 0).unwrap();
    let classified = test_events::classify_event(&classifier, &prepared).unwrap();
    assert_eq!(classified.first.record["eventID"], "1");
    let ids: Vec<_> = classified
        .into_records()
        .iter()
        .map(|r| (r.log_type.clone(), r.record["eventID"].clone()))
        .collect();
    assert_eq!(
        ids,
        ["1", "2", "3"].map(|id| ("cloudtrail:events".to_owned(), serde_json::json!(id)))
    );
}
