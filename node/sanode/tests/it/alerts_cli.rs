//! `sactl outputs|alerts|dead-letters` against a real node: settings set from the command line
//! and refused when wrong, a test alert through the real path, alerts listed and shown with
//! their delivery, a refused alert dead-lettered, replayed and resent.

use std::process::Output;
use std::time::Duration;

use sa_chaos_tests::{HttpReceiver, NodeOptions, NodeProcess, Reply};
use serde_json::{Value, json};

const RULES: &str = r#"
from rules.publishers.probe import tag
from streamalert.shared.rule import rule


@rule(logs=['probe:event'], outputs=['webhook:soc'])
def probe_alert(rec):
    return rec['kind'] == 'bad'


@rule(logs=['probe:event'], outputs=['webhook:soc'], publishers={'webhook:soc': [tag]})
def probe_tagged(rec):
    return rec['kind'] == 'tagged'
"#;

const PUBLISHERS: &str = r#"
from streamalert.shared.publisher import Register


@Register
def tag(alert, publication):
    publication['tagged_by'] = 'probe publisher'
    publication['rule'] = alert.rule_name
    publication['seq'] = alert.record['seq']
    return publication
"#;

/// One cluster taking `probe:event` records over HTTP (source `events`), the rules and
/// publisher above, and `outputs` as conf/outputs.json.
fn probe_repository(dir: &std::path::Path, outputs: Value) -> std::path::PathBuf {
    let rules = [
        ("probe_rules.py", RULES),
        ("publishers/probe.py", PUBLISHERS),
    ];
    sa_chaos_tests::probe_repository(dir, "events", &rules, &outputs).unwrap()
}

fn sactl(node: &NodeProcess, args: &[&str]) -> Output {
    node.sactl(crate::sactl(), args)
}

fn json_of(output: &Output) -> Value {
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).unwrap()
}

/// `name`'s row of `sactl outputs list --json`.
fn listed_output(node: &NodeProcess, name: &str) -> Value {
    let outputs = json_of(&sactl(node, &["outputs", "list", "--json"]));
    outputs
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == name)
        .unwrap_or_else(|| panic!("{name} not listed: {outputs}"))
        .clone()
}

fn wait_for(what: &str, check: impl FnMut() -> bool) {
    sa_chaos_tests::wait_for(what, Duration::from_secs(30), check);
}

