//! The pipeline with its real actors, the shipped repository and a recording committer in
//! place of the replicated alert store.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use sa_engine::Root;
use sa_rules::{EngineOptions, Plugs};
use tokio::sync::Semaphore;

use super::*;
use crate::metrics::NodeMetrics;
use sa_repository::LoadedRepository;

const ROOT_RULE: &str = "cloudtrail_root_account_usage";

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The shipped conf/ with the rules under `rules` (relative to the repository root).
fn repository(rules: &str) -> LoadedRepository {
    let root = repository_root();
    LoadedRepository::load(&root, &root.join("conf"), Some(&root.join(rules))).unwrap()
}

/// Commits by recording; each commit first takes a permit of `hold`, so a test can stall it.
#[derive(Clone)]
struct RecordingCommitter {
    committed: Arc<Mutex<Vec<Arc<BatchReport>>>>,
    hold: Arc<Semaphore>,
}

impl RecordingCommitter {
    fn open() -> Self {
        Self::holding(Semaphore::MAX_PERMITS)
    }

    fn holding(permits: usize) -> Self {
        RecordingCommitter {
            committed: Arc::default(),
            hold: Arc::new(Semaphore::new(permits)),
        }
    }

    fn reports(&self) -> Vec<Arc<BatchReport>> {
        self.committed.lock().unwrap().clone()
    }

    fn alert_ids(&self) -> Vec<String> {
        self.reports()
            .iter()
            .flat_map(|r| r.alerts.iter().map(|a| a.alert_id.clone()))
            .collect()
    }
}

impl Committer for RecordingCommitter {
    /// Records the report; a position is answered as applied.
    fn commit(
        &self,
        report: Arc<BatchReport>,
        position: Option<sa_raft::Command>,
    ) -> BoxFuture<'static, anyhow::Result<Option<sa_raft::CommandResult>>> {
        let this = self.clone();
        Box::pin(async move {
            this.hold.acquire().await?.forget();
            this.committed.lock().unwrap().push(report);
            Ok(position.map(|_| sa_raft::CommandResult::Applied))
        })
    }
}

struct Harness {
    detection: Arc<Detection>,
    metrics: Arc<NodeMetrics>,
    committer: RecordingCommitter,
}

async fn start(options: PipelineOptions, committer: RecordingCommitter) -> Harness {
    let metrics = Arc::new(NodeMetrics::new(1));
    let pipeline_metrics = metrics.clone();
    let detection = tokio::task::spawn_blocking(move || {
        Detection::start(
            repository("rules"),
            1,
            EngineOptions::default(),
            Plugs::default(),
            options,
            pipeline_metrics,
        )
    })
    .await
    .unwrap()
    .unwrap();
    detection.connect(
        Arc::new(committer.clone()),
        tokio::runtime::Handle::current(),
    );
    Harness {
        detection: Arc::new(detection),
        metrics,
        committer,
    }
}

/// The CloudTrail samples as one `http`/`json` batch; `name` gives the payloads positions.
fn cloudtrail_batch(name: Option<&str>) -> SourceBatch {
    let samples =
        std::fs::read_to_string(repository_root().join("deploy/local/samples/cloudtrail.jsonl"))
            .unwrap();
    let payloads = samples
        .lines()
        .enumerate()
        .map(|(index, line)| {
            let root = Root::from_text(line);
            match name {
                Some(name) => Payload::at(root, format!("{name}/{index}")),
                None => Payload::unplaced(root),
            }
        })
        .collect();
    SourceBatch {
        service: "http".into(),
        resource: "json".into(),
        payloads,
        position: None,
    }
}

fn alert_ids(report: &BatchReport) -> BTreeSet<String> {
    report.alerts.iter().map(|a| a.alert_id.clone()).collect()
}

fn fires_root_rule(report: &BatchReport) -> bool {
    report.alerts.iter().any(|a| a.rule_name == ROOT_RULE)
}

fn restarts(metrics: &NodeMetrics, actor: &str) -> u64 {
    metrics
        .actor_restarts_total
        .with_label_values(&[actor])
        .get()
}

fn depth(metrics: &NodeMetrics, actor: &str) -> i64 {
    metrics
        .actor_mailbox_batches
        .with_label_values(&[actor])
        .get()
}

