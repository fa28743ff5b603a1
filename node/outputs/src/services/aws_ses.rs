//! SES: a MIME email with the record attached as record.json (docs/spec §12.6), sent raw.

use base64::Engine;
use serde_json::Value;

use aws_sdk_ses::primitives::Blob;
use aws_sdk_ses::types::RawMessage;

use crate::aws_error::aws_outcome;
use crate::delivery::{Delivery, DeliveryOutcome, Step};
use crate::format::{Dumps, dumps, python_str};
use crate::outputs::Outputs;
use crate::service::{OutputSpec, ResourceShape, plain};

const SERVICE: &str = "aws-ses";

pub(crate) const SPEC: OutputSpec = OutputSpec {
    name: SERVICE,
    properties: &[
        plain("from_email", "verified sender address"),
        plain("to_emails", "comma-separated recipient addresses"),
    ],
    defaults: &[],
    resource: ResourceShape::None,
    deliver: |out, _, d| Box::pin(deliver(out, d)),
};

async fn deliver(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
    let from = d.credential(SERVICE, "from_email")?;
    let to: Vec<String> = d
        .credential(SERVICE, "to_emails")?
        .split(',')
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    let message = mime_message(d, from, &to);
    let raw = RawMessage::builder()
        .data(Blob::new(message.into_bytes()))
        .build()
        .map_err(|e| DeliveryOutcome::failed(format!("{SERVICE}: {e}")))?;
    aws_sdk_ses::Client::new(out.sdk_config().await)
        .send_raw_email()
        .source(from)
        .set_destinations(Some(to))
        .raw_message(raw)
        .send()
        .await
        .map_err(|e| aws_outcome(&format!("{SERVICE}: SendRawEmail"), e))?;
    Ok(())
}

pub(crate) fn mime_message(d: &Delivery<'_>, from: &str, to: &[String]) -> String {
    let boundary = format!("sa-{}", uuid::Uuid::new_v4().simple());
    let subject = d.magic_str(
        SERVICE,
        "subject",
        format!("{} triggered alert {}", d.rule_name(), d.alert_id()),
    );
    let mut mime = format!(
        "From: {from}\r\nTo: {}\r\nSubject: {}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n",
        to.join(", "),
        header_text(&subject)
    );
    mime.push_str(&format!("--{boundary}\r\n"));
    match d.magic(SERVICE, "body") {
        Some(Value::Object(alternatives)) => {
            let inner = format!("{boundary}-alt");
            mime.push_str(&format!(
                "Content-Type: multipart/alternative; boundary=\"{inner}\"\r\n\r\n"
            ));
            for (subtype, content) in alternatives {
                mime.push_str(&format!("--{inner}\r\n"));
                mime.push_str(&text_part(subtype, &python_str(content)));
            }
            mime.push_str(&format!("--{inner}--\r\n"));
        }
        Some(other) => mime.push_str(&text_part("plain", &python_str(other))),
        None => mime.push_str(&text_part(
            "plain",
            "Please review the attached record.json",
        )),
    }
    let attach_record = d
        .magic(SERVICE, "attach_record")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    if attach_record {
        mime.push_str(&format!("--{boundary}\r\n"));
        mime.push_str(&attachment(
            "record.json",
            &dumps(d.record(), Dumps::PRETTY_SORTED),
        ));
    }
    if let Some(Value::Object(files)) = d.magic(SERVICE, "attachments") {
        for (name, content) in files {
            mime.push_str(&format!("--{boundary}\r\n"));
            mime.push_str(&attachment(name, &python_str(content)));
        }
    }
    mime.push_str(&format!("--{boundary}--\r\n"));
    mime
}

fn text_part(subtype: &str, text: &str) -> String {
    format!(
        "Content-Type: text/{subtype}; charset=\"utf-8\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        base64_lines(text.as_bytes())
    )
}

fn attachment(name: &str, content: &str) -> String {
    let name = name.replace(['"', '\r', '\n'], "_");
    format!(
        "Content-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        base64_lines(content.as_bytes())
    )
}

/// Base64 in 76-character lines (RFC 2045).
fn base64_lines(bytes: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    encoded
        .as_bytes()
        .chunks(76)
        .map(|line| String::from_utf8_lossy(line).into_owned())
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// A header value: ASCII as is (without line breaks), anything else RFC 2047-encoded.
fn header_text(text: &str) -> String {
    let single_line = text.replace(['\r', '\n'], " ");
    if single_line.is_ascii() {
        single_line
    } else {
        format!(
            "=?utf-8?b?{}?=",
            base64::engine::general_purpose::STANDARD.encode(single_line.as_bytes())
        )
    }
}
