//! A rule imports a package that exists only in the Python environment sa was pointed at.
//! (Alone in its process: the environment is fixed once per process.)

use sa_engine::ClassifiedRecord;
use sa_rules::{EngineOptions, PythonEnv, RepositoryLayout, RulesEngine};
use serde_json::json;

use crate::common::{alone_in_process, fixture};

#[test]
fn rules_import_packages_from_the_configured_environment() {
    if !alone_in_process("python_env::rules_import_packages_from_the_configured_environment") {
        return;
    }
    let root = fixture("env_repo");
    let layout = RepositoryLayout::from_config(&root, &root.join("conf")).unwrap();
    let options = EngineOptions {
        whole_records: false,
        env: PythonEnv::resolve(Some(fixture("python_env"))),
        ..Default::default()
    };
    let mut engine = RulesEngine::load(&layout, &options).unwrap();
    let batch = vec![ClassifiedRecord {
        cluster: "c".into(),
        log_type: "x:y".into(),
        record: json!({"marker": "from the python env"})
            .as_object()
            .unwrap()
            .clone(),
        service: "kinesis".into(),
        resource: "r".into(),
        data_type: "json".into(),
        origin: String::new(),
    }];
    let outcome = engine.evaluate(batch).unwrap();
    assert_eq!(outcome.alerts.len(), 1);
    assert_eq!(outcome.alerts[0].rule_name, "uses_package");
}
