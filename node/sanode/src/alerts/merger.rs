//! The merger: on the Raft leader, closes merge groups whose window has elapsed (docs/spec §11.2) and
//! commits each group as one merged alert. Group state is the `merge/` index in the replicated
//! state, so a window open when a leader dies is closed by the next one; the commit is
//! conditional on every member still waiting, so a group is merged exactly once.
//!
//! Each term of office runs a [`MergerActor`] on an arbiter of its own: it owns the windows
//! open on this leader (what its last pass left waiting), runs a pass every interval (one at a
//! time), and is restarted by its supervisor if a pass panics.
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use actix::fut::{ActorFutureExt, wrap_future};
use actix::{
    Actor, ActorContext, AsyncContext, Context, Handler, Message, MessageResult, Supervised,
    Supervisor,
};
use futures::FutureExt;
use futures::future::BoxFuture;
use prometheus::IntCounter;
use tokio_util::sync::CancellationToken;

use sa_rules::{Clock, Micros, alert_id_for};

use super::metrics::AlertMetrics;
use crate::actors::ActorSystemHandle;
use crate::leader::LeaderTask;
use crate::pipeline::panic_message;
use sa_rules::alert_merge::{closed_groups, merge, window};
use sa_state::AlertStore;

#[derive(Debug, Clone, Copy)]
pub struct MergerSettings {
    /// How often the leader looks for closed windows (StreamAlert: once a minute).
    pub interval: Duration,
    /// The length of a merge-window minute: 60 s, shorter only in tests.
    pub minute: Duration,
}

impl MergerSettings {
    fn minute_micros(&self) -> Micros {
        i64::try_from(self.minute.as_micros()).unwrap_or(i64::MAX)
    }
}

/// The merged alert's id: derived from its first member, so every merger computing the same
/// group names it the same.
pub fn merged_alert_id(rule_name: &str, first_member_id: &str) -> String {
    alert_id_for(rule_name, &format!("merge/{first_member_id}"))
}

/// What one merger pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MergePass {
    /// Groups that became a merged alert.
    pub merged: usize,
    /// Groups below their rule's `merge_threshold`, closed without an alert.
    pub suppressed: usize,
    /// Send-first and dedup windows that ended.
    pub windows_expired: usize,
    /// What is left waiting for its window to close.
    pub open: OpenWindows,
}

/// The merge windows still open after a pass.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct OpenWindows {
    /// Alerts waiting in a window that has not closed.
    pub alerts: usize,
    /// Rules with such alerts.
    pub rules: usize,
    /// When the next of them closes.
    pub next_close: Option<Micros>,
}

/// One pass over every rule's waiting alerts at time `now`.
pub async fn merge_once(
    store: &AlertStore,
    now: Micros,
    settings: &MergerSettings,
    metrics: Option<&AlertMetrics>,
) -> anyhow::Result<MergePass> {
    let mut pass = MergePass::default();
    let minute = settings.minute_micros();
    for (rule_name, waiting) in store.merge_waiting()? {
        let (candidates, closed) = read_until_open(store, &waiting, now, minute)?;
        pass.open.note(&candidates, &closed, waiting.len(), minute);
        for group in closed {
            let members: Vec<_> = group.iter().map(|&i| candidates[i].clone()).collect();
            let threshold = members[0].policy.threshold.max(1) as usize;
            if members.len() < threshold {
                let reason = format!(
                    "{} alerts in the merge window, below the rule's merge_threshold of {threshold}",
                    members.len()
                );
                if store.commit_suppressed(&members, &reason).await? {
                    pass.suppressed += 1;
                    tracing::info!(rule = %rule_name, count = members.len(), threshold, "merge group below threshold; no alert");
                }
                continue;
            }
            let merged = merge(
                &members,
                merged_alert_id(&rule_name, &members[0].alert_id),
                now,
            );
            if store.commit_merge(&members, &merged).await? {
                pass.merged += 1;
                if let Some(metrics) = metrics {
                    metrics.merged_groups_total.inc();
                    metrics.merged_alerts_total.inc_by(members.len() as u64);
                }
                tracing::info!(
                    rule = %rule_name,
                    merged_alert = %merged.alert_id,
                    count = members.len(),
                    "merged alerts"
                );
            }
        }
    }
    pass.windows_expired = store.expire_windows(now).await?;
    Ok(pass)
}