#[test]
fn outputs_alerts_and_dead_letters_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let repo = probe_repository(dir.path(), json!({"webhook": ["soc"]}));
    let repo_dir = repo.clone();
    let mut options = NodeOptions::new(crate::SANODE, dir.path().join("node"));
    options.repo = repo_dir;
    options.extra_args = vec!["--quiet-alerts".into()];
    let node = NodeProcess::start(&options).unwrap();
    let receiver = HttpReceiver::start().unwrap();

    // Settings: unknown keys and missing required ones are refused with the reason.
    let wrong = sactl(&node, &["outputs", "set", "webhook:soc", "uri=http://x"]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("unknown setting \"uri\""),
        "{wrong:?}"
    );
    let missing = sactl(&node, &["outputs", "set", "webhook:soc"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("missing settings url"));
    let set = sactl(
        &node,
        &[
            "outputs",
            "set",
            "webhook:soc",
            &format!("url={}", receiver.url()),
            "secret=s3cr3t",
        ],
    );
    assert!(set.status.success(), "{set:?}");
    let outputs = json_of(&sactl(&node, &["outputs", "list", "--json"]));
    let soc = outputs
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "webhook:soc")
        .unwrap();
    assert_eq!(soc["declared_in"], "outputs.json, sactl");
    assert_eq!(soc["settings"], json!(["url", "secret"]));
    assert!(
        !String::from_utf8_lossy(&sactl(&node, &["outputs", "list"]).stdout).contains("s3cr3t"),
        "secret values are never printed"
    );

    // A test alert goes through the real path, signed.
    let test = sactl(&node, &["outputs", "test", "webhook:soc"]);
    assert!(test.status.success(), "{test:?}");
    let probe = receiver.wait_for_requests(1, Duration::from_secs(10));
    assert_eq!(probe.len(), 1);
    assert_eq!(probe[0].json()["rule_name"], "sa_output_test");
    assert!(probe[0].header("x-sa-signature").is_some());

    // A failing test delivery says how it failed, never what the URL answered (no SSRF oracle).
    receiver.queue_reply(Reply::text(403, "internal page: db password hunter2"));
    let refused = sactl(&node, &["outputs", "test", "webhook:soc"]);
    let told = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(told.contains("HTTP 403"), "{told}");
    assert!(!told.contains("hunter2"), "{told}");

    // The receiver refuses the next alert: it is dead-lettered, then replayed once it accepts.
    receiver.queue_reply(Reply::status(400));
    let (status, body) = node
        .http()
        .post(
            "/v1/ingest/events",
            b"{\"kind\": \"bad\", \"seq\": 1}\n{\"kind\": \"good\", \"seq\": 2}\n",
        )
        .unwrap();
    assert_eq!(status, 200, "{body}");
    wait_for("the dead letter", || {
        json_of(&sactl(
            &node,
            &["dead-letters", "list", "--kind", "output", "--json"],
        ))
        .as_array()
        .is_some_and(|d| d.len() == 1)
    });
    let dead = json_of(&sactl(&node, &["dead-letters", "list", "--json"]));
    let dead_output = dead
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "output")
        .unwrap();
    assert!(
        dead_output["dead_letter"]["reason"]
            .as_str()
            .unwrap()
            .contains("400")
    );
    let alert_id = dead_output["dead_letter"]["alert_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let listed = json_of(&sactl(
        &node,
        &["alerts", "list", "--status", "dead", "--json"],
    ));
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["alert"]["AlertID"], alert_id);
    assert_eq!(listed[0]["outputs"]["webhook:soc"]["state"], "dead");

    let replay = sactl(&node, &["dead-letters", "replay", "--alert-id", &alert_id]);
    assert!(
        String::from_utf8_lossy(&replay.stdout).contains("1 dead letters replayed"),
        "{replay:?}"
    );
    wait_for("the replayed alert", || {
        json_of(&sactl(&node, &["alerts", "show", &alert_id, "--json"]))["outputs"]["webhook:soc"]["state"]
            == "sent"
    });
    let shown = json_of(&sactl(&node, &["alerts", "show", &alert_id, "--json"]));
    assert_eq!(shown["status"], "delivered");
    assert_eq!(shown["published"]["record"]["seq"], 1);

    // A resend delivers it once more, on request.
    let before = receiver.requests().len();
    let resend = sactl(&node, &["alerts", "resend", &alert_id]);
    assert!(resend.status.success(), "{resend:?}");
    wait_for("the resent alert", || {
        receiver.requests().len() == before + 1
    });
    assert_eq!(
        receiver.requests().last().unwrap().header("x-sa-alert-id"),
        Some(alert_id.as_str())
    );

    // A rule's publishers shape what its output receives (composed on the node's rules thread).
    let (status, body) = node
        .http()
        .post("/v1/ingest/events", b"{\"kind\": \"tagged\", \"seq\": 3}\n")
        .unwrap();
    assert_eq!(status, 200, "{body}");
    wait_for("the published alert", || {
        receiver
            .requests()
            .iter()
            .any(|r| r.json()["tagged_by"] == "probe publisher")
    });
    let published = receiver
        .requests()
        .into_iter()
        .find(|r| r.json()["tagged_by"] == "probe publisher")
        .unwrap()
        .json();
    assert_eq!(published["rule"], "probe_tagged");
    assert_eq!(published["seq"], 3);

    // A record no schema matches is dead-lettered; once a pushed config accepts it, a replay
    // runs it through the pipeline again and it alerts.
    let (status, body) = node
        .http()
        .post("/v1/ingest/events", b"{\"kind\": \"bad\"}\n")
        .unwrap();
    assert_eq!(status, 200, "{body}");
    let unplaced = json_of(&sactl(
        &node,
        &["dead-letters", "list", "--kind", "classify", "--json"],
    ));
    assert_eq!(unplaced.as_array().unwrap().len(), 1, "{unplaced}");
    assert!(
        unplaced[0]["dead_letter"]["reason"]
            .as_str()
            .unwrap()
            .contains("seq"),
        "{unplaced}"
    );
    let still = sactl(&node, &["dead-letters", "replay", "--kind", "classify"]);
    assert!(
        String::from_utf8_lossy(&still.stdout).contains("1 records reprocessed, 0 classified"),
        "{still:?}"
    );
    std::fs::write(
        repo.join("conf/schemas/probe.json"),
        json!({"probe:event": {
            "parser": "json",
            "schema": {"kind": "string", "seq": "integer"},
            "configuration": {"optional_top_level_keys": ["seq"]}
        }})
        .to_string(),
    )
    .unwrap();
    let push = sactl(&node, &["config", "push", repo.to_str().unwrap()]);
    assert!(push.status.success(), "{push:?}");
    wait_for("the node to run the pushed config", || {
        json_of(&sactl(&node, &["status", "--json"]))["config_version"] == 1
    });
    let before = receiver.requests().len();
    let replayed = sactl(&node, &["dead-letters", "replay", "--kind", "classify"]);
    assert!(
        String::from_utf8_lossy(&replayed.stdout).contains("1 records reprocessed, 1 classified"),
        "{replayed:?}"
    );
    assert!(
        json_of(&sactl(
            &node,
            &["dead-letters", "list", "--kind", "classify", "--json"]
        ))
        .as_array()
        .unwrap()
        .is_empty()
    );
    wait_for("the replayed record's alert", || {
        receiver.requests().len() > before
    });

    let unknown = sactl(&node, &["alerts", "show", "no-such-alert"]);
    assert_eq!(unknown.status.code(), Some(1));
    let bad_status = sactl(&node, &["alerts", "list", "--status", "lost"]);
    assert_eq!(bad_status.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad_status.stderr).contains("unknown status"));
}

