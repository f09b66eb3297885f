//! The model client against the model broker, in process: a [`Pair`] moves
//! bytes between them with no latency and jumps the clock to the earliest
//! deadline of either side (a small discrete-event loop), so each test reads
//! like a script. Links can pass, hold or drop bytes per direction, and a
//! connection can be cut just before a chosen packet crosses it.

use std::time::Duration;

use bytes::Bytes;

use super::{ClientConfig, ClientEvent, ClientOutput, ModelClient};
use crate::codec::{
    decode, encode_to_vec, Connack, DecodeOptions, Packet, PacketId, PacketType, Properties, PubResponse, Publish, Qos,
    QosPid, ReasonCode, Subscription, SubscriptionOptions, TopicFilter, TopicName, Will,
};
use crate::model::{Broker, BrokerConfig, Citation, CiteKind, ConnectionId, Output, Server};
use crate::spec::{v3_1_1 as v3, v5, StatementId, Version};

const V3: Version = Version::V3_1_1;
const V5: Version = Version::V5;

/// A direction on a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    ToBroker,
    ToClient,
}

/// What a link does with the bytes sent over it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Link {
    #[default]
    Pass,
    /// Keep them until [`Pair::release`].
    Hold,
    /// Lose them (the connection stays open: a silenced peer).
    Drop,
}

/// One model client, its connection and what it saw.
struct Node {
    client: ModelClient,
    conn: Option<ConnectionId>,
    to_broker: Link,
    to_client: Link,
    held: Vec<(Dir, Vec<u8>)>,
    /// Sever the connection just before the first packet of this type crosses in this direction.
    cut_at: Option<(Dir, PacketType)>,
    events: Vec<(Duration, ClientEvent)>,
    /// Every packet the client wrote (delivered or not), with its time.
    sent: Vec<(Duration, Packet)>,
    /// Every packet the broker wrote to this client (delivered or not).
    received: Vec<(Duration, Packet)>,
    citations: Vec<Citation>,
    /// When the broker closed this client's connection.
    broker_closed_at: Vec<Duration>,
    tx_buf: Vec<u8>,
    rx_buf: Vec<u8>,
}

/// The broker and its clients with one clock.
struct Pair {
    broker: Broker,
    now: Duration,
    nodes: Vec<Node>,
    next_conn: u64,
}

fn broker_config() -> BrokerConfig {
    BrokerConfig { sys_interval_secs: 0, ..BrokerConfig::default() }
}

impl Pair {
    fn new(config: BrokerConfig) -> Pair {
        Pair { broker: Broker::new(config), now: Duration::ZERO, nodes: Vec::new(), next_conn: 0 }
    }

    fn add(&mut self, config: ClientConfig) -> usize {
        self.nodes.push(Node {
            client: ModelClient::new(config),
            conn: None,
            to_broker: Link::Pass,
            to_client: Link::Pass,
            held: Vec::new(),
            cut_at: None,
            events: Vec::new(),
            sent: Vec::new(),
            received: Vec::new(),
            citations: Vec::new(),
            broker_closed_at: Vec::new(),
            tx_buf: Vec::new(),
            rx_buf: Vec::new(),
        });
        self.nodes.len() - 1
    }

    /// Opens a network connection for client `i`; the client sends CONNECT.
    fn open(&mut self, i: usize) {
        self.next_conn += 1;
        let conn = ConnectionId(self.next_conn);
        let node = &mut self.nodes[i];
        node.conn = Some(conn);
        node.tx_buf.clear();
        node.rx_buf.clear();
        node.held.clear();
        self.broker.handle_connection_opened(self.now, conn);
        self.nodes[i].client.handle_connection_opened(self.now);
        self.drive();
    }

    /// Opens a connection and returns the events up to the CONNACK.
    fn connect(&mut self, i: usize) -> Vec<ClientEvent> {
        self.open(i);
        self.events(i)
    }

    /// Both ends see the connection drop at once (no DISCONNECT).
    fn sever(&mut self, i: usize) {
        let Some(conn) = self.nodes[i].conn.take() else { return };
        self.nodes[i].held.clear();
        self.broker.handle_connection_closed(self.now, conn);
        self.nodes[i].client.handle_connection_closed(self.now);
        self.drive();
    }

    /// Delivers what the links of client `i` held, and lets them pass again.
    fn release(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.to_broker = Link::Pass;
        node.to_client = Link::Pass;
        for (dir, bytes) in std::mem::take(&mut node.held) {
            self.deliver(i, dir, &bytes);
        }
        self.drive();
    }

    /// Moves outputs until nothing moves.
    fn drive(&mut self) {
        loop {
            let mut progress = false;
            while let Some(output) = self.broker.poll_output() {
                progress = true;
                self.route_broker(output);
            }
            for i in 0..self.nodes.len() {
                while let Some(output) = self.nodes[i].client.poll_output() {
                    progress = true;
                    self.route_client(i, output);
                }
            }
            if !progress {
                break;
            }
        }
    }

