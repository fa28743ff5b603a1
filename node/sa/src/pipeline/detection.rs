//! The node's detection stage: the active classifier and the rules thread, swapped as a whole
//! when a new config version arrives, so a batch always sees one consistent config.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use sa_engine::{ClassifiedRecord, Classifier, DeadLetter, Root};
use sa_rules::{Alert, EngineOptions, RulesHandle, RulesWorker};
use tokio::sync::oneshot;

use super::repository::LoadedRepository;

/// Batches waiting for the rules thread before submitters are made to wait (backpressure).
const RULES_QUEUE: usize = 16;

struct ActiveConfig {
    version: u64,
    classifier: Arc<Classifier>,
}

pub struct Detection {
    active: RwLock<ActiveConfig>,
    rules: RulesHandle,
    // Owns the rules thread; dropping it stops the thread.
    _worker: RulesWorker,
    options: EngineOptions,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The request names a source no cluster routes: the client's mistake.
    #[error("{0}")]
    UnknownSource(String),
    #[error("rules: {0}")]
    Rules(String),
}

/// What became of one batch.
#[derive(Debug, Default)]
pub struct BatchReport {
    pub config_version: u64,
    pub records: usize,
    pub classified: usize,
    pub classified_by_type: BTreeMap<String, u64>,
    pub alerts: Vec<Alert>,
    pub dead_letters: Vec<DeadLetter>,
    pub rule_errors: usize,
}

impl Detection {
    pub fn start(
        repository: LoadedRepository,
        version: u64,
        options: EngineOptions,
    ) -> anyhow::Result<Self> {
        let worker = RulesWorker::spawn(repository.layout, options.clone(), RULES_QUEUE)?;
        Ok(Detection {
            active: RwLock::new(ActiveConfig {
                version,
                classifier: Arc::new(repository.classifier),
            }),
            rules: worker.handle(),
            _worker: worker,
            options,
        })
    }

    /// Resources the active config lists under `service` in any cluster's `data_sources`.
    pub fn resources(&self, service: &str) -> Vec<String> {
        let active = self.active.read().expect("config lock");
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
        let active = self.active.read().expect("config lock");
        active
            .classifier
            .config()
            .files
            .get("lookup_tables")
            .cloned()
    }

    pub fn version(&self) -> u64 {
        self.active.read().expect("config lock").version
    }

    /// Switches to a new repository: rules first (an import failure keeps everything as it
    /// was), then the classifier. In-flight batches finish on the config they started with.
    pub async fn reload(
        &self,
        repository: LoadedRepository,
        version: u64,
    ) -> anyhow::Result<usize> {
        let rules = self.rules.clone();
        let options = self.options.clone();
        let layout = repository.layout;
        let loaded = tokio::task::spawn_blocking(move || rules.reload(layout, options)).await?;
        let rule_count = loaded.map_err(|_| anyhow::anyhow!("the rules thread is gone"))??;
        *self.active.write().expect("config lock") = ActiveConfig {
            version,
            classifier: Arc::new(repository.classifier),
        };
        Ok(rule_count)
    }

    /// Classifies `payloads` from `service`/`resource`, runs the rules over what classified,
    /// and reports alerts and dead letters (not yet committed).
    pub async fn process(
        &self,
        service: &str,
        resource: &str,
        payloads: Vec<Root>,
    ) -> Result<BatchReport, IngestError> {
        let (version, classifier) = {
            let active = self.active.read().expect("config lock");
            (active.version, active.classifier.clone())
        };
        let mut report = BatchReport {
            config_version: version,
            records: payloads.len(),
            ..Default::default()
        };
        let mut classified: Vec<ClassifiedRecord> = Vec::new();
        for payload in payloads {
            let outcome = classifier
                .classify(service, resource, payload)
                .map_err(|e| IngestError::UnknownSource(e.to_string()))?;
            classified.extend(outcome.records);
            report.dead_letters.extend(outcome.dead_letters);
        }
        report.classified = classified.len();
        for record in &classified {
            *report
                .classified_by_type
                .entry(record.log_type.clone())
                .or_insert(0) += 1;
        }
        if classified.is_empty() {
            return Ok(report);
        }
        let (sender, receiver) = oneshot::channel();
        let rules = self.rules.clone();
        // submit() blocks while the rules queue is full: that wait is the backpressure, and it
        // must not stall an async worker thread.
        tokio::task::spawn_blocking(move || {
            rules.submit(classified, move |outcome| {
                let _ = sender.send(outcome);
            })
        })
        .await
        .map_err(|e| IngestError::Rules(e.to_string()))?
        .map_err(|_| IngestError::Rules("the rules thread is gone".into()))?;
        let outcome = receiver
            .await
            .map_err(|_| IngestError::Rules("the rules thread dropped the batch".into()))?
            .map_err(IngestError::Rules)?;
        report.rule_errors = outcome.failures.len();
        for failure in &outcome.failures {
            tracing::warn!(?failure, "rule raised");
        }
        report.alerts = outcome.alerts;
        Ok(report)
    }
}
