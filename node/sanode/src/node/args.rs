//! `sanode`'s command line. Every flag can also come from an `SA_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::logging::LogFormat;

/// `sanode --help` reads like a man page: NAME, SYNOPSIS, DESCRIPTION, the OPTIONS with the
/// variable each reads, then (long help only) ENVIRONMENT, FILES and EXIT STATUS.
const HELP_TEMPLATE: &str = "\
NAME
    {name} - {about}

SYNOPSIS
    {usage}

DESCRIPTION
    sanode classifies logs against StreamAlert schemas, runs Python detection rules and
    delivers their alerts, as one peer of a cluster that keeps its state in Raft-replicated
    RocksDB. With no options it starts the embedded default: a one-node cluster in ./data
    running ./conf and ./rules, serving on loopback with a CA and certificates it makes
    itself. A node with --join becomes a member of an existing cluster; a restarted node
    resumes from its data dir. SIGTERM and SIGINT stop it cleanly.

OPTIONS
{options}{after-help}";

const MANUAL: &str = "\
ENVIRONMENT
    SA_*            Every option above also reads the variable shown beside it; the command
                    line wins. The Debian package's systemd unit passes those set in
                    /etc/sa/sanode.env.
    VIRTUAL_ENV     The default of --python-env.
    AWS_REGION, AWS_PROFILE, AWS_ACCESS_KEY_ID, ...
                    The AWS SDK's usual chain (environment, ~/.aws, instance role) for the
                    Kinesis and S3 sources and the AWS outputs.
    SA_AWS_ENDPOINT One endpoint for every AWS service (a stand-in such as LocalStack).
    NOTIFY_SOCKET, WATCHDOG_USEC
                    Set by systemd for Type=notify: the node says READY=1 once it serves as a
                    member, STOPPING=1 when it stops, and pings the watchdog at half
                    WATCHDOG_USEC while healthy (as GET /healthz answers 200).

FILES
    <data-dir>/node_id, state/, snapshot/
                    This node's Raft id, the replicated state (RocksDB) and its snapshots.
    <data-dir>/certs/
                    ca.crt, node.crt, node.key and, on a first start on loopback, admin.crt
                    (--certs-dir).
    <data-dir>/secrets.key, data-keys/
                    This node's own key and the cluster's data key sealed under it.
    <data-dir>/alerts.jsonl
                    Every alert, one JSON object a line.
    <data-dir>/bundles/
                    The pushed config bundles this node runs.
    /etc/sa/sanode.env
                    The Debian package's settings, read by sanode.service.
    /var/lib/sa     The Debian package's data dir.
    /usr/share/sa/conf, /usr/share/sa/rules
                    The configuration and rules the Debian package starts with.

EXIT STATUS
    0   Stopped by SIGTERM or SIGINT after a clean shutdown.
    1   The node failed; its last log line says why.
    2   The command line or the log settings were wrong.

SEE ALSO
    sactl --help; README.md and docs/ (operations.md, cluster.md, security.md) in the sa
    repository.
";

#[derive(Debug, Clone, Parser)]
#[command(
    name = "sanode",
    version,
    about = "the sa node daemon, one peer of a detection cluster",
    help_template = HELP_TEMPLATE,
    after_help = "ENVIRONMENT, FILES and EXIT STATUS: sanode --help",
    after_long_help = MANUAL,
)]
pub struct NodeArgs {
    /// Directory holding this node's identity, RocksDB state and source offsets.
    #[arg(long, env = "SA_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,

    /// Address the gRPC services (cluster, admin, alerts, ingest, and raft unless --peer-addr
    /// gives peers their own) listen on.
    #[arg(long, env = "SA_GRPC_ADDR", default_value = "127.0.0.1:7710")]
    pub grpc_addr: SocketAddr,

    /// Address the HTTP server (/healthz, /metrics, /v1/ingest) listens on.
    #[arg(long, env = "SA_HTTP_ADDR", default_value = "127.0.0.1:7780")]
    pub http_addr: SocketAddr,

    /// gRPC address other nodes and sactl should use to reach this node
    /// [default: the bound --grpc-addr].
    #[arg(long, env = "SA_ADVERTISE_ADDR")]
    pub advertise_addr: Option<String>,

    /// A listener of its own for traffic between nodes (Raft, joins, the data key), so the
    /// operators' --grpc-addr can be firewalled apart; Raft is then served only here, and other
    /// nodes --join this address.
    #[arg(long, env = "SA_PEER_ADDR")]
    pub peer_addr: Option<SocketAddr>,

