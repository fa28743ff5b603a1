//! The gRPC side of the Raft network: hands peers' requests to the local openraft instance, and
//! serves forwarded writes and membership changes when this node leads.

use sa_proto::raft::v1::RaftPayload;
use sa_proto::raft::v1::raft_server::{Raft as RaftRpc, RaftServer};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tonic::{Request, Response, Status};

use crate::codec;
use crate::command::Command;
use crate::membership::{JoinRequest, RemoveRequest};
use crate::network::MAX_MESSAGE_BYTES;
use crate::replica::Replica;

pub struct RaftService {
    replica: Replica,
}

impl RaftService {
    pub fn new(replica: Replica) -> Self {
        RaftService { replica }
    }

    /// The gRPC server of this service, accepting messages up to the Raft message limit.
    pub fn into_server(self) -> RaftServer<RaftService> {
        RaftServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES)
    }
}

fn decode<T: DeserializeOwned>(request: Request<RaftPayload>) -> Result<T, Status> {
    codec::decode("raft request", &request.into_inner().data)
        .map_err(|e| Status::invalid_argument(e.to_string()))
}

fn encode<T: Serialize>(value: &T) -> Result<Response<RaftPayload>, Status> {
    codec::encode("raft reply", value)
        .map(|data| Response::new(RaftPayload { data }))
        .map_err(|e| Status::internal(e.to_string()))
}

#[tonic::async_trait]
impl RaftRpc for RaftService {
    async fn append_entries(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let result = self.replica.raft().append_entries(decode(request)?).await;
        encode(&result)
    }

    async fn vote(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let result = self.replica.raft().vote(decode(request)?).await;
        encode(&result)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let result = self.replica.raft().install_snapshot(decode(request)?).await;
        encode(&result)
    }

    async fn write(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let commands: Vec<Command> = decode(request)?;
        let result = self.replica.write_together(commands).await;
        // A node whose Raft has stopped (it is shutting down) is no leader to write through:
        // a transport-level error makes the forwarding node look for the next one, where an
        // answer would end the write with this node's error.
        if result.is_err()
            && self
                .replica
                .raft()
                .metrics()
                .borrow()
                .running_state
                .is_err()
        {
            return Err(Status::unavailable("this node's Raft has stopped"));
        }
        encode(&result.map_err(|e| e.to_string()))
    }

    async fn join(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let join: JoinRequest = decode(request)?;
        let result = self
            .replica
            .add_member(join)
            .await
            .map_err(|e| e.to_string());
        encode(&result)
    }

    async fn remove(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let remove: RemoveRequest = decode(request)?;
        let result = self
            .replica
            .remove_member(remove)
            .await
            .map_err(|e| e.to_string());
        encode(&result)
    }
}
