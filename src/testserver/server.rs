//! [`TestServer`]: a [`Broker`] wrapped so that it misbehaves on purpose,
//! records every packet, and checks the client.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::config::{BadFlow, Behaviour, PacketIdStrategy, TestServerConfig};
use super::dump::{Direction, DumpRecord, Stats};
use super::observer::{ClientReport, Observer, Violation};
use crate::codec::raw::{self, RawPacket};
use crate::codec::{
    self, Connack, DecodeOptions, Packet, PacketId, PacketType, Properties, PubResponse, Publish, Qos, QosPid,
    ReasonCode, TopicName, Version,
};
use crate::model::{Broker, BrokerConfig, ConnectionId, Output, Server};

/// Bytes held per silent connection, each way; beyond it input is dropped.
const SILENT_HOLD_MAX_BYTES: usize = 1 << 20;
/// Events kept for [`TestServer::poll_event`] before the oldest are dropped.
const EVENT_QUEUE_MAX: usize = 100_000;

/// Something the test server observed, for the event stream.
#[derive(Debug, Clone, PartialEq)]
pub enum TestEvent {
    /// A connection opened (ordinal from 1).
    Opened {
        /// The connection.
        conn: ConnectionId,
        /// Its position in accept order, from 1.
        ordinal: u64,
    },
    /// A packet went in or out (one dump line).
    Packet(DumpRecord),
    /// The client broke a statement.
    Violation(Violation),
    /// A connection closed.
    Closed {
        /// The connection.
        conn: ConnectionId,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Silence {
    No,
    Until(Duration),
    Forever,
}

/// Server-side packet id rewriting for one client session.
#[derive(Debug, Default)]
struct IdMap {
    broker_to_wire: BTreeMap<u16, u16>,
    wire_to_broker: BTreeMap<u16, u16>,
    last: u16,
}

#[derive(Debug)]
struct Conn {
    ordinal: u64,
    behaviour: Behaviour,
    version: Option<Version>,
    session_key: Option<String>,
    inbuf: Vec<u8>,
    received: u64,
    /// The test server answered CONNECT itself; nothing goes to the broker.
    rejected: bool,
    close_at: Option<Duration>,
    silent_at: Option<Duration>,
    silence: Silence,
    silent_in: Vec<u8>,
    silent_out: Vec<Vec<u8>>,
    silent_close: bool,
    /// Server PUBLISH on the wire not yet acknowledged: wire id → (sent at, bytes).
    unacked: BTreeMap<u16, (Duration, Vec<u8>)>,
    injected: Vec<bool>,
    duplicate_next_ack: bool,
    /// Ids of PUBLISH packets the test server injected (their acks are swallowed).
    injected_ids: BTreeSet<u16>,
    /// SUBSCRIBE filters waiting for their SUBACK, then granted (filter, QoS).
    pending_subscribe: BTreeMap<u16, Vec<String>>,
    granted: Vec<(String, u8)>,
}

#[derive(Debug)]
struct Held {
    due: Duration,
    seq: u64,
    conn: ConnectionId,
    bytes: Vec<u8>,
}

/// A sans-IO MQTT server: the model broker plus behaviours, a packet dump,
/// stats and a client checker. Implements [`Server`], so the IO driver runs
/// it like the broker.
#[derive(Debug)]
pub struct TestServer {
    broker: Broker,
    config: TestServerConfig,
    rng: Pcg64Mcg,
    conns: BTreeMap<ConnectionId, Conn>,
    ids: BTreeMap<String, IdMap>,
    observer: Observer,
    outputs: VecDeque<Output>,
    held: Vec<Held>,
    held_seq: u64,
    events: VecDeque<TestEvent>,
    events_dropped: u64,
    stats: Stats,
    open: u64,
    stop: bool,
}

impl TestServer {
    /// A test server around a broker with `broker_config`.
    pub fn new(broker_config: BrokerConfig, config: TestServerConfig) -> TestServer {
        let grace = Duration::from_millis(config.keep_alive_grace_ms.unwrap_or(500));
        let observer = Observer::new(broker_config.receive_maximum, broker_config.topic_alias_maximum, grace);
        TestServer {
            broker: Broker::new(broker_config),
            rng: Pcg64Mcg::seed_from_u64(config.seed),
            config,
            conns: BTreeMap::new(),
            ids: BTreeMap::new(),
            observer,
            outputs: VecDeque::new(),
            held: Vec::new(),
            held_seq: 0,
            events: VecDeque::new(),
            events_dropped: 0,
            stats: Stats::default(),
            open: 0,
            stop: false,
        }
    }

    /// The wrapped broker.
    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// The configuration.
    pub fn config(&self) -> &TestServerConfig {
        &self.config
    }

    /// The next observed event (packets, violations, opens and closes).
    pub fn poll_event(&mut self) -> Option<TestEvent> {
        self.events.pop_front()
    }

    /// Events dropped because nobody read them in time.
    pub fn events_dropped(&self) -> u64 {
        self.events_dropped
    }

    /// The stats so far.
    pub fn stats(&self) -> Stats {
        let mut stats = self.stats.clone();
        stats.violations = self.observer.violation_count();
        stats
    }

    /// The client-conformance report so far.
    pub fn report(&self) -> ClientReport {
        self.observer.report()
    }

    /// Whether the server asks to be stopped (`stop_after_connections` reached, or [`TestServer::request_stop`]).
    pub fn stop_requested(&self) -> bool {
        self.stop
    }

    /// Asks the runtime to stop the server.
    pub fn request_stop(&mut self) {
        self.stop = true;
    }

    /// The position of `conn` in accept order (from 1), while it is open.
    pub fn ordinal(&self, conn: ConnectionId) -> Option<u64> {
        self.conns.get(&conn).map(|c| c.ordinal)
    }

    /// Open connections, in id order.
    pub fn connections(&self) -> Vec<ConnectionId> {
        self.conns.keys().copied().collect()
    }

    /// Sends `packet` to `conn` now, encoded for the connection's version.
    pub fn send_packet(&mut self, now: Duration, conn: ConnectionId, packet: &Packet) {
        let version = self.conns.get(&conn).and_then(|c| c.version).unwrap_or(Version::V5);
        match codec::encode_to_vec(packet, version) {
            Ok(bytes) => self.emit(now, conn, bytes, Some(packet.clone())),
            Err(e) => tracing::warn!(%conn, error = %e, "cannot encode the packet to send"),
        }
    }

    /// Sends raw bytes to `conn` now (anything, valid or not).
    pub fn send_raw(&mut self, now: Duration, conn: ConnectionId, bytes: Vec<u8>) {
        self.emit_raw(now, conn, bytes, "raw bytes sent on request".into());
    }

    /// Closes `conn` now.
    pub fn disconnect(&mut self, now: Duration, conn: ConnectionId) {
        self.close_now(now, conn);
    }

    /// Makes `conn` silent now, for `duration` or for good.
    pub fn go_silent(&mut self, now: Duration, conn: ConnectionId, duration: Option<Duration>) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.silence = match duration {
                Some(d) => Silence::Until(now + d),
                None => Silence::Forever,
            };
            self.observer.on_silence(conn);
        }
    }

