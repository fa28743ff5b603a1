//! The embedded default as a new user meets it (README.md, "What the first command shows"):
//! `bash deploy/local/run.sh` runs sanode with no flags in the repository root, on the shipped
//! conf/ and rules/. Here it runs the same way, with its data dir in a temp dir and on free
//! loopback ports so tests can run side by side.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use sa_chaos_tests::{NodeOptions, NodeProcess, repository_root, wait_for};

/// Generous for a loaded two-core CI machine; a node stops in tens of milliseconds.
const STOP_BOUND: Duration = Duration::from_secs(5);

fn default_node(dir: &Path) -> NodeOptions {
    let mut options = NodeOptions::new(crate::SANODE, dir.join("data"));
    options.cwd = Some(repository_root());
    // The defaults, whatever the test's environment sets; and a machine without AWS: no
    // credentials in the environment or in ~/.aws, no EC2 instance metadata (a runner on EC2
    // would lend the shipped SQS output its instance role).
    options.env_removed = std::env::vars()
        .map(|(name, _)| name)
        .filter(|name| name.starts_with("AWS_") || name.starts_with("SA_"))
        .collect();
    options.env = vec![
        ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ("HOME".into(), dir.display().to_string()),
    ];
    options
}

/// Log lines at WARN or ERROR (the text format: timestamp, level, target, message).
fn warnings(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|line| {
            let mut words = line.split_whitespace();
            let stamped = words
                .next()
                .is_some_and(|w| w.starts_with("20") && w.ends_with('Z'));
            stamped && matches!(words.next(), Some("WARN" | "ERROR"))
        })
        .collect()
}

/// The command of the summary line labelled `label` from `program` on (`sactl`, `curl`).
fn summary_command(log: &str, label: &str, program: &str) -> Vec<String> {
    let line = log
        .lines()
        .skip_while(|line| !line.trim_start().starts_with(label))
        .find(|line| line.contains(&format!("{program} ")))
        .unwrap_or_else(|| panic!("no {label} line with {program} in the summary:\n{log}"));
    let from = line.find(&format!("{program} ")).expect("found above");
    line[from..]
        .split_whitespace()
        .skip(1)
        .map(str::to_owned)
        .collect()
}

fn alert_lines(data: &Path) -> usize {
    std::fs::read_to_string(data.join("alerts.jsonl"))
        .map(|text| text.lines().count())
        .unwrap_or(0)
}

#[test]
fn a_first_start_says_what_it_does_warns_of_nothing_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let data: PathBuf = dir.path().join("data");
    let node = NodeProcess::start(&default_node(dir.path())).unwrap();

    // The shipped samples' alerts reach the shipped outputs, none of which is set up.
    let not_set_up = |output: &str| {
        node.log()
            .lines()
            .any(|line| line.contains("this output is not set up yet") && line.contains(output))
    };
    wait_for(
        "the samples' alerts at every shipped output",
        Duration::from_secs(60),
        || {
            ["slack:security", "pagerduty-v2:soc", "aws-sqs:soar"]
                .iter()
                .all(|o| not_set_up(o))
        },
    );
    let log = node.log();
    for expected in [
        "starts a new cluster; ctrl-c stops it",
        &format!("data     {}/", data.display()),
        "files in deploy/local/samples/ (cluster local)",
        "HTTP and gRPC ingest, sources cloudwatch, json, syslog",
        "cluster aws's Kinesis streams: modules.kinesis_events.enabled is false",
        "cluster aws's S3 buckets: no --s3-queue",
        &format!(
            "each one to {} and stdout",
            data.join("alerts.jsonl").display()
        ),
        "aws-sqs:soar with this node's AWS credentials",
        "slack:security, slack:team-payments, slack:team-platform not set yet",
        "outputs set pagerduty-v2:soc routing_key=...",
    ] {
        assert!(log.contains(expected), "no {expected:?} in:\n{log}");
    }
    assert!(
        !log.contains("not there from"),
        "every sample file is found from the repository root:\n{log}"
    );
    assert!(
        !log.contains("kinesis lease planning") && !log.contains("ListShards"),
        "the local default reads no Kinesis stream:\n{log}"
    );

    // The commands it prints work as printed, from where it runs.
    let before = alert_lines(&data);
    let send = summary_command(&log, "send", "sactl");
    let sent = Command::new(crate::sactl())
        .args(&send)
        .current_dir(repository_root())
        .env_remove("SA_NODE")
        .env_remove("SA_CERTS_DIR")
        .output()
        .unwrap();
    assert!(sent.status.success(), "sactl {send:?}: {sent:?}");
    let curl = summary_command(&log, "send", "curl");
    let posted = Command::new("curl")
        .args(&curl)
        .current_dir(repository_root())
        .output()
        .expect("curl runs");
    let reply: serde_json::Value = serde_json::from_slice(&posted.stdout)
        .unwrap_or_else(|e| panic!("curl {curl:?}: {e}: {posted:?}"));
    assert!(reply["records"].as_u64() > Some(0), "{reply}");
    assert!(reply["alerts"].as_u64() > Some(0), "{reply}");
    wait_for(
        "the sent records' alerts in the alert log",
        Duration::from_secs(30),
        || alert_lines(&data) > before,
    );

    let log = node.log();
    let warned = warnings(&log);
    assert!(
        warned.is_empty(),
        "a first start warns of nothing the user did not cause:\n{}\n\nlog:\n{log}",
        warned.join("\n")
    );

    let (status, took) = node.interrupt(Duration::from_secs(30)).unwrap();
    eprintln!("ctrl-c to exit of the running default node: {took:?}");
    assert!(status.success(), "{status}");
    assert!(took < STOP_BOUND, "ctrl-c took {took:?}");
}

/// ctrl-c before the node is a member of its cluster (it bootstraps as the signal comes): the
/// batches its sources hold can never commit, and it stops without waiting for them. Whether a
/// source holds one when the signal comes is a race, hence several rounds.
#[test]
fn ctrl_c_while_the_default_node_starts_stops_it_at_once() {
    let mut took = Vec::new();
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let node = NodeProcess::spawn(&default_node(dir.path())).unwrap();
        // Written once the node listens for signals, before it opens its state and loads rules.
        let node_id = dir.path().join("data/node_id");
        wait_for("the node's identity", Duration::from_secs(30), || {
            node_id.is_file()
        });
        let (status, round) = node.interrupt(Duration::from_secs(30)).unwrap();
        assert!(status.success(), "{status}");
        took.push(round);
    }
    took.sort();
    eprintln!(
        "ctrl-c to exit of a starting default node: median {:?} of {took:?}",
        took[took.len() / 2]
    );
    assert!(took.iter().all(|t| *t < STOP_BOUND), "ctrl-c took {took:?}");
}
