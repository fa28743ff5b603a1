//! The default node as an attacker on the network meets it: only mutual TLS against the
//! cluster CA, identities with roles, and plaintext only when asked for on loopback.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use sa_chaos_tests::{NodeOptions, NodeProcess, free_loopback_port, http_get, probe_repository};
use sa_proto::raft::v1::RaftPayload;
use sa_proto::raft::v1::raft_client::RaftClient;

fn sactl_in(node: &NodeProcess, args: &[&str]) -> Output {
    node.sactl(crate::sactl(), args)
}

/// `sactl certs ...` run offline.
fn certs(args: &[&str]) -> Output {
    let out = std::process::Command::new(crate::sactl())
        .arg("certs")
        .args(args)
        .output()
        .expect("sactl runs");
    assert!(out.status.success(), "sactl certs {args:?}: {out:?}");
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A gRPC channel to `addr` over TLS as `tls` says (the CA, and a client certificate or none).
fn tls_channel(
    runtime: &tokio::runtime::Runtime,
    addr: std::net::SocketAddr,
    tls: tonic::transport::ClientTlsConfig,
) -> tonic::transport::Channel {
    runtime.block_on(async {
        tonic::transport::Endpoint::from_shared(format!("https://{addr}"))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .unwrap()
    })
}

fn start_default(dir: &Path) -> NodeProcess {
    NodeProcess::start(&NodeOptions::new(crate::SANODE, dir.join("data"))).unwrap()
}

#[test]
fn the_default_node_refuses_plaintext_foreign_and_expired_clients() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_default(dir.path());
    let node_certs = node.certs_dir.clone().unwrap();
    let grpc = node.grpc_addr.to_string();

    // The admin certificate the first start wrote works.
    let status = sactl_in(&node, &["status", "--json"]);
    assert!(status.status.success(), "{status:?}");
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(report["tls"], true);

    // Plaintext: neither HTTP nor gRPC answers.
    assert!(
        !matches!(http_get(node.http_addr, "/healthz"), Ok((200, _))),
        "plaintext HTTP must not be served"
    );
    let plain = std::process::Command::new(crate::sactl())
        .args(["status", "--insecure", "--node", &grpc])
        .output()
        .unwrap();
    assert!(!plain.status.success(), "{plain:?}");

    // A certificate from another CA, presented to a client that trusts this node.
    let other = dir.path().join("other");
    let other_dir = other.to_str().unwrap();
    certs(&["create-ca", "--ca-dir", other_dir]);
    certs(&[
        "create-client",
        "mallory",
        "--role",
        "admin",
        "--ca-dir",
        other_dir,
        "--out",
        other_dir,
    ]);
    let foreign = sactl_with_cert(&node, &node_certs, &other.join("mallory"));
    assert!(!foreign.status.success(), "{foreign:?}");

    // An expired certificate of the right CA.
    let mine = dir.path().join("mine");
    let mine_dir = mine.to_str().unwrap();
    let ca_dir = node_certs.to_str().unwrap();
    certs(&[
        "create-client",
        "brief",
        "--role",
        "admin",
        "--lifetime",
        "1s",
        "--ca-dir",
        ca_dir,
        "--out",
        mine_dir,
    ]);
    std::thread::sleep(Duration::from_secs(2));
    let expired = sactl_with_cert(&node, &node_certs, &mine.join("brief"));
    assert!(!expired.status.success(), "{expired:?}");

    // A revoked certificate of the right CA, still valid: refused by gRPC and HTTP alike.
    certs(&[
        "create-client",
        "carol",
        "--role",
        "admin",
        "--ca-dir",
        ca_dir,
        "--out",
        mine_dir,
    ]);
    let before = sactl_with_cert(&node, &node_certs, &mine.join("carol"));
    assert!(before.status.success(), "{before:?}");
    let list = certs(&["list", mine_dir, "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let serial = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["file"].as_str().is_some_and(|f| f.ends_with("carol.crt")))
        .and_then(|c| c["serial"].as_str())
        .unwrap_or_else(|| panic!("carol's serial in {listed}"))
        .to_string();
    let revoke = sactl_in(&node, &["certs", "revoke", &serial]);
    assert!(revoke.status.success(), "{revoke:?}");
    let revoked = sactl_with_cert(&node, &node_certs, &mine.join("carol"));
    assert_eq!(revoked.status.code(), Some(1), "{revoked:?}");
    assert!(stderr(&revoked).contains("is revoked"), "{revoked:?}");
    let (status, reply) = node
        .http()
        .as_client(&mine, "carol")
        .get("/metrics")
        .unwrap();
    assert_eq!(status, 401, "{reply}");

    let (_, metrics) = node.http().get("/metrics").unwrap();
    assert!(metrics.contains("sa_tls_enabled 1"), "{metrics}");
    let failures = metric(&metrics, "sa_tls_handshake_failures_total");
    assert!(
        failures >= 3,
        "plaintext, foreign and expired handshakes fail: {failures}"
    );
}

fn sactl_with_cert(node: &NodeProcess, certs_dir: &Path, cert: &Path) -> Output {
    node.sactl_command(crate::sactl())
        .args(["status", "--certs-dir"])
        .arg(certs_dir)
        .arg("--cert")
        .arg(cert.with_extension("crt"))
        .arg("--key")
        .arg(cert.with_extension("key"))
        .output()
        .unwrap()
}

fn metric(metrics: &str, name: &str) -> u64 {
    metrics
        .lines()
        .find(|line| line.starts_with(name))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in:\n{metrics}"))
}

#[test]
fn roles_limit_what_a_client_may_do() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_default(dir.path());
    let node_certs = node.certs_dir.clone().unwrap();
    let clients = dir.path().join("clients");
    let (ca_dir, out_dir) = (node_certs.to_str().unwrap(), clients.to_str().unwrap());
    certs(&[
        "create-client",
        "dashboard",
        "--role",
        "viewer",
        "--ca-dir",
        ca_dir,
        "--out",
        out_dir,
    ]);
    certs(&[
        "create-client",
        "shipper",
        "--role",
        "ingest",
        "--source",
        "json",
        "--ca-dir",
        ca_dir,
        "--out",
        out_dir,
    ]);
    let as_viewer = |args: &[&str]| {
        node.sactl_command(crate::sactl())
            .args(args)
            .arg("--certs-dir")
            .arg(&clients)
            .args(["--cert", &format!("{out_dir}/dashboard.crt")])
            .args(["--key", &format!("{out_dir}/dashboard.key")])
            .output()
            .unwrap()
    };
    let listed = as_viewer(&["rules", "list"]);
    assert!(listed.status.success(), "a viewer lists rules: {listed:?}");
    let repo = probe_repository(
        &dir.path().join("repo"),
        "events",
        &[],
        &serde_json::json!({}),
    )
    .unwrap();
    let push = as_viewer(&["config", "push", repo.to_str().unwrap()]);
    assert_eq!(push.status.code(), Some(1), "{push:?}");
    let message = stderr(&push);
    assert!(
        message.contains("permission denied") && message.contains("admin"),
        "{message}"
    );
    assert_eq!(message.trim_end().lines().count(), 1, "{message}");

    // HTTP ingest: the shipper posts to its source, and to no other; the viewer to none.
    let shipper = node.http().as_client(&clients, "shipper");
    let (status, reply) = shipper.post("/v1/ingest/json", b"{\"a\": 1}").unwrap();
    assert_eq!(status, 200, "{reply}");
    let (status, reply) = shipper.post("/v1/ingest/okta", b"{\"a\": 1}").unwrap();
    assert_eq!(status, 403, "{reply}");
    assert!(
        reply.contains("permission denied") && reply.contains("ingest for source okta"),
        "{reply}"
    );
    let viewer = node.http().as_client(&clients, "dashboard");
    assert_eq!(viewer.post("/v1/ingest/json", b"{}").unwrap().0, 403);
    assert_eq!(viewer.get("/metrics").unwrap().0, 200);
    assert_eq!(shipper.get("/metrics").unwrap().0, 403);
}

#[test]
fn a_client_certificate_cannot_call_raft() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_default(dir.path());
    let certs_dir = node.certs_dir.clone().unwrap();
    let read = |name: &str| std::fs::read_to_string(certs_dir.join(name)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let call = |cert: &str, key: &str| {
        let tls = sa_tls::tonic_client(&read("ca.crt"), Some((&read(cert), &read(key))));
        let channel = tls_channel(&runtime, node.grpc_addr, tls);
        runtime.block_on(async {
            RaftClient::new(channel)
                .vote(RaftPayload { data: Vec::new() })
                .await
        })
    };
    let refused = call("admin.crt", "admin.key").unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    assert!(refused.message().contains("needs role node"), "{refused:?}");
    // The node's own certificate passes the role check (and then fails on the empty payload).
    let as_node = call("node.crt", "node.key").unwrap_err();
    assert_ne!(as_node.code(), tonic::Code::PermissionDenied, "{as_node:?}");
}

#[test]
fn insecure_runs_plaintext_on_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = NodeOptions::new(crate::SANODE, dir.path().join("data"));
    options.extra_args.push("--insecure".into());
    let node = NodeProcess::start(&options).unwrap();
    let status = sactl_in(&node, &["status"]);
    assert!(status.status.success(), "{status:?}");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("tls        OFF (--insecure)"), "{text}");
    let (_, metrics) = http_get(node.http_addr, "/metrics").unwrap();
    assert!(metrics.contains("sa_tls_enabled 0"), "{metrics}");
    assert!(
        !dir.path().join("data/certs").exists(),
        "no certificates made"
    );

    // A non-loopback address is refused before anything listens on it. 192.0.2.1 is
    // TEST-NET-1: never this machine's, and the node must stop before it tries to bind.
    let refused = std::process::Command::new(crate::SANODE)
        .args(["--insecure", "--grpc-addr", "192.0.2.1:7710", "--data-dir"])
        .arg(dir.path().join("refused"))
        .args([
            "--http-addr",
            &format!("127.0.0.1:{}", free_loopback_port()),
        ])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(
        message.contains("refusing to serve without TLS")
            && message.contains("--insecure-non-loopback"),
        "{message}"
    );
}

