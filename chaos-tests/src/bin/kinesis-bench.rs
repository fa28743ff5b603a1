//! The Kinesis source against moto_server, with real sanode processes on this machine:
//!
//! - throughput: records per second one node reads through the whole pipeline (classifier,
//!   rules, commit, checkpoint) from a 4-shard stream filled beforehand: from the moment every
//!   shard is leased until every shard's checkpoint is its last record;
//! - takeover: on 3 nodes with records flowing, the time from kill -9 of a follower that reads
//!   shards until all its shards are leased elsewhere, and until each has a checkpoint written
//!   by its new owner.
//!
//! `cargo run --release -p sa-chaos-tests --bin kinesis-bench -- [RECORDS] [RUNS] [LEASE_TIMEOUT_SECS]`
//! (build sanode and sactl first, in the same profile). moto's own ceiling is measured
//! separately: `cargo bench -p sa-aws-sources --bench kinesis_read`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use sa_aws_sources::SourceClients;
use sa_chaos_tests::aws_sources::{create_stream, moto_clients, put_record};
use sa_chaos_tests::{MotoServer, TestCluster, write_repository};
use serde_json::{Value, json};

const RULE: &str = r#"
from streamalert.shared.rule import rule


@rule(logs=['bench:event'])
def kinesis_bench(rec):
    return rec['seq'] % 100 == 0
"#;

const SHARDS: i32 = 4;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let records: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(20_000);
    let runs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3);
    let lease_timeout: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let moto = MotoServer::start()?;
    let clients = runtime.block_on(moto_clients(&moto));

    let mut rates = Vec::new();
    for run in 0..runs {
        let rate = throughput_run(&runtime, &moto, &clients, &format!("bench-{run}"), records)?;
        println!("run {run}: {records} records, {rate:.0} records/s on one node");
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "throughput median {:.0} records/s (one node, {SHARDS} shards, {records} records, {runs} runs)",
        rates[rates.len() / 2]
    );

    let (moved, resumed) = takeover_runs(&runtime, &moto, &clients, runs, lease_timeout)?;
    println!(
        "takeover after kill -9 (lease timeout {lease_timeout}s): leases moved median {:?}, reading resumed median {:?} ({runs} kills)",
        median(moved),
        median(resumed)
    );
    Ok(())
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn repository(dir: &std::path::Path, stream: &str) -> anyhow::Result<std::path::PathBuf> {
    write_repository(
        dir,
        &[(
            "bench",
            json!({"id": "bench", "classifier_config": {}, "data_sources": {"kinesis": {stream: ["bench"]}}}),
        )],
        &[(
            "bench",
            json!({"bench:event": {"parser": "json", "schema": {"seq": "integer", "host": "string"}}}),
        )],
        &[("bench_rules.py", RULE)],
        None,
    )
}

/// Fills `stream` with `records` records in PutRecords calls of 500; returns each shard's last
/// sequence number.
async fn fill(
    clients: &SourceClients,
    stream: &str,
    records: u64,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    let mut seq = 0;
    while seq < records {
        let end = (seq + 500).min(records);
        let entries: Vec<PutRecordsRequestEntry> = (seq..end)
            .map(|n| {
                PutRecordsRequestEntry::builder()
                    .partition_key(format!("key-{n}"))
                    .data(Blob::new(
                        json!({"seq": n, "host": format!("web-{}", n % 13)})
                            .to_string()
                            .into_bytes(),
                    ))
                    .build()
                    .expect("partition key and data are set")
            })
            .collect();
        let out = clients
            .kinesis
            .put_records()
            .stream_name(stream)
            .set_records(Some(entries))
            .send()
            .await?;
        if out.failed_record_count().unwrap_or(0) > 0 {
            bail!("PutRecords: some records failed");
        }
        for result in out.records() {
            if let (Some(shard), Some(sequence)) = (result.shard_id(), result.sequence_number()) {
                last.insert(shard.to_string(), sequence.to_string());
            }
        }
        seq = end;
    }
    Ok(last)
}

fn shards(cluster: &TestCluster, i: usize) -> Vec<Value> {
    cluster
        .status(i)
        .ok()
        .and_then(|status| status["shards"].as_array().cloned())
        .unwrap_or_default()
}