/// Alerts of a rule's merge index read a page at a time.
const MERGE_READ_PAGE: usize = 256;

/// Reads one rule's waiting alerts (`waiting`, oldest first) a page at a time until the
/// grouping stops at an alert whose window is still open (`closed_groups` looks no further),
/// so a pass holds the alerts it can merge and a page more, not every alert of every open
/// window (hundreds of thousands under load). Returns what it read and the closed groups.
fn read_until_open(
    store: &AlertStore,
    waiting: &[String],
    now: Micros,
    minute: Micros,
) -> anyhow::Result<(Vec<sa_rules::Alert>, Vec<Vec<usize>>)> {
    let mut candidates = Vec::new();
    for page in waiting.chunks(MERGE_READ_PAGE) {
        candidates.extend(store.alerts_by_id(page)?);
        let closed = closed_groups(&candidates, now, minute);
        let grouped: usize = closed.iter().map(Vec::len).sum();
        if grouped < candidates.len() {
            return Ok((candidates, closed));
        }
    }
    let closed = closed_groups(&candidates, now, minute);
    Ok((candidates, closed))
}

impl OpenWindows {
    /// Adds what one rule's pass leaves open: of its `waiting` alerts, those in no closed
    /// group. The next close is the earliest among the candidates read: the alerts not read
    /// are newer.
    fn note(
        &mut self,
        candidates: &[sa_rules::Alert],
        closed: &[Vec<usize>],
        waiting: usize,
        minute: Micros,
    ) {
        let mut done = vec![false; candidates.len()];
        for &index in closed.iter().flatten() {
            done[index] = true;
        }
        let open: Vec<_> = candidates
            .iter()
            .zip(done)
            .filter(|(_, done)| !done)
            .map(|(alert, _)| alert)
            .collect();
        let grouped: usize = closed.iter().map(Vec::len).sum();
        let left = waiting.saturating_sub(grouped);
        if left == 0 {
            return;
        }
        self.alerts += left;
        self.rules += 1;
        let closes = open
            .iter()
            .map(|alert| alert.created.saturating_add(window(alert, minute)))
            .min();
        self.next_close = self.next_close.into_iter().chain(closes).min();
    }
}

/// The merger of one term of office.
pub struct MergerActor {
    store: AlertStore,
    settings: MergerSettings,
    metrics: AlertMetrics,
    /// The windows open on this leader, as its last pass left them.
    open: OpenWindows,
    passing: bool,
    restarts: IntCounter,
}

impl MergerActor {
    fn pass(&mut self, ctx: &mut Context<Self>) {
        if self.passing {
            return;
        }
        self.passing = true;
        let (store, settings, metrics) = (self.store.clone(), self.settings, self.metrics.clone());
        let pass =
            async move { merge_once(&store, Clock::System.now(), &settings, Some(&metrics)).await };
        let pass = AssertUnwindSafe(pass).catch_unwind();
        ctx.spawn(wrap_future::<_, Self>(pass).map(|outcome, actor, ctx| {
            actor.passing = false;
            match outcome {
                Ok(Ok(pass)) => actor.show(pass.open),
                Ok(Err(e)) => {
                    tracing::warn!(error = %format!("{e:#}"), "merge pass failed; retrying next tick")
                }
                Err(panic) => {
                    tracing::error!(panic = panic_message(panic), "merge pass panicked; restarting the merger");
                    ctx.stop();
                }
            }
        }));
    }

    fn show(&mut self, open: OpenWindows) {
        self.open = open;
        let waiting = i64::try_from(open.alerts).unwrap_or(i64::MAX);
        self.metrics.merge_alerts_waiting.set(waiting);
    }
}

