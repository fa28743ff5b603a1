//! The csv parser: Python's csv state machine on arbitrary text with a dialect taken from the
//! first bytes, and the record mapping onto a nested schema.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sa_engine::parsers::pycsv::{CsvDialect, read_rows};
use sa_engine::parsers::{Root, extract_csv};
use sa_engine::schema::Schema;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let dialect = CsvDialect {
        delimiter: char::from(data[0]),
        quotechar: char::from(data[1]),
        escapechar: (data[2] % 2 == 0).then(|| char::from(data[2])),
    };
    let text = String::from_utf8_lossy(&data[3..]);
    let _ = read_rows(&text, dialect);
    let schema = serde_json::json!({"a": "integer", "b": {"x": "string", "y": "float"}, "c": "boolean"});
    let schema = Schema::from_map(schema.as_object().expect("object"));
    let _ = extract_csv(dialect, None, &schema, &Root::from_text(&text));
});
