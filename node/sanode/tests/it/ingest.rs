//! HTTP ingest on a real node: records are classified, rules fire, and the reply (after commit)
//! says what happened; malformed requests get a 4xx naming the problem.

use sa_chaos_tests::{NodeOptions, NodeProcess, http_get, http_post, repository_root};
use serde_json::Value;

#[test]
fn ingest_classifies_alerts_and_refuses_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = NodeOptions::new(crate::SANODE, dir.path().join("data"));
    options.extra_args = vec!["--quiet-alerts".into()];
    let node = NodeProcess::start(&options).unwrap();
    let samples =
        std::fs::read(repository_root().join("deploy/local/samples/cloudtrail.jsonl")).unwrap();

    let (status, body) = http_post(node.http_addr, "/v1/ingest/json", &samples).unwrap();
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

    let (status, body) = http_post(
        node.http_addr,
        "/v1/ingest/json",
        b"not a log line of any kind",
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["dead_letters"],
        1,
        "{body}"
    );

    let (status, body) = http_post(node.http_addr, "/v1/ingest/nowhere", b"{}").unwrap();
    assert_eq!(status, 404);
    assert!(
        body.contains("no cluster lists nowhere under data_sources.http"),
        "{body}"
    );
    let (status, body) = http_post(node.http_addr, "/v1/ingest/json", b"[{\"a\": 1},").unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("line 1 column"), "{body}");
    let (status, body) = http_post(node.http_addr, "/v1/ingest/json", b"").unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("empty body"), "{body}");

    let (_, metrics) = http_get(node.http_addr, "/metrics").unwrap();
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
