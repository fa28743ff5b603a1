//! Firehose: the publication as one compact JSON line.

use aws_sdk_firehose::primitives::Blob;
use aws_sdk_firehose::types::Record;

use crate::aws_error::aws_outcome;
use crate::delivery::{Delivery, DeliveryOutcome, Step};
use crate::format::{Dumps, dumps};
use crate::outputs::Outputs;
use crate::service::{OutputSpec, ResourceShape};

const SERVICE: &str = "aws-firehose";
/// Firehose's record size limit (1,000 KiB), in characters as StreamAlert counts.
const MAX_RECORD: usize = 1_000_000;

pub(crate) const SPEC: OutputSpec = OutputSpec {
    name: SERVICE,
    properties: &[],
    defaults: &[],
    resource: ResourceShape::Required("Firehose delivery stream name"),
    deliver: |out, _, d| Box::pin(deliver(out, d)),
};

async fn deliver(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
    let stream = d.require_resource(SERVICE)?;
    let line = dumps(d.publication, Dumps::COMPACT) + "\n";
    if line.chars().count() > MAX_RECORD {
        return Err(DeliveryOutcome::failed(format!(
            "{SERVICE}: the alert is larger than Firehose's {MAX_RECORD}-character record limit"
        )));
    }
    let record = Record::builder()
        .data(Blob::new(line.into_bytes()))
        .build()
        .map_err(|e| DeliveryOutcome::failed(format!("{SERVICE}: {e}")))?;
    aws_sdk_firehose::Client::new(out.sdk_config().await)
        .put_record()
        .delivery_stream_name(stream)
        .record(record)
        .send()
        .await
        .map_err(|e| aws_outcome(&format!("{SERVICE}: PutRecord {stream}"), e))?;
    Ok(())
}
