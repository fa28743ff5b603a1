//! The reader's answers to throttling and an expired iterator, against a scripted loopback
//! Kinesis (moto never throttles): each throttled call is retried after a growing backoff, and
//! an expired iterator is re-created after the last record read, a 5xx is retried.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use sa_aws_sources::SourceError;
use sa_aws_sources::kinesis::{PacingConfig, ReaderOptions, ShardInfo, ShardReader, StartPosition};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// A request the fake received: operation, JSON body, when.
type Log = Arc<Mutex<Vec<(String, Value, Instant)>>>;

const THROTTLED_CALLS: usize = 4;

/// Scripted answers: GetRecords #1 returns record 1; the next THROTTLED_CALLS are throttled;
/// then the iterator has expired; after a new iterator, a 503, then record 2 and the end of
/// the shard.
fn answer(operation: &str, log: &[(String, Value, Instant)]) -> (u16, Value) {
    let get_records = log.iter().filter(|(op, _, _)| op == "GetRecords").count();
    let record = |seq: &str| {
        json!({"SequenceNumber": seq, "Data": "aGVsbG8=", "PartitionKey": "k",
               "ApproximateArrivalTimestamp": 1.7e9})
    };
    match operation {
        "GetShardIterator" => (
            200,
            json!({"ShardIterator": format!("iterator-{}", log.len())}),
        ),
        "GetRecords" if get_records == 1 => (
            200,
            json!({"Records": [record("1")], "NextShardIterator": "next", "MillisBehindLatest": 5}),
        ),
        "GetRecords" if get_records <= 1 + THROTTLED_CALLS => (
            400,
            json!({"__type": "ProvisionedThroughputExceededException", "message": "Rate exceeded for shard"}),
        ),
        "GetRecords" if get_records == 2 + THROTTLED_CALLS => (
            400,
            json!({"__type": "ExpiredIteratorException", "message": "Iterator expired"}),
        ),
        "GetRecords" if get_records == 3 + THROTTLED_CALLS => (
            503,
            json!({"__type": "InternalFailure", "message": "try again"}),
        ),
        "GetRecords" => (
            200,
            json!({"Records": [record("2")], "MillisBehindLatest": 0}),
        ),
        _ => (
            400,
            json!({"__type": "InvalidArgumentException", "message": operation}),
        ),
    }
}

/// How the fake answers a request, given every request so far (this one last).
type Script = fn(&str, &[(String, Value, Instant)]) -> (u16, Value);

async fn serve(listener: TcpListener, log: Log, script: Script) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        let log = log.clone();
        tokio::spawn(async move {
            let mut stream = BufReader::new(stream);
            loop {
                let mut target = String::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        match name.to_ascii_lowercase().as_str() {
                            "x-amz-target" => target = value.trim().to_string(),
                            "content-length" => length = value.trim().parse().unwrap(),
                            _ => {}
                        }
                    }
                }
                let mut body = vec![0; length];
                stream.read_exact(&mut body).await.unwrap();
                let operation = target.rsplit('.').next().unwrap_or_default().to_string();
                let (status, response) = {
                    let mut log = log.lock().unwrap();
                    log.push((
                        operation.clone(),
                        serde_json::from_slice(&body).unwrap(),
                        Instant::now(),
                    ));
                    script(&operation, &log)
                };
                let text = response.to_string();
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/x-amz-json-1.1\r\ncontent-length: {}\r\n\r\n",
                    text.len()
                );
                let stream = stream.get_mut();
                stream.write_all(head.as_bytes()).await.unwrap();
                stream.write_all(text.as_bytes()).await.unwrap();
            }
        });
    }
}

