//! [`Broker`]: the state, the [`Server`] implementation (decode, dispatch,
//! timers), output helpers (send with the client's size limit, close,
//! server-initiated DISCONNECT) and the citation helpers.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use super::auth::{Authenticator, ChallengeResponse};
use super::config::BrokerConfig;
use super::connection::{Connection, Phase};
use super::defects::repair_topic_utf8;
use super::retained::Retained;
use super::session::{Message, Session};
use super::sys::Stats;
use super::{Citation, CiteKind, ConnectionId, Output, Server};
use crate::codec::PropertyValues;
use crate::codec::{
    decode, encode, DecodeError, DecodeErrorKind, DecodeOptions, Disconnect, Packet, PacketType, Properties,
    ReasonCode, TopicName,
};
use crate::spec::{v3_1_1 as v3, v5, StatementId, Version};

use CiteKind::{Fulfilled, Violated};

/// A connection and its version: where a citation or a packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct At {
    pub conn: ConnectionId,
    pub version: Version,
}

/// A will waiting for its delay (or its session's end).
#[derive(Debug, Clone)]
pub(crate) struct PendingWill {
    pub due: Duration,
    pub message: Message,
    pub at: At,
}

/// The reference broker: a sans-IO MQTT 3.1.1 + 5.0 server.
pub struct Broker {
    pub(crate) config: BrokerConfig,
    pub(crate) connections: BTreeMap<ConnectionId, Connection>,
    pub(crate) sessions: BTreeMap<String, Session>,
    /// Client id → its current connection.
    pub(crate) online: BTreeMap<String, ConnectionId>,
    pub(crate) retained: Retained,
    pub(crate) pending_wills: BTreeMap<String, PendingWill>,
    pub(crate) outputs: VecDeque<Output>,
    pub(crate) counters: Stats,
    pub(crate) share_cursors: BTreeMap<String, usize>,
    pub(crate) authenticators: Vec<Box<dyn Authenticator>>,
    pub(crate) next_client_number: u64,
    pub(crate) next_nonce: u64,
    pub(crate) now: Duration,
    pub(crate) next_sys: Option<Duration>,
}

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker")
            .field("connections", &self.connections.len())
            .field("sessions", &self.sessions.len())
            .field("retained", &self.retained.len())
            .finish_non_exhaustive()
    }
}

impl Broker {
    /// A broker with no sessions.
    pub fn new(config: BrokerConfig) -> Broker {
        Broker::with_sessions(config, Vec::new())
    }

    /// A broker that starts with `sessions` (from [`Broker::export_sessions`]),
    /// all offline; their expiry counts from the first time the broker sees.
    pub fn with_sessions(config: BrokerConfig, sessions: Vec<Session>) -> Broker {
        let mut authenticators: Vec<Box<dyn Authenticator>> = Vec::new();
        if let Some(secret) = &config.challenge_secret {
            authenticators.push(Box::new(ChallengeResponse { secret: secret.clone() }));
        }
        let next_sys = (config.sys_interval_secs > 0).then_some(Duration::ZERO);
        Broker {
            sessions: sessions
                .into_iter()
                .map(|mut s| {
                    s.offline_since = None;
                    (s.client_id.clone(), s)
                })
                .collect(),
            config,
            connections: BTreeMap::new(),
            online: BTreeMap::new(),
            retained: Retained::default(),
            pending_wills: BTreeMap::new(),
            outputs: VecDeque::new(),
            counters: Stats::default(),
            share_cursors: BTreeMap::new(),
            authenticators,
            next_client_number: 0,
            next_nonce: 0,
            now: Duration::ZERO,
            next_sys,
        }
    }

    /// Adds an enhanced authentication method.
    pub fn add_authenticator(&mut self, authenticator: Box<dyn Authenticator>) {
        self.authenticators.push(authenticator);
    }

    /// The configuration.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// A snapshot of every session, for a durable store.
    pub fn export_sessions(&self) -> Vec<Session> {
        self.sessions.values().cloned().collect()
    }

    /// The session of `client_id`, if any.
    pub fn session(&self, client_id: &str) -> Option<&Session> {
        self.sessions.get(client_id)
    }

    /// The retained message of `topic`, if any.
    pub fn retained_message(&self, topic: &str) -> Option<&Message> {
        self.retained.get(topic)
    }

