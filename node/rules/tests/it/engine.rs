//! The rules engine over the fixture repository (tests/fixtures/repo): loading, the docs/spec §9.3
//! algorithm, alerts, publishers, staging, lookup tables, threat intel and the rules thread.

use std::collections::BTreeSet;
use std::sync::Arc;

use sa_engine::ClassifiedRecord;
use sa_rules::lookup::{self, FixtureTables};
use sa_rules::threat_intel::{FixtureIocs, ThreatIntelConfig};
use sa_rules::{
    Alert, AlertPolicy, BatchOutcome, Clock, EngineOptions, LoadError, LogsFilter, Plugs,
    RecordView, RepositoryLayout, RuleStates, RuleTable, RulesEngine, RulesError, RulesWorker,
};
use serde_json::{Value, json};

use crate::common::{exclusive, fixture};

fn layout(name: &str) -> RepositoryLayout {
    let root = fixture(name);
    RepositoryLayout::from_config(&root, &root.join("conf")).unwrap()
}

const NOW: i64 = 1_577_836_800_000_000;

fn options() -> EngineOptions {
    EngineOptions {
        clock: Clock::Fixed(NOW),
        ..EngineOptions::default()
    }
}

/// The fixture repository with `infrastructure.rule_staging.enabled` on.
fn staging_layout() -> RepositoryLayout {
    RepositoryLayout {
        rule_staging: true,
        ..layout("repo")
    }
}

/// A rule table that always answers `states` (the same `Arc`, as an unchanged table).
fn fixed_table(states: RuleStates) -> Arc<dyn RuleTable> {
    struct Fixed(Arc<RuleStates>);
    impl RuleTable for Fixed {
        fn states(&self) -> Arc<RuleStates> {
            self.0.clone()
        }
    }
    Arc::new(Fixed(Arc::new(states)))
}

/// A rule table with rows for the `staged` and the `disabled` rules only.
fn table(staged: &[&str], disabled: &[&str]) -> Arc<dyn RuleTable> {
    let names = |names: &[&str]| names.iter().map(|name| name.to_string()).collect();
    fixed_table(RuleStates {
        staged: names(staged),
        disabled: names(disabled),
        listed: names(&[staged, disabled].concat()),
    })
}

/// A record the fixture's `dynamic` rule fires on.
fn dynamic_record() -> ClassifiedRecord {
    record("test:events", json!({"user": "dyn", "team": "blue"}))
}

fn load() -> RulesEngine {
    RulesEngine::load(&layout("repo"), &options()).unwrap()
}

fn record(log_type: &str, record: Value) -> ClassifiedRecord {
    ClassifiedRecord {
        cluster: "prod".into(),
        log_type: log_type.into(),
        record: record.as_object().unwrap().clone(),
        service: "kinesis".into(),
        resource: "stream".into(),
        data_type: "json".into(),
        origin: String::new(),
    }
}

fn run(engine: &mut RulesEngine, records: Vec<ClassifiedRecord>) -> BatchOutcome {
    engine.evaluate(records).unwrap()
}

fn fired(outcome: &BatchOutcome) -> BTreeSet<&str> {
    outcome
        .alerts
        .iter()
        .map(|alert| alert.rule_name.as_str())
        .collect()
}

fn alert<'a>(outcome: &'a BatchOutcome, rule: &str) -> &'a Alert {
    outcome
        .alerts
        .iter()
        .find(|a| a.rule_name == rule)
        .unwrap_or_else(|| panic!("{rule} did not fire"))
}

