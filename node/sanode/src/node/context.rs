//! What a node's servers and background tasks share.

use std::path::PathBuf;
use std::sync::{Arc, Weak};

use futures::future::BoxFuture;

use sa_raft::{Command, CommandResult, Replica};

use crate::metrics::NodeMetrics;
use crate::pipeline::{BatchReport, Committer, Detection};
use crate::sinks::AlertLog;
use sa_state::{AlertStore, ConfigStore, LookupStore, RuleRow, RuleStore};

pub struct NodeContext {
    pub advertise_addr: String,
    pub http_addr: String,
    /// false on a node started with `--insecure`.
    pub tls: bool,
    /// What validating a pushed bundle may use.
    pub bundle_check: super::bundle_check::CheckLimits,
    /// The Python environment rules import packages from (`--python-env`): pushed bundles
    /// are checked with it too.
    pub python_env: sa_rules::PythonEnv,
    pub data_dir: PathBuf,
    pub metrics: Arc<NodeMetrics>,
    pub replica: Replica,
    pub detection: Arc<Detection>,
    pub alerts: AlertStore,
    pub configs: ConfigStore,
    pub lookups: LookupStore,
    pub rules: RuleStore,
    /// How long finished alerts stay: a staging window may not outlast it (promotion counts
    /// the stored alerts).
    pub alert_retention: std::time::Duration,
    /// Where the alerts Firehose goes when conf/outputs.json does not name a stream.
    pub alert_log: Arc<AlertLog>,
}

impl NodeContext {
    /// Commits a batch's alerts and dead letters through Raft; the leader's merger and
    /// dispatcher take it from there. A source may acknowledge the batch once this returns.
    /// Commits a batch with its source position; the position's result.
    pub async fn commit_and_publish(
        &self,
        report: &BatchReport,
        position: Option<Command>,
    ) -> anyhow::Result<Option<CommandResult>> {
        let committed = self
            .alerts
            .commit_at(&report.alerts, &report.dead_letters, position)
            .await?;
        let new = committed.stored;
        tracing::debug!(
            alerts = report.alerts.len(),
            new = new.len(),
            dead_letters = report.dead_letters.len(),
            "batch committed"
        );
        Ok(committed.position)
    }

    /// Refreshes the gauges that mirror Raft's own metrics, then renders every metric.
    pub fn render_metrics(&self) -> String {
        {
            let raft = self.replica.raft().metrics();
            let raft = raft.borrow();
            let as_gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            self.metrics.raft_term.set(as_gauge(raft.current_term));
            self.metrics
                .raft_applied_index
                .set(as_gauge(raft.last_applied.map_or(0, |id| id.index)));
            self.metrics
                .raft_last_log_index
                .set(as_gauge(raft.last_log_index.unwrap_or(0)));
            self.metrics
                .raft_is_leader
                .set(i64::from(raft.state == openraft::ServerState::Leader));
        }
        self.metrics
            .config_version
            .set(i64::try_from(self.detection.version()).unwrap_or(i64::MAX));
        // A staged rule forgotten for weeks, or a rule left disabled, is worth an alert of its own.
        match self.rules.rows() {
            Ok(rows) => {
                let count = |flag: fn(&RuleRow) -> bool| {
                    i64::try_from(rows.values().filter(|row| flag(row)).count()).unwrap_or(i64::MAX)
                };
                self.metrics.rules_staged.set(count(|row| row.staged));
                self.metrics.rules_disabled.set(count(|row| row.disabled));
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "cannot read the rule table for metrics")
            }
        }
        self.metrics.render()
    }
}

/// The pipeline's way to [`NodeContext::commit_and_publish`]. Weak, because the context owns
/// the pipeline.
pub struct AlertStoreCommitter(Weak<NodeContext>);

impl AlertStoreCommitter {
    pub fn new(node: &Arc<NodeContext>) -> Self {
        AlertStoreCommitter(Arc::downgrade(node))
    }
}

impl Committer for AlertStoreCommitter {
    fn commit(
        &self,
        report: Arc<BatchReport>,
        position: Option<Command>,
    ) -> BoxFuture<'static, anyhow::Result<Option<CommandResult>>> {
        let node = self.0.upgrade();
        Box::pin(async move {
            let node = node.ok_or_else(|| anyhow::anyhow!("the node is shutting down"))?;
            node.commit_and_publish(&report, position).await
        })
    }
}
