//! `sactl outputs list|set|test`: where alerts go, and the settings (credentials) each output
//! needs, stored encrypted in the cluster.

use super::Target;
use super::table::Table;
use std::io::IsTerminal;

use clap::{Args, Subcommand};
use sa_outputs::{OutputName, ResourceShape, credential_properties, resource_shape};
use sa_proto::alerts::v1::{ListOutputsRequest, SetOutputRequest, TestOutputRequest};
use serde_json::{Map, Value, json};

use super::config::{Invalid, refused};
use super::connect;

#[derive(Debug, Subcommand)]
pub enum OutputsCommand {
    /// Outputs declared in conf/outputs.json or set here, with the settings each has.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Store an output's settings: `sactl outputs set slack:soc url=https://hooks...`.
    /// Missing required settings are prompted for on a terminal (secrets masked).
    Set(SetArgs),
    /// Send a sample alert to an output through the real delivery path; exit 1 if it fails.
    Test { name: String },
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// SERVICE:DESCRIPTOR
    pub name: String,
    /// KEY=VALUE settings (the service's credential properties, and `resource` for services
    /// whose conf/outputs.json entry names a queue, bucket, topic...).
    pub settings: Vec<String>,
}

pub async fn run(node: &Target, command: OutputsCommand) -> anyhow::Result<()> {
    let mut client = connect::alerts(node).await?;
    match command {
        OutputsCommand::List { json } => {
            let reply = client
                .list_outputs(ListOutputsRequest {})
                .await
                .map_err(|s| refused(node, s))?
                .into_inner();
            if json {
                let rows: Vec<Value> = reply
                    .outputs
                    .iter()
                    .map(|o| {
                        json!({
                            "name": o.name,
                            "declared_in": o.declared_in,
                            "settings": o.settings,
                            "missing": o.missing,
                            "not_deliverable": (!o.not_deliverable.is_empty())
                                .then_some(&o.not_deliverable),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
                return Ok(());
            }
            let mut table = Table::new(&["OUTPUT", "DECLARED IN", "SETTINGS", "DELIVERS"]);
            for output in &reply.outputs {
                table.row(vec![
                    output.name.clone(),
                    output.declared_in.clone(),
                    output.settings.join(","),
                    if output.not_deliverable.is_empty() {
                        "yes".to_string()
                    } else {
                        format!("NO: {}", output.not_deliverable)
                    },
                ]);
            }
            table.print();
            eprintln!("settings encrypted with {}", reply.cipher);
        }
        OutputsCommand::Set(args) => {
            let name = OutputName::parse(&args.name)
                .map_err(|e| Invalid(format!("{}: {e}", args.name)))?;
            let mut settings = Map::new();
            for pair in &args.settings {
                let (key, value) = pair
                    .split_once('=')
                    .ok_or_else(|| Invalid(format!("{pair:?}: settings are KEY=VALUE")))?;
                settings.insert(key.to_string(), Value::String(value.to_string()));
            }
            sa_outputs::validate_settings(&name, &settings)
                .map_err(|e| Invalid(format!("{e:#}")))?;
            prompt_missing(&name, &mut settings)?;
            client
                .set_output(SetOutputRequest {
                    name: name.to_string(),
                    settings_json: Value::Object(settings.clone()).to_string(),
                })
                .await
                .map_err(|s| refused(node, s))?;
            let keys: Vec<&String> = settings.keys().collect();
            println!(
                "{name}: stored {}",
                keys.iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        OutputsCommand::Test { name } => {
            let reply = client
                .test_output(TestOutputRequest { name: name.clone() })
                .await
                .map_err(|s| refused(node, s))?
                .into_inner();
            if reply.result == "delivered" {
                println!("{name}: delivered");
            } else {
                return Err(Invalid(format!("{name}: {} ({})", reply.result, reply.reason)).into());
            }
        }
    }
    Ok(())
}

/// Asks for required settings not given on the command line, only when a person is there to
/// answer; a script gets a clear error instead of a hanging prompt.
fn prompt_missing(name: &OutputName, settings: &mut Map<String, Value>) -> anyhow::Result<()> {
    let mut missing: Vec<(&str, bool)> = credential_properties(name.service())
        .iter()
        .filter(|p| p.required && !settings.contains_key(p.name))
        .map(|p| (p.name, p.secret))
        .collect();
    if matches!(
        resource_shape(name.service()),
        Some(ResourceShape::Required(_))
    ) && !settings.contains_key("resource")
    {
        missing.push(("resource", false));
    }
    if missing.is_empty() {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        let names: Vec<&str> = missing.iter().map(|(n, _)| *n).collect();
        // A map-shaped output can take its resource from conf/outputs.json instead.
        if names == ["resource"] {
            return Ok(());
        }
        return Err(Invalid(format!(
            "{name}: missing settings {} (give them as KEY=VALUE)",
            names.join(", ")
        ))
        .into());
    }
    for (property, secret) in missing {
        let value = if secret {
            rpassword_prompt(&format!("{name} {property} (hidden): "))?
        } else {
            eprint!("{name} {property}: ");
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        };
        if !value.is_empty() {
            settings.insert(property.to_string(), Value::String(value));
        }
    }
    Ok(())
}

/// Reads a line without echo: `stty -echo` around the read, restored even on error.
fn rpassword_prompt(prompt: &str) -> anyhow::Result<String> {
    use std::process::Command;
    eprint!("{prompt}");
    let stty = |arg: &str| {
        Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
    };
    let _ = stty("-echo");
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    let _ = stty("echo");
    eprintln!();
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
