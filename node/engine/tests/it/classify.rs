//! Classification end to end (docs/spec §4–§7, Appendix E) on the fixture repository.

use sa_engine::classifier::RouteError;
use sa_engine::payload::kinesis_data;
use sa_engine::{Classifier, Config, Root};
use serde_json::{Value, json};

use crate::common::fixture_repo;

fn classifier() -> Classifier {
    Classifier::new(Config::load_dir(&fixture_repo().join("conf")).expect("fixture conf loads"))
}

fn text(s: &str) -> Root {
    Root::from_text(s)
}

#[test]
fn appendix_e_kv_over_sns() {
    // docs/spec Appendix E step 1–2: the SNS message parses to the demo:login record and the SQS message.
    let c = classifier()
        .classify(
            "sns",
            "demo_topic",
            text("time=1039395819 user=bob result=fail"),
        )
        .unwrap();
    assert!(c.dead_letters.is_empty());
    assert_eq!(
        serde_json::to_string(&c.records[0]).unwrap(),
        r#"{"cluster":"prod","log_schema_type":"demo:login","record":{"time":1039395819,"user":"bob","result":"fail"},"service":"sns","resource":"demo_topic","data_type":"kv"}"#
    );
}

#[test]
fn cloudwatch_logs_record_has_envelope_defaults_and_normalization_in_order() {
    // docs/spec §6.3: record keys, then streamalert:envelope_keys, then optional defaults, then normalization.
    let message = json!({"eventID": "e1", "eventName": "CreateUser", "eventTime": "t", "sourceIPAddress": "1.2.3.4", "userIdentity": {"type": "Root"}}).to_string();
    let payload = json!({"messageType": "DATA_MESSAGE", "owner": "1234", "logGroup": "CloudTrail/DefaultLogGroup", "logStream": "1234_CloudTrail_us-east-1",
        "subscriptionFilters": ["Sub"], "logEvents": [{"id": "1", "message": message}, {"id": "2", "message": "not json"}]});
    let c = classifier()
        .classify("kinesis", "fixture_stream", Root::Json(payload))
        .unwrap();
    assert_eq!(c.records.len(), 1);
    let record = &c.records[0];
    assert_eq!(record.log_type, "cloudwatch:cloudtrail");
    let keys: Vec<&str> = record.record.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "eventID",
            "eventName",
            "eventTime",
            "sourceIPAddress",
            "userIdentity",
            "streamalert:envelope_keys",
            "requestParameters",
            "readOnly",
            "streamalert_normalization"
        ]
    );
    assert_eq!(
        record.record["streamalert:envelope_keys"],
        json!({"logGroup": "CloudTrail/DefaultLogGroup", "logStream": "1234_CloudTrail_us-east-1", "messageType": "DATA_MESSAGE", "owner": "1234", "subscriptionFilters": ["Sub"]})
    );
    assert_eq!(record.record["requestParameters"], json!({}));
    assert_eq!(record.record["readOnly"], json!(false));
    let normalization = &record.record["streamalert_normalization"];
    assert_eq!(
        normalization["ip_address"],
        json!([{"function": "Source IP addresses", "values": ["1.2.3.4"]}])
    );
    assert_eq!(
        normalization["streamalert_record_id"]
            .as_str()
            .unwrap()
            .len(),
        36
    );
    // The log event that is not JSON is a dead letter of the winning type, not dropped.
    assert_eq!(c.dead_letters.len(), 1);
    assert_eq!(
        c.dead_letters[0].log_type.as_deref(),
        Some("cloudwatch:cloudtrail")
    );
    assert_eq!(c.dead_letters[0].record, r#""not json""#);
    assert_eq!(
        c.dead_letters[0].reason(),
        "cloudwatch:cloudtrail: embedded JSON does not decode to an object"
    );
}

#[test]
fn s3_cloudtrail_records_and_invalid_sub_records() {
    let doc = json!({"Records": [
        {"eventID": "1", "eventName": "A", "eventTime": "t", "sourceIPAddress": "1.1.1.1", "userIdentity": {}},
        {"eventID": "2", "eventName": "B", "eventTime": "t", "userIdentity": {}, "foo": 1},
        {"eventID": "3", "eventName": "C", "eventTime": "t", "sourceIPAddress": "", "userIdentity": {}, "readOnly": "TRUE"}
    ]});
    let c = classifier()
        .classify("s3", "fixture-bucket", Root::Json(doc))
        .unwrap();
    assert_eq!(
        c.records
            .iter()
            .map(|r| r.record["eventID"].clone())
            .collect::<Vec<_>>(),
        [json!("1"), json!("3")]
    );
    assert_eq!(c.records[1].record["readOnly"], json!(true));
    assert_eq!(
        c.records[1].record["streamalert_normalization"],
        json!({}),
        "nothing found: {{}} without a record id"
    );
    assert_eq!(c.dead_letters.len(), 1);
    assert_eq!(
        c.dead_letters[0].reason(),
        "cloudtrail:events: missing key sourceIPAddress; extra key foo"
    );
}