    /// Current statistics.
    pub fn stats(&self) -> Stats {
        let mut stats = self.counters.clone();
        stats.clients_connected = self.online.len() as u64;
        stats.sessions = self.sessions.len() as u64;
        stats.retained_messages = self.retained.len() as u64;
        stats.subscriptions = self.sessions.values().map(|s| s.subscriptions.len() as u64).sum();
        stats
    }

    // ---- citations ----

    /// Cites `statement` for `conn`.
    pub(crate) fn cite_id(&mut self, conn: Option<ConnectionId>, statement: StatementId, kind: CiteKind) {
        if self.config.citations {
            self.outputs.push_back(Output::Cite(Citation { statement, kind, conn }));
        }
    }

    /// Cites the 3.1.1 or the 5.0 statement, by the connection's version.
    pub(crate) fn cite(&mut self, at: At, v3: StatementId, v5: StatementId, kind: CiteKind) {
        let statement = match at.version {
            Version::V3_1_1 => v3,
            Version::V5 => v5,
        };
        self.cite_id(Some(at.conn), statement, kind);
    }

    /// Cites a 5.0 statement if the connection speaks 5.0.
    pub(crate) fn cite5(&mut self, at: At, v5: StatementId, kind: CiteKind) {
        if at.version == Version::V5 {
            self.cite_id(Some(at.conn), v5, kind);
        }
    }

    /// Cites a 3.1.1 statement if the connection speaks 3.1.1.
    pub(crate) fn cite3(&mut self, at: At, v3: StatementId, kind: CiteKind) {
        if at.version == Version::V3_1_1 {
            self.cite_id(Some(at.conn), v3, kind);
        }
    }

    // ---- outputs ----

    /// The connection and its version.
    pub(crate) fn at(&self, conn: ConnectionId) -> Option<At> {
        self.connections.get(&conn).map(|c| At { conn, version: c.version() })
    }

    /// Encodes and queues `packet`. A PUBLISH over the client's Maximum
    /// Packet Size is dropped (MQTT-3.1.2-25); other packets lose their
    /// reason string and user properties first. Returns whether it was sent.
    pub(crate) fn send(&mut self, at: At, mut packet: Packet) -> bool {
        let Some(c) = self.connections.get(&at.conn) else { return false };
        let limit = if at.version == Version::V5 { c.client_max_packet_size } else { None };
        let mut bytes = Vec::new();
        if encode(&packet, at.version, &mut bytes).is_err() {
            return false;
        }
        if let Some(limit) = limit {
            if bytes.len() > limit as usize {
                if matches!(packet, Packet::Publish(_)) {
                    self.cite5(at, v5::MQTT_3_1_2_25, Fulfilled);
                    self.cite5(at, v5::MQTT_3_1_2_24, Fulfilled);
                    self.counters.messages_dropped += 1;
                    return false;
                }
                if let Some((reason, user)) = strip_diagnostics(&mut packet) {
                    self.cite5(at, reason, Fulfilled);
                    self.cite5(at, user, Fulfilled);
                }
                bytes.clear();
                if encode(&packet, at.version, &mut bytes).is_err() || bytes.len() > limit as usize {
                    return false;
                }
            }
            self.cite5(at, v5::MQTT_3_1_2_24, Fulfilled);
        }
        if matches!(packet, Packet::Publish(_)) {
            self.counters.messages_sent += 1;
        }
        self.counters.bytes_sent += bytes.len() as u64;
        if let Some(Output::Transmit { conn, bytes: last }) = self.outputs.back_mut() {
            if *conn == at.conn {
                last.extend_from_slice(&bytes);
                return true;
            }
        }
        self.outputs.push_back(Output::Transmit { conn: at.conn, bytes });
        true
    }

    /// A reason string for a 5.0 acknowledgement, unless the client asked
    /// for no problem information (MQTT-3.1.2-29).
    pub(crate) fn reason_string(&mut self, at: At, text: &str) -> Option<String> {
        if at.version != Version::V5 {
            return None;
        }
        if self.connections.get(&at.conn).is_some_and(|c| !c.problem_information) {
            self.cite5(at, v5::MQTT_3_1_2_29, Fulfilled);
            return None;
        }
        Some(text.to_string())
    }

