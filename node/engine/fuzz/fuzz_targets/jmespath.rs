//! `json_path` evaluation: the first line is the expression, the rest the document.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sa_engine::jmes::JmesPath;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (expr, doc) = text.split_once('\n').unwrap_or((text, "{}"));
    let Ok(path) = JmesPath::compile(expr) else { return };
    if let Ok(doc) = serde_json::from_str::<serde_json::Value>(doc) {
        let _ = path.search_records(&doc);
    }
});
