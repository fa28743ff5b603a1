//! What the node's services answer when they cannot do what was asked, mapped once to gRPC
//! status codes and HTTP responses so both servers say the same thing the same way.

use axum::Json;
use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ServiceError {
    /// The request itself is wrong: sending it again as is cannot help.
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    NotFound(String),
    /// The request is larger than the node takes: split it.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The cluster is not in a state that allows it (removing the last voter, ...).
    #[error("{0}")]
    FailedPrecondition(String),
    /// The node cannot do it now (no Raft quorum, the rules thread restarting): retry later.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
    /// The node holds as much as it takes: the same request succeeds later.
    #[error("{reason}")]
    Overloaded {
        reason: String,
        retry_after_seconds: u64,
    },
}

impl ServiceError {
    /// A failure of the node's own machinery, with its causes.
    pub fn internal(e: anyhow::Error) -> ServiceError {
        ServiceError::Internal(format!("{e:#}"))
    }

    /// A failure that passes (no leader, a replica not ready), with its causes.
    pub fn unavailable(e: anyhow::Error) -> ServiceError {
        ServiceError::Unavailable(format!("{e:#}"))
    }
}

impl From<ServiceError> for tonic::Status {
    fn from(e: ServiceError) -> tonic::Status {
        match e {
            ServiceError::InvalidArgument(m) => tonic::Status::invalid_argument(m),
            ServiceError::NotFound(m) => tonic::Status::not_found(m),
            ServiceError::PayloadTooLarge(m) => tonic::Status::out_of_range(m),
            ServiceError::FailedPrecondition(m) => tonic::Status::failed_precondition(m),
            ServiceError::Unavailable(m) => tonic::Status::unavailable(m),
            ServiceError::Internal(m) => tonic::Status::internal(m),
            ServiceError::Overloaded { reason, .. } => tonic::Status::resource_exhausted(reason),
        }
    }
}

impl IntoResponse for ServiceError {
    fn into_response(self) -> Response {
        let status = match &self {
            ServiceError::InvalidArgument(_) => StatusCode::BAD_REQUEST,
            ServiceError::NotFound(_) => StatusCode::NOT_FOUND,
            ServiceError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ServiceError::FailedPrecondition(_) => StatusCode::CONFLICT,
            ServiceError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ServiceError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ServiceError::Overloaded {
                retry_after_seconds,
                ..
            } => {
                let retry_after = [(RETRY_AFTER, retry_after_seconds.to_string())];
                let body = Json(json!({ "error": self.to_string() }));
                return (StatusCode::SERVICE_UNAVAILABLE, retry_after, body).into_response();
            }
        };
        (status, Json(json!({ "error": self.to_string() }))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_and_http_agree() {
        let cases = [
            (
                ServiceError::InvalidArgument("a".into()),
                tonic::Code::InvalidArgument,
                400,
            ),
            (
                ServiceError::NotFound("a".into()),
                tonic::Code::NotFound,
                404,
            ),
            (
                ServiceError::FailedPrecondition("a".into()),
                tonic::Code::FailedPrecondition,
                409,
            ),
            (
                ServiceError::Unavailable("a".into()),
                tonic::Code::Unavailable,
                503,
            ),
            (
                ServiceError::Internal("a".into()),
                tonic::Code::Internal,
                500,
            ),
            (
                ServiceError::Overloaded {
                    reason: "a".into(),
                    retry_after_seconds: 2,
                },
                tonic::Code::ResourceExhausted,
                503,
            ),
        ];
        for (error, code, http) in cases {
            let again = error.clone();
            let status = tonic::Status::from(error);
            assert_eq!(status.code(), code);
            assert_eq!(status.message(), "a");
            let overloaded = matches!(again, ServiceError::Overloaded { .. });
            let response = again.into_response();
            assert_eq!(response.status().as_u16(), http);
            let retry_after = response.headers().get(RETRY_AFTER);
            assert_eq!(retry_after.is_some(), overloaded, "{retry_after:?}");
        }
    }
}
