//! S3 objects announced through SQS, against a real moto_server: bucket notifications sent by
//! moto itself, straight to SQS and through SNS; gzip JSON lines, a CloudTrail file and CSV
//! streamed in chunks; missing objects and unrecognized messages reported.

use std::io::Write;
use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Event, NotificationConfiguration, QueueConfiguration, TopicConfiguration};
use aws_sdk_sqs::types::QueueAttributeName;
use flate2::Compression;
use flate2::write::GzEncoder;
use sa_aws_sources::SourceError;
use sa_aws_sources::s3::{
    MessageContent, ObjectReadOptions, PayloadBody, QueueMessage, QueueOptions, S3Object,
    S3QueueReader, open_object,
};
use serde_json::{Value, json};

use crate::common;

fn quick_poll() -> QueueOptions {
    QueueOptions {
        wait_time_seconds: 1,
        max_messages: 10,
        visibility_timeout_seconds: None,
    }
}

async fn queue(moto: &common::Moto, name: &str) -> (String, String) {
    let sqs = &moto.clients.sqs;
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_string();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&QueueAttributeName::QueueArn]
        .clone();
    (url, arn)
}

async fn create_bucket(moto: &common::Moto, bucket: &str) {
    moto.clients
        .s3
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
}

/// Has `bucket` announce every object created to the queue `queue_arn`.
async fn announce_objects_to_queue(moto: &common::Moto, bucket: &str, queue_arn: String) {
    let queue = QueueConfiguration::builder()
        .queue_arn(queue_arn)
        .events(Event::from("s3:ObjectCreated:*"))
        .build()
        .unwrap();
    let notification = NotificationConfiguration::builder()
        .queue_configurations(queue)
        .build();
    configure_notification(moto, bucket, notification).await;
}

/// Has `bucket` announce every object created to the SNS topic `topic_arn`.
async fn announce_objects_to_topic(moto: &common::Moto, bucket: &str, topic_arn: &str) {
    let topic = TopicConfiguration::builder()
        .topic_arn(topic_arn)
        .events(Event::from("s3:ObjectCreated:*"))
        .build()
        .unwrap();
    let notification = NotificationConfiguration::builder()
        .topic_configurations(topic)
        .build();
    configure_notification(moto, bucket, notification).await;
}

async fn configure_notification(
    moto: &common::Moto,
    bucket: &str,
    notification: NotificationConfiguration,
) {
    moto.clients
        .s3
        .put_bucket_notification_configuration()
        .bucket(bucket)
        .notification_configuration(notification)
        .send()
        .await
        .unwrap();
}

async fn put_object(moto: &common::Moto, bucket: &str, key: &str, body: Vec<u8>) {
    moto.clients
        .s3
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(ByteStream::from(body))
        .send()
        .await
        .unwrap();
}

/// Receives until `want` messages announcing objects arrived.
async fn receive_objects(reader: &S3QueueReader, want: usize) -> Vec<QueueMessage> {
    let mut got = Vec::new();
    for _ in 0..20 {
        if got.len() >= want {
            break;
        }
        got.extend(reader.receive().await.unwrap());
    }
    got
}

async fn ack_all(reader: &S3QueueReader, messages: &[QueueMessage]) {
    for message in messages {
        reader.ack(&message.receipt).await.unwrap();
    }
}