    fn push_event(&mut self, event: TestEvent) {
        if self.events.len() >= EVENT_QUEUE_MAX {
            self.events.pop_front();
            self.events_dropped += 1;
        }
        self.events.push_back(event);
    }

    fn record(&mut self, record: DumpRecord) {
        self.push_event(TestEvent::Packet(record));
    }

    fn drain_violations(&mut self) {
        while let Some(v) = self.observer.poll_violation() {
            self.push_event(TestEvent::Violation(v));
        }
    }

    /// Takes every output of the broker through the outbound behaviours.
    fn pump_broker(&mut self, now: Duration) {
        while let Some(output) = self.broker.poll_output() {
            match output {
                Output::Cite(c) => self.outputs.push_back(Output::Cite(c)),
                Output::Close { conn } => {
                    let Some(c) = self.conns.get_mut(&conn) else { continue };
                    if c.silence != Silence::No {
                        c.silent_close = true;
                        continue;
                    }
                    self.finish(now, conn, false);
                }
                Output::Transmit { conn, bytes } => {
                    let mut rest = &bytes[..];
                    while !rest.is_empty() {
                        let len = match frame_len(rest) {
                            Ok(Some(len)) => len,
                            _ => rest.len(),
                        };
                        let (frame, tail) = rest.split_at(len);
                        rest = tail;
                        self.outbound(now, conn, frame.to_vec());
                    }
                }
            }
        }
    }

