//! The rules thread: the one thread that holds the loaded repository and runs Python. Other
//! threads send it batches through a [`RulesHandle`] and get alerts back.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use sa_engine::ClassifiedRecord;
use serde_json::Value;

use std::sync::Arc;

use crate::alert::Alert;
use crate::engine::{BatchOutcome, EngineOptions, LoadError, RuleTable, RulesEngine};
use crate::evaluation::Evaluation;
use crate::repository::RepositoryLayout;
use crate::threat_intel::{IocStore, ThreatIntelConfig};

/// The rules thread has stopped (it panicked or the worker was dropped).
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[error("the rules thread is gone")]
pub struct WorkerGone;

type Reply<T> = Box<dyn FnOnce(T) + Send>;

enum Request {
    Evaluate(
        Arc<Vec<ClassifiedRecord>>,
        Reply<Result<Evaluation, String>>,
    ),
    Reload(
        Box<(RepositoryLayout, EngineOptions)>,
        Reply<Result<Vec<String>, LoadError>>,
    ),
    Plug(Box<Plugs>),
    Compose(
        Box<Alert>,
        Vec<String>,
        Reply<Result<Vec<Result<Value, String>>, String>>,
    ),
}

/// What the node plugs into every repository the thread loads (kept across reloads).
#[derive(Clone, Default)]
pub struct Plugs {
    /// The replicated rule table (docs/spec §9.11): staged and disabled rules.
    pub rule_table: Option<Arc<dyn RuleTable>>,
    /// Threat intel (docs/spec §9.9): the configuration and the IOC table.
    pub threat_intel: Option<(ThreatIntelConfig, Arc<dyn IocStore>)>,
}

impl Plugs {
    fn apply(&self, engine: &mut RulesEngine) {
        engine.set_rule_table(self.rule_table.clone());
        engine.set_threat_intel(self.threat_intel.clone());
    }
}

/// Sends batches to the rules thread; cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct RulesHandle {
    sender: SyncSender<Request>,
}

impl RulesHandle {
    /// Queues `batch`; `reply` runs on the rules thread with its evaluation, which the caller
    /// turns into alerts on its own thread ([`Evaluation::into_outcome`]). Blocks while the
    /// queue is full (backpressure).
    pub fn submit(
        &self,
        batch: Arc<Vec<ClassifiedRecord>>,
        reply: impl FnOnce(Result<Evaluation, String>) + Send + 'static,
    ) -> Result<(), WorkerGone> {
        let reply: Reply<Result<Evaluation, String>> = Box::new(reply);
        self.sender
            .send(Request::Evaluate(batch, reply))
            .map_err(|_| WorkerGone)
    }

    /// Evaluates `batch` and waits for the outcome.
    pub fn evaluate(
        &self,
        batch: Vec<ClassifiedRecord>,
    ) -> Result<Result<BatchOutcome, String>, WorkerGone> {
        let (sender, receiver) = mpsc::sync_channel(1);
        self.submit(Arc::new(batch), move |evaluation| {
            let _ = sender.send(evaluation);
        })?;
        let evaluation = receiver.recv().map_err(|_| WorkerGone)?;
        Ok(evaluation.and_then(Evaluation::into_outcome))
    }

    /// Replaces the loaded repository (a new config version) and returns its rule names. On
    /// failure the previous version is loaded again and keeps serving.
    pub fn reload(
        &self,
        layout: RepositoryLayout,
        options: EngineOptions,
    ) -> Result<Result<Vec<String>, LoadError>, WorkerGone> {
        let (sender, receiver) = mpsc::sync_channel(1);
        let reply: Reply<Result<Vec<String>, LoadError>> = Box::new(move |result| {
            let _ = sender.send(result);
        });
        self.sender
            .send(Request::Reload(Box::new((layout, options)), reply))
            .map_err(|_| WorkerGone)?;
        receiver.recv().map_err(|_| WorkerGone)
    }
}

impl RulesHandle {
    /// Plugs the rule table and threat intel into the loaded repository and every later one.
    pub fn plug(&self, plugs: Plugs) -> Result<(), WorkerGone> {
        self.sender
            .send(Request::Plug(Box::new(plugs)))
            .map_err(|_| WorkerGone)
    }

