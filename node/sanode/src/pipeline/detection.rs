//! The node's detection pipeline: the running config, and the actors a batch flows through
//! (classifier -> rules -> commit) before its source may acknowledge it. A new config version
//! replaces classifier and rules together, and a batch always finishes on the config it started
//! with.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use actix::{Addr, Supervisor, SyncArbiter};
use sa_engine::classifier::CandidateFailure;
use sa_engine::{ClassifiedRecord, Classifier, DeadLetter};
use sa_rules::{Alert, BatchOutcome, EngineOptions, Evaluation, Plugs};

use super::actor_system::ActorSystem;
use super::batch::{BatchReport, SourceBatch, payload_origin};
use super::classifier::{self, Classified, ClassifierActor, Classify};
use super::commit::{self, Commit, CommitActor, Committer};
use super::mailbox::{Mailbox, Slot};
use super::rules::{self, Evaluate, Reload, RulesActor};
use super::supervision::{StageFailure, guarded};
use super::threat_intel::ThreatIntel;
use crate::metrics::NodeMetrics;
use sa_repository::LoadedRepository;

/// How the pipeline is sized.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Classifier actors, one thread each.
    pub classifier_threads: usize,
    /// Batches each actor holds at most (see [`Mailbox`]).
    pub classifier_mailbox: usize,
    pub rules_mailbox: usize,
    pub commit_mailbox: usize,
    /// Times a batch is offered to an actor that keeps crashing on it before it is
    /// dead-lettered.
    pub attempts: u32,
    /// Payloads per part of a batch (see [`Detection::run`]).
    pub part_payloads: usize,
}

impl PipelineOptions {
    pub fn with_classifier_threads(threads: usize) -> Self {
        let threads = threads.max(1);
        PipelineOptions {
            classifier_threads: threads,
            // Enough to keep every classifier thread busy while the next batches wait.
            classifier_mailbox: 2 * threads,
            // One interpreter: a few queued batches keep it busy, more would only wait there.
            rules_mailbox: 4,
            // Raft groups concurrent commits into fewer round trips.
            commit_mailbox: 8,
            attempts: 3,
            // Small enough that a part's records are still in cache when the rules thread
            // converts them (`sactl bench rules --batch` shows the effect), large enough that
            // per-part messages cost nothing.
            part_payloads: 128,
        }
    }
}

struct ActiveConfig {
    version: u64,
    rule_names: Arc<BTreeSet<String>>,
    /// `infrastructure.rule_staging.enabled`.
    rule_staging: bool,
    classifier: Arc<Classifier>,
    threat_intel: Option<ThreatIntel>,
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The batch names a source no cluster routes: the sender's mistake.
    #[error("{0}")]
    UnknownSource(String),
    /// The node cannot take the batch now (no quorum, rules not loaded): offer it again later.
    #[error("{0}")]
    Unavailable(String),
}

pub struct Detection {
    active: RwLock<Arc<ActiveConfig>>,
    /// Held shared by every batch from picking its config until it has its rule outcomes, and
    /// exclusively by a reload, so that the rules thread never sees a batch classified with
    /// another config than the one it runs.
    switching: tokio::sync::RwLock<()>,
    classifier: Mailbox<ClassifierActor>,
    rules: Mailbox<RulesActor>,
    rules_addr: Addr<RulesActor>,
    commit: OnceLock<Mailbox<CommitActor>>,
    options: PipelineOptions,
    metrics: Arc<NodeMetrics>,
    // Last: the actors stop after every address above is gone.
    actors: ActorSystem,
}

