//! Bounds on one evaluation, and how it stops. Multi-select lists can grow results exponentially
//! with the expression's length (`[@, @] | [@, @] | …`), so every step and every copy is charged
//! against a budget; a type error (Python's `JMESPathTypeError`) ends the evaluation the same way.

use std::cell::{Cell, RefCell};

use super::SearchError;

/// Work allowed for one evaluation, in steps and copied values.
pub(super) const EVAL_BUDGET: usize = 2_000_000;

thread_local! {
    static BUDGET: Cell<usize> = const { Cell::new(EVAL_BUDGET) };
    static FAILURE: RefCell<Option<SearchError>> = const { RefCell::new(None) };
}

/// Runs one evaluation with a fresh budget.
pub(super) fn run<T>(evaluate: impl FnOnce() -> T) -> Result<T, SearchError> {
    BUDGET.with(|b| b.set(EVAL_BUDGET));
    FAILURE.with(|f| f.take());
    let out = evaluate();
    match FAILURE.with(|f| f.take()) {
        Some(error) => Err(error),
        None => Ok(out),
    }
}

/// Takes `cost` from the budget; `false` once it is spent or the evaluation failed, after which
/// the evaluator returns null without further work.
pub(super) fn charge(cost: usize) -> bool {
    BUDGET.with(|b| match b.get().checked_sub(cost) {
        Some(left) => {
            b.set(left);
            true
        }
        None => {
            b.set(0);
            fail(SearchError::TooExpensive);
            false
        }
    })
}

/// Ends the evaluation with `error` (the first one wins).
pub(super) fn fail(error: SearchError) {
    BUDGET.with(|b| b.set(0));
    FAILURE.with(|f| {
        let mut failure = f.borrow_mut();
        if failure.is_none() {
            *failure = Some(error);
        }
    });
}
