//! Driver tests with a tiny line-based server: real loopback TCP for bytes,
//! closes and citations; an in-memory listener on a paused clock for exact
//! timeouts and bounds; turmoil TCP to show the same loop runs simulated.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader, DuplexStream};
use tokio::sync::{mpsc, oneshot};

use super::{run, run_controlled, DriverConfig, Listener, Stopped};
use crate::model::{Citation, CiteKind, ConnectionId, Output, Server};
use crate::spec::v5;

/// Bound on every wait in these tests, so a bug fails instead of hanging.
/// On a paused or simulated clock it costs nothing, and it must exceed the
/// longest deadline a test arms.
const WAIT: Duration = Duration::from_secs(600);

/// What the test server saw, in order, with its `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Opened(ConnectionId),
    Line(ConnectionId, String),
    Closed(ConnectionId),
    Timeout(Duration),
}

/// A line protocol, just enough to exercise the driver:
/// - on open: sends `hello cN\n` and cites a statement;
/// - `echo X`: sends `X\n`;
/// - `close`: sends `bye\n`, then asks to close;
/// - `timer S`: arms a deadline S seconds from now; when it fires, sends `tick <now secs>\n`;
/// - `flood N`: sends N lines of 1 KiB;
/// - when a peer closes: sends `gone cN\n` to every other open connection.
#[derive(Debug, Default)]
struct LineServer {
    open: Vec<ConnectionId>,
    partial: Vec<(ConnectionId, Vec<u8>)>,
    outputs: VecDeque<Output>,
    deadlines: Vec<(Duration, ConnectionId)>,
    seen: Vec<(Duration, Seen)>,
}

impl LineServer {
    fn send(&mut self, conn: ConnectionId, text: &str) {
        self.outputs.push_back(Output::Transmit { conn, bytes: text.as_bytes().to_vec() });
    }

    fn buffer(&mut self, conn: ConnectionId) -> &mut Vec<u8> {
        if let Some(i) = self.partial.iter().position(|(c, _)| *c == conn) {
            &mut self.partial[i].1
        } else {
            self.partial.push((conn, Vec::new()));
            &mut self.partial.last_mut().expect("just pushed").1
        }
    }
}

impl Server for LineServer {
    fn handle_connection_opened(&mut self, now: Duration, conn: ConnectionId) {
        self.seen.push((now, Seen::Opened(conn)));
        self.open.push(conn);
        self.send(conn, &format!("hello {conn}\n"));
        self.outputs.push_back(Output::Cite(Citation {
            statement: v5::MQTT_1_5_4_1,
            kind: CiteKind::Fulfilled,
            conn: Some(conn),
        }));
    }

    fn handle_bytes(&mut self, now: Duration, conn: ConnectionId, bytes: &[u8]) {
        self.buffer(conn).extend_from_slice(bytes);
        while let Some(end) = self.buffer(conn).iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buffer(conn).drain(..=end).collect();
            let line = String::from_utf8_lossy(&line[..end]).into_owned();
            self.seen.push((now, Seen::Line(conn, line.clone())));
            let (verb, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            match verb {
                "echo" => self.send(conn, &format!("{arg}\n")),
                "close" => {
                    self.open.retain(|c| *c != conn);
                    self.send(conn, "bye\n");
                    self.outputs.push_back(Output::Close { conn });
                }
                "timer" => {
                    let secs: u64 = arg.parse().expect("timer takes seconds");
                    self.deadlines.push((now + Duration::from_secs(secs), conn));
                }
                "flood" => {
                    let n: usize = arg.parse().expect("flood takes a count");
                    let line = format!("{}\n", "x".repeat(1023));
                    for _ in 0..n {
                        self.send(conn, &line);
                    }
                }
                _ => self.send(conn, "?\n"),
            }
        }
    }

