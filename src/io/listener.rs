//! [`Listener`]: the one thing the driver needs from a network, "accept a
//! byte stream", with bindings for real TCP (tokio) and simulated TCP
//! (turmoil), whose listeners have the same shape.

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncWrite};

/// A source of incoming byte-stream connections.
///
/// Implemented for [`tokio::net::TcpListener`] (real TCP) and
/// [`turmoil::net::TcpListener`] (simulated TCP). Anything else that yields
/// `AsyncRead + AsyncWrite` streams (an in-memory duplex, a TLS acceptor) can
/// implement it too.
pub trait Listener {
    /// One accepted connection.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;

    /// Waits for the next connection and returns it with the peer's address.
    ///
    /// Must be cancel safe: the driver drops the future when another branch
    /// of its `select!` wins, and a connection must not be lost then.
    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>>;

    /// The address the listener is bound to (with the real port when bound to port 0).
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// A real TCP listener whose accepted sockets have TCP_NODELAY set, so a
/// small packet (an ack, a PINGRESP) leaves at once instead of waiting for
/// the peer's delayed ACK. `mqttsim serve` uses it unless told not to.
#[derive(Debug)]
pub struct NoDelayListener(pub tokio::net::TcpListener);

impl Listener for NoDelayListener {
    type Stream = tokio::net::TcpStream;

    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> {
        // Cancel safe: the only await is tokio's (cancel safe) accept.
        let accept = tokio::net::TcpListener::accept(&self.0);
        async move {
            let (stream, peer) = accept.await?;
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(error = %e, %peer, "cannot set TCP_NODELAY");
            }
            Ok((stream, peer))
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

impl Listener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;

    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> {
        // tokio documents `TcpListener::accept` as cancel safe.
        tokio::net::TcpListener::accept(self)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::TcpListener::local_addr(self)
    }
}

impl Listener for turmoil::net::TcpListener {
    type Stream = turmoil::net::TcpStream;

    fn accept(&mut self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> {
        turmoil::net::TcpListener::accept(self)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        turmoil::net::TcpListener::local_addr(self)
    }
}
