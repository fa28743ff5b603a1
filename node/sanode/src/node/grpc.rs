//! The node's Cluster gRPC service: status and membership, the data key members share, join
//! and bearer tokens, and certificate revocation.

use std::sync::Arc;

use sa_proto::cluster::v1::cluster_server::Cluster;
use sa_proto::cluster::v1::{
    CreateJoinTokenRequest, CreateJoinTokenResponse, CreateTokenRequest, CreateTokenResponse,
    JoinWithTokenRequest, JoinWithTokenResponse, Member, NodeStatus, RaftStatus, RemoveNodeRequest,
    RemoveNodeResponse, RevokeCertificateRequest, RevokeCertificateResponse, RevokeTokenRequest,
    RevokeTokenResponse, ShardStatus, ShareDataKeyRequest, ShareDataKeyResponse, StatusRequest,
    StatusResponse,
};
use sa_raft::RemoveRequest;
use tonic::{Request, Response, Status};

use super::NodeContext;
use super::access::caller_name;
use super::service_error::ServiceError;
use super::tokens::{self, BearerToken, JoinToken};
use crate::alerts::cluster_keys::ClusterKeys;
use sa_state::keys::config::TokenKind;
use sa_state::{LeaseStore, Revocations, StoredToken, Tokens};
use sa_tls::{CertAuthority, CertFiles, Lifetime, NodeNames, Role};

pub struct ClusterService {
    pub node: Arc<NodeContext>,
    /// None on a node whose output settings AWS KMS seals: it has no data key to share.
    pub cluster_keys: Option<Arc<ClusterKeys>>,
    /// The node's certificates directory; none with --insecure.
    pub certs: Option<CertFiles>,
}

