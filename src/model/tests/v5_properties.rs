//! 5.0 properties (topic aliases, packet sizes, forwarded properties),
//! malformed packets, citations, durable sessions and configuration.

use super::*;
use crate::codec::raw;
use crate::model::Session;
use crate::spec::{v3_1_1 as v3, v5};
use CiteKind::{Fulfilled, Violated};

const V3: Version = Version::V3_1_1;
const V5: Version = Version::V5;

/// Incoming topic aliases map a topic once and stand for it later; one above our maximum gets 0x94.
#[test]
fn incoming_topic_aliases_are_resolved_and_bounded() {
    let mut h = Harness::new(BrokerConfig { topic_alias_maximum: 2, ..config() });
    let s = h.connect(V3, "s");
    h.subscribe(s, "long/topic", Qos::AtMostOnce);
    let c = h.connect(V5, "c");
    let mut first = publish("long/topic", Qos::AtMostOnce, "1");
    first.properties.topic_alias = Some(1);
    h.publish(c, first);
    let mut second = publish("", Qos::AtMostOnce, "2");
    second.topic = TopicName::new("").unwrap();
    second.properties.topic_alias = Some(1);
    h.publish(c, second);
    assert_eq!(payloads(&h.publishes(s)), ["1", "2"]);
    let mut bad = publish("x", Qos::AtMostOnce, "3");
    bad.properties.topic_alias = Some(3);
    match h.publish(c, bad).as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason_code, ReasonCode::TOPIC_ALIAS_INVALID),
        other => panic!("{other:?}"),
    }
    assert!(h.is_closed(c));
    h.assert_cited(v5::MQTT_3_2_2_17, Violated);
}

/// Outgoing topic aliases are used only up to the client's Topic Alias Maximum.
#[test]
fn outgoing_topic_aliases_respect_the_clients_maximum() {
    let mut h = Harness::new(BrokerConfig { outgoing_topic_aliases: true, ..config() });
    let (s, _) = h.connect_with(V5, "s", |c| c.properties.topic_alias_maximum = Some(1));
    h.subscribe(s, "#", Qos::AtMostOnce);
    let p = h.connect(V5, "p");
    for topic in ["a", "a", "b"] {
        h.publish(p, publish(topic, Qos::AtMostOnce, topic));
    }
    let got = h.publishes(s);
    assert_eq!((got[0].topic.as_str(), got[0].properties.topic_alias), ("a", Some(1)));
    assert_eq!((got[1].topic.as_str(), got[1].properties.topic_alias), ("", Some(1)));
    assert_eq!((got[2].topic.as_str(), got[2].properties.topic_alias), ("b", None));
    h.assert_cited(v5::MQTT_3_1_2_26, Fulfilled);
}

/// A message over the client's Maximum Packet Size is dropped, not sent.
#[test]
fn messages_over_the_clients_maximum_packet_size_are_dropped() {
    let mut h = Harness::new(config());
    let (s, _) = h.connect_with(V5, "s", |c| c.properties.maximum_packet_size = Some(64));
    h.subscribe(s, "t", Qos::AtLeastOnce);
    let p = h.connect(V5, "p");
    h.publish(p, publish("t", Qos::AtLeastOnce, &"x".repeat(100)));
    h.publish(p, publish("t", Qos::AtLeastOnce, "small"));
    assert_eq!(payloads(&h.publishes(s)), ["small"]);
    assert_eq!(h.broker.session("s").unwrap().inflight.len(), 1);
    h.assert_cited(v5::MQTT_3_1_2_25, Fulfilled);
}

/// A packet over our Maximum Packet Size gets DISCONNECT 0x95.
#[test]
fn a_packet_over_our_maximum_gets_disconnect_0x95() {
    let mut h = Harness::new(BrokerConfig { max_packet_size: 100, ..config() });
    let c = h.connect(V5, "c");
    match h.publish(c, publish("t", Qos::AtMostOnce, &"x".repeat(200))).as_slice() {
        [Packet::Disconnect(d)] => assert_eq!(d.reason_code, ReasonCode::PACKET_TOO_LARGE),
        other => panic!("{other:?}"),
    }
    assert!(h.is_closed(c));
}

/// Payload format, content type, response topic, correlation data and user properties (in order) are forwarded.
#[test]
fn message_properties_are_forwarded_unchanged() {
    let mut h = Harness::new(config());
    let s = h.connect(V5, "s");
    h.subscribe(s, "req", Qos::AtMostOnce);
    let p = h.connect(V5, "p");
    let mut msg = publish("req", Qos::AtMostOnce, "{}");
    msg.properties.payload_format_indicator = Some(1);
    msg.properties.content_type = Some("application/json".into());
    msg.properties.response_topic = Some("resp/1".into());
    msg.properties.correlation_data = Some(Bytes::from_static(b"id-7"));
    msg.properties.user_properties = vec![("b".into(), "2".into()), ("a".into(), "1".into()), ("b".into(), "3".into())];
    let sent = msg.properties.clone();
    h.publish(p, msg);
    let got = h.publishes(s);
    assert_eq!(got[0].properties, sent);
    for statement in [v5::MQTT_3_3_2_4, v5::MQTT_3_3_2_15, v5::MQTT_3_3_2_16, v5::MQTT_3_3_2_18, v5::MQTT_3_3_2_20] {
        h.assert_cited(statement, Fulfilled);
    }
}

