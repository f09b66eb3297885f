//! Broker throughput: `mqttsim serve` against Mosquitto, same load, same run.
//!
//! Starts both brokers on 127.0.0.1 (Mosquitto from the `mosquitto` binary on
//! `PATH`, Debian package `mosquitto`; mqttsim from this package's binary,
//! built in the bench profile by `cargo bench`), then drives each with the
//! same load generator: tokio, mqttsim's codec, MQTT 3.1.1 over TCP.
//!
//! Scenarios: QoS 0 and QoS 1 × (1 publisher → 10 subscribers, 10
//! publishers → 1 subscriber), [`MESSAGES`] messages published per scenario
//! (split evenly between the publishers), [`PAYLOAD_BYTES`]-byte payloads,
//! one topic per scenario.
//!
//! Flow control, identical for both brokers:
//! - QoS 1 publishers keep at most [`QOS1_WINDOW`] PUBLISHes unacknowledged;
//!   subscribers PUBACK every QoS 1 delivery.
//! - Every publisher, at both QoS, stays at most [`E2E_WINDOW`] messages ahead
//!   of the slowest subscriber's deliveries of its messages. Neither broker
//!   then has to queue (or may drop) an unbounded backlog, so every message
//!   can be required to arrive.
//!
//! Timing runs from the first PUBLISH to the last expected delivery at every
//! subscriber. Every subscriber must receive every message of every
//! publisher, in order, exactly once; anything else fails the bench. Each
//! scenario runs [`ROUNDS`] times per broker (alternating which goes first)
//! and the best round is kept.
//!
//! Prints, per scenario, deliveries/s for each broker and the ratio mqttsim /
//! Mosquitto (above 1.0 means mqttsim is faster), the broker CPU time used
//! during the timed rounds, and at the end each broker's peak RSS (VmHWM).
//!
//! mqttsim runs with `citations = false` (statement citations are a testing
//! aid, not broker work) and both brokers get the same raised limits
//! ([`BROKER_INFLIGHT`] outgoing messages in flight, [`BROKER_QUEUE`] queued
//! per session) and no `$SYS` publishing.
//!
//! Run: `cargo bench --bench broker` (`-- --quick` for a short smoke run).

use std::io::{BufRead, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener as StdTcpListener, TcpStream as StdTcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use mqttsim::codec::{
    decode, encode, Connect, DecodeOptions, Packet, PacketId, Properties, PubResponse, Publish, Qos, QosPid,
    ReasonCode, Subscribe, Subscription, SubscriptionOptions, TopicFilter, TopicName, Version,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};

/// Messages published per scenario (all publishers together).
const MESSAGES: u64 = 100_000;
/// Messages published per scenario with `--quick`.
const QUICK_MESSAGES: u64 = 10_000;
/// Timed rounds per scenario and broker; the best is kept.
const ROUNDS: usize = 3;
/// Payload size of every PUBLISH (the first 12 bytes carry publisher and sequence).
const PAYLOAD_BYTES: usize = 64;
/// Unacknowledged QoS 1 PUBLISHes per publisher.
const QOS1_WINDOW: usize = 100;
/// Messages a publisher may be ahead of the slowest subscriber.
const E2E_WINDOW: u64 = 2_000;
/// Outgoing QoS 1 messages in flight per session, for both brokers.
const BROKER_INFLIGHT: u32 = 1_000;
/// Messages queued per session, for both brokers.
const BROKER_QUEUE: u32 = 1_000_000;
/// Bound on one round (connect, subscribe, publish, deliver).
const ROUND_TIMEOUT: Duration = Duration::from_secs(120);
/// Bound on a broker starting to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on CONNACK and SUBACK.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

const VERSION: Version = Version::V3_1_1;

fn main() -> ExitCode {
    let quick = std::env::args().any(|a| a == "--quick");
    match run(quick) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("broker bench failed: {message}");
            ExitCode::FAILURE
        }
    }
}

/// A broker child process, killed and reaped when dropped (also on failure).
struct BrokerProcess {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
    _dir: TempDir,
}

