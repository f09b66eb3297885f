//! Byte-exact fixtures of every MQTT 5.0 packet, with properties and reason
//! codes, and the short forms of the acknowledgements, DISCONNECT and AUTH:
//! each decodes to its value and the value encodes back to the same bytes.
//! The long forms of a success with no properties are accepted by the
//! decoder and encoded in the short form.

use bytes::Bytes;

use super::{decodes_to, filter, hex, id, round_trip, topic};
use crate::codec::{
    encode_to_vec, Auth, Connack, Connect, Disconnect, Packet, Properties, PropertyValues, PubResponse, Publish, Qos,
    QosPid, ReasonCode, RetainHandling, Suback, Subscribe, Subscription, SubscriptionOptions, Unsuback, Unsubscribe,
    Version, Will,
};

const V5: Version = Version::V5;

/// Properties with one user property `k` = `v`.
fn user_kv() -> Vec<(String, String)> {
    vec![("k".into(), "v".into())]
}

/// A 5.0 CONNECT with connect properties, a will with will properties, a user name and a password round-trips.
#[test]
fn v5_connect_with_properties_will_user_name_and_password_round_trips() {
    const BYTES: &[&str] = &[
        "10 6e",                // CONNECT, remaining length 110
        "00 04 4d 51 54 54",    // protocol name "MQTT"
        "05",                   // protocol level 5
        "d6",                   // flags: user name, password, will QoS 2, will, clean start
        "00 1e",                // keep alive 30
        "24",                   // property length 36
        "11 00 00 00 78",       // session expiry interval 120
        "15 00 02 6d 31",       // authentication method "m1"
        "16 00 01 aa",          // authentication data aa
        "17 00",                // request problem information 0
        "19 01",                // request response information 1
        "21 00 14",             // receive maximum 20
        "22 00 05",             // topic alias maximum 5
        "26 00 01 6b 00 01 76", // user property k = v
        "27 00 00 10 00",       // maximum packet size 4096
        "00 03 63 69 64",       // client identifier "cid"
        "25",                   // will property length 37
        "01 01",                // payload format indicator 1
        "02 00 00 00 3c",       // message expiry interval 60
        "03 00 04 74 65 78 74", // content type "text"
        "08 00 03 72 2f 74",    // response topic "r/t"
        "09 00 02 01 02",       // correlation data 01 02
        "18 00 00 00 0a",       // will delay interval 10
        "26 00 01 61 00 01 62", // user property a = b
        "00 03 77 2f 74",       // will topic "w/t"
        "00 03 62 79 65",       // will payload "bye"
        "00 04 75 73 65 72",    // user name "user"
        "00 02 70 77",          // password "pw"
    ];
    let expected = Packet::Connect(Connect {
        version: V5,
        clean_start: true,
        keep_alive_secs: 30,
        properties: Properties::from(PropertyValues {
            session_expiry_interval_secs: Some(120),
            authentication_method: Some("m1".into()),
            authentication_data: Some(Bytes::from_static(&[0xAA])),
            request_problem_information: Some(0),
            request_response_information: Some(1),
            receive_maximum: Some(20),
            topic_alias_maximum: Some(5),
            user_properties: user_kv(),
            maximum_packet_size: Some(4096),
            ..Default::default()
        }),
        client_id: "cid".into(),
        will: Some(Will {
            topic: topic("w/t"),
            payload: Bytes::from_static(b"bye"),
            qos: Qos::ExactlyOnce,
            retain: false,
            properties: Properties::from(PropertyValues {
                payload_format_indicator: Some(1),
                message_expiry_interval_secs: Some(60),
                content_type: Some("text".into()),
                response_topic: Some("r/t".into()),
                correlation_data: Some(Bytes::from_static(&[1, 2])),
                will_delay_interval_secs: Some(10),
                user_properties: vec![("a".into(), "b".into())],
                ..Default::default()
            }),
        }),
        username: Some("user".into()),
        password: Some(Bytes::from_static(b"pw")),
    });
    round_trip(V5, BYTES, expected);
}

