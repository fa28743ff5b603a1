//! The rules actor: the only way to the rules thread (one embedded interpreter per node).
//! Batches of classified records go in, rule outcomes come out. If the rules thread dies, the
//! actor is restarted and starts a new one on the repository it last loaded.

use std::sync::Arc;

use actix::fut::{ActorFutureExt, wrap_future};
use actix::{Actor, ActorContext, Context, Handler, Message, ResponseActFuture, Supervised};
use prometheus::IntCounter;
use sa_engine::ClassifiedRecord;
use sa_rules::{EngineOptions, Evaluation, Plugs, RepositoryLayout, RulesHandle, RulesWorker};
use tokio::sync::oneshot;

use super::supervision::{StageFailure, guarded};

pub const ACTOR: &str = "rules";

pub struct RulesActor {
    worker: Option<RulesWorker>,
    layout: RepositoryLayout,
    options: EngineOptions,
    /// The rule table, plugged into every rules thread the actor starts.
    plugs: Plugs,
    /// Batches the actor holds at most; the rules thread's queue has room for them, so a submit
    /// does not block the arbiter's thread.
    capacity: usize,
    worker_lost: bool,
    restarts: IntCounter,
}

impl RulesActor {
    /// Starts the rules thread on `layout` (blocks while the repository imports).
    pub fn start(
        layout: RepositoryLayout,
        options: EngineOptions,
        plugs: Plugs,
        capacity: usize,
        restarts: IntCounter,
    ) -> anyhow::Result<Self> {
        let worker = spawn(&layout, &options, &plugs, capacity)?;
        Ok(RulesActor {
            worker: Some(worker),
            layout,
            options,
            plugs,
            capacity,
            worker_lost: false,
            restarts,
        })
    }

    /// The rules of the repository the thread started with.
    pub fn rule_names(&self) -> Vec<String> {
        self.worker
            .as_ref()
            .map(|worker| worker.rule_names().to_vec())
            .unwrap_or_default()
    }

    fn rules_handle(&self) -> Option<RulesHandle> {
        self.worker.as_ref().map(RulesWorker::handle)
    }
}

impl Actor for RulesActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(self.capacity);
    }
}

impl Supervised for RulesActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.inc();
        if !self.worker_lost {
            return;
        }
        // Joins the dead thread, whose interpreter state unwound with it.
        self.worker = None;
        match spawn(&self.layout, &self.options, &self.plugs, self.capacity) {
            Ok(worker) => {
                self.worker = Some(worker);
                self.worker_lost = false;
            }
            Err(e) => tracing::error!(error = %e, "cannot start a new rules thread"),
        }
    }
}

pub struct Evaluate {
    pub records: Arc<Vec<ClassifiedRecord>>,
}

/// The rule hits of the batch: the sender builds the alerts ([`Evaluation::into_outcome`]).
impl Message for Evaluate {
    type Result = Result<Evaluation, StageFailure>;
}

impl Handler<Evaluate> for RulesActor {
    type Result = ResponseActFuture<Self, Result<Evaluation, StageFailure>>;

    fn handle(&mut self, message: Evaluate, _ctx: &mut Context<Self>) -> Self::Result {
        let handle = self.rules_handle();
        let submitted = guarded(|| {
            fail::fail_point!("pipeline::rules");
            let handle = handle.ok_or("no rules thread is running")?;
            let (sender, receiver) = oneshot::channel();
            handle
                .submit(message.records.clone(), move |outcome| {
                    // Runs on the rules thread: a panic here takes the thread down with the
                    // batch, as a crash inside the engine would.
                    fail::fail_point!("pipeline::rules_thread");
                    let _ = sender.send(outcome);
                })
                .map_err(|_| "the rules thread is gone")?;
            Ok::<_, &str>(receiver)
        });
        let receiver = match submitted {
            Ok(Ok(receiver)) => receiver,
            Ok(Err(reason)) => {
                self.worker_lost = true;
                return crash_after_reply(reason.to_owned());
            }
            Err(reason) => return crash_after_reply(reason),
        };
        Box::pin(wrap_future::<_, Self>(receiver).map(|outcome, actor, ctx| {
            match outcome {
                Ok(Ok(evaluation)) => Ok(evaluation),
                // The engine could not run the batch at all (no repository loaded).
                Ok(Err(reason)) => Err(StageFailure::Unavailable(format!("rules: {reason}"))),
                Err(_) => {
                    actor.worker_lost = true;
                    Err(crash(ctx, "the rules thread dropped the batch".to_owned()))
                }
            }
        }))
    }
}

/// The handle of the running rules thread, for work beside batches (composing publications).
pub struct CurrentHandle;

impl Message for CurrentHandle {
    type Result = Option<RulesHandle>;
}

impl Handler<CurrentHandle> for RulesActor {
    type Result = Option<RulesHandle>;

    fn handle(&mut self, _message: CurrentHandle, _ctx: &mut Context<Self>) -> Self::Result {
        self.rules_handle()
    }
}

/// Loads a new repository on the rules thread. The sender makes sure no batch of the previous
/// config is still on its way to the rules.
pub struct Reload {
    pub layout: RepositoryLayout,
}

/// The new repository's rule names.
impl Message for Reload {
    type Result = Result<Vec<String>, String>;
}

impl Handler<Reload> for RulesActor {
    type Result = Result<Vec<String>, String>;

    fn handle(&mut self, message: Reload, _ctx: &mut Context<Self>) -> Self::Result {
        let handle = self.rules_handle().ok_or("no rules thread is running")?;
        let rules = handle
            .reload(message.layout.clone(), self.options.clone())
            .map_err(|e| e.to_string())?;
        self.layout = message.layout;
        Ok(rules)
    }
}

fn spawn(
    layout: &RepositoryLayout,
    options: &EngineOptions,
    plugs: &Plugs,
    capacity: usize,
) -> anyhow::Result<RulesWorker> {
    let worker = RulesWorker::spawn(layout.clone(), options.clone(), queue(capacity))?;
    // Queued before any batch can be, so no batch runs without the rule table.
    worker
        .handle()
        .plug(plugs.clone())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(worker)
}

/// The rules thread's queue: room for every batch the actor holds, and for the batches a
/// crashed actor abandoned there before it was restarted.
fn queue(capacity: usize) -> usize {
    capacity * 2
}

/// Stops the actor (its supervisor restarts it) and returns the failure to reply with.
fn crash(ctx: &mut Context<RulesActor>, reason: String) -> StageFailure {
    tracing::error!(actor = ACTOR, reason, "restarting");
    ctx.stop();
    StageFailure::Crashed {
        actor: ACTOR,
        reason,
    }
}

/// Replies with the failure first: stopping the actor right away would drop the reply.
fn crash_after_reply(
    reason: String,
) -> ResponseActFuture<RulesActor, Result<Evaluation, StageFailure>> {
    Box::pin(actix::fut::ready(()).map(move |(), _actor, ctx| Err(crash(ctx, reason))))
}
