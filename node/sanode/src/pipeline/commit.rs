//! The commit actor: puts each batch back together from its parts, hands the batch's alerts
//! and dead letters to the merger (through [`Committer`]) and answers the batch's source only
//! once they are committed, so the source may then acknowledge or checkpoint it. It owns the
//! batches being assembled and those being committed; after a crash its supervisor restarts it
//! and it commits again what it held.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix::{Actor, ActorContext, AsyncContext, Context, Handler, Message, Supervised};
use futures::FutureExt;
use futures::future::BoxFuture;
use prometheus::IntCounter;
use sa_raft::{Command, CommandResult};

use super::batch::BatchReport;
use super::detection::BatchError;
use super::mailbox::Slot;
use super::part::{Part, PartOutcome};
use super::supervision::{gave_up, guarded, panic_message};
use super::ticket::BatchTicket;
use crate::metrics::NodeMetrics;

pub const ACTOR: &str = "commit";

/// Where committed batches go: the node's replicated alert store in production.
pub trait Committer: Send + Sync + 'static {
    /// Commits the batch's alerts and dead letters with its source `position`, in one entry;
    /// the position's result.
    fn commit(
        &self,
        report: Arc<BatchReport>,
        position: Option<Command>,
    ) -> BoxFuture<'static, anyhow::Result<Option<CommandResult>>>;
}

pub struct CommitActor {
    target: Option<Target>,
    /// Crashes a batch may cause before it is refused.
    attempts: u32,
    assembling: HashMap<u64, Assembly>,
    committing: BTreeMap<u64, Committing>,
    progress: Arc<CommitProgress>,
    metrics: Arc<NodeMetrics>,
    restarts: IntCounter,
}

struct Target {
    committer: Arc<dyn Committer>,
    /// Commits run on the node's runtime (Raft lives there), not on the actor's arbiter.
    runtime: tokio::runtime::Handle,
}

/// The parts of one batch received so far.
struct Assembly {
    ticket: Arc<BatchTicket>,
    parts: Vec<Option<PartOutcome>>,
    received: usize,
    /// Parts that will come: fewer than the batch has if its source stopped handing them in.
    expected: usize,
    abandoned: bool,
}

impl Assembly {
    fn new(ticket: Arc<BatchTicket>) -> Self {
        Assembly {
            parts: (0..ticket.parts).map(|_| None).collect(),
            received: 0,
            expected: ticket.parts,
            abandoned: false,
            ticket,
        }
    }

    fn complete(&self) -> bool {
        self.received >= self.expected
    }
}

struct Committing {
    ticket: Arc<BatchTicket>,
    report: Arc<BatchReport>,
    /// Room in this actor, kept until the commit is done: the commit mailbox bounds the
    /// batches committing at once.
    slot: Slot,
    in_flight: bool,
    crashes: u32,
}

/// Batches inside the commit actor, for [`super::PipelineState`].
#[derive(Debug, Default)]
pub struct CommitProgress {
    assembling: AtomicUsize,
    committing: AtomicUsize,
}

impl CommitProgress {
    pub fn assembling(&self) -> usize {
        self.assembling.load(Ordering::SeqCst)
    }

    pub fn committing(&self) -> usize {
        self.committing.load(Ordering::SeqCst)
    }
}

impl CommitActor {
    pub fn new(attempts: u32, progress: Arc<CommitProgress>, metrics: Arc<NodeMetrics>) -> Self {
        let restarts = metrics.actor_restarts_total.with_label_values(&[ACTOR]);
        CommitActor {
            target: None,
            attempts: attempts.max(1),
            assembling: HashMap::new(),
            committing: BTreeMap::new(),
            progress,
            metrics,
            restarts,
        }
    }

    fn publish_progress(&self) {
        let assembling = self.assembling.len();
        self.progress.assembling.store(assembling, Ordering::SeqCst);
        let committing = self.committing.len();
        self.progress.committing.store(committing, Ordering::SeqCst);
    }

