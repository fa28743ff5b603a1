//! Nodes joining with tokens (docs/security.md, "Joining with a token"): each on its own
//! loopback address, with an empty data dir and nothing copied from the first node, the way a
//! fresh VM joins. The first node is the README's single node (certificates made at its first
//! start).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use std::time::Duration;

use sa_chaos_tests::{
    HttpReceiver, NodeOptions, NodeProcess, wait_for, workspace_binary, write_repository,
};
use serde_json::{Value, json};

const RULES: &str = r#"
from streamalert.shared.rule import rule


@rule(logs=['joined:event'], outputs=['webhook:soc'])
def joined_event(rec):
    return rec['kind'] == 'alert'
"#;

struct Seed {
    first: Option<NodeProcess>,
    /// The first node's certificates: its CA and the admin client certificate.
    admin_certs: PathBuf,
    first_grpc: std::net::SocketAddr,
    sanode: PathBuf,
    sactl: PathBuf,
    repo: PathBuf,
    dir: tempfile::TempDir,
}

impl Seed {
    fn start() -> Seed {
        Seed::start_with(&[])
    }

    fn start_with(extra_args: &[String]) -> Seed {
        let dir = tempfile::tempdir().unwrap();
        let repo = write_repository(
            dir.path(),
            &[(
                "joined",
                json!({"id": "joined", "classifier_config": {}, "data_sources": {"http": {"events": ["joined"]}}}),
            )],
            &[(
                "joined",
                json!({"joined:event": {"parser": "json", "schema": {"kind": "string", "seq": "integer"}}}),
            )],
            &[("joined_rules.py", RULES)],
            Some(&json!({"webhook": ["soc"]})),
        )
        .unwrap();
        let sanode = workspace_binary("sanode").unwrap();
        let mut options = NodeOptions::new(&sanode, dir.path().join("first"));
        options.repo = repo.clone();
        options.extra_args.push("--quiet-alerts".into());
        options.extra_args.extend(extra_args.iter().cloned());
        let first = NodeProcess::start(&options).unwrap();
        Seed {
            admin_certs: first.certs_dir.clone().unwrap(),
            first_grpc: first.grpc_addr,
            first: Some(first),
            sanode,
            sactl: workspace_binary("sactl").unwrap(),
            repo,
            dir,
        }
    }

    /// `sactl` as the admin, against the node at `grpc_addr`.
    fn sactl(&self, grpc_addr: std::net::SocketAddr, args: &[&str]) -> std::process::Output {
        std::process::Command::new(&self.sactl)
            .arg("--node")
            .arg(grpc_addr.to_string())
            .arg("--certs-dir")
            .arg(&self.admin_certs)
            .env_remove("SA_NODE")
            .env_remove("SA_CERTS_DIR")
            .args(args)
            .output()
            .unwrap()
    }

