//! Ops that ride along with the first write of a task: what a node must commit in the same
//! entry as a change without every store knowing about it (the audit trail: an entry exists
//! exactly when the change it describes applied).
//!
//! [`with_rider`] runs a future with a maker of ops; the first command that future writes
//! through [`Replica::write`](crate::Replica::write) or `write_together` carries the ops,
//! and the rider is spent once that command applies. A write that fails, or whose conditions
//! do not hold, leaves the rider for the next write.

use std::cell::RefCell;
use std::future::Future;

use crate::command::{Command, CommandResult, WriteOp};

type MakeOps = Box<dyn Fn() -> Vec<WriteOp> + Send>;

struct Rider {
    make: MakeOps,
    applied: bool,
}

tokio::task_local! {
    static RIDER: RefCell<Rider>;
}

/// Runs `future` with `make`'s ops riding on its first applied write; also returns whether
/// they applied.
pub async fn with_rider<F: Future>(
    make: impl Fn() -> Vec<WriteOp> + Send + 'static,
    future: F,
) -> (F::Output, bool) {
    let cell = RefCell::new(Rider {
        make: Box::new(make),
        applied: false,
    });
    RIDER
        .scope(cell, async move {
            let output = future.await;
            let applied = RIDER.with(|rider| rider.borrow().applied);
            (output, applied)
        })
        .await
}

/// Adds the pending rider's ops to the first of `commands`; returns whether it did.
pub(crate) fn board(commands: &mut [Command]) -> bool {
    let Some(first) = commands.first_mut() else {
        return false;
    };
    RIDER
        .try_with(|rider| {
            let rider = rider.borrow();
            if rider.applied {
                return false;
            }
            first.ops.extend((rider.make)());
            true
        })
        .unwrap_or(false)
}

/// Records that the command carrying the rider applied (its first result says so).
pub(crate) fn settle(results: &[CommandResult]) {
    let applied = matches!(
        results.first(),
        Some(CommandResult::Applied | CommandResult::AppliedExcept { .. })
    );
    if applied {
        let _ = RIDER.try_with(|rider| rider.borrow_mut().applied = true);
    }
}
