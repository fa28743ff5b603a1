//! One HTTP request of an output, and how its result maps to a delivery outcome: 2xx goes on;
//! 408, 429, 5xx, timeouts and connection errors are worth retrying (honouring Retry-After);
//! any other status is a refusal. Reasons name the host only: webhook URLs embed secrets.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use serde_json::Value;

use crate::delivery::{DeliveryOutcome, Step};
use crate::error_chain::error_chain;

/// StreamAlert's per-request timeout (docs/spec §12.4).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_millis(3050);
pub(crate) const VICTOROPS_TIMEOUT: Duration = Duration::from_secs(10);
pub(crate) const TEAMS_TIMEOUT: Duration = Duration::from_secs(60);

/// A successful response.
#[derive(Debug)]
pub(crate) struct HttpReply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub(crate) fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// Separates a failed delivery's status from the excerpt of the response body in its reason.
const BODY_MARKER: &str = ": response body: ";

/// A delivery reason without the excerpt of the response body: what `sactl outputs test`
/// returns, so an admin cannot use a test delivery to read what an arbitrary URL answers
/// (docs/security.md). Dead letters keep the excerpt (Slack's `invalid_payload` is in it).
pub fn without_response_body(reason: &str) -> &str {
    reason
        .split_once(BODY_MARKER)
        .map_or(reason, |(status, _)| status)
}

/// Sends the request; a 2xx response, or one with a status in `accept`, comes back as `Ok`.
pub(crate) async fn send(
    client: &reqwest::Client,
    service: &str,
    request: reqwest::RequestBuilder,
    accept: &[u16],
) -> Step<HttpReply> {
    let request = request.build().map_err(|e| {
        DeliveryOutcome::failed(format!("{service}: cannot build the request: {e}"))
    })?;
    let host = request.url().host_str().unwrap_or("?").to_string();
    let what = format!("{service}: {} {host}", request.method());
    let response = client
        .execute(request)
        .await
        .map_err(|e| transport_error(&what, &e.without_url()))?;
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers(), SystemTime::now());
    let body = response
        .bytes()
        .await
        .map_err(|e| transport_error(&what, &e.without_url()))?
        .to_vec();
    if (200..300).contains(&status) || accept.contains(&status) {
        return Ok(HttpReply { status, body });
    }
    let snippet: String = String::from_utf8_lossy(&body).chars().take(200).collect();
    let reason = format!("{what}: HTTP {status}{BODY_MARKER}{snippet}");
    if status == 408 || status == 429 || status >= 500 {
        Err(DeliveryOutcome::Retry {
            after: retry_after,
            reason,
        })
    } else {
        Err(DeliveryOutcome::failed(reason))
    }
}

fn transport_error(what: &str, error: &reqwest::Error) -> DeliveryOutcome {
    if error.is_timeout() {
        DeliveryOutcome::retry(format!("{what}: timed out"))
    } else if error.is_builder() || error.is_redirect() {
        DeliveryOutcome::failed(format!("{what}: {error}"))
    } else {
        // connect, TLS, reset, body: the network or the peer, which may recover
        DeliveryOutcome::retry(format!("{what}: {}", error_chain(error)))
    }
}

/// `Retry-After` as delta-seconds or an HTTP date (RFC 9110 §10.2.3).
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn the_response_body_is_cut_from_a_reason() {
        let reason = format!("webhook: POST 10.0.0.1: HTTP 403{BODY_MARKER}secret internal page");
        assert_eq!(
            without_response_body(&reason),
            "webhook: POST 10.0.0.1: HTTP 403"
        );
        assert_eq!(
            without_response_body("slack: timed out"),
            "slack: timed out"
        );
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(
            retry_after(&headers("7"), now),
            Some(Duration::from_secs(7))
        );
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            retry_after(&headers(&later), now),
            Some(Duration::from_secs(90))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(retry_after(&headers(&earlier), now), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers("soon"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }
}
