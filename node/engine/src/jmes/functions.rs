//! JMESPath's built-in functions as Python `jmespath` 0.10 implements them: the same signatures
//! and type checks (`JMESPathTypeError` becomes [`SearchError::Type`]), Python's arithmetic
//! (`sum` of integers stays an integer, `avg` is a float), `sorted`/`max` stability, dicts that
//! keep insertion order, and `json.dumps(separators=(',', ':'))` for `to_string`.

use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

use super::ast::Expr;
use super::budget::fail;
use super::eval::{Node, charged_clone, eval, node_to_value, type_name};
use super::{JmesPathError, SearchError};
use crate::python::{dumps_compact, py_eq, py_float, py_int, py_order};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Function {
    Abs,
    Avg,
    Ceil,
    Contains,
    EndsWith,
    Floor,
    Join,
    Keys,
    Length,
    Map,
    Max,
    MaxBy,
    Merge,
    Min,
    MinBy,
    NotNull,
    Reverse,
    Sort,
    SortBy,
    StartsWith,
    Sum,
    ToArray,
    ToNumber,
    ToString,
    Type,
    Values,
}

/// What one parameter accepts (a parameter lists one or more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Any,
    Number,
    String,
    Array,
    Object,
    ArrayOfNumbers,
    ArrayOfStrings,
    Expref,
}

/// A function's parameters; a variadic function takes at least as many arguments as it has
/// parameters, the extra ones checked against the last.
struct Signature {
    params: &'static [&'static [Kind]],
    variadic: bool,
}

const fn fixed(params: &'static [&'static [Kind]]) -> Signature {
    Signature {
        params,
        variadic: false,
    }
}

const ALL: [(&str, Function); 26] = [
    ("abs", Function::Abs),
    ("avg", Function::Avg),
    ("ceil", Function::Ceil),
    ("contains", Function::Contains),
    ("ends_with", Function::EndsWith),
    ("floor", Function::Floor),
    ("join", Function::Join),
    ("keys", Function::Keys),
    ("length", Function::Length),
    ("map", Function::Map),
    ("max", Function::Max),
    ("max_by", Function::MaxBy),
    ("merge", Function::Merge),
    ("min", Function::Min),
    ("min_by", Function::MinBy),
    ("not_null", Function::NotNull),
    ("reverse", Function::Reverse),
    ("sort", Function::Sort),
    ("sort_by", Function::SortBy),
    ("starts_with", Function::StartsWith),
    ("sum", Function::Sum),
    ("to_array", Function::ToArray),
    ("to_number", Function::ToNumber),
    ("to_string", Function::ToString),
    ("type", Function::Type),
    ("values", Function::Values),
];

impl Function {
    pub(super) fn by_name(name: &str) -> Option<Function> {
        ALL.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
    }

    pub(super) fn name(self) -> &'static str {
        ALL.iter().find(|(_, f)| *f == self).map_or("?", |(n, _)| n)
    }

    fn signature(self) -> Signature {
        use Kind::*;
        match self {
            Function::Abs | Function::Ceil | Function::Floor => fixed(&[&[Number]]),
            Function::Avg | Function::Sum => fixed(&[&[ArrayOfNumbers]]),
            Function::Contains => fixed(&[&[Array, String], &[Any]]),
            Function::EndsWith | Function::StartsWith => fixed(&[&[String], &[String]]),
            Function::Join => fixed(&[&[String], &[ArrayOfStrings]]),
            Function::Keys | Function::Values => fixed(&[&[Object]]),
            Function::Length => fixed(&[&[String, Array, Object]]),
            Function::Map => fixed(&[&[Expref], &[Array]]),
            Function::Max | Function::Min | Function::Sort => {
                fixed(&[&[ArrayOfNumbers, ArrayOfStrings]])
            }
            Function::MaxBy | Function::MinBy | Function::SortBy => fixed(&[&[Array], &[Expref]]),
            Function::Merge => Signature {
                params: &[&[Object]],
                variadic: true,
            },
            Function::NotNull => Signature {
                params: &[&[Any]],
                variadic: true,
            },
            Function::Reverse => fixed(&[&[Array, String]]),
            Function::ToArray | Function::ToNumber | Function::ToString | Function::Type => {
                fixed(&[&[Any]])
            }
        }
    }

    pub(super) fn check_arity(self, given: usize) -> Result<(), JmesPathError> {
        let signature = self.signature();
        let expected = signature.params.len();
        let fits = if signature.variadic {
            given >= expected
        } else {
            given == expected
        };
        if fits {
            Ok(())
        } else {
            Err(JmesPathError::Arity {
                function: self.name(),
                expected: if signature.variadic {
                    format!("at least {expected}")
                } else {
                    expected.to_string()
                },
                given,
            })
        }
    }
}

