//! The AWS outputs against a real moto_server: the data lands where StreamAlert puts it.

use aws_config::SdkConfig;
use aws_sdk_cloudwatchlogs::types::OutputLogEvent;
use aws_sdk_s3::types::Object;
use aws_sdk_sqs::operation::create_queue::builders::CreateQueueFluentBuilder;
use aws_sdk_sqs::operation::receive_message::builders::ReceiveMessageFluentBuilder;
use aws_sdk_sqs::types::Message;
use sa_chaos_tests::{MOTO_REGION, MotoServer, endpoint_sdk_config, moto_sdk_config};
use sa_outputs::{Delivery, DeliveryOutcome, OutputName, Outputs, SecretsCipher, SecretsError};
use serde_json::{Map, Value, json};

use crate::common::{ALERT_ID, alert, config, credentials};
use crate::outcome::{assert_delivered, assert_failed, assert_misconfigured, assert_retry};

fn moto() -> (MotoServer, SdkConfig) {
    let server = MotoServer::start().expect("moto_server starts (deploy/local/bootstrap.sh)");
    let sdk = moto_sdk_config(&server);
    (server, sdk)
}

fn outputs(sdk: &SdkConfig, configured: &[(&str, Option<&str>)]) -> Outputs {
    Outputs::from_sdk_config(config(configured), sdk.clone())
}

/// Delivers `publication` of the sample alert to `output`, with no credentials.
async fn deliver(outputs: &Outputs, output: &str, publication: &Value) -> DeliveryOutcome {
    deliver_with(outputs, output, publication, &Map::new()).await
}

async fn deliver_with(
    outputs: &Outputs,
    output: &str,
    publication: &Value,
    creds: &Map<String, Value>,
) -> DeliveryOutcome {
    let alert = alert();
    let delivery = Delivery {
        alert: &alert,
        publication,
        credentials: creds,
        resource: None,
    };
    outputs
        .deliver(&OutputName::parse(output).unwrap(), &delivery)
        .await
}

/// Creates the queue `request` describes; returns its URL.
async fn create_queue(request: CreateQueueFluentBuilder) -> String {
    request.send().await.unwrap().queue_url.unwrap()
}

/// Sends `request` (a queue and up to 10 messages); returns the messages received.
async fn receive(request: ReceiveMessageFluentBuilder) -> Vec<Message> {
    request
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default()
}

async fn create_bucket(s3: &aws_sdk_s3::Client, bucket: &str) {
    s3.create_bucket().bucket(bucket).send().await.unwrap();
}

async fn list_objects(s3: &aws_sdk_s3::Client, bucket: &str) -> Vec<Object> {
    s3.list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .contents
        .unwrap_or_default()
}

async fn object_text(s3: &aws_sdk_s3::Client, bucket: &str, key: &str) -> String {
    let body = s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .body
        .collect()
        .await
        .unwrap();
    String::from_utf8(body.to_vec()).unwrap()
}

async fn log_events(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    stream: &str,
) -> Vec<OutputLogEvent> {
    logs.get_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .send()
        .await
        .unwrap()
        .events
        .unwrap_or_default()
}

#[tokio::test]
async fn sqs_receives_the_compact_record() {
    let (_moto, sdk) = moto();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue_url = create_queue(sqs.create_queue().queue_name("soar-alerts")).await;
    let outputs = outputs(
        &sdk,
        &[
            ("aws-sqs:soar", Some("soar-alerts")),
            ("aws-sqs:gone", Some("no-such-queue")),
        ],
    );
    let alert = alert();
    assert_delivered(&deliver(&outputs, "aws-sqs:soar", &alert).await);
    let magic = json!({"@aws-sqs.message_data": {"host": "web-1", "action": "isolate"}});
    assert_delivered(&deliver(&outputs, "aws-sqs:soar", &magic).await);
    let received = receive(sqs.receive_message().queue_url(&queue_url)).await;
    let mut bodies: Vec<String> = received.into_iter().filter_map(|m| m.body).collect();
    bodies.sort();
    let record = r#"{"eventName":"ConsoleLogin","userIdentity":{"type":"Root","arn":"arn:aws:iam::123456789012:root"},"sourceIPAddress":"198.51.100.7","responseElements":{"ConsoleLogin":"Success"},"resources":[]}"#;
    assert_eq!(
        bodies,
        vec![
            record.to_string(),
            r#"{"host":"web-1","action":"isolate"}"#.to_string()
        ]
    );

    assert_failed(
        &deliver(&outputs, "aws-sqs:gone", &alert).await,
        &["no-such-queue"],
    );
}

