//! Hot reload: when the replicated active config version moves past the one this node runs,
//! the node materializes that bundle and switches to it, keeping the old one on failure.

use std::path::PathBuf;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

use anyhow::Context;

use super::NodeContext;
use sa_repository::LoadedRepository;
use sa_repository::bundle::ConfigBundle;

/// Where bundle `version` is written out on this node.
pub fn bundle_dir(data_dir: &std::path::Path, version: u64) -> PathBuf {
    data_dir.join("bundles").join(format!("v{version}"))
}

/// Writes `bundle` under the data dir and loads it as a repository.
pub fn materialize(
    data_dir: &std::path::Path,
    bundle: &ConfigBundle,
) -> anyhow::Result<LoadedRepository> {
    let dir = bundle_dir(data_dir, bundle.version);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("cannot clear {}", dir.display()))?;
    }
    bundle.materialize(&dir)?;
    LoadedRepository::load(&dir, &dir.join("conf"), None)
}

/// Runs until the node stops.
pub async fn run(node: Arc<NodeContext>, shutdown: CancellationToken) {
    let mut applied = node.replica.subscribe_applied();
    let mut failed_version = None;
    loop {
        match node.configs.active_version() {
            Ok(active) if active > node.detection.version() && failed_version != Some(active) => {
                match switch_to(&node, active).await {
                    Ok(rules) => {
                        tracing::info!(version = active, rules, "running config bundle");
                        failed_version = None;
                    }
                    Err(e) => {
                        tracing::error!(
                            version = active,
                            error = format!("{e:#}"),
                            "cannot load config bundle; keeping the previous config"
                        );
                        node.metrics.config_reload_failures_total.inc();
                        failed_version = Some(active);
                    }
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(
                error = format!("{e:#}"),
                "cannot read the active config version"
            ),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = applied.changed() => if changed.is_err() { return },
        }
    }
}

async fn switch_to(node: &NodeContext, version: u64) -> anyhow::Result<usize> {
    let bundle = node
        .configs
        .get(version)?
        .with_context(|| format!("bundle v{version} is missing"))?;
    let data_dir = node.data_dir.clone();
    let repository = tokio::task::spawn_blocking(move || materialize(&data_dir, &bundle)).await??;
    let rules = node.detection.reload(repository, version).await?;
    node.lookups
        .declare(node.detection.lookup_tables_config().as_ref());
    Ok(rules)
}
