//! Running a [`TestServer`] on real (tokio) or simulated (turmoil) TCP,
//! with runtime control, an event stream, and the dump, stats and report
//! at the end. This is the IO edge of the test server: with `simulation`
//! (which runs it as a turmoil host), the only part that names tokio
//! (channels, timers) or files.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::config::BadFlow;
use super::dump::{DumpRecord, Stats};
use super::observer::ClientReport;
use super::server::{TestEvent, TestServer};
use super::TestServerConfig;
use crate::codec::Packet;
use crate::io::{self, DriverConfig, DriverStats, Listener};
use crate::model::{BrokerConfig, Citation, ConnectionId, Output, Server};

/// Control messages queued at most.
const CONTROL_QUEUE_MAX: usize = 256;
/// Events queued for the event stream at most; beyond it they are dropped (and counted).
const EVENT_QUEUE_MAX: usize = 10_000;
/// Dump lines kept in memory at most.
const DUMP_KEEP_MAX: usize = 1_000_000;

/// A command for a running test server.
#[derive(Debug, Clone)]
pub enum Control {
    /// Send this packet to the connection.
    Send(ConnectionId, Box<Packet>),
    /// Send these bytes to the connection, as they are.
    SendRaw(ConnectionId, Vec<u8>),
    /// Send one bad flow to the connection.
    Inject(ConnectionId, BadFlow),
    /// Close the connection.
    Disconnect(ConnectionId),
    /// Stop reading and writing on the connection, for a time or for good.
    GoSilent(ConnectionId, Option<Duration>),
    /// Stop the server.
    Stop,
}

/// Where the packet dump goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DumpTarget {
    /// One JSON-lines file for every connection.
    File(PathBuf),
    /// A directory with one `conn-N.jsonl` file per connection.
    Dir(PathBuf),
}

/// Options of [`run`].
#[derive(Debug, Default)]
pub struct RunOptions {
    /// Bounds of the IO driver.
    pub driver: DriverConfig,
    /// Write the dump here.
    pub dump: Option<DumpTarget>,
    /// Keep the dump in memory and return it in [`Finished::dump`].
    pub keep_dump: bool,
    /// Commands from the test.
    pub control: Option<mpsc::Receiver<Control>>,
    /// The event stream to the test.
    pub events: Option<mpsc::Sender<TestEvent>>,
    /// Also leave the [`Finished`] here, even when the future of [`run`] is
    /// dropped before it returns (a simulation host that is never stopped,
    /// or crashed): then its `driver` stats are zero.
    pub finished: Option<FinishedSlot>,
}

/// Where [`run`] leaves what it finished with: one entry per run, in order.
pub type FinishedSlot = Arc<Mutex<Vec<Finished>>>;

/// What a stopped test server leaves.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The dump, when kept in memory.
    pub dump: Vec<DumpRecord>,
    /// The stats.
    pub stats: Stats,
    /// The client-conformance report.
    pub report: ClientReport,
    /// What the IO driver did.
    pub driver: DriverStats,
    /// Events dropped because the event stream was full.
    pub events_dropped: u64,
    /// Dump errors (files that could not be written).
    pub dump_errors: Vec<String>,
}

/// The server plus what the runtime adds: control, events, dump.
struct Driven {
    inner: TestServer,
    events: Option<mpsc::Sender<TestEvent>>,
    events_dropped: u64,
    keep_dump: bool,
    dump: Vec<DumpRecord>,
    target: Option<DumpTarget>,
    file: Option<BufWriter<File>>,
    files: BTreeMap<u64, BufWriter<File>>,
    dump_errors: Vec<String>,
    stop: watch::Sender<bool>,
    finished: Option<FinishedSlot>,
}

impl Drop for Driven {
    /// A run dropped before it returned still leaves its results.
    fn drop(&mut self) {
        if self.finished.is_some() {
            let finished = self.finish(DriverStats::default());
            if let Some(slot) = self.finished.take() {
                slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(finished);
            }
        }
    }
}

