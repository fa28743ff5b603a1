//! A node killed with SIGKILL comes back from its data dir as the same member.

use std::time::Duration;

use sa_chaos_tests::{NodeOptions, NodeProcess, workspace_binary};

#[test]
fn node_killed_with_sigkill_restarts_with_its_identity() {
    let sanode = workspace_binary("sanode").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options = NodeOptions::new(sanode, dir.path().join("node"));

    let first = NodeProcess::start(&options).unwrap();
    let id_file = first.data_dir().join("node_id");
    let id_before = std::fs::read_to_string(&id_file).unwrap();
    first.kill9().unwrap();

    let second = NodeProcess::start(&options).unwrap();
    assert_eq!(std::fs::read_to_string(&id_file).unwrap(), id_before);
    assert!(
        second.log().contains("new_identity=false"),
        "{}",
        second.log()
    );
    second.terminate_cleanly(Duration::from_secs(30)).unwrap();
}
