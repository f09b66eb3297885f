//! SUBSCRIBE and UNSUBSCRIBE: the application's commands, their packet ids,
//! and SUBACK / UNSUBACK.

use std::time::Duration;

use super::connect::Phase;
use super::session::{Command, Request};
use super::{ClientEvent, ModelClient};
use crate::codec::{
    Packet, Properties, ReasonCode, Suback, Subscribe, Subscription, TopicFilter, Unsuback, Unsubscribe,
};
use crate::model::CiteKind::{Checked, Fulfilled, Violated};
use crate::spec::{v3_1_1 as v3, v5, Version};

impl ModelClient {
    /// Subscribes; [`ClientEvent::Subscribed`] reports the SUBACK. An empty
    /// list is answered at once with no codes and nothing is sent (3.1.1
    /// MQTT-3.8.3-3, 5.0 MQTT-3.8.3-2).
    pub fn subscribe(&mut self, now: Duration, subscriptions: Vec<Subscription>, properties: Properties) {
        if subscriptions.is_empty() {
            self.cite(v3::MQTT_3_8_3_3, v5::MQTT_3_8_3_2, Fulfilled);
            return self.event(ClientEvent::Subscribed { reason_codes: Vec::new() });
        }
        self.commands.push_back(Command::Subscribe { subscriptions, properties: Box::new(properties) });
        self.flush_commands(now);
    }

    /// Unsubscribes; [`ClientEvent::Unsubscribed`] reports the UNSUBACK. An
    /// empty list is answered at once and nothing is sent (MQTT-3.10.3-2).
    pub fn unsubscribe(&mut self, now: Duration, filters: Vec<TopicFilter>) {
        if filters.is_empty() {
            self.cite(v3::MQTT_3_10_3_2, v5::MQTT_3_10_3_2, Fulfilled);
            return self.event(ClientEvent::Unsubscribed { reason_codes: Vec::new() });
        }
        self.commands.push_back(Command::Unsubscribe { filters });
        self.flush_commands(now);
    }

    /// Sends queued commands while connected. They never wait for the
    /// publish window (5.0 MQTT-3.3.4-8).
    pub(super) fn flush_commands(&mut self, now: Duration) {
        while self.conn.phase == Phase::Connected && !self.commands.is_empty() {
            let Some(id) = self.allocate_id() else { break };
            let command = self.commands.pop_front().expect("not empty");
            let v5_properties = |p: &Properties| match self.config.version {
                Version::V5 => p.clone(),
                Version::V3_1_1 => Properties::default(),
            };
            let (packet, count) = match &command {
                Command::Subscribe { subscriptions, properties } => {
                    let subscribe = Subscribe {
                        packet_id: id,
                        properties: v5_properties(properties),
                        subscriptions: subscriptions.clone(),
                    };
                    (Packet::Subscribe(subscribe), subscriptions.len())
                }
                Command::Unsubscribe { filters } => {
                    let unsubscribe =
                        Unsubscribe { packet_id: id, properties: Properties::default(), filters: filters.clone() };
                    (Packet::Unsubscribe(unsubscribe), filters.len())
                }
            };
            match self.encode(&packet) {
                Ok(bytes) => {
                    self.transmit(now, bytes);
                    self.cite5(v5::MQTT_3_3_4_8, Fulfilled);
                    self.requests.push(Request { id, command });
                }
                Err(_) => {
                    let reason_codes = vec![ReasonCode::UNSPECIFIED_ERROR; count];
                    let event = match command {
                        Command::Subscribe { .. } => ClientEvent::Subscribed { reason_codes },
                        Command::Unsubscribe { .. } => ClientEvent::Unsubscribed { reason_codes },
                    };
                    self.event(event);
                }
            }
        }
    }

    /// Removes and returns the request `id` if it is a SUBSCRIBE (`subscribe`) or an UNSUBSCRIBE.
    fn take_request(&mut self, id: crate::codec::PacketId, subscribe: bool) -> Option<Command> {
        let index = self
            .requests
            .iter()
            .position(|r| r.id == id && matches!(r.command, Command::Subscribe { .. }) == subscribe)?;
        Some(self.requests.remove(index).command)
    }

    pub(super) fn handle_suback(&mut self, _now: Duration, suback: Suback) {
        let Some(Command::Subscribe { subscriptions, .. }) = self.take_request(suback.packet_id, true) else {
            self.cite(v3::MQTT_3_8_4_2, v5::MQTT_3_8_4_2, Violated);
            let description = format!("SUBACK for packet id {} which awaits none", suback.packet_id);
            return self.event(ClientEvent::ProtocolViolation { description });
        };
        self.cite(v3::MQTT_3_8_4_2, v5::MQTT_3_8_4_2, Checked);
        if suback.reason_codes.len() == subscriptions.len() {
            self.cite(v3::MQTT_3_8_4_5, v5::MQTT_3_8_4_6, Checked);
        } else {
            self.cite(v3::MQTT_3_8_4_5, v5::MQTT_3_8_4_6, Violated);
            let description =
                format!("SUBACK has {} codes for {} subscriptions", suback.reason_codes.len(), subscriptions.len());
            self.event(ClientEvent::ProtocolViolation { description });
        }
        self.event(ClientEvent::Subscribed { reason_codes: suback.reason_codes });
    }

    pub(super) fn handle_unsuback(&mut self, _now: Duration, unsuback: Unsuback) {
        let Some(Command::Unsubscribe { filters }) = self.take_request(unsuback.packet_id, false) else {
            let description = format!("UNSUBACK for packet id {} which awaits none", unsuback.packet_id);
            return self.event(ClientEvent::ProtocolViolation { description });
        };
        let reason_codes = match self.config.version {
            Version::V3_1_1 => vec![ReasonCode::SUCCESS; filters.len()],
            Version::V5 => {
                if unsuback.reason_codes.len() == filters.len() {
                    self.cite_id(v5::MQTT_3_11_3_2, Checked);
                } else {
                    self.cite_id(v5::MQTT_3_11_3_2, Violated);
                    let description =
                        format!("UNSUBACK has {} codes for {} filters", unsuback.reason_codes.len(), filters.len());
                    self.event(ClientEvent::ProtocolViolation { description });
                }
                unsuback.reason_codes
            }
        };
        self.event(ClientEvent::Unsubscribed { reason_codes });
    }
}
