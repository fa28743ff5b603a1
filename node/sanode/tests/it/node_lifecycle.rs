//! A real sanode process: starts on loopback, answers /healthz, /metrics and `sactl status`,
//! and exits cleanly on SIGTERM.

use std::process::{Command, Output};
use std::time::Duration;

use sa_chaos_tests::{NodeHttp, NodeOptions, NodeProcess, free_loopback_port, repository_root};

/// sactl with the certificates the node wrote on its first start, found through
/// `SA_CERTS_DIR` as a script would.
fn sactl(certs: &std::path::Path, args: &[&str]) -> Output {
    Command::new(crate::sactl())
        .args(args)
        .env_remove("SA_NODE")
        .env("SA_CERTS_DIR", certs)
        .output()
        .expect("sactl runs")
}

#[test]
fn node_serves_health_metrics_and_status_then_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = NodeOptions::new(crate::SANODE, dir.path().join("data"));
    options.node_id = Some(4242);
    let node = NodeProcess::start(&options).unwrap();

    let (code, body) = node.http().get("/healthz").unwrap();
    assert_eq!((code, body.trim()), (200, "ok"));
    let (code, metrics) = node.http().get("/metrics").unwrap();
    assert_eq!(code, 200);
    assert!(
        metrics.contains("sa_build_info{node_id=\"4242\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("sa_http_requests_total{route=\"/healthz\"}"),
        "{metrics}"
    );

    let grpc = node.grpc_addr.to_string();
    let certs = node.certs_dir.clone().unwrap();
    let human = sactl(&certs, &["status", "--node", &grpc]);
    assert!(human.status.success(), "{human:?}");
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(text.contains("node id    4242"), "{text}");
    assert!(text.contains(&format!("address    {grpc}")), "{text}");
    assert!(
        text.contains(&format!("version    {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );

    // --node is global: accepted before the subcommand too.
    let json = sactl(&certs, &["--node", &grpc, "status", "--json"]);
    assert!(json.status.success(), "{json:?}");
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["node_id"], 4242);
    assert_eq!(report["addr"], grpc);
    assert_eq!(report["http_addr"], node.http_addr.to_string());
    assert!(report["uptime_ms"].as_u64().is_some(), "{report}");

    // One layer counts every request of both servers, by RPC and by route.
    let count = |series: &str| {
        let (_, metrics) = node.http().get("/metrics").unwrap();
        metrics
            .lines()
            .find(|line| line.starts_with(series))
            .and_then(|line| line.rsplit(' ').next())
            .and_then(|value| value.parse::<u64>().ok())
            .unwrap_or_else(|| panic!("no {series} in:\n{metrics}"))
    };
    let rpc = "sa_grpc_requests_total{method=\"Cluster/Status\"}";
    let scrapes = "sa_http_requests_total{route=\"/metrics\"}";
    let (rpcs_before, scrapes_before) = (count(rpc), count(scrapes));
    assert!(sactl(&certs, &["status", "--node", &grpc]).status.success());
    assert!(count(rpc) > rpcs_before, "sactl status is counted");
    // Two scrapes since: this one, and the one that read the RPC count.
    assert_eq!(
        count(scrapes),
        scrapes_before + 2,
        "each scrape counts itself"
    );

    node.terminate_cleanly(Duration::from_secs(30)).unwrap();
}

#[test]
fn node_logs_json_lines_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = NodeOptions::new(crate::SANODE, dir.path().join("data"));
    options.extra_args = vec!["--log-format".into(), "json".into()];
    let node = NodeProcess::start(&options).unwrap();
    let log = node.log();
    let started = log
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|event| event["message"] == "node started")
        .unwrap_or_else(|| panic!("no JSON 'node started' line in:\n{log}"));
    assert_eq!(started["level"], "INFO");
    assert_eq!(started["grpc_addr"], node.grpc_addr.to_string());
    node.terminate(Duration::from_secs(30)).unwrap();
}

#[test]
fn flags_come_from_environment_variables() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("from-env");
    let grpc = format!("127.0.0.1:{}", free_loopback_port());
    let http = format!("127.0.0.1:{}", free_loopback_port());
    let mut child = Command::new(crate::SANODE)
        .env("SA_DATA_DIR", &data)
        .env("SA_GRPC_ADDR", &grpc)
        .env("SA_HTTP_ADDR", &http)
        .env("SA_NODE_ID", "77")
        .env("SA_CONFIG_DIR", repository_root().join("conf"))
        .env("SA_RULES_DIR", repository_root().join("rules"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let node_http = NodeHttp::new(http.parse().unwrap(), Some(data.join("certs")));
    while node_http.get("/healthz").is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "node from env never became healthy"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = sactl(&data.join("certs"), &["status", "--json", "--node", &grpc]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["node_id"], 77);
    assert_eq!(std::fs::read_to_string(data.join("node_id")).unwrap(), "77");
    child.kill().unwrap();
    child.wait().unwrap();
}