impl BrokerProcess {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails when the process has exited.
    fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(format!("{} exited unexpectedly ({status})", self.name)),
            Ok(None) => Ok(()),
            Err(e) => Err(format!("cannot query {}: {e}", self.name)),
        }
    }
}

impl Drop for BrokerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> Result<TempDir, String> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!("mqttsim-bench-{label}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn find_mosquitto() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("mosquitto"))
        .find(|p| p.is_file())
}

fn free_port() -> Result<u16, String> {
    let listener = StdTcpListener::bind("127.0.0.1:0").map_err(|e| format!("cannot pick a free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("cannot pick a free port: {e}"))
}

fn mosquitto_version(bin: &Path) -> String {
    // `mosquitto -h` prints "mosquitto version X" first and exits non-zero.
    Command::new(bin)
        .arg("-h")
        .output()
        .ok()
        .and_then(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
            text.lines().find(|l| l.contains("version")).map(|l| l.trim().to_string())
        })
        .unwrap_or_else(|| "mosquitto (unknown version)".to_string())
}

fn start_mosquitto(bin: &Path) -> Result<BrokerProcess, String> {
    let dir = TempDir::new("mosquitto")?;
    let port = free_port()?;
    let config = format!(
        "listener {port} 127.0.0.1\n\
         allow_anonymous true\n\
         persistence false\n\
         max_inflight_messages {BROKER_INFLIGHT}\n\
         max_queued_messages {BROKER_QUEUE}\n\
         sys_interval 0\n\
         log_dest stderr\n\
         log_type error\n\
         log_type warning\n"
    );
    let path = dir.0.join("mosquitto.conf");
    std::fs::write(&path, config).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let child = Command::new(bin)
        .arg("-c")
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let mut broker =
        BrokerProcess { name: "mosquitto", child, addr: SocketAddr::from(([127, 0, 0, 1], port)), _dir: dir };
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        broker.check_alive()?;
        if StdTcpStream::connect_timeout(&broker.addr, Duration::from_millis(200)).is_ok() {
            return Ok(broker);
        }
        if Instant::now() > deadline {
            return Err(format!("mosquitto did not accept connections on {} within {START_TIMEOUT:?}", broker.addr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn start_mqttsim() -> Result<BrokerProcess, String> {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_mqttsim"));
    if !bin.is_file() {
        return Err(format!("{} not found; run `cargo build --release` first", bin.display()));
    }
    let dir = TempDir::new("mqttsim")?;
    let config = format!(
        "citations = false\n\
         max_inflight = {BROKER_INFLIGHT}\n\
         max_queued_messages_per_session = {BROKER_QUEUE}\n\
         sys_interval_secs = 0\n"
    );
    let path = dir.0.join("broker.toml");
    std::fs::write(&path, config).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let mut child = Command::new(&bin)
        .args([
            "serve",
            "--no-tcp-nodelay",
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--max-runtime-secs",
            "3600",
            "--config",
        ])
        .arg(&path)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut broker = BrokerProcess { name: "mqttsim", child, addr: SocketAddr::from(([127, 0, 0, 1], 0)), _dir: dir };
    // Read the first line on a thread so a silent broker cannot hang us; the
    // thread then keeps draining stdout (the coverage summary at exit).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = tx.send(reader.read_line(&mut line).map(|_| line));
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let line = match rx.recv_timeout(START_TIMEOUT) {
        Ok(Ok(line)) => line,
        Ok(Err(e)) => return Err(format!("cannot read mqttsim's output: {e}")),
        Err(_) => return Err(format!("mqttsim printed no address within {START_TIMEOUT:?}")),
    };
    broker.check_alive()?;
    broker.addr = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| format!("unexpected first line from mqttsim: {line:?}"))?;
    Ok(broker)
}

/// A `/proc/PID/status` field in kB (VmHWM, VmRSS).
fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].trim_start_matches(':').trim().trim_end_matches("kB").trim().parse().ok()
}

/// User plus system CPU time of a process, from `/proc/PID/stat` (clock ticks of 1/100 s).
fn proc_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the command: state is field 3, utime 14, stime 15 (1-based).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_millis((utime + stime) * 10))
}

