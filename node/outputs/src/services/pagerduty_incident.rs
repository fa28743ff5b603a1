//! `pagerduty-incident`: an Events v2 event, then the incident it opens is found and updated
//! through the REST API (title, service, body, priority, assignment, urgency), responders are
//! requested and a note is added (docs/spec §12.6).

use serde_json::{Value, json};

use crate::OutputName;
use crate::delivery::{Delivery, DeliveryOutcome, Step};
use crate::outputs::Outputs;
use crate::service::{OutputSpec, ResourceShape, optional, plain, secret};
use crate::services::pagerduty::{dedup_key, events_v2};

const SERVICE: &str = "pagerduty-incident";
const INCIDENT_LOOKS: usize = 5;

struct Api<'a> {
    out: &'a Outputs,
    base: String,
    token: &'a str,
    email_from: &'a str,
}

impl Api<'_> {
    fn request(
        &self,
        client: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        from: bool,
    ) -> reqwest::RequestBuilder {
        let request = client
            .request(method, format!("{}{path}", self.base))
            .header("Accept", "application/vnd.pagerduty+json;version=2")
            .header("Authorization", format!("Token token={}", self.token))
            .header("Content-Type", "application/json");
        if from {
            request.header("From", self.email_from)
        } else {
            request
        }
    }

    async fn get(&self, path: &str, query: &[(&str, &str)], from: bool) -> Step<Value> {
        let reply = self
            .out
            .send(SERVICE, |c| {
                self.request(c, reqwest::Method::GET, path, from)
                    .query(query)
            })
            .await?;
        reply.json().ok_or_else(|| {
            DeliveryOutcome::failed(format!("{SERVICE}: GET {path} answered without JSON"))
        })
    }

    async fn send_json(&self, method: reqwest::Method, path: &str, body: &Value) -> Step<Value> {
        let reply = self
            .out
            .send(SERVICE, |c| self.request(c, method, path, true).json(body))
            .await?;
        Ok(reply.json().unwrap_or(Value::Null))
    }

    async fn user_id(&self, email: &str) -> Step<Option<String>> {
        let users = self.get("/users", &[("query", email)], false).await?;
        Ok(users
            .get("users")
            .and_then(Value::as_array)
            .and_then(|users| users.first())
            .and_then(|user| user.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string))
    }
}

pub(crate) const SPEC: OutputSpec = OutputSpec {
    name: SERVICE,
    properties: &[
        secret("token", "REST API token"),
        plain("service_name", "service name"),
        plain("service_id", "service id incidents are filed under"),
        optional("escalation_policy", "escalation policy name"),
        plain(
            "escalation_policy_id",
            "escalation policy id used when no user is assigned",
        ),
        plain("email_from", "email of the PagerDuty user acting for sa"),
        secret(
            "integration_key",
            "Events API v2 integration key of the service",
        ),
        optional("api", "REST API base URL"),
        optional("events_url", "Events API v2 URL"),
    ],
    defaults: &[
        ("api", "https://api.pagerduty.com"),
        ("events_url", "https://events.pagerduty.com/v2/enqueue"),
    ],
    resource: ResourceShape::None,
    deliver: |out, output, d| Box::pin(deliver(out, output, d)),
};

async fn deliver(out: &Outputs, output: &OutputName, d: &Delivery<'_>) -> Step<()> {
    let api = Api {
        out,
        base: d
            .credential(SERVICE, "api")?
            .trim_end_matches('/')
            .to_string(),
        token: d.credential(SERVICE, "token")?,
        email_from: d.credential(SERVICE, "email_from")?,
    };
    let events_url = d.credential(SERVICE, "events_url")?;
    let integration_key = d.credential(SERVICE, "integration_key")?;
    let service_id = d.credential(SERVICE, "service_id")?;
    let context = d.context(SERVICE).cloned().unwrap_or_else(|| json!({}));
    let ctx = |key: &str| context.get(key).filter(|v| !v.is_null());

    // 1. the acting user must exist
    let requester = api.user_id(api.email_from).await?.ok_or_else(|| {
        DeliveryOutcome::failed(format!(
            "{SERVICE}: no PagerDuty user with email {}",
            api.email_from
        ))
    })?;

    // 2. the event that opens the incident
    let with_record = ctx("with_record").and_then(Value::as_bool).unwrap_or(true);
    let dedup = dedup_key(output, d);
    let event = events_v2(d, integration_key, &dedup, with_record);
    out.send(SERVICE, |c| c.post(events_url).json(&event))
        .await?;

    // 3. the incident appears asynchronously
    let incident_id = find_incident(&api, &dedup).await?;

    // 4. shape the incident
    let update = incident_update(&api, d, service_id, &context).await?;
    api.send_json(
        reqwest::Method::PUT,
        &format!("/incidents/{incident_id}"),
        &update,
    )
    .await?;

    // 5-7. best effort: the incident exists and is assigned; errors are noted on it
    let mut errors = Vec::new();
    for email in responders(ctx("responders")) {
        if let Err(e) = request_responder(
            &api,
            &incident_id,
            &requester,
            &email,
            ctx("responder_message"),
        )
        .await
        {
            errors.push(format!("responder {email}: {}", reason(&e)));
        }
    }
    let note = d
        .magic(SERVICE, "note")
        .or_else(|| ctx("note"))
        .map(crate::format::python_str)
        .unwrap_or_else(|| "Creating SOX Incident".into());
    if !note.is_empty()
        && let Err(e) = add_note(&api, &incident_id, &note).await
    {
        errors.push(format!("note: {}", reason(&e)));
    }
    if !errors.is_empty() {
        let text = format!(
            "StreamAlert failed to complete the incident: {}",
            errors.join("; ")
        );
        let _ = add_note(&api, &incident_id, &text).await;
    }
    Ok(())
}