#[tokio::test]
async fn fifo_queues_get_the_rule_as_group_and_the_alert_as_deduplication_id() {
    let (_moto, sdk) = moto();
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue_url = create_queue(
        sqs.create_queue()
            .queue_name("soar.fifo")
            .attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true"),
    )
    .await;
    let outputs = outputs(&sdk, &[("aws-sqs:soar", Some("soar.fifo"))]);
    let alert = alert();
    for _ in 0..2 {
        assert_delivered(&deliver(&outputs, "aws-sqs:soar", &alert).await);
    }
    let messages = receive(
        sqs.receive_message()
            .queue_url(&queue_url)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All),
    )
    .await;
    assert_eq!(
        messages.len(),
        1,
        "the resent alert is de-duplicated: {messages:#?}"
    );
    let attributes = messages[0].attributes.clone().unwrap_or_default();
    use aws_sdk_sqs::types::MessageSystemAttributeName as Attribute;
    assert_eq!(
        attributes
            .get(&Attribute::MessageGroupId)
            .map(String::as_str),
        Some("cloudtrail_root_account_usage")
    );
    assert_eq!(
        attributes
            .get(&Attribute::MessageDeduplicationId)
            .map(String::as_str),
        Some(ALERT_ID)
    );
}

#[tokio::test]
async fn s3_stores_the_publication_under_an_hourly_prefix() {
    let (_moto, sdk) = moto();
    let s3 = aws_sdk_s3::Client::new(&sdk);
    create_bucket(&s3, "sa-alerts").await;
    let outputs = outputs(&sdk, &[("aws-s3:archive", Some("sa-alerts"))]);
    let alert = alert();
    assert_delivered(&deliver(&outputs, "aws-s3:archive", &alert).await);
    let objects = list_objects(&s3, "sa-alerts").await;
    assert_eq!(objects.len(), 1);
    let key = objects[0].key().unwrap();
    let (prefix, name) = key.rsplit_once('/').unwrap();
    assert!(
        prefix.starts_with("alerts/dt=") && prefix.len() == "alerts/dt=2026-11-28-10".len(),
        "{key}"
    );
    assert!(
        name.starts_with("s3_prod-trail_cloudtrail_root_account_usage_") && name.ends_with(".json"),
        "{key}"
    );
    let text = object_text(&s3, "sa-alerts", key).await;
    assert!(
        text.starts_with(r#"{"cluster": "prod", "context": {}, "#),
        "python json.dumps separators: {text}"
    );
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), alert);
}

#[tokio::test]
async fn sns_publishes_to_a_subscribed_queue() {
    let (_moto, sdk) = moto();
    let sns = aws_sdk_sns::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let topic_arn = sns
        .create_topic()
        .name("sa-alerts")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let queue_url = create_queue(sqs.create_queue().queue_name("sns-tap")).await;
    let queue_arn = format!("arn:aws:sqs:{MOTO_REGION}:123456789012:sns-tap");
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(queue_arn)
        .send()
        .await
        .unwrap();
    // the topic by name: its ARN is built from the region and the caller's account (STS)
    let outputs = outputs(&sdk, &[("aws-sns:topic", Some("sa-alerts"))]);
    let publication = json!({"b": 1, "a": {"z": true}});
    assert_delivered(&deliver(&outputs, "aws-sns:topic", &publication).await);
    let long = json!({"@aws-sns.topic": "t".repeat(150), "@aws-sns.message": "custom"});
    assert_delivered(&deliver(&outputs, "aws-sns:topic", &long).await);
    let messages = receive(sqs.receive_message().queue_url(&queue_url)).await;
    let mut envelopes: Vec<Value> = messages
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    envelopes.sort_by_key(|e| e["Message"].as_str().unwrap().len());
    assert_eq!(envelopes.len(), 2, "{envelopes:#?}");
    assert_eq!(envelopes[0]["Message"], "custom");
    assert_eq!(
        envelopes[0]["Subject"].as_str().unwrap().chars().count(),
        99
    );
    assert_eq!(
        envelopes[1]["Message"],
        "{\n  \"a\": {\n    \"z\": true\n  },\n  \"b\": 1\n}"
    );
    assert_eq!(
        envelopes[1]["Subject"],
        format!("cloudtrail_root_account_usage triggered alert {ALERT_ID}")
    );
}

