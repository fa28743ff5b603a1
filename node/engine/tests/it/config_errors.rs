//! Every configuration error names the file, the JSON path and the reason (docs/spec §2.2).

use std::path::PathBuf;

use sa_engine::Config;
use sa_engine::config::{ConfigSources, SourceFile};

fn file(path: &str, contents: &str) -> SourceFile {
    SourceFile {
        path: PathBuf::from(path),
        contents: contents.as_bytes().to_vec(),
    }
}

const CLUSTER: &str =
    r#"{"classifier_config": {}, "data_sources": {"kinesis": {"stream": ["demo"]}}}"#;
const SCHEMA: &str = r#"{"demo:login": {"parser": "kv", "schema": {"user": "string"}}}"#;

fn load(
    schemas: &[(&str, &str)],
    clusters: &[(&str, &str)],
    top: &[(&str, &str)],
) -> Result<Config, Vec<String>> {
    let sources = ConfigSources {
        logs_json: None,
        schemas: schemas.iter().map(|(p, c)| file(p, c)).collect(),
        clusters: clusters.iter().map(|(p, c)| file(p, c)).collect(),
        top_level: top.iter().map(|(p, c)| file(p, c)).collect(),
    };
    Config::from_sources(&sources).map_err(|e| e.0.iter().map(ToString::to_string).collect())
}

fn schema_errors(schema: &str) -> Vec<String> {
    load(
        &[("conf/schemas/aws.json", schema)],
        &[("conf/clusters/prod.json", CLUSTER)],
        &[],
    )
    .unwrap_err()
}

fn cluster_errors(clusters: &[(&str, &str)]) -> Vec<String> {
    load(&[("conf/schemas/demo.json", SCHEMA)], clusters, &[]).unwrap_err()
}

#[test]
fn the_briefs_example() {
    let errors = schema_errors(
        r#"{"cloudtrail:events": {"parser": "json", "schema": {}, "configuration": {"priority": "x"}}}"#,
    );
    assert_eq!(
        errors,
        vec![
            r#"conf/schemas/aws.json: $.cloudtrail:events.configuration.priority: expected a non-negative integer, got "x""#
        ]
    );
}

#[test]
fn invalid_json_names_line_and_column() {
    let errors = schema_errors("{\n  \"a\": ");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with("conf/schemas/aws.json: $: invalid JSON at line 2 column"),
        "{}",
        errors[0]
    );
}

#[test]
fn log_type_shape_errors() {
    let cases = [
        (
            r#"[]"#,
            "conf/schemas/aws.json: $: expected an object, got an array",
        ),
        (
            r#"{"a": 1}"#,
            "conf/schemas/aws.json: $.a: expected an object, got 1",
        ),
        (
            r#"{"a": {"schema": {}}}"#,
            "conf/schemas/aws.json: $.a: a log type needs a parser",
        ),
        (
            r#"{"a": {"parser": "json"}}"#,
            "conf/schemas/aws.json: $.a: a log type needs a schema",
        ),
        (
            r#"{"a": {"parser": "xml", "schema": {}}}"#,
            r#"conf/schemas/aws.json: $.a.parser: unknown parser "xml" (expected one of json, csv, kv, syslog, cef, leef, syslog5424)"#,
        ),
        (
            r#"{"a": {"parser": "json", "schema": []}}"#,
            "conf/schemas/aws.json: $.a.schema: expected an object, got an array",
        ),
        (
            r#"{"a": {"parser": "json", "schema": {}, "configuration": 3}}"#,
            "conf/schemas/aws.json: $.a.configuration: expected an object, got 3",
        ),
    ];
    for (schema, want) in cases {
        assert_eq!(
            schema_errors(schema),
            vec![want.to_string()],
            "for {schema}"
        );
    }
}

