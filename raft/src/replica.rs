//! A node's replica of the cluster state: the openraft instance with its RocksDB storage, and the
//! operations the node needs (bootstrap, join, writes forwarded to the leader, local reads).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openraft::{ChangeMembers, Config, ServerState, SnapshotPolicy};
use sa_proto::raft::v1::RaftPayload;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::codec;
use crate::command::{Command, CommandResult};
use crate::db::{KeyValue, Keyspace, StateDb, StateDbError};
use crate::log_store::LogStore;
use crate::membership::{JoinRequest, RemoveRequest};
use crate::network::{NetworkFactory, PeerDialer, raft_client};
use crate::proposer::Proposer;
use crate::snapshot_file::SnapshotFiles;
use crate::state_machine::StateMachine;
use crate::types::{LogId, Node, NodeId, Raft};

/// How long a write or membership change waits for a leader before giving up.
const LEADER_WAIT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub struct ReplicaConfig {
    pub node_id: NodeId,
    /// gRPC address peers use to reach this node.
    pub advertise_addr: String,
    /// Holds `state/` (RocksDB) and `snapshot/`.
    pub data_dir: PathBuf,
    pub timing: RaftTiming,
    /// How this node reaches its peers.
    pub dialer: PeerDialer,
}

/// Raft timers. openraft gives every AppendEntries one heartbeat interval to complete, so the
/// interval must cover replicating a large entry (a config bundle is megabytes) on a busy node;
/// with these defaults a dead leader is replaced within about 2-3.5 s.
#[derive(Debug, Clone)]
pub struct RaftTiming {
    pub heartbeat_ms: u64,
    pub election_timeout_min_ms: u64,
    pub election_timeout_max_ms: u64,
    /// Build a snapshot (and later purge the log) after this many applied entries.
    pub snapshot_after_logs: u64,
}

