//! The rules thread: the one thread that holds the loaded repository and runs Python. Other
//! threads send it batches through a [`RulesHandle`] and get alerts back. Everything it
//! answers fails with a [`RulesError`].

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

use sa_engine::ClassifiedRecord;
use serde_json::Value;

use std::sync::Arc;

use crate::alert::Alert;
use crate::engine::{BatchOutcome, EngineOptions, RuleTable, RulesEngine};
use crate::error::RulesError;
use crate::evaluation::Evaluation;
use crate::repository::RepositoryLayout;
use crate::threat_intel::{IocStore, ThreatIntelConfig};

type Reply<T> = Box<dyn FnOnce(Result<T, RulesError>) + Send>;

enum Request {
    Evaluate(Arc<Vec<ClassifiedRecord>>, Reply<Evaluation>),
    Reload(Box<(RepositoryLayout, EngineOptions)>, Reply<Vec<String>>),
    Plug(Box<Plugs>),
    Compose(Box<Alert>, Vec<String>, Reply<Vec<Publication>>),
}

/// One output's publication (docs/spec §13.3), or why its publishers could not compose it.
pub type Publication = Result<Value, RulesError>;

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
    /// queue is full (backpressure). Fails only with [`RulesError::WorkerGone`] (and `reply` is
    /// then dropped unrun); `reply` gets the other errors.
    pub fn submit(
        &self,
        batch: Arc<Vec<ClassifiedRecord>>,
        reply: impl FnOnce(Result<Evaluation, RulesError>) + Send + 'static,
    ) -> Result<(), RulesError> {
        self.send(Request::Evaluate(batch, Box::new(reply)))
    }

    /// Evaluates `batch` and waits for the outcome.
    pub fn evaluate(&self, batch: Vec<ClassifiedRecord>) -> Result<BatchOutcome, RulesError> {
        self.ask(|reply| Request::Evaluate(Arc::new(batch), reply))?
            .into_outcome()
    }

    /// Replaces the loaded repository (a new config version) and returns its rule names. On
    /// failure ([`RulesError::Load`]) the previous version is loaded again and keeps serving.
    pub fn reload(
        &self,
        layout: RepositoryLayout,
        options: EngineOptions,
    ) -> Result<Vec<String>, RulesError> {
        self.ask(|reply| Request::Reload(Box::new((layout, options)), reply))
    }

    /// Plugs the rule table and threat intel into the loaded repository and every later one.
    pub fn plug(&self, plugs: Plugs) -> Result<(), RulesError> {
        self.send(Request::Plug(Box::new(plugs)))
    }

    /// The publications of `alert` for each of `outputs` (`service:descriptor`), composed by
    /// the repository's publishers as the alert processor does (docs/spec §13.3): per output,
    /// in order, the publication or the publisher's error.
    pub fn compose(
        &self,
        alert: Alert,
        outputs: Vec<String>,
    ) -> Result<Vec<Publication>, RulesError> {
        self.ask(|reply| Request::Compose(Box::new(alert), outputs, reply))
    }

    fn send(&self, request: Request) -> Result<(), RulesError> {
        self.sender
            .send(request)
            .map_err(|_| RulesError::WorkerGone)
    }

    /// Sends the request `with` builds around a reply and waits for the answer.
    fn ask<T: Send + 'static>(
        &self,
        with: impl FnOnce(Reply<T>) -> Request,
    ) -> Result<T, RulesError> {
        let (sender, receiver) = mpsc::sync_channel(1);
        self.send(with(Box::new(move |answer| {
            let _ = sender.send(answer);
        })))?;
        // Dropped unanswered: the thread died with the request.
        receiver.recv().unwrap_or(Err(RulesError::WorkerGone))
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
    ) -> Result<Self, RulesError> {
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
            .map_err(|e| RulesError::ThreadStart(e.to_string()))?;
        match loaded_receiver.recv() {
            Ok(Ok(rule_names)) => Ok(RulesWorker {
                handle: Some(RulesHandle { sender }),
                thread: Some(thread),
                rule_names,
            }),
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(RulesError::Load(error))
            }
            Err(_) => Err(RulesError::StoppedWhileLoading),
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

fn serve(mut loaded: Loaded, requests: &Receiver<Request>) {
    while let Ok(request) = requests.recv() {
        match request {
            Request::Evaluate(batch, reply) => {
                let outcome = match loaded.engine.as_mut() {
                    Some(engine) => engine.run(batch),
                    None => Err(RulesError::NotLoaded),
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
                    None => Err(RulesError::NotLoaded),
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
                        reply(Err(RulesError::Load(error)));
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
