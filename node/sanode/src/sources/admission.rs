//! Admission at the door of ingest: the bytes of the ingest requests a node holds at once are
//! bounded, and a request that would pass the bound is refused before its body is read (HTTP 503
//! with `Retry-After`, gRPC RESOURCE_EXHAUSTED), so a burst of large requests costs the node a
//! refusal each instead of memory it does not have. Requests admitted keep their share until
//! their batch is committed; the pipeline's own backpressure (docs/architecture.md §3) then
//! paces them.

use std::sync::Arc;

use prometheus::{IntCounterVec, IntGauge, Opts};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::node::ServiceError;

/// Shares are counted in KiB so that a budget of several GiB fits the semaphore's u32.
const UNIT: usize = 1024;

/// How long a refused client is told to wait before it sends again.
pub const RETRY_AFTER_SECONDS: u64 = 1;

pub struct Admission {
    budget: Arc<Semaphore>,
    units: u32,
    metrics: AdmissionMetrics,
}

#[derive(Clone)]
pub struct AdmissionMetrics {
    pub refused_total: IntCounterVec,
    pub held_bytes: IntGauge,
}

impl Default for AdmissionMetrics {
    fn default() -> Self {
        AdmissionMetrics {
            refused_total: IntCounterVec::new(
                Opts::new(
                    "sa_ingest_refused_total",
                    "Ingest requests refused at the door because the node held its budget of \
                     request bytes (--ingest-max-held-mib), by transport.",
                ),
                &["transport"],
            )
            .expect("valid metric"),
            held_bytes: IntGauge::new(
                "sa_ingest_held_bytes",
                "Bytes of the ingest requests this node holds (admitted, not yet committed).",
            )
            .expect("valid metric"),
        }
    }
}

impl AdmissionMetrics {
    pub fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.refused_total.clone()),
            Box::new(self.held_bytes.clone()),
        ]
    }
}

/// A request's share of the budget, given back when dropped.
pub struct Admitted {
    _permit: OwnedSemaphorePermit,
    bytes: usize,
    held_bytes: IntGauge,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.held_bytes.sub(self.bytes as i64);
    }
}

impl Admission {
    /// A budget of `max_held_bytes` (at least one request of `largest_request` bytes).
    pub fn new(max_held_bytes: usize, largest_request: usize, metrics: AdmissionMetrics) -> Self {
        let units = u32::try_from(max_held_bytes.max(largest_request).div_ceil(UNIT))
            .unwrap_or(Semaphore::MAX_PERMITS as u32);
        Admission {
            budget: Arc::new(Semaphore::new(units as usize)),
            units,
            metrics,
        }
    }

    /// Admits a request of `bytes` (over `transport`, for the metrics), or refuses it because
    /// the node holds too much already.
    pub fn admit(&self, transport: &str, bytes: usize) -> Result<Admitted, ServiceError> {
        let units = u32::try_from(bytes.div_ceil(UNIT).max(1))
            .unwrap_or(u32::MAX)
            .min(self.units);
        match self.budget.clone().try_acquire_many_owned(units) {
            Ok(permit) => {
                self.metrics.held_bytes.add(bytes as i64);
                Ok(Admitted {
                    _permit: permit,
                    bytes,
                    held_bytes: self.metrics.held_bytes.clone(),
                })
            }
            Err(_) => {
                self.metrics
                    .refused_total
                    .with_label_values(&[transport])
                    .inc();
                Err(ServiceError::Overloaded {
                    reason: format!(
                        "the node holds its budget of ingest bytes ({} KiB); send again later",
                        self.units
                    ),
                    retry_after_seconds: RETRY_AFTER_SECONDS,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_past_the_budget_are_refused_until_a_share_comes_back() {
        let metrics = AdmissionMetrics::default();
        let admission = Admission::new(10 * UNIT, 4 * UNIT, metrics.clone());
        let first = admission.admit("http", 6 * UNIT).unwrap();
        let second = admission.admit("grpc", 4 * UNIT).unwrap();
        assert_eq!(metrics.held_bytes.get(), 10 * UNIT as i64);
        let refused = admission.admit("http", 1).err().unwrap();
        assert!(
            matches!(
                &refused,
                ServiceError::Overloaded {
                    retry_after_seconds: 1,
                    ..
                }
            ),
            "{refused:?}"
        );
        assert_eq!(metrics.refused_total.with_label_values(&["http"]).get(), 1);
        drop(first);
        assert_eq!(metrics.held_bytes.get(), 4 * UNIT as i64);
        let _third = admission.admit("http", 6 * UNIT).unwrap();
        drop(second);
        assert_eq!(metrics.held_bytes.get(), 6 * UNIT as i64);
    }

    #[test]
    fn a_request_larger_than_the_budget_waits_for_the_whole_budget_not_forever() {
        let admission = Admission::new(UNIT, 8 * UNIT, AdmissionMetrics::default());
        // The budget is raised to the largest request the node accepts, so one always fits.
        let whole = admission.admit("http", 8 * UNIT).unwrap();
        assert!(admission.admit("http", 1).is_err());
        drop(whole);
        assert!(admission.admit("http", 100 * UNIT).is_ok());
    }
}
