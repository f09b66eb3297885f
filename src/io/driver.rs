//! [`run`]: the one generic driver loop.

use std::future::Future;
use std::time::Duration;

use indexmap::IndexMap;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::connection::{self, CloseCause, Event, Handle, Limits, Write};
use super::{DriverConfig, Listener};
use crate::model::{Citation, ConnectionId, Output, Server};

/// Pause after a failed `accept` (for instance out of file descriptors), so
/// a persistent failure does not spin the loop.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(10);

/// Counters of one driver run.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DriverStats {
    /// Connections accepted.
    pub connections_accepted: u64,
    /// Connections closed because the server asked ([`Output::Close`]).
    pub closed_by_server: u64,
    /// Connections closed by the peer or a read/write error.
    pub closed_by_peer: u64,
    /// Connections dropped because they took no bytes for
    /// [`DriverConfig::write_stall_max`] (socket or write queue stayed full).
    pub closed_slow: u64,
    /// Bytes read from all connections.
    pub bytes_in: u64,
    /// Bytes queued for writing to all connections.
    pub bytes_out: u64,
    /// Timeouts delivered to the server.
    pub timeouts: u64,
    /// Citations handed to the sink.
    pub citations: u64,
    /// Commands from the control input handed to the server.
    pub commands: u64,
}

/// What [`run`] returns once stopped: the server, to inspect, and the counters.
#[derive(Debug)]
pub struct Stopped<S> {
    /// The server, in the state it was left in.
    pub server: S,
    /// What the driver did.
    pub stats: DriverStats,
}

/// Runs `server` on the connections `listener` accepts until `shutdown`
/// completes, then closes every connection (flushing what is queued, within
/// [`DriverConfig::shutdown_grace_max`]) and returns the server.
///
/// - Each accepted connection gets the next [`ConnectionId`] (from 0) and
///   [`Server::handle_connection_opened`].
/// - Bytes read go to [`Server::handle_bytes`]; end of stream or an error to
///   [`Server::handle_connection_closed`] (never after the server itself
///   asked to close the connection).
/// - After every input the outputs are drained: [`Output::Transmit`] is
///   queued on that connection's writer, [`Output::Close`] flushes and shuts
///   the connection down, [`Output::Cite`] goes to `cite`.
/// - The loop sleeps until [`Server::poll_timeout`] and then calls
///   [`Server::handle_timeout`].
///
/// `now` for the server is the time since `run` was called, on tokio's
/// clock. Must be called within a tokio runtime (connection tasks are
/// spawned on it); the server itself never leaves the calling task, so it
/// need not be `Send`.
pub async fn run<L, S, C, F>(listener: L, server: S, config: DriverConfig, cite: C, shutdown: F) -> Stopped<S>
where
    L: Listener,
    S: Server,
    C: FnMut(Citation),
    F: Future<Output = ()>,
{
    run_controlled(listener, server, config, cite, shutdown, None::<mpsc::Receiver<()>>, |_, _, ()| {}).await
}