    fn handle_connection_closed(&mut self, now: Duration, conn: ConnectionId) {
        self.seen.push((now, Seen::Closed(conn)));
        self.deadlines.retain(|(_, c)| *c != conn);
        self.open.retain(|c| *c != conn);
        for other in self.open.clone() {
            self.send(other, &format!("gone {conn}\n"));
        }
    }

    fn handle_timeout(&mut self, now: Duration) {
        self.seen.push((now, Seen::Timeout(now)));
        let (due, later): (Vec<_>, Vec<_>) = self.deadlines.drain(..).partition(|(at, _)| *at <= now);
        self.deadlines = later;
        for (_, conn) in due {
            self.send(conn, &format!("tick {}\n", now.as_secs()));
        }
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn poll_timeout(&self) -> Option<Duration> {
        self.deadlines.iter().map(|(at, _)| *at).min()
    }
}

/// A listener over in-memory duplex pipes: `connect` hands the test one end.
struct PipeListener {
    incoming: mpsc::Receiver<DuplexStream>,
}

impl Listener for PipeListener {
    type Stream = DuplexStream;

    async fn accept(&mut self) -> io::Result<(DuplexStream, SocketAddr)> {
        match self.incoming.recv().await {
            Some(stream) => Ok((stream, SocketAddr::from(([127, 0, 0, 1], 1)))),
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(SocketAddr::from(([127, 0, 0, 1], 1883)))
    }
}

async fn next_line<R: tokio::io::AsyncBufRead + Unpin>(reader: &mut R) -> String {
    let mut line = String::new();
    tokio::time::timeout(WAIT, reader.read_line(&mut line)).await.expect("a line within the bound").expect("read");
    line
}

async fn write_line<W: tokio::io::AsyncWrite + Unpin>(writer: &mut W, line: &str) {
    writer.write_all(format!("{line}\n").as_bytes()).await.expect("write");
}

async fn stopped<S>(handle: tokio::task::JoinHandle<Stopped<S>>) -> Stopped<S> {
    tokio::time::timeout(WAIT, handle).await.expect("driver stops within the bound").expect("driver task")
}

/// Bytes flow both ways over real loopback TCP, ids increase, citations reach the sink, and a server-requested close flushes then closes.
#[tokio::test]
async fn loopback_tcp_carries_bytes_both_ways_and_closes_on_request() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = Listener::local_addr(&listener).expect("addr");
    let cites = Arc::new(Mutex::new(Vec::new()));
    let sink = cites.clone();
    let (stop, stopped_rx) = oneshot::channel::<()>();
    let driver = tokio::spawn(run(
        listener,
        LineServer::default(),
        DriverConfig::default(),
        move |c: Citation| sink.lock().expect("lock").push(c),
        async move {
            let _ = stopped_rx.await;
        },
    ));

    let mut first = BufReader::new(tokio::net::TcpStream::connect(addr).await.expect("connect"));
    assert_eq!(next_line(&mut first).await, "hello c0\n");
    let mut second = BufReader::new(tokio::net::TcpStream::connect(addr).await.expect("connect"));
    assert_eq!(next_line(&mut second).await, "hello c1\n");

    // A line split across two writes is reassembled by the server, not the driver.
    first.get_mut().write_all(b"echo sp").await.expect("write");
    first.get_mut().flush().await.expect("flush");
    write_line(first.get_mut(), "lit").await;
    assert_eq!(next_line(&mut first).await, "split\n");

    // Close on request: the last bytes arrive, then end of stream.
    write_line(second.get_mut(), "close").await;
    assert_eq!(next_line(&mut second).await, "bye\n");
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, second.read_to_end(&mut rest)).await.expect("eof within the bound").expect("read");
    assert!(rest.is_empty(), "nothing after bye: {rest:?}");

    // A short real deadline fires and its output is written.
    write_line(first.get_mut(), "timer 0").await;
    assert!(next_line(&mut first).await.starts_with("tick "));

