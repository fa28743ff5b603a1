//! Cluster figures on real processes (loopback, this machine).
//!
//! Without `--throughput` (`cluster-bench [ROUNDS]`, 10 rounds by default):
//! - failover: kill -9 the leader, time until a write through a survivor is committed;
//! - config push: time from `sactl config push` returning to every node running the new version.
//!
//! Prints medians and maxima.
//!
//! With `--throughput`, each of `RUNS` runs:
//! 1. one node, then three: `CLIENTS` clients per node post the corpus in batches of `BATCH`
//!    lines to `/v1/ingest/json`, spread over all nodes, until `RECORDS` records are committed
//!    (each reply comes after its batch's commit): end-to-end records/s of one and of three
//!    nodes, and their ratio;
//! 2. on three fresh nodes, half of the three nodes' maximum of step 1, open loop for `SECONDS`
//!    s: batches of `LATENCY_BATCH` lines at a fixed rate, round robin over the nodes, each on
//!    its own connection. Ingest -> commit is the time of each request (its reply comes after
//!    its commit); record -> webhook is, for the probe records mixed into the batches (one per
//!    `PROBE_EVERY` records), the time from the probe's batch being sent to its alert arriving
//!    at a local webhook (a rule firing on every probe, output `webhook:probe`).
//!
//! The nodes run a copy of the shipped repository (conf/ and rules/) plus the probe's schema,
//! rule and output, with `--quiet-alerts`, in a temporary working directory (so the `file`
//! sources of the shipped cluster read nothing). Clusters are fresh each run.
//!
//! Corpora (as node-bench's): `shipped`, every JSON sample of deploy/local/samples (about a
//! third of records alert); `realistic`, CloudTrail where one record in a hundred alerts. The
//! alerts of the shipped rules go to the shipped outputs, which have no settings here: the
//! leader's dispatcher dead-letters or retries them, as a node with the shipped repository
//! does. The last columns show that work: alerts committed and delivery attempts of the leader
//! per second.
//!
//! `cargo run --release -p sa-chaos-tests --bin cluster-bench -- --throughput
//! [--corpus shipped|realistic] [--records 50000] [--batch 1000] [--clients 8]
//! [--latency-batch 100] [--probe-every 500] [--seconds 20] [--runs 3]` (build sanode and sactl
//! first, in the same profile). Prints one line per run, medians with ranges, and last
//! `cluster-bench: corpus C, 1 node R rec/s, 3 nodes T rec/s (ratio X); at half load (H rec/s
//! over 3 nodes): ingest->commit p50/p99/max A/B/C ms (P% within 100 ms; Q% by the nodes'
//! histogram), record->webhook p50/p99/max D/E/F ms (p50 G ms in the first half, H ms in the
//! second)` (medians). "By the nodes' histogram" is the share of batches that
//! `sa_batch_latency_seconds` (receipt to commit, inside the node) puts within 100 ms.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sa_chaos_tests::bench::{
    Figures, batches, closed_loop, json_samples, millis, open_loop, quantile, realistic_corpus,
};
use sa_chaos_tests::{HttpReceiver, TestCluster, copy_tree, repository_root};
use serde_json::{Value, json};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().is_some_and(|a| a == "--throughput") {
        args.next();
        return throughput(&Throughput::parse(args)?);
    }
    let rounds: usize = args.next().map(|r| r.parse()).transpose()?.unwrap_or(10);
    failover_and_push(rounds)
}

struct Throughput {
    corpus: String,
    records: usize,
    batch: usize,
    clients: usize,
    latency_batch: usize,
    probe_every: usize,
    seconds: f64,
    runs: usize,
}

