//! `sactl lookup-tables list|get|put|load`: the cluster's replicated lookup tables (docs/spec §14).

use super::Target;
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use sa_proto::admin::v1::{
    GetLookupValueRequest, ListLookupTablesRequest, LookupEntry, PutLookupValuesRequest,
};
use serde_json::Value;

use super::config::refused;
use super::connect;

/// Entries per replicated write when loading a file.
const LOAD_CHUNK: usize = 2000;

#[derive(Debug, Subcommand)]
pub enum LookupTablesCommand {
    /// Tables and their key counts.
    List(ListArgs),
    /// Print one value as JSON (exit 1 when the key is absent).
    Get { table: String, key: String },
    /// Set one value; VALUE is JSON (a bare word is taken as a string).
    Put {
        table: String,
        key: String,
        value: String,
    },
    /// Load a JSON file `{"key": value, ...}` into a table, showing progress.
    Load(LoadArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    pub file: PathBuf,
    /// Table to load into [default: the file name without extension].
    #[arg(long)]
    pub table: Option<String>,
    /// Replace the table's contents instead of adding to them: readers see the old table until
    /// the whole file is loaded, then the new one.
    #[arg(long)]
    pub replace: bool,
}

pub async fn run(node: &Target, command: LookupTablesCommand) -> anyhow::Result<()> {
    let mut client = connect::admin(node).await?;
    match command {
        LookupTablesCommand::List(args) => {
            let tables = client
                .list_lookup_tables(ListLookupTablesRequest {})
                .await
                .map_err(|s| refused(node, s))?
                .into_inner()
                .tables;
            if args.json {
                let rows: Vec<Value> = tables
                    .iter()
                    .map(|t| serde_json::json!({"table": t.name, "keys": t.keys}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            } else {
                println!("{:<32} {:>10}", "TABLE", "KEYS");
                for table in tables {
                    println!("{:<32} {:>10}", table.name, table.keys);
                }
            }
        }
        LookupTablesCommand::Get { table, key } => {
            let reply = client
                .get_lookup_value(GetLookupValueRequest {
                    table: table.clone(),
                    key: key.clone(),
                })
                .await
                .map_err(|s| refused(node, s))?
                .into_inner();
            if !reply.found {
                return Err(super::config::Invalid(format!("{table}: no key {key:?}")).into());
            }
            println!("{}", reply.value_json);
        }
        LookupTablesCommand::Put { table, key, value } => {
            let value: Value = serde_json::from_str(&value).unwrap_or(Value::String(value));
            let entries = vec![LookupEntry {
                key,
                value_json: value.to_string(),
            }];
            client
                .put_lookup_values(PutLookupValuesRequest {
                    table: table.clone(),
                    entries,
                    ..Default::default()
                })
                .await
                .map_err(|s| refused(node, s))?;
            println!("{table}: 1 value written");
        }
        LookupTablesCommand::Load(args) => {
            let table = match args.table {
                Some(table) => table,
                None => args
                    .file
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .context("give --table: the file name has no stem")?,
            };
            let text = std::fs::read_to_string(&args.file)
                .with_context(|| format!("cannot read {}", args.file.display()))?;
            let Value::Object(entries) = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!(
                    "{}: line {} column {}: {e}",
                    args.file.display(),
                    e.line(),
                    e.column()
                )
            })?
            else {
                bail!(
                    "{}: expected a JSON object of key -> value",
                    args.file.display()
                );
            };
            let entries: Vec<LookupEntry> = entries
                .into_iter()
                .map(|(key, value)| LookupEntry {
                    key,
                    value_json: value.to_string(),
                })
                .collect();
            let progress = ProgressBar::new(entries.len() as u64).with_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:40}] {pos}/{len} keys ({per_sec}, eta {eta})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            progress.set_message(table.clone());
            // A replacement is one load over every request: the table changes at the last.
            let chunks: Vec<&[LookupEntry]> = if entries.is_empty() {
                vec![&[]]
            } else {
                entries.chunks(LOAD_CHUNK).collect()
            };
            let mut load = String::new();
            for (index, chunk) in chunks.iter().enumerate() {
                let more = args.replace && index + 1 < chunks.len();
                let answer = client
                    .put_lookup_values(PutLookupValuesRequest {
                        table: table.clone(),
                        entries: chunk.to_vec(),
                        replace: args.replace && index == 0,
                        more,
                        load: load.clone(),
                    })
                    .await
                    .map_err(|s| refused(node, s))?
                    .into_inner();
                load = answer.load;
                progress.inc(chunk.len() as u64);
            }
            progress.finish();
            println!("{table}: {} values loaded", entries.len());
        }
    }
    Ok(())
}