    // The peer closing is reported to the server.
    drop(first);
    let _ = stop.send(());
    let Stopped { server, stats } = stopped(driver).await;
    let events: Vec<Seen> = server.seen.into_iter().map(|(_, s)| s).collect();
    assert_eq!(events.first(), Some(&Seen::Opened(ConnectionId(0))));
    assert!(events.contains(&Seen::Line(ConnectionId(0), "echo split".into())), "{events:?}");
    assert!(!events.contains(&Seen::Closed(ConnectionId(1))), "a server-requested close is not reported back");
    assert_eq!(stats.connections_accepted, 2);
    assert_eq!(stats.closed_by_server, 1);
    assert!(stats.timeouts >= 1);
    let cites = cites.lock().expect("lock");
    assert_eq!(cites.len(), 2, "one citation per connection");
    assert_eq!(cites[1].conn, Some(ConnectionId(1)));
}

/// A peer closing its socket reaches the server as handle_connection_closed, once, and the loop goes on.
#[tokio::test]
async fn loopback_tcp_reports_a_peer_close_to_the_server() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let addr = Listener::local_addr(&listener).expect("addr");
    let (stop, stop_rx) = oneshot::channel::<()>();
    let driver = tokio::spawn(run(listener, LineServer::default(), DriverConfig::default(), |_| {}, async move {
        let _ = stop_rx.await;
    }));
    let mut leaving = BufReader::new(tokio::net::TcpStream::connect(addr).await.expect("connect"));
    assert_eq!(next_line(&mut leaving).await, "hello c0\n");
    let mut watcher = BufReader::new(tokio::net::TcpStream::connect(addr).await.expect("connect"));
    assert_eq!(next_line(&mut watcher).await, "hello c1\n");
    drop(leaving);
    assert_eq!(next_line(&mut watcher).await, "gone c0\n");
    write_line(watcher.get_mut(), "echo after").await;
    assert_eq!(next_line(&mut watcher).await, "after\n");
    let _ = stop.send(());
    let Stopped { server, stats } = stopped(driver).await;
    let closes = server.seen.iter().filter(|(_, s)| *s == Seen::Closed(ConnectionId(0))).count();
    assert_eq!(closes, 1);
    assert_eq!((stats.connections_accepted, stats.closed_by_peer), (2, 1));
}

/// On a paused clock, deadlines fire at exactly the instant the server asked for, and `now` starts at zero.
#[tokio::test(start_paused = true)]
async fn timeouts_fire_at_the_exact_deadline_on_a_paused_clock() {
    let (connect, incoming) = mpsc::channel(4);
    let (stop, stop_rx) = oneshot::channel::<()>();
    let driver = tokio::spawn(run(
        PipeListener { incoming },
        LineServer::default(),
        DriverConfig::default(),
        |_| {},
        async move {
            let _ = stop_rx.await;
        },
    ));
    let (client, server_end) = tokio::io::duplex(4096);
    connect.send(server_end).await.expect("listener alive");
    let mut client = BufReader::new(client);
    assert_eq!(next_line(&mut client).await, "hello c0\n");
    write_line(client.get_mut(), "timer 90").await;
    write_line(client.get_mut(), "timer 45").await;
    assert_eq!(next_line(&mut client).await, "tick 45\n");
    assert_eq!(next_line(&mut client).await, "tick 90\n");
    let _ = stop.send(());
    let Stopped { server, .. } = stopped(driver).await;
    let timeouts: Vec<Duration> =
        server.seen.iter().filter_map(|(_, s)| if let Seen::Timeout(t) = s { Some(*t) } else { None }).collect();
    assert_eq!(timeouts, vec![Duration::from_secs(45), Duration::from_secs(90)]);
    assert_eq!(server.seen[0], (Duration::ZERO, Seen::Opened(ConnectionId(0))));
}

