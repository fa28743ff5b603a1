//! One `sanode` child process on loopback ports, with the ways to stop it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::ports::free_loopback_port;

const START_ATTEMPTS: u32 = 3;

#[derive(Debug, Clone)]
pub struct NodeOptions {
    pub sanode: PathBuf,
    pub data_dir: PathBuf,
    pub node_id: Option<u64>,
    /// Fixed ports (a restarted member must come back on the address the cluster knows);
    /// fresh free ports when unset.
    pub grpc_port: Option<u16>,
    pub http_port: Option<u16>,
    /// The loopback address both listeners bind (127.0.0.1; others of 127.0.0.0/8 stand for
    /// other hosts).
    pub host: std::net::Ipv4Addr,
    /// The repository whose conf/ and rules/ the node runs until a bundle is pushed.
    pub repo: PathBuf,
    /// Extra `--flag value` pairs or bare flags for sanode.
    pub extra_args: Vec<String>,
    /// Extra environment variables for sanode (e.g. `MotoServer::env()`).
    pub env: Vec<(String, String)>,
    /// Environment variables sanode must not inherit from the test.
    pub env_removed: Vec<String>,
    /// The directory sanode runs in, where relative paths of its config (file sources) start
    /// [default: the test's].
    pub cwd: Option<PathBuf>,
    pub ready_timeout: Duration,
}

impl NodeOptions {
    /// Where the node keeps its certificates: `--certs-dir` if given, else `<data-dir>/certs`;
    /// none with `--insecure`.
    pub fn certs_dir(&self) -> Option<PathBuf> {
        if self.extra_args.iter().any(|a| a == "--insecure") {
            return None;
        }
        let given = self
            .extra_args
            .iter()
            .position(|a| a == "--certs-dir")
            .and_then(|i| self.extra_args.get(i + 1));
        Some(given.map_or_else(|| self.data_dir.join("certs"), PathBuf::from))
    }

    pub fn new(sanode: impl Into<PathBuf>, data_dir: impl Into<PathBuf>) -> Self {
        NodeOptions {
            sanode: sanode.into(),
            data_dir: data_dir.into(),
            node_id: None,
            grpc_port: None,
            http_port: None,
            host: std::net::Ipv4Addr::LOCALHOST,
            repo: crate::binaries::repository_root(),
            extra_args: Vec::new(),
            env: Vec::new(),
            env_removed: Vec::new(),
            cwd: None,
            ready_timeout: Duration::from_secs(30),
        }
    }
}

/// A running `sanode`. Dropping it kills the process (SIGKILL) so no test leaks nodes.
pub struct NodeProcess {
    child: Child,
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub data_dir: PathBuf,
    /// Where the node's `ca.crt` and an `admin` client certificate are (the node writes them
    /// there on a first start on loopback); `None` for a node started with `--insecure`.
    pub certs_dir: Option<PathBuf>,
    log_path: PathBuf,
}

impl NodeProcess {
    /// Runs `sactl` (the binary at that path) against this node, whatever `SA_NODE` says.
    pub fn sactl(&self, sactl: impl AsRef<Path>, args: &[&str]) -> std::process::Output {
        self.sactl_command(sactl)
            .args(args)
            .output()
            .expect("sactl runs")
    }

    /// `sactl --node` this node, with the credentials to call it; add the arguments.
    pub fn sactl_command(&self, sactl: impl AsRef<Path>) -> Command {
        let mut command = Command::new(sactl.as_ref());
        command
            .arg("--node")
            .arg(self.grpc_addr.to_string())
            .env_remove("SA_NODE")
            .env_remove("SA_CERTS_DIR");
        match &self.certs_dir {
            Some(dir) => command.arg("--certs-dir").arg(dir),
            None => command.arg("--insecure"),
        };
        command
    }

    /// The node's HTTP address, spoken to as the admin client.
    pub fn http(&self) -> NodeHttp {
        NodeHttp::new(self.http_addr, self.certs_dir.clone())
    }

