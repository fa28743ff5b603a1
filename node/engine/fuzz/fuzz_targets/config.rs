//! Configuration loading never panics: the input is split on 0xFF into schema files, a cluster
//! file and a top-level file.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use sa_engine::Config;
use sa_engine::config::{ConfigSources, SourceFile};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.split(|b| *b == 0xff);
    let file = |path: &str, bytes: &[u8]| SourceFile { path: PathBuf::from(path), contents: bytes.to_vec() };
    let schema = parts.next().unwrap_or_default();
    let cluster = parts.next().unwrap_or(br#"{"classifier_config": {}, "data_sources": {"kinesis": {"s": ["a"]}}}"#);
    let top = parts.next().unwrap_or(b"{}");
    let sources = ConfigSources {
        logs_json: None,
        schemas: vec![file("conf/schemas/fuzz.json", schema)],
        clusters: vec![file("conf/clusters/fuzz.json", cluster)],
        top_level: vec![file("conf/threat_intel.json", top), file("conf/normalized_types.json", top)],
    };
    if let Ok(config) = Config::from_sources(&sources) {
        // A loadable configuration must also classify anything without panicking.
        let classifier = sa_engine::Classifier::new(config);
        for (service, resource) in classifier.config().clusters.iter().flat_map(|c| c.data_sources.iter().flat_map(|(s, rs)| rs.iter().map(move |(r, _)| (s.clone(), r.clone())))).collect::<Vec<_>>() {
            let _ = classifier.classify(&service, &resource, sa_engine::Root::from_bytes(data));
        }
    }
});
