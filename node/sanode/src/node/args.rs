//! `sanode`'s command line. Every flag can also come from an `SA_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

use crate::logging::LogFormat;

/// sa node daemon: classifies logs, runs detection rules and delivers alerts, as one peer of a
/// cluster. With no flags it starts the embedded default: a single-node cluster in ./data with
/// the repository's conf/ and rules/, serving on loopback.
#[derive(Debug, Clone, Parser)]
#[command(name = "sanode", version, about, long_about = None)]
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