/// A minimal 5.0 CONNECT (no properties, empty client identifier) round-trips.
#[test]
fn v5_minimal_connect_round_trips() {
    const BYTES: &[&str] = &[
        "10 0d",             // CONNECT, remaining length 13
        "00 04 4d 51 54 54", // protocol name "MQTT"
        "05",                // protocol level 5
        "02",                // flags: clean start
        "00 3c",             // keep alive 60
        "00",                // property length 0
        "00 00",             // client identifier ""
    ];
    let expected = Packet::Connect(Connect {
        version: V5,
        clean_start: true,
        keep_alive_secs: 60,
        properties: Properties::default(),
        client_id: String::new(),
        will: None,
        username: None,
        password: None,
    });
    round_trip(V5, BYTES, expected);
}

/// CONNECT is decoded by its own protocol level, whatever version the decoder is set to.
#[test]
fn connect_is_decoded_by_its_protocol_level() {
    let v5_connect = hex(&["10 0d 00 04 4d 51 54 54 05 02 00 3c 00 00 00"]);
    let v3_connect = hex(&["10 0c 00 04 4d 51 54 54 04 02 00 00 00 00"]);
    for options in Version::ALL {
        let (packet, _) =
            crate::codec::decode(&v5_connect, &crate::codec::DecodeOptions::new(options)).unwrap().unwrap();
        assert!(matches!(packet, Packet::Connect(Connect { version: Version::V5, .. })), "as {options}");
        let (packet, _) =
            crate::codec::decode(&v3_connect, &crate::codec::DecodeOptions::new(options)).unwrap().unwrap();
        assert!(matches!(packet, Packet::Connect(Connect { version: Version::V3_1_1, .. })), "as {options}");
        // Encoding follows the CONNECT's own version too.
        assert_eq!(encode_to_vec(&packet, options).unwrap(), v3_connect);
    }
}

/// A 5.0 CONNACK carrying every CONNACK property round-trips.
#[test]
fn v5_connack_with_every_connack_property_round_trips() {
    const BYTES: &[&str] = &[
        "20 41",                // CONNACK, remaining length 65
        "01",                   // acknowledge flags: session present
        "00",                   // reason code: success
        "3e",                   // property length 62
        "11 00 00 00 3c",       // session expiry interval 60
        "12 00 02 69 64",       // assigned client identifier "id"
        "13 00 0a",             // server keep alive 10
        "15 00 01 6d",          // authentication method "m"
        "16 00 01 01",          // authentication data 01
        "1a 00 01 72",          // response information "r"
        "1c 00 01 73",          // server reference "s"
        "1f 00 02 6f 6b",       // reason string "ok"
        "21 00 0a",             // receive maximum 10
        "22 00 08",             // topic alias maximum 8
        "24 01",                // maximum QoS 1
        "25 00",                // retain available 0
        "26 00 01 6b 00 01 76", // user property k = v
        "27 00 00 ff ff",       // maximum packet size 65535
        "28 01",                // wildcard subscription available 1
        "29 00",                // subscription identifiers available 0
        "2a 01",                // shared subscription available 1
    ];
    let expected = Packet::Connack(Connack {
        session_present: true,
        reason_code: ReasonCode::SUCCESS,
        properties: Properties::from(PropertyValues {
            session_expiry_interval_secs: Some(60),
            assigned_client_identifier: Some("id".into()),
            server_keep_alive_secs: Some(10),
            authentication_method: Some("m".into()),
            authentication_data: Some(Bytes::from_static(&[1])),
            response_information: Some("r".into()),
            server_reference: Some("s".into()),
            reason_string: Some("ok".into()),
            receive_maximum: Some(10),
            topic_alias_maximum: Some(8),
            maximum_qos: Some(1),
            retain_available: Some(0),
            user_properties: user_kv(),
            maximum_packet_size: Some(65535),
            wildcard_subscription_available: Some(1),
            subscription_identifier_available: Some(0),
            shared_subscription_available: Some(1),
            ..Default::default()
        }),
    });
    round_trip(V5, BYTES, expected);
}

