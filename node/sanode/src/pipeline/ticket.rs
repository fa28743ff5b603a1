//! A batch in flight: what every part of it carries through the actors, so that the commit
//! actor can put the batch back together and answer the source that is waiting for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use sa_raft::Command;
use tokio::sync::{OwnedRwLockReadGuard, oneshot};

use super::batch::BatchReport;
use super::detection::BatchError;

pub type BatchAnswer = Result<Arc<BatchReport>, BatchError>;

pub struct BatchTicket {
    pub id: u64,
    pub service: String,
    pub config_version: u64,
    pub records: usize,
    pub parts: usize,
    pub started: Instant,
    /// The source position committed with the batch.
    pub position: Option<Command>,
    /// The batch's share of the config: held until every part has its rule outcomes, so a
    /// reload never swaps the rules under a part classified with the previous config.
    config: Mutex<Option<OwnedRwLockReadGuard<()>>>,
    answer: Mutex<Option<oneshot::Sender<BatchAnswer>>>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl BatchTicket {
    pub fn issue(
        service: String,
        config_version: u64,
        records: usize,
        parts: usize,
        config: OwnedRwLockReadGuard<()>,
        position: Option<Command>,
    ) -> (Arc<Self>, oneshot::Receiver<BatchAnswer>) {
        let (sender, receiver) = oneshot::channel();
        let ticket = BatchTicket {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            service,
            config_version,
            records,
            parts,
            started: Instant::now(),
            position,
            config: Mutex::new(Some(config)),
            answer: Mutex::new(Some(sender)),
        };
        (Arc::new(ticket), receiver)
    }

    /// Every part has its rule outcomes: a waiting reload may go ahead.
    pub fn release_config(&self) {
        self.config.lock().expect("ticket lock").take();
    }

    /// Answers the source (once; it may have stopped waiting).
    pub fn answer(&self, answer: BatchAnswer) {
        self.release_config();
        if let Some(sender) = self.answer.lock().expect("ticket lock").take() {
            let _ = sender.send(answer);
        }
    }
}