    /// One server packet on its way out, before behaviours.
    fn outbound(&mut self, now: Duration, conn: ConnectionId, mut bytes: Vec<u8>) {
        let Some(c) = self.conns.get(&conn) else {
            self.stats.dropped += 1;
            return;
        };
        let version = c.version.unwrap_or(Version::V5);
        let behaviour = c.behaviour.clone();
        let key = c.session_key.clone();
        let Ok(Some((mut packet, _))) = codec::decode(&bytes, &DecodeOptions::new(version)) else {
            self.emit_raw(now, conn, bytes, "server bytes that do not decode".into());
            return;
        };
        let mut changed = false;

        // Packet identifier rewriting.
        let strategy = behaviour.packet_ids.unwrap_or_default();
        if strategy != PacketIdStrategy::Broker {
            if let Some(key) = key {
                match &mut packet {
                    Packet::Publish(p) => {
                        if let Some(pid) = p.packet_id() {
                            let wire = self.wire_id(&key, pid.get(), strategy);
                            p.qos_pid = QosPid::from_parts(p.qos(), PacketId::new(wire)).expect("QoS>0 has an id");
                            changed = true;
                        }
                    }
                    Packet::Pubrel(r) => {
                        if let Some(wire) = self.ids.get(&key).and_then(|m| m.broker_to_wire.get(&r.packet_id.get())) {
                            r.packet_id = PacketId::new(*wire).expect("non-zero");
                            changed = true;
                        }
                    }
                    _ => {}
                }
            }
        }
        // CONNACK overrides (5.0 properties).
        if let Packet::Connack(ack) = &mut packet {
            if version == Version::V5 && ack.reason_code.is_success() {
                if let Some(v) = behaviour.session_expiry_secs {
                    ack.properties.session_expiry_interval_secs = Some(v);
                    changed = true;
                }
                if let Some(v) = &behaviour.assigned_client_id {
                    ack.properties.assigned_client_identifier = Some(v.clone());
                    changed = true;
                }
                if let Some(v) = behaviour.server_keep_alive_secs {
                    ack.properties.server_keep_alive_secs = Some(v);
                    changed = true;
                }
            }
        }
        if let Packet::Suback(ack) = &packet {
            let c = self.conns.get_mut(&conn).expect("present");
            if let Some(filters) = c.pending_subscribe.remove(&ack.packet_id.get()) {
                for (filter, code) in filters.into_iter().zip(&ack.reason_codes) {
                    if code.0 < 0x80 {
                        c.granted.push((filter, code.0));
                    }
                }
            }
        }
        if changed {
            bytes = codec::encode_to_vec(&packet, version).unwrap_or(bytes);
        }

        let packet_type = packet.packet_type();
        if behaviour.close_before_sent == Some(packet_type) {
            self.close_now(now, conn);
            return;
        }
        if behaviour.is_ack(packet_type) {
            if behaviour.never_ack == Some(true) {
                self.stats.dropped += 1;
                return;
            }
            if let Some(ms) = behaviour.delay_acks_ms.filter(|ms| *ms > 0) {
                self.held_seq += 1;
                self.held.push(Held { due: now + Duration::from_millis(ms), seq: self.held_seq, conn, bytes });
                return;
            }
        }
        self.emit(now, conn, bytes, Some(packet));
    }

    /// The wire id for broker id `broker` in session `key`.
    fn wire_id(&mut self, key: &str, broker: u16, strategy: PacketIdStrategy) -> u16 {
        let map = self.ids.entry(key.to_string()).or_default();
        if let Some(wire) = map.broker_to_wire.get(&broker) {
            return *wire;
        }
        let free = |map: &IdMap, id: u16| id != 0 && !map.wire_to_broker.contains_key(&id);
        let next_after = |map: &IdMap, start: u16| {
            let mut id = start;
            for _ in 0..=u16::MAX {
                id = id.wrapping_add(1);
                if free(map, id) {
                    return id;
                }
            }
            broker
        };
        let wire = match strategy {
            PacketIdStrategy::Broker => broker,
            PacketIdStrategy::Sequential => next_after(map, map.last),
            PacketIdStrategy::Reuse => next_after(map, 0),
            PacketIdStrategy::MaxThenWrap if map.last == 0 && free(map, u16::MAX) => u16::MAX,
            PacketIdStrategy::MaxThenWrap => next_after(map, map.last),
            PacketIdStrategy::Random => {
                let mut pick = 0;
                for _ in 0..64 {
                    let candidate: u16 = self.rng.random_range(1..=u16::MAX);
                    if free(map, candidate) {
                        pick = candidate;
                        break;
                    }
                }
                if pick == 0 {
                    next_after(map, map.last)
                } else {
                    pick
                }
            }
        };
        map.last = wire;
        map.broker_to_wire.insert(broker, wire);
        map.wire_to_broker.insert(wire, broker);
        wire
    }

