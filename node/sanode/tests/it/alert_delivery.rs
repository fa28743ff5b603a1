//! The alerts table, merger and dispatcher over a real single-node Raft replica on RocksDB,
//! delivering to a local HTTP receiver through the real webhook output.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sa_chaos_tests::{HttpReceiver, Reply};
use sa_engine::DeadLetter;
use sa_engine::classifier::CandidateFailure;
use sa_node::actors::ActorSystem;
use sa_node::alerts::cluster_keys::ClusterKeys;
use sa_node::alerts::dispatcher::{Compose, Deliverer, Dispatcher, DispatcherSettings};
use sa_node::alerts::merger::{
    Merger, MergerSettings, Observe, OpenWindows, merge_once, merged_alert_id,
};
use sa_node::alerts::metrics::AlertMetrics;
use sa_node::alerts::retention::{purge_dead_letters_once, purge_once};
use sa_node::metrics::NodeMetrics;
use sa_node::retry::Backoff;
use sa_node::sinks::AlertLog;
use sa_outputs::{OutputName, Outputs, OutputsConfig, SecretsCipher};
use sa_raft::{RaftTiming, Replica, ReplicaConfig};
use sa_rules::{Alert, AlertPolicy, Clock, FIREHOSE_OUTPUT, Micros, alert_id_for};
use sa_state::{AlertStore, OutputSettings};
use serde_json::{Map, Value, json};

const MINUTE: Micros = 60_000_000;

