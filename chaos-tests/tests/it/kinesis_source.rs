//! The Kinesis source on real 3-node clusters against moto_server: shards spread over every
//! node, records put before and during consumption, a kill -9 whose shards move within the
//! lease timeout with every alert stored exactly once, a split plus a merge while the stream is
//! being read, and a read of 10 MB committed on three nodes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sa_aws_sources::SourceClients;
use sa_aws_sources::kinesis::{
    PacingConfig, ReaderOptions, ShardReader, StartPosition, discover_shards,
};
use sa_chaos_tests::aws_sources::{create_stream, moto_clients, put_record};
use sa_chaos_tests::{MotoServer, TestCluster, write_repository};
use serde_json::{Value, json};

const RULES: &str = r#"
from streamalert.shared.rule import rule


@rule(logs=['chaos:event'])
def kinesis_hit(rec):
    return rec['kind'] == 'hit'
"#;

const LEASE_TIMEOUT_SECS: u64 = 3;

struct Setup {
    cluster: TestCluster,
    clients: SourceClients,
    runtime: tokio::runtime::Runtime,
    _moto: MotoServer,
    _dir: tempfile::TempDir,
}

/// moto with `stream` of `shards` shards, and a 3-node cluster whose config reads it.
fn setup(stream: &str, shards: i32) -> Setup {
    setup_with(stream, shards, 3, &[], 0..0)
}