/// An evaluated argument.
enum Arg<'e> {
    Value(Value),
    Expref(&'e Expr),
}

/// Calls `function` with `args` evaluated against `data`.
pub(super) fn call<'a>(function: Function, args: &[Expr], data: Node<'a>) -> Node<'a> {
    let args: Vec<Arg<'_>> = args
        .iter()
        .map(|arg| match arg {
            Expr::Expref(inner) => Arg::Expref(inner),
            other => Arg::Value(node_to_value(eval(other, charged_clone(&data)))),
        })
        .collect();
    match check_types(function, &args).and_then(|()| apply(function, args)) {
        Ok(value) => Node::Owned(value),
        Err(error) => {
            fail(error);
            Node::Null
        }
    }
}

fn check_types(function: Function, args: &[Arg<'_>]) -> Result<(), SearchError> {
    // Like Python's, only the declared parameters are checked: a variadic function's extra
    // arguments are taken as they come.
    for (kinds, arg) in function.signature().params.iter().zip(args) {
        check_one(function, kinds, arg)?;
    }
    Ok(())
}

/// Python's `_type_check_single`: the top-level type first, then for `array-…` parameters the
/// elements (all of one kind; with two element kinds allowed, the first element picks).
fn check_one(function: Function, kinds: &[Kind], arg: &Arg<'_>) -> Result<(), SearchError> {
    let mismatch = |actual: &'static str| SearchError::Type {
        function: function.name(),
        expected: kinds
            .iter()
            .map(|k| k.name())
            .collect::<Vec<_>>()
            .join(", "),
        actual,
    };
    let value = match arg {
        Arg::Expref(_) if kinds.contains(&Kind::Expref) => return Ok(()),
        Arg::Expref(_) => return Err(mismatch("expref")),
        Arg::Value(value) => value,
    };
    if kinds.contains(&Kind::Any) {
        return Ok(());
    }
    let top = |k: &Kind| match k {
        Kind::Number => value.is_number(),
        Kind::String => value.is_string(),
        Kind::Array | Kind::ArrayOfNumbers | Kind::ArrayOfStrings => value.is_array(),
        Kind::Object => value.is_object(),
        Kind::Any | Kind::Expref => false,
    };
    if !kinds.iter().any(top) {
        return Err(mismatch(type_name(value)));
    }
    let element_kinds: Vec<Kind> = kinds
        .iter()
        .copied()
        .filter(|k| matches!(k, Kind::ArrayOfNumbers | Kind::ArrayOfStrings))
        .collect();
    let (Value::Array(items), false) = (value, element_kinds.is_empty()) else {
        return Ok(());
    };
    let fits = |kind: Kind, item: &Value| match kind {
        Kind::ArrayOfNumbers => item.is_number(),
        _ => item.is_string(),
    };
    let kind = match (element_kinds.as_slice(), items.first()) {
        ([only], _) => *only,
        (_, None) => return Ok(()),
        (_, Some(first)) => *element_kinds
            .iter()
            .find(|k| fits(**k, first))
            .ok_or_else(|| mismatch(type_name(first)))?,
    };
    match items.iter().find(|item| !fits(kind, item)) {
        Some(item) => Err(mismatch(type_name(item))),
        None => Ok(()),
    }
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Any => "any",
            Kind::Number => "number",
            Kind::String => "string",
            Kind::Array => "array",
            Kind::Object => "object",
            Kind::ArrayOfNumbers => "array-number",
            Kind::ArrayOfStrings => "array-string",
            Kind::Expref => "expref",
        }
    }
}

