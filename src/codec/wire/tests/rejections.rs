//! One test per row of `docs/codec-rejections.md`: the kind, the offset of
//! the offending byte, the statement cited in each version, the packet type
//! and the version.

use super::{hex, rejection, rejects, text};
use crate::codec::raw::{fixed_header, RawPacket};
use crate::codec::{
    decode, DecodeErrorKind as K, DecodeOptions, Packet, PacketType as T, PropertyId as P, ReasonCode, Version,
};
use crate::spec::{v3_1_1, v5};

const V3: Version = Version::V3_1_1;
const V5: Version = Version::V5;

/// A SUBSCRIBE with one filter and options byte, as `version`.
fn subscribe(version: Version, filter: &[u8], options: u8) -> Vec<u8> {
    let packet = RawPacket::new(0x82).u16(1);
    let packet = if version == V5 { packet.u8(0) } else { packet };
    packet.string_bytes(filter).u8(options).build()
}

/// An UNSUBSCRIBE with one filter, as `version`.
fn unsubscribe(version: Version, filter: &[u8]) -> Vec<u8> {
    let packet = RawPacket::new(0xA2).u16(1);
    let packet = if version == V5 { packet.u8(0) } else { packet };
    packet.string_bytes(filter).build()
}

/// A QoS 0 PUBLISH with `topic`, as `version`.
fn publish(version: Version, topic: &[u8]) -> Vec<u8> {
    let packet = RawPacket::new(0x30).string_bytes(topic);
    let packet = if version == V5 { packet.u8(0) } else { packet };
    packet.bytes(b"p").build()
}

/// A CONNECT of `level` with `flags` and the given payload fields after the client identifier "c".
fn connect(level: u8, flags: u8, rest: impl FnOnce(RawPacket) -> RawPacket) -> Vec<u8> {
    let packet = RawPacket::new(0x10).string("MQTT").u8(level).u8(flags).u16(60);
    let packet = if level == 5 { packet.u8(0) } else { packet };
    rest(packet.string("c")).build()
}

/// Packet type 0 is reserved in both versions; no statement, no packet type.
#[test]
fn reserved_packet_type_0_is_rejected_without_a_statement() {
    for version in Version::ALL {
        let err = rejection(version, &[0x00]);
        assert_eq!((err.kind, err.offset, err.statement, err.packet), (K::ReservedPacketType, 0, None, None));
    }
}

/// AUTH does not exist in 3.1.1; the first byte alone is enough to reject it.
#[test]
fn auth_in_3_1_1_is_rejected_at_the_first_byte() {
    rejects(V3, &[0xF0], K::AuthInV3, 0, None, T::Auth);
    rejects(V3, &[0xF0, 0x00], K::AuthInV3, 0, None, T::Auth);
}

/// Wrong fixed-header flags cite the packet's own statement where it has one, else the general rule.
#[test]
fn reserved_fixed_header_flags_cite_the_table() {
    let flags = |packet, flags, expected| K::ReservedFlags { packet, flags, expected };
    let cases = [
        (0x60, T::Pubrel, 0b0000, 0b0010, Some(v3_1_1::MQTT_3_6_1_1), Some(v5::MQTT_3_6_1_1)),
        (0x80, T::Subscribe, 0b0000, 0b0010, Some(v3_1_1::MQTT_3_8_1_1), Some(v5::MQTT_3_8_1_1)),
        (0xA3, T::Unsubscribe, 0b0011, 0b0010, Some(v3_1_1::MQTT_3_10_1_1), Some(v5::MQTT_3_10_1_1)),
        (0x41, T::Puback, 0b0001, 0, Some(v3_1_1::MQTT_2_2_2_2), Some(v5::MQTT_2_1_3_1)),
        (0x28, T::Connack, 0b1000, 0, Some(v3_1_1::MQTT_2_2_2_2), Some(v5::MQTT_2_1_3_1)),
        (0xC2, T::Pingreq, 0b0010, 0, Some(v3_1_1::MQTT_2_2_2_2), Some(v5::MQTT_2_1_3_1)),
        (0xB1, T::Unsuback, 0b0001, 0, Some(v3_1_1::MQTT_2_2_2_2), Some(v5::MQTT_2_1_3_1)),
        (0xE1, T::Disconnect, 0b0001, 0, Some(v3_1_1::MQTT_3_14_1_1), Some(v5::MQTT_3_14_1_1)),
    ];
    for (first, packet, f, expected, s3, s5) in cases {
        rejects(V3, &[first], flags(packet, f, expected), 0, s3, packet);
        rejects(V5, &[first, 0x00], flags(packet, f, expected), 0, s5, packet);
    }
    rejects(V5, &[0xF4, 0x00], flags(T::Auth, 0b0100, 0), 0, Some(v5::MQTT_3_15_1_1), T::Auth);
}

/// CONNECT's fixed-header flags are judged by the version its protocol level names.
#[test]
fn connect_reserved_flags_cite_the_version_of_its_protocol_level() {
    for options in Version::ALL {
        let mut v3 = connect(4, 0x02, |p| p);
        v3[0] = 0x12;
        let expected = K::ReservedFlags { packet: T::Connect, flags: 0b0010, expected: 0 };
        rejects(V3, &v3, expected.clone(), 0, Some(v3_1_1::MQTT_2_2_2_2), T::Connect);
        let mut v5 = connect(5, 0x02, |p| p);
        v5[0] = 0x12;
        let err = rejection(options, &v5);
        assert_eq!((err.kind, err.statement, err.version), (expected, Some(v5::MQTT_2_1_3_1), V5));
    }
}