#[test]
fn configuration_option_errors() {
    let option = |config: &str| {
        schema_errors(&format!(
            r#"{{"a": {{"parser": "csv", "schema": {{"k": "string"}}, "configuration": {config}}}}}"#
        ))
    };
    let cases = [
        (
            r#"{"optional_top_level_keys": "k"}"#,
            r#"$.a.configuration.optional_top_level_keys: expected a list of strings, got "k""#,
        ),
        (
            r#"{"optional_top_level_keys": [1]}"#,
            "$.a.configuration.optional_top_level_keys[0]: expected a string, got 1",
        ),
        (
            r#"{"envelope_keys": []}"#,
            "$.a.configuration.envelope_keys: expected an object, got an array",
        ),
        (
            r#"{"json_path": "a["}"#,
            "$.a.configuration.json_path: invalid JMESPath expression",
        ),
        (
            r#"{"embedded_json": "yes"}"#,
            r#"$.a.configuration.embedded_json: expected true or false, got "yes""#,
        ),
        (
            r#"{"json_regex_key": 1}"#,
            "$.a.configuration.json_regex_key: expected a string, got 1",
        ),
        (
            r#"{"log_patterns": {"k": 1}}"#,
            "$.a.configuration.log_patterns.k: expected a pattern, a list of patterns or an object, got 1",
        ),
        (
            r#"{"priority": -1}"#,
            "$.a.configuration.priority: expected a non-negative integer, got -1",
        ),
        (
            r#"{"delimiter": "ab"}"#,
            r#"$.a.configuration.delimiter: a csv delimiter must be one character, got "ab""#,
        ),
        (
            r#"{"delimiter": ""}"#,
            r#"$.a.configuration.delimiter: expected a non-empty string, got """#,
        ),
        (
            r#"{"separator": 1}"#,
            "$.a.configuration.separator: expected a non-empty string, got 1",
        ),
        (
            r#"{"quotechar": "''"}"#,
            r#"$.a.configuration.quotechar: expected a one-character string, got "''""#,
        ),
        (
            r#"{"escapechar": 5}"#,
            "$.a.configuration.escapechar: expected a string, got 5",
        ),
        (
            r#"{"normalization": {"ip": "src"}}"#,
            "$.a.configuration.normalization.ip: expected a list",
        ),
    ];
    for (config, want) in cases {
        let errors = option(config);
        assert_eq!(errors.len(), 1, "for {config}: {errors:?}");
        assert!(
            errors[0].starts_with(&format!("conf/schemas/aws.json: {want}")),
            "for {config}: {}",
            errors[0]
        );
    }
}

#[test]
fn every_error_is_reported_not_just_the_first() {
    let errors = schema_errors(
        r#"{"a": {"parser": "json", "schema": {}, "configuration": {"priority": "x", "embedded_json": 1}}, "b": {"schema": {}}}"#,
    );
    assert_eq!(errors.len(), 3, "{errors:?}");
}

#[test]
fn cluster_errors_of_section_2_2() {
    let cases: [(&str, &str); 7] = [
        (
            r#"{"classifier_config": {}}"#,
            "conf/clusters/prod.json: $: a cluster needs data_sources",
        ),
        (
            r#"{"data_sources": {"kinesis": {"stream": ["demo"]}}}"#,
            "conf/clusters/prod.json: $: a cluster needs classifier_config",
        ),
        (
            r#"{"modules": {"streamalert": {}}, "data_sources": {"kinesis": {"stream": ["demo"]}}}"#,
            "conf/clusters/prod.json: $.modules: legacy cluster config: modules.streamalert must become a top-level classifier_config",
        ),
        (
            r#"{"classifier_config": {}, "data_sources": {"ftp": {"x": ["demo"]}}}"#,
            "conf/clusters/prod.json: $.data_sources.ftp: unknown service (expected one of kinesis, s3, sns, streamalert_app, http, file)",
        ),
        (
            r#"{"classifier_config": {}, "data_sources": {"sns": {"topic": []}}}"#,
            "conf/clusters/prod.json: $.data_sources.sns.topic: the list of log sources is empty",
        ),
        (
            r#"{"classifier_config": {}, "data_sources": {"sns": {"topic": "demo"}}}"#,
            r#"conf/clusters/prod.json: $.data_sources.sns.topic: expected a list of strings, got "demo""#,
        ),
        (
            r#"{"classifier_config": {}, "data_sources": []}"#,
            "conf/clusters/prod.json: $.data_sources: expected an object, got an array",
        ),
    ];
    for (cluster, want) in cases {
        assert_eq!(
            cluster_errors(&[("conf/clusters/prod.json", cluster)]),
            vec![want.to_string()],
            "for {cluster}"
        );
    }
}

