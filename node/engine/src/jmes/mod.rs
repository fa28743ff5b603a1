//! JMESPath for `json_path` (docs/spec §5.2, §5.3) and publisher tests (docs/spec §15), with
//! Python `jmespath` 0.10's semantics: objects keep insertion order (`keys(@)`, multi-select
//! hashes, `merge`, object literals), equality and ordering are Python's, and every function
//! type-checks its arguments as Python's does.
//!
//! Lexer, parser and evaluator are ports of Python's, checked against it by a differential test
//! (tests/it/jmespath_python.rs). Evaluation works on borrowed `serde_json::Value`s with a work
//! budget. Where sa differs from Python on purpose: an unknown function, a wrong number of
//! arguments or a zero slice step is a compile error (Python raises when it evaluates them), and
//! a result Python would hold as `nan`/`inf` or as an integer beyond 64 bits is null or the
//! nearest float.

mod ast;
mod budget;
mod eval;
mod functions;
mod lexer;
mod parser;

use std::borrow::Cow;

use serde_json::Value;

use ast::Expr;
use eval::{Node, eval, eval_owned, node_to_value, python_truthy};

/// Why an expression does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JmesPathError {
    #[error("invalid JMESPath expression: {0}")]
    Syntax(String),
    #[error("invalid JMESPath expression: slice step cannot be 0")]
    ZeroSliceStep,
    #[error("invalid JMESPath expression: unknown function {name}()")]
    UnknownFunction { name: String },
    #[error(
        "invalid JMESPath expression: {function}() takes {expected} argument(s), {given} given"
    )]
    Arity {
        function: &'static str,
        expected: String,
        given: usize,
    },
}

/// Why an evaluation produced no result (Python raises these).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SearchError {
    #[error("in function {function}(): expected {expected}, got {actual}")]
    Type {
        function: &'static str,
        expected: String,
        actual: &'static str,
    },
    #[error("cannot order a {left} against a {right}")]
    Unorderable {
        left: &'static str,
        right: &'static str,
    },
    #[error("an expression reference (&expr) is only valid as a function argument")]
    ExprefOutsideFunction,
    #[error(
        "the expression needs more than {} steps on this document",
        budget::EVAL_BUDGET
    )]
    TooExpensive,
}

/// A compiled expression; `Send + Sync` (it holds no `Rc`).
#[derive(Debug, Clone)]
pub struct JmesPath {
    source: String,
    expr: Expr,
}