impl Default for RaftTiming {
    fn default() -> Self {
        RaftTiming {
            heartbeat_ms: 500,
            election_timeout_min_ms: 1500,
            election_timeout_max_ms: 3000,
            snapshot_after_logs: 5000,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error(transparent)]
    Storage(#[from] StateDbError),
    #[error("raft: {0}")]
    Raft(String),
    #[error("no leader known after {0:?}")]
    NoLeader(Duration),
    #[error("leader at {addr}: {message}")]
    Leader { addr: String, message: String },
}

/// Cheap to clone; every clone is the same replica.
#[derive(Clone)]
pub struct Replica {
    inner: Arc<Inner>,
}

struct Inner {
    node_id: NodeId,
    advertise_addr: String,
    dialer: PeerDialer,
    raft: Raft,
    proposer: Proposer,
    db: StateDb,
    applied: watch::Receiver<Option<LogId>>,
}

impl Replica {
    pub async fn open(config: ReplicaConfig) -> Result<Replica, ReplicaError> {
        let db = StateDb::open(&config.data_dir.join("state"))?;
        let log_store = LogStore::new(db.clone());
        let state_machine = StateMachine::new(
            db.clone(),
            SnapshotFiles::open(config.data_dir.join("snapshot"))
                .map_err(|e| ReplicaError::Raft(format!("snapshot directory: {e}")))?,
        )
        .map_err(|e| ReplicaError::Raft(e.to_string()))?;
        let applied = state_machine.subscribe_applied();
        let raft_config = Config {
            cluster_name: "sa".into(),
            heartbeat_interval: config.timing.heartbeat_ms,
            election_timeout_min: config.timing.election_timeout_min_ms,
            election_timeout_max: config.timing.election_timeout_max_ms,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.timing.snapshot_after_logs),
            // Keep a tenth of a snapshot interval of log behind it, so a briefly lagging follower
            // catches up from the log and a long-gone one from the snapshot.
            max_in_snapshot_log_to_keep: config.timing.snapshot_after_logs / 10,
            snapshot_max_chunk_size: 1024 * 1024,
            install_snapshot_timeout: 10_000,
            // Entries per AppendEntries: bounded so one RPC (entries of about
            // TARGET_COMMAND_BYTES each) stays within a heartbeat and the message limit.
            max_payload_entries: 16,
            ..Default::default()
        }
        .validate()
        .map_err(|e| ReplicaError::Raft(e.to_string()))?;
        let raft = Raft::new(
            config.node_id,
            Arc::new(raft_config),
            NetworkFactory {
                dialer: config.dialer.clone(),
            },
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| ReplicaError::Raft(e.to_string()))?;
        Ok(Replica {
            inner: Arc::new(Inner {
                node_id: config.node_id,
                advertise_addr: config.advertise_addr,
                dialer: config.dialer,
                proposer: Proposer::start(raft.clone()),
                raft,
                db,
                applied,
            }),
        })
    }

    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    /// How this node reaches its peers (for calls other than Raft's own).
    pub fn dialer(&self) -> &PeerDialer {
        &self.inner.dialer
    }

    pub fn raft(&self) -> &Raft {
        &self.inner.raft
    }

    /// Makes this node a one-member cluster, unless its data dir already holds a cluster.
    pub async fn bootstrap_if_new(&self) -> Result<bool, ReplicaError> {
        if self.is_initialized().await? {
            return Ok(false);
        }
        let members =
            BTreeMap::from([(self.node_id(), Node::new(self.inner.advertise_addr.clone()))]);
        self.raft()
            .initialize(members)
            .await
            .map_err(|e| ReplicaError::Raft(e.to_string()))?;
        Ok(true)
    }

    pub async fn is_initialized(&self) -> Result<bool, ReplicaError> {
        self.raft()
            .is_initialized()
            .await
            .map_err(|e| ReplicaError::Raft(e.to_string()))
    }

    /// Asks the cluster member at `seed` to add this node (learner, then voter once caught up).
    pub async fn join_via(&self, seed: &str) -> Result<(), ReplicaError> {
        let request = JoinRequest {
            node_id: self.node_id(),
            addr: self.inner.advertise_addr.clone(),
        };
        let result: Result<(), String> =
            call(&self.inner.dialer, seed, Rpc::Join, &request).await?;
        result.map_err(|message| ReplicaError::Leader {
            addr: seed.to_string(),
            message,
        })
    }

    /// Commits `command` through the leader (forwarding when this node is not it). While an
    /// election runs or a dead leader is still believed in, it retries until [`LEADER_WAIT`].
    /// A forwarded command whose answer is lost is sent again, so it may apply twice: writers
    /// make their commands idempotent (conditions, `IfAbsent`) and read a failed condition of
    /// their own unique keys as "applied before".
    pub async fn write(&self, command: Command) -> Result<CommandResult, ReplicaError> {
        let mut results = self.write_together(vec![command]).await?;
        results
            .pop()
            .ok_or_else(|| ReplicaError::Raft("a write was answered with no result".into()))
    }

    /// Commits `commands` in one Raft entry, so they commit together or not at all (each still
    /// applies or fails its conditions on its own); their results in order. As
    /// [`Replica::write`] otherwise.
    pub async fn write_together(
        &self,
        mut commands: Vec<Command>,
    ) -> Result<Vec<CommandResult>, ReplicaError> {
        let boarded = crate::rider::board(&mut commands);
        let results = self.commit_together(commands).await;
        if let (true, Ok(results)) = (boarded, &results) {
            crate::rider::settle(results);
        }
        results
    }

    async fn commit_together(
        &self,
        commands: Vec<Command>,
    ) -> Result<Vec<CommandResult>, ReplicaError> {
        fail::fail_point!("raft::replica::before_write", |_| Err(ReplicaError::Raft(
            "failpoint raft::replica::before_write".into()
        )));
        let deadline = tokio::time::Instant::now() + LEADER_WAIT;
        loop {
            let leader_addr = match self.inner.proposer.propose(commands.clone()).await {
                // The failpoint plays a lost answer: the commands applied, and this node sends
                // them again as it would after a transport error on a forwarded write.
                Ok(_) if fail::eval("raft::replica::answer_lost", |_| ()).is_some() => continue,
                Ok(results) => return Ok(results),
                Err(e) => match e.forward_to_leader() {
                    Some(forward) => forward.leader_node.as_ref().map(|node| node.addr.clone()),
                    None => return Err(ReplicaError::Raft(e.to_string())),
                },
            };
            if let Some(addr) = leader_addr {
                match call::<_, Result<Vec<CommandResult>, String>>(
                    &self.inner.dialer,
                    &addr,
                    Rpc::Write,
                    &commands,
                )
                .await
                {
                    Ok(result) => {
                        return result.map_err(|message| ReplicaError::Leader { addr, message });
                    }
                    Err(unreachable) if tokio::time::Instant::now() > deadline => {
                        return Err(unreachable);
                    }
                    Err(unreachable) => {
                        tracing::debug!(error = %unreachable, "leader unreachable, retrying")
                    }
                }
            }
            if tokio::time::Instant::now() > deadline {
                return Err(ReplicaError::NoLeader(LEADER_WAIT));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Adds a node: as learner until it has caught up, then as voter. Runs on the leader;
    /// elsewhere it is forwarded there. Joining again with the same id is harmless.
    pub async fn add_member(&self, join: JoinRequest) -> Result<(), ReplicaError> {
        match self.leader().await? {
            Some((leader, _)) if leader == self.node_id() => {}
            Some((_, addr)) => {
                let result: Result<(), String> =
                    call(&self.inner.dialer, &addr, Rpc::Join, &join).await?;
                return result.map_err(|message| ReplicaError::Leader { addr, message });
            }
            None => return Err(ReplicaError::NoLeader(LEADER_WAIT)),
        }
        let raft_err = |e: openraft::error::RaftError<NodeId, _>| ReplicaError::Raft(e.to_string());
        let membership = self.raft().metrics().borrow().membership_config.clone();
        if membership
            .membership()
            .voter_ids()
            .any(|id| id == join.node_id)
        {
            return Ok(());
        }
        tracing::info!(node_id = join.node_id, addr = %join.addr, "adding learner");
        self.raft()
            .add_learner(join.node_id, Node::new(join.addr.clone()), true)
            .await
            .map_err(raft_err)?;
        tracing::info!(node_id = join.node_id, "promoting learner to voter");
        self.raft()
            .change_membership(
                ChangeMembers::AddVoterIds(BTreeSet::from([join.node_id])),
                false,
            )
            .await
            .map_err(raft_err)?;
        Ok(())
    }

    /// Removes a node from the cluster (voter or learner). Forwarded to the leader.
    pub async fn remove_member(&self, remove: RemoveRequest) -> Result<(), ReplicaError> {
        match self.leader().await? {
            Some((leader, _)) if leader == self.node_id() => {}
            Some((_, addr)) => {
                let result: Result<(), String> =
                    call(&self.inner.dialer, &addr, Rpc::Remove, &remove).await?;
                return result.map_err(|message| ReplicaError::Leader { addr, message });
            }
            None => return Err(ReplicaError::NoLeader(LEADER_WAIT)),
        }
        let raft_err = |e: openraft::error::RaftError<NodeId, _>| ReplicaError::Raft(e.to_string());
        let membership = self.raft().metrics().borrow().membership_config.clone();
        let ids = BTreeSet::from([remove.node_id]);
        if membership
            .membership()
            .voter_ids()
            .any(|id| id == remove.node_id)
        {
            self.raft()
                .change_membership(ChangeMembers::RemoveVoters(ids.clone()), false)
                .await
                .map_err(raft_err)?;
        } else if membership.membership().get_node(&remove.node_id).is_some() {
            self.raft()
                .change_membership(ChangeMembers::RemoveNodes(ids), false)
                .await
                .map_err(raft_err)?;
        } else {
            return Err(ReplicaError::Raft(format!(
                "node {} is not a member",
                remove.node_id
            )));
        }
        Ok(())
    }

    /// The current leader's id and address, waiting (bounded) while an election runs.
    pub async fn leader(&self) -> Result<Option<(NodeId, String)>, ReplicaError> {
        let deadline = tokio::time::Instant::now() + LEADER_WAIT;
        loop {
            let found = {
                let metrics = self.raft().metrics();
                let metrics = metrics.borrow();
                metrics.current_leader.and_then(|id| {
                    metrics
                        .membership_config
                        .membership()
                        .get_node(&id)
                        .map(|node| (id, node.addr.clone()))
                })
            };
            if found.is_some() || tokio::time::Instant::now() > deadline {
                return Ok(found);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn is_leader(&self) -> bool {
        self.raft().metrics().borrow().state == ServerState::Leader
    }

    /// Reads one key from the local replica (no network round trip; may lag the leader).
    pub fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>, ReplicaError> {
        Ok(self.inner.db.get(keyspace, key)?)
    }

    pub fn scan_prefix(
        &self,
        keyspace: Keyspace,
        prefix: &[u8],
    ) -> Result<Vec<KeyValue>, ReplicaError> {
        Ok(self.inner.db.scan_prefix(keyspace, prefix)?)
    }

    /// See [`StateDb::scan_prefix_below`].
    pub fn scan_prefix_below(
        &self,
        keyspace: Keyspace,
        prefix: &[u8],
        below: &[u8],
        limit: usize,
    ) -> Result<Vec<KeyValue>, ReplicaError> {
        Ok(self
            .inner
            .db
            .scan_prefix_below(keyspace, prefix, below, limit)?)
    }

    /// See [`StateDb::scan_prefix_between`].
    pub fn scan_prefix_between(
        &self,
        keyspace: Keyspace,
        prefix: &[u8],
        from: &[u8],
        below: &[u8],
        limit: usize,
    ) -> Result<Vec<KeyValue>, ReplicaError> {
        Ok(self
            .inner
            .db
            .scan_prefix_between(keyspace, prefix, from, below, limit)?)
    }

    /// See [`StateDb::scan_prefix_from`].
    pub fn scan_prefix_from(
        &self,
        keyspace: Keyspace,
        prefix: &[u8],
        from: &[u8],
        limit: usize,
    ) -> Result<Vec<KeyValue>, ReplicaError> {
        Ok(self
            .inner
            .db
            .scan_prefix_from(keyspace, prefix, from, limit)?)
    }

    pub fn first_with_prefix(
        &self,
        keyspace: Keyspace,
        prefix: &[u8],
    ) -> Result<Option<KeyValue>, ReplicaError> {
        Ok(self.inner.db.first_with_prefix(keyspace, prefix)?)
    }

    /// Changes whenever the local state machine applies entries.
    pub fn subscribe_applied(&self) -> watch::Receiver<Option<LogId>> {
        self.inner.applied.clone()
    }

    pub async fn shutdown(&self) {
        if let Err(e) = self.raft().shutdown().await {
            tracing::warn!(error = %e, "raft shutdown");
        }
        // Handles outside the replica (the rules thread's rule table) can keep the database
        // open until exit: its flushes and compactions must not still run while the process
        // tears down.
        let db = self.inner.db.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || db.stop_background_work()).await {
            tracing::warn!(error = %e, "stopping RocksDB's background work");
        }
    }
}

enum Rpc {
    Write,
    Join,
    Remove,
}

async fn call<Req: Serialize, Resp: DeserializeOwned>(
    dialer: &PeerDialer,
    addr: &str,
    rpc: Rpc,
    request: &Req,
) -> Result<Resp, ReplicaError> {
    let unreachable = |message: String| ReplicaError::Leader {
        addr: addr.to_string(),
        message,
    };
    let channel = dialer.channel(addr).map_err(unreachable)?;
    let mut client = raft_client(channel);
    let data =
        codec::encode("forwarded request", request).map_err(|e| unreachable(e.to_string()))?;
    let mut grpc_request = tonic::Request::new(RaftPayload { data });
    grpc_request.set_timeout(match rpc {
        // Joining waits for the learner to catch up, which can take a snapshot transfer.
        Rpc::Join => Duration::from_secs(120),
        Rpc::Write | Rpc::Remove => Duration::from_secs(20),
    });
    let reply = match rpc {
        Rpc::Write => client.write(grpc_request).await,
        Rpc::Join => client.join(grpc_request).await,
        Rpc::Remove => client.remove(grpc_request).await,
    }
    .map_err(|status| unreachable(status.message().to_string()))?;
    codec::decode("forwarded reply", &reply.into_inner().data)
        .map_err(|e| unreachable(e.to_string()))
}
