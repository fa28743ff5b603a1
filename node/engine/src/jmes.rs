//! JMESPath for `json_path` (docs/spec §5.2, §5.3), evaluated directly on `serde_json::Value`.
//!
//! The `jmespath` crate parses the expression; its interpreter would copy the whole document into
//! its own sorted-map values on every search, which is both slow and loses the key order of the
//! extracted records. So every expression without function calls is evaluated here on borrowed
//! values with the same semantics; expressions that call functions fall back to the crate.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use jmespath::ast::{Ast, Comparator};
use serde_json::Value;

use crate::python::is_truthy;

/// Why an expression does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JmesPathError {
    /// The `jmespath` parser's message.
    #[error("invalid JMESPath expression: {0}")]
    Syntax(String),
    #[error("invalid JMESPath expression: slice step cannot be 0")]
    ZeroSliceStep,
}

/// A compiled `json_path` expression; `Send + Sync` (it holds no `Rc`).
#[derive(Debug, Clone)]
pub struct JmesPath {
    source: String,
    native: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Identity,
    Field(String),
    Index(i32),
    Slice {
        start: Option<i32>,
        stop: Option<i32>,
        step: i32,
    },
    Subexpr(Box<Expr>, Box<Expr>),
    Projection(Box<Expr>, Box<Expr>),
    Flatten(Box<Expr>),
    ObjectValues(Box<Expr>),
    MultiList(Vec<Expr>),
    MultiHash(Vec<(String, Expr)>),
    Literal(Value),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Comparison(Comparator, Box<Expr>, Box<Expr>),
    Condition(Box<Expr>, Box<Expr>),
}

