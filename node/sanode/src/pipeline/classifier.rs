//! The classifier actor: CPU-bound, one instance per thread of a `SyncArbiter`, so parts are
//! classified in parallel. Each part carries the classifier of the config its batch started
//! with. A classified part goes to the rules actor; a part with no record left for the rules
//! (all dead letters, or a source no cluster routes) goes straight to the commit actor.

use std::sync::Arc;

use actix::{Actor, ActorContext, Handler, Message, SyncContext};
use prometheus::IntCounter;
use sa_engine::{ClassifiedRecord, Classifier, DeadLetter};

use super::batch::{SourceBatch, origin, payload_origin};
use super::commit::{CommitActor, PartDone};
use super::detection::BatchError;
use super::mailbox::{Mailbox, Slot};
use super::part::{Part, PartOutcome, PartReport, unclassified};
use super::rules::{Evaluate, RulesActor};
use super::supervision::{gave_up, guarded};
use super::threat_intel::ThreatIntel;

pub const ACTOR: &str = "classifier";

pub struct ClassifierActor {
    pub rules: Mailbox<RulesActor>,
    pub commit: Mailbox<CommitActor>,
    /// Threat intel lookups (async, AWS) run on the node's runtime; this thread waits for them.
    pub runtime: tokio::runtime::Handle,
    /// Times a part is offered to this actor before it is dead-lettered.
    pub attempts: u32,
    pub restarts: IntCounter,
}

impl Actor for ClassifierActor {
    type Context = SyncContext<Self>;
}

pub struct Classify {
    pub part: Part,
    pub classifier: Arc<Classifier>,
    pub threat_intel: Option<Arc<ThreatIntel>>,
    /// Room in this actor.
    pub slot: Slot,
    /// 1 the first time; a crash sends the part again with the next attempt.
    pub attempt: u32,
}

impl Message for Classify {
    type Result = ();
}

impl Handler<Classify> for ClassifierActor {
    type Result = ();

    fn handle(&mut self, message: Classify, ctx: &mut SyncContext<Self>) {
        let work = guarded(|| {
            fail::fail_point!("pipeline::classifier");
            classify(&message.classifier, &message.part.payloads)
        });
        match work {
            Ok(Ok(classified)) => {
                self.forward(message, classified.records, classified.dead_letters)
            }
            Ok(Err(reason)) => {
                let outcome = Err(BatchError::UnknownSource(reason));
                self.to_commit(message.part, outcome, message.slot);
            }
            Err(reason) => {
                tracing::error!(
                    actor = ACTOR,
                    reason,
                    attempt = message.attempt,
                    "restarting"
                );
                self.restarts.inc();
                if message.attempt < self.attempts {
                    // The replay: the part keeps its slot and goes to the next free thread.
                    ctx.address().do_send(Classify {
                        attempt: message.attempt + 1,
                        ..message
                    });
                } else {
                    let reason = gave_up(ACTOR, self.attempts, &reason);
                    let dead = unclassified(&message.part.payloads, ACTOR, &reason);
                    let mut report = PartReport::classified(&[], dead);
                    report.gave_up = Some(ACTOR);
                    self.to_commit(message.part, Ok(report), message.slot);
                }
                // The SyncArbiter builds a fresh actor on this thread once the handler returns.
                ctx.stop();
            }
        }
    }
}

impl ClassifierActor {
    fn forward(
        &self,
        message: Classify,
        records: Vec<ClassifiedRecord>,
        dead_letters: Vec<DeadLetter>,
    ) {
        let report = PartReport::classified(&records, dead_letters);
        if records.is_empty() {
            return self.to_commit(message.part, Ok(report), message.slot);
        }
        let records = match &message.threat_intel {
            Some(threat_intel) => self.runtime.block_on(threat_intel.enrich(records)),
            None => records,
        };
        let room = self.rules.reserve_blocking();
        drop(message.slot);
        self.rules.send(Evaluate {
            part: message.part,
            records: Arc::new(records),
            report,
            slot: room,
        });
    }

    fn to_commit(&self, part: Part, outcome: PartOutcome, slot: Slot) {
        let room = self.commit.reserve_blocking();
        drop(slot);
        self.commit.send(PartDone {
            part,
            outcome,
            slot: room,
        });
    }
}

#[derive(Debug, Default)]
pub struct Classified {
    pub records: Vec<ClassifiedRecord>,
    pub dead_letters: Vec<DeadLetter>,
}

/// Classifies every payload of `batch`, giving each record the origin of its payload's
/// position. Fails only when no cluster routes the batch's source.
pub fn classify(classifier: &Classifier, batch: &SourceBatch) -> Result<Classified, String> {
    let mut classified = Classified::default();
    for payload in &batch.payloads {
        let outcome = classifier
            .classify(&batch.service, &batch.resource, payload.body.root())
            .map_err(|e| e.to_string())?;
        let first = classified.records.len();
        classified.records.extend(outcome.records);
        if let Some(position) = &payload.position {
            for (index, record) in classified.records[first..].iter_mut().enumerate() {
                record.origin = origin(&batch.service, &batch.resource, position, index);
            }
        }
        let first_dead = classified.dead_letters.len();
        classified.dead_letters.extend(outcome.dead_letters);
        if let Some(position) = &payload.position {
            for dead in &mut classified.dead_letters[first_dead..] {
                dead.origin = payload_origin(&batch.service, &batch.resource, position);
            }
        }
    }
    Ok(classified)
}
