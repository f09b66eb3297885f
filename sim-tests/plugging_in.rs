//! Plugging a third-party client into the turmoil world: rumqttc 0.25's
//! protocol core (its public `MqttState` and v4 packet read/write) driven
//! over a recorded turmoil `TcpStream`, against the model broker, next to a
//! scripted model client. See `docs/plugging-in.md`.
//!
//! rumqttc's `EventLoop` dials real sockets, so [`run_rumqttc`] does what
//! `EventLoop::poll` does (rumqttc-0.25.1/src/eventloop.rs) over the stream
//! the connector gives: CONNECT and wait for CONNACK; forget pending
//! requests unless the session is present; then read packets into
//! `handle_incoming_packet`, feed requests (pending ones first) through
//! `handle_outgoing_packet`, and send PINGREQ every keep-alive; on any error
//! move the state's unacknowledged packets back to pending (`clean`) and
//! dial again. Its one `select!` is `biased;`, where rumqttc's is not.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use mqttsim::codec::{Packet, Publish};
use mqttsim::model::{BrokerConfig, ClientConfig};
use mqttsim::sim::turmoil::{
    BrokerUnderTest, ClientAction, ClientStep, ClientUnderTest, Connector, HostResult, ModelClientSpec, TurmoilConfig,
    TurmoilOutcome, TurmoilRun, TurmoilWorld, BROKER_HOST,
};
use mqttsim::sim::{Fault, FaultPlan, FaultStep};
use mqttsim::spec::Version;
use mqttsim::trace::{Dir, Event, EventKind};
use rumqttc::{Connect, ConnectReturnCode, Disconnect, MqttState, PingReq, QoS, Request, Subscribe};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// rumqttc's default largest packet, both ways.
const MAX_PACKET_BYTES: usize = 10 * 1024;

/// How long the application waits before polling again after an error
/// (rumqttc leaves this to the application; 1 s is the common choice).
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// What the rumqttc client is told to do.
pub(crate) struct RumqttcScript {
    pub(crate) client_id: &'static str,
    pub(crate) keep_alive: Duration,
    pub(crate) clean_session: bool,
    /// Requests the application makes at simulated times (sent while connected).
    pub(crate) requests: Vec<(Duration, Request)>,
    /// The application sends DISCONNECT and stops here.
    pub(crate) stop_at: Duration,
}

/// The host's simulated clock.
fn now() -> Duration {
    turmoil::elapsed()
}

async fn sleep_until(at: Duration) {
    tokio::time::sleep(at.saturating_sub(now())).await;
}

type Stream = mqttsim::sim::turmoil::Recorded<turmoil::net::TcpStream>;

/// Why a connection ended (rumqttc's `ConnectionError`, reduced).
#[derive(Debug)]
enum Ended {
    Io(std::io::Error),
    Protocol(String),
    State(rumqttc::StateError),
    Stop,
}

impl From<std::io::Error> for Ended {
    fn from(e: std::io::Error) -> Ended {
        Ended::Io(e)
    }
}

impl From<rumqttc::StateError> for Ended {
    fn from(e: rumqttc::StateError) -> Ended {
        Ended::State(e)
    }
}

async fn write(stream: &mut Stream, packet: rumqttc::Packet) -> Result<(), Ended> {
    let mut out = BytesMut::new();
    packet.write(&mut out, MAX_PACKET_BYTES).map_err(|e| Ended::Protocol(e.to_string()))?;
    stream.write_all(&out).await?;
    stream.flush().await?;
    Ok(())
}

/// Reads until `inbox` holds one whole packet, like rumqttc's `Network::read`.
async fn read(stream: &mut Stream, inbox: &mut BytesMut) -> Result<rumqttc::Packet, Ended> {
    loop {
        match rumqttc::Packet::read(inbox, MAX_PACKET_BYTES) {
            Ok(packet) => return Ok(packet),
            Err(rumqttc::Error::InsufficientBytes(_)) => {}
            Err(e) => return Err(Ended::Protocol(e.to_string())),
        }
        if stream.read_buf(inbox).await? == 0 {
            return Err(Ended::Io(std::io::ErrorKind::UnexpectedEof.into()));
        }
    }
}

/// Hands rumqttc's events to the trace: each incoming PUBLISH is a delivery.
fn drain_events(state: &mut MqttState, connector: &Connector) {
    while let Some(event) = state.events.pop_front() {
        if let rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) = event {
            connector.delivered(&p.topic, p.qos as u8, p.retain, p.payload.clone());
        }
    }
}

