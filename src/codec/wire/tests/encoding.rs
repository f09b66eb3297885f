//! Encoding rules: 3.1.1 drops what only 5.0 has, errors leave the buffer
//! as it was, and long packets get a longer remaining length.

use bytes::Bytes;

use super::{decodes_to, hex, id, topic};
use crate::codec::{
    encode, encode_to_vec, Auth, Connack, Disconnect, EncodeError, Packet, PacketType, Properties, PropertyValues,
    PubResponse, Publish, QosPid, ReasonCode, Suback, Unsuback, Version,
};

/// Properties no 3.1.1 packet can carry.
fn some_properties() -> Properties {
    Properties::from(PropertyValues {
        reason_string: Some("r".into()),
        user_properties: vec![("k".into(), "v".into())],
        ..Default::default()
    })
}

/// Encoding for 3.1.1 writes only what 3.1.1 has: no properties and no acknowledgement reason codes.
#[test]
fn v3_encoding_ignores_fields_only_5_0_has() {
    let v3 = Version::V3_1_1;
    let puback = PubResponse { packet_id: id(1), reason_code: ReasonCode(0x10), properties: some_properties() };
    assert_eq!(encode_to_vec(&Packet::Puback(puback), v3).unwrap(), hex(&["40 02 00 01"]));
    let connack = Connack { session_present: false, reason_code: ReasonCode(0x05), properties: some_properties() };
    assert_eq!(encode_to_vec(&Packet::Connack(connack), v3).unwrap(), hex(&["20 02 00 05"]));
    let disconnect = Disconnect { reason_code: ReasonCode(0x8B), properties: some_properties() };
    assert_eq!(encode_to_vec(&Packet::Disconnect(disconnect), v3).unwrap(), hex(&["e0 00"]));
    let unsuback = Unsuback { packet_id: id(2), properties: some_properties(), reason_codes: vec![ReasonCode(0x11)] };
    assert_eq!(encode_to_vec(&Packet::Unsuback(unsuback), v3).unwrap(), hex(&["b0 02 00 02"]));
    let suback = Suback { packet_id: id(3), properties: some_properties(), reason_codes: vec![ReasonCode(0x80)] };
    assert_eq!(encode_to_vec(&Packet::Suback(suback), v3).unwrap(), hex(&["90 03 00 03 80"]));
    let publish = Publish {
        dup: false,
        qos_pid: QosPid::AtMostOnce,
        retain: false,
        topic: topic("t"),
        properties: some_properties(),
        payload: Bytes::from_static(b"p"),
    };
    assert_eq!(encode_to_vec(&Packet::Publish(publish), v3).unwrap(), hex(&["30 04 00 01 74 70"]));
}

/// AUTH cannot be encoded for 3.1.1, and the output buffer is left untouched.
#[test]
fn auth_is_not_in_3_1_1() {
    let mut out = vec![1, 2, 3];
    let err = encode(&Packet::Auth(Auth::default()), Version::V3_1_1, &mut out).unwrap_err();
    assert_eq!(err, EncodeError::NotInVersion { packet: PacketType::Auth, version: Version::V3_1_1 });
    assert_eq!(out, [1, 2, 3]);
}

/// A string over 65,535 bytes is refused and the output buffer is left as it was.
#[test]
fn string_over_65535_bytes_is_refused_and_nothing_is_written() {
    let publish = Publish {
        dup: false,
        qos_pid: QosPid::AtMostOnce,
        retain: false,
        topic: topic("t"),
        properties: Properties::from(PropertyValues { content_type: Some("c".repeat(65_536)), ..Default::default() }),
        payload: Bytes::new(),
    };
    let mut out = vec![0xAA];
    let err = encode(&Packet::Publish(publish), Version::V5, &mut out).unwrap_err();
    assert_eq!(err, EncodeError::FieldTooLong { field: "Content Type" });
    assert_eq!(out, [0xAA]);
}

