//! The connection phase: CONNECT checks (limits, client id, credentials,
//! will capabilities), enhanced authentication (AUTH), session takeover,
//! clean start and session present, CONNACK with the server's
//! capabilities, and the resend of unacknowledged messages on resume.

use std::time::Duration;

use bytes::Bytes;

use super::auth::AuthStep;
use super::broker::{At, Broker};
use super::connection::{Phase, WillState};
use super::session::{InflightState, Message, Session, NEVER_EXPIRES};
use super::CiteKind::{Fulfilled, Violated};
use super::ConnectionId;
use crate::codec::PropertyValues;
use crate::codec::{Auth, Connack, Connect, Packet, Properties, PubResponse, Qos, ReasonCode};
use crate::spec::{v3_1_1 as v3, v5, Version};

/// The properties of a message that are forwarded unchanged.
pub(crate) fn forwardable(properties: &Properties) -> Properties {
    Properties::from(PropertyValues {
        payload_format_indicator: properties.payload_format_indicator,
        content_type: properties.content_type.clone(),
        response_topic: properties.response_topic.clone(),
        correlation_data: properties.correlation_data.clone(),
        user_properties: properties.user_properties.clone(),
        ..Default::default()
    })
}

/// Whether `id` is 1 to 23 characters of `[0-9a-zA-Z]` (the ids every server must accept).
fn conventional_client_id(id: &str) -> bool {
    (1..=23).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl Broker {
    /// Refuses CONNECT with `code` and closes the connection.
    pub(crate) fn reject_connect(&mut self, now: Duration, at: At, code: ReasonCode) {
        let connack = Connack { session_present: false, reason_code: code, properties: Properties::default() };
        self.send(at, Packet::Connack(connack));
        self.cite(at, v3::MQTT_3_2_2_4, v5::MQTT_3_2_2_6, Fulfilled);
        self.cite(at, v3::MQTT_3_2_2_5, v5::MQTT_3_2_2_7, Fulfilled);
        self.cite5(at, v5::MQTT_3_2_2_8, Fulfilled);
        self.cite5(at, v5::MQTT_3_2_0_2, Fulfilled);
        self.cite5(at, v5::MQTT_4_13_2_1, Fulfilled);
        self.cite(at, v3::MQTT_3_1_4_5, v5::MQTT_3_1_4_6, Fulfilled);
        self.drop_connection(now, at.conn, false);
    }

    fn assign_client_id(&mut self) -> String {
        loop {
            self.next_client_number += 1;
            let id = format!("auto-{}", self.next_client_number);
            if !self.sessions.contains_key(&id) && !self.online.contains_key(&id) {
                return id;
            }
        }
    }

    fn credentials_ok(&self, connect: &Connect) -> Result<(), bool> {
        match &connect.username {
            None if !self.config.allow_anonymous => Err(false),
            None => Ok(()),
            Some(user) => {
                if self.config.credentials.is_empty() {
                    return Ok(());
                }
                let password = connect.password.as_deref().unwrap_or_default();
                let ok =
                    self.config.credentials.iter().any(|c| &c.username == user && c.password.as_bytes() == password);
                if ok {
                    Ok(())
                } else {
                    Err(true)
                }
            }
        }
    }

    pub(crate) fn handle_connect(&mut self, now: Duration, conn: ConnectionId, connect: Connect) {
        let version = connect.version;
        let at = At { conn, version };
        if let Some(c) = self.connections.get_mut(&conn) {
            c.version = Some(version);
            c.deadline = None;
            if version == Version::V5 {
                c.client_receive_maximum = connect.properties.receive_maximum.unwrap_or(u16::MAX).max(1);
                c.client_max_packet_size = connect.properties.maximum_packet_size;
                c.client_topic_alias_maximum = connect.properties.topic_alias_maximum.unwrap_or(0);
                c.problem_information = connect.properties.request_problem_information != Some(0);
            }
        }
        if self.online.len() >= self.config.max_connections && !self.online.contains_key(&connect.client_id) {
            self.reject_connect(
                now,
                at,
                if version == Version::V5 { ReasonCode::SERVER_BUSY } else { ReasonCode::V3_SERVER_UNAVAILABLE },
            );
            return;
        }
        let identifier_rejected = if version == Version::V5 {
            ReasonCode::CLIENT_IDENTIFIER_NOT_VALID
        } else {
            ReasonCode::V3_IDENTIFIER_REJECTED
        };
        let mut client_id = connect.client_id.clone();
        let mut assigned = None;
        if client_id.is_empty() {
            if version == Version::V3_1_1 && !connect.clean_start {
                self.cite3(at, v3::MQTT_3_1_3_8, Fulfilled);
                self.reject_connect(now, at, identifier_rejected);
                return;
            }
            if !self.config.allow_empty_client_id {
                self.cite(at, v3::MQTT_3_1_3_9, v5::MQTT_3_1_3_8, Fulfilled);
                self.reject_connect(now, at, identifier_rejected);
                return;
            }
            client_id = self.assign_client_id();
            assigned = Some(client_id.clone());
            self.cite(at, v3::MQTT_3_1_3_6, v5::MQTT_3_1_3_6, Fulfilled);
            self.cite5(at, v5::MQTT_3_1_3_7, Fulfilled);
            self.cite5(at, v5::MQTT_3_2_2_16, Fulfilled);
        } else {
            let conventional = conventional_client_id(&client_id);
            let denied = self.config.denied_client_id_prefixes.iter().any(|p| client_id.starts_with(p.as_str()));
            if denied || (self.config.strict_client_id && !conventional) {
                self.cite(at, v3::MQTT_3_1_3_9, v5::MQTT_3_1_3_8, Fulfilled);
                self.reject_connect(now, at, identifier_rejected);
                return;
            }
            if conventional {
                self.cite(at, v3::MQTT_3_1_3_5, v5::MQTT_3_1_3_5, Fulfilled);
            }
        }
        if !self.sessions.contains_key(&client_id) && self.sessions.len() >= self.config.max_sessions {
            // A new session would exceed the bound on stored sessions (online and offline).
            let code =
                if version == Version::V5 { ReasonCode::QUOTA_EXCEEDED } else { ReasonCode::V3_SERVER_UNAVAILABLE };
            self.reject_connect(now, at, code);
            return;
        }
        if let Err(bad_password) = self.credentials_ok(&connect) {
            self.cite5(at, v5::MQTT_3_1_4_2, Fulfilled);
            let code = match (version, bad_password) {
                (Version::V5, true) => ReasonCode::BAD_USER_NAME_OR_PASSWORD,
                (Version::V5, false) => ReasonCode::NOT_AUTHORIZED,
                (Version::V3_1_1, true) => ReasonCode::V3_BAD_USER_NAME_OR_PASSWORD,
                (Version::V3_1_1, false) => ReasonCode::V3_NOT_AUTHORIZED,
            };
            self.reject_connect(now, at, code);
            return;
        }
        if version == Version::V5 {
            if let Some(will) = &connect.will {
                if will.qos > self.config.maximum_qos {
                    self.cite5(at, v5::MQTT_3_2_2_12, Fulfilled);
                    self.reject_connect(now, at, ReasonCode::QOS_NOT_SUPPORTED);
                    return;
                }
                if will.retain && !self.config.retain_available {
                    self.cite5(at, v5::MQTT_3_2_2_13, Fulfilled);
                    self.reject_connect(now, at, ReasonCode::RETAIN_NOT_SUPPORTED);
                    return;
                }
            }
        }
        if let Some(c) = self.connections.get_mut(&conn) {
            c.client_id = Some(client_id.clone());
            c.assigned_client_id = assigned;
        }
        let method = connect.properties.authentication_method.clone();
        match (version, method) {
            (Version::V5, Some(method)) => {
                let Some(index) = self.authenticators.iter().position(|a| a.method() == method) else {
                    self.cite5(at, v5::MQTT_4_12_0_1, Fulfilled);
                    self.reject_connect(now, at, ReasonCode::BAD_AUTHENTICATION_METHOD);
                    return;
                };
                let nonce = self.next_nonce;
                self.next_nonce += 1;
                let step = self.authenticators[index].start(
                    &client_id,
                    connect.properties.authentication_data.as_deref(),
                    nonce,
                );
                let phase = Phase::Authenticating { connect: Box::new(connect), method, state: Vec::new() };
                if let Some(c) = self.connections.get_mut(&conn) {
                    c.phase = phase;
                }
                self.auth_step(now, at, step);
            }
            _ => {
                self.cite5(at, v5::MQTT_4_12_0_6, Fulfilled);
                self.accept(now, at, connect, None, None);
            }
        }
    }

    /// Applies an authenticator's verdict during the CONNECT exchange.
    fn auth_step(&mut self, now: Duration, at: At, step: AuthStep) {
        let Some(c) = self.connections.get_mut(&at.conn) else { return };
        let Phase::Authenticating { method, state, .. } = &mut c.phase else { return };
        let method = method.clone();
        match step {
            AuthStep::Continue { data, state: next } => {
                *state = next;
                let properties = Properties::from(PropertyValues {
                    authentication_method: Some(method),
                    authentication_data: Some(data),
                    ..Default::default()
                });
                self.send(at, Packet::Auth(Auth { reason_code: ReasonCode::CONTINUE_AUTHENTICATION, properties }));
                self.cite5(at, v5::MQTT_4_12_0_2, Fulfilled);
                self.cite5(at, v5::MQTT_4_12_0_5, Fulfilled);
                self.cite5(at, v5::MQTT_3_15_2_1, Fulfilled);
                self.cite5(at, v5::MQTT_3_2_0_1, Fulfilled);
            }
            AuthStep::Success(data) => {
                let Phase::Authenticating { connect, .. } = std::mem::replace(&mut c.phase, Phase::AwaitConnect) else {
                    return;
                };
                self.accept(now, at, *connect, Some(method), data);
            }
            AuthStep::Fail => {
                self.cite5(at, v5::MQTT_4_12_0_4, Fulfilled);
                self.reject_connect(now, at, ReasonCode::NOT_AUTHORIZED);
            }
        }
    }

    /// AUTH during the CONNECT exchange.
    pub(crate) fn handle_auth(&mut self, now: Duration, at: At, auth: Auth) {
        let Some(c) = self.connections.get(&at.conn) else { return };
        let Phase::Authenticating { method, state, .. } = &c.phase else { return };
        let client_id = c.client_id.clone().unwrap_or_default();
        let (method, state) = (method.clone(), state.clone());
        if auth.reason_code != ReasonCode::CONTINUE_AUTHENTICATION
            || auth.properties.authentication_method.as_deref() != Some(method.as_str())
        {
            self.cite5(at, v5::MQTT_4_12_0_5, Violated);
            self.reject_connect(now, at, ReasonCode::PROTOCOL_ERROR);
            return;
        }
        self.cite5(at, v5::MQTT_4_12_0_5, super::CiteKind::Checked);
        let step = match self.authenticators.iter().find(|a| a.method() == method) {
            Some(a) => a.step(&client_id, &state, auth.properties.authentication_data.as_deref()),
            None => AuthStep::Fail,
        };
        self.auth_step(now, at, step);
    }

    /// AUTH on an established connection: re-authentication (5.0).
    pub(crate) fn handle_reauth(&mut self, now: Duration, at: At, auth: Auth) {
        let Some(c) = self.connections.get(&at.conn) else { return };
        let client_id = c.client_id.clone().unwrap_or_default();
        let (Some(method), true) = (c.auth_method.clone(), auth.properties.authentication_method == c.auth_method)
        else {
            self.violation(
                now,
                at,
                Some(v5::MQTT_4_12_0_5),
                ReasonCode::PROTOCOL_ERROR,
                "AUTH without the connection's method",
            );
            return;
        };
        let Some(authenticator) = self.authenticators.iter().find(|a| a.method() == method) else { return };
        let data = auth.properties.authentication_data.as_deref();
        let step = match (auth.reason_code, &c.reauth_state) {
            (ReasonCode::RE_AUTHENTICATE, _) => {
                let nonce = self.next_nonce;
                self.next_nonce += 1;
                authenticator.start(&client_id, data, nonce)
            }
            (ReasonCode::CONTINUE_AUTHENTICATION, Some(state)) => authenticator.step(&client_id, state, data),
            _ => {
                self.violation(now, at, None, ReasonCode::PROTOCOL_ERROR, "unexpected AUTH");
                return;
            }
        };
        let reply = |reason_code: ReasonCode, data: Option<Bytes>| Auth {
            reason_code,
            properties: Properties::from(PropertyValues {
                authentication_method: Some(method.clone()),
                authentication_data: data,
                ..Default::default()
            }),
        };
        match step {
            AuthStep::Continue { data, state } => {
                if let Some(c) = self.connections.get_mut(&at.conn) {
                    c.reauth_state = Some(state);
                }
                self.send(at, Packet::Auth(reply(ReasonCode::CONTINUE_AUTHENTICATION, Some(data))));
                self.cite5(at, v5::MQTT_4_12_0_2, Fulfilled);
                self.cite5(at, v5::MQTT_4_12_0_5, Fulfilled);
            }
            AuthStep::Success(data) => {
                if let Some(c) = self.connections.get_mut(&at.conn) {
                    c.reauth_state = None;
                }
                self.send(at, Packet::Auth(reply(ReasonCode::SUCCESS, data)));
                self.cite5(at, v5::MQTT_3_15_2_1, Fulfilled);
            }
            AuthStep::Fail => {
                self.cite5(at, v5::MQTT_4_12_1_2, Fulfilled);
                self.disconnect(now, at, ReasonCode::NOT_AUTHORIZED, "re-authentication failed");
            }
        }
    }

    /// Accepts CONNECT: takeover, session, will, keep-alive, CONNACK, resend.
    fn accept(
        &mut self,
        now: Duration,
        at: At,
        connect: Connect,
        auth_method: Option<String>,
        auth_data: Option<Bytes>,
    ) {
        let conn = at.conn;
        let version = at.version;
        let Some(c) = self.connections.get(&conn) else { return };
        let client_id = c.client_id.clone().unwrap_or_default();
        let assigned = c.assigned_client_id.clone();
        if let Some(&old) = self.online.get(&client_id) {
            if let Some(old_at) = self.at(old).filter(|_| old != conn) {
                self.cite(old_at, v3::MQTT_3_1_4_2, v5::MQTT_3_1_4_3, Fulfilled);
                self.disconnect(now, old_at, ReasonCode::SESSION_TAKEN_OVER, "session taken over");
                if self.config.defects.forget_inflight_on_takeover {
                    // Defect: the messages in flight to the old connection are lost.
                    if let Some(session) = self.sessions.get_mut(&client_id) {
                        session.inflight.clear();
                    }
                }
            }
        }
        let requested = match version {
            Version::V3_1_1 => {
                if connect.clean_start {
                    0
                } else {
                    NEVER_EXPIRES
                }
            }
            Version::V5 => connect.properties.session_expiry_interval_secs.unwrap_or(0),
        };
        let expiry = if version == Version::V5 { self.cap_session_expiry(requested) } else { requested };
        if let Some(will) = self.pending_wills.remove(&client_id) {
            if connect.clean_start {
                // A clean start ends the session the will was waiting on, and
                // the will goes when the session ends (5.0 section 3.1.2.5).
                self.publish_will(now, will.at, will.message);
            } else {
                self.cite_id(Some(conn), v5::MQTT_3_1_3_9, Fulfilled);
            }
        }
        let mut session_present = false;
        if connect.clean_start {
            self.sessions.remove(&client_id);
            self.cite(at, v3::MQTT_3_1_2_6, v5::MQTT_3_1_2_4, Fulfilled);
            self.cite(at, v3::MQTT_3_2_2_1, v5::MQTT_3_2_2_2, Fulfilled);
        } else {
            if self.sessions.get(&client_id).and_then(Session::expires_at).is_some_and(|t| now >= t) {
                self.sessions.remove(&client_id);
            }
            if self.sessions.contains_key(&client_id) {
                session_present = true;
                self.cite(at, v3::MQTT_3_1_2_4, v5::MQTT_3_1_2_5, Fulfilled);
                self.cite(at, v3::MQTT_3_2_2_2, v5::MQTT_3_2_2_3, Fulfilled);
            } else {
                self.cite(at, v3::MQTT_3_1_2_4, v5::MQTT_3_1_2_6, Fulfilled);
                self.cite(at, v3::MQTT_3_2_2_3, v5::MQTT_3_2_2_3, Fulfilled);
            }
        }
        self.cite(at, v3::MQTT_3_1_4_3, v5::MQTT_3_1_4_4, Fulfilled);
        self.cite(at, v3::MQTT_3_1_3_2, v5::MQTT_3_1_3_2, Fulfilled);
        let session =
            self.sessions.entry(client_id.clone()).or_insert_with(|| Session::new(client_id.clone(), version, expiry));
        session.version = version;
        session.expiry_interval_secs = expiry;
        session.offline_since = None;

        let server_keep_alive = if version == Version::V5 { self.config.server_keep_alive_secs } else { None };
        if version == Version::V5 && server_keep_alive.is_none() {
            self.cite5(at, v5::MQTT_3_2_2_22, Fulfilled);
        }
        let keep_alive = server_keep_alive.unwrap_or(connect.keep_alive_secs);
        let grace = (keep_alive > 0).then(|| Duration::from_millis(u64::from(keep_alive) * 1500));
        let will = connect.will.map(|w| WillState {
            message: Message {
                topic: w.topic,
                payload: w.payload,
                qos: w.qos,
                retain: w.retain,
                properties: forwardable(&w.properties),
                expires_at: None,
                publisher: Some(client_id.clone()),
            },
            delay_secs: w.properties.will_delay_interval_secs.unwrap_or(0),
            expiry_secs: w.properties.message_expiry_interval_secs,
        });
        if will.is_some() {
            self.cite5(at, v5::MQTT_3_1_2_7, Fulfilled);
        }
        if let Some(c) = self.connections.get_mut(&conn) {
            c.phase = Phase::Connected;
            c.username = connect.username;
            c.keep_alive_grace = grace;
            c.deadline = grace.map(|g| now + g);
            c.will = will;
            c.connack_sent = true;
            c.session_expiry_secs = expiry;
            c.auth_method = auth_method.clone();
        }
        self.online.insert(client_id.clone(), conn);

        let mut p = Properties::default();
        if version == Version::V5 {
            let config = &self.config;
            p.assigned_client_identifier = assigned;
            if requested != expiry {
                p.session_expiry_interval_secs = Some(expiry);
            }
            p.server_keep_alive_secs = server_keep_alive;
            p.receive_maximum = (config.receive_maximum != u16::MAX).then_some(config.receive_maximum);
            p.maximum_qos = (config.maximum_qos != Qos::ExactlyOnce).then_some(config.maximum_qos.as_u8());
            p.retain_available = (!config.retain_available).then_some(0);
            p.maximum_packet_size = Some(config.max_packet_size);
            p.topic_alias_maximum = (config.topic_alias_maximum > 0).then_some(config.topic_alias_maximum);
            p.wildcard_subscription_available = (!config.wildcard_subscription_available).then_some(0);
            p.subscription_identifier_available = (!config.subscription_identifier_available).then_some(0);
            p.shared_subscription_available = (!config.shared_subscription_available).then_some(0);
            let wants_response = connect.properties.request_response_information == Some(1);
            if wants_response {
                p.response_information = config.response_information.clone();
            }
            p.authentication_data = auth_data;
            if auth_method.is_some() {
                p.authentication_method = auth_method;
                self.cite5(at, v5::MQTT_4_12_0_5, Fulfilled);
            }
            if !wants_response {
                self.cite5(at, v5::MQTT_3_1_2_28, Fulfilled);
            }
            if self.config.maximum_qos != Qos::ExactlyOnce {
                self.cite5(at, v5::MQTT_3_2_2_9, Fulfilled);
            }
        }
        let connack = Connack { session_present, reason_code: ReasonCode::SUCCESS, properties: p };
        self.send(at, Packet::Connack(connack));
        self.cite(at, v3::MQTT_3_2_0_1, v5::MQTT_3_2_0_1, Fulfilled);
        self.cite(at, v3::MQTT_3_1_4_4, v5::MQTT_3_1_4_5, Fulfilled);
        self.cite5(at, v5::MQTT_3_2_0_2, Fulfilled);
        self.cite5(at, v5::MQTT_3_2_2_1, Fulfilled);
        if session_present {
            self.resend_inflight(now, at, &client_id);
        }
        self.flush(now, &client_id);
    }

    /// Resends every unacknowledged PUBLISH (DUP=1) and PUBREL of a resumed
    /// session, with their original packet ids (MQTT-4.4.0-1).
    fn resend_inflight(&mut self, now: Duration, at: At, client_id: &str) {
        let Some(session) = self.sessions.get(client_id) else { return };
        let inflight: Vec<_> = session.inflight.iter().cloned().collect();
        let defects = self.config.defects;
        for m in inflight {
            if m.state == InflightState::AwaitPubcomp && defects.no_pubrel_resend {
                // Defect: the PUBREL is not resent (and nothing is cited).
                continue;
            }
            self.cite(at, v3::MQTT_4_4_0_1, v5::MQTT_4_4_0_1, Fulfilled);
            match m.state {
                InflightState::AwaitPuback | InflightState::AwaitPubrec => {
                    if m.state == InflightState::AwaitPubrec && m.delivery.message.expired(now) {
                        // Expired since it was first sent: a QoS 2 PUBLISH
                        // already transmitted is resent all the same.
                        self.cite5(at, v5::MQTT_4_3_3_7, Fulfilled);
                    }
                    self.send_publish(now, at, &m.delivery, Some(m.packet_id), true);
                    if !defects.no_dup_on_resend {
                        self.cite(at, v3::MQTT_3_3_1_1, v5::MQTT_3_3_1_1, Fulfilled);
                    }
                    self.cite3(at, v3::MQTT_2_3_1_4, Fulfilled);
                    if m.delivery.shared && m.state == InflightState::AwaitPubrec {
                        self.cite5(at, v5::MQTT_4_8_2_4, Fulfilled);
                    }
                }
                InflightState::AwaitPubcomp => {
                    self.send(at, Packet::Pubrel(PubResponse::new(m.packet_id)));
                    self.cite5(at, v5::MQTT_4_3_3_6, Fulfilled);
                }
            }
        }
    }
}
