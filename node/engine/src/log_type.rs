//! One log type's definition as loaded from a schema file (docs/spec §3.1), validated and
//! compiled for classification.

use serde_json::{Map, Value};

use crate::config::read::Reader;
use crate::envelope::Envelope;
use crate::error::{JsonPath, describe};
use crate::fxhash::KeySet;
use crate::jmes::JmesPath;
use crate::normalize::Normalization;
use crate::parsers::pycsv::CsvDialect;
use crate::parsers::{self, CSV, JSON, KvDialect, ParserSpec};
use crate::patterns::LogPatterns;
use crate::schema::Schema;

pub use crate::parsers::JsonExtraction;

#[derive(Debug, Clone)]
pub struct LogType {
    /// Full name, e.g. `cloudwatch:events`.
    pub name: String,
    /// The part before the first `:`, what `data_sources` lists name.
    pub source: String,
    pub parser: &'static ParserSpec,
    pub schema: Schema,
    pub optional_keys: KeySet,
    pub envelope: Option<Envelope>,
    pub json: JsonExtraction,
    pub csv_json_path: Option<JmesPath>,
    pub csv: CsvDialect,
    pub kv: KvDialect,
    pub log_patterns: Option<LogPatterns>,
    pub priority: Option<u64>,
    pub normalization: Option<Normalization>,
    /// Set when StreamAlert would consider the schema invalid at match time (optional keys that
    /// are not schema keys): the type then never matches, with this reason.
    pub never_matches: Option<String>,
    /// The definition as written.
    pub definition: Value,
}

impl LogType {
    /// Reads one `name → definition` entry; `None` after recording errors.
    pub fn parse(
        name: &str,
        definition: &Value,
        path: &JsonPath,
        reader: &mut Reader<'_>,
        warnings: &mut Vec<crate::error::ConfigError>,
    ) -> Option<LogType> {
        let map = reader.object(definition, path)?;
        let before = reader.errors.len();
        let parser = match map.get("parser") {
            None => {
                reader.error(path, "a log type needs a parser");
                None
            }
            Some(p) => reader.string(p, &path.key("parser")).and_then(|name| {
                let parser = parsers::by_name(name);
                if parser.is_none() {
                    let known: Vec<&str> = parsers::PARSERS.iter().map(|p| p.name).collect();
                    reader.error(
                        &path.key("parser"),
                        format!(
                            "unknown parser {name:?} (expected one of {})",
                            known.join(", ")
                        ),
                    );
                }
                parser
            }),
        };
        let schema = match map.get("schema") {
            None => {
                reader.error(path, "a log type needs a schema");
                None
            }
            Some(s) => reader.object(s, &path.key("schema")).map(Schema::from_map),
        };
        let empty = Map::new();
        let configuration = match map.get("configuration") {
            None | Some(Value::Null) => &empty,
            Some(c) => reader
                .object(c, &path.key("configuration"))
                .unwrap_or(&empty),
        };
        let options = Options::read(configuration, &path.key("configuration"), reader, parser);
        if reader.errors.len() > before {
            return None;
        }
        let (parser, schema, options) = (parser?, schema?, options?);
        let schema = schema.with_optional(&options.optional_keys);
        let mut never_matches = None;
        if let Some(key) = options.optional_keys.iter().find(|k| !schema.contains(k)) {
            let reason = format!("optional_top_level_keys lists {key}, which is not a schema key");
            warnings.push(crate::error::ConfigError::new(
                reader.file,
                &path.key("configuration").key("optional_top_level_keys"),
                format!("{reason}; this log type never matches"),
            ));
            never_matches = Some(reason);
        }
        if let Some(envelope) = &options.envelope
            && let Some(key) = envelope
                .optional
                .iter()
                .find(|k| !envelope.schema.contains(k))
        {
            let reason =
                format!("optional_envelope_keys lists {key}, which is not an envelope key");
            warnings.push(crate::error::ConfigError::new(
                reader.file,
                &path.key("configuration").key("optional_envelope_keys"),
                format!("{reason}; this log type never matches"),
            ));
            never_matches = Some(reason);
        }
        let json = match (&options.json_path, &options.json_regex_key) {
            (Some(path), _) if parser == &JSON => JsonExtraction::Path {
                path: path.clone(),
                embedded_json: options.embedded_json,
            },
            (None, Some(key)) if parser == &JSON => JsonExtraction::RegexKey(key.clone()),
            _ => JsonExtraction::Root,
        };
        let csv_json_path = if parser == &CSV {
            options.json_path.clone()
        } else {
            None
        };
        Some(LogType {
            name: name.to_string(),
            source: name.split(':').next().unwrap_or(name).to_string(),
            parser,
            schema,
            optional_keys: options.optional_keys,
            envelope: options.envelope,
            json,
            csv_json_path,
            csv: options.csv,
            kv: options.kv,
            log_patterns: options.log_patterns.filter(|p| !p.is_empty()),
            priority: options.priority,
            normalization: options.normalization,
            never_matches,
            definition: definition.clone(),
        })
    }
}

