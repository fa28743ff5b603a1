//! Who may call what: one table for every gRPC method and HTTP route (docs/security.md), and
//! the layers that enforce it from the identity a connection's certificate proved.

use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::future::{Either, Ready, ready};
use prometheus::IntCounterVec;
use sa_tls::{Identity, Role};
use tower::{Layer, Service};

use super::tls_listener::Peer;

/// Every gRPC method and the roles that may call it (any one of them suffices; `admin` also
/// holds `operator`, `viewer` and `ingest`, see [`Role::grants`]).
pub const GRPC_METHODS: &[(&str, &[Role])] = &[
    ("/sa.raft.v1.Raft/AppendEntries", &[Role::Node]),
    ("/sa.raft.v1.Raft/Vote", &[Role::Node]),
    ("/sa.raft.v1.Raft/InstallSnapshot", &[Role::Node]),
    ("/sa.raft.v1.Raft/Write", &[Role::Node]),
    ("/sa.raft.v1.Raft/Join", &[Role::Node]),
    ("/sa.raft.v1.Raft/Remove", &[Role::Node]),
    // Peers probe each other's liveness with it.
    ("/sa.cluster.v1.Cluster/Status", &[Role::Viewer, Role::Node]),
    ("/sa.cluster.v1.Cluster/RemoveNode", &[Role::Admin]),
    ("/sa.cluster.v1.Cluster/ShareDataKey", &[Role::Node]),
    ("/sa.admin.v1.Admin/PushConfig", &[Role::Admin]),
    ("/sa.admin.v1.Admin/GetConfig", &[Role::Viewer]),
    ("/sa.admin.v1.Admin/ListLookupTables", &[Role::Viewer]),
    ("/sa.admin.v1.Admin/GetLookupValue", &[Role::Viewer]),
    ("/sa.admin.v1.Admin/PutLookupValues", &[Role::Operator]),
    ("/sa.admin.v1.Admin/ListRules", &[Role::Viewer]),
    ("/sa.admin.v1.Admin/ChangeRules", &[Role::Operator]),
    ("/sa.alerts.v1.Alerts/ListAlerts", &[Role::Viewer]),
    ("/sa.alerts.v1.Alerts/ShowAlert", &[Role::Viewer]),
    ("/sa.alerts.v1.Alerts/ResendAlert", &[Role::Operator]),
    ("/sa.alerts.v1.Alerts/ListDeadLetters", &[Role::Viewer]),
    ("/sa.alerts.v1.Alerts/ReplayDeadLetters", &[Role::Operator]),
    ("/sa.alerts.v1.Alerts/ListOutputs", &[Role::Viewer]),
    ("/sa.alerts.v1.Alerts/SetOutput", &[Role::Admin]),
    ("/sa.alerts.v1.Alerts/TestOutput", &[Role::Admin]),
    ("/sa.alerts.v1.Alerts/RotateSecrets", &[Role::Admin]),
    // The source is in the request: the Ingest service checks it (Identity::may_ingest).
    ("/sa.ingest.v1.Ingest/Put", &[Role::Ingest]),
];

/// Every HTTP route and the roles that may call it; `None`: anyone (a load balancer's probe).
pub const HTTP_ROUTES: &[(&str, Option<&[Role]>)] = &[
    ("/healthz", None),
    ("/metrics", Some(&[Role::Viewer])),
    // The source is the last path segment; the caller must be allowed that source.
    ("/v1/ingest/{source}", Some(&[Role::Ingest])),
];

/// Whether calls are checked: not on a node started with `--insecure`, which has no
/// identities to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforcement {
    Open,
    Enforced,
}

/// Why a call is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// No client certificate (or token) at all.
    Anonymous { what: String, needs: String },
    /// An identity whose role does not suffice.
    Role {
        what: String,
        needs: String,
        who: String,
        role: Role,
    },
    /// A method or route missing from the table: refused, so a new RPC is never open by
    /// accident.
    Unlisted { what: String },
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Denial::Anonymous { what, needs } => write!(
                f,
                "permission denied: {what} needs role {needs}, and the caller presented no \
                 client certificate"
            ),
            Denial::Role {
                what,
                needs,
                who,
                role,
            } => write!(
                f,
                "permission denied: {what} needs role {needs}; {who:?} has role {role}"
            ),
            Denial::Unlisted { what } => {
                write!(f, "permission denied: {what} is in no access table")
            }
        }
    }
}

