//! The node's detection pipeline: the running config, and the actors a batch flows through
//! (classifier -> rules -> commit) before its source may acknowledge it (docs/architecture.md
//! §3). Each actor owns the mailbox of the next; this file only wires them and hands batches
//! in. A new config version replaces classifier and rules together, and a batch always
//! finishes on the config it started with.

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock, RwLock};

use actix::{Supervisor, SyncArbiter};
use anyhow::Context as _;
use sa_engine::Classifier;
use sa_rules::{Alert, EngineOptions, Plugs};
use tokio::sync::RwLock as ConfigLock;

use super::batch::{BatchReport, SourceBatch};
use super::classifier::{self, ClassifierActor, Classify};
use super::commit::{self, Abandon, CommitActor, CommitProgress, Committer, Connect};
use super::mailbox::{Mailbox, StageState};
use super::part::Part;
use super::rules::{self, Reload, RulesActor, RulesSetup};
use super::threat_intel::ThreatIntel;
use super::ticket::BatchTicket;
use crate::actors::{ActorSystem, ActorSystemHandle};
use crate::metrics::NodeMetrics;
use sa_repository::LoadedRepository;

/// How the pipeline is sized.
#[derive(Debug, Clone)]
pub struct PipelineOptions {
    /// Classifier actors, one thread each.
    pub classifier_threads: usize,
    /// Parts each actor holds at most (see [`Mailbox`]).
    pub classifier_mailbox: usize,
    pub rules_mailbox: usize,
    pub commit_mailbox: usize,
    /// Crashes of an actor on the same part before the part is dead-lettered.
    pub attempts: u32,
    /// Payloads per part of a batch (see [`super::part`]).
    pub part_payloads: usize,
}