#[derive(Debug, Clone, Copy)]
struct Scenario {
    qos: Qos,
    publishers: usize,
    subscribers: usize,
}

impl Scenario {
    fn label(&self) -> String {
        format!("QoS {} {} pub -> {} sub", self.qos.as_u8(), self.publishers, self.subscribers)
    }
}

/// Result of one timed round.
struct Round {
    elapsed: Duration,
    deliveries: u64,
}

fn run(quick: bool) -> Result<(), String> {
    let Some(mosquitto_bin) = find_mosquitto() else {
        return Err("the `mosquitto` binary was not found on PATH (or /usr/sbin). Install it, e.g. \
                    `apt-get install -y mosquitto` on Debian/Ubuntu, and run the bench again."
            .to_string());
    };
    let messages = if quick { QUICK_MESSAGES } else { MESSAGES };
    let rounds = if quick { 1 } else { ROUNDS };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;

    let mut mqttsim = start_mqttsim()?;
    let mut mosquitto = start_mosquitto(&mosquitto_bin)?;
    println!("broker throughput ({}, {} cores)", mosquitto_version(&mosquitto_bin), cores());
    println!(
        "  {messages} messages per scenario, {PAYLOAD_BYTES} B payloads, MQTT 3.1.1, best of {rounds} round(s); \
         mqttsim on {} (citations = false), mosquitto on {}",
        mqttsim.addr, mosquitto.addr
    );

    let scenarios = [
        Scenario { qos: Qos::AtMostOnce, publishers: 1, subscribers: 10 },
        Scenario { qos: Qos::AtMostOnce, publishers: 10, subscribers: 1 },
        Scenario { qos: Qos::AtLeastOnce, publishers: 1, subscribers: 10 },
        Scenario { qos: Qos::AtLeastOnce, publishers: 10, subscribers: 1 },
    ];
    let mut run_id = 0u64;
    println!(
        "  {:<26} {:>16} {:>16} {:>8} {:>11} {:>11}",
        "scenario", "mqttsim msg/s", "mosquitto msg/s", "ratio", "mqttsim cpu", "mosq. cpu"
    );
    for scenario in scenarios {
        let mut best: [Option<Duration>; 2] = [None, None];
        let mut cpu = [Duration::ZERO; 2];
        let mut deliveries = 0;
        for round in 0..rounds {
            // Alternate which broker goes first.
            let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
            for which in order {
                let broker = if which == 0 { &mut mqttsim } else { &mut mosquitto };
                run_id += 1;
                let cpu_before = proc_cpu(broker.pid()).unwrap_or_default();
                let result = runtime.block_on(async {
                    tokio::time::timeout(ROUND_TIMEOUT, run_round(broker.addr, scenario, messages, run_id)).await
                });
                let round = match result {
                    Ok(Ok(round)) => round,
                    Ok(Err(e)) => {
                        broker.check_alive()?;
                        return Err(format!("{} / {}: {e}", broker.name, scenario.label()));
                    }
                    Err(_) => {
                        broker.check_alive()?;
                        return Err(format!(
                            "{} / {}: timed out after {ROUND_TIMEOUT:?}",
                            broker.name,
                            scenario.label()
                        ));
                    }
                };
                cpu[which] += proc_cpu(broker.pid()).unwrap_or_default().saturating_sub(cpu_before);
                deliveries = round.deliveries;
                best[which] = Some(best[which].map_or(round.elapsed, |b| b.min(round.elapsed)));
            }
        }
        let rate = |d: Option<Duration>| deliveries as f64 / d.expect("at least one round").as_secs_f64();
        let (ours, theirs) = (rate(best[0]), rate(best[1]));
        println!(
            "  {:<26} {:>16.0} {:>16.0} {:>8.2} {:>10.2}s {:>10.2}s",
            scenario.label(),
            ours,
            theirs,
            ours / theirs,
            cpu[0].as_secs_f64(),
            cpu[1].as_secs_f64()
        );
        let _ = std::io::stdout().flush();
    }
    let rss = |b: &BrokerProcess| {
        proc_status_kb(b.pid(), "VmHWM")
            .map_or_else(|| "unknown".to_string(), |kb| format!("{:.1} MiB", kb as f64 / 1024.0))
    };
    println!("  peak RSS (VmHWM): mqttsim {}, mosquitto {}", rss(&mqttsim), rss(&mosquitto));
    println!("  msg/s = deliveries (messages x subscribers) per second, first PUBLISH to last delivery;");
    println!("  ratio = mqttsim / mosquitto (above 1.0: mqttsim faster); cpu = broker CPU time over all rounds");
    runtime.shutdown_timeout(Duration::from_secs(1));
    drop(mqttsim);
    drop(mosquitto);
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// One MQTT connection during setup: the stream and bytes read but not decoded.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

async fn connect(addr: SocketAddr, client_id: String) -> Result<Conn, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect to {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| format!("set_nodelay: {e}"))?;
    let mut conn = Conn { stream, buf: Vec::with_capacity(64 * 1024) };
    let connect = Packet::Connect(Connect {
        version: VERSION,
        clean_start: true,
        keep_alive_secs: 0,
        properties: Properties::default(),
        client_id,
        will: None,
        username: None,
        password: None,
    });
    conn.send(&connect).await?;
    match conn.recv().await? {
        Packet::Connack(ack) if ack.reason_code == ReasonCode::SUCCESS => Ok(conn),
        other => Err(format!("expected a successful CONNACK, got {other:?}")),
    }
}