/// A join request names at most this many addresses, each at most this long.
const MAX_JOIN_ADDRESSES: usize = 16;
const MAX_ADDRESS_LEN: usize = 255;

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
        let reading_children: std::collections::BTreeSet<(&str, &str)> = states
            .iter()
            .flat_map(|state| {
                let parents = state.progress.as_ref().map(|p| p.parents.as_slice());
                parents
                    .unwrap_or_default()
                    .iter()
                    .map(|parent| (state.stream.as_str(), parent.as_str()))
            })
            .collect();
        let children_reading: Vec<bool> = states
            .iter()
            .map(|state| {
                state.finished
                    && reading_children.contains(&(state.stream.as_str(), state.shard.as_str()))
            })
            .collect();
        Ok(states
            .into_iter()
            .zip(children_reading)
            .map(|(state, children_reading)| {
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
                    children_reading,
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
        super::audit::note(format!("node {node_id}"));
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
        // An id names a file under data-keys/: nothing but the fingerprint's hex digits.
        if id.len() != 16 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ServiceError::InvalidArgument(format!(
                "data key id {id:?}: 16 hex digits"
            ))
            .into());
        }
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

    async fn create_join_token(
        &self,
        request: Request<CreateJoinTokenRequest>,
    ) -> Result<Response<CreateJoinTokenResponse>, Status> {
        let who = caller_name(&request);
        let request = request.into_inner();
        let files = self.tls_files()?;
        let ca_pem = std::fs::read_to_string(files.ca_cert())
            .map_err(|e| ServiceError::Internal(format!("{}: {e}", files.ca_cert().display())))?;
        let ca_sha256 = sa_tls::ca_fingerprint(&ca_pem)
            .map_err(|e| ServiceError::Internal(format!("{}: {e}", files.ca_cert().display())))?;
        let token = JoinToken::generate(&ca_sha256);
        super::audit::note(format!(
            "token {}, {} uses, ttl {} s",
            token.id,
            request.uses.max(1),
            request.ttl_seconds
        ));
        let ttl = std::time::Duration::from_secs(request.ttl_seconds.max(1));
        let stored = StoredToken {
            digest: tokens::digest(&token.secret),
            expires_ms: sa_state::expiry(ttl),
            uses_left: Some(request.uses.max(1)),
            role: None,
            sources: Vec::new(),
            created_ms: sa_state::now_ms(),
            created_by: who.clone(),
            last_use: String::new(),
        };
        Tokens::new(self.node.replica.clone())
            .create(TokenKind::Join, &token.id, &stored)
            .await
            .map_err(ServiceError::unavailable)?;
        tracing::info!(token = %token.id, uses = request.uses.max(1), ?ttl, by = who, "join token created");
        Ok(Response::new(CreateJoinTokenResponse {
            token: token.text(),
            id: token.id,
            expires_ms: stored.expires_ms,
            ca_sha256,
        }))
    }

    async fn join_with_token(
        &self,
        request: Request<JoinWithTokenRequest>,
    ) -> Result<Response<JoinWithTokenResponse>, Status> {
        let from = request
            .extensions()
            .get::<super::tls_listener::Peer>()
            .map(|peer| peer.addr.to_string())
            .unwrap_or_default();
        let request = request.into_inner();
        if request.addresses.is_empty()
            || request.addresses.len() > MAX_JOIN_ADDRESSES
            || request
                .addresses
                .iter()
                .any(|a| a.is_empty() || a.len() > MAX_ADDRESS_LEN)
        {
            return Err(ServiceError::InvalidArgument(format!(
                "a join request names 1 to {MAX_JOIN_ADDRESSES} addresses of at most \
                 {MAX_ADDRESS_LEN} bytes"
            ))
            .into());
        }
        super::audit::note(format!(
            "token {}, addresses {}",
            request.token_id,
            request.addresses.join(", ")
        ));
        // Checked before the token is used: a request this member cannot sign must not spend it.
        sa_tls::check_node_request(&request.request_pem).map_err(|e| {
            ServiceError::InvalidArgument(format!("not a certificate signing request: {e}"))
        })?;
        let authority = self.authority()?;
        let member_certificate = self.certificate_sha256()?;
        let proves = |digest: &str| {
            let expected = tokens::join_proof(
                digest,
                &member_certificate,
                &request.request_pem,
                &request.addresses,
            );
            // Every byte compared whatever the first difference: no timing to learn from.
            expected.len() == request.proof.len()
                && expected
                    .bytes()
                    .zip(request.proof.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        };
        let used = Tokens::new(self.node.replica.clone())
            .redeem(TokenKind::Join, &request.token_id, proves)
            .await
            .map_err(ServiceError::unavailable)?;
        if let Err(refusal) = used {
            tracing::warn!(from, %refusal, "refused a join request");
            return Err(Status::permission_denied(refusal.to_string()));
        }
        let names = NodeNames::from_addresses(request.addresses.iter().map(String::as_str));
        let certificate_pem = authority
            .sign_node_request(
                &request.request_pem,
                &format!("node {}", request.addresses[0]),
                &names,
                Lifetime(sa_tls::LEAF_LIFETIME),
            )
            .map_err(|e| {
                ServiceError::InvalidArgument(format!("cannot sign the certificate request: {e}"))
            })?;
        tracing::info!(
            token = %request.token_id,
            from,
            names = ?names.0,
            "signed the certificate of a node joining with a token"
        );
        let (data_key_id, data_key) = match &self.cluster_keys {
            Some(keys) => keys
                .current_to_share()
                .await
                .map_err(|e| ServiceError::Internal(format!("the data key: {e:#}")))?
                .unwrap_or_default(),
            None => Default::default(),
        };
        Ok(Response::new(JoinWithTokenResponse {
            certificate_pem,
            ca_pem: authority.cert_pem().to_string(),
            data_key_id,
            data_key,
        }))
    }
    async fn create_token(
        &self,
        request: Request<CreateTokenRequest>,
    ) -> Result<Response<CreateTokenResponse>, Status> {
        let who = caller_name(&request);
        let request = request.into_inner();
        let role: Role = request
            .role
            .parse()
            .map_err(|e| ServiceError::InvalidArgument(format!("{e}")))?;
        if role == Role::Node {
            return Err(ServiceError::InvalidArgument(
                "a token cannot act as a node: nodes prove themselves with certificates".into(),
            )
            .into());
        }
        if role == Role::Ingest && request.sources.is_empty() {
            return Err(ServiceError::InvalidArgument(
                "an ingest token names the sources it may post to (--source)".into(),
            )
            .into());
        }
        let token = BearerToken::generate();
        super::audit::note(format!(
            "token {}, role {role}, sources [{}], ttl {} s",
            token.id,
            request.sources.join(", "),
            request.ttl_seconds
        ));
        let ttl = std::time::Duration::from_secs(request.ttl_seconds.max(1));
        let stored = StoredToken {
            digest: tokens::digest(&token.secret),
            expires_ms: sa_state::expiry(ttl),
            uses_left: None,
            role: Some(role.to_string()),
            sources: request.sources.clone(),
            created_ms: sa_state::now_ms(),
            created_by: who.clone(),
            last_use: String::new(),
        };
        Tokens::new(self.node.replica.clone())
            .create(TokenKind::Bearer, &token.id, &stored)
            .await
            .map_err(ServiceError::unavailable)?;
        tracing::info!(token = %token.id, %role, sources = ?request.sources, ?ttl, by = who, "bearer token created");
        Ok(Response::new(CreateTokenResponse {
            token: token.text(),
            id: token.id,
            expires_ms: stored.expires_ms,
        }))
    }

    async fn revoke_token(
        &self,
        request: Request<RevokeTokenRequest>,
    ) -> Result<Response<RevokeTokenResponse>, Status> {
        let who = caller_name(&request);
        let request = request.into_inner();
        let kind = match request.kind.as_str() {
            "join" => TokenKind::Join,
            "bearer" => TokenKind::Bearer,
            other => {
                return Err(ServiceError::InvalidArgument(format!(
                    "token kind {other:?}: join or bearer"
                ))
                .into());
            }
        };
        super::audit::note(format!("{} token {}", kind.as_str(), request.id));
        let revoked = Tokens::new(self.node.replica.clone())
            .revoke(kind, &request.id)
            .await
            .map_err(ServiceError::unavailable)?;
        tracing::info!(token = %request.id, kind = kind.as_str(), revoked, by = who, "token revoked");
        Ok(Response::new(RevokeTokenResponse { revoked }))
    }
    async fn revoke_certificate(
        &self,
        request: Request<RevokeCertificateRequest>,
    ) -> Result<Response<RevokeCertificateResponse>, Status> {
        let who = caller_name(&request);
        let serial = request.into_inner().serial.replace(':', "");
        if serial.is_empty() || !serial.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ServiceError::InvalidArgument(format!(
                "certificate serial {serial:?}: hex digits, as `sactl certs list` shows it"
            ))
            .into());
        }
        super::audit::note(format!("certificate {serial}"));
        let revoked = Revocations::new(self.node.replica.clone())
            .revoke(&serial, &who)
            .await
            .map_err(ServiceError::unavailable)?;
        tracing::info!(serial, revoked, by = who, "certificate revoked");
        Ok(Response::new(RevokeCertificateResponse { revoked }))
    }
}

