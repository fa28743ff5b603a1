//! Clients built from an `AwsTarget` (what the node does) reach an AWS-compatible endpoint on a
//! loopback IP: S3 switches to path-style addressing there, Kinesis and SQS follow the override.

use sa_aws::AwsTarget;
use sa_aws_sources::SourceClients;
use sa_chaos_tests::{MOTO_REGION, MotoServer};

#[tokio::test]
async fn clients_from_a_target_with_an_endpoint_override_reach_it() {
    let moto = MotoServer::start().unwrap();
    // SAFETY: this test binary has a single test; nothing reads the environment concurrently.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    }
    let target = AwsTarget {
        endpoint: Some(moto.endpoint()),
        region: Some(MOTO_REGION.into()),
    };
    let clients = SourceClients::new(&target).await;
    clients
        .s3
        .create_bucket()
        .bucket("path-style")
        .send()
        .await
        .unwrap();
    clients
        .s3
        .put_object()
        .bucket("path-style")
        .key("k")
        .body(b"v".to_vec().into())
        .send()
        .await
        .unwrap();
    let object = clients
        .s3
        .get_object()
        .bucket("path-style")
        .key("k")
        .send()
        .await
        .unwrap();
    assert_eq!(
        object.body.collect().await.unwrap().into_bytes().as_ref(),
        b"v"
    );
    clients
        .kinesis
        .create_stream()
        .stream_name("s")
        .shard_count(1)
        .send()
        .await
        .unwrap();
    clients
        .sqs
        .create_queue()
        .queue_name("q")
        .send()
        .await
        .unwrap();
}