/// A 5.0 CONNACK refusing the connection, with no properties, round-trips.
#[test]
fn v5_connack_refusal_round_trips() {
    const BYTES: &[&str] = &[
        "20 03", // CONNACK, remaining length 3
        "00",    // acknowledge flags: none
        "87",    // reason code: not authorized
        "00",    // property length 0
    ];
    let expected = Packet::Connack(Connack {
        session_present: false,
        reason_code: ReasonCode::NOT_AUTHORIZED,
        properties: Properties::default(),
    });
    round_trip(V5, BYTES, expected);
}

/// A 5.0 QoS 0 PUBLISH with an empty topic and a Topic Alias round-trips.
#[test]
fn v5_publish_qos_0_with_topic_alias_and_empty_topic_round_trips() {
    const BYTES: &[&str] = &[
        "30 08",    // PUBLISH, QoS 0, remaining length 8
        "00 00",    // topic "" (the alias stands for it)
        "03",       // property length 3
        "23 00 05", // topic alias 5
        "68 69",    // payload "hi"
    ];
    let expected = Packet::Publish(Publish {
        dup: false,
        qos_pid: QosPid::AtMostOnce,
        retain: false,
        topic: topic(""),
        properties: Properties::from(PropertyValues { topic_alias: Some(5), ..Default::default() }),
        payload: Bytes::from_static(b"hi"),
    });
    round_trip(V5, BYTES, expected);
}

/// A 5.0 QoS 1 PUBLISH carrying every PUBLISH property, with two subscription identifiers, round-trips.
#[test]
fn v5_publish_qos_1_with_every_publish_property_round_trips() {
    const BYTES: &[&str] = &[
        "32 29",                // PUBLISH, QoS 1, remaining length 41
        "00 01 61",             // topic "a"
        "00 07",                // packet identifier 7
        "22",                   // property length 34
        "01 01",                // payload format indicator 1
        "02 00 00 00 0a",       // message expiry interval 10
        "03 00 01 63",          // content type "c"
        "08 00 01 72",          // response topic "r"
        "09 00 01 ff",          // correlation data ff
        "0b 01",                // subscription identifier 1
        "0b 80 01",             // subscription identifier 128
        "23 00 02",             // topic alias 2
        "26 00 01 6b 00 01 76", // user property k = v
        "78",                   // payload "x"
    ];
    let expected = Packet::Publish(Publish {
        dup: false,
        qos_pid: QosPid::AtLeastOnce(id(7)),
        retain: false,
        topic: topic("a"),
        properties: Properties::from(PropertyValues {
            payload_format_indicator: Some(1),
            message_expiry_interval_secs: Some(10),
            content_type: Some("c".into()),
            response_topic: Some("r".into()),
            correlation_data: Some(Bytes::from_static(&[0xFF])),
            subscription_identifiers: vec![1, 128],
            topic_alias: Some(2),
            user_properties: user_kv(),
            ..Default::default()
        }),
        payload: Bytes::from_static(b"x"),
    });
    round_trip(V5, BYTES, expected);
}

/// A 5.0 QoS 2 PUBLISH with DUP and RETAIN, no properties and an empty payload round-trips.
#[test]
fn v5_publish_qos_2_dup_retained_round_trips() {
    const BYTES: &[&str] = &[
        "3d 06",    // PUBLISH, DUP, QoS 2, RETAIN, remaining length 6
        "00 01 61", // topic "a"
        "00 08",    // packet identifier 8
        "00",       // property length 0
    ];
    let expected = Packet::Publish(Publish {
        dup: true,
        qos_pid: QosPid::ExactlyOnce(id(8)),
        retain: true,
        topic: topic("a"),
        properties: Properties::default(),
        payload: Bytes::new(),
    });
    round_trip(V5, BYTES, expected);
}

