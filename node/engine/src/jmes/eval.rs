//! The tree-walking evaluator, with Python `jmespath` 0.10's semantics (docs/spec §5.2), on
//! borrowed values: a field of the document is referenced, not copied, until a result needs it.

use std::cmp::Ordering;

use serde_json::Value;

use super::SearchError;
use super::ast::{Comparator, Expr};
use super::budget::{charge, fail};
use super::functions;
use crate::python::{is_truthy, py_eq, py_order};

/// An intermediate result: borrowed from the document where possible.
#[derive(Debug, Clone)]
pub(super) enum Node<'a> {
    Null,
    Ref(&'a Value),
    Owned(Value),
    List(Vec<Node<'a>>),
}

pub(super) fn eval<'a>(expr: &Expr, data: Node<'a>) -> Node<'a> {
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
            let Some(mut items) = elements(data) else {
                return Node::Null;
            };
            let len = items.len() as i64;
            let i = if *idx < 0 {
                len.saturating_add(*idx)
            } else {
                *idx
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
        Expr::IndexChain(chain) => chain.iter().fold(data, |node, e| eval(e, node)),
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
                    .map(|e| eval(e, charged_clone(&data)))
                    .collect(),
            )
        }
        Expr::MultiHash(items) => {
            if data.is_null() {
                return Node::Null;
            }
            // A dict built in expression order, as CPython's.
            Node::Owned(Value::Object(
                items
                    .iter()
                    .map(|(k, e)| (k.clone(), node_to_value(eval(e, charged_clone(&data)))))
                    .collect(),
            ))
        }
        Expr::Literal(value) => Node::Owned(value.clone()),
        Expr::Not(inner) => {
            let value = eval(inner, data);
            // jmespath 0.10 special-cases the integer 0 (`!0` is false); everything else,
            // 0.0 included, follows Python's `not`.
            // serde_json gives no integer view of a float, so 0.0 is not caught here.
            let zero_int = value.as_value().and_then(Value::as_u64) == Some(0);
            Node::Owned(Value::Bool(!zero_int && !python_truthy(&value)))
        }
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
            compare(cmp, &left, &right)
        }
        Expr::Condition(predicate, then) => {
            if node_truthy(&eval(predicate, charged_clone(&data))) {
                eval(then, data)
            } else {
                Node::Null
            }
        }
        Expr::Call(function, args) => functions::call(*function, args, data),
        Expr::Expref(_) => {
            fail(SearchError::ExprefOutsideFunction);
            Node::Null
        }
    }
}

/// [`eval`] consuming its input: sub-documents are moved, not cloned. Branches that need the
/// input more than once (conditions, multi-selects of several items) evaluate by reference.
pub(super) fn eval_owned(expr: &Expr, data: Value) -> Value {
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

impl<'a> Node<'a> {
    pub(super) fn is_null(&self) -> bool {
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

    /// The value, unless this is a list still being assembled (or null).
    pub(super) fn as_value(&self) -> Option<&Value> {
        match self {
            Node::Ref(v) => Some(v),
            Node::Owned(v) => Some(v),
            Node::Null | Node::List(_) => None,
        }
    }
}

pub(super) fn elements(node: Node<'_>) -> Option<Vec<Node<'_>>> {
    match node {
        Node::List(items) => Some(items),
        Node::Ref(Value::Array(items)) => Some(items.iter().map(Node::Ref).collect()),
        Node::Owned(Value::Array(items)) => Some(items.into_iter().map(Node::Owned).collect()),
        _ => None,
    }
}

fn slice(items: Vec<Node<'_>>, start: Option<i64>, stop: Option<i64>, step: i64) -> Vec<Node<'_>> {
    let len = items.len() as i64;
    if len == 0 || step == 0 {
        return Vec::new();
    }
    let adjust = |end: i64| {
        if end < 0 {
            let e = end.saturating_add(len);
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
        i = i.saturating_add(step);
    }
    let mut slots: Vec<Option<Node<'_>>> = items.into_iter().map(Some).collect();
    picked
        .into_iter()
        .filter_map(|i| slots[i].take().or(Some(Node::Null)))
        .collect()
}

/// JMESPath truth (`||`, `&&`, filters): null, false, and empty strings, lists and objects are
/// false; every number is true.
pub(super) fn node_truthy(node: &Node<'_>) -> bool {
    match node {
        Node::Null => false,
        Node::Ref(v) => jmes_truthy(v),
        Node::Owned(v) => jmes_truthy(v),
        Node::List(items) => !items.is_empty(),
    }
}

fn jmes_truthy(value: &Value) -> bool {
    match value {
        Value::Number(_) => true,
        other => is_truthy(other),
    }
}

/// Python's truth, for `!` and for what StreamAlert does with a search result (`0` is false).
pub(super) fn python_truthy(node: &Node<'_>) -> bool {
    match node {
        Node::Null => false,
        Node::Ref(v) => is_truthy(v),
        Node::Owned(v) => is_truthy(v),
        Node::List(items) => !items.is_empty(),
    }
}

pub(super) fn node_to_value(node: Node<'_>) -> Value {
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

pub(super) fn charged_clone<'a>(node: &Node<'a>) -> Node<'a> {
    if charge(weight(node)) {
        node.clone()
    } else {
        Node::Null
    }
}

/// jmespath 0.10's comparators: `==` is Python's except that the integers 0 and 1 never equal a
/// boolean; ordering applies to numbers and strings only (null otherwise), and a number against
/// a string raises, as Python does.
fn compare<'a>(cmp: &Comparator, left: &Value, right: &Value) -> Node<'a> {
    let ordering = |test: fn(Ordering) -> bool| {
        let comparable = |v: &Value| v.is_number() || v.is_string();
        if !(comparable(left) && comparable(right)) {
            return Node::Null;
        }
        match py_order(left, right) {
            Some(order) => Node::Owned(Value::Bool(test(order))),
            None => {
                fail(SearchError::Unorderable {
                    left: type_name(left),
                    right: type_name(right),
                });
                Node::Null
            }
        }
    };
    match cmp {
        Comparator::Eq => Node::Owned(Value::Bool(jmes_eq(left, right))),
        Comparator::Ne => Node::Owned(Value::Bool(!jmes_eq(left, right))),
        Comparator::Lt => ordering(Ordering::is_lt),
        Comparator::Lte => ordering(Ordering::is_le),
        Comparator::Gt => ordering(Ordering::is_gt),
        Comparator::Gte => ordering(Ordering::is_ge),
    }
}

fn jmes_eq(left: &Value, right: &Value) -> bool {
    let zero_or_one_int = |v: &Value| !v.is_f64() && matches!(v.as_u64(), Some(0 | 1));
    if (zero_or_one_int(left) && right.is_boolean())
        || (zero_or_one_int(right) && left.is_boolean())
    {
        return false;
    }
    py_eq(left, right)
}

/// The JMESPath name of a value's type.
pub(super) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
