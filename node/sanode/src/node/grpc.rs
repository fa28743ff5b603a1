//! The node's Cluster gRPC service.

use std::sync::Arc;

use sa_proto::cluster::v1::cluster_server::Cluster;
use sa_proto::cluster::v1::{
    Member, NodeStatus, RaftStatus, RemoveNodeRequest, RemoveNodeResponse, ShardStatus,
    ShareDataKeyRequest, ShareDataKeyResponse, StatusRequest, StatusResponse,
};
use sa_raft::RemoveRequest;
use tonic::{Request, Response, Status};

use super::NodeContext;
use super::service_error::ServiceError;
use crate::alerts::cluster_keys::ClusterKeys;
use sa_state::LeaseStore;

pub struct ClusterService {
    pub node: Arc<NodeContext>,
    /// None on a node whose output settings AWS KMS seals: it has no data key to share.
    pub cluster_keys: Option<Arc<ClusterKeys>>,
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

impl ClusterService {
    fn shard_statuses(&self) -> Result<Vec<ShardStatus>, Status> {
        let states = LeaseStore::new(self.node.replica.clone())
            .shard_states()
            .map_err(|e| ServiceError::Internal(format!("cannot read the shard leases: {e:#}")))?;
        Ok(states
            .into_iter()
            .map(|state| {
                let progress = state.progress.as_ref();
                ShardStatus {
                    stream: state.stream,
                    shard: state.shard,
                    owner: state.lease.as_ref().map_or(0, |lease| lease.owner),
                    leased: state.lease.is_some(),
                    checkpoint: progress
                        .and_then(|p| p.checkpoint.as_ref())
                        .map(|c| match c.sub_sequence {
                            Some(sub) => format!("{}#{sub}", c.sequence_number),
                            None => c.sequence_number.clone(),
                        })
                        .unwrap_or_default(),
                    millis_behind_latest: progress.map_or(0, |p| p.millis_behind_latest),
                    checkpoint_ms: progress.map_or(0, |p| p.updated_ms),
                    checkpoint_node: progress.map_or(0, |p| p.node),
                    finished: state.finished,
                }
            })
            .collect())
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn status(&self, _: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
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
                tls: self.node.tls,
            }),
            raft: Some(raft),
            members,
            shards: self.shard_statuses()?,
        }))
    }

    async fn remove_node(
        &self,
        request: Request<RemoveNodeRequest>,
    ) -> Result<Response<RemoveNodeResponse>, Status> {
        let node_id = request.into_inner().node_id;
        self.node
            .replica
            .remove_member(RemoveRequest { node_id })
            .await
            .map_err(|e| {
                ServiceError::FailedPrecondition(format!("cannot remove node {node_id}: {e}"))
            })?;
        Ok(Response::new(RemoveNodeResponse {}))
    }

    async fn share_data_key(
        &self,
        request: Request<ShareDataKeyRequest>,
    ) -> Result<Response<ShareDataKeyResponse>, Status> {
        let id = request.into_inner().id;
        let Some(keys) = &self.cluster_keys else {
            return Err(ServiceError::FailedPrecondition(
                "this node's output settings are sealed with AWS KMS (--kms-key-id): it holds no data key"
                    .into(),
            )
            .into());
        };
        match keys.share(&id).await {
            Ok(Some(key)) => Ok(Response::new(ShareDataKeyResponse { key })),
            Ok(None) => Err(Status::not_found(format!(
                "this node does not hold data key {id}"
            ))),
            Err(e) => Err(ServiceError::Internal(format!("data key {id}: {e:#}")).into()),
        }
    }
}