    /// Puts bytes on the wire (or holds them while silent) and applies the after-send behaviours.
    fn emit(&mut self, now: Duration, conn: ConnectionId, bytes: Vec<u8>, packet: Option<Packet>) {
        let Some(c) = self.conns.get_mut(&conn) else {
            self.stats.dropped += 1;
            return;
        };
        if c.silence != Silence::No {
            if c.silent_out.iter().map(Vec::len).sum::<usize>() < SILENT_HOLD_MAX_BYTES {
                c.silent_out.push(bytes);
            }
            return;
        }
        let resend = c.behaviour.resend_after_ms;
        let behaviour = c.behaviour.clone();
        if let Some(Packet::Publish(p)) = &packet {
            if let (Some(pid), Some(_)) = (p.packet_id(), resend) {
                c.unacked.insert(pid.get(), (now, bytes.clone()));
            }
        }
        let duplicate = c.duplicate_next_ack
            && packet.as_ref().is_some_and(|p| super::config::DEFAULT_ACKS.contains(&p.packet_type()));
        if duplicate {
            c.duplicate_next_ack = false;
        }
        self.outputs.push_back(Output::Transmit { conn, bytes: bytes.clone() });
        let Some(packet) = packet else { return };
        self.stats.count(Direction::Out, packet.packet_type().name());
        self.record(DumpRecord::packet(now, conn, Direction::Out, &packet));
        self.observer.on_sent(conn, &packet);
        if duplicate {
            self.outputs.push_back(Output::Transmit { conn, bytes });
            self.stats.count(Direction::Out, packet.packet_type().name());
            self.record(DumpRecord::packet(now, conn, Direction::Out, &packet));
        }
        let packet_type = packet.packet_type();
        if behaviour.close_after_sent == Some(packet_type) {
            self.close_now(now, conn);
            return;
        }
        self.injections(now, conn, &behaviour, |inj| {
            inj.after_sent == Some(packet_type)
                || (inj.after_sent.is_none() && inj.after_received.is_none() && packet_type == PacketType::Connack)
        });
    }

