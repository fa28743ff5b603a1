//! HTTP ingest on a real node: records are classified, rules fire, and the reply (after commit)
//! says what happened; malformed requests get a 4xx naming the problem.

use sa_chaos_tests::{NodeOptions, NodeProcess, repository_root};
use serde_json::Value;

#[test]
fn ingest_classifies_alerts_and_refuses_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = NodeOptions::new(crate::SANODE, dir.path().join("data"));
    options.extra_args = vec!["--quiet-alerts".into()];
    let node = NodeProcess::start(&options).unwrap();
    let samples =
        std::fs::read(repository_root().join("deploy/local/samples/cloudtrail.jsonl")).unwrap();

    let (status, body) = node.http().post("/v1/ingest/json", &samples).unwrap();
    assert_eq!(status, 200, "{body}");
    let reply: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["dead_letters"], 0, "{reply}");
    assert!(reply["classified"].as_u64().unwrap() >= 1, "{reply}");
    let rules: Vec<&str> = reply["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(rules.contains(&"cloudtrail_root_account_usage"), "{reply}");
    assert_eq!(
        reply["alert_ids"].as_array().unwrap().len(),
        reply["alerts"].as_u64().unwrap() as usize
    );
    // The leader's dispatcher delivers the alerts Firehose (the local alert log) after the
    // commit the reply waited for.
    let logged = || {
        std::fs::read_to_string(node.data_dir().join("alerts.jsonl"))
            .map(|log| log.lines().count())
            .unwrap_or(0)
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while logged() < rules.len() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(
        logged(),
        rules.len(),
        "every committed alert is in the local alert log, once"
    );

    let (status, body) = node
        .http()
        .post("/v1/ingest/json", b"not a log line of any kind")
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["dead_letters"],
        1,
        "{body}"
    );

    let (status, body) = node.http().post("/v1/ingest/nowhere", b"{}").unwrap();
    assert_eq!(status, 404);
    assert!(
        body.contains("no cluster lists nowhere under data_sources.http"),
        "{body}"
    );
    let (status, body) = node
        .http()
        .post("/v1/ingest/json", b"[{\"a\": 1},")
        .unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("line 1 column"), "{body}");
    let (status, body) = node.http().post("/v1/ingest/json", b"").unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("empty body"), "{body}");

    let (_, metrics) = node.http().get("/metrics").unwrap();
    assert!(
        metrics.contains("sa_records_failed_total{service=\"http\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sa_rule_hits_total{rule=\"cloudtrail_root_account_usage\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("sa_batch_latency_seconds_count{service=\"http\"} 2"),
        "{metrics}"
    );
}

/// A request opened on `addr` that declares a full-size body and sends only its headers: the
/// node admits it at the door and holds its share until the connection goes.
fn held_request(node: &NodeProcess) -> Box<dyn sa_chaos_tests::Connection> {
    use std::io::Write;
    let mut stream = node.http().connect().unwrap();
    write!(
        stream,
        "POST /v1/ingest/json HTTP/1.1\r\nHost: sa\r\nContent-Length: {}\r\n\r\nnot json",
        16 * 1024 * 1024
    )
    .unwrap();
    stream
}