/// A 5.0 PUBACK has three canonical forms: identifier only, with a reason code, with a reason code and properties.
#[test]
fn v5_puback_forms_round_trip() {
    const SHORT: &[&str] = &[
        "40 02", // PUBACK, remaining length 2
        "00 01", // packet identifier 1 (reason code 0x00 omitted)
    ];
    const CODE: &[&str] = &[
        "40 03", // PUBACK, remaining length 3
        "00 01", // packet identifier 1
        "10",    // reason code: no matching subscribers (property length omitted)
    ];
    const FULL: &[&str] = &[
        "40 0f",                // PUBACK, remaining length 15
        "00 01",                // packet identifier 1
        "80",                   // reason code: unspecified error
        "0b",                   // property length 11
        "1f 00 01 65",          // reason string "e"
        "26 00 01 6b 00 01 76", // user property k = v
    ];
    round_trip(V5, SHORT, Packet::Puback(PubResponse::new(id(1))));
    let code = PubResponse { reason_code: ReasonCode::NO_MATCHING_SUBSCRIBERS, ..PubResponse::new(id(1)) };
    round_trip(V5, CODE, Packet::Puback(code));
    let full = PubResponse {
        packet_id: id(1),
        reason_code: ReasonCode::UNSPECIFIED_ERROR,
        properties: Properties::from(PropertyValues {
            reason_string: Some("e".into()),
            user_properties: user_kv(),
            ..Default::default()
        }),
    };
    round_trip(V5, FULL, Packet::Puback(full));
}

/// 5.0 PUBREC, PUBREL and PUBCOMP round-trip with reason codes and properties.
#[test]
fn v5_pubrec_pubrel_pubcomp_round_trip() {
    const PUBREC: &[&str] = &[
        "50 03", // PUBREC, remaining length 3
        "00 02", // packet identifier 2
        "91",    // reason code: packet identifier in use
    ];
    const PUBREL: &[&str] = &[
        "62 03", // PUBREL (flags 0010), remaining length 3
        "00 03", // packet identifier 3
        "92",    // reason code: packet identifier not found
    ];
    const PUBCOMP: &[&str] = &[
        "70 08",       // PUBCOMP, remaining length 8
        "00 04",       // packet identifier 4
        "92",          // reason code: packet identifier not found
        "04",          // property length 4
        "1f 00 01 78", // reason string "x"
    ];
    const PUBREL_SHORT: &[&str] = &[
        "62 02", // PUBREL (flags 0010), remaining length 2
        "00 05", // packet identifier 5
    ];
    let not_found = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
    let pubrec = PubResponse { reason_code: ReasonCode::PACKET_IDENTIFIER_IN_USE, ..PubResponse::new(id(2)) };
    round_trip(V5, PUBREC, Packet::Pubrec(pubrec));
    round_trip(V5, PUBREL, Packet::Pubrel(PubResponse { reason_code: not_found, ..PubResponse::new(id(3)) }));
    let pubcomp = PubResponse {
        packet_id: id(4),
        reason_code: not_found,
        properties: Properties::from(PropertyValues { reason_string: Some("x".into()), ..Default::default() }),
    };
    round_trip(V5, PUBCOMP, Packet::Pubcomp(pubcomp));
    round_trip(V5, PUBREL_SHORT, Packet::Pubrel(PubResponse::new(id(5))));
}

/// The longer forms of a successful acknowledgement are accepted and encoded in the short form.
#[test]
fn v5_long_forms_of_a_plain_success_decode_and_encode_short() {
    let short = hex(&["40 02 00 01"]);
    for long in [hex(&["40 03 00 01 00"]), hex(&["40 04 00 01 00 00"])] {
        let packet = Packet::Puback(PubResponse::new(id(1)));
        decodes_to(V5, &long, &packet);
        assert_eq!(encode_to_vec(&packet, V5).unwrap(), short);
    }
    // A non-zero code with an empty property block encodes without the property length.
    let packet = Packet::Pubrec(PubResponse { reason_code: ReasonCode(0x10), ..PubResponse::new(id(1)) });
    decodes_to(V5, &hex(&["50 04 00 01 10 00"]), &packet);
    assert_eq!(encode_to_vec(&packet, V5).unwrap(), hex(&["50 03 00 01 10"]));
    // DISCONNECT and AUTH likewise.
    decodes_to(V5, &hex(&["e0 02 00 00"]), &Packet::Disconnect(Disconnect::default()));
    decodes_to(V5, &hex(&["e0 01 00"]), &Packet::Disconnect(Disconnect::default()));
    decodes_to(V5, &hex(&["f0 02 00 00"]), &Packet::Auth(Auth::default()));
}

