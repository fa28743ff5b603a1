//! What a starting node tells the person who started it, in a few plain lines (README.md, "What
//! the first command shows"): where its data is, what it reads and does not, where alerts go, and
//! the commands that send a record and set an output, written for this node's addresses and
//! certificates so they can be pasted as they are.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use sa_engine::config::Cluster;
use sa_engine::service;
use sa_outputs::{OutputName, credential_properties};
use sa_raft::Replica;
use sa_rules::FIREHOSE_OUTPUT;

use super::NodeArgs;
use crate::alerts::dispatcher::Deliverer;
use crate::logging::LogFormat;
use crate::pipeline::Detection;

/// What the summary is made of, gathered by the node as it starts.
pub struct StartSummary {
    pub node_id: u64,
    /// How the node becomes a member: "starts a new cluster", "joins ...", "resumes ...".
    pub membership: String,
    pub data_dir: PathBuf,
    /// Where the config came from when it is the local one (`--config-dir`); none for a bundle.
    pub config_dir: Option<PathBuf>,
    pub clusters: Vec<Cluster>,
    pub s3_queues: Vec<String>,
    /// The alert log, when every alert goes there (no real alerts Firehose is configured).
    pub alert_log: Option<PathBuf>,
    pub alerts_on_stdout: bool,
    /// Every output a rule may name, with what it still needs.
    pub outputs: Vec<(String, OutputNeeds)>,
    /// The start of every `sactl` command for this node (address, credentials).
    pub sactl: String,
    /// Where `sactl` is when it is not on PATH.
    pub sactl_dir: Option<String>,
    /// How `curl` reaches the HTTP ingest: certificate flags and URL scheme; none when no
    /// admin client certificate is at hand.
    pub curl: Option<(String, &'static str)>,
    pub http_addr: SocketAddr,
}

/// What an output needs before it delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputNeeds {
    /// Required settings nobody has set yet (`sactl outputs set`).
    Settings(Vec<&'static str>),
    /// AWS credentials from the node's environment.
    AwsCredentials,
    Nothing,
}

impl StartSummary {
    /// The lines, in order.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "sanode {}: node {} {}; ctrl-c stops it",
            env!("CARGO_PKG_VERSION"),
            self.node_id,
            self.membership
        )];
        lines.push(format!(
            "  data     {} (replicated state, certificates, file offsets)",
            dir(&self.data_dir)
        ));
        let (reads, off) = self.sources();
        for (i, line) in reads.iter().enumerate() {
            lines.push(format!(
                "  {} {line}",
                if i == 0 { "reads   " } else { "        " }
            ));
        }
        for (i, line) in off.iter().enumerate() {
            lines.push(format!(
                "  {} {line}",
                if i == 0 { "not read" } else { "        " }
            ));
        }
        for (i, line) in self.alerts().iter().enumerate() {
            lines.push(format!(
                "  {} {line}",
                if i == 0 { "alerts  " } else { "        " }
            ));
        }
        for (i, line) in self.send().iter().enumerate() {
            lines.push(format!(
                "  {} {line}",
                if i == 0 { "send    " } else { "        " }
            ));
        }
        lines.push(format!("  outputs  {}", self.set_output()));
        if let Some(dir) = &self.sactl_dir {
            lines.push(format!(
                "  sactl    is not on PATH: export PATH=\"{dir}:$PATH\""
            ));
        }
        lines
    }

    /// Plain lines on stderr for a person; with `--log-format json`, one log event per line so
    /// the stream stays JSON.
    pub fn print(&self, format: LogFormat) {
        for line in self.lines() {
            match format {
                LogFormat::Text => eprintln!("{line}"),
                LogFormat::Json => tracing::info!("{line}"),
            }
        }
    }

    /// The resources of `service` in the clusters whose `service` nodes read, with the log
    /// names each carries, in file order.
    fn read(&self, service: &str) -> Vec<(&Cluster, &str, &[String])> {
        self.clusters
            .iter()
            .filter(|cluster| cluster.reads(service))
            .flat_map(|cluster| {
                cluster
                    .data_sources
                    .iter()
                    .filter(move |(name, _)| name == service)
                    .flat_map(move |(_, resources)| {
                        resources
                            .iter()
                            .map(move |(resource, logs)| (cluster, resource.as_str(), &logs[..]))
                    })
            })
            .collect()
    }

    /// What the node reads, and what its config names that it does not read.
    fn sources(&self) -> (Vec<String>, Vec<String>) {
        let mut reads = Vec::new();
        let files = self.read(service::FILE);
        if !files.is_empty() {
            reads.push(files_line(&files));
        }
        let ingest = names(self.read(service::HTTP).iter().map(|(_, r, _)| *r));
        if !ingest.is_empty() {
            reads.push(format!("HTTP and gRPC ingest, sources {ingest}"));
        }
        let streams = names(self.read(service::KINESIS).iter().map(|(_, r, _)| *r));
        if !streams.is_empty() {
            reads.push(format!(
                "Kinesis streams {streams}, with this node's AWS credentials"
            ));
        }
        for queue in &self.s3_queues {
            reads.push(format!("S3 objects announced on {queue}"));
        }
        let mut off = Vec::new();
        for cluster in &self.clusters {
            let has = |service: &str| {
                cluster
                    .data_sources
                    .iter()
                    .any(|(s, r)| s == service && !r.is_empty())
            };
            if has(service::KINESIS) && !cluster.reads(service::KINESIS) {
                let file = match &self.config_dir {
                    Some(conf) => format!(
                        " in {}",
                        conf.join("clusters")
                            .join(format!("{}.json", cluster.name))
                            .display()
                    ),
                    None => String::new(),
                };
                off.push(format!(
                    "cluster {}'s Kinesis streams: modules.kinesis_events.enabled is false{file}",
                    cluster.name
                ));
            }
            if has(service::S3) && self.s3_queues.is_empty() {
                off.push(format!(
                    "cluster {}'s S3 buckets: no --s3-queue gives the queue of their notifications",
                    cluster.name
                ));
            }
        }
        (reads, off)
    }

    fn alerts(&self) -> Vec<String> {
        let mut lines = vec![match &self.alert_log {
            Some(log) if self.alerts_on_stdout => {
                format!(
                    "each one to {} and stdout, then to its rule's outputs:",
                    log.display()
                )
            }
            Some(log) => format!("each one to {}, then to its rule's outputs:", log.display()),
            None => "each one to the alerts Firehose, then to its rule's outputs:".into(),
        }];
        let unset: Vec<&str> = self
            .outputs
            .iter()
            .filter(|(_, needs)| matches!(needs, OutputNeeds::Settings(_)))
            .map(|(name, _)| name.as_str())
            .collect();
        let aws: Vec<&str> = self
            .outputs
            .iter()
            .filter(|(_, needs)| *needs == OutputNeeds::AwsCredentials)
            .map(|(name, _)| name.as_str())
            .collect();
        let ready: Vec<&str> = self
            .outputs
            .iter()
            .filter(|(_, needs)| *needs == OutputNeeds::Nothing)
            .map(|(name, _)| name.as_str())
            .collect();
        if !ready.is_empty() {
            lines.push(format!("{} set", ready.join(", ")));
        }
        if !aws.is_empty() {
            lines.push(format!(
                "{} with this node's AWS credentials (environment, ~/.aws or instance role)",
                aws.join(", ")
            ));
        }
        if !unset.is_empty() {
            lines.push(format!(
                "{} not set yet: their alerts are dead-lettered until they are ({} dead-letters list)",
                unset.join(", "),
                self.sactl
            ));
        }
        if self.outputs.is_empty() {
            lines.push("none (conf/outputs.json)".into());
        }
        lines
    }

    /// The commands that send a record: a sample file the config reads, to an ingest source
    /// that carries its log types.
    fn send(&self) -> Vec<String> {
        let ingest = self.read(service::HTTP);
        let Some(first) = ingest.first() else {
            return vec!["no ingest source (data_sources.http in conf/clusters/)".into()];
        };
        let sample = self
            .read(service::FILE)
            .into_iter()
            .filter(|(_, path, _)| !path.contains(['*', '?', '[']))
            .find_map(|(_, path, logs)| {
                ingest
                    .iter()
                    .find(|(_, _, carried)| logs.iter().all(|log| carried.contains(log)))
                    .map(|(_, source, _)| (*source, path))
            });
        let (source, file) = sample.unwrap_or((first.1, "FILE"));
        let mut lines = vec![format!("{} send --source {source} {file}", self.sactl)];
        if let Some((flags, scheme)) = &self.curl {
            lines.push(format!(
                "curl {flags}--data-binary @{file} {scheme}://{}/v1/ingest/{source}",
                self.http_addr
            ));
        }
        lines
    }

    fn set_output(&self) -> String {
        match self.outputs.iter().find_map(|(name, needs)| match needs {
            OutputNeeds::Settings(properties) => Some((name, properties)),
            _ => None,
        }) {
            Some((name, properties)) => {
                let values: Vec<String> = properties.iter().map(|p| format!("{p}=...")).collect();
                format!(
                    "{} outputs set {name} {}, then {} dead-letters replay --output {name}",
                    self.sactl,
                    values.join(" "),
                    self.sactl
                )
            }
            None => format!("{} outputs list", self.sactl),
        }
    }
}