impl Conn {
    async fn send(&mut self, packet: &Packet) -> Result<(), String> {
        let mut out = Vec::new();
        encode(packet, VERSION, &mut out).map_err(|e| format!("encode: {e}"))?;
        self.stream.write_all(&out).await.map_err(|e| format!("write: {e}"))
    }

    async fn recv(&mut self) -> Result<Packet, String> {
        let options = DecodeOptions::new(VERSION);
        tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
            loop {
                if let Some((packet, used)) = decode(&self.buf, &options).map_err(|e| format!("decode: {e}"))? {
                    self.buf.drain(..used);
                    return Ok(packet);
                }
                if read_more(&mut self.stream, &mut self.buf).await? == 0 {
                    return Err("connection closed by the broker".to_string());
                }
            }
        })
        .await
        .map_err(|_| format!("no answer within {HANDSHAKE_TIMEOUT:?}"))?
    }

    async fn subscribe(&mut self, topic: &str, qos: Qos) -> Result<(), String> {
        let filter = TopicFilter::new_v3(topic).map_err(|e| format!("filter: {e}"))?;
        let subscribe = Packet::Subscribe(Subscribe {
            packet_id: PacketId::new(1).expect("non-zero"),
            properties: Properties::default(),
            subscriptions: vec![Subscription { filter, options: SubscriptionOptions::qos(qos) }],
        });
        self.send(&subscribe).await?;
        let granted = if qos == Qos::AtMostOnce { ReasonCode::GRANTED_QOS_0 } else { ReasonCode::GRANTED_QOS_1 };
        match self.recv().await? {
            Packet::Suback(ack) if ack.reason_codes == [granted] => Ok(()),
            other => Err(format!("expected a SUBACK granting QoS {}, got {other:?}", qos.as_u8())),
        }
    }
}

async fn read_more<R: AsyncReadExt + Unpin>(reader: &mut R, buf: &mut Vec<u8>) -> Result<usize, String> {
    let len = buf.len();
    buf.resize(len + 64 * 1024, 0);
    let n = reader.read(&mut buf[len..]).await.map_err(|e| format!("read: {e}"));
    buf.truncate(len + *n.as_ref().unwrap_or(&0));
    n
}

/// Deliveries seen so far: `delivered[sub][publisher]`, and one wake-up per publisher.
struct Progress {
    delivered: Vec<Vec<AtomicU64>>,
    wake: Vec<Notify>,
}

impl Progress {
    fn slowest(&self, publisher: usize) -> u64 {
        self.delivered.iter().map(|d| d[publisher].load(Ordering::Acquire)).min().unwrap_or(0)
    }
}

