//! Inputs the cargo-fuzz targets (node/engine/fuzz) found, replayed the way each target uses them.

use std::time::{Duration, Instant};

use sa_engine::jmes::JmesPath;

/// `jmespath` target, 2026-11-28: an expression of chained multi-selects whose result grows
/// exponentially ran out of memory; evaluation now stops at a work budget. (Since the parser
/// follows Python's, this input is a syntax error — `[rM@]` lacks a comma — and the budget is
/// covered by `jmes::tests::exponential_multi_selects_run_out_of_budget`; the replay stays.)
#[test]
fn jmespath_exponential_multiselect_is_bounded() {
    let data = include_bytes!("../fixtures/fuzz/jmespath-exponential-multiselect");
    let text = std::str::from_utf8(data).expect("utf-8 input");
    let (expr, doc) = text.split_once('\n').unwrap_or((text, "{}"));
    let doc: serde_json::Value = serde_json::from_str(doc).unwrap_or_default();
    let start = Instant::now();
    match JmesPath::compile(expr) {
        Ok(path) => {
            let _ = path.search_records(&doc);
            let _ = path.take_records(doc);
        }
        Err(error) => assert!(error.to_string().contains("at character 4"), "{error}"),
    }
    assert!(
        start.elapsed() < Duration::from_secs(30),
        "took {:?}",
        start.elapsed()
    );
}