#[test]
fn unmatched_payload_is_a_dead_letter_with_every_candidates_reason() {
    let c = classifier()
        .classify(
            "kinesis",
            "fixture_stream",
            Root::Json(json!({"eventID": "1", "foo": 2})),
        )
        .unwrap();
    assert!(c.records.is_empty());
    let dead = &c.dead_letters[0];
    assert_eq!(dead.record, r#"{"eventID":"1","foo":2}"#);
    let reasons: Vec<String> = dead.failures.iter().map(ToString::to_string).collect();
    assert_eq!(
        reasons[0],
        "cloudtrail:events: missing keys eventName, eventTime, sourceIPAddress, userIdentity; extra key foo"
    );
    assert_eq!(
        reasons[1],
        "cloudwatch:cloudtrail: envelope key logGroup is missing"
    );
    assert_eq!(
        reasons[3],
        "demo:login: payload decodes to a JSON value, not a text line"
    );
    // Six candidates, two of them rejecting it for the same reason: one entry names both.
    assert_eq!(
        reasons[4],
        "demo:json_login, demo:any_login: missing keys time, user, result; extra keys eventID, foo"
    );
    assert_eq!(dead.failures.len(), 5, "{reasons:?}");
}

#[test]
fn candidates_giving_one_reason_share_it_and_past_three_are_counted_not_named() {
    use sa_engine::classifier::CandidateFailure;
    let rejections = ["a", "b", "c", "d", "e"]
        .into_iter()
        .map(|name| (name, "payload is not JSON".to_owned()))
        .chain([("f", "envelope key x is missing".to_owned())]);
    let groups = CandidateFailure::grouped(rejections);
    let reasons: Vec<String> = groups.iter().map(ToString::to_string).collect();
    assert_eq!(
        reasons,
        [
            "a, b, c and 2 more: payload is not JSON",
            "f: envelope key x is missing"
        ]
    );
}

#[test]
fn first_valid_type_in_priority_order_wins_and_ambiguity_is_reported() {
    let classifier = classifier();
    let root = Root::Json(json!({"time": 1, "user": "bob", "result": "failed"}));
    let c = classifier
        .classify("kinesis", "fixture_stream", root.clone())
        .unwrap();
    assert_eq!(c.records[0].log_type, "demo:json_login");
    assert_eq!(
        classifier
            .matching_log_types("kinesis", "fixture_stream", &root)
            .unwrap(),
        ["demo:json_login", "demo:any_login"]
    );
    let other = Root::Json(json!({"time": 1, "user": "bob", "result": "other"}));
    assert_eq!(
        classifier
            .classify("kinesis", "fixture_stream", other.clone())
            .unwrap()
            .records[0]
            .log_type,
        "demo:any_login",
        "log_patterns reject"
    );
    assert_eq!(
        classifier
            .explain_log_type("kinesis", "fixture_stream", &other, "demo:json_login")
            .unwrap(),
        r#"log_patterns: result="other" matches none of ["fail*", "success"]"#
    );
}

#[test]
fn data_sources_match_prefixes_and_exact_names() {
    let classifier = classifier();
    let (_, by_prefix) = classifier.candidates("kinesis", "fixture_stream").unwrap();
    let names: Vec<&str> = by_prefix.iter().map(|lt| lt.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "cloudtrail:events",
            "cloudwatch:cloudtrail",
            "cloudwatch:events",
            "demo:login",
            "demo:json_login",
            "demo:any_login"
        ]
    );
    let (cluster, exact) = classifier.candidates("kinesis", "fixture_exact").unwrap();
    assert_eq!(cluster, "prod");
    assert_eq!(
        exact.iter().map(|lt| lt.name.as_str()).collect::<Vec<_>>(),
        ["cloudwatch:events"]
    );
}

#[test]
fn routing_errors_and_resources_without_log_types() {
    let classifier = classifier();
    assert_eq!(
        classifier
            .classify("kinesis", "unknown", text("x"))
            .unwrap_err(),
        RouteError::UnknownResource {
            service: "kinesis".into(),
            resource: "unknown".into()
        }
    );
    let c = classifier
        .classify("file", "/var/log/unmatched.log", text("a line"))
        .unwrap();
    assert_eq!(
        c.dead_letters[0].reason(),
        "(none): no log type belongs to the sources listed for this resource (nothing_here)"
    );
}

