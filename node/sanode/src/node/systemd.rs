//! Telling systemd how the node is doing (sd_notify(3)), for `Type=notify` and `WatchdogSec=`
//! in deploy/systemd/sanode.service: `READY=1` once the node serves as a cluster member,
//! `STOPPING=1` when it begins to stop, and `WATCHDOG=1` at half the watchdog interval while
//! [`super::health::check`] passes. The protocol is one datagram per message to the unix socket
//! systemd names in `NOTIFY_SOCKET`, so a few lines of std do it and no crate is needed. Started
//! any other way (no `NOTIFY_SOCKET`), the node sends nothing.

use std::ffi::OsStr;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// The service manager's notification socket.
pub struct Notifier {
    socket: UnixDatagram,
    manager: SocketAddr,
}

impl Notifier {
    /// The socket `NOTIFY_SOCKET` names; `None` when the variable is unset or empty (the node
    /// was not started by systemd as `Type=notify`).
    pub fn from_env() -> io::Result<Option<Notifier>> {
        match std::env::var_os("NOTIFY_SOCKET") {
            Some(name) if !name.is_empty() => Notifier::at(&name).map(Some),
            _ => Ok(None),
        }
    }

    /// A notifier to the socket `name`: a path, or `@name` for Linux's abstract namespace (how
    /// systemd names its socket to services).
    pub fn at(name: &OsStr) -> io::Result<Notifier> {
        let manager = match name.as_bytes().strip_prefix(b"@") {
            Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name)?,
            None => SocketAddr::from_pathname(name)?,
        };
        let socket = UnixDatagram::unbound()?;
        // A manager that stops reading must not stall the node's runtime on a full socket
        // buffer: the message is lost instead, and logged.
        socket.set_nonblocking(true)?;
        Ok(Notifier { socket, manager })
    }

    /// Sends one notification (`READY=1`, `STOPPING=1`, ...); a failure is logged, never fatal:
    /// the node serves whether or not its manager hears of it.
    pub fn notify(&self, state: &str) {
        if let Err(e) = self.socket.send_to_addr(state.as_bytes(), &self.manager) {
            tracing::warn!(state, error = %e, "cannot notify the service manager");
        }
    }
}

/// How often to ping the watchdog: half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3)
/// advises, when systemd set it for this process (`WATCHDOG_PID` unset or ours).
pub fn watchdog_interval() -> Option<Duration> {
    if let Some(pid) = std::env::var_os("WATCHDOG_PID")
        && pid.to_str().and_then(|pid| pid.parse::<u32>().ok()) != Some(std::process::id())
    {
        return None;
    }
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    (usec > 0).then(|| Duration::from_micros(usec) / 2)
}

/// Pings the watchdog every `interval` while `health` passes, until `stop`. An unhealthy node
/// is left without pings, so systemd kills and restarts it when `WatchdogSec=` runs out; a
/// runtime too wedged to run this task gets the same.
pub async fn keep_watchdog(
    notifier: std::sync::Arc<Notifier>,
    interval: Duration,
    health: impl Fn() -> Result<(), String>,
    stop: CancellationToken,
) {
    loop {
        match health() {
            Ok(()) => notifier.notify("WATCHDOG=1"),
            Err(reason) => tracing::error!(reason, "unhealthy: the watchdog is not pinged"),
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stop.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    fn received(listener: &UnixDatagram) -> String {
        let mut buf = [0u8; 256];
        let n = listener.recv(&mut buf).expect("a notification arrives");
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn notifies_a_socket_named_by_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier::at(path.as_os_str()).unwrap();
        notifier.notify("READY=1");
        notifier.notify("STOPPING=1");
        assert_eq!(received(&listener), "READY=1");
        assert_eq!(received(&listener), "STOPPING=1");
    }

    #[test]
    fn notifies_an_abstract_socket_named_with_an_at_sign() {
        let name = format!(
            "sa-notify-test-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        );
        let listener =
            UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
                .unwrap();
        Notifier::at(OsStr::new(&format!("@{name}")))
            .unwrap()
            .notify("READY=1");
        assert_eq!(received(&listener), "READY=1");
    }

    #[test]
    fn a_full_socket_loses_the_message_instead_of_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let _listener = UnixDatagram::bind(&path).unwrap();
        let notifier = Notifier::at(path.as_os_str()).unwrap();
        // Nobody reads: the socket's queue fills within a few hundred datagrams, and every send
        // after that must return at once.
        for _ in 0..10_000 {
            notifier.notify("WATCHDOG=1");
        }
    }

    #[tokio::test]
    async fn the_watchdog_is_pinged_while_healthy_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        listener
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let notifier = Arc::new(Notifier::at(path.as_os_str()).unwrap());
        let healthy = Arc::new(AtomicBool::new(true));
        let stop = CancellationToken::new();
        let task = tokio::spawn(keep_watchdog(
            notifier,
            Duration::from_millis(20),
            {
                let healthy = healthy.clone();
                move || {
                    if healthy.load(Ordering::SeqCst) {
                        Ok(())
                    } else {
                        Err("raft stopped".to_string())
                    }
                }
            },
            stop.clone(),
        ));
        let listener = tokio::task::spawn_blocking(move || {
            for _ in 0..3 {
                assert_eq!(received(&listener), "WATCHDOG=1");
            }
            listener
        })
        .await
        .unwrap();

        healthy.store(false, Ordering::SeqCst);
        // A ping already sent before the flip may still be queued; after that, silence.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut buf = [0u8; 64];
        listener.set_nonblocking(true).unwrap();
        while listener.recv(&mut buf).is_ok() {}
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            listener.recv(&mut buf).map_err(|e| e.kind()),
            Err(io::ErrorKind::WouldBlock),
            "no ping while unhealthy"
        );

        healthy.store(true, Ordering::SeqCst);
        listener.set_nonblocking(false).unwrap();
        let resumed = tokio::task::spawn_blocking(move || received(&listener))
            .await
            .unwrap();
        assert_eq!(resumed, "WATCHDOG=1", "pings resume once healthy");
        stop.cancel();
        task.await.unwrap();
    }
}
