//! `sactl send`: records from a file or stdin into an `http` data source, in batches; each batch
//! is acknowledged only once its alerts are committed. Each batch is named after the content it
//! comes from (hash of the whole input, byte offset of the batch), so sending the same input
//! again with the same `--batch` size yields the same alerts, not a second set.

use super::Target;
use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use sa_proto::ingest::v1::{PutRecordsRequest, PutRecordsResponse};
use sa_proto::ingest::v1::ingest_client::IngestClient;
use sha2::{Digest, Sha256};

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
    /// Send the batches unnamed: sending the same input twice then raises its alerts twice.
    #[arg(long)]
    pub no_batch_id: bool,
    #[arg(long)]
    pub json: bool,
}

/// How long a batch is offered again to a node that refuses it as overloaded.
const OVERLOAD_PATIENCE: Duration = Duration::from_secs(300);

/// Sends `request`; while the node answers RESOURCE_EXHAUSTED (it holds its budget of ingest
/// bytes) waits a second and sends it again, for at most [`OVERLOAD_PATIENCE`]. Sending again
/// is safe: a named batch raises its alerts once.
async fn put_when_admitted(
    client: &mut IngestClient<tonic::transport::Channel>,
    node: &str,
    request: PutRecordsRequest,
) -> anyhow::Result<PutRecordsResponse> {
    let deadline = tokio::time::Instant::now() + OVERLOAD_PATIENCE;
    let mut told = false;
    loop {
        match client.put(request.clone()).await {
            Err(status)
                if status.code() == tonic::Code::ResourceExhausted
                    && tokio::time::Instant::now() < deadline =>
            {
                if !told {
                    eprintln!(
                        "sactl: {node} is overloaded ({}); sending again every second",
                        status.message()
                    );
                    told = true;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            reply => return Ok(reply.map_err(|s| refused(node, s))?.into_inner()),
        }
    }
}

pub async fn run(node: &Target, args: SendArgs) -> anyhow::Result<()> {
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
    let records = records_with_offsets(&text);
    let content = hex::encode(Sha256::digest(text.as_bytes()));
    let mut client = IngestClient::new(connect::channel(node).await?);
    let (mut sent, mut classified, mut dead_letters) = (0u64, 0u64, 0u64);
    let mut alerts = Vec::new();
    for chunk in records.chunks(args.batch.max(1)) {
        let batch_id = if args.no_batch_id {
            String::new()
        } else {
            batch_id(&content, chunk[0].0)
        };
        let request = PutRecordsRequest {
            source: args.source.clone(),
            records: chunk.iter().map(|(_, record)| record.clone()).collect(),
            batch_id,
        };
        let reply = put_when_admitted(&mut client, node, request).await?;
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

/// Non-blank lines of `text` with the byte offset each starts at.
fn records_with_offsets(text: &str) -> Vec<(usize, String)> {
    let mut offset = 0;
    let mut records = Vec::new();
    for line in text.split_inclusive('\n') {
        let record = line.trim_end_matches(['\n', '\r']);
        if !record.trim().is_empty() {
            records.push((offset, record.to_owned()));
        }
        offset += line.len();
    }
    records
}

/// The id of the batch starting at byte `offset` of the input whose SHA-256 is `content`.
fn batch_id(content: &str, offset: usize) -> String {
    format!("sactl:{}@{offset}", &content[..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_named_by_content_and_offset() {
        let records = records_with_offsets("a\n\nbb\r\nc");
        assert_eq!(
            records,
            vec![(0, "a".into()), (3, "bb".into()), (7, "c".into())]
        );
        let content = hex::encode(Sha256::digest(b"a\n"));
        assert_eq!(batch_id(&content, 3), format!("sactl:{}@3", &content[..32]));
        assert_ne!(
            batch_id(&hex::encode(Sha256::digest(b"b\n")), 3),
            batch_id(&content, 3)
        );
    }
}
