//! Jira server (`jira`, session cookie) and Jira Cloud (`jira-v2`, API token): comment on the
//! issue with the same summary when aggregating, else open an issue.

use base64::Engine;
use serde_json::{Value, json};

use crate::delivery::{Delivery, DeliveryOutcome, Step};
use crate::format::{Dumps, dumps};
use crate::outputs::Outputs;
use crate::service::{OutputSpec, ResourceShape, plain, secret};

const SERVER_SERVICE: &str = "jira";
const CLOUD_SERVICE: &str = "jira-v2";

const AGGREGATE: &str =
    "'yes' to comment on an existing issue with the same summary instead of opening a new one";

/// `jira`: Jira server.
pub(crate) const SERVER: OutputSpec = OutputSpec {
    name: SERVER_SERVICE,
    properties: &[
        plain("username", "Jira user"),
        secret("password", "password of that user"),
        plain("url", "Jira server URL"),
        plain("project_key", "project of new issues"),
        plain("issue_type", "issue type of new issues"),
        plain("aggregate", AGGREGATE),
    ],
    defaults: &[],
    resource: ResourceShape::None,
    deliver: |out, _, d| Box::pin(deliver(out, d, Flavour::Server)),
};

/// `jira-v2`: Jira Cloud.
pub(crate) const CLOUD: OutputSpec = OutputSpec {
    name: CLOUD_SERVICE,
    properties: &[
        secret("api_key", "Jira Cloud API token"),
        plain("user_name", "account (email) owning the token"),
        plain("url", "Jira Cloud URL"),
        plain("project_key", "project of new issues"),
        plain("issue_type", "issue type of new issues"),
        plain("aggregate", AGGREGATE),
    ],
    defaults: &[],
    resource: ResourceShape::None,
    deliver: |out, _, d| Box::pin(deliver(out, d, Flavour::Cloud)),
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    /// `jira`: POST /rest/auth/1/session, then the session cookie.
    Server,
    /// `jira-v2`: Basic user_name:api_key. StreamAlert's URL join dropped the base URL here;
    /// sa concatenates (docs/spec §22 #19).
    Cloud,
}

const SORTED: Dumps = Dumps {
    sort_keys: true,
    ..Dumps::DEFAULT
};

async fn deliver(out: &Outputs, d: &Delivery<'_>, flavour: Flavour) -> Step<()> {
    let service = match flavour {
        Flavour::Server => SERVER_SERVICE,
        Flavour::Cloud => CLOUD_SERVICE,
    };
    let base = d.credential(service, "url")?.trim_end_matches('/');
    let project = d.credential(service, "project_key")?;
    let issue_type = d.credential(service, "issue_type")?;
    let aggregate = d
        .optional_credential("aggregate")
        .is_some_and(|a| a.eq_ignore_ascii_case("yes"));
    let magic = |field: &str| d.magic(service, field).or_else(|| d.magic("jira", field));
    let summary = match magic("issue_summary") {
        Some(value) => crate::format::python_str(value),
        None => format!("StreamAlert {}", d.rule_name()),
    };
    let description = match magic("description") {
        Some(value) => crate::format::python_str(value),
        None => format!("{{code:JSON}}{}{{code}}", dumps(d.publication, SORTED)),
    };

    let auth = match flavour {
        Flavour::Server => {
            let username = d.credential(service, "username")?;
            let password = d.credential(service, "password")?;
            let body = json!({"username": username, "password": password});
            let url = format!("{base}/rest/auth/1/session");
            let reply = out.send(service, |c| c.post(&url).json(&body)).await?;
            let session = reply
                .json()
                .and_then(|v| v.get("session").cloned())
                .unwrap_or(Value::Null);
            let (Some(name), Some(value)) = (
                session.get("name").and_then(Value::as_str),
                session.get("value").and_then(Value::as_str),
            ) else {
                return Err(DeliveryOutcome::failed(format!(
                    "{service}: the login answered without a session"
                )));
            };
            ("cookie", format!("{name}={value}"))
        }
        Flavour::Cloud => {
            let user = d.credential(service, "user_name")?;
            let key = d.credential(service, "api_key")?;
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{key}"));
            ("Authorization", format!("Basic {token}"))
        }
    };
    let request = |c: &reqwest::Client, method: reqwest::Method, path: &str| {
        c.request(method, format!("{base}{path}"))
            .header(auth.0, &auth.1)
            .header("Accept", "application/json")
    };

    if aggregate {
        let jql = format!("summary ~ \"{summary}\" and project=\"{project}\"");
        let query = [
            ("jql", jql.as_str()),
            ("maxResults", "1"),
            ("validateQuery", "true"),
            ("fields", "id"),
            ("fields", "summary"),
        ];
        let found = out
            .send(service, |c| {
                request(c, reqwest::Method::GET, "/rest/api/2/search").query(&query)
            })
            .await?;
        let existing = found
            .json()
            .and_then(|v| v.get("issues")?.get(0)?.get("id").cloned())
            .map(|id| crate::format::python_str(&id));
        if let Some(id) = existing {
            let path = format!("/rest/api/2/issue/{id}/comment");
            let comment = json!({"body": description});
            out.send(service, |c| {
                request(c, reqwest::Method::POST, &path).json(&comment)
            })
            .await?;
            return Ok(());
        }
    }
    let issue = json!({"fields": {
        "project": {"key": project},
        "summary": summary,
        "description": description,
        "issuetype": {"name": issue_type},
    }});
    let created = out
        .send(service, |c| {
            request(c, reqwest::Method::POST, "/rest/api/2/issue").json(&issue)
        })
        .await?;
    match created.json().and_then(|v| v.get("id").cloned()) {
        Some(_) => Ok(()),
        None => Err(DeliveryOutcome::failed(format!(
            "{service}: the issue was not created (no id)"
        ))),
    }
}