    /// Every expected part of the batch is in: commit it, or answer with its first failure.
    fn assembled(&mut self, assembly: Assembly, slot: Slot, ctx: &mut Context<Self>) {
        let Assembly {
            ticket,
            parts,
            abandoned,
            ..
        } = assembly;
        ticket.release_config();
        if abandoned {
            return;
        }
        let mut report = BatchReport {
            config_version: ticket.config_version,
            records: ticket.records,
            ..BatchReport::default()
        };
        let mut gave_up = BTreeSet::new();
        for outcome in parts.into_iter().flatten() {
            let part = match outcome {
                Ok(part) => part,
                Err(failure) => {
                    drop(slot);
                    return ticket.answer(Err(failure));
                }
            };
            report.classified += part.classified;
            for (log_type, count) in part.classified_by_type {
                *report.classified_by_type.entry(log_type).or_insert(0) += count;
            }
            report.alerts.extend(part.alerts);
            report.dead_letters.extend(part.dead_letters);
            report.rule_errors += part.rule_failures.len();
            for failure in part.rule_failures {
                *report.rule_errors_by_rule.entry(failure.rule).or_insert(0) += 1;
            }
            gave_up.extend(part.gave_up);
        }
        report.count_in(&self.metrics, &ticket.service);
        for actor in gave_up {
            self.metrics
                .batches_dead_lettered_total
                .with_label_values(&[actor])
                .inc();
        }
        let id = ticket.id;
        self.committing.insert(
            id,
            Committing {
                ticket,
                report: Arc::new(report),
                slot,
                in_flight: false,
                crashes: 0,
            },
        );
        self.commit(id, ctx);
    }

    /// Starts committing batch `id`. False if the actor crashed doing so.
    fn commit(&mut self, id: u64, ctx: &mut Context<Self>) -> bool {
        let Some(batch) = self.committing.get(&id) else {
            return true;
        };
        let Some(target) = &self.target else {
            let batch = self.committing.remove(&id).expect("looked up above");
            batch.ticket.answer(Err(BatchError::Unavailable(
                "the pipeline is not connected to the alert store".into(),
            )));
            return true;
        };
        let addr = ctx.address();
        let started = guarded(|| {
            fail::fail_point!("pipeline::commit");
            let commit = target
                .committer
                .commit(batch.report.clone(), batch.ticket.position.clone());
            target.runtime.spawn(async move {
                let result = AssertUnwindSafe(commit)
                    .catch_unwind()
                    .await
                    .map_err(panic_message);
                addr.do_send(Committed { id, result });
            });
        });
        match started {
            Ok(()) => {
                if let Some(batch) = self.committing.get_mut(&id) {
                    batch.in_flight = true;
                }
                true
            }
            Err(panic) => {
                self.crash(id, panic, ctx);
                false
            }
        }
    }

    /// Charges batch `id` with a crash (refusing it after `attempts`) and stops the actor; its
    /// supervisor restarts it, and [`Actor::started`] commits again what it holds.
    fn crash(&mut self, id: u64, reason: String, ctx: &mut Context<Self>) {
        tracing::error!(actor = ACTOR, reason, "restarting");
        if let Some(batch) = self.committing.get_mut(&id) {
            batch.in_flight = false;
            batch.crashes += 1;
            if batch.crashes >= self.attempts {
                let Committing { ticket, slot, .. } =
                    self.committing.remove(&id).expect("looked up above");
                drop(slot);
                ticket.answer(Err(BatchError::Unavailable(gave_up(
                    ACTOR,
                    self.attempts,
                    &reason,
                ))));
            }
        }
        ctx.stop();
    }
}

impl Actor for CommitActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let waiting: Vec<u64> = self
            .committing
            .iter()
            .filter(|(_, batch)| !batch.in_flight)
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            if !self.commit(id, ctx) {
                break;
            }
        }
        self.publish_progress();
    }
}

