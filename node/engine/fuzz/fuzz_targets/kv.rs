//! The kv parser with a delimiter and separator from the first bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sa_engine::parsers::{KvDialect, Root, extract_kv};
use sa_engine::schema::Schema;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let dialect = KvDialect { delimiter: char::from(data[0]).to_string(), separator: char::from(data[1]).to_string() };
    let schema = serde_json::json!({"type": "string", "msg": "string", "type_2": "integer"});
    let schema = Schema::from_map(schema.as_object().expect("object"));
    let _ = extract_kv(&dialect, &schema, &Root::from_bytes(&data[2..]));
});