    fn emit_raw(&mut self, now: Duration, conn: ConnectionId, bytes: Vec<u8>, note: String) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if c.silence != Silence::No {
            c.silent_out.push(bytes);
            return;
        }
        self.stats.count(Direction::Out, "RAW");
        self.record(DumpRecord::raw(now, conn, Direction::Out, &bytes, note));
        self.outputs.push_back(Output::Transmit { conn, bytes });
    }

    fn injections(
        &mut self,
        now: Duration,
        conn: ConnectionId,
        behaviour: &Behaviour,
        matches: impl Fn(&super::config::Injection) -> bool,
    ) {
        let Some(list) = &behaviour.inject else { return };
        for (i, inj) in list.iter().enumerate() {
            let done = self.conns.get(&conn).is_none_or(|c| c.injected.get(i).copied().unwrap_or(true));
            if done || !matches(inj) {
                continue;
            }
            if let Some(c) = self.conns.get_mut(&conn) {
                c.injected[i] = true;
            }
            self.inject(now, conn, inj.flow);
        }
    }

    /// A packet id for an injected packet: counted down from 65000, away
    /// from the broker's ids (which count up from 1), and unused by the
    /// rewriting and earlier injections on `conn`.
    fn free_id(&self, conn: ConnectionId) -> u16 {
        let c = &self.conns[&conn];
        let map = c.session_key.as_ref().and_then(|k| self.ids.get(k));
        (1..=65_000u16)
            .rev()
            .find(|id| {
                !c.injected_ids.contains(id)
                    && !map.is_some_and(|m| m.wire_to_broker.contains_key(id))
                    && !c.unacked.contains_key(id)
            })
            .unwrap_or(1)
    }

    /// Sends one bad flow to `conn`.
    pub fn inject(&mut self, now: Duration, conn: ConnectionId, flow: BadFlow) {
        let Some(c) = self.conns.get(&conn) else { return };
        let version = c.version.unwrap_or(Version::V5);
        let topic = |name: &str| TopicName::new(name).expect("valid topic");
        let publish = |qos: Qos, id: u16, name: &str| {
            Packet::Publish(Publish {
                dup: false,
                qos_pid: QosPid::from_parts(qos, PacketId::new(id)).expect("QoS>0 with id"),
                retain: false,
                topic: topic(name),
                properties: Properties::default(),
                payload: bytes::Bytes::from_static(b"mqttsim injected"),
            })
        };
        let id = self.free_id(conn);
        let pid = PacketId::new(id).expect("non-zero");
        match flow {
            BadFlow::SpuriousAck => self.send_packet(now, conn, &Packet::Puback(PubResponse::new(pid))),
            BadFlow::UnexpectedPubrel => self.send_packet(now, conn, &Packet::Pubrel(PubResponse::new(pid))),
            BadFlow::DuplicateAck => {
                if let Some(c) = self.conns.get_mut(&conn) {
                    c.duplicate_next_ack = true;
                }
            }
            BadFlow::PublishIdInUse => {
                self.conns.get_mut(&conn).expect("present").injected_ids.insert(id);
                let packet = publish(Qos::AtLeastOnce, id, "mqttsim/injected");
                self.send_packet(now, conn, &packet);
                self.send_packet(now, conn, &packet);
            }
            BadFlow::QosAboveGranted => {
                let c = self.conns.get_mut(&conn).expect("present");
                c.injected_ids.insert(id);
                let name = c
                    .granted
                    .iter()
                    .find(|(_, qos)| *qos < 2)
                    .map(|(f, _)| concrete_topic(f))
                    .unwrap_or_else(|| "mqttsim/injected".to_string());
                self.send_packet(now, conn, &publish(Qos::ExactlyOnce, id, &name));
            }
            BadFlow::WrongPacketType => {
                let bytes = RawPacket::new(raw::fixed_header(PacketType::Connect, 0))
                    .string("MQTT")
                    .u8(version.protocol_level())
                    .u8(0b0000_0010)
                    .u16(60)
                    .bytes(if version == Version::V5 { &[0] } else { &[] })
                    .string("mqttsim-server")
                    .build();
                self.emit_raw(now, conn, bytes, "CONNECT sent by the server (wrong packet type)".into());
            }
            BadFlow::Malformed => {
                let bytes = RawPacket::new(raw::fixed_header(PacketType::Publish, 0b0110))
                    .string("mqttsim/malformed")
                    .u16(id)
                    .bytes(if version == Version::V5 { &[0] } else { &[] })
                    .bytes(b"qos 3")
                    .build();
                self.emit_raw(now, conn, bytes, "PUBLISH with QoS 3 (malformed)".into());
            }
        }
    }

    /// Closes `conn` at once: nothing more is sent or read.
    fn close_now(&mut self, now: Duration, conn: ConnectionId) {
        self.finish(now, conn, true);
    }

    /// Asks the driver to close `conn` and forgets it (the driver reports no
    /// close for connections the server closed). With `tell_broker`, the
    /// broker learns of the close too.
    fn finish(&mut self, now: Duration, conn: ConnectionId, tell_broker: bool) {
        let Some(c) = self.conns.remove(&conn) else { return };
        self.outputs.push_back(Output::Close { conn });
        self.forget(now, conn);
        if tell_broker && !c.rejected {
            self.broker.handle_connection_closed(now, conn);
            self.pump_broker(now);
        }
    }

    /// Bookkeeping of a connection that is gone.
    fn forget(&mut self, now: Duration, conn: ConnectionId) {
        self.open = self.open.saturating_sub(1);
        self.observer.on_closed(now, conn);
        self.push_event(TestEvent::Closed { conn });
        if let Some(n) = self.config.stop_after_connections {
            if self.stats.connections >= n && self.open == 0 {
                self.stop = true;
            }
        }
    }

    /// One whole client frame.
    fn inbound(&mut self, now: Duration, conn: ConnectionId, mut frame: Vec<u8>) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.received += 1;
        let version = c.version.unwrap_or(Version::V5);
        let decoded = codec::decode(&frame, &DecodeOptions::new(version));
        let packet = match &decoded {
            Ok(Some((packet, _))) => {
                self.stats.count(Direction::In, packet.packet_type().name());
                self.record(DumpRecord::packet(now, conn, Direction::In, packet));
                self.observer.on_received(now, conn, Ok(packet));
                Some(packet.clone())
            }
            Ok(None) => None,
            Err(error) => {
                *self.stats.undecodable.entry(Direction::In.as_str()).or_default() += 1;
                self.record(DumpRecord::undecodable(now, conn, Direction::In, &frame, error));
                self.observer.on_received(now, conn, Err(error));
                None
            }
        };
        self.drain_violations();
        let c = self.conns.get_mut(&conn).expect("present");
        let behaviour = c.behaviour.clone();
        if c.rejected {
            return;
        }

        if let Some(Packet::Connect(connect)) = &packet {
            if c.version.is_none() {
                c.version = Some(connect.version);
                c.session_key =
                    Some(if connect.client_id.is_empty() { format!("\u{0}{conn}") } else { connect.client_id.clone() });
                if let Some(code) = refusal(&behaviour, connect) {
                    c.rejected = true;
                    let ack = Packet::Connack(Connack {
                        session_present: false,
                        reason_code: ReasonCode(code),
                        properties: Properties::default(),
                    });
                    self.send_packet(now, conn, &ack);
                    self.finish(now, conn, false);
                    self.broker.handle_connection_closed(now, conn);
                    self.pump_broker(now);
                    return;
                }
            }
        }
        let key = c.session_key.clone();

        // Acknowledgements of injected packets stay here.
        if let Some(packet) = &packet {
            let ack_id = match packet {
                Packet::Puback(r) | Packet::Pubrec(r) | Packet::Pubcomp(r) => Some(r.packet_id.get()),
                _ => None,
            };
            if let Some(id) = ack_id {
                c.unacked.remove(&id);
                if c.injected_ids.contains(&id) {
                    match packet {
                        Packet::Pubrec(r) => {
                            let rel = Packet::Pubrel(PubResponse::new(r.packet_id));
                            self.send_packet(now, conn, &rel);
                        }
                        _ => {
                            c.injected_ids.remove(&id);
                        }
                    }
                    return;
                }
                // Map the wire id back to the broker's.
                if let Some(map) = key.as_ref().and_then(|k| self.ids.get_mut(k)) {
                    if let Some(broker_id) = map.wire_to_broker.get(&id).copied() {
                        let done = matches!(packet, Packet::Puback(_) | Packet::Pubcomp(_))
                            || matches!(packet, Packet::Pubrec(r) if r.reason_code.0 >= 0x80);
                        if done {
                            map.wire_to_broker.remove(&id);
                            map.broker_to_wire.remove(&broker_id);
                        }
                        let mut rewritten = packet.clone();
                        if let Packet::Puback(r) | Packet::Pubrec(r) | Packet::Pubcomp(r) = &mut rewritten {
                            r.packet_id = PacketId::new(broker_id).expect("non-zero");
                        }
                        frame = codec::encode_to_vec(&rewritten, version).unwrap_or(frame);
                    }
                }
            }
            if let Packet::Subscribe(sub) = packet {
                let filters = sub.subscriptions.iter().map(|s| s.filter.as_str().to_string()).collect();
                c.pending_subscribe.insert(sub.packet_id.get(), filters);
            }
        }

        let packet_type = packet.as_ref().map(Packet::packet_type);
        let close = packet_type.is_some() && behaviour.close_after_received == packet_type
            || behaviour.close_after_packets.is_some_and(|n| c.received >= n);
        let silent = packet_type.is_some() && behaviour.silent_after_received == packet_type;
        if close {
            // The broker gets the packet; its answers are not sent.
            self.finish(now, conn, false);
            self.broker.handle_bytes(now, conn, &frame);
            self.broker.handle_connection_closed(now, conn);
            self.pump_broker(now);
            return;
        }
        if silent {
            self.go_silent(now, conn, behaviour.silent_for_ms.map(Duration::from_millis));
        }
        self.broker.handle_bytes(now, conn, &frame);
        self.pump_broker(now);
        if let Some(packet_type) = packet_type {
            self.injections(now, conn, &behaviour, |inj| inj.after_received == Some(packet_type));
        }
    }

    fn end_silence(&mut self, now: Duration, conn: ConnectionId) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        c.silence = Silence::No;
        let held_out = std::mem::take(&mut c.silent_out);
        let held_in = std::mem::take(&mut c.silent_in);
        let close = std::mem::take(&mut c.silent_close);
        for bytes in held_out {
            let version = c_version(self.conns.get(&conn));
            match codec::decode(&bytes, &DecodeOptions::new(version)) {
                Ok(Some((packet, _))) => self.emit(now, conn, bytes, Some(packet)),
                _ => self.emit_raw(now, conn, bytes, "held while silent".into()),
            }
        }
        if close {
            self.finish(now, conn, false);
        }
        if !held_in.is_empty() {
            self.handle_bytes(now, conn, &held_in);
        }
    }
}

