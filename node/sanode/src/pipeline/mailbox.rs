//! The bounded way into a pipeline actor. At most `capacity` batches are inside an actor at
//! once (queued, being handled, or handled and waiting for room downstream); a sender waits for
//! room, and since each stage keeps its room until the next stage has some, a slow stage makes
//! the sources wait instead of letting batches pile up in memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix::dev::ToEnvelope;
use actix::{Actor, Addr, Handler, MailboxError, Message};
use prometheus::IntGauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::supervision::StageFailure;

pub struct Mailbox<A: Actor> {
    actor: &'static str,
    addr: Addr<A>,
    room: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    depth: IntGauge,
    attempts: u32,
}

/// Room for one batch inside an actor, held from before the batch is sent until the batch has
/// room in the next actor (or is done).
pub struct Slot {
    _permit: OwnedSemaphorePermit,
    depth: IntGauge,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.depth.dec();
    }
}

impl<A: Actor> Mailbox<A> {
    /// `depth` is the actor's mailbox gauge; a batch is offered `attempts` times before the
    /// sender gives up on it.
    pub fn new(
        actor: &'static str,
        addr: Addr<A>,
        capacity: usize,
        attempts: u32,
        depth: IntGauge,
    ) -> Self {
        Mailbox {
            actor,
            addr,
            room: Arc::new(Semaphore::new(capacity.max(1))),
            waiting: Arc::new(AtomicUsize::new(0)),
            depth,
            attempts: attempts.max(1),
        }
    }

    /// Waits for room for one batch.
    pub async fn reserve(&self) -> Slot {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let permit = self
            .room
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        self.depth.inc();
        Slot {
            _permit: permit,
            depth: self.depth.clone(),
        }
    }

    /// Senders currently waiting for room (backpressure felt upstream).
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Sends the message built by `message` (cheap: it shares the batch) and waits for the
    /// reply. A crash of the actor, or a reply it dropped, sends the batch again, at most
    /// `attempts` times in all.
    pub async fn request<M, T>(
        &self,
        _slot: &Slot,
        message: impl Fn() -> M,
    ) -> Result<T, StageFailure>
    where
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
        M: Message<Result = Result<T, StageFailure>> + Send + 'static,
        T: Send + 'static,
    {
        let mut reason = String::new();
        for attempt in 1..=self.attempts {
            match self.addr.send(message()).await {
                Ok(Ok(reply)) => return Ok(reply),
                Ok(Err(StageFailure::Crashed { reason: why, .. })) => reason = why,
                Err(MailboxError::Closed | MailboxError::Timeout) => {
                    reason = "the actor dropped the batch without replying".to_owned();
                }
                Ok(Err(other)) => return Err(other),
            }
            if attempt < self.attempts {
                tracing::warn!(
                    actor = self.actor,
                    attempt,
                    reason,
                    "batch not handled; sending it again"
                );
            }
        }
        Err(StageFailure::GaveUp {
            actor: self.actor,
            attempts: self.attempts,
            reason,
        })
    }
}
