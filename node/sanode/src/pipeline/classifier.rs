//! The classifier actor: CPU-bound, one instance per thread of a `SyncArbiter`, so batches are
//! classified in parallel. Each batch carries the classifier of the config it started with.

use std::sync::Arc;

use actix::{Actor, ActorContext, Handler, Message, SyncContext};
use prometheus::IntCounter;
use sa_engine::{ClassifiedRecord, Classifier, DeadLetter};

use super::batch::{SourceBatch, origin, payload_origin};
use super::supervision::{StageFailure, guarded};

pub const ACTOR: &str = "classifier";

pub struct ClassifierActor {
    pub restarts: IntCounter,
}

impl Actor for ClassifierActor {
    type Context = SyncContext<Self>;
}

pub struct Classify {
    pub classifier: Arc<Classifier>,
    pub batch: Arc<SourceBatch>,
}

impl Message for Classify {
    type Result = Result<Classified, StageFailure>;
}

#[derive(Debug, Default)]
pub struct Classified {
    pub records: Vec<ClassifiedRecord>,
    pub dead_letters: Vec<DeadLetter>,
}

impl Handler<Classify> for ClassifierActor {
    type Result = Result<Classified, StageFailure>;

    fn handle(&mut self, message: Classify, ctx: &mut SyncContext<Self>) -> Self::Result {
        let work = guarded(|| {
            fail::fail_point!("pipeline::classifier");
            classify(&message.classifier, &message.batch)
        });
        match work {
            Ok(classified) => classified.map_err(StageFailure::Refused),
            Err(reason) => {
                // The SyncArbiter builds a fresh actor on this thread once the handler returns.
                tracing::error!(actor = ACTOR, reason, "restarting");
                self.restarts.inc();
                ctx.stop();
                Err(StageFailure::Crashed {
                    actor: ACTOR,
                    reason,
                })
            }
        }
    }
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
