//! CloudWatch Logs: "New Alert:" and the publication (indented) as one log event. StreamAlert
//! printed this to its Lambda's own log; sa writes to a log group, by default `/sa/alerts`,
//! stream = descriptor, or `GROUP[:STREAM]` from outputs.json.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_cloudwatchlogs::error::ProvideErrorMetadata;
use aws_sdk_cloudwatchlogs::types::InputLogEvent;

use crate::OutputName;
use crate::aws_error::aws_outcome;
use crate::delivery::{Delivery, DeliveryOutcome, Step};
use crate::format::{Dumps, dumps};
use crate::outputs::Outputs;
use crate::service::{OutputSpec, ResourceShape};

const SERVICE: &str = "aws-cloudwatch-log";
pub(crate) const DEFAULT_LOG_GROUP: &str = "/sa/alerts";

const INDENTED: Dumps = Dumps {
    indent: Some(2),
    sort_keys: false,
    compact: false,
};

pub(crate) const SPEC: OutputSpec = OutputSpec {
    name: SERVICE,
    properties: &[],
    defaults: &[],
    resource: ResourceShape::Optional(
        "log group, optionally LOG_GROUP:LOG_STREAM (default group /sa/alerts, stream = descriptor)",
    ),
    deliver: |out, output, d| Box::pin(deliver(out, output, d)),
};

async fn deliver(out: &Outputs, output: &OutputName, d: &Delivery<'_>) -> Step<()> {
    let (group, stream) = match d.resource.filter(|r| !r.is_empty()) {
        Some(resource) => match resource.split_once(':') {
            Some((group, stream)) => (group, stream),
            None => (resource, output.descriptor()),
        },
        None => (DEFAULT_LOG_GROUP, output.descriptor()),
    };
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |e| e.as_millis() as i64);
    let event = InputLogEvent::builder()
        .timestamp(millis)
        .message(format!("New Alert:\n{}", dumps(d.publication, INDENTED)))
        .build()
        .map_err(|e| DeliveryOutcome::failed(format!("{SERVICE}: {e}")))?;
    let client = aws_sdk_cloudwatchlogs::Client::new(out.sdk_config().await);
    let put = || {
        client
            .put_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .log_events(event.clone())
            .send()
    };
    let what = format!("{SERVICE}: PutLogEvents {group}:{stream}");
    match put().await {
        Ok(_) => return Ok(()),
        Err(e) if e.code() != Some("ResourceNotFoundException") => {
            return Err(aws_outcome(&what, e));
        }
        Err(_) => {}
    }
    // first alert to this group or stream: create what is missing, then put again
    if let Err(e) = client.create_log_group().log_group_name(group).send().await
        && e.code() != Some("ResourceAlreadyExistsException")
    {
        return Err(aws_outcome(
            &format!("{SERVICE}: CreateLogGroup {group}"),
            e,
        ));
    }
    if let Err(e) = client
        .create_log_stream()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await
        && e.code() != Some("ResourceAlreadyExistsException")
    {
        return Err(aws_outcome(
            &format!("{SERVICE}: CreateLogStream {group}:{stream}"),
            e,
        ));
    }
    put().await.map_err(|e| aws_outcome(&what, e))?;
    Ok(())
}