impl StartSummary {
    /// Gathers the summary of a node about to start its sources.
    pub async fn gather(
        args: &NodeArgs,
        replica: &Replica,
        detection: &Detection,
        deliverer: &Deliverer,
        tls: bool,
        http_addr: SocketAddr,
    ) -> anyhow::Result<StartSummary> {
        let membership = match (replica.is_initialized().await?, &args.join) {
            (true, _) => "resumes its cluster".to_string(),
            (false, Some(seed)) => format!("joins the cluster through {seed}"),
            (false, None) => "starts a new cluster".to_string(),
        };
        let declared = deliverer.outputs_config().outputs();
        let stored = deliverer.output_settings().names()?;
        let mut outputs: Vec<(String, OutputNeeds)> = declared
            .iter()
            .chain(stored.iter().filter(|name| !declared.contains(name)))
            .filter(|name| name.to_string() != FIREHOSE_OUTPUT)
            .map(|name| {
                let required: Vec<&'static str> = credential_properties(name.service())
                    .iter()
                    .filter(|property| property.required)
                    .map(|property| property.name)
                    .collect();
                let needs = if !stored.contains(name) && !required.is_empty() {
                    OutputNeeds::Settings(required)
                } else if name.service().starts_with("aws-") {
                    OutputNeeds::AwsCredentials
                } else {
                    OutputNeeds::Nothing
                };
                (name.to_string(), needs)
            })
            .collect();
        outputs.sort_by(|a, b| a.0.cmp(&b.0));
        let firehose = FIREHOSE_OUTPUT.parse::<OutputName>().ok();
        let real_firehose = firehose.is_some_and(|name| {
            deliverer.outputs_config().contains(&name) || stored.contains(&name)
        });
        let certs = args.certs_dir();
        let default_certs = std::path::absolute(Path::new("data/certs")).ok();
        let mut sactl = "sactl".to_string();
        if args.grpc_addr != SACTL_DEFAULT_NODE.parse().expect("a valid address") {
            sactl.push_str(&format!(
                " --node {}",
                args.advertise_addr
                    .clone()
                    .unwrap_or_else(|| args.grpc_addr.to_string())
            ));
        }
        let curl = if !tls {
            sactl.push_str(" --insecure");
            Some((String::new(), "http"))
        } else if certs.join("admin.crt").is_file() {
            if std::path::absolute(&certs).ok() != default_certs {
                sactl.push_str(&format!(" --certs-dir {}", certs.display()));
            }
            let c = certs.display();
            Some((
                format!("--cacert {c}/ca.crt --cert {c}/admin.crt --key {c}/admin.key "),
                "https",
            ))
        } else {
            None
        };
        Ok(StartSummary {
            node_id: replica.node_id(),
            membership,
            data_dir: args.data_dir.clone(),
            config_dir: (detection.version() == 0).then(|| args.config_dir.clone()),
            clusters: detection.clusters(),
            s3_queues: args.sources.s3_queues.clone(),
            alert_log: (!real_firehose).then(|| args.data_dir.join("alerts.jsonl")),
            alerts_on_stdout: !args.quiet_alerts,
            outputs,
            sactl,
            sactl_dir: sactl_dir_off_path(),
            curl,
            http_addr,
        })
    }
}

