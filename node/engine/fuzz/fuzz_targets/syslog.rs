//! The `syslog` parser on arbitrary text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sa_engine::parsers::{Parse, by_name};

fuzz_target!(|data: &[u8]| {
    let Some(Parse::Text(parse)) = by_name("syslog").map(|p| p.parse) else {
        panic!("syslog is a text parser");
    };
    let _ = parse(&String::from_utf8_lossy(data));
});