    /// Closes the connection. A connected client's session goes offline
    /// (or ends, with expiry 0) and its will is published (`normal` false)
    /// or discarded (`normal` true).
    pub(crate) fn drop_connection(&mut self, now: Duration, conn: ConnectionId, normal: bool) {
        let Some(c) = self.connections.remove(&conn) else { return };
        self.outputs.push_back(Output::Close { conn });
        if !c.is_connected() {
            return;
        }
        let at = At { conn, version: c.version() };
        let client_id = c.client_id.clone().unwrap_or_default();
        if self.online.get(&client_id) == Some(&conn) {
            self.online.remove(&client_id);
        }
        let expiry = c.session_expiry_secs;
        let mut session_ended = false;
        if let Some(session) = self.sessions.get_mut(&client_id) {
            session.offline_since = Some(now);
            session.expiry_interval_secs = expiry;
            if expiry == 0 {
                self.sessions.remove(&client_id);
                session_ended = true;
                self.cite(at, v3::MQTT_3_1_2_6, v5::MQTT_4_1_0_2, Fulfilled);
                // The session ends only now that its connection is gone, and
                // the retained store is not part of it: nothing else is removed.
                self.cite3(at, v3::MQTT_4_1_0_2, Fulfilled);
                self.cite3(at, v3::MQTT_3_1_2_7, Fulfilled);
            } else {
                self.cite(at, v3::MQTT_3_1_2_4, v5::MQTT_3_1_2_23, Fulfilled);
                self.cite(at, v3::MQTT_4_1_0_1, v5::MQTT_4_1_0_1, Fulfilled);
            }
        }
        // Defect: a normal disconnection publishes the will too.
        let discard_will = normal && !self.config.defects.will_on_normal_disconnect;
        match c.will {
            Some(_) if discard_will => {
                self.cite(at, v3::MQTT_3_1_2_10, v5::MQTT_3_1_2_10, Fulfilled);
                self.cite(at, v3::MQTT_3_14_4_3, v5::MQTT_3_14_4_3, Fulfilled);
            }
            Some(mut will) => {
                let expiry_from = |t: Duration| will.expiry_secs.map(|s| t + Duration::from_secs(u64::from(s)));
                if at.version == Version::V5 && will.delay_secs > 0 && !session_ended {
                    let delay = will.delay_secs.min(expiry);
                    let due = now + Duration::from_secs(u64::from(delay));
                    will.message.expires_at = expiry_from(due);
                    self.pending_wills.insert(client_id, PendingWill { due, message: will.message, at });
                } else {
                    will.message.expires_at = expiry_from(now);
                    self.publish_will(now, at, will.message);
                }
            }
            None => {
                if !normal {
                    self.cite3(at, v3::MQTT_3_1_2_12, Fulfilled);
                }
            }
        }
    }

    /// Publishes a will message.
    pub(crate) fn publish_will(&mut self, now: Duration, at: At, message: Message) {
        self.cite(at, v3::MQTT_3_1_2_8, v5::MQTT_3_1_2_8, Fulfilled);
        if message.retain {
            self.cite(at, v3::MQTT_3_1_2_17, v5::MQTT_3_1_2_15, Fulfilled);
        } else {
            self.cite(at, v3::MQTT_3_1_2_16, v5::MQTT_3_1_2_14, Fulfilled);
        }
        if !message.properties.user_properties.is_empty() {
            self.cite5(at, v5::MQTT_3_1_3_10, Fulfilled);
        }
        self.cite(at, v3::MQTT_3_1_2_10, v5::MQTT_3_1_2_10, Fulfilled);
        self.publish_message(now, None, message);
    }

    /// Server-initiated disconnection: a 5.0 client that got CONNACK 0x00
    /// gets DISCONNECT `code` first; a 3.1.1 client is just closed. The will
    /// is published.
    pub(crate) fn disconnect(&mut self, now: Duration, at: At, code: ReasonCode, why: &str) {
        let connected = self.connections.get(&at.conn).is_some_and(|c| c.connack_sent);
        if at.version == Version::V5 && connected {
            let reason_string = Some(why.to_string());
            self.cite5(at, v5::MQTT_3_14_0_1, Fulfilled);
            self.cite5(at, v5::MQTT_3_14_2_1, Fulfilled);
            self.cite5(at, v5::MQTT_3_14_2_2, Fulfilled);
            let properties = Properties::from(PropertyValues { reason_string, ..Default::default() });
            self.send(at, Packet::Disconnect(Disconnect { reason_code: code, properties }));
            self.cite5(at, v5::MQTT_3_14_4_1, Fulfilled);
            self.cite5(at, v5::MQTT_3_14_4_2, Fulfilled);
        }
        if code.is_error() {
            self.cite(at, v3::MQTT_4_8_0_1, v5::MQTT_4_13_2_1, Fulfilled);
        }
        self.drop_connection(now, at.conn, false);
    }

