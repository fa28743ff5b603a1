//! Keeps the alerts table from growing forever: the leader deletes finished alerts once they
//! are older than the retention (pending, merging and dead-lettered alerts stay).

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use sa_rules::Clock;

use sa_state::AlertStore;

use crate::leader::{LeaderTask, Ticks};

/// Alerts deleted per replicated write.
const PURGE_BATCH: usize = 500;

#[derive(Debug, Clone, Copy)]
pub struct RetentionSettings {
    /// How long a finished alert stays queryable with `sactl alerts`.
    pub keep: Duration,
    /// How often the leader looks for alerts past the retention.
    pub interval: Duration,
}

/// Deletes every finished alert created more than `keep` before `now`; returns how many.
pub async fn purge_once(
    store: &AlertStore,
    now: sa_rules::Micros,
    keep: Duration,
) -> anyhow::Result<usize> {
    let cutoff = now.saturating_sub(i64::try_from(keep.as_micros()).unwrap_or(i64::MAX));
    let mut total = 0;
    loop {
        let purged = store.purge_finished(cutoff, PURGE_BATCH).await?;
        total += purged;
        if purged < PURGE_BATCH {
            return Ok(total);
        }
    }
}

/// The leader's retention: a purge pass every interval.
pub struct Retention {
    pub store: AlertStore,
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
                match purge_once(&self.store, Clock::System.now(), self.settings.keep).await {
                    Ok(0) => {}
                    Ok(purged) => {
                        tracing::info!(purged, "finished alerts past the retention deleted")
                    }
                    Err(e) => {
                        tracing::warn!(error = %format!("{e:#}"), "alert retention pass failed")
                    }
                }
            }
        })
    }
}
