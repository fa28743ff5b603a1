//! One module per output service, each making the requests of docs/spec §12.6 and exporting
//! the service's spec (`OutputSpec`: name, credential properties, defaults, resource shape,
//! delivery). A new output is one module here and one line in `REGISTRY`.

use crate::service::OutputSpec;

mod aws_cloudwatch_log;
mod aws_firehose;
mod aws_lambda;
mod aws_s3;
mod aws_ses;
mod aws_sns;
mod aws_sqs;
mod carbonblack;
mod demisto;
mod file;
mod github;
mod jira;
mod komand;
mod opsgenie;
mod pagerduty;
mod pagerduty_incident;
mod phantom;
mod slack;
mod teams;
mod victorops;
pub(crate) mod webhook;

/// Every output service sa can deliver to, in the order of the README's list (and of
/// `KNOWN_SERVICES` in error messages).
pub(crate) static REGISTRY: &[&OutputSpec] = &[
    &aws_cloudwatch_log::SPEC,
    &aws_firehose::SPEC,
    &aws_lambda::V1,
    &aws_lambda::V2,
    &aws_s3::SPEC,
    &aws_ses::SPEC,
    &aws_sns::SPEC,
    &aws_sqs::SPEC,
    &carbonblack::SPEC,
    &demisto::SPEC,
    &github::SPEC,
    &jira::SERVER,
    &jira::CLOUD,
    &komand::SPEC,
    &pagerduty::V1,
    &pagerduty::V2,
    &pagerduty_incident::SPEC,
    &phantom::SPEC,
    &slack::SPEC,
    &teams::SPEC,
    &victorops::SPEC,
    &webhook::SPEC,
    &opsgenie::SPEC,
    &file::FILE,
    &file::STDOUT,
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::OutputName;
    use crate::service::KNOWN_SERVICES;

    /// The services the README's "Outputs" section lists, in its order: every name in
    /// backquotes in the StreamAlert catalogue, then the first one of each "Added by sa" item.
    fn documented_services(readme: &'static str) -> Vec<&'static str> {
        let section = readme
            .split_once("\n## Outputs\n")
            .and_then(|(_, rest)| rest.split_once("\nIdempotency keys"))
            .expect("README.md has an Outputs section ending at \"Idempotency keys\"")
            .0;
        let (catalogue, added) = section
            .split_once("\nAdded by sa:\n")
            .expect("README.md's Outputs section has \"Added by sa:\"");
        let quoted = |line: &'static str| line.split('`').skip(1).step_by(2);
        let catalogue = catalogue
            .lines()
            .filter(|line| line.starts_with("- ") || line.starts_with("  "))
            .flat_map(quoted);
        let added = added
            .lines()
            .filter(|line| line.starts_with("- "))
            .filter_map(|line| quoted(line).next());
        catalogue.chain(added).collect()
    }

    #[test]
    fn names_are_unique_and_valid_output_services() {
        let mut seen = HashSet::new();
        for spec in REGISTRY {
            assert!(seen.insert(spec.name), "{} is registered twice", spec.name);
            let output = OutputName::parse(&format!("{}:descriptor", spec.name))
                .unwrap_or_else(|e| panic!("{}: {e}", spec.name));
            assert_eq!(output.service(), spec.name);
        }
    }

    #[test]
    fn registry_order_is_the_documented_order() {
        let names: Vec<&str> = REGISTRY.iter().map(|spec| spec.name).collect();
        assert_eq!(names, KNOWN_SERVICES);
        assert_eq!(
            names,
            documented_services(include_str!("../../README.md")),
            "README.md's list of outputs"
        );
    }

    #[test]
    fn defaults_fill_declared_properties() {
        for spec in REGISTRY {
            for (name, _) in spec.defaults {
                assert!(
                    spec.properties.iter().any(|p| p.name == *name),
                    "{}: default for {name:?}, which is not one of its properties",
                    spec.name
                );
            }
            let mut seen = HashSet::new();
            for property in spec.properties {
                assert!(
                    seen.insert(property.name),
                    "{}: {} twice",
                    spec.name,
                    property.name
                );
            }
        }
    }
}
