//! A real sanode under systemd's notification protocol (node/sanode/src/node/systemd.rs), a unix
//! datagram socket of the test standing where systemd's would (`NOTIFY_SOCKET`): READY=1 once
//! the node serves as a member, WATCHDOG=1 at half `WATCHDOG_USEC` while healthy, STOPPING=1 on
//! SIGTERM, and no READY=1 while a join is still waiting.

use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::{Duration, Instant};

use sa_chaos_tests::{NodeOptions, NodeProcess, free_loopback_port};

/// The socket systemd would listen on, at `dir/notify`.
fn manager(dir: &Path) -> UnixDatagram {
    UnixDatagram::bind(dir.join("notify")).unwrap()
}

/// The next notification, if one comes within `timeout`.
fn next(socket: &UnixDatagram, timeout: Duration) -> Option<String> {
    socket.set_read_timeout(Some(timeout)).unwrap();
    let mut buf = [0u8; 1024];
    match socket.recv(&mut buf) {
        Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            None
        }
        Err(e) => panic!("reading the notify socket: {e}"),
    }
}

/// Every notification queued now.
fn queued(socket: &UnixDatagram) -> Vec<String> {
    std::iter::from_fn(|| next(socket, Duration::from_millis(50))).collect()
}

fn options(dir: &Path, watchdog: Option<Duration>) -> NodeOptions {
    let mut options = NodeOptions::new(crate::SANODE, dir.join("data"));
    options.env.push((
        "NOTIFY_SOCKET".into(),
        dir.join("notify").display().to_string(),
    ));
    if let Some(watchdog) = watchdog {
        options
            .env
            .push(("WATCHDOG_USEC".into(), watchdog.as_micros().to_string()));
    }
    options
}

#[test]
fn sanode_tells_systemd_it_is_ready_alive_then_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let socket = manager(dir.path());
    // Pings every 200 ms.
    let node = NodeProcess::spawn(&options(dir.path(), Some(Duration::from_millis(400)))).unwrap();

    let first = next(&socket, Duration::from_secs(60));
    assert_eq!(first.as_deref(), Some("READY=1"), "log:\n{}", node.log());
    // Ready means serving: /healthz answers at once, with no retry.
    let (code, body) = node.http().get("/healthz").unwrap();
    assert_eq!((code, body.trim()), (200, "ok"));

    let window = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    let pings = queued(&socket);
    let elapsed = window.elapsed();
    assert!(
        pings.iter().all(|p| p == "WATCHDOG=1"),
        "only pings while it runs: {pings:?}"
    );
    // At most one per 200 ms (plus the one of the moment READY=1 was sent); at least a few.
    let most = (elapsed.as_millis() / 200 + 2) as usize;
    assert!(
        (3..=most).contains(&pings.len()),
        "{} pings in {elapsed:?}: {pings:?}",
        pings.len()
    );

    node.terminate_cleanly(Duration::from_secs(30)).unwrap();
    let after: Vec<String> = queued(&socket);
    let stopping = after.iter().position(|m| m == "STOPPING=1");
    assert!(stopping.is_some(), "STOPPING=1 on SIGTERM: {after:?}");
    assert!(
        after.iter().all(|m| m == "STOPPING=1" || m == "WATCHDOG=1"),
        "nothing else once stopping: {after:?}"
    );
}

#[test]
fn a_joining_node_is_not_ready_before_it_is_a_member() {
    let dir = tempfile::tempdir().unwrap();
    let socket = manager(dir.path());
    let mut options = options(dir.path(), Some(Duration::from_millis(400)));
    // Nothing answers there: the node retries its join for a minute.
    let nobody = format!("127.0.0.1:{}", free_loopback_port());
    options.extra_args = vec!["--insecure".into(), "--join".into(), nobody];
    let mut node = NodeProcess::spawn(&options).unwrap();
    // Its listeners are up (they are before membership)...
    node.wait_healthy(Duration::from_secs(60)).unwrap();
    // ...but it is no member, so it is not ready, and the watchdog is not yet kept.
    assert_eq!(
        next(&socket, Duration::from_secs(2)),
        None,
        "log:\n{}",
        node.log()
    );
    assert!(
        node.log().contains("join failed, retrying"),
        "still joining:\n{}",
        node.log()
    );

    node.terminate_cleanly(Duration::from_secs(30)).unwrap();
    assert_eq!(queued(&socket), vec!["STOPPING=1".to_string()]);
}

#[test]
fn a_watchdog_meant_for_another_process_is_not_pinged() {
    let dir = tempfile::tempdir().unwrap();
    let socket = manager(dir.path());
    let mut options = options(dir.path(), Some(Duration::from_millis(400)));
    // systemd names the process its watchdog is for: here one that is not this node.
    options.env.push(("WATCHDOG_PID".into(), "1".into()));
    let node = NodeProcess::spawn(&options).unwrap();
    let first = next(&socket, Duration::from_secs(60));
    assert_eq!(first.as_deref(), Some("READY=1"), "log:\n{}", node.log());
    assert_eq!(next(&socket, Duration::from_secs(1)), None, "no ping");
    node.terminate_cleanly(Duration::from_secs(30)).unwrap();
    assert_eq!(queued(&socket), vec!["STOPPING=1".to_string()]);
}