    /// The publications of `alert` for each of `outputs` (`service:descriptor`), composed by
    /// the repository's publishers as the alert processor does (docs/spec §13.3); per output, the
    /// publication or the publisher's error.
    pub fn compose(
        &self,
        alert: Alert,
        outputs: Vec<String>,
    ) -> Result<Result<Vec<Result<Value, String>>, String>, WorkerGone> {
        let (sender, receiver) = mpsc::sync_channel(1);
        let reply: Reply<Result<Vec<Result<Value, String>>, String>> = Box::new(move |result| {
            let _ = sender.send(result);
        });
        self.sender
            .send(Request::Compose(Box::new(alert), outputs, reply))
            .map_err(|_| WorkerGone)?;
        receiver.recv().map_err(|_| WorkerGone)
    }
}

/// Owns the rules thread; dropping it stops the thread once queued batches are done.
pub struct RulesWorker {
    handle: Option<RulesHandle>,
    thread: Option<JoinHandle<()>>,
    rule_names: Vec<String>,
}

impl RulesWorker {
    /// Starts the rules thread and loads `layout` on it; `queue` bounds the pending batches.
    pub fn spawn(
        layout: RepositoryLayout,
        options: EngineOptions,
        queue: usize,
    ) -> Result<Self, LoadError> {
        let (sender, receiver) = mpsc::sync_channel(queue.max(1));
        let (loaded_sender, loaded_receiver) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("sa-rules".to_owned())
            .spawn(move || match RulesEngine::load(&layout, &options) {
                Ok(engine) => {
                    let _ = loaded_sender.send(Ok(rule_names(&engine)));
                    serve(
                        Loaded {
                            engine: Some(engine),
                            layout,
                            options,
                            plugs: Plugs::default(),
                        },
                        &receiver,
                    );
                }
                Err(error) => {
                    let _ = loaded_sender.send(Err(error));
                }
            })
            .map_err(|e| LoadError::Python(format!("cannot start the rules thread: {e}")))?;
        match loaded_receiver.recv() {
            Ok(Ok(rule_names)) => Ok(RulesWorker {
                handle: Some(RulesHandle { sender }),
                thread: Some(thread),
                rule_names,
            }),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error)
            }
            Err(_) => Err(LoadError::Python(
                "the rules thread stopped while loading".to_owned(),
            )),
        }
    }

    /// The rules of the repository the thread started with.
    pub fn rule_names(&self) -> &[String] {
        &self.rule_names
    }

    pub fn handle(&self) -> RulesHandle {
        self.handle
            .clone()
            .expect("the handle lives as long as the worker")
    }
}

impl Drop for RulesWorker {
    fn drop(&mut self) {
        self.handle.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The repository the rules thread serves and how it was loaded (to fall back to it).
struct Loaded {
    engine: Option<RulesEngine>,
    layout: RepositoryLayout,
    options: EngineOptions,
    plugs: Plugs,
}

const NOT_LOADED: &str =
    "no repository is loaded (a reload failed and the previous one did not load again)";

fn serve(mut loaded: Loaded, requests: &Receiver<Request>) {
    while let Ok(request) = requests.recv() {
        match request {
            Request::Evaluate(batch, reply) => {
                let outcome = match loaded.engine.as_mut() {
                    Some(engine) => engine.run(batch),
                    None => Err(NOT_LOADED.to_owned()),
                };
                reply(outcome);
            }
            Request::Plug(plugs) => {
                loaded.plugs = *plugs;
                if let Some(engine) = loaded.engine.as_mut() {
                    loaded.plugs.apply(engine);
                }
            }
            Request::Compose(alert, outputs, reply) => {
                let publications = match loaded.engine.as_ref() {
                    Some(engine) => Ok(outputs
                        .iter()
                        .map(|output| engine.compose(&alert, output))
                        .collect()),
                    None => Err(NOT_LOADED.to_owned()),
                };
                reply(publications);
            }
            Request::Reload(repository, reply) => {
                let (layout, options) = *repository;
                // One registry per interpreter: the old repository goes before the new one loads.
                drop(loaded.engine.take());
                match RulesEngine::load(&layout, &options) {
                    Ok(mut engine) => {
                        let rules = rule_names(&engine);
                        loaded.plugs.apply(&mut engine);
                        loaded.engine = Some(engine);
                        loaded.layout = layout;
                        loaded.options = options;
                        reply(Ok(rules));
                    }
                    Err(error) => {
                        // Keep serving the previous version rather than nothing.
                        loaded.engine = RulesEngine::load(&loaded.layout, &loaded.options).ok();
                        if let Some(engine) = loaded.engine.as_mut() {
                            loaded.plugs.apply(engine);
                        }
                        reply(Err(error));
                    }
                }
            }
        }
    }
}

fn rule_names(engine: &RulesEngine) -> Vec<String> {
    engine
        .rules()
        .iter()
        .map(|rule| rule.name.clone())
        .collect()
}
