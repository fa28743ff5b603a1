//! The `json` parser (docs/spec §5.2): the root object, or the records `json_path` selects
//! (optionally JSON strings to decode), or the JSON object embedded in `json_regex_key`.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::{Candidate, Parse, ParserSpec, Rejection, Root, SharedExtractions};
use crate::decode::decode_str;
use crate::jmes::JmesPath;
use crate::log_type::LogType;
use crate::python::{is_truthy, py_str};

/// StreamAlert's `(?P<json_blob>{.+[:,].+}|\[.+[,:].+\])`: greedy, `.` not crossing newlines.
static JSON_BLOB: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\{.+[:,].+\}|\[.+[,:].+\]").unwrap_or_else(|e| unreachable!("constant regex: {e}"))
});

pub static PARSER: ParserSpec = ParserSpec {
    name: "json",
    parse: Parse::LogType(candidates),
};

/// How a json log type finds its records inside the root.
#[derive(Debug, Clone)]
pub enum JsonExtraction {
    Root,
    Path { path: JmesPath, embedded_json: bool },
    RegexKey(String),
}

/// The candidates depend only on the extraction, so log types with the same one share them.
#[derive(PartialEq)]
pub(super) enum JsonKey<'a> {
    Root,
    Path(&'a str, bool),
    RegexKey(&'a str),
}

impl<'a> JsonKey<'a> {
    fn of(extraction: &'a JsonExtraction) -> JsonKey<'a> {
        match extraction {
            JsonExtraction::Root => JsonKey::Root,
            JsonExtraction::Path {
                path,
                embedded_json,
            } => JsonKey::Path(path.as_str(), *embedded_json),
            JsonExtraction::RegexKey(k) => JsonKey::RegexKey(k),
        }
    }
}

fn candidates<'a, 's>(
    lt: &'a LogType,
    root: &'a Root,
    shared: &'s mut SharedExtractions<'a>,
    _rejected_values: bool,
) -> Cow<'s, [Candidate<'a>]> {
    let index = shared.json_index(&lt.json, root);
    Cow::Borrowed(&shared.json[index].1)
}

impl<'a> SharedExtractions<'a> {
    fn json_index(&mut self, extraction: &'a JsonExtraction, root: &'a Root) -> usize {
        let key = JsonKey::of(extraction);
        match self.json.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.json.push((key, extract(extraction, root)));
                self.json.len() - 1
            }
        }
    }

    /// A json log type's candidates, moved out of the shared extractions (no copy of decoded
    /// embedded records); for the winning type, which no other log type reads after.
    pub(crate) fn take_json(
        &mut self,
        extraction: &'a JsonExtraction,
        root: &'a Root,
    ) -> Vec<Candidate<'a>> {
        let index = self.json_index(extraction, root);
        self.json.swap_remove(index).1
    }
}