#[test]
fn registry_is_in_sorted_file_order_then_definition_order_with_options_read() {
    let _turn = exclusive();
    let engine = load();
    let names: Vec<_> = engine.rules().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "root_login",
            "deletes",
            "prod_anything",
            "never_reached",
            "with_context",
            "raises",
            "disabled_rule",
            "everywhere",
            "dynamic",
            "mutates",
            "lucky",
            "blocklisted",
            "known_bad_ip",
            "substring_logs",
            "exits",
            "ambiguous_result"
        ]
    );
    let catalog = engine.catalog();
    assert_eq!(
        catalog.disabled_names().collect::<Vec<_>>(),
        ["disabled_rule"]
    );
    assert_eq!(catalog.find("everywhere").unwrap().logs, LogsFilter::All);
    assert_eq!(
        catalog.find("substring_logs").unwrap().logs,
        LogsFilter::Substring("other:thing".into())
    );
    let deletes = catalog.find("deletes").unwrap();
    assert_eq!(
        deletes.req_subkeys,
        [("detail".to_owned(), vec!["action".to_owned()])]
    );
    assert_eq!(deletes.file, "rules/fixture/alpha.py");
    assert_eq!(
        catalog.find("root_login").unwrap().description,
        "author: sa\n    description: root logged in"
    );
}

#[test]
fn each_log_type_gets_the_keys_its_rules_read_unless_one_rule_may_read_any() {
    let _turn = exclusive();
    let mut engine = load();
    let keys = |rule: &str| engine.catalog().find(rule).unwrap().record_keys.clone();
    let names = |names: &[&str]| Some(names.iter().map(|name| name.to_string()).collect());
    assert_eq!(keys("root_login"), names(&["user"]));
    assert_eq!(
        keys("prod_anything"),
        names(&["account", "user"]),
        "with its matcher's"
    );
    assert_eq!(
        keys("dynamic"),
        names(&["team", "user"]),
        "with its dynamic output's"
    );
    assert_eq!(
        keys("known_bad_ip"),
        names(&["streamalert:ioc"]),
        "rec.get(ThreatIntel.IOC_KEY)"
    );
    assert_eq!(
        engine.record_view("test:events"),
        RecordView::Keys(
            [
                "account",
                "detail",
                "mutated",
                "no_such_key",
                "streamalert:ioc",
                "team",
                "user"
            ]
            .map(String::from)
            .into()
        ),
        "the union over the log type's rules"
    );
    assert_eq!(
        engine.record_view("test:hostile"),
        RecordView::Keys(["user".to_owned()].into()),
        "exits and ambiguous_result read nothing, everywhere (datatypes) reads user"
    );
    drop(engine);
    let mut engine = RulesEngine::load(
        &layout("repo"),
        &EngineOptions {
            whole_records: true,
            ..options()
        },
    )
    .unwrap();
    assert_eq!(engine.record_view("test:hostile"), RecordView::Whole);
}

#[test]
fn a_root_login_alert_carries_every_field_of_section_10() {
    let _turn = exclusive();
    let mut engine = load();
    let outcome = run(
        &mut engine,
        vec![record(
            "test:events",
            json!({"user": "root", "account": "dev"}),
        )],
    );
    assert_eq!(fired(&outcome), ["root_login"].into());
    let alert = alert(&outcome, "root_login");
    assert_eq!(
        alert.outputs,
        ["aws-firehose:alerts".to_owned(), "slack:sec".to_owned()].into()
    );
    assert_eq!(alert.created, NOW);
    assert_eq!(alert.cluster.as_deref(), Some("prod"));
    assert_eq!(alert.log_source.as_deref(), Some("test:events"));
    assert_eq!(alert.log_type.as_deref(), Some("json"));
    assert_eq!(alert.source_entity.as_deref(), Some("stream"));
    assert_eq!(alert.source_service.as_deref(), Some("kinesis"));
    assert_eq!(alert.merge_by_keys, ["user"]);
    assert_eq!(alert.merge_window_mins, 5);
    assert_eq!(
        alert.policy,
        AlertPolicy {
            send_first: true,
            threshold: 2,
            dedup_keys: vec!["account".into()],
            dedup_window_mins: 0,
        }
    );
    assert!(alert.merge_enabled());
    assert_eq!(alert.publishers, None);
    assert!(!alert.staged);
    assert_eq!(alert.context, serde_json::Map::new());
    assert_eq!(alert.alert_id.len(), 36);
}

