//! The rules actor: the only way to the rules thread (one embedded interpreter per node). It
//! holds every part it was given until the rules thread has answered for it and the part has
//! room in the commit actor. If the actor crashes, its supervisor restarts it and it replays
//! the parts it held that no rules thread has; if the rules thread dies, the restarted actor
//! starts a new one on the repository it last loaded and replays what the dead one had. The
//! part being evaluated when it died is charged with the crash; after `attempts` crashes its
//! records are dead-lettered with the reason.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::{Actor, ActorContext, Addr, AsyncContext, Context, Handler, Message, Supervised};
use prometheus::IntCounter;
use sa_engine::ClassifiedRecord;
use sa_rules::{
    EngineOptions, Evaluation, Plugs, RepositoryLayout, RulesError, RulesHandle, RulesWorker,
};

use super::commit::{CommitActor, PartDone};
use super::detection::BatchError;
use super::mailbox::{Mailbox, Slot};
use super::part::{Part, PartOutcome, PartReport, unevaluated};
use super::supervision::{gave_up, guarded};

pub const ACTOR: &str = "rules";

pub struct RulesActor {
    worker: Option<RulesWorker>,
    layout: RepositoryLayout,
    options: EngineOptions,
    /// The rule table, plugged into every rules thread the actor starts.
    plugs: Plugs,
    /// Parts the actor holds at most; the rules thread's queue has room for them, so a submit
    /// does not block the arbiter's thread.
    capacity: usize,
    commit: Mailbox<CommitActor>,
    /// Crashes a part may cause before it is dead-lettered.
    attempts: u32,
    /// The parts inside the actor, by arrival.
    held: BTreeMap<u64, Held>,
    arrivals: u64,
    submissions: u64,
    worker_lost: bool,
    restarts: IntCounter,
}

struct Held {
    part: Part,
    records: Arc<Vec<ClassifiedRecord>>,
    report: PartReport,
    slot: Slot,
    /// The rules thread has it under this submission (its answer or loss notice will come).
    submission: Option<u64>,
    crashes: u32,
}

/// How the pipeline is set up for the rules actor.
pub struct RulesSetup {
    pub layout: RepositoryLayout,
    pub options: EngineOptions,
    pub plugs: Plugs,
    pub capacity: usize,
    pub attempts: u32,
    pub commit: Mailbox<CommitActor>,
    pub restarts: IntCounter,
}

