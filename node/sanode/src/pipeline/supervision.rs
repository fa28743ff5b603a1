//! How pipeline actors fail: a handler runs its work under a panic guard, so a panic costs the
//! actor (it is restarted) but never the part it held, which the actor sends itself again. A
//! part an actor crashes on every time is dead-lettered with the reason.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};

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

/// The dead letters' reason when `actor` crashed on a part on each of its `attempts`.
pub fn gave_up(actor: &str, attempts: u32, last: &str) -> String {
    format!("{actor} failed {attempts} times on this batch, last: {last}")
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
