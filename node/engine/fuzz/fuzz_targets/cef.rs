//! The `cef` parser on arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sa_engine::parsers::ParserKind;

fuzz_target!(|data: &[u8]| {
    let _ = ParserKind::Cef.parse_fixed_fields(&String::from_utf8_lossy(data));
});
