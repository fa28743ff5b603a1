//! Replicated state with real processes: config bundles reach every node (also across a leader
//! kill and a restart, and when their rules import a package only the nodes' Python environment
//! has), lookup values written on one node are read by rules on another, and a node re-added
//! with a wiped disk catches up by snapshot.

use std::time::Duration;

use sa_chaos_tests::{TestCluster, repository_root, workspace_binary, write_repository};
use serde_json::Value;

fn config_versions(cluster: &TestCluster, via: usize) -> Vec<Option<u64>> {
    cluster
        .members(via)
        .map(|members| {
            members
                .iter()
                .map(|m| m["config_version"].as_u64())
                .collect()
        })
        .unwrap_or_default()
}

fn all_run(cluster: &TestCluster, via: usize, size: usize, version: u64) -> bool {
    let versions = config_versions(cluster, via);
    versions.len() == size && versions.iter().all(|v| *v == Some(version))
}

#[test]
fn pushed_config_reaches_every_node_across_a_leader_kill_and_a_restart() {
    let mut cluster = TestCluster::start(3).unwrap();
    let repo = repository_root();
    let repo = repo.to_str().unwrap();

    let push = cluster.sactl(1, &["config", "push", repo]);
    assert!(push.status.success(), "{push:?}");
    assert!(
        String::from_utf8_lossy(&push.stdout).contains("pushed config v1"),
        "{push:?}"
    );
    let took = cluster
        .wait_until(Duration::from_secs(60), "every node runs config v1", |c| {
            all_run(c, 0, 3, 1)
        })
        .unwrap();
    println!("config push to all nodes reloaded: {took:?} after the push returned");

    let diff = cluster.sactl(2, &["config", "diff", repo]);
    assert!(
        String::from_utf8_lossy(&diff.stdout).contains("matches the active config v1"),
        "{diff:?}"
    );

    let leader = cluster.leader().unwrap();
    cluster.kill9(leader).unwrap();
    let survivor = (0..3).find(|i| *i != leader).unwrap();
    let push = cluster.sactl(survivor, &["config", "push", repo]);
    assert!(
        push.status.success(),
        "a push after the leader's death must succeed: {push:?}"
    );
    cluster
        .wait_until(
            Duration::from_secs(60),
            "the survivors run config v2",
            |c| {
                let versions = config_versions(c, survivor);
                versions.iter().filter(|v| **v == Some(2)).count() == 2
            },
        )
        .unwrap();

    cluster.restart(leader).unwrap();
    cluster
        .wait_until(
            Duration::from_secs(60),
            "the restarted node catches up to v2",
            |c| all_run(c, survivor, 3, 2),
        )
        .unwrap();
    let show = cluster.sactl(leader, &["config", "show", "--json"]);
    let show: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(show["version"], 2);
}

#[test]
fn an_invalid_bundle_is_refused_and_the_running_config_stays() {
    let cluster = TestCluster::start(1).unwrap();
    let broken = tempfile::tempdir().unwrap();
    let conf = broken.path().join("conf");
    std::fs::create_dir_all(conf.join("schemas")).unwrap();
    std::fs::write(
        conf.join("schemas/bad.json"),
        r#"{"x:y": {"parser": "json"}}"#,
    )
    .unwrap();
    let push = cluster.sactl(0, &["config", "push", broken.path().to_str().unwrap()]);
    assert_eq!(push.status.code(), Some(1), "{push:?}");
    let stderr = String::from_utf8_lossy(&push.stderr);
    assert!(
        stderr.contains("bad.json") && stderr.contains("schema"),
        "{stderr}"
    );
    assert_eq!(cluster.status(0).unwrap()["config_version"], 0);
}

/// A Zeek DNS record for `cdn.bad-example.net`, taken from the shipped rule's own test events.
fn blocklisted_dns_record() -> String {
    let path = repository_root().join("rules/community/dns/dns_blocklisted_domain.json");
    let events: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let event = events
        .iter()
        .find(|e| e["log"] == "zeek:dns" && e["data"]["query"] == "cdn.bad-example.net")
        .expect("the shipped dns_blocklisted_domain tests hold a zeek:dns lookup of cdn.bad-example.net");
    event["data"].to_string()
}