#[test]
fn a_record_with_a_source_position_gets_the_same_alert_id_on_replay() {
    let _turn = exclusive();
    let mut engine = load();
    let positioned = || {
        let mut classified = record("test:events", json!({"user": "root", "account": "dev"}));
        classified.origin = "kinesis/stream/shardId-000000000000/7#0".into();
        classified
    };
    let first = run(&mut engine, vec![positioned()]);
    let replay = run(&mut engine, vec![positioned()]);
    let id = &alert(&first, "root_login").alert_id;
    assert_eq!(
        id,
        &sa_rules::alert_id_for("root_login", "kinesis/stream/shardId-000000000000/7#0")
    );
    assert_eq!(id, &alert(&replay, "root_login").alert_id);
}

#[test]
fn the_python_alert_output_dict_equals_the_rust_one() {
    let _turn = exclusive();
    let mut engine = load();
    let outcome = run(
        &mut engine,
        vec![record("test:events", json!({"user": "root"}))],
    );
    let alert = alert(&outcome, "root_login");
    // No publishers on the rule: the DefaultPublisher runs and returns output_dict().
    assert_eq!(
        engine.compose(alert, "slack:sec").unwrap(),
        alert.output_dict()
    );
}

#[test]
fn req_subkeys_and_logs_prefilter_in_rust_and_truthiness_decides() {
    let _turn = exclusive();
    let mut engine = load();
    let outcome = run(
        &mut engine,
        vec![
            record(
                "test:events",
                json!({"user": "x", "detail": {"action": "delete"}}),
            ),
            record("test:events", json!({"user": "x", "detail": "delete"})),
            record("test:events", json!({"user": "x", "account": "prod"})),
            record("test:events", json!({"user": "nobody", "account": "prod"})),
            record("unrelated:type", json!({"user": "root"})),
            record("other", json!({"user": "root"})),
        ],
    );
    let names: Vec<_> = outcome
        .alerts
        .iter()
        .map(|a| a.rule_name.as_str())
        .collect();
    assert_eq!(names, ["deletes", "prod_anything", "substring_logs"]);
    // 12 enabled rules accept test:events; `deletes` is skipped for the three records whose
    // detail is missing or not an object; unrelated:type has only `everywhere` (logs=None);
    // `other` has `everywhere` and `substring_logs`.
    assert_eq!(outcome.rule_calls, 12 * 4 - 3 + 1 + 2);
}

#[test]
fn a_shared_batch_gives_the_alerts_of_an_owned_one_and_stays_as_it_was() {
    let _turn = exclusive();
    let mut engine = load();
    let batch = || {
        let records = [
            json!({"user": "root", "account": "dev"}),
            json!({"user": "alice", "account": "dev"}),
            json!({"user": "boom"}),
            json!({"user": "root", "account": "prod"}),
        ];
        records
            .into_iter()
            .enumerate()
            .map(|(index, value)| {
                let mut classified = record("test:events", value);
                classified.origin = format!("file/f/{index}#0");
                classified
            })
            .collect::<Vec<_>>()
    };
    let owned = run(&mut engine, batch());
    // The node keeps the batch (to offer it again after a crash) while the rules run.
    let shared = Arc::new(batch());
    let kept = shared.clone();
    let from_shared = engine.run(shared).unwrap().into_outcome().unwrap();
    assert!(owned.alerts.len() >= 2, "{:?}", fired(&owned));
    assert_eq!(from_shared, owned);
    assert_eq!(*kept, batch(), "the shared batch is only read");
}

#[test]
fn raising_rules_and_matchers_are_counted_with_file_and_line_and_do_not_fire() {
    let _turn = exclusive();
    let mut engine = load();
    let outcome = run(
        &mut engine,
        vec![record("test:events", json!({"user": "boom"}))],
    );
    assert!(outcome.alerts.is_empty(), "{:?}", fired(&outcome));
    let stages: Vec<_> = outcome
        .failures
        .iter()
        .map(|f| (f.rule.as_str(), f.stage.as_str()))
        .collect();
    assert_eq!(stages, [("never_reached", "matcher"), ("raises", "rule")]);
    let failure = &outcome.failures[1];
    assert!(
        failure
            .message
            .starts_with("rules/fixture/alpha.py line 45: KeyError"),
        "{}",
        failure.message
    );
    assert_eq!(failure.record["user"], "boom");
    assert!(
        outcome.failures[0]
            .message
            .contains("matchers/fixture.py line 6: ValueError: matcher failure")
    );
}

