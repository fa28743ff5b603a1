//! SNS: the publication (indented, sorted) or `@aws-sns.message` to the topic, with a subject
//! of at most 99 characters. FIFO topics get the same keys as FIFO queues.

use serde_json::Value;

use crate::aws_error::aws_outcome;
use crate::delivery::{Delivery, DeliveryOutcome, Step};
use crate::format::{Dumps, dumps, elide_middle};
use crate::outputs::Outputs;
use crate::service::{OutputSpec, ResourceShape};

const SERVICE: &str = "aws-sns";
const MAX_SUBJECT: usize = 99;

pub(crate) const SPEC: OutputSpec = OutputSpec {
    name: SERVICE,
    properties: &[],
    defaults: &[],
    resource: ResourceShape::Required("SNS topic name or ARN"),
    deliver: |out, _, d| Box::pin(deliver(out, d)),
};

async fn deliver(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
    let topic = d.require_resource(SERVICE)?;
    let sdk = out.sdk_config().await;
    let topic_arn = if topic.starts_with("arn:") {
        topic.to_string()
    } else {
        let region = sdk
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into());
        let account = account_id(out).await?;
        format!("arn:aws:sns:{region}:{account}:{topic}")
    };
    let subject = d.magic_str(
        SERVICE,
        "topic",
        format!("{} triggered alert {}", d.rule_name(), d.alert_id()),
    );
    let message = match d.magic(SERVICE, "message") {
        Some(Value::String(text)) => text.clone(),
        Some(other) => dumps(other, Dumps::PRETTY_SORTED),
        None => dumps(d.publication, Dumps::PRETTY_SORTED),
    };
    let fifo = topic_arn.ends_with(".fifo").then(|| d.fifo_keys());
    aws_sdk_sns::Client::new(sdk)
        .publish()
        .topic_arn(&topic_arn)
        .subject(elide_middle(&subject, MAX_SUBJECT))
        .message(message)
        .set_message_group_id(fifo.as_ref().map(|k| k.group.clone()))
        .set_message_deduplication_id(fifo.map(|k| k.deduplication))
        .send()
        .await
        .map_err(|e| aws_outcome(&format!("{SERVICE}: Publish {topic_arn}"), e))?;
    Ok(())
}

/// `AWS_ACCOUNT_ID` as StreamAlert reads it, else the caller's account from STS.
async fn account_id(out: &Outputs) -> Step<String> {
    if let Ok(account) = std::env::var("AWS_ACCOUNT_ID")
        && !account.is_empty()
    {
        return Ok(account);
    }
    aws_sdk_sts::Client::new(out.sdk_config().await)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| aws_outcome(&format!("{SERVICE}: GetCallerIdentity"), e))?
        .account
        .ok_or_else(|| DeliveryOutcome::failed(format!("{SERVICE}: STS returned no account id")))
}