/// An intermediate result: borrowed from the document where possible.
#[derive(Debug, Clone)]
enum Node<'a> {
    Null,
    Ref(&'a Value),
    Owned(Value),
    List(Vec<Node<'a>>),
}

impl JmesPath {
    /// Compiles `source`; the error is the parser's message.
    pub fn compile(source: &str) -> Result<JmesPath, JmesPathError> {
        let compiled =
            jmespath::compile(source).map_err(|e| JmesPathError::Syntax(e.to_string()))?;
        let native = convert(compiled.as_ast());
        if native.as_ref().is_some_and(has_zero_step) {
            return Err(JmesPathError::ZeroSliceStep);
        }
        Ok(JmesPath {
            source: source.to_string(),
            native,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// `jmespath.search(expr, root)` with the result flattened one level the way StreamAlert
    /// uses it: `None` when the result is falsy, else the list's elements (a non-list result is
    /// one element).
    pub fn search_records<'a>(&self, root: &'a Value) -> Option<Vec<Cow<'a, Value>>> {
        match &self.native {
            Some(expr) => {
                let node = budgeted(|| eval(expr, Node::Ref(root)))?;
                if !node_truthy(&node) {
                    return None;
                }
                Some(match node {
                    Node::List(items) => items.into_iter().map(into_cow).collect(),
                    Node::Ref(Value::Array(items)) => items.iter().map(Cow::Borrowed).collect(),
                    Node::Owned(Value::Array(items)) => items.into_iter().map(Cow::Owned).collect(),
                    other => vec![into_cow(other)],
                })
            }
            None => {
                let result = search_with_crate(&self.source, root)?;
                if !is_truthy(&result) {
                    return None;
                }
                Some(match result {
                    Value::Array(items) => items.into_iter().map(Cow::Owned).collect(),
                    other => vec![Cow::Owned(other)],
                })
            }
        }
    }

    /// [`search_records`](Self::search_records) on a document the caller gives up: the
    /// selected records are moved out of it instead of copied.
    pub fn take_records(&self, root: Value) -> Option<Vec<Value>> {
        let Some(expr) = &self.native else {
            return self
                .search_records(&root)
                .map(|items| items.into_iter().map(Cow::into_owned).collect());
        };
        let result = budgeted(|| eval_owned(expr, root))?;
        if !jmes_truthy(&result) {
            return None;
        }
        Some(match result {
            Value::Array(items) => items,
            other => vec![other],
        })
    }

    /// The full search result as a value (tests and diagnostics).
    pub fn search(&self, root: &Value) -> Value {
        match &self.native {
            Some(expr) => {
                budgeted(|| node_to_value(eval(expr, Node::Ref(root)))).unwrap_or(Value::Null)
            }
            None => search_with_crate(&self.source, root).unwrap_or(Value::Null),
        }
    }
}

thread_local! {
    static CRATE_EXPRESSIONS: RefCell<HashMap<String, jmespath::Expression<'static>>> = RefCell::new(HashMap::new());
}

/// Function calls are evaluated by the `jmespath` crate. Objects it returns have sorted keys.
fn search_with_crate(source: &str, root: &Value) -> Option<Value> {
    CRATE_EXPRESSIONS.with(|cache| {
        let mut cache = cache.borrow_mut();
        // Configuration reloads bring new expressions; keep the cache from growing forever.
        if cache.len() >= 256 {
            cache.clear();
        }
        if !cache.contains_key(source) {
            cache.insert(source.to_string(), jmespath::compile(source).ok()?);
        }
        let result = cache.get(source)?.search(root).ok()?;
        serde_json::to_value(&*result).ok()
    })
}

fn convert(ast: &Ast) -> Option<Expr> {
    let b = |a: &Ast| convert(a).map(Box::new);
    Some(match ast {
        Ast::Identity { .. } => Expr::Identity,
        Ast::Field { name, .. } => Expr::Field(name.clone()),
        Ast::Index { idx, .. } => Expr::Index(*idx),
        Ast::Slice {
            start, stop, step, ..
        } => Expr::Slice {
            start: *start,
            stop: *stop,
            step: *step,
        },
        Ast::Subexpr { lhs, rhs, .. } => Expr::Subexpr(b(lhs)?, b(rhs)?),
        Ast::Projection { lhs, rhs, .. } => Expr::Projection(b(lhs)?, b(rhs)?),
        Ast::Flatten { node, .. } => Expr::Flatten(b(node)?),
        Ast::ObjectValues { node, .. } => Expr::ObjectValues(b(node)?),
        Ast::MultiList { elements, .. } => {
            Expr::MultiList(elements.iter().map(convert).collect::<Option<_>>()?)
        }
        Ast::MultiHash { elements, .. } => Expr::MultiHash(
            elements
                .iter()
                .map(|kv| Some((kv.key.clone(), convert(&kv.value)?)))
                .collect::<Option<_>>()?,
        ),
        Ast::Literal { value, .. } => Expr::Literal(serde_json::to_value(&**value).ok()?),
        Ast::Not { node, .. } => Expr::Not(b(node)?),
        Ast::And { lhs, rhs, .. } => Expr::And(b(lhs)?, b(rhs)?),
        Ast::Or { lhs, rhs, .. } => Expr::Or(b(lhs)?, b(rhs)?),
        Ast::Comparison {
            comparator,
            lhs,
            rhs,
            ..
        } => Expr::Comparison(comparator.clone(), b(lhs)?, b(rhs)?),
        Ast::Condition {
            predicate, then, ..
        } => Expr::Condition(b(predicate)?, b(then)?),
        Ast::Function { .. } | Ast::Expref { .. } => return None,
    })
}

/// Work allowed for one evaluation. Multi-select lists can grow results exponentially with the
/// expression's length (`[@, @] | [@, @] | …`); past this budget the expression selects nothing.
const EVAL_BUDGET: usize = 2_000_000;

thread_local! {
    static BUDGET: Cell<usize> = const { Cell::new(EVAL_BUDGET) };
    static EXHAUSTED: Cell<bool> = const { Cell::new(false) };
}

/// Runs one evaluation with a fresh budget; `None` if it ran out.
fn budgeted<T>(evaluate: impl FnOnce() -> T) -> Option<T> {
    BUDGET.with(|b| b.set(EVAL_BUDGET));
    EXHAUSTED.with(|e| e.set(false));
    let out = evaluate();
    if EXHAUSTED.with(Cell::get) {
        None
    } else {
        Some(out)
    }
}

fn charge(cost: usize) -> bool {
    BUDGET.with(|b| match b.get().checked_sub(cost) {
        Some(left) => {
            b.set(left);
            true
        }
        None => {
            b.set(0);
            EXHAUSTED.with(|e| e.set(true));
            false
        }
    })
}

/// The size of a node, charged when it is copied (borrowed values cost nothing to copy).
fn weight(node: &Node<'_>) -> usize {
    match node {
        Node::List(items) => 1 + items.iter().map(weight).sum::<usize>(),
        Node::Owned(value) => value_weight(value),
        Node::Null | Node::Ref(_) => 1,
    }
}

fn value_weight(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(value_weight).sum::<usize>(),
        Value::Object(map) => 1 + map.values().map(value_weight).sum::<usize>(),
        _ => 1,
    }
}

fn charged_clone<'a>(node: &Node<'a>) -> Node<'a> {
    if charge(weight(node)) {
        node.clone()
    } else {
        Node::Null
    }
}

