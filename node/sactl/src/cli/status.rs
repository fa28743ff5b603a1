//! `sactl status`: the node answering, and how it sees the cluster.

use super::Target;
use super::table::Table;
use std::time::Duration;

use clap::Args;
use sa_proto::cluster::v1::cluster_client::ClusterClient;
use sa_proto::cluster::v1::{StatusRequest, StatusResponse};
use serde::Serialize;

use super::connect::{self, ConnectError};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also list finished Kinesis shards whose children are being read.
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub node_id: u64,
    pub addr: String,
    pub http_addr: String,
    pub version: String,
    pub uptime_ms: u64,
    pub data_dir: String,
    pub config_version: u64,
    /// false for a node started with `--insecure`.
    pub tls: bool,
    pub role: String,
    pub term: u64,
    pub leader_id: Option<u64>,
    pub applied_index: u64,
    pub members: usize,
    pub shards: Vec<ShardRow>,
}

/// A Kinesis shard: who reads it and how far its alerts are committed.
#[derive(Debug, Serialize)]
pub struct ShardRow {
    pub stream: String,
    pub shard: String,
    pub owner: Option<u64>,
    pub checkpoint: Option<String>,
    pub millis_behind_latest: i64,
    pub checkpoint_ms: Option<u64>,
    pub finished: bool,
    /// Finished, and a child of it is being read: nothing left to watch.
    pub children_reading: bool,
}

/// Asks the node at `addr` for its status.
pub async fn fetch(addr: &Target) -> Result<StatusResponse, ConnectError> {
    let mut client = ClusterClient::new(connect::channel(addr).await?);
    client
        .status(StatusRequest {})
        .await
        .map(|reply| reply.into_inner())
        .map_err(|status| ConnectError::from_status(addr, status))
}

pub fn report(response: StatusResponse) -> anyhow::Result<StatusReport> {
    let node = response
        .node
        .ok_or_else(|| anyhow::anyhow!("status reply without a node"))?;
    let raft = response.raft.unwrap_or_default();
    Ok(StatusReport {
        node_id: node.node_id,
        addr: node.advertise_addr,
        http_addr: node.http_addr,
        version: node.version,
        uptime_ms: node.uptime_ms,
        data_dir: node.data_dir,
        config_version: node.config_version,
        tls: node.tls,
        role: raft.role,
        term: raft.term,
        leader_id: raft.has_leader.then_some(raft.leader_id),
        applied_index: raft.applied_index,
        members: response.members.len(),
        shards: response
            .shards
            .into_iter()
            .map(|shard| ShardRow {
                stream: shard.stream,
                shard: shard.shard,
                owner: shard.leased.then_some(shard.owner),
                checkpoint: (!shard.checkpoint.is_empty()).then_some(shard.checkpoint),
                millis_behind_latest: shard.millis_behind_latest,
                checkpoint_ms: (shard.checkpoint_ms > 0).then_some(shard.checkpoint_ms),
                finished: shard.finished,
                children_reading: shard.children_reading,
            })
            .collect(),
    })
}

pub async fn run(addr: &Target, args: StatusArgs) -> anyhow::Result<()> {
    let report = report(fetch(addr).await?)?;
    let nodes = super::nodes::member_rows(addr).await?;
    if args.json {
        let mut json = serde_json::to_value(&report)?;
        json["nodes"] = serde_json::to_value(&nodes)?;
        println!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    let uptime = humantime::format_duration(Duration::from_secs(report.uptime_ms / 1000));
    let leader = report
        .leader_id
        .map_or_else(|| "none".to_string(), |id| id.to_string());
    println!("node id    {}", report.node_id);
    println!("address    {}", report.addr);
    println!("http       {}", report.http_addr);
    println!("version    {}", report.version);
    println!("uptime     {uptime}");
    println!("data dir   {}", report.data_dir);
    if report.tls {
        println!("tls        mutual TLS, callers identified by certificate");
    } else {
        println!("tls        OFF (--insecure): plaintext, every caller may do anything");
    }
    println!(
        "role       {} (term {}, leader {leader})",
        report.role, report.term
    );
    println!("applied    {}", report.applied_index);
    println!("config     v{}", report.config_version);
    println!("members    {}", report.members);
    println!();
    super::nodes::print_table(&nodes);
    let (done, shown): (Vec<&ShardRow>, Vec<&ShardRow>) = report
        .shards
        .iter()
        .partition(|shard| shard.children_reading && !args.all);
    if !shown.is_empty() {
        println!();
        print_shards(&shown);
    }
    if !done.is_empty() {
        println!(
            "({} finished shards whose children are being read not shown; --all shows them)",
            done.len()
        );
    }
    Ok(())
}

fn print_shards(shards: &[&ShardRow]) {
    let mut table = Table::new(&["STREAM", "SHARD", "OWNER", "LAG MS", "CHECKPOINT"]);
    for shard in shards {
        let owner = match (shard.owner, shard.finished) {
            (Some(owner), _) => owner.to_string(),
            (None, true) => "finished".to_string(),
            (None, false) => "unassigned".to_string(),
        };
        table.row(vec![
            shard.stream.clone(),
            shard.shard.clone(),
            owner,
            shard.millis_behind_latest.to_string(),
            shard.checkpoint.clone().unwrap_or_else(|| "-".to_string()),
        ]);
    }
    table.print();
}
