//! `sanode` flags for merging, dispatch and output secrets.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use super::dispatcher::DispatcherSettings;
use super::merger::MergerSettings;
use super::retention::RetentionSettings;
use crate::retry::Backoff;

#[derive(Debug, Clone, Args)]
pub struct AlertArgs {
    /// This node's own key file (created when missing): it seals the cluster's data key, which
    /// encrypts output settings, on this node's disk. Nodes never share it
    /// [default: <data-dir>/secrets.key].
    #[arg(long, env = "SA_SECRETS_KEY")]
    pub secrets_key: Option<PathBuf>,

    /// AWS KMS key (id, ARN or alias/NAME) that encrypts output settings instead of the
    /// cluster's data key.
    #[arg(long, env = "SA_KMS_KEY_ID")]
    pub kms_key_id: Option<String>,

    /// The directory `file` outputs write under: their paths are taken relative to it, and one
    /// that leaves it is refused [default: <data-dir>/outputs].
    #[arg(long, env = "SA_FILE_OUTPUT_DIR")]
    pub file_output_dir: Option<PathBuf>,

    /// How often the leader closes merge windows that have elapsed.
    #[arg(long, env = "SA_MERGE_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    pub merge_interval: Duration,

    /// Length of one merge-window minute; only tests shorten it.
    #[arg(long, env = "SA_MERGE_MINUTE", default_value = "60s", value_parser = humantime::parse_duration, hide = true)]
    pub merge_minute: Duration,

    /// Alerts being delivered at once on the leader. Each waits for its delivery records to
    /// commit (tens of ms on a loaded cluster), so this bounds the alerts delivered per second:
    /// 32 gave about 900/s on three nodes of this machine, fewer than a third of the shipped
    /// samples alerting at half load.
    #[arg(long, env = "SA_DISPATCH_CONCURRENCY", default_value_t = 256)]
    pub dispatch_concurrency: usize,

    /// An output that has not accepted an alert this long after its first attempt gives up and
    /// the alert becomes a dead letter (`sactl dead-letters replay` sends it again).
    #[arg(long, env = "SA_DEAD_LETTER_AFTER", default_value = "24h", value_parser = humantime::parse_duration)]
    pub dead_letter_after: Duration,

    /// How long a finished alert stays in the cluster (queryable with `sactl alerts`); alerts
    /// still pending, merging or dead-lettered are kept whatever their age.
    #[arg(long, env = "SA_ALERT_RETENTION", default_value = "30days", value_parser = humantime::parse_duration)]
    pub alert_retention: Duration,

    /// How long the record of a dead letter (a record no schema matched) stays in the cluster,
    /// listed by `sactl dead-letters list` and replayable; older ones are deleted.
    #[arg(long, env = "SA_DEAD_LETTER_RETENTION", default_value = "14days", value_parser = humantime::parse_duration)]
    pub dead_letter_retention: Duration,

    /// How long an entry of the audit trail stays in the cluster (`sactl audit list`); older
    /// ones are deleted.
    #[arg(long, env = "SA_AUDIT_RETENTION", default_value = "365days", value_parser = humantime::parse_duration)]
    pub audit_retention: Duration,

    /// How often the leader deletes alerts, dead letters, audit entries and expired tokens past
    /// their retention.
    #[arg(long, env = "SA_ALERT_RETENTION_INTERVAL", default_value = "10m", value_parser = humantime::parse_duration, hide = true)]
    pub alert_retention_interval: Duration,

    /// Longest wait between two delivery attempts to a failing output.
    #[arg(long, env = "SA_RETRY_MAX_BACKOFF", default_value = "5m", value_parser = humantime::parse_duration)]
    pub retry_max_backoff: Duration,
}

impl AlertArgs {
    pub fn secrets_key(&self, data_dir: &Path) -> PathBuf {
        self.secrets_key
            .clone()
            .unwrap_or_else(|| data_dir.join("secrets.key"))
    }

    pub fn file_output_dir(&self, data_dir: &Path) -> PathBuf {
        self.file_output_dir
            .clone()
            .unwrap_or_else(|| data_dir.join("outputs"))
    }

    pub fn merger(&self) -> MergerSettings {
        MergerSettings {
            interval: self.merge_interval,
            minute: self.merge_minute,
        }
    }

    pub fn retention(&self) -> RetentionSettings {
        RetentionSettings {
            keep: self.alert_retention,
            keep_dead_letters: self.dead_letter_retention,
            keep_audit: self.audit_retention,
            interval: self.alert_retention_interval,
        }
    }

    pub fn dispatcher(&self) -> DispatcherSettings {
        DispatcherSettings {
            concurrency: self.dispatch_concurrency,
            dead_letter_after: self.dead_letter_after,
            backoff: Backoff {
                max: self.retry_max_backoff,
                ..DispatcherSettings::default().backoff
            },
            ..DispatcherSettings::default()
        }
    }
}
