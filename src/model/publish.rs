//! Application messages: incoming PUBLISH (topic aliases, limits, access,
//! QoS 1/2 acknowledgements, retained store), routing to sessions,
//! outgoing delivery through the inflight window, and the acknowledgements
//! of outgoing messages.

use std::time::Duration;

use super::broker::{At, Broker};
use super::config::{OverlapPolicy, Qos2Forward};
use super::connect::forwardable;
use super::retained::RetainOutcome;
use super::router::route;
use super::session::{Delivery, EnqueueOutcome, Inflight, InflightState, Message};
use super::CiteKind::{self, Checked, Fulfilled, Violated};
use super::ConnectionId;
use crate::codec::{Packet, Properties, PubResponse, Publish, Qos, QosPid, ReasonCode, TopicName};
use crate::spec::{v3_1_1 as v3, v5, StatementId, Version};

impl Broker {
    fn client_id_of(&self, conn: ConnectionId) -> String {
        self.connections.get(&conn).and_then(|c| c.client_id.clone()).unwrap_or_default()
    }

    /// Cites for a session's client: its connection if online, its version.
    pub(crate) fn cite_session(
        &mut self,
        client_id: &str,
        v3: Option<StatementId>,
        v5: Option<StatementId>,
        kind: CiteKind,
    ) {
        let Some(session) = self.sessions.get(client_id) else { return };
        let conn = self.online.get(client_id).copied();
        let statement = match session.version {
            Version::V3_1_1 => v3,
            Version::V5 => v5,
        };
        if let Some(statement) = statement {
            self.cite_id(conn, statement, kind);
        }
    }

    fn ack(
        &mut self,
        at: At,
        packet: fn(PubResponse) -> Packet,
        id: crate::codec::PacketId,
        code: ReasonCode,
        why: &str,
    ) {
        let mut response = PubResponse::new(id);
        if at.version == Version::V5 {
            response.reason_code = code;
            if code.is_error() || code == ReasonCode::PACKET_IDENTIFIER_NOT_FOUND {
                response.properties.reason_string = self.reason_string(at, why);
            }
        }
        self.send(at, packet(response));
    }

