//! The audit trail on a real 3-node cluster: every kind of write by a person or a token leaves
//! exactly one entry, committed with its change, naming who, the role, the action and the
//! result, and the trail survives the leader's kill -9.

use std::collections::BTreeMap;
use std::time::Duration;

use sa_chaos_tests::{TestCluster, repository_root};
use serde_json::Value;

fn succeeded(cluster: &TestCluster, node: usize, args: &[&str]) -> String {
    let out = cluster.sactl(node, args);
    assert!(out.status.success(), "sactl {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn audit(cluster: &TestCluster, node: usize) -> Vec<Value> {
    let out = succeeded(cluster, node, &["audit", "list", "--since", "1h", "--json"]);
    serde_json::from_str::<Value>(&out)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn every_kind_of_write_leaves_one_entry_that_survives_a_leader_kill() {
    let mut cluster = TestCluster::start(3).unwrap();
    let repo = repository_root();
    let rules: Value =
        serde_json::from_str(&succeeded(&cluster, 0, &["rules", "list", "--json"])).unwrap();
    let rule = rules["rules"][0]["name"]
        .as_str()
        .expect("a shipped rule")
        .to_string();

    // Writes through different members: a follower forwards the change and its entry together.
    succeeded(&cluster, 0, &["config", "push", repo.to_str().unwrap()]);
    succeeded(
        &cluster,
        1,
        &[
            "outputs",
            "set",
            "webhook:audit",
            "url=http://127.0.0.1:9/hook",
        ],
    );
    succeeded(&cluster, 2, &["secrets", "rotate"]);
    succeeded(&cluster, 0, &["lookup-tables", "put", "audited", "k", "v"]);
    succeeded(&cluster, 1, &["rules", "disable", &rule]);
    succeeded(&cluster, 2, &["tokens", "create", "--role", "viewer"]);
    succeeded(&cluster, 0, &["join-token", "create"]);
    succeeded(&cluster, 1, &["certs", "revoke", "0a0b0c"]);
    // A refused write is recorded with its reason.
    let refused = cluster.sactl(2, &["rules", "disable", "no_such_rule"]);
    assert!(!refused.status.success());
    // Reads leave nothing.
    succeeded(&cluster, 0, &["outputs", "list"]);
    succeeded(&cluster, 0, &["status"]);

    let expected = [
        ("config push", "ok"),
        ("outputs set", "ok"),
        ("secrets rotate", "ok"),
        ("lookup-tables put", "ok"),
        ("rules change", "ok"),
        ("tokens create", "ok"),
        ("join-token create", "ok"),
        ("certs revoke", "ok"),
    ];
    let check = |entries: &[Value]| {
        let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
        for entry in entries {
            assert_eq!(entry["who"], "admin", "{entry}");
            assert_eq!(entry["role"], "admin", "{entry}");
            assert!(
                entry["at"].as_str().is_some_and(|at| at.ends_with('Z')),
                "{entry}"
            );
            let result = entry["result"].as_str().unwrap();
            let result = if result == "ok" { "ok" } else { "failed" };
            *counts
                .entry((
                    entry["action"].as_str().unwrap().to_string(),
                    result.to_string(),
                ))
                .or_default() += 1;
        }
        for (action, result) in expected {
            assert_eq!(
                counts.get(&(action.to_string(), result.to_string())),
                Some(&1),
                "{action} {result} once in {counts:?}"
            );
        }
        assert_eq!(
            counts.get(&("rules change".to_string(), "failed".to_string())),
            Some(&1),
            "the refused change: {counts:?}"
        );
        assert_eq!(
            counts.values().sum::<usize>(),
            expected.len() + 1,
            "{counts:?}"
        );
    };
    let entries = audit(&cluster, 0);
    check(&entries);
    let set = entries
        .iter()
        .find(|e| e["action"] == "outputs set" && e["result"] == "ok")
        .unwrap();
    assert_eq!(
        set["summary"], "webhook:audit (url)",
        "names, never values: {set}"
    );
    let failed = entries
        .iter()
        .find(|e| e["action"] == "rules change" && e["result"] != "ok")
        .unwrap();
    assert!(
        failed["result"].as_str().unwrap().contains("no_such_rule"),
        "the reason: {failed}"
    );
    let rules_entry = entries
        .iter()
        .find(|e| e["action"] == "rules change" && e["result"] == "ok")
        .unwrap();
    assert!(
        rules_entry["summary"].as_str().unwrap().contains(&rule),
        "{rules_entry}"
    );

    let leader = cluster.leader().expect("a leader");
    cluster.kill9(leader).unwrap();
    let survivor = (0..3).find(|&i| i != leader).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    check(&audit(&cluster, survivor));
    let mine = succeeded(
        &cluster,
        survivor,
        &["audit", "list", "--who", "nobody", "--json"],
    );
    assert_eq!(
        serde_json::from_str::<Value>(&mine).unwrap(),
        serde_json::json!([])
    );

    // Membership, token revocation and replays, through a survivor: one entry each.
    let killed_id = (leader + 1).to_string();
    cluster
        .wait_until(Duration::from_secs(30), "a new leader", |c| {
            c.leader().is_some()
        })
        .unwrap();
    succeeded(&cluster, survivor, &["remove-node", &killed_id]);
    let token = succeeded(
        &cluster,
        survivor,
        &["tokens", "create", "--role", "viewer"],
    );
    let id = token
        .lines()
        .last()
        .unwrap()
        .split('.')
        .nth(1)
        .unwrap()
        .to_string();
    succeeded(&cluster, survivor, &["tokens", "revoke", &id]);
    succeeded(&cluster, survivor, &["dead-letters", "replay"]);
    let after = audit(&cluster, survivor);
    for action in ["remove-node", "tokens revoke", "dead-letters replay"] {
        let found: Vec<&Value> = after.iter().filter(|e| e["action"] == action).collect();
        assert_eq!(found.len(), 1, "{action}: {found:?}");
        assert_eq!(found[0]["result"], "ok", "{action}: {found:?}");
    }
    let removal = after.iter().find(|e| e["action"] == "remove-node").unwrap();
    assert_eq!(removal["summary"], format!("node {killed_id}"), "{removal}");
}

/// The leader deletes entries past `--audit-retention`, and keeps the newer ones.
#[test]
fn entries_past_the_audit_retention_are_deleted() {
    let cluster = TestCluster::start_with(
        1,
        &[
            "--audit-retention",
            "4s",
            "--alert-retention-interval",
            "1s",
        ],
    )
    .unwrap();
    succeeded(&cluster, 0, &["lookup-tables", "put", "aged", "k", "v"]);
    assert_eq!(audit(&cluster, 0).len(), 1, "the write left its entry");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !audit(&cluster, 0).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the entry outlived its retention by a minute"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // A newer entry is still there after a pass that deleted the old one.
    succeeded(&cluster, 0, &["lookup-tables", "put", "aged", "k2", "v"]);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(audit(&cluster, 0).len(), 1, "the newer entry stays");
}