impl Actor for MergerActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(self.settings.interval, |actor, ctx| actor.pass(ctx));
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        // Another node leads now: its merger shows the windows.
        self.metrics.merge_alerts_waiting.set(0);
    }
}

impl Supervised for MergerActor {
    fn restarting(&mut self, _ctx: &mut Context<Self>) {
        self.restarts.inc();
        self.passing = false;
    }
}

/// The windows open on this leader.
pub struct Observe;

impl Message for Observe {
    type Result = OpenWindows;
}

impl Handler<Observe> for MergerActor {
    type Result = MessageResult<Observe>;

    fn handle(&mut self, _message: Observe, _ctx: &mut Context<Self>) -> Self::Result {
        MessageResult(self.open)
    }
}

/// The leader's merger: a [`MergerActor`] for each term.
pub struct Merger {
    pub store: AlertStore,
    pub settings: MergerSettings,
    pub metrics: AlertMetrics,
    pub actors: ActorSystemHandle,
    pub restarts: IntCounter,
}

impl Merger {
    /// Starts this term's merger actor on `arbiter`.
    pub fn start_actor(&self, arbiter: &actix_rt::ArbiterHandle) -> actix::Addr<MergerActor> {
        let actor = MergerActor {
            store: self.store.clone(),
            settings: self.settings,
            metrics: self.metrics.clone(),
            open: OpenWindows::default(),
            passing: false,
            restarts: self.restarts.clone(),
        };
        Supervisor::start_in_arbiter(arbiter, move |_| actor)
    }
}

impl LeaderTask for Merger {
    fn name(&self) -> &'static str {
        "merger"
    }

    fn lead(self: Arc<Self>, term: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let arbiter = match self.actors.new_arbiter() {
                Ok(arbiter) => arbiter,
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "cannot start the merger");
                    return;
                }
            };
            let merger = self.start_actor(&arbiter.handle());
            term.cancelled().await;
            drop(merger);
            arbiter.stop();
            let _ = tokio::task::spawn_blocking(move || arbiter.join()).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MINUTE: Micros = 60_000_000;

    /// Five old alerts of one user close a group; 595 newer ones, each of its own user, wait
    /// in open windows. The pass reads the old ones and one page, not the 595, and counts
    /// every waiting alert all the same.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_pass_reads_up_to_the_first_open_window_and_a_page_no_further() {
        let dir = tempfile::tempdir().unwrap();
        let replica = sa_state::single_node_replica(dir.path()).await;
        let store = AlertStore::new(replica.clone());
        let t0 = 1_700_000_000_000_000;
        let now = t0 + 10 * MINUTE;
        let alert = |i: i64, created: Micros, user: String| {
            let mut alert = sa_state::test_alert("failed_login", created);
            alert.record = json!({"user": user, "n": i}).as_object().unwrap().clone();
            alert.merge_by_keys = vec!["user".into()];
            alert.merge_window_mins = 5;
            alert
        };
        let mut alerts: Vec<_> = (0..5).map(|i| alert(i, t0 + i, "bob".into())).collect();
        alerts.extend((5..600).map(|i| alert(i, now - MINUTE + i, format!("user{i}"))));
        store.commit(&alerts, &[]).await.unwrap();

        let waiting = store.merge_waiting().unwrap();
        let (candidates, closed) =
            read_until_open(&store, &waiting["failed_login"], now, MINUTE).unwrap();
        assert_eq!(candidates.len(), MERGE_READ_PAGE);
        assert_eq!(closed, [vec![0, 1, 2, 3, 4]]);

        let settings = MergerSettings {
            interval: std::time::Duration::from_secs(1),
            minute: std::time::Duration::from_secs(60),
        };
        let pass = merge_once(&store, now, &settings, None).await.unwrap();
        assert_eq!(pass.merged, 1);
        assert_eq!(pass.open.alerts, 595);
        assert_eq!(pass.open.next_close, Some(now - MINUTE + 5 + 5 * MINUTE));
        replica.shutdown().await;
    }
}