fn has_zero_step(expr: &Expr) -> bool {
    match expr {
        Expr::Slice { step, .. } => *step == 0,
        Expr::Subexpr(a, b)
        | Expr::Projection(a, b)
        | Expr::And(a, b)
        | Expr::Or(a, b)
        | Expr::Comparison(_, a, b)
        | Expr::Condition(a, b) => has_zero_step(a) || has_zero_step(b),
        Expr::Flatten(a) | Expr::ObjectValues(a) | Expr::Not(a) => has_zero_step(a),
        Expr::MultiList(items) => items.iter().any(has_zero_step),
        Expr::MultiHash(items) => items.iter().any(|(_, e)| has_zero_step(e)),
        Expr::Identity | Expr::Field(_) | Expr::Index(_) | Expr::Literal(_) => false,
    }
}

fn eval<'a>(expr: &Expr, data: Node<'a>) -> Node<'a> {
    if !charge(1) {
        return Node::Null;
    }
    match expr {
        Expr::Identity => data,
        Expr::Field(name) => match data {
            Node::Ref(Value::Object(map)) => map.get(name).map_or(Node::Null, Node::Ref),
            Node::Owned(Value::Object(mut map)) => {
                map.swap_remove(name).map_or(Node::Null, Node::Owned)
            }
            _ => Node::Null,
        },
        Expr::Index(idx) => {
            let mut items = elements(data).unwrap_or_default();
            let len = items.len() as i64;
            let i = if *idx < 0 {
                len + i64::from(*idx)
            } else {
                i64::from(*idx)
            };
            if (0..len).contains(&i) {
                items.swap_remove(i as usize)
            } else {
                Node::Null
            }
        }
        Expr::Slice { start, stop, step } => match elements(data) {
            Some(items) => Node::List(slice(items, *start, *stop, *step)),
            None => Node::Null,
        },
        Expr::Subexpr(lhs, rhs) => eval(rhs, eval(lhs, data)),
        Expr::Projection(lhs, rhs) => match elements(eval(lhs, data)) {
            Some(items) => Node::List(
                items
                    .into_iter()
                    .map(|item| eval(rhs, item))
                    .filter(|n| !n.is_null())
                    .collect(),
            ),
            None => Node::Null,
        },
        Expr::Flatten(inner) => match elements(eval(inner, data)) {
            Some(items) => {
                let mut out = Vec::new();
                for item in items {
                    if item.is_array() {
                        out.extend(elements(item).unwrap_or_default());
                    } else {
                        out.push(item);
                    }
                }
                Node::List(out)
            }
            None => Node::Null,
        },
        Expr::ObjectValues(inner) => match eval(inner, data) {
            Node::Ref(Value::Object(map)) => Node::List(map.values().map(Node::Ref).collect()),
            Node::Owned(Value::Object(map)) => {
                Node::List(map.into_iter().map(|(_, v)| Node::Owned(v)).collect())
            }
            _ => Node::Null,
        },
        Expr::MultiList(items) => {
            if data.is_null() {
                return Node::Null;
            }
            Node::List(
                items
                    .iter()
                    .map(|e| {
                        if charge(weight(&data)) {
                            eval(e, data.clone())
                        } else {
                            Node::Null
                        }
                    })
                    .collect(),
            )
        }
        Expr::MultiHash(items) => {
            if data.is_null() {
                return Node::Null;
            }
            // CPython's jmespath builds a dict in expression order.
            Node::Owned(Value::Object(
                items
                    .iter()
                    .map(|(k, e)| {
                        (
                            k.clone(),
                            if charge(weight(&data)) {
                                node_to_value(eval(e, data.clone()))
                            } else {
                                Value::Null
                            },
                        )
                    })
                    .collect(),
            ))
        }
        Expr::Literal(value) => Node::Owned(value.clone()),
        Expr::Not(inner) => Node::Owned(Value::Bool(!node_truthy(&eval(inner, data)))),
        Expr::And(lhs, rhs) => {
            let left = eval(lhs, charged_clone(&data));
            if node_truthy(&left) {
                eval(rhs, data)
            } else {
                left
            }
        }
        Expr::Or(lhs, rhs) => {
            let left = eval(lhs, charged_clone(&data));
            if node_truthy(&left) {
                left
            } else {
                eval(rhs, data)
            }
        }
        Expr::Comparison(cmp, lhs, rhs) => {
            let left = node_to_value(eval(lhs, charged_clone(&data)));
            let right = node_to_value(eval(rhs, data));
            compare(cmp, &left, &right).map_or(Node::Null, |b| Node::Owned(Value::Bool(b)))
        }
        Expr::Condition(predicate, then) => {
            if node_truthy(&eval(predicate, charged_clone(&data))) {
                eval(then, data)
            } else {
                Node::Null
            }
        }
    }
}