impl RulesActor {
    /// Starts the rules thread on `setup.layout` (blocks while the repository imports).
    pub fn start(setup: RulesSetup) -> anyhow::Result<Self> {
        let worker = spawn(&setup.layout, &setup.options, &setup.plugs, setup.capacity)?;
        Ok(RulesActor {
            worker: Some(worker),
            layout: setup.layout,
            options: setup.options,
            plugs: setup.plugs,
            capacity: setup.capacity,
            commit: setup.commit,
            attempts: setup.attempts.max(1),
            held: BTreeMap::new(),
            arrivals: 0,
            submissions: 0,
            worker_lost: false,
            restarts: setup.restarts,
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

    /// Hands part `arrival` to the rules thread. False if the actor crashed doing so.
    fn submit(&mut self, arrival: u64, ctx: &mut Context<Self>) -> bool {
        let Some(held) = self.held.get(&arrival) else {
            return true;
        };
        self.submissions += 1;
        let submission = self.submissions;
        let (handle, records, addr) = (self.rules_handle(), held.records.clone(), ctx.address());
        let submitted = guarded(|| {
            fail::fail_point!("pipeline::rules");
            let handle = handle.ok_or(RulesError::WorkerGone)?;
            let answer = Answer {
                addr,
                arrival,
                submission,
                sent: false,
            };
            handle.submit(records, move |outcome| {
                // Runs on the rules thread: a panic here takes the thread down with the part,
                // as a crash inside the engine would.
                fail::fail_point!("pipeline::rules_thread");
                answer.send(outcome);
            })
        });
        match submitted {
            Ok(Ok(())) => {
                if let Some(held) = self.held.get_mut(&arrival) {
                    held.submission = Some(submission);
                }
                true
            }
            Ok(Err(gone)) => {
                self.worker_lost = true;
                self.crash(arrival, gone.to_string(), ctx);
                false
            }
            Err(panic) => {
                self.crash(arrival, panic, ctx);
                false
            }
        }
    }

    /// Charges part `arrival` with a crash (dead-lettering it after `attempts`) and stops the
    /// actor; its supervisor restarts it, and [`Actor::started`] replays what it holds.
    fn crash(&mut self, arrival: u64, reason: String, ctx: &mut Context<Self>) {
        tracing::error!(actor = ACTOR, reason, "restarting");
        if self.worker_lost {
            for held in self.held.values_mut() {
                held.submission = None;
            }
        }
        if let Some(held) = self.held.get_mut(&arrival) {
            held.submission = None;
            held.crashes += 1;
            if held.crashes >= self.attempts {
                let mut held = self.held.remove(&arrival).expect("held above");
                let reason = gave_up(ACTOR, self.attempts, &reason);
                held.report
                    .dead_letters
                    .extend(unevaluated(&held.records, &reason));
                held.report.gave_up = Some(ACTOR);
                let outcome = Ok(std::mem::take(&mut held.report));
                self.forward(held, outcome);
            }
        }
        ctx.stop();
    }

    /// Sends the part on once the commit actor has room for it. The wait runs beside the
    /// actor (a restart does not drop it), keeping this actor's slot until then.
    fn forward(&self, held: Held, outcome: PartOutcome) {
        let commit = self.commit.clone();
        actix::spawn(async move {
            let room = commit.reserve().await;
            let Held { part, slot, .. } = held;
            drop(slot);
            commit.send(PartDone {
                part,
                outcome,
                slot: room,
            });
        });
    }
}

impl Actor for RulesActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let waiting: Vec<u64> = self
            .held
            .iter()
            .filter(|(_, held)| held.submission.is_none())
            .map(|(arrival, _)| *arrival)
            .collect();
        for arrival in waiting {
            if !self.submit(arrival, ctx) {
                break;
            }
        }
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

/// A classified part for the rules.
pub struct Evaluate {
    pub part: Part,
    pub records: Arc<Vec<ClassifiedRecord>>,
    /// What classification made of the part.
    pub report: PartReport,
    /// Room in this actor.
    pub slot: Slot,
}

impl Message for Evaluate {
    type Result = ();
}

impl Handler<Evaluate> for RulesActor {
    type Result = ();

    fn handle(&mut self, message: Evaluate, ctx: &mut Context<Self>) {
        self.arrivals += 1;
        let arrival = self.arrivals;
        self.held.insert(
            arrival,
            Held {
                part: message.part,
                records: message.records,
                report: message.report,
                slot: message.slot,
                submission: None,
                crashes: 0,
            },
        );
        self.submit(arrival, ctx);
    }
}

/// The rules thread's answer for a part; dropped unsent (the thread died with the part, or
/// before it got to it), it tells the actor the part is lost instead.
struct Answer {
    addr: Addr<RulesActor>,
    arrival: u64,
    submission: u64,
    sent: bool,
}

impl Answer {
    fn send(mut self, outcome: Result<Evaluation, RulesError>) {
        self.sent = true;
        self.addr.do_send(Evaluated {
            arrival: self.arrival,
            outcome,
        });
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        if !self.sent {
            self.addr.do_send(Lost {
                arrival: self.arrival,
                submission: self.submission,
            });
        }
    }
}

struct Evaluated {
    arrival: u64,
    outcome: Result<Evaluation, RulesError>,
}

impl Message for Evaluated {
    type Result = ();
}

impl Handler<Evaluated> for RulesActor {
    type Result = ();

    fn handle(&mut self, message: Evaluated, _ctx: &mut Context<Self>) {
        // A part replayed after a crash may be answered twice: the first answer counts.
        let Some(mut held) = self.held.remove(&message.arrival) else {
            return;
        };
        let outcome = match message.outcome {
            Ok(evaluation) => {
                // Nothing holds the part's records any more but the evaluation: they move
                // into their alerts instead of being copied.
                held.records = Arc::default();
                build_alerts(evaluation).map(|outcome| {
                    let mut report = std::mem::take(&mut held.report);
                    for failure in &outcome.failures {
                        tracing::warn!(?failure, "rule raised");
                    }
                    report.alerts = outcome.alerts;
                    report.rule_failures = outcome.failures;
                    report
                })
            }
            // The engine could not run the part at all (no repository loaded).
            Err(reason) => Err(BatchError::Unavailable(format!("rules: {reason}"))),
        };
        self.forward(held, outcome);
    }
}

/// The rules thread died while it had a part.
struct Lost {
    arrival: u64,
    submission: u64,
}

impl Message for Lost {
    type Result = ();
}

impl Handler<Lost> for RulesActor {
    type Result = ();

    fn handle(&mut self, message: Lost, ctx: &mut Context<Self>) {
        let current = self
            .held
            .get(&message.arrival)
            .is_some_and(|held| held.submission == Some(message.submission));
        // The first notice of a dying thread is the part it was running (its answer unwinds
        // first); the parts queued behind it are replayed without being charged.
        if current {
            self.worker_lost = true;
            self.crash(
                message.arrival,
                "the rules thread died with the batch".to_owned(),
                ctx,
            );
        }
    }
}

/// The alerts of an evaluated part, built on the actor's thread, off the Python thread. A panic
/// here is a bug in sa, not in the data: the batch is refused for now (its source offers it
/// again) rather than taking the node down.
fn build_alerts(evaluation: Evaluation) -> Result<sa_rules::BatchOutcome, BatchError> {
    match guarded(|| evaluation.into_outcome()) {
        Ok(outcome) => {
            outcome.map_err(|reason| BatchError::Unavailable(format!("rules: {reason}")))
        }
        Err(panic) => {
            tracing::error!(panic, "building alerts panicked");
            Err(BatchError::Unavailable(format!(
                "building alerts panicked: {panic}"
            )))
        }
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

/// Loads a new repository on the rules thread. The sender makes sure no part of the previous
/// config is still on its way to the rules.
pub struct Reload {
    pub layout: RepositoryLayout,
}

/// The new repository's rule names.
impl Message for Reload {
    type Result = Result<Vec<String>, RulesError>;
}

impl Handler<Reload> for RulesActor {
    type Result = Result<Vec<String>, RulesError>;

    fn handle(&mut self, message: Reload, _ctx: &mut Context<Self>) -> Self::Result {
        let handle = self.rules_handle().ok_or(RulesError::WorkerGone)?;
        let rules = handle.reload(message.layout.clone(), self.options.clone())?;
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
    // Queued before any part can be, so no part runs without the rule table.
    worker.handle().plug(plugs.clone())?;
    Ok(worker)
}

/// The rules thread's queue: room for every part the actor holds, and for the parts a crashed
/// actor left there before it was restarted.
fn queue(capacity: usize) -> usize {
    capacity * 2
}
