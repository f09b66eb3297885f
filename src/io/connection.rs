//! One connection's two tasks: a reader that forwards chunks to the owner of
//! the server, and a writer that drains the connection's bounded write queue
//! to the socket. Neither looks inside the bytes.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufWriter};
use tokio::sync::mpsc;
use tokio::task::{AbortHandle, JoinSet};

use crate::model::ConnectionId;

/// The smallest read buffer; it doubles (up to the configured maximum) each
/// time a read fills it, so idle connections stay cheap.
const READ_BUFFER_MIN_BYTES: usize = 4 * 1024;

/// What a connection task tells the owner.
#[derive(Debug)]
pub(super) enum Event {
    /// Bytes read, in order.
    Bytes(ConnectionId, Vec<u8>),
    /// The peer closed, or reading or writing failed.
    Closed(ConnectionId, CloseCause),
}

/// Why a connection ended without the server asking.
#[derive(Debug)]
pub(super) enum CloseCause {
    /// The peer closed its side (end of stream).
    Eof,
    /// Reading or writing failed (reset, timeout, ...).
    Error(io::Error),
}

impl std::fmt::Display for CloseCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CloseCause::Eof => f.write_str("closed by peer"),
            CloseCause::Error(e) => write!(f, "{e}"),
        }
    }
}

/// What the owner tells a connection's writer.
#[derive(Debug)]
pub(super) enum Write {
    /// Write these bytes after everything queued before.
    Bytes(Vec<u8>),
    /// Flush everything queued before, then shut the connection down.
    Close,
}

/// The owner's handle on one open connection.
#[derive(Debug)]
pub(super) struct Handle {
    /// The connection's bounded write queue.
    pub writes: mpsc::Sender<Write>,
    /// Stops the reader at once.
    pub reader: AbortHandle,
    /// Stops the writer at once (queued bytes are lost).
    pub writer: AbortHandle,
}

impl Handle {
    /// Stops both tasks at once; queued bytes are lost and the socket closes.
    pub fn abort(&self) {
        self.reader.abort();
        self.writer.abort();
    }
}

/// Limits of one connection's tasks.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    pub read_chunk_max_bytes: usize,
    pub write_queue_max: usize,
    pub write_stall_max: Duration,
    pub close_linger_max: Duration,
}

/// Splits `stream` and spawns its reader and writer into `tasks`.
pub(super) fn spawn<S>(
    tasks: &mut JoinSet<()>,
    conn: ConnectionId,
    stream: S,
    events: mpsc::Sender<Event>,
    limits: Limits,
) -> Handle
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (read_half, write_half) = tokio::io::split(stream);
    let (writes, queue) = mpsc::channel(limits.write_queue_max.max(1));
    let reader = tasks.spawn(read_loop(conn, read_half, events.clone(), limits.read_chunk_max_bytes));
    let writer = tasks.spawn(write_loop(conn, write_half, queue, events, reader.clone(), limits));
    Handle { writes, reader, writer }
}

/// Forwards chunks until end of stream, an error, or the owner going away.
async fn read_loop<R>(conn: ConnectionId, mut reader: R, events: mpsc::Sender<Event>, chunk_max_bytes: usize)
where
    R: AsyncRead + Unpin,
{
    let chunk_max_bytes = chunk_max_bytes.max(1);
    let mut buf = vec![0u8; READ_BUFFER_MIN_BYTES.min(chunk_max_bytes)];
    loop {
        let event = match reader.read(&mut buf).await {
            Ok(0) => Event::Closed(conn, CloseCause::Eof),
            Ok(n) => {
                let bytes = buf[..n].to_vec();
                if n == buf.len() && buf.len() < chunk_max_bytes {
                    buf.resize((buf.len() * 2).min(chunk_max_bytes), 0);
                }
                Event::Bytes(conn, bytes)
            }
            Err(e) => Event::Closed(conn, CloseCause::Error(e)),
        };
        let last = matches!(event, Event::Closed(..));
        // A full queue waits here: that is the backpressure on the peer.
        if events.send(event).await.is_err() || last {
            return;
        }
    }
}

/// Drains the write queue to the socket, coalescing what is queued into one
/// flush. Ends on [`Write::Close`] (flush, then shut down), when the owner
/// drops the queue, or on a write error (reported as [`Event::Closed`]).
/// Always stops the reader on the way out.
async fn write_loop<W>(
    conn: ConnectionId,
    writer: W,
    mut queue: mpsc::Receiver<Write>,
    events: mpsc::Sender<Event>,
    reader: AbortHandle,
    limits: Limits,
) where
    W: AsyncWrite + Unpin,
{
    let mut writer = BufWriter::with_capacity(limits.read_chunk_max_bytes.clamp(1024, 64 * 1024), writer);
    let outcome: io::Result<()> = async {
        loop {
            let next = match queue.try_recv() {
                Ok(write) => Some(write),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
                Err(mpsc::error::TryRecvError::Empty) => {
                    bounded(limits.write_stall_max, writer.flush()).await?;
                    queue.recv().await
                }
            };
            match next {
                Some(Write::Bytes(bytes)) => bounded(limits.write_stall_max, writer.write_all(&bytes)).await?,
                Some(Write::Close) => {
                    bounded(limits.close_linger_max, async {
                        writer.flush().await?;
                        writer.shutdown().await
                    })
                    .await?;
                    return Ok(());
                }
                None => {
                    // The owner forgot the connection (the peer closed it):
                    // hand over what is already queued, within the bound.
                    return bounded(limits.close_linger_max, writer.flush()).await;
                }
            }
        }
    }
    .await;
    reader.abort();
    if let Err(e) = outcome {
        tracing::debug!(%conn, error = %e, "write failed");
        // The owner may be gone already (stopping); nothing else to tell.
        let _ = events.send(Event::Closed(conn, CloseCause::Error(e))).await;
    }
}

/// Runs an IO step, failing it with `TimedOut` after `limit`.
async fn bounded<T>(limit: Duration, step: impl std::future::Future<Output = io::Result<T>>) -> io::Result<T> {
    match tokio::time::timeout(limit, step).await {
        Ok(result) => result,
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, format!("peer took no bytes for {limit:?}"))),
    }
}
