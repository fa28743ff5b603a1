//! Parsers (docs/spec §5): each turns a payload's root into candidate records for one log
//! type. Key checks, coercion and patterns happen afterwards, identically for every parser.

mod cef;
mod csv;
mod json;
mod kv;
mod leef;
pub mod pycsv;
mod syslog;
mod syslog5424;

use std::borrow::Cow;
use std::fmt;

use serde_json::Value;

use crate::decode::{decode, decode_str};

pub use csv::{
    CsvRow, candidates_from_rows as csv_candidates, extract as extract_csv, rows as csv_rows,
};
pub use json::{JsonExtraction, extract as extract_json};
pub use kv::{KvDialect, extract as extract_kv};

/// The `parser` value of a log type: StreamAlert's four plus sa's `cef`, `leef`, `syslog5424`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParserKind {
    Json,
    Csv,
    Kv,
    Syslog,
    Cef,
    Leef,
    Syslog5424,
}

impl ParserKind {
    pub const ALL: [ParserKind; 7] = [
        ParserKind::Json,
        ParserKind::Csv,
        ParserKind::Kv,
        ParserKind::Syslog,
        ParserKind::Cef,
        ParserKind::Leef,
        ParserKind::Syslog5424,
    ];

    pub fn from_name(name: &str) -> Option<ParserKind> {
        ParserKind::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            ParserKind::Json => "json",
            ParserKind::Csv => "csv",
            ParserKind::Kv => "kv",
            ParserKind::Syslog => "syslog",
            ParserKind::Cef => "cef",
            ParserKind::Leef => "leef",
            ParserKind::Syslog5424 => "syslog5424",
        }
    }

    /// Parsers whose record depends only on the text (not on the log type's options), so one
    /// parse serves every candidate log type of a payload.
    pub fn parse_fixed_fields(self, text: &str) -> Result<Value, Rejection> {
        match self {
            ParserKind::Syslog => syslog::parse(text),
            ParserKind::Cef => cef::parse(text),
            ParserKind::Leef => leef::parse(text),
            ParserKind::Syslog5424 => syslog5424::parse(text),
            ParserKind::Json | ParserKind::Csv | ParserKind::Kv => {
                Err(Rejection::Format("not a fixed-field parser".into()))
            }
        }
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