impl Detection {
    /// Starts the actors and loads `repository` (blocks while the rules import). Batches flow
    /// once [`Detection::connect`] has given the pipeline its committer.
    pub fn start(
        repository: LoadedRepository,
        version: u64,
        engine: EngineOptions,
        plugs: Plugs,
        options: PipelineOptions,
        metrics: Arc<NodeMetrics>,
    ) -> anyhow::Result<Self> {
        let actors = ActorSystem::start()?;
        let restarts = |actor: &str| metrics.actor_restarts_total.with_label_values(&[actor]);
        let depth = |actor: &str| metrics.actor_mailbox_batches.with_label_values(&[actor]);

        let rule_staging = repository.layout.rule_staging;
        let rules_actor = RulesActor::start(
            repository.layout,
            engine,
            plugs,
            options.rules_mailbox,
            restarts(rules::ACTOR),
        )?;
        let rule_names = Arc::new(rules_actor.rule_names().into_iter().collect());
        let rules_addr =
            Supervisor::start_in_arbiter(&actors.rules_arbiter(), move |_| rules_actor);

        let classifier_restarts = restarts(classifier::ACTOR);
        let threads = options.classifier_threads.max(1);
        let classifier_addr = actors.run_on(move || {
            SyncArbiter::start_with_thread_builder(
                threads,
                || std::thread::Builder::new().name("sa-classifier".to_owned()),
                move || ClassifierActor {
                    restarts: classifier_restarts.clone(),
                },
            )
        })?;

        Ok(Detection {
            active: RwLock::new(Arc::new(ActiveConfig {
                version,
                rule_names,
                rule_staging,
                classifier: Arc::new(repository.classifier),
                threat_intel: repository.threat_intel.map(ThreatIntel::new),
            })),
            switching: tokio::sync::RwLock::new(()),
            classifier: Mailbox::new(
                classifier::ACTOR,
                classifier_addr,
                options.classifier_mailbox,
                options.attempts,
                depth(classifier::ACTOR),
            ),
            rules: Mailbox::new(
                rules::ACTOR,
                rules_addr.clone(),
                options.rules_mailbox,
                options.attempts,
                depth(rules::ACTOR),
            ),
            rules_addr,
            commit: OnceLock::new(),
            options,
            metrics,
            actors,
        })
    }

    /// Starts the commit actor, which hands batches to `committer`; commits run on `runtime`.
    /// A second call changes nothing.
    pub fn connect(&self, committer: Arc<dyn Committer>, runtime: tokio::runtime::Handle) {
        self.commit.get_or_init(|| {
            let restarts = self
                .metrics
                .actor_restarts_total
                .with_label_values(&[commit::ACTOR]);
            let capacity = self.options.commit_mailbox;
            let addr = Supervisor::start_in_arbiter(&self.actors.commit_arbiter(), move |_| {
                CommitActor::new(committer, runtime, capacity, restarts)
            });
            Mailbox::new(
                commit::ACTOR,
                addr,
                capacity,
                self.options.attempts,
                self.metrics
                    .actor_mailbox_batches
                    .with_label_values(&[commit::ACTOR]),
            )
        });
    }

    fn active(&self) -> Arc<ActiveConfig> {
        self.active.read().expect("config lock").clone()
    }

    /// Resources the active config lists under `service` in any cluster's `data_sources`.
    pub fn resources(&self, service: &str) -> Vec<String> {
        let active = self.active();
        let mut resources: Vec<String> = active
            .classifier
            .config()
            .clusters
            .iter()
            .flat_map(|cluster| cluster.data_sources.iter())
            .filter(|(name, _)| name == service)
            .flat_map(|(_, sources)| sources.iter().map(|(resource, _)| resource.clone()))
            .collect();
        resources.sort();
        resources.dedup();
        resources
    }

    /// The active config's `conf/lookup_tables.json`, if it has one.
    pub fn lookup_tables_config(&self) -> Option<serde_json::Value> {
        self.active()
            .classifier
            .config()
            .files
            .get("lookup_tables")
            .cloned()
    }