#[test]
fn sa_services_http_and_file_are_accepted() {
    let cluster = r#"{"classifier_config": {}, "data_sources": {"http": {"ingest": ["demo"]}, "file": {"/var/log/*.log": ["demo"]}}}"#;
    assert!(
        load(
            &[("conf/schemas/demo.json", SCHEMA)],
            &[("conf/clusters/prod.json", cluster)],
            &[]
        )
        .is_ok()
    );
}

#[test]
fn a_resource_may_appear_once_across_services_and_clusters() {
    let a = r#"{"classifier_config": {}, "data_sources": {"kinesis": {"shared": ["demo"]}}}"#;
    let b = r#"{"classifier_config": {}, "data_sources": {"sns": {"shared": ["demo"]}}}"#;
    assert_eq!(
        cluster_errors(&[("conf/clusters/a.json", a), ("conf/clusters/b.json", b)]),
        vec!["conf/clusters/b.json: $.data_sources.sns.shared: resource shared is already a kinesis data source in conf/clusters/a.json".to_string()]
    );
}

#[test]
fn threat_intel_needs_normalized_types() {
    let ti = r#"{"enabled": true, "normalized_ioc_types": {"ip": ["sourceAddress", "bogus"]}}"#;
    let norm = r#"{"cloudtrail": {"sourceAddress": ["sourceIPAddress"]}}"#;
    let base_schema = [("conf/schemas/demo.json", SCHEMA)];
    let base_cluster = [("conf/clusters/prod.json", CLUSTER)];
    assert_eq!(
        load(
            &base_schema,
            &base_cluster,
            &[("conf/threat_intel.json", ti)]
        )
        .unwrap_err(),
        vec![
            "conf/threat_intel.json: $: threat_intel.json needs normalized_types.json beside it"
                .to_string()
        ]
    );
    assert_eq!(
        load(&base_schema, &base_cluster, &[("conf/normalized_types.json", norm), ("conf/threat_intel.json", ti)]).unwrap_err(),
        vec!["conf/threat_intel.json: $.normalized_ioc_types.ip[1]: bogus is not a normalized type in normalized_types.json".to_string()]
    );
    assert_eq!(
        load(
            &base_schema,
            &base_cluster,
            &[
                ("conf/normalized_types.json", norm),
                ("conf/threat_intel.json", "{}")
            ]
        )
        .unwrap_err(),
        vec!["conf/threat_intel.json: $: threat_intel.json needs normalized_ioc_types".to_string()]
    );
}

#[test]
fn tolerated_problems_are_warnings() {
    let schemas = [
        (
            "conf/schemas/a.json",
            r#"{"demo:x": {"parser": "kv", "schema": {"k": "string"}, "configuration": {"optional_top_level_keys": ["nope"]}}}"#,
        ),
        (
            "conf/schemas/b.json",
            r#"{"demo:x": {"parser": "kv", "schema": {"k": "string"}}}"#,
        ),
    ];
    let cluster =
        r#"{"classifier_config": {}, "data_sources": {"kinesis": {"stream": ["demo", "ghost"]}}}"#;
    let config = load(&schemas, &[("conf/clusters/prod.json", cluster)], &[]).unwrap();
    let warnings: Vec<String> = config.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        vec![
            "conf/schemas/a.json: $.demo:x.configuration.optional_top_level_keys: optional_top_level_keys lists nope, which is not a schema key; this log type never matches",
            "conf/schemas/b.json: $.demo:x: replaces the log type of the same name in conf/schemas/a.json",
            "conf/clusters/prod.json: $.data_sources.kinesis.stream[1]: no log type is named ghost or starts with ghost:",
        ]
    );
    assert!(
        config.log_type("demo:x").unwrap().never_matches.is_none(),
        "the later file's definition replaced the broken one"
    );
}

#[test]
fn global_and_other_files_are_kept_as_json() {
    let config = load(
        &[("conf/schemas/demo.json", SCHEMA)],
        &[("conf/clusters/prod.json", CLUSTER)],
        &[
            ("conf/global.json", r#"{"account": {"prefix": "acme"}}"#),
            ("conf/outputs.json", "{}"),
        ],
    )
    .unwrap();
    assert_eq!(config.global().unwrap()["account"]["prefix"], "acme");
    assert!(config.files.contains_key("outputs"));
}

#[test]
fn directories_are_read_sorted_and_unreadable_ones_reported() {
    let err = Config::load_dir(std::path::Path::new("/nonexistent/conf")).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/nonexistent/conf: $: cannot read directory"),
        "{err}"
    );
}