fn send(cluster: &TestCluster, i: usize, record: &str) -> Value {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), record).unwrap();
    let out = cluster.sactl(
        i,
        &[
            "send",
            "--source",
            "json",
            "--json",
            file.path().to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn fired(reply: &Value, rule: &str) -> bool {
    reply["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["rule"] == rule)
}

#[test]
fn a_lookup_value_put_on_one_node_is_seen_by_a_rule_on_another() {
    let cluster = TestCluster::start(3).unwrap();
    let record = blocklisted_dns_record();
    let before = send(&cluster, 2, &record);
    assert_eq!(before["classified"], 1, "{before}");
    assert!(
        !fired(&before, "dns_blocklisted_domain"),
        "no blocklist yet: {before}"
    );

    let put = cluster.sactl(
        0,
        &[
            "lookup-tables",
            "put",
            "dns_blocklist",
            "bad-example.net",
            r#"{"source":"test"}"#,
        ],
    );
    assert!(put.status.success(), "{put:?}");
    // A follower serves reads from its own replica, which applies the commit moments later.
    cluster
        .wait_until(Duration::from_secs(10), "node 1 reads the value", |c| {
            let get = c.sactl(
                1,
                &["lookup-tables", "get", "dns_blocklist", "bad-example.net"],
            );
            String::from_utf8_lossy(&get.stdout).trim() == r#"{"source":"test"}"#
        })
        .unwrap();

    // The value is applied on node 2's replica within moments of the commit.
    cluster
        .wait_until(
            Duration::from_secs(10),
            "node 2 fires the blocklist rule",
            |c| fired(&send(c, 2, &record), "dns_blocklisted_domain"),
        )
        .unwrap();
}

#[test]
fn a_node_readded_with_a_wiped_disk_catches_up_by_snapshot() {
    let mut cluster = TestCluster::start_with(3, &["--snapshot-after-logs", "20"]).unwrap();
    let table = tempfile::NamedTempFile::new().unwrap();
    for round in 0..30 {
        let entry = format!(r#"{{"key-{round}": {round}}}"#);
        std::fs::write(table.path(), entry).unwrap();
        let load = cluster.sactl(
            0,
            &[
                "lookup-tables",
                "load",
                "--table",
                "t",
                table.path().to_str().unwrap(),
            ],
        );
        assert!(load.status.success(), "{load:?}");
    }
    let removed_id = cluster.status(2).unwrap()["node_id"].as_u64().unwrap();
    let remove = cluster.sactl(0, &["remove-node", &removed_id.to_string()]);
    assert!(remove.status.success(), "{remove:?}");

    cluster.wipe_and_rejoin(2, 0).unwrap();
    cluster
        .wait_until(
            Duration::from_secs(60),
            "the wiped node is a healthy voter again",
            |c| {
                c.members(0).is_ok_and(|m| {
                    m.len() == 3
                        && m.iter()
                            .all(|n| n["healthy"] == true && n["role"] != "learner")
                })
            },
        )
        .unwrap();
    let get = cluster.sactl(2, &["lookup-tables", "get", "t", "key-29"]);
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), "29", "{get:?}");
    let log = cluster.node(2).log();
    assert!(
        log.contains("installed snapshot"),
        "the wiped node caught up from a snapshot:\n{log}"
    );
}

/// A virtualenv-shaped directory for the system's Python whose site-packages alone hold the
/// package `sa_only_here`, as `pip install` into a venv would leave it.
fn environment_with_a_package(dir: &std::path::Path) -> std::path::PathBuf {
    let version = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')",
        ])
        .output()
        .unwrap();
    let version = String::from_utf8(version.stdout).unwrap();
    let env = dir.join("venv");
    let package = env.join(format!(
        "lib/python{}/site-packages/sa_only_here",
        version.trim()
    ));
    std::fs::create_dir_all(&package).unwrap();
    std::fs::write(
        package.join("__init__.py"),
        "def is_bad(kind):\n    return kind == 'bad'\n",
    )
    .unwrap();
    env
}

#[test]
fn a_repository_whose_rules_import_a_package_of_the_python_env_validates_and_pushes() {
    let dir = tempfile::tempdir().unwrap();
    let env = environment_with_a_package(dir.path());
    let repo = write_repository(
        dir.path(),
        &[(
            "pyenv",
            serde_json::json!({"id": "pyenv", "classifier_config": {}, "data_sources": {"http": {"events": ["pyenv"]}}}),
        )],
        &[(
            "pyenv",
            serde_json::json!({"pyenv:event": {"parser": "json", "schema": {"kind": "string"}}}),
        )],
        &[(
            "pyenv_rules.py",
            "from sa_only_here import is_bad\nfrom streamalert.shared.rule import rule\n\n\n@rule(logs=['pyenv:event'])\ndef pyenv_bad(rec):\n    return is_bad(rec['kind'])\n",
        )],
        None,
    )
    .unwrap();
    let repo = repo.to_str().unwrap();
    let sactl = |args: &[&str]| {
        std::process::Command::new(workspace_binary("sactl").unwrap())
            .env_remove("VIRTUAL_ENV")
            .env_remove("SA_PYTHON_ENV")
            .args(args)
            .output()
            .unwrap()
    };
    let without = sactl(&["config", "validate", repo]);
    assert_eq!(without.status.code(), Some(1), "{without:?}");
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert!(
        stderr.contains("No module named 'sa_only_here'"),
        "{stderr}"
    );
    let env_arg = env.to_str().unwrap();
    let with = sactl(&["config", "validate", "--python-env", env_arg, repo]);
    assert!(with.status.success(), "{with:?}");

    let mut cluster = TestCluster::start_configured(3, |options| {
        options.repo = repository_root();
        options
            .extra_args
            .extend(["--python-env".to_string(), env_arg.to_string()]);
    })
    .unwrap();
    // Each node checks the pushed bundle in a child with the node's own --python-env.
    let push = cluster.sactl(0, &["config", "push", "--python-env", env_arg, repo]);
    assert!(push.status.success(), "{push:?}");
    cluster
        .wait_until(Duration::from_secs(60), "every node runs config v1", |c| {
            all_run(c, 0, 3, 1)
        })
        .unwrap();
    let rules = cluster.sactl(1, &["rules", "list", "--json"]);
    assert!(
        String::from_utf8_lossy(&rules.stdout).contains("pyenv_bad"),
        "{rules:?}"
    );
    // A node restarted from the data dir loads them again with its environment.
    cluster.kill9(2).unwrap();
    cluster.restart(2).unwrap();
    cluster
        .wait_until(
            Duration::from_secs(60),
            "the restarted node runs config v1",
            |c| all_run(c, 0, 3, 1),
        )
        .unwrap();
}