    /// The publication of `alert` for `output` (docs/spec §13.3), composed on the rules thread with the
    /// rule's publishers.
    pub async fn compose(&self, alert: Alert, output: String) -> Result<serde_json::Value, String> {
        let handle = self
            .rules_addr
            .send(rules::CurrentHandle)
            .await
            .map_err(|e| format!("the rules actor is gone: {e}"))?
            .ok_or("no rules thread is running")?;
        let composed = tokio::task::spawn_blocking(move || handle.compose(alert, vec![output]))
            .await
            .map_err(|e| format!("compose task: {e}"))?
            .map_err(|e| e.to_string())?;
        composed
            .into_iter()
            .next()
            .ok_or_else(|| "the rules thread composed nothing".to_string())?
            .map_err(|e| e.to_string())
    }

    /// Whether the active config's conf/lambda.json enables `rule_promotion_config` (docs/spec §9.11).
    pub fn rule_promotion(&self) -> bool {
        self.active()
            .classifier
            .config()
            .files
            .get("lambda")
            .and_then(|lambda| lambda.pointer("/rule_promotion_config/enabled"))
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    }

    /// The active config's `conf/outputs.json`, if it has one.
    pub fn outputs_config(&self) -> Option<serde_json::Value> {
        self.active()
            .classifier
            .config()
            .files
            .get("outputs")
            .cloned()
    }

    pub fn version(&self) -> u64 {
        self.active().version
    }

    /// The rules of the running config.
    pub fn rule_names(&self) -> Arc<BTreeSet<String>> {
        self.active().rule_names.clone()
    }

    /// Whether the running config turns rule staging on (docs/spec §9.11).
    pub fn rule_staging(&self) -> bool {
        self.active().rule_staging
    }

    /// Switches to a new repository once every batch started on the current one has its rule
    /// outcomes (new batches wait meanwhile): rules first (an import failure keeps everything
    /// as it was), then the classifier.
    pub async fn reload(
        &self,
        repository: LoadedRepository,
        version: u64,
    ) -> anyhow::Result<usize> {
        let _exclusive = self.switching.write().await;
        let rule_staging = repository.layout.rule_staging;
        let rule_names: BTreeSet<String> = self
            .rules_addr
            .send(Reload {
                layout: repository.layout,
            })
            .await
            .map_err(|e| anyhow::anyhow!("the rules actor is gone: {e}"))?
            .map_err(anyhow::Error::msg)?
            .into_iter()
            .collect();
        let rules = rule_names.len();
        *self.active.write().expect("config lock") = Arc::new(ActiveConfig {
            version,
            rule_names: Arc::new(rule_names),
            rule_staging,
            classifier: Arc::new(repository.classifier),
            threat_intel: repository.threat_intel.map(ThreatIntel::new),
        });
        Ok(rules)
    }

