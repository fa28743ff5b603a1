//! `sactl nodes`: the members of the cluster, each asked directly.

use super::Target;
use super::table::Table;
use clap::Args;
use serde::Serialize;

use super::status;

#[derive(Debug, Args)]
pub struct NodesArgs {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Serialize)]
pub struct NodeRow {
    id: u64,
    addr: String,
    /// `leader`, `follower` or `learner` as the node itself reports; `unknown` when unreachable.
    role: String,
    term: Option<u64>,
    applied_index: Option<u64>,
    config_version: Option<u64>,
    healthy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

pub async fn run(addr: &Target, args: NodesArgs) -> anyhow::Result<()> {
    let rows = member_rows(addr).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    print_table(&rows);
    Ok(())
}

/// Every member the node at `addr` knows, each asked for its own status.
pub async fn member_rows(addr: &Target) -> anyhow::Result<Vec<NodeRow>> {
    let members = status::fetch(addr).await?.members;
    let mut rows = Vec::with_capacity(members.len());
    for member in members {
        let row = match status::fetch(&addr.at(&member.addr))
            .await
            .map_err(anyhow::Error::from)
            .and_then(status::report)
        {
            Ok(report) => NodeRow {
                id: member.node_id,
                addr: member.addr,
                role: if member.voter {
                    report.role
                } else {
                    "learner".to_string()
                },
                term: Some(report.term),
                applied_index: Some(report.applied_index),
                config_version: Some(report.config_version),
                healthy: report.node_id == member.node_id,
                error: (report.node_id != member.node_id)
                    .then(|| format!("answered as node {}", report.node_id)),
            },
            Err(e) => NodeRow {
                id: member.node_id,
                addr: member.addr,
                role: "unknown".into(),
                term: None,
                applied_index: None,
                config_version: None,
                healthy: false,
                error: Some(format!("{e:#}")),
            },
        };
        rows.push(row);
    }
    Ok(rows)
}

pub fn print_table(rows: &[NodeRow]) {
    let mut table = Table::new(&["ID", "ADDRESS", "ROLE", "TERM", "APPLIED", "CONFIG", "HEALTH"]);
    let dash = || "-".to_string();
    for row in rows {
        table.row(vec![
            row.id.to_string(),
            row.addr.clone(),
            row.role.clone(),
            row.term.map_or_else(dash, |t| t.to_string()),
            row.applied_index.map_or_else(dash, |i| i.to_string()),
            row.config_version.map_or_else(dash, |v| format!("v{v}")),
            match &row.error {
                None => "ok".to_string(),
                Some(e) => format!("DOWN: {e}"),
            },
        ]);
    }
    table.print();
}