    pub(crate) fn handle_publish(&mut self, now: Duration, at: At, mut publish: Publish) {
        let conn = at.conn;
        let client_id = self.client_id_of(conn);
        if at.version == Version::V5 {
            if let Some(alias) = publish.properties.topic_alias.take() {
                if alias == 0 {
                    self.violation(now, at, Some(v5::MQTT_3_3_2_8), ReasonCode::TOPIC_ALIAS_INVALID, "topic alias 0");
                    return;
                }
                if alias > self.config.topic_alias_maximum {
                    let statement =
                        if self.config.topic_alias_maximum == 0 { v5::MQTT_3_2_2_18 } else { v5::MQTT_3_2_2_17 };
                    self.violation(
                        now,
                        at,
                        Some(statement),
                        ReasonCode::TOPIC_ALIAS_INVALID,
                        "topic alias above maximum",
                    );
                    return;
                }
                if self.config.defects.ignore_topic_alias {
                    // Defect: the alias is neither recorded nor resolved; a
                    // PUBLISH with only an alias is dropped silently.
                    if publish.topic.is_empty() {
                        return;
                    }
                } else {
                    self.cite5(at, v5::MQTT_3_3_2_12, Checked);
                    let Some(c) = self.connections.get_mut(&conn) else { return };
                    if publish.topic.is_empty() {
                        match c.aliases_in.get(&alias) {
                            Some(topic) => publish.topic = topic.clone(),
                            None => {
                                self.violation(now, at, None, ReasonCode::PROTOCOL_ERROR, "unknown topic alias");
                                return;
                            }
                        }
                    } else {
                        c.aliases_in.insert(alias, publish.topic.clone());
                    }
                }
            } else if publish.topic.is_empty() {
                self.violation(now, at, None, ReasonCode::PROTOCOL_ERROR, "empty topic without alias");
                return;
            }
            if publish.qos() > self.config.maximum_qos {
                self.violation(now, at, Some(v5::MQTT_3_2_2_11), ReasonCode::QOS_NOT_SUPPORTED, "QoS not supported");
                return;
            }
            if publish.retain && !self.config.retain_available {
                self.violation(
                    now,
                    at,
                    Some(v5::MQTT_3_2_2_14),
                    ReasonCode::RETAIN_NOT_SUPPORTED,
                    "retain not supported",
                );
                return;
            }
            if !publish.properties.subscription_identifiers.is_empty() {
                self.violation(
                    now,
                    at,
                    Some(v5::MQTT_3_3_4_6),
                    ReasonCode::PROTOCOL_ERROR,
                    "subscription identifier in PUBLISH",
                );
                return;
            }
        }
        if let QosPid::ExactlyOnce(id) = publish.qos_pid {
            let Some(session) = self.sessions.get(&client_id) else { return };
            if session.incoming_qos2.contains_key(&id) {
                self.cite(at, v3::MQTT_4_3_3_2, v5::MQTT_4_3_3_10, Fulfilled);
                self.ack(at, Packet::Pubrec, id, ReasonCode::SUCCESS, "");
                return;
            }
            if session.incoming_qos2.len() >= usize::from(self.config.receive_maximum) {
                self.cite5(at, v5::MQTT_3_3_4_7, Violated);
                self.violation(now, at, None, ReasonCode::RECEIVE_MAXIMUM_EXCEEDED, "receive maximum exceeded");
                return;
            }
            self.cite5(at, v5::MQTT_3_3_4_7, Checked);
        }
        let username = self.connections.get(&conn).and_then(|c| c.username.clone());
        let allowed = self.config.may_publish(username.as_deref(), &publish.topic);
        let qos = publish.qos();
        let message = Message {
            topic: publish.topic,
            payload: publish.payload,
            qos,
            retain: publish.retain,
            properties: forwardable(&publish.properties),
            expires_at: publish
                .properties
                .message_expiry_interval_secs
                .map(|s| now + Duration::from_secs(u64::from(s))),
            publisher: Some(client_id.clone()),
        };
        if !allowed {
            self.cite3(at, v3::MQTT_3_3_5_2, Fulfilled);
            let code = if at.version == Version::V5 { ReasonCode::NOT_AUTHORIZED } else { ReasonCode::SUCCESS };
            match publish.qos_pid {
                QosPid::AtMostOnce => {}
                QosPid::AtLeastOnce(id) => {
                    self.ack(at, Packet::Puback, id, code, "not authorized");
                    self.cite5(at, v5::MQTT_3_4_2_1, Fulfilled);
                }
                QosPid::ExactlyOnce(id) => {
                    if at.version == Version::V3_1_1 {
                        if let Some(session) = self.sessions.get_mut(&client_id) {
                            session.incoming_qos2.insert(id, None);
                        }
                    } else {
                        self.cite5(at, v5::MQTT_4_3_3_9, Fulfilled);
                    }
                    self.ack(at, Packet::Pubrec, id, code, "not authorized");
                    self.cite5(at, v5::MQTT_3_5_2_1, Fulfilled);
                }
            }
            return;
        }
        match publish.qos_pid {
            QosPid::AtMostOnce => {
                self.publish_message(now, Some(at), message);
            }
            QosPid::AtLeastOnce(id) => {
                let matched = self.publish_message(now, Some(at), message);
                let code = if matched { ReasonCode::SUCCESS } else { ReasonCode::NO_MATCHING_SUBSCRIBERS };
                self.ack(at, Packet::Puback, id, code, "");
                self.cite(at, v3::MQTT_3_3_4_1, v5::MQTT_3_3_4_1, Fulfilled);
                self.cite(at, v3::MQTT_4_3_2_2, v5::MQTT_4_3_2_4, Fulfilled);
                self.cite(at, v3::MQTT_2_3_1_6, v5::MQTT_2_2_1_5, Fulfilled);
                self.cite5(at, v5::MQTT_3_4_2_1, Fulfilled);
                self.cite5(at, v5::MQTT_4_3_2_5, Fulfilled);
            }
            QosPid::ExactlyOnce(id) => {
                let (stored, code) = match self.config.qos2_forward {
                    Qos2Forward::OnPublish => {
                        let matched = self.publish_message(now, Some(at), message);
                        (None, if matched { ReasonCode::SUCCESS } else { ReasonCode::NO_MATCHING_SUBSCRIBERS })
                    }
                    Qos2Forward::OnPubrel => (Some(message), ReasonCode::SUCCESS),
                };
                if let Some(session) = self.sessions.get_mut(&client_id) {
                    session.incoming_qos2.insert(id, stored);
                }
                self.ack(at, Packet::Pubrec, id, code, "");
                self.cite(at, v3::MQTT_3_3_4_1, v5::MQTT_3_3_4_1, Fulfilled);
                self.cite(at, v3::MQTT_4_3_3_2, v5::MQTT_4_3_3_8, Fulfilled);
                self.cite(at, v3::MQTT_2_3_1_6, v5::MQTT_2_2_1_5, Fulfilled);
                self.cite5(at, v5::MQTT_3_5_2_1, Fulfilled);
            }
        }
    }

