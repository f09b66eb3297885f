//! PUBLISH in both directions: the application's publish command, the send
//! window, PUBACK/PUBREC/PUBCOMP for our messages, and incoming messages
//! with their PUBACK, PUBREC/PUBREL/PUBCOMP and topic aliases.

use std::time::Duration;

use bytes::Bytes;

use super::connect::Phase;
use super::session::{OutState, Outgoing, PendingPublish};
use super::{ClientEvent, ModelClient, MAX_QUEUED_PUBLISHES};
use crate::codec::{Packet, Properties, PubResponse, Publish, Qos, QosPid, ReasonCode, TopicName};
use crate::model::CiteKind::{Checked, Fulfilled, Violated};
use crate::spec::{v3_1_1 as v3, v5, Version};

impl ModelClient {
    /// Publishes an application message; returns its sequence number
    /// (unique per client, from 1), which [`ClientEvent::PublishCompleted`]
    /// reports. The message waits in order while the client is not
    /// connected or the send window is full.
    pub fn publish(
        &mut self,
        now: Duration,
        topic: TopicName,
        payload: Bytes,
        qos: Qos,
        retain: bool,
        properties: Properties,
    ) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.session.pending.len() >= MAX_QUEUED_PUBLISHES {
            self.event(ClientEvent::PublishCompleted { seq, reason_code: ReasonCode::QUOTA_EXCEEDED });
            return seq;
        }
        self.session.pending.push_back(PendingPublish { seq, topic, payload, qos, retain, properties });
        self.pump(now);
        seq
    }

    /// The QoS 1/2 send window: min(max_inflight, the server's Receive Maximum).
    fn window(&self) -> usize {
        self.config.own_window().min(self.conn.server.receive_maximum).into()
    }

    /// Sends queued messages in order while connected and the window allows.
    pub(super) fn pump(&mut self, now: Duration) {
        while self.conn.phase == Phase::Connected {
            let Some(front) = self.session.pending.front() else { break };
            let mut id = None;
            if front.qos != Qos::AtMostOnce {
                if self.session.inflight.len() >= self.window() {
                    if self.session.inflight.len() >= self.conn.server.receive_maximum.into() {
                        self.cite5(v5::MQTT_3_3_4_7, Fulfilled);
                    }
                    break;
                }
                id = self.allocate_id();
                if id.is_none() {
                    break;
                }
            }
            let pending = self.session.pending.pop_front().expect("front exists");
            self.send_new(now, pending, id);
        }
    }

    /// The first transmission of a message (`id` for QoS 1/2).
    fn send_new(&mut self, now: Duration, pending: PendingPublish, id: Option<crate::codec::PacketId>) {
        let PendingPublish { seq, topic, payload, qos, retain, mut properties } = pending;
        let refuse = |client: &mut ModelClient, reason_code| {
            client.event(ClientEvent::PublishCompleted { seq, reason_code });
        };
        if self.config.version == Version::V3_1_1 {
            properties = Properties::default();
        } else {
            let server = self.conn.server;
            if qos > server.maximum_qos {
                self.cite_id(v5::MQTT_3_2_2_11, Fulfilled);
                return refuse(self, ReasonCode::QOS_NOT_SUPPORTED);
            }
            if retain && !server.retain_available {
                self.cite_id(v5::MQTT_3_2_2_14, Fulfilled);
                return refuse(self, ReasonCode::RETAIN_NOT_SUPPORTED);
            }
            if !properties.subscription_identifiers.is_empty() {
                properties.subscription_identifiers.clear();
                self.cite_id(v5::MQTT_3_3_4_6, Fulfilled);
            }
            if let Some(alias) = properties.topic_alias {
                if alias == 0 || alias > server.topic_alias_maximum {
                    properties.topic_alias = None;
                    self.cite_id(v5::MQTT_3_3_2_8, Fulfilled);
                    self.cite_id(v5::MQTT_3_3_2_9, Fulfilled);
                    self.cite_id(v5::MQTT_3_2_2_17, Fulfilled);
                    if topic.is_empty() {
                        return refuse(self, ReasonCode::TOPIC_ALIAS_INVALID);
                    }
                }
            }
        }
        let qos_pid = QosPid::from_parts(qos, id).expect("QoS 1/2 messages have a packet id");
        let publish = Publish { dup: false, qos_pid, retain, topic, properties, payload };
        let packet = Packet::Publish(publish);
        let bytes = match self.encode(&packet) {
            Ok(bytes) => bytes,
            Err(reason_code) => return refuse(self, reason_code),
        };
        self.transmit(now, bytes);
        let Packet::Publish(publish) = packet else { unreachable!("built as PUBLISH") };
        match qos {
            Qos::AtMostOnce => {
                self.cite(v3::MQTT_4_3_1_1, v5::MQTT_4_3_1_1, Fulfilled);
                self.event(ClientEvent::PublishCompleted { seq, reason_code: ReasonCode::SUCCESS });
            }
            Qos::AtLeastOnce => {
                self.cite(v3::MQTT_4_3_2_1, v5::MQTT_4_3_2_1, Fulfilled);
                self.cite5(v5::MQTT_4_3_2_2, Fulfilled);
                self.session.inflight.push(Outgoing { seq, publish, state: OutState::AwaitingAck });
            }
            Qos::ExactlyOnce => {
                self.cite(v3::MQTT_4_3_3_1, v5::MQTT_4_3_3_1, Fulfilled);
                self.cite5(v5::MQTT_4_3_3_2, Fulfilled);
                self.session.inflight.push(Outgoing { seq, publish, state: OutState::AwaitingAck });
            }
        }
    }

    /// Completes the in-flight message at `index`, freeing its packet id.
    fn complete(&mut self, now: Duration, index: usize, reason_code: ReasonCode) {
        let outgoing = self.session.inflight.remove(index);
        self.event(ClientEvent::PublishCompleted { seq: outgoing.seq, reason_code });
        self.pump(now);
    }

    pub(super) fn handle_puback(&mut self, now: Duration, ack: PubResponse) {
        let index = self
            .session
            .find(ack.packet_id, OutState::AwaitingAck)
            .filter(|&i| self.session.inflight[i].publish.qos() == Qos::AtLeastOnce);
        let Some(index) = index else {
            let description = format!("PUBACK for packet id {} which awaits none", ack.packet_id);
            return self.event(ClientEvent::ProtocolViolation { description });
        };
        self.cite5(v5::MQTT_4_3_2_3, Fulfilled);
        if ack.reason_code.is_error() {
            self.cite5(v5::MQTT_4_4_0_2, Fulfilled);
        }
        self.complete(now, index, ack.reason_code);
    }

    pub(super) fn handle_pubrec(&mut self, now: Duration, ack: PubResponse) {
        let id = ack.packet_id;
        let awaiting = self
            .session
            .find(id, OutState::AwaitingAck)
            .filter(|&i| self.session.inflight[i].publish.qos() == Qos::ExactlyOnce);
        if let Some(index) = awaiting {
            self.cite5(v5::MQTT_4_3_3_3, Fulfilled);
            if ack.reason_code.is_error() {
                self.cite5(v5::MQTT_4_4_0_2, Fulfilled);
                return self.complete(now, index, ack.reason_code);
            }
            self.session.inflight[index].state = OutState::AwaitingComp;
            self.send(now, &Packet::Pubrel(PubResponse::new(id)));
            self.cite(v3::MQTT_4_3_3_1, v5::MQTT_4_3_3_4, Fulfilled);
            self.cite5(v5::MQTT_4_3_3_5, Fulfilled);
            self.cite5(v5::MQTT_4_3_3_6, Fulfilled);
            self.cite(v3::MQTT_4_6_0_4, v5::MQTT_4_6_0_4, Fulfilled);
        } else if self.session.find(id, OutState::AwaitingComp).is_some() {
            // A repeated PUBREC: release again.
            self.send(now, &Packet::Pubrel(PubResponse::new(id)));
        } else {
            let mut pubrel = PubResponse::new(id);
            if self.config.version == Version::V5 {
                pubrel.reason_code = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
            }
            self.send(now, &Packet::Pubrel(pubrel));
        }
    }

    pub(super) fn handle_pubcomp(&mut self, now: Duration, ack: PubResponse) {
        let Some(index) = self.session.find(ack.packet_id, OutState::AwaitingComp) else {
            let description = format!("PUBCOMP for packet id {} which awaits none", ack.packet_id);
            return self.event(ClientEvent::ProtocolViolation { description });
        };
        self.complete(now, index, ack.reason_code);
    }

    /// An incoming PUBLISH: resolve its topic alias, acknowledge it by its
    /// QoS (3.1.1 and 5.0 MQTT-4.5.0-2), deliver it (QoS 2: once per packet id until PUBREL).
    pub(super) fn handle_publish(&mut self, now: Duration, publish: Publish) {
        let Publish { dup, qos_pid, retain, mut topic, mut properties, payload } = publish;
        if self.config.version == Version::V5 {
            if let Some(alias) = properties.topic_alias.take() {
                let max = self.config.topic_alias_maximum.unwrap_or(0);
                if alias == 0 || alias > max {
                    self.cite_id(v5::MQTT_3_3_2_11, Violated);
                    let text = format!("PUBLISH with Topic Alias {alias} above our Topic Alias Maximum {max}");
                    return self.protocol_error(now, text, ReasonCode::TOPIC_ALIAS_INVALID);
                }
                self.cite_id(v5::MQTT_3_3_2_11, Checked);
                self.cite_id(v5::MQTT_3_3_2_10, Fulfilled);
                if topic.is_empty() {
                    match self.conn.aliases.get(&alias) {
                        Some(known) => topic = known.clone(),
                        None => {
                            let text = format!("PUBLISH with unknown Topic Alias {alias} and no topic");
                            return self.protocol_error(now, text, ReasonCode::PROTOCOL_ERROR);
                        }
                    }
                } else {
                    self.conn.aliases.insert(alias, topic.clone());
                }
            }
        }
        if topic.is_empty() {
            let text = "PUBLISH with an empty topic and no Topic Alias".to_string();
            return self.protocol_error(now, text, ReasonCode::PROTOCOL_ERROR);
        }
        let qos = qos_pid.qos();
        let delivered = ClientEvent::Delivered { topic: topic.into(), payload, qos, retain, dup, properties };
        match qos_pid {
            QosPid::AtMostOnce => self.event(delivered),
            QosPid::AtLeastOnce(id) => {
                self.event(delivered);
                self.send(now, &Packet::Puback(PubResponse::new(id)));
                self.cite(v3::MQTT_4_3_2_2, v5::MQTT_4_3_2_4, Fulfilled);
                self.cite(v3::MQTT_4_6_0_2, v5::MQTT_4_6_0_2, Fulfilled);
            }
            QosPid::ExactlyOnce(id) => {
                if self.session.incoming_qos2.contains(&id) {
                    self.cite(v3::MQTT_4_3_3_2, v5::MQTT_4_3_3_10, Fulfilled);
                } else {
                    let limit = self.config.receive_maximum.unwrap_or(u16::MAX).max(1);
                    if self.config.version == Version::V5 {
                        if self.session.incoming_qos2.len() >= limit.into() {
                            self.cite_id(v5::MQTT_3_3_4_9, Violated);
                            let text = format!("a QoS 2 PUBLISH beyond our Receive Maximum {limit}");
                            return self.protocol_error(now, text, ReasonCode::RECEIVE_MAXIMUM_EXCEEDED);
                        }
                        self.cite_id(v5::MQTT_3_3_4_9, Checked);
                    }
                    self.session.incoming_qos2.insert(id);
                    self.event(delivered);
                    self.cite(v3::MQTT_4_3_3_2, v5::MQTT_4_3_3_8, Fulfilled);
                }
                self.send(now, &Packet::Pubrec(PubResponse::new(id)));
                self.cite(v3::MQTT_4_6_0_3, v5::MQTT_4_6_0_3, Fulfilled);
            }
        }
        self.cite(v3::MQTT_4_5_0_2, v5::MQTT_4_5_0_2, Fulfilled);
    }

    pub(super) fn handle_pubrel(&mut self, now: Duration, ack: PubResponse) {
        let id = ack.packet_id;
        let mut pubcomp = PubResponse::new(id);
        if self.session.incoming_qos2.remove(&id) {
            self.cite(v3::MQTT_4_3_3_2, v5::MQTT_4_3_3_11, Fulfilled);
            self.cite5(v5::MQTT_4_3_3_12, Fulfilled);
        } else if self.config.version == Version::V5 {
            pubcomp.reason_code = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
        }
        self.send(now, &Packet::Pubcomp(pubcomp));
    }
}
