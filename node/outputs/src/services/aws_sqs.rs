//! SQS: `@aws-sqs.message_data` or the record, compact JSON, to the queue named in outputs.json.
//! A FIFO queue gets the rule as message group and the alert id as de-duplication id, so a
//! resent alert is dropped by SQS.

use crate::aws_error::aws_outcome;
use crate::delivery::{Delivery, DeliveryOutcome, Step};
use crate::format::{Dumps, dumps};
use crate::outputs::Outputs;
use crate::service::{OutputSpec, ResourceShape};

const SERVICE: &str = "aws-sqs";

pub(crate) const SPEC: OutputSpec = OutputSpec {
    name: SERVICE,
    properties: &[],
    defaults: &[],
    resource: ResourceShape::Required("SQS queue name"),
    deliver: |out, _, d| Box::pin(deliver(out, d)),
};

async fn deliver(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
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
        Dumps::COMPACT,
    );
    let fifo = queue.ends_with(".fifo").then(|| d.fifo_keys());
    client
        .send_message()
        .queue_url(queue_url)
        .message_body(message)
        .set_message_group_id(fifo.as_ref().map(|k| k.group.clone()))
        .set_message_deduplication_id(fifo.map(|k| k.deduplication))
        .send()
        .await
        .map_err(|e| aws_outcome(&format!("{SERVICE}: SendMessage {queue}"), e))?;
    Ok(())
}
