//! A burst of large ingest requests against one node with the shipped repository: `REQUESTS`
//! clients each post `MB` MB of text lines no schema takes to `/v1/ingest/json`, all at once.
//! Prints how many got 200 and how many 503 (Retry-After), that every line of every 200 was
//! dead-lettered, the time, the node's resident memory idle, after and at its peak (VmHWM), and
//! whether it stayed up. Repeated `--runs` times on fresh nodes: medians with ranges.
//!
//! `cargo run --release -p sa-chaos-tests --bin burst-bench -- [--requests 40] [--mb 15]
//! [--runs 3]` (build sanode first, in the same profile).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sa_chaos_tests::bench::memory_kib;
use sa_chaos_tests::{NodeOptions, NodeProcess, workspace_binary};
use serde_json::Value;

fn main() -> anyhow::Result<()> {
    let (mut requests, mut mb, mut runs) = (40usize, 15usize, 3usize);
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value: usize = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?
            .parse()
            .with_context(|| format!("{flag}: not a number"))?;
        match flag.as_str() {
            "--requests" => requests = value.max(1),
            "--mb" => mb = value.max(1),
            "--runs" => runs = value.max(1),
            other => bail!("unknown flag {other}"),
        }
    }
    let mut body = String::new();
    let mut lines = 0u64;
    while body.len() < mb * 1_000_000 - 300 {
        body.push_str(&format!(
            "line {lines} of a burst: no schema takes plain words like these, {}\n",
            "padding ".repeat(25)
        ));
        lines += 1;
    }
    let sanode = workspace_binary("sanode")?;
    let mut columns: [Vec<f64>; 5] = Default::default();
    for run in 1..=runs {
        let dir = tempfile::tempdir()?;
        let mut options = NodeOptions::new(sanode.clone(), dir.path().join("data"));
        options.extra_args.push("--quiet-alerts".into());
        let node = NodeProcess::start(&options)?;
        std::thread::sleep(Duration::from_secs(2));
        let idle = memory_kib(node.pid(), "VmRSS")?;
        let started = Instant::now();
        let replies: Vec<anyhow::Result<(u16, String)>> = std::thread::scope(|scope| {
            let clients: Vec<_> = (0..requests)
                .map(|_| scope.spawn(|| node.http().post("/v1/ingest/json", body.as_bytes())))
                .collect();
            clients
                .into_iter()
                .map(|c| c.join().unwrap_or_else(|_| bail!("a client panicked")))
                .collect()
        });
        let elapsed = started.elapsed();
        let (mut accepted, mut refused, mut dead_letters) = (0u64, 0u64, 0u64);
        for reply in replies {
            match reply? {
                (200, text) => {
                    accepted += 1;
                    let reply: Value = serde_json::from_str(&text)?;
                    dead_letters += reply["dead_letters"].as_u64().unwrap_or(0);
                }
                (503, _) => refused += 1,
                (status, text) => bail!("unexpected reply {status}: {text}"),
            }
        }
        if dead_letters != accepted * lines {
            bail!("{accepted} accepted requests of {lines} lines, but {dead_letters} dead letters");
        }
        let (peak, after) = (
            memory_kib(node.pid(), "VmHWM")?,
            memory_kib(node.pid(), "VmRSS")?,
        );
        node.terminate_cleanly(Duration::from_secs(60))?;
        println!(
            "run {run}: {accepted} x 200, {refused} x 503, every line of every 200 dead-lettered \
             once ({dead_letters}), {:.1} s; RSS idle {} MB, peak {} MB, after {} MB; the node \
             stayed up and stopped cleanly",
            elapsed.as_secs_f64(),
            idle / 1024,
            peak / 1024,
            after / 1024
        );
        for (column, value) in columns.iter_mut().zip([
            accepted as f64,
            elapsed.as_secs_f64(),
            idle as f64 / 1024.0,
            peak as f64 / 1024.0,
            after as f64 / 1024.0,
        ]) {
            column.push(value);
        }
    }
    let [accepted, seconds, idle, peak, after] = columns.map(|mut v| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0], v[v.len() - 1])
    });
    println!(
        "burst-bench: {requests} requests of {mb} MB ({lines} lines each), {runs} runs: \
         accepted median {:.0} ({:.0}-{:.0}), {:.1} s ({:.1}-{:.1}), RSS idle {:.0} MB \
         ({:.0}-{:.0}), peak {:.0} MB ({:.0}-{:.0}), after {:.0} MB ({:.0}-{:.0})",
        accepted.0,
        accepted.1,
        accepted.2,
        seconds.0,
        seconds.1,
        seconds.2,
        idle.0,
        idle.1,
        idle.2,
        peak.0,
        peak.1,
        peak.2,
        after.0,
        after.1,
        after.2
    );
    Ok(())
}