/// [`eval`] consuming its input: sub-documents are moved, not cloned. Branches that need the
/// input more than once (conditions, multi-selects of several items) evaluate by reference.
fn eval_owned(expr: &Expr, data: Value) -> Value {
    if !charge(1) {
        return Value::Null;
    }
    match expr {
        Expr::Identity => data,
        Expr::Field(name) => match data {
            Value::Object(mut map) => map.swap_remove(name).unwrap_or(Value::Null),
            _ => Value::Null,
        },
        Expr::Subexpr(lhs, rhs) => eval_owned(rhs, eval_owned(lhs, data)),
        Expr::Projection(lhs, rhs) => match eval_owned(lhs, data) {
            Value::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|item| eval_owned(rhs, item))
                    .filter(|v| !v.is_null())
                    .collect(),
            ),
            _ => Value::Null,
        },
        Expr::Or(lhs, rhs) => {
            if node_truthy(&eval(lhs, Node::Ref(&data))) {
                eval_owned(lhs, data)
            } else {
                eval_owned(rhs, data)
            }
        }
        Expr::And(lhs, rhs) => {
            if node_truthy(&eval(lhs, Node::Ref(&data))) {
                eval_owned(rhs, data)
            } else {
                eval_owned(lhs, data)
            }
        }
        Expr::MultiList(items) if items.len() == 1 && !data.is_null() => {
            Value::Array(vec![eval_owned(&items[0], data)])
        }
        other => node_to_value(eval(other, Node::Ref(&data))),
    }
}

impl Node<'_> {
    fn is_null(&self) -> bool {
        matches!(
            self,
            Node::Null | Node::Ref(Value::Null) | Node::Owned(Value::Null)
        )
    }

    fn is_array(&self) -> bool {
        matches!(
            self,
            Node::List(_) | Node::Ref(Value::Array(_)) | Node::Owned(Value::Array(_))
        )
    }
}

