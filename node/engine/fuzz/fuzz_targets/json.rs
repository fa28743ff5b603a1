//! The JSON parser paths (root, json_path with embedded JSON and envelope keys, coercion,
//! normalization) through the classifier on the bench configuration.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sa_engine::{Classifier, Root, bench_corpus};

fuzz_target!(|data: &[u8]| {
    static CLASSIFIER: OnceLock<Classifier> = OnceLock::new();
    let classifier = CLASSIFIER.get_or_init(|| Classifier::new(bench_corpus::config().expect("bench config")));
    for (service, resource) in [("kinesis", "bench_cloudwatch"), ("kinesis", "bench_cloudtrail"), ("s3", "bench-cloudtrail-bucket")] {
        let root = Root::from_bytes(data);
        let _ = classifier.matching_log_types(service, resource, &root);
        let _ = classifier.classify(service, resource, root);
    }
    for root in sa_engine::payload::s3_object(data).records {
        let _ = classifier.classify("s3", "bench-cloudtrail-bucket", root);
    }
});