impl ClusterService {
    fn tls_files(&self) -> Result<&CertFiles, Status> {
        self.certs.as_ref().ok_or_else(|| {
            ServiceError::FailedPrecondition(
                "this node runs without TLS (--insecure): it has no CA to join nodes to".into(),
            )
            .into()
        })
    }

    /// The SHA-256 (hex, of the DER) of the certificate this member presents: what a joining
    /// node's proof is bound to.
    fn certificate_sha256(&self) -> Result<String, Status> {
        use rustls_pki_types::pem::PemObject;
        let path = self.tls_files()?.cert("node");
        let der = rustls_pki_types::CertificateDer::from_pem_file(&path)
            .map_err(|e| ServiceError::Internal(format!("{}: {e}", path.display())))?;
        Ok(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            der.as_ref(),
        )))
    }

    /// The cluster CA, if this member holds its key.
    fn authority(&self) -> Result<CertAuthority, Status> {
        let files = self.tls_files()?;
        let (cert, key) = (files.ca_cert(), files.ca_key());
        let key_pem = std::fs::read_to_string(&key).map_err(|_| {
            ServiceError::FailedPrecondition(format!(
                "this member holds no CA key ({}): join through the member that holds it, or \
                 issue the certificate with `sactl certs create-node`",
                key.display()
            ))
        })?;
        let cert_pem = std::fs::read_to_string(&cert)
            .map_err(|e| ServiceError::Internal(format!("{}: {e}", cert.display())))?;
        CertAuthority::from_pem(&cert_pem, &key_pem).map_err(|e| {
            ServiceError::Internal(format!("{} and {}: {e}", cert.display(), key.display())).into()
        })
    }
}
