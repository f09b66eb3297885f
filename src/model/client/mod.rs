//! The scripted model client: a sans-IO MQTT 3.1.1 and 5.0 client state
//! machine, the client a simulation scenario drives.
//!
//! Owns: CONNECT and CONNACK handling, keep-alive (PINGREQ when idle, closing
//! when the server stops answering), packet id allocation, the outgoing QoS
//! 1/2 send window (min of our own `max_inflight` and the server's Receive
//! Maximum), the client side of the session (messages in flight, incoming
//! QoS 2 ids) and its resend with DUP after a reconnect, incoming topic
//! aliases, and the citation of the client-side statements it fulfils.
//!
//! Must not touch: sockets, clocks, randomness, `HashMap`. Time comes in as
//! `now` (the same scale as the broker's); the application calls
//! [`ModelClient::publish`] and friends at any time, the driver calls the
//! `handle_*` methods and drains [`ModelClient::poll_output`].
//!
//! # Layout
//! - `config`: [`ClientConfig`].
//! - `session`: the session state that outlives a connection.
//! - `connect`: opening, CONNACK, resend, keep-alive, closing.
//! - `publish`: outgoing and incoming PUBLISH flows.
//! - `subscribe`: SUBSCRIBE and UNSUBSCRIBE.
//!
//! # Choices the specification leaves open
//! - Application commands made while not connected are queued and sent
//!   after a successful CONNACK: SUBSCRIBE/UNSUBSCRIBE first (they never
//!   wait for the send window), then publishes in order. QoS 0 messages wait
//!   in the same queue, so per-client publish order is kept exactly.
//! - A SUBSCRIBE or UNSUBSCRIBE unanswered when the connection ends is sent
//!   again (with a new packet id) after the next CONNACK.
//! - When the server answers Session Present 0 while we hold session state,
//!   messages whose PUBLISH was sent but not acknowledged are sent again as
//!   new messages (new packet id, DUP 0), ahead of the queue; a QoS 2
//!   message whose PUBREC arrived is reported complete (the server owned it).
//! - Without a persistent session, a connection's end drops messages in
//!   flight (no event); messages never sent stay queued.
//! - Keep-alive: PINGREQ after `keep_alive` without sending anything; the
//!   connection is closed when nothing at all arrives within another
//!   `keep_alive` after it. CONNACK is awaited for `keep_alive` too (for
//!   ever when keep-alive is 0).

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;

use super::{Citation, CiteKind};
use crate::codec::{
    decode, encode, DecodeError, DecodeOptions, Disconnect, EncodeError, Packet, PacketId, PacketType, Properties, Qos,
    ReasonCode,
};
use crate::spec::{v3_1_1 as v3, v5, StatementId, Version};

mod config;
mod connect;
mod publish;
mod session;
mod subscribe;
#[cfg(test)]
mod tests;

pub use config::ClientConfig;

use connect::{Connection, Phase};
use session::{ClientSession, Command, Request};

use CiteKind::{Fulfilled, Violated};

/// Application messages a client queues before refusing new ones with
/// 0x97 (Quota exceeded).
pub const MAX_QUEUED_PUBLISHES: usize = 100_000;

/// What the client asks its driver (or tells its application).
// Events carry their properties inline (as the codec's packets do): outputs
// are drained at once, so boxing would add an allocation for no gain.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOutput {
    /// Write these bytes to the connection, in order.
    Transmit(Vec<u8>),
    /// Close the connection after writing what was queued before.
    Close,
    /// A client-side statement was cited (`conn` is `None`).
    Cite(Citation),
    /// Something for the application.
    Event(ClientEvent),
}

