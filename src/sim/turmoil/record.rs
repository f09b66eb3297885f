//! The recording layer: a shared [`Recorder`] that stamps trace events with
//! simulated time, a [`Recorded`] stream wrapper that decodes every byte an
//! endpoint writes or reads, and a [`RecordingListener`] that wraps every
//! accepted stream. Plugged-in code gets the same trace as the model.
//!
//! Time: turmoil runs the hosts one after another inside a step, each over
//! the whole tick, so a host's own clock can be ahead of the next host's.
//! Every event is therefore stamped with the end of the step it happened in
//! (set by the run loop), which keeps the trace in order; its resolution is
//! the tick.
//!
//! Connection numbers: both ends of one TCP connection get the same number,
//! paired through the client's address (its local address on the connecting
//! side, the peer address on the accepting side), as in the discrete-event
//! world.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::codec::{decode, DecodeOptions, Packet};
use crate::io::Listener;
use crate::model::{Citation, ConnectionId};
use crate::spec::Version;
use crate::trace::{self, ClosedBy, Dir, Endpoint, EventKind, Trace, TraceError};

/// A handle on the trace of one turmoil run, shared by every host. Cheap to
/// clone; `Send`, so streams that hold one can move into spawned tasks.
#[derive(Debug, Clone)]
pub struct Recorder {
    inner: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct State {
    trace: Trace,
    /// The stamp of events recorded now: the end of the current step.
    now: Duration,
    /// The first event the trace refused; the run stops on it.
    refused: Option<TraceError>,
    /// Set when the run is over: events from dropping the simulation are
    /// not part of it.
    finished: bool,
    /// The endpoint whose host is being crashed: its streams close by the network.
    crashing: Option<String>,
    next_conn: u64,
    /// Connections one side has numbered and the other has not, by the
    /// client's address. Never iterated.
    halfway: BTreeMap<SocketAddr, Halfway>,
}

#[derive(Debug, Clone, Copy)]
struct Halfway {
    conn: u64,
    by_connector: bool,
}

impl Recorder {
    /// A recorder filling `trace`.
    pub fn new(trace: Trace) -> Recorder {
        Recorder {
            inner: Arc::new(Mutex::new(State {
                trace,
                now: Duration::ZERO,
                refused: None,
                finished: false,
                crashing: None,
                next_conn: 0,
                halfway: BTreeMap::new(),
            })),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock already fails the run; the trace
        // is still worth reading.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records `kind` at the current simulated time. Ignored once the run is
    /// over or after the trace refused an event.
    pub fn record(&self, kind: EventKind) {
        let mut state = self.state();
        if state.finished || state.refused.is_some() {
            return;
        }
        let now = state.now;
        if let Err(e) = state.trace.push(now, kind) {
            state.refused = Some(e);
        }
    }

    /// Records a free-form note (a workload step, a phase).
    pub fn note(&self, text: impl Into<String>) {
        self.record(EventKind::Note { text: text.into() });
    }

    /// Records a citation made by `endpoint`; `conns` maps the driver's
    /// connection ids to trace connection numbers (see
    /// [`RecordingListener::conn_ids`]).
    pub fn cite(&self, endpoint: &str, conns: &ConnIds, citation: Citation) {
        let kind = match citation.kind {
            crate::model::CiteKind::Checked => trace::CiteKind::Checked,
            crate::model::CiteKind::Violated => trace::CiteKind::Violated,
            crate::model::CiteKind::Fulfilled => trace::CiteKind::Fulfilled,
        };
        let conn = citation.conn.map(|c| conns.get(c));
        self.record(EventKind::Cite { endpoint: endpoint.into(), conn, statement: citation.statement, kind });
    }

    /// The stamp events get now.
    pub fn now(&self) -> Duration {
        self.state().now
    }

    /// Whether the trace refused an event (it is full, or time went back).
    pub fn refused(&self) -> Option<TraceError> {
        self.state().refused
    }

    pub(super) fn set_now(&self, now: Duration) {
        self.state().now = now;
    }

    pub(super) fn set_crashing(&self, endpoint: Option<&str>) {
        self.state().crashing = endpoint.map(str::to_owned);
    }

    /// Ends recording and returns the trace.
    pub(super) fn finish(&self) -> Trace {
        let mut state = self.state();
        state.finished = true;
        state.trace.clone()
    }

    /// The number of the connection whose client end is `client_addr`,
    /// shared by both ends.
    fn pair(&self, client_addr: SocketAddr, by_connector: bool) -> u64 {
        let mut state = self.state();
        match state.halfway.get(&client_addr).copied() {
            Some(h) if h.by_connector != by_connector => {
                state.halfway.remove(&client_addr);
                h.conn
            }
            // Unknown, or a stale entry from an earlier connection on the
            // same address whose other end was never recorded.
            _ => {
                let conn = state.next_conn;
                state.next_conn += 1;
                state.halfway.insert(client_addr, Halfway { conn, by_connector });
                conn
            }
        }
    }

    /// Wraps a stream this endpoint opened with `connect`. Records `Opened`.
    pub fn connected<S: PeerAddrs>(&self, endpoint: &str, io: S) -> io::Result<Recorded<S>> {
        let (local, peer) = (io.local_addr()?, io.peer_addr()?);
        let conn = self.pair(local, true);
        Ok(Recorded::new(self.clone(), endpoint, conn, peer, io))
    }

    /// Wraps a stream this endpoint accepted from `peer`. Records `Opened`.
    pub fn accepted<S>(&self, endpoint: &str, io: S, peer: SocketAddr) -> Recorded<S> {
        let conn = self.pair(peer, false);
        Recorded::new(self.clone(), endpoint, conn, peer, io)
    }
}

/// The addresses of a connected stream (turmoil's `TcpStream` has them).
pub trait PeerAddrs {
    /// This end's address.
    fn local_addr(&self) -> io::Result<SocketAddr>;
    /// The other end's address.
    fn peer_addr(&self) -> io::Result<SocketAddr>;
}

impl PeerAddrs for ::turmoil::net::TcpStream {
    fn local_addr(&self) -> io::Result<SocketAddr> {
        ::turmoil::net::TcpStream::local_addr(self)
    }

    fn peer_addr(&self) -> io::Result<SocketAddr> {
        ::turmoil::net::TcpStream::peer_addr(self)
    }
}

/// The host name of `addr` inside the simulation, or the address itself.
fn peer_name(addr: SocketAddr) -> String {
    if ::turmoil::in_simulation() {
        if let Some(name) = ::turmoil::reverse_lookup(addr.ip()) {
            return name;
        }
    }
    addr.to_string()
}

/// Bytes of one direction not yet decoded.
#[derive(Debug, Default)]
struct Decoder {
    buf: Vec<u8>,
    /// After a malformed packet the rest of the direction is not decoded.
    broken: bool,
}

/// A byte stream whose every byte written and read is decoded into the trace
/// as `endpoint`'s packets, with `Opened` on creation and one `Closed` (by
/// the peer on end of stream, by the network on an error or a crash of the
/// host, locally on shutdown or drop).
#[derive(Debug)]
pub struct Recorded<S> {
    io: S,
    recorder: Recorder,
    endpoint: Endpoint,
    conn: u64,
    /// CONNECT carries its version; every later packet is decoded by it.
    version: Version,
    sent: Decoder,
    received: Decoder,
    closed: bool,
}

impl<S> Recorded<S> {
    fn new(recorder: Recorder, endpoint: &str, conn: u64, peer: SocketAddr, io: S) -> Recorded<S> {
        recorder.record(EventKind::Opened { endpoint: endpoint.into(), conn, peer: peer_name(peer) });
        Recorded {
            io,
            recorder,
            endpoint: endpoint.into(),
            conn,
            version: Version::V5,
            sent: Decoder::default(),
            received: Decoder::default(),
            closed: false,
        }
    }

    /// The trace's number for this connection.
    pub fn conn(&self) -> u64 {
        self.conn
    }

    /// The endpoint name this stream records as.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    fn close(&mut self, by: ClosedBy) {
        if !self.closed {
            self.closed = true;
            self.recorder.record(EventKind::Closed { endpoint: self.endpoint.clone(), conn: self.conn, by });
        }
    }

    fn bytes(&mut self, dir: Dir, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let decoder = match dir {
            Dir::Sent => &mut self.sent,
            Dir::Received => &mut self.received,
        };
        if decoder.broken {
            return;
        }
        decoder.buf.extend_from_slice(bytes);
        let mut start = 0;
        loop {
            match decode(&decoder.buf[start..], &DecodeOptions::new(self.version)) {
                Ok(None) => break,
                Ok(Some((packet, used))) => {
                    if let Packet::Connect(c) = &packet {
                        self.version = c.version;
                    }
                    start += used;
                    self.recorder.record(EventKind::Packet {
                        endpoint: self.endpoint.clone(),
                        conn: self.conn,
                        dir,
                        packet,
                        bytes_len: used,
                    });
                }
                Err(e) => {
                    let hex = decoder.buf[start..].iter().map(|b| format!("{b:02x}")).collect();
                    self.recorder.record(EventKind::Malformed {
                        endpoint: self.endpoint.clone(),
                        conn: self.conn,
                        dir,
                        hex,
                        error: e.to_string(),
                        statement: e.statement,
                    });
                    decoder.broken = true;
                    start = decoder.buf.len();
                    break;
                }
            }
        }
        decoder.buf.drain(..start);
    }
}

impl<S> Drop for Recorded<S> {
    fn drop(&mut self) {
        let crashing = self.recorder.state().crashing.as_deref() == Some(self.endpoint.as_str());
        self.close(if crashing { ClosedBy::Network } else { ClosedBy::Local });
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Recorded<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let asked = buf.remaining() > 0;
        match ready!(Pin::new(&mut this.io).poll_read(cx, buf)) {
            Ok(()) => {
                let got = buf.filled()[before..].to_vec();
                if got.is_empty() && asked {
                    this.close(ClosedBy::Peer);
                } else {
                    this.bytes(Dir::Received, &got);
                }
                Poll::Ready(Ok(()))
            }
            Err(e) => {
                this.close(ClosedBy::Network);
                Poll::Ready(Err(e))
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Recorded<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match ready!(Pin::new(&mut this.io).poll_write(cx, buf)) {
            Ok(n) => {
                this.bytes(Dir::Sent, &buf[..n]);
                Poll::Ready(Ok(n))
            }
            Err(e) => {
                this.close(ClosedBy::Network);
                Poll::Ready(Err(e))
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = ready!(Pin::new(&mut this.io).poll_shutdown(cx));
        this.close(if result.is_ok() { ClosedBy::Local } else { ClosedBy::Network });
        Poll::Ready(result)
    }
}

/// Maps a driver's [`ConnectionId`]s (numbered from 0 in accept order by
/// [`crate::io::run`]) to trace connection numbers.
#[derive(Debug, Clone, Default)]
pub struct ConnIds {
    accepted: Arc<Mutex<Vec<u64>>>,
}

impl ConnIds {
    /// The trace number of the driver's `id`; the id itself when unknown.
    pub fn get(&self, id: ConnectionId) -> u64 {
        let accepted = self.accepted.lock().unwrap_or_else(|p| p.into_inner());
        usize::try_from(id.0).ok().and_then(|i| accepted.get(i).copied()).unwrap_or(id.0)
    }

    fn push(&self, conn: u64) {
        self.accepted.lock().unwrap_or_else(|p| p.into_inner()).push(conn);
    }
}

/// A listener whose accepted streams are [`Recorded`] as `endpoint`. It is
/// an [`io::Listener`](crate::io::Listener), so [`crate::io::run`] takes it.
#[derive(Debug)]
pub struct RecordingListener<L = ::turmoil::net::TcpListener> {
    inner: L,
    recorder: Recorder,
    endpoint: String,
    ids: ConnIds,
}

impl<L> RecordingListener<L> {
    /// Wraps `inner`; accepted streams record as `endpoint`.
    pub fn new(inner: L, recorder: Recorder, endpoint: impl Into<String>) -> RecordingListener<L> {
        RecordingListener { inner, recorder, endpoint: endpoint.into(), ids: ConnIds::default() }
    }

    /// The trace numbers of the streams accepted so far, in accept order
    /// (a shared handle: it sees later accepts too).
    pub fn conn_ids(&self) -> ConnIds {
        self.ids.clone()
    }

    /// The recorder.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }
}

impl<L: Listener> Listener for RecordingListener<L> {
    type Stream = Recorded<L::Stream>;

    async fn accept(&mut self) -> io::Result<(Self::Stream, SocketAddr)> {
        // Cancel safe: nothing happens before the inner accept completes.
        let (stream, peer) = self.inner.accept().await?;
        let stream = self.recorder.accepted(&self.endpoint, stream, peer);
        self.ids.push(stream.conn());
        Ok((stream, peer))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}
