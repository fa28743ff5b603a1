//! The override really routes SDK traffic: a client built from an `AwsTarget` pointed at a
//! loopback listener sends its request there.

use std::io::{Read, Write};
use std::net::TcpListener;

use sa_aws::AwsTarget;

#[tokio::test]
async fn endpoint_override_routes_requests_to_the_given_endpoint() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let received = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buffer = vec![0u8; 8192];
        let read = stream.read(&mut buffer).unwrap();
        let _ =
            stream.write_all(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n");
        String::from_utf8_lossy(&buffer[..read]).to_string()
    });
    // SAFETY: this test binary has a single test; nothing reads the environment concurrently.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    }
    let target = AwsTarget {
        endpoint: Some(format!("http://{addr}")),
        region: Some("eu-west-3".into()),
    };
    let config = target.sdk_config().await;
    assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-3"));
    let client = aws_sdk_sqs::Client::new(&config);
    let _ = client.list_queues().send().await;
    let request = received.join().unwrap();
    assert!(request.starts_with("POST / HTTP/1.1"), "{request}");
    assert!(
        request.contains("eu-west-3"),
        "signed for the region: {request}"
    );
}