/// Where `sactl` looks for a node when given no `--node`.
const SACTL_DEFAULT_NODE: &str = "127.0.0.1:7710";

/// The tailed files: how many, where, and how many match nothing from here.
fn files_line(files: &[(&Cluster, &str, &[String])]) -> String {
    let paths: Vec<&str> = files.iter().map(|(_, path, _)| *path).collect();
    let parents: std::collections::BTreeSet<&Path> = paths
        .iter()
        .map(|p| Path::new(p).parent().unwrap_or(Path::new("")))
        .collect();
    let clusters = names(files.iter().map(|(cluster, _, _)| cluster.name.as_str()));
    let mut line = match (paths.len(), parents.iter().next()) {
        (1, _) => format!("the file {} (cluster {clusters})", paths[0]),
        (n, Some(parent)) if parents.len() == 1 => {
            format!("{n} files in {} (cluster {clusters})", dir(parent))
        }
        (n, _) => format!("{n} files such as {} (cluster {clusters})", paths[0]),
    };
    let missing = paths
        .iter()
        .filter(|p| glob::glob(p).map_or(true, |mut found| found.next().is_none()))
        .count();
    if missing > 0 {
        let here = std::env::current_dir().map_or_else(|_| ".".into(), |d| d.display().to_string());
        line.push_str(&format!(
            "; {missing} of them not there from {here} (relative paths start from where sanode runs)"
        ));
    }
    line
}