/// One connection of the rumqttc client: `EventLoop::poll` and `select`.
async fn connection(
    connector: &Connector,
    script: &RumqttcScript,
    state: &mut MqttState,
    pending: &mut VecDeque<Request>,
    requests: &mut VecDeque<(Duration, Request)>,
) -> Result<(), Ended> {
    let mut stream = connector.connect().await?;
    let mut connect = Connect::new(script.client_id);
    connect.keep_alive = script.keep_alive.as_secs() as u16;
    connect.clean_session = script.clean_session;
    write(&mut stream, rumqttc::Packet::Connect(connect)).await?;
    let mut inbox = BytesMut::new();
    let connack = match read(&mut stream, &mut inbox).await? {
        rumqttc::Packet::ConnAck(c) if c.code == ConnectReturnCode::Success => c,
        other => return Err(Ended::Protocol(format!("expected a successful CONNACK, got {other:?}"))),
    };
    if !connack.session_present {
        pending.clear();
    }
    let mut ping_at = now() + script.keep_alive;
    loop {
        drain_events(state, connector);
        if now() >= script.stop_at {
            if let Some(p) = state.handle_outgoing_packet(Request::Disconnect(Disconnect))? {
                write(&mut stream, p).await?;
            }
            stream.shutdown().await?;
            return Err(Ended::Stop);
        }
        let may_send = !pending.is_empty() || (state.inflight() < 100 && state.collision.is_none());
        let request_at = if !pending.is_empty() { Some(now()) } else { requests.front().map(|(at, _)| *at) };
        let request_at = request_at.filter(|_| may_send).unwrap_or(script.stop_at).min(script.stop_at);
        tokio::select! {
            biased;
            got = stream.read_buf(&mut inbox) => {
                if got? == 0 {
                    return Err(Ended::Io(std::io::ErrorKind::UnexpectedEof.into()));
                }
                loop {
                    let packet = match rumqttc::Packet::read(&mut inbox, MAX_PACKET_BYTES) {
                        Ok(packet) => packet,
                        Err(rumqttc::Error::InsufficientBytes(_)) => break,
                        Err(e) => return Err(Ended::Protocol(e.to_string())),
                    };
                    if let Some(reply) = state.handle_incoming_packet(packet)? {
                        write(&mut stream, reply).await?;
                    }
                }
            }
            () = sleep_until(request_at) => {
                let request = match pending.pop_front() {
                    Some(request) => Some(request),
                    None if requests.front().is_some_and(|(at, _)| *at <= now()) => requests.pop_front().map(|(_, r)| r),
                    None => None,
                };
                if let Some(request) = request {
                    if let Some(p) = state.handle_outgoing_packet(request)? {
                        write(&mut stream, p).await?;
                    }
                }
            }
            () = sleep_until(ping_at) => {
                ping_at = now() + script.keep_alive;
                if let Some(p) = state.handle_outgoing_packet(Request::PingReq(PingReq))? {
                    write(&mut stream, p).await?;
                }
            }
        }
    }
}

/// The rumqttc client as a plugged-in turmoil client.
pub(crate) async fn run_rumqttc(connector: Connector, script: RumqttcScript) -> HostResult {
    let mut state = MqttState::new(100, false);
    let mut pending = VecDeque::new();
    let mut requests: VecDeque<(Duration, Request)> = script.requests.clone().into();
    while now() < script.stop_at {
        match connection(&connector, &script, &mut state, &mut pending, &mut requests).await {
            Err(Ended::Stop) | Ok(()) => break,
            Err(e) => {
                connector.recorder().note(format!("{}: connection ended: {}", connector.endpoint(), describe(&e)));
                // EventLoop::clean: unacknowledged packets go back to pending.
                pending.extend(state.clean());
                drain_events(&mut state, &connector);
                sleep_until((now() + RECONNECT_DELAY).min(script.stop_at)).await;
            }
        }
    }
    Ok(())
}

fn describe(e: &Ended) -> String {
    match e {
        Ended::Io(e) => format!("io {:?}", e.kind()),
        Ended::Protocol(e) => format!("protocol {e}"),
        Ended::State(e) => format!("state {e}"),
        Ended::Stop => "stop".to_owned(),
    }
}

fn publish(topic: &str, payload: &'static [u8]) -> Request {
    Request::Publish(rumqttc::Publish::new(topic, QoS::AtLeastOnce, payload))
}

/// rumqttc (persistent session, keep-alive 5 s) subscribes to `t/#` and
/// publishes "one" at 1 s; its link to the broker is cut at 2 s; it
/// publishes "two" at 3 s (lost); the link heals at 12 s. A model client
/// `watcher` subscribes to `t/#` throughout.
fn rumqttc_run(seed: u64) -> TurmoilRun {
    let mut config = TurmoilConfig::new("plugging-in-rumqttc", seed);
    config.tick_ms = 1;
    config.max_duration_ms = 30_000;
    config.faults = FaultPlan::new(vec![
        FaultStep {
            at_ms: 2_000,
            fault: Fault::Partition { a: "rumqttc".into(), b: BROKER_HOST.into(), one_way: false },
        },
        FaultStep { at_ms: 12_000, fault: Fault::Heal { a: "rumqttc".into(), b: BROKER_HOST.into() } },
    ]);
    let script = RumqttcScript {
        client_id: "rumqttc",
        keep_alive: Duration::from_secs(5),
        clean_session: false,
        requests: vec![
            (Duration::ZERO, Request::Subscribe(Subscribe::new("t/#", QoS::AtLeastOnce))),
            (Duration::from_secs(1), publish("t/a", b"one")),
            (Duration::from_secs(3), publish("t/a", b"two")),
        ],
        stop_at: Duration::from_secs(20),
    };
    let watcher = ModelClientSpec {
        config: ClientConfig::new("watcher", Version::V3_1_1),
        steps: vec![ClientStep { at_ms: 0, action: ClientAction::Subscribe { filter: "t/#".into(), qos: 1 } }],
        connect_at_start: true,
        reconnect_after_ms: Some(1_000),
        stop_at_ms: 20_000,
    };
    TurmoilWorld::new(config, BrokerUnderTest::Model(BrokerConfig::default()))
        .client("watcher", ClientUnderTest::model(watcher))
        .client("rumqttc", ClientUnderTest::custom(move |connector| run_rumqttc(connector, script)))
        .run()
}