    pub(crate) fn handle_pubrel(&mut self, now: Duration, at: At, ack: PubResponse) {
        let client_id = self.client_id_of(at.conn);
        let stored = self.sessions.get_mut(&client_id).and_then(|s| s.incoming_qos2.remove(&ack.packet_id));
        match stored {
            Some(message) => {
                if let Some(message) = message {
                    self.publish_message(now, Some(at), message);
                }
                self.ack(at, Packet::Pubcomp, ack.packet_id, ReasonCode::SUCCESS, "");
                self.cite(at, v3::MQTT_4_3_3_2, v5::MQTT_4_3_3_11, Fulfilled);
                self.cite5(at, v5::MQTT_4_3_3_12, Fulfilled);
                self.cite5(at, v5::MQTT_4_3_3_13, Fulfilled);
            }
            None => {
                self.ack(
                    at,
                    Packet::Pubcomp,
                    ack.packet_id,
                    ReasonCode::PACKET_IDENTIFIER_NOT_FOUND,
                    "packet identifier not found",
                );
            }
        }
        self.cite5(at, v5::MQTT_3_7_2_1, Fulfilled);
        self.cite5(at, v5::MQTT_2_2_1_5, Fulfilled);
    }

    pub(crate) fn handle_puback(&mut self, now: Duration, at: At, ack: PubResponse) {
        self.complete(now, at, ack, InflightState::AwaitPuback);
    }

    pub(crate) fn handle_pubcomp(&mut self, now: Duration, at: At, ack: PubResponse) {
        self.complete(now, at, ack, InflightState::AwaitPubcomp);
    }

    /// PUBACK or PUBCOMP: the exchange is over and the window slot frees up.
    fn complete(&mut self, now: Duration, at: At, ack: PubResponse, state: InflightState) {
        let client_id = self.client_id_of(at.conn);
        let Some(session) = self.sessions.get_mut(&client_id) else { return };
        let Some(i) = session.inflight.iter().position(|m| m.packet_id == ack.packet_id && m.state == state) else {
            return;
        };
        let done = session.inflight.remove(i);
        if state == InflightState::AwaitPuback {
            self.cite(at, v3::MQTT_4_3_2_1, v5::MQTT_4_3_2_3, Fulfilled);
            if ack.reason_code.is_error() {
                self.cite5(at, v5::MQTT_4_4_0_2, Fulfilled);
                if done.is_some_and(|m| m.delivery.shared) {
                    self.cite5(at, v5::MQTT_4_8_2_6, Fulfilled);
                }
            }
        } else {
            self.cite(at, v3::MQTT_4_3_3_1, v5::MQTT_4_3_3_5, Fulfilled);
        }
        self.cite(at, v3::MQTT_2_3_1_4, v5::MQTT_4_9_0_2, Fulfilled);
        self.flush(now, &client_id);
    }