/// A remaining length with a continuation bit on its fourth byte is an error at that byte, in both versions.
#[test]
fn remaining_length_longer_than_4_bytes_is_rejected_without_waiting() {
    for version in Version::ALL {
        rejects(version, &[0x30, 0x80, 0x80, 0x80, 0x80], K::VarintTooLong, 4, None, T::Publish);
        rejects(version, &[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], K::VarintTooLong, 4, None, T::Publish);
    }
}

/// A non-minimal remaining length breaks 5.0 MQTT-1.5.5-1; 3.1.1 accepts it.
#[test]
fn non_minimal_remaining_length_is_rejected_in_5_0_only() {
    rejects(V5, &[0xC0, 0x80, 0x00], K::VarintNotMinimal, 2, Some(v5::MQTT_1_5_5_1), T::Pingreq);
    let options = DecodeOptions::new(V3);
    assert_eq!(decode(&[0xC0, 0x80, 0x00], &options), Ok(Some((Packet::Pingreq, 3))));
    assert_eq!(decode(&[0xC0, 0x80, 0x80, 0x00], &options), Ok(Some((Packet::Pingreq, 4))));
    // A non-minimal property length too.
    rejects(V5, &hex(&["e0 03 00 80 00"]), K::VarintNotMinimal, 4, Some(v5::MQTT_1_5_5_1), T::Disconnect);
    // CONNECT follows its own level: level 5 is rejected even by a 3.1.1 decoder, level 4 accepted by a 5.0 one.
    let v5_connect = RawPacket::new(0x10).string("MQTT").u8(5).u8(2).u16(0).u8(0).string("c");
    let bytes = v5_connect.build_with_remaining_length_bytes(&[0x8E, 0x00]);
    let err = rejection(V3, &bytes);
    assert_eq!((err.kind, err.offset, err.statement), (K::VarintNotMinimal, 2, Some(v5::MQTT_1_5_5_1)));
    let v3_connect = RawPacket::new(0x10).string("MQTT").u8(4).u8(2).u16(0).string("c");
    let bytes = v3_connect.build_with_remaining_length_bytes(&[0x8D, 0x00]);
    assert!(matches!(decode(&bytes, &DecodeOptions::new(V5)), Ok(Some((Packet::Connect(_), 16)))));
}

/// A CONNECT with bytes left over or a field cut off breaks MQTT-3.1.4-1 of its version.
#[test]
fn connect_not_matching_its_remaining_length_cites_3_1_4_1() {
    let long = connect(4, 0x02, |p| p.u8(0xAA));
    let declared = long.len() - 2;
    let leftover = K::RemainingLengthMismatch { declared, detail: "bytes left after the last CONNECT field" };
    rejects(V3, &long, leftover, long.len() - 1, Some(v3_1_1::MQTT_3_1_4_1), T::Connect);
    // User name flag set, but the packet ends after the client identifier.
    let cut = connect(5, 0x82, |p| p);
    let field = cut.len();
    rejects(V5, &cut, K::Truncated { field: "user name" }, field, Some(v5::MQTT_3_1_4_1), T::Connect);
    // Client identifier length running past the end.
    let cut = RawPacket::new(0x10).string("MQTT").u8(4).u8(2).u16(0).u16(5).bytes(b"ab").build();
    rejects(V3, &cut, K::Truncated { field: "client identifier" }, 12, Some(v3_1_1::MQTT_3_1_4_1), T::Connect);
}

/// Other packets that do not match their remaining length cite no statement.
#[test]
fn other_packets_not_matching_their_remaining_length_cite_nothing() {
    let mismatch = |declared, detail| K::RemainingLengthMismatch { declared, detail };
    let after_ack = "a 3.1.1 acknowledgement has only a packet identifier";
    rejects(V3, &hex(&["40 03 00 01 00"]), mismatch(3, after_ack), 4, None, T::Puback);
    rejects(V3, &hex(&["c0 01 00"]), mismatch(1, "PINGREQ has no content"), 2, None, T::Pingreq);
    rejects(V5, &hex(&["d0 01 00"]), mismatch(1, "PINGRESP has no content"), 2, None, T::Pingresp);
    rejects(V3, &hex(&["e0 01 00"]), mismatch(1, "a 3.1.1 DISCONNECT has no content"), 2, None, T::Disconnect);
    let unsuback = "a 3.1.1 UNSUBACK has only a packet identifier";
    rejects(V3, &hex(&["b0 03 00 01 00"]), mismatch(3, unsuback), 4, None, T::Unsuback);
    let connack = "bytes left after the CONNACK variable header";
    rejects(V3, &hex(&["20 03 00 00 00"]), mismatch(3, connack), 4, None, T::Connack);
    rejects(V3, &hex(&["40 01 00"]), K::Truncated { field: "packet identifier" }, 2, None, T::Puback);
    rejects(V5, &hex(&["30 03 00 05 61"]), K::Truncated { field: "topic name" }, 2, None, T::Publish);
    rejects(V3, &hex(&["82 05 00 01 00 01 61"]), K::Truncated { field: "subscription options" }, 7, None, T::Subscribe);
}

