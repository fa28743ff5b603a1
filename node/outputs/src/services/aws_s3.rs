//! S3: the publication as one JSON object per alert, under an hourly `dt=` prefix.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_sdk_s3::primitives::ByteStream;

use crate::aws_error::aws_outcome;
use crate::delivery::{Delivery, Step};
use crate::format::{Dumps, dumps};
use crate::outputs::Outputs;
use crate::service::{OutputSpec, ResourceShape};

const SERVICE: &str = "aws-s3";

pub(crate) const SPEC: OutputSpec = OutputSpec {
    name: SERVICE,
    properties: &[],
    defaults: &[],
    resource: ResourceShape::Required("S3 bucket name"),
    deliver: |out, _, d| Box::pin(deliver(out, d)),
};

async fn deliver(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
    let bucket = d.require_resource(SERVICE)?;
    let key = object_key(d, SystemTime::now());
    let body = dumps(d.publication, Dumps::DEFAULT);
    aws_sdk_s3::Client::new(out.sdk_config().await)
        .put_object()
        .bucket(bucket)
        .key(&key)
        .body(ByteStream::from(body.into_bytes()))
        .content_type("application/json")
        .send()
        .await
        .map_err(|e| aws_outcome(&format!("{SERVICE}: PutObject s3://{bucket}/{key}"), e))?;
    Ok(())
}

/// `alerts/dt=YYYY-MM-DD-HH/<source_service>_<source_entity>_<rule_name>_<uuid4>.json`.
/// The hour is UTC (StreamAlert used the Lambda's local time, which is UTC).
pub(crate) fn object_key(d: &Delivery<'_>, now: SystemTime) -> String {
    let seconds = now.duration_since(UNIX_EPOCH).map_or(0, |e| e.as_secs());
    let (year, month, day) = civil_from_days((seconds / 86_400) as i64);
    let hour = (seconds % 86_400) / 3600;
    format!(
        "alerts/dt={year:04}-{month:02}-{day:02}-{hour:02}/{}_{}_{}_{}.json",
        d.alert_str("source_service"),
        d.alert_str("source_entity"),
        d.rule_name(),
        uuid::Uuid::new_v4()
    )
}

/// Days since 1970-01-01 → (year, month, day), Howard Hinnant's algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(civil_from_days(20_423), (2025, 12, 1));
    }
}
