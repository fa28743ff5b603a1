//! S3- and DynamoDB-backed lookup tables with a real node against moto_server: the leader
//! downloads both tables at start, rules read them through `LookupTables.get`, a changed S3
//! object is picked up after the refresh period, and a failing download keeps the last contents.
//! Also the DynamoDB IOC table of threat intel (docs/spec §9.9), which rules see as `streamalert:ioc`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use sa_chaos_tests::{MotoServer, NodeOptions, NodeProcess, moto_sdk_config, repository_root};
use serde_json::{Value, json};

const PROBE_RULES: &str = r#"
from streamalert.shared.lookup_tables.core import LookupTables
from streamalert.shared.rule import rule


@rule(logs=['zeek:dns'])
def blocklisted_query(rec):
    """The queried name is a key of the S3-backed blocklist."""
    return LookupTables.get('s3_blocklist', rec['query']) is not None


@rule(logs=['zeek:dns'])
def prod_host_of_alice(rec):
    """The DynamoDB table (host, env) -> owner says alice owns the queried name in prod."""
    return LookupTables.get('host_owners', rec['query'] + ':prod') == 'alice'
"#;

/// The shipped conf/ (schemas, global.json) with one cluster taking zeek records over HTTP,
/// lookup tables backed by moto, and the probe rules above.
fn write_repository(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    let conf = repo.join("conf");
    std::fs::create_dir_all(conf.join("clusters")).unwrap();
    copy_dir(
        &repository_root().join("conf/schemas"),
        &conf.join("schemas"),
    );
    std::fs::copy(
        repository_root().join("conf/global.json"),
        conf.join("global.json"),
    )
    .unwrap();
    let cluster = json!({
        "id": "lookups",
        "classifier_config": {},
        "data_sources": {"http": {"json": ["zeek"]}},
    });
    std::fs::write(conf.join("clusters/lookups.json"), cluster.to_string()).unwrap();
    let tables = json!({
        "enabled": true,
        "tables": {
            "s3_blocklist": {
                "driver": "s3", "bucket": "feeds", "key": "blocklist.json.gz",
                "compression": "gzip", "cache_refresh_minutes": 10, "cache_refresh_seconds": 2
            },
            "host_owners": {
                "driver": "dynamodb", "table": "hosts", "partition_key": "host",
                "sort_key": "env", "value_key": "owner", "cache_refresh_seconds": 2
            }
        }
    });
    std::fs::write(conf.join("lookup_tables.json"), tables.to_string()).unwrap();
    for dir in ["rules/matchers", "rules/publishers"] {
        std::fs::create_dir_all(repo.join(dir)).unwrap();
    }
    std::fs::write(repo.join("rules/lookup_probe.py"), PROBE_RULES).unwrap();
    repo
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

struct Moto {
    server: MotoServer,
    s3: aws_sdk_s3::Client,
    dynamodb: aws_sdk_dynamodb::Client,
    runtime: tokio::runtime::Runtime,
}

impl Moto {
    fn start() -> Moto {
        let server = MotoServer::start().unwrap();
        let sdk = moto_sdk_config(&server);
        let s3 = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build();
        Moto {
            server,
            s3: aws_sdk_s3::Client::from_conf(s3),
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            runtime: tokio::runtime::Runtime::new().unwrap(),
        }
    }

    fn put_blocklist(&self, entries: &Value) {
        self.runtime.block_on(async {
            self.s3
                .put_object()
                .bucket("feeds")
                .key("blocklist.json.gz")
                .body(gzip(&entries.to_string()).into())
                .send()
                .await
                .unwrap();
        });
    }

    fn delete_blocklist(&self) {
        self.runtime.block_on(async {
            self.s3
                .delete_object()
                .bucket("feeds")
                .key("blocklist.json.gz")
                .send()
                .await
                .unwrap();
        });
    }

    fn create_hosts_table(&self) {
        self.runtime.block_on(async {
            let mut create = self
                .dynamodb
                .create_table()
                .table_name("hosts")
                .billing_mode(BillingMode::PayPerRequest);
            for (name, key_type) in [("host", KeyType::Hash), ("env", KeyType::Range)] {
                create = create
                    .attribute_definitions(
                        AttributeDefinition::builder()
                            .attribute_name(name)
                            .attribute_type(ScalarAttributeType::S)
                            .build()
                            .unwrap(),
                    )
                    .key_schema(
                        KeySchemaElement::builder()
                            .attribute_name(name)
                            .key_type(key_type)
                            .build()
                            .unwrap(),
                    );
            }
            create.send().await.unwrap();
            for (host, env, owner) in [("web-1", "prod", "alice"), ("web-1", "dev", "bob")] {
                self.dynamodb
                    .put_item()
                    .table_name("hosts")
                    .item("host", AttributeValue::S(host.into()))
                    .item("env", AttributeValue::S(env.into()))
                    .item("owner", AttributeValue::S(owner.into()))
                    .send()
                    .await
                    .unwrap();
            }
        });
    }

    fn create_ioc_table(&self, iocs: &[&str]) {
        self.runtime.block_on(async {
            self.dynamodb
                .create_table()
                .table_name("iocs")
                .billing_mode(BillingMode::PayPerRequest)
                .attribute_definitions(
                    AttributeDefinition::builder()
                        .attribute_name("ioc_value")
                        .attribute_type(ScalarAttributeType::S)
                        .build()
                        .unwrap(),
                )
                .key_schema(
                    KeySchemaElement::builder()
                        .attribute_name("ioc_value")
                        .key_type(KeyType::Hash)
                        .build()
                        .unwrap(),
                )
                .send()
                .await
                .unwrap();
            for ioc in iocs {
                self.dynamodb
                    .put_item()
                    .table_name("iocs")
                    .item("ioc_value", AttributeValue::S((*ioc).into()))
                    .item("ioc_type", AttributeValue::S("ip".into()))
                    .item("sub_type", AttributeValue::S("c2".into()))
                    .send()
                    .await
                    .unwrap();
            }
        });
    }

    fn delete_ioc_table(&self) {
        self.runtime.block_on(async {
            self.dynamodb
                .delete_table()
                .table_name("iocs")
                .send()
                .await
                .unwrap();
        });
    }

    fn create_bucket(&self) {
        self.runtime.block_on(async {
            self.s3
                .create_bucket()
                .bucket("feeds")
                .send()
                .await
                .unwrap();
        });
    }
}

fn sactl(node: &NodeProcess, args: &[&str]) -> std::process::Output {
    node.sactl(crate::sactl(), args)
}

fn lookup(node: &NodeProcess, table: &str, key: &str) -> Option<Value> {
    let out = sactl(node, &["lookup-tables", "get", table, key]);
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).unwrap())
}