impl Throughput {
    fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Throughput> {
        let mut options = Throughput {
            corpus: "shipped".into(),
            records: 50_000,
            batch: 1_000,
            clients: 8,
            latency_batch: 100,
            probe_every: 500,
            seconds: 20.0,
            runs: 3,
        };
        while let Some(flag) = args.next() {
            let text = args
                .next()
                .with_context(|| format!("{flag} needs a value"))?;
            if flag == "--corpus" {
                if !["shipped", "realistic"].contains(&text.as_str()) {
                    bail!("--corpus {text}: shipped or realistic");
                }
                options.corpus = text;
                continue;
            }
            let value: f64 = text
                .parse()
                .with_context(|| format!("{flag}: not a number"))?;
            let count = value.max(1.0) as usize;
            match flag.as_str() {
                "--records" => options.records = count,
                "--batch" => options.batch = count,
                "--clients" => options.clients = count,
                "--latency-batch" => options.latency_batch = count,
                "--probe-every" => options.probe_every = count,
                "--seconds" => options.seconds = value.max(1.0),
                "--runs" => options.runs = count,
                other => bail!("unknown flag {other}"),
            }
        }
        Ok(options)
    }
}

/// One run's figures, in the order of [`COLUMNS`].
const COLUMNS: [&str; 19] = [
    "1 node rec/s",
    "3 nodes rec/s",
    "ratio 3/1",
    "half load rec/s offered",
    "503 share %",
    "ingest->commit p50 ms",
    "ingest->commit p99 ms",
    "ingest->commit max ms",
    "ingest->commit <= 100 ms %",
    "receipt->commit <= 100 ms % (nodes' histogram)",
    "probes",
    "record->webhook p50 ms",
    "record->webhook p99 ms",
    "record->webhook max ms",
    "probes missing",
    "record->webhook p50 ms, first half",
    "record->webhook p50 ms, second half",
    "alerts committed/s",
    "leader delivery attempts/s",
];

const PROBE_RULE: &str = r#"
from streamalert.shared.rule import rule


@rule(logs=['bench_probe:event'], outputs=['webhook:probe'])
def bench_probe(rec):
    return True
"#;

