//! Group commit: the commands written on one node at the same time go to Raft as one entry, so
//! they share one log append, one fsync and one replication round. A command waits for nothing
//! but the proposals already in flight: while [`IN_FLIGHT`] proposals are being committed, what
//! arrives meanwhile queues and leaves together in the next one, up to about
//! [`TARGET_COMMAND_BYTES`] or [`MAX_COMMANDS`]. The dispatcher's delivery records (one small
//! command per alert and output) were one entry and one fsync each.
//!
//! A writer may hand in several commands as one unit (a batch's alerts with its source
//! position): a unit is never split, so its commands share an entry and commit together.

use std::sync::Arc;
use std::time::Duration;

use openraft::error::{ClientWriteError, Fatal, RaftError};
use openraft::raft::responder::Responder;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::command::{Command, CommandResult, Proposal, TARGET_COMMAND_BYTES};
use crate::types::{Node, NodeId, Raft, TypeConfig};

type ResponderReceiverOf<C> = <openraft::impls::OneshotResponder<C> as Responder<C>>::Receiver;

/// Proposals being committed at once; more arrivals wait and are grouped.
const IN_FLIGHT: usize = 4;
/// Commands in one proposal at most.
const MAX_COMMANDS: usize = 256;
/// How long a proposal keeps its slot without an answer: a few election timeouts.
const SLOT_HOLD: Duration = Duration::from_secs(10);

pub type ProposeError = RaftError<NodeId, ClientWriteError<NodeId, Node>>;

/// Where a unit's results go.
type Reply = oneshot::Sender<Result<Vec<CommandResult>, ProposeError>>;

struct Waiting {
    commands: Vec<Command>,
    bytes: usize,
    reply: Reply,
}

/// Hands commands to the proposer task of this node's Raft instance.
#[derive(Clone)]
pub struct Proposer {
    queue: mpsc::UnboundedSender<Waiting>,
}

impl Proposer {
    /// Starts the proposer task on the current runtime; it ends when every handle is dropped.
    pub fn start(raft: Raft) -> Proposer {
        let (queue, arrivals) = mpsc::unbounded_channel();
        tokio::spawn(group(raft, arrivals));
        Proposer { queue }
    }

    /// Commits `commands` in one entry, with whatever else is waiting; their results in order.
    /// `Err` carries Raft's answer (this node is not the leader, Raft stopped), for the caller
    /// to forward or report.
    pub async fn propose(
        &self,
        commands: Vec<Command>,
    ) -> Result<Vec<CommandResult>, ProposeError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || RaftError::Fatal(Fatal::Stopped);
        let bytes = commands.iter().map(Command::size).sum();
        self.queue
            .send(Waiting {
                commands,
                bytes,
                reply,
            })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn group(raft: Raft, mut arrivals: mpsc::UnboundedReceiver<Waiting>) {
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    // A command that did not fit the last group starts the next one.
    let mut carried: Option<Waiting> = None;
    loop {
        let first = match carried.take() {
            Some(waiting) => waiting,
            None => match arrivals.recv().await {
                Some(waiting) => waiting,
                None => return,
            },
        };
        let Ok(slot) = in_flight.clone().acquire_owned().await else {
            return;
        };
        // Everything that arrived while waiting for a slot goes with it, within the size
        // target (a unit larger than the target goes alone).
        let mut bytes = first.bytes;
        let mut count = first.commands.len();
        let mut group = vec![first];
        while count < MAX_COMMANDS && bytes < TARGET_COMMAND_BYTES {
            let Ok(next) = arrivals.try_recv() else {
                break;
            };
            if bytes + next.bytes > TARGET_COMMAND_BYTES
                || count + next.commands.len() > MAX_COMMANDS
            {
                carried = Some(next);
                break;
            }
            bytes += next.bytes;
            count += next.commands.len();
            group.push(next);
        }
        let mut commands = Vec::with_capacity(count);
        let mut replies = Vec::with_capacity(group.len());
        for waiting in group {
            replies.push((waiting.commands.len(), waiting.reply));
            commands.extend(waiting.commands);
        }
        // Submitted here, in the order the writes were made; answered by a task of its own.
        let submitted = raft.client_write_ff(Proposal { commands }).await;
        tokio::spawn(answer(submitted, replies, slot));
    }
}

/// Hands each writer of a proposal its result. The proposal's slot paces grouping only: it is
/// given back after [`SLOT_HOLD`] even when Raft never answers (openraft 0.9 leaves writers
/// unanswered when a snapshot install purges their entries), so the node keeps writing.
async fn answer(
    submitted: Result<ResponderReceiverOf<TypeConfig>, Fatal<NodeId>>,
    replies: Vec<(usize, Reply)>,
    slot: OwnedSemaphorePermit,
) {
    let outcome = match submitted {
        Err(fatal) => Err(RaftError::Fatal(fatal)),
        Ok(mut receiver) => {
            let answered = match tokio::time::timeout(SLOT_HOLD, &mut receiver).await {
                Ok(answered) => answered,
                Err(_) => {
                    drop(slot);
                    receiver.await
                }
            };
            match answered {
                Ok(Ok(response)) => Ok(response.data),
                Ok(Err(e)) => Err(RaftError::APIError(e)),
                Err(_) => Err(RaftError::Fatal(Fatal::Stopped)),
            }
        }
    };
    match outcome {
        // The state machine answers every command of a proposal, in order (state_machine.rs).
        Ok(results) => {
            let mut results = results.into_iter();
            for (count, reply) in replies {
                let unit: Vec<CommandResult> = results.by_ref().take(count).collect();
                let result = if unit.len() == count {
                    Ok(unit)
                } else {
                    Err(RaftError::Fatal(Fatal::Stopped))
                };
                let _ = reply.send(result);
            }
        }
        Err(e) => {
            for (_, reply) in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}
