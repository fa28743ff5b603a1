//! The `syslog` parser (docs/spec §5.5): StreamAlert's RFC 3164-ish regex, limitations kept
//! (two-digit day, host of word characters and `-` only; docs/spec Appendix D #9).

use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::{Parse, ParserSpec, Rejection};

pub static PARSER: ParserSpec = ParserSpec {
    name: "syslog",
    parse: Parse::Text(parse),
};

/// Python's `$` (no MULTILINE) also matches before a final newline; Rust's does not, hence
/// `\n?\z`.
static SYSLOG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<timestamp>\w{3}\s\d{2}\s(\d{2}:?)+)\s(?P<host>(\w[-]*)+)\s(?P<application>\w+)(\[\w+\])*:\s(?P<message>.*)\n?\z")
        .unwrap_or_else(|e| unreachable!("constant regex: {e}"))
});

fn parse(text: &str) -> Result<Value, Rejection> {
    let caps = SYSLOG.captures(text).ok_or_else(|| {
        Rejection::Format("not a syslog line (`Mmm dd hh:mm:ss host app[pid]: message`)".into())
    })?;
    let mut record = Map::new();
    for name in ["timestamp", "host", "application", "message"] {
        let value = caps.name(name).map_or("", |m| m.as_str());
        record.insert(name.into(), Value::String(value.into()));
    }
    Ok(Value::Object(record))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spec_example() {
        assert_eq!(
            parse("Jan 10 19:35:13 vagrant-ubuntu-precise-32 ssh[13941]: login for user").unwrap(),
            json!({"timestamp": "Jan 10 19:35:13", "host": "vagrant-ubuntu-precise-32", "application": "ssh", "message": "login for user"})
        );
    }

    #[test]
    fn trailing_newline_is_not_part_of_the_message() {
        assert_eq!(
            parse("Jan 10 19:35:13 host sshd: hi\n").unwrap()["message"],
            json!("hi")
        );
    }

    #[test]
    fn known_limitations_are_kept() {
        // docs/spec §5.5: one-digit day and dotted hosts fail.
        assert!(parse("Jan  5 19:35:13 host ssh: x").is_err());
        assert!(parse("Jan 10 19:35:13 host.example.com ssh: x").is_err());
        assert!(parse("Jan 10 19:35:13 host ssh: a\nb").is_err());
    }
}
