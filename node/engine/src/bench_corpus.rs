//! Synthetic payloads and a matching configuration for measuring classification speed
//! (`cargo bench -p sa-engine`, `sactl bench classify`): CloudTrail through CloudWatch Events,
//! CloudWatch Logs and S3, VPC flow logs, key-value and syslog lines. The configuration has
//! sibling log types for every source so each payload is tried against several candidates.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};

use crate::config::{Config, ConfigSources, SourceFile};
use crate::error::ConfigErrors;
use crate::{Classifier, Root, test_events};

/// One payload as a source delivers it (after transport decoding), with its origin.
#[derive(Debug, Clone)]
pub struct BenchPayload {
    pub service: String,
    pub resource: String,
    pub bytes: Vec<u8>,
}

/// A named set of payloads holding `records` log records in total.
#[derive(Debug, Clone)]
pub struct Corpus {
    pub name: String,
    pub payloads: Vec<BenchPayload>,
    pub records: usize,
    /// Where the payloads carry JSON documents as strings (a CloudWatch Logs message):
    /// `(list, field)` names `payload[list][*][field]`.
    pub embedded_json: Option<(&'static str, &'static str)>,
}

impl Corpus {
    pub fn bytes(&self) -> usize {
        self.payloads.iter().map(|p| p.bytes.len()).sum()
    }
}

const CLOUDTRAIL_OPTIONAL: [&str; 13] = [
    "additionalEventData",
    "apiVersion",
    "errorCode",
    "errorMessage",
    "eventCategory",
    "managementEvent",
    "readOnly",
    "requestParameters",
    "resources",
    "responseElements",
    "serviceEventDetails",
    "sharedEventID",
    "tlsDetails",
];

fn cloudtrail_schema() -> Value {
    json!({
        "additionalEventData": {}, "apiVersion": "string", "awsRegion": "string", "errorCode": "string",
        "errorMessage": "string", "eventCategory": "string", "eventID": "string", "eventName": "string",
        "eventSource": "string", "eventTime": "string", "eventType": "string", "eventVersion": "string",
        "managementEvent": "boolean", "readOnly": "boolean", "recipientAccountId": "string", "requestID": "string",
        "requestParameters": {}, "resources": [], "responseElements": {}, "serviceEventDetails": {},
        "sharedEventID": "string", "sourceIPAddress": "string", "tlsDetails": {}, "userAgent": "string", "userIdentity": {}
    })
}

fn cloudtrail_normalization() -> Value {
    json!({
        "source_address": [{"path": ["sourceIPAddress"], "function": "Caller IP address"}],
        "user_identity": [{"path": ["userIdentity", "arn"], "function": "Caller ARN"}],
        "event_name": ["eventName"]
    })
}

