//! Connection phases: CONNECT on open, CONNACK (limits, session present,
//! resend with DUP), keep-alive, DISCONNECT and the end of a connection.

use std::collections::BTreeMap;
use std::time::Duration;

use super::session::{OutState, PendingPublish};
use super::{ClientEvent, ClientOutput, ModelClient};
use crate::codec::{
    Connack, Connect, Disconnect, Packet, Properties, PubResponse, Publish, Qos, ReasonCode, TopicName,
};
use crate::model::CiteKind::{Fulfilled, Violated};
use crate::spec::{v3_1_1 as v3, v5, Version};

/// Where the current connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Phase {
    /// No connection (never opened, or ended).
    #[default]
    Closed,
    /// CONNECT sent, CONNACK not yet received.
    AwaitingConnack,
    /// A successful CONNACK arrived.
    Connected,
}

/// What the server allows, from its 5.0 CONNACK (3.1.1: no limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ServerLimits {
    pub receive_maximum: u16,
    pub maximum_qos: Qos,
    pub retain_available: bool,
    pub maximum_packet_size: Option<u32>,
    pub topic_alias_maximum: u16,
}

impl Default for ServerLimits {
    fn default() -> ServerLimits {
        ServerLimits {
            receive_maximum: u16::MAX,
            maximum_qos: Qos::ExactlyOnce,
            retain_available: true,
            maximum_packet_size: None,
            topic_alias_maximum: 0,
        }
    }
}

/// State that lives exactly as long as one network connection.
#[derive(Debug, Clone, Default)]
pub(crate) struct Connection {
    pub phase: Phase,
    /// Received bytes not yet decoded.
    pub rx: Vec<u8>,
    /// Incoming topic aliases (5.0); never reused across connections (MQTT-3.3.2-7).
    pub aliases: BTreeMap<u16, TopicName>,
    /// The keep-alive in force (the server's, if it set one); zero is off.
    pub keep_alive: Duration,
    /// When we last wrote a packet.
    pub last_sent: Duration,
    /// When the connection is given up if nothing arrives (after CONNECT or PINGREQ).
    pub response_due: Option<Duration>,
    pub server: ServerLimits,
}

impl Connection {
    /// When the next PINGREQ is due, if keep-alive is on and none is outstanding.
    fn ping_due(&self) -> Option<Duration> {
        (self.phase == Phase::Connected && !self.keep_alive.is_zero() && self.response_due.is_none())
            .then(|| self.last_sent + self.keep_alive)
    }
}

impl ModelClient {
    /// A network connection is up: sends CONNECT (3.1.1 and 5.0 MQTT-3.1.0-1).
    /// A connection still open is ended first.
    pub fn handle_connection_opened(&mut self, now: Duration) {
        if self.conn.phase != Phase::Closed {
            self.connection_ended(now, None);
        }
        self.conn = Connection {
            phase: Phase::AwaitingConnack,
            keep_alive: Duration::from_secs(self.config.keep_alive_secs.into()),
            last_sent: now,
            ..Connection::default()
        };
        self.cite5(v5::MQTT_3_3_2_7, Fulfilled);
        let connect = self.connect_packet();
        let bytes = self.encode(&Packet::Connect(connect)).expect("the client configuration encodes as CONNECT");
        self.transmit(now, bytes);
        self.cite(v3::MQTT_3_1_0_1, v5::MQTT_3_1_0_1, Fulfilled);
        if !self.conn.keep_alive.is_zero() {
            self.conn.response_due = Some(now + self.conn.keep_alive);
        }
    }

