//! SUBSCRIBE and UNSUBSCRIBE: capability and access checks, granted QoS,
//! replacement of an identical subscription, subscription identifiers,
//! retained messages per retain handling, SUBACK and UNSUBACK.

use std::time::Duration;

use super::broker::{At, Broker};
use super::defects::matches_ignoring_dollar_rule;
use super::session::{Delivery, SubscriptionEntry};
use super::CiteKind::{Fulfilled, Violated};
use crate::codec::{Packet, Properties, Qos, ReasonCode, RetainHandling, Suback, Subscribe, Unsuback, Unsubscribe};
use crate::spec::{v3_1_1 as v3, v5, Version};

impl Broker {
    pub(crate) fn handle_subscribe(&mut self, now: Duration, at: At, subscribe: Subscribe) {
        let Some(c) = self.connections.get(&at.conn) else { return };
        let client_id = c.client_id.clone().unwrap_or_default();
        let username = c.username.clone();
        let v5 = at.version == Version::V5;
        let identifier = subscribe.properties.subscription_identifiers.first().copied();
        if v5 && identifier.is_some() && !self.config.subscription_identifier_available {
            self.violation(
                now,
                at,
                None,
                ReasonCode::SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED,
                "subscription identifiers not supported",
            );
            return;
        }
        let failure = |code: ReasonCode| if v5 { code } else { ReasonCode::V3_SUBACK_FAILURE };
        let mut codes = Vec::with_capacity(subscribe.subscriptions.len());
        let mut retained = Vec::new();
        let mut refused = false;
        for subscription in &subscribe.subscriptions {
            let filter = subscription.filter.clone();
            let shared = filter.shared().is_some();
            if v5 && shared && subscription.options.no_local {
                self.cite5(at, v5::MQTT_3_8_3_4, Violated);
                self.violation(now, at, None, ReasonCode::PROTOCOL_ERROR, "no local on a shared subscription");
                return;
            }
            let code = if shared && !self.config.shared_subscription_available {
                failure(ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED)
            } else if filter.has_wildcard() && !self.config.wildcard_subscription_available {
                self.cite3(at, v3::MQTT_3_8_3_2, Fulfilled);
                failure(ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED)
            } else if !self.config.may_subscribe(username.as_deref(), &filter) {
                failure(ReasonCode::NOT_AUTHORIZED)
            } else {
                let requested = subscription.options.qos;
                let granted = requested.min(self.config.maximum_qos);
                if granted < requested {
                    self.cite5(at, v5::MQTT_3_2_2_10, Fulfilled);
                }
                let Some(session) = self.sessions.get_mut(&client_id) else { return };
                let mut options = subscription.options;
                options.qos = granted;
                let entry = SubscriptionEntry { filter: filter.clone(), options, identifier };
                let existed = session.subscriptions.insert(filter.clone(), entry).is_some();
                if existed {
                    self.cite(at, v3::MQTT_3_8_4_3, v5::MQTT_3_8_4_3, Fulfilled);
                }
                // Defect: retained messages are never sent, and the
                // statements that send them are not cited.
                let no_retained = self.config.defects.no_retained_delivery;
                let send_retained = !shared
                    && !no_retained
                    && match (at.version, options.retain_handling) {
                        (Version::V3_1_1, _) => true,
                        (Version::V5, RetainHandling::SendAtSubscribe) => {
                            self.cite5(at, v5::MQTT_3_3_1_9, Fulfilled);
                            if existed {
                                self.cite5(at, v5::MQTT_3_8_4_4, Fulfilled);
                            }
                            true
                        }
                        (Version::V5, RetainHandling::SendIfNew) => {
                            self.cite5(at, v5::MQTT_3_3_1_10, Fulfilled);
                            !existed
                        }
                        (Version::V5, RetainHandling::DoNotSend) => {
                            self.cite5(at, v5::MQTT_3_3_1_11, Fulfilled);
                            false
                        }
                    };
                if send_retained {
                    let messages = if self.config.defects.dollar_topics_match_wildcards {
                        // Defect: the `$` rule (MQTT-4.7.2-1) is skipped.
                        let part = filter.matching_part();
                        self.retained.matching_by(|topic| matches_ignoring_dollar_rule(part, topic), now)
                    } else {
                        self.retained.matching(&filter, now)
                    };
                    if !messages.is_empty() {
                        self.cite3(at, v3::MQTT_3_3_1_6, Fulfilled);
                        self.cite3(at, v3::MQTT_3_3_1_8, Fulfilled);
                    }
                    // Defect: every retained message is delivered twice.
                    let copies = if self.config.defects.duplicate_retained_delivery { 2 } else { 1 };
                    for message in messages {
                        let delivery = Delivery {
                            qos: message.qos.min(granted),
                            retain: true,
                            subscription_ids: identifier.into_iter().collect(),
                            shared: false,
                            message,
                        };
                        retained.extend(std::iter::repeat_n(delivery, copies));
                    }
                }
                ReasonCode(granted.as_u8())
            };
            refused |= code.is_error();
            codes.push(code);
        }
        let mut properties = Properties::default();
        if refused {
            properties.reason_string = self.reason_string(at, "one or more subscriptions refused");
        }
        self.send(at, Packet::Suback(Suback { packet_id: subscribe.packet_id, properties, reason_codes: codes }));
        self.cite(at, v3::MQTT_3_8_4_1, v5::MQTT_3_8_4_1, Fulfilled);
        self.cite(at, v3::MQTT_3_8_4_2, v5::MQTT_3_8_4_2, Fulfilled);
        self.cite(at, v3::MQTT_2_3_1_7, v5::MQTT_2_2_1_6, Fulfilled);
        self.cite(at, v3::MQTT_3_8_4_5, v5::MQTT_3_8_4_6, Fulfilled);
        self.cite(at, v3::MQTT_3_9_3_1, v5::MQTT_3_9_3_1, Fulfilled);
        self.cite(at, v3::MQTT_3_9_3_2, v5::MQTT_3_9_3_2, Fulfilled);
        self.cite5(at, v5::MQTT_3_8_4_7, Fulfilled);
        if subscribe.subscriptions.len() > 1 {
            self.cite(at, v3::MQTT_3_8_4_4, v5::MQTT_3_8_4_5, Fulfilled);
        }
        if subscribe.subscriptions.iter().any(|s| s.options.qos > self.config.maximum_qos.min(Qos::ExactlyOnce)) {
            self.cite3(at, v3::MQTT_3_8_4_6, Fulfilled);
        }
        for delivery in retained {
            self.deliver(now, &client_id, delivery, true);
        }
    }