#[test]
fn renewed_certificates_are_served_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = NodeOptions::new(crate::SANODE, dir.path().join("data"));
    options
        .extra_args
        .extend(["--cert-reload-interval".into(), "200ms".into()]);
    let node = NodeProcess::start(&options).unwrap();
    let certs_dir = node.certs_dir.clone().unwrap();
    let expiry = || {
        metric(
            &node.http().get("/metrics").unwrap().1,
            "sa_tls_cert_expiry_seconds",
        )
    };
    assert!(
        expiry() > 300 * 24 * 3600,
        "the first start's certificate lasts years"
    );
    let out = certs_dir.to_str().unwrap();
    certs(&[
        "create-node",
        "127.0.0.1",
        "--lifetime",
        "10d",
        "--overwrite",
        "--ca-dir",
        out,
        "--out",
        out,
    ]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while expiry() > 11 * 24 * 3600 {
        assert!(std::time::Instant::now() < deadline, "never reloaded");
        std::thread::sleep(Duration::from_millis(100));
    }
    let listing = std::process::Command::new(crate::sactl())
        .args(["certs", "list", out])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listing.stdout);
    let node_line = text.lines().find(|l| l.starts_with("node.crt")).unwrap();
    assert!(node_line.contains(" node "), "{text}");
    assert!(
        node_line
            .split_whitespace()
            .any(|field| field == "9" || field == "10"),
        "{text}"
    );
    assert!(sactl_in(&node, &["status"]).status.success());
}