/// An output that cannot work (here: a node with no AWS credentials anywhere) dead-letters its
/// alerts at once, not after a day of retries; the node says so once, not once per alert;
/// `sactl outputs list` shows why; and replaying the dead letters after the fix delivers them.
#[test]
fn an_output_that_cannot_work_says_so_once_and_delivers_after_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let rules = [(
        "archive_rules.py",
        "from streamalert.shared.rule import rule\n\n\n@rule(logs=['probe:event'], outputs=['aws-s3:archive'])\ndef probe_archived(rec):\n    return rec['kind'] == 'bad'\n",
    )];
    let repo = sa_chaos_tests::probe_repository(
        dir.path(),
        "events",
        &rules,
        &json!({"aws-s3": {"archive": "sa-archive"}}),
    )
    .unwrap();
    let moto = sa_chaos_tests::MotoServer::start().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sdk = sa_chaos_tests::moto_sdk_config(&moto);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(true)
            .build(),
    );
    runtime
        .block_on(s3.create_bucket().bucket("sa-archive").send())
        .unwrap();

    let mut options = NodeOptions::new(crate::SANODE, dir.path().join("node"));
    options.repo = repo;
    options.extra_args = vec!["--quiet-alerts".into()];
    let no_credentials = dir.path().join("nothing");
    for (key, value) in [
        ("AWS_REGION", sa_chaos_tests::MOTO_REGION.to_string()),
        ("SA_AWS_ENDPOINT", moto.endpoint()),
        ("AWS_ACCESS_KEY_ID", String::new()),
        ("AWS_SECRET_ACCESS_KEY", String::new()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ("AWS_CONFIG_FILE", no_credentials.display().to_string()),
        (
            "AWS_SHARED_CREDENTIALS_FILE",
            no_credentials.display().to_string(),
        ),
        ("HOME", no_credentials.display().to_string()),
    ] {
        options.env.push((key.to_string(), value));
    }
    let node = NodeProcess::start(&options).unwrap();
    // Someone set the output up (an output nobody set up is only said to be so, at info:
    // tests/it/first_start.rs), so its failing is an error.
    let set = sactl(
        &node,
        &["outputs", "set", "aws-s3:archive", "resource=sa-archive"],
    );
    assert!(set.status.success(), "{set:?}");
    let records: String = (0..3)
        .map(|seq| format!("{}\n", json!({"kind": "bad", "seq": seq})))
        .collect();
    let (status, body) = node
        .http()
        .post("/v1/ingest/events", records.as_bytes())
        .unwrap();
    assert_eq!(status, 200, "{body}");

    let dead = || {
        let list = json_of(&sactl(
            &node,
            &["dead-letters", "list", "--kind", "output", "--json"],
        ));
        list.as_array().cloned().unwrap_or_default()
    };
    wait_for("three alerts dead-lettered at once", || dead().len() == 3);
    for letter in dead() {
        let reason = letter["dead_letter"]["reason"].as_str().unwrap_or_default();
        assert!(
            reason.contains("no AWS credentials")
                && reason.contains("sactl dead-letters replay --output aws-s3:archive"),
            "{letter}"
        );
    }
    let said = node
        .log()
        .lines()
        .filter(|line| {
            line.contains(" ERROR ")
                && line.contains("cannot deliver until its configuration is fixed")
        })
        .count();
    assert_eq!(
        said,
        1,
        "said once for the output, not per alert:\n{}",
        node.log()
    );
    let archive = listed_output(&node, "aws-s3:archive");
    assert!(
        archive["not_deliverable"]
            .as_str()
            .is_some_and(|why| why.contains("no AWS credentials")),
        "{archive}"
    );

    // The fix: the node gets credentials. The replay delivers every dead letter.
    let mut fixed = node.restart_options(&options);
    node.terminate_cleanly(Duration::from_secs(20)).unwrap();
    fixed
        .env
        .retain(|(key, _)| !key.starts_with("AWS_ACCESS") && !key.starts_with("AWS_SECRET"));
    fixed.env.extend(moto.env());
    let node = NodeProcess::start(&fixed).unwrap();
    let replay = sactl(
        &node,
        &["dead-letters", "replay", "--output", "aws-s3:archive"],
    );
    assert!(replay.status.success(), "{replay:?}");
    let objects = || {
        runtime
            .block_on(s3.list_objects_v2().bucket("sa-archive").send())
            .map(|listing| listing.contents().len())
            .unwrap_or(0)
    };
    wait_for("three alerts in the bucket", || objects() == 3);
    let archive = listed_output(&node, "aws-s3:archive");
    assert!(archive["not_deliverable"].is_null(), "{archive}");
}
