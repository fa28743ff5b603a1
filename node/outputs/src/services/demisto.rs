//! Demisto: an incident whose labels flatten the publication.

use serde_json::{Value, json};

use crate::delivery::{Delivery, Step};
use crate::format::python_str;
use crate::outputs::Outputs;
use crate::service::{OutputSpec, ResourceShape, plain, secret};

const SERVICE: &str = "demisto";

pub(crate) const SPEC: OutputSpec = OutputSpec {
    name: SERVICE,
    properties: &[
        plain("url", "Demisto server URL"),
        secret("token", "API key"),
    ],
    defaults: &[],
    resource: ResourceShape::None,
    deliver: |out, _, d| Box::pin(deliver(out, d)),
};

async fn deliver(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
    let base = d.credential(SERVICE, "url")?.trim_end_matches('/');
    let token = d.credential(SERVICE, "token")?;
    let mut labels = Vec::new();
    flatten(
        d.magic(SERVICE, "label_data").unwrap_or(d.publication),
        String::new(),
        &mut labels,
    );
    labels.sort_by(|a, b| a.0.cmp(&b.0));
    let labels: Vec<Value> = labels
        .into_iter()
        .map(|(path, value)| json!({"type": path, "value": value}))
        .collect();
    let incident = json!({
        "type": d.magic_str(SERVICE, "incident_type", "Unclassified"),
        "name": d.magic_str(SERVICE, "incident_name", d.rule_name()),
        "owner": d.magic_str(SERVICE, "owner", "StreamAlert"),
        "playbook": d.magic_str(SERVICE, "playbook", "Unknown"),
        "severity": severity(&d.magic_str(SERVICE, "severity", "unknown")),
        "labels": labels,
        "customFields": {},
        "details": d.magic_str(SERVICE, "details", d.rule_description()),
        "createInvestigation": true,
    });
    let url = format!("{base}/incident");
    out.send(SERVICE, |c| {
        c.post(&url)
            .header("Accept", "application/json")
            .header("Content-type", "application/json")
            .header("Authorization", token)
            .json(&incident)
    })
    .await?;
    Ok(())
}

/// Demisto's numeric severity; integers stay integers in the JSON, as Python sends them.
fn severity(name: &str) -> Value {
    match name.to_ascii_lowercase().as_str() {
        "info" | "informational" => json!(0.5),
        "low" => json!(1),
        "med" | "medium" => json!(2),
        "high" => json!(3),
        "critical" => json!(4),
        _ => json!(0),
    }
}

/// Leaves as `(a.b[0].c, str(value))`; empty containers have no leaves.
fn flatten(value: &Value, path: String, labels: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                flatten(child, child_path, labels);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                flatten(child, format!("{path}[{i}]"), labels);
            }
        }
        leaf => labels.push((path, python_str(leaf))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flattens_with_paths() {
        let mut labels = Vec::new();
        flatten(
            &json!({"a": {"b": [1, {"c": null}]}, "d": true, "e": {}}),
            String::new(),
            &mut labels,
        );
        assert_eq!(
            labels,
            vec![
                ("a.b[0]".to_string(), "1".to_string()),
                ("a.b[1].c".to_string(), "None".to_string()),
                ("d".to_string(), "True".to_string())
            ]
        );
        assert_eq!(severity("MEDIUM"), json!(2));
        assert_eq!(severity("Info"), json!(0.5));
        assert_eq!(severity("whatever"), json!(0));
    }
}