pub fn extract<'a>(extraction: &JsonExtraction, root: &'a Root) -> Vec<Candidate<'a>> {
    let Root::Json(root) = root else {
        return vec![Candidate::invalid(None, Rejection::NotJson)];
    };
    match extraction {
        JsonExtraction::Root => vec![Candidate::valid(Cow::Borrowed(root))],
        JsonExtraction::Path {
            path,
            embedded_json,
        } => {
            let Some(items) = path.search_records(root) else {
                return vec![Candidate::invalid(
                    None,
                    Rejection::JsonPathEmpty(path.as_str().to_string()),
                )];
            };
            if !embedded_json {
                return items.into_iter().map(Candidate::valid).collect();
            }
            items
                .into_iter()
                .map(|item| match item.as_str().map(decode_str) {
                    Some(Some(decoded @ Value::Object(_))) => Candidate::valid(Cow::Owned(decoded)),
                    _ => Candidate::invalid(Some(item), Rejection::EmbeddedNotObject),
                })
                .collect()
        }
        JsonExtraction::RegexKey(key) => {
            // StreamAlert crashes on a non-object root here; sa does not match (docs/spec Appendix D #8).
            let Some(value) = root
                .as_object()
                .and_then(|m| m.get(key))
                .filter(|v| is_truthy(v))
            else {
                return vec![Candidate::invalid(
                    None,
                    Rejection::RegexKeyMissing(key.clone()),
                )];
            };
            let text = py_str(value);
            let Some(found) = JSON_BLOB.find(&text) else {
                return vec![Candidate::invalid(
                    None,
                    Rejection::RegexNoMatch(key.clone()),
                )];
            };
            match decode_str(found.as_str()) {
                Some(decoded @ Value::Object(_)) => vec![Candidate::valid(Cow::Owned(decoded))],
                _ => vec![Candidate::invalid(None, Rejection::RegexNotObject)],
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(candidates: &[Candidate<'_>]) -> Vec<(Option<Value>, bool)> {
        candidates
            .iter()
            .map(|c| {
                (
                    c.value.as_ref().map(|v| v.clone().into_owned()),
                    c.rejection.is_none(),
                )
            })
            .collect()
    }

    #[test]
    fn root_object_is_the_only_candidate() {
        let root = Root::Json(json!({"a": 1}));
        assert_eq!(
            values(&extract(&JsonExtraction::Root, &root)),
            vec![(Some(json!({"a": 1})), true)]
        );
        assert_eq!(
            extract(&JsonExtraction::Root, &Root::Text("x=1".into()))[0].rejection,
            Some(Rejection::NotJson)
        );
    }

    #[test]
    fn embedded_json_from_cloudwatch_logs() {
        // docs/spec §5.2: logEvents[*].message with embedded_json; a non-object element is invalid.
        let root = Root::Json(
            json!({"logEvents": [{"message": "{\"a\": 1}"}, {"message": "plain"}, {"message": "[1]"}]}),
        );
        let extraction = JsonExtraction::Path {
            path: JmesPath::compile("logEvents[*].message").unwrap(),
            embedded_json: true,
        };
        assert_eq!(
            values(&extract(&extraction, &root)),
            vec![
                (Some(json!({"a": 1})), true),
                (Some(json!("plain")), false),
                (Some(json!("[1]")), false)
            ]
        );
    }

    #[test]
    fn falsy_json_path_result_is_one_invalid_root() {
        let root = Root::Json(json!({"Records": []}));
        let extraction = JsonExtraction::Path {
            path: JmesPath::compile("Records[*]").unwrap(),
            embedded_json: false,
        };
        let c = extract(&extraction, &root);
        assert_eq!(c.len(), 1);
        assert!(c[0].value.is_none());
        assert_eq!(
            c[0].rejection.as_ref().unwrap().to_string(),
            "json_path Records[*] selects nothing"
        );
    }

    #[test]
    fn regex_key_finds_embedded_object() {
        let extraction = JsonExtraction::RegexKey("message".into());
        let root = Root::Json(
            json!({"message": "prefix text {\"k\": \"v\", \"n\": 2} suffix", "other": 1}),
        );
        assert_eq!(
            values(&extract(&extraction, &root)),
            vec![(Some(json!({"k": "v", "n": 2})), true)]
        );
        // Single-quoted pseudo-JSON never parses (docs/spec §5.2 [DOC≠CODE]).
        let single = Root::Json(json!({"message": "x {'a': 'b'}"}));
        assert_eq!(
            extract(&extraction, &single)[0].rejection,
            Some(Rejection::RegexNotObject)
        );
        assert_eq!(
            extract(&extraction, &Root::Json(json!([1, 2])))[0].rejection,
            Some(Rejection::RegexKeyMissing("message".into()))
        );
        assert_eq!(
            extract(&extraction, &Root::Json(json!({"message": "none"})))[0].rejection,
            Some(Rejection::RegexNoMatch("message".into()))
        );
    }
}