#[test]
fn text_parsers_through_the_classifier() {
    let classifier = classifier();
    let classify = |line: &str| {
        let c = classifier.classify("http", "ingest", text(line)).unwrap();
        assert!(
            c.dead_letters.is_empty(),
            "{line}: {:?}",
            c.dead_letters.first().map(|d| d.reason())
        );
        (
            c.records[0].log_type.clone(),
            Value::Object(c.records[0].record.clone()),
        )
    };
    let (t, r) = classify("Jan 10 19:35:13 host ssh[1]: hi");
    assert_eq!((t.as_str(), &r["message"]), ("syslog:log", &json!("hi")));
    let (t, r) = classify("CEF:0|Acme|IDS|1.0|100|Port scan|7|src=10.0.0.1 dst=10.0.0.2");
    assert_eq!(t, "cef:event");
    assert_eq!(
        (&r["cef_version"], &r["severity"], &r["extension"]["dst"]),
        (&json!(0), &json!(7), &json!("10.0.0.2"))
    );
    let (t, r) = classify("LEEF:1.0|Acme|FW|2|deny|src=1.2.3.4\tdst=5.6.7.8");
    assert_eq!(
        (t.as_str(), &r["attributes"]["dst"]),
        ("leef:event", &json!("5.6.7.8"))
    );
    let (t, r) = classify(r#"<165>1 2003-10-11T22:14:15.003Z host app - ID47 [meta x="1"] msg"#);
    assert_eq!(t, "rfc5424:event");
    assert_eq!(
        (
            &r["facility"],
            &r["version"],
            &r["procid"],
            &r["structured_data"]
        ),
        (
            &json!(20),
            &json!(1),
            &json!(null),
            &json!({"meta": {"x": "1"}})
        )
    );
}

#[test]
fn csv_lines_from_s3_and_compressed_kinesis() {
    let classifier = classifier();
    let c = classifier
        .classify(
            "s3",
            "fixture-bucket",
            text(
                "2 123 eni-1 10.0.0.1 10.0.0.2 443 5555 6 10 840 1700000000 1700000060 ACCEPT OK\n",
            ),
        )
        .unwrap();
    assert_eq!(c.records[0].log_type, "vpcflow:default");
    assert_eq!(c.records[0].record["dstport"], json!(5555));
    use base64::Engine;
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(b"time=1 user=x result=ok").unwrap();
    let root =
        kinesis_data(&base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap()))
            .unwrap();
    assert_eq!(
        classifier
            .classify("kinesis", "fixture_stream", root)
            .unwrap()
            .records[0]
            .log_type,
        "demo:login"
    );
}

#[test]
fn legacy_logs_json_is_used_as_is() {
    // docs/spec §2.1: with conf/logs.json the schemas directory is ignored and no priority sorting happens.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path();
    std::fs::create_dir_all(conf.join("schemas")).unwrap();
    std::fs::create_dir_all(conf.join("clusters")).unwrap();
    std::fs::write(conf.join("schemas/ignored.json"), "not even json").unwrap();
    std::fs::write(
        conf.join("logs.json"),
        r#"{"demo:b": {"parser": "kv", "schema": {"k": "string"}, "configuration": {"priority": 5}}, "demo:a": {"parser": "kv", "schema": {"k": "string"}, "configuration": {"priority": 0}}}"#,
    )
    .unwrap();
    std::fs::write(
        conf.join("clusters/c.json"),
        r#"{"classifier_config": {}, "data_sources": {"sns": {"t": ["demo"]}}}"#,
    )
    .unwrap();
    let classifier = Classifier::new(Config::load_dir(conf).unwrap());
    assert_eq!(
        classifier
            .classify("sns", "t", text("k=v"))
            .unwrap()
            .records[0]
            .log_type,
        "demo:b"
    );
}

#[test]
fn sorted_schema_files_and_priority_inheritance() {
    // docs/spec §3.6 over files read in name order: b.json's unprioritized type inherits a.json's 2.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path();
    std::fs::create_dir_all(conf.join("schemas")).unwrap();
    std::fs::create_dir_all(conf.join("clusters")).unwrap();
    std::fs::write(conf.join("schemas/b.json"), r#"{"demo:third": {"parser": "kv", "schema": {"k": "string"}}, "demo:first": {"parser": "kv", "schema": {"k": "string"}, "configuration": {"priority": 0}}}"#).unwrap();
    std::fs::write(conf.join("schemas/a.json"), r#"{"demo:second": {"parser": "kv", "schema": {"k": "string"}, "configuration": {"priority": 2}}}"#).unwrap();
    std::fs::write(
        conf.join("clusters/c.json"),
        r#"{"classifier_config": {}, "data_sources": {"sns": {"t": ["demo"]}}}"#,
    )
    .unwrap();
    let classifier = Classifier::new(Config::load_dir(conf).unwrap());
    let (_, candidates) = classifier.candidates("sns", "t").unwrap();
    assert_eq!(
        candidates
            .iter()
            .map(|lt| lt.name.as_str())
            .collect::<Vec<_>>(),
        ["demo:first", "demo:second", "demo:third"]
    );
}
