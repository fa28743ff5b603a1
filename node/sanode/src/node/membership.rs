//! How a starting node becomes a cluster member: bootstrap, join, or resume from its data dir.

use std::time::Duration;

use anyhow::Context;
use sa_raft::Replica;

/// How long a joining node keeps trying to reach the member it was pointed at.
const JOIN_PATIENCE: Duration = Duration::from_secs(60);

pub async fn establish(replica: &Replica, join: Option<&str>) -> anyhow::Result<()> {
    if replica.is_initialized().await? {
        tracing::info!(
            node_id = replica.node_id(),
            "resuming cluster membership from the data dir"
        );
        return Ok(());
    }
    let Some(seed) = join else {
        replica.bootstrap_if_new().await?;
        tracing::info!(
            node_id = replica.node_id(),
            "bootstrapped a new single-node cluster"
        );
        return Ok(());
    };
    let deadline = tokio::time::Instant::now() + JOIN_PATIENCE;
    loop {
        match replica.join_via(seed).await {
            Ok(()) => {
                tracing::info!(node_id = replica.node_id(), seed, "joined the cluster");
                return Ok(());
            }
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(seed, error = %e, "join failed, retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(e) => {
                return Err(e).with_context(|| format!("cannot join the cluster through {seed}"));
            }
        }
    }
}