    /// A protocol violation by a connected client: 5.0 DISCONNECT with
    /// `code` (MQTT-4.13.1-1), 3.1.1 close (MQTT-4.8.0-1).
    pub(crate) fn violation(
        &mut self,
        now: Duration,
        at: At,
        statement: Option<StatementId>,
        code: ReasonCode,
        why: &str,
    ) {
        if let Some(statement) = statement {
            self.cite_id(Some(at.conn), statement, Violated);
        }
        self.cite(at, v3::MQTT_4_8_0_1, v5::MQTT_4_13_1_1, Fulfilled);
        self.disconnect(now, at, code, why);
    }

    // ---- time ----

    /// Moves the clock; restored sessions start their offline time now.
    pub(crate) fn advance(&mut self, now: Duration) {
        if now > self.now {
            self.now = now;
        }
        for (id, session) in self.sessions.iter_mut() {
            if session.offline_since.is_none() && !self.online.contains_key(id) {
                session.offline_since = Some(now);
            }
        }
    }

    fn handle_decode_error(&mut self, now: Duration, conn: ConnectionId, err: DecodeError) {
        let Some(c) = self.connections.get(&conn) else { return };
        let phase_connect = c.phase == Phase::AwaitConnect;
        let connected = c.is_connected();
        let version = if phase_connect { err.version } else { c.version() };
        let at = At { conn, version };
        if let Some(statement) = err.statement {
            // A statement on the sender was broken; one on the receiver (us)
            // is fulfilled by the close or refusal below.
            let kind = if statement.statement().actor.binds_client() { Violated } else { Fulfilled };
            self.cite_id(Some(conn), statement, kind);
        }
        for statement in related_statements(&err, version) {
            self.cite_id(Some(conn), statement, Violated);
        }
        if phase_connect && err.packet.is_none_or(|p| p == PacketType::Connect) {
            match err.kind {
                DecodeErrorKind::UnsupportedProtocolLevel { level } => {
                    if level < 5 {
                        let at = At { conn, version: Version::V3_1_1 };
                        self.cite_id(Some(conn), v3::MQTT_3_1_2_2, Fulfilled);
                        self.reject_connect(now, at, ReasonCode::V3_UNACCEPTABLE_PROTOCOL_VERSION);
                    } else {
                        let at = At { conn, version: Version::V5 };
                        self.cite_id(Some(conn), v5::MQTT_3_1_2_2, Fulfilled);
                        self.reject_connect(now, at, ReasonCode::UNSUPPORTED_PROTOCOL_VERSION);
                    }
                }
                DecodeErrorKind::EmptyClientIdWithoutCleanSession => {
                    let at = At { conn, version: Version::V3_1_1 };
                    self.cite_id(Some(conn), v3::MQTT_3_1_3_8, Fulfilled);
                    self.reject_connect(now, at, ReasonCode::V3_IDENTIFIER_REJECTED);
                }
                DecodeErrorKind::InvalidProtocolName { .. } => {
                    self.cite(at, v3::MQTT_3_1_2_1, v5::MQTT_3_1_2_1, Fulfilled);
                    self.cite(at, v3::MQTT_3_1_4_1, v5::MQTT_3_1_4_1, Fulfilled);
                    self.drop_connection(now, conn, false);
                }
                _ if version == Version::V5 => {
                    self.cite5(at, v5::MQTT_3_1_4_1, Fulfilled);
                    self.reject_connect(now, at, err.reason_code());
                }
                _ => {
                    self.cite3(at, v3::MQTT_3_1_4_1, Fulfilled);
                    self.cite3(at, v3::MQTT_3_2_2_6, Fulfilled);
                    self.drop_connection(now, conn, false);
                }
            }
            return;
        }
        if !connected && version == Version::V5 && !phase_connect {
            // Authenticating: answer with CONNACK.
            self.reject_connect(now, at, err.reason_code());
            return;
        }
        if !connected {
            self.drop_connection(now, conn, false);
            return;
        }
        self.cite(at, v3::MQTT_4_8_0_1, v5::MQTT_4_13_1_1, Fulfilled);
        self.disconnect(now, at, err.reason_code(), "malformed packet");
    }