impl Supervised for CommitActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.inc();
    }
}

/// Gives the actor the alert store; until then every batch is refused.
pub struct Connect {
    pub committer: Arc<dyn Committer>,
    pub runtime: tokio::runtime::Handle,
}

impl Message for Connect {
    type Result = ();
}

impl Handler<Connect> for CommitActor {
    type Result = ();

    fn handle(&mut self, message: Connect, _ctx: &mut Context<Self>) {
        self.target = Some(Target {
            committer: message.committer,
            runtime: message.runtime,
        });
    }
}

/// A part that went through the stages it needed.
pub struct PartDone {
    pub part: Part,
    pub outcome: PartOutcome,
    /// Room in this actor.
    pub slot: Slot,
}

impl Message for PartDone {
    type Result = ();
}

impl Handler<PartDone> for CommitActor {
    type Result = ();

    fn handle(&mut self, message: PartDone, ctx: &mut Context<Self>) {
        let Part { ticket, index, .. } = message.part;
        let id = ticket.id;
        let assembly = self
            .assembling
            .entry(id)
            .or_insert_with(|| Assembly::new(ticket));
        if let Some(place) = assembly.parts.get_mut(index)
            && place.replace(message.outcome).is_none()
        {
            assembly.received += 1;
        }
        if assembly.complete() {
            let assembly = self.assembling.remove(&id).expect("inserted above");
            self.assembled(assembly, message.slot, ctx);
        }
        // An incomplete batch frees its room at once: it waits for parts still upstream, which
        // may need the room to get here.
        self.publish_progress();
    }
}

/// The source stopped waiting before it handed in all of its batch's parts: the batch ends
/// with the `handed_in` parts it has, uncommitted (the source offers it again).
pub struct Abandon {
    pub ticket: Arc<BatchTicket>,
    pub handed_in: usize,
}

impl Message for Abandon {
    type Result = ();
}

impl Handler<Abandon> for CommitActor {
    type Result = ();

    fn handle(&mut self, message: Abandon, _ctx: &mut Context<Self>) {
        let id = message.ticket.id;
        let assembly = self
            .assembling
            .entry(id)
            .or_insert_with(|| Assembly::new(message.ticket));
        assembly.expected = message.handed_in;
        assembly.abandoned = true;
        if assembly.complete() {
            let assembly = self.assembling.remove(&id).expect("inserted above");
            assembly.ticket.release_config();
        }
        self.publish_progress();
    }
}

struct Committed {
    id: u64,
    result: Result<anyhow::Result<Option<CommandResult>>, String>,
}

impl Message for Committed {
    type Result = ();
}

impl Handler<Committed> for CommitActor {
    type Result = ();

    fn handle(&mut self, message: Committed, ctx: &mut Context<Self>) {
        let answer = match message.result {
            Err(panic) => return self.crash(message.id, panic, ctx),
            Ok(Ok(position)) => Ok(position),
            Ok(Err(e)) => Err(BatchError::Unavailable(format!(
                "alerts not committed, send again: {e:#}"
            ))),
        };
        let Some(batch) = self.committing.remove(&message.id) else {
            return;
        };
        self.publish_progress();
        let Committing {
            ticket,
            report,
            slot,
            ..
        } = batch;
        // The room is given back before the source hears: one that sends again at once finds it.
        drop(slot);
        match answer {
            Ok(position) => {
                self.metrics
                    .batch_latency_seconds
                    .with_label_values(&[ticket.service.as_str()])
                    .observe(ticket.started.elapsed().as_secs_f64());
                let report = match position {
                    // The commit's own handle on the report is gone: no copy is made.
                    Some(result) => Arc::new(BatchReport {
                        position: Some(result),
                        ..Arc::unwrap_or_clone(report)
                    }),
                    None => report,
                };
                ticket.answer(Ok(report));
            }
            Err(failure) => ticket.answer(Err(failure)),
        }
    }
}