    fn connect_packet(&self) -> Connect {
        let c = &self.config;
        let client_id = match (&self.assigned_client_id, c.client_id.is_empty()) {
            (Some(assigned), true) => assigned.clone(),
            _ => c.client_id.clone(),
        };
        let mut properties = Properties::default();
        let mut will = c.will.clone();
        if c.version == Version::V5 {
            properties.session_expiry_interval_secs = c.session_expiry_interval_secs;
            properties.receive_maximum = c.receive_maximum;
            properties.topic_alias_maximum = c.topic_alias_maximum;
        } else if let Some(will) = &mut will {
            will.properties = Properties::default();
        }
        Connect {
            version: c.version,
            clean_start: c.clean_start,
            keep_alive_secs: c.keep_alive_secs,
            properties,
            client_id,
            will,
            // 3.1.1 allows a password only with a user name (MQTT-3.1.2-22); 5.0 allows it alone.
            password: match c.version {
                Version::V3_1_1 => c.username.as_ref().and(c.password.clone()),
                Version::V5 => c.password.clone(),
            },
            username: c.username.clone(),
        }
    }

    pub(super) fn handle_connack(&mut self, now: Duration, connack: Connack) {
        let Connack { session_present, reason_code, properties } = connack;
        self.event(ClientEvent::Connected { session_present, reason_code });
        if !reason_code.is_success() {
            self.cite5(v5::MQTT_4_13_2_1, Fulfilled);
            self.close(now);
            return;
        }
        if session_present && self.config.clean_start {
            // We started clean, so we hold no session state the server could match.
            self.cite(v3::MQTT_3_2_2_1, v5::MQTT_3_2_2_2, Violated);
            self.cite5(v5::MQTT_3_2_2_4, Fulfilled);
            let text = "CONNACK has Session Present 1 for a Clean Start connection".to_string();
            self.protocol_error(now, text, ReasonCode::PROTOCOL_ERROR);
            return;
        }
        self.conn.phase = Phase::Connected;
        if self.config.version == Version::V5 {
            self.apply_connack_properties(&properties);
        }
        if session_present {
            self.resend_session(now);
        } else {
            self.discard_session();
        }
        self.flush_commands(now);
        self.pump(now);
    }

    fn apply_connack_properties(&mut self, p: &Properties) {
        if let Some(secs) = p.server_keep_alive_secs {
            self.conn.keep_alive = Duration::from_secs(secs.into());
            self.cite_id(v5::MQTT_3_1_2_21, Fulfilled);
            self.cite_id(v5::MQTT_3_2_2_21, Fulfilled);
        }
        self.conn.server = ServerLimits {
            receive_maximum: p.receive_maximum.unwrap_or(u16::MAX).max(1),
            maximum_qos: p.maximum_qos.and_then(Qos::from_u8).unwrap_or(Qos::ExactlyOnce),
            retain_available: p.retain_available != Some(0),
            maximum_packet_size: p.maximum_packet_size,
            topic_alias_maximum: p.topic_alias_maximum.unwrap_or(0),
        };
        if self.config.client_id.is_empty() {
            if let Some(assigned) = &p.assigned_client_identifier {
                self.assigned_client_id = Some(assigned.clone());
            }
        }
    }

    /// Session Present 1: resend every unacknowledged PUBLISH (DUP 1, same
    /// id) and PUBREL, in original order (3.1.1 and 5.0 MQTT-4.4.0-1).
    fn resend_session(&mut self, now: Duration) {
        if self.session.inflight.is_empty() {
            return;
        }
        for i in 0..self.session.inflight.len() {
            let outgoing = &self.session.inflight[i];
            let packet = match outgoing.state {
                OutState::AwaitingAck => Packet::Publish(Publish { dup: true, ..outgoing.publish.clone() }),
                OutState::AwaitingComp => Packet::Pubrel(PubResponse::new(outgoing.id())),
            };
            if let Packet::Publish(_) = packet {
                self.cite(v3::MQTT_3_3_1_1, v5::MQTT_3_3_1_1, Fulfilled);
            }
            self.send(now, &packet);
        }
        self.cite(v3::MQTT_4_4_0_1, v5::MQTT_4_4_0_1, Fulfilled);
        self.cite3(v3::MQTT_2_3_1_3, Fulfilled);
        self.cite(v3::MQTT_4_6_0_1, v5::MQTT_4_6_0_1, Fulfilled);
    }