    pub(crate) fn handle_pubrec(&mut self, now: Duration, at: At, ack: PubResponse) {
        let client_id = self.client_id_of(at.conn);
        let Some(session) = self.sessions.get_mut(&client_id) else { return };
        let found =
            session.inflight.iter().position(|m| m.packet_id == ack.packet_id && m.state == InflightState::AwaitPubrec);
        let Some(i) = found else {
            self.ack(
                at,
                Packet::Pubrel,
                ack.packet_id,
                ReasonCode::PACKET_IDENTIFIER_NOT_FOUND,
                "packet identifier not found",
            );
            self.cite5(at, v5::MQTT_3_6_2_1, Fulfilled);
            return;
        };
        if ack.reason_code.is_error() {
            let done = session.inflight.remove(i);
            self.cite5(at, v5::MQTT_4_3_3_3, Fulfilled);
            self.cite5(at, v5::MQTT_4_4_0_2, Fulfilled);
            if done.is_some_and(|m| m.delivery.shared) {
                self.cite5(at, v5::MQTT_4_8_2_6, Fulfilled);
            }
            self.flush(now, &client_id);
            return;
        }
        session.inflight[i].state = InflightState::AwaitPubcomp;
        self.cite5(at, v5::MQTT_4_3_3_3, Fulfilled);
        self.send(at, Packet::Pubrel(PubResponse::new(ack.packet_id)));
        self.cite(at, v3::MQTT_4_3_3_1, v5::MQTT_4_3_3_4, Fulfilled);
        self.cite(at, v3::MQTT_2_3_1_6, v5::MQTT_2_2_1_5, Fulfilled);
        self.cite5(at, v5::MQTT_3_6_2_1, Fulfilled);
        self.cite5(at, v5::MQTT_4_3_3_6, Fulfilled);
    }

    /// Stores a retained message (if RETAIN) and routes `message` to every
    /// matching session. `from` is the publisher's connection (none for
    /// wills and `$SYS`). Returns whether any subscription matched.
    pub(crate) fn publish_message(&mut self, now: Duration, from: Option<At>, message: Message) -> bool {
        if message.retain {
            if self.config.retain_available {
                let outcome = self.retained.store(&message, self.config.max_retained_messages);
                if let Some(at) = from {
                    match outcome {
                        RetainOutcome::Stored => {
                            self.cite(at, v3::MQTT_3_3_1_5, v5::MQTT_3_3_1_5, Fulfilled);
                            if message.qos == Qos::AtMostOnce {
                                self.cite3(at, v3::MQTT_3_3_1_7, Fulfilled);
                            }
                        }
                        RetainOutcome::Cleared => {
                            self.cite(at, v3::MQTT_3_3_1_10, v5::MQTT_3_3_1_6, Fulfilled);
                            self.cite(at, v3::MQTT_3_3_1_11, v5::MQTT_3_3_1_7, Fulfilled);
                        }
                        RetainOutcome::Full => {}
                    }
                }
            }
        } else if let Some(at) = from {
            self.cite(at, v3::MQTT_3_3_1_12, v5::MQTT_3_3_1_8, Fulfilled);
        }
        let online = &self.online;
        let routing = route(
            &self.sessions,
            &|id: &str| online.contains_key(id),
            &message,
            self.config.overlap,
            &mut self.share_cursors,
            self.config.defects,
        );
        for version in routing.dollar_guarded {
            let statement = if version == Version::V5 { v5::MQTT_4_7_2_1 } else { v3::MQTT_4_7_2_1 };
            self.cite_id(None, statement, Fulfilled);
        }
        if routing.no_local_skips > 0 {
            if let Some(at) = from {
                self.cite_id(Some(at.conn), v5::MQTT_3_8_3_3, Fulfilled);
            }
        }
        let matched = !routing.deliveries.is_empty();
        let overlapping = routing.overlapping;
        let downgraded =
            self.config.defects.downgrade_overlapping_qos && self.config.overlap == OverlapPolicy::SingleMaxQos;
        for (client_id, delivery) in routing.deliveries {
            if overlapping > 0 && !downgraded {
                self.cite_session(&client_id, Some(v3::MQTT_3_3_5_1), Some(v5::MQTT_3_3_4_2), Fulfilled);
            }
            self.deliver(now, &client_id, delivery, false);
        }
        matched
    }