async fn leader(dir: &Path) -> Replica {
    let replica = Replica::open(ReplicaConfig {
        node_id: 1,
        advertise_addr: "127.0.0.1:1".into(),
        data_dir: dir.to_path_buf(),
        timing: RaftTiming::default(),
        dialer: sa_raft::PeerDialer::plaintext(),
    })
    .await
    .unwrap();
    replica.bootstrap_if_new().await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !replica.is_leader() {
        assert!(tokio::time::Instant::now() < deadline, "no leader");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    replica
}

fn alert(rule: &str, origin: &str, created: Micros, record: Value, outputs: &[&str]) -> Alert {
    Alert {
        rule_name: rule.into(),
        alert_id: alert_id_for(rule, origin),
        record: record.as_object().unwrap().clone(),
        outputs: outputs.iter().map(|o| o.to_string()).collect(),
        outputs_sent: BTreeSet::new(),
        attempts: 0,
        cluster: Some("prod".into()),
        context: Map::new(),
        created,
        dispatched: 0,
        log_source: Some("test:events".into()),
        log_type: Some("json".into()),
        merge_by_keys: Vec::new(),
        merge_window_mins: 0,
        publishers: None,
        rule_description: None,
        source_entity: Some("stream".into()),
        source_service: Some("kinesis".into()),
        staged: false,
        policy: Default::default(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_batch_stores_each_alert_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = AlertStore::new(leader(dir.path()).await);
    let now = Clock::System.now();
    let batch = vec![
        alert("r", "k/s/0#0", now, json!({"a": 1}), &["webhook:soc"]),
        alert("r", "k/s/0#1", now, json!({"a": 2}), &["webhook:soc"]),
    ];
    assert_eq!(store.commit(&batch[..1], &[]).await.unwrap(), vec![0]);
    // The same records again, plus one more: only the new one is stored.
    assert_eq!(store.commit(&batch, &[]).await.unwrap(), vec![1]);
    assert_eq!(store.alerts().unwrap().len(), 2);
    assert_eq!(store.pending().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_window_merges_once_into_one_alert() {
    let dir = tempfile::tempdir().unwrap();
    let store = AlertStore::new(leader(dir.path()).await);
    let t0 = 1_700_000_000_000_000;
    let merging = |origin: &str, created: Micros, user: &str| {
        let mut a = alert(
            "failed_login",
            origin,
            created,
            json!({"user": user, "host": origin}),
            &[FIREHOSE_OUTPUT, "webhook:soc"],
        );
        a.merge_by_keys = vec!["user".into()];
        a.merge_window_mins = 5;
        a
    };
    let alerts = vec![
        merging("h0", t0, "bob"),
        merging("h1", t0 + MINUTE, "bob"),
        merging("h2", t0 + 2 * MINUTE, "bob"),
        merging("h3", t0 + 2 * MINUTE, "eve"),
    ];
    store.commit(&alerts, &[]).await.unwrap();
    let settings = MergerSettings {
        interval: Duration::from_secs(1),
        minute: Duration::from_secs(60),
    };
    // Windows still open: nothing merges.
    let pass = merge_once(&store, t0 + 4 * MINUTE, &settings, None)
        .await
        .unwrap();
    assert_eq!(pass.merged, 0);
    let open = OpenWindows {
        alerts: 4,
        rules: 1,
        next_close: Some(t0 + 5 * MINUTE),
    };
    assert_eq!(pass.open, open);
    let pass = merge_once(&store, t0 + 8 * MINUTE, &settings, None)
        .await
        .unwrap();
    assert_eq!(pass.merged, 2);
    assert_eq!(pass.open, OpenWindows::default());
    // A second pass (another leader after a failover) finds nothing left to merge.
    assert_eq!(
        merge_once(&store, t0 + 9 * MINUTE, &settings, None)
            .await
            .unwrap()
            .merged,
        0
    );

    let merged_id = merged_alert_id("failed_login", &alerts[0].alert_id);
    let merged = store.get(&merged_id).unwrap().expect("merged alert stored");
    assert_eq!(merged.record["AlertCount"], json!(3));
    assert_eq!(merged.record["MergedBy"], json!({"user": "bob"}));
    assert!(!merged.merge_enabled());
    for member in &alerts[..3] {
        assert_eq!(
            store.merged_into(&member.alert_id).unwrap(),
            Some(merged_id.clone())
        );
    }
    // The merged alert goes to every output; each member only to the alerts Firehose.
    let pending: BTreeSet<String> = store.pending().unwrap().into_iter().collect();
    assert!(pending.contains(&merged_id));
    let delivery = store.delivery(&merged_id).unwrap();
    assert_eq!(
        delivery.remaining(&merged),
        [FIREHOSE_OUTPUT.to_owned(), "webhook:soc".to_owned()].into()
    );
    assert_eq!(
        store
            .delivery(&alerts[0].alert_id)
            .unwrap()
            .remaining(&alerts[0]),
        [FIREHOSE_OUTPUT.to_owned()].into()
    );
}

fn merging(origin: &str, created: Micros, user: &str, policy: AlertPolicy) -> Alert {
    let mut a = alert(
        "brute_force",
        origin,
        created,
        json!({"user": user, "host": origin}),
        &[FIREHOSE_OUTPUT, "webhook:soc"],
    );
    a.merge_by_keys = vec!["user".into()];
    a.merge_window_mins = 5;
    a.policy = policy;
    a
}

const MERGER: MergerSettings = MergerSettings {
    interval: Duration::from_secs(1),
    minute: Duration::from_secs(60),
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_first_delivers_the_first_alert_of_a_window_at_once_and_merges_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = AlertStore::new(leader(dir.path()).await);
    let t0 = 1_700_000_000_000_000;
    let policy = AlertPolicy {
        send_first: true,
        ..AlertPolicy::default()
    };
    // Two alerts of one window in the same batch, a third later, and another user's.
    let batch = [
        merging("h0", t0, "bob", policy.clone()),
        merging("h1", t0 + MINUTE, "bob", policy.clone()),
        merging("h9", t0 + MINUTE, "eve", policy.clone()),
    ];
    store.commit(&batch, &[]).await.unwrap();
    store
        .commit(
            &[merging("h2", t0 + 2 * MINUTE, "bob", policy.clone())],
            &[],
        )
        .await
        .unwrap();
    let first = store.delivery(&batch[0].alert_id).unwrap();
    assert!(first.send_first);
    assert_eq!(first.remaining(&batch[0]), batch[0].outputs);
    assert!(
        store.delivery(&batch[2].alert_id).unwrap().send_first,
        "eve's window is her own"
    );
    assert!(!store.delivery(&batch[1].alert_id).unwrap().send_first);

    let pass = merge_once(&store, t0 + 8 * MINUTE, &MERGER, None)
        .await
        .unwrap();
    assert_eq!(pass.merged, 1);
    assert_eq!(pass.windows_expired, 2);
    let merged_id = merged_alert_id("brute_force", &batch[1].alert_id);
    let merged = store.get(&merged_id).unwrap().unwrap();
    assert_eq!(
        merged.record["AlertCount"],
        json!(2),
        "the rest of bob's window"
    );
    // After the window, bob's next alert opens a new window and goes out at once again.
    let next = merging("h5", t0 + 9 * MINUTE, "bob", policy);
    store
        .commit(std::slice::from_ref(&next), &[])
        .await
        .unwrap();
    assert!(store.delivery(&next.alert_id).unwrap().send_first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_below_the_threshold_produces_no_alert() {
    let dir = tempfile::tempdir().unwrap();
    let store = AlertStore::new(leader(dir.path()).await);
    let t0 = 1_700_000_000_000_000;
    let policy = AlertPolicy {
        threshold: 3,
        ..AlertPolicy::default()
    };
    let alerts = [
        merging("h0", t0, "bob", policy.clone()),
        merging("h1", t0 + MINUTE, "bob", policy.clone()),
        merging("h2", t0, "eve", policy.clone()),
        merging("h3", t0 + MINUTE, "eve", policy.clone()),
        merging("h4", t0 + 2 * MINUTE, "eve", policy.clone()),
    ];
    store.commit(&alerts, &[]).await.unwrap();
    let pass = merge_once(&store, t0 + 8 * MINUTE, &MERGER, None)
        .await
        .unwrap();
    assert_eq!((pass.merged, pass.suppressed), (1, 1));
    assert!(
        store
            .suppressed(&alerts[0].alert_id)
            .unwrap()
            .unwrap()
            .contains("merge_threshold of 3")
    );
    let merged = store
        .get(&merged_alert_id("brute_force", &alerts[2].alert_id))
        .unwrap()
        .unwrap();
    assert_eq!(merged.record["MergedBy"], json!({"user": "eve"}));
    assert_eq!(merged.record["AlertCount"], json!(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_repeating_dedup_values_within_the_window_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        AlertStore::new(leader(dir.path()).await).with_merge_minute(Duration::from_secs(60));
    let t0 = Clock::System.now();
    let dedup = |origin: &str, created: Micros, ip: &str| {
        let mut a = alert(
            "scan",
            origin,
            created,
            json!({"src": {"ip": ip}, "port": origin}),
            &["webhook:soc"],
        );
        a.policy.dedup_keys = vec!["ip".into()];
        a.policy.dedup_window_mins = 10;
        a
    };
    let batch = [
        dedup("p1", t0, "1.1.1.1"),
        dedup("p2", t0, "1.1.1.1"),
        dedup("p3", t0, "2.2.2.2"),
    ];
    assert_eq!(store.commit(&batch, &[]).await.unwrap(), vec![0, 2]);
    let later = dedup("p4", t0 + MINUTE, "1.1.1.1");
    assert!(
        store
            .commit(std::slice::from_ref(&later), &[])
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.get(&later.alert_id).unwrap().is_none());
    // Once the window has passed, the same values alert again.
    let pass = merge_once(&store, t0 + 11 * MINUTE, &MERGER, None)
        .await
        .unwrap();
    assert_eq!(pass.windows_expired, 2);
    let after = dedup("p5", t0 + 11 * MINUTE, "1.1.1.1");
    assert_eq!(
        store
            .commit(std::slice::from_ref(&after), &[])
            .await
            .unwrap(),
        vec![0]
    );
}

/// These tests' alerts have no publishers, so the dispatcher never asks for a composition.
struct NoPublishers;

impl Compose for NoPublishers {
    fn compose(
        &self,
        _alert: Alert,
        output: String,
    ) -> futures::future::BoxFuture<'_, Result<Value, String>> {
        Box::pin(async move { Err(format!("no publishers expected for {output}")) })
    }
}

struct Harness {
    store: AlertStore,
    dispatcher: Arc<Dispatcher>,
    alert_log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

async fn harness(outputs_json: Value, settings: DispatcherSettings) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let replica = leader(&dir.path().join("raft")).await;
    let store = AlertStore::new(replica.clone());
    let cipher = SecretsCipher::local(dir.path().join("secrets.key")).unwrap();
    let keys = ClusterKeys::new(cipher, dir.path().join("data-keys"), replica.clone());
    let output_settings = OutputSettings::new(replica.clone(), Arc::new(keys));
    let config = OutputsConfig::from_value(&outputs_json, "conf/outputs.json").unwrap();
    let alert_log = dir.path().join("alerts.jsonl");
    let deliverer = Arc::new(Deliverer::new(
        Outputs::new(config, sa_aws::AwsTarget::default()),
        output_settings,
        Arc::new(NoPublishers),
        Arc::new(AlertLog::open(&alert_log, false).unwrap()),
    ));
    let metrics = AlertMetrics::register(&NodeMetrics::new(1));
    let dispatcher = Arc::new(Dispatcher::new(
        store.clone(),
        deliverer,
        settings,
        metrics,
        1,
    ));
    Harness {
        store,
        dispatcher,
        alert_log,
        _dir: dir,
    }
}

impl Harness {
    async fn set(&self, output: &str, settings: Value) {
        self.dispatcher
            .deliverer()
            .output_settings()
            .set(
                &OutputName::parse(output).unwrap(),
                settings.as_object().unwrap(),
            )
            .await
            .unwrap();
    }

    /// Dispatch passes until nothing is pending or `limit` passes.
    async fn drain(&self, limit: usize) {
        for _ in 0..limit {
            if self.store.pending().unwrap().is_empty() {
                return;
            }
            self.dispatcher.clone().dispatch_due().await.unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn quick_retries() -> DispatcherSettings {
    DispatcherSettings {
        poll: Duration::from_millis(50),
        concurrency: 8,
        dead_letter_after: Duration::from_secs(3600),
        backoff: Backoff {
            base: Duration::from_millis(20),
            max: Duration::from_millis(100),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_output_is_retried_until_it_recovers_and_never_blocks_the_others() {
    let up = HttpReceiver::start().unwrap();
    let flaky = HttpReceiver::start().unwrap();
    flaky.queue_reply(Reply::status(503));
    flaky.queue_reply(Reply::too_many_requests("1"));
    flaky.queue_reply(Reply::status(500));
    let h = harness(json!({"webhook": ["up", "flaky"]}), quick_retries()).await;
    h.set("webhook:up", json!({"url": up.url()})).await;
    h.set("webhook:flaky", json!({"url": flaky.url()})).await;
    let now = Clock::System.now();
    let alerts: Vec<Alert> = (0..3)
        .map(|i| {
            alert(
                "r",
                &format!("o{i}"),
                now,
                json!({"i": i}),
                &[FIREHOSE_OUTPUT, "webhook:up", "webhook:flaky"],
            )
        })
        .collect();
    h.store.commit(&alerts, &[]).await.unwrap();

    let started = std::time::Instant::now();
    h.drain(200).await;
    assert!(
        h.store.pending().unwrap().is_empty(),
        "every alert delivered"
    );
    // Retry-After: 1 s was honoured for the alert that got the 429.
    assert!(started.elapsed() >= Duration::from_secs(1));

    let received_ids = |receiver: &HttpReceiver| -> Vec<String> {
        let mut ids: Vec<String> = receiver
            .requests()
            .iter()
            .filter(|r| r.header("x-sa-alert-id").is_some())
            .map(|r| r.header("x-sa-alert-id").unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    let mut expected: Vec<String> = alerts.iter().map(|a| a.alert_id.clone()).collect();
    expected.sort();
    assert_eq!(received_ids(&up), expected, "each alert exactly once");
    // The flaky receiver saw the 3 failed attempts plus one success per alert.
    assert_eq!(flaky.requests().len(), 3 + 3);
    let mut delivered_to_flaky: Vec<String> = received_ids(&flaky);
    delivered_to_flaky.dedup();
    assert_eq!(delivered_to_flaky, expected);
    for alert in &alerts {
        let delivery = h.store.delivery(&alert.alert_id).unwrap();
        assert_eq!(delivery.sent.len(), 3, "{delivery:?}");
    }
    // The alerts Firehose is the local alert log when outputs.json does not configure it.
    let log = std::fs::read_to_string(&h.alert_log).unwrap();
    assert_eq!(log.lines().count(), 3);

    // Another pass (a new leader) sends nothing again.
    h.dispatcher.clone().dispatch_due().await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(received_ids(&up).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_alert_is_dead_lettered_and_replayable() {
    let receiver = HttpReceiver::start().unwrap();
    receiver.queue_reply(Reply::status(400));
    let h = harness(json!({"webhook": ["soc"]}), quick_retries()).await;
    h.set("webhook:soc", json!({"url": receiver.url()})).await;
    let refused = alert(
        "r",
        "o",
        Clock::System.now(),
        json!({"x": 1}),
        &["webhook:soc"],
    );
    let unknown = alert(
        "r",
        "p",
        Clock::System.now(),
        json!({"x": 2}),
        &["slack:nowhere"],
    );
    h.store
        .commit(&[refused.clone(), unknown.clone()], &[])
        .await
        .unwrap();
    h.drain(50).await;
    let dead = h.store.output_dead_letters().unwrap();
    assert_eq!(dead.len(), 2, "{dead:?}");
    let reasons: Vec<&str> = dead.iter().map(|d| d.reason.as_str()).collect();
    assert!(reasons.iter().any(|r| r.contains("400")), "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("slack:nowhere is neither in conf/outputs.json")),
        "{reasons:?}"
    );
    assert!(h.store.pending().unwrap().is_empty());

    // The receiver now accepts: a replay delivers the refused alert.
    assert!(
        h.store
            .replay_output_dead_letter(&refused.alert_id, "webhook:soc")
            .await
            .unwrap()
    );
    h.drain(50).await;
    assert!(
        h.store
            .delivery(&refused.alert_id)
            .unwrap()
            .sent
            .contains_key("webhook:soc")
    );
    assert_eq!(h.store.output_dead_letters().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_down_past_the_dead_letter_age_gives_up() {
    let receiver = HttpReceiver::start().unwrap();
    receiver.set_default_reply(Reply::status(503));
    let mut settings = quick_retries();
    settings.dead_letter_after = Duration::from_millis(300);
    let h = harness(json!({"webhook": ["soc"]}), settings).await;
    h.set("webhook:soc", json!({"url": receiver.url()})).await;
    let down = alert(
        "r",
        "o",
        Clock::System.now(),
        json!({"x": 1}),
        &["webhook:soc"],
    );
    h.store
        .commit(std::slice::from_ref(&down), &[])
        .await
        .unwrap();
    h.drain(100).await;
    let dead = h.store.output_dead_letters().unwrap();
    assert_eq!(dead.len(), 1);
    assert!(
        dead[0].reason.starts_with("gave up after"),
        "{}",
        dead[0].reason
    );
    assert!(dead[0].attempts >= 2);
    assert!(receiver.requests().len() >= 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_only_finished_alerts_past_their_age() {
    let receiver = HttpReceiver::start().unwrap();
    let h = harness(json!({"webhook": ["soc"]}), quick_retries()).await;
    h.set("webhook:soc", json!({"url": receiver.url()})).await;
    let now = Clock::System.now();
    let old = now - 40 * 24 * 60 * MINUTE;
    let delivered = alert("r", "delivered", old, json!({"x": 1}), &["webhook:soc"]);
    let recent = alert("r", "recent", now, json!({"x": 2}), &["webhook:soc"]);
    h.store
        .commit(&[delivered.clone(), recent.clone()], &[])
        .await
        .unwrap();
    h.drain(50).await;
    let waiting = {
        let mut a = alert(
            "m",
            "waiting",
            old,
            json!({"user": "bob"}),
            &[FIREHOSE_OUTPUT],
        );
        a.merge_by_keys = vec!["user".into()];
        a.merge_window_mins = 5;
        a
    };
    let undelivered = alert("r", "undelivered", old, json!({"x": 3}), &["slack:nowhere"]);
    h.store
        .commit(&[waiting.clone(), undelivered.clone()], &[])
        .await
        .unwrap();
    h.drain(50).await;

    let keep = Duration::from_secs(30 * 24 * 3600);
    assert_eq!(purge_once(&h.store, now, keep).await.unwrap(), 1);
    assert!(h.store.get(&delivered.alert_id).unwrap().is_none());
    assert!(
        h.store
            .delivery(&delivered.alert_id)
            .unwrap()
            .sent
            .is_empty()
    );
    for kept in [&recent, &waiting, &undelivered] {
        assert!(
            h.store.get(&kept.alert_id).unwrap().is_some(),
            "{}",
            kept.alert_id
        );
    }
    assert_eq!(purge_once(&h.store, now, keep).await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_older_than_their_retention_are_deleted_oldest_first() {
    let h = harness(json!({}), quick_retries()).await;
    let letter = |record: &str| DeadLetter {
        cluster: "prod".into(),
        service: "http".into(),
        resource: "json".into(),
        log_type: None,
        record: record.into(),
        failures: vec![CandidateFailure::new("json", "payload is not JSON")],
        origin: String::new(),
    };
    let first: Vec<DeadLetter> = (0..700).map(|i| letter(&format!("old {i}"))).collect();
    h.store.commit(&[], &first).await.unwrap();
    let between = Clock::System.now() + 1;
    h.store.commit(&[], &[letter("new")]).await.unwrap();
    assert_eq!(h.store.dead_letters().unwrap().len(), 701);
    // Listed a page at a time, oldest first.
    let (page, more) = h.store.dead_letters_page(10).unwrap();
    let records: Vec<&str> = page.iter().map(|(_, d)| d.record.as_str()).collect();
    assert_eq!(records[..2], ["old 0", "old 1"]);
    assert_eq!((page.len(), more), (10, true));
    let (page, more) = h.store.dead_letters_page(701).unwrap();
    assert_eq!((page.len(), more), (701, false));

    let keep = Duration::from_secs(14 * 24 * 3600);
    // Seen from now, nothing is old enough.
    let keep_micros = keep.as_micros() as i64;
    assert_eq!(
        purge_dead_letters_once(&h.store, between, keep)
            .await
            .unwrap(),
        0
    );
    // Seen from the moment the first ones are past it (in batches: more than one write).
    assert_eq!(
        purge_dead_letters_once(&h.store, between + keep_micros, keep)
            .await
            .unwrap(),
        700
    );
    let left = h.store.dead_letters().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].1.record, "new");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terms_merger_actor_closes_windows_by_itself_and_shows_what_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = AlertStore::new(leader(dir.path()).await);
    let node_metrics = NodeMetrics::new(1);
    let metrics = AlertMetrics::register(&node_metrics);
    let actors = ActorSystem::start().unwrap();
    let merger = Merger {
        store: store.clone(),
        settings: MergerSettings {
            interval: Duration::from_millis(50),
            minute: Duration::from_secs(2),
        },
        metrics: metrics.clone(),
        actors: actors.handle(),
        restarts: node_metrics
            .actor_restarts_total
            .with_label_values(&["merger"]),
    };
    let now = Clock::System.now();
    let alerts: Vec<Alert> = ["h0", "h1"]
        .iter()
        .map(|host| {
            let mut a = alert(
                "failed_login",
                host,
                now,
                json!({"user": "bob", "host": host}),
                &["webhook:soc"],
            );
            a.merge_by_keys = vec!["user".into()];
            a.merge_window_mins = 1;
            a
        })
        .collect();
    store.commit(&alerts, &[]).await.unwrap();

    let arbiter = actors.handle().new_arbiter().unwrap();
    let actor = merger.start_actor(&arbiter.handle());
    let open = actor.send(Observe).await.unwrap();
    assert!(open.alerts == 0 || open.alerts == 2, "{open:?}");
    let mut seen_open = false;
    let merged_id = merged_alert_id("failed_login", &alerts[0].alert_id);
    for _ in 0..200 {
        let open = actor.send(Observe).await.unwrap();
        if open.alerts == 2 {
            seen_open = true;
            assert_eq!(open.next_close, Some(now + 2_000_000));
            // A pass may have run since the answer; one that ran before the window's close
            // still shows it open.
            let waiting = metrics.merge_alerts_waiting.get();
            if Clock::System.now() < now + 2_000_000 {
                assert_eq!(waiting, 2);
            }
        }
        if store.get(&merged_id).unwrap().is_some() && open == OpenWindows::default() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen_open, "a pass inside the window shows it open");
    let merged = store
        .get(&merged_id)
        .unwrap()
        .expect("the actor merged the window");
    assert_eq!(merged.record["AlertCount"], json!(2));
    assert_eq!(actor.send(Observe).await.unwrap(), OpenWindows::default());
    assert_eq!(metrics.merge_alerts_waiting.get(), 0);
    arbiter.stop();
}