/// Status line and headers of a small request's reply, lower-cased.
fn reply_head(node: &NodeProcess, body: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = node.http().connect().unwrap();
    write!(
        stream,
        "POST /v1/ingest/json HTTP/1.1\r\nHost: sa\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply.to_lowercase()
}

fn metric(node: &NodeProcess, series: &str) -> u64 {
    let (_, metrics) = node.http().get("/metrics").unwrap();
    metrics
        .lines()
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse::<f64>().ok())
        .map_or(0, |value| value as u64)
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// With the default budget (64 MiB) four full-size requests fill the node: the next one is
/// refused at the door, with Retry-After over HTTP and RESOURCE_EXHAUSTED over gRPC (which
/// `sactl send` waits out), and the shares come back when those requests go.
#[test]
fn a_burst_of_large_requests_is_refused_at_the_door_and_admitted_again_once_they_go() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = NodeOptions::new(crate::SANODE, dir.path().join("data"));
    options.extra_args = vec!["--quiet-alerts".into()];
    let node = NodeProcess::start(&options).unwrap();
    let full = 16 * 1024 * 1024;

    let held: Vec<_> = (0..4).map(|_| held_request(&node)).collect();
    wait_for("four requests admitted", || {
        metric(&node, "sa_ingest_held_bytes") == 4 * full
    });
    let refused = reply_head(&node, "plain text");
    assert!(
        refused.starts_with("http/1.1 503") && refused.contains("retry-after: 1"),
        "{refused}"
    );
    assert!(refused.contains("budget of ingest bytes"), "{refused}");
    assert_eq!(
        metric(&node, "sa_ingest_refused_total{transport=\"http\"}"),
        1
    );

    // gRPC is refused the same way; sactl send offers the batch again until it is admitted.
    let records = dir.path().join("records.txt");
    std::fs::write(&records, "a text line no schema takes\n").unwrap();
    let mut send = node.sactl_command(crate::sactl());
    send.args(["send", "--source", "json"]).arg(&records);
    let sender = std::thread::spawn(move || send.output());
    wait_for("sactl send refused", || {
        metric(&node, "sa_ingest_refused_total{transport=\"grpc\"}") >= 1
    });
    drop(held);
    wait_for("the shares come back", || {
        metric(&node, "sa_ingest_held_bytes") == 0
    });
    let sent = sender.join().unwrap().unwrap();
    let stderr = String::from_utf8_lossy(&sent.stderr);
    assert!(sent.status.success(), "{stderr}");
    assert!(stderr.contains("is overloaded"), "{stderr}");

    let (status, body) = node.http().post("/v1/ingest/json", b"plain text").unwrap();
    assert_eq!(status, 200, "{body}");
    node.terminate_cleanly(std::time::Duration::from_secs(30))
        .unwrap();
}

#[test]
fn a_body_larger_than_a_node_takes_is_refused_with_413_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let node =
        NodeProcess::start(&NodeOptions::new(crate::SANODE, dir.path().join("data"))).unwrap();
    use std::io::{Read, Write};
    let mut stream = node.http().connect().unwrap();
    write!(
        stream,
        "POST /v1/ingest/json HTTP/1.1\r\nHost: sa\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        16 * 1024 * 1024 + 1
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
    assert!(reply.contains("split it into several requests"), "{reply}");
    assert_eq!(metric(&node, "sa_ingest_held_bytes"), 0);
}

/// POSTs `body` with `Content-Encoding: encoding`; the status and body of the reply.
fn post_encoded(node: &NodeProcess, encoding: &str, body: &[u8]) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = node.http().connect().unwrap();
    write!(
        stream,
        "POST /v1/ingest/json HTTP/1.1\r\nHost: sa\r\nConnection: close\r\nContent-Encoding: \
         {encoding}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    let reply = String::from_utf8_lossy(&reply).into_owned();
    let status = reply.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, reply.split_once("\r\n\r\n").unwrap().1.to_string())
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut encoder, data).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn gzip_bodies_are_inflated_and_a_gzip_bomb_is_dead_lettered_at_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let node =
        NodeProcess::start(&NodeOptions::new(crate::SANODE, dir.path().join("data"))).unwrap();
    let samples =
        std::fs::read(repository_root().join("deploy/local/samples/cloudtrail.jsonl")).unwrap();
    let (status, reply) = post_encoded(&node, "gzip", &gzip(&samples));
    assert_eq!(status, 200, "{reply}");
    let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
    assert!(reply["classified"].as_u64().unwrap() > 0, "{reply}");

    // 256 MiB of newlines gzipped to about 256 KiB: stopped in its first steps.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let block = vec![b'\n'; 1 << 20];
    for _ in 0..256 {
        std::io::Write::write_all(&mut encoder, &block).unwrap();
    }
    let bomb = encoder.finish().unwrap();
    let (status, reply) = post_encoded(&node, "gzip", &bomb);
    assert_eq!(status, 413, "{reply}");
    assert!(reply.contains("a ratio above the 200:1 limit"), "{reply}");
    let letters = node.sactl(crate::sactl(), &["dead-letters", "list", "--json"]);
    let letters = String::from_utf8_lossy(&letters.stdout);
    assert!(
        letters.contains("HTTP ingest to json: decompression stopped at")
            && letters.contains(&format!("gzip body of {} bytes", bomb.len())),
        "{letters}"
    );
    let peak = sa_chaos_tests::bench::memory_kib(node.pid(), "VmHWM").unwrap();
    assert!(peak < 512 * 1024, "the node peaked at {peak} KiB");

    let (status, reply) = post_encoded(&node, "br", b"whatever");
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply.contains("Content-Encoding br is not supported"),
        "{reply}"
    );
    let (status, reply) = post_encoded(&node, "gzip", b"{\"plain\": true}");
    assert_eq!(status, 400, "{reply}");
}