#[test]
fn rules_that_exit_or_return_untestable_values_fail_alone() {
    let _turn = exclusive();
    let mut engine = load();
    let outcome = run(
        &mut engine,
        vec![record("test:hostile", json!({"user": "x"}))],
    );
    let failures: Vec<_> = outcome
        .failures
        .iter()
        .map(|f| (f.rule.as_str(), f.message.as_str()))
        .collect();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(
        failures[0].0 == "exits" && failures[0].1.contains("SystemExit"),
        "{failures:?}"
    );
    assert!(
        failures[1].0 == "ambiguous_result" && failures[1].1.contains("ambiguous"),
        "{failures:?}"
    );
    // The rules thread goes on.
    assert_eq!(
        fired(&run(
            &mut engine,
            vec![record("test:events", json!({"user": "root"}))]
        )),
        ["root_login"].into()
    );
}

#[test]
fn context_is_a_fresh_deep_copy_per_call_and_becomes_the_alert_context() {
    let _turn = exclusive();
    let mut engine = load();
    let outcome = run(
        &mut engine,
        vec![
            record("test:events", json!({"user": "ctx"})),
            record("test:events", json!({"user": "ctx"})),
        ],
    );
    assert_eq!(outcome.alerts.len(), 2);
    for alert in &outcome.alerts {
        assert_eq!(
            alert.context,
            json!({"seen": 1, "user": "ctx"})
                .as_object()
                .unwrap()
                .clone()
        );
    }
}

#[test]
fn dynamic_outputs_and_publishers_resolve_per_sections_9_8_and_9_10() {
    let _turn = exclusive();
    let mut engine = load();
    let outcome = run(&mut engine, vec![dynamic_record()]);
    let alert = alert(&outcome, "dynamic");
    let expected: BTreeSet<String> = ["aws-firehose:alerts", "pagerduty:blue", "slack:sec"]
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(alert.outputs, expected);
    assert_eq!(
        alert.publishers,
        Some(json!({
            "pagerduty:blue": [],
            "slack:sec": ["publishers.fixture.pubs.add_title", "publishers.fixture.pubs.AddRecord"]
        }))
    );
    let slack = engine.compose(alert, "slack:sec").unwrap();
    assert_eq!(
        slack,
        json!({
            "@slack.text": "&lt;dynamic&gt; &amp; \"prod\"",
            "record": {"user": "dyn", "team": "blue"},
            "created": "2020-01-01T00:00:00.000000Z"
        })
    );
    // No publisher names for PagerDuty: the DefaultPublisher's output_dict().
    assert_eq!(
        engine.compose(alert, "pagerduty:blue").unwrap()["rule_name"],
        "dynamic"
    );
}

#[test]
fn publishers_see_the_normalization_only_under_the_test_runner() {
    let _turn = exclusive();
    let normalized = || {
        let mut record = dynamic_record();
        record.record.insert(
            "streamalert_normalization".into(),
            json!({"sourceAddress": [{"function": null, "values": ["1.2.3.4"]}]}),
        );
        record
    };
    let published_record = |engine: &mut RulesEngine| {
        let outcome = run(engine, vec![normalized()]);
        let alert = alert(&outcome, "dynamic");
        // The stored alert keeps it either way (docs/spec §7.5).
        assert!(alert.record.contains_key("streamalert_normalization"));
        engine.compose(alert, "slack:sec").unwrap()["record"].clone()
    };
    // The alert processor removes it before publishing (docs/spec §12.1).
    let mut engine = load();
    assert_eq!(
        published_record(&mut engine),
        json!({"user": "dyn", "team": "blue"})
    );
    drop(engine);
    // StreamAlert's test runner composes the rules engine's alert as it is (docs/spec §15.6).
    let mut engine = RulesEngine::load(
        &layout("repo"),
        &EngineOptions {
            test_mode: true,
            ..options()
        },
    )
    .unwrap();
    assert_eq!(
        published_record(&mut engine),
        json!({"user": "dyn", "team": "blue",
               "streamalert_normalization": {"sourceAddress": [{"function": null, "values": ["1.2.3.4"]}]}})
    );
}