/// The `configuration` block (docs/spec §3.1); unknown keys are ignored as StreamAlert does.
struct Options {
    optional_keys: KeySet,
    envelope: Option<Envelope>,
    json_path: Option<JmesPath>,
    embedded_json: bool,
    json_regex_key: Option<String>,
    log_patterns: Option<LogPatterns>,
    priority: Option<u64>,
    csv: CsvDialect,
    kv: KvDialect,
    normalization: Option<Normalization>,
}

impl Options {
    fn read(
        config: &Map<String, Value>,
        path: &JsonPath,
        reader: &mut Reader<'_>,
        parser: Option<&ParserSpec>,
    ) -> Option<Options> {
        let before = reader.errors.len();
        let get = |key: &str| config.get(key).filter(|v| !v.is_null());
        let optional_keys = get("optional_top_level_keys")
            .and_then(|v| reader.string_list(v, &path.key("optional_top_level_keys")))
            .unwrap_or_default()
            .into_iter()
            .collect();
        let envelope_schema = get("envelope_keys")
            .and_then(|v| reader.object(v, &path.key("envelope_keys")))
            .map(Schema::from_map);
        let optional_envelope: KeySet = get("optional_envelope_keys")
            .and_then(|v| reader.string_list(v, &path.key("optional_envelope_keys")))
            .unwrap_or_default()
            .into_iter()
            .collect();
        let envelope = envelope_schema
            .filter(|s| !s.is_empty())
            .map(|schema| Envelope {
                schema,
                optional: optional_envelope,
            });
        let json_path = get("json_path").and_then(|v| {
            let source = reader.string(v, &path.key("json_path"))?;
            JmesPath::compile(source)
                .map_err(|e| reader.error(&path.key("json_path"), e.to_string()))
                .ok()
        });
        let embedded_json = get("embedded_json")
            .and_then(|v| reader.boolean(v, &path.key("embedded_json")))
            .unwrap_or(false);
        let json_regex_key = get("json_regex_key")
            .and_then(|v| reader.string(v, &path.key("json_regex_key")))
            .map(str::to_string);
        let log_patterns = get("log_patterns")
            .and_then(|v| LogPatterns::parse(v, &path.key("log_patterns"), reader));
        let priority =
            get("priority").and_then(|v| reader.non_negative_integer(v, &path.key("priority")));
        let mut csv = CsvDialect::default();
        let mut kv = KvDialect::default();
        if let Some(v) = get("delimiter") {
            let at = path.key("delimiter");
            match v {
                Value::String(s) if s.chars().count() == 1 => {
                    csv.delimiter = s.chars().next().unwrap_or(',');
                    kv.delimiter = s.clone();
                }
                Value::String(s) if !s.is_empty() && parser != Some(&CSV) => {
                    kv.delimiter = s.clone()
                }
                Value::String(s) if !s.is_empty() => reader.error(
                    &at,
                    format!("a csv delimiter must be one character, got {s:?}"),
                ),
                other => reader.error(
                    &at,
                    format!("expected a non-empty string, got {}", describe(other)),
                ),
            }
        }
        if let Some(v) = get("separator") {
            match v {
                Value::String(s) if !s.is_empty() => kv.separator = s.clone(),
                other => reader.error(
                    &path.key("separator"),
                    format!("expected a non-empty string, got {}", describe(other)),
                ),
            }
        }
        if let Some(v) = get("quotechar") {
            csv.quotechar = reader.single_char(v, &path.key("quotechar")).unwrap_or('"');
        }
        if let Some(v) = get("escapechar") {
            csv.escapechar = reader.single_char(v, &path.key("escapechar"));
        }
        let normalization = get("normalization")
            .and_then(|v| Normalization::parse(v, &path.key("normalization"), reader));
        if reader.errors.len() > before {
            return None;
        }
        Some(Options {
            optional_keys,
            envelope,
            json_path,
            embedded_json,
            json_regex_key,
            log_patterns,
            priority,
            csv,
            kv,
            normalization,
        })
    }
}
