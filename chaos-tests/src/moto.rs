//! A real AWS-compatible endpoint for tests: `moto_server` from PyPI on a loopback port, one per
//! test (so tests never see each other's streams, buckets or queues), stopped on drop.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_kinesis::config::{Credentials, SharedCredentialsProvider};

use crate::node_process::http_get;
use crate::ports::free_loopback_port;

/// The region every test client and node uses against moto.
pub const MOTO_REGION: &str = "us-east-1";

pub struct MotoServer {
    child: Child,
    addr: SocketAddr,
}

impl MotoServer {
    /// Starts moto_server and waits until it answers. The binary is `$SA_MOTO_SERVER`, else the
    /// one `deploy/local/bootstrap.sh` installs in `~/.cache/sa/venv`, else `moto_server` on PATH.
    pub fn start() -> anyhow::Result<MotoServer> {
        let binary = moto_binary();
        let mut last_error = None;
        for _ in 0..3 {
            let port = free_loopback_port();
            let addr: SocketAddr = format!("127.0.0.1:{port}").parse()?;
            let child = Command::new(&binary)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot start {} ({e}); run deploy/local/bootstrap.sh or set SA_MOTO_SERVER",
                        binary.display()
                    )
                })?;
            let mut server = MotoServer { child, addr };
            match server.wait_ready(Duration::from_secs(30)) {
                Ok(()) => return Ok(server),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("moto_server did not start")))
    }

    fn wait_ready(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("moto_server exited early with {status}");
            }
            if let Ok((200, _)) = http_get(self.addr, "/moto-api/") {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        anyhow::bail!("moto_server on {} not ready after {timeout:?}", self.addr)
    }

    /// `http://127.0.0.1:PORT`, for an SDK client's endpoint override.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Environment for a child process (a `sanode`) that should talk to this moto: static test
    /// credentials, the region, and the endpoint override sa honours.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_REGION".into(), MOTO_REGION.into()),
            ("SA_AWS_ENDPOINT".into(), self.endpoint()),
        ]
    }
}

/// The SDK config a test's own clients use against `moto`: its static test credentials, the
/// moto region and its endpoint. Service configs derive from it (for S3 on moto, with
/// `aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true)`).
pub fn moto_sdk_config(moto: &MotoServer) -> SdkConfig {
    endpoint_sdk_config(moto.endpoint())
}

/// [`moto_sdk_config`] against any endpoint (a receiver, a fake service, a closed port). Built
/// without reading the environment or profile files (a test process's environment is shared by
/// its threads, and a developer's `~/.aws` must not leak into tests); the retries and connect
/// timeout are those `aws_config::defaults(BehaviorVersion::latest()).load()` gives.
pub fn endpoint_sdk_config(endpoint: impl Into<String>) -> SdkConfig {
    let credentials = Credentials::new("testing", "testing", None, None, "moto");
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(MOTO_REGION))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .retry_config(RetryConfig::standard())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_millis(3100))
                .build(),
        )
        .build()
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SA_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    if let Some(home) = std::env::var_os("HOME") {
        let venv = PathBuf::from(home).join(".cache/sa/venv/bin/moto_server");
        if venv.is_file() {
            return venv;
        }
    }
    PathBuf::from("moto_server")
}