async fn run_round(addr: SocketAddr, scenario: Scenario, messages: u64, run_id: u64) -> Result<Round, String> {
    let topic = format!("bench/{run_id}");
    let per_publisher = messages / scenario.publishers as u64;
    let progress = Arc::new(Progress {
        delivered: (0..scenario.subscribers)
            .map(|_| (0..scenario.publishers).map(|_| AtomicU64::new(0)).collect())
            .collect(),
        wake: (0..scenario.publishers).map(|_| Notify::new()).collect(),
    });

    // Connect and subscribe everyone before the clock starts.
    let mut subscribers = Vec::new();
    for s in 0..scenario.subscribers {
        let mut conn = connect(addr, format!("bench-{run_id}-sub-{s}")).await?;
        conn.subscribe(&topic, scenario.qos).await?;
        subscribers.push(conn);
    }
    let mut publishers = Vec::new();
    for p in 0..scenario.publishers {
        publishers.push(connect(addr, format!("bench-{run_id}-pub-{p}")).await?);
    }

    let start = Instant::now();
    let mut sub_tasks = tokio::task::JoinSet::new();
    for (s, conn) in subscribers.into_iter().enumerate() {
        let progress = progress.clone();
        sub_tasks.spawn(subscriber(conn, s, scenario, per_publisher, progress));
    }
    let mut pub_tasks = tokio::task::JoinSet::new();
    let topic = TopicName::new(topic).map_err(|e| format!("topic: {e}"))?;
    for (p, conn) in publishers.into_iter().enumerate() {
        pub_tasks.spawn(publisher(conn, p, scenario.qos, per_publisher, topic.clone(), progress.clone()));
    }
    let mut last = start;
    while let Some(joined) = sub_tasks.join_next().await {
        let done = joined.map_err(|e| format!("subscriber task: {e}"))??;
        last = last.max(done);
    }
    while let Some(joined) = pub_tasks.join_next().await {
        joined.map_err(|e| format!("publisher task: {e}"))??;
    }
    Ok(Round {
        elapsed: last - start,
        deliveries: per_publisher * scenario.publishers as u64 * scenario.subscribers as u64,
    })
}

/// Publishes `count` messages; returns once they are all sent (and, at QoS 1, acknowledged).
async fn publisher(
    conn: Conn,
    index: usize,
    qos: Qos,
    count: u64,
    topic: TopicName,
    progress: Arc<Progress>,
) -> Result<(), String> {
    let (reader, mut writer) = conn.stream.into_split();
    let window = Arc::new(Semaphore::new(QOS1_WINDOW));
    let acks = (qos == Qos::AtLeastOnce).then(|| tokio::spawn(puback_reader(reader, conn.buf, window.clone(), count)));
    let mut filler = vec![b'x'; PAYLOAD_BYTES];
    let mut out = Vec::with_capacity(64 * 1024);
    let mut pid = PacketId::new(1).expect("non-zero");
    let mut seq = 0u64;
    while seq < count {
        // End-to-end window: wait for the slowest subscriber.
        while progress.slowest(index) + E2E_WINDOW <= seq {
            flush(&mut writer, &mut out).await?;
            progress.wake[index].notified().await;
        }
        let qos_pid = if qos == Qos::AtLeastOnce {
            if window.available_permits() == 0 {
                flush(&mut writer, &mut out).await?;
            }
            window.acquire().await.map_err(|_| "PUBACK reader stopped".to_string())?.forget();
            pid = pid.next();
            QosPid::AtLeastOnce(pid)
        } else {
            QosPid::AtMostOnce
        };
        filler[..4].copy_from_slice(&(index as u32).to_be_bytes());
        filler[4..12].copy_from_slice(&seq.to_be_bytes());
        let publish = Packet::Publish(Publish {
            dup: false,
            qos_pid,
            retain: false,
            topic: topic.clone(),
            properties: Properties::default(),
            payload: Bytes::copy_from_slice(&filler),
        });
        encode(&publish, VERSION, &mut out).map_err(|e| format!("encode: {e}"))?;
        seq += 1;
        if out.len() >= 16 * 1024 {
            flush(&mut writer, &mut out).await?;
        }
    }
    flush(&mut writer, &mut out).await?;
    if let Some(acks) = acks {
        acks.await.map_err(|e| format!("PUBACK reader: {e}"))??;
    }
    // Keep the connection open until the round is over; dropping `writer` closes it.
    Ok(())
}