/// A declared size over the maximum is rejected as soon as the fixed header is read.
#[test]
fn packet_larger_than_the_maximum_is_rejected_from_its_fixed_header() {
    let options = DecodeOptions { version: V5, max_packet_size: 10 };
    let err = decode(&[0x30, 0x09], &options).unwrap_err();
    assert_eq!((err.kind.clone(), err.offset, err.statement), (K::PacketTooLarge { size: 11, max: 10 }, 1, None));
    assert_eq!(err.reason_code(), ReasonCode::PACKET_TOO_LARGE);
    assert_eq!(decode(&[0x30, 0x08], &options), Ok(None), "10 bytes are allowed");
    let err = decode(&[0x30, 0xFF, 0xFF, 0xFF, 0x7F], &DecodeOptions::new(V3)).map(|_| ());
    assert_eq!(err, Ok(()), "the protocol maximum itself is allowed (and incomplete here)");
}

/// PUBLISH QoS 3 and DUP on QoS 0 are rejected at the first byte in both versions.
#[test]
fn publish_with_qos_3_or_dup_on_qos_0_is_rejected_citing_3_3_1() {
    rejects(V3, &[0x36], K::InvalidQos, 0, Some(v3_1_1::MQTT_3_3_1_4), T::Publish);
    rejects(V5, &[0x37, 0x00], K::InvalidQos, 0, Some(v5::MQTT_3_3_1_4), T::Publish);
    rejects(V3, &[0x38], K::DupOnQos0, 0, Some(v3_1_1::MQTT_3_3_1_2), T::Publish);
    rejects(V5, &[0x39, 0x00], K::DupOnQos0, 0, Some(v5::MQTT_3_3_1_2), T::Publish);
}

/// Packet identifier 0 cites the statement of its packet family, in each version.
#[test]
fn packet_identifier_0_is_rejected_per_packet_family() {
    let request = (Some(v3_1_1::MQTT_2_3_1_1), Some(v5::MQTT_2_2_1_3));
    let response = (Some(v3_1_1::MQTT_2_3_1_6), Some(v5::MQTT_2_2_1_5));
    let sub_ack = (Some(v3_1_1::MQTT_2_3_1_7), Some(v5::MQTT_2_2_1_6));
    let cases: [(&str, &str, T, usize, _); 8] = [
        ("32 05 00 01 61 00 00", "32 06 00 01 61 00 00 00", T::Publish, 5, request),
        ("82 06 00 00 00 01 61 00", "82 07 00 00 00 00 01 61 00", T::Subscribe, 2, request),
        ("a2 05 00 00 00 01 61", "a2 06 00 00 00 00 01 61", T::Unsubscribe, 2, request),
        ("40 02 00 00", "40 02 00 00", T::Puback, 2, response),
        ("50 02 00 00", "50 03 00 00 10", T::Pubrec, 2, response),
        ("62 02 00 00", "62 02 00 00", T::Pubrel, 2, response),
        ("90 03 00 00 00", "90 04 00 00 00 00", T::Suback, 2, sub_ack),
        ("b0 02 00 00", "b0 04 00 00 00 00", T::Unsuback, 2, sub_ack),
    ];
    for (v3, v5, packet, offset, (s3, s5)) in cases {
        rejects(V3, &hex(&[v3]), K::ZeroPacketId, offset, s3, packet);
        rejects(V5, &hex(&[v5]), K::ZeroPacketId, offset, s5, packet);
    }
    rejects(V3, &hex(&["70 02 00 00"]), K::ZeroPacketId, 2, response.0, T::Pubcomp);
    assert_eq!(rejection(V5, &hex(&["70 02 00 00"])).reason_code(), ReasonCode::PROTOCOL_ERROR);
}

/// Ill-formed UTF-8 and U+0000 are rejected in every string, at the offending byte.
#[test]
fn ill_formed_utf8_and_null_are_rejected_in_every_string() {
    let surrogate: &[u8] = &[b'a', 0xED, 0xA0, 0x80];
    let overlong: &[u8] = &[0xC0, 0xAF];
    let utf8 = |field| K::InvalidUtf8 { field };
    let nul = |field| K::NullCharacter { field };
    // Topic name: the string's data starts at offset 4.
    rejects(V3, &publish(V3, surrogate), utf8("topic name"), 5, Some(v3_1_1::MQTT_1_5_3_1), T::Publish);
    rejects(V5, &publish(V5, overlong), utf8("topic name"), 4, Some(v5::MQTT_1_5_4_1), T::Publish);
    rejects(V3, &publish(V3, b"a/\0"), nul("topic name"), 6, Some(v3_1_1::MQTT_1_5_3_2), T::Publish);
    rejects(V5, &publish(V5, b"\0"), nul("topic name"), 4, Some(v5::MQTT_1_5_4_2), T::Publish);
    // Topic filters.
    rejects(V3, &subscribe(V3, surrogate, 0), utf8("topic filter"), 7, Some(v3_1_1::MQTT_1_5_3_1), T::Subscribe);
    rejects(V5, &unsubscribe(V5, b"a\0"), nul("topic filter"), 8, Some(v5::MQTT_1_5_4_2), T::Unsubscribe);
    // Client identifier (data at 14 in 3.1.1), will topic, user name.
    let bad_id = RawPacket::new(0x10).string("MQTT").u8(4).u8(2).u16(0).string_bytes(surrogate).build();
    rejects(V3, &bad_id, utf8("client identifier"), 15, Some(v3_1_1::MQTT_1_5_3_1), T::Connect);
    let bad_will = connect(4, 0x06, |p| p.string_bytes(b"w\0").binary(b""));
    rejects(V3, &bad_will, nul("will topic"), 18, Some(v3_1_1::MQTT_1_5_3_2), T::Connect);
    let bad_user = connect(5, 0x82, |p| p.string_bytes(overlong));
    rejects(V5, &bad_user, utf8("user name"), 18, Some(v5::MQTT_1_5_4_1), T::Connect);
    // String properties and both halves of a user property.
    let reason = RawPacket::new(0xE0).u8(0).properties(|p| p.u8(0x1F).string_bytes(surrogate)).build();
    rejects(V5, &reason, utf8("Reason String"), 8, Some(v5::MQTT_1_5_4_1), T::Disconnect);
    let key = RawPacket::new(0xE0).u8(0).properties(|p| p.u8(0x26).string_bytes(b"\0").string("v")).build();
    rejects(V5, &key, nul("User Property"), 7, Some(v5::MQTT_1_5_4_2), T::Disconnect);
    let value = RawPacket::new(0xE0).u8(0).properties(|p| p.u8(0x26).string("k").string_bytes(overlong)).build();
    rejects(V5, &value, utf8("User Property"), 10, Some(v5::MQTT_1_5_4_1), T::Disconnect);
    let ct = RawPacket::new(0x30).string("t").properties(|p| p.u8(0x03).string_bytes(b"x\0")).build();
    rejects(V5, &ct, nul("Content Type"), 10, Some(v5::MQTT_1_5_4_2), T::Publish);
}