fn schemas() -> Value {
    json!({
        "cloudtrail:digest": {"parser": "json", "schema": {"awsAccountId": "string", "digestStartTime": "string", "digestEndTime": "string", "digestS3Bucket": "string", "digestS3Object": "string", "logFiles": []}},
        "cloudtrail:events": {"parser": "json", "schema": cloudtrail_schema(), "configuration": {
            "json_path": "Records[*] || [@]", "optional_top_level_keys": CLOUDTRAIL_OPTIONAL, "normalization": cloudtrail_normalization()}},
        "cloudwatch:cloudtrail": {"parser": "json", "schema": cloudtrail_schema(), "configuration": {
            "json_path": "logEvents[*].message", "embedded_json": true, "optional_top_level_keys": CLOUDTRAIL_OPTIONAL,
            "envelope_keys": {"logGroup": "string", "logStream": "string", "messageType": "string", "owner": "string", "subscriptionFilters": []},
            "normalization": cloudtrail_normalization()}},
        "cloudwatch:events": {"parser": "json", "schema": {"account": "string", "detail": {}, "detail-type": "string", "id": "string", "region": "string", "resources": [], "source": "string", "time": "string", "version": "string"},
            "configuration": {"normalization": {"event_name": ["detail", "eventName"], "source_address": ["detail", "sourceIPAddress"]}}},
        "cloudwatch:flow_logs": {"parser": "json", "schema": {"protocol": "integer", "source": "string", "destination": "string", "srcport": "integer", "destport": "integer", "action": "string", "packets": "integer", "bytes": "integer", "windowstart": "integer", "windowend": "integer", "version": "integer", "eni": "string", "account": "string", "flowlogstatus": "string"},
            "configuration": {"json_path": "logEvents[*].extractedFields", "envelope_keys": {"logGroup": "string", "logStream": "string", "owner": "integer"}}},
        "vpcflow:no_data": {"parser": "csv", "schema": {"version": "integer", "account_id": "string", "interface_id": "string", "srcaddr": "string", "dstaddr": "string", "srcport": "string", "dstport": "string", "protocol": "string", "packets": "string", "bytes": "string", "start": "integer", "end": "integer", "action": "string", "log_status": "string"},
            "configuration": {"delimiter": " ", "log_patterns": {"log_status": "NODATA"}}},
        "vpcflow:default": {"parser": "csv", "schema": {"version": "integer", "account_id": "string", "interface_id": "string", "srcaddr": "string", "dstaddr": "string", "srcport": "integer", "dstport": "integer", "protocol": "integer", "packets": "integer", "bytes": "integer", "start": "integer", "end": "integer", "action": "string", "log_status": "string"},
            "configuration": {"delimiter": " ", "normalization": {"source_address": ["srcaddr"], "destination_address": ["dstaddr"]}}},
        "auditd:user": {"parser": "kv", "schema": {"type": "string", "msg": "string", "pid": "integer", "uid": "integer", "auid": "integer", "ses": "integer", "subj": "string", "op": "string", "acct": "string", "exe": "string", "hostname": "string", "addr": "string", "terminal": "string", "res": "string"}},
        "auditd:syscall": {"parser": "kv", "schema": {"type": "string", "msg": "string", "arch": "string", "syscall": "integer", "success": "string", "exit": "integer", "a0": "string", "a1": "string", "a2": "string", "a3": "string", "items": "integer", "ppid": "integer", "pid": "integer", "auid": "integer", "uid": "integer", "gid": "integer", "euid": "integer", "suid": "integer", "fsuid": "integer", "egid": "integer", "sgid": "integer", "fsgid": "integer", "tty": "string", "ses": "integer", "comm": "string", "exe": "string", "key": "string"}},
        "osx:syslog": {"parser": "syslog", "schema": {"timestamp": "string", "host": "string", "application": "string", "message": "string"}, "configuration": {"log_patterns": {"host": "mac-*"}}},
        "linux:syslog": {"parser": "syslog", "schema": {"timestamp": "string", "host": "string", "application": "string", "message": "string"}}
    })
}

fn cluster() -> Value {
    json!({
        "id": "bench",
        "classifier_config": {},
        "data_sources": {
            "kinesis": {"bench_cloudwatch": ["cloudwatch"], "bench_cloudtrail": ["cloudtrail"], "bench_auditd": ["auditd"], "bench_syslog": ["osx", "linux"]},
            "s3": {"bench-cloudtrail-bucket": ["cloudtrail"], "bench-flow-bucket": ["vpcflow"]}
        }
    })
}

/// The configuration the built-in corpora are classified with.
pub fn config() -> Result<Config, ConfigErrors> {
    let file = |path: &str, value: Value| SourceFile {
        path: PathBuf::from(path),
        contents: value.to_string().into_bytes(),
    };
    Config::from_sources(&ConfigSources {
        logs_json: None,
        schemas: vec![file("bench/conf/schemas/bench.json", schemas())],
        clusters: vec![file("bench/conf/clusters/bench.json", cluster())],
        top_level: Vec::new(),
    })
}

const EVENT_NAMES: [&str; 6] = [
    "PutBucketAcl",
    "GetObject",
    "AssumeRole",
    "CreateUser",
    "DescribeInstances",
    "ConsoleLogin",
];
const USERS: [&str; 4] = ["alice", "bob", "carol", "deploy-bot"];