    /// Starts a node on fresh loopback ports and waits until `/healthz` answers.
    pub fn start(options: &NodeOptions) -> anyhow::Result<Self> {
        let mut last_error = None;
        for _ in 0..START_ATTEMPTS {
            match Self::start_once(options) {
                Ok(node) => return Ok(node),
                // A port picked as free can be taken by someone else before sanode binds it.
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.expect("at least one attempt"))
    }

    fn start_once(options: &NodeOptions) -> anyhow::Result<Self> {
        let mut node = Self::spawn(options)?;
        node.wait_healthy(options.ready_timeout)?;
        Ok(node)
    }

    /// Starts a node on fresh loopback ports without waiting for it (for what happens while
    /// it starts).
    pub fn spawn(options: &NodeOptions) -> anyhow::Result<Self> {
        let grpc_port = options.grpc_port.unwrap_or_else(free_loopback_port);
        let http_port = options.http_port.unwrap_or_else(free_loopback_port);
        let grpc_addr: SocketAddr = (options.host, grpc_port).into();
        let http_addr: SocketAddr = (options.host, http_port).into();
        std::fs::create_dir_all(&options.data_dir)?;
        let log_path = options
            .data_dir
            .join(format!("sanode-{}.log", grpc_addr.port()));
        let log = std::fs::File::create(&log_path)?;
        let mut command = Command::new(&options.sanode);
        command
            .arg("--data-dir")
            .arg(&options.data_dir)
            .arg("--grpc-addr")
            .arg(grpc_addr.to_string())
            .arg("--http-addr")
            .arg(http_addr.to_string())
            .arg("--config-dir")
            .arg(options.repo.join("conf"))
            .arg("--rules-dir")
            .arg(options.repo.join("rules"))
            .args(&options.extra_args)
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        if let Some(id) = options.node_id {
            command.arg("--node-id").arg(id.to_string());
        }
        for name in &options.env_removed {
            command.env_remove(name);
        }
        if let Some(cwd) = &options.cwd {
            command.current_dir(cwd);
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", options.sanode.display()))?;
        Ok(NodeProcess {
            child,
            grpc_addr,
            http_addr,
            data_dir: options.data_dir.clone(),
            certs_dir: options.certs_dir(),
            log_path,
        })
    }

    /// Polls `/healthz` until it answers 200, the process exits, or `timeout` passes.
    pub fn wait_healthy(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "sanode exited with {status} before becoming healthy; log:\n{}",
                    self.log()
                );
            }
            // Anonymous: a node that joined with a token holds no admin certificate.
            let http = match &self.certs_dir {
                Some(dir) => self.http().anonymous(dir),
                None => self.http(),
            };
            if matches!(http.get("/healthz"), Ok((200, _))) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("sanode not healthy after {timeout:?}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit.
    pub fn terminate(mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        signal(self.pid(), "TERM")?;
        self.wait_exit(timeout)
    }

    /// SIGTERM, and an error with the node's log unless it exits cleanly.
    pub fn terminate_cleanly(mut self, timeout: Duration) -> anyhow::Result<()> {
        signal(self.pid(), "TERM")?;
        let status = self.wait_exit(timeout)?;
        if !status.success() {
            bail!(
                "sanode exited with {status} after SIGTERM; log:\n{}",
                self.log()
            );
        }
        Ok(())
    }

    /// SIGINT, as ctrl-c sends it: the exit status and how long the node took to exit.
    pub fn interrupt(mut self, timeout: Duration) -> anyhow::Result<(ExitStatus, Duration)> {
        let sent = Instant::now();
        signal(self.pid(), "INT")?;
        let status = self.wait_exit(timeout)?;
        Ok((status, sent.elapsed()))
    }

    /// SIGKILL: the crash no code can react to.
    pub fn kill9(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                bail!(
                    "sanode still running {timeout:?} after the signal; log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Everything the node wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_else(|e| format!("<no log: {e}>"))
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Options that start this node again as the same member: same data dir, same ports.
    pub fn restart_options(&self, options: &NodeOptions) -> NodeOptions {
        NodeOptions {
            grpc_port: Some(self.grpc_addr.port()),
            http_port: Some(self.http_addr.port()),
            data_dir: self.data_dir.clone(),
            ..options.clone()
        }
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn signal(pid: u32, name: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()?;
    if !status.success() {
        bail!("kill -{name} {pid} failed: {status}");
    }
    Ok(())
}

/// A node's HTTP address, over TLS with the `admin` client certificate of its certificates
/// directory (or plaintext for an `--insecure` node). Cheap to clone into client threads.
#[derive(Clone)]
pub struct NodeHttp {
    pub addr: SocketAddr,
    certs_dir: Option<PathBuf>,
    /// The client certificate presented: `NAME.crt`/`NAME.key` of the certificates directory;
    /// none when `None`.
    client: Option<String>,
    tls: Arc<OnceLock<Arc<rustls::ClientConfig>>>,
    /// `Authorization: Bearer` sent with every request, if set.
    bearer: Option<String>,
}

impl NodeHttp {
    pub fn new(addr: SocketAddr, certs_dir: Option<PathBuf>) -> Self {
        NodeHttp {
            addr,
            certs_dir,
            client: Some("admin".to_string()),
            tls: Default::default(),
            bearer: None,
        }
    }

    /// The same address, presenting the certificate `NAME.crt` of `certs_dir` instead.
    pub fn as_client(&self, certs_dir: &Path, name: &str) -> Self {
        NodeHttp {
            addr: self.addr,
            certs_dir: Some(certs_dir.to_path_buf()),
            client: Some(name.to_string()),
            tls: Default::default(),
            bearer: None,
        }
    }

    /// The same address over TLS, trusting `certs_dir`'s `ca.crt`, presenting no certificate.
    pub fn anonymous(&self, certs_dir: &Path) -> Self {
        NodeHttp {
            addr: self.addr,
            certs_dir: Some(certs_dir.to_path_buf()),
            client: None,
            tls: Default::default(),
            bearer: None,
        }
    }

    /// The same connection, sending `Authorization: Bearer TOKEN` with every request.
    pub fn with_bearer(&self, token: &str) -> Self {
        NodeHttp {
            addr: self.addr,
            certs_dir: self.certs_dir.clone(),
            client: self.client.clone(),
            tls: Default::default(),
            bearer: Some(token.to_string()),
        }
    }

    /// A minimal HTTP/1.0 GET, enough for health checks and metrics scrapes in tests.
    pub fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        self.request("GET", path, b"")
    }

    /// A minimal HTTP/1.0 POST of `body`.
    pub fn post(&self, path: &str, body: &[u8]) -> anyhow::Result<(u16, String)> {
        self.request("POST", path, body)
    }

    fn request(&self, method: &str, path: &str, body: &[u8]) -> anyhow::Result<(u16, String)> {
        let headers = match &self.bearer {
            Some(token) => format!("Authorization: Bearer {token}\r\n"),
            None => String::new(),
        };
        exchange(self.connect()?, self.addr, method, path, &headers, body)
    }

    /// A connection to the node, TLS unless it runs `--insecure`.
    pub fn connect(&self) -> anyhow::Result<Box<dyn Connection>> {
        let Some(dir) = &self.certs_dir else {
            let stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1))?;
            stream.set_read_timeout(Some(Duration::from_secs(120)))?;
            return Ok(Box::new(stream));
        };
        let config = match self.tls.get() {
            Some(config) => config.clone(),
            // Read once the node has written its certificates (a first start makes them).
            None => {
                let read = |name: &str| {
                    std::fs::read_to_string(dir.join(name))
                        .with_context(|| format!("{}", dir.join(name).display()))
                };
                let identity = match &self.client {
                    Some(name) => {
                        Some((read(&format!("{name}.crt"))?, read(&format!("{name}.key"))?))
                    }
                    None => None,
                };
                let config = sa_tls::client_config(
                    &read("ca.crt")?,
                    identity.as_ref().map(|(c, k)| (c.as_str(), k.as_str())),
                )?;
                self.tls.get_or_init(|| config).clone()
            }
        };
        let tcp = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1))?;
        tcp.set_read_timeout(Some(Duration::from_secs(120)))?;
        let name = rustls::pki_types::ServerName::IpAddress(self.addr.ip().into());
        let connection = rustls::ClientConnection::new(config, name)?;
        Ok(Box::new(TlsConnection(rustls::StreamOwned::new(
            connection, tcp,
        ))))
    }
}

/// A connection to write raw HTTP into (tests of partial requests and odd headers).
pub trait Connection: Read + Write + Send {}

impl<T: Read + Write + Send> Connection for T {}

/// A TLS client stream where a peer closing without `close_notify` ends the stream, as TCP's
/// close does: the tests read replies to the end.
struct TlsConnection(rustls::StreamOwned<rustls::ClientConnection, TcpStream>);

impl Read for TlsConnection {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(0),
            other => other,
        }
    }
}

impl Write for TlsConnection {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// A minimal plaintext HTTP/1.0 GET (moto, receivers, `--insecure` nodes).
pub fn http_get(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    http_request(addr, "GET", path, b"")
}

/// A minimal plaintext HTTP/1.0 POST of `body`.
pub fn http_post(addr: SocketAddr, path: &str, body: &[u8]) -> anyhow::Result<(u16, String)> {
    http_request(addr, "POST", path, body)
}

fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> anyhow::Result<(u16, String)> {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    exchange(stream, addr, method, path, "", body)
}

fn exchange(
    mut stream: impl Read + Write,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> anyhow::Result<(u16, String)> {
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\n{headers}Content-Length: {}\r\n\r\n",
        body.len()
    )?;
    // A node may answer before it reads the body (503 at the door, 413): the answer counts,
    // not the write it cut short.
    let sent = stream.write_all(body).and_then(|()| stream.flush());
    let mut response = Vec::new();
    let read = stream.read_to_end(&mut response);
    if response.is_empty() {
        sent?;
        read?;
    }
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("not an HTTP response: {response:?}"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default();
    Ok((status, body))
}