/// A byte order mark is a valid character and is kept, never stripped.
#[test]
fn byte_order_mark_is_kept() {
    let bytes = publish(V5, "\u{FEFF}a".as_bytes());
    let Ok(Some((Packet::Publish(p), _))) = decode(&bytes, &DecodeOptions::new(V5)) else { panic!("{bytes:02x?}") };
    assert_eq!(p.topic.as_str(), "\u{FEFF}a");
}

/// Binary fields (password, payloads, correlation data) are not UTF-8 strings.
#[test]
fn binary_fields_may_hold_any_bytes() {
    let bytes = connect(4, 0xC2, |p| p.string("u").binary(&[0xFF, 0x00]));
    let Ok(Some((Packet::Connect(c), _))) = decode(&bytes, &DecodeOptions::new(V3)) else { panic!("{bytes:02x?}") };
    assert_eq!(c.password.as_deref(), Some(&[0xFF, 0x00][..]));
}

/// A wildcard in a PUBLISH topic or a will topic cites MQTT-3.3.2-2 at the wildcard.
#[test]
fn wildcard_in_a_topic_name_is_rejected_citing_3_3_2_2() {
    rejects(V3, &publish(V3, b"a/+"), K::WildcardInTopicName, 6, Some(v3_1_1::MQTT_3_3_2_2), T::Publish);
    rejects(V5, &publish(V5, b"#"), K::WildcardInTopicName, 4, Some(v5::MQTT_3_3_2_2), T::Publish);
    let will = connect(5, 0x06, |p| p.u8(0).string("w/#").binary(b""));
    rejects(V5, &will, K::WildcardInTopicName, 21, Some(v5::MQTT_3_3_2_2), T::Connect);
}

/// A wildcard in a Response Topic cites 5.0 MQTT-3.3.2-14.
#[test]
fn wildcard_in_a_response_topic_is_rejected_citing_3_3_2_14() {
    let bytes = RawPacket::new(0x30).string("t").properties(|p| p.property_string(0x08, "r/+")).build();
    rejects(V5, &bytes, K::WildcardInTopicName, 11, Some(v5::MQTT_3_3_2_14), T::Publish);
    let will = connect(5, 0x04, |p| p.properties(|w| w.property_string(0x08, "#")).string("w").binary(b""));
    rejects(V5, &will, K::WildcardInTopicName, 20, Some(v5::MQTT_3_3_2_14), T::Connect);
}

/// An empty topic name cites MQTT-4.7.3-1, unless a 5.0 Topic Alias stands for it.
#[test]
fn empty_topic_name_is_rejected_unless_a_topic_alias_stands_for_it() {
    rejects(V3, &publish(V3, b""), K::EmptyTopicName, 2, Some(v3_1_1::MQTT_4_7_3_1), T::Publish);
    rejects(V5, &publish(V5, b""), K::EmptyTopicName, 2, Some(v5::MQTT_4_7_3_1), T::Publish);
    let will = connect(4, 0x04, |p| p.string("").binary(b""));
    rejects(V3, &will, K::EmptyTopicName, 15, Some(v3_1_1::MQTT_4_7_3_1), T::Connect);
    let aliased = RawPacket::new(0x30).string("").properties(|p| p.property_u16(0x23, 1)).build();
    assert!(matches!(decode(&aliased, &DecodeOptions::new(V5)), Ok(Some((Packet::Publish(_), _)))));
}

