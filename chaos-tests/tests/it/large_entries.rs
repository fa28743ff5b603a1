//! Large writes on three nodes (issue #17): a batch or a bundle of megabytes commits on a
//! majority and reaches every node. Before, one ingest body became one Raft entry of tens of MB
//! and a bundle one of several MB, over the 4 MiB gRPC limit: followers refused them forever and
//! writes stalled.

use std::time::Duration;

use sa_chaos_tests::{TestCluster, probe_repository};
use serde_json::{Value, json};

/// `sa_raft_applied_index` of node `i`.
fn applied_index(cluster: &TestCluster, i: usize) -> u64 {
    let (_, metrics) = cluster.node(i).http().get("/metrics").unwrap_or_default();
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("sa_raft_applied_index "))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or(0)
}

/// Pseudo-random printable text (xorshift), so compression cannot shrink what a test sends.
fn noise(bytes: usize, mut seed: u64) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..bytes)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            ALPHABET[(seed % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

#[test]
fn a_16_mib_ingest_body_commits_on_three_nodes_and_every_node_applies_it() {
    let cluster = TestCluster::start(3).unwrap();
    // Lines no schema takes: each becomes a dead letter, so the batch's writes are about as
    // large as the body.
    let mut body = String::new();
    let mut lines = 0;
    while body.len() < 16 * 1024 * 1024 - 300 {
        body.push_str(&format!("line {lines} {}\n", noise(240, lines + 1)));
        lines += 1;
    }
    let (status, reply) = cluster
        .node(1)
        .http()
        .post("/v1/ingest/json", body.as_bytes())
        .unwrap();
    assert_eq!(status, 200, "{reply}");
    let reply: Value = serde_json::from_str(&reply).unwrap();
    assert_eq!(reply["dead_letters"], lines, "{reply}");

    // Committed means a majority holds it; every node applies it, the third one included.
    let committed = (0..3).map(|i| applied_index(&cluster, i)).max().unwrap();
    let took = cluster
        .wait_until(
            Duration::from_secs(60),
            "every node applied the batch",
            |c| (0..3).all(|i| applied_index(c, i) >= committed),
        )
        .unwrap();
    println!(
        "{lines} dead letters ({} bytes) on every node, {took:?} after the reply",
        body.len()
    );
}

#[test]
fn a_10_mb_config_bundle_reaches_every_node() {
    let cluster = TestCluster::start(3).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let rule = format!(
        "from streamalert.shared.rule import rule\n\n\
         BLOB = '{}'\n\n\
         @rule(logs=['probe:event'], outputs=['webhook:soc'])\n\
         def probe_bulk(rec):\n    return rec['kind'] == BLOB[:4]\n",
        noise(10 * 1024 * 1024, 7)
    );
    let outputs = json!({"webhook": ["soc"]});
    let repo =
        probe_repository(dir.path(), "probe", &[("probe_bulk.py", &rule)], &outputs).unwrap();
    let push = cluster.sactl(0, &["config", "push", repo.to_str().unwrap()]);
    assert!(push.status.success(), "{push:?}");
    assert!(
        String::from_utf8_lossy(&push.stdout).contains("pushed config v1"),
        "{push:?}"
    );
    let took = cluster
        .wait_until(Duration::from_secs(120), "every node runs config v1", |c| {
            c.members(0).is_ok_and(|members| {
                members.len() == 3
                    && members
                        .iter()
                        .all(|m| m["config_version"].as_u64() == Some(1))
            })
        })
        .unwrap();
    println!(
        "a {} byte rule reached every node {took:?} after the push",
        rule.len()
    );
}

/// Key counts of the lookup tables node `i` serves.
fn lookup_tables(cluster: &TestCluster, i: usize) -> Value {
    let out = cluster.sactl(i, &["lookup-tables", "list", "--json"]);
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_50_mb_lookup_table_replaces_another_on_three_nodes_in_bounded_entries() {
    let cluster = TestCluster::start(3).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.json");
    std::fs::write(&old, r#"{"old-key": "old-value"}"#).unwrap();
    let load = |file: &std::path::Path| {
        let out = cluster.sactl(
            1,
            &[
                "lookup-tables",
                "load",
                file.to_str().unwrap(),
                "--table",
                "assets",
                "--replace",
            ],
        );
        assert!(out.status.success(), "{out:?}");
    };
    load(&old);

    let entries = 100_000u64;
    let table: serde_json::Map<String, Value> = (0..entries)
        .map(|i| (format!("host-{i:06}"), Value::String(noise(500, i + 1))))
        .collect();
    let text = serde_json::to_string(&table).unwrap();
    assert!(text.len() > 50_000_000, "{} bytes", text.len());
    let big = dir.path().join("assets.json");
    std::fs::write(&big, &text).unwrap();
    let started = std::time::Instant::now();
    load(&big);
    let loaded = started.elapsed();

    let took = cluster
        .wait_until(
            Duration::from_secs(120),
            "every node serves the whole new table",
            |c| {
                (0..3).all(|i| lookup_tables(c, i) == json!([{"table": "assets", "keys": entries}]))
            },
        )
        .unwrap();
    for i in 0..3 {
        let get = cluster.sactl(i, &["lookup-tables", "get", "assets", "host-099999"]);
        assert!(get.status.success(), "{get:?}");
        let value: Value = serde_json::from_slice(&get.stdout).unwrap();
        assert_eq!(value, table["host-099999"]);
        let gone = cluster.sactl(i, &["lookup-tables", "get", "assets", "old-key"]);
        assert!(!gone.status.success(), "the old table is gone: {gone:?}");
    }
    println!(
        "{} bytes loaded in {loaded:?}, on every node {took:?} later",
        text.len()
    );
}
