//! The bounded way into a pipeline actor, held by the stage before it (docs/architecture.md
//! §3). At most `capacity` parts are inside an actor at once: queued, being handled, or handled
//! and waiting for room in the next actor. A sender first waits for room ([`Mailbox::reserve`]),
//! then hands over the part with its [`Slot`]; the actor keeps the slot until it holds room
//! downstream. So a slow stage fills the stages before it and, at the front, makes the sources
//! wait, instead of letting parts pile up in memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix::dev::ToEnvelope;
use actix::{Actor, Addr, Handler, Message};
use prometheus::IntGauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct Mailbox<A: Actor> {
    addr: Addr<A>,
    capacity: usize,
    room: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    depth: IntGauge,
}

impl<A: Actor> Clone for Mailbox<A> {
    fn clone(&self) -> Self {
        Mailbox {
            addr: self.addr.clone(),
            capacity: self.capacity,
            room: self.room.clone(),
            waiting: self.waiting.clone(),
            depth: self.depth.clone(),
        }
    }
}

/// Room for one part inside an actor; travels with the part and is dropped once the part has
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
    /// `depth` is the actor's mailbox gauge.
    pub fn new(addr: Addr<A>, capacity: usize, depth: IntGauge) -> Self {
        let capacity = capacity.max(1);
        Mailbox {
            addr,
            capacity,
            room: Arc::new(Semaphore::new(capacity)),
            waiting: Arc::new(AtomicUsize::new(0)),
            depth,
        }
    }

    /// Waits for room for one part.
    pub async fn reserve(&self) -> Slot {
        let waiting = Waiting::count(&self.waiting);
        let permit = self
            .room
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        drop(waiting);
        self.depth.inc();
        Slot {
            _permit: permit,
            depth: self.depth.clone(),
        }
    }

    /// [`Mailbox::reserve`] for an actor on a thread of its own (the classifier): the thread
    /// blocks, which is the backpressure.
    pub fn reserve_blocking(&self) -> Slot {
        futures::executor::block_on(self.reserve())
    }

    /// Hands `message` (which carries its [`Slot`], or is a control message) to the actor.
    pub fn send<M>(&self, message: M)
    where
        A: Handler<M>,
        A::Context: ToEnvelope<A, M>,
        M: Message<Result = ()> + Send + 'static,
    {
        self.addr.do_send(message);
    }

    pub fn addr(&self) -> &Addr<A> {
        &self.addr
    }

    /// Parts inside the actor, and senders waiting for room (the backpressure felt upstream).
    pub fn observe(&self) -> StageState {
        StageState {
            held: self.capacity - self.room.available_permits(),
            waiting: self.waiting.load(Ordering::SeqCst),
        }
    }
}

/// One sender waiting for room, until it has room or stops waiting.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn count(waiting: &'a AtomicUsize) -> Self {
        waiting.fetch_add(1, Ordering::SeqCst);
        Waiting(waiting)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a stage's mailbox shows from outside.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageState {
    /// Parts inside the actor: queued, handled, or waiting for room downstream.
    pub held: usize,
    /// Senders waiting for room.
    pub waiting: usize,
}