/// Invalid topic filters cite 4.7.3-1 (empty) and the wildcard rules of each version.
#[test]
fn invalid_topic_filters_cite_section_4_7() {
    let invalid = |filter: &str, why| K::InvalidTopicFilter { filter: filter.into(), why };
    let empty = "empty";
    let hash = "# is not alone in the last level";
    let plus = "+ does not fill a whole level";
    for version in Version::ALL {
        let v3 = version == V3;
        let (s_empty, s_hash, s_plus) = if v3 {
            (v3_1_1::MQTT_4_7_3_1, v3_1_1::MQTT_4_7_1_2, v3_1_1::MQTT_4_7_1_3)
        } else {
            (v5::MQTT_4_7_3_1, v5::MQTT_4_7_1_1, v5::MQTT_4_7_1_2)
        };
        let at = if v3 { 4 } else { 5 };
        rejects(version, &subscribe(version, b"", 0), invalid("", empty), at, Some(s_empty), T::Subscribe);
        rejects(version, &subscribe(version, b"a/#/b", 0), invalid("a/#/b", hash), at, Some(s_hash), T::Subscribe);
        rejects(version, &unsubscribe(version, b"a#"), invalid("a#", hash), at, Some(s_hash), T::Unsubscribe);
        rejects(version, &subscribe(version, b"a/b+", 0), invalid("a/b+", plus), at, Some(s_plus), T::Subscribe);
        rejects(version, &unsubscribe(version, b"+a"), invalid("+a", plus), at, Some(s_plus), T::Unsubscribe);
        assert_eq!(rejection(version, &subscribe(version, b"", 0)).reason_code(), ReasonCode::PROTOCOL_ERROR);
    }
}

/// Bad `$share/` filters cite 4.8.2-1 (no share name) or 4.8.2-2 in 5.0, and are ordinary filters in 3.1.1.
#[test]
fn bad_shared_subscription_filters_cite_4_8_2_in_5_0_only() {
    let no_name = "shared subscription without a share name";
    let bad = "shared subscription with an invalid share name or no topic filter";
    let cases = [
        ("$share//a", no_name, v5::MQTT_4_8_2_1),
        ("$share/", no_name, v5::MQTT_4_8_2_1),
        ("$share", no_name, v5::MQTT_4_8_2_1),
        ("$share/g", bad, v5::MQTT_4_8_2_2),
        ("$share/g/", bad, v5::MQTT_4_8_2_2),
        ("$share/g+/a", bad, v5::MQTT_4_8_2_2),
        ("$share/#/a", bad, v5::MQTT_4_8_2_2),
    ];
    for (filter, why, statement) in cases {
        let kind = K::InvalidTopicFilter { filter: filter.into(), why };
        rejects(V5, &subscribe(V5, filter.as_bytes(), 0), kind.clone(), 5, Some(statement), T::Subscribe);
        rejects(V5, &unsubscribe(V5, filter.as_bytes()), kind, 5, Some(statement), T::Unsubscribe);
        let ok = decode(&subscribe(V3, filter.as_bytes(), 0), &DecodeOptions::new(V3));
        if filter.ends_with('/') || filter.contains("//") || filter.contains('+') || filter.contains('#') {
            continue;
        }
        assert!(matches!(ok, Ok(Some((Packet::Subscribe(_), _)))), "{filter} in 3.1.1: {ok:?}");
    }
    let ok = decode(&subscribe(V3, b"$share//a", 0), &DecodeOptions::new(V3));
    assert!(matches!(ok, Ok(Some((Packet::Subscribe(_), _)))), "{ok:?}");
}

/// SUBSCRIBE and UNSUBSCRIBE without filters cite their version's statement at the payload's start.
#[test]
fn subscribe_and_unsubscribe_without_filters_are_rejected() {
    let empty = |packet| K::EmptyPayload { packet };
    rejects(V3, &hex(&["82 02 00 01"]), empty(T::Subscribe), 4, Some(v3_1_1::MQTT_3_8_3_3), T::Subscribe);
    rejects(V5, &hex(&["82 03 00 01 00"]), empty(T::Subscribe), 5, Some(v5::MQTT_3_8_3_2), T::Subscribe);
    rejects(V3, &hex(&["a2 02 00 01"]), empty(T::Unsubscribe), 4, Some(v3_1_1::MQTT_3_10_3_2), T::Unsubscribe);
    rejects(V5, &hex(&["a2 03 00 01 00"]), empty(T::Unsubscribe), 5, Some(v5::MQTT_3_10_3_2), T::Unsubscribe);
    assert_eq!(rejection(V5, &hex(&["82 03 00 01 00"])).reason_code(), ReasonCode::PROTOCOL_ERROR);
}

/// Subscription options: reserved bits, QoS 3, Retain Handling 3 and No Local on a shared subscription.
#[test]
fn invalid_subscription_options_cite_the_table() {
    let opts = |options, why| K::InvalidSubscriptionOptions { options, why };
    let v3_reserved = "reserved bits 2-7 are set";
    let qos3 = "QoS 3 does not exist";
    // 3.1.1: the options byte sits at 7 (after "a").
    rejects(V3, &subscribe(V3, b"a", 0x04), opts(0x04, v3_reserved), 7, Some(v3_1_1::MQTT_3_8_3_4), T::Subscribe);
    rejects(V3, &subscribe(V3, b"a", 0x03), opts(0x03, qos3), 7, Some(v3_1_1::MQTT_3_8_3_4), T::Subscribe);
    rejects(V3, &subscribe(V3, b"a", 0x30), opts(0x30, v3_reserved), 7, Some(v3_1_1::MQTT_3_8_3_4), T::Subscribe);
    // 5.0: at 8 (after the property length).
    let v5_reserved = "reserved bits 6-7 are set";
    rejects(V5, &subscribe(V5, b"a", 0x40), opts(0x40, v5_reserved), 8, Some(v5::MQTT_3_8_3_5), T::Subscribe);
    rejects(V5, &subscribe(V5, b"a", 0x83), opts(0x83, v5_reserved), 8, Some(v5::MQTT_3_8_3_5), T::Subscribe);
    rejects(V5, &subscribe(V5, b"a", 0x03), opts(0x03, qos3), 8, None, T::Subscribe);
    rejects(V5, &subscribe(V5, b"a", 0x30), opts(0x30, "Retain Handling 3 does not exist"), 8, None, T::Subscribe);
    let shared = subscribe(V5, b"$share/g/a", 0x04);
    let why = "No Local is set on a shared subscription";
    rejects(V5, &shared, opts(0x04, why), 17, Some(v5::MQTT_3_8_3_4), T::Subscribe);
    assert_eq!(rejection(V5, &shared).reason_code(), ReasonCode::PROTOCOL_ERROR, "3.8.3.1: a Protocol Error");
    assert_eq!(rejection(V5, &subscribe(V5, b"a", 0x40)).reason_code(), ReasonCode::MALFORMED_PACKET);
    assert!(decode(&subscribe(V5, b"$share/g/a", 0x0A), &DecodeOptions::new(V5)).is_ok());
}

