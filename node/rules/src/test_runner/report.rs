//! The text `sactl test rules` prints (docs/spec §15.5 layout); the last line is `N passed, N failed`.

use std::fmt::Write;

use super::runner::{EventResult, RunReport};

/// What to print besides per-event results.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    pub verbose: bool,
    pub coverage: bool,
    /// `--min-tests N`: shortfalls are listed and count as failures.
    pub min_tests: Option<usize>,
    pub stats: bool,
}

/// The report text and whether the run failed (a failed event or a coverage shortfall).
pub fn render(report: &RunReport, options: RenderOptions) -> (String, bool) {
    let mut out = String::new();
    for (path, reason) in &report.skipped_files {
        let _ = writeln!(out, "Warning: skipped {}: {reason}", path.display());
    }
    let mut current_file = None;
    for result in &report.results {
        if current_file != Some(&result.file) {
            let _ = writeln!(out, "\nFile: {}\n", result.file.display());
            current_file = Some(&result.file);
        }
        if result.passed && !options.verbose {
            let _ = writeln!(out, "Test #{:02}: Pass", result.number);
            for warning in &result.warnings {
                let _ = writeln!(out, "    Warning: {warning}");
            }
        } else {
            event_block(&mut out, result);
        }
    }
    if !report.filtered && !report.untested_rules.is_empty() {
        let _ = writeln!(
            out,
            "\nWarning: no test event expects these enabled rules: {}",
            report.untested_rules.join(", ")
        );
    }
    let mut failed = report.failed();
    let mut extra_failures = 0;
    if options.coverage || options.min_tests.is_some() {
        let _ = writeln!(
            out,
            "\nCoverage (events where the rule fires / stays quiet):"
        );
        for (name, coverage) in report.coverage.rules() {
            let _ = writeln!(
                out,
                "  {name}: {} positive, {} negative",
                coverage.positive, coverage.negative
            );
        }
        let shortfalls = report.coverage.shortfalls(options.min_tests.unwrap_or(2));
        if !shortfalls.is_empty() {
            let verdict = if options.min_tests.is_some() {
                "Coverage failure"
            } else {
                "Coverage gap"
            };
            for (name, reason) in &shortfalls {
                let _ = writeln!(out, "{verdict}: {name}: {reason}");
            }
        }
        if options.min_tests.is_some() {
            extra_failures = shortfalls.len();
        }
    }
    if options.stats {
        let _ = writeln!(out, "\nRule timing (calls, mean, max):");
        let mut timings = report.timings.clone();
        timings.sort_by_key(|(_, timing)| std::cmp::Reverse(timing.total));
        for (name, timing) in timings {
            let mean = timing.total / u32::try_from(timing.calls.max(1)).unwrap_or(u32::MAX);
            let _ = writeln!(
                out,
                "  {name}: {} calls, mean {mean:?}, max {:?}",
                timing.calls, timing.max
            );
        }
    }
    let _ = writeln!(
        out,
        "\nSummary:\n  Total Tests: {}\n  Pass: {}\n  Fail: {}",
        report.results.len(),
        report.passed(),
        failed
    );
    if extra_failures > 0 {
        let _ = writeln!(out, "  Coverage failures: {extra_failures}");
    }
    failed += extra_failures;
    let _ = write!(out, "{} passed, {failed} failed", report.passed());
    (out, failed > 0)
}

fn event_block(out: &mut String, result: &EventResult) {
    let verdict = if result.passed { "Pass" } else { "Fail" };
    let _ = writeln!(out, "Test #{:02}: {verdict}", result.number);
    let _ = writeln!(out, "    Description: {}", result.description);
    if let Some(error) = &result.error {
        let _ = writeln!(out, "    Error: {error}");
    }
    let _ = writeln!(out, "    Classification:");
    let classified = result
        .classified_as
        .as_deref()
        .unwrap_or("(not classified: no schema matched the data)");
    let _ = writeln!(out, "        Classified Type: {classified}");
    let _ = writeln!(out, "        Expected Type: {}", result.expected_log);
    if let Some(note) = &result.classification_note {
        let _ = writeln!(out, "        Why: {note}");
    }
    if result.ran_rules {
        let name = |rule: &String| {
            if result.expected_unknown.contains(rule) {
                format!("{rule} (does not exist)")
            } else {
                rule.clone()
            }
        };
        let list = |rules: &mut dyn Iterator<Item = String>| rules.collect::<Vec<_>>().join(", ");
        let _ = writeln!(out, "    Rules:");
        let _ = writeln!(
            out,
            "        Triggered: {}",
            list(&mut result.triggered.iter().cloned())
        );
        let _ = writeln!(
            out,
            "        Expected: {}",
            list(&mut result.expected.iter().map(name))
        );
        let unexpected: Vec<_> = result
            .triggered
            .difference(&result.expected)
            .cloned()
            .collect();
        let missing: Vec<_> = result
            .expected
            .difference(&result.triggered)
            .map(name)
            .collect();
        if !unexpected.is_empty() {
            let _ = writeln!(
                out,
                "        Fired but not expected: {}",
                unexpected.join(", ")
            );
        }
        if !missing.is_empty() {
            let _ = writeln!(
                out,
                "        Expected but did not fire: {}",
                missing.join(", ")
            );
        }
        if !result.expected_disabled.is_empty() {
            let _ = writeln!(
                out,
                "        Disabled Rules: {}",
                list(&mut result.expected_disabled.iter().cloned())
            );
        }
        for failure in &result.rule_failures {
            let _ = writeln!(
                out,
                "        Raised ({} {}): {}",
                failure.stage, failure.rule, failure.message
            );
        }
    }
    if !result.publisher_checks.is_empty() {
        let passed = result
            .publisher_checks
            .iter()
            .filter(|c| c.failure.is_none())
            .count();
        let _ = writeln!(
            out,
            "    Publishers: {passed}/{} Passed",
            result.publisher_checks.len()
        );
        for check in &result.publisher_checks {
            if let Some(failure) = &check.failure {
                let _ = writeln!(out, "        {}: {} -> {failure}", check.output, check.test);
            }
        }
    }
    for warning in &result.warnings {
        let _ = writeln!(out, "    Warning: {warning}");
    }
}
