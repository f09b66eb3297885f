//! CONNECT, CONNACK, client ids, credentials, takeover, sessions, keep-alive, wills, AUTH.

use super::*;
use crate::codec::{raw, Auth, Will};
use crate::model::{ChallengeResponse, Credential};
use crate::spec::{v3_1_1 as v3, v5};
use CiteKind::{Fulfilled, Violated};

const V3: Version = Version::V3_1_1;
const V5: Version = Version::V5;

fn will(topic: &str, payload: &str) -> Will {
    Will {
        topic: TopicName::new(topic).unwrap(),
        payload: Bytes::copy_from_slice(payload.as_bytes()),
        qos: Qos::AtMostOnce,
        retain: false,
        properties: Properties::default(),
    }
}

/// A 3.1.1 client with clean session gets CONNACK 0 without session present.
#[test]
fn a_clean_3_1_1_connect_is_accepted_without_session_present() {
    let mut h = Harness::new(config());
    let (_, connack) = h.connect_with(V3, "c1", |_| {});
    assert_eq!(connack.reason_code, ReasonCode::SUCCESS);
    assert!(!connack.session_present);
    h.assert_cited(v3::MQTT_3_2_2_1, Fulfilled);
    h.assert_cited(v3::MQTT_3_2_0_1, Fulfilled);
}

/// A 5.0 CONNACK carries the capabilities of the configuration.
#[test]
fn a_5_0_connack_carries_the_configured_capabilities() {
    let cfg = BrokerConfig {
        maximum_qos: Qos::AtLeastOnce,
        retain_available: false,
        shared_subscription_available: false,
        receive_maximum: 10,
        topic_alias_maximum: 5,
        server_keep_alive_secs: Some(20),
        ..config()
    };
    let mut h = Harness::new(cfg);
    let (_, connack) = h.connect_with(V5, "c1", |c| c.keep_alive_secs = 60);
    let p = connack.properties;
    assert_eq!(p.maximum_qos, Some(1));
    assert_eq!(p.retain_available, Some(0));
    assert_eq!(p.shared_subscription_available, Some(0));
    assert_eq!(p.receive_maximum, Some(10));
    assert_eq!(p.topic_alias_maximum, Some(5));
    assert_eq!(p.server_keep_alive_secs, Some(20));
    assert_eq!(p.maximum_packet_size, Some(1 << 20));
    h.assert_cited(v5::MQTT_3_2_2_9, Fulfilled);
}

/// An unsupported protocol level is answered the way each version prescribes, then closed.
#[test]
fn an_unsupported_protocol_level_is_refused_then_closed() {
    let mut h = Harness::new(config());
    let c = h.open(V5);
    // CONNECT, protocol name MQTT, level 6, clean start, keep alive 60, properties 0, client id "a".
    let bytes = raw::RawPacket::new(0x10).string("MQTT").u8(6).u8(0x02).u16(60).varint(0).string("a").build();
    h.send_bytes(c, &bytes);
    match h.expect(c) {
        Packet::Connack(connack) => assert_eq!(connack.reason_code, ReasonCode::UNSUPPORTED_PROTOCOL_VERSION),
        other => panic!("{other:?}"),
    }
    assert!(h.is_closed(c));
    h.assert_cited(v5::MQTT_3_1_2_2, Fulfilled);

    let c = h.open(V3);
    // CONNECT, protocol name MQTT, level 3, clean session, keep alive 60, client id "a".
    let bytes = raw::RawPacket::new(0x10).string("MQTT").u8(3).u8(0x02).u16(60).string("a").build();
    h.send_bytes(c, &bytes);
    match h.expect(c) {
        Packet::Connack(connack) => assert_eq!(connack.reason_code, ReasonCode::V3_UNACCEPTABLE_PROTOCOL_VERSION),
        other => panic!("{other:?}"),
    }
    assert!(h.is_closed(c));
    h.assert_cited(v3::MQTT_3_1_2_2, Fulfilled);
}

