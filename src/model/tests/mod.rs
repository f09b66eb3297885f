//! State-machine tests of the model broker, driven with explicit time in a
//! quinn `Pair` style: a [`Harness`] owns the broker and the clients' inboxes,
//! each test reads like a script.

mod connect;
mod coverage;
mod defects;
mod delivery;
mod subscriptions;
mod v5_properties;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use bytes::Bytes;

use super::{Broker, BrokerConfig, Citation, CiteKind, ConnectionId, Output, Server};
use crate::codec::PropertyValues;
use crate::codec::{
    decode, encode_to_vec, Connack, Connect, DecodeOptions, Disconnect, Packet, PacketId, Properties, PubResponse,
    Publish, Qos, QosPid, ReasonCode, Subscribe, Subscription, SubscriptionOptions, TopicFilter, TopicName,
    Unsubscribe,
};
use crate::spec::{StatementId, Version};

/// One simulated client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Client {
    pub conn: ConnectionId,
    pub version: Version,
}

/// The broker plus what each connection received.
pub(crate) struct Harness {
    pub broker: Broker,
    pub now: Duration,
    next_conn: u64,
    pub citations: Vec<Citation>,
    bytes: BTreeMap<ConnectionId, Vec<u8>>,
    inbox: BTreeMap<ConnectionId, VecDeque<Packet>>,
    versions: BTreeMap<ConnectionId, Version>,
    closed: BTreeSet<ConnectionId>,
}

/// A test configuration: the defaults without `$SYS` timers.
pub(crate) fn config() -> BrokerConfig {
    BrokerConfig { sys_interval_secs: 0, ..BrokerConfig::default() }
}

impl Harness {
    pub fn new(config: BrokerConfig) -> Harness {
        Harness::with_broker(Broker::new(config))
    }

    pub fn with_broker(broker: Broker) -> Harness {
        Harness {
            broker,
            now: Duration::ZERO,
            next_conn: 0,
            citations: Vec::new(),
            bytes: BTreeMap::new(),
            inbox: BTreeMap::new(),
            versions: BTreeMap::new(),
            closed: BTreeSet::new(),
        }
    }

    /// Opens a network connection.
    pub fn open(&mut self, version: Version) -> Client {
        self.next_conn += 1;
        let conn = ConnectionId(self.next_conn);
        self.versions.insert(conn, version);
        self.broker.handle_connection_opened(self.now, conn);
        self.drain();
        Client { conn, version }
    }

    /// Sends a packet from the client.
    pub fn send(&mut self, client: Client, packet: Packet) {
        let bytes = encode_to_vec(&packet, client.version).expect("test packets encode");
        self.send_bytes(client, &bytes);
    }

    /// Sends raw bytes from the client.
    pub fn send_bytes(&mut self, client: Client, bytes: &[u8]) {
        self.broker.handle_bytes(self.now, client.conn, bytes);
        self.drain();
    }

    /// The network drops the connection.
    pub fn drop_network(&mut self, client: Client) {
        self.broker.handle_connection_closed(self.now, client.conn);
        self.closed.insert(client.conn);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(output) = self.broker.poll_output() {
            match output {
                Output::Transmit { conn, bytes } => {
                    assert!(!self.closed.contains(&conn), "bytes sent to {conn} after Close");
                    let version = self.versions[&conn];
                    let buf = self.bytes.entry(conn).or_default();
                    buf.extend_from_slice(&bytes);
                    let options = DecodeOptions::new(version);
                    while let Some((packet, n)) = decode(buf, &options).expect("the broker sends valid packets") {
                        buf.drain(..n);
                        self.inbox.entry(conn).or_default().push_back(packet);
                    }
                }
                Output::Close { conn } => {
                    self.closed.insert(conn);
                }
                Output::Cite(citation) => self.citations.push(citation),
            }
        }
    }

    /// Advances the clock by `secs`, firing every deadline on the way at its exact time.
    pub fn advance(&mut self, secs: f64) {
        self.advance_to(self.now + Duration::from_secs_f64(secs));
    }

    /// Advances the clock by `ms` milliseconds.
    pub fn advance_ms(&mut self, ms: u64) {
        self.advance_to(self.now + Duration::from_millis(ms));
    }

    pub fn advance_to(&mut self, target: Duration) {
        while let Some(deadline) = self.broker.poll_timeout() {
            if deadline > target {
                break;
            }
            self.now = self.now.max(deadline);
            self.broker.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
    }

    /// Everything the client received since the last call.
    pub fn received(&mut self, client: Client) -> Vec<Packet> {
        self.inbox.get_mut(&client.conn).map(|q| q.drain(..).collect()).unwrap_or_default()
    }

    /// The next packet the client received; panics if there is none.
    pub fn expect(&mut self, client: Client) -> Packet {
        self.inbox
            .get_mut(&client.conn)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| panic!("{} received nothing", client.conn))
    }

