//! A cluster of real `sanode` processes on loopback, driven and observed through `sactl`.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::binaries::workspace_binary;
use crate::node_process::{NodeOptions, NodeProcess};

/// Writes a node certificate and an admin client certificate, signed by the CA in `ca_dir`, to
/// `certs_dir`: what `sactl certs create-node` and `create-client` do for an operator.
pub fn issue_node_certs(ca_dir: &Path, certs_dir: &Path) -> anyhow::Result<()> {
    let authority = sa_tls::CertFiles::new(ca_dir).authority()?;
    write_node_certs(&authority, certs_dir)
}

fn write_node_certs(authority: &sa_tls::CertAuthority, certs_dir: &Path) -> anyhow::Result<()> {
    let files = sa_tls::CertFiles::new(certs_dir);
    let lifetime = sa_tls::Lifetime(Duration::from_secs(7 * 24 * 3600));
    let names = sa_tls::NodeNames::from_addresses(["127.0.0.1"]);
    files.write_pair(
        "node",
        authority,
        authority.issue_node("node", &names, lifetime)?,
    )?;
    files.write_pair(
        "admin",
        authority,
        authority.issue_client("admin", sa_tls::Role::Admin, &[], lifetime)?,
    )?;
    Ok(())
}

pub struct TestCluster {
    /// `None` for a node that is currently down.
    pub nodes: Vec<Option<NodeProcess>>,
    options: Vec<NodeOptions>,
    sactl: PathBuf,
    /// The cluster CA, which signs each node's certificate before it starts (as an operator
    /// with their own PKI would, `sactl certs create-node`).
    authority: sa_tls::CertAuthority,
    // Dropped last: the nodes' data dirs live here.
    _dir: tempfile::TempDir,
}

impl TestCluster {
    /// Node 0 bootstraps; every other node joins through the node started before it, so joins
    /// reach the leader by forwarding too.
    pub fn start(size: usize) -> anyhow::Result<Self> {
        Self::start_with(size, &[])
    }

    /// Like [`TestCluster::start`], passing `node_args` to every sanode.
    pub fn start_with(size: usize, node_args: &[&str]) -> anyhow::Result<Self> {
        Self::start_configured(size, |options| {
            options
                .extra_args
                .extend(node_args.iter().map(|a| a.to_string()))
        })
    }

    /// Like [`TestCluster::start`], with every node's options adjusted by `configure`
    /// (repository, environment, flags) before it starts.
    pub fn start_configured(
        size: usize,
        configure: impl Fn(&mut NodeOptions),
    ) -> anyhow::Result<Self> {
        let sanode = workspace_binary("sanode")?;
        let dir = tempfile::tempdir()?;
        let mut cluster = TestCluster {
            nodes: Vec::new(),
            options: Vec::new(),
            sactl: workspace_binary("sactl")?,
            authority: sa_tls::CertFiles::new(dir.path().join("certs"))
                .create_authority(sa_tls::Lifetime(Duration::from_secs(30 * 24 * 3600)))?,
            _dir: dir,
        };
        sa_tls::CertFiles::new(cluster.ca_dir()).write_pair(
            "admin",
            &cluster.authority,
            cluster.authority.issue_client(
                "admin",
                sa_tls::Role::Admin,
                &[],
                sa_tls::Lifetime(Duration::from_secs(7 * 24 * 3600)),
            )?,
        )?;
        for i in 0..size {
            let mut options =
                NodeOptions::new(&sanode, cluster._dir.path().join(format!("node{i}")));
            options.node_id = Some(i as u64 + 1);
            configure(&mut options);
            if let Some(previous) = cluster.nodes.last().and_then(Option::as_ref) {
                options
                    .extra_args
                    .extend(["--join".to_string(), previous.grpc_addr.to_string()]);
            }
            cluster.issue_certs(&options)?;
            let node = NodeProcess::start(&options)?;
            cluster.options.push(node.restart_options(&options));
            cluster.nodes.push(Some(node));
        }
        cluster.wait_until(
            Duration::from_secs(60),
            "every node is a healthy voter",
            |c| {
                c.members(0).is_ok_and(|members| {
                    members.len() == size
                        && members.iter().all(|m| {
                            m["healthy"] == true
                                && (m["role"] == "leader" || m["role"] == "follower")
                        })
                })
            },
        )?;
        Ok(cluster)
    }