/// Like [`setup`], with `nodes` nodes, extra sanode flags, and records `before` put before the
/// nodes start.
fn setup_with(
    stream: &str,
    shards: i32,
    nodes: usize,
    extra_args: &[&str],
    before: std::ops::Range<u64>,
) -> Setup {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let moto = MotoServer::start().expect("moto_server starts (deploy/local/bootstrap.sh)");
    let clients = runtime.block_on(moto_clients(&moto));
    runtime
        .block_on(create_stream(&clients.kinesis, stream, shards))
        .unwrap();
    runtime.block_on(async {
        for seq in before {
            put_event(
                &clients.kinesis,
                stream,
                seq,
                json!({"kind": "hit", "seq": seq}),
            )
            .await;
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let repo: PathBuf = write_repository(
        dir.path(),
        &[(
            "chaos",
            json!({"id": "chaos", "classifier_config": {},
                   "data_sources": {"kinesis": {stream: ["chaos"]}}}),
        )],
        &[(
            "chaos",
            json!({"chaos:event": {
                "parser": "json",
                "schema": {"kind": "string", "seq": "integer", "pad": "string"},
                "configuration": {"optional_top_level_keys": ["pad"]}
            }}),
        )],
        &[("kinesis_rules.py", RULES)],
        None,
    )
    .unwrap();
    let env = moto.env();
    let cluster = TestCluster::start_configured(nodes, |options| {
        options.repo = repo.clone();
        options.env.extend(env.iter().cloned());
        options.extra_args.extend([
            "--quiet-alerts".to_string(),
            "--lease-timeout".to_string(),
            format!("{LEASE_TIMEOUT_SECS}s"),
        ]);
        options
            .extra_args
            .extend(extra_args.iter().map(|a| a.to_string()));
    })
    .unwrap();
    Setup {
        cluster,
        clients,
        runtime,
        _moto: moto,
        _dir: dir,
    }
}

/// Puts one event as JSON, under the partition key of its `seq`.
async fn put_event(kinesis: &aws_sdk_kinesis::Client, stream: &str, seq: u64, event: Value) {
    let data = event.to_string();
    put_record(kinesis, stream, &format!("key-{seq}"), data.as_bytes())
        .await
        .unwrap();
}

/// Puts records `seqs` (even ones match the rule); a few rejected payloads go in between.
fn put_events(s: &Setup, stream: &str, seqs: std::ops::Range<u64>, pause_every: u64) {
    s.runtime.block_on(async {
        for seq in seqs {
            let kind = if seq % 2 == 0 { "hit" } else { "miss" };
            put_event(
                &s.clients.kinesis,
                stream,
                seq,
                json!({"kind": kind, "seq": seq}),
            )
            .await;
            if seq % 25 == 0 {
                // no schema takes it: dead-lettered, and the shard moves on
                put_record(
                    &s.clients.kinesis,
                    stream,
                    &format!("bad-{seq}"),
                    b"not json at all",
                )
                .await
                .unwrap();
            }
            if pause_every > 0 && seq % pause_every == 0 {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
}

/// The shards `sactl status --json` of node `i` reports.
fn shards(cluster: &TestCluster, i: usize) -> Vec<Value> {
    cluster
        .status(i)
        .ok()
        .and_then(|status| status["shards"].as_array().cloned())
        .unwrap_or_default()
}

/// `seq` of every stored alert, with how many alerts carry it, as node `i` lists them.
fn alert_seqs(cluster: &TestCluster, i: usize) -> Option<BTreeMap<u64, usize>> {
    let out = cluster.sactl(i, &["alerts", "list", "--json"]);
    if !out.status.success() {
        return None;
    }
    let alerts: Vec<Value> = serde_json::from_slice(&out.stdout).ok()?;
    let mut seqs = BTreeMap::new();
    for alert in alerts {
        let record = &alert["alert"]["Record"];
        let record: Value = match record.as_str() {
            Some(text) => serde_json::from_str(text).ok()?,
            None => record.clone(),
        };
        *seqs.entry(record["seq"].as_u64()?).or_insert(0) += 1;
    }
    Some(seqs)
}

fn running(cluster: &TestCluster) -> usize {
    (0..cluster.nodes.len())
        .find(|i| cluster.nodes[*i].is_some())
        .expect("a running node")
}

/// Waits until node-visible alerts are exactly `expected` (seq -> count), then checks they
/// stay so for a few seconds (no late duplicates).
fn assert_alerts_exactly(
    cluster: &TestCluster,
    expected: &BTreeMap<u64, usize>,
    timeout: Duration,
) {
    let deadline = Instant::now() + timeout;
    loop {
        let got = alert_seqs(cluster, running(cluster));
        if got.as_ref() == Some(expected) {
            break;
        }
        if let Some(got) = &got {
            let extra: Vec<_> = got
                .iter()
                .filter(|(s, n)| expected.get(s) < Some(n))
                .collect();
            assert!(
                extra.is_empty(),
                "alerts beyond the expected ones: {extra:?}"
            );
        }
        assert!(
            Instant::now() < deadline,
            "timed out: {} alert seqs expected, got {:?}",
            expected.len(),
            got.map(|g| g.len())
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Every alert is in; a quiet period lets a late duplicate (a record read twice) show up.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        alert_seqs(cluster, running(cluster)).as_ref(),
        Some(expected)
    );
}

fn owners(shards: &[Value]) -> BTreeMap<String, u64> {
    shards
        .iter()
        .filter_map(|s| Some((s["shard"].as_str()?.to_string(), s["owner"].as_u64()?)))
        .collect()
}

#[test]
fn shards_spread_over_every_node_and_move_within_the_lease_timeout_after_a_kill9() {
    let mut s = setup("events", 4);
    put_events(&s, "events", 0..100, 0);

    // every shard leased, all three nodes reading
    let mut spread = BTreeMap::new();
    s.cluster
        .wait_until(
            Duration::from_secs(30),
            "4 shards spread over 3 nodes",
            |c| {
                spread = owners(&shards(c, 0));
                let nodes: BTreeSet<u64> = spread.values().copied().collect();
                spread.len() == 4 && nodes.len() == 3
            },
        )
        .unwrap();

    put_events(&s, "events", 100..160, 10);
    // kill -9 a node that reads shards and is not the leader (the leader's death adds an
    // election, measured by the bench)
    let leader = s.cluster.leader().expect("a leader");
    let victim = (0..3)
        .find(|i| *i != leader && spread.values().any(|owner| *owner == *i as u64 + 1))
        .expect("a follower owns shards");
    let victim_id = victim as u64 + 1;
    s.cluster.kill9(victim).unwrap();
    let killed = Instant::now();
    put_events(&s, "events", 160..260, 10);

    let mut after = BTreeMap::new();
    s.cluster
        .wait_until(Duration::from_secs(30), "the victim's shards moved", |c| {
            after = owners(&shards(c, leader));
            after.len() == 4 && after.values().all(|owner| *owner != victim_id)
        })
        .unwrap();
    let moved_in = killed.elapsed();
    // lease timeout, plus one planning round and probes that time out
    assert!(
        moved_in < Duration::from_secs(LEASE_TIMEOUT_SECS + 5),
        "shards moved after {moved_in:?}"
    );
    let survivors: BTreeSet<u64> = after.values().copied().collect();
    assert_eq!(survivors.len(), 2, "{after:?}");

    // the victim comes back: it rejoins the spread, and reading goes on
    s.cluster.restart(victim).unwrap();
    s.cluster
        .wait_until(
            Duration::from_secs(60),
            "shards spread over 3 nodes again",
            |c| {
                let now = owners(&shards(c, leader));
                now.len() == 4 && now.values().collect::<BTreeSet<_>>().len() == 3
            },
        )
        .unwrap();
    put_events(&s, "events", 260..300, 0);
    let expected: BTreeMap<u64, usize> = (0..300).filter(|n| n % 2 == 0).map(|n| (n, 1)).collect();
    assert_alerts_exactly(&s.cluster, &expected, Duration::from_secs(90));

    // status reports checkpoints and lag for every shard
    let status = shards(&s.cluster, leader);
    assert_eq!(status.len(), 4, "{status:?}");
    for shard in &status {
        assert!(shard["checkpoint"].is_string(), "{shard}");
        assert!(shard["millis_behind_latest"].is_i64(), "{shard}");
    }
    // Each node exports the lag of the shards it reads.
    let exported = (0..3).any(|i| {
        s.cluster
            .node(i)
            .http()
            .get("/metrics")
            .is_ok_and(|(_, text)| text.contains("sa_kinesis_lag_milliseconds{shard=\"shardId-"))
    });
    assert!(exported, "no node exports sa_kinesis_lag_milliseconds");
    // The rejected payloads are dead letters naming their stream, shard and sequence number.
    let listed = s
        .cluster
        .sactl(0, &["dead-letters", "list", "--kind", "classify", "--json"]);
    assert!(listed.status.success(), "{listed:?}");
    let dead: Vec<Value> = serde_json::from_slice(&listed.stdout).unwrap();
    assert!(!dead.is_empty());
    for letter in &dead {
        let letter = &letter["dead_letter"];
        assert_eq!(letter["record"], "not json at all", "{letter}");
        let origin = letter["origin"].as_str().unwrap_or_default();
        let parts: Vec<&str> = origin.splitn(4, '/').collect();
        assert_eq!(parts[..2], ["kinesis", "events"], "{letter}");
        assert!(parts[2].starts_with("shardId-"), "{letter}");
        assert!(
            parts[3].chars().next().is_some_and(|c| c.is_ascii_digit()),
            "{letter}"
        );
    }
}

/// Every record each shard holds now, read straight from moto: (shard, data).
fn stream_contents(s: &Setup, stream: &str) -> Vec<(String, Vec<u8>)> {
    s.runtime.block_on(async {
        let mut all = Vec::new();
        for info in discover_shards(&s.clients.kinesis, stream).await.unwrap() {
            let mut reader = ShardReader::new(
                s.clients.kinesis.clone(),
                stream,
                &info,
                StartPosition::TrimHorizon,
                ReaderOptions {
                    max_records_per_call: 1000,
                    pacing: PacingConfig {
                        calls_per_sec: 50.0,
                        idle_min: Duration::from_millis(10),
                        idle_max: Duration::from_millis(20),
                        ..PacingConfig::default()
                    },
                },
            );
            for _ in 0..50 {
                let batch = reader.next_batch().await.unwrap();
                let empty = batch.records.is_empty();
                all.extend(
                    batch
                        .records
                        .into_iter()
                        .map(|r| (info.shard_id.clone(), r.data)),
                );
                if empty {
                    break;
                }
            }
        }
        all
    })
}

#[test]
fn a_split_and_a_merge_during_consumption_lose_nothing_and_read_children_after_parents() {
    let s = setup("reshard", 4);
    // moto routes puts made after a reshard to the closed parents (past their end, where no
    // real shard takes records), so every record is put first; the stream reshards while every
    // shard has a running consumer
    put_events(&s, "reshard", 0..300, 0);
    let ids: Vec<String> = s.runtime.block_on(async {
        let kinesis = &s.clients.kinesis;
        let listed = kinesis
            .list_shards()
            .stream_name("reshard")
            .send()
            .await
            .unwrap();
        let ids: Vec<String> = listed
            .shards()
            .iter()
            .map(|s| s.shard_id().to_string())
            .collect();
        let range = listed.shards()[0].hash_key_range().cloned().unwrap();
        let low: u128 = range.starting_hash_key().parse().unwrap();
        let high: u128 = range.ending_hash_key().parse().unwrap();
        kinesis
            .split_shard()
            .stream_name("reshard")
            .shard_to_split(&ids[0])
            .new_starting_hash_key((low + (high - low) / 2).to_string())
            .send()
            .await
            .unwrap();
        kinesis
            .merge_shards()
            .stream_name("reshard")
            .shard_to_merge(&ids[2])
            .adjacent_shard_to_merge(&ids[3])
            .send()
            .await
            .unwrap();
        ids
    });

    let parents: BTreeMap<String, Vec<String>> = s.runtime.block_on(async {
        discover_shards(&s.clients.kinesis, "reshard")
            .await
            .unwrap()
            .into_iter()
            .map(|shard| {
                let parents = shard
                    .parent_shard_id
                    .into_iter()
                    .chain(shard.adjacent_parent_shard_id)
                    .collect();
                (shard.shard_id, parents)
            })
            .collect()
    });
    assert_eq!(parents.len(), 7, "{parents:?}");

    // the parents end, and their children are leased to live nodes; never is a child leased
    // or checkpointed while one of its parents is unfinished (KCL order)
    s.cluster
        .wait_until(
            Duration::from_secs(60),
            "parents finished, children leased",
            |c| {
                let list = shards(c, 0);
                let finished: BTreeSet<&str> = list
                    .iter()
                    .filter(|shard| shard["finished"] == true)
                    .filter_map(|shard| shard["shard"].as_str())
                    .collect();
                for shard in &list {
                    let id = shard["shard"].as_str().unwrap_or_default();
                    for parent in parents.get(id).into_iter().flatten() {
                        assert!(
                            finished.contains(parent.as_str()),
                            "{id} is read before its parent {parent} finished: {list:?}"
                        );
                    }
                }
                let leased = list.iter().filter(|shard| shard["owner"].is_u64()).count();
                finished == BTreeSet::from([ids[0].as_str(), ids[2].as_str(), ids[3].as_str()])
                    && leased == 4
            },
        )
        .unwrap();

    // moto copies a merge's parents into the child, so the truth is what the shards hold:
    // every matching record the stream holds yields exactly one alert
    let deadline = Instant::now() + Duration::from_secs(90);
    let expected = loop {
        let mut expected: BTreeMap<u64, usize> = BTreeMap::new();
        for (_, data) in stream_contents(&s, "reshard") {
            if let Ok(record) = serde_json::from_slice::<Value>(&data)
                && record["kind"] == "hit"
            {
                *expected.entry(record["seq"].as_u64().unwrap()).or_insert(0) += 1;
            }
        }
        let all_put = (0..300)
            .filter(|n| n % 2 == 0)
            .all(|n| expected.contains_key(&n));
        if all_put || Instant::now() > deadline {
            break expected;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        (0..300)
            .filter(|n| n % 2 == 0)
            .all(|n| expected.contains_key(&n))
    );
    assert_alerts_exactly(&s.cluster, &expected, Duration::from_secs(90));

    // Parents whose children are being read are done: `sactl status` leaves them out unless
    // --all, and says how many it left out.
    let parents_done = [&ids[0], &ids[2], &ids[3]];
    s.cluster
        .wait_until(
            Duration::from_secs(30),
            "every parent's child checkpointed",
            |c| {
                shards(c, 0)
                    .iter()
                    .filter(|shard| shard["children_reading"] == true)
                    .count()
                    == parents_done.len()
            },
        )
        .unwrap();
    let table = String::from_utf8(s.cluster.sactl(0, &["status"]).stdout).unwrap();
    let all = String::from_utf8(s.cluster.sactl(0, &["status", "--all"]).stdout).unwrap();
    for parent in parents_done {
        assert!(!table.contains(parent.as_str()), "{parent} shown:\n{table}");
        assert!(
            all.contains(parent.as_str()),
            "{parent} missing from --all:\n{all}"
        );
    }
    assert!(
        table.contains("(3 finished shards whose children are being read not shown"),
        "{table}"
    );
}

#[test]
fn the_leaders_shards_move_after_a_leader_kill9_and_every_alert_is_stored_once() {
    let mut s = setup("leader", 4);
    put_events(&s, "leader", 0..100, 0);
    let mut spread = BTreeMap::new();
    s.cluster
        .wait_until(
            Duration::from_secs(30),
            "4 shards spread over 3 nodes",
            |c| {
                spread = owners(&shards(c, 0));
                spread.len() == 4 && spread.values().collect::<BTreeSet<_>>().len() == 3
            },
        )
        .unwrap();
    let leader = s.cluster.leader().expect("a leader");
    let leader_id = leader as u64 + 1;
    assert!(spread.values().any(|owner| *owner == leader_id));
    s.cluster.kill9(leader).unwrap();
    let killed = Instant::now();
    put_events(&s, "leader", 100..200, 10);

    let observer = (leader + 1) % 3;
    s.cluster
        .wait_until(
            Duration::from_secs(40),
            "the old leader's shards moved",
            |c| {
                let now = owners(&shards(c, observer));
                now.len() == 4 && now.values().all(|owner| *owner != leader_id)
            },
        )
        .unwrap();
    let moved_in = killed.elapsed();
    // an election, then the new leader's full lease timeout for every voter
    assert!(
        moved_in < Duration::from_secs(LEASE_TIMEOUT_SECS + 15),
        "shards moved after {moved_in:?}"
    );
    put_events(&s, "leader", 200..240, 0);
    let expected: BTreeMap<u64, usize> = (0..240).filter(|n| n % 2 == 0).map(|n| (n, 1)).collect();
    assert_alerts_exactly(&s.cluster, &expected, Duration::from_secs(90));
}

#[test]
fn kinesis_start_latest_skips_what_was_put_before_the_first_read() {
    // 40 matching records are in the stream before any node reads it: never alerted
    let s = setup_with("latest", 2, 1, &["--kinesis-start", "latest"], 1000..1040);
    // LATEST is fixed by each shard's first read, which a first progress record follows
    s.cluster
        .wait_until(Duration::from_secs(30), "both shards polled", |c| {
            let list = shards(c, 0);
            list.len() == 2 && list.iter().all(|shard| shard["checkpoint_ms"].is_u64())
        })
        .unwrap();
    put_events(&s, "latest", 0..40, 0);
    let expected: BTreeMap<u64, usize> = (0..40).filter(|n| n % 2 == 0).map(|n| (n, 1)).collect();
    assert_alerts_exactly(&s.cluster, &expected, Duration::from_secs(60));
}

#[test]
fn a_fan_out_consumer_the_endpoint_cannot_serve_falls_back_to_polling() {
    // moto registers stream consumers but answers SubscribeToShard with an error: the node
    // registers its consumer, gives up on subscribing, and reads every record with GetRecords.
    let s = setup_with("fanout", 2, 1, &["--kinesis-fan-out", "sa-test"], 0..0);
    put_events(&s, "fanout", 0..40, 0);
    let expected: BTreeMap<u64, usize> = (0..40).filter(|n| n % 2 == 0).map(|n| (n, 1)).collect();
    assert_alerts_exactly(&s.cluster, &expected, Duration::from_secs(90));
    let log = s.cluster.node(0).log();
    assert!(
        log.contains("SubscribeToShard failed; reading this shard with GetRecords"),
        "the fan-out path was tried first"
    );
}

/// One read of 10 MB (the most GetRecords returns): ten records of 1 MB, each firing the rule,
/// put before the nodes start. Their alerts commit on three nodes in entries the followers
/// accept, and each is stored once.
#[test]
fn a_10_mb_read_commits_on_three_nodes_and_every_alert_is_stored_once() {
    let stream = "chaos-large";
    let s = setup(stream, 1);
    let pad: String = (0..1_000_000u32)
        .map(|i| char::from(b'a' + (i.wrapping_mul(2_654_435_761) >> 27) as u8 % 26))
        .collect();
    s.runtime.block_on(async {
        for seq in 0..10u64 {
            let event = json!({"kind": "hit", "seq": seq, "pad": pad});
            put_event(&s.clients.kinesis, stream, seq, event).await;
        }
    });
    let expected: BTreeMap<u64, usize> = (0..10).map(|seq| (seq, 1)).collect();
    assert_alerts_exactly(&s.cluster, &expected, Duration::from_secs(120));
    // Every node holds them, not only the one that read the shard.
    for i in 0..3 {
        s.cluster
            .wait_until(
                Duration::from_secs(60),
                "every node lists the ten alerts",
                |c| alert_seqs(c, i).as_ref() == Some(&expected),
            )
            .unwrap();
    }
}