    /// The PUBLISH packets the client received since the last call (others are dropped).
    pub fn publishes(&mut self, client: Client) -> Vec<Publish> {
        self.received(client)
            .into_iter()
            .filter_map(|p| match p {
                Packet::Publish(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    pub fn is_closed(&self, client: Client) -> bool {
        self.closed.contains(&client.conn)
    }

    /// Opens a connection and sends CONNECT (changed by `edit`); returns the CONNACK.
    pub fn connect_with(
        &mut self,
        version: Version,
        client_id: &str,
        edit: impl FnOnce(&mut Connect),
    ) -> (Client, Connack) {
        let client = self.open(version);
        let mut connect = connect_packet(version, client_id);
        edit(&mut connect);
        self.send(client, Packet::Connect(connect));
        match self.expect(client) {
            Packet::Connack(connack) => (client, connack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects with a clean session and asserts success.
    pub fn connect(&mut self, version: Version, client_id: &str) -> Client {
        let (client, connack) = self.connect_with(version, client_id, |_| {});
        assert_eq!(connack.reason_code, ReasonCode::SUCCESS);
        client
    }

    pub fn subscribe(&mut self, client: Client, filter: &str, qos: Qos) -> Vec<ReasonCode> {
        self.subscribe_with(client, filter, SubscriptionOptions::qos(qos), Properties::default())
    }

    pub fn subscribe_with(
        &mut self,
        client: Client,
        filter: &str,
        options: SubscriptionOptions,
        properties: Properties,
    ) -> Vec<ReasonCode> {
        let subscription = Subscription { filter: TopicFilter::new(filter).unwrap(), options };
        let packet = Subscribe { packet_id: pid(100), properties, subscriptions: vec![subscription] };
        self.send(client, Packet::Subscribe(packet));
        match self.expect(client) {
            Packet::Suback(suback) => {
                assert_eq!(suback.packet_id, pid(100));
                suback.reason_codes
            }
            other => panic!("expected SUBACK, got {other:?}"),
        }
    }

    pub fn unsubscribe(&mut self, client: Client, filter: &str) -> Packet {
        let packet = Unsubscribe {
            packet_id: pid(101),
            properties: Properties::default(),
            filters: vec![TopicFilter::new(filter).unwrap()],
        };
        self.send(client, Packet::Unsubscribe(packet));
        self.expect(client)
    }

    /// Publishes (QoS 1 and 2 use packet id 1) and returns what came back to the publisher.
    pub fn publish(&mut self, client: Client, publish: Publish) -> Vec<Packet> {
        self.send(client, Packet::Publish(publish));
        self.received(client)
    }

    pub fn disconnect(&mut self, client: Client, reason_code: ReasonCode) {
        self.send(client, Packet::Disconnect(Disconnect { reason_code, properties: Properties::default() }));
    }

    /// Whether `statement` was cited with `kind`.
    pub fn cited(&self, statement: StatementId, kind: CiteKind) -> bool {
        self.citations.iter().any(|c| c.statement == statement && c.kind == kind)
    }

    /// Asserts `statement` was cited with `kind`.
    #[track_caller]
    pub fn assert_cited(&self, statement: StatementId, kind: CiteKind) {
        assert!(self.cited(statement, kind), "{statement} was not cited as {kind:?}");
    }
}

impl Drop for Harness {
    /// With `MQTTSIM_MODEL_CITATIONS=FILE`, appends every statement cited to
    /// FILE, one per line, so a coverage figure can be taken over all tests.
    fn drop(&mut self) {
        use std::io::Write as _;
        let Some(path) = std::env::var_os("MQTTSIM_MODEL_CITATIONS") else { return };
        let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).open(path) else { return };
        let lines: String = self.citations.iter().map(|c| format!("{}\n", c.statement)).collect();
        let _ = file.write_all(lines.as_bytes());
    }
}

pub(crate) fn pid(n: u16) -> PacketId {
    PacketId::new(n).unwrap()
}

pub(crate) fn connect_packet(version: Version, client_id: &str) -> Connect {
    Connect {
        version,
        clean_start: true,
        keep_alive_secs: 0,
        properties: Properties::default(),
        client_id: client_id.to_string(),
        will: None,
        username: None,
        password: None,
    }
}

pub(crate) fn publish(topic: &str, qos: Qos, payload: &str) -> Publish {
    Publish {
        dup: false,
        qos_pid: QosPid::from_parts(qos, Some(pid(1))).unwrap(),
        retain: false,
        topic: TopicName::new(topic).unwrap(),
        properties: Properties::default(),
        payload: Bytes::copy_from_slice(payload.as_bytes()),
    }
}

pub(crate) fn retained(topic: &str, qos: Qos, payload: &str) -> Publish {
    Publish { retain: true, ..publish(topic, qos, payload) }
}

pub(crate) fn payloads(publishes: &[Publish]) -> Vec<String> {
    publishes.iter().map(|p| String::from_utf8_lossy(&p.payload).into_owned()).collect()
}

pub(crate) fn ack(id: PacketId) -> PubResponse {
    PubResponse::new(id)
}