impl PipelineOptions {
    pub fn with_classifier_threads(threads: usize) -> Self {
        let threads = threads.max(1);
        PipelineOptions {
            classifier_threads: threads,
            // Enough to keep every classifier thread busy while the next parts wait.
            classifier_mailbox: 2 * threads,
            // One interpreter: a few queued parts keep it busy, more would only wait there.
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
    threat_intel: Option<Arc<ThreatIntel>>,
}

impl ActiveConfig {
    fn new(
        repository_classifier: Classifier,
        threat_intel: Option<ThreatIntel>,
        version: u64,
        rule_names: BTreeSet<String>,
        rule_staging: bool,
    ) -> Self {
        ActiveConfig {
            version,
            rule_names: Arc::new(rule_names),
            rule_staging,
            classifier: Arc::new(repository_classifier),
            threat_intel: threat_intel.map(Arc::new),
        }
    }
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

/// Where each stage stands, for tests and the node's status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PipelineState {
    pub classifier: StageState,
    pub rules: StageState,
    pub commit: StageState,
    /// Batches the commit actor is putting together, and batches it is committing.
    pub assembling: usize,
    pub committing: usize,
}

impl PipelineState {
    /// Senders waiting for room: (classifier, rules, commit).
    pub fn waiting(&self) -> (usize, usize, usize) {
        (
            self.classifier.waiting,
            self.rules.waiting,
            self.commit.waiting,
        )
    }
}

pub struct Detection {
    active: RwLock<Arc<ActiveConfig>>,
    /// Read by every batch from picking its config until its parts have their rule outcomes,
    /// written by a reload, so that the rules thread never sees a part classified with another
    /// config than the one it runs.
    switching: Arc<ConfigLock<()>>,
    classifier: Mailbox<ClassifierActor>,
    rules: Mailbox<RulesActor>,
    commit: Mailbox<CommitActor>,
    commit_progress: Arc<CommitProgress>,
    connected: OnceLock<()>,
    options: PipelineOptions,
    metrics: Arc<NodeMetrics>,
    // Last: the actors stop after every address above is gone.
    actors: ActorSystem,
}

impl Detection {
    /// Starts the actors and loads `repository` (blocks while the rules import); called from
    /// the node's runtime (threat intel lookups run there). Batches flow once
    /// [`Detection::connect`] has given the pipeline its committer.
    pub fn start(
        repository: LoadedRepository,
        version: u64,
        engine: EngineOptions,
        plugs: Plugs,
        options: PipelineOptions,
        metrics: Arc<NodeMetrics>,
    ) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Handle::try_current()
            .context("the pipeline starts from the node's runtime")?;
        let actors = ActorSystem::start()?;
        let restarts = |actor: &str| metrics.actor_restarts_total.with_label_values(&[actor]);
        let depth = |actor: &str| metrics.actor_mailbox_batches.with_label_values(&[actor]);

        let commit_progress = Arc::new(CommitProgress::default());
        let commit_actor =
            CommitActor::new(options.attempts, commit_progress.clone(), metrics.clone());
        let commit_addr =
            Supervisor::start_in_arbiter(&actors.commit_arbiter(), move |_| commit_actor);
        let commit = Mailbox::new(commit_addr, options.commit_mailbox, depth(commit::ACTOR));

        let rule_staging = repository.layout.rule_staging;
        let rules_actor = RulesActor::start(RulesSetup {
            layout: repository.layout,
            options: engine,
            plugs,
            capacity: options.rules_mailbox,
            attempts: options.attempts,
            commit: commit.clone(),
            restarts: restarts(rules::ACTOR),
        })?;
        let rule_names = rules_actor.rule_names().into_iter().collect();
        let rules_addr =
            Supervisor::start_in_arbiter(&actors.rules_arbiter(), move |_| rules_actor);
        let rules = Mailbox::new(rules_addr, options.rules_mailbox, depth(rules::ACTOR));

        let threads = options.classifier_threads.max(1);
        let (to_rules, to_commit) = (rules.clone(), commit.clone());
        let (attempts, classifier_restarts) = (options.attempts, restarts(classifier::ACTOR));
        let classifier_addr = actors.run_on(move || {
            SyncArbiter::start_with_thread_builder(
                threads,
                || std::thread::Builder::new().name("sa-classifier".to_owned()),
                move || ClassifierActor {
                    rules: to_rules.clone(),
                    commit: to_commit.clone(),
                    runtime: runtime.clone(),
                    attempts,
                    restarts: classifier_restarts.clone(),
                },
            )
        })?;
        let classifier = Mailbox::new(
            classifier_addr,
            options.classifier_mailbox,
            depth(classifier::ACTOR),
        );

        Ok(Detection {
            active: RwLock::new(Arc::new(ActiveConfig::new(
                repository.classifier,
                repository.threat_intel.map(ThreatIntel::new),
                version,
                rule_names,
                rule_staging,
            ))),
            switching: Arc::new(ConfigLock::new(())),
            classifier,
            rules,
            commit,
            commit_progress,
            connected: OnceLock::new(),
            options,
            metrics,
            actors,
        })
    }

    /// Gives the commit actor `committer`; commits run on `runtime`. A second call changes
    /// nothing.
    pub fn connect(&self, committer: Arc<dyn Committer>, runtime: tokio::runtime::Handle) {
        self.connected.get_or_init(|| {
            self.commit.send(Connect { committer, runtime });
        });
    }

    fn active(&self) -> Arc<ActiveConfig> {
        self.active.read().expect("config lock").clone()
    }

    /// Resources the active config lists under `service` in the `data_sources` of any cluster
    /// whose `service` resources nodes read (not the Kinesis streams a cluster switched off).
    pub fn resources(&self, service: &str) -> Vec<String> {
        let active = self.active();
        let mut resources: Vec<String> = active
            .classifier
            .config()
            .clusters
            .iter()
            .filter(|cluster| cluster.reads(service))
            .flat_map(|cluster| cluster.data_sources.iter())
            .filter(|(name, _)| name == service)
            .flat_map(|(_, sources)| sources.iter().map(|(resource, _)| resource.clone()))
            .collect();
        resources.sort();
        resources.dedup();
        resources
    }

    /// The active config's clusters (`conf/clusters/*.json`).
    pub fn clusters(&self) -> Vec<sa_engine::config::Cluster> {
        self.active().classifier.config().clusters.clone()
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
            .rules
            .addr()
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
            .rules
            .addr()
            .send(Reload {
                layout: repository.layout,
            })
            .await
            .map_err(|e| anyhow::anyhow!("the rules actor is gone: {e}"))??
            .into_iter()
            .collect();
        let rules = rule_names.len();
        *self.active.write().expect("config lock") = Arc::new(ActiveConfig::new(
            repository.classifier,
            repository.threat_intel.map(ThreatIntel::new),
            version,
            rule_names,
            rule_staging,
        ));
        Ok(rules)
    }

    /// Hands `batch` to the classifier actor, part by part, and waits for the commit actor's
    /// answer. When this returns `Ok`, the batch's alerts and dead letters are committed and
    /// its source may acknowledge it. Waiting for room in the classifier's mailbox is where a
    /// busy pipeline makes its sources wait.
    pub async fn run(&self, mut batch: SourceBatch) -> Result<Arc<BatchReport>, BatchError> {
        let service = batch.service.clone();
        self.metrics
            .records_in_total
            .with_label_values(&[service.as_str()])
            .inc_by(batch.payloads.len() as u64);
        if self.connected.get().is_none() {
            return Err(BatchError::Unavailable(
                "the pipeline is not connected to the alert store".into(),
            ));
        }
        let config_share = self.switching.clone().read_owned().await;
        let config = self.active();
        let records = batch.payloads.len();
        let position = batch.position.take();
        let parts = split(batch, self.options.part_payloads);
        let (ticket, answer) = BatchTicket::issue(
            service,
            config.version,
            records,
            parts.len(),
            config_share,
            position,
        );
        let mut handing_in = HandingIn {
            commit: &self.commit,
            ticket: ticket.clone(),
            handed_in: 0,
            all_in: false,
        };
        for (index, payloads) in parts.into_iter().enumerate() {
            let slot = self.classifier.reserve().await;
            self.classifier.send(Classify {
                part: Part {
                    ticket: ticket.clone(),
                    index,
                    payloads,
                },
                classifier: config.classifier.clone(),
                threat_intel: config.threat_intel.clone(),
                slot,
                attempt: 1,
            });
            handing_in.handed_in += 1;
        }
        handing_in.all_in = true;
        drop((handing_in, ticket));
        answer.await.unwrap_or_else(|_| {
            Err(BatchError::Unavailable(
                "the pipeline stopped before the batch was committed".into(),
            ))
        })
    }

    /// Whether a reload waits for batches in flight (new batches then wait for it).
    #[cfg(test)]
    pub fn reload_pending(&self) -> bool {
        self.switching.try_read().is_err()
    }

    /// The actor system the pipeline runs in, for the node's other actors.
    pub fn actors(&self) -> ActorSystemHandle {
        self.actors.handle()
    }

    /// Where each actor stands.
    pub fn observe(&self) -> PipelineState {
        PipelineState {
            classifier: self.classifier.observe(),
            rules: self.rules.observe(),
            commit: self.commit.observe(),
            assembling: self.commit_progress.assembling(),
            committing: self.commit_progress.committing(),
        }
    }
}

/// A batch whose source may stop waiting (a client that hangs up) before all of its parts are
/// handed in: the commit actor is then told how many to expect, so the batch's share of the
/// config is released.
struct HandingIn<'a> {
    commit: &'a Mailbox<CommitActor>,
    ticket: Arc<BatchTicket>,
    handed_in: usize,
    all_in: bool,
}

