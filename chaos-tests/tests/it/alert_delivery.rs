//! Alert delivery on a real 3-node cluster started as the README starts one (no key file copied
//! between nodes): a merge window open when the leader is killed -9 is closed and delivered
//! exactly once by the next leader, an output that is down for a while (across a leader kill)
//! receives every alert once after it recovers, and output credentials reach every member,
//! through leader kills, a member rejoining with an empty disk, and a key rotation.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sa_chaos_tests::{
    HttpReceiver, ReceivedRequest, Reply, TestCluster, wait_for, write_repository,
};
use serde_json::{Value, json};

const RULES: &str = r#"
from streamalert.shared.rule import rule


@rule(logs=['chaos:event'], outputs=['webhook:soc'], merge_by_keys=['user'], merge_window_mins=3)
def chaos_merged(rec):
    return rec['kind'] == 'merge'


@rule(logs=['chaos:event'], outputs=['webhook:soc'])
def chaos_single(rec):
    return rec['kind'] == 'single'
"#;

struct Setup {
    cluster: TestCluster,
    receiver: HttpReceiver,
    _dir: tempfile::TempDir,
}

/// A cluster whose nodes share a repository with the rules above, a webhook output pointed at
/// a local receiver (set through node 1), and a merge-window minute of 2 s.
fn setup(extra_args: &[&str]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let repo: PathBuf = write_repository(
        dir.path(),
        &[(
            "chaos",
            json!({"id": "chaos", "classifier_config": {}, "data_sources": {"http": {"events": ["chaos"]}}}),
        )],
        &[(
            "chaos",
            json!({"chaos:event": {"parser": "json", "schema": {"user": "string", "kind": "string", "seq": "integer"}}}),
        )],
        &[("chaos_rules.py", RULES)],
        Some(&json!({"webhook": ["soc"]})),
    )
    .unwrap();
    let extra: Vec<String> = [
        "--quiet-alerts",
        "--merge-minute",
        "2s",
        "--merge-interval",
        "500ms",
    ]
    .iter()
    .chain(extra_args)
    .map(|a| a.to_string())
    .collect();
    let cluster = TestCluster::start_configured(3, |options| {
        options.repo = repo.clone();
        options.extra_args.extend(extra.iter().cloned());
    })
    .unwrap();
    let receiver = HttpReceiver::start().unwrap();
    let set = cluster.sactl(
        1,
        &[
            "outputs",
            "set",
            "webhook:soc",
            &format!("url={}", receiver.url()),
        ],
    );
    assert!(set.status.success(), "{set:?}");
    Setup {
        cluster,
        receiver,
        _dir: dir,
    }
}

fn ingest(cluster: &TestCluster, node: usize, records: &[Value]) {
    let body: String = records.iter().map(|r| format!("{r}\n")).collect();
    let (status, reply) = cluster
        .node(node)
        .http()
        .post("/v1/ingest/events", body.as_bytes())
        .unwrap();
    assert_eq!(status, 200, "{reply}");
}

fn alert_id(request: &ReceivedRequest) -> String {
    request
        .header("x-sa-alert-id")
        .expect("the webhook names the alert")
        .to_string()
}

#[test]
fn a_merge_window_open_at_a_leader_kill_is_delivered_once_by_the_next_leader() {
    let mut s = setup(&[]);
    let leader = s.cluster.leader().expect("a leader");
    let records: Vec<Value> = (0..5)
        .map(|seq| json!({"user": "bob", "kind": "merge", "seq": seq}))
        .collect();
    ingest(&s.cluster, leader, &records);
    // The window (3 minutes of 2 s) is open: the leader dies before it closes.
    s.cluster.kill9(leader).unwrap();

    let merged = |receiver: &HttpReceiver| -> Vec<ReceivedRequest> {
        receiver
            .requests()
            .into_iter()
            .filter(|r| r.json()["record"]["AlertCount"].is_number())
            .collect()
    };
    wait_for("the merged alert", Duration::from_secs(60), || {
        !merged(&s.receiver).is_empty()
    });
    s.cluster.restart(leader).unwrap();
    std::thread::sleep(Duration::from_secs(5));

    let delivered = merged(&s.receiver);
    assert_eq!(delivered.len(), 1, "one merged alert, delivered once");
    let alert = delivered[0].json();
    assert_eq!(alert["rule_name"], "chaos_merged");
    assert_eq!(alert["record"]["AlertCount"], 5);
    assert_eq!(alert["record"]["MergedBy"], json!({"user": "bob"}));
    assert_eq!(
        s.receiver.requests().len(),
        1,
        "merge-enabled alerts reach the webhook only merged"
    );
}