fn elements(node: Node<'_>) -> Option<Vec<Node<'_>>> {
    match node {
        Node::List(items) => Some(items),
        Node::Ref(Value::Array(items)) => Some(items.iter().map(Node::Ref).collect()),
        Node::Owned(Value::Array(items)) => Some(items.into_iter().map(Node::Owned).collect()),
        _ => None,
    }
}

fn slice(items: Vec<Node<'_>>, start: Option<i32>, stop: Option<i32>, step: i32) -> Vec<Node<'_>> {
    let len = items.len() as i64;
    let step = i64::from(step);
    if len == 0 || step == 0 {
        return Vec::new();
    }
    let adjust = |end: i32| {
        let end = i64::from(end);
        if end < 0 {
            let e = end + len;
            if e < 0 {
                if step < 0 { -1 } else { 0 }
            } else {
                e
            }
        } else if end >= len {
            if step < 0 { len - 1 } else { len }
        } else {
            end
        }
    };
    let a = start.map_or(if step < 0 { len - 1 } else { 0 }, adjust);
    let b = stop.map_or(if step < 0 { -1 } else { len }, adjust);
    let mut picked = Vec::new();
    let mut i = a;
    while (step > 0 && i < b) || (step < 0 && i > b) {
        picked.push(i as usize);
        i += step;
    }
    let mut slots: Vec<Option<Node<'_>>> = items.into_iter().map(Some).collect();
    picked
        .into_iter()
        .filter_map(|i| slots[i].take().or(Some(Node::Null)))
        .collect()
}

fn node_truthy(node: &Node<'_>) -> bool {
    match node {
        Node::Null => false,
        Node::Ref(v) => jmes_truthy(v),
        Node::Owned(v) => jmes_truthy(v),
        Node::List(items) => !items.is_empty(),
    }
}

/// JMESPath truthiness differs from Python's for numbers: `0` is true.
fn jmes_truthy(value: &Value) -> bool {
    match value {
        Value::Number(_) => true,
        other => is_truthy(other),
    }
}

fn node_to_value(node: Node<'_>) -> Value {
    match node {
        Node::Null => Value::Null,
        // Copying a borrowed part of the document is the one uncharged cost that can blow up.
        Node::Ref(v) => {
            if charge(value_weight(v)) {
                v.clone()
            } else {
                Value::Null
            }
        }
        Node::Owned(v) => v,
        Node::List(items) => Value::Array(items.into_iter().map(node_to_value).collect()),
    }
}

fn into_cow(node: Node<'_>) -> Cow<'_, Value> {
    match node {
        Node::Ref(v) => Cow::Borrowed(v),
        other => Cow::Owned(node_to_value(other)),
    }
}

fn compare(cmp: &Comparator, left: &Value, right: &Value) -> Option<bool> {
    match cmp {
        Comparator::Equal => Some(values_equal(left, right)),
        Comparator::NotEqual => Some(!values_equal(left, right)),
        ordering => {
            let (l, r) = (left.as_f64()?, right.as_f64()?);
            Some(match ordering {
                Comparator::LessThan => l < r,
                Comparator::LessThanEqual => l <= r,
                Comparator::GreaterThan => l > r,
                _ => l >= r,
            })
        }
    }
}

fn values_equal(left: &Value, right: &Value) -> bool {
    match (left, right) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| values_equal(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| values_equal(v, w)))
        }
        (a, b) => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn search(expr: &str, doc: Value) -> Value {
        JmesPath::compile(expr).unwrap().search(&doc)
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
        assert!(start.elapsed() < std::time::Duration::from_secs(20));
        assert_eq!(
            JmesPath::compile("[@, @] | [@, @]")
                .unwrap()
                .search(&json!(1)),
            json!([[1, 1], [1, 1]])
        );
    }

    #[test]
    fn functions_fall_back_to_the_crate() {
        assert_eq!(search("length(a)", json!({"a": [1, 2]})), json!(2));
        assert_eq!(
            search("a[?contains(@, 'x')]", json!({"a": ["xa", "b"]})),
            json!(["xa"])
        );
    }

    #[test]
    fn invalid_expressions_are_errors() {
        assert!(JmesPath::compile("a[").is_err());
        assert!(JmesPath::compile("a[::0]").is_err());
    }
}