fn c_version(c: Option<&Conn>) -> Version {
    c.and_then(|c| c.version).unwrap_or(Version::V5)
}

/// The CONNACK code to refuse `connect` with, if the behaviour refuses it.
fn refusal(behaviour: &Behaviour, connect: &codec::Connect) -> Option<u8> {
    let v5 = connect.version == Version::V5;
    if let Some(code) = behaviour.connack_code {
        return Some(code);
    }
    if let Some(patterns) = &behaviour.reject_client_ids {
        if patterns.iter().any(|p| super::config::glob_matches(p, &connect.client_id)) {
            return Some(behaviour.reject_code.unwrap_or(if v5 { 0x85 } else { 0x02 }));
        }
    }
    if let Some(accepted) = &behaviour.credentials {
        let ok = accepted.iter().any(|cred| {
            connect.username.as_deref() == Some(cred.username.as_str())
                && connect.password.as_deref() == Some(cred.password.as_bytes())
        });
        if !ok {
            return Some(behaviour.reject_code.unwrap_or(if v5 { 0x86 } else { 0x04 }));
        }
    }
    None
}

/// A topic name matching `filter` (wildcard levels become `x`).
fn concrete_topic(filter: &str) -> String {
    let filter = filter.strip_prefix("$share/").and_then(|rest| rest.split_once('/')).map_or(filter, |(_, f)| f);
    filter.split('/').map(|level| if level == "+" || level == "#" { "x" } else { level }).collect::<Vec<_>>().join("/")
}