    /// Runs `batch` through classifier, rules and commit. When this returns `Ok`, the batch's
    /// alerts and dead letters are committed and its source may acknowledge it.
    ///
    /// A large batch goes through in parts of at most `part_payloads` payloads: a part's rules
    /// run while the next part is classified (a single big batch keeps both the rules thread
    /// and a classifier busy), and the records reach the rules thread while they are still in
    /// cache. The batch still commits once. Dead letters come part by part: a part's
    /// unclassified payloads, then its records the rules could not evaluate.
    pub async fn run(&self, batch: SourceBatch) -> Result<Arc<BatchReport>, BatchError> {
        let started = Instant::now();
        let service = batch.service.clone();
        self.metrics
            .records_in_total
            .with_label_values(&[service.as_str()])
            .inc_by(batch.payloads.len() as u64);
        let commit = self.commit.get().ok_or_else(|| {
            BatchError::Unavailable("the pipeline is not connected to the alert store".into())
        })?;

        let shared = self.switching.read().await;
        let config = self.active();
        let mut report = BatchReport {
            config_version: config.version,
            records: batch.payloads.len(),
            ..Default::default()
        };
        let mut parts = split(batch, self.options.part_payloads)
            .into_iter()
            .peekable();
        // The slot of the last stage a part went through: held until the commit has room, so
        // a slow commit holds batches back in the earlier stages.
        let mut upstream_slot = None;
        let mut evaluating: Option<(Slot, Arc<Vec<ClassifiedRecord>>)> = None;
        // Actors that gave up on a part: the batch counts once per actor.
        let mut gave_up = BTreeSet::new();
        loop {
            let part = parts.next();
            if part.is_none() && evaluating.is_none() {
                break;
            }
            let classifying = part.is_some();
            let (classified, evaluated) = futures::join!(
                async {
                    match part {
                        Some(part) => Some(self.classify(&config, part).await),
                        None => None,
                    }
                },
                async {
                    let (slot, records) = evaluating.take()?;
                    let outcome = self.evaluate(&slot, &records).await;
                    // While this batch waits for a classifier slot, another batch may hold
                    // one while it waits for this rules slot: free it as soon as it is done.
                    let slot = (!classifying).then_some(slot);
                    Some((slot, records, outcome))
                },
            );
            if let Some((slot, records, outcome)) = evaluated {
                match outcome {
                    Ok(evaluation) => {
                        // Nothing holds the part's records any more but the evaluation: they
                        // move into their alerts instead of being copied.
                        drop(records);
                        let outcome = build_alerts(evaluation).map_err(BatchError::Unavailable)?;
                        report.rule_errors += outcome.failures.len();
                        for failure in &outcome.failures {
                            tracing::warn!(?failure, "rule raised");
                            *report
                                .rule_errors_by_rule
                                .entry(failure.rule.clone())
                                .or_insert(0) += 1;
                        }
                        report.alerts.extend(outcome.alerts);
                    }
                    Err(failure @ StageFailure::GaveUp { .. }) => {
                        gave_up.insert(rules::ACTOR);
                        report
                            .dead_letters
                            .extend(unevaluated(&records, &failure.to_string()));
                    }
                    Err(other) => return Err(BatchError::Unavailable(other.to_string())),
                }
                upstream_slot = slot;
            }
            let Some(classified) = classified else {
                continue;
            };
            let (classifier_slot, classified, dead_lettered) = classified?;
            if dead_lettered {
                gave_up.insert(classifier::ACTOR);
            }
            report.classified += classified.records.len();
            for record in &classified.records {
                *report
                    .classified_by_type
                    .entry(record.log_type.clone())
                    .or_insert(0) += 1;
            }
            report.dead_letters.extend(classified.dead_letters);
            if classified.records.is_empty() {
                // The next part needs a classifier slot of its own.
                upstream_slot = parts.peek().is_none().then_some(classifier_slot);
                continue;
            }
            let records = match &config.threat_intel {
                Some(threat_intel) => threat_intel.enrich(classified.records).await,
                None => classified.records,
            };
            upstream_slot = None;
            let rules_slot = self.rules.reserve().await;
            drop(classifier_slot);
            evaluating = Some((rules_slot, Arc::new(records)));
        }
        drop(shared);
        for actor in gave_up {
            self.dead_lettered(actor);
        }
        report.count_in(&self.metrics, &service);

        let commit_slot = commit.reserve().await;
        drop(upstream_slot);
        let report = Arc::new(report);
        commit
            .request(&commit_slot, || Commit {
                report: report.clone(),
            })
            .await
            .map_err(|failure| BatchError::Unavailable(failure.to_string()))?;
        drop(commit_slot);
        self.metrics
            .batch_latency_seconds
            .with_label_values(&[service.as_str()])
            .observe(started.elapsed().as_secs_f64());
        Ok(report)
    }

    /// Classifies one part of a batch; its payloads are dead-lettered if the classifier keeps
    /// crashing on them (then the flag is set). Returns the classifier slot, held until the
    /// next stage has room.
    async fn classify(
        &self,
        config: &ActiveConfig,
        part: Arc<SourceBatch>,
    ) -> Result<(Slot, Classified, bool), BatchError> {
        let slot = self.classifier.reserve().await;
        let classified = self
            .classifier
            .request(&slot, || Classify {
                classifier: config.classifier.clone(),
                batch: part.clone(),
            })
            .await;
        match classified {
            Ok(classified) => Ok((slot, classified, false)),
            Err(StageFailure::Refused(reason)) => Err(BatchError::UnknownSource(reason)),
            Err(failure @ StageFailure::GaveUp { .. }) => {
                let classified = Classified {
                    records: Vec::new(),
                    dead_letters: unclassified(&part, &failure.to_string()),
                };
                Ok((slot, classified, true))
            }
            Err(other) => Err(BatchError::Unavailable(other.to_string())),
        }
    }