    fn node_of(&self, conn: ConnectionId) -> Option<usize> {
        self.nodes.iter().position(|n| n.conn == Some(conn))
    }

    fn route_broker(&mut self, output: Output) {
        match output {
            Output::Transmit { conn, bytes } => {
                if let Some(i) = self.node_of(conn) {
                    self.send(i, Dir::ToClient, &bytes);
                }
            }
            Output::Close { conn } => {
                if let Some(i) = self.node_of(conn) {
                    self.nodes[i].conn = None;
                    self.nodes[i].broker_closed_at.push(self.now);
                    self.nodes[i].client.handle_connection_closed(self.now);
                }
            }
            Output::Cite(_) => {}
        }
    }

    fn route_client(&mut self, i: usize, output: ClientOutput) {
        let now = self.now;
        match output {
            ClientOutput::Transmit(bytes) => {
                assert!(self.nodes[i].conn.is_some(), "client {i} wrote with no connection");
                self.send(i, Dir::ToBroker, &bytes);
            }
            ClientOutput::Close => {
                if let Some(conn) = self.nodes[i].conn.take() {
                    self.broker.handle_connection_closed(now, conn);
                    self.nodes[i].client.handle_connection_closed(now);
                }
            }
            ClientOutput::Cite(citation) => self.nodes[i].citations.push(citation),
            ClientOutput::Event(event) => self.nodes[i].events.push((now, event)),
        }
    }

    /// Splits `bytes` into packets, records them, and applies the link and the cut.
    fn send(&mut self, i: usize, dir: Dir, bytes: &[u8]) {
        let now = self.now;
        let options = DecodeOptions::new(self.nodes[i].client.config().version);
        let node = &mut self.nodes[i];
        let buf = match dir {
            Dir::ToBroker => &mut node.tx_buf,
            Dir::ToClient => &mut node.rx_buf,
        };
        buf.extend_from_slice(bytes);
        let mut packets = Vec::new();
        while let Some((packet, n)) = decode(buf, &options).expect("both sides write valid packets") {
            packets.push((packet, buf.drain(..n).collect::<Vec<u8>>()));
        }
        for (packet, raw) in packets {
            let node = &mut self.nodes[i];
            if node.conn.is_none() {
                return;
            }
            let packet_type = packet.packet_type();
            let link = match dir {
                Dir::ToBroker => {
                    node.sent.push((now, packet));
                    node.to_broker
                }
                Dir::ToClient => {
                    node.received.push((now, packet));
                    node.to_client
                }
            };
            if node.cut_at == Some((dir, packet_type)) {
                node.cut_at = None;
                self.sever(i);
                return;
            }
            match link {
                Link::Pass => self.deliver(i, dir, &raw),
                Link::Hold => self.nodes[i].held.push((dir, raw)),
                Link::Drop => {}
            }
        }
    }

    fn deliver(&mut self, i: usize, dir: Dir, bytes: &[u8]) {
        let Some(conn) = self.nodes[i].conn else { return };
        match dir {
            Dir::ToBroker => self.broker.handle_bytes(self.now, conn, bytes),
            Dir::ToClient => self.nodes[i].client.handle_bytes(self.now, bytes),
        }
    }

    /// The earliest deadline of the broker and every client.
    fn next_deadline(&self) -> Option<Duration> {
        let clients = self.nodes.iter().filter_map(|n| n.client.poll_timeout());
        self.broker.poll_timeout().into_iter().chain(clients).min()
    }

    /// Jumps from deadline to deadline up to `target`, firing each at its exact time.
    fn advance_to(&mut self, target: Duration) {
        for _ in 0..100_000 {
            self.drive();
            match self.next_deadline() {
                Some(due) if due <= target => {
                    self.now = self.now.max(due);
                    if self.broker.poll_timeout().is_some_and(|t| t <= self.now) {
                        self.broker.handle_timeout(self.now);
                    }
                    for node in &mut self.nodes {
                        if node.client.poll_timeout().is_some_and(|t| t <= self.now) {
                            node.client.handle_timeout(self.now);
                        }
                    }
                }
                _ => {
                    self.now = target;
                    return;
                }
            }
        }
        panic!("deadlines did not move past {:?}", self.now);
    }

    fn advance_secs(&mut self, secs: u64) {
        self.advance_to(self.now + Duration::from_secs(secs));
    }

    /// The events of client `i` since the last call.
    fn events(&mut self, i: usize) -> Vec<ClientEvent> {
        self.nodes[i].events.drain(..).map(|(_, e)| e).collect()
    }

