//! A real HTTP/1.1 endpoint for tests of anything that calls out over HTTP (alert outputs,
//! webhooks): it records every request and answers as told, including with failures (a status,
//! 429 with Retry-After) or not at all (hang), so retry and timeout paths run against a socket.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One request as it arrived.
#[derive(Debug, Clone)]
pub struct ReceivedRequest {
    pub method: String,
    /// The request target, query string included (`/path?a=b`).
    pub target: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// When the whole request had arrived (for latency measurements).
    pub received_at: Instant,
}

impl ReceivedRequest {
    /// The target without its query string.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The raw query string (`a=b&c=d`), empty when there is none.
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, query)| query)
    }

    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; `Null` when it is not JSON, so a test's assertion shows what came.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// What the receiver answers.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    hang: bool,
}

impl Reply {
    /// A status with an empty body.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            hang: false,
        }
    }

    /// A status with a JSON body.
    pub fn json(status: u16, body: &serde_json::Value) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
            hang: false,
        }
    }

    /// A status with a plain-text body.
    pub fn text(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
            hang: false,
        }
    }

    /// 429 Too Many Requests with this `Retry-After` value (seconds or an HTTP date).
    pub fn too_many_requests(retry_after: &str) -> Reply {
        Reply::status(429).with_header("Retry-After", retry_after)
    }

    /// Read the request, record it, and never answer (until the receiver is dropped).
    pub fn hang() -> Reply {
        Reply {
            hang: true,
            ..Reply::status(0)
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }
}

#[derive(Default)]
struct Behaviour {
    requests: Vec<ReceivedRequest>,
    /// (method, path) → reply, checked first.
    routes: Vec<(String, String, Reply)>,
    /// One reply each for the next requests that no route matched.
    queued: VecDeque<Reply>,
    /// For everything else.
    default: Option<Reply>,
    /// Open connections by number, shut down when the receiver is dropped.
    connections: Vec<(u64, TcpStream)>,
    next_connection: u64,
}