/// Polls `condition` (the pipeline's state moves on other threads) for up to 60 s.
async fn eventually(what: &str, condition: impl Fn() -> bool) {
    for _ in 0..6000 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

fn small_mailboxes() -> PipelineOptions {
    PipelineOptions {
        classifier_threads: 1,
        classifier_mailbox: 1,
        rules_mailbox: 1,
        commit_mailbox: 1,
        attempts: 3,
        part_payloads: 128,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_flow_through_every_actor_and_positions_fix_alert_ids() {
    let h = start(
        PipelineOptions::with_classifier_threads(2),
        RecordingCommitter::open(),
    )
    .await;
    let runs: Vec<_> = ["a", "b", "a"]
        .into_iter()
        .map(|name| {
            let detection = h.detection.clone();
            tokio::spawn(async move { detection.run(cloudtrail_batch(Some(name))).await })
        })
        .collect();
    let mut reports = Vec::new();
    for run in runs {
        reports.push(run.await.unwrap().unwrap());
    }
    for report in &reports {
        assert!(fires_root_rule(report), "{report:?}");
        assert_eq!(report.config_version, 1);
        assert!(report.dead_letters.is_empty(), "{report:?}");
    }
    assert_eq!(alert_ids(&reports[0]), alert_ids(&reports[2]));
    assert!(alert_ids(&reports[0]).is_disjoint(&alert_ids(&reports[1])));
    // Ids derive from the rule and `http/json/<batch>/<payload index>#<record index>`.
    let placed: BTreeSet<String> = reports[0]
        .alerts
        .iter()
        .flat_map(|alert| {
            (0..reports[0].records).flat_map(move |payload| {
                (0..64).map(move |record| {
                    let position = format!("a/{payload}");
                    sa_rules::alert_id_for(
                        &alert.rule_name,
                        &origin("http", "json", &position, record),
                    )
                })
            })
        })
        .collect();
    assert!(alert_ids(&reports[0]).is_subset(&placed));
    // Without positions every run is new data.
    let first = h.detection.run(cloudtrail_batch(None)).await.unwrap();
    let second = h.detection.run(cloudtrail_batch(None)).await.unwrap();
    assert!(alert_ids(&first).is_disjoint(&alert_ids(&second)));
    assert_eq!(first.position, None, "no source position, no result");
    // A source position goes to the commit with the batch, and its result comes back.
    let mut positioned = cloudtrail_batch(None);
    positioned.position = Some(sa_raft::Command::default());
    let report = h.detection.run(positioned).await.unwrap();
    assert_eq!(report.position, Some(sa_raft::CommandResult::Applied));

    assert_eq!(h.committer.reports().len(), 6, "every batch is committed");
    let records = reports[0].records as u64;
    assert_eq!(
        h.metrics
            .records_in_total
            .with_label_values(&["http"])
            .get(),
        6 * records
    );
    assert_eq!(
        h.metrics
            .batch_latency_seconds
            .with_label_values(&["http"])
            .get_sample_count(),
        6
    );
    for actor in ["classifier", "rules", "commit"] {
        assert_eq!(depth(&h.metrics, actor), 0, "{actor} is empty again");
        assert_eq!(restarts(&h.metrics, actor), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_larger_than_a_part_goes_through_in_parts_and_commits_once() {
    // Parts of two payloads, through mailboxes of one: the parts of one batch never wait on
    // each other's slots.
    let h = start(
        PipelineOptions {
            part_payloads: 2,
            ..small_mailboxes()
        },
        RecordingCommitter::open(),
    )
    .await;
    let mut batch = cloudtrail_batch(Some("a"));
    // The middle part is all poison: it has nothing for the rules.
    for index in [2, 3] {
        let poison = Payload::at(Root::from_text("not a record"), format!("a/poison{index}"));
        batch.payloads.insert(index, poison);
    }
    assert_eq!(batch.payloads.len(), 6, "three parts");

    // What each payload gives on its own (alert ids derive from positions, not batches).
    let mut alerts = Vec::new();
    let mut dead_letters = Vec::new();
    let mut classified = 0;
    for payload in &batch.payloads {
        let single = SourceBatch {
            payloads: vec![payload.clone()],
            ..batch.clone()
        };
        let report = h.detection.run(single).await.unwrap();
        alerts.extend(
            report
                .alerts
                .iter()
                .map(|a| (a.rule_name.clone(), a.alert_id.clone())),
        );
        dead_letters.extend(report.dead_letters.clone());
        classified += report.classified;
    }
    assert_eq!(dead_letters.len(), 2, "{dead_letters:?}");
    assert!(!alerts.is_empty());

    let runs: Vec<_> = (0..3)
        .map(|_| {
            let detection = h.detection.clone();
            let batch = batch.clone();
            tokio::spawn(async move { detection.run(batch).await })
        })
        .collect();
    for run in runs {
        let report = run.await.unwrap().unwrap();
        assert_eq!(report.records, 6);
        assert_eq!(report.classified, classified);
        let got: Vec<_> = report
            .alerts
            .iter()
            .map(|a| (a.rule_name.clone(), a.alert_id.clone()))
            .collect();
        assert_eq!(got, alerts, "every part's alerts, in the batch's order");
        assert_eq!(report.dead_letters, dead_letters);
    }
    assert_eq!(h.committer.reports().len(), 6 + 3, "one commit per batch");
    for actor in ["classifier", "rules", "commit"] {
        assert_eq!(depth(&h.metrics, actor), 0, "{actor} is empty again");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_commit_makes_the_sources_wait_with_bounded_batches_inside() {
    let h = start(small_mailboxes(), RecordingCommitter::holding(0)).await;
    let runs: Vec<_> = (0..8)
        .map(|i| {
            let detection = h.detection.clone();
            tokio::spawn(async move {
                detection
                    .run(cloudtrail_batch(Some(&format!("b{i}"))))
                    .await
            })
        })
        .collect();
    // One batch committing (stalled), one waiting for room in the commit actor, one waiting
    // for the rules actor; the other five have not handed their batch to any actor.
    eventually("the pipeline to fill up", || {
        h.detection.observe().waiting() == (5, 1, 1)
    })
    .await;
    for actor in ["classifier", "rules", "commit"] {
        assert_eq!(depth(&h.metrics, actor), 1, "{actor}");
    }
    assert!(h.committer.reports().is_empty());

    h.committer.hold.add_permits(8);
    for run in runs {
        assert!(fires_root_rule(&run.await.unwrap().unwrap()));
    }
    assert_eq!(h.committer.reports().len(), 8);
    assert_eq!(h.detection.observe().waiting(), (0, 0, 0));
}

/// The batch yields the same alerts, committed once, although failpoint `pipeline::<at>`
/// panicked on it once and `actor` was restarted.
async fn survives_one_panic(at: &str, actor: &str) {
    let h = start(small_mailboxes(), RecordingCommitter::open()).await;
    let reference = h
        .detection
        .run(cloudtrail_batch(Some("ref")))
        .await
        .unwrap();
    let expected = alert_ids(&reference);
    assert!(!expected.is_empty());

    let failpoint = format!("pipeline::{at}");
    fail::cfg(&failpoint, "1*panic(failpoint)").unwrap();
    let report = h
        .detection
        .run(cloudtrail_batch(Some("ref")))
        .await
        .unwrap();
    fail::remove(&failpoint);

    assert_eq!(alert_ids(&report), expected);
    assert_eq!(restarts(&h.metrics, actor), 1);
    let committed = h.committer.alert_ids();
    assert_eq!(
        committed.len(),
        2 * expected.len(),
        "each run committed its alerts exactly once: {committed:?}"
    );
    // The restarted actor keeps serving.
    let after = h
        .detection
        .run(cloudtrail_batch(Some("after")))
        .await
        .unwrap();
    assert!(fires_root_rule(&after));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_classifier_is_restarted_and_the_batch_kept() {
    survives_one_panic("classifier", "classifier").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_rules_actor_is_restarted_and_the_batch_kept() {
    survives_one_panic("rules", "rules").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_rules_thread_is_replaced_and_the_batch_kept() {
    survives_one_panic("rules_thread", "rules").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_commit_actor_is_restarted_and_the_batch_kept() {
    survives_one_panic("commit", "commit").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_an_actor_always_crashes_on_is_dead_lettered_with_the_reason() {
    // Two parts of two payloads: each part is offered 3 times, the batch is counted once.
    let options = PipelineOptions {
        part_payloads: 2,
        ..small_mailboxes()
    };
    let h = start(options, RecordingCommitter::open()).await;
    fail::cfg("pipeline::rules", "panic(bad batch)").unwrap();
    let report = h
        .detection
        .run(cloudtrail_batch(Some("poison")))
        .await
        .unwrap();
    fail::remove("pipeline::rules");

    assert!(report.alerts.is_empty());
    assert_eq!(report.dead_letters.len(), report.classified);
    let reason = report.dead_letters[0].reason();
    assert!(
        reason.contains("rules failed 3 times on this batch, last: bad batch"),
        "{reason}"
    );
    // The supervisor restarts the actor after its last reply went out.
    eventually("the sixth restart", || restarts(&h.metrics, "rules") == 6).await;
    assert_eq!(
        h.metrics
            .batches_dead_lettered_total
            .with_label_values(&["rules"])
            .get(),
        1
    );
    assert_eq!(
        h.committer.reports().len(),
        1,
        "the dead letters are committed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_mid_stream_loses_nothing_and_each_batch_keeps_its_config() {
    let h = start(small_mailboxes(), RecordingCommitter::holding(0)).await;
    let run = |name: String| {
        let detection = h.detection.clone();
        tokio::spawn(async move { detection.run(cloudtrail_batch(Some(&name))).await })
    };
    let early: Vec<_> = (0..6).map(|i| run(format!("early{i}"))).collect();
    eventually("the pipeline to fill up", || {
        h.detection.observe().waiting() == (3, 1, 1)
    })
    .await;

    // Version 2 has no CloudTrail rules.
    let detection = h.detection.clone();
    let reload = tokio::spawn(async move {
        detection
            .reload(repository("rules/community/guardduty"), 2)
            .await
    });
    eventually("the reload to wait for the batches in flight", || {
        h.detection.reload_pending()
    })
    .await;
    let late: Vec<_> = (0..3).map(|i| run(format!("late{i}"))).collect();

    h.committer.hold.add_permits(Semaphore::MAX_PERMITS);
    for run in early {
        let report = run.await.unwrap().unwrap();
        assert_eq!(report.config_version, 1);
        assert!(fires_root_rule(&report), "{report:?}");
    }
    reload.await.unwrap().unwrap();
    for run in late {
        let report = run.await.unwrap().unwrap();
        assert_eq!(report.config_version, 2);
        assert!(!fires_root_rule(&report), "{report:?}");
        assert!(report.classified > 0 && report.dead_letters.is_empty());
    }
    assert_eq!(h.committer.reports().len(), 9, "every batch was committed");
    assert_eq!(h.detection.version(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_stops_waiting_mid_batch_holds_nothing_back() {
    let h = start(
        PipelineOptions {
            part_payloads: 2,
            ..small_mailboxes()
        },
        RecordingCommitter::holding(0),
    )
    .await;
    let mut first = cloudtrail_batch(Some("first"));
    first.payloads.truncate(2);
    let detection = h.detection.clone();
    let committing = tokio::spawn(async move { detection.run(first).await });
    eventually("the first batch to commit", || {
        h.detection.observe().committing == 1
    })
    .await;

    // Three parts: the first waits for the commit actor, the second for the rules actor, the
    // third for the classifier when its source gives up.
    let mut abandoned = cloudtrail_batch(Some("gone"));
    let more = cloudtrail_batch(Some("gone-again")).payloads;
    abandoned.payloads.extend(more.into_iter().take(2));
    assert_eq!(abandoned.payloads.len(), 6);
    let detection = h.detection.clone();
    let gone = tokio::spawn(async move { detection.run(abandoned).await });
    eventually("the abandoned batch to be half handed in", || {
        h.detection.observe().waiting() == (1, 1, 1)
    })
    .await;
    gone.abort();
    assert!(gone.await.unwrap_err().is_cancelled());

    h.committer.hold.add_permits(Semaphore::MAX_PERMITS);
    assert!(committing.await.unwrap().is_ok());
    // A reload needs every batch to have released the config: the abandoned one did.
    tokio::time::timeout(
        Duration::from_secs(60),
        h.detection.reload(repository("rules"), 2),
    )
    .await
    .expect("the reload is not held up")
    .unwrap();
    let empty = tokio::time::timeout(Duration::from_secs(60), async {
        while h.detection.observe() != PipelineState::default() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    });
    assert!(empty.await.is_ok(), "{:?}", h.detection.observe());
    assert_eq!(
        h.committer.reports().len(),
        1,
        "the abandoned batch is not committed"
    );
    let next = h
        .detection
        .run(cloudtrail_batch(Some("next")))
        .await
        .unwrap();
    assert_eq!(next.config_version, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_part_the_rules_thread_died_on_is_charged_not_those_queued_behind_it() {
    // One crash is enough to dead-letter a part: a part queued behind the one that killed the
    // thread must be replayed, not dead-lettered with it.
    let options = PipelineOptions {
        attempts: 1,
        part_payloads: 1,
        classifier_mailbox: 4,
        rules_mailbox: 4,
        ..small_mailboxes()
    };
    let h = start(options, RecordingCommitter::open()).await;
    // The first part holds the rules thread while the others queue behind the second, which
    // takes the thread down.
    fail::cfg("pipeline::rules_thread", "1*sleep(300)->1*panic(culprit)").unwrap();
    let report = h.detection.run(cloudtrail_batch(Some("q"))).await.unwrap();
    fail::remove("pipeline::rules_thread");

    assert_eq!(restarts(&h.metrics, "rules"), 1);
    let dead_payloads: BTreeSet<String> = report
        .dead_letters
        .iter()
        .map(|dead| {
            dead.origin
                .rsplit_once('#')
                .map_or(dead.origin.clone(), |(payload, _)| payload.to_owned())
        })
        .collect();
    assert_eq!(dead_payloads.len(), 1, "{dead_payloads:?}");
    assert!(
        report.dead_letters[0]
            .reason()
            .contains("the rules thread died")
    );
    assert!(report.classified > report.dead_letters.len());
    assert_eq!(h.committer.reports().len(), 1);
}
