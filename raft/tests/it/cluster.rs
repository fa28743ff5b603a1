//! Replicas in one process, talking real gRPC over loopback: replication, forwarding, conditional
//! writes, failover, restart and snapshot catch-up.

use std::time::Duration;

use sa_raft::{
    Command, CommandResult, Condition, Keyspace, RaftService, RaftTiming, Replica, ReplicaConfig,
    WriteOp,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

struct TestNode {
    replica: Replica,
    server: JoinHandle<()>,
    stop_server: tokio::sync::oneshot::Sender<()>,
    addr: String,
}

impl TestNode {
    async fn start(node_id: u64, data_dir: &std::path::Path, timing: RaftTiming) -> TestNode {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::start_on(node_id, data_dir, timing, listener).await
    }

    async fn start_on(
        node_id: u64,
        data_dir: &std::path::Path,
        timing: RaftTiming,
        listener: TcpListener,
    ) -> TestNode {
        let addr = listener.local_addr().unwrap().to_string();
        // A restart in the same process must wait until openraft's tasks of the previous
        // instance have dropped their handles to the database (a new process never waits).
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let replica = loop {
            let opened = Replica::open(ReplicaConfig {
                node_id,
                advertise_addr: addr.clone(),
                data_dir: data_dir.to_path_buf(),
                timing: timing.clone(),
                dialer: sa_raft::PeerDialer::plaintext(),
            })
            .await;
            match opened {
                Ok(replica) => break replica,
                Err(e) if tokio::time::Instant::now() < deadline => {
                    assert!(e.to_string().contains("lock"), "{e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("{e}"),
            }
        };
        let service = RaftService::new(replica.clone()).into_server();
        let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(
                    tokio_stream::wrappers::TcpListenerStream::new(listener),
                    async {
                        let _ = stopped.await;
                    },
                )
                .await
                .unwrap();
        });
        TestNode {
            replica,
            server,
            stop_server,
            addr,
        }
    }

    /// Stops Raft, then the server with its connections: the other nodes keep channels to
    /// this one open, and a connection left serving would keep the replica (and its database
    /// lock) alive, as no process exit would in a real node.
    async fn stop(self) {
        self.replica.shutdown().await;
        let _ = self.stop_server.send(());
        let server = self.server;
        tokio::pin!(server);
        if tokio::time::timeout(Duration::from_secs(10), &mut server)
            .await
            .is_err()
        {
            server.abort();
        }
    }
}

async fn wait_for_value(replica: &Replica, key: &[u8], expected: &[u8]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if replica.get(Keyspace::Config, key).unwrap().as_deref() == Some(expected) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "node {} never saw {key:?}",
            replica.node_id()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn three_node_cluster(dir: &std::path::Path, timing: RaftTiming) -> Vec<TestNode> {
    let first = TestNode::start(1, &dir.join("n1"), timing.clone()).await;
    assert!(first.replica.bootstrap_if_new().await.unwrap());
    let mut nodes = vec![first];
    for id in [2, 3] {
        let node = TestNode::start(id, &dir.join(format!("n{id}")), timing.clone()).await;
        // Join through the last member, not the leader: the request must be forwarded.
        node.replica
            .join_via(&nodes.last().unwrap().addr)
            .await
            .unwrap();
        nodes.push(node);
    }
    nodes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_replicate_to_every_node_and_are_forwarded_from_followers() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = three_node_cluster(dir.path(), RaftTiming::default()).await;
    let voters: Vec<u64> = nodes[0]
        .replica
        .raft()
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .voter_ids()
        .collect();
    assert_eq!(voters, vec![1, 2, 3]);

    let follower = nodes.iter().find(|n| !n.replica.is_leader()).unwrap();
    let result = follower
        .replica
        .write(Command::put(Keyspace::Config, "version", "1"))
        .await
        .unwrap();
    assert_eq!(result, CommandResult::Applied);
    for node in &nodes {
        wait_for_value(&node.replica, b"version", b"1").await;
    }
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditional_write_applies_once() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(1, dir.path(), RaftTiming::default()).await;
    node.replica.bootstrap_if_new().await.unwrap();
    let claim = |owner: &str| {
        Command::put(Keyspace::Leases, "shard-0", owner.to_string()).with_condition(
            Condition::Absent {
                keyspace: Keyspace::Leases,
                key: b"shard-0".to_vec(),
            },
        )
    };
    assert_eq!(
        node.replica.write(claim("a")).await.unwrap(),
        CommandResult::Applied
    );
    assert_eq!(
        node.replica.write(claim("b")).await.unwrap(),
        CommandResult::ConditionFailed {
            index: 0,
            current: Some(b"a".to_vec())
        }
    );
    assert_eq!(
        node.replica
            .get(Keyspace::Leases, b"shard-0")
            .unwrap()
            .as_deref(),
        Some(&b"a"[..])
    );
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn if_absent_ops_skip_existing_keys_and_the_rest_applies() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(1, dir.path(), RaftTiming::default()).await;
    node.replica.bootstrap_if_new().await.unwrap();
    let insert = |key: &str, value: &str| WriteOp::IfAbsent {
        keyspace: Keyspace::Alerts,
        key: key.as_bytes().to_vec(),
        ops: vec![
            WriteOp::Put {
                keyspace: Keyspace::Alerts,
                key: key.as_bytes().to_vec(),
                value: value.as_bytes().to_vec(),
            },
            WriteOp::Put {
                keyspace: Keyspace::Alerts,
                key: format!("index/{key}").into_bytes(),
                value: value.as_bytes().to_vec(),
            },
        ],
    };
    let first = Command::default().and(insert("a", "1"));
    assert_eq!(
        node.replica.write(first).await.unwrap(),
        CommandResult::Applied
    );
    let second = Command::default()
        .and(insert("a", "2"))
        .and(insert("b", "2"));
    assert_eq!(
        node.replica.write(second).await.unwrap(),
        CommandResult::AppliedExcept { skipped: vec![0] }
    );
    let value = |key: &str| {
        node.replica
            .get(Keyspace::Alerts, key.as_bytes())
            .unwrap()
            .map(|v| String::from_utf8(v).unwrap())
    };
    assert_eq!(value("a").as_deref(), Some("1"));
    assert_eq!(value("index/a").as_deref(), Some("1"));
    assert_eq!(value("b").as_deref(), Some("2"));
    assert_eq!(value("index/b").as_deref(), Some("2"));
    node.stop().await;
}

/// A deleted prefix goes with one range tombstone: what it covered is gone for the rest of the
/// entry and after it, what the entry writes after it stays, and the keys around it are kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_prefix_hides_what_it_covered_and_keeps_what_the_entry_wrote_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(1, dir.path(), RaftTiming::default()).await;
    node.replica.bootstrap_if_new().await.unwrap();
    let put = |key: &str| WriteOp::Put {
        keyspace: Keyspace::LookupTables,
        key: key.as_bytes().to_vec(),
        value: b"v".to_vec(),
    };
    let before = ["t/1", "t/2", "t", "t0", "s/1", "t/\u{ff}"]
        .into_iter()
        .fold(Command::default(), |command, key| command.and(put(key)));
    node.replica.write(before).await.unwrap();
    let replace = Command::default()
        .and(put("t/3"))
        .and(WriteOp::DeletePrefix {
            keyspace: Keyspace::LookupTables,
            prefix: b"t/".to_vec(),
        })
        .and(put("t/4"))
        .and(WriteOp::IfAbsent {
            keyspace: Keyspace::LookupTables,
            key: b"t/2".to_vec(),
            ops: vec![put("t/2 was gone")],
        });
    assert_eq!(
        node.replica.write(replace).await.unwrap(),
        CommandResult::Applied
    );
    let keys: Vec<String> = node
        .replica
        .scan_prefix(Keyspace::LookupTables, b"")
        .unwrap()
        .into_iter()
        .map(|(key, _)| String::from_utf8(key).unwrap())
        .collect();
    assert_eq!(keys, ["s/1", "t", "t/2 was gone", "t/4", "t0"]);
    node.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_leader_elects_another_and_writes_continue() {
    let dir = tempfile::tempdir().unwrap();
    let mut nodes = three_node_cluster(dir.path(), RaftTiming::default()).await;
    nodes[0]
        .replica
        .write(Command::put(Keyspace::Config, "k", "before"))
        .await
        .unwrap();
    let leader_index = nodes.iter().position(|n| n.replica.is_leader()).unwrap();
    let leader = nodes.remove(leader_index);
    let old_leader_id = leader.replica.node_id();
    leader.stop().await;

    nodes[0]
        .replica
        .write(Command::put(Keyspace::Config, "k", "after"))
        .await
        .unwrap();
    for node in &nodes {
        wait_for_value(&node.replica, b"k", b"after").await;
    }
    let (new_leader, _) = nodes[0].replica.leader().await.unwrap().unwrap();
    assert_ne!(new_leader, old_leader_id);
    for node in nodes {
        node.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_node_keeps_its_state_and_membership() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(1, dir.path(), RaftTiming::default()).await;
    assert!(node.replica.bootstrap_if_new().await.unwrap());
    node.replica
        .write(Command::put(Keyspace::Config, "k", "v"))
        .await
        .unwrap();
    node.stop().await;

    let node = TestNode::start(1, dir.path(), RaftTiming::default()).await;
    assert!(
        !node.replica.bootstrap_if_new().await.unwrap(),
        "a restarted node must not re-bootstrap"
    );
    assert_eq!(
        node.replica.get(Keyspace::Config, b"k").unwrap().as_deref(),
        Some(&b"v"[..])
    );
    node.replica
        .write(Command::put(Keyspace::Config, "k", "w"))
        .await
        .unwrap();
    assert_eq!(
        node.replica.get(Keyspace::Config, b"k").unwrap().as_deref(),
        Some(&b"w"[..])
    );
    node.stop().await;
}

const SNAPSHOT_ROWS: usize = 700;

/// 8 KiB and more: the rows of a snapshot take several of the writes that install it.
fn snapshot_value(i: usize) -> String {
    format!("{i}:{}", "x".repeat(8192))
}

/// A one-node cluster holding `SNAPSHOT_ROWS` rows, whose log no longer starts at the
/// beginning: a node joining it can only catch up from a snapshot.
async fn leader_with_a_purged_log(dir: &std::path::Path, timing: RaftTiming) -> TestNode {
    let first = TestNode::start(1, &dir.join("n1"), timing).await;
    first.replica.bootstrap_if_new().await.unwrap();
    for i in 0..SNAPSHOT_ROWS {
        first
            .replica
            .write(Command::put(
                Keyspace::LookupTables,
                format!("t/{i:04}"),
                snapshot_value(i),
            ))
            .await
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while first.replica.raft().metrics().borrow().purged.is_none() {
        assert!(tokio::time::Instant::now() < deadline, "log never purged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first
}

async fn wait_for_snapshot_rows(replica: &Replica) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let rows = loop {
        let rows = replica.scan_prefix(Keyspace::LookupTables, b"t/").unwrap();
        if rows.len() == SNAPSHOT_ROWS || tokio::time::Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_rows_are_the_first_written(&rows);
    assert_eq!(rows.len(), SNAPSHOT_ROWS);
}

fn assert_rows_are_the_first_written(rows: &[(Vec<u8>, Vec<u8>)]) {
    for (i, (key, value)) in rows.iter().enumerate() {
        assert_eq!(key, format!("t/{i:04}").as_bytes());
        assert!(value == snapshot_value(i).as_bytes(), "row {i} differs");
    }
}

fn snapshot_timing() -> RaftTiming {
    RaftTiming {
        snapshot_after_logs: 50,
        ..RaftTiming::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_node_catches_up_from_a_snapshot_after_the_log_was_purged() {
    let dir = tempfile::tempdir().unwrap();
    let first = leader_with_a_purged_log(dir.path(), snapshot_timing()).await;
    let second = TestNode::start(2, &dir.path().join("n2"), snapshot_timing()).await;
    second.replica.join_via(&first.addr).await.unwrap();
    wait_for_snapshot_rows(&second.replica).await;
    let snapshot_dir = dir.path().join("n2").join("snapshot");
    assert!(
        snapshot_dir.join("current.meta").exists(),
        "the follower installed a snapshot"
    );
    let files: Vec<_> = std::fs::read_dir(&snapshot_dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(
        files.iter().filter(|name| name.ends_with(".data")).count(),
        1,
        "one snapshot kept, no partial file left: {files:?}"
    );
    assert!(
        files.iter().all(|name| !name.ends_with(".partial")),
        "{files:?}"
    );
    second.stop().await;
    first.stop().await;
}

/// A snapshot is installed in several writes: a node stopped half-way installs it again when it
/// starts, and never runs on half of one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_snapshot_install_is_finished_when_the_node_starts_again() {
    let dir = tempfile::tempdir().unwrap();
    let first = leader_with_a_purged_log(dir.path(), snapshot_timing()).await;
    // Stops the install after its first write of rows.
    fail::cfg("raft::state_machine::after_install_write", "1*return").unwrap();
    let second = TestNode::start(2, &dir.path().join("n2"), snapshot_timing()).await;
    // The join itself may fail or not: the install stops the follower's Raft either way.
    let _ = tokio::time::timeout(
        Duration::from_secs(20),
        second.replica.join_via(&first.addr),
    )
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while second
        .replica
        .raft()
        .metrics()
        .borrow()
        .running_state
        .is_ok()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the failpoint never stopped the install"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The leader goes too: its connections to the follower's server hold the follower's
    // database open in this process (a restarted sanode is a new process).
    let (first_addr, second_addr) = (first.addr.clone(), second.addr.clone());
    second.stop().await;
    first.stop().await;
    fail::remove("raft::state_machine::after_install_write");

    let restart = |id: u64, addr: String| {
        let data_dir = dir.path().join(format!("n{id}"));
        async move {
            let listener = TcpListener::bind(&addr).await.unwrap();
            TestNode::start_on(id, &data_dir, snapshot_timing(), listener).await
        }
    };
    let second = restart(2, second_addr).await;
    // Before any message from the leader, the state is the whole snapshot: the rows up to
    // its last log id, within a snapshot interval (50 entries) of the end. The first write of
    // the install held 4 MiB, about 500 rows.
    let rows = second
        .replica
        .scan_prefix(Keyspace::LookupTables, b"t/")
        .unwrap();
    assert!(rows.len() >= SNAPSHOT_ROWS - 60, "{} rows", rows.len());
    assert_rows_are_the_first_written(&rows);
    let first = restart(1, first_addr).await;
    first
        .replica
        .write(Command::put(Keyspace::Config, "after", "restart"))
        .await
        .unwrap();
    wait_for_value(&second.replica, b"after", b"restart").await;
    wait_for_snapshot_rows(&second.replica).await;
    second.stop().await;
    first.stop().await;
}

/// Rolling upgrades rely on it: an entry written in a format this node does not know stops the
/// node with both versions named, instead of being misread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_entry_in_an_unknown_format_version_stops_the_node_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(1, dir.path(), RaftTiming::default()).await;
    assert!(node.replica.bootstrap_if_new().await.unwrap());
    node.replica
        .write(Command::put(Keyspace::Config, "k", "v"))
        .await
        .unwrap();
    node.stop().await;

    // What a newer release would have appended: the same entry under the next version byte.
    {
        let families = ["raft_log", "raft_meta", "state_meta"]
            .into_iter()
            .chain(Keyspace::ALL.iter().map(|k| k.name()));
        let db = rocksdb::DB::open_cf(
            &rocksdb::Options::default(),
            dir.path().join("state"),
            families,
        )
        .unwrap();
        let log = db.cf_handle("raft_log").unwrap();
        let (key, mut value) = db
            .iterator_cf(log, rocksdb::IteratorMode::End)
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(value[0], 2, "entries are written in format version 2");
        value[0] = 3;
        db.put_cf(log, key, value).unwrap();
    }

    let error = Replica::open(ReplicaConfig {
        node_id: 1,
        advertise_addr: "127.0.0.1:1".into(),
        data_dir: dir.path().to_path_buf(),
        timing: RaftTiming::default(),
        dialer: sa_raft::PeerDialer::plaintext(),
    })
    .await
    .err()
    .expect("a node must not start on a log it cannot read")
    .to_string();
    assert!(
        error.contains("raft log entry has format version 3")
            && error.contains("reads version 2 only"),
        "{error}"
    );
}

/// Group commit: writes made at the same time share entries, and each still gets its own
/// result: of two writers claiming one key, exactly one wins, though both may sit in one entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_share_entries_and_each_gets_its_own_result() {
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::start(1, dir.path(), RaftTiming::default()).await;
    assert!(node.replica.bootstrap_if_new().await.unwrap());
    node.replica
        .write(Command::put(Keyspace::Config, "warm", "up"))
        .await
        .unwrap();
    let before = node
        .replica
        .raft()
        .metrics()
        .borrow()
        .last_log_index
        .unwrap();

    const WRITERS: usize = 200;
    let writes: Vec<_> = (0..WRITERS)
        .map(|i| {
            let replica = node.replica.clone();
            // Writers 2k and 2k+1 claim the same key.
            let key = format!("claim/{}", i / 2);
            tokio::spawn(async move {
                let command = Command::put(Keyspace::Leases, key.clone(), i.to_string())
                    .with_condition(Condition::Absent {
                        keyspace: Keyspace::Leases,
                        key: key.into_bytes(),
                    });
                replica.write(command).await.unwrap()
            })
        })
        .collect();
    let mut applied = 0;
    for write in writes {
        match write.await.unwrap() {
            CommandResult::Applied => applied += 1,
            CommandResult::ConditionFailed { index: 0, current } => {
                assert!(current.is_some(), "lost to the other claimant")
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(applied, WRITERS / 2, "one claimant of each key wins");
    for pair in 0..WRITERS / 2 {
        let owner = node
            .replica
            .get(Keyspace::Leases, format!("claim/{pair}").as_bytes())
            .unwrap()
            .unwrap();
        let owner: usize = String::from_utf8(owner).unwrap().parse().unwrap();
        assert_eq!(owner / 2, pair);
    }
    let entries = node
        .replica
        .raft()
        .metrics()
        .borrow()
        .last_log_index
        .unwrap()
        - before;
    println!("{WRITERS} concurrent writes in {entries} entries");
    assert!(
        entries < (WRITERS / 2) as u64,
        "{WRITERS} concurrent writes took {entries} entries"
    );
    node.stop().await;
}

/// Commands written together share one entry, through the leader or forwarded by a follower,
/// and each gets its own result: a batch's alerts commit with its source position.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_written_together_share_one_entry_and_each_gets_its_own_result() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = three_node_cluster(dir.path(), RaftTiming::default()).await;
    let last_index = |node: &TestNode| node.replica.raft().metrics().borrow().last_log_index;
    let claim = |key: &str, value: &str| {
        Command::put(Keyspace::Leases, key, value).with_condition(Condition::Absent {
            keyspace: Keyspace::Leases,
            key: key.as_bytes().to_vec(),
        })
    };
    for (round, node) in nodes.iter().enumerate() {
        let leader = nodes
            .iter()
            .find(|n| {
                n.replica.raft().metrics().borrow().current_leader == Some(n.replica.node_id())
            })
            .expect("a leader");
        let before = last_index(leader);
        let results = node
            .replica
            .write_together(vec![
                Command::put(Keyspace::Config, format!("alerts/{round}"), "stored"),
                claim("checkpoint", &round.to_string()),
            ])
            .await
            .unwrap();
        let expected_claim = if round == 0 {
            CommandResult::Applied
        } else {
            CommandResult::ConditionFailed {
                index: 0,
                current: Some(b"0".to_vec()),
            }
        };
        assert_eq!(results, [CommandResult::Applied, expected_claim]);
        assert_eq!(
            last_index(leader).unwrap() - before.unwrap(),
            1,
            "one entry for both"
        );
        wait_for_value(
            &node.replica,
            format!("alerts/{round}").as_bytes(),
            b"stored",
        )
        .await;
    }
    for node in nodes {
        node.stop().await;
    }
}