/// 3.1.1: an empty client id with clean session 0 gets CONNACK 0x02; with clean session 1 one is assigned.
#[test]
fn an_empty_3_1_1_client_id_needs_clean_session() {
    let mut h = Harness::new(config());
    let (c, connack) = h.connect_with(V3, "", |c| c.clean_start = false);
    assert_eq!(connack.reason_code, ReasonCode::V3_IDENTIFIER_REJECTED);
    assert!(h.is_closed(c));
    h.assert_cited(v3::MQTT_3_1_3_8, Fulfilled);
    let (c, connack) = h.connect_with(V3, "", |_| {});
    assert_eq!(connack.reason_code, ReasonCode::SUCCESS);
    assert!(!h.is_closed(c));
    h.assert_cited(v3::MQTT_3_1_3_6, Fulfilled);
}

/// 5.0: an empty client id gets a deterministic Assigned Client Identifier.
#[test]
fn an_empty_5_0_client_id_is_assigned_one() {
    let mut h = Harness::new(config());
    let (_, connack) = h.connect_with(V5, "", |_| {});
    assert_eq!(connack.properties.assigned_client_identifier.as_deref(), Some("auto-1"));
    let (_, connack) = h.connect_with(V5, "", |_| {});
    assert_eq!(connack.properties.assigned_client_identifier.as_deref(), Some("auto-2"));
    h.assert_cited(v5::MQTT_3_2_2_16, Fulfilled);
}