fn needs_text(roles: &[Role]) -> String {
    roles
        .iter()
        .map(|role| role.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Whether `identity` may call something open to `roles`.
pub fn check(what: &str, roles: &[Role], identity: Option<&Identity>) -> Result<(), Denial> {
    let needs = needs_text(roles);
    let Some(identity) = identity else {
        return Err(Denial::Anonymous {
            what: what.to_string(),
            needs,
        });
    };
    if roles.iter().any(|needed| identity.role.grants(*needed)) {
        Ok(())
    } else {
        Err(Denial::Role {
            what: what.to_string(),
            needs,
            who: identity.subject.clone(),
            role: identity.role,
        })
    }
}

/// What a gRPC call at `path` may do for `identity`.
pub fn check_grpc(path: &str, identity: Option<&Identity>) -> Result<(), Denial> {
    match GRPC_METHODS.iter().find(|(method, _)| *method == path) {
        Some((_, roles)) => check(path, roles, identity),
        None => Err(Denial::Unlisted {
            what: path.to_string(),
        }),
    }
}

/// Whether `identity` may post records to `source`, which the role check alone cannot tell.
pub fn check_source(source: &str, identity: Option<&Identity>) -> Result<(), Denial> {
    let what = format!("ingest to source {source:?}");
    match identity {
        Some(identity) if identity.may_ingest(source) => Ok(()),
        Some(identity) => Err(Denial::Role {
            what,
            needs: format!("ingest for source {source}"),
            who: identity.subject.clone(),
            role: identity.role,
        }),
        None => Err(Denial::Anonymous {
            what,
            needs: format!("ingest for source {source}"),
        }),
    }
}

/// The caller of a gRPC request, as the connection's certificate proved it.
pub fn caller<T>(request: &tonic::Request<T>) -> Option<Arc<Identity>> {
    request
        .extensions()
        .get::<Peer>()
        .and_then(|peer| peer.identity.clone())
}

/// Whether the caller of an Ingest request may post to `source` (the layer checked the role,
/// and cannot see the source inside the message).
pub fn check_grpc_source<T>(
    request: &tonic::Request<T>,
    source: &str,
) -> Result<(), tonic::Status> {
    if request.extensions().get::<Enforcement>() != Some(&Enforcement::Enforced) {
        return Ok(());
    }
    check_source(source, caller(request).as_deref())
        .map_err(|denial| tonic::Status::permission_denied(denial.to_string()))
}

/// The gRPC side: refuses a call before it reaches its service.
#[derive(Clone)]
pub struct GrpcAccess {
    pub enforcement: Enforcement,
    pub denied: IntCounterVec,
}

impl<S> Layer<S> for GrpcAccess {
    type Service = GrpcChecked<S>;

    fn layer(&self, inner: S) -> GrpcChecked<S> {
        GrpcChecked {
            inner,
            access: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct GrpcChecked<S> {
    inner: S,
    access: GrpcAccess,
}

type GrpcResponse = http::Response<tonic::body::Body>;

impl<S, B> Service<http::Request<B>> for GrpcChecked<S>
where
    S: Service<http::Request<B>, Response = GrpcResponse>,
{
    type Response = GrpcResponse;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<GrpcResponse, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        request.extensions_mut().insert(self.access.enforcement);
        if self.access.enforcement == Enforcement::Open {
            return Either::Left(self.inner.call(request));
        }
        let identity = request
            .extensions()
            .get::<Peer>()
            .and_then(|peer| peer.identity.clone());
        match check_grpc(request.uri().path(), identity.as_deref()) {
            Ok(()) => Either::Left(self.inner.call(request)),
            Err(denial) => {
                self.access
                    .denied
                    .with_label_values(&[request.uri().path()])
                    .inc();
                let status = match denial {
                    Denial::Anonymous { .. } => tonic::Status::unauthenticated(denial.to_string()),
                    _ => tonic::Status::permission_denied(denial.to_string()),
                };
                Either::Right(ready(Ok(status.into_http())))
            }
        }
    }
}

/// The HTTP side, as a route layer (it sees the matched route).
pub async fn http_access(
    enforcement: Enforcement,
    denied: IntCounterVec,
    ConnectInfo(peer): ConnectInfo<Peer>,
    route: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    if enforcement == Enforcement::Open {
        return next.run(request).await;
    }
    let identity = peer.identity.as_deref();
    let path = request.uri().path().to_string();
    let verdict = match route
        .as_ref()
        .and_then(|route| HTTP_ROUTES.iter().find(|(r, _)| *r == route.as_str()))
    {
        None => Err(Denial::Unlisted { what: path.clone() }),
        Some((_, None)) => Ok(()),
        Some((route, Some(roles))) => {
            check(&format!("{} {path}", request.method()), roles, identity).and_then(|()| {
                match route.strip_suffix("{source}") {
                    Some(prefix) => check_source(path.strip_prefix(prefix).unwrap_or(""), identity),
                    None => Ok(()),
                }
            })
        }
    };
    match verdict {
        Ok(()) => next.run(request).await,
        Err(denial) => {
            tracing::info!(addr = %peer.addr, %denial, "refused an HTTP request");
            let label = route.as_ref().map_or("unmatched", |r| r.as_str());
            denied.with_label_values(&[label]).inc();
            let status = match denial {
                Denial::Anonymous { .. } => http::StatusCode::UNAUTHORIZED,
                _ => http::StatusCode::FORBIDDEN,
            };
            (status, format!("{denial}\n")).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(role: Role, sources: &[&str]) -> Identity {
        Identity {
            subject: "someone".into(),
            role,
            sources: sources.iter().map(|s| s.to_string()).collect(),
            serial: "01".into(),
            not_after: i64::MAX,
        }
    }

    #[test]
    fn only_nodes_call_raft_and_only_admins_push_config() {
        let node = identity(Role::Node, &[]);
        let admin = identity(Role::Admin, &[]);
        assert!(check_grpc("/sa.raft.v1.Raft/AppendEntries", Some(&node)).is_ok());
        let denial = check_grpc("/sa.raft.v1.Raft/AppendEntries", Some(&admin)).unwrap_err();
        assert!(denial.to_string().contains("permission denied"), "{denial}");
        assert!(denial.to_string().contains("needs role node"), "{denial}");
        assert!(check_grpc("/sa.admin.v1.Admin/PushConfig", Some(&admin)).is_ok());
        assert!(check_grpc("/sa.admin.v1.Admin/PushConfig", Some(&node)).is_err());
        assert!(check_grpc("/sa.admin.v1.Admin/PushConfig", None).is_err());
        assert!(check_grpc("/sa.admin.v1.Admin/Unknown", Some(&admin)).is_err());
    }

    /// Every `rpc` of every service in proto/: a new RPC must get a line in the table.
    #[test]
    fn every_rpc_of_the_protos_is_in_the_table() {
        let protos = [
            include_str!("../../../../proto/proto/admin.proto"),
            include_str!("../../../../proto/proto/alerts.proto"),
            include_str!("../../../../proto/proto/cluster.proto"),
            include_str!("../../../../proto/proto/ingest.proto"),
            include_str!("../../../../proto/proto/raft.proto"),
        ];
        let mut methods = Vec::new();
        for proto in protos {
            let package = proto
                .lines()
                .find_map(|line| line.strip_prefix("package "))
                .unwrap()
                .trim_end_matches(';');
            let mut service = "";
            for line in proto.lines().map(str::trim) {
                if let Some(name) = line.strip_prefix("service ") {
                    service = name.trim_end_matches(" {");
                } else if let Some(rpc) = line.strip_prefix("rpc ") {
                    let name = rpc.split('(').next().unwrap();
                    methods.push(format!("/{package}.{service}/{name}"));
                }
            }
        }
        let listed: Vec<&str> = GRPC_METHODS.iter().map(|(path, _)| *path).collect();
        for method in &methods {
            assert!(
                listed.contains(&method.as_str()),
                "{method} is not in GRPC_METHODS"
            );
        }
        assert_eq!(
            methods.len(),
            listed.len(),
            "the table lists RPCs no proto has"
        );
    }

    #[test]
    fn ingest_identities_post_only_to_their_sources() {
        let shipper = identity(Role::Ingest, &["okta"]);
        assert!(check_source("okta", Some(&shipper)).is_ok());
        let denial = check_source("cloudtrail", Some(&shipper)).unwrap_err();
        assert!(
            denial
                .to_string()
                .contains("needs role ingest for source cloudtrail")
        );
        assert!(check_source("cloudtrail", Some(&identity(Role::Admin, &[]))).is_ok());
        assert!(check_source("okta", Some(&identity(Role::Operator, &[]))).is_err());
    }
}
