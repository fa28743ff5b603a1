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
    let out = sactl(&["status", "--node", &addr]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(&format!("sactl: no node answers at {addr}")),
        "{stderr}"
    );
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