    async fn evaluate(
        &self,
        slot: &Slot,
        records: &Arc<Vec<ClassifiedRecord>>,
    ) -> Result<Evaluation, StageFailure> {
        self.rules
            .request(slot, || Evaluate {
                records: records.clone(),
            })
            .await
    }

    fn dead_lettered(&self, actor: &str) {
        self.metrics
            .batches_dead_lettered_total
            .with_label_values(&[actor])
            .inc();
    }

    /// Whether a reload waits for batches in flight (new batches then wait for it).
    #[cfg(test)]
    pub fn reload_pending(&self) -> bool {
        self.switching.try_read().is_err()
    }

    /// Senders waiting for room in each actor: (classifier, rules, commit).
    pub fn waiting(&self) -> (usize, usize, usize) {
        (
            self.classifier.waiting(),
            self.rules.waiting(),
            self.commit.get().map_or(0, Mailbox::waiting),
        )
    }
}

/// The alerts of an evaluated part, built on the batch's task, off the Python thread. A panic
/// here is a bug in sa, not in the data: the batch is refused for now (its source offers it
/// again) rather than taking the node down.
fn build_alerts(evaluation: Evaluation) -> Result<BatchOutcome, String> {
    match guarded(|| evaluation.into_outcome()) {
        Ok(outcome) => outcome.map_err(|reason| format!("rules: {reason}")),
        Err(panic) => {
            tracing::error!(panic, "building alerts panicked");
            Err(format!("building alerts panicked: {panic}"))
        }
    }
}

/// `batch` in parts of at most `payloads` payloads, in order.
fn split(batch: SourceBatch, payloads: usize) -> Vec<Arc<SourceBatch>> {
    let SourceBatch {
        service,
        resource,
        payloads: mut rest,
    } = batch;
    let size = payloads.max(1);
    let mut parts = Vec::with_capacity(rest.len().div_ceil(size).max(1));
    loop {
        let tail = rest.split_off(rest.len().min(size));
        parts.push(Arc::new(SourceBatch {
            service: service.clone(),
            resource: resource.clone(),
            payloads: rest,
        }));
        if tail.is_empty() {
            return parts;
        }
        rest = tail;
    }
}

/// The payloads of a batch the classifier kept crashing on, as dead letters with the reason.
fn unclassified(batch: &SourceBatch, reason: &str) -> Vec<DeadLetter> {
    batch
        .payloads
        .iter()
        .map(|payload| DeadLetter {
            cluster: String::new(),
            service: batch.service.clone(),
            resource: batch.resource.clone(),
            log_type: None,
            record: payload.body.raw_string(),
            failures: vec![CandidateFailure {
                log_type: classifier::ACTOR.to_owned(),
                reason: reason.to_owned(),
            }],
            origin: payload
                .position
                .as_deref()
                .map(|position| payload_origin(&batch.service, &batch.resource, position))
                .unwrap_or_default(),
        })
        .collect()
}

/// Classified records the rules actor kept crashing on, as dead letters with the reason.
fn unevaluated(records: &[ClassifiedRecord], reason: &str) -> Vec<DeadLetter> {
    records
        .iter()
        .map(|record| DeadLetter {
            cluster: record.cluster.clone(),
            service: record.service.clone(),
            resource: record.resource.clone(),
            log_type: Some(record.log_type.clone()),
            record: serde_json::Value::Object(record.record.clone()).to_string(),
            failures: vec![CandidateFailure {
                log_type: record.log_type.clone(),
                reason: reason.to_owned(),
            }],
            origin: record.origin.clone(),
        })
        .collect()
}