#[tokio::test]
async fn firehose_delivers_a_json_line_to_its_s3_destination() {
    let (_moto, sdk) = moto();
    let s3 = aws_sdk_s3::Client::new(&sdk);
    create_bucket(&s3, "alerts-history").await;
    let destination = aws_sdk_firehose::types::ExtendedS3DestinationConfiguration::builder()
        .bucket_arn("arn:aws:s3:::alerts-history")
        .role_arn("arn:aws:iam::123456789012:role/firehose")
        .build()
        .unwrap();
    aws_sdk_firehose::Client::new(&sdk)
        .create_delivery_stream()
        .delivery_stream_name("sa_alert_delivery")
        .extended_s3_destination_configuration(destination)
        .send()
        .await
        .unwrap();
    let outputs = outputs(
        &sdk,
        &[
            ("aws-firehose:alerts", Some("sa_alert_delivery")),
            ("aws-firehose:gone", Some("nope")),
        ],
    );
    let alert = alert();
    assert_delivered(&deliver(&outputs, "aws-firehose:alerts", &alert).await);
    let objects = list_objects(&s3, "alerts-history").await;
    assert_eq!(objects.len(), 1, "{objects:?}");
    let text = object_text(&s3, "alerts-history", objects[0].key().unwrap()).await;
    assert!(
        text.ends_with('\n') && text.lines().count() == 1,
        "{text:?}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(text.trim_end()).unwrap(),
        alert
    );
    assert_failed(&deliver(&outputs, "aws-firehose:gone", &alert).await, &[]);
}

#[tokio::test]
async fn cloudwatch_logs_get_one_event_per_alert() {
    let (_moto, sdk) = moto();
    let outputs = outputs(
        &sdk,
        &[
            ("aws-cloudwatch-log:default", None),
            ("aws-cloudwatch-log:custom", Some("/soc/alerts:stream-1")),
        ],
    );
    let alert = alert();
    for _ in 0..2 {
        assert_delivered(&deliver(&outputs, "aws-cloudwatch-log:default", &alert).await);
    }
    assert_delivered(&deliver(&outputs, "aws-cloudwatch-log:custom", &json!({"a": 1})).await);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&sdk);
    let events = log_events(&logs, "/sa/alerts", "default").await;
    assert_eq!(events.len(), 2);
    let message = events[0].message().unwrap();
    let json_text = message.strip_prefix("New Alert:\n").expect(message);
    assert!(
        json_text.starts_with("{\n  \"cluster\": \"prod\","),
        "{message}"
    );
    assert_eq!(serde_json::from_str::<Value>(json_text).unwrap(), alert);
    let custom = log_events(&logs, "/soc/alerts", "stream-1").await;
    assert_eq!(custom.len(), 1);
    assert_eq!(custom[0].message(), Some("New Alert:\n{\n  \"a\": 1\n}"));
}

#[tokio::test]
async fn ses_sends_the_mime_email_with_the_record_attached() {
    let (moto, sdk) = moto();
    let ses = aws_sdk_ses::Client::new(&sdk);
    ses.verify_email_identity()
        .email_address("sa@example.com")
        .send()
        .await
        .unwrap();
    let outputs = outputs(&sdk, &[("aws-ses:soc", None)]);
    let creds = credentials(
        json!({"from_email": "sa@example.com", "to_emails": "a@example.com,b@example.com"}),
    );
    let publication =
        json!({"@aws-ses.body": {"html": "<b>root login</b>", "plain": "root login"}});
    assert_delivered(&deliver_with(&outputs, "aws-ses:soc", &publication, &creds).await);

    // moto keeps what it was sent in its internal state
    let (status, state) = sa_chaos_tests::http_get(moto.addr(), "/moto-api/data.json").unwrap();
    assert_eq!(status, 200);
    let state: Value = serde_json::from_str(&state).unwrap();
    let sent = &state["ses"]["RawMessage"][0];
    assert_eq!(sent["source"], "sa@example.com");
    let raw = sent["raw_data"].as_str().unwrap();
    assert!(
        raw.contains("\r\nTo: a@example.com, b@example.com\r\n"),
        "{raw}"
    );
    assert!(
        raw.contains(&format!(
            "\r\nSubject: cloudtrail_root_account_usage triggered alert {ALERT_ID}\r\n"
        )),
        "{raw}"
    );
    assert!(
        raw.contains("Content-Type: multipart/mixed; boundary="),
        "{raw}"
    );
    assert!(
        raw.contains("Content-Type: multipart/alternative;")
            && raw.contains("Content-Type: text/html;"),
        "{raw}"
    );
    let attachment = raw
        .split("filename=\"record.json\"\r\nContent-Transfer-Encoding: base64\r\n\r\n")
        .nth(1)
        .and_then(|rest| rest.split("\r\n--").next())
        .expect("record.json attachment");
    let decoded = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        attachment.replace("\r\n", ""),
    )
    .unwrap();
    let text = String::from_utf8(decoded).unwrap();
    assert!(
        text.starts_with("{\n  \"eventName\": \"ConsoleLogin\",\n  \"resources\": [],"),
        "{text}"
    );
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap(),
        alert()["record"]
    );

    let unverified =
        credentials(json!({"from_email": "who@example.org", "to_emails": "a@example.com"}));
    let outcome = deliver_with(&outputs, "aws-ses:soc", &publication, &unverified).await;
    assert_failed(&outcome, &[]);
}