    /// Address other nodes should use to reach --peer-addr [default: the bound --peer-addr].
    #[arg(long, env = "SA_ADVERTISE_PEER_ADDR", requires = "peer_addr")]
    pub advertise_peer_addr: Option<String>,

    /// Directory with this node's certificates: ca.crt, node.crt, node.key (and ca.key where
    /// certificates are issued) [default: <data-dir>/certs]. A first start on loopback with
    /// none creates a CA, the node's certificate and an admin client certificate there.
    #[arg(long, env = "SA_CERTS_DIR")]
    pub certs_dir: Option<PathBuf>,

    /// Serve gRPC and HTTP in plaintext, with no authentication: anyone who reaches the ports
    /// can join the cluster, push rules (code) and read alerts. Loopback only, unless
    /// --insecure-non-loopback is given too.
    #[arg(long, env = "SA_INSECURE")]
    pub insecure: bool,

    /// How often the node looks for renewed certificate files (it swaps them in without a
    /// restart).
    #[arg(long, env = "SA_CERT_RELOAD_INTERVAL", default_value = "30s", value_parser = humantime::parse_duration)]
    pub cert_reload_interval: std::time::Duration,

    /// Allow --insecure on addresses other than loopback.
    #[arg(long, env = "SA_INSECURE_NON_LOOPBACK", requires = "insecure")]
    pub insecure_non_loopback: bool,

    /// StreamAlert conf/ directory used until a config bundle is pushed to the cluster.
    #[arg(long, env = "SA_CONFIG_DIR", default_value = "conf")]
    pub config_dir: PathBuf,

    /// StreamAlert rules/ directory used until a config bundle is pushed to the cluster.
    #[arg(long, env = "SA_RULES_DIR", default_value = "rules")]
    pub rules_dir: PathBuf,

    /// gRPC address of any member of an existing cluster to join (empty data dir only).
    #[arg(long, env = "SA_JOIN")]
    pub join: Option<String>,

    /// Join token from `sactl join-token create`: with no node certificate in --certs-dir, the
    /// node makes its key, checks that the --join member belongs to the cluster the token
    /// names (its CA fingerprint) and has its certificate signed there.
    #[arg(
        long,
        env = "SA_JOIN_TOKEN",
        requires = "join",
        conflicts_with = "insecure"
    )]
    pub join_token: Option<String>,

    /// Raft node id to use on first start [default: random]; must match the data dir afterwards.
    #[arg(long, env = "SA_NODE_ID")]
    pub node_id: Option<u64>,

    /// Log filter: a level (error, warn, info, debug, trace) or tracing directives.
    #[arg(long, env = "SA_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Log lines as text, or as one JSON object each.
    #[arg(long, env = "SA_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,

    /// Snapshot the replicated state (and later drop the older Raft log) every N entries.
    #[arg(long, env = "SA_SNAPSHOT_AFTER_LOGS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(10..))]
    pub snapshot_after_logs: u64,

    /// Do not print alerts on stdout (they still go to <data-dir>/alerts.jsonl).
    #[arg(long, env = "SA_QUIET_ALERTS")]
    pub quiet_alerts: bool,

    /// Python virtual environment whose site-packages rules may import from
    /// [default: $VIRTUAL_ENV].
    #[arg(long, env = "SA_PYTHON_ENV")]
    pub python_env: Option<PathBuf>,

    /// Threads classifying batches in parallel [default: the number of cores less one, which
    /// the rules thread needs for itself; at least one].
    #[arg(long, env = "SA_CLASSIFIER_THREADS", value_parser = clap::value_parser!(u16).range(1..))]
    pub classifier_threads: Option<u16>,

    #[command(flatten)]
    pub alerts: crate::alerts::args::AlertArgs,

    #[command(flatten)]
    pub sources: crate::sources::SourceArgs,

    /// How often the leader promotes staged rules whose staging window ended without an alert
    /// (when conf/lambda.json enables `rule_promotion_config`).
    #[arg(long, env = "SA_RULE_PROMOTION_INTERVAL", default_value = "1m", value_parser = humantime::parse_duration)]
    pub rule_promotion_interval: std::time::Duration,

    /// Give rules whole records. By default each log type's records reach Python with only the
    /// top-level keys its rules can read, as found from their source (docs/compat.md); this
    /// turns that off.
    #[arg(long, env = "SA_RULES_WHOLE_RECORDS")]
    pub rules_whole_records: bool,

    /// CPU time a pushed bundle's check (importing every rule) may use.
    #[arg(long, env = "SA_BUNDLE_CHECK_CPU", default_value = "60s", value_parser = humantime::parse_duration)]
    pub bundle_check_cpu: std::time::Duration,

    /// Memory (heap) a pushed bundle's check may use, in MiB.
    #[arg(long, env = "SA_BUNDLE_CHECK_MEMORY_MIB", default_value_t = 2048,
          value_parser = clap::value_parser!(u64).range(256..))]
    pub bundle_check_memory_mib: u64,

    /// Wall-clock time a pushed bundle's check may take.
    #[arg(long, env = "SA_BUNDLE_CHECK_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub bundle_check_timeout: std::time::Duration,

    /// Internal: load the repository at DIR (config and rules), report problems, and exit.
    /// The node runs this in a child process to validate a pushed config bundle.
    #[arg(long, hide = true, value_name = "DIR")]
    pub check_repository: Option<PathBuf>,
}

