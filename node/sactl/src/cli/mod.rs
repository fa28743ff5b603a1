//! `sactl`: the admin CLI. Each command is one module and one registry entry; `main` maps
//! failures to exit codes.

mod connect;

use clap::{Parser, Subcommand};

pub use connect::{ConnectError, NoCredentials, NodeUnreachable, Target};

/// `sactl --help` reads like a man page: NAME, SYNOPSIS, DESCRIPTION, COMMANDS, the OPTIONS
/// with the variable each reads, then (long help only) ENVIRONMENT, FILES and EXIT STATUS.
/// Commands keep clap's own layout (`sactl help status`).
const HELP_TEMPLATE: &str = "\
NAME
    {name} - {about}

SYNOPSIS
    {usage}

DESCRIPTION
    sactl inspects and operates an sa cluster through any of its members (--node), and tests
    a StreamAlert repository offline. It calls the node over mutual TLS with the client
    certificate of its certificates directory; writes are forwarded to the Raft leader.
    `sactl help COMMAND` describes a command.

COMMANDS
{subcommands}

OPTIONS
{options}{after-help}";

const MANUAL: &str = "\
ENVIRONMENT
    SA_*            Every option above also reads the variable shown beside it; the command
                    line wins.
    VIRTUAL_ENV     The default of --python-env (config validate|push, test rules, bench rules).

FILES
    ./data/certs/, ~/.config/sa/certs/
                    Where ca.crt and admin.crt/admin.key are looked for, in this order, when
                    neither --certs-dir nor SA_CERTS_DIR names a directory.

EXIT STATUS
    0   Success.
    1   The command ran and found problems (failed tests, a refused bundle, a missing key).
    2   No node answered, or the usage was wrong.

SEE ALSO
    sanode --help; README.md and docs/ (operations.md, cluster.md, security.md) in the sa
    repository.
";

/// sa admin CLI: inspect and operate an sa cluster, and test a StreamAlert repository offline.
#[derive(Debug, Parser)]
#[command(
    name = "sactl",
    version,
    about = "the sa admin CLI",
    long_about = None,
    help_template = HELP_TEMPLATE,
    after_help = "ENVIRONMENT, FILES and EXIT STATUS: sactl --help",
    after_long_help = MANUAL,
)]
pub struct Cli {
    /// gRPC address of any cluster member.
    #[arg(long, global = true, env = "SA_NODE", default_value = "127.0.0.1:7710")]
    pub node: String,

    /// Directory holding ca.crt and the client certificate (admin.crt/admin.key unless --cert
    /// and --key say otherwise) [default: ./data/certs, then ~/.config/sa/certs].
    #[arg(long, global = true, env = "SA_CERTS_DIR")]
    pub certs_dir: Option<std::path::PathBuf>,

    /// Client certificate to present instead of admin.crt.
    #[arg(
        long = "cert",
        id = "client_cert",
        global = true,
        env = "SA_CERT",
        requires = "client_key"
    )]
    pub client_cert: Option<std::path::PathBuf>,

    /// Key of --cert.
    #[arg(
        long = "key",
        id = "client_key",
        global = true,
        env = "SA_KEY",
        requires = "client_cert"
    )]
    pub client_key: Option<std::path::PathBuf>,

    /// Talk plaintext, to a node started with --insecure.
    #[arg(long, global = true, env = "SA_INSECURE")]
    pub insecure: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// The command registry: a command is a module with its clap arguments and
/// `pub async fn run(node: &Target, args) -> anyhow::Result<()>` (`node` is `--node` with the
/// credentials to call it; offline commands ignore it), and one entry here, whose doc comment is its help line.
mod table;

macro_rules! commands {
    ($( $(#[$attr:meta])* $variant:ident($module:ident::$args:ident) ),+ $(,)?) => {
        $(mod $module;)+

        #[derive(Debug, Subcommand)]
        pub enum Command {
            $( $(#[$attr])* $variant($module::$args), )+
        }

        impl Command {
            async fn run(self, node: &Target) -> anyhow::Result<()> {
                match self {
                    $( Command::$variant(args) => $module::run(node, args).await, )+
                }
            }
        }
    };
}

commands! {
    /// Test a StreamAlert repository offline (no cluster needed).
    #[command(subcommand)]
    Test(test::TestCommand),
    /// Measure the engine's speed on this machine.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Show the node's id, address, version, uptime and Raft role.
    Status(status::StatusArgs),
    /// List every cluster member with its role, applied index, config version and health.
    Nodes(nodes::NodesArgs),
    /// Remove a member from the cluster.
    RemoveNode(remove_node::RemoveNodeArgs),
    /// Validate, push, show or diff the cluster's config bundle.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// The rule table: list rules with their state, stage, promote, disable and enable them.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// Read and write the cluster's lookup tables.
    #[command(subcommand)]
    LookupTables(lookup_tables::LookupTablesCommand),
    /// Send records (a file or stdin, one per line) to an ingest source.
    Send(send::SendArgs),
    /// Committed alerts and their delivery: list, show, resend.
    #[command(subcommand)]
    Alerts(alerts::AlertsCommand),
    /// Where alerts go: list outputs, set their settings, send a test alert.
    #[command(subcommand)]
    Outputs(outputs::OutputsCommand),
    /// Alerts no output accepted and records no schema matched: list, replay.
    #[command(subcommand)]
    DeadLetters(dead_letters::DeadLettersCommand),
    /// Output credentials at rest: rotate the cluster's data key.
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// Make join tokens, with which new nodes get their certificates from the cluster.
    #[command(subcommand)]
    JoinToken(join_token::JoinTokenCommand),
    /// The audit trail: who changed what, when, and how it went.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Bearer tokens for automation: make and revoke them.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Make and inspect the cluster's certificates: CA, nodes, clients.
    #[command(subcommand)]
    Certs(certs::CertsCommand),
}

/// Exit codes scripts can rely on.
pub mod exit {
    /// The command ran and found problems (failed tests, invalid config).
    pub const FAILED: u8 = 1;
    /// No node answered, or the command line was wrong.
    pub const UNREACHABLE: u8 = 2;
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let credentials = if cli.insecure {
        connect::Credentials::Plaintext
    } else {
        connect::Credentials::Tls {
            certs_dir: cli.certs_dir,
            cert: cli.client_cert,
            key: cli.client_key,
        }
    };
    cli.command.run(&Target::new(cli.node, credentials)).await
}