    pub(crate) fn handle_unsubscribe(&mut self, _now: Duration, at: At, unsubscribe: Unsubscribe) {
        let Some(c) = self.connections.get(&at.conn) else { return };
        let client_id = c.client_id.clone().unwrap_or_default();
        let Some(session) = self.sessions.get_mut(&client_id) else { return };
        let mut codes = Vec::with_capacity(unsubscribe.filters.len());
        for filter in &unsubscribe.filters {
            let existed = session.subscriptions.remove(filter).is_some();
            codes.push(if existed { ReasonCode::SUCCESS } else { ReasonCode::NO_SUBSCRIPTION_EXISTED });
        }
        let inflight = !session.inflight.is_empty();
        let reason_codes = if at.version == Version::V5 { codes } else { Vec::new() };
        let unsuback = Unsuback { packet_id: unsubscribe.packet_id, properties: Properties::default(), reason_codes };
        self.send(at, Packet::Unsuback(unsuback));
        self.cite(at, v3::MQTT_3_10_4_1, v5::MQTT_3_10_4_1, Fulfilled);
        self.cite(at, v3::MQTT_3_10_4_2, v5::MQTT_3_10_4_2, Fulfilled);
        if inflight {
            self.cite(at, v3::MQTT_3_10_4_3, v5::MQTT_3_10_4_3, Fulfilled);
        }
        self.cite(at, v3::MQTT_3_10_4_4, v5::MQTT_3_10_4_4, Fulfilled);
        self.cite(at, v3::MQTT_3_10_4_5, v5::MQTT_3_10_4_5, Fulfilled);
        self.cite(at, v3::MQTT_2_3_1_7, v5::MQTT_2_2_1_6, Fulfilled);
        if unsubscribe.filters.len() > 1 {
            self.cite(at, v3::MQTT_3_10_4_6, v5::MQTT_3_10_4_6, Fulfilled);
        }
        self.cite5(at, v5::MQTT_3_11_3_1, Fulfilled);
        self.cite5(at, v5::MQTT_3_11_3_2, Fulfilled);
    }
}