/// A 5.0 SUBSCRIBE with a subscription identifier, every option bit and a shared subscription round-trips.
#[test]
fn v5_subscribe_round_trips() {
    const BYTES: &[&str] = &[
        "82 1f",                               // SUBSCRIBE (flags 0010), remaining length 31
        "00 05",                               // packet identifier 5
        "09",                                  // property length 9
        "0b 05",                               // subscription identifier 5
        "26 00 01 6b 00 01 76",                // user property k = v
        "00 03 61 2f 23",                      // filter "a/#"
        "2d",                                  // options: retain handling 2, retain as published, no local, QoS 1
        "00 0a 24 73 68 61 72 65 2f 67 2f 62", // filter "$share/g/b"
        "12",                                  // options: retain handling 1, QoS 2
    ];
    let expected = Packet::Subscribe(Subscribe {
        packet_id: id(5),
        properties: Properties::from(PropertyValues {
            subscription_identifiers: vec![5],
            user_properties: user_kv(),
            ..Default::default()
        }),
        subscriptions: vec![
            Subscription {
                filter: filter("a/#"),
                options: SubscriptionOptions {
                    qos: Qos::AtLeastOnce,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: RetainHandling::DoNotSend,
                },
            },
            Subscription {
                filter: filter("$share/g/b"),
                options: SubscriptionOptions {
                    qos: Qos::ExactlyOnce,
                    no_local: false,
                    retain_as_published: false,
                    retain_handling: RetainHandling::SendIfNew,
                },
            },
        ],
    });
    round_trip(V5, BYTES, expected);
}

/// A 5.0 SUBACK with a reason string and four reason codes round-trips.
#[test]
fn v5_suback_round_trips() {
    const BYTES: &[&str] = &[
        "90 0b",       // SUBACK, remaining length 11
        "00 05",       // packet identifier 5
        "04",          // property length 4
        "1f 00 01 72", // reason string "r"
        "01 02 80 a2", // granted QoS 1, granted QoS 2, unspecified error, wildcards not supported
    ];
    let expected = Packet::Suback(Suback {
        packet_id: id(5),
        properties: Properties::from(PropertyValues { reason_string: Some("r".into()), ..Default::default() }),
        reason_codes: vec![
            ReasonCode::GRANTED_QOS_1,
            ReasonCode::GRANTED_QOS_2,
            ReasonCode::UNSPECIFIED_ERROR,
            ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED,
        ],
    });
    round_trip(V5, BYTES, expected);
}

/// A 5.0 UNSUBSCRIBE with a user property round-trips.
#[test]
fn v5_unsubscribe_round_trips() {
    const BYTES: &[&str] = &[
        "a2 12",                // UNSUBSCRIBE (flags 0010), remaining length 18
        "00 06",                // packet identifier 6
        "07",                   // property length 7
        "26 00 01 6b 00 01 76", // user property k = v
        "00 03 61 2f 62",       // filter "a/b"
        "00 01 23",             // filter "#"
    ];
    let expected = Packet::Unsubscribe(Unsubscribe {
        packet_id: id(6),
        properties: Properties::from(PropertyValues { user_properties: user_kv(), ..Default::default() }),
        filters: vec![filter("a/b"), filter("#")],
    });
    round_trip(V5, BYTES, expected);
}

