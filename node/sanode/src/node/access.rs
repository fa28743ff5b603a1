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
use super::tokens::{self, BearerToken};
use sa_state::keys::config::TokenKind;
use sa_state::{Revocations, Tokens};

/// Every gRPC method and the roles that may call it (any one of them suffices; `admin` also
/// holds `operator`, `viewer` and `ingest`, see [`Role::grants`]); `None`: anyone.
pub const GRPC_METHODS: &[(&str, Option<&[Role]>)] = &[
    ("/sa.raft.v1.Raft/AppendEntries", Some(&[Role::Node])),
    ("/sa.raft.v1.Raft/Vote", Some(&[Role::Node])),
    ("/sa.raft.v1.Raft/InstallSnapshot", Some(&[Role::Node])),
    ("/sa.raft.v1.Raft/Write", Some(&[Role::Node])),
    ("/sa.raft.v1.Raft/Join", Some(&[Role::Node])),
    ("/sa.raft.v1.Raft/Remove", Some(&[Role::Node])),
    // Peers probe each other's liveness with it.
    (
        "/sa.cluster.v1.Cluster/Status",
        Some(&[Role::Viewer, Role::Node]),
    ),
    ("/sa.cluster.v1.Cluster/RemoveNode", Some(&[Role::Admin])),
    ("/sa.cluster.v1.Cluster/ShareDataKey", Some(&[Role::Node])),
    (
        "/sa.cluster.v1.Cluster/CreateJoinToken",
        Some(&[Role::Admin]),
    ),
    // A joining node has no certificate yet: its join token is the credential.
    ("/sa.cluster.v1.Cluster/JoinWithToken", None),
    ("/sa.cluster.v1.Cluster/CreateToken", Some(&[Role::Admin])),
    ("/sa.cluster.v1.Cluster/RevokeToken", Some(&[Role::Admin])),
    (
        "/sa.cluster.v1.Cluster/RevokeCertificate",
        Some(&[Role::Admin]),
    ),
    ("/sa.admin.v1.Admin/PushConfig", Some(&[Role::Admin])),
    ("/sa.admin.v1.Admin/GetConfig", Some(&[Role::Viewer])),
    ("/sa.admin.v1.Admin/ListLookupTables", Some(&[Role::Viewer])),
    ("/sa.admin.v1.Admin/GetLookupValue", Some(&[Role::Viewer])),
    (
        "/sa.admin.v1.Admin/PutLookupValues",
        Some(&[Role::Operator]),
    ),
    ("/sa.admin.v1.Admin/ListRules", Some(&[Role::Viewer])),
    ("/sa.admin.v1.Admin/ChangeRules", Some(&[Role::Operator])),
    ("/sa.admin.v1.Admin/ListAudit", Some(&[Role::Admin])),
    ("/sa.alerts.v1.Alerts/ListAlerts", Some(&[Role::Viewer])),
    ("/sa.alerts.v1.Alerts/ShowAlert", Some(&[Role::Viewer])),
    ("/sa.alerts.v1.Alerts/ResendAlert", Some(&[Role::Operator])),
    (
        "/sa.alerts.v1.Alerts/ListDeadLetters",
        Some(&[Role::Viewer]),
    ),
    (
        "/sa.alerts.v1.Alerts/ReplayDeadLetters",
        Some(&[Role::Operator]),
    ),
    ("/sa.alerts.v1.Alerts/ListOutputs", Some(&[Role::Viewer])),
    ("/sa.alerts.v1.Alerts/SetOutput", Some(&[Role::Admin])),
    ("/sa.alerts.v1.Alerts/TestOutput", Some(&[Role::Admin])),
    ("/sa.alerts.v1.Alerts/RotateSecrets", Some(&[Role::Admin])),
    // The source is in the request: the Ingest service checks it (Identity::may_ingest).
    ("/sa.ingest.v1.Ingest/Put", Some(&[Role::Ingest])),
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
        Some((_, Some(roles))) => check(path, roles, identity),
        Some((_, None)) => Ok(()),
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

/// Who calls: the identity a client certificate proved, unless its serial is on the deny list
/// (docs/security.md, "Revocation"), or else the one a bearer token proves (`sactl tokens
/// create`), sent as `Authorization: Bearer sat1...` over HTTP or `authorization` metadata over
/// gRPC. A certificate wins when both are present.
#[derive(Clone)]
pub struct Callers {
    pub tokens: Tokens,
    pub revocations: Revocations,
}

impl Callers {
    /// The caller's identity (`None`: anonymous), or why the credentials it presented are
    /// refused.
    pub fn identify(
        &self,
        certificate: Option<&Arc<Identity>>,
        authorization: Option<&str>,
    ) -> Result<Option<Arc<Identity>>, String> {
        if let Some(identity) = certificate {
            return match self.revocations.is_revoked(&identity.serial) {
                Ok(false) => Ok(Some(identity.clone())),
                Ok(true) => Err(format!(
                    "permission denied: certificate {} ({:?}) is revoked",
                    identity.serial, identity.subject
                )),
                Err(e) => Err(format!(
                    "permission denied: cannot read the revocation list: {e:#}"
                )),
            };
        }
        authorization
            .map(|value| self.bearer(value).map(Arc::new))
            .transpose()
    }

    fn bearer(&self, authorization: &str) -> Result<Identity, String> {
        let refused = |why: &str| format!("permission denied: bearer token refused: {why}");
        let value = authorization.trim();
        let token = value
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
            .and_then(|_| BearerToken::parse(&value[7..]))
            .ok_or_else(|| refused("not `Bearer sat1.<id>.<secret>`"))?;
        let stored = self
            .tokens
            .check(TokenKind::Bearer, &token.id, &tokens::digest(&token.secret))
            .map_err(|e| refused(&format!("cannot read the token store: {e:#}")))?
            .map_err(|refusal| format!("permission denied: {refusal}"))?;
        let role = stored
            .role
            .as_deref()
            .unwrap_or_default()
            .parse::<Role>()
            .map_err(|e| refused(&e.to_string()))?;
        Ok(Identity {
            subject: format!("token {}", token.id),
            role,
            sources: stored.sources,
            serial: token.id,
            not_after: i64::try_from(stored.expires_ms / 1000).unwrap_or(i64::MAX),
        })
    }
}

/// The caller of a gRPC request, as the connection's certificate proved it.
pub fn caller<T>(request: &tonic::Request<T>) -> Option<Arc<Identity>> {
    request
        .extensions()
        .get::<Peer>()
        .and_then(|peer| peer.identity.clone())
}

/// Who calls, for logs and records: a certificate's subject, `token ID`, or `anonymous`.
pub fn caller_name<T>(request: &tonic::Request<T>) -> String {
    caller(request).map_or_else(|| "anonymous".to_string(), |c| c.subject.clone())
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
    pub callers: Callers,
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
        let peer = request.extensions().get::<Peer>().cloned();
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .map(|value| value.to_str().unwrap_or_default().to_string());
        let certificate = peer.as_ref().and_then(|peer| peer.identity.as_ref());
        let identity = match self
            .access
            .callers
            .identify(certificate, authorization.as_deref())
        {
            Ok(identity) => identity,
            Err(refusal) => {
                self.access
                    .denied
                    .with_label_values(&[request.uri().path()])
                    .inc();
                let status = tonic::Status::unauthenticated(refusal);
                return Either::Right(ready(Ok(status.into_http())));
            }
        };
        if let Some(peer) = peer.filter(|peer| peer.identity.is_none()) {
            // What the services read the caller from (`caller`): the token's identity.
            request.extensions_mut().insert(Peer {
                addr: peer.addr,
                identity: identity.clone(),
            });
        }
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
    callers: Callers,
    ConnectInfo(peer): ConnectInfo<Peer>,
    route: Option<MatchedPath>,
    request: Request,
    next: Next,
) -> Response {
    if enforcement == Enforcement::Open {
        return next.run(request).await;
    }
    let authorization = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .map(|value| value.to_str().unwrap_or_default().to_string());
    let identity = match callers.identify(peer.identity.as_ref(), authorization.as_deref()) {
        Ok(identity) => identity,
        Err(refusal) => {
            let label = route.as_ref().map_or("unmatched", |r| r.as_str());
            denied.with_label_values(&[label]).inc();
            return (http::StatusCode::UNAUTHORIZED, format!("{refusal}\n")).into_response();
        }
    };
    let identity = identity.as_deref();
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
