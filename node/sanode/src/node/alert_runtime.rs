//! Starting the node's alert side: output settings and their cipher, the outputs of the active
//! config, the merger and the dispatcher (both act only while this node leads), and the Alerts
//! gRPC service.

use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use anyhow::Context;
use futures::future::BoxFuture;
use sa_aws::AwsTarget;
use sa_outputs::{Outputs, OutputsConfig, SecretsCipher};
use sa_rules::Alert;
use serde_json::Value;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use sa_state::{AuditLog, OutputSettings, SettingsCipher, Tokens};

use super::NodeContext;
use super::alerts_service::AlertsService;
use crate::alerts::args::AlertArgs;
use crate::alerts::cluster_keys::ClusterKeys;
use crate::alerts::dispatcher::{Compose, Deliverer, Dispatch, Dispatcher};
use crate::alerts::kms_cipher::KmsCipher;
use crate::alerts::merger::Merger;
use crate::alerts::metrics::AlertMetrics;
use crate::alerts::retention::Retention;
use crate::leader::LeaderTask;

/// How often a node looks for a new config version to pick up its conf/outputs.json.
const OUTPUTS_RELOAD_POLL: Duration = Duration::from_secs(1);

pub struct AlertRuntime {
    pub service: AlertsService,
    /// Dispatch, merging and retention, for the leader task runner.
    pub leader_tasks: Vec<Arc<dyn LeaderTask>>,
    /// Follows conf/outputs.json of each config version on every node, until shutdown.
    pub outputs_reload: JoinHandle<()>,
    /// The cluster's data key as this member holds it; none when AWS KMS seals the settings.
    pub cluster_keys: Option<Arc<ClusterKeys>>,
}

/// Publications composed by the node's rules thread, which has the rules' publishers loaded.
struct RulesComposer(Weak<NodeContext>);

impl Compose for RulesComposer {
    fn compose(&self, alert: Alert, output: String) -> BoxFuture<'_, Result<Value, String>> {
        let node = self.0.upgrade();
        Box::pin(async move {
            let node = node.ok_or("the node is shutting down")?;
            node.detection.compose(alert, output).await
        })
    }
}

/// conf/outputs.json of the active config (no file: no outputs besides the alert log).
fn outputs_config(node: &NodeContext) -> anyhow::Result<OutputsConfig> {
    match node.detection.outputs_config() {
        Some(value) => OutputsConfig::from_value(&value, "conf/outputs.json")
            .map_err(|e| anyhow::anyhow!("{e}")),
        None => OutputsConfig::from_value(&Value::Object(Default::default()), "conf/outputs.json")
            .map_err(|e| anyhow::anyhow!("{e}")),
    }
}

pub fn start(
    node: &Arc<NodeContext>,
    args: &AlertArgs,
    data_dir: &Path,
    shutdown: CancellationToken,
) -> anyhow::Result<AlertRuntime> {
    let aws = AwsTarget::from_env();
    let (cipher, cluster_keys): (Arc<dyn SettingsCipher>, _) = match &args.kms_key_id {
        Some(key_id) => (
            Arc::new(KmsCipher(SecretsCipher::kms(key_id.clone(), aws.clone()))),
            None,
        ),
        None => {
            let key_file = args.secrets_key(data_dir);
            let member = SecretsCipher::local(&key_file)
                .with_context(|| format!("cannot use the secrets key {}", key_file.display()))?;
            let keys = Arc::new(ClusterKeys::new(
                member,
                crate::alerts::cluster_keys::keys_dir(data_dir),
                node.replica.clone(),
            ));
            tokio::spawn(keys.clone().follow(shutdown.clone()));
            (keys.clone() as Arc<dyn SettingsCipher>, Some(keys))
        }
    };
    let settings = OutputSettings::new(node.replica.clone(), cipher);
    let deliverer = Arc::new(Deliverer::new(
        Outputs::new(outputs_config(node)?, aws.clone())
            .with_file_root(args.file_output_dir(data_dir)),
        settings,
        Arc::new(RulesComposer(Arc::downgrade(node))),
        node.alert_log.clone(),
    ));
    let metrics = AlertMetrics::register(&node.metrics);
    let dispatcher = Arc::new(Dispatcher::new(
        node.alerts.clone(),
        deliverer.clone(),
        args.dispatcher(),
        metrics.clone(),
        node.replica.node_id(),
    ));

    let leader_tasks: Vec<Arc<dyn LeaderTask>> = vec![
        Arc::new(Dispatch {
            dispatcher,
            applied: node.replica.subscribe_applied(),
        }),
        Arc::new(Merger {
            store: node.alerts.clone(),
            settings: args.merger(),
            metrics,
            actors: node.detection.actors(),
            restarts: node
                .metrics
                .actor_restarts_total
                .with_label_values(&["merger"]),
        }),
        Arc::new(Retention {
            store: node.alerts.clone(),
            audit: AuditLog::new(node.replica.clone()),
            tokens: Tokens::new(node.replica.clone()),
            settings: args.retention(),
        }),
    ];
    let outputs_reload = tokio::spawn(follow_outputs_config(
        Arc::downgrade(node),
        deliverer.clone(),
        aws,
        args.file_output_dir(data_dir),
        shutdown,
    ));
    Ok(AlertRuntime {
        service: AlertsService {
            node: node.clone(),
            store: node.alerts.clone(),
            deliverer,
        },
        leader_tasks,
        outputs_reload,
        cluster_keys,
    })
}

/// Swaps in the outputs of each new config version. A bundle was validated before the cluster
/// accepted it, so a failure here only keeps the previous outputs (and says so).
async fn follow_outputs_config(
    node: Weak<NodeContext>,
    deliverer: Arc<Deliverer>,
    aws: AwsTarget,
    file_root: std::path::PathBuf,
    shutdown: CancellationToken,
) {
    let mut running = node.upgrade().map(|n| n.detection.version());
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(OUTPUTS_RELOAD_POLL) => {}
        }
        let Some(node) = node.upgrade() else { return };
        let version = node.detection.version();
        if Some(version) == running {
            continue;
        }
        match outputs_config(&node) {
            Ok(config) => {
                deliverer.replace_outputs(
                    Outputs::new(config, aws.clone()).with_file_root(file_root.clone()),
                );
                tracing::info!(version, "outputs reloaded");
            }
            Err(e) => {
                tracing::error!(version, error = %format!("{e:#}"), "outputs not reloaded; keeping the previous ones")
            }
        }
        running = Some(version);
    }
}
