//! The `file` source with a real node: lines appended, a rotation, a poison line and a restart;
//! every alert appears exactly once and the poison line is dead-lettered, not dropped.

use std::path::Path;
use std::time::Duration;

use sa_chaos_tests::{NodeOptions, NodeProcess, repository_root, workspace_binary};

const ROOT_LOGIN: &str = "Nov 27 16:59:02 db-2 sshd[22140]: Accepted password for root from 203.0.113.45 port 61004 ssh2";
const DEPLOY_LOGIN: &str = "Nov 27 16:55:09 bastion-1 sshd[21980]: Accepted publickey for deploy from 10.20.7.9 port 53002 ssh2";

/// The shipped repository with one more cluster tailing `logs/*.log` under `dir`.
fn repository_with_file_source(dir: &Path) -> std::path::PathBuf {
    let repo = dir.join("repo");
    copy_dir(&repository_root().join("conf"), &repo.join("conf"));
    std::os::unix::fs::symlink(repository_root().join("rules"), repo.join("rules")).unwrap();
    let pattern = dir.join("logs").join("*.log");
    let cluster = serde_json::json!({
        "id": "tail",
        "classifier_config": {},
        "data_sources": {"file": {pattern.to_str().unwrap(): ["syslog"]}},
    });
    std::fs::write(repo.join("conf/clusters/tail.json"), cluster.to_string()).unwrap();
    repo
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &to.join(entry.file_name()));
        } else {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn append(path: &Path, lines: &[&str]) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
}

fn alert_count(data_dir: &Path) -> usize {
    std::fs::read_to_string(data_dir.join("alerts.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn metric(node: &NodeProcess, name: &str) -> u64 {
    let (_, text) = node.http().get("/metrics").unwrap();
    text.lines()
        .find(|line| line.starts_with(name))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or(0)
}

fn wait_for(what: &str, condition: impl FnMut() -> bool) {
    sa_chaos_tests::wait_for(what, Duration::from_secs(30), condition);
}

#[test]
fn tailed_lines_alert_once_across_rotation_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository_with_file_source(dir.path());
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let log = logs.join("auth.log");
    append(&log, &[ROOT_LOGIN, DEPLOY_LOGIN]);

    let mut options =
        NodeOptions::new(workspace_binary("sanode").unwrap(), dir.path().join("data"));
    options.repo = repo;
    options.extra_args = vec!["--quiet-alerts".into()];
    let node = NodeProcess::start(&options).unwrap();
    let data = node.data_dir().to_path_buf();
    wait_for("the first root login alerts", || alert_count(&data) == 1);

    // A partial line waits for its newline; a poison line is dead-lettered.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut f| {
            use std::io::Write;
            write!(f, "this is not syslog\n{ROOT_LOGIN}")
        })
        .unwrap();
    wait_for("the poison line is dead-lettered", || {
        metric(&node, "sa_records_failed_total{service=\"file\"}") == 1
    });
    assert_eq!(
        alert_count(&data),
        1,
        "a line without its newline is not read yet"
    );
    append(&log, &[""]);
    wait_for("the completed line alerts", || alert_count(&data) == 2);

    // Rotation: the old file is renamed away and a new one starts.
    std::fs::rename(&log, logs.join("auth.log.1")).unwrap();
    append(&log, &[ROOT_LOGIN]);
    wait_for("the rotated-in file alerts", || alert_count(&data) == 3);

    let restart = node.restart_options(&options);
    node.terminate(Duration::from_secs(30)).unwrap();
    let node = NodeProcess::start(&restart).unwrap();
    append(&log, &[DEPLOY_LOGIN, ROOT_LOGIN]);
    wait_for("the line appended after the restart alerts", || {
        alert_count(&data) == 4
    });
    // Nothing read before the restart is read again.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(alert_count(&data), 4);
    assert_eq!(
        metric(&node, "sa_records_in_total{service=\"file\"}"),
        2,
        "only the two new lines after the restart"
    );
}

/// Byte offset committed for the one tailed file, 0 before any.
fn committed_offset(data_dir: &Path) -> u64 {
    std::fs::read(data_dir.join("file_offsets.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|offsets| {
            offsets["files"]
                .as_object()
                .and_then(|files| files.values().next().cloned())
        })
        .and_then(|file| file["offset"].as_u64())
        .unwrap_or(0)
}

/// ctrl-c while a long file is being read: the node commits the batch in hand and stops, within
/// a second rather than after the rest of the file; the next start reads on from the offset,
/// neither skipping nor repeating a line.
#[test]
fn ctrl_c_mid_file_stops_at_a_batch_and_the_next_start_reads_on() {
    let dir = tempfile::tempdir().unwrap();
    let repo = repository_with_file_source(dir.path());
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let log = logs.join("auth.log");
    // 40 MiB: about 40 batches, far more than a node reads in a second.
    let lines = 40 * 1024 * 1024 / (DEPLOY_LOGIN.len() + 1);
    std::fs::write(&log, format!("{DEPLOY_LOGIN}\n").repeat(lines)).unwrap();
    let length = std::fs::metadata(&log).unwrap().len();

    let mut options =
        NodeOptions::new(workspace_binary("sanode").unwrap(), dir.path().join("data"));
    options.repo = repo;
    options.extra_args = vec!["--quiet-alerts".into()];
    let node = NodeProcess::start(&options).unwrap();
    let data = node.data_dir().to_path_buf();
    wait_for("a first batch of the file committed", || {
        committed_offset(&data) > 0
    });
    let restart = node.restart_options(&options);
    let (status, took) = node.interrupt(Duration::from_secs(30)).unwrap();
    eprintln!("ctrl-c to exit mid-file: {took:?}");
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(5), "ctrl-c took {took:?}");
    let stopped_at = committed_offset(&data);
    assert!(
        stopped_at < length,
        "stopped mid-file ({stopped_at} of {length} bytes)"
    );

    let node = NodeProcess::start(&restart).unwrap();
    sa_chaos_tests::wait_for("the rest of the file", Duration::from_secs(300), || {
        committed_offset(&data) == length
    });
    let rest = (length - stopped_at) / (DEPLOY_LOGIN.len() as u64 + 1);
    assert_eq!(
        metric(&node, "sa_records_in_total{service=\"file\"}"),
        rest,
        "the lines after the committed offset, once each"
    );
}
