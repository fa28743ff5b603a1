//! `sactl status`.

use std::time::Duration;

use clap::Args;
use sa_proto::cluster::v1::StatusRequest;
use sa_proto::cluster::v1::cluster_client::ClusterClient;
use serde::Serialize;

use super::connect::{self, NodeUnreachable};

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
struct StatusReport {
    node_id: u64,
    addr: String,
    http_addr: String,
    version: String,
    uptime_ms: u64,
    data_dir: String,
}

pub async fn run(addr: &str, args: StatusArgs) -> anyhow::Result<()> {
    let mut client = ClusterClient::new(connect::channel(addr).await?);
    let node = client
        .status(StatusRequest {})
        .await
        .map_err(|status| NodeUnreachable { addr: addr.to_string(), reason: status.message().to_string() })?
        .into_inner()
        .node
        .ok_or_else(|| anyhow::anyhow!("node at {addr} sent a status without a node"))?;
    let report = StatusReport {
        node_id: node.node_id,
        addr: node.advertise_addr,
        http_addr: node.http_addr,
        version: node.version,
        uptime_ms: node.uptime_ms,
        data_dir: node.data_dir,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let uptime = humantime::format_duration(Duration::from_secs(report.uptime_ms / 1000));
        println!("node id    {}", report.node_id);
        println!("address    {}", report.addr);
        println!("http       {}", report.http_addr);
        println!("version    {}", report.version);
        println!("uptime     {uptime}");
        println!("data dir   {}", report.data_dir);
    }
    Ok(())
}
