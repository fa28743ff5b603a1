//! The evaluator's expression tree, as the parser builds it.

use serde_json::Value;

use super::functions::Function;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
    Identity,
    Field(String),
    Index(i64),
    Slice {
        start: Option<i64>,
        stop: Option<i64>,
        step: i64,
    },
    /// `a.b` and `a | b`: the right side evaluated on the left's result.
    Subexpr(Box<Expr>, Box<Expr>),
    /// `a[0][1]…`: like a chain of subexpressions; kept apart because the parser extends it.
    IndexChain(Vec<Expr>),
    /// The right side on each element of the left's list, nulls dropped.
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
    /// A filter's test: the right side if the condition holds, else null.
    Condition(Box<Expr>, Box<Expr>),
    Call(Function, Vec<Expr>),
    /// `&expr`: only meaningful as the argument of `map`, `sort_by`, `min_by` and `max_by`.
    Expref(Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Comparator {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl Expr {
    /// Python raises on a zero slice step only when it meets a list; a configuration is better
    /// told at once.
    pub(super) fn has_zero_step(&self) -> bool {
        match self {
            Expr::Slice { step, .. } => *step == 0,
            Expr::Subexpr(a, b)
            | Expr::Projection(a, b)
            | Expr::And(a, b)
            | Expr::Or(a, b)
            | Expr::Comparison(_, a, b)
            | Expr::Condition(a, b) => a.has_zero_step() || b.has_zero_step(),
            Expr::Flatten(a) | Expr::ObjectValues(a) | Expr::Not(a) | Expr::Expref(a) => {
                a.has_zero_step()
            }
            Expr::MultiList(items) | Expr::Call(_, items) | Expr::IndexChain(items) => {
                items.iter().any(Expr::has_zero_step)
            }
            Expr::MultiHash(items) => items.iter().any(|(_, e)| e.has_zero_step()),
            Expr::Identity | Expr::Field(_) | Expr::Index(_) | Expr::Literal(_) => false,
        }
    }
}