    /// Writes a node certificate and the admin client certificate to the node's certificates
    /// directory, unless it runs `--insecure`.
    fn issue_certs(&self, options: &NodeOptions) -> anyhow::Result<()> {
        let Some(dir) = options.certs_dir() else {
            return Ok(());
        };
        write_node_certs(&self.authority, &dir)
    }

    /// The directory holding the cluster CA (`ca.crt`, `ca.key`) and an `admin` client
    /// certificate: what `sactl --certs-dir` needs.
    pub fn ca_dir(&self) -> PathBuf {
        self._dir.path().join("certs")
    }

    pub fn node(&self, i: usize) -> &NodeProcess {
        self.nodes[i].as_ref().expect("node is running")
    }

    pub fn grpc(&self, i: usize) -> String {
        self.node(i).grpc_addr.to_string()
    }

    /// Runs sactl with `--node` pointing at node `i`.
    pub fn sactl(&self, i: usize, args: &[&str]) -> Output {
        self.node(i)
            .sactl_command(&self.sactl)
            .args(args)
            .output()
            .expect("sactl runs")
    }

    /// `sactl status --json` of node `i`, plus the raw member list from the same node.
    pub fn status(&self, i: usize) -> anyhow::Result<Value> {
        let out = self.sactl(i, &["status", "--json"]);
        if !out.status.success() {
            bail!(
                "sactl status on node {i}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(serde_json::from_slice(&out.stdout)?)
    }

    /// `sactl nodes --json` asked of node `i`.
    pub fn members(&self, i: usize) -> anyhow::Result<Vec<Value>> {
        let out = self.sactl(i, &["nodes", "--json"]);
        if !out.status.success() {
            bail!(
                "sactl nodes on node {i}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(serde_json::from_slice(&out.stdout)?)
    }

    /// Index of the node that reports itself leader, among the running ones.
    pub fn leader(&self) -> Option<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].is_some())
            .find(|i| {
                self.status(*i)
                    .map(|s| s["role"] == "leader")
                    .unwrap_or(false)
            })
    }

    pub fn kill9(&mut self, i: usize) -> anyhow::Result<()> {
        self.nodes[i].take().context("node already down")?.kill9()
    }

    /// Starts node `i` again with its data dir and ports.
    pub fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        self.nodes[i] = Some(NodeProcess::start(&self.options[i])?);
        Ok(())
    }

    /// Stops node `i` for good, deletes its data dir, and starts it empty with the same id and
    /// ports, joining through node `via`: it must catch up from the others.
    pub fn wipe_and_rejoin(&mut self, i: usize, via: usize) -> anyhow::Result<()> {
        if let Some(node) = self.nodes[i].take() {
            node.kill9()?;
        }
        std::fs::remove_dir_all(&self.options[i].data_dir)?;
        let mut options = self.options[i].clone();
        options
            .extra_args
            .retain(|a| !a.starts_with("127.0.0.1:") && a != "--join");
        options
            .extra_args
            .extend(["--join".to_string(), self.grpc(via)]);
        self.issue_certs(&options)?;
        self.nodes[i] = Some(NodeProcess::start(&options)?);
        Ok(())
    }

    /// Polls `condition` every 100 ms until it holds or `timeout` passes.
    pub fn wait_until(
        &self,
        timeout: Duration,
        what: &str,
        mut condition: impl FnMut(&Self) -> bool,
    ) -> anyhow::Result<Duration> {
        let start = Instant::now();
        while !condition(self) {
            if start.elapsed() > timeout {
                bail!("timed out after {timeout:?} waiting until {what}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(start.elapsed())
    }
}
