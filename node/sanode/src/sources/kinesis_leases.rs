//! The leader's Kinesis lease manager: for every stream the active config names under
//! `kinesis`, it discovers the shards, keeps the readable ones (KCL order: children after their
//! parents finished) leased to live nodes, spread evenly with the fewest moves, and drops the
//! leases of shards that are finished, gone, or whose stream is no longer configured.
//!
//! A node is live while it answers the cluster Status call as itself (what `sactl nodes` calls
//! healthy); one that has not answered for the lease timeout loses its shards. A new leader
//! gives every voter a full lease timeout before judging it, so a leader change alone moves
//! nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use sa_aws_sources::SourceClients;
use sa_aws_sources::kinesis::{discover_shards, readable_shards};
use sa_aws_sources::leases::plan_leases;
use sa_proto::cluster::v1::StatusRequest;
use sa_proto::cluster::v1::cluster_client::ClusterClient;
use tokio::time::Instant;

use futures::future::BoxFuture;
use sa_raft::Replica;
use sa_state::{HeldLease, LeaseStore};
use tokio_util::sync::CancellationToken;

use super::SourceContext;
use super::kinesis::SERVICE;
use crate::leader::{LeaderTask, Ticks};
use crate::retry::Backoff;

/// How often the leader replans.
const PLAN_INTERVAL: Duration = Duration::from_millis(1000);
/// Retry delays of a stream whose shards cannot be listed.
/// Planning for a stream that fails (a stream no endpoint has, a node without AWS credentials)
/// is tried again less and less often.
const PLAN_RETRY: Backoff = Backoff {
    base: Duration::from_secs(2),
    max: Duration::from_secs(60),
};
/// How long one liveness probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

/// Last time each voter answered, as seen by the current leader.
struct Liveness {
    last_ok: HashMap<u64, Instant>,
    lease_timeout: Duration,
}

impl Liveness {
    fn new(lease_timeout: Duration) -> Self {
        Liveness {
            last_ok: HashMap::new(),
            lease_timeout,
        }
    }

    /// Probes every voter (concurrently) and returns those live now, this node included.
    async fn live_voters(&mut self, replica: &Replica) -> Vec<u64> {
        let me = replica.node_id();
        let voters: Vec<(u64, String)> = {
            let metrics = replica.raft().metrics();
            let metrics = metrics.borrow();
            let membership = metrics.membership_config.membership();
            let voter_ids: BTreeSet<u64> = membership.voter_ids().collect();
            membership
                .nodes()
                .filter(|(id, _)| voter_ids.contains(id))
                .map(|(id, n)| (*id, n.addr.clone()))
                .collect()
        };
        let now = Instant::now();
        self.last_ok
            .retain(|id, _| voters.iter().any(|(v, _)| v == id));
        let mut probes = Vec::new();
        for (id, addr) in &voters {
            // first sight (new leader or new voter): a full timeout before any judgement
            self.last_ok.entry(*id).or_insert(now);
            if *id == me {
                self.last_ok.insert(*id, now);
                continue;
            }
            let channel = match replica.dialer().channel(addr) {
                Ok(channel) => channel,
                Err(e) => {
                    tracing::debug!(node = id, addr, error = %e, "bad peer address");
                    continue;
                }
            };
            let id = *id;
            probes.push(async move {
                let mut client = ClusterClient::new(channel);
                let answered = tokio::time::timeout(PROBE_TIMEOUT, client.status(StatusRequest {}))
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .and_then(|reply| reply.into_inner().node)
                    .is_some_and(|status| status.node_id == id);
                (id, answered)
            });
        }
        for (id, answered) in futures::future::join_all(probes).await {
            if answered {
                self.last_ok.insert(id, Instant::now());
            }
        }
        let now = Instant::now();
        let mut live: Vec<u64> = self
            .last_ok
            .iter()
            .filter(|(_, last)| now.duration_since(**last) <= self.lease_timeout)
            .map(|(id, _)| *id)
            .collect();
        live.sort_unstable();
        live
    }
}

/// The leader's shard lease planning for the configured streams.
pub struct LeasePlanner {
    pub source: Arc<SourceContext>,
}