/// A directory as a person types it: with a trailing slash.
fn dir(path: &Path) -> String {
    let shown = path.display().to_string();
    if shown.ends_with('/') {
        shown
    } else {
        format!("{shown}/")
    }
}

/// Distinct names in first-seen order, comma-separated.
fn names<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut seen: Vec<&str> = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen.join(", ")
}

/// The directory of the `sactl` built beside this `sanode` when no `sactl` is on PATH
/// (deploy/local/run.sh builds both but puts neither on PATH), `$HOME` written as such.
fn sactl_dir_off_path() -> Option<String> {
    let on_path = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join("sactl").is_file()));
    if on_path {
        return None;
    }
    let dir = std::env::current_exe().ok()?.parent()?.to_path_buf();
    if !dir.join("sactl").is_file() {
        return None;
    }
    let shown = dir.display().to_string();
    Some(match std::env::var("HOME") {
        Ok(home) if !home.is_empty() && shown.starts_with(&format!("{home}/")) => {
            format!("$HOME{}", &shown[home.len()..])
        }
        _ => shown,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cluster(name: &str, raw: serde_json::Value) -> Cluster {
        let mut errors = Vec::new();
        let mut reader = sa_engine::config::read::Reader {
            file: Path::new("c.json"),
            errors: &mut errors,
        };
        Cluster::parse(name, &raw, &mut reader).expect("a valid cluster")
    }

    fn summary() -> StartSummary {
        StartSummary {
            node_id: 7,
            membership: "starts a new cluster".into(),
            data_dir: "data".into(),
            config_dir: Some("conf".into()),
            clusters: vec![
                cluster(
                    "aws",
                    json!({"classifier_config": {}, "modules": {"kinesis_events": {"enabled": false}},
                           "data_sources": {"kinesis": {"stream": ["cloudtrail"]}, "s3": {"bucket": ["cloudtrail"]}}}),
                ),
                cluster(
                    "local",
                    json!({"classifier_config": {}, "data_sources": {
                        "http": {"syslog": ["syslog"], "json": ["cloudtrail", "okta"]},
                        "file": {"/nonexistent/a/cloudtrail.jsonl": ["cloudtrail"], "/nonexistent/a/okta.jsonl": ["okta"]}}}),
                ),
            ],
            s3_queues: Vec::new(),
            alert_log: Some("data/alerts.jsonl".into()),
            alerts_on_stdout: true,
            outputs: vec![
                ("aws-sqs:soar".into(), OutputNeeds::AwsCredentials),
                ("slack:security".into(), OutputNeeds::Settings(vec!["url"])),
            ],
            sactl: "sactl".into(),
            sactl_dir: Some("$HOME/bin".into()),
            curl: Some(("--cacert data/certs/ca.crt ".into(), "https")),
            http_addr: "127.0.0.1:7780".parse().unwrap(),
        }
    }

    #[test]
    fn says_what_is_read_what_is_not_and_the_commands_to_use() {
        let lines = summary().lines();
        let text = lines.join("\n");
        assert!(
            text.contains("2 files in /nonexistent/a/ (cluster local); 2 of them not there"),
            "{text}"
        );
        assert!(
            text.contains("HTTP and gRPC ingest, sources syslog, json"),
            "{text}"
        );
        assert!(
            text.contains("cluster aws's Kinesis streams: modules.kinesis_events.enabled is false in conf/clusters/aws.json"),
            "{text}"
        );
        assert!(
            text.contains("cluster aws's S3 buckets: no --s3-queue"),
            "{text}"
        );
        assert!(text.contains("export PATH=\"$HOME/bin:$PATH\""), "{text}");
        assert!(!text.contains("Kinesis streams stream"), "{text}");
        assert!(
            text.contains("each one to data/alerts.jsonl and stdout"),
            "{text}"
        );
        assert!(text.contains("slack:security not set yet"), "{text}");
        assert!(
            text.contains("aws-sqs:soar with this node's AWS credentials"),
            "{text}"
        );
        // The first sample file, to the ingest source carrying its log type.
        assert!(
            text.contains("sactl send --source json /nonexistent/a/cloudtrail.jsonl"),
            "{text}"
        );
        assert!(
            text.contains("curl --cacert data/certs/ca.crt --data-binary @/nonexistent/a/cloudtrail.jsonl https://127.0.0.1:7780/v1/ingest/json"),
            "{text}"
        );
        assert!(
            text.contains("sactl outputs set slack:security url=..., then sactl dead-letters replay --output slack:security"),
            "{text}"
        );
        assert!(lines.len() <= 14, "a short summary:\n{text}");
    }
}