/// Unknown, repeated and misplaced properties are rejected at the identifier, citing nothing.
#[test]
fn unknown_duplicated_or_misplaced_properties_are_rejected() {
    let unknown = RawPacket::new(0xE0).u8(0).properties(|p| p.property_u8(0x00, 0)).build();
    rejects(V5, &unknown, K::UnknownProperty { id: 0 }, 4, None, T::Disconnect);
    let unknown = RawPacket::new(0xE0).u8(0).properties(|p| p.property_u8(0x2B, 0)).build();
    rejects(V5, &unknown, K::UnknownProperty { id: 0x2B }, 4, None, T::Disconnect);
    let twice = RawPacket::new(0xE0).u8(0).properties(|p| p.property_string(0x1F, "a").property_string(0x1F, "b"));
    let twice = twice.build();
    let err = rejection(V5, &twice);
    assert_eq!(
        (err.kind.clone(), err.offset, err.statement),
        (K::DuplicateProperty { property: P::ReasonString }, 8, None)
    );
    assert_eq!(err.reason_code(), ReasonCode::PROTOCOL_ERROR);
    let sub_ids = RawPacket::new(0x82).u16(1).properties(|p| p.property_varint(0x0B, 1).property_varint(0x0B, 2));
    let sub_ids = sub_ids.string("a").u8(0).build();
    rejects(V5, &sub_ids, K::DuplicateProperty { property: P::SubscriptionIdentifier }, 7, None, T::Subscribe);
    let alias = RawPacket::new(0x10).string("MQTT").u8(5).u8(2).u16(0).properties(|p| p.property_u16(0x23, 1));
    let alias = alias.string("c").build();
    let kind = K::PropertyNotAllowed { property: P::TopicAlias, context: "CONNECT" };
    rejects(V5, &alias, kind, 13, None, T::Connect);
    let will = connect(5, 0x04, |p| p.properties(|w| w.property_u32(0x11, 1)).string("w").binary(b""));
    let kind = K::PropertyNotAllowed { property: P::SessionExpiryInterval, context: "will properties" };
    rejects(V5, &will, kind, 17, None, T::Connect);
    let in_ack = RawPacket::new(0x40).u16(1).u8(0).properties(|p| p.property_u32(0x02, 1)).build();
    let kind = K::PropertyNotAllowed { property: P::MessageExpiryInterval, context: "PUBACK" };
    rejects(V5, &in_ack, kind, 6, None, T::Puback);
}

/// Property values outside their range are protocol errors citing nothing, except Topic Alias 0 (3.3.2-8).
#[test]
fn invalid_property_values_are_rejected_at_the_value() {
    let invalid = |property, why| K::InvalidPropertyValue { property, why };
    let zero_or_one = "must be 0 or 1";
    let nonzero = "must not be 0";
    // CONNACK: flags, code, property length at 4, first identifier at 5, value at 6.
    let connack = |build: fn(RawPacket) -> RawPacket| RawPacket::new(0x20).u8(0).u8(0).properties(build).build();
    let cases = [
        (connack(|p| p.property_u8(0x24, 2)), invalid(P::MaximumQos, zero_or_one)),
        (connack(|p| p.property_u8(0x25, 2)), invalid(P::RetainAvailable, zero_or_one)),
        (connack(|p| p.property_u8(0x28, 2)), invalid(P::WildcardSubscriptionAvailable, zero_or_one)),
        (connack(|p| p.property_u8(0x29, 2)), invalid(P::SubscriptionIdentifierAvailable, zero_or_one)),
        (connack(|p| p.property_u8(0x2A, 0xFF)), invalid(P::SharedSubscriptionAvailable, zero_or_one)),
        (connack(|p| p.property_u16(0x21, 0)), invalid(P::ReceiveMaximum, nonzero)),
        (connack(|p| p.property_u32(0x27, 0)), invalid(P::MaximumPacketSize, nonzero)),
    ];
    for (bytes, kind) in cases {
        rejects(V5, &bytes, kind, 6, None, T::Connack);
        assert_eq!(rejection(V5, &bytes).reason_code(), ReasonCode::PROTOCOL_ERROR);
    }
    let connect_with = |build: fn(RawPacket) -> RawPacket| {
        RawPacket::new(0x10).string("MQTT").u8(5).u8(2).u16(0).properties(build).string("c").build()
    };
    let rpi = connect_with(|p| p.property_u8(0x17, 2));
    rejects(V5, &rpi, invalid(P::RequestProblemInformation, zero_or_one), 14, None, T::Connect);
    let rri = connect_with(|p| p.property_u8(0x19, 7));
    rejects(V5, &rri, invalid(P::RequestResponseInformation, zero_or_one), 14, None, T::Connect);
    // PUBLISH with topic "t": property length at 5, identifier at 6, value at 7.
    let pfi = RawPacket::new(0x30).string("t").properties(|p| p.property_u8(0x01, 2)).build();
    rejects(V5, &pfi, invalid(P::PayloadFormatIndicator, zero_or_one), 7, None, T::Publish);
    let alias = RawPacket::new(0x30).string("t").properties(|p| p.property_u16(0x23, 0)).build();
    rejects(V5, &alias, invalid(P::TopicAlias, nonzero), 7, Some(v5::MQTT_3_3_2_8), T::Publish);
    let sub_id = RawPacket::new(0x30).string("t").properties(|p| p.property_varint(0x0B, 0)).build();
    rejects(V5, &sub_id, invalid(P::SubscriptionIdentifier, nonzero), 7, None, T::Publish);
    let sub_id = RawPacket::new(0x82).u16(1).properties(|p| p.property_varint(0x0B, 0)).string("a").u8(0).build();
    rejects(V5, &sub_id, invalid(P::SubscriptionIdentifier, nonzero), 6, None, T::Subscribe);
}

