//! `sactl alerts list|show|resend`: committed alerts and where their delivery stands.

use super::Target;
use super::table::Table;
use anyhow::Context;
use clap::{Args, Subcommand};
use sa_proto::alerts::v1::{ListAlertsRequest, ResendAlertRequest, ShowAlertRequest};
use serde_json::Value;

use super::config::{Invalid, refused};
use super::connect;

#[derive(Debug, Subcommand)]
pub enum AlertsCommand {
    /// Alerts, oldest first, with their delivery status.
    List(ListArgs),
    /// One alert: its record, the publication, and each output's delivery state.
    Show {
        alert_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Deliver an alert again (to the given outputs, or all of its outputs).
    Resend {
        alert_id: String,
        /// SERVICE:DESCRIPTOR; repeat for several.
        #[arg(long = "output")]
        outputs: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only alerts of this rule.
    #[arg(long)]
    pub rule: Option<String>,
    /// Only alerts created at or after this time (RFC 3339, or a duration ago such as `2h`).
    #[arg(long)]
    pub since: Option<String>,
    /// Only alerts created before this time (RFC 3339, or a duration ago).
    #[arg(long)]
    pub until: Option<String>,
    /// pending, delivered, dead, merging, merged or suppressed.
    #[arg(long)]
    pub status: Option<String>,
    /// At most this many (the newest).
    #[arg(long, default_value_t = 0)]
    pub limit: u32,
    #[arg(long)]
    pub json: bool,
}

/// RFC 3339 (`2026-11-28T10:00:00Z`) or a duration before now (`90s`, `2h`, `1day`), in µs.
pub fn parse_instant(text: &str) -> anyhow::Result<i64> {
    if let Some(micros) = sa_rules::parse_timestamp(text) {
        return Ok(micros);
    }
    let ago = humantime::parse_duration(text).map_err(|_| {
        Invalid(format!(
            "{text:?} is neither an RFC 3339 time (2026-11-28T10:00:00Z) nor a duration (2h)"
        ))
    })?;
    Ok(sa_rules::Clock::System.now() - i64::try_from(ago.as_micros()).unwrap_or(i64::MAX))
}

pub async fn run(node: &Target, command: AlertsCommand) -> anyhow::Result<()> {
    let mut client = connect::alerts(node).await?;
    match command {
        AlertsCommand::List(args) => {
            let request = ListAlertsRequest {
                rule: args.rule.unwrap_or_default(),
                since_micros: args
                    .since
                    .as_deref()
                    .map(parse_instant)
                    .transpose()?
                    .unwrap_or(0),
                until_micros: args
                    .until
                    .as_deref()
                    .map(parse_instant)
                    .transpose()?
                    .unwrap_or(0),
                status: args.status.unwrap_or_default(),
                limit: args.limit,
            };
            let alerts = client
                .list_alerts(request)
                .await
                .map_err(|s| refused(node, s))?
                .into_inner()
                .alerts;
            let summaries: Vec<Value> = alerts
                .iter()
                .map(|a| serde_json::from_str(&a.json).context("undecodable alert summary"))
                .collect::<anyhow::Result<_>>()?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&summaries)?);
                return Ok(());
            }
            let mut table = Table::new(&["ALERT ID", "CREATED", "RULE", "STATUS", "OUTPUTS"]);
            for summary in &summaries {
                let alert = &summary["alert"];
                let outputs: Vec<String> = summary["outputs"]
                    .as_object()
                    .map(|outputs| {
                        outputs
                            .iter()
                            .map(|(name, state)| {
                                format!("{name}={}", state["state"].as_str().unwrap_or("?"))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let text = |value: &Value| value.as_str().unwrap_or("").to_string();
                table.row(vec![
                    text(&alert["AlertID"]),
                    text(&alert["Created"]),
                    text(&alert["RuleName"]),
                    text(&summary["status"]),
                    outputs.join(" "),
                ]);
            }
            table.print();
            eprintln!("{} alerts", summaries.len());
        }
        AlertsCommand::Show { alert_id, json } => {
            let reply = client
                .show_alert(ShowAlertRequest {
                    alert_id: alert_id.clone(),
                })
                .await
                .map_err(|s| refused(node, s))?
                .into_inner();
            if !reply.found {
                return Err(Invalid(format!("no alert {alert_id}")).into());
            }
            let summary: Value = serde_json::from_str(&reply.json)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
                return Ok(());
            }
            let alert = &summary["alert"];
            println!("alert    {}", alert["AlertID"].as_str().unwrap_or(""));
            println!("rule     {}", alert["RuleName"].as_str().unwrap_or(""));
            println!("created  {}", alert["Created"].as_str().unwrap_or(""));
            println!("status   {}", summary["status"].as_str().unwrap_or(""));
            if let Some(merged) = summary["merged_into"].as_str() {
                println!("merged into {merged}");
            }
            println!("outputs");
            if let Some(outputs) = summary["outputs"].as_object() {
                for (name, state) in outputs {
                    println!("  {name:<40} {state}");
                }
            }
            println!(
                "record\n{}",
                serde_json::to_string_pretty(&summary["published"]["record"])?
            );
        }
        AlertsCommand::Resend { alert_id, outputs } => {
            let reply = client
                .resend_alert(ResendAlertRequest {
                    alert_id: alert_id.clone(),
                    outputs,
                })
                .await
                .map_err(|s| refused(node, s))?
                .into_inner();
            println!("{alert_id}: queued for {}", reply.outputs.join(", "));
        }
    }
    Ok(())
}