#[tokio::test]
async fn throttled_calls_back_off_and_an_expired_iterator_resumes_after_the_last_record() {
    let log: Log = Arc::default();
    let mut reader = reader_of(fake_kinesis(log.clone(), answer).await);
    let first = reader.next_batch().await.unwrap();
    assert_eq!(first.records.len(), 1);
    assert_eq!(first.millis_behind_latest, 5);
    let second = reader.next_batch().await.unwrap();
    assert_eq!(second.records.len(), 1);
    assert_eq!(second.records[0].sequence_number, "2");
    assert_eq!(second.records[0].data, b"hello");
    assert!(second.shard_end, "no NextShardIterator: the shard ended");
    assert_eq!(reader.consecutive_throttles(), 0);

    let log = log.lock().unwrap();
    let operations: Vec<&str> = log.iter().map(|(op, _, _)| op.as_str()).collect();
    let mut want = vec!["GetShardIterator", "GetRecords"];
    want.extend(std::iter::repeat_n("GetRecords", THROTTLED_CALLS));
    want.extend(["GetRecords", "GetShardIterator", "GetRecords", "GetRecords"]);
    assert_eq!(operations, want);
    assert_eq!(log[0].1["ShardIteratorType"], "TRIM_HORIZON");
    // the new iterator starts after the last record read, not at the start position
    let recreated = &log[log.len() - 3].1;
    assert_eq!(recreated["ShardIteratorType"], "AFTER_SEQUENCE_NUMBER");
    assert_eq!(recreated["StartingSequenceNumber"], "1");
    // each call after a throttled one waited at least half its backoff ceiling (equal jitter)
    for (n, pair) in log[2..3 + THROTTLED_CALLS].windows(2).enumerate() {
        let gap = pair[1].2 - pair[0].2;
        let floor = Duration::from_millis(50) * 2u32.pow(n as u32);
        assert!(
            gap >= floor,
            "throttle {n}: waited {gap:?}, want at least {floor:?}"
        );
    }
    // and the pause did not linger: the retry after the expired iterator came at once
    let after_expiry = log[log.len() - 3].2 - log[log.len() - 4].2;
    assert!(
        after_expiry < Duration::from_millis(500),
        "{after_expiry:?}"
    );
}

/// Starts a fake Kinesis following `script`; returns an SDK config pointing at it.
async fn fake_kinesis(log: Log, script: Script) -> aws_config::SdkConfig {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, log, script));
    sa_chaos_tests::endpoint_sdk_config(endpoint)
        .into_builder()
        // the reader's own backoff is under test, not the SDK's retries
        .retry_config(RetryConfig::disabled())
        .build()
}

fn reader_of(config: aws_config::SdkConfig) -> ShardReader {
    let shard = ShardInfo {
        shard_id: "shardId-000000000000".into(),
        parent_shard_id: None,
        adjacent_parent_shard_id: None,
        starting_sequence: "0".into(),
        ending_sequence: None,
    };
    let options = ReaderOptions {
        max_records_per_call: 100,
        pacing: PacingConfig {
            calls_per_sec: 1000.0,
            backoff_base: Duration::from_millis(100),
            ..PacingConfig::default()
        },
    };
    ShardReader::new(
        aws_sdk_kinesis::Client::new(&config),
        "stream",
        &shard,
        StartPosition::TrimHorizon,
        options,
    )
}

#[tokio::test]
async fn a_server_failing_for_good_is_reported_after_a_few_retries() {
    let log: Log = Arc::default();
    let mut reader = reader_of(
        fake_kinesis(log.clone(), |operation, log| match operation {
            "GetShardIterator" => (200, json!({"ShardIterator": format!("it-{}", log.len())})),
            _ => (
                500,
                json!({"__type": "InternalFailure", "message": "broken"}),
            ),
        })
        .await,
    );
    match reader.next_batch().await {
        Err(SourceError::Kinesis {
            operation,
            shard,
            message,
            ..
        }) => {
            assert_eq!(operation, "GetRecords");
            assert_eq!(shard.as_deref(), Some("shardId-000000000000"));
            assert!(message.contains("broken"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let calls = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(op, _, _)| op == "GetRecords")
        .count();
    assert_eq!(calls, 6, "the first call and five retries");
}