/// A property length running past the packet is rejected at the property length; a value running past the block is truncated.
#[test]
fn property_length_running_past_the_packet_is_rejected() {
    rejects(V5, &hex(&["e0 03 00 05 26"]), K::PropertyLengthOverrun { length: 5 }, 3, None, T::Disconnect);
    let connect = RawPacket::new(0x10).string("MQTT").u8(5).u8(2).u16(0).u8(0x7F).build();
    rejects(V5, &connect, K::PropertyLengthOverrun { length: 127 }, 12, None, T::Connect);
    // The block holds 2 bytes but its Receive Maximum needs 3.
    let cut = RawPacket::new(0x20).u8(0).u8(0).u8(2).u8(0x21).u8(0).u8(0).build();
    rejects(V5, &cut, K::Truncated { field: "Receive Maximum" }, 6, None, T::Connack);
    // A property identifier with no value at the end of the block.
    let cut = RawPacket::new(0x30).string("t").u8(1).u8(0x01).build();
    rejects(V5, &cut, K::Truncated { field: "Payload Format Indicator" }, 7, None, T::Publish);
}

/// Reason codes not defined for the packet cite each packet's statement.
#[test]
fn reason_codes_not_valid_for_the_packet_are_rejected() {
    let invalid = |packet, code| K::InvalidReasonCode { packet, code: ReasonCode(code) };
    rejects(V3, &hex(&["20 02 00 06"]), invalid(T::Connack, 6), 3, Some(v3_1_1::MQTT_3_2_2_6), T::Connack);
    rejects(V5, &hex(&["20 03 00 01 00"]), invalid(T::Connack, 1), 3, Some(v5::MQTT_3_2_2_8), T::Connack);
    rejects(V5, &hex(&["40 03 00 01 92"]), invalid(T::Puback, 0x92), 4, Some(v5::MQTT_3_4_2_1), T::Puback);
    rejects(V5, &hex(&["50 03 00 01 92"]), invalid(T::Pubrec, 0x92), 4, Some(v5::MQTT_3_5_2_1), T::Pubrec);
    rejects(V5, &hex(&["62 03 00 01 10"]), invalid(T::Pubrel, 0x10), 4, Some(v5::MQTT_3_6_2_1), T::Pubrel);
    rejects(V5, &hex(&["70 03 00 01 80"]), invalid(T::Pubcomp, 0x80), 4, Some(v5::MQTT_3_7_2_1), T::Pubcomp);
    rejects(V3, &hex(&["90 04 00 01 00 03"]), invalid(T::Suback, 3), 5, Some(v3_1_1::MQTT_3_9_3_2), T::Suback);
    rejects(V3, &hex(&["90 03 00 01 81"]), invalid(T::Suback, 0x81), 4, Some(v3_1_1::MQTT_3_9_3_2), T::Suback);
    rejects(V5, &hex(&["90 04 00 01 00 11"]), invalid(T::Suback, 0x11), 5, Some(v5::MQTT_3_9_3_2), T::Suback);
    rejects(V5, &hex(&["b0 04 00 01 00 01"]), invalid(T::Unsuback, 1), 5, Some(v5::MQTT_3_11_3_2), T::Unsuback);
    rejects(V5, &hex(&["e0 01 01"]), invalid(T::Disconnect, 1), 2, Some(v5::MQTT_3_14_2_1), T::Disconnect);
    rejects(V5, &hex(&["f0 01 01"]), invalid(T::Auth, 1), 2, Some(v5::MQTT_3_15_2_1), T::Auth);
    assert_eq!(rejection(V5, &hex(&["f0 01 01"])).reason_code(), ReasonCode::MALFORMED_PACKET);
}

/// A protocol name other than `MQTT` cites MQTT-3.1.2-1 of the version the level names.
#[test]
fn protocol_name_other_than_mqtt_is_rejected() {
    let named = |name: &[u8], level| RawPacket::new(0x10).string_bytes(name).u8(level).u8(2).u16(0).string("c").build();
    let found = |s: &str| K::InvalidProtocolName { found: s.into() };
    rejects(V3, &named(b"MQIsdp", 3), found("MQIsdp"), 2, Some(v3_1_1::MQTT_3_1_2_1), T::Connect);
    rejects(V3, &named(b"mqtt", 4), found("mqtt"), 2, Some(v3_1_1::MQTT_3_1_2_1), T::Connect);
    let err = rejection(V3, &named(b"MQTX", 5));
    assert_eq!((err.kind, err.statement, err.version), (found("MQTX"), Some(v5::MQTT_3_1_2_1), V5));
}