/// A realistic (~1.1 KB) CloudTrail record; `n` varies names, users, addresses and ids.
pub fn cloudtrail_record(n: usize) -> Value {
    let user = USERS[n % USERS.len()];
    let bucket = format!("bucket-{}", n % 97);
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "principalId": format!("AIDA{n:016}"), "arn": format!("arn:aws:iam::123456789012:user/{user}"),
            "accountId": "123456789012", "accessKeyId": format!("AKIA{:016}", n * 7), "userName": user,
            "sessionContext": {"sessionIssuer": {}, "webIdFederationData": {}, "attributes": {"creationDate": "2026-11-28T08:00:00Z", "mfaAuthenticated": "false"}}},
        "eventTime": format!("2026-11-28T08:{:02}:{:02}Z", n / 60 % 60, n % 60),
        "eventSource": "s3.amazonaws.com",
        "eventName": EVENT_NAMES[n % EVENT_NAMES.len()],
        "awsRegion": "us-east-1",
        "sourceIPAddress": format!("203.0.{}.{}", n / 256 % 256, n % 256),
        "userAgent": "[aws-cli/2.13.0 Python/3.11.4 Linux/5.10.186 exe/x86_64.amzn.2]",
        "requestParameters": {"bucketName": bucket, "host": [format!("{bucket}.s3.amazonaws.com")], "acl": [""]},
        "responseElements": null,
        "additionalEventData": {"SignatureVersion": "SigV4", "CipherSuite": "ECDHE-RSA-AES128-GCM-SHA256", "bytesTransferredIn": 0, "AuthenticationMethod": "AuthHeader", "bytesTransferredOut": 0},
        "requestID": format!("{:016X}", n * 31 + 7),
        "eventID": format!("{:08x}-8d1c-4c9e-9e53-{:012x}", n, n * 13),
        "readOnly": false,
        "resources": [{"accountId": "123456789012", "type": "AWS::S3::Bucket", "ARN": format!("arn:aws:s3:::{bucket}")}],
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "123456789012",
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.2", "cipherSuite": "ECDHE-RSA-AES128-GCM-SHA256", "clientProvidedHostHeader": format!("{bucket}.s3.amazonaws.com")}
    })
}

fn payload(service: &str, resource: &str, bytes: Vec<u8>) -> BenchPayload {
    BenchPayload {
        service: service.into(),
        resource: resource.into(),
        bytes,
    }
}

