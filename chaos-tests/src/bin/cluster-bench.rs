//! Cluster figures on real processes (loopback, this machine):
//! - failover: kill -9 the leader, time until a write through a survivor is committed;
//! - config push: time from `sactl config push` returning to every node running the new version.
//!
//! `cargo run --release -p sa-chaos-tests --bin cluster-bench -- [ROUNDS]` (build sanode and
//! sactl first, in the same profile). Prints medians and maxima.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sa_chaos_tests::{TestCluster, repository_root};

fn main() -> anyhow::Result<()> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|r| r.parse())
        .transpose()?
        .unwrap_or(10);
    let mut cluster = TestCluster::start(3)?;
    let repo = repository_root();
    let repo = repo.to_str().context("repository path is not UTF-8")?;

    let mut failovers = Vec::new();
    for round in 0..rounds {
        let leader = cluster.leader().context("no leader")?;
        let survivor = (0..3).find(|i| *i != leader).expect("three nodes");
        cluster.kill9(leader)?;
        let killed = Instant::now();
        loop {
            let put = cluster.sactl(
                survivor,
                &["lookup-tables", "put", "bench", "round", &round.to_string()],
            );
            if put.status.success() {
                break;
            }
            if killed.elapsed() > Duration::from_secs(60) {
                bail!("no write accepted 60 s after the leader kill: {put:?}");
            }
        }
        failovers.push(killed.elapsed());
        cluster.restart(leader)?;
        cluster.wait_until(
            Duration::from_secs(60),
            "all three nodes are healthy",
            |c| {
                c.members(survivor)
                    .is_ok_and(|m| m.iter().all(|n| n["healthy"] == true))
            },
        )?;
    }

    let mut pushes = Vec::new();
    for _ in 0..rounds {
        let out = cluster.sactl(0, &["config", "push", repo]);
        if !out.status.success() {
            bail!("config push failed: {out:?}");
        }
        let version: u64 = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .find_map(|word| word.strip_prefix('v').and_then(|v| v.parse().ok()))
            .context("push output names no version")?;
        let took = cluster
            .wait_until(
                Duration::from_secs(120),
                "every node runs the pushed version",
                |c| {
                    c.members(0).is_ok_and(|m| {
                        m.iter()
                            .all(|n| n["config_version"].as_u64() == Some(version))
                    })
                },
            )
            .with_context(|| format!("members: {:?}", cluster.members(0)))?;
        pushes.push(took);
    }

    report(
        "leader kill -9 -> write committed via a survivor",
        &mut failovers,
    );
    report(
        "config push returned -> all 3 nodes running it",
        &mut pushes,
    );
    Ok(())
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let median = samples[samples.len() / 2];
    let max = samples[samples.len() - 1];
    println!(
        "{what}: median {median:.2?}, max {max:.2?} over {} rounds",
        samples.len()
    );
}