    /// Session Present 0: drop session state (5.0 MQTT-3.2.2-5). Sent but
    /// unacknowledged messages go back to the front of the queue as new ones.
    fn discard_session(&mut self) {
        if !self.session.holds_state() {
            return;
        }
        self.cite5(v5::MQTT_3_2_2_5, Fulfilled);
        self.session.incoming_qos2.clear();
        let mut requeue = Vec::new();
        for outgoing in std::mem::take(&mut self.session.inflight) {
            match outgoing.state {
                OutState::AwaitingAck => requeue.push(PendingPublish::from_outgoing(outgoing)),
                OutState::AwaitingComp => {
                    self.event(ClientEvent::PublishCompleted { seq: outgoing.seq, reason_code: ReasonCode::SUCCESS });
                }
            }
        }
        for pending in requeue.into_iter().rev() {
            self.session.pending.push_front(pending);
        }
    }

    /// Sends DISCONNECT (with `reason` in 5.0; 0x04 keeps the will) and
    /// closes the connection (3.1.1 MQTT-3.14.4-1, 5.0 MQTT-3.14.4-2).
    /// Nothing happens when no connection is open.
    pub fn disconnect(&mut self, now: Duration, reason: ReasonCode) {
        if self.conn.phase == Phase::Closed {
            return;
        }
        let reason_code = if self.config.version == Version::V5 { reason } else { ReasonCode::SUCCESS };
        let disconnect = Disconnect { reason_code, properties: Properties::default() };
        self.send(now, &Packet::Disconnect(disconnect));
        self.cite(v3::MQTT_3_14_4_1, v5::MQTT_3_14_4_2, Fulfilled);
        self.cite(v3::MQTT_3_14_4_2, v5::MQTT_3_14_4_1, Fulfilled);
        self.close(now);
    }

    /// The network closed the connection (or the driver did, after our Close).
    pub fn handle_connection_closed(&mut self, now: Duration) {
        if self.conn.phase != Phase::Closed {
            self.connection_ended(now, None);
        }
    }

    /// Time passed: PINGREQ when idle for the keep-alive (3.1.1 MQTT-3.1.2-23,
    /// 5.0 MQTT-3.1.2-20); close when CONNACK or any answer to PINGREQ is overdue.
    pub fn handle_timeout(&mut self, now: Duration) {
        if self.conn.response_due.is_some_and(|due| due <= now) {
            self.close(now);
            return;
        }
        if self.conn.ping_due().is_some_and(|due| due <= now) {
            self.send(now, &Packet::Pingreq);
            self.cite(v3::MQTT_3_1_2_23, v5::MQTT_3_1_2_20, Fulfilled);
            self.conn.response_due = Some(now + self.conn.keep_alive);
        }
    }

    /// The earliest deadline (absolute, on the scale of `now`), if any.
    pub fn poll_timeout(&self) -> Option<Duration> {
        if self.conn.phase == Phase::Closed {
            return None;
        }
        match (self.conn.response_due, self.conn.ping_due()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// We end the connection: Close, then the end of the connection.
    pub(super) fn close(&mut self, now: Duration) {
        if self.conn.phase == Phase::Closed {
            return;
        }
        self.outputs.push_back(ClientOutput::Close);
        self.connection_ended(now, None);
    }

    /// The connection is over: per-connection state goes, unanswered
    /// SUBSCRIBE/UNSUBSCRIBE are queued again, and without a persistent
    /// session the messages in flight and incoming QoS 2 ids are dropped.
    pub(super) fn connection_ended(&mut self, _now: Duration, reason_code: Option<ReasonCode>) {
        self.conn.phase = Phase::Closed;
        self.conn.rx.clear();
        self.conn.aliases.clear();
        self.conn.response_due = None;
        for request in self.requests.drain(..).rev() {
            self.commands.push_front(request.command);
        }
        if !self.config.is_persistent() {
            self.session.inflight.clear();
            self.session.incoming_qos2.clear();
        } else {
            self.cite5(v5::MQTT_3_1_2_23, Fulfilled);
        }
        self.event(ClientEvent::Disconnected { reason_code });
    }
}
