//! `sactl`: the admin CLI. Each subcommand is one module; `main` maps failures to exit codes.

mod alerts;
mod bench;
mod bench_rules;
mod config;
mod connect;
mod dead_letters;
mod lookup_tables;
mod nodes;
mod outputs;
mod rules;
mod send;
mod status;
mod test_classifier;
mod test_rules;

use clap::{Parser, Subcommand};

pub use connect::NodeUnreachable;

/// sa admin CLI: inspect and operate an sa cluster, and test a StreamAlert repository offline.
#[derive(Debug, Parser)]
#[command(name = "sactl", version, about, long_about = None)]
pub struct Cli {
    /// gRPC address of any cluster member.
    #[arg(long, global = true, env = "SA_NODE", default_value = "127.0.0.1:7710")]
    pub node: String,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Test a StreamAlert repository offline (no cluster needed).
    Test {
        #[command(subcommand)]
        command: TestCommand,
    },
    /// Measure the engine's speed on this machine.
    Bench {
        #[command(subcommand)]
        command: bench::BenchCommand,
    },
    /// Show the node's id, address, version, uptime and Raft role.
    Status(status::StatusArgs),
    /// List every cluster member with its role, applied index, config version and health.
    Nodes(nodes::NodesArgs),
    /// Remove a member from the cluster.
    RemoveNode(nodes::RemoveNodeArgs),
    /// Validate, push, show or diff the cluster's config bundle.
    Config {
        #[command(subcommand)]
        command: config::ConfigCommand,
    },
    /// The rule table: list rules with their state, stage, promote, disable and enable them.
    Rules {
        #[command(subcommand)]
        command: rules::RulesCommand,
    },
    /// Read and write the cluster's lookup tables.
    LookupTables {
        #[command(subcommand)]
        command: lookup_tables::LookupTablesCommand,
    },
    /// Send records (a file or stdin, one per line) to an ingest source.
    Send(send::SendArgs),
    /// Committed alerts and their delivery: list, show, resend.
    Alerts {
        #[command(subcommand)]
        command: alerts::AlertsCommand,
    },
    /// Where alerts go: list outputs, set their settings, send a test alert.
    Outputs {
        #[command(subcommand)]
        command: outputs::OutputsCommand,
    },
    /// Alerts no output accepted and records no schema matched: list, replay.
    DeadLetters {
        #[command(subcommand)]
        command: dead_letters::DeadLettersCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum TestCommand {
    /// Run every test event through the classifier; exit 1 if any is misclassified.
    Classifier(test_classifier::TestClassifierArgs),
    /// Run every test event through the classifier and the rules (docs/spec §15); exit 1 on any failure.
    Rules(test_rules::TestRulesArgs),
}

/// Exit codes scripts can rely on.
pub mod exit {
    /// The command ran and found problems (failed tests, invalid config).
    pub const FAILED: u8 = 1;
    /// No node answered, or the command line was wrong.
    pub const UNREACHABLE: u8 = 2;
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Test {
            command: TestCommand::Classifier(args),
        } => test_classifier::run(args),
        Command::Test {
            command: TestCommand::Rules(args),
        } => test_rules::run(args),
        Command::Bench { command } => bench::run(command),
        Command::Status(args) => status::run(&cli.node, args).await,
        Command::Nodes(args) => nodes::run(&cli.node, args).await,
        Command::RemoveNode(args) => nodes::remove(&cli.node, args).await,
        Command::Config { command } => config::run(&cli.node, command).await,
        Command::LookupTables { command } => lookup_tables::run(&cli.node, command).await,
        Command::Rules { command } => rules::run(&cli.node, command).await,
        Command::Send(args) => send::run(&cli.node, args).await,
        Command::Alerts { command } => alerts::run(&cli.node, command).await,
        Command::Outputs { command } => outputs::run(&cli.node, command).await,
        Command::DeadLetters { command } => dead_letters::run(&cli.node, command).await,
    }
}
