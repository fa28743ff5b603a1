//! Parsers (docs/spec §5): each turns a payload's root into candidate records for one log
//! type. Key checks, coercion and patterns happen afterwards, identically for every parser.
//!
//! A parser is one file here exporting `pub static PARSER: ParserSpec` (its `parser` name and
//! its parse function) and its module name in the `registry!` call below; the name lookup, the
//! unknown-parser error and the dispatch all read [`PARSERS`].

pub mod pycsv;

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

use crate::decode::{decode, decode_str};
use crate::log_type::LogType;

pub use csv::{
    CsvRow, candidates_from_rows as csv_candidates, extract as extract_csv, rows as csv_rows,
};
pub use json::{JsonExtraction, extract as extract_json};
pub use kv::{KvDialect, extract as extract_kv};

/// Declares each parser's module (a file here exporting `static PARSER: ParserSpec`) and lists
/// its spec in [`PARSERS`], so that a parser is its file and its name in the one call below.
macro_rules! registry {
    ($($parser:ident),* $(,)?) => {
        $(mod $parser;)*

        /// Every parser a schema's `parser` may name (docs/spec §5): StreamAlert's `json`, `csv`,
        /// `kv`, `syslog` and sa's `cef`, `leef`, `syslog5424`, in the order the unknown-parser
        /// error lists them.
        pub static PARSERS: &[&ParserSpec] = &[$(&$parser::PARSER),*];
    };
}

registry!(json, csv, kv, syslog, cef, leef, syslog5424);

/// The parsers singled out elsewhere: `json` (its extraction options; the classifier moves its
/// records out of the payload) and `csv` (its `json_path` and one-character delimiter).
pub use csv::PARSER as CSV;
pub use json::PARSER as JSON;

/// The parser a schema's `parser` value names.
pub fn by_name(name: &str) -> Option<&'static ParserSpec> {
    PARSERS.iter().copied().find(|p| p.name == name)
}

/// A parser: its `parser` name in schemas (also the `data_type` of its records) and how it
/// reads a payload.
pub struct ParserSpec {
    pub name: &'static str,
    pub parse: Parse,
}

/// How a parser reads a payload: a function pointer either way, called once per candidate
/// log type of a payload (a text parser's result is shared by all of them).
#[derive(Clone, Copy)]
pub enum Parse {
    /// The record depends only on the text (the raw line, or a decoded JSON string), not on the
    /// log type's options: one parse serves every candidate log type of a payload.
    Text(fn(&str) -> Result<Value, Rejection>),
    /// The candidates depend on the log type (its schema and options); the function may keep
    /// what other log types of the same payload can reuse in the shared extractions.
    /// `rejected_values`: whether rejected candidates must carry their value (only the winning
    /// type's do, for its dead letters).
    LogType(
        for<'a, 's> fn(
            lt: &'a LogType,
            root: &'a Root,
            shared: &'s mut SharedExtractions<'a>,
            rejected_values: bool,
        ) -> Cow<'s, [Candidate<'a>]>,
    ),
}

/// Parsers are their registry entries, whose names are unique.
impl PartialEq for ParserSpec {
    fn eq(&self, other: &ParserSpec) -> bool {
        self.name == other.name
    }
}

impl Eq for ParserSpec {}

impl fmt::Debug for ParserSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ParserSpec({:?})", self.name)
    }
}

/// The candidate records log type `lt`'s parser extracts from a payload.
pub fn candidates<'a, 's>(
    lt: &'a LogType,
    root: &'a Root,
    shared: &'s mut SharedExtractions<'a>,
    rejected_values: bool,
) -> Cow<'s, [Candidate<'a>]> {
    match lt.parser.parse {
        Parse::LogType(extract) => extract(lt, root, shared, rejected_values),
        Parse::Text(parse) => Cow::Owned(vec![match shared.text(lt.parser, parse, root) {
            Ok(value) => Candidate::valid(Cow::Owned(value.clone())),
            Err(rejection) => Candidate::invalid(None, rejection.clone()),
        }]),
    }
}

/// Extractions shared by the candidate log types of one payload: each is computed for the
/// first log type that needs it and reused by the others.
#[derive(Default)]
pub struct SharedExtractions<'a> {
    /// The `json` parser's candidates per extraction.
    json: Vec<(json::JsonKey<'a>, Vec<Candidate<'a>>)>,
    /// The `csv` parser's rows per dialect and `json_path`.
    csv: Vec<(csv::CsvKey<'a>, Vec<CsvRow>)>,
    /// Each text parser's record.
    text: Vec<(&'static ParserSpec, Result<Value, Rejection>)>,
}

impl SharedExtractions<'_> {
    fn text(
        &mut self,
        parser: &'static ParserSpec,
        parse: fn(&str) -> Result<Value, Rejection>,
        root: &Root,
    ) -> &Result<Value, Rejection> {
        let index = match self.text.iter().position(|(p, _)| *p == parser) {
            Some(i) => i,
            None => {
                self.text.push((parser, root.text().and_then(parse)));
                self.text.len() - 1
            }
        };
        &self.text[index].1
    }
}