#[tokio::test]
async fn lambda_invocations_reach_lambda() {
    let (_moto, sdk) = moto();
    let outputs = outputs(
        &sdk,
        &[
            ("aws-lambda:handler", Some("alert-handler:prod")),
            ("aws-lambda-v2:v2", None),
        ],
    );
    let alert = alert();
    // moto runs functions in Docker; without a function it answers "not found", naming the
    // function it was asked to invoke
    let outcome = deliver(&outputs, "aws-lambda:handler", &alert).await;
    assert_failed(&outcome, &["ResourceNotFound", "function:alert-handler"]);
    let creds = credentials(
        json!({"lambda_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:v2-handler"}),
    );
    let outcome = deliver_with(&outputs, "aws-lambda-v2:v2", &alert, &creds).await;
    assert_failed(&outcome, &["function:v2-handler"]);
    // with a role to assume: STS AssumeRole first, then the invocation with its credentials
    let creds = credentials(json!({
        "lambda_function_arn": "v2-assumed",
        "assume_role_arn": "arn:aws:iam::123456789012:role/alert-invoker",
    }));
    let outcome = deliver_with(&outputs, "aws-lambda-v2:v2", &alert, &creds).await;
    assert_failed(&outcome, &["function:v2-assumed"]);
}

#[tokio::test]
async fn lambda_invoke_request_is_asynchronous_with_qualifier_and_payload() {
    // moto ignores the Qualifier query parameter, so the exact request is checked on a receiver
    let receiver = sa_chaos_tests::HttpReceiver::start().unwrap();
    receiver.set_default_reply(sa_chaos_tests::Reply::status(202));
    let sdk = endpoint_sdk_config(receiver.url());
    let outputs = outputs(
        &sdk,
        &[(
            "aws-lambda:handler",
            Some("arn:aws:lambda:us-east-1:123456789012:function:alert-handler:prod"),
        )],
    );
    let publication = json!({"@aws-lambda.alert_data": {"host": "web-1"}});
    assert_delivered(&deliver(&outputs, "aws-lambda:handler", &publication).await);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.path(),
        "/2015-03-31/functions/alert-handler/invocations"
    );
    assert_eq!(request.query(), "Qualifier=prod");
    assert_eq!(request.header("x-amz-invocation-type"), Some("Event"));
    assert_eq!(request.body_text(), r#"{"host":"web-1"}"#);

    // one request per attempt (the SDK's retries are off); throttling and 5xx are retried,
    // other refusals are not
    receiver.queue_reply(
        sa_chaos_tests::Reply::json(429, &json!({"message": "Rate exceeded"}))
            .with_header("x-amzn-errortype", "TooManyRequestsException"),
    );
    let outcome = deliver(&outputs, "aws-lambda:handler", &publication).await;
    assert_retry(&outcome, &["TooManyRequests"]);
    receiver.queue_reply(sa_chaos_tests::Reply::status(500));
    let outcome = deliver(&outputs, "aws-lambda:handler", &publication).await;
    assert_retry(&outcome, &[]);
    receiver.queue_reply(
        sa_chaos_tests::Reply::json(400, &json!({"message": "bad payload"}))
            .with_header("x-amzn-errortype", "InvalidRequestContentException"),
    );
    let outcome = deliver(&outputs, "aws-lambda:handler", &publication).await;
    assert_failed(&outcome, &["InvalidRequestContent"]);
    assert_eq!(receiver.requests().len(), 4);
}

#[tokio::test]
async fn an_unreachable_aws_endpoint_is_retried() {
    let port = sa_chaos_tests::free_loopback_port();
    let sdk = endpoint_sdk_config(format!("http://127.0.0.1:{port}"));
    let outputs = outputs(&sdk, &[("aws-sqs:soar", Some("soar-alerts"))]);
    assert_retry(&deliver(&outputs, "aws-sqs:soar", &alert()).await, &[]);
}

