//! A cluster of real `sanode` processes on loopback, driven and observed through `sactl`.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::Value;

use crate::binaries::workspace_binary;
use crate::node_process::{NodeOptions, NodeProcess};

pub struct TestCluster {
    /// `None` for a node that is currently down.
    pub nodes: Vec<Option<NodeProcess>>,
    options: Vec<NodeOptions>,
    sactl: PathBuf,
    // Dropped last: the nodes' data dirs live here.
    _dir: tempfile::TempDir,
}

impl TestCluster {
    /// Node 0 bootstraps; every other node joins through the node started before it, so joins
    /// reach the leader by forwarding too.
    pub fn start(size: usize) -> anyhow::Result<Self> {
        let sanode = workspace_binary("sanode")?;
        let dir = tempfile::tempdir()?;
        let mut cluster = TestCluster {
            nodes: Vec::new(),
            options: Vec::new(),
            sactl: workspace_binary("sactl")?,
            _dir: dir,
        };
        for i in 0..size {
            let mut options =
                NodeOptions::new(&sanode, cluster._dir.path().join(format!("node{i}")));
            options.node_id = Some(i as u64 + 1);
            if let Some(previous) = cluster.nodes.last().and_then(Option::as_ref) {
                options.extra_args = vec!["--join".into(), previous.grpc_addr.to_string()];
            }
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

    pub fn node(&self, i: usize) -> &NodeProcess {
        self.nodes[i].as_ref().expect("node is running")
    }

    pub fn grpc(&self, i: usize) -> String {
        self.node(i).grpc_addr.to_string()
    }

    /// Runs sactl with `--node` pointing at node `i`.
    pub fn sactl(&self, i: usize, args: &[&str]) -> Output {
        Command::new(&self.sactl)
            .args(args)
            .arg("--node")
            .arg(self.grpc(i))
            .env_remove("SA_NODE")
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
