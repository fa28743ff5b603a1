//! The classifier's JSON decoder (sonic-rs with serde_json deciding the corner cases) against
//! serde_json itself: same acceptance, same value, same number kinds (the debug form tells
//! `1` from `1.0` and `-0.0` from `0.0`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let ours = sa_engine::decode::decode(data).map(|v| format!("{v:?}"));
    let reference = serde_json::from_slice::<Value>(data)
        .ok()
        .map(|v| format!("{v:?}"));
    assert_eq!(ours, reference);
});
