//! `sactl rules list|stage|unstage|promote|disable|enable`: the cluster's rule table (compat
//! docs/spec §9.11, plus sa's switch to silence a rule without pushing new code).

use super::Target;
use std::time::Duration;

use clap::{Args, Subcommand};
use sa_proto::admin::v1::{ChangeRulesRequest, ListRulesRequest, RuleChange, RuleState};
use serde_json::{Value, json};

use super::config::refused;
use super::connect;

#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// The running config's rules with their staging window, staged alerts and switch.
    List(ListArgs),
    /// Stage rules: their alerts go only to the alerts firehose until promoted.
    Stage(StageArgs),
    /// Unstage rules: their alerts go to their outputs again.
    Unstage(NamesArgs),
    /// Promote staged rules now (the same as unstage), whatever their window says.
    Promote(NamesArgs),
    /// Stop running rules, without pushing new code.
    Disable(NamesArgs),
    /// Run disabled rules again.
    Enable(NamesArgs),
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only staged rules.
    #[arg(long)]
    pub staged: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct NamesArgs {
    #[arg(required = true, value_name = "RULE")]
    pub rules: Vec<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StageArgs {
    #[command(flatten)]
    pub names: NamesArgs,
    /// How long the staging window lasts.
    #[arg(long = "for", default_value = "48h", value_parser = humantime::parse_duration)]
    pub period: Duration,
}

pub async fn run(node: &Target, command: RulesCommand) -> anyhow::Result<()> {
    let mut client = connect::admin(node).await?;
    let (change, names, period, done) = match command {
        RulesCommand::List(args) => {
            let reply = client
                .list_rules(ListRulesRequest {})
                .await
                .map_err(|s| refused(node, s))?
                .into_inner();
            let rules: Vec<&RuleState> = reply
                .rules
                .iter()
                .filter(|rule| !args.staged || rule.staged)
                .collect();
            if args.json {
                let listing = json!({
                    "staging_enabled": reply.staging_enabled,
                    "promotion_enabled": reply.promotion_enabled,
                    "rules": rules.iter().map(|rule| as_json(rule)).collect::<Vec<_>>(),
                });
                println!("{}", serde_json::to_string_pretty(&listing)?);
            } else {
                println!(
                    "rule staging {}, automatic promotion {}",
                    on_off(reply.staging_enabled),
                    on_off(reply.promotion_enabled)
                );
                print_table(&rules);
            }
            return Ok(());
        }
        RulesCommand::Stage(args) => (RuleChange::Stage, args.names, args.period, "staged"),
        RulesCommand::Unstage(args) => (RuleChange::Unstage, args, Duration::ZERO, "unstaged"),
        RulesCommand::Promote(args) => (RuleChange::Unstage, args, Duration::ZERO, "promoted"),
        RulesCommand::Disable(args) => (RuleChange::Disable, args, Duration::ZERO, "disabled"),
        RulesCommand::Enable(args) => (RuleChange::Enable, args, Duration::ZERO, "enabled"),
    };
    if change == RuleChange::Stage && period.is_zero() {
        return Err(super::config::Invalid("--for must be longer than 0s".into()).into());
    }
    let reply = client
        .change_rules(ChangeRulesRequest {
            change: change.into(),
            rules: names.rules,
            staged_for_seconds: period.as_secs().max(1),
        })
        .await
        .map_err(|s| refused(node, s))?
        .into_inner();
    if change == RuleChange::Stage && !reply.staging_enabled {
        eprintln!(
            "note: the running config does not enable rule staging (conf/global.json \
             infrastructure.rule_staging.enabled), so staged rules still alert to their outputs"
        );
    }
    if names.json {
        let rules: Vec<Value> = reply.rules.iter().map(as_json).collect();
        println!("{}", serde_json::to_string_pretty(&rules)?);
    } else {
        for rule in &reply.rules {
            match change {
                RuleChange::Stage => {
                    println!("{done} {} until {}", rule.name, rule.staged_until)
                }
                _ => println!("{done} {}", rule.name),
            }
        }
    }
    Ok(())
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

fn as_json(rule: &RuleState) -> Value {
    json!({
        "name": rule.name,
        "staged": rule.staged,
        "staged_at": (!rule.staged_at.is_empty()).then_some(&rule.staged_at),
        "staged_until": (!rule.staged_until.is_empty()).then_some(&rule.staged_until),
        "staged_alerts": rule.staged_alerts,
        "disabled": rule.disabled,
        "in_config": rule.in_config,
    })
}

fn print_table(rules: &[&RuleState]) {
    let width = rules
        .iter()
        .map(|rule| rule.name.len())
        .max()
        .unwrap_or(0)
        .max(4);
    println!(
        "{:<width$}  {:<8}  {:<27}  {:>13}  NOTE",
        "RULE", "STATE", "STAGED UNTIL", "STAGED ALERTS"
    );
    for rule in rules {
        let state = match (rule.disabled, rule.staged) {
            (true, _) => "disabled",
            (false, true) => "staged",
            (false, false) => "live",
        };
        let note = if rule.in_config {
            ""
        } else {
            "not in the running config"
        };
        println!(
            "{:<width$}  {:<8}  {:<27}  {:>13}  {note}",
            rule.name,
            state,
            if rule.staged { &rule.staged_until } else { "-" },
            rule.staged_alerts,
        );
    }
}