fn publishes<'a>(events: &'a [Event], who: &'a str, dir: Dir) -> impl Iterator<Item = (Duration, &'a Publish)> + 'a {
    events.iter().filter_map(move |e| match &e.kind {
        EventKind::Packet { endpoint, dir: d, packet: Packet::Publish(p), .. } if endpoint == who && *d == dir => {
            Some((e.at, p))
        }
        _ => None,
    })
}

fn deliveries<'a>(events: &'a [Event], who: &'a str, payload: &'a [u8]) -> Vec<Duration> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Delivery { client, payload: p, .. }
                if client == who && p == &Bytes::copy_from_slice(payload) =>
            {
                Some(e.at)
            }
            _ => None,
        })
        .collect()
}

/// rumqttc runs against the model broker inside turmoil: its QoS 1 message reaches itself and a model client; after a partition it detects the dead link by its keep-alive, reconnects once healed, resumes its session and resends its unacknowledged QoS 1 PUBLISH with the same packet id but DUP 0.
#[test]
fn rumqttc_resends_its_unacknowledged_qos1_publish_after_a_partition_heals() {
    let started = Instant::now();
    let run = rumqttc_run(7);
    let wall = started.elapsed();
    let text = run.trace.render_text();
    assert_eq!(run.outcome, TurmoilOutcome::Finished, "{text}");
    let events = run.trace.events();

    // Before the partition: "one" goes to the broker and back to both subscribers.
    let one = deliveries(events, "rumqttc", b"one");
    assert_eq!(one.len(), 1, "{text}");
    assert!(one[0] < Duration::from_secs(2));
    assert_eq!(deliveries(events, "watcher", b"one").len(), 1, "{text}");

    // "two" is written during the partition and again after the heal, with
    // the same packet id. rumqttc 0.25 does not set DUP on the resend
    // (MQTT-3.3.1-1 asks for DUP 1 on a re-delivery); the trace shows it.
    let sent_two: Vec<(Duration, &Publish)> =
        publishes(events, "rumqttc", Dir::Sent).filter(|(_, p)| p.payload.as_ref() == b"two").collect();
    assert_eq!(sent_two.len(), 2, "{text}");
    let (first_at, first) = sent_two[0];
    let (again_at, again) = sent_two[1];
    assert!(first_at >= Duration::from_secs(3) && first_at < Duration::from_secs(4));
    assert!(again_at >= Duration::from_secs(12), "resent only after the heal: {again_at:?}");
    assert_eq!(first.packet_id(), again.packet_id());
    assert!(!first.dup && !again.dup, "rumqttc 0.25 resends with DUP 0");

    // The broker saw only the resend, and both subscribers got "two" once.
    let broker_two =
        publishes(events, BROKER_HOST, Dir::Received).filter(|(_, p)| p.payload.as_ref() == b"two").count();
    assert_eq!(broker_two, 1, "{text}");
    assert_eq!(deliveries(events, "rumqttc", b"two").len(), 1, "{text}");
    assert_eq!(deliveries(events, "watcher", b"two").len(), 1, "{text}");

    // The dead link was found by rumqttc's keep-alive (a PINGREQ without
    // PINGRESP), and the new connection resumed the session.
    assert!(text.contains("rumqttc: connection ended: state Last pingreq isn't acked"), "{text}");
    let resumed = events.iter().any(|e| {
        matches!(&e.kind, EventKind::Packet { endpoint, dir: Dir::Received, packet: Packet::Connack(c), .. }
            if endpoint == "rumqttc" && c.session_present && e.at >= Duration::from_secs(12))
    });
    assert!(resumed, "{text}");
    eprintln!("rumqttc scenario: {:?} simulated in {wall:?} of wall time", run.elapsed);
}

/// The rumqttc scenario gives the same trace bytes for the same seed, and another seed changes it (latency is drawn from the seed).
#[test]
fn the_rumqttc_scenario_replays_byte_for_byte() {
    let first = rumqttc_run(11).trace.render_text();
    let second = rumqttc_run(11).trace.render_text();
    assert_eq!(first, second);
    let other = rumqttc_run(12).trace.render_text();
    assert_ne!(first.replace("# seed: 12", "# seed: 11"), other.replace("# seed: 12", "# seed: 11"));
}
