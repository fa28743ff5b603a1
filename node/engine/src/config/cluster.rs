//! `conf/clusters/<name>.json` (docs/spec §8.1, §8.2): the data sources that decide which log
//! types a payload may be.

use serde_json::Value;

use super::read::Reader;
use crate::error::JsonPath;

/// Services a cluster's `data_sources` may name.
pub use crate::service::ALL as SERVICES;

/// A resource (stream, bucket, topic, ...) and the log sources or log types it carries.
pub type DataSource = (String, Vec<String>);

#[derive(Debug, Clone)]
pub struct Cluster {
    /// The file stem (the `id` inside the file is informational).
    pub name: String,
    /// service → [(resource, [log source or log type names])], in file order.
    pub data_sources: Vec<(String, Vec<DataSource>)>,
    /// The whole file, for the parts sa's runtime reads elsewhere (modules, classifier_config).
    pub raw: Value,
}

impl Cluster {
    /// The log names listed for `resource` under `service`, if any.
    pub fn sources_for(&self, service: &str, resource: &str) -> Option<&[String]> {
        let (_, resources) = self.data_sources.iter().find(|(s, _)| s == service)?;
        resources
            .iter()
            .find(|(r, _)| r == resource)
            .map(|(_, logs)| logs.as_slice())
    }

    /// Whether nodes read this cluster's `service` resources themselves. Not its Kinesis streams
    /// when `modules.kinesis_events.enabled` is false: StreamAlert's switch between a cluster's
    /// streams and its classifier (docs/spec §8.1; `manage.py kinesis disable-events`), which
    /// Python reads as a truth value. Without the key the streams are read (docs/compat.md).
    pub fn reads(&self, service: &str) -> bool {
        if service != crate::service::KINESIS {
            return true;
        }
        match self.raw.pointer("/modules/kinesis_events/enabled") {
            None => true,
            Some(enabled) => crate::python::is_truthy(enabled),
        }
    }

    /// Validation of docs/spec §2.2 items 2 and 4 for one file.
    pub fn parse(name: &str, value: &Value, reader: &mut Reader<'_>) -> Option<Cluster> {
        let root = JsonPath::root();
        let map = reader.object(value, &root)?;
        let before = reader.errors.len();
        if !map.contains_key("classifier_config") {
            let modules = map.get("modules");
            let legacy = modules
                .is_some_and(|m| m.get("streamalert").is_some() || m.get("stream_alert").is_some());
            if legacy {
                reader.error(&root.key("modules"), "legacy cluster config: modules.streamalert must become a top-level classifier_config");
            } else {
                reader.error(&root, "a cluster needs classifier_config");
            }
        }
        let mut data_sources = Vec::new();
        match map.get("data_sources") {
            None => reader.error(&root, "a cluster needs data_sources"),
            Some(sources) => {
                if let Some(services) = reader.object(sources, &root.key("data_sources")) {
                    for (service, resources) in services {
                        let at = root.key("data_sources").key(service);
                        if !SERVICES.contains(&service.as_str()) {
                            reader.error(
                                &at,
                                format!(
                                    "unknown service (expected one of {})",
                                    SERVICES.join(", ")
                                ),
                            );
                            continue;
                        }
                        let Some(resources) = reader.object(resources, &at) else {
                            continue;
                        };
                        let mut entries = Vec::new();
                        for (resource, logs) in resources {
                            let at = at.key(resource);
                            let Some(logs) = reader.string_list(logs, &at) else {
                                continue;
                            };
                            if logs.is_empty() {
                                reader.error(&at, "the list of log sources is empty");
                                continue;
                            }
                            entries.push((resource.clone(), logs));
                        }
                        data_sources.push((service.clone(), entries));
                    }
                }
            }
        }
        (reader.errors.len() == before).then(|| Cluster {
            name: name.to_string(),
            data_sources,
            raw: value.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cluster(modules: Value) -> Cluster {
        let mut errors = Vec::new();
        let mut reader = Reader {
            file: std::path::Path::new("c.json"),
            errors: &mut errors,
        };
        let raw = json!({"classifier_config": {}, "modules": modules,
                         "data_sources": {"kinesis": {"stream": ["demo"]}, "s3": {"bucket": ["demo"]}}});
        Cluster::parse("c", &raw, &mut reader).expect("a valid cluster")
    }

    #[test]
    fn kinesis_events_disabled_turns_off_only_the_kinesis_streams() {
        for off in [json!(false), json!(0), json!(""), json!(null)] {
            let cluster = cluster(json!({"kinesis_events": {"enabled": off, "batch_size": 100}}));
            assert!(!cluster.reads("kinesis"), "enabled: {off}");
            assert!(cluster.reads("s3"));
        }
        for on in [json!(true), json!(1), json!("yes")] {
            assert!(cluster(json!({"kinesis_events": {"enabled": on}})).reads("kinesis"));
        }
        // Repositories that never mention the switch keep their streams read.
        assert!(cluster(json!({})).reads("kinesis"));
        assert!(cluster(json!({"kinesis_events": {"batch_size": 10}})).reads("kinesis"));
    }
}