/// The built-in corpora, each holding about `records` records.
pub fn corpora(records: usize) -> Vec<Corpus> {
    let records = records.max(1);
    let mut out = Vec::new();

    let direct = (0..records)
        .map(|n| {
            payload(
                "kinesis",
                "bench_cloudtrail",
                cloudtrail_record(n).to_string().into_bytes(),
            )
        })
        .collect();
    out.push(Corpus {
        name: "cloudtrail (one JSON record per payload)".into(),
        payloads: direct,
        records,
        embedded_json: None,
    });

    const PER_LOG_BATCH: usize = 10;
    let batches = records.div_ceil(PER_LOG_BATCH);
    let cwlogs = (0..batches)
        .map(|b| {
            let events: Vec<Value> = (0..PER_LOG_BATCH)
                .map(|i| json!({"id": format!("{b}{i}"), "timestamp": 1_700_000_000_000u64 + i as u64, "message": cloudtrail_record(b * PER_LOG_BATCH + i).to_string()}))
                .collect();
            let doc = json!({"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "CloudTrail/DefaultLogGroup",
                "logStream": "123456789012_CloudTrail_us-east-1", "subscriptionFilters": ["cloudtrail"], "logEvents": events});
            payload("kinesis", "bench_cloudwatch", doc.to_string().into_bytes())
        })
        .collect();
    out.push(Corpus {
        name: "cloudtrail via CloudWatch Logs (10 embedded records per payload)".into(),
        payloads: cwlogs,
        records: batches * PER_LOG_BATCH,
        embedded_json: Some(("logEvents", "message")),
    });

    const PER_OBJECT: usize = 50;
    let objects = records.div_ceil(PER_OBJECT);
    let s3 = (0..objects)
        .map(|o| {
            let doc = json!({"Records": (0..PER_OBJECT).map(|i| cloudtrail_record(o * PER_OBJECT + i)).collect::<Vec<_>>()});
            payload("s3", "bench-cloudtrail-bucket", doc.to_string().into_bytes())
        })
        .collect();
    out.push(Corpus {
        name: "cloudtrail via S3 (50 records per object)".into(),
        payloads: s3,
        records: objects * PER_OBJECT,
        embedded_json: None,
    });

    let flow = (0..records)
        .map(|n| {
            let line = format!(
                "2 123456789012 eni-{n:08x} 10.0.{}.{} 172.31.{}.{} {} 443 6 {} {} 1700000000 1700000060 {} OK\n",
                n / 256 % 256, n % 256, n / 7 % 256, n % 199, 1024 + n % 60000, n % 50 + 1, (n % 50 + 1) * 420,
                if n % 5 == 0 { "REJECT" } else { "ACCEPT" }
            );
            payload("s3", "bench-flow-bucket", line.into_bytes())
        })
        .collect();
    out.push(Corpus {
        name: "vpc flow log lines (csv)".into(),
        payloads: flow,
        records,
        embedded_json: None,
    });

    let kv = (0..records)
        .map(|n| {
            let line = format!(
                "type=USER_LOGIN msg=audit(1700000000.{n:03}:{n}) pid={} uid=0 auid={} ses={} subj=system_u:system_r:sshd_t:s0-s0:c0.c1023 op=login acct=\"{}\" exe=\"/usr/sbin/sshd\" hostname=? addr=198.51.100.{} terminal=ssh res={}",
                1000 + n % 30000, 1000 + n % 5, n % 900, USERS[n % USERS.len()], n % 256, if n % 3 == 0 { "failed" } else { "success" }
            );
            payload("kinesis", "bench_auditd", line.into_bytes())
        })
        .collect();
    out.push(Corpus {
        name: "auditd key-value lines".into(),
        payloads: kv,
        records,
        embedded_json: None,
    });

    let syslog = (0..records)
        .map(|n| {
            let line = format!(
                "Nov 28 08:{:02}:{:02} web-{} sshd[{}]: Accepted publickey for {} from 198.51.100.{} port {} ssh2: RSA SHA256:Xyz{n}",
                n / 60 % 60, n % 60, n % 12, 2000 + n % 5000, USERS[n % USERS.len()], n % 256, 30000 + n % 30000
            );
            payload("kinesis", "bench_syslog", line.into_bytes())
        })
        .collect();
    out.push(Corpus {
        name: "syslog lines".into(),
        payloads: syslog,
        records,
        embedded_json: None,
    });
    out
}

/// Why a repository gives no corpus.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CorpusError {
    #[error(transparent)]
    TestFiles(#[from] test_events::TestFilesError),
    /// No event of the file (or of the repository) prepares and has a cluster for its source.
    #[error("no usable test events found in {}", .0.display())]
    NoUsableEvents(PathBuf),
}

/// A repository's test events as payloads, repeated until `records` records: the events of
/// `events` if given, else of every test-event file under `repo/rules`. Events whose service
/// and source no cluster lists are skipped.
pub fn repository_corpus(
    classifier: &Classifier,
    repo: &Path,
    events: Option<&Path>,
    records: usize,
) -> Result<Corpus, CorpusError> {
    let files = match events {
        Some(file) => vec![test_events::load_file(file)],
        None => test_events::load(&[repo.join("rules")], &[])?,
    };
    let now = test_events::now();
    let mut base = Vec::new();
    for file in &files {
        for event in file.events.iter().flatten() {
            let Ok(prepared) = test_events::prepare(&event.value, classifier.config(), now) else {
                continue;
            };
            if classifier
                .candidates(&prepared.spec.service, &prepared.spec.source)
                .is_err()
            {
                continue;
            }
            base.push(BenchPayload {
                service: prepared.spec.service,
                resource: prepared.spec.source,
                bytes: prepared.data.into_bytes(),
            });
        }
    }
    if base.is_empty() {
        return Err(CorpusError::NoUsableEvents(
            events.unwrap_or(repo).to_path_buf(),
        ));
    }
    let payloads: Vec<BenchPayload> = base
        .iter()
        .cycle()
        .take(records.max(base.len()))
        .cloned()
        .collect();
    Ok(Corpus {
        name: format!(
            "{} test events of {}",
            base.len(),
            events.unwrap_or(repo).display()
        ),
        records: payloads.len(),
        payloads,
        embedded_json: None,
    })
}