    fn handle_packet(&mut self, now: Duration, conn: ConnectionId, packet: Packet) {
        let Some(c) = self.connections.get(&conn) else { return };
        let at = At { conn, version: c.version() };
        match (&c.phase, packet) {
            (Phase::AwaitConnect, Packet::Connect(connect)) => self.handle_connect(now, conn, connect),
            (Phase::AwaitConnect, _) => {
                self.cite(at, v3::MQTT_3_1_0_1, v5::MQTT_3_1_0_1, Violated);
                self.drop_connection(now, conn, false);
            }
            (Phase::Authenticating { .. }, Packet::Auth(auth)) => self.handle_auth(now, at, auth),
            (Phase::Authenticating { .. }, _) => {
                self.reject_connect(now, at, ReasonCode::PROTOCOL_ERROR);
            }
            (Phase::Connected, packet) => self.handle_connected(now, at, packet),
        }
    }

    fn handle_connected(&mut self, now: Duration, at: At, packet: Packet) {
        match packet {
            Packet::Connect(_) => {
                self.cite(at, v3::MQTT_3_1_0_2, v5::MQTT_3_1_0_2, Violated);
                self.disconnect(now, at, ReasonCode::PROTOCOL_ERROR, "second CONNECT");
            }
            Packet::Publish(publish) => self.handle_publish(now, at, publish),
            Packet::Puback(ack) => self.handle_puback(now, at, ack),
            Packet::Pubrec(ack) => self.handle_pubrec(now, at, ack),
            Packet::Pubrel(ack) => self.handle_pubrel(now, at, ack),
            Packet::Pubcomp(ack) => self.handle_pubcomp(now, at, ack),
            Packet::Subscribe(subscribe) => self.handle_subscribe(now, at, subscribe),
            Packet::Unsubscribe(unsubscribe) => self.handle_unsubscribe(now, at, unsubscribe),
            Packet::Pingreq => {
                self.send(at, Packet::Pingresp);
                self.cite(at, v3::MQTT_3_12_4_1, v5::MQTT_3_12_4_1, Fulfilled);
            }
            Packet::Disconnect(disconnect) => self.handle_disconnect(now, at, disconnect),
            Packet::Auth(auth) => self.handle_reauth(now, at, auth),
            Packet::Connack(_) | Packet::Suback(_) | Packet::Unsuback(_) | Packet::Pingresp => {
                self.violation(now, at, None, ReasonCode::PROTOCOL_ERROR, "packet only a server sends");
            }
        }
    }

    fn handle_disconnect(&mut self, now: Duration, at: At, disconnect: Disconnect) {
        if at.version == Version::V5 {
            if let Some(expiry) = disconnect.properties.session_expiry_interval_secs {
                let was_zero = self.connections.get(&at.conn).is_some_and(|c| c.session_expiry_secs == 0);
                if was_zero && expiry != 0 {
                    self.violation(now, at, None, ReasonCode::PROTOCOL_ERROR, "session expiry was 0");
                    return;
                }
                let expiry = self.cap_session_expiry(expiry);
                if let Some(c) = self.connections.get_mut(&at.conn) {
                    c.session_expiry_secs = expiry;
                }
            }
        }
        let normal = disconnect.reason_code != ReasonCode::DISCONNECT_WITH_WILL_MESSAGE;
        self.drop_connection(now, at.conn, normal);
    }

    /// Caps a requested session expiry at `max_session_expiry_secs`.
    pub(crate) fn cap_session_expiry(&self, requested: u32) -> u32 {
        self.config.max_session_expiry_secs.map_or(requested, |max| requested.min(max))
    }

