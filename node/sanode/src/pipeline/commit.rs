//! The commit actor: hands a batch's alerts and dead letters to the merger (through
//! [`Committer`]) and replies only once they are committed, so the source may then acknowledge
//! or checkpoint the batch.

use std::sync::Arc;

use actix::fut::{ActorFutureExt, wrap_future};
use actix::{Actor, ActorContext, Context, Handler, Message, ResponseActFuture, Supervised};
use futures::future::BoxFuture;
use prometheus::IntCounter;

use super::batch::BatchReport;
use super::supervision::{StageFailure, guarded, panic_message};

pub const ACTOR: &str = "commit";

/// Where committed batches go: the node's replicated alert store in production.
pub trait Committer: Send + Sync + 'static {
    fn commit(&self, report: Arc<BatchReport>) -> BoxFuture<'static, anyhow::Result<()>>;
}

pub struct CommitActor {
    committer: Arc<dyn Committer>,
    /// Commits run on the node's runtime (Raft lives there), not on the actor's arbiter.
    runtime: tokio::runtime::Handle,
    capacity: usize,
    restarts: IntCounter,
}

impl CommitActor {
    pub fn new(
        committer: Arc<dyn Committer>,
        runtime: tokio::runtime::Handle,
        capacity: usize,
        restarts: IntCounter,
    ) -> Self {
        CommitActor {
            committer,
            runtime,
            capacity,
            restarts,
        }
    }
}

impl Actor for CommitActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.capacity);
    }
}

impl Supervised for CommitActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.inc();
    }
}

pub struct Commit {
    pub report: Arc<BatchReport>,
}

impl Message for Commit {
    type Result = Result<(), StageFailure>;
}

fn crashed(ctx: &mut Context<CommitActor>, reason: String) -> StageFailure {
    tracing::error!(actor = ACTOR, reason, "restarting");
    ctx.stop();
    StageFailure::Crashed {
        actor: ACTOR,
        reason,
    }
}

impl Handler<Commit> for CommitActor {
    type Result = ResponseActFuture<Self, Result<(), StageFailure>>;

    fn handle(&mut self, message: Commit, _ctx: &mut Context<Self>) -> Self::Result {
        let started = guarded(|| {
            fail::fail_point!("pipeline::commit");
            self.runtime.spawn(self.committer.commit(message.report))
        });
        let commit = match started {
            Ok(commit) => commit,
            // Replies with the failure first: stopping the actor right away would drop it.
            Err(reason) => {
                return Box::pin(
                    actix::fut::ready(()).map(move |(), _actor, ctx| Err(crashed(ctx, reason))),
                );
            }
        };
        Box::pin(
            wrap_future::<_, Self>(commit).map(|result, _actor, ctx| match result {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(StageFailure::Unavailable(format!(
                    "alerts not committed, send again: {e:#}"
                ))),
                Err(join) if join.is_panic() => Err(crashed(ctx, panic_message(join.into_panic()))),
                Err(_) => Err(StageFailure::Unavailable(
                    "the node is shutting down; alerts not committed".to_owned(),
                )),
            }),
        )
    }
}