/// A 5.0 UNSUBACK with reason codes, with and without properties, round-trips.
#[test]
fn v5_unsuback_round_trips() {
    const PLAIN: &[&str] = &[
        "b0 05", // UNSUBACK, remaining length 5
        "00 06", // packet identifier 6
        "00",    // property length 0
        "00 11", // success, no subscription existed
    ];
    const WITH_REASON: &[&str] = &[
        "b0 08",       // UNSUBACK, remaining length 8
        "00 07",       // packet identifier 7
        "04",          // property length 4
        "1f 00 01 72", // reason string "r"
        "87",          // not authorized
    ];
    let plain = Unsuback {
        packet_id: id(6),
        properties: Properties::default(),
        reason_codes: vec![ReasonCode::SUCCESS, ReasonCode::NO_SUBSCRIPTION_EXISTED],
    };
    round_trip(V5, PLAIN, Packet::Unsuback(plain));
    let with_reason = Unsuback {
        packet_id: id(7),
        properties: Properties::from(PropertyValues { reason_string: Some("r".into()), ..Default::default() }),
        reason_codes: vec![ReasonCode::NOT_AUTHORIZED],
    };
    round_trip(V5, WITH_REASON, Packet::Unsuback(with_reason));
}

/// 5.0 PINGREQ and PINGRESP round-trip as two bytes.
#[test]
fn v5_ping_round_trips() {
    const PINGREQ: &[&str] = &[
        "c0 00", // PINGREQ, remaining length 0
    ];
    const PINGRESP: &[&str] = &[
        "d0 00", // PINGRESP, remaining length 0
    ];
    round_trip(V5, PINGREQ, Packet::Pingreq);
    round_trip(V5, PINGRESP, Packet::Pingresp);
}

/// A 5.0 DISCONNECT has three canonical forms: empty, reason code only, reason code and properties.
#[test]
fn v5_disconnect_forms_round_trip() {
    const SHORT: &[&str] = &[
        "e0 00", // DISCONNECT, remaining length 0 (normal disconnection)
    ];
    const CODE: &[&str] = &[
        "e0 01", // DISCONNECT, remaining length 1
        "04",    // reason code: disconnect with will message
    ];
    const FULL: &[&str] = &[
        "e0 0f",          // DISCONNECT, remaining length 15
        "8b",             // reason code: server shutting down
        "0d",             // property length 13
        "11 00 00 00 00", // session expiry interval 0
        "1c 00 01 73",    // server reference "s"
        "1f 00 01 72",    // reason string "r"
    ];
    round_trip(V5, SHORT, Packet::Disconnect(Disconnect::default()));
    let code = Disconnect { reason_code: ReasonCode::DISCONNECT_WITH_WILL_MESSAGE, properties: Properties::default() };
    round_trip(V5, CODE, Packet::Disconnect(code));
    let full = Disconnect {
        reason_code: ReasonCode::SERVER_SHUTTING_DOWN,
        properties: Properties::from(PropertyValues {
            session_expiry_interval_secs: Some(0),
            server_reference: Some("s".into()),
            reason_string: Some("r".into()),
            ..Default::default()
        }),
    };
    round_trip(V5, FULL, Packet::Disconnect(full));
}

/// A 5.0 AUTH is empty, or carries a reason code and a property length (never a lone reason code).
#[test]
fn v5_auth_forms_round_trip() {
    const SHORT: &[&str] = &[
        "f0 00", // AUTH, remaining length 0 (success)
    ];
    const CODE: &[&str] = &[
        "f0 02", // AUTH, remaining length 2
        "18",    // reason code: continue authentication
        "00",    // property length 0
    ];
    const FULL: &[&str] = &[
        "f0 0f",          // AUTH, remaining length 15
        "19",             // reason code: re-authenticate
        "0d",             // property length 13
        "15 00 01 6d",    // authentication method "m"
        "16 00 02 01 02", // authentication data 01 02
        "1f 00 01 72",    // reason string "r"
    ];
    round_trip(V5, SHORT, Packet::Auth(Auth::default()));
    let code = Auth { reason_code: ReasonCode::CONTINUE_AUTHENTICATION, properties: Properties::default() };
    round_trip(V5, CODE, Packet::Auth(code));
    let full = Auth {
        reason_code: ReasonCode::RE_AUTHENTICATE,
        properties: Properties::from(PropertyValues {
            authentication_method: Some("m".into()),
            authentication_data: Some(Bytes::from_static(&[1, 2])),
            reason_string: Some("r".into()),
            ..Default::default()
        }),
    };
    round_trip(V5, FULL, Packet::Auth(full));
}