#[tokio::test]
async fn kms_cipher_roundtrip() {
    let (_moto, sdk) = moto();
    let kms = aws_sdk_kms::Client::new(&sdk);
    let key_id = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id;
    let cipher = SecretsCipher::kms_from_sdk_config(&key_id, &sdk);
    let secret = br#"{"routing_key":"R0UT1NG"}"#;
    let blob = cipher.encrypt(secret).await.unwrap();
    assert!(!blob.windows(secret.len()).any(|w| w == secret));
    assert_eq!(cipher.decrypt(&blob).await.unwrap(), secret);
    assert!(cipher.describe().contains(&key_id));

    let dir = tempfile::tempdir().unwrap();
    let local = SecretsCipher::local(dir.path().join("k")).unwrap();
    let error = local.decrypt(&blob).await.unwrap_err();
    assert!(matches!(error, SecretsError::WrongCipher { .. }), "{error}");
    let local_blob = local.encrypt(secret).await.unwrap();
    assert!(matches!(
        cipher.decrypt(&local_blob).await,
        Err(SecretsError::WrongCipher { .. })
    ));

    let mut tampered = blob.clone();
    let middle = tampered.len() / 2;
    tampered[middle] ^= 0x55;
    assert!(cipher.decrypt(&tampered).await.is_err());
}

/// An AWS output with no credentials, or no region, anywhere is a configuration error: the
/// alert is dead-lettered at once (no day of retries) with what is missing and how to fix it.
#[tokio::test]
async fn an_aws_output_without_credentials_or_region_is_a_configuration_error() {
    let alert = alert();
    let none = credentials(json!({}));
    let configured = config(&[("aws-sqs:queue", Some("alerts"))]);

    let no_region = SdkConfig::builder()
        .credentials_provider(aws_sdk_sqs::config::SharedCredentialsProvider::new(
            aws_sdk_sqs::config::Credentials::new("a", "b", None, None, "test"),
        ))
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let outputs = Outputs::from_sdk_config(configured.clone(), no_region);
    let outcome = crate::common::deliver(&outputs, "aws-sqs:queue", &alert, &alert, &none).await;
    assert_misconfigured(
        &outcome,
        &[
            "Missing Region",
            "AWS_REGION",
            "sactl dead-letters replay --output aws-sqs:queue",
        ],
    );

    // The provider chain as a node without credentials meets it.
    // SAFETY: nextest runs each test in a process of its own; nothing else reads the
    // environment meanwhile.
    unsafe {
        for (key, _) in std::env::vars() {
            if key.starts_with("AWS_") {
                std::env::remove_var(key);
            }
        }
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::set_var("HOME", "/nonexistent");
    }
    let chain = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(MOTO_REGION))
        .load()
        .await;
    let outputs = Outputs::from_sdk_config(configured, chain);
    let outcome = crate::common::deliver(&outputs, "aws-sqs:queue", &alert, &alert, &none).await;
    assert_misconfigured(
        &outcome,
        &[
            "no credentials found in chain",
            "no AWS credentials",
            "dead-letters replay",
        ],
    );
}

/// An EC2 instance role is the last place the provider chain looks; an instance metadata
/// service that refuses its token (403: IMDS disabled or blocked) leaves the node with no
/// credentials at all, as on a machine that is no EC2 instance.
#[tokio::test]
async fn an_aws_output_whose_instance_metadata_refuses_has_no_credentials() {
    let imds = sa_chaos_tests::HttpReceiver::start().unwrap();
    imds.set_default_reply(sa_chaos_tests::Reply::status(403));
    // SAFETY: nextest runs each test in a process of its own; nothing else reads the
    // environment meanwhile.
    unsafe {
        for (key, _) in std::env::vars() {
            if key.starts_with("AWS_") {
                std::env::remove_var(key);
            }
        }
        std::env::set_var("AWS_EC2_METADATA_SERVICE_ENDPOINT", imds.url());
        std::env::set_var("HOME", "/nonexistent");
    }
    let chain = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(MOTO_REGION))
        .load()
        .await;
    let outputs = Outputs::from_sdk_config(config(&[("aws-sqs:queue", Some("alerts"))]), chain);
    let alert = alert();
    let none = credentials(json!({}));
    let outcome = crate::common::deliver(&outputs, "aws-sqs:queue", &alert, &alert, &none).await;
    assert_misconfigured(
        &outcome,
        &[
            "IMDS is disabled",
            "no AWS credentials",
            "dead-letters replay",
        ],
    );
    assert!(
        imds.requests()
            .iter()
            .any(|request| request.path() == "/latest/api/token"),
        "the chain asked the instance metadata service: {:?}",
        imds.requests()
    );
}
