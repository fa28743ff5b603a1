//! Work only the Raft leader does: merging, retention, dispatch, lookup refresh, rule promotion,
//! shard lease planning. One runner starts every leader task when this node takes office and
//! cancels them when it leaves office or stops, so no task polls for leadership itself and each
//! term starts from fresh state (a new leader downloads every table, probes every voter, ...).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use openraft::ServerState;
use sa_raft::Replica;
use tokio::task::{Id, JoinSet};
use tokio_util::sync::CancellationToken;

/// One kind of leader-only work.
pub trait LeaderTask: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// The work of one term of office: returns once `term` is cancelled.
    fn lead(self: Arc<Self>, term: CancellationToken) -> BoxFuture<'static, ()>;
}

/// How long the tasks of an ended term may take to notice before they are aborted.
const DRAIN: Duration = Duration::from_secs(10);
/// A task that panicked is started again after this, within the same term.
const RESTART_DELAY: Duration = Duration::from_secs(1);

/// Runs `tasks` during every term this node leads, until `shutdown`.
pub async fn run(replica: Replica, tasks: Vec<Arc<dyn LeaderTask>>, shutdown: CancellationToken) {
    let mut raft = replica.raft().metrics();
    let leading = |state: ServerState| state == ServerState::Leader;
    loop {
        while !leading(raft.borrow_and_update().state) {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                changed = raft.changed() => if changed.is_err() { return },
            }
        }
        let term = shutdown.child_token();
        let mut running = JoinSet::new();
        let mut names = std::collections::HashMap::<Id, usize>::new();
        for (index, task) in tasks.iter().enumerate() {
            let handle = running.spawn(task.clone().lead(term.clone()));
            names.insert(handle.id(), index);
        }
        tracing::info!(tasks = tasks.len(), "leading: leader tasks started");
        loop {
            tokio::select! {
                // Shutdown first: it also ends the term, and the tasks ending then are not news.
                biased;
                _ = shutdown.cancelled() => break,
                changed = raft.changed() => {
                    if changed.is_err() || !leading(raft.borrow_and_update().state) {
                        break;
                    }
                }
                Some(ended) = running.join_next_with_id() => {
                    let (id, panicked) = match ended {
                        Ok((id, ())) => (id, false),
                        Err(e) => (e.id(), e.is_panic()),
                    };
                    let Some(index) = names.remove(&id) else { continue };
                    let task = &tasks[index];
                    if !panicked {
                        tracing::warn!(task = task.name(), "leader task ended before its term");
                        continue;
                    }
                    tracing::error!(task = task.name(), "leader task panicked; starting it again");
                    let (task, term) = (task.clone(), term.clone());
                    let handle = running.spawn(async move {
                        tokio::time::sleep(RESTART_DELAY).await;
                        task.lead(term).await
                    });
                    names.insert(handle.id(), index);
                }
            }
        }
        term.cancel();
        if tokio::time::timeout(DRAIN, async {
            while running.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            tracing::warn!("leader tasks did not stop in time; aborted");
            running.shutdown().await;
        }
        tracing::info!("leader tasks stopped");
        if shutdown.is_cancelled() {
            return;
        }
    }
}

/// The ticks of a periodic leader task, ending with its term.
pub struct Ticks(tokio::time::Interval);

impl Ticks {
    /// The first tick is immediate: a new leader does its work at once.
    pub fn every(period: Duration) -> Ticks {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        Ticks(interval)
    }

    /// Waits for the next tick; false once the term is over.
    pub async fn next(&mut self, term: &CancellationToken) -> bool {
        tokio::select! {
            _ = term.cancelled() => false,
            _ = self.0.tick() => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Counts its terms and the terms that ended; panics in its first `panics` terms.
    #[derive(Default)]
    struct Probe {
        started: AtomicUsize,
        ended: AtomicUsize,
        panics: usize,
    }

    impl LeaderTask for Probe {
        fn name(&self) -> &'static str {
            "probe"
        }

        fn lead(self: Arc<Self>, term: CancellationToken) -> BoxFuture<'static, ()> {
            Box::pin(async move {
                let start = self.started.fetch_add(1, Ordering::SeqCst);
                if start < self.panics {
                    panic!("probe panics in its term {start}");
                }
                term.cancelled().await;
                self.ended.fetch_add(1, Ordering::SeqCst);
            })
        }
    }

    async fn eventually(what: &str, check: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while !check() {
            assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tasks_run_while_leading_restart_after_a_panic_and_drain_on_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let replica = sa_state::single_node_replica(dir.path()).await;
        let steady = Arc::new(Probe::default());
        let flaky = Arc::new(Probe {
            panics: 1,
            ..Probe::default()
        });
        let shutdown = CancellationToken::new();
        let runner = tokio::spawn(run(
            replica.clone(),
            vec![steady.clone(), flaky.clone()],
            shutdown.clone(),
        ));

        eventually("the one-node cluster's leader starts its tasks", || {
            steady.started.load(Ordering::SeqCst) == 1
        })
        .await;
        eventually(
            "the panicked task is started again in the same term",
            || flaky.started.load(Ordering::SeqCst) == 2,
        )
        .await;
        assert_eq!(
            steady.started.load(Ordering::SeqCst),
            1,
            "one term, one start"
        );

        shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), runner)
            .await
            .expect("the runner stops on shutdown")
            .unwrap();
        assert_eq!(
            steady.ended.load(Ordering::SeqCst),
            1,
            "drained, not aborted"
        );
        assert_eq!(
            flaky.ended.load(Ordering::SeqCst),
            1,
            "the restarted task drained too"
        );
        replica.shutdown().await;
    }
}