    /// Adds a delivery to a session and sends what the window allows.
    pub(crate) fn deliver(&mut self, now: Duration, client_id: &str, delivery: Delivery, on_subscribe: bool) {
        let limit = self.config.max_queued_messages_per_session;
        let qos = delivery.qos;
        let (retain, published_retain) = (delivery.retain, delivery.message.retain);
        let ids = delivery.subscription_ids.len();
        let Some(session) = self.sessions.get_mut(client_id) else { return };
        let outcome = session.enqueue(delivery, limit, now);
        let online = self.online.contains_key(client_id);
        self.cite_session(client_id, Some(v3::MQTT_4_5_0_1), Some(v5::MQTT_4_5_0_1), Fulfilled);
        self.cite_session(client_id, Some(v3::MQTT_3_8_4_6), Some(v5::MQTT_3_8_4_8), Fulfilled);
        self.cite_session(client_id, None, Some(v5::MQTT_4_8_2_3), Fulfilled);
        self.cite_session(client_id, Some(v3::MQTT_3_3_2_3), Some(v5::MQTT_3_3_2_3), Fulfilled);
        self.cite_session(client_id, Some(v3::MQTT_4_7_3_4), Some(v5::MQTT_4_7_3_4), Fulfilled);
        self.cite_session(client_id, Some(v3::MQTT_4_6_0_5), Some(v5::MQTT_4_6_0_5), Fulfilled);
        self.cite_session(client_id, Some(v3::MQTT_4_6_0_6), Some(v5::MQTT_4_6_0_6), Fulfilled);
        if !on_subscribe {
            if !retain {
                self.cite_session(client_id, Some(v3::MQTT_3_3_1_9), None, Fulfilled);
            }
            if published_retain {
                let statement = if retain { v5::MQTT_3_3_1_13 } else { v5::MQTT_3_3_1_12 };
                self.cite_session(client_id, None, Some(statement), Fulfilled);
            }
        }
        if ids > 0 {
            self.cite_session(client_id, None, Some(v5::MQTT_3_3_4_3), Fulfilled);
            match self.config.overlap {
                OverlapPolicy::SingleMaxQos => self.cite_session(client_id, None, Some(v5::MQTT_3_3_4_4), Fulfilled),
                OverlapPolicy::PerSubscription => self.cite_session(client_id, None, Some(v5::MQTT_3_3_4_5), Fulfilled),
            }
        }
        if !online && qos != Qos::AtMostOnce {
            self.cite_session(client_id, Some(v3::MQTT_3_1_2_5), None, Fulfilled);
        }
        match outcome {
            EnqueueOutcome::Queued => {}
            EnqueueOutcome::QueuedDroppingQos0 | EnqueueOutcome::Refused => self.counters.messages_dropped += 1,
        }
        if online {
            self.flush(now, client_id);
        }
    }

    /// Sends queued messages while the inflight window has room.
    pub(crate) fn flush(&mut self, now: Duration, client_id: &str) {
        let Some(&conn) = self.online.get(client_id) else { return };
        let Some(c) = self.connections.get(&conn) else { return };
        let at = At { conn, version: c.version() };
        let window = match at.version {
            Version::V5 => self.config.max_inflight.min(c.client_receive_maximum),
            Version::V3_1_1 => self.config.max_inflight,
        }
        .max(1) as usize;
        loop {
            let Some(session) = self.sessions.get_mut(client_id) else { return };
            let Some(front) = session.queue.front() else { return };
            if front.message.expired(now) {
                session.queue.pop_front();
                self.counters.messages_dropped += 1;
                self.cite5(at, v5::MQTT_3_3_2_5, Fulfilled);
                continue;
            }
            if front.qos != Qos::AtMostOnce && session.inflight.len() >= window {
                self.cite5(at, v5::MQTT_3_3_4_9, Fulfilled);
                self.cite5(at, v5::MQTT_4_9_0_2, Fulfilled);
                self.cite5(at, v5::MQTT_3_3_4_10, Fulfilled);
                self.cite5(at, v5::MQTT_4_9_0_3, Fulfilled);
                return;
            }
            let Some(delivery) = session.queue.pop_front() else { return };
            if delivery.qos == Qos::AtMostOnce {
                self.send_publish(now, at, &delivery, None, false);
                continue;
            }
            let Some(id) = session.allocate_packet_id() else {
                session.queue.push_front(delivery);
                return;
            };
            let state =
                if delivery.qos == Qos::AtLeastOnce { InflightState::AwaitPuback } else { InflightState::AwaitPubrec };
            if self.send_publish(now, at, &delivery, Some(id), false) {
                self.cite5(at, v5::MQTT_2_2_1_4, Fulfilled);
                self.cite5(at, v5::MQTT_4_9_0_1, Fulfilled);
                if let Some(session) = self.sessions.get_mut(client_id) {
                    session.inflight.push_back(Inflight { packet_id: id, delivery, state });
                }
            }
        }
    }