    fn fire_timers(&mut self, now: Duration) {
        let due: Vec<ConnectionId> =
            self.connections.iter().filter(|(_, c)| c.deadline.is_some_and(|d| now >= d)).map(|(id, _)| *id).collect();
        for conn in due {
            let Some(at) = self.at(conn) else { continue };
            let connected = self.connections.get(&conn).is_some_and(|c| c.is_connected());
            if connected && self.config.defects.keep_alive_not_enforced {
                // Defect: the silent client is left connected.
                if let Some(c) = self.connections.get_mut(&conn) {
                    c.deadline = None;
                }
            } else if connected {
                self.cite(at, v3::MQTT_3_1_2_24, v5::MQTT_3_1_2_22, Fulfilled);
                self.disconnect(now, at, ReasonCode::KEEP_ALIVE_TIMEOUT, "keep alive timeout");
            } else {
                self.drop_connection(now, conn, false);
            }
        }
        let wills: Vec<String> =
            self.pending_wills.iter().filter(|(_, w)| now >= w.due).map(|(id, _)| id.clone()).collect();
        for id in wills {
            if let Some(will) = self.pending_wills.remove(&id) {
                self.publish_will(now, will.at, will.message);
            }
        }
        let expired: Vec<String> = self
            .sessions
            .iter()
            .filter(|(id, s)| !self.online.contains_key(*id) && s.expires_at().is_some_and(|t| now >= t))
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            if let Some(will) = self.pending_wills.remove(&id) {
                self.publish_will(now, will.at, will.message);
            }
            if let Some(session) = self.sessions.remove(&id) {
                if session.version == Version::V5 {
                    self.cite_id(None, v5::MQTT_4_1_0_2, Fulfilled);
                }
                if session.inflight.iter().any(|m| m.delivery.shared) || session.queue.iter().any(|d| d.shared) {
                    self.cite_id(None, v5::MQTT_4_8_2_5, Fulfilled);
                }
            }
        }
        if let Some(at) = self.next_sys {
            if now >= at {
                self.publish_sys(now);
                let interval = Duration::from_secs(u64::from(self.config.sys_interval_secs.max(1)));
                let mut next = at + interval;
                while next <= now {
                    next += interval;
                }
                self.next_sys = Some(next);
            }
        }
    }

    fn publish_sys(&mut self, now: Duration) {
        for (topic, payload) in self.stats().sys_topics() {
            let Ok(topic) = TopicName::new(topic) else { continue };
            let message = Message {
                topic,
                payload: payload.into(),
                qos: crate::codec::Qos::AtMostOnce,
                retain: true,
                properties: Properties::default(),
                expires_at: None,
                publisher: None,
            };
            self.publish_message(now, None, message);
        }
    }
}

/// Statements the peer broke besides the one the decoder names: the
/// general rule behind a field-specific one (a wildcard in a topic name
/// breaks both the PUBLISH rule and the topic rule of 4.7), or the field
/// rule behind a string-encoding one.
fn related_statements(err: &DecodeError, version: Version) -> Vec<StatementId> {
    let v5 = version == Version::V5;
    let topic_field = |field: &str| matches!(field, "topic name" | "will topic" | "topic filter");
    let mut related = Vec::new();
    match err.kind {
        DecodeErrorKind::WildcardInTopicName if err.statement != Some(v5::MQTT_3_3_2_14) => {
            related.push(if v5 { v5::MQTT_4_7_0_1 } else { v3::MQTT_4_7_1_1 });
        }
        DecodeErrorKind::NullCharacter { field } if topic_field(field) => {
            related.push(if v5 { v5::MQTT_4_7_3_2 } else { v3::MQTT_4_7_3_2 });
        }
        DecodeErrorKind::InvalidUtf8 { field } | DecodeErrorKind::NullCharacter { field } => match (field, v5) {
            ("topic name", false) => related.push(v3::MQTT_3_3_2_1),
            ("topic name", true) => related.push(v5::MQTT_3_3_2_1),
            ("Response Topic", true) => related.push(v5::MQTT_3_3_2_13),
            ("Content Type", true) => related.push(v5::MQTT_3_3_2_19),
            ("User Property", true) => related.push(v5::MQTT_1_5_7_1),
            _ => {}
        },
        DecodeErrorKind::ReservedFlags { .. } if !v5 => related.push(v3::MQTT_2_2_2_1),
        _ => {}
    }
    related
}

