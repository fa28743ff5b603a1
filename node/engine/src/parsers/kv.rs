//! The `kv` parser (docs/spec §5.4): exact substring split, no quote handling, duplicate keys
//! renamed by schema position.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::{Candidate, Parse, ParserSpec, Rejection, Root, SharedExtractions};
use crate::log_type::LogType;
use crate::schema::Schema;

pub static PARSER: ParserSpec = ParserSpec {
    name: "kv",
    parse: Parse::LogType(candidates),
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvDialect {
    pub delimiter: String,
    pub separator: String,
}

impl Default for KvDialect {
    fn default() -> KvDialect {
        KvDialect {
            delimiter: " ".into(),
            separator: "=".into(),
        }
    }
}

fn candidates<'a, 's>(
    lt: &'a LogType,
    root: &'a Root,
    _shared: &'s mut SharedExtractions<'a>,
    _rejected_values: bool,
) -> Cow<'s, [Candidate<'a>]> {
    Cow::Owned(extract(&lt.kv, &lt.schema, root))
}

pub fn extract(dialect: &KvDialect, schema: &Schema, root: &Root) -> Vec<Candidate<'static>> {
    let text = match root.text() {
        Ok(t) => t,
        Err(r) => return vec![Candidate::invalid(None, r)],
    };
    let fields: Vec<&str> = text
        .split(dialect.delimiter.as_str())
        .filter(|f| !f.is_empty())
        .collect();
    if fields.len() != schema.len() {
        return vec![Candidate::invalid(
            None,
            Rejection::FieldCount {
                got: fields.len(),
                want: schema.len(),
            },
        )];
    }
    let names: Vec<&String> = schema.keys().collect();
    let mut record = Map::with_capacity(fields.len());
    for (i, field) in fields.iter().enumerate() {
        // A field without the separator is skipped; the short record then fails the key check.
        let Some((key, value)) = field.split_once(dialect.separator.as_str()) else {
            continue;
        };
        let key = if record.contains_key(key) {
            names[i].clone()
        } else {
            key.to_string()
        };
        record.insert(key, Value::String(value.to_string()));
    }
    vec![Candidate::valid(Cow::Owned(Value::Object(record)))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(schema: Value, text: &str) -> Candidate<'static> {
        let schema = Schema::from_map(schema.as_object().unwrap());
        extract(&KvDialect::default(), &schema, &Root::from_text(text)).remove(0)
    }

    #[test]
    fn duplicate_keys_are_renamed_by_position() {
        // docs/spec §5.4: schema order type,msg,type_2: `type=A msg=B type=C` → type_2 = C.
        let c = parse(
            json!({"type": "string", "msg": "string", "type_2": "string"}),
            "type=A msg=B type=C",
        );
        assert_eq!(
            c.value.unwrap().into_owned(),
            json!({"type": "A", "msg": "B", "type_2": "C"})
        );
    }

    #[test]
    fn no_quote_handling_and_trailing_newline_kept() {
        let c = parse(
            json!({"comm": "string", "n": "string"}),
            "comm=\"cat\" n=1\n",
        );
        assert_eq!(
            c.value.unwrap().into_owned(),
            json!({"comm": "\"cat\"", "n": "1\n"})
        );
    }

    #[test]
    fn field_count_must_equal_schema_length() {
        let c = parse(json!({"a": "string"}), "a=1 b=2");
        assert_eq!(c.rejection, Some(Rejection::FieldCount { got: 2, want: 1 }));
        let c = parse(json!({"a": "string", "b": "string"}), "a=1  b=2");
        assert!(
            c.rejection.is_none(),
            "empty fields from doubled delimiters are dropped"
        );
        let c = parse(json!({"a": "string", "b": "string"}), "a=1 b");
        assert_eq!(
            c.value.unwrap().into_owned(),
            json!({"a": "1"}),
            "a field without separator is skipped"
        );
    }

    #[test]
    fn json_decoded_non_strings_do_not_match() {
        // docs/spec Appendix D #6: `123` decodes to a number; StreamAlert crashes, sa rejects.
        let c = parse(json!({"a": "string"}), "123");
        assert_eq!(c.rejection, Some(Rejection::NotText));
        let c = parse(json!({"a": "string"}), "\"a=1\"");
        assert_eq!(
            c.value.unwrap().into_owned(),
            json!({"a": "1"}),
            "a quoted JSON string loses its quotes"
        );
    }
}