impl JmesPath {
    /// Compiles `source`.
    pub fn compile(source: &str) -> Result<JmesPath, JmesPathError> {
        let expr = parser::parse(source)?;
        if expr.has_zero_step() {
            return Err(JmesPathError::ZeroSliceStep);
        }
        Ok(JmesPath {
            source: source.to_string(),
            expr,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// `jmespath.search(expr, root)` with the result flattened one level the way StreamAlert
    /// uses it: `None` when the result is falsy in Python (or the search raised), else the
    /// list's elements (a non-list result is one element).
    pub fn search_records<'a>(&self, root: &'a Value) -> Option<Vec<Cow<'a, Value>>> {
        budget::run(|| {
            let node = eval(&self.expr, Node::Ref(root));
            if !python_truthy(&node) {
                return None;
            }
            Some(match node {
                Node::List(items) => items.into_iter().map(into_cow).collect(),
                Node::Ref(Value::Array(items)) => items.iter().map(Cow::Borrowed).collect(),
                Node::Owned(Value::Array(items)) => items.into_iter().map(Cow::Owned).collect(),
                other => vec![into_cow(other)],
            })
        })
        .ok()
        .flatten()
    }

    /// [`search_records`](Self::search_records) on a document the caller gives up: the
    /// selected records are moved out of it instead of copied.
    pub fn take_records(&self, root: Value) -> Option<Vec<Value>> {
        let result = budget::run(|| eval_owned(&self.expr, root)).ok()?;
        if !crate::python::is_truthy(&result) {
            return None;
        }
        Some(match result {
            Value::Array(items) => items,
            other => vec![other],
        })
    }

    /// `jmespath.search(expr, root)`.
    pub fn search(&self, root: &Value) -> Result<Value, SearchError> {
        budget::run(|| node_to_value(eval(&self.expr, Node::Ref(root))))
    }
}

fn into_cow(node: Node<'_>) -> Cow<'_, Value> {
    match node {
        Node::Ref(v) => Cow::Borrowed(v),
        other => Cow::Owned(node_to_value(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn search(expr: &str, doc: Value) -> Value {
        JmesPath::compile(expr).unwrap().search(&doc).unwrap()
    }

    #[test]
    fn projections_fields_and_indices() {
        let doc = json!({"logEvents": [{"message": "a"}, {"message": "b"}, {"other": 1}], "n": {"x": [1, 2, 3]}});
        assert_eq!(
            search("logEvents[*].message", doc.clone()),
            json!(["a", "b"])
        );
        assert_eq!(search("n.x[-1]", doc.clone()), json!(3));
        assert_eq!(search("n.x[::-1]", doc.clone()), json!([3, 2, 1]));
        assert_eq!(search("n.x[1:]", doc.clone()), json!([2, 3]));
        assert_eq!(search("missing[*]", doc.clone()), json!(null));
        assert_eq!(search("*.x", doc.clone()), json!([[1, 2, 3]]));
        assert_eq!(
            search("[logEvents[0].message, n.x[0]]", doc.clone()),
            json!(["a", 1])
        );
        assert_eq!(
            search("{m: logEvents[1].message}", doc.clone()),
            json!({"m": "b"})
        );
        assert_eq!(search("logEvents | [0]", doc), json!({"message": "a"}));
    }

    #[test]
    fn filters_flatten_and_comparisons() {
        let doc = json!({"r": [{"t": "a", "v": 1}, {"t": "b", "v": 2}, {"t": "a", "v": 3.0}], "nested": [[1, 2], [3], 4]});
        assert_eq!(search("r[?t == 'a'].v", doc.clone()), json!([1, 3.0]));
        assert_eq!(search("r[?v > `1`].t", doc.clone()), json!(["b", "a"]));
        assert_eq!(search("r[?v == `3`].t", doc.clone()), json!(["a"]));
        assert_eq!(search("nested[]", doc.clone()), json!([1, 2, 3, 4]));
        assert_eq!(search("r[?!(t == 'a')].v", doc.clone()), json!([2]));
        assert_eq!(search("missing || r[0].t", doc), json!("a"));
    }

    #[test]
    fn records_keep_key_order_and_falsy_results_are_none() {
        let doc = json!({"Records": [{"z": 1, "a": 2}]});
        let path = JmesPath::compile("Records[*]").unwrap();
        let records = path.search_records(&doc).unwrap();
        assert_eq!(
            serde_json::to_string(&*records[0]).unwrap(),
            r#"{"z":1,"a":2}"#
        );
        assert!(matches!(records[0], Cow::Borrowed(_)));
        assert!(path.search_records(&json!({"Records": []})).is_none());
        assert!(
            JmesPath::compile("single")
                .unwrap()
                .search_records(&json!({"single": {"a": 1}}))
                .unwrap()
                .len()
                == 1
        );
    }

    #[test]
    fn taking_records_equals_searching() {
        let doc = json!({"Records": [{"z": 1, "a": 2}, {"b": 3}], "x": {"y": [1, 2]}, "logEvents": [{"message": "m"}, {}]});
        for expr in [
            "Records[*]",
            "Records[*] || [@]",
            "nothing[*] || [@]",
            "x.y",
            "x.y[0]",
            "logEvents[*].message",
            "Records[?a == `2`]",
            "x && Records[1]",
            "[x, Records]",
            "missing",
        ] {
            let path = JmesPath::compile(expr).unwrap();
            let searched = path
                .search_records(&doc)
                .map(|v| v.into_iter().map(Cow::into_owned).collect::<Vec<_>>());
            assert_eq!(path.take_records(doc.clone()), searched, "{expr}");
        }
        let taken = JmesPath::compile("Records[*]")
            .unwrap()
            .take_records(doc)
            .unwrap();
        assert_eq!(
            serde_json::to_string(&taken[0]).unwrap(),
            r#"{"z":1,"a":2}"#,
            "key order kept"
        );
    }

    #[test]
    fn exponential_multi_selects_run_out_of_budget() {
        // Found by the jmespath fuzz target: each `[@, @]` doubles the result.
        let expr = vec!["[@, @, @, @]"; 14].join(" | ");
        let path = JmesPath::compile(&expr).unwrap();
        let start = std::time::Instant::now();
        assert!(path.search_records(&json!({})).is_none());
        assert!(path.take_records(json!({})).is_none());
        assert_eq!(path.search(&json!({})), Err(SearchError::TooExpensive));
        assert!(start.elapsed() < std::time::Duration::from_secs(20));
        assert_eq!(
            JmesPath::compile("[@, @] | [@, @]")
                .unwrap()
                .search(&json!(1)),
            Ok(json!([[1, 1], [1, 1]]))
        );
    }

    #[test]
    fn functions_keep_insertion_order() {
        assert_eq!(search("length(a)", json!({"a": [1, 2]})), json!(2));
        assert_eq!(
            search("a[?contains(@, 'x')]", json!({"a": ["xa", "b"]})),
            json!(["xa"])
        );
        // A publisher test from StreamAlert's Slack publishers (docs/spec §15).
        let publication = json!({"@slack.text": "t", "@slack.attachments": [], "@slack._previous_publication": {}});
        assert_eq!(
            search("keys(@)", publication.clone()).to_string(),
            r#"["@slack.text","@slack.attachments","@slack._previous_publication"]"#
        );
        assert_eq!(
            search(
                "to_string(merge(@, `{\"b\": 1, \"a\": 2}`))",
                json!({"z": 0, "b": 3})
            ),
            json!(r#"{"z":0,"b":1,"a":2}"#)
        );
        assert_eq!(
            search("values({y: a, x: b})", json!({"a": 1, "b": 2})),
            json!([1, 2])
        );
    }

    #[test]
    fn type_errors_are_search_errors() {
        let path = JmesPath::compile("abs(a)").unwrap();
        let error = path.search(&json!({"a": "x"})).unwrap_err();
        assert_eq!(
            error.to_string(),
            "in function abs(): expected number, got string"
        );
        assert!(path.search_records(&json!({"a": "x"})).is_none());
        assert!(matches!(
            JmesPath::compile("a < b")
                .unwrap()
                .search(&json!({"a": 1, "b": "x"})),
            Err(SearchError::Unorderable { .. })
        ));
    }

    #[test]
    fn results_python_finds_false_select_nothing() {
        // StreamAlert tests the result with Python's truth: a 0 is no record.
        let path = JmesPath::compile("n").unwrap();
        assert!(path.search_records(&json!({"n": 0})).is_none());
        assert!(path.take_records(json!({"n": 0})).is_none());
        assert_eq!(path.search_records(&json!({"n": 2})).unwrap().len(), 1);
    }

    #[test]
    fn invalid_expressions_are_errors() {
        assert!(JmesPath::compile("a[").is_err());
        assert!(JmesPath::compile("a[::0]").is_err());
    }
}
