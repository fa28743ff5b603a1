//! Accepting TLS connections for both servers: handshakes run concurrently (a slow or silent
//! client holds one task, never the accept loop), bounded in number and time, and each
//! connection carries the identity its certificate proved.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::StreamExt;
use prometheus::IntCounter;
use sa_tls::Identity;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

/// Handshakes in progress at once; more connections wait in the kernel's backlog.
const MAX_HANDSHAKES: usize = 256;
/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Who is at the other end of a connection.
#[derive(Debug, Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    /// What the client certificate proved; `None` without one (or without TLS).
    pub identity: Option<Arc<Identity>>,
}

/// A connection whose handshake completed, with its peer.
pub struct PeerStream {
    stream: TlsStream<TcpStream>,
    peer: Peer,
}

/// Connections whose handshakes completed, in the order they did.
pub struct TlsIncoming {
    connections: mpsc::Receiver<PeerStream>,
    local_addr: SocketAddr,
}

/// Starts accepting on `listener` until `stop`.
pub fn accept(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    handshake_failures: IntCounter,
    stop: CancellationToken,
) -> std::io::Result<TlsIncoming> {
    let local_addr = listener.local_addr()?;
    let (sender, connections) = mpsc::channel(MAX_HANDSHAKES);
    let acceptor = TlsAcceptor::from(config);
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    tokio::spawn(async move {
        loop {
            let permit = tokio::select! {
                _ = stop.cancelled() => return,
                permit = handshakes.clone().acquire_owned() => permit.expect("never closed"),
            };
            let (tcp, addr) = tokio::select! {
                _ = stop.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors, mostly: wait rather than spin.
                        tracing::warn!(error = %e, "cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            let sender = sender.clone();
            let failures = handshake_failures.clone();
            tokio::spawn(async move {
                let _permit = permit;
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let peer = Peer {
                            addr,
                            identity: identity_of(&stream, addr),
                        };
                        let _ = sender.send(PeerStream { stream, peer }).await;
                    }
                    Ok(Err(e)) => {
                        failures.inc();
                        tracing::debug!(%addr, error = %e, "TLS handshake failed");
                    }
                    Err(_) => {
                        failures.inc();
                        tracing::debug!(%addr, "TLS handshake timed out");
                    }
                }
            });
        }
    });
    Ok(TlsIncoming {
        connections,
        local_addr,
    })
}

fn identity_of(stream: &TlsStream<TcpStream>, addr: SocketAddr) -> Option<Arc<Identity>> {
    let certificate = stream.get_ref().1.peer_certificates()?.first()?;
    match Identity::from_der(certificate.as_ref()) {
        Ok(identity) => Some(Arc::new(identity)),
        Err(e) => {
            // Signed by the cluster CA but naming no role: it may do what anonymous callers may.
            tracing::warn!(%addr, error = %e, "client certificate names no usable identity");
            None
        }
    }
}

impl TlsIncoming {
    /// The connections as the stream tonic serves.
    pub fn into_stream(
        self,
    ) -> impl futures::Stream<Item = Result<PeerStream, std::io::Error>> + Send + 'static {
        tokio_stream::wrappers::ReceiverStream::new(self.connections).map(Ok)
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsIncoming>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsIncoming>) -> Peer {
        stream.remote_addr().clone()
    }
}

/// A plaintext connection (`--insecure`): an address, no identity.
impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TcpListener>) -> Peer {
        Peer {
            addr: *stream.remote_addr(),
            identity: None,
        }
    }
}

impl axum::serve::Listener for TlsIncoming {
    type Io = PeerStream;
    type Addr = Peer;

    async fn accept(&mut self) -> (PeerStream, Peer) {
        match self.connections.recv().await {
            Some(connection) => {
                let peer = connection.peer.clone();
                (connection, peer)
            }
            // The accept loop stopped: the server is shutting down, and waits here until its
            // graceful shutdown completes.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Peer> {
        Ok(Peer {
            addr: self.local_addr,
            identity: None,
        })
    }
}

impl tonic::transport::server::Connected for PeerStream {
    type ConnectInfo = Peer;

    fn connect_info(&self) -> Peer {
        self.peer.clone()
    }
}

impl AsyncRead for PeerStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for PeerStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