fn apply(function: Function, args: Vec<Arg<'_>>) -> Result<Value, SearchError> {
    let mut values = Vec::with_capacity(args.len());
    let mut exprefs = Vec::new();
    for arg in args {
        match arg {
            Arg::Value(value) => values.push(value),
            Arg::Expref(expr) => exprefs.push(expr),
        }
    }
    let values = &mut values.into_iter();
    Ok(match function {
        Function::Abs => match take(values) {
            Value::Number(n) => match integer(&n) {
                Some(i) => int_value(i.abs()),
                None => float_value(n.as_f64().unwrap_or(0.0).abs()),
            },
            other => other,
        },
        Function::Avg => match take(values) {
            Value::Array(items) if !items.is_empty() => {
                let total = py_sum(&items).as_f64().unwrap_or(0.0);
                float_value(total / items.len() as f64)
            }
            _ => Value::Null,
        },
        Function::Ceil => round(take(values), f64::ceil),
        Function::Floor => round(take(values), f64::floor),
        Function::Contains => {
            let (subject, search) = (take(values), take(values));
            match (&subject, &search) {
                (Value::String(text), Value::String(part)) => Value::Bool(text.contains(part)),
                (Value::String(_), other) => {
                    return Err(SearchError::Type {
                        function: "contains",
                        expected: "string (searching a string)".into(),
                        actual: type_name(other),
                    });
                }
                (Value::Array(items), _) => Value::Bool(items.iter().any(|i| py_eq(i, &search))),
                _ => Value::Null,
            }
        }
        Function::EndsWith | Function::StartsWith => {
            let (subject, affix) = (take(values), take(values));
            let (Value::String(subject), Value::String(affix)) = (subject, affix) else {
                return Ok(Value::Null);
            };
            Value::Bool(if function == Function::EndsWith {
                subject.ends_with(&affix)
            } else {
                subject.starts_with(&affix)
            })
        }
        Function::Join => {
            let (glue, items) = (take(values), take(values));
            let (Value::String(glue), Value::Array(items)) = (glue, items) else {
                return Ok(Value::Null);
            };
            let parts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            Value::String(parts.join(&glue))
        }
        Function::Keys => match take(values) {
            Value::Object(map) => {
                Value::Array(map.into_iter().map(|(k, _)| Value::String(k)).collect())
            }
            _ => Value::Null,
        },
        Function::Values => match take(values) {
            Value::Object(map) => Value::Array(map.into_iter().map(|(_, v)| v).collect()),
            _ => Value::Null,
        },
        Function::Length => Value::from(match take(values) {
            Value::String(s) => s.chars().count(),
            Value::Array(items) => items.len(),
            Value::Object(map) => map.len(),
            _ => 0,
        }),
        Function::Map => {
            let (Some(expr), Value::Array(items)) = (exprefs.first(), take(values)) else {
                return Ok(Value::Null);
            };
            Value::Array(
                items
                    .iter()
                    .map(|item| node_to_value(eval(expr, Node::Ref(item))))
                    .collect(),
            )
        }
        Function::Max | Function::Min => match take(values) {
            Value::Array(items) => {
                let wanted = if function == Function::Max {
                    Ordering::Greater
                } else {
                    Ordering::Less
                };
                let mut best: Option<Value> = None;
                for item in items {
                    let better = best
                        .as_ref()
                        .is_none_or(|b| py_order(&item, b) == Some(wanted));
                    if better {
                        best = Some(item);
                    }
                }
                best.unwrap_or(Value::Null)
            }
            _ => Value::Null,
        },
        Function::MaxBy | Function::MinBy | Function::SortBy => {
            let (Value::Array(items), Some(expr)) = (take(values), exprefs.first()) else {
                return Ok(Value::Null);
            };
            keyed(function, items, expr)?
        }
        Function::Merge => {
            let mut merged = Map::new();
            for value in values {
                dict_update(&mut merged, value)?;
            }
            Value::Object(merged)
        }
        Function::NotNull => values.find(|v| !v.is_null()).unwrap_or(Value::Null),
        Function::Reverse => match take(values) {
            Value::String(s) => Value::String(s.chars().rev().collect()),
            Value::Array(mut items) => {
                items.reverse();
                Value::Array(items)
            }
            _ => Value::Null,
        },
        Function::Sort => match take(values) {
            Value::Array(mut items) => {
                items.sort_by(|a, b| py_order(a, b).unwrap_or(Ordering::Equal));
                Value::Array(items)
            }
            _ => Value::Null,
        },
        Function::Sum => match take(values) {
            Value::Array(items) => py_sum(&items),
            _ => Value::Null,
        },
        Function::ToArray => match take(values) {
            Value::Array(items) => Value::Array(items),
            other => Value::Array(vec![other]),
        },
        Function::ToNumber => match take(values) {
            number @ Value::Number(_) => number,
            text @ Value::String(_) => match py_int(&text).or_else(|| py_float(&text)) {
                // `nan` and `inf` have no JSON number: null, as for text that is no number.
                Some(Value::Number(n)) => Value::Number(n),
                _ => Value::Null,
            },
            _ => Value::Null,
        },
        Function::ToString => match take(values) {
            text @ Value::String(_) => text,
            other => Value::String(dumps_compact(&other)),
        },
        Function::Type => Value::from(type_name(&take(values))),
    })
}

