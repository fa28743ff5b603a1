//! How pipeline actors fail: a handler runs its work under a panic guard, so a panic costs the
//! actor (it is restarted) but never the batch, whose sender still holds it and sends it again.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Why an actor returned no result for a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageFailure {
    /// The actor panicked or lost its worker while holding the batch and is being restarted;
    /// the same batch may be sent again.
    #[error("{actor} crashed: {reason}")]
    Crashed { actor: &'static str, reason: String },
    /// The batch cannot be handled as it is (e.g. it names a source no cluster routes).
    #[error("{0}")]
    Refused(String),
    /// Something outside the actor is missing (no Raft quorum, no rules loaded): the source
    /// should keep the batch and offer it again later.
    #[error("{0}")]
    Unavailable(String),
    /// The actor crashed on every attempt.
    #[error("{actor} failed {attempts} times on this batch, last: {reason}")]
    GaveUp {
        actor: &'static str,
        attempts: u32,
        reason: String,
    },
}

/// Runs `work`, turning a panic into the panic's message.
pub fn guarded<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(work)).map_err(panic_message)
}

pub fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "panic with a non-text payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_its_message() {
        assert_eq!(guarded(|| 7), Ok(7));
        assert_eq!(
            guarded(|| -> u8 { panic!("boom {}", 1) }),
            Err("boom 1".into())
        );
        assert_eq!(
            guarded(|| -> u8 { std::panic::panic_any(3u8) }),
            Err("panic with a non-text payload".into())
        );
    }
}
