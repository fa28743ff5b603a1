//! `sactl dead-letters list|replay`: what the cluster could not place or deliver.

use super::Target;
use clap::Subcommand;
use sa_proto::alerts::v1::{ListDeadLettersRequest, ReplayDeadLettersRequest};
use serde_json::{Value, json};

use super::config::refused;
use super::connect;

#[derive(Debug, Subcommand)]
pub enum DeadLettersCommand {
    /// Alerts an output never accepted (`output`) and records no schema matched (`classify`).
    List {
        /// output or classify (both when omitted).
        #[arg(long)]
        kind: Option<String>,
        /// Record dead letters listed at most, oldest first.
        #[arg(long, default_value_t = 1_000)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Give dead-lettered alerts back to the dispatcher (all, or one alert / one output) and
    /// run dead-lettered records through the pipeline again (all, or one `--id`).
    Replay {
        /// output or classify (both when omitted).
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        alert_id: Option<String>,
        #[arg(long)]
        output: Option<String>,
        /// A record's dead letter, as `dead-letters list` names it.
        #[arg(long)]
        id: Option<String>,
    },
}

pub async fn run(node: &Target, command: DeadLettersCommand) -> anyhow::Result<()> {
    let mut client = connect::alerts(node).await?;
    match command {
        DeadLettersCommand::List { kind, limit, json } => {
            let listed = client
                .list_dead_letters(ListDeadLettersRequest {
                    kind: kind.unwrap_or_default(),
                    limit: limit.max(1),
                })
                .await
                .map_err(|s| refused(node, s))?
                .into_inner();
            if listed.truncated {
                eprintln!(
                    "sactl: more record dead letters exist than the {} oldest listed (--limit)",
                    limit.max(1)
                );
            }
            let dead_letters = listed.dead_letters;
            let rows: Vec<Value> = dead_letters
                .iter()
                .map(|d| {
                    let body: Value = serde_json::from_str(&d.json).unwrap_or(Value::Null);
                    json!({"kind": d.kind, "id": d.id, "dead_letter": body})
                })
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            for row in &rows {
                let dead = &row["dead_letter"];
                match row["kind"].as_str() {
                    Some("output") => println!(
                        "output    {}  {}  {}  {}",
                        dead["alert_id"].as_str().unwrap_or(""),
                        dead["rule_name"].as_str().unwrap_or(""),
                        dead["output"].as_str().unwrap_or(""),
                        dead["reason"].as_str().unwrap_or("")
                    ),
                    _ => println!(
                        "classify  {}  {}/{}  {}",
                        row["id"].as_str().unwrap_or(""),
                        dead["service"].as_str().unwrap_or(""),
                        dead["resource"].as_str().unwrap_or(""),
                        dead["reason"].as_str().unwrap_or("")
                    ),
                }
            }
            eprintln!("{} dead letters", rows.len());
        }
        DeadLettersCommand::Replay {
            kind,
            alert_id,
            output,
            id,
        } => {
            let reply = client
                .replay_dead_letters(ReplayDeadLettersRequest {
                    kind: kind.unwrap_or_default(),
                    alert_id: alert_id.unwrap_or_default(),
                    output: output.unwrap_or_default(),
                    id: id.unwrap_or_default(),
                })
                .await
                .map_err(|s| refused(node, s))?
                .into_inner();
            println!("{} dead letters replayed", reply.replayed);
            if reply.reprocessed > 0 {
                println!(
                    "{} records reprocessed, {} classified",
                    reply.reprocessed, reply.classified
                );
            }
        }
    }
    Ok(())
}