/// An HTTP/1.1 server on `127.0.0.1:0`, one thread per connection, stopped on drop.
/// By default it answers `200` with `{"ok": true}`.
pub struct HttpReceiver {
    addr: SocketAddr,
    behaviour: Arc<Mutex<Behaviour>>,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl HttpReceiver {
    pub fn start() -> std::io::Result<HttpReceiver> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let behaviour = Arc::new(Mutex::new(Behaviour::default()));
        let stopping = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let behaviour = behaviour.clone();
            let stopping = stopping.clone();
            std::thread::spawn(move || accept_loop(listener, behaviour, stopping))
        };
        Ok(HttpReceiver {
            addr,
            behaviour,
            stopping,
            acceptor: Some(acceptor),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in arrival order.
    pub fn requests(&self) -> Vec<ReceivedRequest> {
        self.lock().requests.clone()
    }

    /// Waits until at least `count` requests arrived (or `timeout` passed) and returns them all.
    pub fn wait_for_requests(&self, count: usize, timeout: Duration) -> Vec<ReceivedRequest> {
        let deadline = Instant::now() + timeout;
        loop {
            let requests = self.requests();
            if requests.len() >= count || Instant::now() >= deadline {
                return requests;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The reply to every request no route or queued reply takes.
    pub fn set_default_reply(&self, reply: Reply) {
        self.lock().default = Some(reply);
    }

    /// The reply to every `method` request whose path (without query) is exactly `path`,
    /// replacing an earlier route for the same method and path.
    pub fn route(&self, method: &str, path: &str, reply: Reply) {
        let method = method.to_ascii_uppercase();
        let mut behaviour = self.lock();
        behaviour
            .routes
            .retain(|(m, p, _)| !(*m == method && p == path));
        behaviour.routes.push((method, path.to_string(), reply));
    }

    /// Answers the next unrouted request with `reply` (queued replies are used in order).
    pub fn queue_reply(&self, reply: Reply) {
        self.lock().queued.push_back(reply);
    }

    fn lock(&self) -> MutexGuard<'_, Behaviour> {
        self.behaviour.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        for (_, connection) in self.lock().connections.drain(..) {
            let _ = connection.shutdown(std::net::Shutdown::Both);
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: TcpListener, behaviour: Arc<Mutex<Behaviour>>, stopping: Arc<AtomicBool>) {
    while !stopping.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let behaviour = behaviour.clone();
                let stopping = stopping.clone();
                std::thread::spawn(move || serve_connection(stream, behaviour, stopping));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

fn serve_connection(
    stream: TcpStream,
    behaviour: Arc<Mutex<Behaviour>>,
    stopping: Arc<AtomicBool>,
) {
    let _ = stream.set_nonblocking(false);
    // Replies go out in one write without Nagle's delay; idle keep-alive connections stay open
    // (a server closing one while the client reuses it makes a spurious failure) until drop.
    let _ = stream.set_nodelay(true);
    let (Ok(write_half), Ok(registered)) = (stream.try_clone(), stream.try_clone()) else {
        return;
    };
    let number = {
        let mut behaviour = behaviour.lock().unwrap_or_else(|e| e.into_inner());
        behaviour.next_connection += 1;
        let number = behaviour.next_connection;
        behaviour.connections.push((number, registered));
        number
    };
    if !stopping.load(Ordering::SeqCst) {
        serve_requests(stream, write_half, &behaviour, &stopping);
    }
    behaviour
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .connections
        .retain(|(n, _)| *n != number);
}

fn serve_requests(
    stream: TcpStream,
    write_half: TcpStream,
    behaviour: &Mutex<Behaviour>,
    stopping: &AtomicBool,
) {
    let mut reader = BufReader::new(stream);
    // Keep-alive: clients pool connections, so serve requests until the peer closes.
    while let Some(request) = read_request(&mut reader) {
        let reply = {
            let mut behaviour = behaviour.lock().unwrap_or_else(|e| e.into_inner());
            let reply = choose_reply(&mut behaviour, &request);
            behaviour.requests.push(request);
            reply
        };
        if reply.hang {
            while !stopping.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
        if write_reply(&write_half, &reply).is_err() {
            return;
        }
    }
}

fn choose_reply(behaviour: &mut Behaviour, request: &ReceivedRequest) -> Reply {
    if let Some((_, _, reply)) = behaviour
        .routes
        .iter()
        .find(|(method, path, _)| *method == request.method && path == request.path())
    {
        return reply.clone();
    }
    if let Some(reply) = behaviour.queued.pop_front() {
        return reply;
    }
    behaviour
        .default
        .clone()
        .unwrap_or_else(|| Reply::json(200, &serde_json::json!({"ok": true})))
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<ReceivedRequest> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).ok()? == 0 {
        return None;
    }
    let mut parts = request_line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    let body = if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        read_chunked(reader)?
    } else {
        let length: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).ok()?;
        body
    };
    Some(ReceivedRequest {
        method,
        target,
        headers,
        body,
        received_at: Instant::now(),
    })
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line).ok()?;
        let size = usize::from_str_radix(size_line.trim().split(';').next()?, 16).ok()?;
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).ok()?;
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

fn write_reply(mut stream: &TcpStream, reply: &Reply) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", reply.status, reason(reply.status));
    for (name, value) in &reply.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", reply.body.len()));
    let mut message = head.into_bytes();
    message.extend_from_slice(&reply.body);
    stream.write_all(&message)?;
    stream.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(receiver: &HttpReceiver, raw: &[u8]) -> String {
        let mut stream = TcpStream::connect(receiver.addr()).unwrap();
        stream.write_all(raw).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut reader = BufReader::new(stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        head + &String::from_utf8(body).unwrap()
    }

    #[test]
    fn records_requests_and_answers_routes_then_queue_then_default() {
        let receiver = HttpReceiver::start().unwrap();
        receiver.route("GET", "/health", Reply::text(200, "fine"));
        receiver.queue_reply(Reply::too_many_requests("5"));
        receiver.set_default_reply(Reply::status(204));

        let answer = exchange(&receiver, b"GET /health?x=1 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(
            answer.starts_with("HTTP/1.1 200 OK\r\n") && answer.ends_with("fine"),
            "{answer}"
        );
        let answer = exchange(
            &receiver,
            b"POST /in HTTP/1.1\r\nContent-Length: 4\r\nX-Test: yes\r\n\r\nbody",
        );
        assert!(
            answer.starts_with("HTTP/1.1 429 ") && answer.contains("Retry-After: 5\r\n"),
            "{answer}"
        );
        let answer = exchange(
            &receiver,
            b"POST /in HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        );
        assert!(answer.starts_with("HTTP/1.1 204 "), "{answer}");

        let requests = receiver.requests();
        assert_eq!(requests.len(), 3);
        assert_eq!(
            (requests[0].path(), requests[0].query()),
            ("/health", "x=1")
        );
        assert_eq!(requests[1].header("X-TEST"), Some("yes"));
        assert_eq!(requests[1].body_text(), "body");
        assert_eq!(requests[2].body_text(), "abcde");
    }

    #[test]
    fn a_hanging_reply_records_the_request_and_never_answers() {
        let receiver = HttpReceiver::start().unwrap();
        receiver.set_default_reply(Reply::hang());
        let mut stream = TcpStream::connect(receiver.addr()).unwrap();
        stream.write_all(b"GET /slow HTTP/1.1\r\n\r\n").unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buffer = [0u8; 16];
        let read = stream.read(&mut buffer);
        assert!(read.is_err(), "the receiver answered: {read:?}");
        assert_eq!(
            receiver.wait_for_requests(1, Duration::from_secs(1))[0].path(),
            "/slow"
        );
    }
}