impl Drop for HandingIn<'_> {
    fn drop(&mut self) {
        if self.all_in {
            return;
        }
        self.commit.send(Abandon {
            ticket: self.ticket.clone(),
            handed_in: self.handed_in,
        });
    }
}

/// `batch` in parts of at most `payloads` payloads, in order.
fn split(batch: SourceBatch, payloads: usize) -> Vec<Arc<SourceBatch>> {
    let SourceBatch {
        service,
        resource,
        payloads: all,
        position: _,
    } = batch;
    let size = payloads.max(1);
    let mut parts = Vec::with_capacity(all.len().div_ceil(size).max(1));
    // Each part gets a vector of its own size: splitting the tail off would leave every part
    // with the capacity of all the payloads after it (quadratic memory in the batch's length).
    let mut rest = all.into_iter();
    loop {
        let part: Vec<_> = rest.by_ref().take(size).collect();
        let last = rest.len() == 0;
        parts.push(Arc::new(SourceBatch {
            service: service.clone(),
            resource: resource.clone(),
            payloads: part,
            position: None,
        }));
        if last {
            return parts;
        }
    }
}

#[cfg(test)]
mod split_tests {
    use super::*;
    use crate::pipeline::{Body, Payload};

    #[test]
    fn parts_hold_their_own_payloads_in_order_and_no_more_room_than_a_part() {
        let batch = SourceBatch {
            service: "http".into(),
            resource: "json".into(),
            payloads: (0..1000)
                .map(|i| Payload::unplaced(Body::text(i.to_string())))
                .collect(),
            position: None,
        };
        let parts = split(batch, 128);
        assert_eq!(parts.len(), 8);
        let mut next = 0;
        for part in &parts {
            // A part that kept the capacity of what followed it made a batch of n payloads
            // hold n²/256 payloads' worth of memory (1.1 GB for one 60,000-line request).
            assert!(
                part.payloads.capacity() <= 128,
                "{}",
                part.payloads.capacity()
            );
            for payload in &part.payloads {
                assert_eq!(payload.body, Body::text(next.to_string()));
                next += 1;
            }
        }
        assert_eq!(next, 1000);
        let empty = SourceBatch {
            service: "http".into(),
            resource: "json".into(),
            payloads: Vec::new(),
            position: None,
        };
        assert_eq!(
            split(empty, 128).len(),
            1,
            "an empty batch is one empty part"
        );
    }
}