async fn find_incident(api: &Api<'_>, dedup: &str) -> Step<String> {
    for look in 0..INCIDENT_LOOKS {
        if look > 0 {
            tokio::time::sleep(api.out.incident_poll_interval()).await;
        }
        let incidents = api
            .get("/incidents", &[("incident_key", dedup)], true)
            .await?;
        let id = incidents
            .get("incidents")
            .and_then(Value::as_array)
            .and_then(|list| list.first())
            .and_then(|incident| incident.get("id"))
            .and_then(Value::as_str);
        if let Some(id) = id {
            return Ok(id.to_string());
        }
    }
    Err(DeliveryOutcome::retry(format!(
        "{SERVICE}: no incident with incident_key {dedup} after {INCIDENT_LOOKS} looks"
    )))
}

async fn incident_update(
    api: &Api<'_>,
    d: &Delivery<'_>,
    service_id: &str,
    context: &Value,
) -> Step<Value> {
    let title = d.magic_str(
        SERVICE,
        "incident_title",
        format!("StreamAlert Incident - Rule triggered: {}", d.rule_name()),
    );
    let body = d
        .magic(SERVICE, "incident_body")
        .cloned()
        .unwrap_or_else(|| json!(d.rule_description()));
    let mut incident = json!({
        "type": "incident",
        "title": title,
        "service": {"id": service_id, "type": "service_reference"},
        "body": {"type": "incident_body", "details": body},
    });
    if let Some(name) = context.get("incident_priority").and_then(Value::as_str) {
        let priorities = api.get("/priorities", &[], true).await?;
        let id = priorities
            .get("priorities")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|p| p.get("id"))
            .cloned();
        if let Some(id) = id {
            incident["priority"] = json!({"id": id, "type": "priority_reference"});
        }
    }
    let assignee = match context.get("assigned_user").and_then(Value::as_str) {
        Some(email) => api.user_id(email).await?,
        None => None,
    };
    if let Some(user_id) = assignee {
        incident["assignments"] = json!([{"assignee": {"id": user_id, "type": "user_reference"}}]);
    } else {
        let policy = match context.get("assigned_policy_id").and_then(Value::as_str) {
            Some(policy) => policy,
            None => d.credential(SERVICE, "escalation_policy_id")?,
        };
        incident["escalation_policy"] =
            json!({"id": policy, "type": "escalation_policy_reference"});
    }
    if let Some(urgency @ ("low" | "high")) = d.magic(SERVICE, "urgency").and_then(Value::as_str) {
        incident["urgency"] = json!(urgency);
    }
    Ok(json!({"incident": incident}))
}

fn responders(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(email)) => vec![email.clone()],
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

async fn request_responder(
    api: &Api<'_>,
    incident_id: &str,
    requester: &str,
    email: &str,
    message: Option<&Value>,
) -> Step<()> {
    let user_id = api
        .user_id(email)
        .await?
        .ok_or_else(|| DeliveryOutcome::failed(format!("no PagerDuty user with email {email}")))?;
    let message = message
        .and_then(Value::as_str)
        .unwrap_or("An incident was reported that requires your attention.");
    let body = json!({
        "requester_id": requester,
        "message": message,
        "responder_request_targets": [
            {"responder_request_target": {"id": user_id, "type": "user_reference"}}
        ],
    });
    api.send_json(
        reqwest::Method::POST,
        &format!("/incidents/{incident_id}/responder_requests"),
        &body,
    )
    .await?;
    Ok(())
}

async fn add_note(api: &Api<'_>, incident_id: &str, content: &str) -> Step<()> {
    api.send_json(
        reqwest::Method::POST,
        &format!("/incidents/{incident_id}/notes"),
        &json!({"note": {"content": content}}),
    )
    .await?;
    Ok(())
}

fn reason(outcome: &DeliveryOutcome) -> &str {
    match outcome {
        DeliveryOutcome::Delivered => "",
        DeliveryOutcome::Retry { reason, .. }
        | DeliveryOutcome::Failed { reason }
        | DeliveryOutcome::Misconfigured { reason } => reason,
    }
}
