//! Rule staging (docs/spec §9.11) on a real node: config pushes sync the replicated rule table
//! (the first never stages, later ones stage new rules), staged rules' alerts reach only the
//! alerts firehose, `sactl rules` stages, promotes, disables and enables, the leader promotes a
//! rule whose window ended without an alert, and wrong names are refused with the reason.

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use sa_chaos_tests::{HttpReceiver, NodeOptions, NodeProcess, enable_rule_staging};
use serde_json::{Value, json};

const FIRST_RULES: &str = r#"
from streamalert.shared.rule import rule


@rule(logs=['probe:event'], outputs=['webhook:soc'])
def probe_bad(rec):
    return rec['kind'] == 'bad'


@rule(logs=['probe:event'], outputs=['webhook:soc'])
def probe_retired(rec):
    return rec['kind'] == 'retired'
"#;

/// The second version drops `probe_retired` and adds `probe_new`. It prints while imported,
/// without a newline, as some repositories' modules do: the node's bundle check must still
/// read its summary.
const SECOND_RULES: &str = r#"
import sys

from streamalert.shared.rule import rule

sys.stdout.write('probe rules v2 imported')
sys.stdout.flush()


@rule(logs=['probe:event'], outputs=['webhook:soc'])
def probe_bad(rec):
    return rec['kind'] == 'bad'


@rule(logs=['probe:event'], outputs=['webhook:soc'])
def probe_new(rec):
    return rec['kind'] == 'new'
"#;

fn probe_repository(dir: &Path, rules: &str) -> std::path::PathBuf {
    let repo = sa_chaos_tests::probe_repository(
        dir,
        "events",
        &[("probe_rules.py", rules)],
        &json!({"webhook": ["soc"]}),
    )
    .unwrap();
    enable_rule_staging(&repo).unwrap();
    repo
}

fn sactl(node: &NodeProcess, args: &[&str]) -> Output {
    node.sactl(crate::sactl(), args)
}