/// Wrong credentials are refused with 0x04 (3.1.1) and 0x86 (5.0), and a strict id rule with 0x85.
#[test]
fn bad_credentials_and_invalid_client_ids_are_refused() {
    let cfg = BrokerConfig {
        credentials: vec![Credential { username: "u".into(), password: "p".into() }],
        strict_client_id: true,
        ..config()
    };
    let mut h = Harness::new(cfg);
    let bad = |c: &mut Connect| {
        c.username = Some("u".into());
        c.password = Some(Bytes::from_static(b"wrong"));
    };
    let (c, connack) = h.connect_with(V3, "c1", bad);
    assert_eq!(connack.reason_code, ReasonCode::V3_BAD_USER_NAME_OR_PASSWORD);
    assert!(h.is_closed(c));
    let (c, connack) = h.connect_with(V5, "c1", bad);
    assert_eq!(connack.reason_code, ReasonCode::BAD_USER_NAME_OR_PASSWORD);
    assert!(h.is_closed(c));
    let (_, connack) = h.connect_with(V5, "c1", |c| {
        c.username = Some("u".into());
        c.password = Some(Bytes::from_static(b"p"));
    });
    assert_eq!(connack.reason_code, ReasonCode::SUCCESS);
    let (_, connack) = h.connect_with(V5, "not/valid", |_| {});
    assert_eq!(connack.reason_code, ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
    h.assert_cited(v5::MQTT_3_1_4_2, Fulfilled);
}

/// Beyond max_connections, CONNECT is refused: 0x89 in 5.0, 0x03 in 3.1.1.
#[test]
fn the_connection_limit_refuses_with_server_busy() {
    let mut h = Harness::new(BrokerConfig { max_connections: 1, ..config() });
    h.connect(V5, "a");
    let (_, connack) = h.connect_with(V5, "b", |_| {});
    assert_eq!(connack.reason_code, ReasonCode::SERVER_BUSY);
    let (_, connack) = h.connect_with(V3, "c", |_| {});
    assert_eq!(connack.reason_code, ReasonCode::V3_SERVER_UNAVAILABLE);
}

/// Stored sessions are bounded: a CONNECT that would create one more is refused
/// (0x97 in 5.0, 0x03 in 3.1.1), while an existing session can still resume.
#[test]
fn the_session_limit_refuses_new_sessions_but_resumes_existing_ones() {
    let mut h = Harness::new(BrokerConfig { max_sessions: 1, ..config() });
    let (a, connack) = h.connect_with(V3, "a", |c| c.clean_start = false);
    assert_eq!(connack.reason_code, ReasonCode::V3_ACCEPTED);
    h.drop_network(a);
    let (_, connack) = h.connect_with(V5, "b", |_| {});
    assert_eq!(connack.reason_code, ReasonCode::QUOTA_EXCEEDED);
    let (_, connack) = h.connect_with(V3, "c", |_| {});
    assert_eq!(connack.reason_code, ReasonCode::V3_SERVER_UNAVAILABLE);
    let (_, connack) = h.connect_with(V3, "a", |c| c.clean_start = false);
    assert_eq!(connack.reason_code, ReasonCode::V3_ACCEPTED);
    assert!(connack.session_present, "the stored session resumes");
}

/// A second CONNECT is a protocol violation: 5.0 gets DISCONNECT 0x82, both are closed.
#[test]
fn a_second_connect_is_a_protocol_violation() {
    let mut h = Harness::new(config());
    let c = h.connect(V5, "a");
    h.send(c, Packet::Connect(connect_packet(V5, "a")));
    match h.expect(c) {
        Packet::Disconnect(d) => assert_eq!(d.reason_code, ReasonCode::PROTOCOL_ERROR),
        other => panic!("{other:?}"),
    }
    assert!(h.is_closed(c));
    let c = h.connect(V3, "b");
    h.send(c, Packet::Connect(connect_packet(V3, "b")));
    assert!(h.received(c).is_empty());
    assert!(h.is_closed(c));
    h.assert_cited(v3::MQTT_3_1_0_2, Violated);
    h.assert_cited(v5::MQTT_3_1_0_2, Violated);
}

/// A first packet other than CONNECT closes the connection without an answer.
#[test]
fn a_first_packet_other_than_connect_closes_the_connection() {
    let mut h = Harness::new(config());
    let c = h.open(V3);
    h.send(c, Packet::Pingreq);
    assert!(h.received(c).is_empty());
    assert!(h.is_closed(c));
}

/// Keep-alive is enforced at exactly 1.5×: open at 1.5×−1 ms, closed at 1.5×, and the will is published.
#[test]
fn keep_alive_closes_at_exactly_one_and_a_half_times_and_publishes_the_will() {
    for version in [V3, V5] {
        let mut h = Harness::new(config());
        let watcher = h.connect(version, "watcher");
        h.subscribe(watcher, "will/#", Qos::AtMostOnce);
        let (c, _) = h.connect_with(version, "sleepy", |c| {
            c.keep_alive_secs = 10;
            c.will = Some(will("will/sleepy", "gone"));
        });
        h.advance(5.0);
        h.send(c, Packet::Pingreq);
        assert_eq!(h.expect(c), Packet::Pingresp);
        h.advance_ms(14_999);
        assert!(!h.is_closed(c), "{version}: closed before 1.5x");
        h.advance_ms(1);
        assert!(h.is_closed(c), "{version}: not closed at 1.5x");
        if version == V5 {
            match h.expect(c) {
                Packet::Disconnect(d) => assert_eq!(d.reason_code, ReasonCode::KEEP_ALIVE_TIMEOUT),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(payloads(&h.publishes(watcher)), ["gone"]);
        h.assert_cited(if version == V5 { v5::MQTT_3_1_2_22 } else { v3::MQTT_3_1_2_24 }, Fulfilled);
    }
}

/// The Server Keep Alive override is the one enforced.
#[test]
fn the_server_keep_alive_override_is_enforced() {
    let mut h = Harness::new(BrokerConfig { server_keep_alive_secs: Some(2), ..config() });
    let (c, connack) = h.connect_with(V5, "a", |c| c.keep_alive_secs = 100);
    assert_eq!(connack.properties.server_keep_alive_secs, Some(2));
    h.advance_ms(2_999);
    assert!(!h.is_closed(c));
    h.advance_ms(1);
    assert!(h.is_closed(c));
}

/// Session takeover closes the old connection; a 5.0 client first gets DISCONNECT 0x8E.
#[test]
fn session_takeover_closes_the_old_connection() {
    let mut h = Harness::new(config());
    let old = h.connect(V5, "same");
    let new = h.connect(V5, "same");
    match h.expect(old) {
        Packet::Disconnect(d) => assert_eq!(d.reason_code, ReasonCode::SESSION_TAKEN_OVER),
        other => panic!("{other:?}"),
    }
    assert!(h.is_closed(old));
    assert!(!h.is_closed(new));
    let old = h.connect(V3, "three");
    let new = h.connect(V3, "three");
    assert!(h.received(old).is_empty());
    assert!(h.is_closed(old));
    assert!(!h.is_closed(new));
    h.assert_cited(v5::MQTT_3_1_4_3, Fulfilled);
    h.assert_cited(v3::MQTT_3_1_4_2, Fulfilled);
}

/// Session present is set when a persistent session resumes, and clean start discards it.
#[test]
fn session_present_follows_clean_start_and_stored_state() {
    for version in [V3, V5] {
        let mut h = Harness::new(config());
        let persistent = |c: &mut Connect| {
            c.clean_start = false;
            c.properties.session_expiry_interval_secs = Some(100);
        };
        let (c, connack) = h.connect_with(version, "p", persistent);
        assert!(!connack.session_present);
        h.subscribe(c, "t", Qos::AtLeastOnce);
        h.disconnect(c, ReasonCode::SUCCESS);
        let (c, connack) = h.connect_with(version, "p", persistent);
        assert!(connack.session_present, "{version}");
        h.disconnect(c, ReasonCode::SUCCESS);
        let (_, connack) = h.connect_with(version, "p", |c| c.clean_start = true);
        assert!(!connack.session_present);
        assert!(h.broker.session("p").unwrap().subscriptions.is_empty());
    }
}

/// A 5.0 session ends when its Session Expiry Interval passes while offline.
#[test]
fn a_5_0_session_expires_after_its_interval() {
    let mut h = Harness::new(config());
    let (c, _) = h.connect_with(V5, "e", |c| {
        c.clean_start = false;
        c.properties.session_expiry_interval_secs = Some(10);
    });
    h.disconnect(c, ReasonCode::SUCCESS);
    h.advance(9.9);
    assert!(h.broker.session("e").is_some());
    h.advance(0.1);
    assert!(h.broker.session("e").is_none());
    h.assert_cited(v5::MQTT_4_1_0_2, Fulfilled);
}

/// The will is published on an abnormal close, not on DISCONNECT 0x00, and on 5.0 DISCONNECT 0x04.
#[test]
fn wills_follow_the_way_the_connection_ended() {
    let mut h = Harness::new(config());
    let watcher = h.connect(V5, "watcher");
    h.subscribe(watcher, "will/#", Qos::AtMostOnce);
    let with_will = |c: &mut Connect| c.will = Some(will("will/x", "w"));
    let (c, _) = h.connect_with(V3, "a", with_will);
    h.disconnect(c, ReasonCode::SUCCESS);
    assert!(h.publishes(watcher).is_empty());
    let (c, _) = h.connect_with(V3, "b", with_will);
    h.drop_network(c);
    assert_eq!(payloads(&h.publishes(watcher)), ["w"]);
    let (c, _) = h.connect_with(V5, "c", with_will);
    h.disconnect(c, ReasonCode::DISCONNECT_WITH_WILL_MESSAGE);
    assert_eq!(payloads(&h.publishes(watcher)), ["w"]);
    h.assert_cited(v3::MQTT_3_14_4_3, Fulfilled);
}

/// A will with a delay is published at the delay, or at session expiry if sooner, and not if the session resumes first.
#[test]
fn will_delay_races_session_expiry_and_reconnection() {
    let mut h = Harness::new(config());
    let watcher = h.connect(V5, "watcher");
    h.subscribe(watcher, "will/#", Qos::AtMostOnce);
    let delayed = |delay: u32, expiry: u32| {
        move |c: &mut Connect| {
            c.clean_start = false;
            c.properties.session_expiry_interval_secs = Some(expiry);
            let mut w = will("will/x", "w");
            w.properties.will_delay_interval_secs = Some(delay);
            c.will = Some(w);
        }
    };
    // Delay 5 < expiry 100: published at 5 s.
    let (c, _) = h.connect_with(V5, "a", delayed(5, 100));
    h.drop_network(c);
    h.advance(4.9);
    assert!(h.publishes(watcher).is_empty());
    h.advance(0.1);
    assert_eq!(payloads(&h.publishes(watcher)), ["w"]);
    // Delay 60 > expiry 3: published when the session ends at 3 s.
    let (c, _) = h.connect_with(V5, "b", delayed(60, 3));
    h.drop_network(c);
    h.advance(2.9);
    assert!(h.publishes(watcher).is_empty());
    h.advance(0.1);
    assert_eq!(payloads(&h.publishes(watcher)), ["w"]);
    // Reconnect within the delay: never published.
    let (c, _) = h.connect_with(V5, "c", delayed(5, 100));
    h.drop_network(c);
    h.advance(2.0);
    h.connect_with(V5, "c", delayed(5, 100));
    h.advance(10.0);
    assert!(h.publishes(watcher).is_empty());
    h.assert_cited(v5::MQTT_3_1_3_9, Fulfilled);
    // Reconnect within the delay with a clean start: that ends the old
    // session, so its will goes at once rather than never (found by explore).
    let (c, _) = h.connect_with(V5, "d", delayed(5, 100));
    h.drop_network(c);
    h.advance(2.0);
    assert!(h.publishes(watcher).is_empty());
    h.connect_with(V5, "d", |c: &mut Connect| c.clean_start = true);
    assert_eq!(payloads(&h.publishes(watcher)), ["w"]);
    h.advance(10.0);
    assert!(h.publishes(watcher).is_empty());
}

/// Enhanced authentication runs the built-in challenge-response exchange; an unknown method gets 0x8C.
#[test]
fn enhanced_authentication_runs_a_challenge_response_exchange() {
    let mut h = Harness::new(BrokerConfig { challenge_secret: Some("s3cret".into()), ..config() });
    let c = h.open(V5);
    let mut connect = connect_packet(V5, "authed");
    connect.properties.authentication_method = Some(ChallengeResponse::METHOD.into());
    h.send(c, Packet::Connect(connect));
    let challenge = match h.expect(c) {
        Packet::Auth(auth) => {
            assert_eq!(auth.reason_code, ReasonCode::CONTINUE_AUTHENTICATION);
            auth.properties.into_values().authentication_data.unwrap()
        }
        other => panic!("{other:?}"),
    };
    let answer = ChallengeResponse::answer(&challenge, "s3cret");
    let properties = Properties::from(PropertyValues {
        authentication_method: Some(ChallengeResponse::METHOD.into()),
        authentication_data: Some(answer.into()),
        ..Default::default()
    });
    h.send(c, Packet::Auth(Auth { reason_code: ReasonCode::CONTINUE_AUTHENTICATION, properties }));
    match h.expect(c) {
        Packet::Connack(connack) => {
            assert_eq!(connack.reason_code, ReasonCode::SUCCESS);
            assert_eq!(connack.properties.authentication_method.as_deref(), Some(ChallengeResponse::METHOD));
        }
        other => panic!("{other:?}"),
    }
    let (c, connack) = h.connect_with(V5, "x", |c| c.properties.authentication_method = Some("NOPE".into()));
    assert_eq!(connack.reason_code, ReasonCode::BAD_AUTHENTICATION_METHOD);
    assert!(h.is_closed(c));
    h.assert_cited(v5::MQTT_4_12_0_2, Fulfilled);
    h.assert_cited(v5::MQTT_4_12_0_1, Fulfilled);
}