    fn join_token(&self, args: &[&str]) -> String {
        let mut all = vec!["join-token", "create"];
        all.extend(args);
        let out = self.sactl(self.first_grpc, &all);
        assert!(out.status.success(), "{out:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        stdout.lines().last().unwrap().to_string()
    }

    /// A node with an empty data dir on 127.0.0.`last_octet`, joining with `token`.
    fn join(&self, last_octet: u8, token: &str) -> anyhow::Result<NodeProcess> {
        self.join_through(last_octet, token, self.first_grpc, &[])
    }

    /// As `join`, through `seed`, with more flags.
    fn join_through(
        &self,
        last_octet: u8,
        token: &str,
        seed: std::net::SocketAddr,
        extra_args: &[String],
    ) -> anyhow::Result<NodeProcess> {
        let mut options = NodeOptions::new(
            &self.sanode,
            self.dir.path().join(format!("host{last_octet}")),
        );
        options.host = Ipv4Addr::new(127, 0, 0, last_octet);
        options.repo = self.repo.clone();
        options.ready_timeout = Duration::from_secs(60);
        options.extra_args.extend([
            "--quiet-alerts".to_string(),
            "--join".to_string(),
            seed.to_string(),
            "--join-token".to_string(),
            token.to_string(),
        ]);
        options.extra_args.extend(extra_args.iter().cloned());
        NodeProcess::start(&options)
    }
}

fn members(seed: &Seed) -> Vec<Value> {
    let out = seed.sactl(seed.first_grpc, &["nodes", "--json"]);
    serde_json::from_slice(&out.stdout).unwrap_or_default()
}

fn refusal(result: anyhow::Result<NodeProcess>) -> String {
    match result {
        Ok(_) => panic!("the node joined"),
        Err(e) => format!("{e:#}"),
    }
}

#[test]
fn nodes_join_with_a_token_and_deliver_with_earlier_credentials_after_the_first_dies() {
    let mut seed = Seed::start();
    let receiver = HttpReceiver::start().unwrap();
    let url = format!("url={}", receiver.url());
    let set = seed.sactl(seed.first_grpc, &["outputs", "set", "webhook:soc", &url]);
    assert!(set.status.success(), "{set:?}");

    let token = seed.join_token(&["--ttl", "10m", "--uses", "2"]);
    assert!(token.starts_with("saj1."), "{token}");
    let second = seed.join(2, &token).unwrap();
    let third = seed.join(3, &token).unwrap();
    wait_for("three healthy voters", Duration::from_secs(60), || {
        let members = members(&seed);
        members.len() == 3 && members.iter().all(|m| m["healthy"] == true)
    });
    for node in [&second, &third] {
        let certs = node.certs_dir.clone().unwrap();
        assert!(certs.join("node.crt").exists() && certs.join("ca.crt").exists());
        assert!(
            !certs.join("ca.key").exists(),
            "the CA key stays on the first node"
        );
        assert_eq!(
            std::fs::read(certs.join("ca.crt")).unwrap(),
            std::fs::read(seed.admin_certs.join("ca.crt")).unwrap()
        );
    }

    // Two uses, both spent.
    let error = refusal(seed.join(4, &token));
    assert!(
        error.contains("used as many times as it allowed"),
        "{error}"
    );

    // The first node, the leader and the only one that ever saw the credentials set, dies.
    seed.first.take().unwrap().kill9().unwrap();
    let http = second.http().as_client(&seed.admin_certs, "admin");
    wait_for(
        "a new leader takes records",
        Duration::from_secs(60),
        || {
            matches!(
                http.post("/v1/ingest/events", b"{\"kind\": \"alert\", \"seq\": 1}\n"),
                Ok((200, _))
            )
        },
    );
    let delivered = || {
        receiver
            .requests()
            .iter()
            .any(|r| r.json()["record"]["seq"] == 1)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !delivered() {
        assert!(
            std::time::Instant::now() < deadline,
            "no alert at the webhook; second node's log:\n{}\nthird node's log:\n{}",
            second.log(),
            third.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn forged_expired_foreign_and_malformed_tokens_are_refused_with_the_reason() {
    let seed = Seed::start();
    let token = seed.join_token(&["--ttl", "1h"]);
    let parts: Vec<&str> = token.split('.').collect();

    let forged = format!("{}.{}.{}.{}", parts[0], parts[1], parts[2], "0".repeat(64));
    let error = refusal(seed.join(2, &forged));
    assert!(
        error.contains("join token refused: unknown, revoked or forged"),
        "{error}"
    );

    let other_ca = format!("{}.{}.{}.{}", parts[0], "ab".repeat(32), parts[2], parts[3]);
    let error = refusal(seed.join(3, &other_ca));
    assert!(
        error.contains("presents no CA certificate with SHA-256"),
        "{error}"
    );

    let error = refusal(seed.join(4, "saj1.not-a-token"));
    assert!(error.contains("not a join token"), "{error}");

    let short = seed.join_token(&["--ttl", "1s"]);
    std::thread::sleep(Duration::from_millis(2100));
    let error = refusal(seed.join(5, &short));
    assert!(error.contains("expired"), "{error}");

    // None of the refusals spent the good token.
    let joined = seed.join(6, &token).unwrap();
    assert!(joined.certs_dir.clone().unwrap().join("node.crt").exists());
    let made = seed.sactl(joined.grpc_addr, &["join-token", "create"]);
    assert!(
        made.status.success(),
        "an admin may make tokens on any member: {made:?}"
    );
    check_viewer_is_refused(&seed, &seed.admin_certs);
}

/// Making join tokens is for admins.
fn check_viewer_is_refused(seed: &Seed, ca_dir: &Path) {
    let clients = seed.dir.path().join("clients");
    let out = std::process::Command::new(&seed.sactl)
        .args([
            "certs",
            "create-client",
            "viewer",
            "--role",
            "viewer",
            "--ca-dir",
        ])
        .arg(ca_dir)
        .arg("--out")
        .arg(&clients)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let out = std::process::Command::new(&seed.sactl)
        .arg("--node")
        .arg(seed.first_grpc.to_string())
        .arg("--certs-dir")
        .arg(ca_dir)
        .arg("--cert")
        .arg(clients.join("viewer.crt"))
        .arg("--key")
        .arg(clients.join("viewer.key"))
        .args(["join-token", "create"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("permission denied") && stderr.contains("admin"),
        "{stderr}"
    );
}

/// Nodes with `--peer-addr` join through the first node's peer listener, and the cluster runs
/// over those listeners: members are known by their peer addresses, writes through any node's
/// operators' address are forwarded over them.
#[test]
fn nodes_with_peer_listeners_join_and_replicate_over_them() {
    let peer = |octet: u8| {
        std::net::SocketAddr::from(([127, 0, 0, octet], sa_chaos_tests::free_loopback_port()))
    };
    let first_peer = peer(1);
    let seed = Seed::start_with(&["--peer-addr".to_string(), first_peer.to_string()]);
    let token = seed.join_token(&["--uses", "2"]);
    let peers = [peer(2), peer(3)];
    let joined: Vec<NodeProcess> = [2u8, 3]
        .iter()
        .zip(peers)
        .map(|(&octet, addr)| {
            seed.join_through(
                octet,
                &token,
                first_peer,
                &["--peer-addr".to_string(), addr.to_string()],
            )
            .unwrap()
        })
        .collect();
    wait_for("three healthy voters", Duration::from_secs(60), || {
        let members = members(&seed);
        members.len() == 3 && members.iter().all(|m| m["healthy"] == true)
    });
    let mut addrs: Vec<String> = members(&seed)
        .iter()
        .map(|m| m["addr"].as_str().unwrap().to_string())
        .collect();
    addrs.sort();
    let mut expected: Vec<String> = [first_peer, peers[0], peers[1]]
        .iter()
        .map(ToString::to_string)
        .collect();
    expected.sort();
    assert_eq!(addrs, expected, "members are known by their peer addresses");

    let put = seed.sactl(
        joined[0].grpc_addr,
        &["lookup-tables", "put", "peers", "k", "v"],
    );
    assert!(put.status.success(), "{put:?}");
    wait_for(
        "the value on the third node",
        Duration::from_secs(30),
        || {
            let get = seed.sactl(joined[1].grpc_addr, &["lookup-tables", "get", "peers", "k"]);
            get.status.success() && String::from_utf8_lossy(&get.stdout).contains("\"v\"")
        },
    );
}
