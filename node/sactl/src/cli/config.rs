//! `sactl config validate|push|show|diff`: config bundles of a StreamAlert repository.

use super::Target;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use sa_proto::admin::v1::admin_client::AdminClient;
use sa_proto::admin::v1::{GetConfigRequest, PushConfigRequest};
use serde_json::json;
use tonic::transport::Channel;

use super::connect::{self, NodeUnreachable};
use sa_repository::ConfigBundle;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check a repository locally: schemas and clusters load, every rule imports.
    Validate(ValidateArgs),
    /// Validate a repository, then make it the cluster's config (every node hot-reloads it).
    Push(PushArgs),
    /// Show the active config bundle (or --version N): version, checksum, files.
    Show(ShowArgs),
    /// Compare a repository with the cluster's active config.
    Diff(DiffArgs),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Repository root holding conf/ and rules/ (and matchers/, publishers/ when present).
    pub dir: PathBuf,
    /// Also run the repository's rule tests (`sactl test rules`).
    #[arg(long)]
    pub run_tests: bool,
    /// Python environment (a virtualenv) whose packages rules import (default: $VIRTUAL_ENV).
    #[arg(long, env = "SA_PYTHON_ENV")]
    pub python_env: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct PushArgs {
    pub dir: PathBuf,
    /// Run the repository's rule tests first and refuse to push if any fails.
    #[arg(long)]
    pub run_tests: bool,
    /// Add rules new to the cluster unstaged, even with `rule_staging` enabled (docs/spec §9.11).
    #[arg(long)]
    pub skip_rule_staging: bool,
    /// Stage these rules (restaging restarts their 48-hour window).
    #[arg(long, num_args = 1.., value_name = "RULE")]
    pub stage_rules: Vec<String>,
    /// Unstage these rules: their alerts go to their outputs again.
    #[arg(long, num_args = 1.., value_name = "RULE")]
    pub unstage_rules: Vec<String>,
    /// Python environment (a virtualenv) whose packages rules import (default: $VIRTUAL_ENV);
    /// the nodes check the bundle with their own `--python-env`.
    #[arg(long, env = "SA_PYTHON_ENV")]
    pub python_env: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A past version instead of the active one.
    #[arg(long, default_value_t = 0)]
    pub version: u64,
    /// List every file with its checksum.
    #[arg(long)]
    pub files: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    pub dir: PathBuf,
    #[arg(long)]
    pub json: bool,
}

/// The repository failed validation; `main` turns this into exit status 1.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

pub async fn run(node: &Target, command: ConfigCommand) -> anyhow::Result<()> {
    match command {
        ConfigCommand::Validate(args) => {
            let rules = validate(&args.dir, args.run_tests, args.python_env.clone())?;
            println!("{}: valid ({rules} rules)", args.dir.display());
            Ok(())
        }
        ConfigCommand::Push(args) => {
            validate(&args.dir, args.run_tests, args.python_env.clone())?;
            let bundle = ConfigBundle::collect(&args.dir)?;
            let files = bundle.files.len();
            let mut client = admin(node).await?;
            let reply = client
                .push_config(PushConfigRequest {
                    bundle: serde_json::to_vec(&bundle)?,
                    skip_rule_staging: args.skip_rule_staging,
                    stage_rules: args.stage_rules,
                    unstage_rules: args.unstage_rules,
                })
                .await
                .map_err(|status| refused(node, status))?
                .into_inner();
            println!(
                "pushed config v{} ({files} files, checksum {})",
                reply.version,
                &reply.checksum[..12]
            );
            if !reply.staged_rules.is_empty() {
                println!(
                    "staged (alerts go only to the alerts firehose until promoted): {}",
                    reply.staged_rules.join(", ")
                );
            }
            Ok(())
        }
        ConfigCommand::Show(args) => {
            let bundle = fetch(node, args.version).await?;
            let Some(bundle) = bundle else {
                println!("no config bundle pushed yet: nodes run their local conf/ and rules/");
                return Ok(());
            };
            if args.json {
                let files: serde_json::Map<_, _> = bundle
                    .files
                    .iter()
                    .map(|(path, file)| (path.clone(), json!(file.sha256)))
                    .collect();
                let show = json!({"version": bundle.version, "checksum": bundle.checksum(), "files": files});
                println!("{}", serde_json::to_string_pretty(&show)?);
                return Ok(());
            }
            println!("version   v{}", bundle.version);
            println!("checksum  {}", bundle.checksum());
            println!("files     {}", bundle.files.len());
            if args.files {
                for (path, file) in &bundle.files {
                    println!("  {}  {path}", &file.sha256[..12]);
                }
            }
            Ok(())
        }
        ConfigCommand::Diff(args) => {
            let local = ConfigBundle::collect(&args.dir)?;
            let active = fetch(node, 0).await?.unwrap_or_default();
            let diff = active.diff(&local);
            if args.json {
                println!("{}", serde_json::to_string_pretty(&diff)?);
            } else if diff.is_empty() {
                println!(
                    "{} matches the active config v{}",
                    args.dir.display(),
                    active.version
                );
            } else {
                for path in &diff.added {
                    println!("+ {path}");
                }
                for path in &diff.removed {
                    println!("- {path}");
                }
                for path in &diff.changed {
                    println!("~ {path}");
                }
            }
            Ok(())
        }
    }
}

/// Loads the repository in this process (config, then every rule, importing packages from
/// `python_env`) and optionally runs its tests.
fn validate(
    dir: &std::path::Path,
    run_tests: bool,
    python_env: Option<PathBuf>,
) -> anyhow::Result<usize> {
    let env = sa_rules::PythonEnv::resolve(python_env.clone());
    let rules = sa_repository::check_repository(dir, &env)
        .map_err(|e| Invalid(format!("{e:#}")))?
        .rules
        .len();
    if run_tests {
        let request = sa_rules::test_runner::TestRulesRequest {
            repo: Some(dir.to_path_buf()),
            python_env,
            ..Default::default()
        };
        let (report, failed) =
            sa_rules::test_runner::execute(&request).map_err(|e| Invalid(e.to_string()))?;
        if failed {
            print!("{report}");
            return Err(Invalid(format!("{}: rule tests failed", dir.display())).into());
        }
    }
    Ok(rules)
}

async fn admin(node: &Target) -> anyhow::Result<AdminClient<Channel>> {
    Ok(connect::admin(node).await?)
}

async fn fetch(node: &Target, version: u64) -> anyhow::Result<Option<ConfigBundle>> {
    let reply = admin(node)
        .await?
        .get_config(GetConfigRequest { version })
        .await
        .map_err(|status| refused(node, status))?
        .into_inner();
    if reply.bundle.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        serde_json::from_slice(&reply.bundle).context("the node sent an undecodable bundle")?,
    ))
}

/// A gRPC error as sactl reports it: unreachable nodes exit 2, refusals exit 1.
pub fn refused(node: &str, status: tonic::Status) -> anyhow::Error {
    match status.code() {
        tonic::Code::Unavailable if status.message().contains("connect") => NodeUnreachable {
            addr: node.to_string(),
            reason: status.message().to_string(),
        }
        .into(),
        tonic::Code::InvalidArgument | tonic::Code::NotFound | tonic::Code::FailedPrecondition => {
            Invalid(status.message().to_string()).into()
        }
        _ => anyhow::anyhow!("{}", status.message()),
    }
}