impl NodeArgs {
    pub fn bundle_check_limits(&self) -> super::bundle_check::CheckLimits {
        super::bundle_check::CheckLimits {
            cpu: self.bundle_check_cpu,
            memory_bytes: self.bundle_check_memory_mib << 20,
            wall: self.bundle_check_timeout,
        }
    }

    /// Every address the node listens on or advertises (HOST:PORT), for its certificate's names.
    pub fn served_addresses(&self) -> Vec<String> {
        [
            self.advertise_addr.clone(),
            Some(self.grpc_addr.to_string()),
            Some(self.http_addr.to_string()),
            self.peer_addr.map(|addr| addr.to_string()),
            self.advertise_peer_addr.clone(),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    pub fn certs_dir(&self) -> PathBuf {
        self.certs_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("certs"))
    }

    pub fn classifier_threads(&self) -> usize {
        self.classifier_threads.map_or_else(
            || {
                std::thread::available_parallelism()
                    .map_or(1, |cores| cores.get().saturating_sub(1).max(1))
            },
            usize::from,
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use clap::{CommandFactory, Parser};

    use super::NodeArgs;

    /// deploy/systemd/sanode.env, which the Debian package installs as /etc/sa/sanode.env.
    const ENV_FILE: &str = include_str!("../../../../deploy/systemd/sanode.env");

    /// Variables the file may name that are no option of sanode's (read by the AWS SDK and sa-aws).
    const NOT_OPTIONS: [&str; 2] = ["AWS_REGION", sa_aws::ENDPOINT_ENV];

    /// The file's `NAME=value` lines, commented out (`#NAME=value`) or not.
    fn entries() -> BTreeMap<&'static str, (bool, &'static str)> {
        let mut entries = BTreeMap::new();
        for line in ENV_FILE.lines() {
            let (active, setting) = match line.strip_prefix('#') {
                Some(rest) => (false, rest),
                None => (true, line),
            };
            let Some((name, value)) = setting.split_once('=') else {
                continue;
            };
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                assert!(
                    entries.insert(name, (active, value)).is_none(),
                    "{name} is twice in the env file"
                );
            }
        }
        entries
    }

    #[test]
    fn the_env_file_names_every_option_with_its_default() {
        let mut entries = entries();
        let mut command = NodeArgs::command();
        // Building gives flags their implicit default (false).
        command.build();
        for arg in command.get_arguments().filter(|arg| !arg.is_hide_set()) {
            let Some(env) = arg.get_env() else { continue };
            let env = env.to_str().unwrap();
            let (active, value) = entries.remove(env).unwrap_or_else(|| {
                panic!(
                    "deploy/systemd/sanode.env lacks {env} (--{}): add it, commented out with its default",
                    arg.get_long().unwrap()
                )
            });
            let default: Vec<_> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_str().unwrap())
                .collect();
            if !active {
                assert_eq!(
                    value,
                    default.join(","),
                    "the default of {env} in the env file"
                );
            }
        }
        for name in NOT_OPTIONS {
            entries.remove(name);
        }
        assert!(
            entries.is_empty(),
            "the env file names variables sanode does not read (or only hidden options): {entries:?}"
        );
    }

    #[test]
    fn the_env_file_settings_make_a_valid_command_line() {
        let command = NodeArgs::command();
        let mut argv = vec!["sanode".to_string()];
        for (name, (active, value)) in entries() {
            if !active {
                continue;
            }
            let arg = command
                .get_arguments()
                .find(|arg| arg.get_env().is_some_and(|env| env == name))
                .unwrap_or_else(|| panic!("{name} is set but is no option's variable"));
            argv.push(format!("--{}={value}", arg.get_long().unwrap()));
        }
        assert!(argv.len() > 1, "the package sets its paths in the env file");
        NodeArgs::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
    }
}