/// The rules that fired for one Zeek DNS record querying `name`.
fn rules_fired(node: &NodeProcess, name: &str) -> Vec<String> {
    fired(node, &zeek_dns(name, "10.20.3.41"))
}

/// A Zeek DNS record from `originator` to the resolver 10.20.0.2, querying `name`.
fn zeek_dns(name: &str, originator: &str) -> Value {
    json!({
        "ts": 1796221001.004, "uid": "CHhAvVGS1DHFjwGM9", "id.orig_h": originator,
        "id.orig_p": 53211, "id.resp_h": "10.20.0.2", "id.resp_p": 53, "proto": "udp",
        "trans_id": 47105, "rtt": 0.017009, "query": name, "qclass": 1,
        "qclass_name": "C_INTERNET", "qtype": 1, "qtype_name": "A", "rcode": 0,
        "rcode_name": "NOERROR", "AA": false, "TC": false, "RD": true, "RA": true, "Z": 0,
        "answers": ["203.0.113.66"], "TTLs": [300.0], "rejected": false
    })
}

/// The rules that fired for `record`, sent over HTTP as the `json` source.
fn fired(node: &NodeProcess, record: &Value) -> Vec<String> {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), record.to_string()).unwrap();
    let out = sactl(
        node,
        &[
            "send",
            "--source",
            "json",
            "--json",
            file.path().to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let reply: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(reply["classified"], 1, "{reply}");
    reply["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["rule"].as_str().unwrap().to_string())
        .collect()
}

fn metric(node: &NodeProcess, series: &str) -> u64 {
    let (_, text) = node.http().get("/metrics").unwrap();
    text.lines()
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

fn wait_for(node: &NodeProcess, what: &str, mut condition: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !condition() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting until {what}; node log:\n{}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    start.elapsed()
}

#[test]
fn rules_see_s3_and_dynamodb_tables_and_a_changed_s3_object_after_the_refresh_period() {
    let moto = Moto::start();
    moto.create_bucket();
    moto.put_blocklist(&json!({"evil.example": {"category": "c2"}}));
    moto.create_hosts_table();

    let dir = tempfile::tempdir().unwrap();
    let mut options = NodeOptions::new(crate::SANODE, dir.path().join("data"));
    options.repo = write_repository(dir.path());
    options.env = moto.server.env();
    let node = NodeProcess::start(&options).unwrap();

    wait_for(&node, "the leader has downloaded both tables", || {
        lookup(&node, "s3_blocklist", "evil.example").is_some()
            && lookup(&node, "host_owners", "web-1:prod").is_some()
    });
    assert_eq!(
        lookup(&node, "s3_blocklist", "evil.example"),
        Some(json!({"category": "c2"}))
    );
    assert_eq!(
        lookup(&node, "host_owners", "web-1:dev"),
        Some(json!("bob"))
    );
    assert_eq!(rules_fired(&node, "evil.example"), ["blocklisted_query"]);
    assert_eq!(rules_fired(&node, "web-1"), ["prod_host_of_alice"]);
    assert!(rules_fired(&node, "fine.example").is_empty());

    moto.put_blocklist(&json!({"new.example": {"category": "phishing"}}));
    let took = wait_for(&node, "a rule sees the changed S3 object", || {
        rules_fired(&node, "new.example") == ["blocklisted_query"]
    });
    println!("changed S3 object seen by a rule {took:?} after the upload (refresh every 2 s)");
    assert!(
        rules_fired(&node, "evil.example").is_empty(),
        "the table was replaced, not merged"
    );
    let commits = metric(
        &node,
        "sa_lookup_refresh_commits_total{table=\"s3_blocklist\"}",
    );
    assert_eq!(commits, 2, "unchanged downloads are not committed again");

    moto.delete_blocklist();
    wait_for(&node, "the failed download is counted", || {
        metric(
            &node,
            "sa_lookup_refresh_failures_total{table=\"s3_blocklist\"}",
        ) >= 1
    });
    assert_eq!(rules_fired(&node, "new.example"), ["blocklisted_query"]);
    assert!(
        node.log().contains("lookup table refresh failed"),
        "{}",
        node.log()
    );
}

const THREAT_INTEL_RULES: &str = r#"
from streamalert.shared.rule import rule


@rule(logs=['zeek:dns'])
def known_bad_address(rec):
    """The IOC table knows an address of the record."""
    return bool(rec.get('streamalert:ioc', {}).get('ip'))


@rule(logs=['zeek:dns'])
def only_the_originator_is_known(rec):
    """The resolver is in the IOC table too, but inside an excluded range."""
    return rec.get('streamalert:ioc', {}).get('ip') == ['198.51.100.7']
"#;

/// Turns threat intel on in `repo`: the cluster opts in, IP addresses are looked up in the
/// `iocs` table, 10.20.0.0/24 is excluded.
fn enable_threat_intel(repo: &Path) {
    let cluster = json!({
        "id": "lookups",
        "classifier_config": {},
        "enable_threat_intel": true,
        "data_sources": {"http": {"json": ["zeek"]}},
    });
    std::fs::write(repo.join("conf/clusters/lookups.json"), cluster.to_string()).unwrap();
    let threat_intel = json!({
        "enabled": true,
        "dynamodb_table_name": "iocs",
        "excluded_iocs": {"ip": {"10.20.0.0/24": {"comment": "resolvers"}}},
        "normalized_ioc_types": {"ip": ["source_address", "destination_address"]}
    });
    std::fs::write(
        repo.join("conf/threat_intel.json"),
        threat_intel.to_string(),
    )
    .unwrap();
    // StreamAlert validates the IOC types' names against the v1 normalized types (docs/spec §2.2).
    let normalized_types = json!({
        "zeek": {"source_address": ["id.orig_h"], "destination_address": ["id.resp_h"]}
    });
    std::fs::write(
        repo.join("conf/normalized_types.json"),
        normalized_types.to_string(),
    )
    .unwrap();
    std::fs::write(repo.join("rules/threat_intel_probe.py"), THREAT_INTEL_RULES).unwrap();
}

#[test]
fn threat_intel_adds_what_the_ioc_table_knows_before_the_rules_run() {
    let moto = Moto::start();
    moto.create_ioc_table(&["198.51.100.7", "10.20.0.2"]);

    let dir = tempfile::tempdir().unwrap();
    let mut options = NodeOptions::new(crate::SANODE, dir.path().join("data"));
    options.repo = write_repository(dir.path());
    enable_threat_intel(&options.repo);
    options.env = moto.server.env();
    let node = NodeProcess::start(&options).unwrap();

    assert_eq!(
        fired(&node, &zeek_dns("fine.example", "198.51.100.7")),
        ["known_bad_address", "only_the_originator_is_known"]
    );
    assert!(
        fired(&node, &zeek_dns("fine.example", "10.20.3.41")).is_empty(),
        "an unknown originator, and a known resolver in an excluded range"
    );

    // A table that cannot be read: logged, and the rules still run (without IOC matches).
    moto.delete_ioc_table();
    assert!(fired(&node, &zeek_dns("fine.example", "198.51.100.7")).is_empty());
    assert!(
        node.log().contains("threat intel lookup failed"),
        "{}",
        node.log()
    );
}

#[test]
fn a_node_refuses_to_start_with_an_invalid_lookup_table_declaration() {
    let dir = tempfile::tempdir().unwrap();
    let repo = write_repository(dir.path());
    std::fs::write(
        repo.join("conf/lookup_tables.json"),
        r#"{"enabled": true, "tables": {"t": {"driver": "s3", "key": "k"}}}"#,
    )
    .unwrap();
    let mut options = NodeOptions::new(crate::SANODE, dir.path().join("data"));
    options.repo = repo;
    options.ready_timeout = Duration::from_secs(10);
    let error = NodeProcess::start(&options)
        .err()
        .expect("sanode must refuse");
    let error = format!("{error:#}");
    assert!(
        error.contains("lookup_tables.json: $.tables.t.bucket: missing: the s3 driver needs it"),
        "{error}"
    );
}

fn role(node: &NodeProcess) -> Option<String> {
    let out = sactl(node, &["status", "--json"]);
    let status: Value = serde_json::from_slice(&out.stdout).ok()?;
    status["role"].as_str().map(str::to_string)
}

#[test]
fn the_new_leader_takes_over_the_refresh_when_the_old_one_dies() {
    let moto = Moto::start();
    moto.create_bucket();
    moto.put_blocklist(&json!({"evil.example": 1}));
    moto.create_hosts_table();

    let dir = tempfile::tempdir().unwrap();
    let repo = write_repository(dir.path());
    let mut nodes: Vec<Option<NodeProcess>> = Vec::new();
    for i in 0..3 {
        let mut options = NodeOptions::new(crate::SANODE, dir.path().join(format!("node{i}")));
        options.repo = repo.clone();
        options.env = moto.server.env();
        options.node_id = Some(i + 1);
        if let Some(previous) = nodes.last().and_then(Option::as_ref) {
            options.extra_args = vec!["--join".into(), previous.grpc_addr.to_string()];
            // Signed by the CA node 0 made on its first start, as an operator would.
            let first = nodes[0].as_ref().unwrap();
            sa_chaos_tests::issue_node_certs(
                first.certs_dir.as_ref().unwrap(),
                &options.certs_dir().unwrap(),
            )
            .unwrap();
        }
        nodes.push(Some(NodeProcess::start(&options).unwrap()));
    }
    let first = nodes[0].as_ref().unwrap();
    wait_for(first, "every node holds the first blocklist", || {
        nodes
            .iter()
            .flatten()
            .all(|n| lookup(n, "s3_blocklist", "evil.example") == Some(json!(1)))
    });
    let leader = (0..3)
        .find(|i| role(nodes[*i].as_ref().unwrap()).as_deref() == Some("leader"))
        .expect("a leader");
    nodes[leader].take().unwrap().kill9().unwrap();

    moto.put_blocklist(&json!({"evil.example": 2}));
    let survivor = nodes.iter().flatten().next().unwrap();
    let took = wait_for(survivor, "both survivors hold the new blocklist", || {
        nodes
            .iter()
            .flatten()
            .all(|n| lookup(n, "s3_blocklist", "evil.example") == Some(json!(2)))
    });
    println!("new leader refreshed the table {took:?} after the upload");
}