impl LeaderTask for LeasePlanner {
    fn name(&self) -> &'static str {
        "kinesis lease planning"
    }

    fn lead(self: Arc<Self>, term: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(self.plan_while_leading(term))
    }
}

impl LeasePlanner {
    /// Liveness starts afresh each term: a new leader probes every voter before moving leases.
    async fn plan_while_leading(self: Arc<Self>, term: CancellationToken) {
        let store = LeaseStore::new(self.source.replica.clone());
        let mut liveness = Liveness::new(self.source.args.lease_timeout);
        // stream -> (next attempt, current delay) after failed planning
        let mut backoff: HashMap<String, (Instant, u32)> = HashMap::new();
        let mut ticks = Ticks::every(PLAN_INTERVAL);
        while ticks.next(&term).await {
            let streams = self.source.pipeline.resources(SERVICE);
            let held = match store.leases(None) {
                Ok(held) => held,
                Err(e) => {
                    tracing::warn!(error = format!("{e:#}"), "cannot read the shard leases");
                    continue;
                }
            };
            if streams.is_empty() && held.is_empty() {
                continue;
            }
            let live = liveness.live_voters(&self.source.replica).await;
            let mut by_stream: BTreeMap<String, BTreeMap<String, HeldLease>> = BTreeMap::new();
            for (stream, shard, lease) in held {
                by_stream.entry(stream).or_default().insert(shard, lease);
            }
            for stream in &streams {
                let current = by_stream.remove(stream).unwrap_or_default();
                if backoff
                    .get(stream)
                    .is_some_and(|(next, _)| Instant::now() < *next)
                {
                    continue;
                }
                match plan_stream(&store, self.source.clients().await, stream, &live, current).await
                {
                    Ok(()) => {
                        backoff.remove(stream);
                    }
                    Err(e) => {
                        // Said once, then at debug level while it keeps failing.
                        let failures = backoff.get(stream).map_or(1, |(_, failures)| failures + 1);
                        let delay = PLAN_RETRY.ceiling(failures);
                        let error = format!("{e:#}");
                        if failures == 1 {
                            tracing::warn!(stream, error, retry_in = ?delay, "kinesis lease planning");
                        } else {
                            tracing::debug!(stream, error, retry_in = ?delay, "kinesis lease planning");
                        }
                        backoff.insert(stream.clone(), (Instant::now() + delay, failures));
                    }
                }
            }
            backoff.retain(|stream, _| streams.contains(stream));
            // streams no longer configured: their readers stop
            for (stream, leases) in by_stream {
                for (shard, held) in leases {
                    if let Err(e) = store.release(&stream, &shard, &held).await {
                        tracing::warn!(stream, shard, error = format!("{e:#}"), "lease release");
                    }
                }
            }
        }
    }
}

async fn plan_stream(
    store: &LeaseStore,
    clients: &SourceClients,
    stream: &str,
    live: &[u64],
    current: BTreeMap<String, HeldLease>,
) -> anyhow::Result<()> {
    let shards = discover_shards(&clients.kinesis, stream).await?;
    let finished = store.finished(stream)?;
    let readable = readable_shards(&shards, &finished);
    let owners: BTreeMap<String, u64> = current
        .iter()
        .map(|(shard, held)| (shard.clone(), held.lease.owner))
        .collect();
    let plan = plan_leases(&readable, live, &owners);
    if plan.is_empty() && !readable.is_empty() {
        return Ok(()); // no live node at all: keep the leases as they are
    }
    for (shard, owner) in &plan {
        let held = current.get(shard);
        if held.map(|h| h.lease.owner) == Some(*owner) {
            continue;
        }
        if store.assign(stream, shard, *owner, held).await? {
            tracing::info!(
                stream,
                shard,
                owner,
                from = held.map(|h| h.lease.owner),
                "kinesis shard leased"
            );
        }
    }
    for (shard, held) in &current {
        if !plan.contains_key(shard) && store.release(stream, shard, held).await? {
            tracing::info!(stream, shard, "kinesis shard lease dropped");
        }
    }
    Ok(())
}
