//! `sanode`: one peer of an sa cluster.

mod args;
mod grpc;
mod http;
mod identity;
mod membership;
mod metrics;
mod run;

pub use args::NodeArgs;
pub use identity::NodeIdentity;
pub use run::run;
