//! The node's gRPC services.

use std::path::PathBuf;
use std::sync::Arc;

use sa_proto::cluster::v1::cluster_server::Cluster;
use sa_proto::cluster::v1::{NodeStatus, StatusRequest, StatusResponse};
use tonic::{Request, Response, Status};

use super::metrics::NodeMetrics;

/// The Cluster service as a single node answers it.
pub struct ClusterService {
    pub node_id: u64,
    pub advertise_addr: String,
    pub http_addr: String,
    pub data_dir: PathBuf,
    pub metrics: Arc<NodeMetrics>,
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        self.metrics.grpc_requests_total.with_label_values(&["Cluster/Status"]).inc();
        Ok(Response::new(StatusResponse {
            node: Some(NodeStatus {
                node_id: self.node_id,
                advertise_addr: self.advertise_addr.clone(),
                http_addr: self.http_addr.clone(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                uptime_ms: u64::try_from(self.metrics.uptime().as_millis()).unwrap_or(u64::MAX),
                data_dir: self.data_dir.display().to_string(),
            }),
        }))
    }
}
