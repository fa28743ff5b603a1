//! Slack incoming webhook: a header line and attachments, either the publication's own
//! (`@slack.attachments`) or the alert record rendered as Slack mrkdwn.

use serde_json::{Map, Value, json};

use crate::delivery::{Delivery, Step};
use crate::format::python_str;
use crate::outputs::Outputs;
use crate::service::{OutputSpec, ResourceShape, secret};

const SERVICE: &str = "slack";
const MAX_ATTACHMENTS: usize = 20;
const MAX_TEXT: usize = 4000;

pub(crate) const SPEC: OutputSpec = OutputSpec {
    name: SERVICE,
    properties: &[secret("url", "Slack incoming webhook URL")],
    defaults: &[],
    resource: ResourceShape::None,
    deliver: |out, _, d| Box::pin(deliver(out, d)),
};

async fn deliver(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
    let url = d.credential(SERVICE, "url")?;
    let body = message(d);
    out.send(SERVICE, |c| c.post(url).json(&body)).await?;
    Ok(())
}

pub(crate) fn message(d: &Delivery<'_>) -> Value {
    let header = d.magic_str(
        SERVICE,
        "text",
        format!("*StreamAlert Rule Triggered: {}*", d.rule_name()),
    );
    let attachments = match d.magic(SERVICE, "attachments") {
        // an empty list is falsy in StreamAlert: the default attachments are used
        Some(Value::Array(given)) if !given.is_empty() => given
            .iter()
            .take(MAX_ATTACHMENTS)
            .map(standardize)
            .collect(),
        Some(single @ Value::Object(_)) => vec![standardize(single)],
        _ => record_attachments(d, &header),
    };
    json!({"text": header, "mrkdwn": true, "attachments": attachments})
}

/// A publisher's attachment on Slack's skeleton: only the skeleton's keys survive.
fn standardize(given: &Value) -> Value {
    let get = |key: &str| given.get(key).cloned();
    let text = match given.get("text") {
        Some(Value::String(text)) => Value::String(shorten(text)),
        Some(other) => other.clone(),
        None => Value::String(String::new()),
    };
    let mut attachment = Map::new();
    let empty = || Value::String(String::new());
    attachment.insert("fallback".into(), get("fallback").unwrap_or_else(empty));
    attachment.insert(
        "color".into(),
        get("color").unwrap_or_else(|| json!("#36a64f")),
    );
    for key in [
        "pretext",
        "author_name",
        "author_link",
        "author_icon",
        "title",
        "title_link",
    ] {
        attachment.insert(key.into(), get(key).unwrap_or_else(empty));
    }
    attachment.insert("text".into(), text);
    attachment.insert("fields".into(), get("fields").unwrap_or_else(|| json!([])));
    for key in ["image_url", "thumb_url", "footer", "footer_icon", "ts"] {
        attachment.insert(key.into(), get(key).unwrap_or_else(empty));
    }
    attachment.insert(
        "mrkdwn_in".into(),
        get("mrkdwn_in").unwrap_or_else(|| json!(["text", "pretext"])),
    );
    Value::Object(attachment)
}

fn shorten(text: &str) -> String {
    let length = text.chars().count();
    if length <= MAX_TEXT {
        return text.to_string();
    }
    let half = (MAX_TEXT - 5) / 2;
    let head: String = text.chars().take(half).collect();
    let tail: String = text.chars().skip(length - half).collect();
    format!("{head} ... {tail}")
}

fn record_attachments(d: &Delivery<'_>, header: &str) -> Vec<Value> {
    let mut lines = Vec::new();
    mrkdwn_lines(d.record(), 0, &mut lines);
    let chunks = split_text(&html_escape(&lines.join("\n")));
    let count = chunks.len();
    chunks
        .into_iter()
        .take(MAX_ATTACHMENTS)
        .enumerate()
        .map(|(i, chunk)| {
            let pretext = if i == 0 {
                format!("*Rule Description:*\n{}\n", d.rule_description())
            } else {
                String::new()
            };
            let title = if count == 1 {
                "Record:".to_string()
            } else {
                format!("Record (Part {} of {count}):", i + 1)
            };
            json!({"fallback": header, "color": "#b22222", "pretext": pretext, "title": title,
                   "text": chunk, "mrkdwn_in": ["text", "pretext"]})
        })
        .collect()
}

/// The record as indented `*key:* value` lines, keys sorted, list items `*[i]*` from 1.
fn mrkdwn_lines(value: &Value, depth: usize, lines: &mut Vec<String>) {
    let tabs = "\t".repeat(depth);
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            for (key, child) in entries {
                push_entry(&format!("{tabs}*{key}:*"), child, depth, lines);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                push_entry(&format!("{tabs}*[{}]*", i + 1), child, depth, lines);
            }
        }
        scalar => lines.push(python_str(scalar)),
    }
}

fn push_entry(label: &str, child: &Value, depth: usize, lines: &mut Vec<String>) {
    let non_empty_container = match child {
        Value::Object(map) => !map.is_empty(),
        Value::Array(items) => !items.is_empty(),
        _ => false,
    };
    if non_empty_container {
        lines.push(label.to_string());
        mrkdwn_lines(child, depth + 1, lines);
    } else {
        lines.push(format!("{label} {}", python_str(child)));
    }
}

fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// Chunks of at most 4000 characters, cut at the last newline (else space, else hard) within
/// the first 4001; the character at the cut is dropped.
fn split_text(text: &str) -> Vec<String> {
    let mut rest: Vec<char> = text.chars().collect();
    let mut chunks = Vec::new();
    loop {
        if rest.len() <= MAX_TEXT {
            // a cut that consumed the last character leaves nothing worth an attachment
            if !rest.is_empty() || chunks.is_empty() {
                chunks.push(rest.into_iter().collect());
            }
            return chunks;
        }
        let window = &rest[..=MAX_TEXT];
        let cut = window
            .iter()
            .rposition(|&c| c == '\n')
            .or_else(|| window.iter().rposition(|&c| c == ' '))
            .unwrap_or(MAX_TEXT);
        chunks.push(rest[..cut].iter().collect());
        rest = rest[cut + 1..].to_vec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_records_as_sorted_mrkdwn() {
        let record = json!({"b": {"x": [1, {}, {"y": null}]}, "a": true, "c": {}});
        let mut lines = Vec::new();
        mrkdwn_lines(&record, 0, &mut lines);
        assert_eq!(
            lines,
            [
                "*a:* True",
                "*b:*",
                "\t*x:*",
                "\t\t*[1]* 1",
                "\t\t*[2]* {}",
                "\t\t*[3]*",
                "\t\t\t*y:* None",
                "*c:* {}"
            ]
        );
    }

    #[test]
    fn splits_at_newlines_then_spaces_then_hard() {
        let text = format!("{}\n{}", "a".repeat(3000), "b".repeat(2000));
        let chunks = split_text(&text);
        assert_eq!(chunks, vec!["a".repeat(3000), "b".repeat(2000)]);
        let hard = "c".repeat(8002);
        let chunks = split_text(&hard);
        assert_eq!(
            chunks.iter().map(String::len).collect::<Vec<_>>(),
            vec![4000, 4000]
        );
        let lengths = |text: &str| {
            split_text(text)
                .iter()
                .map(|c| c.chars().count())
                .collect::<Vec<_>>()
        };
        // the last space within the first 4001 characters, then hard cuts
        let spaced = format!("{} {}", "d".repeat(3990), "e".repeat(4020));
        assert_eq!(lengths(&spaced), vec![3990, 4000, 19]);
        assert_eq!(lengths(""), vec![0]);
    }
}
