//! Time from ingesting a record to its (unmerged) alert arriving at a local webhook, on a
//! 3-node cluster of real processes (loopback, this machine). Records go one per request,
//! round-robin over the nodes (two of three requests land on a follower).
//!
//! `cargo run --release -p sa-chaos-tests --bin alert-latency -- [RECORDS]` (build sanode and
//! sactl first, in the same profile). Prints the median, p90, p99 and maximum.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sa_chaos_tests::{HttpReceiver, TestCluster, write_repository};
use serde_json::json;

const RULE: &str = r#"
from streamalert.shared.rule import rule


@rule(logs=['latency:event'], outputs=['webhook:probe'])
def latency_probe(rec):
    return True
"#;

fn main() -> anyhow::Result<()> {
    let records: usize = std::env::args()
        .nth(1)
        .map(|r| r.parse())
        .transpose()?
        .unwrap_or(200);
    let dir = tempfile::tempdir()?;
    let repo = write_repository(
        dir.path(),
        &[(
            "latency",
            json!({"id": "latency", "classifier_config": {}, "data_sources": {"http": {"events": ["latency"]}}}),
        )],
        &[(
            "latency",
            json!({"latency:event": {"parser": "json", "schema": {"seq": "integer"}}}),
        )],
        &[("latency_rules.py", RULE)],
        Some(&json!({"webhook": ["probe"]})),
    )?;
    let cluster = TestCluster::start_configured(3, |options| {
        options.repo = repo.clone();
        options.extra_args.push("--quiet-alerts".into());
    })?;
    let receiver = HttpReceiver::start()?;
    let set = cluster.sactl(
        0,
        &[
            "outputs",
            "set",
            "webhook:probe",
            &format!("url={}", receiver.url()),
        ],
    );
    if !set.status.success() {
        bail!("outputs set failed: {set:?}");
    }

    let mut sent = Vec::with_capacity(records);
    for seq in 0..records {
        let node = cluster.node(seq % 3);
        let body = format!("{}\n", json!({"seq": seq}));
        let started = Instant::now();
        let (status, reply) = node.http().post("/v1/ingest/events", body.as_bytes())?;
        if status != 200 {
            bail!("ingest of record {seq} refused: {status} {reply}");
        }
        sent.push(started);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    let requests = loop {
        let requests = receiver.requests();
        if requests.len() >= records || Instant::now() > deadline {
            break requests;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if requests.len() < records {
        bail!("only {} of {records} alerts arrived", requests.len());
    }
    let mut latencies: Vec<Duration> = requests
        .iter()
        .map(|request| {
            let seq = request.json()["record"]["seq"]
                .as_u64()
                .context("a probe alert without its seq")? as usize;
            Ok(request.received_at.duration_since(sent[seq]))
        })
        .collect::<anyhow::Result<_>>()?;
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    println!(
        "ingest -> webhook, 3 nodes, {} alerts: median {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        at(0.5).as_secs_f64() * 1e3,
        at(0.9).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        latencies[latencies.len() - 1].as_secs_f64() * 1e3,
    );
    Ok(())
}