/// Python's `dict.update(arg)`, which `merge` applies to each argument: an object's entries, or
/// (only the first argument is type-checked) a list of key/value pairs; anything else raises.
fn dict_update(merged: &mut Map<String, Value>, arg: Value) -> Result<(), SearchError> {
    let not_pairs = |actual: &Value| SearchError::Type {
        function: "merge",
        expected: "object or list of pairs".into(),
        actual: type_name(actual),
    };
    let items = match arg {
        Value::Object(map) => {
            merged.extend(map);
            return Ok(());
        }
        Value::String(text) if text.is_empty() => return Ok(()),
        Value::Array(items) => items,
        other => return Err(not_pairs(&other)),
    };
    for item in items {
        let (key, value) = match item {
            Value::Array(pair) if pair.len() == 2 => {
                let mut pair = pair.into_iter();
                (take(&mut pair), take(&mut pair))
            }
            Value::String(text) if text.chars().count() == 2 => {
                let mut chars = text.chars().map(|c| Value::String(c.to_string()));
                (take(&mut chars), take(&mut chars))
            }
            Value::Object(map) if map.len() == 2 => {
                let mut keys = map.into_iter().map(|(k, _)| Value::String(k));
                (take(&mut keys), take(&mut keys))
            }
            other => return Err(not_pairs(&other)),
        };
        let key = match key {
            Value::String(text) => text,
            // A dict keyed by a number, boolean or None serializes its key as json.dumps does.
            scalar @ (Value::Number(_) | Value::Bool(_) | Value::Null) => dumps_compact(&scalar),
            unhashable => return Err(not_pairs(&unhashable)),
        };
        merged.insert(key, value);
    }
    Ok(())
}

fn take(values: &mut impl Iterator<Item = Value>) -> Value {
    values.next().unwrap_or(Value::Null)
}

/// `max_by`, `min_by` and `sort_by`: every key must be a number or a string (for `sort_by`, of
/// the first key's type), compared as Python compares them.
fn keyed(function: Function, items: Vec<Value>, expr: &Expr) -> Result<Value, SearchError> {
    if items.is_empty() {
        return Ok(if function == Function::SortBy {
            Value::Array(items)
        } else {
            Value::Null
        });
    }
    let keys: Vec<Value> = items
        .iter()
        .map(|item| node_to_value(eval(expr, Node::Ref(item))))
        .collect();
    let first_type = type_name(&keys[0]);
    for key in &keys {
        let allowed = match function {
            Function::SortBy => {
                matches!(first_type, "number" | "string") && type_name(key) == first_type
            }
            _ => key.is_number() || key.is_string(),
        };
        if !allowed {
            return Err(SearchError::Type {
                function: function.name(),
                expected: if function == Function::SortBy
                    && matches!(first_type, "number" | "string")
                {
                    first_type.to_string()
                } else {
                    "number, string".to_string()
                },
                actual: type_name(key),
            });
        }
    }
    let order = |a: &Value, b: &Value| {
        py_order(a, b).ok_or(SearchError::Unorderable {
            left: type_name(a),
            right: type_name(b),
        })
    };
    if function == Function::SortBy {
        let mut pairs: Vec<(Value, Value)> = keys.into_iter().zip(items).collect();
        pairs.sort_by(|(a, _), (b, _)| py_order(a, b).unwrap_or(Ordering::Equal));
        return Ok(Value::Array(
            pairs.into_iter().map(|(_, item)| item).collect(),
        ));
    }
    let wanted = if function == Function::MaxBy {
        Ordering::Greater
    } else {
        Ordering::Less
    };
    let mut best = 0;
    for i in 1..keys.len() {
        if order(&keys[i], &keys[best])? == wanted {
            best = i;
        }
    }
    Ok(items.into_iter().nth(best).unwrap_or(Value::Null))
}

/// Python's `sum()`: integers add exactly and stay integers until a float joins.
fn py_sum(items: &[Value]) -> Value {
    enum Total {
        Int(i128),
        Float(f64),
    }
    let mut total = Total::Int(0);
    for item in items {
        let Value::Number(n) = item else { continue };
        total = match (total, integer(n)) {
            (Total::Int(a), Some(b)) => match a.checked_add(b) {
                Some(sum) => Total::Int(sum),
                None => Total::Float(a as f64 + b as f64),
            },
            (Total::Int(a), None) => Total::Float(a as f64 + n.as_f64().unwrap_or(0.0)),
            (Total::Float(a), _) => Total::Float(a + n.as_f64().unwrap_or(0.0)),
        };
    }
    match total {
        Total::Int(i) => int_value(i),
        Total::Float(f) => float_value(f),
    }
}

/// `math.ceil` / `math.floor`: an integer in, the same integer out; a float in, an integer out.
fn round(value: Value, how: fn(f64) -> f64) -> Value {
    match &value {
        Value::Number(n) if integer(n).is_none() => {
            let rounded = how(n.as_f64().unwrap_or(0.0));
            if rounded.abs() < 9.0e18 {
                Value::from(rounded as i64)
            } else {
                // Python's integer would exceed what a JSON number holds here.
                float_value(rounded)
            }
        }
        _ => value,
    }
}

fn integer(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// An integer result; beyond 64 bits (Python's are unbounded) it becomes the nearest float.
fn int_value(i: i128) -> Value {
    if let Ok(small) = i64::try_from(i) {
        Value::from(small)
    } else if let Ok(big) = u64::try_from(i) {
        Value::from(big)
    } else {
        float_value(i as f64)
    }
}

fn float_value(f: f64) -> Value {
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}
