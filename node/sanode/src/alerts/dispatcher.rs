//! The dispatcher: on the Raft leader, delivers every pending alert to each of its outputs, with
//! retries (exponential backoff with full jitter, honouring Retry-After), and records each
//! output's success in the replicated state before that output is considered done, so a new
//! leader never resends what was recorded (StreamAlert's overwrite bug, docs/spec §12.1, cannot happen:
//! success is one key per output, never a rewritten set). A failing output never blocks the
//! others; an output that keeps failing past `dead_letter_after`, or refuses the alert outright,
//! leaves the alert in the dead letters, from where `sactl dead-letters replay` sends it again.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::alerts::cluster_keys::DataKeyUnavailable;
use futures::future::BoxFuture;
use sa_outputs::{
    Delivery, DeliveryOutcome, OutputName, Outputs, OutputsConfig, RESOURCE_SETTING,
    credentials_with_defaults,
};
use sa_rules::{Alert, Clock, FIREHOSE_OUTPUT, Micros};
use serde_json::Value;
use tokio::sync::{Semaphore, watch};
use tokio_util::sync::CancellationToken;

use super::due_cursor::{DueCursor, DueRange};
use super::metrics::AlertMetrics;
use crate::leader::LeaderTask;
use crate::retry::Backoff;
use crate::sinks::AlertLog;
use sa_state::{
    AlertStore, AttemptRecord, OutputDeadLetter, OutputOutcome, OutputSettings, SentRecord,
};

/// Due alerts one dispatch pass takes at most (the rest wait for the next pass).
const DUE_BATCH: usize = 1000;

/// A span of time as the alerts table counts it.
fn micros(span: Duration) -> Micros {
    Micros::try_from(span.as_micros()).unwrap_or(Micros::MAX)
}

/// Turns an alert into the publication for one output (docs/spec §13.3), running the rule's publishers.
pub trait Compose: Send + Sync {
    fn compose(&self, alert: Alert, output: String) -> BoxFuture<'_, Result<Value, String>>;
}

#[derive(Debug, Clone)]
pub struct DispatcherSettings {
    /// Longest wait between two looks at the pending alerts (new commits wake it sooner).
    pub poll: Duration,
    /// Alerts being delivered at once (each to all of its due outputs concurrently).
    pub concurrency: usize,
    /// An output that has not accepted an alert this long after the first attempt gives up.
    pub dead_letter_after: Duration,
    /// Waits between attempts of one output, with full jitter.
    pub backoff: Backoff,
}

impl Default for DispatcherSettings {
    fn default() -> Self {
        DispatcherSettings {
            poll: Duration::from_secs(1),
            concurrency: 256,
            dead_letter_after: Duration::from_secs(24 * 3600),
            backoff: Backoff {
                base: Duration::from_secs(1),
                max: Duration::from_secs(300),
            },
        }
    }
}

/// Delivers one alert to one output, whatever schedules it (the dispatcher, `sactl outputs test`).
pub struct Deliverer {
    outputs: Mutex<Arc<Outputs>>,
    settings: OutputSettings,
    composer: Arc<dyn Compose>,
    alert_log: Arc<AlertLog>,
    /// Outputs that cannot work until their configuration is fixed, with why, as this node
    /// last found them (`sactl outputs list` shows it; a delivery that works clears it).
    misconfigured: Mutex<std::collections::BTreeMap<String, String>>,
}

impl Deliverer {
    pub fn new(
        outputs: Outputs,
        settings: OutputSettings,
        composer: Arc<dyn Compose>,
        alert_log: Arc<AlertLog>,
    ) -> Deliverer {
        Deliverer {
            outputs: Mutex::new(Arc::new(outputs)),
            settings,
            composer,
            alert_log,
            misconfigured: Mutex::default(),
        }
    }

    /// Why `output` cannot work, if this node found it misconfigured.
    pub fn misconfiguration(&self, output: &str) -> Option<String> {
        self.misconfigured
            .lock()
            .expect("misconfigured lock")
            .get(output)
            .cloned()
    }

