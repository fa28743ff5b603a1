//! The S3 source on a real 3-node cluster against moto_server: objects announced by bucket
//! notifications through SQS yield every alert once, and every message is deleted, including
//! those that cannot be read (dead-lettered: a body that is no notification, a missing object, a
//! gzip bomb, which no node inflates past its limit).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration};
use aws_sdk_sqs::types::QueueAttributeName;
use sa_aws_sources::SourceClients;
use sa_chaos_tests::aws_sources::moto_clients;
use sa_chaos_tests::{MotoServer, TestCluster, write_repository};
use serde_json::{Value, json};

const RULES: &str = r#"
from streamalert.shared.rule import rule


@rule(logs=['chaos:event'])
def s3_hit(rec):
    return rec['kind'] == 'hit'
"#;

async fn queue_with_bucket_notifications(clients: &SourceClients, bucket: &str) -> String {
    let url = clients
        .sqs
        .create_queue()
        .queue_name("bucket-events")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let arn = clients
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    clients
        .s3
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    clients
        .s3
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(
            NotificationConfiguration::builder()
                .queue_configurations(
                    QueueConfiguration::builder()
                        .queue_arn(arn)
                        .events(Event::from("s3:ObjectCreated:*"))
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    url
}

async fn messages_left(clients: &SourceClients, url: &str) -> u64 {
    let attributes = clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    attributes
        .attributes()
        .unwrap()
        .values()
        .map(|v| v.parse::<u64>().unwrap())
        .sum()
}

fn json_lines(seqs: std::ops::Range<u64>) -> String {
    seqs.map(|seq| {
        let kind = if seq % 2 == 0 { "hit" } else { "miss" };
        format!("{}\n", json!({"kind": kind, "seq": seq}))
    })
    .collect()
}

fn alert_seqs(cluster: &TestCluster) -> BTreeMap<u64, usize> {
    let out = cluster.sactl(0, &["alerts", "list", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let alerts: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let mut seqs = BTreeMap::new();
    for alert in alerts {
        let record = &alert["alert"]["Record"];
        let record: Value = match record.as_str() {
            Some(text) => serde_json::from_str(text).unwrap(),
            None => record.clone(),
        };
        *seqs.entry(record["seq"].as_u64().unwrap()).or_insert(0) += 1;
    }
    seqs
}

#[test]
fn objects_announced_through_sqs_yield_every_alert_once_and_every_message_is_deleted() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let moto = MotoServer::start().expect("moto_server starts (deploy/local/bootstrap.sh)");
    let clients = runtime.block_on(moto_clients(&moto));
    let url = runtime.block_on(queue_with_bucket_notifications(&clients, "logs"));

    let dir = tempfile::tempdir().unwrap();
    let repo: PathBuf = write_repository(
        dir.path(),
        &[(
            "chaos",
            json!({"id": "chaos", "classifier_config": {},
                   "data_sources": {"s3": {"logs": ["chaos"]}}}),
        )],
        &[(
            "chaos",
            json!({"chaos:event": {"parser": "json", "schema": {"kind": "string", "seq": "integer"}}}),
        )],
        &[("s3_rules.py", RULES)],
        None,
    )
    .unwrap();
    let env = moto.env();
    let cluster = TestCluster::start_configured(3, |options| {
        options.repo = repo.clone();
        options.env.extend(env.iter().cloned());
        options.extra_args.extend([
            "--quiet-alerts".to_string(),
            "--s3-queue".to_string(),
            url.clone(),
        ]);
    })
    .unwrap();

    runtime.block_on(async {
        let put = |key: &str, body: String| {
            clients
                .s3
                .put_object()
                .bucket("logs")
                .key(key)
                .body(ByteStream::from(body.into_bytes()))
                .send()
        };
        put("a/first.json", json_lines(0..50)).await.unwrap();
        // a line no schema takes sits between good ones: dead-lettered, the rest read
        let mixed = format!("{}not json\n{}", json_lines(50..60), json_lines(60..100));
        put("b/second with space.json", mixed).await.unwrap();
        for i in 0..5 {
            put(
                &format!("c/{i}.json"),
                json_lines(100 + i * 10..110 + i * 10),
            )
            .await
            .unwrap();
        }
        // 256 MiB of zeros in lines of 1 MiB, gzipped to about 256 KiB: dead-lettered at its
        // first steps, never inflated whole
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let line = [vec![0u8; 1 << 20], b"\n".to_vec()].concat();
        for _ in 0..256 {
            std::io::Write::write_all(&mut encoder, &line).unwrap();
        }
        let bomb = encoder.finish().unwrap();
        clients
            .s3
            .put_object()
            .bucket("logs")
            .key("d/bomb.json.gz")
            .body(ByteStream::from(bomb))
            .send()
            .await
            .unwrap();
        // a body that is no S3 notification, and an object deleted before it is read
        clients
            .sqs
            .send_message()
            .queue_url(&url)
            .message_body("hello, not an event")
            .send()
            .await
            .unwrap();
        let missing = json!({"Records": [{"eventName": "ObjectCreated:Put",
            "s3": {"bucket": {"name": "logs"}, "object": {"key": "gone.json", "size": 10}}}]});
        clients
            .sqs
            .send_message()
            .queue_url(&url)
            .message_body(missing.to_string())
            .send()
            .await
            .unwrap();
    });

    let expected: BTreeMap<u64, usize> = (0..150).filter(|n| n % 2 == 0).map(|n| (n, 1)).collect();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let got = alert_seqs(&cluster);
        assert!(
            got.values().all(|n| *n == 1),
            "an alert stored twice: {got:?}"
        );
        let left = runtime.block_on(messages_left(&clients, &url));
        if got == expected && left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out: {} of {} alerts, {left} messages left",
            got.len(),
            expected.len()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // Every alert is in; a quiet period lets a late duplicate (a record read twice) show up.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(alert_seqs(&cluster), expected);

    let out = cluster.sactl(0, &["dead-letters", "list", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let letters = String::from_utf8_lossy(&out.stdout);
    assert!(letters.contains("hello, not an event"), "{letters}");
    assert!(letters.contains("s3://logs/gone.json"), "{letters}");
    assert!(letters.contains("not json"), "{letters}");
    assert!(
        letters.contains("s3://logs/d/bomb.json.gz: decompression stopped at")
            && letters.contains("a ratio above the 200:1 limit"),
        "{letters}"
    );
    for i in 0..3 {
        let peak = sa_chaos_tests::bench::memory_kib(cluster.node(i).pid(), "VmHWM").unwrap();
        assert!(peak < 512 * 1024, "node {i} peaked at {peak} KiB");
    }
}