/// One client certificate per role (and none), every gRPC method and HTTP route: each call is
/// refused exactly when the access table says so, with the role it needs.
#[test]
fn every_rpc_and_route_admits_exactly_the_roles_of_the_access_table() {
    use sa_node::node::{GRPC_METHODS, HTTP_ROUTES};
    use sa_tls::Role;

    let dir = tempfile::tempdir().unwrap();
    let node = start_default(dir.path());
    let node_certs = node.certs_dir.clone().unwrap();
    let clients = dir.path().join("clients");
    let (ca_dir, out_dir) = (node_certs.to_str().unwrap(), clients.to_str().unwrap());
    for role in ["viewer", "operator", "admin", "ingest"] {
        let mut args = vec![
            "create-client",
            role,
            "--role",
            role,
            "--ca-dir",
            ca_dir,
            "--out",
            out_dir,
        ];
        if role == "ingest" {
            args.extend(["--source", "json"]);
        }
        certs(&args);
    }
    let node_dir = dir.path().join("peer");
    certs(&[
        "create-node",
        "127.0.0.1",
        "--ca-dir",
        ca_dir,
        "--out",
        node_dir.to_str().unwrap(),
    ]);
    let identity = |role: Option<Role>| -> Option<(String, String)> {
        let (dir, name) = match role? {
            Role::Node => (node_dir.clone(), "node".to_string()),
            role => (clients.clone(), role.as_str().to_string()),
        };
        let read = |ext: &str| std::fs::read_to_string(dir.join(format!("{name}.{ext}"))).unwrap();
        Some((read("crt"), read("key")))
    };
    let ca = std::fs::read_to_string(node_certs.join("ca.crt")).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let roles = [
        None,
        Some(Role::Viewer),
        Some(Role::Operator),
        Some(Role::Admin),
        Some(Role::Ingest),
        Some(Role::Node),
    ];
    for role in roles {
        let id = identity(role);
        let tls = sa_tls::tonic_client(&ca, id.as_ref().map(|(c, k)| (c.as_str(), k.as_str())));
        let channel = tls_channel(&runtime, node.grpc_addr, tls);
        for (method, allowed) in GRPC_METHODS {
            let status = runtime.block_on(async {
                let mut grpc = tonic::client::Grpc::new(channel.clone());
                grpc.ready().await.unwrap();
                grpc.unary::<(), (), _>(
                    tonic::Request::new(()),
                    method.parse().unwrap(),
                    tonic_prost::ProstCodec::default(),
                )
                .await
                .err()
            });
            let expected = allowed.is_none_or(|allowed| {
                role.is_some_and(|held| allowed.iter().any(|needed| held.grants(*needed)))
            });
            // A refusal by the table names the method; Ingest/Put's own check of the (here
            // empty) source comes after the table let the call through.
            let denied = status.as_ref().is_some_and(|s| {
                matches!(
                    s.code(),
                    tonic::Code::PermissionDenied | tonic::Code::Unauthenticated
                ) && s
                    .message()
                    .starts_with(&format!("permission denied: {method} "))
            });
            assert_eq!(
                !denied, expected,
                "{method} as {role:?}: {status:?} (table: {allowed:?})"
            );
            if denied {
                let needs = allowed.expect("only a listed role is refused")[0].as_str();
                assert!(status.unwrap().message().contains(needs), "{method}");
            }
        }
        let http = match role {
            None => node.http().anonymous(&node_certs),
            Some(Role::Node) => node.http().as_client(&node_dir, "node"),
            Some(role) => node.http().as_client(&clients, role.as_str()),
        };
        for (route, allowed) in HTTP_ROUTES {
            let path = route.replace("{source}", "json");
            let (status, reply) = if route.starts_with("/v1/ingest") {
                http.post(&path, b"{\"a\": 1}")
            } else {
                http.get(&path)
            }
            .unwrap();
            let expected = allowed.is_none_or(|allowed| {
                role.is_some_and(|held| allowed.iter().any(|needed| held.grants(*needed)))
            });
            let refused = matches!(status, 401 | 403);
            assert_eq!(!refused, expected, "{path} as {role:?}: {status} {reply}");
            if refused {
                assert!(reply.starts_with("permission denied"), "{reply}");
            }
        }
    }
}

