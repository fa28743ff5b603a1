//! Loopback ports for test nodes.

use std::net::TcpListener;

/// A port on 127.0.0.1 that was free a moment ago. The OS hands out ephemeral ports in sequence,
/// so a just-released one is not reused soon; callers still retry a start that fails to bind.
pub fn free_loopback_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("the loopback interface accepts listeners")
}
