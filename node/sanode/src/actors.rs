//! The actix system the node's actors live in: the pipeline's classifier, rules and commit
//! actors, and the leader's merger. The node itself runs on a multi-threaded tokio runtime;
//! actix wants its own single-threaded arbiters, so the system gets a thread of its own, and the
//! rules and commit actors one arbiter (thread) each, so that the rules thread's imports on a
//! reload never hold up commits. A leader's merger gets an arbiter for each term.

use std::sync::mpsc;
use std::thread::JoinHandle;

use actix_rt::{Arbiter, ArbiterHandle, System};
use anyhow::Context;

pub struct ActorSystem {
    handle: ActorSystemHandle,
    thread: Option<JoinHandle<()>>,
    rules: Arbiter,
    commit: Arbiter,
}

/// A way to start more arbiters in the system, for work that comes and goes (a term of office).
#[derive(Clone)]
pub struct ActorSystemHandle {
    system: System,
}

impl ActorSystem {
    pub fn start() -> anyhow::Result<Self> {
        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("sa-actors".to_owned())
            .spawn(move || {
                let runner = System::new();
                let _ = sender.send(System::current());
                if let Err(e) = runner.run() {
                    tracing::error!(error = %e, "the actor system failed");
                }
            })
            .context("cannot start the actor system's thread")?;
        let system = receiver
            .recv()
            .context("the actor system stopped while starting")?;
        let handle = ActorSystemHandle { system };
        let arbiters = handle.run_on(|| (Arbiter::new(), Arbiter::new()));
        let (rules, commit) = match arbiters {
            Ok(arbiters) => arbiters,
            Err(e) => {
                handle.system.stop();
                let _ = thread.join();
                return Err(e);
            }
        };
        Ok(ActorSystem {
            handle,
            thread: Some(thread),
            rules,
            commit,
        })
    }

    pub fn handle(&self) -> ActorSystemHandle {
        self.handle.clone()
    }

    /// Runs `f` on the system's thread (where `SyncArbiter`s must be created) and waits for
    /// its result.
    pub fn run_on<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        self.handle.run_on(f)
    }

    pub fn rules_arbiter(&self) -> ArbiterHandle {
        self.rules.handle()
    }

    pub fn commit_arbiter(&self) -> ArbiterHandle {
        self.commit.handle()
    }
}

impl ActorSystemHandle {
    /// A new arbiter (thread); it runs until [`Arbiter::stop`].
    pub fn new_arbiter(&self) -> anyhow::Result<Arbiter> {
        self.run_on(Arbiter::new)
    }

    fn run_on<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let (sender, receiver) = mpsc::channel();
        self.system.arbiter().spawn_fn(move || {
            let _ = sender.send(f());
        });
        receiver.recv().context("the actor system is stopped")
    }
}

impl Drop for ActorSystem {
    fn drop(&mut self) {
        self.rules.stop();
        self.commit.stop();
        self.handle.system.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