    /// Says once per output (not per alert, not per attempt) that it cannot work, and
    /// forgets it once a delivery works. An output nobody has set (no `sactl outputs set`) is
    /// not set up yet, as a first start's summary lists it (node/summary.rs): said as a fact,
    /// not as an error. One whose settings were set and still cannot work is an error.
    fn remember(&self, output: &str, outcome: &DeliveryOutcome) {
        let mut misconfigured = self.misconfigured.lock().expect("misconfigured lock");
        match outcome {
            DeliveryOutcome::Misconfigured { reason } => {
                // Said when the output goes wrong; later alerts (each reason names its own
                // object or message) only keep the latest reason for `sactl outputs list`.
                if !misconfigured.contains_key(output) {
                    if self.never_set(output) {
                        tracing::info!(%output, %reason, "this output is not set up yet; its alerts are dead-lettered until it is");
                    } else {
                        tracing::error!(%output, %reason, "this output cannot deliver until its configuration is fixed; its alerts are dead-lettered");
                    }
                }
                misconfigured.insert(output.to_string(), reason.clone());
            }
            DeliveryOutcome::Delivered if misconfigured.remove(output).is_some() => {
                tracing::info!(%output, "output delivers again");
            }
            _ => {}
        }
    }

    /// No settings were ever stored for `output` (a store that cannot be read counts as set).
    fn never_set(&self, output: &str) -> bool {
        let (Ok(name), Ok(stored)) = (OutputName::parse(output), self.settings.names()) else {
            return false;
        };
        !stored.contains(&name)
    }

    /// Switches to a new conf/outputs.json (a new config version).
    pub fn replace_outputs(&self, outputs: Outputs) {
        *self.outputs.lock().expect("outputs lock") = Arc::new(outputs);
    }

    pub fn outputs_config(&self) -> OutputsConfig {
        self.outputs.lock().expect("outputs lock").config().clone()
    }

    pub fn output_settings(&self) -> &OutputSettings {
        &self.settings
    }

    pub async fn deliver(&self, prepared: &PreparedAlert<'_>, output: &str) -> DeliveryOutcome {
        let outcome = self.attempt(prepared, output).await;
        self.remember(output, &outcome);
        outcome
    }

    async fn attempt(&self, prepared: &PreparedAlert<'_>, output: &str) -> DeliveryOutcome {
        let alert = prepared.alert;
        let outputs = self.outputs.lock().expect("outputs lock").clone();
        let name = match OutputName::parse(output) {
            Ok(name) => name,
            Err(e) => {
                return DeliveryOutcome::Failed {
                    reason: format!("{output}: {e}"),
                };
            }
        };
        let stored = match self.settings.get(&name).await {
            Ok(stored) => stored,
            Err(e) if e.chain().any(|cause| cause.is::<DataKeyUnavailable>()) => {
                return DeliveryOutcome::Retry {
                    after: None,
                    reason: format!("{e:#}"),
                };
            }
            Err(e) => {
                return DeliveryOutcome::misconfigured(format!(
                    "{e:#}; set the output's settings again with `sactl outputs set {output} \
                     ...`, then `sactl dead-letters replay --output {output}`"
                ));
            }
        };
        // The alerts Firehose every alert goes to (docs/spec §10.2) is the node's alert log unless
        // conf/outputs.json names a real delivery stream for it.
        if output == FIREHOSE_OUTPUT && !outputs.config().contains(&name) && stored.is_none() {
            self.alert_log.write(alert);
            return DeliveryOutcome::Delivered;
        }
        if !outputs.config().contains(&name) && stored.is_none() {
            return DeliveryOutcome::Failed {
                reason: format!(
                    "{output} is neither in conf/outputs.json nor set with `sactl outputs set`"
                ),
            };
        }
        let stored = stored.unwrap_or_default();
        let resource = stored
            .get(RESOURCE_SETTING)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| outputs.config().resource(&name).map(str::to_owned));
        let credentials = credentials_with_defaults(name.service(), &stored);
        let dict = prepared.default_publication();
        // Without publishers the publication is the default one (docs/spec §13.3): no trip to
        // Python, and no copy.
        let composed;
        let publication = if alert.publishers.is_none() {
            dict
        } else {
            match self
                .composer
                .compose(alert.clone(), output.to_string())
                .await
            {
                Ok(publication) => {
                    composed = publication;
                    &composed
                }
                Err(reason) => {
                    return DeliveryOutcome::Retry {
                        after: None,
                        reason: format!("publishers for {output}: {reason}"),
                    };
                }
            }
        };
        fail::fail_point!("dispatcher::before_deliver", |_| DeliveryOutcome::Retry {
            after: None,
            reason: "failpoint dispatcher::before_deliver".into(),
        });
        outputs
            .deliver(
                &name,
                &Delivery {
                    alert: dict,
                    publication,
                    credentials: &credentials,
                    resource: resource.as_deref(),
                },
            )
            .await
    }
}

pub struct Dispatcher {
    store: AlertStore,
    deliverer: Arc<Deliverer>,
    settings: DispatcherSettings,
    metrics: AlertMetrics,
    node_id: u64,
    /// Alerts being dispatched by this node now.
    in_flight: Arc<Mutex<HashSet<String>>>,
    permits: Arc<Semaphore>,
    cursor: Mutex<DueCursor>,
}