    /// The Delivered events of client `i` since the last call (others are dropped).
    fn deliveries(&mut self, i: usize) -> Vec<ClientEvent> {
        self.events(i).into_iter().filter(|e| matches!(e, ClientEvent::Delivered { .. })).collect()
    }

    /// The PUBLISH packets client `i` wrote, in order.
    fn sent_publishes(&self, i: usize) -> Vec<Publish> {
        self.nodes[i]
            .sent
            .iter()
            .filter_map(|(_, p)| match p {
                Packet::Publish(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    /// The times client `i` wrote a packet of `packet_type`.
    fn sent_times(&self, i: usize, packet_type: PacketType) -> Vec<Duration> {
        self.nodes[i].sent.iter().filter(|(_, p)| p.packet_type() == packet_type).map(|(t, _)| *t).collect()
    }

    fn cited(&self, i: usize, statement: StatementId) -> bool {
        self.nodes[i].citations.iter().any(|c| c.statement == statement && c.kind == CiteKind::Fulfilled)
    }

    fn subscribe(&mut self, i: usize, filter: &str, qos: Qos) -> Vec<ClientEvent> {
        let version = self.nodes[i].client.config().version;
        let filter = TopicFilter::for_version(filter, version).unwrap();
        let subscription = Subscription { filter, options: SubscriptionOptions::qos(qos) };
        self.nodes[i].client.subscribe(self.now, vec![subscription], Properties::default());
        self.drive();
        self.events(i)
    }

    fn publish(&mut self, i: usize, topic: &str, payload: &str, qos: Qos) -> u64 {
        let topic = TopicName::new(topic).unwrap();
        let payload = Bytes::copy_from_slice(payload.as_bytes());
        let seq = self.nodes[i].client.publish(self.now, topic, payload, qos, false, Properties::default());
        self.drive();
        seq
    }
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn delivered(topic: &str, payload: &str, qos: Qos) -> ClientEvent {
    ClientEvent::Delivered {
        topic: topic.to_string(),
        payload: Bytes::copy_from_slice(payload.as_bytes()),
        qos,
        retain: false,
        dup: false,
        properties: Properties::default(),
    }
}

fn completed(seq: u64) -> ClientEvent {
    ClientEvent::PublishCompleted { seq, reason_code: ReasonCode::SUCCESS }
}

fn connected(session_present: bool) -> ClientEvent {
    ClientEvent::Connected { session_present, reason_code: ReasonCode::SUCCESS }
}

fn persistent(client_id: &str, version: Version) -> ClientConfig {
    ClientConfig {
        clean_start: false,
        session_expiry_interval_secs: Some(3600),
        ..ClientConfig::new(client_id, version)
    }
}

/// A pair with a subscriber (client 0, subscribed to `t` at QoS 2) and a publisher (client 1).
fn subscriber_and_publisher(version: Version, publisher: ClientConfig) -> Pair {
    let mut pair = Pair::new(broker_config());
    let sub = pair.add(ClientConfig::new("sub", version));
    pair.connect(sub);
    assert_eq!(
        pair.subscribe(sub, "t", Qos::ExactlyOnce),
        [ClientEvent::Subscribed { reason_codes: vec![ReasonCode::GRANTED_QOS_2] }]
    );
    let publisher = pair.add(publisher);
    assert_eq!(pair.connect(publisher), [connected(false)]);
    pair
}

/// CONNECT is the first packet on both versions and a CONNACK makes the client connected.
#[test]
fn a_client_connects_with_either_version() {
    for version in [V3, V5] {
        let mut pair = Pair::new(broker_config());
        let c = pair.add(ClientConfig::new("c", version));
        assert!(!pair.nodes[c].client.is_connected());
        assert_eq!(pair.nodes[c].client.poll_timeout(), None);
        assert_eq!(pair.connect(c), [connected(false)]);
        assert!(pair.nodes[c].client.is_connected());
        assert_eq!(pair.nodes[c].sent[0].1.packet_type(), PacketType::Connect);
        assert!(pair.cited(c, if version == V3 { v3::MQTT_3_1_0_1 } else { v5::MQTT_3_1_0_1 }));
    }
}

/// QoS 0, 1 and 2 messages reach a subscriber as exactly one Delivered event each, and every flow completes.
#[test]
fn qos_0_1_and_2_publishes_are_delivered_exactly() {
    for version in [V3, V5] {
        let mut pair = subscriber_and_publisher(version, ClientConfig::new("pub", version));
        let seqs: Vec<u64> = [Qos::AtMostOnce, Qos::AtLeastOnce, Qos::ExactlyOnce]
            .into_iter()
            .enumerate()
            .map(|(n, qos)| pair.publish(1, "t", &format!("m{n}"), qos))
            .collect();
        assert_eq!(seqs, [1, 2, 3]);
        assert_eq!(pair.events(1), [completed(1), completed(2), completed(3)], "{version}");
        assert_eq!(
            pair.events(0),
            [
                delivered("t", "m0", Qos::AtMostOnce),
                delivered("t", "m1", Qos::AtLeastOnce),
                delivered("t", "m2", Qos::ExactlyOnce)
            ],
            "{version}"
        );
        let acks: Vec<PacketType> =
            pair.nodes[0].sent.iter().map(|(_, p)| p.packet_type()).filter(|t| *t != PacketType::Subscribe).collect();
        assert_eq!(acks, [PacketType::Connect, PacketType::Puback, PacketType::Pubrec, PacketType::Pubcomp]);
        assert!(pair.broker.session("sub").unwrap().inflight.is_empty());
        assert_eq!(pair.nodes[1].client.inflight_len(), 0);
    }
}

/// Commands made before the connection opens are queued and sent after CONNACK: SUBSCRIBE first, then PUBLISH.
#[test]
fn commands_before_the_connection_are_sent_after_connack() {
    let mut pair = Pair::new(broker_config());
    let c = pair.add(ClientConfig::new("c", V5));
    let seq = pair.publish(c, "t", "early", Qos::AtLeastOnce);
    assert!(pair.subscribe(c, "t", Qos::AtLeastOnce).is_empty());
    assert!(pair.nodes[c].sent.is_empty());
    assert_eq!(pair.nodes[c].client.queued_len(), 1);
    pair.open(c);
    let types: Vec<PacketType> = pair.nodes[c].sent.iter().map(|(_, p)| p.packet_type()).collect();
    assert_eq!(types, [PacketType::Connect, PacketType::Subscribe, PacketType::Publish, PacketType::Puback]);
    assert_eq!(
        pair.events(c),
        [
            connected(false),
            ClientEvent::Subscribed { reason_codes: vec![ReasonCode::GRANTED_QOS_1] },
            delivered("t", "early", Qos::AtLeastOnce),
            completed(seq),
        ]
    );
}

/// A QoS 1 PUBLISH whose PUBACK is lost is resent after reconnect with DUP=1 and the same packet id.
#[test]
fn a_qos_1_publish_cut_before_its_puback_is_resent_with_dup() {
    for version in [V3, V5] {
        let mut pair = subscriber_and_publisher(version, persistent("pub", version));
        pair.nodes[1].cut_at = Some((Dir::ToClient, PacketType::Puback));
        let seq = pair.publish(1, "t", "once", Qos::AtLeastOnce);
        assert!(pair.nodes[1].conn.is_none(), "the connection was cut");
        assert!(matches!(pair.events(1).as_slice(), [ClientEvent::Disconnected { reason_code: None }]));
        assert_eq!(pair.nodes[1].client.inflight_len(), 1);
        assert_eq!(pair.connect(1), [connected(true), completed(seq)], "{version}");
        let publishes = pair.sent_publishes(1);
        assert_eq!(publishes.len(), 2);
        assert!(!publishes[0].dup && publishes[1].dup);
        assert_eq!(publishes[0].packet_id(), publishes[1].packet_id());
        assert_eq!(publishes[0].payload, publishes[1].payload);
        // At least once: the broker forwards the resend as a new message.
        assert_eq!(pair.deliveries(0), vec![delivered("t", "once", Qos::AtLeastOnce); 2]);
        let (resend, dup) =
            if version == V3 { (v3::MQTT_4_4_0_1, v3::MQTT_3_3_1_1) } else { (v5::MQTT_4_4_0_1, v5::MQTT_3_3_1_1) };
        assert!(pair.cited(1, resend) && pair.cited(1, dup));
    }
}

/// A QoS 2 flow cut after PUBLISH, after PUBREC or after PUBREL resumes on reconnect and delivers exactly once.
#[test]
fn a_qos_2_flow_cut_at_any_step_is_delivered_exactly_once() {
    let cuts = [
        (Dir::ToClient, PacketType::Pubrec),
        (Dir::ToBroker, PacketType::Pubrel),
        (Dir::ToClient, PacketType::Pubcomp),
    ];
    for version in [V3, V5] {
        for cut in cuts {
            let mut pair = subscriber_and_publisher(version, persistent("pub", version));
            pair.nodes[1].cut_at = Some(cut);
            let seq = pair.publish(1, "t", "exactly", Qos::ExactlyOnce);
            assert!(pair.nodes[1].conn.is_none(), "{version} {cut:?}: the connection was cut");
            pair.events(1);
            // PUBCOMP lost: the broker finished the flow, so a 5.0 broker answers
            // the resent PUBREL with 0x92 (Packet Identifier not found), reported as is.
            let reason_code = match (version, cut.1) {
                (V5, PacketType::Pubcomp) => ReasonCode::PACKET_IDENTIFIER_NOT_FOUND,
                _ => ReasonCode::SUCCESS,
            };
            let done = ClientEvent::PublishCompleted { seq, reason_code };
            assert_eq!(pair.connect(1), [connected(true), done], "{version} {cut:?}");
            let publishes = pair.sent_publishes(1);
            let pubrels = pair.sent_times(1, PacketType::Pubrel);
            if cut.1 == PacketType::Pubrec {
                // PUBREC lost: the PUBLISH is resent with DUP, then released.
                assert_eq!(publishes.len(), 2);
                assert!(publishes[1].dup);
                assert_eq!(publishes[0].packet_id(), publishes[1].packet_id());
                assert_eq!(pubrels.len(), 1);
            } else {
                // PUBREC arrived: only the PUBREL is resent, never the PUBLISH.
                assert_eq!(publishes.len(), 1, "{version} {cut:?}");
                assert_eq!(pubrels.len(), 2, "{version} {cut:?}");
            }
            assert_eq!(pair.deliveries(0), [delivered("t", "exactly", Qos::ExactlyOnce)], "{version} {cut:?}");
            assert_eq!(pair.nodes[1].client.inflight_len(), 0);
        }
    }
}

/// When the server lost the session (Session Present 0), unacknowledged messages are sent again as new ones.
#[test]
fn a_lost_server_session_resends_unacknowledged_messages_as_new() {
    for version in [V3, V5] {
        let mut pair = Pair::new(broker_config());
        let c = pair.add(persistent("c", version));
        pair.connect(c);
        pair.nodes[c].cut_at = Some((Dir::ToClient, PacketType::Puback));
        let seq = pair.publish(c, "t", "x", Qos::AtLeastOnce);
        pair.events(c);
        pair.broker = Broker::new(broker_config()); // a restart without a durable store
                                                    // The new broker has no subscription for it: 5.0 says so in the PUBACK.
        let reason_code = if version == V5 { ReasonCode::NO_MATCHING_SUBSCRIBERS } else { ReasonCode::SUCCESS };
        let done = ClientEvent::PublishCompleted { seq, reason_code };
        assert_eq!(pair.connect(c), [connected(false), done], "{version}");
        let publishes = pair.sent_publishes(c);
        assert_eq!(publishes.len(), 2);
        assert!(!publishes[1].dup, "a new message, not a redelivery");
        if version == V5 {
            assert!(pair.cited(c, v5::MQTT_3_2_2_5));
        }
    }
}

/// With a clean session, a message in flight is dropped when the connection ends; queued ones stay.
#[test]
fn a_clean_session_drops_messages_in_flight_at_disconnect() {
    let mut pair = Pair::new(broker_config());
    let c = pair.add(ClientConfig { max_inflight: 1, ..ClientConfig::new("c", V3) });
    pair.connect(c);
    pair.nodes[c].to_client = Link::Drop;
    pair.publish(c, "t", "a", Qos::AtLeastOnce);
    let queued = pair.publish(c, "t", "b", Qos::AtLeastOnce);
    assert_eq!((pair.nodes[c].client.inflight_len(), pair.nodes[c].client.queued_len()), (1, 1));
    pair.sever(c);
    assert_eq!(pair.events(c), [ClientEvent::Disconnected { reason_code: None }]);
    pair.nodes[c].to_client = Link::Pass;
    assert_eq!((pair.nodes[c].client.inflight_len(), pair.nodes[c].client.queued_len()), (0, 1));
    assert_eq!(pair.connect(c), [connected(false), completed(queued)]);
}

/// An idle client sends PINGREQ exactly one keep-alive after its last packet.
#[test]
fn an_idle_client_sends_pingreq_every_keep_alive() {
    for version in [V3, V5] {
        let mut pair = Pair::new(broker_config());
        let c = pair.add(ClientConfig { keep_alive_secs: 60, ..ClientConfig::new("c", version) });
        pair.connect(c);
        pair.advance_secs(59);
        assert!(pair.sent_times(c, PacketType::Pingreq).is_empty());
        pair.advance_secs(1);
        assert_eq!(pair.sent_times(c, PacketType::Pingreq), [secs(60)]);
        pair.advance_secs(30);
        pair.publish(c, "t", "x", Qos::AtMostOnce); // at 90 s: the next PINGREQ moves to 150 s
        pair.advance_to(secs(200));
        assert_eq!(pair.sent_times(c, PacketType::Pingreq), [secs(60), secs(150)]);
        assert!(pair.nodes[c].client.is_connected());
        let statement = if version == V3 { v3::MQTT_3_1_2_23 } else { v5::MQTT_3_1_2_20 };
        assert!(pair.cited(c, statement));
    }
}

/// A 5.0 Server Keep Alive in CONNACK replaces the client's own keep-alive.
#[test]
fn the_server_keep_alive_replaces_the_clients() {
    let mut pair = Pair::new(BrokerConfig { server_keep_alive_secs: Some(10), ..broker_config() });
    let c = pair.add(ClientConfig { keep_alive_secs: 60, ..ClientConfig::new("c", V5) });
    pair.connect(c);
    pair.advance_to(secs(25));
    assert_eq!(pair.sent_times(c, PacketType::Pingreq), [secs(10), secs(20)]);
    assert!(pair.cited(c, v5::MQTT_3_1_2_21));
}

/// A silenced client (its bytes lost, socket open) is closed by the broker at 1.5 × keep-alive, and its will goes out.
#[test]
fn a_silenced_client_is_closed_by_the_broker_at_one_and_a_half_keep_alive() {
    for version in [V3, V5] {
        let mut pair = Pair::new(broker_config());
        let sub = pair.add(ClientConfig::new("sub", version));
        pair.connect(sub);
        pair.subscribe(sub, "will/#", Qos::AtLeastOnce);
        let will = Will {
            topic: TopicName::new("will/c").unwrap(),
            payload: Bytes::from_static(b"gone"),
            qos: Qos::AtLeastOnce,
            retain: false,
            properties: Properties::default(),
        };
        let mut config = ClientConfig { keep_alive_secs: 60, will: Some(will), ..ClientConfig::new("c", version) };
        config.keep_alive_secs = 60;
        let c = pair.add(config);
        pair.connect(c);
        pair.nodes[c].to_broker = Link::Drop;
        pair.advance_to(secs(200));
        assert_eq!(pair.sent_times(c, PacketType::Pingreq), [secs(60)], "{version}");
        assert_eq!(pair.nodes[c].broker_closed_at, [secs(90)], "{version}");
        // The broker's 5.0 DISCONNECT 0x8D (Keep Alive timeout) still reaches the client.
        let reason_code = (version == V5).then_some(ReasonCode::KEEP_ALIVE_TIMEOUT);
        assert_eq!(pair.events(c), [ClientEvent::Disconnected { reason_code }]);
        assert_eq!(pair.deliveries(sub), [delivered("will/c", "gone", Qos::AtLeastOnce)], "{version}");
    }
}

/// A client whose PINGREQ goes unanswered closes the connection one keep-alive later.
#[test]
fn a_client_closes_when_its_pingreq_goes_unanswered() {
    let mut pair = Pair::new(broker_config());
    let c = pair.add(ClientConfig { keep_alive_secs: 60, ..ClientConfig::new("c", V3) });
    pair.connect(c);
    pair.nodes[c].to_client = Link::Drop;
    pair.advance_to(secs(119));
    assert!(pair.nodes[c].client.is_connected());
    pair.advance_to(secs(120));
    assert!(!pair.nodes[c].client.is_connected());
    assert!(pair.nodes[c].conn.is_none());
    assert!(pair.nodes[c].broker_closed_at.is_empty(), "the client closed first");
    assert_eq!(pair.events(c), [ClientEvent::Disconnected { reason_code: None }]);
    assert_eq!(pair.nodes[c].client.poll_timeout(), None);
}

/// Outgoing QoS 1/2 messages in flight never exceed min(max_inflight, the server's Receive Maximum); the rest wait in order.
#[test]
fn the_send_window_is_bounded_by_receive_maximum_and_max_inflight() {
    // (version, broker receive maximum, client max_inflight, expected window)
    for (version, receive_maximum, max_inflight, window) in [(V5, 2, 10, 2), (V3, 2, 3, 3), (V5, 10, 1, 1)] {
        let mut pair = Pair::new(BrokerConfig { receive_maximum, ..broker_config() });
        let c = pair.add(ClientConfig { max_inflight, ..ClientConfig::new("c", version) });
        pair.connect(c);
        pair.nodes[c].to_client = Link::Hold;
        let seqs: Vec<u64> =
            (0..7).map(|n| pair.publish(c, "t", &n.to_string(), [Qos::AtLeastOnce, Qos::ExactlyOnce][n % 2])).collect();
        let mut completions = Vec::new();
        for _ in 0..20 {
            let sent = pair.sent_publishes(c).len();
            let done = completions.len();
            assert!(sent - done <= window, "{version}: {sent} sent, {done} done, window {window}");
            assert!(pair.nodes[c].client.inflight_len() <= window);
            if done == seqs.len() {
                break;
            }
            pair.release(c);
            pair.nodes[c].to_client = Link::Hold;
            completions.extend(pair.events(c).into_iter().filter_map(|e| match e {
                ClientEvent::PublishCompleted { seq, .. } => Some(seq),
                _ => None,
            }));
        }
        // QoS 2 takes two round trips, so completions interleave; every message completes once.
        completions.sort_unstable();
        assert_eq!(completions, seqs, "{version}");
        let payloads: Vec<Bytes> = pair.sent_publishes(c).into_iter().map(|p| p.payload).collect();
        assert_eq!(payloads, (0..7).map(|n: u8| Bytes::from(n.to_string())).collect::<Vec<_>>());
        if version == V5 && receive_maximum < max_inflight {
            assert!(pair.cited(c, v5::MQTT_3_3_4_7));
        }
    }
}

/// The will is published after an abnormal close and after a 5.0 DISCONNECT 0x04, but not after a normal DISCONNECT.
#[test]
fn the_will_is_published_only_after_an_abnormal_end() {
    // (version, how the connection ends, will expected)
    let cases = [
        (V3, None, true),
        (V5, None, true),
        (V3, Some(ReasonCode::SUCCESS), false),
        (V5, Some(ReasonCode::SUCCESS), false),
        (V5, Some(ReasonCode::DISCONNECT_WITH_WILL_MESSAGE), true),
    ];
    for (version, disconnect, expected) in cases {
        let mut pair = Pair::new(broker_config());
        let sub = pair.add(ClientConfig::new("sub", version));
        pair.connect(sub);
        pair.subscribe(sub, "will/#", Qos::ExactlyOnce);
        let will = Will {
            topic: TopicName::new("will/c").unwrap(),
            payload: Bytes::from_static(b"bye"),
            qos: Qos::ExactlyOnce,
            retain: false,
            properties: Properties::default(),
        };
        let c = pair.add(ClientConfig { will: Some(will), ..ClientConfig::new("c", version) });
        pair.connect(c);
        match disconnect {
            None => pair.sever(c),
            Some(reason) => {
                pair.nodes[c].client.disconnect(pair.now, reason);
                pair.drive();
                assert_eq!(pair.sent_times(c, PacketType::Disconnect).len(), 1);
                assert!(pair.nodes[c].conn.is_none(), "Close followed DISCONNECT");
            }
        }
        assert!(!pair.nodes[c].client.is_connected());
        let want = if expected { vec![delivered("will/c", "bye", Qos::ExactlyOnce)] } else { Vec::new() };
        assert_eq!(pair.deliveries(sub), want, "{version} {disconnect:?}");
    }
}

/// Aliased PUBLISH packets from a 5.0 server are delivered with their topic resolved.
#[test]
fn incoming_topic_aliases_are_resolved() {
    let mut pair = Pair::new(BrokerConfig { outgoing_topic_aliases: true, ..broker_config() });
    let sub = pair.add(ClientConfig { topic_alias_maximum: Some(4), ..ClientConfig::new("sub", V5) });
    pair.connect(sub);
    pair.subscribe(sub, "a/long/topic", Qos::AtMostOnce);
    let publisher = pair.add(ClientConfig::new("pub", V5));
    pair.connect(publisher);
    pair.publish(publisher, "a/long/topic", "1", Qos::AtMostOnce);
    pair.publish(publisher, "a/long/topic", "2", Qos::AtMostOnce);
    let topics: Vec<String> = pair.nodes[sub]
        .received
        .iter()
        .filter_map(|(_, p)| match p {
            Packet::Publish(p) => Some(p.topic.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(topics, ["a/long/topic", ""], "the second PUBLISH uses the alias alone");
    assert_eq!(
        pair.deliveries(sub),
        [delivered("a/long/topic", "1", Qos::AtMostOnce), delivered("a/long/topic", "2", Qos::AtMostOnce)]
    );
    assert!(pair.cited(sub, v5::MQTT_3_3_2_10));
}

// ---- the client alone, fed hand-written server packets ----

/// A client that has sent CONNECT and received a successful CONNACK; returns it with its outputs drained.
fn connected_client(version: Version) -> ModelClient {
    let mut client = ModelClient::new(ClientConfig::new("c", version));
    client.handle_connection_opened(Duration::ZERO);
    let connack =
        Connack { session_present: false, reason_code: ReasonCode::SUCCESS, properties: Properties::default() };
    client.handle_bytes(Duration::ZERO, &encode_to_vec(&Packet::Connack(connack), version).unwrap());
    outputs(&mut client);
    client
}

fn outputs(client: &mut ModelClient) -> Vec<ClientOutput> {
    std::iter::from_fn(|| client.poll_output()).filter(|o| !matches!(o, ClientOutput::Cite(_))).collect()
}

/// The packets in the Transmit outputs.
fn packets(outputs: &[ClientOutput], version: Version) -> Vec<Packet> {
    let mut bytes = Vec::new();
    for output in outputs {
        if let ClientOutput::Transmit(b) = output {
            bytes.extend_from_slice(b);
        }
    }
    let mut packets = Vec::new();
    let mut rest = bytes.as_slice();
    while let Some((packet, n)) = decode(rest, &DecodeOptions::new(version)).unwrap() {
        packets.push(packet);
        rest = &rest[n..];
    }
    packets
}

fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

/// A repeated QoS 2 PUBLISH is acknowledged again but delivered once; PUBREL gets PUBCOMP and frees the id.
#[test]
fn a_repeated_qos_2_publish_is_delivered_once() {
    for version in [V3, V5] {
        let mut client = connected_client(version);
        let publish = Publish {
            dup: false,
            qos_pid: QosPid::ExactlyOnce(pid(7)),
            retain: false,
            topic: TopicName::new("t").unwrap(),
            properties: Properties::default(),
            payload: Bytes::from_static(b"x"),
        };
        let first = encode_to_vec(&Packet::Publish(publish.clone()), version).unwrap();
        let again = encode_to_vec(&Packet::Publish(Publish { dup: true, ..publish }), version).unwrap();
        let pubrel = encode_to_vec(&Packet::Pubrel(PubResponse::new(pid(7))), version).unwrap();
        let mut wire = [first.clone(), again, pubrel].concat();
        // Split across calls at an awkward point: partial packets are kept.
        let tail = wire.split_off(3);
        client.handle_bytes(secs(1), &wire);
        client.handle_bytes(secs(1), &tail);
        let out = outputs(&mut client);
        let events: Vec<&ClientOutput> = out.iter().filter(|o| matches!(o, ClientOutput::Event(_))).collect();
        assert_eq!(events, [&ClientOutput::Event(delivered("t", "x", Qos::ExactlyOnce))]);
        assert_eq!(
            packets(&out, version),
            [
                Packet::Pubrec(PubResponse::new(pid(7))),
                Packet::Pubrec(PubResponse::new(pid(7))),
                Packet::Pubcomp(PubResponse::new(pid(7)))
            ]
        );
        // After PUBCOMP the id is new again.
        client.handle_bytes(secs(2), &first);
        assert_eq!(outputs(&mut client).len(), 2, "{version}: delivered again and PUBREC");
    }
}

/// Malformed bytes from the server are a ProtocolViolation, then (5.0) DISCONNECT 0x81, then Close.
#[test]
fn malformed_bytes_from_the_server_end_the_connection() {
    for version in [V3, V5] {
        let mut client = connected_client(version);
        client.handle_bytes(secs(1), &[0x00, 0x00]); // packet type 0 is reserved
        let out = outputs(&mut client);
        assert!(matches!(&out[0], ClientOutput::Event(ClientEvent::ProtocolViolation { .. })), "{out:?}");
        let sent = packets(&out, version);
        if version == V5 {
            assert!(matches!(&sent[..], [Packet::Disconnect(d)] if d.reason_code == ReasonCode::MALFORMED_PACKET));
        } else {
            assert!(sent.is_empty());
        }
        assert_eq!(
            &out[out.len() - 2..],
            [ClientOutput::Close, ClientOutput::Event(ClientEvent::Disconnected { reason_code: None })]
        );
        assert!(!client.is_connected());
        client.handle_connection_closed(secs(1));
        client.handle_bytes(secs(1), &[0x00]);
        assert!(outputs(&mut client).is_empty(), "nothing more after the end");
    }
}

/// A refused CONNACK is reported and the connection closed; queued work waits for the next connection.
#[test]
fn a_refused_connection_is_reported_and_closed() {
    let mut client = ModelClient::new(ClientConfig::new("c", V5));
    let seq = client.publish(
        Duration::ZERO,
        TopicName::new("t").unwrap(),
        Bytes::new(),
        Qos::AtLeastOnce,
        false,
        Properties::default(),
    );
    client.handle_connection_opened(Duration::ZERO);
    let refusal =
        Connack { session_present: false, reason_code: ReasonCode::NOT_AUTHORIZED, properties: Properties::default() };
    client.handle_bytes(Duration::ZERO, &encode_to_vec(&Packet::Connack(refusal), V5).unwrap());
    let out = outputs(&mut client);
    assert_eq!(
        out[1..],
        [
            ClientOutput::Event(ClientEvent::Connected {
                session_present: false,
                reason_code: ReasonCode::NOT_AUTHORIZED
            }),
            ClientOutput::Close,
            ClientOutput::Event(ClientEvent::Disconnected { reason_code: None })
        ]
    );
    assert_eq!((seq, client.queued_len()), (1, 1));
}

/// ClientConfig round-trips through serde, and missing optional fields take their defaults.
#[test]
fn the_client_config_round_trips_through_serde() {
    let config =
        ClientConfig { password: Some(Bytes::from_static(b"pw")), username: Some("u".into()), ..persistent("c", V5) };
    let json = serde_json::to_string(&config).unwrap();
    assert_eq!(serde_json::from_str::<ClientConfig>(&json).unwrap(), config);
    let minimal: ClientConfig = serde_json::from_str(r#"{"client_id":"m","version":"3.1.1"}"#).unwrap();
    assert_eq!(minimal, ClientConfig::new("m", V3));
}
