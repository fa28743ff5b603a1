//! `sactl send`: records from a file or stdin into an `http` data source, in batches; each batch
//! is acknowledged only once its alerts are committed.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use sa_proto::ingest::v1::PutRecordsRequest;
use sa_proto::ingest::v1::ingest_client::IngestClient;

use super::config::refused;
use super::connect;

#[derive(Debug, Args)]
pub struct SendArgs {
    /// The `http` data source (a key of a cluster's data_sources.http).
    #[arg(long)]
    pub source: String,
    /// File of records, one per line (JSON or text); `-` or nothing for stdin.
    pub file: Option<PathBuf>,
    /// Records per request.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    #[arg(long)]
    pub json: bool,
}

pub async fn run(node: &str, args: SendArgs) -> anyhow::Result<()> {
    let mut text = String::new();
    match args.file.as_deref().filter(|f| f.as_os_str() != "-") {
        Some(path) => {
            text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
        }
        None => {
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read stdin")?;
        }
    }
    let records: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    let mut client = IngestClient::new(connect::channel(node).await?);
    let (mut sent, mut classified, mut dead_letters) = (0u64, 0u64, 0u64);
    let mut alerts = Vec::new();
    for chunk in records.chunks(args.batch.max(1)) {
        let reply = client
            .put(PutRecordsRequest {
                source: args.source.clone(),
                records: chunk.to_vec(),
            })
            .await
            .map_err(|s| refused(node, s))?
            .into_inner();
        sent += reply.records;
        classified += reply.classified;
        dead_letters += reply.dead_letters;
        alerts.extend(reply.alert_ids.into_iter().zip(reply.rules));
    }
    if args.json {
        let alerts: Vec<_> = alerts
            .iter()
            .map(|(id, rule)| serde_json::json!({"alert_id": id, "rule": rule}))
            .collect();
        let summary = serde_json::json!({
            "records": sent, "classified": classified, "dead_letters": dead_letters, "alerts": alerts,
        });
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "{sent} records sent: {classified} classified, {dead_letters} dead-lettered, {} alerts",
            alerts.len()
        );
        for (id, rule) in &alerts {
            println!("  {rule}  {id}");
        }
    }
    Ok(())
}
