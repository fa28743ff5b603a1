//! Running test events (§15.3–§15.6) and deciding pass/fail (§15.5).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use sa_engine::ClassifiedRecord;
use serde_json::{Map, Value};

use super::coverage::Coverage;
use super::discovery::TestFile;
use super::event::TestEvent;
use super::publisher_tests::{PublisherCheck, check_all};
use crate::clock::Micros;
use crate::engine::{RuleFailure, RuleTiming, RulesEngine};
use crate::lookup::{self, FixtureTables};
use crate::threat_intel::{FixtureIocs, ThreatIntelConfig};

/// Classification of one test event: override_record synthesis, wrapping for its service,
/// cluster selection and the classifier run (§15.3 steps 2–4, §15.4 steps 1–2).
pub trait EventClassifier {
    /// `Ok(None)`: no schema matched. `Err`: the event itself is wrong (unknown log type,
    /// source in no cluster, bad data type), which fails the event with that message.
    fn classify(&self, event: &TestEvent) -> Result<Option<ClassifiedRecord>, String>;
}

#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--rule`: only events expecting one of these rules are reported (§15.1 `-r`).
    pub rules_filter: Vec<String>,
    /// The instant `<helper:last_hour>` is computed from.
    pub now: Micros,
    /// Threat intel as configured (`conf/threat_intel.json`); the IOC table is each event's
    /// fixtures.
    pub threat_intel: Option<ThreatIntelConfig>,
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
    classifier: &dyn EventClassifier,
    files: Vec<TestFile>,
    skipped_files: Vec<(PathBuf, String)>,
    options: &RunOptions,
) -> RunReport {
    let disabled: BTreeSet<String> = engine
        .catalog()
        .disabled_names()
        .map(str::to_owned)
        .collect();
    let mut report = RunReport {
        skipped_files,
        filtered: !options.rules_filter.is_empty(),
        ..RunReport::default()
    };
    for file in files {
        for (index, raw) in file.events.iter().enumerate() {
            let mut result = EventResult {
                file: file.path.clone(),
                number: index + 1,
                ..EventResult::default()
            };
            let event = match TestEvent::parse(raw, options.now) {
                Ok(event) => event,
                Err(error) => {
                    result.description = raw
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned();
                    result.error = Some(error);
                    report.results.push(result);
                    continue;
                }
            };
            result.description = event.description.clone();
            result.expected_log = event.log.clone();
            for rule in &event.trigger_rules {
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
                event
                    .unknown_keys
                    .iter()
                    .map(|key| format!("unknown key {key:?} ignored")),
            );
            if let Err(error) = run_event(engine, classifier, &event, options, &mut result) {
                result.error = Some(error);
            }
            result.passed = result.error.is_none()
                && result.classified_as.as_deref() == Some(event.log.as_str())
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

fn run_event(
    engine: &mut RulesEngine,
    classifier: &dyn EventClassifier,
    event: &TestEvent,
    options: &RunOptions,
    result: &mut EventResult,
) -> Result<(), String> {
    // Each event's fixtures replace the previous event's (§15.3 step 5).
    let tables = match &event.lookup_fixtures {
        Some(fixtures) => FixtureTables::from_json(fixtures)?,
        None => FixtureTables::default(),
    };
    lookup::install(Arc::new(tables));
    let iocs = match &event.threat_intel_fixtures {
        Some(fixtures) => FixtureIocs::from_json(fixtures)?,
        None => FixtureIocs::default(),
    };
    engine.set_threat_intel(
        options
            .threat_intel
            .clone()
            .map(|config| (config, Arc::new(iocs) as _)),
    );

    let Some(classified) = classifier.classify(event)? else {
        return Ok(());
    };
    result.classified_as = Some(classified.log_type.clone());
    if event.classify_only {
        return Ok(());
    }
    let mut batch = vec![classified];
    let outcome = engine.evaluate(&mut batch)?;
    result.ran_rules = true;
    result.triggered = outcome
        .alerts
        .iter()
        .map(|alert| alert.rule_name.clone())
        .collect();
    result.rule_failures = outcome.failures;
    if event.skip_publishers || event.publisher_tests.is_empty() {
        return Ok(());
    }
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
            .extend(check_all(&event.publisher_tests, &publications));
    }
    Ok(())
}
