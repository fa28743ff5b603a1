//! docs/architecture.md §7 / issue #5: a write acknowledged to a client survives kill -9 of a minority.
//! A writer puts lookup-table values through random members of a 3-node cluster while the
//! leader (twice) and a follower are killed with SIGKILL and restarted; at the end every
//! acknowledged write is read back, with its value, through every node.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sa_chaos_tests::{TestCluster, workspace_binary};
use serde_json::{Value, json};

const TABLE: &str = "durability";
const MAX_WRITES: usize = 400;
const WRITE_PHASE: Duration = Duration::from_secs(24);

/// xorshift64*: enough randomness to pick nodes, reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

struct Outcome {
    acknowledged: Vec<(String, Value)>,
    refused: usize,
}

/// Puts values until `stop`, `MAX_WRITES` or `WRITE_PHASE`, each through a random node (which
/// may be down at that moment: then the write is refused, as a real client would see it).
fn write_until_stopped(
    sactl: PathBuf,
    certs_dir: PathBuf,
    nodes: Vec<String>,
    seed: u64,
    stop: Arc<AtomicBool>,
) -> Outcome {
    let mut rng = Rng(seed);
    let started = Instant::now();
    let mut outcome = Outcome {
        acknowledged: Vec::new(),
        refused: 0,
    };
    for n in 0..MAX_WRITES {
        if stop.load(Ordering::Relaxed) || started.elapsed() > WRITE_PHASE {
            break;
        }
        let via = rng.below(nodes.len());
        let key = format!("key-{n:04}");
        let value = json!({"n": n, "via": via});
        let out = Command::new(&sactl)
            .args(["lookup-tables", "put", TABLE, &key, &value.to_string()])
            .args(["--node", &nodes[via]])
            .arg("--certs-dir")
            .arg(&certs_dir)
            .env_remove("SA_NODE")
            .output()
            .expect("sactl runs");
        if out.status.success() {
            outcome.acknowledged.push((key, value));
        } else {
            outcome.refused += 1;
        }
    }
    outcome
}

fn kill_and_restart(cluster: &mut TestCluster, victim: usize, down_for: Duration, what: &str) {
    println!("kill -9 node {victim} ({what})");
    cluster.kill9(victim).unwrap();
    thread::sleep(down_for);
    cluster.restart(victim).unwrap();
}

/// The leader, waiting (bounded) while an election runs.
fn elected_leader(cluster: &TestCluster) -> usize {
    let mut found = None;
    cluster
        .wait_until(Duration::from_secs(20), "a leader is elected", |c| {
            found = c.leader();
            found.is_some()
        })
        .unwrap();
    found.expect("wait_until returned on a leader")
}

fn value_on(cluster: &TestCluster, node: usize, key: &str) -> Option<Value> {
    let out = cluster.sactl(node, &["lookup-tables", "get", TABLE, key]);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).expect("get prints JSON"))
}

fn key_count_on(cluster: &TestCluster, node: usize) -> u64 {
    let out = cluster.sactl(node, &["lookup-tables", "list", "--json"]);
    let tables: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_default();
    tables
        .iter()
        .find(|t| t["table"] == TABLE)
        .and_then(|t| t["keys"].as_u64())
        .unwrap_or(0)
}

#[test]
fn acknowledged_writes_survive_kill_9_of_a_minority_including_the_leader() {
    let test_started = Instant::now();
    let mut cluster = TestCluster::start(3).unwrap();
    let nodes: Vec<String> = (0..3).map(|i| cluster.grpc(i)).collect();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("seed {seed}");

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let sactl = workspace_binary("sactl").unwrap();
        let certs_dir = cluster.ca_dir();
        let stop = stop.clone();
        thread::spawn(move || write_until_stopped(sactl, certs_dir, nodes, seed, stop))
    };

    let mut rng = Rng(seed.rotate_left(17) | 1);
    thread::sleep(Duration::from_secs(2));
    let leader = elected_leader(&cluster);
    kill_and_restart(&mut cluster, leader, Duration::from_secs(3), "the leader");
    thread::sleep(Duration::from_secs(2));
    let leader = elected_leader(&cluster);
    let follower = (leader + 1 + rng.below(2)) % 3;
    kill_and_restart(&mut cluster, follower, Duration::from_secs(2), "a follower");
    thread::sleep(Duration::from_secs(2));
    let leader = elected_leader(&cluster);
    kill_and_restart(
        &mut cluster,
        leader,
        Duration::from_secs(3),
        "the leader again",
    );
    thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    let outcome = writer.join().unwrap();
    println!(
        "{} writes acknowledged, {} refused, in {:?}",
        outcome.acknowledged.len(),
        outcome.refused,
        test_started.elapsed()
    );
    assert!(
        outcome.acknowledged.len() >= 30,
        "too few writes succeeded to say anything: {}",
        outcome.acknowledged.len()
    );

    let expected = outcome.acknowledged.len() as u64;
    for node in 0..3 {
        cluster
            .wait_until(
                Duration::from_secs(30),
                &format!("node {node} holds every acknowledged key"),
                |c| key_count_on(c, node) >= expected,
            )
            .unwrap();
    }
    let cluster = Arc::new(cluster);
    let acknowledged = Arc::new(outcome.acknowledged);
    let readers: Vec<_> = (0..3)
        .map(|node| {
            let cluster = cluster.clone();
            let acknowledged = acknowledged.clone();
            thread::spawn(move || {
                acknowledged
                    .iter()
                    .filter(|(key, value)| value_on(&cluster, node, key).as_ref() != Some(value))
                    .map(|(key, _)| format!("node {node}: {key}"))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let lost: Vec<String> = readers
        .into_iter()
        .flat_map(|reader| reader.join().unwrap())
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged writes missing or changed (seed {seed}): {lost:?}"
    );
    println!(
        "every acknowledged write read back on every node; test took {:?}",
        test_started.elapsed()
    );
}
