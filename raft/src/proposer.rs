//! Group commit: the commands written on one node at the same time go to Raft as one entry, so
//! they share one log append, one fsync and one replication round. A command waits for nothing
//! but the proposals already in flight: while [`IN_FLIGHT`] proposals are being committed, what
//! arrives meanwhile queues and leaves together in the next one, up to about
//! [`TARGET_COMMAND_BYTES`] or [`MAX_COMMANDS`]. The dispatcher's delivery records (one small
//! command per alert and output) were one entry and one fsync each.

use std::sync::Arc;

use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{Semaphore, mpsc, oneshot};

use crate::command::{Command, CommandResult, Proposal, TARGET_COMMAND_BYTES};
use crate::types::{Node, NodeId, Raft};

/// Proposals being committed at once; more arrivals wait and are grouped.
const IN_FLIGHT: usize = 4;
/// Commands in one proposal at most.
const MAX_COMMANDS: usize = 256;

pub type ProposeError = RaftError<NodeId, ClientWriteError<NodeId, Node>>;

struct Waiting {
    command: Command,
    reply: oneshot::Sender<Result<CommandResult, ProposeError>>,
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

    /// Commits `command` with whatever else is waiting; `Err` carries Raft's answer (this node
    /// is not the leader, Raft stopped), for the caller to forward or report.
    pub async fn propose(&self, command: Command) -> Result<CommandResult, ProposeError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || RaftError::Fatal(openraft::error::Fatal::Stopped);
        self.queue
            .send(Waiting { command, reply })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn group(raft: Raft, mut arrivals: mpsc::UnboundedReceiver<Waiting>) {
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = arrivals.recv().await {
        let Ok(slot) = in_flight.clone().acquire_owned().await else {
            return;
        };
        // Everything that arrived while waiting for a slot goes with it.
        let mut bytes = first.command.size();
        let mut group = vec![first];
        while group.len() < MAX_COMMANDS && bytes < TARGET_COMMAND_BYTES {
            match arrivals.try_recv() {
                Ok(next) => {
                    bytes += next.command.size();
                    group.push(next);
                }
                Err(_) => break,
            }
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            let (commands, replies): (Vec<_>, Vec<_>) = group
                .into_iter()
                .map(|waiting| (waiting.command, waiting.reply))
                .unzip();
            match raft.client_write(Proposal { commands }).await {
                Ok(response) => {
                    for (reply, result) in replies.into_iter().zip(response.data) {
                        let _ = reply.send(Ok(result));
                    }
                }
                Err(e) => {
                    for reply in replies {
                        let _ = reply.send(Err(e.clone()));
                    }
                }
            }
            drop(slot);
        });
    }
}
