//! What a source gets from its node: the pipeline to hand batches to, its flags and AWS clients,
//! where to keep local positions, the replicated state it leases shards and commits dead letters
//! in, the metrics registry, and the shutdown token it stops on. Sources never see the whole
//! node.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sa_aws::AwsTarget;
use sa_aws_sources::SourceClients;
use sa_raft::Replica;
use sa_state::AlertStore;
use tokio::sync::OnceCell;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::SourceArgs;
use super::admission::Admission;
use crate::leader::LeaderTask;
use crate::metrics::NodeMetrics;
use crate::pipeline::Detection;

pub struct SourceContext {
    pub pipeline: Arc<Detection>,
    /// The budget of request bytes HTTP and gRPC ingest hold at once.
    pub admission: Admission,
    pub args: SourceArgs,
    /// Built from the environment on first need (resolving a region may probe the instance
    /// metadata service), so a node whose sources need no AWS never looks.
    pub clients: OnceCell<SourceClients>,
    /// The node's data dir, for positions kept outside the replicated state (file offsets).
    pub data_dir: PathBuf,
    pub replica: Replica,
    /// Where a source commits the dead letters of input it cannot hand to the pipeline.
    pub alerts: AlertStore,
    pub metrics: Arc<NodeMetrics>,
    pub shutdown: CancellationToken,
}

impl SourceContext {
    /// The AWS clients of the sources, built on the first call.
    pub async fn clients(&self) -> &SourceClients {
        self.clients
            .get_or_init(|| async { SourceClients::new(&AwsTarget::from_env()).await })
            .await
    }

    /// Sleeps for `delay`, or less if the node stops meanwhile; true once the node stops.
    pub async fn pause(&self, delay: Duration) -> bool {
        tokio::select! {
            _ = self.shutdown.cancelled() => true,
            _ = tokio::time::sleep(delay) => false,
        }
    }
}

/// What sources start: tasks on every node, and work for the leader.
pub struct Started<'a> {
    pub tasks: &'a mut JoinSet<()>,
    pub leader_tasks: &'a mut Vec<Arc<dyn LeaderTask>>,
}
