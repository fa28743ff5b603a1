//! The node's Cluster gRPC service.

use std::sync::Arc;

use sa_proto::cluster::v1::cluster_server::Cluster;
use sa_proto::cluster::v1::{
    Member, NodeStatus, RaftStatus, RemoveNodeRequest, RemoveNodeResponse, StatusRequest,
    StatusResponse,
};
use sa_raft::RemoveRequest;
use tonic::{Request, Response, Status};

use super::NodeContext;

pub struct ClusterService {
    pub node: Arc<NodeContext>,
}

impl ClusterService {
    fn raft_status(&self) -> (RaftStatus, Vec<Member>) {
        let metrics = self.node.replica.raft().metrics();
        let metrics = metrics.borrow();
        let role = match metrics.state {
            openraft::ServerState::Leader => "leader",
            openraft::ServerState::Follower => "follower",
            openraft::ServerState::Candidate => "candidate",
            openraft::ServerState::Learner => "learner",
            openraft::ServerState::Shutdown => "shutdown",
        };
        let membership = metrics.membership_config.membership();
        let members = membership
            .nodes()
            .map(|(id, node)| Member {
                node_id: *id,
                addr: node.addr.clone(),
                voter: membership.voter_ids().any(|voter| voter == *id),
            })
            .collect();
        let status = RaftStatus {
            role: role.to_string(),
            term: metrics.current_term,
            leader_id: metrics.current_leader.unwrap_or_default(),
            has_leader: metrics.current_leader.is_some(),
            last_log_index: metrics.last_log_index.unwrap_or_default(),
            applied_index: metrics.last_applied.map(|id| id.index).unwrap_or_default(),
        };
        (status, members)
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        self.node
            .metrics
            .grpc_requests_total
            .with_label_values(&["Cluster/Status"])
            .inc();
        let (raft, members) = self.raft_status();
        Ok(Response::new(StatusResponse {
            node: Some(NodeStatus {
                node_id: self.node.replica.node_id(),
                advertise_addr: self.node.advertise_addr.clone(),
                http_addr: self.node.http_addr.clone(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                uptime_ms: u64::try_from(self.node.metrics.uptime().as_millis())
                    .unwrap_or(u64::MAX),
                data_dir: self.node.data_dir.display().to_string(),
                config_version: self.node.detection.version(),
            }),
            raft: Some(raft),
            members,
        }))
    }

    async fn remove_node(
        &self,
        request: Request<RemoveNodeRequest>,
    ) -> Result<Response<RemoveNodeResponse>, Status> {
        self.node
            .metrics
            .grpc_requests_total
            .with_label_values(&["Cluster/RemoveNode"])
            .inc();
        let node_id = request.into_inner().node_id;
        self.node
            .replica
            .remove_member(RemoveRequest { node_id })
            .await
            .map_err(|e| {
                Status::failed_precondition(format!("cannot remove node {node_id}: {e}"))
            })?;
        Ok(Response::new(RemoveNodeResponse {}))
    }
}