impl Driven {
    /// Flushes the dump files and takes the results.
    fn finish(&mut self, driver: DriverStats) -> Finished {
        if let Some(mut f) = self.file.take() {
            if let Err(e) = f.flush() {
                self.dump_errors.push(e.to_string());
            }
        }
        for (_, mut f) in std::mem::take(&mut self.files) {
            if let Err(e) = f.flush() {
                self.dump_errors.push(e.to_string());
            }
        }
        Finished {
            dump: std::mem::take(&mut self.dump),
            stats: self.inner.stats(),
            report: self.inner.report(),
            driver,
            events_dropped: self.events_dropped + self.inner.events_dropped(),
            dump_errors: std::mem::take(&mut self.dump_errors),
        }
    }

    /// One command from the test, applied at `now` (the driver wakes for it).
    fn command(&mut self, now: Duration, command: Control) {
        match command {
            Control::Send(conn, packet) => self.inner.send_packet(now, conn, &packet),
            Control::SendRaw(conn, bytes) => self.inner.send_raw(now, conn, bytes),
            Control::Inject(conn, flow) => self.inner.inject(now, conn, flow),
            Control::Disconnect(conn) => self.inner.disconnect(now, conn),
            Control::GoSilent(conn, duration) => self.inner.go_silent(now, conn, duration),
            Control::Stop => self.inner.request_stop(),
        }
        self.after();
    }

    /// Hands the server's events to the dump and the event stream, and turns a stop request into a stop.
    fn after(&mut self) {
        while let Some(event) = self.inner.poll_event() {
            if let TestEvent::Packet(record) = &event {
                self.write_dump(record);
                if self.keep_dump && self.dump.len() < DUMP_KEEP_MAX {
                    self.dump.push(record.clone());
                }
            }
            if let TestEvent::Closed { conn } = &event {
                if let Some(mut file) = self.files.remove(&conn.0) {
                    let _ = file.flush();
                }
            }
            if let Some(events) = &self.events {
                if events.try_send(event).is_err() {
                    self.events_dropped += 1;
                }
            }
        }
        if self.inner.stop_requested() {
            let _ = self.stop.send(true);
        }
    }

    fn write_dump(&mut self, record: &DumpRecord) {
        let line = record.to_json_line();
        let result = match &self.target {
            None => return,
            Some(DumpTarget::File(path)) => {
                if self.file.is_none() {
                    match File::create(path) {
                        Ok(f) => self.file = Some(BufWriter::new(f)),
                        Err(e) => {
                            self.dump_errors.push(format!("{}: {e}", path.display()));
                            self.target = None;
                            return;
                        }
                    }
                }
                self.file.as_mut().map(|f| writeln!(f, "{line}"))
            }
            Some(DumpTarget::Dir(dir)) => {
                if let std::collections::btree_map::Entry::Vacant(entry) = self.files.entry(record.conn) {
                    let path = dir.join(format!("conn-{}.jsonl", record.conn));
                    match std::fs::create_dir_all(dir).and_then(|()| File::create(&path)) {
                        Ok(f) => {
                            entry.insert(BufWriter::new(f));
                        }
                        Err(e) => {
                            self.dump_errors.push(format!("{}: {e}", path.display()));
                            self.target = None;
                            return;
                        }
                    }
                }
                self.files.get_mut(&record.conn).map(|f| writeln!(f, "{line}"))
            }
        };
        if let Some(Err(e)) = result {
            self.dump_errors.push(e.to_string());
            self.target = None;
        }
    }
}

impl Server for Driven {
    fn handle_connection_opened(&mut self, now: Duration, conn: ConnectionId) {
        self.inner.handle_connection_opened(now, conn);
        self.after();
    }

    fn handle_bytes(&mut self, now: Duration, conn: ConnectionId, bytes: &[u8]) {
        self.inner.handle_bytes(now, conn, bytes);
        self.after();
    }

    fn handle_connection_closed(&mut self, now: Duration, conn: ConnectionId) {
        self.inner.handle_connection_closed(now, conn);
        self.after();
    }

    fn handle_timeout(&mut self, now: Duration) {
        if self.inner.poll_timeout().is_some_and(|t| t <= now) {
            self.inner.handle_timeout(now);
        }
        self.after();
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.inner.poll_output()
    }

    fn poll_timeout(&self) -> Option<Duration> {
        self.inner.poll_timeout()
    }
}

