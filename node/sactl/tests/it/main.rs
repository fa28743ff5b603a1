//! `sactl` as scripts run it, without a cluster: exit codes and one-line errors when no node
//! answers, and the offline commands (config validate, test classifier, test rules) on the
//! shipped repository, on one in StreamAlert's own layout and on broken ones.

use std::path::PathBuf;
use std::process::{Command, Output};

use sa_chaos_tests::{copy_tree, free_loopback_port, probe_repository, repository_root};
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

/// tests/fixtures/streamalert_repo: a repository in StreamAlert's own layout, which the shipped
/// one does not follow (matchers/ and publishers/ at the top, helpers in rules/helpers/), with
/// the test-event features real repositories use: publisher tests over object publications in
/// both forms, classify_only, compress, override_record, lookup-table fixtures, payloads of
/// several records (its README lists them).
fn streamalert_repository() -> PathBuf {
    repository_root().join("node/sactl/tests/fixtures/streamalert_repo")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn last_line(output: &Output) -> String {
    stdout(output).lines().last().unwrap_or_default().to_owned()
}

/// `(passed, total)` publisher tests over every "Publishers: x/y Passed" line of a verbose run.
fn publisher_checks(report: &str) -> (usize, usize) {
    report
        .lines()
        .filter_map(|line| line.trim().strip_prefix("Publishers: "))
        .filter_map(|counts| counts.strip_suffix(" Passed")?.split_once('/'))
        .fold((0, 0), |(passed, total), (p, t)| {
            (
                passed + p.parse::<usize>().unwrap(),
                total + t.parse::<usize>().unwrap(),
            )
        })
}

#[test]
fn a_repository_in_streamalerts_layout_validates_and_passes_its_tests() {
    let repo = streamalert_repository();
    let repo = repo.to_str().unwrap();
    let validate = sactl(&["config", "validate", repo]);
    assert_eq!(validate.status.code(), Some(0), "{validate:?}");
    assert_eq!(last_line(&validate), format!("{repo}: valid (5 rules)"));
    let classifier = sactl(&["test", "classifier", "--repo", repo, "--strict"]);
    assert_eq!(classifier.status.code(), Some(0), "{classifier:?}");
    assert_eq!(last_line(&classifier), "28 passed, 0 failed");
    let rules = sactl(&["test", "rules", "--repo", repo, "--verbose"]);
    assert_eq!(rules.status.code(), Some(0), "{rules:?}");
    let report = stdout(&rules);
    assert_eq!(last_line(&rules), "28 passed, 0 failed", "{report}");
    // Every rule is expected somewhere, no key is unknown, and no rule or matcher raised (a
    // rule that raises counts as not firing, so the events alone would not show it, e.g. a
    // req_subkeys check that stopped guarding a rule).
    assert!(!report.contains("Warning"), "{report}");
    assert!(!report.contains("Raised"), "{report}");
    // Publisher tests run only for events whose rules alert and without skip_publishers:
    // the count shows that each one ran.
    assert_eq!(publisher_checks(&report), (91, 91), "{report}");
    assert!(
        report.contains("Disabled Rules: guardduty_any_finding"),
        "{report}"
    );
}

#[test]
fn a_wrong_publisher_expectation_fails_naming_the_expression() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    copy_tree(&streamalert_repository(), &repo).unwrap();
    // Python dicts keep insertion order, so a test expecting sorted keys must fail.
    let path = repo.join("rules/community/cloudtrail/cloudtrail_root_account_usage.json");
    let mut events: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let test = &mut events[0]["publisher_tests"]["slack:security"][0];
    assert_eq!(test["jmespath_expression"], "keys(@)", "{test}");
    test["value"] = json!([
        "@slack._previous_publication",
        "@slack.attachments",
        "@slack.text"
    ]);
    std::fs::write(&path, events.to_string()).unwrap();

    let rules = sactl(&["test", "rules", "--repo", repo.to_str().unwrap()]);
    assert_eq!(rules.status.code(), Some(1), "{rules:?}");
    let report = stdout(&rules);
    assert_eq!(last_line(&rules), "27 passed, 1 failed", "{report}");
    // The failing test is named by its output and expression, with the value it got.
    assert!(
        report.contains(concat!(
            r#"slack:security: {"jmespath_expression":"keys(@)","#,
            r#""condition":"is","value":["@slack._previous_publication","@slack.attachments","@slack.text"]}"#,
            r#" -> keys(@) is ["@slack._previous_publication","@slack.attachments","@slack.text"]: "#,
            r#"actual value is ["@slack.text","@slack.attachments","@slack._previous_publication"]"#
        )),
        "{report}"
    );
    assert!(report.contains("Publishers: 32/33 Passed"), "{report}");
}