/// Bearer tokens (`sactl tokens create`) act as their role over HTTP and gRPC without a client
/// certificate, only for the sources they name, until they expire or are revoked.
#[test]
fn bearer_tokens_act_as_their_role_until_revoked_or_expired() {
    use sa_proto::cluster::v1::StatusRequest;
    use sa_proto::cluster::v1::cluster_client::ClusterClient;

    let dir = tempfile::tempdir().unwrap();
    let node = start_default(dir.path());
    let certs_dir = node.certs_dir.clone().unwrap();
    let token = |args: &[&str]| -> String {
        let mut all = vec!["tokens", "create"];
        all.extend(args);
        let out = sactl_in(&node, &all);
        assert!(out.status.success(), "{out:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        stdout.lines().last().unwrap().to_string()
    };
    let shipper = token(&["--role", "ingest", "--source", "json", "--ttl", "1h"]);
    let viewer = token(&["--role", "viewer"]);
    let anonymous = node.http().anonymous(&certs_dir);
    let record = br#"{"key": "value"}"#;

    let (status, reply) = anonymous
        .with_bearer(&shipper)
        .post("/v1/ingest/json", record)
        .unwrap();
    assert_eq!(status, 200, "{reply}");
    let (status, reply) = anonymous
        .with_bearer(&shipper)
        .post("/v1/ingest/other", record)
        .unwrap();
    assert_eq!(status, 403, "{reply}");
    assert!(
        reply.contains("needs role ingest for source other"),
        "{reply}"
    );
    let (status, _) = anonymous.with_bearer(&shipper).get("/metrics").unwrap();
    assert_eq!(status, 403, "an ingest token reads no metrics");
    let (status, _) = anonymous.with_bearer(&viewer).get("/metrics").unwrap();
    assert_eq!(status, 200);
    let (status, reply) = anonymous
        .with_bearer(&viewer)
        .post("/v1/ingest/json", record)
        .unwrap();
    assert_eq!(status, 403, "{reply}");

    let forged = format!("{}{}", &shipper[..shipper.len() - 4], "0000");
    let (status, reply) = anonymous
        .with_bearer(&forged)
        .post("/v1/ingest/json", record)
        .unwrap();
    assert_eq!(status, 401, "{reply}");
    assert!(
        reply.contains("bearer token refused: unknown, revoked or forged"),
        "{reply}"
    );
    let (status, reply) = anonymous
        .with_bearer("not-a-token")
        .get("/metrics")
        .unwrap();
    assert_eq!(status, 401, "{reply}");

    // gRPC: the same token in `authorization` metadata.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let ca = std::fs::read_to_string(certs_dir.join("ca.crt")).unwrap();
    let status_with = |token: &str| {
        let channel = tls_channel(&runtime, node.grpc_addr, sa_tls::tonic_client(&ca, None));
        runtime.block_on(async {
            let mut request = tonic::Request::new(StatusRequest {});
            request
                .metadata_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
            ClusterClient::new(channel).status(request).await
        })
    };
    assert!(status_with(&viewer).is_ok());
    let refused = status_with(&shipper).unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused:?}");
    assert!(
        refused.message().contains("token "),
        "names the token: {refused:?}"
    );

    // Revoked: refused from then on.
    let id = shipper.split('.').nth(1).unwrap();
    let revoke = sactl_in(&node, &["tokens", "revoke", id]);
    assert!(revoke.status.success(), "{revoke:?}");
    let (status, _) = anonymous
        .with_bearer(&shipper)
        .post("/v1/ingest/json", record)
        .unwrap();
    assert_eq!(status, 401);
    let again = sactl_in(&node, &["tokens", "revoke", id]);
    assert_eq!(again.status.code(), Some(1), "{again:?}");

    // Expired.
    let brief = token(&["--role", "viewer", "--ttl", "1s"]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let (status, reply) = anonymous.with_bearer(&brief).get("/metrics").unwrap();
    assert_eq!(status, 401, "{reply}");
    assert!(reply.contains("expired"), "{reply}");

    // Tokens cannot be nodes, and ingest tokens name their sources.
    for args in [&["--role", "node"][..], &["--role", "ingest"][..]] {
        let mut all = vec!["tokens", "create"];
        all.extend(args);
        let out = sactl_in(&node, &all);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {out:?}");
    }
}

/// `--peer-addr`: Raft is served on the peer listener only, administration on the gRPC address
/// only, so each can be firewalled apart.
#[test]
fn a_peer_listener_takes_raft_away_from_the_operators_address() {
    use sa_proto::admin::v1::GetConfigRequest;
    use sa_proto::admin::v1::admin_client::AdminClient;

    let dir = tempfile::tempdir().unwrap();
    let peer = std::net::SocketAddr::from(([127, 0, 0, 1], free_loopback_port()));
    let mut options = NodeOptions::new(crate::SANODE, dir.path().join("data"));
    options
        .extra_args
        .extend(["--peer-addr".to_string(), peer.to_string()]);
    let node = NodeProcess::start(&options).unwrap();
    let certs_dir = node.certs_dir.clone().unwrap();
    let read = |name: &str| std::fs::read_to_string(certs_dir.join(name)).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let channel = |addr: std::net::SocketAddr, cert: &str, key: &str| {
        let tls = sa_tls::tonic_client(&read("ca.crt"), Some((&read(cert), &read(key))));
        tls_channel(&runtime, addr, tls)
    };
    let vote = |addr| {
        let channel = channel(addr, "node.crt", "node.key");
        runtime
            .block_on(RaftClient::new(channel).vote(RaftPayload { data: Vec::new() }))
            .unwrap_err()
    };
    assert_eq!(vote(node.grpc_addr).code(), tonic::Code::Unimplemented);
    let on_peer = vote(peer);
    assert_ne!(on_peer.code(), tonic::Code::Unimplemented, "{on_peer:?}");
    assert_ne!(on_peer.code(), tonic::Code::PermissionDenied, "{on_peer:?}");

    let get_config = |addr| {
        let channel = channel(addr, "admin.crt", "admin.key");
        runtime.block_on(AdminClient::new(channel).get_config(GetConfigRequest::default()))
    };
    assert!(get_config(node.grpc_addr).is_ok());
    assert_eq!(
        get_config(peer).unwrap_err().code(),
        tonic::Code::Unimplemented
    );

    // The member address is the peer listener's; the node's certificate names it.
    let status = sactl_in(&node, &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let nodes = sactl_in(&node, &["nodes", "--json"]);
    let nodes: serde_json::Value = serde_json::from_slice(&nodes.stdout).unwrap();
    assert_eq!(nodes[0]["addr"], peer.to_string(), "{nodes} {status}");
    assert_eq!(nodes[0]["healthy"], true, "{nodes}");
}