/// Removes the reason string and user properties from a non-PUBLISH packet;
/// returns the statements that ask for it.
fn strip_diagnostics(packet: &mut Packet) -> Option<(StatementId, StatementId)> {
    let (properties, statements) = match packet {
        Packet::Connack(p) => (&mut p.properties, (v5::MQTT_3_2_2_19, v5::MQTT_3_2_2_20)),
        Packet::Puback(p) => (&mut p.properties, (v5::MQTT_3_4_2_2, v5::MQTT_3_4_2_3)),
        Packet::Pubrec(p) => (&mut p.properties, (v5::MQTT_3_5_2_2, v5::MQTT_3_5_2_3)),
        Packet::Pubrel(p) => (&mut p.properties, (v5::MQTT_3_6_2_2, v5::MQTT_3_6_2_3)),
        Packet::Pubcomp(p) => (&mut p.properties, (v5::MQTT_3_7_2_2, v5::MQTT_3_7_2_3)),
        Packet::Suback(p) => (&mut p.properties, (v5::MQTT_3_9_2_1, v5::MQTT_3_9_2_2)),
        Packet::Unsuback(p) => (&mut p.properties, (v5::MQTT_3_11_2_1, v5::MQTT_3_11_2_2)),
        Packet::Disconnect(p) => (&mut p.properties, (v5::MQTT_3_14_2_3, v5::MQTT_3_14_2_4)),
        Packet::Auth(p) => (&mut p.properties, (v5::MQTT_3_15_2_2, v5::MQTT_3_15_2_3)),
        _ => return None,
    };
    properties.reason_string = None;
    properties.user_properties.clear();
    Some(statements)
}

impl Server for Broker {
    fn handle_connection_opened(&mut self, now: Duration, conn: ConnectionId) {
        self.advance(now);
        self.counters.connections_total += 1;
        let mut c = Connection::new(conn);
        if self.config.connect_timeout_secs > 0 {
            c.deadline = Some(now + Duration::from_secs(u64::from(self.config.connect_timeout_secs)));
        }
        self.connections.insert(conn, c);
    }

    fn handle_bytes(&mut self, now: Duration, conn: ConnectionId, bytes: &[u8]) {
        self.advance(now);
        let Some(c) = self.connections.get_mut(&conn) else { return };
        c.buf.extend_from_slice(bytes);
        self.counters.bytes_received += bytes.len() as u64;
        let mut consumed = 0;
        while let Some(c) = self.connections.get_mut(&conn) {
            let options = DecodeOptions { version: c.version(), max_packet_size: self.config.max_packet_size as usize };
            match decode(&c.buf[consumed..], &options) {
                Ok(None) => break,
                Ok(Some((packet, n))) => {
                    consumed += n;
                    if let Some(grace) = c.keep_alive_grace {
                        c.deadline = Some(now + grace);
                    }
                    if matches!(packet, Packet::Publish(_)) {
                        self.counters.messages_received += 1;
                    }
                    self.handle_packet(now, conn, packet);
                }
                Err(err)
                    if self.config.defects.accept_malformed_utf8 && repair_topic_utf8(&mut c.buf[consumed..], &err) =>
                {
                    // Defect: the ill-formed topic is patched and decoded again.
                }
                Err(err) => {
                    self.handle_decode_error(now, conn, err);
                    break;
                }
            }
        }
        if let Some(c) = self.connections.get_mut(&conn) {
            c.buf.drain(..consumed.min(c.buf.len()));
        }
    }

    fn handle_connection_closed(&mut self, now: Duration, conn: ConnectionId) {
        self.advance(now);
        self.drop_connection(now, conn, false);
        // The driver already knows: no Close output for a closed connection.
        if let Some(pos) = self.outputs.iter().rposition(|o| *o == Output::Close { conn }) {
            self.outputs.remove(pos);
        }
    }

    fn handle_timeout(&mut self, now: Duration) {
        self.advance(now);
        self.fire_timers(now);
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    fn poll_timeout(&self) -> Option<Duration> {
        let connections = self.connections.values().filter_map(|c| c.deadline);
        let wills = self.pending_wills.values().map(|w| w.due);
        let sessions =
            self.sessions.iter().filter(|(id, _)| !self.online.contains_key(*id)).filter_map(|(_, s)| s.expires_at());
        connections.chain(wills).chain(sessions).chain(self.next_sys).min()
    }
}
