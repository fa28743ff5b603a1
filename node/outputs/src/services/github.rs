//! GitHub: opens an issue in the configured repository.

use base64::Engine;
use serde_json::json;

use crate::delivery::{Delivery, Step};
use crate::format::{Dumps, dumps};
use crate::outputs::Outputs;
use crate::service::{OutputSpec, ResourceShape, optional, plain, secret};

const SERVICE: &str = "github";

pub(crate) const SPEC: OutputSpec = OutputSpec {
    name: SERVICE,
    properties: &[
        plain("repository", "owner/repo where issues are opened"),
        plain("labels", "comma-separated labels for new issues"),
        plain("username", "GitHub user"),
        secret("access_token", "personal access token of that user"),
        optional("api", "API base URL (default https://api.github.com)"),
    ],
    defaults: &[("api", "https://api.github.com")],
    resource: ResourceShape::None,
    deliver: |out, _, d| Box::pin(deliver(out, d)),
};

async fn deliver(out: &Outputs, d: &Delivery<'_>) -> Step<()> {
    let api = d.credential(SERVICE, "api")?.trim_end_matches('/');
    let repository = d.credential(SERVICE, "repository")?;
    let username = d.credential(SERVICE, "username")?;
    let token = d.credential(SERVICE, "access_token")?;
    let labels: Vec<&str> = d
        .optional_credential("labels")
        .map(|l| l.split(',').collect())
        .unwrap_or_default();
    let title = d.magic_str(SERVICE, "title", format!("StreamAlert: {}", d.rule_name()));
    let body = d.magic_str(
        SERVICE,
        "body",
        format!(
            "### Description\n{}\n\n### Event data\n\n```\n{}\n```",
            d.rule_description(),
            dumps(d.record(), Dumps::PRETTY_SORTED)
        ),
    );
    let credentials =
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{token}"));
    let issue = json!({"title": title, "body": body, "labels": labels});
    let url = format!("{api}/repos/{repository}/issues");
    out.send(SERVICE, |c| {
        c.post(&url)
            .header("Authorization", format!("Basic {credentials}"))
            .json(&issue)
    })
    .await?;
    Ok(())
}
