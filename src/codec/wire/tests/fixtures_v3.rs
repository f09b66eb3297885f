//! Byte-exact fixtures of every MQTT 3.1.1 packet: each decodes to its value
//! and the value encodes back to the same bytes.

use bytes::Bytes;

use super::{filter, id, round_trip, topic};
use crate::codec::{
    Connack, Connect, Disconnect, Packet, Properties, PubResponse, Publish, Qos, QosPid, ReasonCode, Suback, Subscribe,
    Subscription, SubscriptionOptions, Unsuback, Unsubscribe, Version, Will,
};

const V3: Version = Version::V3_1_1;

/// A 3.1.1 CONNECT with a will, a user name and a password round-trips byte for byte.
#[test]
fn v3_connect_with_will_user_name_and_password_round_trips() {
    const BYTES: &[&str] = &[
        "10 23",             // CONNECT, remaining length 35
        "00 04 4d 51 54 54", // protocol name "MQTT"
        "04",                // protocol level 4
        "ee",                // flags: user name, password, will retain, will QoS 1, will, clean session
        "00 3c",             // keep alive 60
        "00 03 63 69 64",    // client identifier "cid"
        "00 03 77 2f 74",    // will topic "w/t"
        "00 03 62 79 65",    // will payload "bye"
        "00 04 75 73 65 72", // user name "user"
        "00 02 70 77",       // password "pw"
    ];
    let expected = Packet::Connect(Connect {
        version: V3,
        clean_start: true,
        keep_alive_secs: 60,
        properties: Properties::default(),
        client_id: "cid".into(),
        will: Some(Will {
            topic: topic("w/t"),
            payload: Bytes::from_static(b"bye"),
            qos: Qos::AtLeastOnce,
            retain: true,
            properties: Properties::default(),
        }),
        username: Some("user".into()),
        password: Some(Bytes::from_static(b"pw")),
    });
    round_trip(V3, BYTES, expected);
}

/// A minimal 3.1.1 CONNECT (empty client identifier, no will, no credentials) round-trips.
#[test]
fn v3_minimal_connect_round_trips() {
    const BYTES: &[&str] = &[
        "10 0c",             // CONNECT, remaining length 12
        "00 04 4d 51 54 54", // protocol name "MQTT"
        "04",                // protocol level 4
        "02",                // flags: clean session
        "00 00",             // keep alive off
        "00 00",             // client identifier ""
    ];
    let expected = Packet::Connect(Connect {
        version: V3,
        clean_start: true,
        keep_alive_secs: 0,
        properties: Properties::default(),
        client_id: String::new(),
        will: None,
        username: None,
        password: None,
    });
    round_trip(V3, BYTES, expected);
}

/// A 3.1.1 CONNACK with Session Present round-trips.
#[test]
fn v3_connack_round_trips() {
    const BYTES: &[&str] = &[
        "20 02", // CONNACK, remaining length 2
        "01",    // acknowledge flags: session present
        "00",    // return code: connection accepted
    ];
    let expected = Packet::Connack(Connack {
        session_present: true,
        reason_code: ReasonCode::V3_ACCEPTED,
        properties: Properties::default(),
    });
    round_trip(V3, BYTES, expected);
}

/// A 3.1.1 CONNACK refusing the connection round-trips.
#[test]
fn v3_connack_refusal_round_trips() {
    const BYTES: &[&str] = &[
        "20 02", // CONNACK, remaining length 2
        "00",    // acknowledge flags: none
        "05",    // return code: not authorized
    ];
    let expected = Packet::Connack(Connack {
        session_present: false,
        reason_code: ReasonCode::V3_NOT_AUTHORIZED,
        properties: Properties::default(),
    });
    round_trip(V3, BYTES, expected);
}

/// A 3.1.1 QoS 0 PUBLISH round-trips.
#[test]
fn v3_publish_qos_0_round_trips() {
    const BYTES: &[&str] = &[
        "30 07",          // PUBLISH, QoS 0, remaining length 7
        "00 03 61 2f 62", // topic "a/b"
        "68 69",          // payload "hi"
    ];
    let expected = Packet::Publish(Publish {
        dup: false,
        qos_pid: QosPid::AtMostOnce,
        retain: false,
        topic: topic("a/b"),
        properties: Properties::default(),
        payload: Bytes::from_static(b"hi"),
    });
    round_trip(V3, BYTES, expected);
}

/// A 3.1.1 retained QoS 1 PUBLISH round-trips.
#[test]
fn v3_publish_qos_1_retained_round_trips() {
    const BYTES: &[&str] = &[
        "33 06",    // PUBLISH, QoS 1, RETAIN, remaining length 6
        "00 01 61", // topic "a"
        "00 0a",    // packet identifier 10
        "78",       // payload "x"
    ];
    let expected = Packet::Publish(Publish {
        dup: false,
        qos_pid: QosPid::AtLeastOnce(id(10)),
        retain: true,
        topic: topic("a"),
        properties: Properties::default(),
        payload: Bytes::from_static(b"x"),
    });
    round_trip(V3, BYTES, expected);
}

