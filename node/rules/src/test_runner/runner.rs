//! Running test events (docs/spec §15.3–§15.6) and deciding pass/fail (§15.5).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use sa_engine::Classifier;
use sa_engine::test_events::{self, EventSpec, TestEventFile};
use serde_json::{Map, Value};

use super::coverage::Coverage;
use super::publisher_tests::{PublisherCheck, check_all};
use crate::clock::Micros;
use crate::engine::{BatchOutcome, RuleFailure, RuleTiming, RulesEngine};
use crate::lookup::{self, FixtureTables};
use crate::rule_catalog::RecordView;
use crate::threat_intel::{FixtureIocs, ThreatIntelConfig};

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--rule`: only events expecting one of these rules are reported (docs/spec §15.1 `-r`).
    pub rules_filter: Vec<String>,
    /// The instant `<helper:last_hour>` is computed from.
    pub now: Micros,
    /// Threat intel as configured (`conf/threat_intel.json`); the IOC table is each event's
    /// fixtures.
    pub threat_intel: Option<ThreatIntelConfig>,
    /// Run each event whose rules get a view of the record a second time on the whole record
    /// and warn where the rules answer differently (`--check-record-keys`).
    pub check_record_keys: bool,
}

/// What happened to one test event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventResult {
    pub file: PathBuf,
    /// 1-based, as the report prints it.
    pub number: usize,
    pub description: String,
    /// The event could not be run (bad keys, unknown log type, ...).
    pub error: Option<String>,
    pub expected_log: String,
    pub classified_as: Option<String>,
    /// Why classification failed or chose another log type (sa-engine's explanation).
    pub classification_note: Option<String>,
    pub ran_rules: bool,
    pub triggered: BTreeSet<String>,
    /// `trigger_rules` minus disabled rules.
    pub expected: BTreeSet<String>,
    pub expected_disabled: BTreeSet<String>,
    pub expected_unknown: BTreeSet<String>,
    pub rule_failures: Vec<RuleFailure>,
    pub publisher_checks: Vec<PublisherCheck>,
    pub warnings: Vec<String>,
    pub passed: bool,
}

/// Everything `sactl test rules` reports.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    pub results: Vec<EventResult>,
    pub skipped_files: Vec<(PathBuf, String)>,
    /// Enabled rules no (reported) test event expects.
    pub untested_rules: Vec<String>,
    pub coverage: Coverage,
    pub timings: Vec<(String, RuleTiming)>,
    pub filtered: bool,
}

impl RunReport {
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed).count()
    }

    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }
}

/// Runs every event of `files` through `classifier` and `engine`.
pub fn run(
    engine: &mut RulesEngine,
    classifier: &Classifier,
    files: Vec<TestEventFile>,
    options: &RunOptions,
) -> RunReport {
    let disabled: BTreeSet<String> = engine
        .catalog()
        .disabled_names()
        .map(str::to_owned)
        .collect();
    let mut report = RunReport {
        filtered: !options.rules_filter.is_empty(),
        ..RunReport::default()
    };
    let now_seconds = u64::try_from(options.now.div_euclid(1_000_000)).unwrap_or(0);
    for file in files {
        let events = match file.events {
            Ok(events) => events,
            Err(reason) => {
                report.skipped_files.push((file.path, reason.to_string()));
                continue;
            }
        };
        for event in events {
            let mut result = EventResult {
                file: file.path.clone(),
                number: event.index + 1,
                ..EventResult::default()
            };
            let raw = with_legacy_keys(event.value);
            result.description = raw
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            result.expected_log = raw
                .get("log")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let prepared = match test_events::prepare(&raw, classifier.config(), now_seconds) {
                Ok(prepared) => prepared,
                Err(error) => {
                    result.error = Some(error.to_string());
                    report.results.push(result);
                    continue;
                }
            };
            let spec = &prepared.spec;
            for rule in spec.trigger_rules.iter().flatten() {
                if disabled.contains(rule) {
                    result.expected_disabled.insert(rule.clone());
                } else {
                    if engine.catalog().find(rule).is_none() {
                        result.expected_unknown.insert(rule.clone());
                    }
                    result.expected.insert(rule.clone());
                }
            }
            if !options.rules_filter.is_empty()
                && !options
                    .rules_filter
                    .iter()
                    .any(|r| result.expected.contains(r))
            {
                continue;
            }
            result.warnings.extend(
                spec.unknown_keys
                    .iter()
                    .map(|key| format!("unknown key {key:?} ignored")),
            );
            if let Err(error) = run_event(engine, classifier, &prepared, options, &mut result) {
                result.error = Some(error);
            }
            result.passed = result.error.is_none()
                && result.classified_as.as_deref() == Some(spec.log.as_str())
                && (!result.ran_rules || result.triggered == result.expected)
                && result
                    .publisher_checks
                    .iter()
                    .all(|check| check.failure.is_none());
            report.coverage.record(engine.catalog(), &result);
            report.results.push(result);
        }
    }
    lookup::uninstall();
    engine.set_threat_intel(None);
    if options.rules_filter.is_empty() {
        let expected: BTreeSet<&str> = report
            .results
            .iter()
            .flat_map(|r| r.expected.iter().map(String::as_str))
            .collect();
        report.untested_rules = engine
            .rules()
            .iter()
            .filter(|rule| !rule.disabled && !expected.contains(rule.name.as_str()))
            .map(|rule| rule.name.clone())
            .collect();
    }
    report.coverage.finish(engine.catalog());
    report.timings = engine.rule_timings().unwrap_or_default();
    report
}

/// `validate_schema_only`, the older name of `classify_only` that repositories still carry.
fn with_legacy_keys(mut event: Value) -> Value {
    if let Value::Object(map) = &mut event
        && let Some(flag) = map.remove("validate_schema_only")
        && flag == Value::Bool(true)
    {
        map.insert("classify_only".to_owned(), flag);
    }
    event
}

fn fixtures(spec: &EventSpec) -> Result<(FixtureTables, FixtureIocs), String> {
    let fixtures = spec.test_fixtures.clone().unwrap_or(Value::Null);
    if !fixtures.is_null() && !fixtures.is_object() {
        return Err("test_fixtures must be an object".to_owned());
    }
    let tables = fixtures
        .get("lookup_tables")
        .map(FixtureTables::from_json)
        .transpose()
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let iocs = fixtures
        .get("threat_intel")
        .map(FixtureIocs::from_json)
        .transpose()
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    Ok((tables, iocs))
}

fn run_event(
    engine: &mut RulesEngine,
    classifier: &Classifier,
    prepared: &test_events::PreparedEvent,
    options: &RunOptions,
    result: &mut EventResult,
) -> Result<(), String> {
    let spec = &prepared.spec;
    // Each event's fixtures replace the previous event's (docs/spec §15.3 step 5).
    let (tables, iocs) = fixtures(spec)?;
    lookup::install(Arc::new(tables));
    engine.set_threat_intel(
        options
            .threat_intel
            .clone()
            .map(|config| (config, Arc::new(iocs) as _)),
    );

    let classified = match test_events::classify_event(classifier, prepared) {
        Ok(classified) => classified,
        Err(failure) => {
            result.classification_note = Some(explain(&failure));
            return Ok(());
        }
    };
    let log_type = classified.first.log_type.clone();
    result.classified_as = Some(log_type.clone());
    if log_type != spec.log {
        let verdict = test_events::run_event(classifier, Ok(prepared.clone()));
        result.classification_note = verdict.outcome.err().map(|failure| explain(&failure));
    }
    if spec.classify_only {
        return Ok(());
    }
    let records = classified.into_records();
    let view = engine.record_view(&log_type);
    let whole_records = match view {
        RecordView::Keys(_) if options.check_record_keys => Some(records.clone()),
        _ => None,
    };
    let outcome = engine.evaluate(records).map_err(|e| e.to_string())?;
    if let (Some(records), RecordView::Keys(keys)) = (whole_records, &view) {
        engine.set_whole_records(true);
        let on_whole = engine.evaluate(records);
        engine.set_whole_records(false);
        if let Some(difference) = difference(&outcome, &on_whole.map_err(|e| e.to_string())?) {
            result.warnings.push(format!(
                "the rules behave differently on the whole record than on the keys sa found \
                 they read ({}): {difference}; a rule that keeps state between calls does (it \
                 was called twice), else run sanode with --rules-whole-records and report it",
                keys.join(", ")
            ));
        }
    }
    result.ran_rules = true;
    result.triggered = outcome
        .alerts
        .iter()
        .map(|alert| alert.rule_name.clone())
        .collect();
    result.rule_failures = outcome.failures;
    let publisher_tests = match &spec.publisher_tests {
        None | Some(Value::Null) => return Ok(()),
        Some(Value::Object(tests)) if !tests.is_empty() && !spec.skip_publishers => tests,
        Some(Value::Object(_)) => return Ok(()),
        Some(_) => return Err("publisher_tests must map outputs to lists of tests".to_owned()),
    };
    // Every alert is checked; like StreamAlert, the last alert's results are the ones kept.
    for alert in &outcome.alerts {
        let mut publications = Map::new();
        let mut compose_errors = Vec::new();
        for output in &alert.outputs {
            match engine.compose(alert, output) {
                Ok(publication) => {
                    publications.insert(output.clone(), publication);
                }
                Err(error) => compose_errors.push(PublisherCheck {
                    output: output.clone(),
                    test: format!("publishers of {}", alert.rule_name),
                    failure: Some(format!("publisher raised: {error}")),
                }),
            }
        }
        result.publisher_checks = compose_errors;
        result
            .publisher_checks
            .extend(check_all(publisher_tests, &publications));
    }
    Ok(())
}

/// How evaluating the whole record differed from evaluating the keys its rules read.
fn difference(on_keys: &BatchOutcome, on_whole: &BatchOutcome) -> Option<String> {
    // What a rule can compute from the record: whether it fires, its dynamic outputs and
    // publishers, its context, and what it raises.
    let fired = |outcome: &BatchOutcome| -> BTreeSet<String> {
        outcome
            .alerts
            .iter()
            .map(|alert| {
                format!(
                    "{} (outputs {}, publishers {}, context {})",
                    alert.rule_name,
                    alert.outputs.iter().cloned().collect::<Vec<_>>().join(" "),
                    alert.publishers.clone().unwrap_or_default(),
                    Value::Object(alert.context.clone())
                )
            })
            .collect()
    };
    let failed = |outcome: &BatchOutcome| -> BTreeSet<String> {
        outcome
            .failures
            .iter()
            .map(|failure| format!("{} ({}: {})", failure.rule, failure.stage, failure.message))
            .collect()
    };
    let mut parts = Vec::new();
    for (what, keys, whole) in [
        ("fired", fired(on_keys), fired(on_whole)),
        ("raised", failed(on_keys), failed(on_whole)),
    ] {
        let only_whole: Vec<&str> = whole.difference(&keys).map(String::as_str).collect();
        let only_keys: Vec<&str> = keys.difference(&whole).map(String::as_str).collect();
        if !only_whole.is_empty() {
            parts.push(format!(
                "{what} only on the whole record: {}",
                only_whole.join(", ")
            ));
        }
        if !only_keys.is_empty() {
            parts.push(format!("{what} only on the keys: {}", only_keys.join(", ")));
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

fn explain(failure: &test_events::EventFailure) -> String {
    let mut text = failure.reason.clone();
    for candidate in &failure.candidates {
        text.push_str(&format!("\n            {candidate}"));
    }
    text
}