/// The strings at `document[list][*][field]`.
fn embedded_texts<'v>(
    document: &'v Value,
    (list, field): (&str, &'v str),
) -> impl Iterator<Item = &'v str> {
    document
        .get(list)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(move |item| item.get(field)?.as_str())
}

/// Single-core timings (thread CPU time) of one corpus: classification (decode + classify) and
/// serde_json's parse of the same bytes into a `Value`.
#[derive(Debug, Clone, Copy)]
pub struct Measurement {
    pub records: usize,
    pub bytes: usize,
    pub classify: Duration,
    pub parse: Duration,
    /// serde_json's parse of the payload and then of each embedded JSON document in it: all
    /// the parsing classification cannot skip. Set for corpora with embedded JSON.
    pub parse_embedded: Option<Duration>,
}

impl Measurement {
    pub fn records_per_sec(&self) -> f64 {
        self.records as f64 / self.classify.as_secs_f64()
    }

    pub fn mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.classify.as_secs_f64()
    }

    pub fn parse_records_per_sec(&self) -> f64 {
        self.records as f64 / self.parse.as_secs_f64()
    }

    pub fn parse_mb_per_sec(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.parse.as_secs_f64()
    }

    /// Classification time over serde_json parse time.
    pub fn ratio(&self) -> f64 {
        self.classify.as_secs_f64() / self.parse.as_secs_f64()
    }

    /// Classification time over serde_json's parse of the payload and its embedded documents.
    pub fn ratio_embedded(&self) -> Option<f64> {
        self.parse_embedded
            .map(|parse| self.classify.as_secs_f64() / parse.as_secs_f64())
    }

    /// The header of the table `sactl bench classify` and the throughput bench print, one
    /// [`table_row`](Self::table_row) a corpus.
    pub fn table_header() -> String {
        format!(
            "{:<62} {:>9} {:>11} {:>8} {:>13} {:>8} {:>6} {:>14}",
            "corpus",
            "records",
            "records/s",
            "MB/s",
            "serde rec/s",
            "MB/s",
            "ratio",
            "ratio embedded"
        )
    }

    /// This measurement of `corpus` as a row under [`table_header`](Self::table_header).
    pub fn table_row(&self, corpus: &str) -> String {
        format!(
            "{:<62} {:>9} {:>11.0} {:>8.1} {:>13.0} {:>8.1} {:>6.2} {:>14}",
            corpus,
            self.records,
            self.records_per_sec(),
            self.mb_per_sec(),
            self.parse_records_per_sec(),
            self.parse_mb_per_sec(),
            self.ratio(),
            self.ratio_embedded()
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"))
        )
    }
}

/// A benchmark setting from the environment (`SA_BENCH_RECORDS=50000`); `None` when it is
/// unset or does not parse, for the caller's default.
pub fn env_setting<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok()?.parse().ok()
}

/// CPU time consumed by the calling thread: on a shared machine, wall time also counts the
/// time other processes hold the core.
pub fn thread_cpu_time() -> Duration {
    let mut spec = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec we own; CLOCK_THREAD_CPUTIME_ID exists on
    // every Linux sa runs on (a failure leaves zeros).
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut spec) };
    Duration::new(
        u64::try_from(spec.tv_sec).unwrap_or(0),
        u32::try_from(spec.tv_nsec).unwrap_or(0),
    )
}

