//! The actix system the pipeline's actors live in. The node itself runs on a multi-threaded
//! tokio runtime; actix wants its own single-threaded arbiters, so the system gets a thread of
//! its own, and the rules and commit actors one arbiter (thread) each, so that the rules
//! thread's imports on a reload never hold up commits.

use std::sync::mpsc;
use std::thread::JoinHandle;

use actix_rt::{Arbiter, ArbiterHandle, System};
use anyhow::Context;

pub struct ActorSystem {
    system: System,
    thread: Option<JoinHandle<()>>,
    rules: Arbiter,
    commit: Arbiter,
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
        let arbiters = run_on(&system, || (Arbiter::new(), Arbiter::new()));
        let (rules, commit) = match arbiters {
            Ok(arbiters) => arbiters,
            Err(e) => {
                system.stop();
                let _ = thread.join();
                return Err(e);
            }
        };
        Ok(ActorSystem {
            system,
            thread: Some(thread),
            rules,
            commit,
        })
    }

    /// Runs `f` on the system's thread (where `SyncArbiter`s must be created) and waits for
    /// its result.
    pub fn run_on<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        run_on(&self.system, f)
    }

    pub fn rules_arbiter(&self) -> ArbiterHandle {
        self.rules.handle()
    }

    pub fn commit_arbiter(&self) -> ArbiterHandle {
        self.commit.handle()
    }
}

impl Drop for ActorSystem {
    fn drop(&mut self) {
        self.rules.stop();
        self.commit.stop();
        self.system.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run_on<T: Send + 'static>(
    system: &System,
    f: impl FnOnce() -> T + Send + 'static,
) -> anyhow::Result<T> {
    let (sender, receiver) = mpsc::channel();
    system.arbiter().spawn_fn(move || {
        let _ = sender.send(f());
    });
    receiver.recv().context("the actor system is stopped")
}