#[test]
fn alerts_carry_the_record_as_classified_even_when_a_rule_mutates_it() {
    let _turn = exclusive();
    let mut engine = load();
    let outcome = run(
        &mut engine,
        vec![record("test:events", json!({"user": "mutate"}))],
    );
    // Copy-on-alert (docs/spec Appendix D #13): the rule's mutation does not reach the alert.
    assert_eq!(
        Value::Object(alert(&outcome, "mutates").record.clone()),
        json!({"user": "mutate"})
    );
}

#[test]
fn staged_rules_only_reach_the_alerts_firehose_and_are_flagged() {
    let _turn = exclusive();
    let mut engine = RulesEngine::load(&staging_layout(), &options()).unwrap();
    engine.set_rule_table(Some(table(&["dynamic"], &[])));
    let outcome = run(&mut engine, vec![dynamic_record()]);
    let alert = alert(&outcome, "dynamic");
    assert!(alert.staged);
    assert_eq!(alert.outputs, ["aws-firehose:alerts".to_owned()].into());
    assert_eq!(alert.publishers, Some(json!({})));
}

#[test]
fn staged_flags_apply_only_where_the_repository_enables_staging() {
    let _turn = exclusive();
    let mut engine = load();
    engine.set_rule_table(Some(table(&["dynamic"], &[])));
    let outcome = run(&mut engine, vec![dynamic_record()]);
    let alert = alert(&outcome, "dynamic");
    assert!(!alert.staged);
    assert!(alert.outputs.contains("slack:sec"), "{:?}", alert.outputs);
}

#[test]
fn disabled_rules_do_not_run_until_enabled_again() {
    let _turn = exclusive();
    let mut engine = RulesEngine::load(&staging_layout(), &options()).unwrap();
    let records = || {
        vec![
            record("test:events", json!({"user": "root", "account": 1})),
            dynamic_record(),
        ]
    };
    engine.set_rule_table(Some(table(&["dynamic"], &["root_login"])));
    let outcome = run(&mut engine, records());
    assert_eq!(fired(&outcome), ["dynamic"].into());
    assert!(alert(&outcome, "dynamic").staged);
    // Rows gone (the rules were dropped by a push this engine has not loaded yet): the rules
    // keep their states.
    engine.set_rule_table(Some(table(&[], &[])));
    let outcome = run(&mut engine, records());
    assert_eq!(fired(&outcome), ["dynamic"].into());
    assert!(alert(&outcome, "dynamic").staged);
    // Rows back, live: both run, unstaged.
    engine.set_rule_table(Some(listed_live(&["root_login", "dynamic"])));
    let outcome = run(&mut engine, records());
    assert_eq!(fired(&outcome), ["root_login", "dynamic"].into());
    assert!(!alert(&outcome, "dynamic").staged);
}

/// A rule table whose rows for `names` say live and enabled.
fn listed_live(names: &[&str]) -> Arc<dyn RuleTable> {
    fixed_table(RuleStates {
        listed: names.iter().map(|name| name.to_string()).collect(),
        ..RuleStates::default()
    })
}