/// The length of the whole packet at the front of `buf`: `Ok(None)` when
/// more bytes are needed, `Err` when the remaining length is not a valid
/// variable byte integer.
pub(crate) fn frame_len(buf: &[u8]) -> Result<Option<usize>, ()> {
    let mut value: usize = 0;
    for i in 0..4 {
        let Some(byte) = buf.get(1 + i) else { return Ok(None) };
        value |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            let total = 2 + i + value;
            return Ok((buf.len() >= total).then_some(total));
        }
    }
    Err(())
}

impl Server for TestServer {
    fn handle_connection_opened(&mut self, now: Duration, conn: ConnectionId) {
        self.stats.connections += 1;
        self.open += 1;
        let ordinal = self.stats.connections;
        let behaviour = self.config.behaviour_for(ordinal);
        let injected = vec![false; behaviour.inject.as_ref().map_or(0, Vec::len)];
        self.conns.insert(
            conn,
            Conn {
                ordinal,
                close_at: behaviour.close_after_ms.map(|ms| now + Duration::from_millis(ms)),
                silent_at: behaviour.silent_after_ms.map(|ms| now + Duration::from_millis(ms)),
                behaviour,
                version: None,
                session_key: None,
                inbuf: Vec::new(),
                received: 0,
                rejected: false,
                silence: Silence::No,
                silent_in: Vec::new(),
                silent_out: Vec::new(),
                silent_close: false,
                unacked: BTreeMap::new(),
                injected,
                duplicate_next_ack: false,
                injected_ids: BTreeSet::new(),
                pending_subscribe: BTreeMap::new(),
                granted: Vec::new(),
            },
        );
        self.observer.on_open(conn, ordinal);
        self.push_event(TestEvent::Opened { conn, ordinal });
        self.broker.handle_connection_opened(now, conn);
        self.pump_broker(now);
    }

