//! The output services sa knows, and what each needs: credential properties (stored encrypted,
//! set with `sactl outputs set`), defaults, and whether conf/outputs.json holds a resource.

use serde_json::{Map, Value};

/// One credential property of a service, for `sactl outputs set` to validate and prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Property {
    pub name: &'static str,
    /// Masked when prompted and never printed.
    pub secret: bool,
    /// Delivery fails without it.
    pub required: bool,
    pub description: &'static str,
}

/// What conf/outputs.json stores for a descriptor of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceShape {
    /// A list of descriptors; everything else lives in the credentials.
    None,
    /// A map descriptor → resource (a queue name, a bucket...), described by the text.
    Required(&'static str),
    /// Either shape; a map value, when given, is used (aws-cloudwatch-log).
    Optional(&'static str),
}

macro_rules! services {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// Every output service sa can deliver to.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub(crate) enum Service { $($variant),+ }

        /// The service names conf/outputs.json and rules may use.
        pub const KNOWN_SERVICES: &[&str] = &[$($name),+];

        impl Service {
            pub(crate) fn from_name(name: &str) -> Option<Service> {
                match name {
                    $($name => Some(Service::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

services! {
    AwsCloudwatchLog => "aws-cloudwatch-log",
    AwsFirehose => "aws-firehose",
    AwsLambda => "aws-lambda",
    AwsLambdaV2 => "aws-lambda-v2",
    AwsS3 => "aws-s3",
    AwsSes => "aws-ses",
    AwsSns => "aws-sns",
    AwsSqs => "aws-sqs",
    Carbonblack => "carbonblack",
    Demisto => "demisto",
    Github => "github",
    Jira => "jira",
    JiraV2 => "jira-v2",
    Komand => "komand",
    Pagerduty => "pagerduty",
    PagerdutyV2 => "pagerduty-v2",
    PagerdutyIncident => "pagerduty-incident",
    Phantom => "phantom",
    Slack => "slack",
    Teams => "teams",
    Victorops => "victorops",
    Webhook => "webhook",
    Opsgenie => "opsgenie",
    File => "file",
    Stdout => "stdout",
}

const fn secret(name: &'static str, description: &'static str) -> Property {
    Property {
        name,
        secret: true,
        required: true,
        description,
    }
}

const fn plain(name: &'static str, description: &'static str) -> Property {
    Property {
        name,
        secret: false,
        required: true,
        description,
    }
}

const fn optional(name: &'static str, description: &'static str) -> Property {
    Property {
        name,
        secret: false,
        required: false,
        description,
    }
}

const JIRA_AGGREGATE: &str =
    "'yes' to comment on an existing issue with the same summary instead of opening a new one";

impl Service {
    fn properties(self) -> &'static [Property] {
        match self {
            Service::AwsCloudwatchLog
            | Service::AwsFirehose
            | Service::AwsLambda
            | Service::AwsS3
            | Service::AwsSns
            | Service::AwsSqs
            | Service::File
            | Service::Stdout => &[],
            Service::AwsLambdaV2 => {
                const {
                    &[
                        plain(
                            "lambda_function_arn",
                            "ARN or name of the Lambda function to invoke",
                        ),
                        optional("function_qualifier", "version or alias to invoke"),
                        optional("assume_role_arn", "role to assume before invoking"),
                    ]
                }
            }
            Service::AwsSes => {
                const {
                    &[
                        plain("from_email", "verified sender address"),
                        plain("to_emails", "comma-separated recipient addresses"),
                    ]
                }
            }
            Service::Carbonblack => {
                const {
                    &[
                        plain("url", "Carbon Black Response server URL"),
                        secret("token", "API token"),
                    ]
                }
            }
            Service::Demisto => {
                const {
                    &[
                        plain("url", "Demisto server URL"),
                        secret("token", "API key"),
                    ]
                }
            }
            Service::Github => {
                const {
                    &[
                        plain("repository", "owner/repo where issues are opened"),
                        plain("labels", "comma-separated labels for new issues"),
                        plain("username", "GitHub user"),
                        secret("access_token", "personal access token of that user"),
                        optional("api", "API base URL (default https://api.github.com)"),
                    ]
                }
            }
            Service::Jira => {
                const {
                    &[
                        plain("username", "Jira user"),
                        secret("password", "password of that user"),
                        plain("url", "Jira server URL"),
                        plain("project_key", "project of new issues"),
                        plain("issue_type", "issue type of new issues"),
                        plain("aggregate", JIRA_AGGREGATE),
                    ]
                }
            }
            Service::JiraV2 => {
                const {
                    &[
                        secret("api_key", "Jira Cloud API token"),
                        plain("user_name", "account (email) owning the token"),
                        plain("url", "Jira Cloud URL"),
                        plain("project_key", "project of new issues"),
                        plain("issue_type", "issue type of new issues"),
                        plain("aggregate", JIRA_AGGREGATE),
                    ]
                }
            }
            Service::Komand => {
                const {
                    &[
                        secret("komand_auth_token", "Komand API token"),
                        plain("url", "Komand trigger URL"),
                    ]
                }
            }
            Service::Pagerduty => {
                const {
                    &[
                        secret("service_key", "Events API v1 integration key"),
                        optional("url", "Events API v1 URL"),
                    ]
                }
            }
            Service::PagerdutyV2 => {
                const {
                    &[
                        secret("routing_key", "Events API v2 integration key"),
                        optional("url", "Events API v2 URL"),
                    ]
                }
            }
            Service::PagerdutyIncident => {
                const {
                    &[
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
                    ]
                }
            }
            Service::Phantom => {
                const {
                    &[
                        secret("ph_auth_token", "Phantom automation user token"),
                        plain("url", "Phantom server URL"),
                    ]
                }
            }
            Service::Slack => const { &[secret("url", "Slack incoming webhook URL")] },
            Service::Teams => const { &[secret("url", "Microsoft Teams incoming webhook URL")] },
            Service::Victorops => {
                const {
                    &[
                        plain("victorops_api_id", "API id"),
                        secret("victorops_api_key", "API key"),
                        plain("url", "REST endpoint URL (the routing key is appended)"),
                        plain("routing_key", "routing key"),
                    ]
                }
            }
            Service::Webhook => {
                const {
                    &[
                        plain("url", "URL the alert is POSTed to"),
                        Property {
                            name: "secret",
                            secret: true,
                            required: false,
                            description: "HMAC-SHA256 key; signs the body in X-SA-Signature",
                        },
                        optional("headers", "extra headers, a JSON object of name → value"),
                    ]
                }
            }
            Service::Opsgenie => {
                const {
                    &[
                        secret("api_key", "Opsgenie API integration key"),
                        optional(
                            "url",
                            "API base URL (default https://api.opsgenie.com; EU: https://api.eu.opsgenie.com)",
                        ),
                    ]
                }
            }
        }
    }

    /// StreamAlert's hard-coded defaults (docs/spec §12.3), plus the base URLs sa's ports call.
    fn defaults(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Service::Pagerduty => &[(
                "url",
                "https://events.pagerduty.com/generic/2010-04-15/create_event.json",
            )],
            Service::PagerdutyV2 => &[("url", "https://events.pagerduty.com/v2/enqueue")],
            Service::PagerdutyIncident => &[
                ("api", "https://api.pagerduty.com"),
                ("events_url", "https://events.pagerduty.com/v2/enqueue"),
            ],
            Service::Github => &[("api", "https://api.github.com")],
            Service::Opsgenie => &[("url", "https://api.opsgenie.com")],
            _ => &[],
        }
    }

    fn resource_shape(self) -> ResourceShape {
        match self {
            Service::AwsFirehose => ResourceShape::Required("Firehose delivery stream name"),
            Service::AwsLambda => ResourceShape::Required(
                "function name, function:qualifier, or function ARN (with or without qualifier)",
            ),
            Service::AwsS3 => ResourceShape::Required("S3 bucket name"),
            Service::AwsSns => ResourceShape::Required("SNS topic name or ARN"),
            Service::AwsSqs => ResourceShape::Required("SQS queue name"),
            Service::File => {
                ResourceShape::Required("path of the JSON-lines file alerts are appended to")
            }
            Service::AwsCloudwatchLog => ResourceShape::Optional(
                "log group, optionally LOG_GROUP:LOG_STREAM (default group /sa/alerts, stream = descriptor)",
            ),
            _ => ResourceShape::None,
        }
    }
}

pub fn is_known_service(service: &str) -> bool {
    Service::from_name(service).is_some()
}

/// The credential properties of a service, in prompt order; empty for services without
/// credentials and for unknown services.
pub fn credential_properties(service: &str) -> &'static [Property] {
    Service::from_name(service).map_or(&[], Service::properties)
}

/// What conf/outputs.json holds for each descriptor of this service (`None` for unknown ones).
pub fn resource_shape(service: &str) -> Option<ResourceShape> {
    Service::from_name(service).map(Service::resource_shape)
}

/// What is wrong with credentials about to be stored for a service: unknown properties (a
/// typo would otherwise be stored silently) and missing required ones. Empty when fine.
pub fn credential_problems(service: &str, credentials: &Map<String, Value>) -> Vec<String> {
    let Some(known) = Service::from_name(service) else {
        return vec![format!(
            "unknown output service {service:?}; known services: {}",
            KNOWN_SERVICES.join(", ")
        )];
    };
    let properties = known.properties();
    let mut problems: Vec<String> = credentials
        .keys()
        .filter(|key| !properties.iter().any(|p| p.name == key.as_str()))
        .map(|key| {
            let names: Vec<&str> = properties.iter().map(|p| p.name).collect();
            if names.is_empty() {
                format!("{service} takes no credentials, got {key:?}")
            } else {
                format!(
                    "{service} has no property {key:?}; its properties: {}",
                    names.join(", ")
                )
            }
        })
        .collect();
    let defaults = known.defaults();
    for property in properties.iter().filter(|p| p.required) {
        let present = credentials
            .get(property.name)
            .is_some_and(|v| v.as_str().is_none_or(|s| !s.is_empty()));
        let defaulted = defaults.iter().any(|(name, _)| *name == property.name);
        if !present && !defaulted {
            problems.push(format!(
                "{service} needs {:?} ({})",
                property.name, property.description
            ));
        }
    }
    problems
}

/// Stored credentials completed with the service's defaults (docs/spec §12.3). Unlike StreamAlert, where
/// defaults overwrite what is stored, a stored value wins: that is how an operator points
/// PagerDuty at its EU endpoint or a test points an output at a local receiver.
pub fn credentials_with_defaults(service: &str, stored: &Map<String, Value>) -> Map<String, Value> {
    let mut credentials = stored.clone();
    if let Some(service) = Service::from_name(service) {
        for (name, value) in service.defaults() {
            let absent = credentials
                .get(*name)
                .is_none_or(|v| v.is_null() || v.as_str() == Some(""));
            if absent {
                credentials.insert((*name).to_string(), Value::String((*value).to_string()));
            }
        }
    }
    credentials
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_service_parses_back() {
        for name in KNOWN_SERVICES {
            assert!(Service::from_name(name).is_some(), "{name}");
        }
        assert!(!is_known_service("smtp"));
    }

    #[test]
    fn defaults_fill_only_missing_credentials() {
        let stored = serde_json::json!({"routing_key": "k"});
        let merged = credentials_with_defaults("pagerduty-v2", stored.as_object().unwrap());
        assert_eq!(merged["url"], "https://events.pagerduty.com/v2/enqueue");
        let stored = serde_json::json!({"routing_key": "k", "url": "https://events.eu.pagerduty.com/v2/enqueue"});
        let merged = credentials_with_defaults("pagerduty-v2", stored.as_object().unwrap());
        assert_eq!(merged["url"], "https://events.eu.pagerduty.com/v2/enqueue");
    }

    #[test]
    fn credential_problems_name_typos_and_missing_properties() {
        let ok = serde_json::json!({"routing_key": "k"});
        assert!(credential_problems("pagerduty-v2", ok.as_object().unwrap()).is_empty());
        let typo = serde_json::json!({"routingkey": "k"});
        let problems = credential_problems("pagerduty-v2", typo.as_object().unwrap());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("\"routingkey\"") && problems[0].contains("routing_key, url"));
        assert!(problems[1].contains("needs \"routing_key\""));
        let empty = serde_json::json!({"url": ""});
        assert_eq!(
            credential_problems("slack", empty.as_object().unwrap()).len(),
            1
        );
        assert_eq!(credential_problems("smtp", &Map::new()).len(), 1);
    }

    #[test]
    fn secrets_are_flagged() {
        let slack = credential_properties("slack");
        assert_eq!(slack.len(), 1);
        assert!(slack[0].secret && slack[0].required);
        assert!(credential_properties("aws-sqs").is_empty());
    }
}