/// A malformed packet closes a 3.1.1 connection and gets DISCONNECT 0x81 in 5.0; other sessions go on.
#[test]
fn malformed_packets_close_only_their_own_connection() {
    let mut h = Harness::new(config());
    let bystander = h.connect(V5, "bystander");
    h.subscribe(bystander, "t", Qos::AtMostOnce);
    let c3 = h.connect(V3, "c3");
    // PUBLISH with QoS 3 (both QoS bits set).
    let bad_qos = raw::RawPacket::new(0x36).string("t").u16(1).build();
    h.send_bytes(c3, &bad_qos);
    assert!(h.received(c3).is_empty());
    assert!(h.is_closed(c3));
    let c5 = h.connect(V5, "c5");
    // PUBREL with reserved flags 0000 instead of 0010.
    let bad_flags = raw::RawPacket::new(0x60).u16(1).build();
    h.send_bytes(c5, &bad_flags);
    match h.expect(c5) {
        Packet::Disconnect(d) => assert_eq!(d.reason_code, ReasonCode::MALFORMED_PACKET),
        other => panic!("{other:?}"),
    }
    assert!(h.is_closed(c5));
    let p = h.connect(V3, "p");
    h.publish(p, publish("t", Qos::AtMostOnce, "still here"));
    assert_eq!(payloads(&h.publishes(bystander)), ["still here"]);
    h.assert_cited(v3::MQTT_3_3_1_4, Violated);
    h.assert_cited(v5::MQTT_4_13_1_1, Fulfilled);
}

/// A QoS 1 exchange cites the expected statements, each version-qualified.
#[test]
fn a_qos_1_exchange_cites_the_expected_statements() {
    let mut h = Harness::new(config());
    let s = h.connect(V5, "s");
    h.subscribe(s, "t", Qos::AtLeastOnce);
    let p = h.connect(V3, "p");
    h.publish(p, publish("t", Qos::AtLeastOnce, "x"));
    let id = h.publishes(s)[0].packet_id().unwrap();
    h.send(s, Packet::Puback(ack(id)));
    let expected = [
        (v3::MQTT_3_2_0_1, Fulfilled),
        (v5::MQTT_3_2_0_1, Fulfilled),
        (v5::MQTT_3_8_4_1, Fulfilled),
        (v5::MQTT_3_9_3_1, Fulfilled),
        (v3::MQTT_3_3_4_1, Fulfilled),
        (v3::MQTT_4_3_2_2, Fulfilled),
        (v5::MQTT_4_5_0_1, Fulfilled),
        (v5::MQTT_3_8_4_8, Fulfilled),
        (v5::MQTT_4_3_2_1, Fulfilled),
        (v5::MQTT_4_3_2_2, Fulfilled),
        (v5::MQTT_3_3_1_3, Fulfilled),
        (v5::MQTT_4_3_2_3, Fulfilled),
    ];
    for (statement, kind) in expected {
        h.assert_cited(statement, kind);
    }
    assert!(h.citations.iter().all(|c| c.conn.is_some() || c.statement.version == V5 || c.statement.version == V3));
}

/// Sessions exported from one broker resume on a new one (a simulated restart), queued messages included.
#[test]
fn exported_sessions_survive_a_restart() {
    let mut h = Harness::new(config());
    let (s, _) = h.connect_with(V5, "s", |c| {
        c.clean_start = false;
        c.properties.session_expiry_interval_secs = Some(100);
    });
    h.subscribe(s, "t", Qos::AtLeastOnce);
    h.drop_network(s);
    let p = h.connect(V5, "p");
    h.publish(p, publish("t", Qos::AtLeastOnce, "kept"));
    let sessions = h.broker.export_sessions();
    let json = serde_json::to_string(&sessions).unwrap();
    let restored: Vec<Session> = serde_json::from_str(&json).unwrap();
    let mut h = Harness::with_broker(Broker::with_sessions(config(), restored));
    let (s, connack) = h.connect_with(V5, "s", |c| c.clean_start = false);
    assert!(connack.session_present);
    assert_eq!(payloads(&h.publishes(s)), ["kept"]);
}

/// The configuration loads from TOML, with defaults for what is missing.
#[test]
fn the_configuration_loads_from_toml() {
    let text = r#"
        max_inflight = 5
        overlap = "per_subscription"
        qos2_forward = "on_pubrel"
        maximum_qos = 1
        [[credentials]]
        username = "u"
        password = "p"
        [[deny]]
        action = "publish"
        filter = "ro/#"
    "#;
    let cfg = BrokerConfig::from_toml_str(text).unwrap();
    assert_eq!(cfg.max_inflight, 5);
    assert_eq!(cfg.maximum_qos, Qos::AtLeastOnce);
    assert_eq!(cfg.deny.len(), 1);
    assert_eq!(cfg.max_retained_messages, BrokerConfig::default().max_retained_messages);
    assert_eq!(BrokerConfig::from_toml_str(&cfg.to_toml_string()).unwrap(), cfg);
    assert_eq!(BrokerConfig::from_toml_str("").unwrap(), BrokerConfig::default());
}
