//! The output services sa knows, and what each needs: credential properties (stored encrypted,
//! set with `sactl outputs set`), defaults, and whether conf/outputs.json holds a resource.
//! All of it is read from the specs in `services::REGISTRY`.

use std::pin::Pin;

use serde_json::{Map, Value};

use crate::OutputName;
use crate::delivery::{Delivery, Step};
use crate::outputs::Outputs;
use crate::services::REGISTRY;

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

/// One output service: what `sactl outputs set` stores for it, what conf/outputs.json holds
/// for it, and how it delivers. Each module of `services/` exports its spec (or specs, for the
/// services that share a file) and `services::REGISTRY` lists them; everything else here is
/// derived from that list.
#[derive(Clone, Copy)]
pub(crate) struct OutputSpec {
    /// The service name conf/outputs.json and rules use (`SERVICE` of `SERVICE:DESCRIPTOR`).
    /// A module keeps it in a `const` its delivery code also uses: that code cannot read its
    /// own spec (the compiler sees a cycle).
    pub name: &'static str,
    /// The credential properties, in prompt order.
    pub properties: &'static [Property],
    /// StreamAlert's hard-coded defaults (docs/spec §12.3), plus the base URLs sa's ports call;
    /// each names one of `properties`.
    pub defaults: &'static [(&'static str, &'static str)],
    pub resource: ResourceShape,
    pub deliver: DeliverFn,
}

/// One delivery attempt of a service (`Outputs::deliver` has checked the name, the
/// configuration and filled in the resource).
pub(crate) type DeliverFn =
    for<'a> fn(&'a Outputs, &'a OutputName, &'a Delivery<'a>) -> BoxedDelivery<'a>;

pub(crate) type BoxedDelivery<'a> = Pin<Box<dyn Future<Output = Step<()>> + Send + 'a>>;

/// A required credential property; masked when prompted.
pub(crate) const fn secret(name: &'static str, description: &'static str) -> Property {
    Property {
        name,
        secret: true,
        required: true,
        description,
    }
}

/// A required credential property, shown when prompted.
pub(crate) const fn plain(name: &'static str, description: &'static str) -> Property {
    Property {
        name,
        secret: false,
        required: true,
        description,
    }
}

/// A credential property delivery does without.
pub(crate) const fn optional(name: &'static str, description: &'static str) -> Property {
    Property {
        name,
        secret: false,
        required: false,
        description,
    }
}

/// The service names of the registry, in its order (a `const fn` so that `KNOWN_SERVICES`
/// stays a constant).
const fn names<const N: usize>(registry: &[&OutputSpec]) -> [&'static str; N] {
    let mut names = [""; N];
    let mut i = 0;
    while i < N {
        names[i] = registry[i].name;
        i += 1;
    }
    names
}

/// The service names conf/outputs.json and rules may use, in the registry's order.
pub const KNOWN_SERVICES: &[&str] = &names::<{ REGISTRY.len() }>(REGISTRY);

/// The spec of a service, `None` for unknown services.
pub(crate) fn spec(service: &str) -> Option<&'static OutputSpec> {
    REGISTRY.iter().copied().find(|spec| spec.name == service)
}

pub fn is_known_service(service: &str) -> bool {
    spec(service).is_some()
}

/// The credential properties of a service, in prompt order; empty for services without
/// credentials and for unknown services.
pub fn credential_properties(service: &str) -> &'static [Property] {
    spec(service).map_or(&[], |spec| spec.properties)
}

/// What conf/outputs.json holds for each descriptor of this service (`None` for unknown ones).
pub fn resource_shape(service: &str) -> Option<ResourceShape> {
    spec(service).map(|spec| spec.resource)
}

/// What is wrong with credentials about to be stored for a service: unknown properties (a
/// typo would otherwise be stored silently) and missing required ones. Empty when fine.
pub fn credential_problems(service: &str, credentials: &Map<String, Value>) -> Vec<String> {
    let Some(known) = spec(service) else {
        return vec![format!(
            "unknown output service {service:?}; known services: {}",
            KNOWN_SERVICES.join(", ")
        )];
    };
    let properties = known.properties;
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
    let defaults = known.defaults;
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
    if let Some(spec) = spec(service) {
        for (name, value) in spec.defaults {
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

/// The setting that names the resource of a map-shaped service (a queue, a bucket...), as the
/// value of `conf/outputs.json` would.
pub const RESOURCE_SETTING: &str = "resource";

/// Settings `sactl outputs set` was given that the service cannot take.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSettings(String);

/// Checks that every setting is one the service knows, and that all are strings.
pub fn validate_settings(
    name: &OutputName,
    settings: &Map<String, Value>,
) -> Result<(), InvalidSettings> {
    let service = name.service();
    let Some(shape) = resource_shape(service) else {
        return Err(InvalidSettings(format!(
            "unknown output service {service:?}"
        )));
    };
    let properties = credential_properties(service);
    for (key, value) in settings {
        let known = properties.iter().any(|p| p.name == key)
            || (key == RESOURCE_SETTING && shape != ResourceShape::None);
        if !known {
            let mut names: Vec<&str> = properties.iter().map(|p| p.name).collect();
            if shape != ResourceShape::None {
                names.push(RESOURCE_SETTING);
            }
            return Err(InvalidSettings(format!(
                "{name}: unknown setting {key:?} (known: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            )));
        }
        if !value.is_string() {
            return Err(InvalidSettings(format!(
                "{name}: setting {key:?} must be a string, found {value}"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_service_parses_back() {
        for name in KNOWN_SERVICES {
            assert!(is_known_service(name), "{name}");
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
