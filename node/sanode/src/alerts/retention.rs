//! Keeps the replicated state from growing forever: the leader deletes finished alerts once
//! they are older than the retention (pending, merging and dead-lettered alerts stay), the dead
//! letters of records no schema matched once they are older than theirs, audit entries past
//! theirs, and join and bearer tokens a week after they expired.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use sa_rules::Clock;

use sa_state::{AlertStore, AuditLog, Tokens};

use crate::leader::{LeaderTask, Ticks};

/// Alerts deleted per replicated write.
const PURGE_BATCH: usize = 500;

#[derive(Debug, Clone, Copy)]
pub struct RetentionSettings {
    /// How long a finished alert stays queryable with `sactl alerts`.
    pub keep: Duration,
    /// How long a record no schema matched stays listed (and replayable) as a dead letter.
    pub keep_dead_letters: Duration,
    /// How long an audit entry stays listed by `sactl audit list`.
    pub keep_audit: Duration,
    /// How often the leader looks for alerts past the retention.
    pub interval: Duration,
}

/// How long an expired token is kept, so that presenting it is refused as expired (with how
/// long ago) rather than as unknown.
const EXPIRED_TOKENS_KEPT: Duration = Duration::from_secs(7 * 24 * 3600);

/// Deletes every finished alert created more than `keep` before `now`; returns how many.
pub async fn purge_once(
    store: &AlertStore,
    now: sa_rules::Micros,
    keep: Duration,
) -> anyhow::Result<usize> {
    let cutoff = cutoff(now, keep);
    in_writes_of_a_batch(|| store.purge_finished(cutoff, PURGE_BATCH)).await
}

/// Deletes every classify dead letter received more than `keep` before `now`; returns how many.
pub async fn purge_dead_letters_once(
    store: &AlertStore,
    now: sa_rules::Micros,
    keep: Duration,
) -> anyhow::Result<usize> {
    let cutoff = cutoff(now, keep);
    in_writes_of_a_batch(|| store.purge_dead_letters(cutoff, PURGE_BATCH)).await
}

/// Deletes every audit entry recorded more than `keep` before `now`; returns how many.
pub async fn purge_audit_once(
    log: &AuditLog,
    now: sa_rules::Micros,
    keep: Duration,
) -> anyhow::Result<usize> {
    let cutoff = cutoff(now, keep);
    in_writes_of_a_batch(|| log.purge_before(cutoff, PURGE_BATCH)).await
}

/// Deletes every token that expired more than [`EXPIRED_TOKENS_KEPT`] before `now`.
async fn purge_tokens_once(tokens: &Tokens, now: sa_rules::Micros) -> anyhow::Result<usize> {
    let cutoff_ms = u64::try_from(cutoff(now, EXPIRED_TOKENS_KEPT) / 1000).unwrap_or(0);
    in_writes_of_a_batch(|| tokens.purge_expired(cutoff_ms, PURGE_BATCH)).await
}

/// Runs `purge` (one write of at most [`PURGE_BATCH`] deletions) until a write deletes fewer;
/// returns how many in all.
async fn in_writes_of_a_batch<F, Purge>(mut purge: F) -> anyhow::Result<usize>
where
    F: FnMut() -> Purge,
    Purge: Future<Output = anyhow::Result<usize>>,
{
    let mut total = 0;
    loop {
        let purged = purge().await?;
        total += purged;
        if purged < PURGE_BATCH {
            return Ok(total);
        }
    }
}

fn cutoff(now: sa_rules::Micros, keep: Duration) -> sa_rules::Micros {
    now.saturating_sub(i64::try_from(keep.as_micros()).unwrap_or(i64::MAX))
}

/// The leader's retention: a purge pass every interval.
pub struct Retention {
    pub store: AlertStore,
    pub audit: AuditLog,
    pub tokens: Tokens,
    pub settings: RetentionSettings,
}

impl LeaderTask for Retention {
    fn name(&self) -> &'static str {
        "alert retention"
    }

    fn lead(self: Arc<Self>, term: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let mut ticks = Ticks::every(self.settings.interval);
            while ticks.next(&term).await {
                let now = Clock::System.now();
                match purge_once(&self.store, now, self.settings.keep).await {
                    Ok(0) => {}
                    Ok(purged) => {
                        tracing::info!(purged, "finished alerts past the retention deleted")
                    }
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "alert retention pass failed")
                    }
                }
                match purge_dead_letters_once(&self.store, now, self.settings.keep_dead_letters)
                    .await
                {
                    Ok(0) => {}
                    Ok(purged) => tracing::info!(purged, "dead letters past the retention deleted"),
                    Err(e) => tracing::warn!(
                        error = %format!("{e:#}"),
                        "dead letter retention pass failed"
                    ),
                }
                match purge_audit_once(&self.audit, now, self.settings.keep_audit).await {
                    Ok(0) => {}
                    Ok(purged) => {
                        tracing::info!(purged, "audit entries past the retention deleted")
                    }
                    Err(e) => tracing::warn!(
                        error = %format!("{e:#}"),
                        "audit retention pass failed"
                    ),
                }
                match purge_tokens_once(&self.tokens, now).await {
                    Ok(0) => {}
                    Ok(purged) => tracing::info!(purged, "tokens expired a week ago deleted"),
                    Err(e) => tracing::warn!(
                        error = %format!("{e:#}"),
                        "token retention pass failed"
                    ),
                }
            }
        })
    }
}