fn throughput(options: &Throughput) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::env::set_current_dir(dir.path())?;
    let repo = probe_repository(dir.path())?;
    let receiver = HttpReceiver::start()?;
    let probes = Probes {
        epoch: Instant::now(),
        next: AtomicU64::new(0),
    };
    let lines = if options.corpus == "realistic" {
        let node = start_cluster(1, &repo, &receiver, &probes)?;
        realistic_corpus(&node.node(0).http())?
    } else {
        json_samples(&[])?
    };
    let bodies = batches(&lines, options.records, options.batch);
    let mut columns: Vec<Vec<f64>> = vec![Vec::new(); COLUMNS.len()];
    for run in 1..=options.runs {
        let mut figures = Vec::new();
        let one = start_cluster(1, &repo, &receiver, &probes)?;
        let load = closed_loop(&http_addrs(&one), "json", &bodies, options.clients)?;
        figures.push(all_accepted(&load, bodies.len())?);
        drop(one);

        let three = start_cluster(3, &repo, &receiver, &probes)?;
        let load = closed_loop(&http_addrs(&three), "json", &bodies, options.clients)?;
        let max = all_accepted(&load, bodies.len())?;
        figures.extend([max, max / figures[0]]);
        drop(three);

        // A fresh cluster: the alerts of the maximum run are still being delivered.
        let three = start_cluster(3, &repo, &receiver, &probes)?;
        figures.extend(half_load(
            &three,
            &receiver,
            &probes,
            &lines,
            max / 2.0,
            options,
        )?);
        drop(three);

        println!(
            "run {run}: {}",
            COLUMNS
                .iter()
                .zip(&figures)
                .map(|(name, value)| format!("{name} {value:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        for (column, value) in columns.iter_mut().zip(figures) {
            column.push(value);
        }
    }
    let medians: Vec<Figures> = columns.into_iter().map(Figures::of).collect();
    println!(
        "medians of {} runs (ranges), corpus {}: maxima from {} clients per node posting {} \
         records in batches of {}; half load for {} s in batches of {} with a probe every {} \
         records:",
        options.runs,
        options.corpus,
        options.clients,
        options.records,
        options.batch,
        options.seconds,
        options.latency_batch,
        options.probe_every
    );
    for (name, figures) in COLUMNS.iter().zip(&medians) {
        println!(
            "  {name}: {}",
            figures.show(if name.contains("ratio") { 2 } else { 0 })
        );
    }
    let m = |i: usize| medians[i].median;
    println!(
        "cluster-bench: corpus {}, 1 node {:.0} rec/s, 3 nodes {:.0} rec/s (ratio {:.2}); at \
         half load ({:.0} rec/s over 3 nodes): ingest->commit p50/p99/max {:.0}/{:.0}/{:.0} ms \
         ({:.0}% within 100 ms; {:.0}% by the nodes' histogram), \
         record->webhook p50/p99/max {:.0}/{:.0}/{:.0} ms (p50 {:.0} ms in the first half, {:.0} \
         ms in the second)",
        options.corpus,
        m(0),
        m(1),
        m(2),
        m(3),
        m(5),
        m(6),
        m(7),
        m(8),
        m(9),
        m(11),
        m(12),
        m(13),
        m(15),
        m(16)
    );
    Ok(())
}

/// Probe records: `{"bench_probe_seq": N, "bench_probe_sent_us": T}`, T in microseconds since
/// `epoch`, N unique in the whole bench.
struct Probes {
    epoch: Instant,
    next: AtomicU64,
}

impl Probes {
    /// `count` fresh probes stamped now, and their sequence numbers.
    fn make(&self, count: usize) -> (Vec<String>, Vec<u64>) {
        let first = self.next.fetch_add(count as u64, Ordering::Relaxed);
        let sent_us = self.epoch.elapsed().as_micros() as u64;
        let seqs: Vec<u64> = (first..first + count as u64).collect();
        let lines = seqs
            .iter()
            .map(|seq| json!({"bench_probe_seq": seq, "bench_probe_sent_us": sent_us}).to_string())
            .collect();
        (lines, seqs)
    }

    /// The probes among the webhook's requests: sequence number -> (sent, latency), sent from
    /// `epoch`.
    fn arrivals(&self, receiver: &HttpReceiver) -> HashMap<u64, (Duration, Duration)> {
        receiver
            .requests()
            .iter()
            .filter_map(|request| {
                let record = &request.json()["record"];
                let seq = record["bench_probe_seq"].as_u64()?;
                let sent =
                    self.epoch + Duration::from_micros(record["bench_probe_sent_us"].as_u64()?);
                Some((
                    seq,
                    (
                        sent.duration_since(self.epoch),
                        request.received_at.saturating_duration_since(sent),
                    ),
                ))
            })
            .collect()
    }
}

/// The shipped repository plus the probe: log type `bench_probe:event` on the `json` HTTP
/// source of the shipped cluster, a rule alerting on every probe, output `webhook:probe`.
fn probe_repository(dir: &Path) -> anyhow::Result<PathBuf> {
    let repo = dir.join("repo");
    for part in ["conf", "rules"] {
        copy_tree(&repository_root().join(part), &repo.join(part))?;
    }
    let cluster_path = repo.join("conf/clusters/local.json");
    let mut cluster: Value = serde_json::from_str(&std::fs::read_to_string(&cluster_path)?)?;
    cluster["data_sources"]["http"]["json"]
        .as_array_mut()
        .context("the shipped cluster has no http json source")?
        .push(json!("bench_probe"));
    std::fs::write(&cluster_path, cluster.to_string())?;
    std::fs::write(
        repo.join("conf/schemas/bench_probe.json"),
        json!({"bench_probe:event": {"parser": "json", "schema": {
            "bench_probe_seq": "integer", "bench_probe_sent_us": "integer"}}})
        .to_string(),
    )?;
    let outputs_path = repo.join("conf/outputs.json");
    let mut outputs: Value = serde_json::from_str(&std::fs::read_to_string(&outputs_path)?)?;
    outputs["webhook"] = json!(["probe"]);
    std::fs::write(&outputs_path, outputs.to_string())?;
    std::fs::write(repo.join("rules/bench_probe.py"), PROBE_RULE)?;
    Ok(repo)
}

/// A fresh cluster of `size` nodes on the probe repository, its webhook pointed at `receiver`,
/// and checked: a probe sent to each node makes one alert that reaches the webhook.
fn start_cluster(
    size: usize,
    repo: &Path,
    receiver: &HttpReceiver,
    probes: &Probes,
) -> anyhow::Result<TestCluster> {
    let cluster = TestCluster::start_configured(size, |options| {
        options.repo = repo.to_owned();
        options.extra_args.push("--quiet-alerts".into());
    })?;
    let url = format!("url={}", receiver.url());
    let set = cluster.sactl(0, &["outputs", "set", "webhook:probe", &url]);
    if !set.status.success() {
        bail!("outputs set failed: {set:?}");
    }
    let mut seqs = Vec::new();
    for i in 0..size {
        let (lines, mut seq) = probes.make(1);
        let (status, reply) = cluster
            .node(i)
            .http()
            .post("/v1/ingest/json", lines[0].as_bytes())?;
        let reply: Value =
            serde_json::from_str(&reply).with_context(|| format!("{status} {reply}"))?;
        if status != 200 || reply["alerts"].as_u64() != Some(1) {
            bail!("a probe sent to node {i} made no alert: {status} {reply}");
        }
        seqs.append(&mut seq);
    }
    wait_for_probes(receiver, probes, &seqs, Duration::from_secs(30))?;
    Ok(cluster)
}

/// Waits until every probe of `seqs` reached the webhook, or `timeout` passed; returns when
/// each that arrived was sent (from the probes' epoch) and its latency, in the order sent, and
/// how many are missing.
fn wait_for_probes(
    receiver: &HttpReceiver,
    probes: &Probes,
    seqs: &[u64],
    timeout: Duration,
) -> anyhow::Result<(Vec<(Duration, Duration)>, usize)> {
    let deadline = Instant::now() + timeout;
    loop {
        let arrivals = probes.arrivals(receiver);
        let mut found: Vec<(Duration, Duration)> = seqs
            .iter()
            .filter_map(|seq| arrivals.get(seq).copied())
            .collect();
        if found.len() == seqs.len() || Instant::now() > deadline {
            if found.is_empty() {
                bail!("none of {} probes reached the webhook", seqs.len());
            }
            found.sort();
            let missing = seqs.len() - found.len();
            return Ok((found, missing));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn http_addrs(cluster: &TestCluster) -> Vec<sa_chaos_tests::NodeHttp> {
    (0..cluster.nodes.len())
        .map(|i| cluster.node(i).http())
        .collect()
}

/// Records/s of a closed-loop load that must have had every request accepted.
fn all_accepted(load: &sa_chaos_tests::bench::Load, requests: usize) -> anyhow::Result<f64> {
    let accepted = load.accepted().count();
    if accepted != requests {
        bail!(
            "{} of {requests} requests refused (503)",
            requests - accepted
        );
    }
    Ok(load.records_per_second())
}

/// Half load on `cluster`: `rate` records/s in batches of `latency_batch` with probes, for
/// `seconds`. Returns the columns from "half load rec/s offered" on.
fn half_load(
    cluster: &TestCluster,
    receiver: &HttpReceiver,
    probes: &Probes,
    lines: &[String],
    rate: f64,
    options: &Throughput,
) -> anyhow::Result<Vec<f64>> {
    // One batch in `every` carries `per_batch` probes.
    let per_batch = (options.latency_batch / options.probe_every).max(1);
    let every = (options.probe_every / options.latency_batch).max(1);
    let requests_per_second = rate / options.latency_batch as f64;
    let requests = (requests_per_second * options.seconds).ceil() as usize;
    let sent_probes = std::sync::Mutex::new(vec![Vec::new(); requests]);
    let leader = cluster.leader().context("no leader")?;
    let attempts_before = delivery_attempts(cluster, leader)?;
    let histogram_before = batch_latencies(cluster)?;
    let load = open_loop(
        &http_addrs(cluster),
        "json",
        requests,
        requests_per_second,
        &|i| {
            let first = i * options.latency_batch;
            let mut body: Vec<&str> = (first..first + options.latency_batch)
                .map(|n| lines[n % lines.len()].as_str())
                .collect();
            let (probe_lines, seqs) = probes.make(if i % every == 0 { per_batch } else { 0 });
            body.extend(probe_lines.iter().map(String::as_str));
            sent_probes.lock().unwrap_or_else(|e| e.into_inner())[i] = seqs;
            (body.join("\n"), body.len())
        },
    )?;
    let attempts = delivery_attempts(cluster, leader)? - attempts_before;
    let histogram = batch_latencies(cluster)?;
    let (fast, batches) = (
        histogram.0 - histogram_before.0,
        histogram.1 - histogram_before.1,
    );
    let sent_probes = sent_probes.into_inner().unwrap_or_else(|e| e.into_inner());
    let expected: Vec<u64> = load
        .accepted()
        .flat_map(|s| sent_probes[s.index].iter().copied())
        .collect();
    let (arrived, missing) = wait_for_probes(receiver, probes, &expected, Duration::from_secs(60))?;
    let sorted = |probes: &[(Duration, Duration)]| {
        let mut latencies: Vec<Duration> = probes.iter().map(|(_, latency)| *latency).collect();
        latencies.sort();
        latencies
    };
    let to_webhook = sorted(&arrived);
    let (first_half, second_half) = arrived.split_at(arrived.len() / 2);
    let (first_half, second_half) = (sorted(first_half), sorted(second_half));
    let commits = load.accepted_latencies();
    Ok(vec![
        rate,
        100.0 * load.refused_share(),
        millis(quantile(&commits, 0.5)),
        millis(quantile(&commits, 0.99)),
        millis(commits.last().copied().unwrap_or_default()),
        100.0
            * commits
                .iter()
                .filter(|c| **c <= Duration::from_millis(100))
                .count() as f64
            / commits.len().max(1) as f64,
        100.0 * fast / batches.max(1.0),
        expected.len() as f64,
        millis(quantile(&to_webhook, 0.5)),
        millis(quantile(&to_webhook, 0.99)),
        millis(to_webhook.last().copied().unwrap_or_default()),
        missing as f64,
        millis(quantile(&first_half, 0.5)),
        millis(quantile(&second_half, 0.5)),
        load.counts()[2] as f64 / load.elapsed.as_secs_f64(),
        attempts / load.elapsed.as_secs_f64(),
    ])
}

/// Batches committed within 100 ms of their receipt, and all batches committed, over every node
/// (`sa_batch_latency_seconds`, every service).
fn batch_latencies(cluster: &TestCluster) -> anyhow::Result<(f64, f64)> {
    let (mut fast, mut all) = (0.0, 0.0);
    for i in 0..cluster.nodes.len() {
        let (status, metrics) = cluster.node(i).http().get("/metrics")?;
        if status != 200 {
            bail!("GET /metrics answered {status}");
        }
        for line in metrics.lines() {
            let value = || line.split_whitespace().last()?.parse::<f64>().ok();
            if line.starts_with("sa_batch_latency_seconds_bucket") && line.contains("le=\"0.1\"") {
                fast += value().unwrap_or(0.0);
            } else if line.starts_with("sa_batch_latency_seconds_count") {
                all += value().unwrap_or(0.0);
            }
        }
    }
    Ok((fast, all))
}

/// Delivery attempts node `i` has made (`sa_output_deliveries_total`, every output and result).
fn delivery_attempts(cluster: &TestCluster, i: usize) -> anyhow::Result<f64> {
    let (status, metrics) = cluster.node(i).http().get("/metrics")?;
    if status != 200 {
        bail!("GET /metrics answered {status}");
    }
    Ok(metrics
        .lines()
        .filter(|line| line.starts_with("sa_output_deliveries_total"))
        .filter_map(|line| line.split_whitespace().last()?.parse::<f64>().ok())
        .sum())
}

/// Failover and config-push figures over `rounds` rounds.
fn failover_and_push(rounds: usize) -> anyhow::Result<()> {
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