fn succeeded(output: Output) -> String {
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

fn refused(output: Output) -> String {
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    String::from_utf8(output.stderr).unwrap()
}

fn wait_for(what: &str, check: impl FnMut() -> bool) {
    sa_chaos_tests::wait_for(what, Duration::from_secs(30), check);
}

/// `sactl rules list --json`, by rule name.
fn rules(node: &NodeProcess) -> (Value, serde_json::Map<String, Value>) {
    let listing: Value =
        serde_json::from_str(&succeeded(sactl(node, &["rules", "list", "--json"]))).unwrap();
    let by_name = listing["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| (rule["name"].as_str().unwrap().to_owned(), rule.clone()))
        .collect();
    (listing, by_name)
}

fn send(node: &NodeProcess, records: &[Value]) {
    let body: String = records.iter().map(|r| format!("{r}\n")).collect();
    let (status, reply) = node
        .http()
        .post("/v1/ingest/events", body.as_bytes())
        .unwrap();
    assert_eq!(status, 200, "{reply}");
}

/// The stored alerts of `rule`, as Dynamo records.
fn alerts_of(node: &NodeProcess, rule: &str) -> Vec<Value> {
    let listed: Value =
        serde_json::from_str(&succeeded(sactl(node, &["alerts", "list", "--json"]))).unwrap();
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| entry["alert"].clone())
        .filter(|alert| alert["RuleName"] == rule)
        .collect()
}

fn delivered_seqs(receiver: &HttpReceiver) -> Vec<i64> {
    let mut seqs: Vec<i64> = receiver
        .requests()
        .iter()
        .filter_map(|r| r.json()["record"]["seq"].as_i64())
        .collect();
    seqs.sort();
    seqs
}

/// The rule table's states reach the rules thread within a second (its cache).
fn let_the_rules_thread_see_it() {
    std::thread::sleep(Duration::from_millis(1500));
}

#[test]
fn pushes_stage_new_rules_and_sactl_stages_promotes_disables_and_enables() {
    let dir = tempfile::tempdir().unwrap();
    let first = probe_repository(&dir.path().join("v1"), FIRST_RULES);
    let second = probe_repository(&dir.path().join("v2"), SECOND_RULES);
    let mut options = NodeOptions::new(crate::SANODE, dir.path().join("node"));
    options.repo = first.clone();
    options.extra_args = vec![
        "--quiet-alerts".into(),
        "--rule-promotion-interval".into(),
        "200ms".into(),
    ];
    let node = NodeProcess::start(&options).unwrap();
    let receiver = HttpReceiver::start().unwrap();
    succeeded(sactl(
        &node,
        &[
            "outputs",
            "set",
            "webhook:soc",
            &format!("url={}", receiver.url()),
        ],
    ));

    // The first push fills the empty table and stages nothing.
    let pushed = succeeded(sactl(&node, &["config", "push", first.to_str().unwrap()]));
    assert!(!pushed.contains("staged"), "{pushed}");
    let (listing, table) = rules(&node);
    assert_eq!(listing["staging_enabled"], true);
    assert_eq!(listing["promotion_enabled"], true);
    assert_eq!(table.len(), 2);
    assert!(table.values().all(|rule| rule["staged"] == false));

    // A push naming a rule it does not have is refused, and changes nothing.
    let error = refused(sactl(
        &node,
        &[
            "config",
            "push",
            second.to_str().unwrap(),
            "--stage-rules",
            "probe_typo",
        ],
    ));
    assert!(
        error.contains("--stage-rules: the pushed config has no rule named \"probe_typo\""),
        "{error}"
    );
    assert!(rules(&node).1.contains_key("probe_retired"));

    // The second push stages its new rule and drops the retired one from the table.
    let pushed = succeeded(sactl(&node, &["config", "push", second.to_str().unwrap()]));
    assert!(
        pushed.contains("staged (alerts go only to the alerts firehose until promoted): probe_new"),
        "{pushed}"
    );
    wait_for("the node to run v2", || {
        rules(&node)
            .1
            .get("probe_new")
            .is_some_and(|rule| rule["in_config"] == true)
    });
    let (_, table) = rules(&node);
    assert!(!table.contains_key("probe_retired"));
    assert_eq!(table["probe_new"]["staged"], true);
    assert_eq!(table["probe_bad"]["staged"], false);

    // A staged rule's alert is stored, flagged, and goes only to the alerts firehose.
    send(
        &node,
        &[
            json!({"kind": "new", "seq": 1}),
            json!({"kind": "bad", "seq": 2}),
        ],
    );
    receiver.wait_for_requests(1, Duration::from_secs(10));
    let staged = alerts_of(&node, "probe_new");
    assert_eq!(staged.len(), 1);
    assert_eq!(staged[0]["Staged"], true);
    assert_eq!(staged[0]["Outputs"], json!(["aws-firehose:alerts"]));
    assert_eq!(rules(&node).1["probe_new"]["staged_alerts"], 1);
    let (status, metrics) = node.http().get("/metrics").unwrap();
    assert_eq!(status, 200);
    assert!(
        metrics.lines().any(|l| l == "sa_rules_staged 1"),
        "{metrics}"
    );
    assert!(
        metrics.lines().any(|l| l == "sa_rules_disabled 0"),
        "{metrics}"
    );

    // Staged for a second with no alert, probe_bad is promoted by the leader on its own;
    // probe_new alerted while staged, so it stays staged.
    let stage = succeeded(sactl(
        &node,
        &["rules", "stage", "probe_bad", "--for", "1s"],
    ));
    assert!(stage.starts_with("staged probe_bad until "), "{stage}");
    wait_for("probe_bad's promotion", || {
        rules(&node).1["probe_bad"]["staged"] == false
    });
    assert_eq!(rules(&node).1["probe_new"]["staged"], true);

    // Promoted by hand, probe_new reaches its output; disabled, probe_bad no longer runs.
    succeeded(sactl(&node, &["rules", "promote", "probe_new"]));
    let disabled = succeeded(sactl(&node, &["rules", "disable", "probe_bad"]));
    assert_eq!(disabled.trim(), "disabled probe_bad");
    let_the_rules_thread_see_it();
    send(
        &node,
        &[
            json!({"kind": "bad", "seq": 3}),
            json!({"kind": "new", "seq": 4}),
        ],
    );
    wait_for("probe_new's alert at its output", || {
        delivered_seqs(&receiver).contains(&4)
    });
    assert_eq!(
        alerts_of(&node, "probe_bad").len(),
        1,
        "disabled: seq 3 made no alert"
    );
    let listed = succeeded(sactl(&node, &["rules", "list"]));
    assert!(
        listed
            .lines()
            .any(|line| line.starts_with("probe_bad") && line.contains("disabled")),
        "{listed}"
    );

    // Enabled again, it alerts again.
    succeeded(sactl(&node, &["rules", "enable", "probe_bad"]));
    let_the_rules_thread_see_it();
    send(&node, &[json!({"kind": "bad", "seq": 5})]);
    wait_for("probe_bad's alert after enable", || {
        delivered_seqs(&receiver).contains(&5)
    });
    assert_eq!(delivered_seqs(&receiver), [2, 4, 5]);

    // A reader that stops early (`sactl rules list | head`) ends sactl quietly, not in a panic.
    let mut listing = node
        .sactl_command(crate::sactl())
        .args(["rules", "list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(listing.stdout.take());
    let closed = listing.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&closed.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");

    // Unknown rules are refused by name.
    let error = refused(sactl(&node, &["rules", "disable", "probe_nothing"]));
    assert!(
        error.contains("no rule named \"probe_nothing\" in the rule table (the pushed config)"),
        "{error}"
    );
}