/// A peer that stops reading is dropped once its bounded write queue stays full for the stall limit, and the others keep going.
#[tokio::test(start_paused = true)]
async fn a_peer_that_stops_reading_is_dropped_after_the_stall_limit() {
    let (connect, incoming) = mpsc::channel(4);
    let (stop, stop_rx) = oneshot::channel::<()>();
    let config =
        DriverConfig { write_queue_max: 4, write_stall_max: Duration::from_secs(3), ..DriverConfig::default() };
    let driver = tokio::spawn(run(PipeListener { incoming }, LineServer::default(), config, |_| {}, async move {
        let _ = stop_rx.await;
    }));
    let (slow, slow_end) = tokio::io::duplex(1024);
    connect.send(slow_end).await.expect("listener alive");
    let mut slow = BufReader::new(slow);
    assert_eq!(next_line(&mut slow).await, "hello c0\n");
    write_line(slow.get_mut(), "flood 100").await;

    let (fast, fast_end) = tokio::io::duplex(4096);
    connect.send(fast_end).await.expect("listener alive");
    let mut fast = BufReader::new(fast);
    assert_eq!(next_line(&mut fast).await, "hello c1\n");
    write_line(fast.get_mut(), "echo still here").await;
    assert_eq!(next_line(&mut fast).await, "still here\n");

    let _ = stop.send(());
    let Stopped { server, stats } = stopped(driver).await;
    assert_eq!(stats.closed_slow, 1);
    let closed_at = server.seen.iter().find(|(_, s)| *s == Seen::Closed(ConnectionId(0))).map(|(t, _)| *t);
    assert!(closed_at.is_some_and(|t| t >= Duration::from_secs(3)), "dropped after the stall limit: {closed_at:?}");
}

/// A stop flushes what is still queued, closes every connection, and hands back the server.
#[tokio::test(start_paused = true)]
async fn a_stop_flushes_queued_bytes_and_returns_the_server() {
    let (connect, incoming) = mpsc::channel(4);
    let (stop, stop_rx) = oneshot::channel::<()>();
    let driver = tokio::spawn(run(
        PipeListener { incoming },
        LineServer::default(),
        DriverConfig::default(),
        |_| {},
        async move {
            let _ = stop_rx.await;
        },
    ));
    // A pipe smaller than the reply, so most of it is still queued at the stop.
    let (client, server_end) = tokio::io::duplex(1024);
    connect.send(server_end).await.expect("listener alive");
    let mut client = BufReader::new(client);
    assert_eq!(next_line(&mut client).await, "hello c0\n");
    client.get_mut().write_all(b"flood 8\necho last\n").await.expect("write");
    assert_eq!(next_line(&mut client).await.len(), 1024, "the server read both lines");
    let _ = stop.send(());
    for _ in 1..8 {
        assert_eq!(next_line(&mut client).await.len(), 1024);
    }
    assert_eq!(next_line(&mut client).await, "last\n");
    let mut rest = Vec::new();
    tokio::time::timeout(WAIT, client.read_to_end(&mut rest)).await.expect("eof within the bound").expect("read");
    assert!(rest.is_empty());
    let Stopped { server, .. } = stopped(driver).await;
    assert!(server.seen.contains(&(Duration::ZERO, Seen::Line(ConnectionId(0), "echo last".into()))));
}