/// What the client tells its application.
// Delivered carries the PUBLISH properties inline; see [`ClientOutput`].
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// A CONNACK arrived (refusals too: see `reason_code`).
    Connected {
        /// Session Present.
        session_present: bool,
        /// The 3.1.1 return code or 5.0 reason code.
        reason_code: ReasonCode,
    },
    /// An application message was handed to the application. QoS 2 messages
    /// are delivered once, when the PUBLISH first arrives; a repeat with the
    /// same packet id before PUBREL is not delivered again.
    Delivered {
        /// The topic (a 5.0 topic alias is resolved).
        topic: String,
        /// The payload.
        payload: Bytes,
        /// The QoS it arrived with.
        qos: Qos,
        /// RETAIN as received.
        retain: bool,
        /// DUP as received.
        dup: bool,
        /// PUBLISH properties (5.0) without the Topic Alias.
        properties: Properties,
    },
    /// An outgoing message is done: PUBACK (QoS 1), PUBCOMP or an error
    /// PUBREC (QoS 2), or written (QoS 0). A message refused locally (5.0
    /// Maximum QoS, Retain Available or Maximum Packet Size of the server, or
    /// a full queue) completes with the matching reason code without being sent.
    PublishCompleted {
        /// The number [`ModelClient::publish`] returned.
        seq: u64,
        /// The acknowledgement's reason code (`SUCCESS` in 3.1.1).
        reason_code: ReasonCode,
    },
    /// A SUBACK arrived, one code per subscription.
    Subscribed {
        /// The codes as received.
        reason_codes: Vec<ReasonCode>,
    },
    /// An UNSUBACK arrived; in 3.1.1 (which has no codes) one `SUCCESS` per filter.
    Unsubscribed {
        /// The codes as received.
        reason_codes: Vec<ReasonCode>,
    },
    /// The connection ended.
    Disconnected {
        /// The reason code of the server's DISCONNECT (5.0); `None` when the
        /// connection ended without one (network, timeout, our own DISCONNECT).
        reason_code: Option<ReasonCode>,
    },
    /// The server broke the protocol; observed data, not an error of ours.
    ProtocolViolation {
        /// What was wrong.
        description: String,
    },
}

/// A sans-IO MQTT client for scripted scenarios.
///
/// The driver calls [`ModelClient::handle_connection_opened`] when a
/// connection is up, passes received bytes to [`ModelClient::handle_bytes`],
/// reports closes with [`ModelClient::handle_connection_closed`], drains
/// [`ModelClient::poll_output`] after every call, and calls
/// [`ModelClient::handle_timeout`] at [`ModelClient::poll_timeout`].
#[derive(Debug, Clone)]
pub struct ModelClient {
    config: ClientConfig,
    /// The identifier a 5.0 server assigned to our empty client id.
    assigned_client_id: Option<String>,
    conn: Connection,
    session: ClientSession,
    /// SUBSCRIBE/UNSUBSCRIBE not yet sent.
    commands: VecDeque<Command>,
    /// SUBSCRIBE/UNSUBSCRIBE sent and awaiting their acknowledgement.
    requests: Vec<Request>,
    next_seq: u64,
    outputs: VecDeque<ClientOutput>,
}