/// Runs `server` on `listener` until `shutdown` completes, the server asks
/// to stop (`stop_after_connections`, [`Control::Stop`]) or its
/// `max_runtime_ms` passes. Works on tokio and turmoil listeners alike.
pub async fn run<L, C, F>(listener: L, server: TestServer, options: RunOptions, cite: C, shutdown: F) -> Finished
where
    L: Listener,
    C: FnMut(Citation),
    F: std::future::Future<Output = ()>,
{
    let max_runtime = server.config().max_runtime_ms.map(Duration::from_millis);
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let driven = Driven {
        inner: server,
        events: options.events,
        events_dropped: 0,
        keep_dump: options.keep_dump,
        dump: Vec::new(),
        target: options.dump,
        file: None,
        files: BTreeMap::new(),
        dump_errors: Vec::new(),
        stop: stop_tx,
        finished: options.finished,
    };
    let stop = async move {
        let asked = async {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        };
        let limit = async {
            match max_runtime {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = shutdown => {}
            () = asked => tracing::info!("test server asked to stop"),
            () = limit => tracing::info!("test server maximum runtime reached"),
        }
    };
    let stopped =
        io::run_controlled(listener, driven, options.driver, cite, stop, options.control, Driven::command).await;
    let mut driven = stopped.server;
    let finished = driven.finish(stopped.stats);
    if let Some(slot) = driven.finished.take() {
        slot.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push(finished.clone());
    }
    finished
}

/// A test server running in-process on its own thread (with its own tokio
/// runtime), for tests in any async or sync context.
#[derive(Debug)]
pub struct TestServerHandle {
    addr: SocketAddr,
    control: mpsc::Sender<Control>,
    events: Option<mpsc::Receiver<TestEvent>>,
    thread: Option<std::thread::JoinHandle<Finished>>,
}

impl TestServerHandle {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// A sender of control commands (bounded; `send` waits for room).
    pub fn control(&self) -> mpsc::Sender<Control> {
        self.control.clone()
    }

    /// The event stream (packets, violations, opens, closes); taken once.
    pub fn take_events(&mut self) -> Option<mpsc::Receiver<TestEvent>> {
        self.events.take()
    }

    /// Sends a command from synchronous code, waiting for room.
    pub fn command(&self, command: Control) -> Result<(), String> {
        self.control.blocking_send(command).map_err(|_| "the test server has stopped".to_string())
    }

    /// Stops the server and returns its dump, stats and report.
    pub fn stop(mut self) -> Finished {
        let _ = self.control.try_send(Control::Stop);
        let thread = self.thread.take().expect("joined once");
        thread.join().expect("the test server thread does not panic")
    }
}

/// Starts a test server on `bind` (port 0 picks a free one) on a thread of
/// its own; the dump is kept in memory.
pub fn spawn(broker: BrokerConfig, config: TestServerConfig, bind: SocketAddr) -> std::io::Result<TestServerHandle> {
    let (control_tx, control_rx) = mpsc::channel(CONTROL_QUEUE_MAX);
    let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE_MAX);
    let (addr_tx, addr_rx) = std::sync::mpsc::sync_channel::<std::io::Result<SocketAddr>>(1);
    let thread = std::thread::Builder::new().name("mqttsim-testserver".into()).spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        runtime.block_on(async move {
            let listener = match tokio::net::TcpListener::bind(bind).await {
                Ok(l) => l,
                Err(e) => {
                    let _ = addr_tx.send(Err(e));
                    return empty_finish();
                }
            };
            let _ = addr_tx.send(listener.local_addr());
            let options = RunOptions {
                keep_dump: true,
                control: Some(control_rx),
                events: Some(events_tx),
                ..RunOptions::default()
            };
            run(listener, TestServer::new(broker, config), options, |_| {}, std::future::pending()).await
        })
    })?;
    let addr = addr_rx.recv().map_err(|_| std::io::Error::other("the test server thread ended"))??;
    Ok(TestServerHandle { addr, control: control_tx, events: Some(events_rx), thread: Some(thread) })
}

fn empty_finish() -> Finished {
    Finished {
        dump: Vec::new(),
        stats: Stats::default(),
        report: ClientReport { covered: Vec::new(), violations: Vec::new() },
        driver: DriverStats::default(),
        events_dropped: 0,
        dump_errors: Vec::new(),
    }
}