/// With max_connections reached the driver stops accepting until a connection closes.
#[tokio::test(start_paused = true)]
async fn accepting_pauses_at_the_connection_limit() {
    let (connect, incoming) = mpsc::channel(4);
    let (stop, stop_rx) = oneshot::channel::<()>();
    let config = DriverConfig { max_connections: 1, ..DriverConfig::default() };
    let driver = tokio::spawn(run(PipeListener { incoming }, LineServer::default(), config, |_| {}, async move {
        let _ = stop_rx.await;
    }));
    let (first, first_end) = tokio::io::duplex(4096);
    connect.send(first_end).await.expect("listener alive");
    let mut first = BufReader::new(first);
    assert_eq!(next_line(&mut first).await, "hello c0\n");
    let (second, second_end) = tokio::io::duplex(4096);
    connect.send(second_end).await.expect("listener alive");
    let mut second = BufReader::new(second);
    // Not accepted while the first is open: no greeting within a simulated minute.
    let mut line = String::new();
    let waited = tokio::time::timeout(Duration::from_secs(60), second.read_line(&mut line)).await;
    assert!(waited.is_err(), "second connection must wait, got {line:?}");
    write_line(first.get_mut(), "close").await;
    assert_eq!(next_line(&mut first).await, "bye\n");
    assert_eq!(next_line(&mut second).await, "hello c1\n");
    let _ = stop.send(());
    stopped(driver).await;
}

/// The same loop runs over turmoil's simulated TCP, with deadlines on simulated time.
#[test]
fn the_driver_runs_over_turmoil_tcp() {
    let mut sim = turmoil::Builder::new()
        .simulation_duration(Duration::from_secs(1200))
        .epoch(std::time::UNIX_EPOCH)
        .rng_seed(7)
        .build();
    sim.host("server", || async {
        let listener = turmoil::net::TcpListener::bind("0.0.0.0:1883").await?;
        run(listener, LineServer::default(), DriverConfig::default(), |_| {}, std::future::pending()).await;
        Ok(())
    });
    sim.client("client", async {
        let stream = turmoil::net::TcpStream::connect("server:1883").await?;
        let mut stream = BufReader::new(stream);
        assert_eq!(next_line(&mut stream).await, "hello c0\n");
        write_line(stream.get_mut(), "timer 30").await;
        assert_eq!(next_line(&mut stream).await, "tick 30\n");
        write_line(stream.get_mut(), "close").await;
        assert_eq!(next_line(&mut stream).await, "bye\n");
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await?;
        assert!(rest.is_empty());
        Ok(())
    });
    sim.run().expect("simulation passes");
}

/// A command on the control input wakes the loop at once: on a paused clock
/// its reply arrives with no time passed and no timeout fired (a polling
/// loop would have moved the clock to its next tick), and once every sender
/// is gone the loop goes on serving.
#[tokio::test(start_paused = true)]
async fn a_command_wakes_the_driver_without_polling() {
    let (connect, incoming) = mpsc::channel(4);
    let (commands, control) = mpsc::channel::<String>(4);
    let (stop, stop_rx) = oneshot::channel::<()>();
    let start = tokio::time::Instant::now();
    let driver = tokio::spawn(run_controlled(
        PipeListener { incoming },
        LineServer::default(),
        DriverConfig::default(),
        |_| {},
        async move {
            let _ = stop_rx.await;
        },
        Some(control),
        |server: &mut LineServer, now: Duration, text: String| {
            server.seen.push((now, Seen::Line(ConnectionId(0), format!("command {text}"))));
            for conn in server.open.clone() {
                server.send(conn, &format!("{text}\n"));
            }
        },
    ));
    let (client, server_end) = tokio::io::duplex(4096);
    connect.send(server_end).await.expect("listener alive");
    let mut client = BufReader::new(client);
    assert_eq!(next_line(&mut client).await, "hello c0\n");
    commands.send("pushed".into()).await.expect("driver alive");
    assert_eq!(next_line(&mut client).await, "pushed\n");
    assert_eq!(start.elapsed(), Duration::ZERO, "handled on arrival, not on a tick");
    drop(commands);
    write_line(client.get_mut(), "echo still serving").await;
    assert_eq!(next_line(&mut client).await, "still serving\n");
    let _ = stop.send(());
    let Stopped { server, stats } = stopped(driver).await;
    assert_eq!((stats.commands, stats.timeouts), (1, 0));
    assert!(server.seen.contains(&(Duration::ZERO, Seen::Line(ConnectionId(0), "command pushed".into()))));
}