/// A subscription identifier over 268,435,455 cannot be encoded.
#[test]
fn subscription_identifier_over_the_varint_maximum_is_refused() {
    let publish = Publish {
        dup: false,
        qos_pid: QosPid::AtMostOnce,
        retain: false,
        topic: topic("t"),
        properties: Properties::from(PropertyValues {
            subscription_identifiers: vec![268_435_456],
            ..Default::default()
        }),
        payload: Bytes::new(),
    };
    let err = encode_to_vec(&Packet::Publish(publish), Version::V5).unwrap_err();
    assert_eq!(err, EncodeError::VarintTooLarge { field: "Subscription Identifier", value: 268_435_456 });
}

/// A packet whose remaining length would exceed 268,435,455 is refused.
#[test]
fn packet_over_the_remaining_length_maximum_is_refused() {
    // Zeroed memory is mapped lazily: the encoder refuses before reading the payload.
    let payload = Bytes::from(vec![0u8; 268_435_455]);
    let publish = Publish {
        dup: false,
        qos_pid: QosPid::AtMostOnce,
        retain: false,
        topic: topic("t"),
        properties: Properties::default(),
        payload,
    };
    let mut out = Vec::new();
    let err = encode(&Packet::Publish(publish), Version::V3_1_1, &mut out).unwrap_err();
    assert_eq!(err, EncodeError::TooLarge(268_435_455 + 3));
    assert!(out.is_empty());
}

/// Payloads that need a two-, three- and four-byte remaining length round-trip.
#[test]
fn long_packets_get_a_minimal_multi_byte_remaining_length() {
    for (payload_len, header) in [
        (124, &[0x30, 0x7F][..]),
        (125, &[0x30, 0x80, 0x01]),
        (16_380, &[0x30, 0xFF, 0x7F]),
        (16_381, &[0x30, 0x80, 0x80, 0x01]),
        (2_097_149, &[0x30, 0x80, 0x80, 0x80, 0x01]),
    ] {
        let publish = Packet::Publish(Publish {
            dup: false,
            qos_pid: QosPid::AtMostOnce,
            retain: false,
            topic: topic("t"),
            properties: Properties::default(),
            payload: Bytes::from(vec![7u8; payload_len]),
        });
        let mut out = vec![0xEE];
        encode(&publish, Version::V3_1_1, &mut out).unwrap();
        assert_eq!(out[0], 0xEE, "the encoder appends");
        let bytes = &out[1..];
        assert_eq!(&bytes[..header.len()], header, "payload of {payload_len} bytes");
        assert_eq!(bytes.len(), header.len() + 3 + payload_len);
        if payload_len < 20_000 {
            decodes_to(Version::V3_1_1, bytes, &publish);
        } else {
            let options = crate::codec::DecodeOptions::new(Version::V3_1_1);
            assert_eq!(crate::codec::decode(bytes, &options), Ok(Some((publish.clone(), bytes.len()))));
        }
    }
}

/// Subscription identifiers and user properties keep their own order in their slots.
#[test]
fn repeated_properties_keep_their_order() {
    let publish = Packet::Publish(Publish {
        dup: false,
        qos_pid: QosPid::AtMostOnce,
        retain: false,
        topic: topic("t"),
        properties: Properties::from(PropertyValues {
            subscription_identifiers: vec![9, 3],
            user_properties: vec![("z".into(), "1".into()), ("a".into(), "2".into()), ("z".into(), "3".into())],
            topic_alias: Some(1),
            ..Default::default()
        }),
        payload: Bytes::new(),
    });
    let bytes = encode_to_vec(&publish, Version::V5).unwrap();
    let expected = hex(&[
        "30 20",                // PUBLISH, remaining length 32
        "00 01 74",             // topic "t"
        "1c",                   // property length 28
        "0b 09 0b 03",          // subscription identifiers 9, 3
        "23 00 01",             // topic alias 1
        "26 00 01 7a 00 01 31", // user property z = 1
        "26 00 01 61 00 01 32", // user property a = 2
        "26 00 01 7a 00 01 33", // user property z = 3
    ]);
    assert_eq!(bytes, expected);
    decodes_to(Version::V5, &bytes, &publish);
}
