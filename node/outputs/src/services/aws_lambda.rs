//! Lambda: an asynchronous invocation (`Event`) with `@aws-lambda.alert_data` or the record.
//! `aws-lambda` names the function in outputs.json; `aws-lambda-v2` in its credentials, with
//! an optional role to assume first.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;

use crate::aws_error::aws_outcome;
use crate::delivery::{Delivery, DeliveryOutcome, Step};
use crate::format::{Dumps, dumps};
use crate::outputs::Outputs;
use crate::service::{OutputSpec, ResourceShape, optional, plain};

const SERVICE: &str = "aws-lambda";
const SERVICE_V2: &str = "aws-lambda-v2";

/// `aws-lambda`: the function is the descriptor's value in outputs.json.
pub(crate) const V1: OutputSpec = OutputSpec {
    name: SERVICE,
    properties: &[],
    defaults: &[],
    resource: ResourceShape::Required(
        "function name, function:qualifier, or function ARN (with or without qualifier)",
    ),
    deliver: |out, _, d| Box::pin(deliver(out, d)),
};

/// `aws-lambda-v2`: the function (and a role to assume) are credentials.
pub(crate) const V2: OutputSpec = OutputSpec {
    name: SERVICE_V2,
    properties: &[
        plain(
            "lambda_function_arn",
            "ARN or name of the Lambda function to invoke",
        ),
        optional("function_qualifier", "version or alias to invoke"),
        optional("assume_role_arn", "role to assume before invoking"),
    ],
    defaults: &[],
    resource: ResourceShape::None,
    deliver: |out, _, d| Box::pin(deliver_v2(out, d)),
};

async fn deliver(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
    let (function, qualifier) = function_and_qualifier(d.require_resource(SERVICE)?);
    let client = aws_sdk_lambda::Client::new(out.sdk_config().await);
    invoke(&client, SERVICE, function, qualifier, &payload(d, SERVICE)).await
}

async fn deliver_v2(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
    let function = d.credential(SERVICE_V2, "lambda_function_arn")?;
    let qualifier = d.optional_credential("function_qualifier");
    let sdk = out.sdk_config().await;
    let client = match d.optional_credential("assume_role_arn") {
        None => aws_sdk_lambda::Client::new(sdk),
        Some(role) => {
            let assumed = aws_sdk_sts::Client::new(sdk)
                .assume_role()
                .role_arn(role)
                .role_session_name("streamalert_alert_processor")
                .send()
                .await
                .map_err(|e| aws_outcome(&format!("{SERVICE_V2}: AssumeRole {role}"), e))?;
            let credentials = assumed.credentials.ok_or_else(|| {
                DeliveryOutcome::failed(format!(
                    "{SERVICE_V2}: AssumeRole {role} returned no credentials"
                ))
            })?;
            let credentials = aws_sdk_lambda::config::Credentials::new(
                credentials.access_key_id,
                credentials.secret_access_key,
                Some(credentials.session_token),
                None,
                "sa-assumed-role",
            );
            let config = aws_sdk_lambda::config::Builder::from(sdk)
                .credentials_provider(credentials)
                .build();
            aws_sdk_lambda::Client::from_conf(config)
        }
    };
    // StreamAlert reads the v1 magic field for both
    let payload = payload(d, SERVICE);
    invoke(&client, SERVICE_V2, function, qualifier, &payload).await
}

fn payload(d: &Delivery<'_>, magic_service: &str) -> String {
    dumps(
        d.magic(magic_service, "alert_data").unwrap_or(d.record()),
        Dumps::COMPACT,
    )
}

async fn invoke(
    client: &aws_sdk_lambda::Client,
    service: &str,
    function: &str,
    qualifier: Option<&str>,
    payload: &str,
) -> Step<()> {
    client
        .invoke()
        .function_name(function)
        .set_qualifier(qualifier.filter(|q| !q.is_empty()).map(str::to_string))
        .invocation_type(InvocationType::Event)
        .payload(Blob::new(payload.as_bytes()))
        .send()
        .await
        .map_err(|e| aws_outcome(&format!("{service}: Invoke {function}"), e))?;
    Ok(())
}

/// `function`, `function:qualifier`, an ARN, or an ARN with a qualifier (8 parts).
pub(crate) fn function_and_qualifier(resource: &str) -> (&str, Option<&str>) {
    let parts: Vec<&str> = resource.split(':').collect();
    match parts.len() {
        2 | 8 => (parts[parts.len() - 2], Some(parts[parts.len() - 1])),
        _ => (parts[parts.len() - 1], None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_function_names() {
        assert_eq!(function_and_qualifier("fn"), ("fn", None));
        assert_eq!(function_and_qualifier("fn:prod"), ("fn", Some("prod")));
        assert_eq!(
            function_and_qualifier("arn:aws:lambda:us-east-1:123456789012:function:fn"),
            ("fn", None)
        );
        assert_eq!(
            function_and_qualifier("arn:aws:lambda:us-east-1:123456789012:function:fn:live"),
            ("fn", Some("live"))
        );
    }
}
