//! The repository's own `conf/` and `rules/`: every shipped test event classifies as its `log`
//! says (the acceptance check of `sactl test classifier` on the shipped repository).

use sa_engine::{Classifier, Config, test_events};

use crate::common::shipped_repo;

#[test]
fn shipped_test_events_classify_as_expected() {
    let repo = shipped_repo();
    let config = Config::load_dir(&repo.join("conf"))
        .unwrap_or_else(|e| panic!("shipped conf does not load:\n{e}"));
    let classifier = Classifier::new(config);
    let files = test_events::load(&[repo.join("rules")], &[]).expect("rules directory readable");
    let mut failures = Vec::new();
    let mut passed = 0;
    for file in &files {
        let events = match &file.events {
            Ok(events) => events,
            Err(e) => {
                failures.push(format!("{}: {e}", file.path.display()));
                continue;
            }
        };
        for event in events {
            let prepared =
                test_events::prepare(&event.value, classifier.config(), test_events::now());
            let result = test_events::run_event(&classifier, prepared);
            if result.passed() {
                passed += 1;
                continue;
            }
            let why = match &result.outcome {
                Ok(record) => format!(
                    "classified as {}: {}",
                    record.log_type,
                    result.expected_rejection.clone().unwrap_or_default()
                ),
                Err(failure) => {
                    let candidates: Vec<String> =
                        failure.candidates.iter().map(ToString::to_string).collect();
                    format!("{failure}\n    {}", candidates.join("\n    "))
                }
            };
            failures.push(format!("{}[{}]: {why}", file.path.display(), event.index));
        }
    }
    assert!(
        failures.is_empty(),
        "{passed} passed, {} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