impl Dispatcher {
    pub fn new(
        store: AlertStore,
        deliverer: Arc<Deliverer>,
        settings: DispatcherSettings,
        metrics: AlertMetrics,
        node_id: u64,
    ) -> Dispatcher {
        let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
        Dispatcher {
            store,
            deliverer,
            settings,
            metrics,
            node_id,
            in_flight: Arc::default(),
            permits,
            cursor: Mutex::new(DueCursor::new()),
        }
    }

    pub fn deliverer(&self) -> &Arc<Deliverer> {
        &self.deliverer
    }

    /// Starts a dispatch for every pending alert that is due and not already in flight;
    /// returns how many started. Alerts due later are not read.
    pub async fn dispatch_due(self: Arc<Self>) -> anyhow::Result<usize> {
        let mut started = 0;
        let now = Clock::System.now();
        let range = self.cursor.lock().expect("due cursor lock").range();
        let due = match range {
            DueRange::Whole => self.store.due(now, DUE_BATCH)?,
            DueRange::From(from) => {
                let mut due = self.store.due_between(0, 0, DUE_BATCH)?;
                due.extend(self.store.due_between(from, now, DUE_BATCH)?);
                due
            }
        };
        self.cursor
            .lock()
            .expect("due cursor lock")
            .saw(range, due.iter().map(|(at, _)| *at), now);
        for (handled_at, alert_id) in due {
            if !self
                .in_flight
                .lock()
                .expect("in-flight lock")
                .insert(alert_id.clone())
            {
                continue;
            }
            let permit = self.permits.clone().acquire_owned().await?;
            let dispatcher = self.clone();
            started += 1;
            tokio::spawn(async move {
                if let Err(e) = dispatcher.dispatch(&alert_id, handled_at).await {
                    tracing::warn!(
                        %alert_id, error = %format!("{e:#}"),
                        "delivery results not recorded; the alert will be dispatched again"
                    );
                }
                dispatcher
                    .in_flight
                    .lock()
                    .expect("in-flight lock")
                    .remove(&alert_id);
                drop(permit);
            });
        }
        Ok(started)
    }

    /// Delivers one alert to each of its outputs that is due (concurrently), then records every
    /// result and when the alert is next due, in one replicated write.
    async fn dispatch(&self, alert_id: &str, handled_at: Micros) -> anyhow::Result<()> {
        let Some(alert) = self.store.get(alert_id)? else {
            tracing::warn!(%alert_id, "pending alert without its record");
            return self
                .store
                .record_outcomes(alert_id, &[], handled_at, None)
                .await;
        };
        let state = self.store.delivery(alert_id)?;
        let now = Clock::System.now();
        let (due, later): (Vec<String>, Vec<String>) =
            state.remaining(&alert).into_iter().partition(|output| {
                state
                    .attempts
                    .get(output)
                    .is_none_or(|attempt| attempt.next_at <= now)
            });
        let prepared = PreparedAlert::new(&alert);
        let outcomes: Vec<(String, OutputOutcome)> =
            futures::future::join_all(due.into_iter().map(|output| async {
                let previous = state.attempts.get(&output).cloned();
                let outcome = self.attempt(&prepared, &output, previous).await;
                (output, outcome)
            }))
            .await;
        let next_due = later
            .iter()
            .filter_map(|output| state.attempts.get(output).map(|a| a.next_at))
            .chain(outcomes.iter().filter_map(|(_, outcome)| match outcome {
                OutputOutcome::Retry(attempt) => Some(attempt.next_at),
                _ => None,
            }))
            .min();
        self.store
            .record_outcomes(alert_id, &outcomes, handled_at, next_due)
            .await
    }

