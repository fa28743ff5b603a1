//! `sactl audit list`: the cluster's audit trail, who changed what and how it went
//! (docs/security.md, "Audit log").

use clap::{Args, Subcommand};
use sa_proto::admin::v1::ListAuditRequest;
use serde_json::json;

use super::Target;
use super::table::Table;
use super::alerts::parse_instant;
use super::config::refused;
use super::connect;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Entries oldest first: when, who, role, action, result, what.
    List(ListArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only entries at or after this time (RFC 3339, or a duration ago such as `24h`).
    #[arg(long)]
    pub since: Option<String>,
    /// Only this caller's entries: a certificate subject, or `token ID`.
    #[arg(long)]
    pub who: Option<String>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(node: &Target, command: AuditCommand) -> anyhow::Result<()> {
    let AuditCommand::List(args) = command;
    let since_micros = args.since.as_deref().map(parse_instant).transpose()?.unwrap_or(0);
    let reply = connect::admin(node)
        .await?
        .list_audit(ListAuditRequest {
            since_micros,
            who: args.who.unwrap_or_default(),
        })
        .await
        .map_err(|s| refused(node, s))?
        .into_inner();
    let at = |micros: i64| sa_rules::format_timestamp(micros);
    if args.json {
        let rows: Vec<_> = reply
            .entries
            .iter()
            .map(|e| {
                json!({
                    "at": at(e.at_micros),
                    "who": e.who,
                    "role": e.role,
                    "from": e.from,
                    "action": e.action,
                    "summary": e.summary,
                    "result": e.result,
                    "node": e.node,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let mut table = Table::new(&["AT", "WHO", "ROLE", "ACTION", "RESULT", "WHAT"]);
    for e in &reply.entries {
        table.row(vec![
            at(e.at_micros),
            e.who.clone(),
            e.role.clone(),
            e.action.clone(),
            e.result.clone(),
            e.summary.clone(),
        ]);
    }
    table.print();
    Ok(())
}