#[test]
fn lookup_tables_are_served_from_the_installed_source() {
    let _turn = exclusive();
    let mut engine = load();
    lookup::install(Arc::new(
        FixtureTables::from_json(&json!({"blocklist": {"mallory": true}})).unwrap(),
    ));
    let outcome = run(
        &mut engine,
        vec![
            record("test:events", json!({"user": "mallory"})),
            record("test:events", json!({"user": "alice"})),
        ],
    );
    lookup::uninstall();
    assert_eq!(
        outcome
            .alerts
            .iter()
            .map(|a| a.record["user"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["mallory"]
    );
    let outcome = run(
        &mut engine,
        vec![record("test:events", json!({"user": "mallory"}))],
    );
    assert!(outcome.alerts.is_empty());
}

#[test]
fn threat_intel_matches_are_visible_to_rules() {
    let _turn = exclusive();
    let mut engine = load();
    let config = ThreatIntelConfig {
        ioc_type_of: [("sourceAddress".to_owned(), "ip".to_owned())].into(),
        ..Default::default()
    };
    let iocs = FixtureIocs::from_json(
        &json!([{"ioc_value": "1.2.3.4", "ioc_type": "ip", "sub_type": "x"}]),
    )
    .unwrap();
    engine.set_threat_intel(Some((config, Arc::new(iocs))));
    let normalized = |ip: &str| json!({"user": "u", "streamalert_normalization": {"sourceAddress": [{"function": null, "values": [ip]}]}});
    let outcome = run(
        &mut engine,
        vec![
            record("test:events", normalized("1.2.3.4")),
            record("test:events", normalized("5.6.7.8")),
        ],
    );
    assert_eq!(fired(&outcome), ["known_bad_ip"].into());
    assert_eq!(
        outcome.alerts[0].record["streamalert:ioc"],
        json!({"ip": ["1.2.3.4"]})
    );
}

#[test]
fn test_mode_forces_random_bool_true() {
    let _turn = exclusive();
    let mut engine = load();
    assert!(
        run(
            &mut engine,
            vec![record("test:events", json!({"user": "lucky"}))]
        )
        .alerts
        .is_empty()
    );
    drop(engine);
    let mut engine = RulesEngine::load(
        &layout("repo"),
        &EngineOptions {
            test_mode: true,
            ..options()
        },
    )
    .unwrap();
    assert_eq!(
        fired(&run(
            &mut engine,
            vec![record("test:events", json!({"user": "lucky"}))]
        )),
        ["lucky"].into()
    );
}

#[test]
fn import_failures_name_each_file_and_line_and_a_second_load_is_refused() {
    let _turn = exclusive();
    let error = RulesEngine::load(&layout("broken_repo"), &options()).unwrap_err();
    let LoadError::Import(messages) = &error else {
        panic!("{error}")
    };
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].starts_with("rules/needs_package.py line 3: ModuleNotFoundError")
            && messages[0].contains("definitely_not_installed_pkg"),
        "{}",
        messages[0]
    );
    assert!(
        messages[1].contains("rules/no_logs.py line 4: RuleCreationError"),
        "{}",
        messages[1]
    );
    // The failed load left nothing behind: the good repository loads, and a second one is refused.
    let engine = load();
    assert_eq!(
        RulesEngine::load(&layout("repo"), &options()).unwrap_err(),
        LoadError::Busy
    );
    drop(engine);
}

#[test]
fn the_rules_thread_takes_batches_from_other_threads_and_reloads() {
    let _turn = exclusive();
    let worker = RulesWorker::spawn(layout("repo"), options(), 4).unwrap();
    let handle = worker.handle();
    let sender = std::thread::spawn(move || {
        handle
            .evaluate(vec![record("test:events", json!({"user": "root"}))])
            .unwrap()
    });
    assert_eq!(fired(&sender.join().unwrap()), ["root_login"].into());
    let handle = worker.handle();
    assert!(matches!(
        handle.reload(layout("broken_repo"), options()),
        Err(RulesError::Load(_))
    ));
    // Plugs survive reloads: the table applies to the repository loaded after it was plugged.
    handle
        .plug(Plugs {
            rule_table: Some(table(&[], &["root_login"])),
            threat_intel: None,
        })
        .unwrap();
    // The failed reload left the previous version serving, with root_login disabled.
    let records = || {
        vec![
            record("test:events", json!({"user": "root"})),
            record("test:events", json!({"user": "dyn"})),
        ]
    };
    let outcome = handle.evaluate(records()).unwrap();
    assert_eq!(fired(&outcome), ["dynamic"].into());
    assert_eq!(
        handle
            .reload(layout("repo"), options())
            .map(|names| names.len()),
        Ok(16)
    );
    let outcome = handle.evaluate(records()).unwrap();
    assert_eq!(fired(&outcome), ["dynamic"].into());
    drop(handle);
    drop(worker);
    // The worker released the interpreter.
    drop(load());
}
