//! `sactl` as scripts run it, without a cluster: exit codes and one-line errors when no node
//! answers, and the offline commands (config validate, test classifier, test rules) on the
//! shipped repository and on a broken one.

use std::process::{Command, Output};

use sa_chaos_tests::{free_loopback_port, probe_repository, repository_root};
use serde_json::json;

fn sactl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sactl"))
        .args(args)
        .env_remove("SA_NODE")
        .output()
        .expect("sactl runs")
}

#[test]
fn status_without_a_node_exits_2_with_one_line() {
    let addr = format!("127.0.0.1:{}", free_loopback_port());
    let out = sactl(&["status", "--insecure", "--node", &addr]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("sactl: no node answers at {addr}")),
        "{stderr}"
    );
}

#[test]
fn a_call_without_certificates_exits_2_naming_where_they_were_looked_for() {
    let addr = format!("127.0.0.1:{}", free_loopback_port());
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sactl"))
        .args(["status", "--node", &addr])
        .current_dir(empty.path())
        .env("HOME", empty.path())
        .env_remove("SA_NODE")
        .env_remove("SA_CERTS_DIR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("no certificates found in ./data/certs or ~/.config/sa/certs")
            && stderr.contains("--certs-dir"),
        "{stderr}"
    );
}

#[test]
fn certs_commands_write_private_files_and_list_their_roles() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca");
    let ca = ca.to_str().unwrap();
    let out = dir.path().join("out");
    let out_dir = out.to_str().unwrap();
    for args in [
        vec!["certs", "create-ca", "--ca-dir", ca],
        vec![
            "certs",
            "create-node",
            "10.0.0.5:7710",
            "node-a.internal",
            "--ca-dir",
            ca,
            "--out",
            out_dir,
        ],
        vec![
            "certs",
            "create-client",
            "ops",
            "--role",
            "operator",
            "--lifetime",
            "30d",
            "--ca-dir",
            ca,
            "--out",
            out_dir,
        ],
        vec![
            "certs",
            "create-client",
            "shipper",
            "--role",
            "ingest",
            "--source",
            "okta",
            "--ca-dir",
            ca,
            "--out",
            out_dir,
        ],
    ] {
        let run = sactl(&args);
        assert!(run.status.success(), "{args:?}: {run:?}");
    }
    for name in [
        "ca.crt",
        "node.crt",
        "node.key",
        "ops.crt",
        "ops.key",
        "shipper.key",
    ] {
        let mode = std::fs::metadata(out.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    // A second CA in the same place would orphan every certificate the first signed.
    let again = sactl(&["certs", "create-ca", "--ca-dir", ca]);
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    // An ingest certificate names its sources.
    let bare = sactl(&[
        "certs",
        "create-client",
        "x",
        "--role",
        "ingest",
        "--ca-dir",
        ca,
        "--out",
        out_dir,
    ]);
    assert!(
        String::from_utf8_lossy(&bare.stderr).contains("--source"),
        "{bare:?}"
    );

    let listing = sactl(&["certs", "list", out_dir, "--json"]);
    assert!(listing.status.success(), "{listing:?}");
    let rows: serde_json::Value = serde_json::from_slice(&listing.stdout).unwrap();
    let row = |file: &str| {
        rows.as_array()
            .unwrap()
            .iter()
            .find(|r| r["file"] == file)
            .unwrap_or_else(|| panic!("no {file} in {rows}"))
            .clone()
    };
    assert_eq!(row("ca.crt")["role"], "ca");
    assert_eq!(row("ca.crt")["sha256"].as_str().map(str::len), Some(64));
    assert!(row("node.crt")["sha256"].is_null());
    assert_eq!(row("node.crt")["role"], "node");
    assert_eq!(
        row("node.crt")["names"],
        json!(["localhost", "127.0.0.1", "10.0.0.5", "node-a.internal"])
    );
    assert_eq!(row("ops.crt")["role"], "operator");
    assert!(matches!(
        row("ops.crt")["expires_in_days"].as_i64(),
        Some(29 | 30)
    ));
    assert_eq!(row("shipper.crt")["sources"], json!(["okta"]));
}

#[test]
fn the_shipped_repository_validates_and_passes_its_tests() {
    let root = repository_root();
    let root = root.to_str().unwrap();
    let validate = sactl(&["config", "validate", root]);
    assert_eq!(validate.status.code(), Some(0), "{validate:?}");
    let classifier = sactl(&["test", "classifier", "--repo", root]);
    assert_eq!(classifier.status.code(), Some(0), "{classifier:?}");
    let rules = sactl(&["test", "rules", "--repo", root]);
    assert_eq!(rules.status.code(), Some(0), "{rules:?}");
}

#[test]
fn a_repository_with_a_bad_outputs_file_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let outputs = json!({"webhook": ["soc"], "smoke-signals": ["hill"]});
    let repo = probe_repository(dir.path(), "events", &[], &outputs).unwrap();
    let validate = sactl(&["config", "validate", repo.to_str().unwrap()]);
    assert_eq!(validate.status.code(), Some(1), "{validate:?}");
    let stderr = String::from_utf8_lossy(&validate.stderr);
    assert!(
        stderr.contains("outputs.json") && stderr.contains("smoke-signals"),
        "{stderr}"
    );
}