/// A payload record after the JSON-decode attempt of docs/spec §5.1.
#[derive(Debug, Clone, PartialEq)]
pub enum Root {
    /// The payload decoded as JSON (or arrived as a JSON value).
    Json(Value),
    /// The payload is not JSON: a text line (bytes are decoded as UTF-8, lossily).
    Text(String),
}

impl Root {
    /// docs/spec §5.1: an object stays as is; text is decoded as JSON if it can be, else kept as text.
    pub fn from_text(text: &str) -> Root {
        match decode_str(text) {
            Some(value) => Root::Json(value),
            None => Root::Text(text.to_string()),
        }
    }

    pub fn from_bytes(bytes: &[u8]) -> Root {
        match decode(bytes) {
            Some(value) => Root::Json(value),
            None => Root::Text(String::from_utf8_lossy(bytes).into_owned()),
        }
    }

    /// The text a csv/kv/syslog parser reads: the raw text, or a decoded JSON string.
    /// StreamAlert crashes on a decoded non-string; sa does not match it (docs/spec Appendix D #6).
    pub fn text(&self) -> Result<&str, Rejection> {
        match self {
            Root::Text(t) => Ok(t),
            Root::Json(Value::String(s)) => Ok(s),
            Root::Json(_) => Err(Rejection::NotText),
        }
    }

    /// The payload as it would be stored in a dead letter.
    pub fn to_raw_string(&self) -> String {
        match self {
            Root::Text(t) => t.clone(),
            Root::Json(v) => v.to_string(),
        }
    }
}

/// One record a parser extracted, or the reason it could not (an "invalid candidate").
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    /// `None` stands for the payload itself.
    pub value: Option<Cow<'a, Value>>,
    pub rejection: Option<Rejection>,
}

impl<'a> Candidate<'a> {
    pub fn valid(value: Cow<'a, Value>) -> Candidate<'a> {
        Candidate {
            value: Some(value),
            rejection: None,
        }
    }

    pub fn invalid(value: Option<Cow<'a, Value>>, rejection: Rejection) -> Candidate<'a> {
        Candidate {
            value,
            rejection: Some(rejection),
        }
    }
}

/// Why a parser produced no usable record.
#[derive(Debug, Clone, PartialEq)]
pub enum Rejection {
    NotJson,
    NotText,
    JsonPathEmpty(String),
    EmbeddedNotObject,
    RegexKeyMissing(String),
    RegexNoMatch(String),
    RegexNotObject,
    ColumnCount { got: usize, want: usize },
    FieldCount { got: usize, want: usize },
    Csv(String),
    Format(String),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::NotJson => write!(f, "payload is not JSON"),
            Rejection::NotText => write!(f, "payload decodes to a JSON value, not a text line"),
            Rejection::JsonPathEmpty(p) => write!(f, "json_path {p} selects nothing"),
            Rejection::EmbeddedNotObject => write!(f, "embedded JSON does not decode to an object"),
            Rejection::RegexKeyMissing(k) => write!(f, "json_regex_key {k} is absent or empty"),
            Rejection::RegexNoMatch(k) => write!(f, "json_regex_key {k} holds no JSON object"),
            Rejection::RegexNotObject => {
                write!(f, "the JSON found by json_regex_key is not an object")
            }
            Rejection::ColumnCount { got, want } => {
                write!(f, "row has {got} columns, the schema {want}")
            }
            Rejection::FieldCount { got, want } => {
                write!(f, "line has {got} fields, the schema {want}")
            }
            Rejection::Csv(e) => write!(f, "csv: {e}"),
            Rejection::Format(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Rejection {}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use serde_json::{Map, json};

    use super::*;
    use crate::config::{Config, ConfigSources, SourceFile};

    #[test]
    fn registry_names_are_unique_and_are_what_schemas_name() {
        let names: Vec<&str> = PARSERS.iter().map(|p| p.name).collect();
        let unique: HashSet<&str> = names.iter().copied().collect();
        assert_eq!(
            unique.len(),
            names.len(),
            "duplicate parser names: {names:?}"
        );
        // docs/spec §5: StreamAlert's parsers, first, in its order; sa's extensions follow.
        assert_eq!(names[..4], ["json", "csv", "kv", "syslog"]);
        for name in &names {
            assert!(
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()),
                "{name:?} is not a parser name a schema would write"
            );
        }
        // A schema naming each parser loads, and its log type has that registry entry.
        let schemas: Map<String, Value> = names
            .iter()
            .map(|name| {
                (
                    format!("demo:{name}"),
                    json!({"parser": name, "schema": {}}),
                )
            })
            .collect();
        let config = Config::from_sources(&ConfigSources {
            logs_json: None,
            schemas: vec![SourceFile {
                path: "conf/schemas/demo.json".into(),
                contents: Value::Object(schemas).to_string().into_bytes(),
            }],
            clusters: Vec::new(),
            top_level: Vec::new(),
        })
        .unwrap_or_else(|e| panic!("{e}"));
        for parser in PARSERS {
            let found = by_name(parser.name).map(|p| std::ptr::eq(p, *parser));
            assert_eq!(found, Some(true), "{}", parser.name);
            let lt = config.log_type(&format!("demo:{}", parser.name));
            assert!(lt.is_some_and(|lt| std::ptr::eq(lt.parser, *parser)));
        }
        assert!(by_name("xml").is_none() && by_name("JSON").is_none());
    }
}