async fn flush(writer: &mut OwnedWriteHalf, out: &mut Vec<u8>) -> Result<(), String> {
    if !out.is_empty() {
        writer.write_all(out).await.map_err(|e| format!("publisher write: {e}"))?;
        out.clear();
    }
    Ok(())
}

/// Counts PUBACKs, reopening the QoS 1 window for each.
async fn puback_reader(
    mut reader: OwnedReadHalf,
    mut buf: Vec<u8>,
    window: Arc<Semaphore>,
    count: u64,
) -> Result<(), String> {
    let options = DecodeOptions::new(VERSION);
    let mut acked = 0u64;
    while acked < count {
        let mut used = 0;
        let mut freed = 0;
        while let Some((packet, n)) = decode(&buf[used..], &options).map_err(|e| format!("decode: {e}"))? {
            used += n;
            match packet {
                Packet::Puback(_) => freed += 1,
                other => return Err(format!("publisher got an unexpected {:?}", other.packet_type())),
            }
        }
        buf.drain(..used);
        acked += freed;
        window.add_permits(freed as usize);
        if acked < count && read_more(&mut reader, &mut buf).await? == 0 {
            return Err(format!("broker closed a publisher after {acked} of {count} PUBACKs"));
        }
    }
    Ok(())
}

/// Receives every publisher's `per_publisher` messages in order; returns when the last arrived.
async fn subscriber(
    conn: Conn,
    index: usize,
    scenario: Scenario,
    per_publisher: u64,
    progress: Arc<Progress>,
) -> Result<Instant, String> {
    let Conn { mut stream, mut buf } = conn;
    let options = DecodeOptions::new(VERSION);
    let expected = per_publisher * scenario.publishers as u64;
    let mut next = vec![0u64; scenario.publishers];
    let mut touched = vec![false; scenario.publishers];
    let mut received = 0u64;
    let mut acks = Vec::with_capacity(16 * 1024);
    loop {
        let mut used = 0;
        while let Some((packet, n)) = decode(&buf[used..], &options).map_err(|e| format!("decode: {e}"))? {
            used += n;
            let Packet::Publish(publish) = packet else {
                return Err(format!("subscriber got an unexpected {:?}", packet.packet_type()));
            };
            if publish.qos_pid.qos() != scenario.qos {
                return Err(format!(
                    "delivered at QoS {}, expected {}",
                    publish.qos_pid.qos().as_u8(),
                    scenario.qos.as_u8()
                ));
            }
            if let Some(id) = publish.qos_pid.packet_id() {
                encode(&Packet::Puback(PubResponse::new(id)), VERSION, &mut acks)
                    .map_err(|e| format!("encode: {e}"))?;
            }
            let payload = &publish.payload;
            if payload.len() != PAYLOAD_BYTES {
                return Err(format!("payload of {} bytes, expected {PAYLOAD_BYTES}", payload.len()));
            }
            let p = u32::from_be_bytes(payload[..4].try_into().expect("4 bytes")) as usize;
            let seq = u64::from_be_bytes(payload[4..12].try_into().expect("8 bytes"));
            if p >= next.len() || seq != next[p] {
                return Err(format!(
                    "subscriber {index}: publisher {p} message {seq} arrived, expected {}",
                    next.get(p).copied().unwrap_or(0)
                ));
            }
            next[p] += 1;
            touched[p] = true;
            received += 1;
        }
        buf.drain(..used);
        if !acks.is_empty() {
            stream.write_all(&acks).await.map_err(|e| format!("subscriber write: {e}"))?;
            acks.clear();
        }
        for (p, t) in touched.iter_mut().enumerate() {
            if std::mem::take(t) {
                progress.delivered[index][p].store(next[p], Ordering::Release);
                progress.wake[p].notify_one();
            }
        }
        if received == expected {
            return Ok(Instant::now());
        }
        if read_more(&mut stream, &mut buf).await? == 0 {
            return Err(format!("broker closed subscriber {index} after {received} of {expected} messages"));
        }
    }
}