/// [`run`] with a control input: every command received on `control` is
/// handed to `apply` with the server and `now` as soon as it arrives (the
/// loop wakes for it; nothing polls), and the outputs it leaves are drained
/// like those of any other input. What a command means is up to `apply`:
/// the driver only delivers it. Once every sender is dropped the input is
/// ignored. Commands come after a stop request and the server's deadline,
/// and before connection events, in the loop's biased order.
pub async fn run_controlled<L, S, C, F, T, A>(
    mut listener: L,
    mut server: S,
    config: DriverConfig,
    mut cite: C,
    shutdown: F,
    control: Option<mpsc::Receiver<T>>,
    mut apply: A,
) -> Stopped<S>
where
    L: Listener,
    S: Server,
    C: FnMut(Citation),
    F: Future<Output = ()>,
    A: FnMut(&mut S, Duration, T),
{
    let mut control = control;
    let start = Instant::now();
    let now = || start.elapsed();
    let limits = Limits {
        read_chunk_max_bytes: config.read_chunk_max_bytes,
        write_queue_max: config.write_queue_max,
        write_stall_max: config.write_stall_max,
        close_linger_max: config.close_linger_max,
    };
    let (events_tx, mut events) = mpsc::channel::<Event>(config.event_queue_max.max(1));
    // Iterated only at shutdown; IndexMap keeps that order deterministic.
    let mut conns: IndexMap<ConnectionId, Handle> = IndexMap::new();
    let mut tasks: JoinSet<()> = JoinSet::new();
    let mut next_id: u64 = 0;
    let mut stats = DriverStats::default();

    tokio::pin!(shutdown);
    let timer = tokio::time::sleep_until(start);
    tokio::pin!(timer);

    loop {
        let deadline = server.poll_timeout().and_then(|d| start.checked_add(d));
        if let Some(at) = deadline {
            if timer.deadline() != at {
                timer.as_mut().reset(at);
            }
        }
        let accepting = conns.len() < config.max_connections;

        tokio::select! {
            biased;
            () = &mut shutdown => break,
            () = &mut timer, if deadline.is_some() => {
                stats.timeouts += 1;
                server.handle_timeout(now());
            }
            command = next_command(&mut control), if control.is_some() => match command {
                Some(command) => {
                    stats.commands += 1;
                    apply(&mut server, now(), command);
                }
                None => control = None,
            },
            Some(event) = events.recv() => match event {
                Event::Bytes(conn, bytes) => {
                    if conns.contains_key(&conn) {
                        stats.bytes_in += bytes.len() as u64;
                        tracing::trace!(%conn, len = bytes.len(), "read");
                        server.handle_bytes(now(), conn, &bytes);
                    }
                }
                Event::Closed(conn, cause) => {
                    if let Some(handle) = conns.swap_remove(&conn) {
                        tracing::debug!(%conn, %cause, "connection closed");
                        match &cause {
                            CloseCause::Error(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                                // The writer gave up on a peer that took no bytes.
                                stats.closed_slow += 1;
                                handle.abort();
                            }
                            CloseCause::Error(_) => {
                                stats.closed_by_peer += 1;
                                handle.abort();
                            }
                            // Dropping the handle closes the write queue: the
                            // writer hands over what is queued, then stops.
                            CloseCause::Eof => stats.closed_by_peer += 1,
                        }
                        drop(handle);
                        server.handle_connection_closed(now(), conn);
                    }
                }
            },
            accepted = listener.accept(), if accepting => match accepted {
                Ok((stream, peer)) => {
                    let conn = ConnectionId(next_id);
                    next_id += 1;
                    stats.connections_accepted += 1;
                    tracing::debug!(%conn, %peer, "connection accepted");
                    let handle = connection::spawn(&mut tasks, conn, stream, events_tx.clone(), limits);
                    conns.insert(conn, handle);
                    server.handle_connection_opened(now(), conn);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                }
            },
            // Reap finished connection tasks so the set stays small.
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }

        drain(&mut server, &mut conns, &mut cite, &mut stats, &config, now).await;
    }

    // Stop: ask every writer to flush and close, give them a bounded time,
    // then abort whatever is left.
    tracing::debug!(open = conns.len(), "stopping");
    for (_, handle) in conns.drain(..) {
        if handle.writes.try_send(Write::Close).is_err() {
            handle.abort();
        }
    }
    drop(events);
    let grace = tokio::time::sleep(config.shutdown_grace_max);
    tokio::pin!(grace);
    loop {
        tokio::select! {
            biased;
            () = &mut grace => {
                tasks.abort_all();
                break;
            }
            joined = tasks.join_next() => if joined.is_none() { break },
        }
    }
    Stopped { server, stats }
}

/// The next command, or `None` when every sender is gone (or there is no
/// control input, which the caller's guard rules out).
async fn next_command<T>(control: &mut Option<mpsc::Receiver<T>>) -> Option<T> {
    match control {
        Some(receiver) => receiver.recv().await,
        None => None,
    }
}

/// Drains the server's outputs. A full write queue waits (bounded by
/// [`DriverConfig::write_stall_max`]); a connection whose queue stays full
/// is dropped and reported closed to the server.
async fn drain<S, C>(
    server: &mut S,
    conns: &mut IndexMap<ConnectionId, Handle>,
    cite: &mut C,
    stats: &mut DriverStats,
    config: &DriverConfig,
    now: impl Fn() -> Duration,
) where
    S: Server,
    C: FnMut(Citation),
{
    while let Some(output) = server.poll_output() {
        let (conn, write) = match output {
            Output::Cite(citation) => {
                stats.citations += 1;
                cite(citation);
                continue;
            }
            Output::Transmit { conn, bytes } => (conn, Write::Bytes(bytes)),
            Output::Close { conn } => (conn, Write::Close),
        };
        let Some(handle) = conns.get(&conn) else {
            tracing::trace!(%conn, "output for a closed connection dropped");
            continue;
        };
        let closing = matches!(write, Write::Close);
        if let Write::Bytes(bytes) = &write {
            stats.bytes_out += bytes.len() as u64;
        }
        let queued = match handle.writes.try_send(write) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Closed(_)) => true, // its close event is on the way
            Err(mpsc::error::TrySendError::Full(write)) => {
                match tokio::time::timeout(config.write_stall_max, handle.writes.send(write)).await {
                    Ok(Ok(())) => true,
                    Ok(Err(_)) => true, // the writer stopped; its close event is on the way
                    Err(_) => false,
                }
            }
        };
        if !queued {
            tracing::warn!(%conn, "write queue stayed full; dropping the slow connection");
            if let Some(handle) = conns.swap_remove(&conn) {
                handle.abort();
            }
            stats.closed_slow += 1;
            server.handle_connection_closed(now(), conn);
        } else if closing {
            // The writer flushes, shuts down and stops the reader; later
            // events from this connection are ignored.
            conns.swap_remove(&conn);
            stats.closed_by_server += 1;
            tracing::debug!(%conn, "connection closed by server");
        }
    }
}