impl ModelClient {
    /// A client that is not connected and holds no state.
    pub fn new(config: ClientConfig) -> ModelClient {
        ModelClient {
            config,
            assigned_client_id: None,
            conn: Connection::default(),
            session: ClientSession::default(),
            commands: VecDeque::new(),
            requests: Vec::new(),
            next_seq: 1,
            outputs: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The configuration, to change what the next CONNECT carries (for
    /// example Clean Start). Changes take effect at the next connection.
    pub fn config_mut(&mut self) -> &mut ClientConfig {
        &mut self.config
    }

    /// Whether a successful CONNACK arrived on the current connection.
    pub fn is_connected(&self) -> bool {
        self.conn.phase == Phase::Connected
    }

    /// Outgoing QoS 1/2 messages in flight (sent, not complete).
    pub fn inflight_len(&self) -> usize {
        self.session.inflight.len()
    }

    /// Application messages queued and not yet sent.
    pub fn queued_len(&self) -> usize {
        self.session.pending.len()
    }

    /// The next thing for the driver or the application, if any.
    pub fn poll_output(&mut self) -> Option<ClientOutput> {
        self.outputs.pop_front()
    }

    /// Bytes arrived from the server (any split; partial packets are kept).
    /// Bytes arriving after the connection was closed are ignored.
    pub fn handle_bytes(&mut self, now: Duration, bytes: &[u8]) {
        if self.conn.phase == Phase::Closed {
            return;
        }
        self.conn.rx.extend_from_slice(bytes);
        let options = DecodeOptions::new(self.config.version);
        while self.conn.phase != Phase::Closed {
            match decode(&self.conn.rx, &options) {
                Ok(None) => break,
                Ok(Some((packet, consumed))) => {
                    self.conn.rx.drain(..consumed);
                    self.conn.response_due = None;
                    self.handle_packet(now, packet);
                }
                Err(error) => {
                    self.malformed(now, &error);
                    break;
                }
            }
        }
    }

    fn handle_packet(&mut self, now: Duration, packet: Packet) {
        let packet_type = packet.packet_type();
        match (self.conn.phase, packet) {
            (Phase::Closed, _) => {}
            (Phase::AwaitingConnack, Packet::Connack(connack)) => self.handle_connack(now, connack),
            (Phase::AwaitingConnack, _) => {
                self.cite(v3::MQTT_3_2_0_1, v5::MQTT_3_2_0_1, Violated);
                self.protocol_error(now, format!("{packet_type} arrived before CONNACK"), ReasonCode::PROTOCOL_ERROR);
            }
            (Phase::Connected, Packet::Connack(_)) => {
                self.cite5(v5::MQTT_3_2_0_2, Violated);
                self.protocol_error(now, "a second CONNACK arrived".to_string(), ReasonCode::PROTOCOL_ERROR);
            }
            (Phase::Connected, Packet::Publish(publish)) => self.handle_publish(now, publish),
            (Phase::Connected, Packet::Puback(ack)) => self.handle_puback(now, ack),
            (Phase::Connected, Packet::Pubrec(ack)) => self.handle_pubrec(now, ack),
            (Phase::Connected, Packet::Pubrel(ack)) => self.handle_pubrel(now, ack),
            (Phase::Connected, Packet::Pubcomp(ack)) => self.handle_pubcomp(now, ack),
            (Phase::Connected, Packet::Suback(suback)) => self.handle_suback(now, suback),
            (Phase::Connected, Packet::Unsuback(unsuback)) => self.handle_unsuback(now, unsuback),
            (Phase::Connected, Packet::Pingresp) => {}
            (Phase::Connected, Packet::Disconnect(disconnect)) if self.config.version == Version::V5 => {
                self.outputs.push_back(ClientOutput::Close);
                self.connection_ended(now, Some(disconnect.reason_code));
            }
            (Phase::Connected, Packet::Auth(_)) => {
                self.cite5(v5::MQTT_4_12_0_6, Violated);
                self.protocol_error(
                    now,
                    "AUTH without an authentication method".to_string(),
                    ReasonCode::PROTOCOL_ERROR,
                );
            }
            (Phase::Connected, _) => {
                let text = format!("the server sent {packet_type}, which only a client may send");
                self.protocol_error(now, text, ReasonCode::PROTOCOL_ERROR);
            }
        }
    }

    /// Bytes that are no valid packet: report, (5.0) DISCONNECT, close.
    fn malformed(&mut self, now: Duration, error: &DecodeError) {
        if let Some(statement) = error.statement {
            self.cite_id(statement, Violated);
        }
        let mut reason = error.reason_code();
        if !reason.valid_for(Version::V5, PacketType::Disconnect) {
            reason = ReasonCode::MALFORMED_PACKET;
        }
        self.protocol_error(now, format!("malformed packet from the server: {error}"), reason);
    }

    /// Reports a server violation and ends the connection: DISCONNECT with
    /// `reason` (5.0), then Close (3.1.1 MQTT-4.8.0-1, 5.0 MQTT-4.13.2-1).
    fn protocol_error(&mut self, now: Duration, description: String, reason: ReasonCode) {
        self.event(ClientEvent::ProtocolViolation { description });
        if self.config.version == Version::V5 {
            let disconnect = Disconnect { reason_code: reason, properties: Properties::default() };
            self.send(now, &Packet::Disconnect(disconnect));
            self.cite5(v5::MQTT_4_13_2_1, Fulfilled);
        }
        self.cite3(v3::MQTT_4_8_0_1, Fulfilled);
        self.close(now);
    }

    // ---- outputs ----

    fn event(&mut self, event: ClientEvent) {
        self.outputs.push_back(ClientOutput::Event(event));
    }

    /// Encodes `packet`, refusing (5.0) one over the server's Maximum Packet Size.
    fn encode(&mut self, packet: &Packet) -> Result<Vec<u8>, ReasonCode> {
        let mut bytes = Vec::new();
        encode(packet, self.config.version, &mut bytes).map_err(|e| match e {
            EncodeError::TooLarge(_) => ReasonCode::PACKET_TOO_LARGE,
            _ => ReasonCode::IMPLEMENTATION_SPECIFIC_ERROR,
        })?;
        if let Some(limit) = self.conn.server.maximum_packet_size {
            if bytes.len() > limit as usize {
                self.cite5(v5::MQTT_3_2_2_15, Fulfilled);
                return Err(ReasonCode::PACKET_TOO_LARGE);
            }
        }
        Ok(bytes)
    }

    /// Queues encoded bytes for the connection.
    fn transmit(&mut self, now: Duration, bytes: Vec<u8>) {
        self.conn.last_sent = now;
        if let Some(ClientOutput::Transmit(last)) = self.outputs.back_mut() {
            last.extend_from_slice(&bytes);
            return;
        }
        self.outputs.push_back(ClientOutput::Transmit(bytes));
    }

    /// Encodes and queues a control packet that always encodes (acknowledgements, PINGREQ, DISCONNECT).
    fn send(&mut self, now: Duration, packet: &Packet) {
        match self.encode(packet) {
            Ok(bytes) => self.transmit(now, bytes),
            Err(reason) => {
                debug_assert!(false, "{} did not encode: {reason}", packet.packet_type());
            }
        }
    }

    /// A packet id in use by no message in flight and no request (3.1.1
    /// MQTT-2.3.1-2, 5.0 MQTT-2.2.1-3); `None` when all 65,535 are taken.
    fn allocate_id(&mut self) -> Option<PacketId> {
        for _ in 0..u16::MAX {
            let id = self.session.next_id;
            self.session.next_id = id.next();
            let in_use = self.session.inflight.iter().any(|o| o.id() == id) || self.requests.iter().any(|r| r.id == id);
            if !in_use {
                self.cite(v3::MQTT_2_3_1_2, v5::MQTT_2_2_1_3, Fulfilled);
                return Some(id);
            }
        }
        None
    }

    // ---- citations ----

    fn cite_id(&mut self, statement: StatementId, kind: CiteKind) {
        self.outputs.push_back(ClientOutput::Cite(Citation { statement, kind, conn: None }));
    }

    /// Cites the 3.1.1 or the 5.0 statement, by the configured version.
    fn cite(&mut self, v3: StatementId, v5: StatementId, kind: CiteKind) {
        let statement = match self.config.version {
            Version::V3_1_1 => v3,
            Version::V5 => v5,
        };
        self.cite_id(statement, kind);
    }

    /// Cites a 5.0 statement if the client speaks 5.0.
    fn cite5(&mut self, v5: StatementId, kind: CiteKind) {
        if self.config.version == Version::V5 {
            self.cite_id(v5, kind);
        }
    }

    /// Cites a 3.1.1 statement if the client speaks 3.1.1.
    fn cite3(&mut self, v3: StatementId, kind: CiteKind) {
        if self.config.version == Version::V3_1_1 {
            self.cite_id(v3, kind);
        }
    }
}
