//! What a source gets from its node: the pipeline to hand batches to, where to keep local
//! positions, the replicated state it leases shards and commits dead letters in, the metrics
//! registry, and the shutdown token it stops on. Sources never see the whole node.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sa_raft::Replica;
use sa_state::AlertStore;
use tokio_util::sync::CancellationToken;

use crate::metrics::NodeMetrics;
use crate::pipeline::Detection;

pub struct SourceContext {
    pub pipeline: Arc<Detection>,
    /// The node's data dir, for positions kept outside the replicated state (file offsets).
    pub data_dir: PathBuf,
    pub replica: Replica,
    /// Where a source commits the dead letters of input it cannot hand to the pipeline.
    pub alerts: AlertStore,
    pub metrics: Arc<NodeMetrics>,
    pub shutdown: CancellationToken,
}

impl SourceContext {
    /// Sleeps for `delay`, or less if the node stops meanwhile; true once the node stops.
    pub async fn pause(&self, delay: Duration) -> bool {
        tokio::select! {
            _ = self.shutdown.cancelled() => true,
            _ = tokio::time::sleep(delay) => false,
        }
    }
}