    /// Builds and sends one outgoing PUBLISH. Returns false when it was not
    /// sent (over the client's Maximum Packet Size: treated as delivered).
    pub(crate) fn send_publish(
        &mut self,
        now: Duration,
        at: At,
        delivery: &Delivery,
        id: Option<crate::codec::PacketId>,
        dup: bool,
    ) -> bool {
        let Some(c) = self.connections.get(&at.conn) else { return false };
        let qos_pid = QosPid::from_parts(delivery.qos, id).unwrap_or(QosPid::AtMostOnce);
        let mut topic = delivery.message.topic.clone();
        let mut properties = Properties::default();
        let mut new_alias = None;
        let mut alias_used = false;
        let mut alias_refused = false;
        if at.version == Version::V5 {
            properties = delivery.message.properties.clone();
            properties.message_expiry_interval_secs = delivery.message.remaining_expiry_secs(now);
            properties.subscription_identifiers = delivery.subscription_ids.clone();
            if self.config.outgoing_topic_aliases {
                if c.client_topic_alias_maximum == 0 {
                    alias_refused = true;
                } else if let Some(&alias) = c.aliases_out.get(topic.as_str()) {
                    properties.topic_alias = Some(alias);
                    topic = TopicName::new("").unwrap_or(topic);
                    alias_used = true;
                } else if c.aliases_out.len() < usize::from(c.client_topic_alias_maximum) {
                    let alias = c.aliases_out.len() as u16 + 1;
                    properties.topic_alias = Some(alias);
                    new_alias = Some(alias);
                    alias_used = true;
                }
            }
        }
        // Defect: a resend goes out with DUP 0.
        let dup_flag = dup && !self.config.defects.no_dup_on_resend;
        let publish = Publish {
            dup: dup_flag && delivery.qos != Qos::AtMostOnce,
            qos_pid,
            retain: delivery.retain,
            topic,
            properties,
            payload: delivery.message.payload.clone(),
        };
        let p = &publish.properties;
        let (pfi, ct, rt, cd, up, exp) = (
            p.payload_format_indicator.is_some(),
            p.content_type.is_some(),
            p.response_topic.is_some(),
            p.correlation_data.is_some(),
            !p.user_properties.is_empty(),
            p.message_expiry_interval_secs.is_some(),
        );
        if !self.send(at, Packet::Publish(publish)) {
            return false;
        }
        if let (Some(alias), Some(c)) = (new_alias, self.connections.get_mut(&at.conn)) {
            c.aliases_out.insert(delivery.message.topic.as_str().to_string(), alias);
        }
        self.cite(at, v3::MQTT_3_3_1_3, v5::MQTT_3_3_1_3, Fulfilled);
        match delivery.qos {
            Qos::AtMostOnce => {
                self.cite(at, v3::MQTT_4_3_1_1, v5::MQTT_4_3_1_1, Fulfilled);
                self.cite(at, v3::MQTT_3_3_1_2, v5::MQTT_3_3_1_2, Fulfilled);
            }
            Qos::AtLeastOnce if !dup => {
                self.cite(at, v3::MQTT_4_3_2_1, v5::MQTT_4_3_2_1, Fulfilled);
                self.cite5(at, v5::MQTT_4_3_2_2, Fulfilled);
            }
            Qos::ExactlyOnce if !dup => {
                self.cite(at, v3::MQTT_4_3_3_1, v5::MQTT_4_3_3_1, Fulfilled);
                self.cite5(at, v5::MQTT_4_3_3_2, Fulfilled);
            }
            _ => {}
        }
        if at.version == Version::V5 {
            let cites = [
                (pfi, v5::MQTT_3_3_2_4),
                (ct, v5::MQTT_3_3_2_20),
                (rt, v5::MQTT_3_3_2_15),
                (cd, v5::MQTT_3_3_2_16),
                (up, v5::MQTT_3_3_2_17),
                (up, v5::MQTT_3_3_2_18),
                (exp, v5::MQTT_3_3_2_6),
                (alias_used, v5::MQTT_3_3_2_11),
                (alias_used, v5::MQTT_3_1_2_26),
                (alias_refused, v5::MQTT_3_1_2_27),
            ];
            for (applies, statement) in cites {
                if applies {
                    self.cite_id(Some(at.conn), statement, Fulfilled);
                }
            }
        }
        true
    }
}
