//! The Raft network over gRPC: each peer gets a lazily connected tonic client; openraft's
//! requests and responses travel inside `RaftPayload` in the format of codec.rs.

use openraft::error::{
    Infallible, InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use sa_proto::raft::v1::RaftPayload;
use sa_proto::raft::v1::raft_client::RaftClient;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use crate::codec;
use crate::types::{Node, NodeId, TypeConfig};

/// The largest Raft message a node sends or accepts. Entries are kept near
/// [`crate::TARGET_COMMAND_BYTES`] and an AppendEntries carries at most 16 of them, so only a
/// single large entry (a config bundle) comes near it; tonic's default of 4 MiB made such an
/// entry one followers refused forever, and writes stalled.
pub(crate) const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

/// A Raft client on `channel` with the message limit both ways.
pub fn raft_client(channel: Channel) -> RaftClient<Channel> {
    RaftClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// Where a node's client TLS comes from: the cluster CA and the node's own certificate, read
/// again when the files change so renewed certificates reach new connections.
pub trait PeerTls: Send + Sync {
    /// Changes whenever what [`PeerTls::config`] reads changes (a file's modification time).
    fn stamp(&self) -> Option<SystemTime>;
    fn config(&self) -> Result<ClientTlsConfig, String>;
}

/// How a node dials its peers: plaintext (`--insecure`) or mutual TLS. Channels are kept per
/// address, so a forwarded write costs no new connection or handshake.
#[derive(Clone, Default)]
pub struct PeerDialer {
    tls: Option<Arc<dyn PeerTls>>,
    channels: Arc<Mutex<Channels>>,
}

/// Open channels by address, for the TLS files of one stamp.
#[derive(Default)]
struct Channels {
    stamp: Option<SystemTime>,
    by_addr: HashMap<String, Channel>,
}

impl std::fmt::Debug for PeerDialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerDialer")
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl PeerDialer {
    pub fn plaintext() -> Self {
        PeerDialer::default()
    }

    pub fn tls(tls: Arc<dyn PeerTls>) -> Self {
        PeerDialer {
            tls: Some(tls),
            channels: Default::default(),
        }
    }

    /// A lazily connected gRPC channel to `addr` (`HOST:PORT` or a URL).
    pub fn channel(&self, addr: &str) -> Result<Channel, String> {
        let stamp = self.tls.as_ref().and_then(|tls| tls.stamp());
        let mut channels = self.channels.lock().expect("channels lock");
        if channels.stamp != stamp {
            *channels = Channels {
                stamp,
                by_addr: HashMap::new(),
            };
        }
        if let Some(channel) = channels.by_addr.get(addr) {
            return Ok(channel.clone());
        }
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let uri = if addr.contains("://") {
            addr.to_string()
        } else {
            format!("{scheme}://{addr}")
        };
        let mut endpoint = Endpoint::from_shared(uri)
            .map_err(|e| format!("invalid peer address {addr}: {e}"))?
            .connect_timeout(std::time::Duration::from_secs(2))
            .tcp_nodelay(true);
        if let Some(tls) = &self.tls {
            endpoint = endpoint
                .tls_config(tls.config()?)
                .map_err(|e| format!("TLS to {addr}: {e}"))?;
        }
        let channel = endpoint.connect_lazy();
        channels.by_addr.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }
}

pub struct NetworkFactory {
    pub dialer: PeerDialer,
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> PeerClient {
        PeerClient {
            target,
            client: self.dialer.channel(&node.addr).map(raft_client),
        }
    }
}

pub struct PeerClient {
    target: NodeId,
    client: Result<RaftClient<Channel>, String>,
}

type RpcResult<T, E> = Result<T, RPCError<NodeId, Node, RaftError<NodeId, E>>>;

impl PeerClient {
    async fn call<Req, Resp, E>(
        &mut self,
        method: Method,
        request: &Req,
        option: &RPCOption,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let client = self.client.as_mut().map_err(|e| {
            RPCError::Unreachable(Unreachable::new(&std::io::Error::other(e.clone())))
        })?;
        let data = codec::encode("raft request", request)
            .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut grpc_request = tonic::Request::new(RaftPayload { data });
        grpc_request.set_timeout(option.hard_ttl());
        let reply = match method {
            Method::AppendEntries => client.append_entries(grpc_request).await,
            Method::Vote => client.vote(grpc_request).await,
            Method::InstallSnapshot => client.install_snapshot(grpc_request).await,
        };
        let payload = reply.map_err(|status| match status.code() {
            tonic::Code::Unavailable => RPCError::Unreachable(Unreachable::new(&status)),
            _ => RPCError::Network(NetworkError::new(&status)),
        })?;
        let result: Result<Resp, RaftError<NodeId, E>> =
            codec::decode("raft reply", &payload.into_inner().data)
                .map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

enum Method {
    AppendEntries,
    Vote,
    InstallSnapshot,
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, Infallible> {
        self.call(Method::AppendEntries, &rpc, &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.call(Method::InstallSnapshot, &rpc, &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>, Infallible> {
        self.call(Method::Vote, &rpc, &option).await
    }
}
