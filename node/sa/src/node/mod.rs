//! `sanode`: one peer of an sa cluster.

mod admin;
pub(crate) mod alerts_service;
mod args;
mod bundle_check;
mod config_watch;
mod context;
mod grpc;
mod http;
mod identity;
mod ingest;
mod membership;
pub mod metrics;
mod rule_promotion;
mod run;

pub use args::NodeArgs;
pub use context::NodeContext;
pub use identity::NodeIdentity;
pub use run::run;