async fn messages_left(moto: &common::Moto, url: &str) -> u64 {
    let attributes = moto
        .clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    let attributes = attributes.attributes().unwrap();
    attributes.values().map(|v| v.parse::<u64>().unwrap()).sum()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// Every payload of an object, with the chunk sizes it came in.
async fn read_object(
    moto: &common::Moto,
    object: &S3Object,
    options: ObjectReadOptions,
) -> Result<(Vec<(String, PayloadBody)>, Vec<usize>), SourceError> {
    let mut reader = open_object(&moto.clients.s3, object, options).await?;
    let mut payloads = Vec::new();
    let mut chunks = Vec::new();
    while let Some(chunk) = reader.next_chunk().await? {
        chunks.push(chunk.payloads.len());
        for payload in chunk.payloads {
            payloads.push((chunk.object.origin(payload.index), payload.body));
        }
    }
    Ok((payloads, chunks))
}

fn objects(message: &QueueMessage) -> &[S3Object] {
    match &message.content {
        MessageContent::Objects(objects) => objects,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn bucket_notifications_to_sqs_gzip_json_lines_cloudtrail_and_csv() {
    let moto = common::moto().await;
    let (url, arn) = queue(&moto, "bucket-events").await;
    create_bucket(&moto, "logs").await;
    announce_objects_to_queue(&moto, "logs", arn).await;

    let lines: Vec<Value> = (0..2500)
        .map(|i| json!({"n": i, "host": format!("web-{}", i % 7)}))
        .collect();
    let jsonl: Vec<u8> = lines
        .iter()
        .flat_map(|v| format!("{v}\n").into_bytes())
        .collect();
    let cloudtrail = json!({"Records": [
        {"eventName": "ConsoleLogin", "eventSource": "signin.amazonaws.com"},
        {"eventName": "CreateUser", "eventSource": "iam.amazonaws.com"}
    ]});
    let csv = "time,user,action\n1,alice,login\n2,bob,\"log,out\"\n";
    put_object(&moto, "logs", "app/web one+two.json.gz", gzip(&jsonl)).await;
    put_object(
        &moto,
        "logs",
        "AWSLogs/ct.json",
        cloudtrail.to_string().into_bytes(),
    )
    .await;
    put_object(&moto, "logs", "csv/data.csv", csv.as_bytes().to_vec()).await;

    let reader = S3QueueReader::new(moto.clients.sqs.clone(), &url, quick_poll());
    let messages = receive_objects(&reader, 3).await;
    assert_eq!(messages.len(), 3, "{messages:?}");
    let mut announced: Vec<S3Object> = messages.iter().flat_map(|m| objects(m).to_vec()).collect();
    announced.sort_by(|a, b| a.key.cmp(&b.key));
    let keys: Vec<&str> = announced.iter().map(|o| o.key.as_str()).collect();
    // moto encodes keys like S3 (quote_plus): the space and the '+' both come back
    assert_eq!(
        keys,
        vec!["AWSLogs/ct.json", "app/web one+two.json.gz", "csv/data.csv"]
    );
    assert!(
        announced
            .iter()
            .all(|o| o.bucket == "logs" && o.size.unwrap() > 0)
    );

    let options = ObjectReadOptions {
        max_records_per_chunk: 1000,
        ..ObjectReadOptions::default()
    };
    let (payloads, chunks) = read_object(&moto, &announced[1], options.clone())
        .await
        .unwrap();
    assert_eq!(chunks, vec![1000, 1000, 500]);
    for (i, (origin, body)) in payloads.iter().enumerate() {
        assert!(
            origin.starts_with("s3/logs/app/web one+two.json.gz@")
                && origin.ends_with(&format!("#{i}")),
            "{origin}"
        );
        assert_eq!(body, &PayloadBody::Json(lines[i].clone()));
    }

    let (payloads, _) = read_object(&moto, &announced[0], options.clone())
        .await
        .unwrap();
    assert_eq!(payloads.len(), 1, "a CloudTrail file is one document");
    assert_eq!(payloads[0].1, PayloadBody::Json(cloudtrail));
    assert!(payloads[0].0.ends_with("#0"));

    let (payloads, _) = read_object(&moto, &announced[2], options).await.unwrap();
    let raw: Vec<PayloadBody> = payloads.into_iter().map(|(_, body)| body).collect();
    assert_eq!(
        raw,
        csv.split_inclusive('\n')
            .map(|l| PayloadBody::Raw(l.as_bytes().to_vec()))
            .collect::<Vec<_>>()
    );

    ack_all(&reader, &messages).await;
    // the s3:TestEvent moto sent when notifications were configured was deleted on receipt too
    assert_eq!(messages_left(&moto, &url).await, 0);
}

#[tokio::test]
async fn sns_wrapped_notifications_are_unwrapped() {
    let moto = common::moto().await;
    let (url, queue_arn) = queue(&moto, "via-sns").await;
    let config = sa_chaos_tests::moto_sdk_config(&moto.server);
    let sns = aws_sdk_sns::Client::new(&config);
    let topic = sns
        .create_topic()
        .name("bucket-topic")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_string();
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .unwrap();
    create_bucket(&moto, "wrapped").await;
    announce_objects_to_topic(&moto, "wrapped", &topic).await;
    put_object(
        &moto,
        "wrapped",
        "dir/a%b.log",
        b"line one\nline two\n".to_vec(),
    )
    .await;

    let reader = S3QueueReader::new(moto.clients.sqs.clone(), &url, quick_poll());
    let messages = receive_objects(&reader, 1).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let body: Value = serde_json::from_str(&messages[0].body).unwrap();
    assert_eq!(body["Type"], "Notification", "delivered SNS-wrapped");
    let announced = objects(&messages[0]);
    assert_eq!(announced.len(), 1);
    assert_eq!(
        (announced[0].bucket.as_str(), announced[0].key.as_str()),
        ("wrapped", "dir/a%b.log")
    );
    let (payloads, _) = read_object(&moto, &announced[0], ObjectReadOptions::default())
        .await
        .unwrap();
    assert_eq!(payloads.len(), 2);
    reader.ack(&messages[0].receipt).await.unwrap();
    assert_eq!(messages_left(&moto, &url).await, 0);
}

#[tokio::test]
async fn missing_objects_and_garbage_are_reported_and_unacked_messages_come_back() {
    let moto = common::moto().await;
    let (url, _) = queue(&moto, "hand-made").await;
    create_bucket(&moto, "present-bucket").await;
    let sqs = &moto.clients.sqs;
    let missing = json!({"Records": [{"eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "present-bucket"}, "object": {"key": "gone.json", "size": 10}}}]});
    let no_bucket = json!({"Records": [{"eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "no-such-bucket"}, "object": {"key": "k", "size": 10}}}]});
    for body in [
        missing.to_string(),
        no_bucket.to_string(),
        "hello".to_string(),
    ] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let reader = S3QueueReader::new(
        sqs.clone(),
        &url,
        QueueOptions {
            visibility_timeout_seconds: Some(1),
            ..quick_poll()
        },
    );
    let mut messages = receive_objects(&reader, 3).await;
    assert_eq!(messages.len(), 3);
    messages.sort_by_key(|m| m.body.clone());
    assert!(messages.iter().all(|m| m.receive_count == 1));
    for message in &messages[1..] {
        let object = &objects(message)[0];
        match read_object(&moto, object, ObjectReadOptions::default()).await {
            Err(SourceError::ObjectMissing { bucket, key }) => {
                assert_eq!((bucket, key), (object.bucket.clone(), object.key.clone()));
            }
            other => panic!("{other:?}"),
        }
    }
    let MessageContent::Unrecognized(reason) = &messages[0].content else {
        panic!("{:?}", messages[0]);
    };
    assert!(reason.contains("not JSON"), "{reason}");

    // nothing acked: after the visibility timeout they come back, counted
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let again = receive_objects(&reader, 3).await;
    assert_eq!(again.len(), 3);
    assert!(again.iter().all(|m| m.receive_count == 2), "{again:?}");
    // what the node does with them: dead-letter, then ack
    ack_all(&reader, &again).await;
    assert_eq!(messages_left(&moto, &url).await, 0);
}

#[tokio::test]
async fn a_large_gzip_object_streams_in_bounded_chunks() {
    let moto = common::moto().await;
    create_bucket(&moto, "big").await;
    let line = |i: usize| {
        format!(
            "2024-01-01T00:00:00Z host-{} sshd[{i}]: Accepted publickey for user{}\n",
            i % 13,
            i % 101
        )
    };
    let text: Vec<u8> = (0..100_000).flat_map(|i| line(i).into_bytes()).collect();
    put_object(&moto, "big", "syslog.gz", gzip(&text)).await;
    let object = S3Object {
        bucket: "big".into(),
        key: "syslog.gz".into(),
        size: None,
        etag: None,
    };
    let options = ObjectReadOptions {
        max_records_per_chunk: 100_000,
        max_bytes_per_chunk: 256 << 10,
        ..ObjectReadOptions::default()
    };
    let mut reader = open_object(&moto.clients.s3, &object, options)
        .await
        .unwrap();
    assert!(!reader.id().etag.is_empty());
    let mut next_index = 0;
    let mut chunks = 0;
    while let Some(chunk) = reader.next_chunk().await.unwrap() {
        chunks += 1;
        let bytes: usize = chunk.payloads.iter().map(|p| p.source_len).sum();
        assert!(bytes < (256 << 10) + 200, "chunk of {bytes} bytes");
        for payload in chunk.payloads {
            assert_eq!(payload.index, next_index);
            assert_eq!(
                payload.body,
                PayloadBody::Raw(line(next_index as usize).into_bytes())
            );
            next_index += 1;
        }
    }
    assert_eq!(next_index, 100_000);
    assert!(chunks >= text.len() / (256 << 10), "{chunks} chunks");
}