/// A protocol level other than 4 or 5 cites MQTT-3.1.2-2 of 3.1.1 below 5 and of 5.0 above.
#[test]
fn protocol_level_other_than_4_or_5_is_rejected() {
    let level = |level| RawPacket::new(0x10).string("MQTT").u8(level).u8(2).u16(0).string("c").build();
    for options in Version::ALL {
        let err = rejection(options, &level(3));
        let expected = (K::UnsupportedProtocolLevel { level: 3 }, 8, Some(v3_1_1::MQTT_3_1_2_2), V3);
        assert_eq!((err.kind.clone(), err.offset, err.statement, err.version), expected);
        let err = rejection(options, &level(6));
        let expected = (K::UnsupportedProtocolLevel { level: 6 }, 8, Some(v5::MQTT_3_1_2_2), V5);
        assert_eq!((err.kind.clone(), err.offset, err.statement, err.version), expected);
        assert_eq!(err.reason_code(), ReasonCode::UNSUPPORTED_PROTOCOL_VERSION);
    }
}

/// CONNECT flag rules: reserved bit, password without user name (3.1.1 only) and the will flags.
#[test]
fn invalid_connect_flags_are_rejected_at_the_flags_byte() {
    rejects(V3, &connect(4, 0x03, |p| p), K::ConnectReservedFlag, 9, Some(v3_1_1::MQTT_3_1_2_3), T::Connect);
    rejects(V5, &connect(5, 0x01, |p| p), K::ConnectReservedFlag, 9, Some(v5::MQTT_3_1_2_3), T::Connect);
    let password_only = connect(4, 0x42, |p| p.binary(b"pw"));
    rejects(V3, &password_only, K::PasswordWithoutUsername, 9, Some(v3_1_1::MQTT_3_1_2_22), T::Connect);
    let password_only = connect(5, 0x42, |p| p.binary(b"pw"));
    let Ok(Some((Packet::Connect(c), _))) = decode(&password_only, &DecodeOptions::new(V5)) else { panic!() };
    assert_eq!((c.username, c.password.as_deref()), (None, Some(&b"pw"[..])));
    let qos = K::InconsistentWillFlags;
    rejects(V3, &connect(4, 0x0A, |p| p), qos.clone(), 9, Some(v3_1_1::MQTT_3_1_2_13), T::Connect);
    rejects(V5, &connect(5, 0x12, |p| p), qos.clone(), 9, Some(v5::MQTT_3_1_2_11), T::Connect);
    rejects(V3, &connect(4, 0x22, |p| p), qos.clone(), 9, Some(v3_1_1::MQTT_3_1_2_15), T::Connect);
    rejects(V5, &connect(5, 0x22, |p| p), qos, 9, Some(v5::MQTT_3_1_2_13), T::Connect);
    let will = |level| connect(level, 0x1E, |p| p.string("w").binary(b""));
    rejects(V3, &will(4), K::InvalidQos, 9, Some(v3_1_1::MQTT_3_1_2_14), T::Connect);
    rejects(V5, &will(5), K::InvalidQos, 9, Some(v5::MQTT_3_1_2_12), T::Connect);
}

/// An empty client identifier without clean session is left to the model (CONNACK 0x02), not the decoder.
#[test]
fn empty_client_identifier_without_clean_session_decodes() {
    let bytes = RawPacket::new(0x10).string("MQTT").u8(4).u8(0).u16(0).string("").build();
    assert!(matches!(decode(&bytes, &DecodeOptions::new(V3)), Ok(Some((Packet::Connect(_), 14)))));
}

/// CONNACK: reserved acknowledge flags (5.0 MQTT-3.2.2-1) and Session Present on a refusal.
#[test]
fn invalid_connack_flags_are_rejected() {
    rejects(V3, &hex(&["20 02 02 00"]), K::ConnackReservedFlags, 2, None, T::Connack);
    rejects(V5, &hex(&["20 03 80 00 00"]), K::ConnackReservedFlags, 2, Some(v5::MQTT_3_2_2_1), T::Connack);
    let refused = K::SessionPresentOnRefusal;
    rejects(V3, &hex(&["20 02 01 04"]), refused.clone(), 2, Some(v3_1_1::MQTT_3_2_2_4), T::Connack);
    rejects(V5, &hex(&["20 03 01 87 00"]), refused, 2, Some(v5::MQTT_3_2_2_6), T::Connack);
}

/// 5.0 CONNACK has no short form: the property length is required.
#[test]
fn v5_connack_without_property_length_is_truncated() {
    rejects(V5, &hex(&["20 02 00 00"]), K::Truncated { field: "property length" }, 4, None, T::Connack);
}

/// The helpers of this module build what they say.
#[test]
fn helpers_build_what_they_say() {
    assert_eq!(publish(V3, b"a"), hex(&["30 04 00 01", &text("a"), "70"]));
    assert_eq!(subscribe(V5, b"a", 1), hex(&["82 07 00 01 00 00 01 61 01"]));
    assert_eq!(fixed_header(T::Subscribe, 2), 0x82);
}
