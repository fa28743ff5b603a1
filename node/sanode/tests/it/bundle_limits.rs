//! A pushed bundle's rules are code the node imports to check them: a rule module that loops,
//! waits or allocates without end is stopped at a limit and the push refused naming it, and a
//! valid bundle still passes under the same limits.

use sa_chaos_tests::{NodeOptions, NodeProcess, probe_repository};
use sa_proto::admin::v1::PushConfigRequest;
use sa_proto::admin::v1::admin_client::AdminClient;
use sa_repository::bundle::ConfigBundle;
use serde_json::json;

const VALID: &str = r#"
from streamalert.shared.rule import rule


@rule(logs=['probe:event'])
def probe_hit(rec):
    return rec['kind'] == 'hit'
"#;

/// Pushes the bundle straight to the node's Admin service as the admin: `sactl config push`
/// would import the rules itself first (without the node's limits) and never get there.
fn push(node: &NodeProcess, dir: &std::path::Path, module_body: &str) -> Result<(), tonic::Status> {
    let rules = format!("{VALID}\n{module_body}\n");
    let repo = probe_repository(dir, "events", &[("probe_rules.py", &rules)], &json!({})).unwrap();
    let bundle = serde_json::to_vec(&ConfigBundle::collect(&repo).unwrap()).unwrap();
    let certs = node.certs_dir.clone().unwrap();
    let read = |name: &str| std::fs::read_to_string(certs.join(name)).unwrap();
    let tls = sa_tls::tonic_client(
        &read("ca.crt"),
        Some((&read("admin.crt"), &read("admin.key"))),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let channel =
            tonic::transport::Endpoint::from_shared(format!("https://{}", node.grpc_addr))
                .unwrap()
                .tls_config(tls)
                .unwrap()
                .connect()
                .await
                .unwrap();
        AdminClient::new(channel)
            .max_encoding_message_size(64 << 20)
            .push_config(PushConfigRequest {
                bundle,
                ..Default::default()
            })
            .await
            .map(|_| ())
    })
}

#[test]
fn rule_modules_that_loop_wait_or_hoard_are_stopped_at_a_limit() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = NodeOptions::new(crate::SANODE, dir.path().join("data"));
    options.extra_args.extend(
        [
            "--bundle-check-cpu",
            "2s",
            "--bundle-check-timeout",
            "15s",
            "--bundle-check-memory-mib",
            "512",
        ]
        .map(String::from),
    );
    let node = NodeProcess::start(&options).unwrap();

    push(&node, &dir.path().join("valid"), "").expect("a valid bundle passes the limits");

    let cases = [
        ("spin", "while True:\n    pass", "CPU-time limit of 2 s"),
        (
            "hoard",
            "HOARD = bytearray(1024 * 1024 * 1024)",
            "memory limit of 512 MiB",
        ),
        (
            "sleep",
            "import time\nwhile True:\n    time.sleep(1)",
            "wall-clock limit of 15s",
        ),
    ];
    for (name, body, limit) in cases {
        let refused = push(&node, &dir.path().join(name), body).unwrap_err();
        assert_eq!(
            refused.code(),
            tonic::Code::InvalidArgument,
            "{name}: {refused:?}"
        );
        assert!(refused.message().contains(limit), "{name}: {refused:?}");
    }
    // The node is unharmed and still runs the valid bundle.
    let status = node.sactl(crate::sactl(), &["status", "--json"]);
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["config_version"], 1, "{status}");
}