    /// One attempt to deliver `alert` to `output`, and what to record about it.
    async fn attempt(
        &self,
        prepared: &PreparedAlert<'_>,
        output: &str,
        previous: Option<AttemptRecord>,
    ) -> OutputOutcome {
        let alert = prepared.alert;
        let attempts = previous.as_ref().map_or(0, |p| p.attempts) + 1;
        let first_at = previous
            .as_ref()
            .map_or_else(|| Clock::System.now(), |p| p.first_at);
        let outcome = self.deliverer.deliver(prepared, output).await;
        let result = match &outcome {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Retry { .. } => "retry",
            DeliveryOutcome::Failed { .. } => "failed",
            DeliveryOutcome::Misconfigured { .. } => "misconfigured",
        };
        self.metrics
            .deliveries_total
            .with_label_values(&[output, result])
            .inc();
        let now = Clock::System.now();
        match outcome {
            DeliveryOutcome::Delivered => {
                // Every alert goes to the alerts Firehose (on a local node the alert log, which
                // prints the alert itself): a line for each would double the stream.
                if output == FIREHOSE_OUTPUT {
                    tracing::debug!(alert_id = %alert.alert_id, rule = %alert.rule_name, %output, attempts, "alert delivered");
                } else {
                    tracing::info!(alert_id = %alert.alert_id, rule = %alert.rule_name, %output, attempts, "alert delivered");
                }
                OutputOutcome::Sent(SentRecord {
                    at: now,
                    attempts,
                    node_id: self.node_id,
                })
            }
            DeliveryOutcome::Retry { after, reason } => {
                let expired =
                    now.saturating_sub(first_at) >= micros(self.settings.dead_letter_after);
                if expired {
                    return self.dead_letter(
                        alert,
                        output,
                        attempts,
                        format!("gave up after {attempts} attempts: {reason}"),
                    );
                }
                let delay = self.settings.backoff.jittered(attempts, after);
                tracing::warn!(
                    alert_id = %alert.alert_id, %output, attempts, %reason,
                    retry_in_ms = delay.as_millis() as u64, "delivery failed; will retry"
                );
                OutputOutcome::Retry(AttemptRecord {
                    attempts,
                    first_at,
                    next_at: now.saturating_add(micros(delay)),
                    last_error: reason,
                })
            }
            DeliveryOutcome::Failed { reason } => self.dead_letter(alert, output, attempts, reason),
            // Said once for the output by the deliverer, not once per alert.
            DeliveryOutcome::Misconfigured { reason } => {
                self.dead_letter_quietly(alert, output, attempts, reason)
            }
        }
    }

    fn dead_letter(
        &self,
        alert: &Alert,
        output: &str,
        attempts: u32,
        reason: String,
    ) -> OutputOutcome {
        tracing::warn!(alert_id = %alert.alert_id, rule = %alert.rule_name, %output, %reason, "alert dead-lettered for this output");
        self.dead_letter_quietly(alert, output, attempts, reason)
    }

    fn dead_letter_quietly(
        &self,
        alert: &Alert,
        output: &str,
        attempts: u32,
        reason: String,
    ) -> OutputOutcome {
        tracing::debug!(alert_id = %alert.alert_id, %output, "alert dead-lettered for this output");
        self.metrics
            .output_dead_letters_total
            .with_label_values(&[output])
            .inc();
        OutputOutcome::Dead(OutputDeadLetter {
            alert_id: alert.alert_id.clone(),
            rule_name: alert.rule_name.clone(),
            output: output.to_string(),
            reason,
            attempts,
            at: Clock::System.now(),
        })
    }
}

/// An alert on its way to its outputs, with its default publication built once for all of
/// them (the record is copied into it once per alert, not once per output).
pub struct PreparedAlert<'a> {
    pub alert: &'a Alert,
    default: std::sync::OnceLock<Value>,
}

impl<'a> PreparedAlert<'a> {
    pub fn new(alert: &'a Alert) -> Self {
        PreparedAlert {
            alert,
            default: std::sync::OnceLock::new(),
        }
    }

    /// The alert's output_dict (StreamAlert's DefaultPublisher), without the normalization key
    /// the alert processor drops before any output sees the record.
    fn default_publication(&self) -> &Value {
        self.default.get_or_init(|| {
            let mut dict = self.alert.output_dict();
            if let Some(record) = dict.get_mut("record").and_then(Value::as_object_mut) {
                record.shift_remove("streamalert_normalization");
            }
            dict
        })
    }
}

/// The leader's dispatcher: every commit (and every `poll`) looks at the pending alerts and
/// starts the deliveries that are due.
pub struct Dispatch {
    pub dispatcher: Arc<Dispatcher>,
    pub applied: watch::Receiver<Option<sa_raft::LogId>>,
}

impl LeaderTask for Dispatch {
    fn name(&self) -> &'static str {
        "dispatcher"
    }

    fn lead(self: Arc<Self>, term: CancellationToken) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let mut applied = self.applied.clone();
            loop {
                tokio::select! {
                    _ = term.cancelled() => return,
                    _ = applied.changed() => {
                        // Let a burst of commits land before scanning again.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    _ = tokio::time::sleep(self.dispatcher.settings.poll) => {}
                }
                if let Err(e) = self.dispatcher.clone().dispatch_due().await {
                    tracing::warn!(error = %format!("{e:#}"), "dispatch pass failed");
                }
            }
        })
    }
}
