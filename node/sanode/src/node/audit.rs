//! The audit trail of calls that change the cluster (docs/security.md, "Audit log"): which gRPC
//! methods are audited, and the layer that commits each call's entry in the same Raft command
//! as its change (sa-raft's rider), or on its own for a call that changed nothing through a
//! command (membership) or failed.

use std::cell::RefCell;
use std::task::{Context, Poll};

use futures::future::{BoxFuture, Either};
use sa_state::{AuditEntry, AuditLog};
use tower::{Layer, Service};

use super::tls_listener::Peer;

/// Every audited method, what the trail calls it, and whether a failed call is recorded too
/// (not for the one anyone may call: a flood of forged join tokens must not become a flood of
/// Raft writes).
pub const AUDITED: &[(&str, &str, bool)] = &[
    ("/sa.admin.v1.Admin/PushConfig", "config push", true),
    (
        "/sa.admin.v1.Admin/PutLookupValues",
        "lookup-tables put",
        true,
    ),
    ("/sa.admin.v1.Admin/ChangeRules", "rules change", true),
    ("/sa.alerts.v1.Alerts/ResendAlert", "alerts resend", true),
    (
        "/sa.alerts.v1.Alerts/ReplayDeadLetters",
        "dead-letters replay",
        true,
    ),
    ("/sa.alerts.v1.Alerts/SetOutput", "outputs set", true),
    ("/sa.alerts.v1.Alerts/RotateSecrets", "secrets rotate", true),
    ("/sa.cluster.v1.Cluster/RemoveNode", "remove-node", true),
    (
        "/sa.cluster.v1.Cluster/CreateJoinToken",
        "join-token create",
        true,
    ),
    (
        "/sa.cluster.v1.Cluster/JoinWithToken",
        "node joined with a token",
        false,
    ),
    ("/sa.cluster.v1.Cluster/CreateToken", "tokens create", true),
    ("/sa.cluster.v1.Cluster/RevokeToken", "tokens revoke", true),
    (
        "/sa.cluster.v1.Cluster/RevokeCertificate",
        "certs revoke",
        true,
    ),
];

tokio::task_local! {
    static NOTE: RefCell<String>;
}

/// Says what an audited call is about (`webhook:soc (url)`, `rule x: disable`), for its entry.
/// Names and counts only: never a secret value. Call it before the call's first write.
pub fn note(summary: impl Into<String>) {
    let _ = NOTE.try_with(|note| *note.borrow_mut() = summary.into());
}

#[derive(Clone)]
pub struct GrpcAudit {
    pub log: AuditLog,
    pub node: u64,
}

impl<S> Layer<S> for GrpcAudit {
    type Service = Audited<S>;

    fn layer(&self, inner: S) -> Audited<S> {
        Audited {
            inner,
            audit: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Audited<S> {
    inner: S,
    audit: GrpcAudit,
}

type GrpcResponse = http::Response<tonic::body::Body>;

impl<S, B> Service<http::Request<B>> for Audited<S>
where
    S: Service<http::Request<B>, Response = GrpcResponse>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
{
    type Response = GrpcResponse;
    type Error = S::Error;
    type Future = Either<S::Future, BoxFuture<'static, Result<GrpcResponse, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        let Some(&(_, action, record_failures)) = AUDITED.iter().find(|(m, ..)| *m == path) else {
            return Either::Left(self.inner.call(request));
        };
        let peer = request.extensions().get::<Peer>().cloned();
        let identity = peer.as_ref().and_then(|peer| peer.identity.clone());
        let entry = AuditEntry {
            who: identity
                .as_ref()
                .map_or_else(|| "anonymous".to_string(), |i| i.subject.clone()),
            role: identity
                .as_ref()
                .map_or_else(String::new, |i| i.role.to_string()),
            from: peer.map(|p| p.addr.to_string()).unwrap_or_default(),
            action: action.to_string(),
            summary: String::new(),
            result: "ok".to_string(),
            at: sa_rules::Clock::System.now(),
            node: self.audit.node,
        };
        let log = self.audit.log.clone();
        let call = self.inner.call(request);
        Either::Right(Box::pin(NOTE.scope(RefCell::new(String::new()), async move {
            let (key, rider_entry) = (log.key(&entry), entry.clone());
            let make = move || {
                let summary = NOTE.try_with(|note| note.borrow().clone()).unwrap_or_default();
                vec![AuditLog::op(
                    &key,
                    &AuditEntry {
                        summary,
                        ..rider_entry.clone()
                    },
                )]
            };
            let (response, applied) = sa_raft::with_rider(make, call).await;
            let failure = match &response {
                Ok(response) => tonic::Status::from_header_map(response.headers())
                    .filter(|status| status.code() != tonic::Code::Ok)
                    .map(|status| format!("{:?}: {}", status.code(), status.message())),
                Err(_) => Some("the call failed in transport".to_string()),
            };
            let result = match (applied, failure) {
                (true, None) => None,
                (false, None) => Some("ok".to_string()),
                (applied, Some(failure)) if applied || record_failures => Some(failure),
                (_, Some(_)) => None,
            };
            if let Some(result) = result {
                let summary = NOTE.with(|note| note.borrow().clone());
                let alone = AuditEntry {
                    summary,
                    result,
                    at: sa_rules::Clock::System.now(),
                    ..entry
                };
                if let Err(e) = log.append(&log.key(&alone), &alone).await {
                    tracing::warn!(action = alone.action, error = %format!("{e:#}"), "audit entry not stored");
                }
            }
            response
        })))
    }
}
