//! Request counts for both servers from one tower layer, so every RPC and route is counted,
//! the Alerts service's and Raft's included, without a line in each handler.

use std::task::{Context, Poll};

use axum::extract::MatchedPath;
use prometheus::IntCounterVec;
use tower::{Layer, Service};

/// Counts each request in `counter`, labelled by what `label` makes of it.
#[derive(Clone)]
pub struct CountRequests {
    counter: IntCounterVec,
    label: fn(&http::request::Parts) -> Option<String>,
}

impl CountRequests {
    /// gRPC: `Service/Method` (`/sa.admin.v1.Admin/PushConfig` counts as `Admin/PushConfig`).
    pub fn grpc(counter: IntCounterVec) -> Self {
        CountRequests {
            counter,
            label: grpc_method,
        }
    }

    /// HTTP: the route without its path parameters (`/v1/ingest/{source}` counts as
    /// `/v1/ingest`); requests that match no route are not counted.
    pub fn http(counter: IntCounterVec) -> Self {
        CountRequests {
            counter,
            label: http_route,
        }
    }
}

fn grpc_method(request: &http::request::Parts) -> Option<String> {
    let (service, method) = request.uri.path().trim_start_matches('/').split_once('/')?;
    let service = service.rsplit('.').next().unwrap_or(service);
    Some(format!("{service}/{method}"))
}

fn http_route(request: &http::request::Parts) -> Option<String> {
    let route = request.extensions.get::<MatchedPath>()?.as_str();
    let fixed: Vec<&str> = route
        .split('/')
        .take_while(|segment| !segment.starts_with('{'))
        .collect();
    Some(fixed.join("/"))
}

impl<S> Layer<S> for CountRequests {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            counting: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Counted<S> {
    inner: S,
    counting: CountRequests,
}

impl<S, B> Service<http::Request<B>> for Counted<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let (parts, body) = request.into_parts();
        if let Some(label) = (self.counting.label)(&parts) {
            self.counting.counter.with_label_values(&[&label]).inc();
        }
        self.inner.call(http::Request::from_parts(parts, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(path: &str) -> http::request::Parts {
        http::Request::builder()
            .uri(path)
            .body(())
            .unwrap()
            .into_parts()
            .0
    }

    #[test]
    fn grpc_labels_are_service_and_method() {
        assert_eq!(
            grpc_method(&parts("/sa.admin.v1.Admin/PushConfig")).as_deref(),
            Some("Admin/PushConfig")
        );
        assert_eq!(
            grpc_method(&parts("/sa.raft.v1.Raft/AppendEntries")).as_deref(),
            Some("Raft/AppendEntries")
        );
        assert_eq!(grpc_method(&parts("/")), None);
    }

    #[tokio::test]
    async fn http_labels_drop_path_parameters() {
        use axum::routing::{get, post};
        use tower::ServiceExt;

        let counter = IntCounterVec::new(prometheus::Opts::new("t", "t"), &["route"]).unwrap();
        let router = axum::Router::new()
            .route("/healthz", get(|| async { "ok" }))
            .route("/v1/ingest/{source}", post(|| async { "ok" }))
            .layer(CountRequests::http(counter.clone()));
        for (method, path) in [
            ("GET", "/healthz"),
            ("POST", "/v1/ingest/json"),
            ("GET", "/nowhere"),
        ] {
            let request = http::Request::builder()
                .method(method)
                .uri(path)
                .body(axum::body::Body::empty())
                .unwrap();
            router.clone().oneshot(request).await.unwrap();
        }
        assert_eq!(counter.with_label_values(&["/healthz"]).get(), 1);
        assert_eq!(counter.with_label_values(&["/v1/ingest"]).get(), 1);
        assert_eq!(
            counter
                .get_metric_with_label_values(&["/nowhere"])
                .unwrap()
                .get(),
            0,
            "unmatched requests are not counted"
        );
    }
}
