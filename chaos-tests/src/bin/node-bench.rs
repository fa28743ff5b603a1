//! Records per second one node takes end to end over HTTP ingest, with the shipped repository
//! (conf/ and rules/): parse, classify, rules, alerts and dead letters committed through Raft,
//! then the reply. `CLIENTS` clients post batches of `BATCH` lines of the shipped JSON samples
//! (deploy/local/samples/*.jsonl, replayed) to `/v1/ingest/json` until `RECORDS` records are
//! committed; each reply comes after its batch's commit, so the last reply ends the run.
//!
//! `cargo run --release -p sa-chaos-tests --bin node-bench -- [RECORDS] [BATCH] [CLIENTS]`
//! (build sanode first, in the same profile).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context, bail};
use sa_chaos_tests::{NodeOptions, NodeProcess, http_post, repository_root, workspace_binary};
use serde_json::Value;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut arg = |default: usize| -> anyhow::Result<usize> {
        Ok(args
            .next()
            .map(|a| a.parse())
            .transpose()?
            .unwrap_or(default))
    };
    let (records, batch, clients) = (arg(100_000)?, arg(1_000)?.max(1), arg(2)?.max(1));

    let samples = repository_root().join("deploy/local/samples");
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(&samples)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "jsonl") {
            let text = std::fs::read_to_string(&path)?;
            // One object per line: a line holding a JSON array would make the body an array.
            lines.extend(
                text.lines()
                    .filter(|l| l.trim_start().starts_with('{'))
                    .map(str::to_owned),
            );
        }
    }
    if lines.is_empty() {
        bail!("no JSON samples in {}", samples.display());
    }
    let bodies: Vec<String> = (0..records.div_ceil(batch))
        .map(|b| {
            let count = batch.min(records - b * batch);
            (0..count)
                .map(|i| lines[(b * batch + i) % lines.len()].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();

    let dir = tempfile::tempdir()?;
    let mut options = NodeOptions::new(workspace_binary("sanode")?, dir.path().join("data"));
    options.extra_args.push("--quiet-alerts".into());
    let node = NodeProcess::start(&options)?;

    let next = AtomicUsize::new(0);
    let started = Instant::now();
    let totals = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|_| {
                scope.spawn(|| -> anyhow::Result<(u64, u64, u64)> {
                    let (mut classified, mut dead_letters, mut alerts) = (0, 0, 0);
                    while let Some(body) = bodies.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let (status, reply) =
                            http_post(node.http_addr, "/v1/ingest/json", body.as_bytes())?;
                        if status != 200 {
                            bail!("ingest refused: {status} {reply}");
                        }
                        let reply: Value = serde_json::from_str(&reply)
                            .with_context(|| format!("ingest reply {reply}"))?;
                        classified += reply["classified"].as_u64().unwrap_or(0);
                        dead_letters += reply["dead_letters"].as_u64().unwrap_or(0);
                        alerts += reply["alerts"].as_u64().unwrap_or(0);
                    }
                    Ok((classified, dead_letters, alerts))
                })
            })
            .collect();
        workers.into_iter().try_fold((0, 0, 0), |sum, worker| {
            let (c, d, a) = worker
                .join()
                .map_err(|_| anyhow::anyhow!("a client panicked"))??;
            Ok::<_, anyhow::Error>((sum.0 + c, sum.1 + d, sum.2 + a))
        })
    })?;
    let elapsed = started.elapsed();
    let (classified, dead_letters, alerts) = totals;
    println!(
        "{records} records in batches of {batch} from {clients} clients: {:.0} records/s end to end \
         ({classified} classified, {dead_letters} dead letters, {alerts} alerts, {:.1} s)",
        records as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    Ok(())
}