/// The fastest of `rounds` runs of each (thread CPU time), alternating them so load changes on
/// a shared machine hit all alike.
pub fn measure(classifier: &Classifier, corpus: &Corpus, rounds: usize) -> Measurement {
    let classify = || {
        let start = thread_cpu_time();
        for p in &corpus.payloads {
            std::hint::black_box(
                classifier
                    .classify(&p.service, &p.resource, Root::from_bytes(&p.bytes))
                    .ok(),
            );
        }
        thread_cpu_time().saturating_sub(start)
    };
    let parse = || {
        let start = thread_cpu_time();
        for p in &corpus.payloads {
            std::hint::black_box(serde_json::from_slice::<Value>(&p.bytes).ok());
        }
        thread_cpu_time().saturating_sub(start)
    };
    let parse_embedded = |embedded: (&str, &str)| {
        let start = thread_cpu_time();
        for p in &corpus.payloads {
            let document = serde_json::from_slice::<Value>(&p.bytes).unwrap_or_default();
            for text in embedded_texts(&document, embedded) {
                std::hint::black_box(serde_json::from_str::<Value>(text).ok());
            }
            std::hint::black_box(document);
        }
        thread_cpu_time().saturating_sub(start)
    };
    let (mut best_classify, mut best_parse) = (classify(), parse());
    let mut best_embedded = corpus.embedded_json.map(parse_embedded);
    for _ in 0..rounds {
        best_classify = best_classify.min(classify());
        best_parse = best_parse.min(parse());
        best_embedded = best_embedded
            .zip(corpus.embedded_json.map(parse_embedded))
            .map(|(a, b)| a.min(b));
    }
    Measurement {
        records: corpus.records,
        bytes: corpus.bytes(),
        classify: best_classify,
        parse: best_parse,
        parse_embedded: best_embedded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_payload_classifies() {
        let classifier = Classifier::new(config().unwrap());
        assert!(
            classifier.config().warnings.is_empty(),
            "{:?}",
            classifier.config().warnings
        );
        let expected = [
            "cloudtrail:events",
            "cloudwatch:cloudtrail",
            "cloudtrail:events",
            "vpcflow:default",
            "auditd:user",
            "linux:syslog",
        ];
        for (corpus, want) in corpora(20).iter().zip(expected) {
            let mut records = 0;
            for p in &corpus.payloads {
                let c = classifier
                    .classify(&p.service, &p.resource, Root::from_bytes(&p.bytes))
                    .unwrap();
                assert!(
                    c.dead_letters.is_empty(),
                    "{}: {:?}",
                    corpus.name,
                    c.dead_letters
                );
                assert!(
                    c.records.iter().all(|r| r.log_type == want),
                    "{}: {}",
                    corpus.name,
                    c.records[0].log_type
                );
                records += c.records.len();
            }
            assert_eq!(records, corpus.records, "{}", corpus.name);
        }
    }

    #[test]
    fn the_embedded_baseline_reaches_every_embedded_record() {
        let classifier = Classifier::new(config().unwrap());
        for corpus in corpora(20) {
            let m = measure(&classifier, &corpus, 0);
            let Some(embedded) = corpus.embedded_json else {
                assert!(m.parse_embedded.is_none() && m.ratio_embedded().is_none());
                continue;
            };
            assert!(m.ratio_embedded().is_some());
            let documents: usize = corpus
                .payloads
                .iter()
                .map(|p| {
                    let document: Value = serde_json::from_slice(&p.bytes).unwrap();
                    embedded_texts(&document, embedded)
                        .filter(|text| {
                            serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_object())
                        })
                        .count()
                })
                .sum();
            assert_eq!(documents, corpus.records, "{}", corpus.name);
        }
    }

    #[test]
    fn cloudtrail_record_is_about_a_kilobyte() {
        let len = cloudtrail_record(12345).to_string().len();
        assert!((1000..1400).contains(&len), "{len}");
    }
}
