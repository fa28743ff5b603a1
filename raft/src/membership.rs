//! Membership requests carried over the Raft service (join and remove), forwarded to the leader.

use serde::{Deserialize, Serialize};

use crate::types::NodeId;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinRequest {
    pub node_id: NodeId,
    /// The joining node's advertised gRPC address.
    pub addr: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoveRequest {
    pub node_id: NodeId,
}