    fn handle_bytes(&mut self, now: Duration, conn: ConnectionId, bytes: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if c.silence != Silence::No {
            if c.silent_in.len() + bytes.len() <= SILENT_HOLD_MAX_BYTES {
                c.silent_in.extend_from_slice(bytes);
            }
            return;
        }
        c.inbuf.extend_from_slice(bytes);
        loop {
            let Some(c) = self.conns.get_mut(&conn) else { return };
            if c.silence != Silence::No {
                // Whatever is left waits for the end of the silence.
                let rest = std::mem::take(&mut c.inbuf);
                c.silent_in.splice(0..0, rest);
                return;
            }
            match frame_len(&c.inbuf) {
                Ok(Some(len)) => {
                    let frame: Vec<u8> = c.inbuf.drain(..len).collect();
                    self.inbound(now, conn, frame);
                }
                Ok(None) => return,
                Err(()) => {
                    // Not even a frame: the broker rejects it (and closes).
                    let rest = std::mem::take(&mut c.inbuf);
                    *self.stats.undecodable.entry(Direction::In.as_str()).or_default() += 1;
                    self.record(DumpRecord::raw(now, conn, Direction::In, &rest, "invalid remaining length".into()));
                    self.broker.handle_bytes(now, conn, &rest);
                    self.pump_broker(now);
                    return;
                }
            }
        }
    }

    fn handle_connection_closed(&mut self, now: Duration, conn: ConnectionId) {
        let Some(c) = self.conns.remove(&conn) else { return };
        self.forget(now, conn);
        if !c.rejected {
            self.broker.handle_connection_closed(now, conn);
            self.pump_broker(now);
        }
    }

    fn handle_timeout(&mut self, now: Duration) {
        if self.broker.poll_timeout().is_some_and(|t| t <= now) {
            self.broker.handle_timeout(now);
            self.pump_broker(now);
        }
        // Delayed acknowledgements, in due order.
        self.held.sort_by_key(|h| (h.due, h.seq));
        let due: Vec<Held> = {
            let split = self.held.iter().take_while(|h| h.due <= now).count();
            self.held.drain(..split).collect()
        };
        for h in due {
            let version = c_version(self.conns.get(&h.conn));
            let packet = codec::decode(&h.bytes, &DecodeOptions::new(version)).ok().flatten().map(|(p, _)| p);
            self.emit(now, h.conn, h.bytes, packet);
        }
        let ids: Vec<ConnectionId> = self.conns.keys().copied().collect();
        for conn in ids {
            let Some(c) = self.conns.get_mut(&conn) else { continue };
            if c.close_at.is_some_and(|t| t <= now) {
                c.close_at = None;
                self.close_now(now, conn);
                continue;
            }
            if c.silent_at.is_some_and(|t| t <= now) {
                c.silent_at = None;
                let duration = c.behaviour.silent_for_ms.map(Duration::from_millis);
                self.go_silent(now, conn, duration);
                continue;
            }
            if let Silence::Until(t) = c.silence {
                if t <= now {
                    self.end_silence(now, conn);
                    continue;
                }
            }
            if c.silence != Silence::No {
                continue;
            }
            if let Some(ms) = c.behaviour.resend_after_ms {
                let after = Duration::from_millis(ms);
                let mut resend = Vec::new();
                for (_, (sent, bytes)) in c.unacked.iter_mut() {
                    if *sent + after <= now {
                        *sent = now;
                        let mut bytes = bytes.clone();
                        bytes[0] |= 0b1000; // DUP
                        resend.push(bytes);
                    }
                }
                for bytes in resend {
                    let version = c_version(self.conns.get(&conn));
                    let packet = codec::decode(&bytes, &DecodeOptions::new(version)).ok().flatten().map(|(p, _)| p);
                    self.emit(now, conn, bytes, packet);
                }
            }
        }
        self.drain_violations();
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn poll_timeout(&self) -> Option<Duration> {
        let mut next = self.broker.poll_timeout();
        let mut consider = |t: Duration| next = Some(next.map_or(t, |n: Duration| n.min(t)));
        for h in &self.held {
            consider(h.due);
        }
        for c in self.conns.values() {
            if let Some(t) = c.close_at {
                consider(t);
            }
            if let Some(t) = c.silent_at {
                consider(t);
            }
            if let Silence::Until(t) = c.silence {
                consider(t);
            }
            if let (Some(ms), Silence::No) = (c.behaviour.resend_after_ms, c.silence) {
                for (sent, _) in c.unacked.values() {
                    consider(*sent + Duration::from_millis(ms));
                }
            }
        }
        next
    }
}