fn throughput_run(
    runtime: &tokio::runtime::Runtime,
    moto: &MotoServer,
    clients: &SourceClients,
    stream: &str,
    records: u64,
) -> anyhow::Result<f64> {
    runtime.block_on(create_stream(&clients.kinesis, stream, SHARDS))?;
    let last = runtime.block_on(fill(clients, stream, records))?;
    let dir = tempfile::tempdir()?;
    let repo = repository(dir.path(), stream)?;
    let env = moto.env();
    let cluster = TestCluster::start_configured(1, |options| {
        options.repo = repo.clone();
        options.env.extend(env.iter().cloned());
        options.extra_args.push("--quiet-alerts".into());
    })?;
    cluster.wait_until(Duration::from_secs(30), "every shard leased", |c| {
        shards(c, 0).iter().filter(|s| s["owner"].is_u64()).count() == SHARDS as usize
    })?;
    let started = Instant::now();
    cluster.wait_until(
        Duration::from_secs(600),
        "every shard checkpointed at its last record",
        |c| {
            let list = shards(c, 0);
            last.iter().all(|(shard, sequence)| {
                list.iter()
                    .any(|s| s["shard"] == shard.as_str() && s["checkpoint"] == sequence.as_str())
            })
        },
    )?;
    Ok(records as f64 / started.elapsed().as_secs_f64())
}

/// Kills a follower that reads shards `runs` times (restarting it in between); returns how long
/// its shards took to be leased elsewhere, and to be checkpointed by their new owners.
fn takeover_runs(
    runtime: &tokio::runtime::Runtime,
    moto: &MotoServer,
    clients: &SourceClients,
    runs: usize,
    lease_timeout: u64,
) -> anyhow::Result<(Vec<Duration>, Vec<Duration>)> {
    let stream = "takeover";
    runtime.block_on(create_stream(&clients.kinesis, stream, SHARDS))?;
    let dir = tempfile::tempdir()?;
    let repo = repository(dir.path(), stream)?;
    let env = moto.env();
    let mut cluster = TestCluster::start_configured(3, |options| {
        options.repo = repo.clone();
        options.env.extend(env.iter().cloned());
        options.extra_args.extend([
            "--quiet-alerts".to_string(),
            "--lease-timeout".to_string(),
            format!("{lease_timeout}s"),
        ]);
    })?;

    // records keep flowing, so a new owner's checkpoint shows it is reading
    let stop = Arc::new(AtomicBool::new(false));
    let putter = {
        let stop = stop.clone();
        let kinesis = clients.kinesis.clone();
        runtime.spawn(async move {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let data = json!({"seq": n, "host": "takeover"}).to_string();
                if put_record(&kinesis, stream, &format!("key-{n}"), data.as_bytes())
                    .await
                    .is_err()
                {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                n += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };

    let mut moved_times = Vec::new();
    let mut resumed_times = Vec::new();
    for run in 0..runs {
        let leader = cluster.leader().context("no leader")?;
        let mut spread = BTreeMap::new();
        cluster.wait_until(Duration::from_secs(60), "shards spread over 3 nodes", |c| {
            spread = owners(&shards(c, leader));
            spread.len() == SHARDS as usize && spread.values().collect::<BTreeSet<_>>().len() == 3
        })?;
        let victim = (0..3)
            .find(|i| *i != leader && spread.values().any(|o| *o == *i as u64 + 1))
            .context("no follower reads shards")?;
        let victim_id = victim as u64 + 1;
        let victim_shards: Vec<String> = spread
            .iter()
            .filter(|(_, owner)| **owner == victim_id)
            .map(|(shard, _)| shard.clone())
            .collect();
        let killed_ms = now_ms();
        cluster.kill9(victim)?;
        let killed = Instant::now();
        let mut moved = None;
        cluster.wait_until(Duration::from_secs(60), "reading resumed elsewhere", |c| {
            let list = shards(c, leader);
            let all_moved = victim_shards.iter().all(|shard| {
                list.iter().any(|s| {
                    s["shard"] == shard.as_str()
                        && s["owner"].as_u64().is_some_and(|o| o != victim_id)
                })
            });
            if all_moved && moved.is_none() {
                moved = Some(killed.elapsed());
            }
            all_moved
                && victim_shards.iter().all(|shard| {
                    list.iter().any(|s| {
                        s["shard"] == shard.as_str()
                            && s["checkpoint_ms"].as_u64().is_some_and(|t| t > killed_ms)
                            && s["owner"].as_u64().is_some_and(|o| o != victim_id)
                    })
                })
        })?;
        let resumed = killed.elapsed();
        let moved = moved.unwrap_or(resumed);
        println!(
            "kill {run}: node {victim_id} ({} shards) leases moved in {moved:?}, reading resumed in {resumed:?}",
            victim_shards.len()
        );
        moved_times.push(moved);
        resumed_times.push(resumed);
        cluster.restart(victim)?;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = runtime.block_on(putter);
    Ok((moved_times, resumed_times))
}

fn owners(shards: &[Value]) -> BTreeMap<String, u64> {
    shards
        .iter()
        .filter_map(|s| Some((s["shard"].as_str()?.to_string(), s["owner"].as_u64()?)))
        .collect()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64
}
