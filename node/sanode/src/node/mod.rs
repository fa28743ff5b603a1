//! `sanode`: one peer of an sa cluster.

mod access;
mod admin;
mod alert_runtime;
pub(crate) mod alerts_service;
mod args;
mod audit;
mod bundle_check;
mod config_watch;
mod context;
mod enrollment;
mod grpc;
mod health;
mod http;
mod identity;
mod membership;
mod request_metrics;
mod rule_promotion;
mod run;
mod service_error;
mod summary;
mod systemd;
mod tls_listener;
mod tokens;
mod transport;

pub(crate) use access::check_grpc_source;
pub use access::{GRPC_METHODS, HTTP_ROUTES};
pub use args::NodeArgs;
pub use context::NodeContext;
pub use identity::NodeIdentity;
pub use run::run;
pub use service_error::ServiceError;