#[test]
fn an_output_down_across_a_leader_kill_gets_every_alert_once_after_it_recovers() {
    let mut s = setup(&["--retry-max-backoff", "2s"]);
    s.receiver.set_default_reply(Reply::status(503));
    let records: Vec<Value> = (0..10)
        .map(|seq| json!({"user": format!("u{seq}"), "kind": "single", "seq": seq}))
        .collect();
    ingest(&s.cluster, 0, &records);
    wait_for(
        "failing attempts for every alert",
        Duration::from_secs(30),
        || {
            let ids: std::collections::BTreeSet<String> =
                s.receiver.requests().iter().map(alert_id).collect();
            ids.len() == records.len()
        },
    );
    let leader = s.cluster.leader().expect("a leader");
    s.cluster.kill9(leader).unwrap();
    std::thread::sleep(Duration::from_secs(4));

    s.receiver.set_default_reply(Reply::status(200));
    let recovered = Instant::now();
    let after_recovery = |receiver: &HttpReceiver| -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for request in receiver.requests() {
            if request.received_at > recovered {
                *counts.entry(alert_id(&request)).or_insert(0) += 1;
            }
        }
        counts
    };
    wait_for(
        "every alert after the recovery",
        Duration::from_secs(60),
        || after_recovery(&s.receiver).len() == records.len(),
    );
    s.cluster.restart(leader).unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let counts = after_recovery(&s.receiver);
    assert_eq!(counts.len(), records.len());
    assert!(
        counts.values().all(|&n| n == 1),
        "each alert delivered once after the recovery: {counts:?}"
    );
    let seqs: std::collections::BTreeSet<i64> = s
        .receiver
        .requests()
        .iter()
        .filter(|r| r.received_at > recovered)
        .map(|r| r.json()["record"]["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (0..10).collect());
}

/// The id of the data key the cluster seals output settings with, as `sactl outputs list`
/// names it.
fn data_key_in_use(cluster: &TestCluster, node: usize) -> String {
    let list = cluster.sactl(node, &["outputs", "list"]);
    assert!(list.status.success(), "{list:?}");
    let stderr = String::from_utf8_lossy(&list.stderr).to_string();
    stderr
        .split("cluster data key ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("no data key named in {stderr:?}"))
        .to_string()
}

fn holds_data_key(cluster: &TestCluster, node: usize, id: &str) -> bool {
    cluster
        .node(node)
        .data_dir()
        .join("data-keys")
        .join(format!("{id}.key"))
        .exists()
}

fn single_alert(s: &Setup, node: usize, seq: i64) {
    let before = s.receiver.requests().len();
    ingest(
        &s.cluster,
        node,
        &[json!({"user": "carol", "kind": "single", "seq": seq})],
    );
    wait_for(
        &format!("alert {seq} at the webhook"),
        Duration::from_secs(60),
        || {
            s.receiver.requests()[before..]
                .iter()
                .any(|r| r.json()["record"]["seq"] == seq)
        },
    );
}

fn files_under(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[test]
fn output_credentials_need_no_shared_key_through_leader_kills_a_rejoin_and_a_rotation() {
    let mut s = setup(&[]);
    let first_key = data_key_in_use(&s.cluster, 1);
    s.cluster
        .wait_until(
            Duration::from_secs(30),
            "every member holds the data key",
            |c| (0..3).all(|i| holds_data_key(c, i, &first_key)),
        )
        .unwrap();
    let member_keys: std::collections::BTreeSet<Vec<u8>> = (0..3)
        .map(|i| std::fs::read(s.cluster.node(i).data_dir().join("secrets.key")).unwrap())
        .collect();
    assert_eq!(member_keys.len(), 3, "each member has a key of its own");

    // The leader dies: the next one delivers with its own copy of the data key.
    let leader = s.cluster.leader().expect("a leader");
    s.cluster.kill9(leader).unwrap();
    let survivor = (0..3).find(|&i| i != leader).unwrap();
    single_alert(&s, survivor, 1);

    // It comes back with an empty disk and a new key of its own, and gets the data key from
    // the others.
    s.cluster.wipe_and_rejoin(leader, survivor).unwrap();
    s.cluster
        .wait_until(
            Duration::from_secs(60),
            "the rejoined member holds the data key",
            |c| holds_data_key(c, leader, &first_key),
        )
        .unwrap();
    let test = s.cluster.sactl(leader, &["outputs", "test", "webhook:soc"]);
    assert!(test.status.success(), "{test:?}");

    // A rotation through one member reaches the others, then survives another leader kill.
    let rotate = s.cluster.sactl(survivor, &["secrets", "rotate"]);
    assert!(rotate.status.success(), "{rotate:?}");
    let stdout = String::from_utf8_lossy(&rotate.stdout);
    assert!(
        stdout.contains("re-encrypted the settings of 1 outputs"),
        "{stdout}"
    );
    let second_key = data_key_in_use(&s.cluster, leader);
    assert_ne!(second_key, first_key);
    s.cluster
        .wait_until(
            Duration::from_secs(30),
            "every member holds the new key",
            |c| (0..3).all(|i| holds_data_key(c, i, &second_key)),
        )
        .unwrap();
    let leader = s.cluster.leader().expect("a leader");
    s.cluster.kill9(leader).unwrap();
    let survivor = (0..3).find(|&i| i != leader).unwrap();
    single_alert(&s, survivor, 2);

    // Nothing a member wrote holds the credentials in clear: not the replicated state, not the
    // sealed keys, not the logs.
    let url = s.receiver.url();
    for i in (0..3).filter(|&i| i != leader) {
        let node = s.cluster.node(i);
        for file in files_under(node.data_dir()) {
            let bytes = std::fs::read(&file).unwrap_or_default();
            assert!(
                !bytes.windows(url.len()).any(|w| w == url.as_bytes()),
                "{} holds the webhook URL in clear",
                file.display()
            );
        }
        assert!(!node.log().contains(&url), "node {i}'s log names the URL");
    }
}
