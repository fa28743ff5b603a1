//! Named batches on a real node: a batch sent twice (HTTP with `X-SA-Batch-Id`, or `sactl send`
//! of the same file) yields one set of alerts; unnamed batches are new data every time.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;

use sa_chaos_tests::{NodeOptions, NodeProcess, repository_root};
use serde_json::Value;

fn post_named(node: &NodeProcess, path: &str, batch_id: &str, body: &[u8]) -> (u16, Value) {
    let addr = node.http_addr;
    let mut stream = node.http().connect().unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nX-SA-Batch-Id: {batch_id}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1;
    (status, serde_json::from_str(body).unwrap())
}

fn ids(reply: &Value) -> BTreeSet<String> {
    reply["alert_ids"]
        .as_array()
        .or_else(|| reply["alerts"].as_array())
        .unwrap()
        .iter()
        .map(|id| match id {
            Value::String(id) => id.clone(),
            alert => alert["alert_id"].as_str().unwrap().to_owned(),
        })
        .collect()
}

/// Lines in the alert log once the dispatcher has written at least `expected` (it delivers
/// after the commit the ingest reply waits for), a moment after, so extra lines show too.
fn logged_alerts(data_dir: &Path, expected: usize) -> usize {
    let count = || {
        std::fs::read_to_string(data_dir.join("alerts.jsonl"))
            .unwrap_or_default()
            .lines()
            .count()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while count() < expected && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    count()
}

fn sactl_send(node: &NodeProcess, file: &Path, extra: &[&str]) -> Value {
    let output = node
        .sactl_command(crate::sactl())
        .args(["send", "--source", "json", "--json"])
        .args(extra)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn a_batch_sent_twice_raises_its_alerts_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = NodeOptions::new(crate::SANODE, dir.path().join("data"));
    options.extra_args = vec!["--quiet-alerts".into()];
    let node = NodeProcess::start(&options).unwrap();
    let samples_path = repository_root().join("deploy/local/samples/cloudtrail.jsonl");
    let samples = std::fs::read(&samples_path).unwrap();

    let (status, first) = post_named(&node, "/v1/ingest/json", "batch-1", &samples);
    assert_eq!(status, 200, "{first}");
    let alerts = ids(&first);
    assert!(!alerts.is_empty(), "{first}");
    let (status, again) = post_named(&node, "/v1/ingest/json", "batch-1", &samples);
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        ids(&again),
        alerts,
        "the same batch maps to the same alerts"
    );
    assert_eq!(
        logged_alerts(node.data_dir(), alerts.len()),
        alerts.len(),
        "stored once"
    );

    let (status, other) = post_named(&node, "/v1/ingest/json", "batch-2", &samples);
    assert_eq!(status, 200);
    assert!(
        ids(&other).is_disjoint(&alerts),
        "another batch is new data"
    );
    let (status, body) = post_named(&node, "/v1/ingest/json", "bad id", &samples);
    assert_eq!(status, 400, "{body}");

    // Unnamed: the same records twice are two events.
    let (_, unnamed_1) = node.http().post("/v1/ingest/json", &samples).unwrap();
    let (_, unnamed_2) = node.http().post("/v1/ingest/json", &samples).unwrap();
    let unnamed_1 = ids(&serde_json::from_str(&unnamed_1).unwrap());
    let unnamed_2 = ids(&serde_json::from_str(&unnamed_2).unwrap());
    assert!(unnamed_1.is_disjoint(&unnamed_2));
    assert_eq!(
        logged_alerts(node.data_dir(), 4 * alerts.len()),
        4 * alerts.len()
    );

    // sactl names its batches after the file's content and offset.
    let sent = ids(&sactl_send(&node, &samples_path, &[]));
    assert_eq!(sent.len(), alerts.len());
    assert_eq!(ids(&sactl_send(&node, &samples_path, &[])), sent);
    assert_eq!(
        logged_alerts(node.data_dir(), 5 * alerts.len()),
        5 * alerts.len()
    );
    let unnamed = ids(&sactl_send(&node, &samples_path, &["--no-batch-id"]));
    assert!(unnamed.is_disjoint(&sent));
    assert_eq!(
        logged_alerts(node.data_dir(), 6 * alerts.len()),
        6 * alerts.len()
    );
}
