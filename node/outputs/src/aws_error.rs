//! AWS SDK errors as delivery outcomes: throttling, 5xx, timeouts and dispatch failures are
//! retried; the service's other refusals (missing queue, bad parameter) are not.

use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::error::{ProvideErrorMetadata, SdkError};

use crate::delivery::DeliveryOutcome;
use crate::error_chain::error_chain;

const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "SlowDown",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
    "InternalError",
];

pub(crate) fn aws_outcome<E>(what: &str, error: SdkError<E, HttpResponse>) -> DeliveryOutcome
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = error.code().map(str::to_string);
    let message = error.message().map(str::to_string);
    match &error {
        SdkError::ServiceError(context) => {
            let status = context.raw().status().as_u16();
            let reason = format!(
                "{what}: HTTP {status} {}: {}",
                code.as_deref().unwrap_or("error"),
                message.as_deref().unwrap_or("")
            );
            let throttled = code
                .as_deref()
                .is_some_and(|c| THROTTLING_CODES.contains(&c));
            if status == 429 || status >= 500 || throttled {
                DeliveryOutcome::retry(reason)
            } else {
                DeliveryOutcome::failed(reason)
            }
        }
        SdkError::ConstructionFailure(_) => {
            DeliveryOutcome::failed(format!("{what}: {}", error_chain(&error)))
        }
        _ => DeliveryOutcome::retry(format!("{what}: {}", error_chain(&error))),
    }
}