/// A 3.1.1 QoS 2 PUBLISH with DUP and an empty payload round-trips.
#[test]
fn v3_publish_qos_2_dup_with_empty_payload_round_trips() {
    const BYTES: &[&str] = &[
        "3c 05",    // PUBLISH, DUP, QoS 2, remaining length 5
        "00 01 61", // topic "a"
        "12 34",    // packet identifier 0x1234
    ];
    let expected = Packet::Publish(Publish {
        dup: true,
        qos_pid: QosPid::ExactlyOnce(id(0x1234)),
        retain: false,
        topic: topic("a"),
        properties: Properties::default(),
        payload: Bytes::new(),
    });
    round_trip(V3, BYTES, expected);
}

/// 3.1.1 PUBACK, PUBREC, PUBREL and PUBCOMP round-trip as a packet identifier alone.
#[test]
fn v3_publish_acknowledgements_round_trip() {
    const PUBACK: &[&str] = &[
        "40 02", // PUBACK, remaining length 2
        "00 01", // packet identifier 1
    ];
    const PUBREC: &[&str] = &[
        "50 02", // PUBREC, remaining length 2
        "00 02", // packet identifier 2
    ];
    const PUBREL: &[&str] = &[
        "62 02", // PUBREL (flags 0010), remaining length 2
        "00 03", // packet identifier 3
    ];
    const PUBCOMP: &[&str] = &[
        "70 02", // PUBCOMP, remaining length 2
        "ff ff", // packet identifier 65535
    ];
    round_trip(V3, PUBACK, Packet::Puback(PubResponse::new(id(1))));
    round_trip(V3, PUBREC, Packet::Pubrec(PubResponse::new(id(2))));
    round_trip(V3, PUBREL, Packet::Pubrel(PubResponse::new(id(3))));
    round_trip(V3, PUBCOMP, Packet::Pubcomp(PubResponse::new(id(65535))));
}

/// A 3.1.1 SUBSCRIBE with two filters round-trips; `$share/` is an ordinary filter in 3.1.1.
#[test]
fn v3_subscribe_round_trips() {
    const BYTES: &[&str] = &[
        "82 17",                         // SUBSCRIBE (flags 0010), remaining length 23
        "00 05",                         // packet identifier 5
        "00 03 61 2f 23",                // filter "a/#"
        "01",                            // requested QoS 1
        "00 01 2b",                      // filter "+"
        "02",                            // requested QoS 2
        "00 08 24 73 68 61 72 65 2f 67", // filter "$share/g" (no shared subscriptions in 3.1.1)
        "00",                            // requested QoS 0
    ];
    let expected = Packet::Subscribe(Subscribe {
        packet_id: id(5),
        properties: Properties::default(),
        subscriptions: vec![
            Subscription { filter: filter("a/#"), options: SubscriptionOptions::qos(Qos::AtLeastOnce) },
            Subscription { filter: filter("+"), options: SubscriptionOptions::qos(Qos::ExactlyOnce) },
            Subscription {
                filter: crate::codec::TopicFilter::new_v3("$share/g").unwrap(),
                options: SubscriptionOptions::qos(Qos::AtMostOnce),
            },
        ],
    });
    round_trip(V3, BYTES, expected);
}

/// A 3.1.1 SUBACK with granted QoS levels and a failure round-trips.
#[test]
fn v3_suback_round_trips() {
    const BYTES: &[&str] = &[
        "90 06",       // SUBACK, remaining length 6
        "00 05",       // packet identifier 5
        "00 01 02 80", // return codes: QoS 0, QoS 1, QoS 2, failure
    ];
    let expected = Packet::Suback(Suback {
        packet_id: id(5),
        properties: Properties::default(),
        reason_codes: vec![ReasonCode(0), ReasonCode(1), ReasonCode(2), ReasonCode::V3_SUBACK_FAILURE],
    });
    round_trip(V3, BYTES, expected);
}

/// A 3.1.1 UNSUBSCRIBE with two filters round-trips.
#[test]
fn v3_unsubscribe_round_trips() {
    const BYTES: &[&str] = &[
        "a2 0a",          // UNSUBSCRIBE (flags 0010), remaining length 10
        "00 06",          // packet identifier 6
        "00 03 61 2f 62", // filter "a/b"
        "00 01 23",       // filter "#"
    ];
    let expected = Packet::Unsubscribe(Unsubscribe {
        packet_id: id(6),
        properties: Properties::default(),
        filters: vec![filter("a/b"), filter("#")],
    });
    round_trip(V3, BYTES, expected);
}

/// A 3.1.1 UNSUBACK (no payload) round-trips.
#[test]
fn v3_unsuback_round_trips() {
    const BYTES: &[&str] = &[
        "b0 02", // UNSUBACK, remaining length 2
        "00 06", // packet identifier 6
    ];
    let expected =
        Packet::Unsuback(Unsuback { packet_id: id(6), properties: Properties::default(), reason_codes: vec![] });
    round_trip(V3, BYTES, expected);
}

/// 3.1.1 PINGREQ, PINGRESP and DISCONNECT round-trip as two bytes.
#[test]
fn v3_ping_and_disconnect_round_trip() {
    const PINGREQ: &[&str] = &[
        "c0 00", // PINGREQ, remaining length 0
    ];
    const PINGRESP: &[&str] = &[
        "d0 00", // PINGRESP, remaining length 0
    ];
    const DISCONNECT: &[&str] = &[
        "e0 00", // DISCONNECT, remaining length 0
    ];
    round_trip(V3, PINGREQ, Packet::Pingreq);
    round_trip(V3, PINGRESP, Packet::Pingresp);
    round_trip(V3, DISCONNECT, Packet::Disconnect(Disconnect::default()));
}
