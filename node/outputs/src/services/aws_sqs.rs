//! SQS: `@aws-sqs.message_data` or the record, compact JSON, to the queue named in outputs.json.

use crate::aws_error::aws_outcome;
use crate::delivery::{Delivery, DeliveryOutcome, Step};
use crate::format::{COMPACT, dumps};
use crate::outputs::Outputs;

const SERVICE: &str = "aws-sqs";

pub(crate) async fn deliver(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
    let queue = d.require_resource(SERVICE)?;
    let client = aws_sdk_sqs::Client::new(out.sdk_config().await);
    let queue_url = client
        .get_queue_url()
        .queue_name(queue)
        .send()
        .await
        .map_err(|e| aws_outcome(&format!("{SERVICE}: GetQueueUrl {queue}"), e))?
        .queue_url
        .ok_or_else(|| {
            DeliveryOutcome::failed(format!("{SERVICE}: GetQueueUrl {queue} returned no URL"))
        })?;
    let message = dumps(
        d.magic(SERVICE, "message_data").unwrap_or(d.record()),
        COMPACT,
    );
    client
        .send_message()
        .queue_url(queue_url)
        .message_body(message)
        .send()
        .await
        .map_err(|e| aws_outcome(&format!("{SERVICE}: SendMessage {queue}"), e))?;
    Ok(())
}
