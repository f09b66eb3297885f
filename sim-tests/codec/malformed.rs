//! The rejection contract of `docs/codec-rejections.md`, case by case: a
//! table of malformed packets (hex), each with the version it is decoded as,
//! a sentence naming the fault, the `DecodeErrorKind` expected, the exact
//! version-qualified statement (or `None` where the specification has none)
//! and, where the fault sits in one byte or field, its offset from the first
//! byte of the packet. Then the inputs the decoder must accept (the forms the
//! specification allows that look odd) and those that must ask for more bytes.
//!
//! Packets are written as a first byte and a body in hex; `pkt` adds the
//! minimal remaining length (one byte, as every body here is under 128 bytes,
//! so body offset k is packet offset k + 2), and `raw` takes the whole packet
//! where the remaining length itself is the fault.

use mqttsim::codec::{
    decode, encode_to_vec, DecodeErrorKind as K, DecodeOptions, Packet, PacketType as T, PropertyId as P, Qos,
    ReasonCode, RetainHandling, TopicName, Version,
};
use mqttsim::spec::{v3_1_1 as v3, v5, StatementId};

use super::to_hex;

const V3: Version = Version::V3_1_1;
const V5: Version = Version::V5;

/// Bytes from hex; spaces and newlines are ignored.
fn raw(hex: &str) -> Vec<u8> {
    let digits: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits in {hex:?}");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).expect("ascii"), 16).expect("hex digit"))
        .collect()
}

/// A packet: `first` byte, the remaining length (minimal encoding), `body`.
fn pkt(first: u8, body: &str) -> Vec<u8> {
    let body = raw(body);
    let mut out = vec![first];
    let mut len = body.len();
    loop {
        let byte = (len % 128) as u8;
        len /= 128;
        out.push(if len > 0 { byte | 0x80 } else { byte });
        if len == 0 {
            break;
        }
    }
    out.extend(body);
    out
}

// CONNECT bodies below start with the protocol name "0004 4d515454" ("MQTT",
// offsets 2..=7), the level (offset 8), the connect flags (offset 9), the
// keep-alive (offsets 10..=11) and, in 5.0, the property length (offset 12).
/// A valid 3.1.1 CONNECT body: clean session, keep-alive 60, client id "a".
const CONNECT_V3: &str = "0004 4d515454 04 02 003c 0001 61";
/// A valid 5.0 CONNECT body: clean start, keep-alive 60, no properties, client id "a".
const CONNECT_V5: &str = "0004 4d515454 05 02 003c 00 0001 61";

/// One malformed input and what the decoder must say about it.
struct Reject {
    version: Version,
    what: &'static str,
    bytes: Vec<u8>,
    kind: fn(&K) -> bool,
    kind_text: &'static str,
    statement: Option<StatementId>,
    offset: Option<usize>,
    max_packet_size: Option<usize>,
}

impl Reject {
    /// The offending byte is at `offset` from the first byte of the packet.
    fn at(self, offset: usize) -> Reject {
        Reject { offset: Some(offset), ..self }
    }

    /// Decode with this maximum packet size.
    fn max(self, size: usize) -> Reject {
        Reject { max_packet_size: Some(size), ..self }
    }

    /// Every way the decoder's answer differs from the expectation.
    fn mismatches(&self) -> Vec<String> {
        let options = DecodeOptions {
            version: self.version,
            max_packet_size: self.max_packet_size.unwrap_or(DecodeOptions::PROTOCOL_MAX_PACKET_SIZE),
        };
        let err = match decode(&self.bytes, &options) {
            Err(err) => err,
            other => return vec![format!("expected an error, got {other:?}")],
        };
        let mut out = Vec::new();
        if !(self.kind)(&err.kind) {
            out.push(format!("kind {:?}, expected {}", err.kind, self.kind_text));
        }
        if err.statement != self.statement {
            let show = |s: Option<StatementId>| s.map_or("None".to_owned(), |s| s.to_string());
            out.push(format!("statement {}, expected {}", show(err.statement), show(self.statement)));
        }
        if let Some(offset) = self.offset {
            if err.offset != offset {
                out.push(format!("offset {}, expected {offset}", err.offset));
            }
        }
        if err.version != self.version {
            out.push(format!("error version {}, expected {}", err.version, self.version));
        }
        let type_nibble = self.bytes[0] >> 4;
        let known_type = (1..=14).contains(&type_nibble) || (type_nibble == 15 && self.version == V5);
        if known_type && err.packet.map(|t| t as u8) != Some(type_nibble) {
            out.push(format!("error packet {:?}, expected type {type_nibble}", err.packet));
        }
        if !out.is_empty() {
            out.push(format!("(decoder said: {err})"));
        }
        out
    }
}

/// A table row: version, fault, bytes, kind pattern, statement.
macro_rules! reject {
    ($version:expr, $what:expr, $bytes:expr, $kind:pat, $statement:expr) => {
        Reject {
            version: $version,
            what: $what,
            bytes: $bytes,
            kind: |k: &K| matches!(k, $kind),
            kind_text: stringify!($kind),
            statement: $statement,
            offset: None,
            max_packet_size: None,
        }
    };
}

/// Every row of docs/codec-rejections.md, for both versions where it applies.
fn rejections() -> Vec<Reject> {
    vec![
        // --- Fixed header: packet type.
        reject!(V3, "packet type 0 is reserved", pkt(0x00, ""), K::ReservedPacketType, None).at(0),
        reject!(V5, "packet type 0 is reserved", pkt(0x00, ""), K::ReservedPacketType, None).at(0),
        reject!(V3, "AUTH does not exist in 3.1.1", pkt(0xF0, ""), K::AuthInV3, None).at(0),
        // --- Fixed header: reserved flags on every packet type.
        reject!(
            V3,
            "CONNECT with flags 0001",
            pkt(0x11, CONNECT_V3),
            K::ReservedFlags { packet: T::Connect, flags: 1, expected: 0 },
            Some(v3::MQTT_2_2_2_2)
        )
        .at(0),
        reject!(
            V5,
            "CONNECT with flags 1000",
            pkt(0x18, CONNECT_V5),
            K::ReservedFlags { packet: T::Connect, flags: 8, expected: 0 },
            Some(v5::MQTT_2_1_3_1)
        )
        .at(0),
        reject!(
            V3,
            "CONNACK with flags 1000",
            pkt(0x28, "00 00"),
            K::ReservedFlags { packet: T::Connack, flags: 8, expected: 0 },
            Some(v3::MQTT_2_2_2_2)
        )
        .at(0),
        reject!(
            V5,
            "CONNACK with flags 0001",
            pkt(0x21, "00 00 00"),
            K::ReservedFlags { packet: T::Connack, .. },
            Some(v5::MQTT_2_1_3_1)
        )
        .at(0),
        reject!(
            V3,
            "PUBACK with flags 0010",
            pkt(0x42, "0001"),
            K::ReservedFlags { packet: T::Puback, flags: 2, expected: 0 },
            Some(v3::MQTT_2_2_2_2)
        )
        .at(0),
        reject!(
            V5,
            "PUBACK with flags 0001",
            pkt(0x41, "0001"),
            K::ReservedFlags { packet: T::Puback, .. },
            Some(v5::MQTT_2_1_3_1)
        )
        .at(0),
        reject!(
            V3,
            "PUBREC with flags 1000",
            pkt(0x58, "0001"),
            K::ReservedFlags { packet: T::Pubrec, .. },
            Some(v3::MQTT_2_2_2_2)
        )
        .at(0),
        reject!(
            V5,
            "PUBREC with flags 0100",
            pkt(0x54, "0001"),
            K::ReservedFlags { packet: T::Pubrec, .. },
            Some(v5::MQTT_2_1_3_1)
        )
        .at(0),
        reject!(
            V3,
            "PUBREL with flags 0000 instead of 0010",
            pkt(0x60, "0001"),
            K::ReservedFlags { packet: T::Pubrel, flags: 0, expected: 2 },
            Some(v3::MQTT_3_6_1_1)
        )
        .at(0),
        reject!(
            V5,
            "PUBREL with flags 0011 instead of 0010",
            pkt(0x63, "0001"),
            K::ReservedFlags { packet: T::Pubrel, flags: 3, expected: 2 },
            Some(v5::MQTT_3_6_1_1)
        )
        .at(0),
        reject!(
            V3,
            "PUBCOMP with flags 0001",
            pkt(0x71, "0001"),
            K::ReservedFlags { packet: T::Pubcomp, .. },
            Some(v3::MQTT_2_2_2_2)
        )
        .at(0),
        reject!(
            V5,
            "PUBCOMP with flags 1111",
            pkt(0x7F, "0001"),
            K::ReservedFlags { packet: T::Pubcomp, .. },
            Some(v5::MQTT_2_1_3_1)
        )
        .at(0),
        reject!(
            V3,
            "SUBSCRIBE with flags 0000 instead of 0010",
            pkt(0x80, "0001 0001 61 00"),
            K::ReservedFlags { packet: T::Subscribe, flags: 0, expected: 2 },
            Some(v3::MQTT_3_8_1_1)
        )
        .at(0),
        reject!(
            V5,
            "SUBSCRIBE with flags 0011 instead of 0010",
            pkt(0x83, "0001 00 0001 61 00"),
            K::ReservedFlags { packet: T::Subscribe, .. },
            Some(v5::MQTT_3_8_1_1)
        )
        .at(0),
        reject!(
            V3,
            "SUBACK with flags 0010",
            pkt(0x92, "0001 00"),
            K::ReservedFlags { packet: T::Suback, .. },
            Some(v3::MQTT_2_2_2_2)
        )
        .at(0),
        reject!(
            V5,
            "SUBACK with flags 0001",
            pkt(0x91, "0001 00 00"),
            K::ReservedFlags { packet: T::Suback, .. },
            Some(v5::MQTT_2_1_3_1)
        )
        .at(0),
        reject!(
            V3,
            "UNSUBSCRIBE with flags 0000 instead of 0010",
            pkt(0xA0, "0001 0001 61"),
            K::ReservedFlags { packet: T::Unsubscribe, .. },
            Some(v3::MQTT_3_10_1_1)
        )
        .at(0),
        reject!(
            V5,
            "UNSUBSCRIBE with flags 1010 instead of 0010",
            pkt(0xAA, "0001 00 0001 61"),
            K::ReservedFlags { packet: T::Unsubscribe, .. },
            Some(v5::MQTT_3_10_1_1)
        )
        .at(0),
        reject!(
            V3,
            "UNSUBACK with flags 0001",
            pkt(0xB1, "0001"),
            K::ReservedFlags { packet: T::Unsuback, .. },
            Some(v3::MQTT_2_2_2_2)
        )
        .at(0),
        reject!(
            V5,
            "UNSUBACK with flags 1000",
            pkt(0xB8, "0001 00 00"),
            K::ReservedFlags { packet: T::Unsuback, .. },
            Some(v5::MQTT_2_1_3_1)
        )
        .at(0),
        reject!(
            V3,
            "PINGREQ with flags 0001",
            pkt(0xC1, ""),
            K::ReservedFlags { packet: T::Pingreq, .. },
            Some(v3::MQTT_2_2_2_2)
        )
        .at(0),
        reject!(
            V5,
            "PINGREQ with flags 0010",
            pkt(0xC2, ""),
            K::ReservedFlags { packet: T::Pingreq, .. },
            Some(v5::MQTT_2_1_3_1)
        )
        .at(0),
        reject!(
            V3,
            "PINGRESP with flags 1000",
            pkt(0xD8, ""),
            K::ReservedFlags { packet: T::Pingresp, .. },
            Some(v3::MQTT_2_2_2_2)
        )
        .at(0),
        reject!(
            V5,
            "PINGRESP with flags 0001",
            pkt(0xD1, ""),
            K::ReservedFlags { packet: T::Pingresp, .. },
            Some(v5::MQTT_2_1_3_1)
        )
        .at(0),
        reject!(
            V3,
            "DISCONNECT with flags 0010",
            pkt(0xE2, ""),
            K::ReservedFlags { packet: T::Disconnect, .. },
            Some(v3::MQTT_3_14_1_1)
        )
        .at(0),
        reject!(
            V5,
            "DISCONNECT with flags 0001",
            pkt(0xE1, ""),
            K::ReservedFlags { packet: T::Disconnect, .. },
            Some(v5::MQTT_3_14_1_1)
        )
        .at(0),
        reject!(
            V5,
            "AUTH with flags 0001",
            pkt(0xF1, ""),
            K::ReservedFlags { packet: T::Auth, flags: 1, expected: 0 },
            Some(v5::MQTT_3_15_1_1)
        )
        .at(0),
        // --- Variable byte integers.
        reject!(V3, "remaining length of five bytes", raw("30 ff ff ff ff 7f"), K::VarintTooLong, None),
        reject!(V5, "remaining length of five bytes", raw("30 ff ff ff ff 7f"), K::VarintTooLong, None),
        reject!(
            V3,
            "remaining length whose fourth byte still has the continuation bit",
            raw("30 80 80 80 80"),
            K::VarintTooLong,
            None
        ),
        reject!(
            V5,
            "remaining length 0 written in two bytes",
            raw("c0 80 00"),
            K::VarintNotMinimal,
            Some(v5::MQTT_1_5_5_1)
        ),
        reject!(
            V5,
            "PUBACK property length 0 written in two bytes",
            raw("40 05 0001 10 8000"),
            K::VarintNotMinimal,
            Some(v5::MQTT_1_5_5_1)
        ),
        reject!(
            V5,
            "Subscription Identifier 1 written in two bytes",
            pkt(0x82, "0001 03 0b8100 0001 61 00"),
            K::VarintNotMinimal,
            Some(v5::MQTT_1_5_5_1)
        ),
        reject!(
            V5,
            "Subscription Identifier of five bytes",
            pkt(0x30, "0001 61 06 0bffffffff7f"),
            K::VarintTooLong,
            None
        ),
        // --- Remaining length against the content.
        reject!(
            V3,
            "CONNECT client identifier runs past the remaining length",
            pkt(0x10, "0004 4d515454 04 02 003c 0005 61"),
            K::Truncated { .. },
            Some(v3::MQTT_3_1_4_1)
        ),
        reject!(
            V5,
            "CONNECT with a byte after the payload",
            pkt(0x10, "0004 4d515454 05 02 003c 00 0001 61 ff"),
            K::RemainingLengthMismatch { .. },
            Some(v5::MQTT_3_1_4_1)
        ),
        reject!(
            V5,
            "CONNECT user name runs past the remaining length",
            pkt(0x10, "0004 4d515454 05 82 003c 00 0001 61 0009 75"),
            K::Truncated { .. },
            Some(v5::MQTT_3_1_4_1)
        ),
        reject!(
            V3,
            "PUBACK with remaining length 3",
            pkt(0x40, "0001 00"),
            K::RemainingLengthMismatch { declared: 3, .. },
            None
        ),
        reject!(
            V3,
            "PUBACK with remaining length 1 cuts the packet identifier",
            pkt(0x40, "00"),
            K::RemainingLengthMismatch { declared: 1, .. } | K::Truncated { .. },
            None
        ),
        reject!(
            V5,
            "PUBACK with remaining length 1 cuts the packet identifier",
            pkt(0x40, "00"),
            K::RemainingLengthMismatch { declared: 1, .. } | K::Truncated { .. },
            None
        ),
        reject!(
            V3,
            "CONNACK with remaining length 3",
            pkt(0x20, "00 00 00"),
            K::RemainingLengthMismatch { declared: 3, .. },
            None
        ),
        reject!(
            V3,
            "UNSUBACK with a payload",
            pkt(0xB0, "0001 00"),
            K::RemainingLengthMismatch { declared: 3, .. },
            None
        ),
        reject!(
            V5,
            "PINGREQ with remaining length 1",
            pkt(0xC0, "00"),
            K::RemainingLengthMismatch { declared: 1, .. },
            None
        ),
        reject!(V3, "DISCONNECT with content", pkt(0xE0, "00"), K::RemainingLengthMismatch { declared: 1, .. }, None),
        reject!(
            V5,
            "PUBLISH topic length runs past the remaining length",
            pkt(0x30, "0009 6162"),
            K::Truncated { .. },
            None
        ),
        // --- Maximum packet size.
        reject!(
            V3,
            "PUBLISH of 12 bytes with a maximum of 11",
            pkt(0x30, "0003 616263 6465666768"),
            K::PacketTooLarge { size: 12, max: 11 },
            None
        )
        .max(11),
        reject!(
            V5,
            "header of a 16,386-byte PUBLISH with a maximum of 100, before the body arrives",
            raw("30 ff 7f"),
            K::PacketTooLarge { size: 16_386, max: 100 },
            None
        )
        .max(100),
        // --- PUBLISH fixed header.
        reject!(V3, "PUBLISH with QoS 3", pkt(0x36, "0003 616263 0001"), K::InvalidQos, Some(v3::MQTT_3_3_1_4)).at(0),
        reject!(V5, "PUBLISH with QoS 3", pkt(0x36, "0003 616263 0001 00"), K::InvalidQos, Some(v5::MQTT_3_3_1_4))
            .at(0),
        reject!(V3, "DUP on a QoS 0 PUBLISH", pkt(0x38, "0003 616263"), K::DupOnQos0, Some(v3::MQTT_3_3_1_2)).at(0),
        reject!(V5, "DUP on a QoS 0 PUBLISH", pkt(0x38, "0003 616263 00"), K::DupOnQos0, Some(v5::MQTT_3_3_1_2)).at(0),
        // --- Packet identifier 0.
        reject!(
            V3,
            "QoS 1 PUBLISH with packet identifier 0",
            pkt(0x32, "0003 616263 0000"),
            K::ZeroPacketId,
            Some(v3::MQTT_2_3_1_1)
        )
        .at(7),
        reject!(
            V5,
            "QoS 2 PUBLISH with packet identifier 0",
            pkt(0x34, "0003 616263 0000 00"),
            K::ZeroPacketId,
            Some(v5::MQTT_2_2_1_3)
        )
        .at(7),
        reject!(
            V3,
            "SUBSCRIBE with packet identifier 0",
            pkt(0x82, "0000 0001 61 00"),
            K::ZeroPacketId,
            Some(v3::MQTT_2_3_1_1)
        )
        .at(2),
        reject!(
            V5,
            "SUBSCRIBE with packet identifier 0",
            pkt(0x82, "0000 00 0001 61 00"),
            K::ZeroPacketId,
            Some(v5::MQTT_2_2_1_3)
        )
        .at(2),
        reject!(
            V3,
            "UNSUBSCRIBE with packet identifier 0",
            pkt(0xA2, "0000 0001 61"),
            K::ZeroPacketId,
            Some(v3::MQTT_2_3_1_1)
        )
        .at(2),
        reject!(
            V5,
            "UNSUBSCRIBE with packet identifier 0",
            pkt(0xA2, "0000 00 0001 61"),
            K::ZeroPacketId,
            Some(v5::MQTT_2_2_1_3)
        )
        .at(2),
        reject!(V3, "PUBACK with packet identifier 0", pkt(0x40, "0000"), K::ZeroPacketId, Some(v3::MQTT_2_3_1_6))
            .at(2),
        reject!(V3, "PUBREC with packet identifier 0", pkt(0x50, "0000"), K::ZeroPacketId, Some(v3::MQTT_2_3_1_6))
            .at(2),
        reject!(V3, "PUBREL with packet identifier 0", pkt(0x62, "0000"), K::ZeroPacketId, Some(v3::MQTT_2_3_1_6))
            .at(2),
        reject!(V3, "PUBCOMP with packet identifier 0", pkt(0x70, "0000"), K::ZeroPacketId, Some(v3::MQTT_2_3_1_6))
            .at(2),
        reject!(V5, "PUBACK with packet identifier 0", pkt(0x40, "0000"), K::ZeroPacketId, Some(v5::MQTT_2_2_1_5))
            .at(2),
        reject!(
            V5,
            "PUBREC with packet identifier 0 and a reason code",
            pkt(0x50, "0000 10"),
            K::ZeroPacketId,
            Some(v5::MQTT_2_2_1_5)
        )
        .at(2),
        reject!(V5, "PUBREL with packet identifier 0", pkt(0x62, "0000"), K::ZeroPacketId, Some(v5::MQTT_2_2_1_5))
            .at(2),
        reject!(
            V5,
            "PUBCOMP with packet identifier 0 and empty properties",
            pkt(0x70, "0000 00 00"),
            K::ZeroPacketId,
            Some(v5::MQTT_2_2_1_5)
        )
        .at(2),
        reject!(V3, "SUBACK with packet identifier 0", pkt(0x90, "0000 00"), K::ZeroPacketId, Some(v3::MQTT_2_3_1_7))
            .at(2),
        reject!(
            V5,
            "SUBACK with packet identifier 0",
            pkt(0x90, "0000 00 00"),
            K::ZeroPacketId,
            Some(v5::MQTT_2_2_1_6)
        )
        .at(2),
        reject!(V3, "UNSUBACK with packet identifier 0", pkt(0xB0, "0000"), K::ZeroPacketId, Some(v3::MQTT_2_3_1_7))
            .at(2),
        reject!(
            V5,
            "UNSUBACK with packet identifier 0",
            pkt(0xB0, "0000 00 00"),
            K::ZeroPacketId,
            Some(v5::MQTT_2_2_1_6)
        )
        .at(2),
        // --- UTF-8 strings.
        reject!(
            V3,
            "client identifier with a bad continuation byte (c3 28)",
            pkt(0x10, concat!("0004 4d515454 04 02 003c", " 0003 61c328")),
            K::InvalidUtf8 { .. },
            Some(v3::MQTT_1_5_3_1)
        ),
        reject!(
            V5,
            "client identifier with a bad continuation byte (e2 28 a1)",
            pkt(0x10, concat!("0004 4d515454 05 02 003c 00", " 0003 e228a1")),
            K::InvalidUtf8 { .. },
            Some(v5::MQTT_1_5_4_1)
        ),
        reject!(
            V3,
            "topic name with an overlong '/' (c0 af)",
            pkt(0x30, "0004 61c0af62"),
            K::InvalidUtf8 { .. },
            Some(v3::MQTT_1_5_3_1)
        ),
        reject!(
            V5,
            "topic name with an overlong U+0000 (c0 80)",
            pkt(0x30, "0002 c080 00"),
            K::InvalidUtf8 { .. },
            Some(v5::MQTT_1_5_4_1)
        ),
        reject!(
            V3,
            "user name encoding the surrogate U+D800 (ed a0 80)",
            pkt(0x10, concat!("0004 4d515454 04 82 003c", " 0001 61", " 0003 eda080")),
            K::InvalidUtf8 { .. },
            Some(v3::MQTT_1_5_3_1)
        ),
        reject!(
            V5,
            "user name encoding the surrogate U+DFFF (ed bf bf)",
            pkt(0x10, concat!("0004 4d515454 05 82 003c 00", " 0001 61", " 0003 edbfbf")),
            K::InvalidUtf8 { .. },
            Some(v5::MQTT_1_5_4_1)
        ),
        reject!(
            V3,
            "topic filter ending inside a three-byte sequence (e4 b8)",
            pkt(0x82, "0001 0002 61e4 00"),
            K::InvalidUtf8 { .. },
            Some(v3::MQTT_1_5_3_1)
        ),
        reject!(
            V5,
            "user property name ending inside a three-byte sequence (e4 b8)",
            pkt(0x30, concat!("0001 61", " 08 26 0002 e4b8 0001 76")),
            K::InvalidUtf8 { .. },
            Some(v5::MQTT_1_5_4_1)
        ),
        reject!(
            V5,
            "Content Type with a code point above U+10FFFF (f4 90 80 80)",
            pkt(0x30, concat!("0001 61", " 07 03 0004 f4908080")),
            K::InvalidUtf8 { .. },
            Some(v5::MQTT_1_5_4_1)
        ),
        reject!(
            V5,
            "Reason String encoding the surrogate U+DC00 (ed b0 80)",
            pkt(0xE0, concat!("80", " 06 1f 0003 edb080")),
            K::InvalidUtf8 { .. },
            Some(v5::MQTT_1_5_4_1)
        ),
        reject!(
            V3,
            "topic name containing U+0000",
            pkt(0x30, "0003 610062"),
            K::NullCharacter { .. },
            Some(v3::MQTT_1_5_3_2)
        ),
        reject!(
            V5,
            "client identifier containing U+0000",
            pkt(0x10, concat!("0004 4d515454 05 02 003c 00", " 0003 610062")),
            K::NullCharacter { .. },
            Some(v5::MQTT_1_5_4_2)
        ),
        reject!(
            V5,
            "user property value containing U+0000",
            pkt(0x30, concat!("0001 61", " 08 26 0001 6b 0002 6100")),
            K::NullCharacter { .. },
            Some(v5::MQTT_1_5_4_2)
        ),
        // --- Topic names.
        reject!(
            V3,
            "PUBLISH topic name with '+'",
            pkt(0x30, "0003 612f2b"),
            K::WildcardInTopicName,
            Some(v3::MQTT_3_3_2_2)
        ),
        reject!(
            V5,
            "PUBLISH topic name with '#'",
            pkt(0x30, "0003 612f23 00"),
            K::WildcardInTopicName,
            Some(v5::MQTT_3_3_2_2)
        ),
        reject!(
            V3,
            "will topic with '#'",
            pkt(0x10, concat!("0004 4d515454 04 06 003c", " 0001 61", " 0003 612f23", " 0000")),
            K::WildcardInTopicName,
            Some(v3::MQTT_3_3_2_2)
        ),
        reject!(
            V5,
            "will topic with '+'",
            pkt(0x10, concat!("0004 4d515454 05 06 003c 00", " 0001 61", " 00 0003 612f2b", " 0000")),
            K::WildcardInTopicName,
            Some(v5::MQTT_3_3_2_2)
        ),
        reject!(
            V5,
            "Response Topic with '#'",
            pkt(0x30, concat!("0001 61", " 06 08 0003 612f23")),
            K::WildcardInTopicName | K::InvalidPropertyValue { property: P::ResponseTopic, .. },
            Some(v5::MQTT_3_3_2_14)
        ),
        reject!(V3, "PUBLISH with an empty topic name", pkt(0x30, "0000"), K::EmptyTopicName, Some(v3::MQTT_4_7_3_1)),
        reject!(
            V5,
            "PUBLISH with an empty topic name and no Topic Alias",
            pkt(0x30, "0000 00"),
            K::EmptyTopicName,
            Some(v5::MQTT_4_7_3_1)
        ),
        reject!(
            V3,
            "CONNECT with an empty will topic",
            pkt(0x10, concat!("0004 4d515454 04 06 003c", " 0001 61", " 0000", " 0000")),
            K::EmptyTopicName,
            Some(v3::MQTT_4_7_3_1)
        ),
        // --- Topic filters.
        reject!(
            V3,
            "SUBSCRIBE filter 'a#'",
            pkt(0x82, "0001 0002 6123 00"),
            K::InvalidTopicFilter { .. },
            Some(v3::MQTT_4_7_1_2)
        ),
        reject!(
            V5,
            "SUBSCRIBE filter 'a#'",
            pkt(0x82, "0001 00 0002 6123 00"),
            K::InvalidTopicFilter { .. },
            Some(v5::MQTT_4_7_1_1)
        ),
        reject!(
            V3,
            "SUBSCRIBE filter 'a+b'",
            pkt(0x82, "0001 0003 612b62 00"),
            K::InvalidTopicFilter { .. },
            Some(v3::MQTT_4_7_1_3)
        ),
        reject!(
            V5,
            "SUBSCRIBE filter 'a+b'",
            pkt(0x82, "0001 00 0003 612b62 00"),
            K::InvalidTopicFilter { .. },
            Some(v5::MQTT_4_7_1_2)
        ),
        reject!(
            V3,
            "UNSUBSCRIBE filter '#/a'",
            pkt(0xA2, "0001 0003 232f61"),
            K::InvalidTopicFilter { .. },
            Some(v3::MQTT_4_7_1_2)
        ),
        reject!(
            V5,
            "UNSUBSCRIBE filter '#/a'",
            pkt(0xA2, "0001 00 0003 232f61"),
            K::InvalidTopicFilter { .. },
            Some(v5::MQTT_4_7_1_1)
        ),
        reject!(
            V3,
            "SUBSCRIBE with an empty filter",
            pkt(0x82, "0001 0000 00"),
            K::InvalidTopicFilter { .. },
            Some(v3::MQTT_4_7_3_1)
        ),
        reject!(
            V5,
            "UNSUBSCRIBE with an empty filter",
            pkt(0xA2, "0001 00 0000"),
            K::InvalidTopicFilter { .. },
            Some(v5::MQTT_4_7_3_1)
        ),
        reject!(
            V5,
            "shared subscription '$share//a' without a share name",
            pkt(0x82, "0001 00 0009 2473686172652f2f61 00"),
            K::InvalidTopicFilter { .. },
            Some(v5::MQTT_4_8_2_1)
        ),
        reject!(
            V5,
            "shared subscription '$share/g' without a filter",
            pkt(0x82, "0001 00 0008 2473686172652f67 00"),
            K::InvalidTopicFilter { .. },
            Some(v5::MQTT_4_8_2_2)
        ),
        reject!(
            V5,
            "shared subscription '$share/+/a' with a wildcard share name",
            pkt(0x82, "0001 00 000a 2473686172652f2b2f61 00"),
            K::InvalidTopicFilter { .. },
            Some(v5::MQTT_4_8_2_2)
        ),
        reject!(
            V5,
            "unsubscribing '$share/g/' with an empty filter",
            pkt(0xA2, "0001 00 0009 2473686172652f672f"),
            K::InvalidTopicFilter { .. },
            Some(v5::MQTT_4_8_2_2)
        ),
        // --- SUBSCRIBE / UNSUBSCRIBE payloads.
        reject!(
            V3,
            "SUBSCRIBE with no filters",
            pkt(0x82, "0001"),
            K::EmptyPayload { packet: T::Subscribe },
            Some(v3::MQTT_3_8_3_3)
        ),
        reject!(
            V5,
            "SUBSCRIBE with no filters",
            pkt(0x82, "0001 00"),
            K::EmptyPayload { packet: T::Subscribe },
            Some(v5::MQTT_3_8_3_2)
        ),
        reject!(
            V3,
            "UNSUBSCRIBE with no filters",
            pkt(0xA2, "0001"),
            K::EmptyPayload { packet: T::Unsubscribe },
            Some(v3::MQTT_3_10_3_2)
        ),
        reject!(
            V5,
            "UNSUBSCRIBE with no filters",
            pkt(0xA2, "0001 00"),
            K::EmptyPayload { packet: T::Unsubscribe },
            Some(v5::MQTT_3_10_3_2)
        ),
        reject!(
            V3,
            "requested QoS byte with reserved bit 2 set",
            pkt(0x82, "0001 0001 61 04"),
            K::InvalidSubscriptionOptions { options: 0x04, .. },
            Some(v3::MQTT_3_8_3_4)
        )
        .at(7),
        reject!(
            V3,
            "requested QoS 3",
            pkt(0x82, "0001 0001 61 03"),
            K::InvalidSubscriptionOptions { options: 0x03, .. },
            Some(v3::MQTT_3_8_3_4)
        )
        .at(7),
        reject!(
            V3,
            "requested QoS byte with bits 4-5 set (5.0's Retain Handling 3)",
            pkt(0x82, "0001 0001 61 30"),
            K::InvalidSubscriptionOptions { options: 0x30, .. },
            Some(v3::MQTT_3_8_3_4)
        )
        .at(7),
        reject!(
            V5,
            "subscription options with reserved bit 6 set",
            pkt(0x82, "0001 00 0001 61 40"),
            K::InvalidSubscriptionOptions { options: 0x40, .. },
            Some(v5::MQTT_3_8_3_5)
        )
        .at(8),
        reject!(
            V5,
            "subscription options with reserved bit 7 set on a second filter",
            pkt(0x82, "0001 00 0001 61 01 0001 62 81"),
            K::InvalidSubscriptionOptions { options: 0x81, .. },
            Some(v5::MQTT_3_8_3_5)
        )
        .at(12),
        reject!(
            V5,
            "subscription options with QoS 3",
            pkt(0x82, "0001 00 0001 61 03"),
            K::InvalidSubscriptionOptions { options: 0x03, .. },
            None
        )
        .at(8),
        reject!(
            V5,
            "subscription options with Retain Handling 3",
            pkt(0x82, "0001 00 0001 61 30"),
            K::InvalidSubscriptionOptions { options: 0x30, .. },
            None
        )
        .at(8),
        reject!(
            V5,
            "No Local on the shared subscription '$share/g/a'",
            pkt(0x82, "0001 00 000a 2473686172652f672f61 04"),
            K::InvalidSubscriptionOptions { options: 0x04, .. },
            Some(v5::MQTT_3_8_3_4)
        )
        .at(17),
        // --- Properties: unknown, duplicated, not allowed, overrunning.
        reject!(
            V5,
            "property identifier 0x05 does not exist",
            pkt(0x40, "0001 10 02 0500"),
            K::UnknownProperty { id: 0x05 },
            None
        )
        .at(6),
        reject!(
            V5,
            "property identifier 0x00 does not exist",
            pkt(0x20, "00 00 02 0000"),
            K::UnknownProperty { id: 0x00 },
            None
        )
        .at(5),
        reject!(
            V5,
            "Payload Format Indicator twice",
            pkt(0x30, concat!("0001 61", " 04 0100 0101")),
            K::DuplicateProperty { property: P::PayloadFormatIndicator },
            None
        )
        .at(8),
        reject!(
            V5,
            "Subscription Identifier twice in SUBSCRIBE",
            pkt(0x82, "0001 04 0b01 0b02 0001 61 00"),
            K::DuplicateProperty { property: P::SubscriptionIdentifier },
            None
        )
        .at(7),
        reject!(
            V5,
            "Session Expiry Interval twice in CONNECT",
            pkt(0x10, concat!("0004 4d515454 05 02 003c", " 0a 1100000001 1100000002", " 0001 61")),
            K::DuplicateProperty { property: P::SessionExpiryInterval },
            None
        )
        .at(18),
        reject!(
            V5,
            "Topic Alias in CONNECT",
            pkt(0x10, concat!("0004 4d515454 05 02 003c", " 03 230001", " 0001 61")),
            K::PropertyNotAllowed { property: P::TopicAlias, .. },
            None
        )
        .at(13),
        reject!(
            V5,
            "Will Delay Interval in PUBLISH",
            pkt(0x30, concat!("0001 61", " 05 1800000005")),
            K::PropertyNotAllowed { property: P::WillDelayInterval, .. },
            None
        )
        .at(6),
        reject!(
            V5,
            "Session Expiry Interval in the will properties",
            pkt(0x10, concat!("0004 4d515454 05 06 003c 00", " 0001 61", " 05 1100000005", " 0001 77 0000")),
            K::PropertyNotAllowed { property: P::SessionExpiryInterval, .. },
            None
        )
        .at(17),
        reject!(
            V5,
            "Subscription Identifier in UNSUBSCRIBE",
            pkt(0xA2, "0001 02 0b01 0001 61"),
            K::PropertyNotAllowed { property: P::SubscriptionIdentifier, .. },
            None
        )
        .at(5),
        reject!(
            V5,
            "Reason String in PUBLISH",
            pkt(0x30, concat!("0001 61", " 04 1f 0001 78")),
            K::PropertyNotAllowed { property: P::ReasonString, .. },
            None
        )
        .at(6),
        reject!(
            V5,
            "PUBACK property length 10 with 1 byte left",
            pkt(0x40, "0001 10 0a 1f"),
            K::PropertyLengthOverrun { length: 10 },
            None
        ),
        reject!(
            V5,
            "PUBLISH property length 127 with 2 bytes left",
            pkt(0x30, "0001 61 7f 0100"),
            K::PropertyLengthOverrun { length: 127 },
            None
        ),
        // --- Property values.
        reject!(
            V5,
            "Receive Maximum 0",
            pkt(0x10, concat!("0004 4d515454 05 02 003c", " 03 210000", " 0001 61")),
            K::InvalidPropertyValue { property: P::ReceiveMaximum, .. },
            None
        ),
        reject!(
            V5,
            "Topic Alias 0",
            pkt(0x30, concat!("0001 61", " 03 230000")),
            K::InvalidPropertyValue { property: P::TopicAlias, .. },
            Some(v5::MQTT_3_3_2_8)
        ),
        reject!(
            V5,
            "Maximum Packet Size 0",
            pkt(0x20, "00 00 05 2700000000"),
            K::InvalidPropertyValue { property: P::MaximumPacketSize, .. },
            None
        ),
        reject!(
            V5,
            "Subscription Identifier 0 in SUBSCRIBE",
            pkt(0x82, "0001 02 0b00 0001 61 00"),
            K::InvalidPropertyValue { property: P::SubscriptionIdentifier, .. },
            None
        ),
        reject!(
            V5,
            "Subscription Identifier 0 in PUBLISH",
            pkt(0x30, concat!("0001 61", " 02 0b00")),
            K::InvalidPropertyValue { property: P::SubscriptionIdentifier, .. },
            None
        ),
        reject!(
            V5,
            "Maximum QoS 2",
            pkt(0x20, "00 00 02 2402"),
            K::InvalidPropertyValue { property: P::MaximumQos, .. },
            None
        ),
        reject!(
            V5,
            "Payload Format Indicator 2",
            pkt(0x30, concat!("0001 61", " 02 0102")),
            K::InvalidPropertyValue { property: P::PayloadFormatIndicator, .. },
            None
        ),
        reject!(
            V5,
            "Request Problem Information 2",
            pkt(0x10, concat!("0004 4d515454 05 02 003c", " 02 1702", " 0001 61")),
            K::InvalidPropertyValue { property: P::RequestProblemInformation, .. },
            None
        ),
        reject!(
            V5,
            "Retain Available 2",
            pkt(0x20, "00 00 02 2502"),
            K::InvalidPropertyValue { property: P::RetainAvailable, .. },
            None
        ),
        reject!(
            V5,
            "Request Response Information 2",
            pkt(0x10, concat!("0004 4d515454 05 02 003c", " 02 1902", " 0001 61")),
            K::InvalidPropertyValue { property: P::RequestResponseInformation, .. },
            None
        ),
        reject!(
            V5,
            "Wildcard Subscription Available 2",
            pkt(0x20, "00 00 02 2802"),
            K::InvalidPropertyValue { property: P::WildcardSubscriptionAvailable, .. },
            None
        ),
        reject!(
            V5,
            "Subscription Identifier Available 2",
            pkt(0x20, "00 00 02 2902"),
            K::InvalidPropertyValue { property: P::SubscriptionIdentifierAvailable, .. },
            None
        ),
        reject!(
            V5,
            "Shared Subscription Available 2",
            pkt(0x20, "00 00 02 2a02"),
            K::InvalidPropertyValue { property: P::SharedSubscriptionAvailable, .. },
            None
        ),
        reject!(
            V5,
            "Receive Maximum 0 in CONNACK",
            pkt(0x20, "00 00 03 210000"),
            K::InvalidPropertyValue { property: P::ReceiveMaximum, .. },
            None
        ),
        reject!(
            V5,
            "Maximum Packet Size 0 in CONNECT",
            pkt(0x10, concat!("0004 4d515454 05 02 003c", " 05 2700000000", " 0001 61")),
            K::InvalidPropertyValue { property: P::MaximumPacketSize, .. },
            None
        ),
        reject!(
            V5,
            "Payload Format Indicator 2 in the will properties",
            pkt(0x10, concat!("0004 4d515454 05 06 003c 00", " 0001 61", " 02 0102", " 0001 77 0000")),
            K::InvalidPropertyValue { property: P::PayloadFormatIndicator, .. },
            None
        ),
        // --- Reason codes.
        reject!(
            V3,
            "CONNACK return code 6",
            pkt(0x20, "00 06"),
            K::InvalidReasonCode { packet: T::Connack, code: ReasonCode(0x06) },
            Some(v3::MQTT_3_2_2_6)
        )
        .at(3),
        reject!(
            V5,
            "CONNACK reason code 0x01",
            pkt(0x20, "00 01 00"),
            K::InvalidReasonCode { packet: T::Connack, code: ReasonCode(0x01) },
            Some(v5::MQTT_3_2_2_8)
        )
        .at(3),
        reject!(
            V5,
            "PUBACK reason code 0x92 (a PUBREL/PUBCOMP code)",
            pkt(0x40, "0001 92"),
            K::InvalidReasonCode { packet: T::Puback, code: ReasonCode(0x92) },
            Some(v5::MQTT_3_4_2_1)
        )
        .at(4),
        reject!(
            V5,
            "PUBREC reason code 0x01",
            pkt(0x50, "0001 01 00"),
            K::InvalidReasonCode { packet: T::Pubrec, code: ReasonCode(0x01) },
            Some(v5::MQTT_3_5_2_1)
        )
        .at(4),
        reject!(
            V5,
            "PUBREL reason code 0x10 (a PUBACK code)",
            pkt(0x62, "0001 10"),
            K::InvalidReasonCode { packet: T::Pubrel, code: ReasonCode(0x10) },
            Some(v5::MQTT_3_6_2_1)
        )
        .at(4),
        reject!(
            V5,
            "PUBCOMP reason code 0x80",
            pkt(0x70, "0001 80 00"),
            K::InvalidReasonCode { packet: T::Pubcomp, code: ReasonCode(0x80) },
            Some(v5::MQTT_3_7_2_1)
        )
        .at(4),
        reject!(
            V3,
            "SUBACK return code 0x03",
            pkt(0x90, "0001 03"),
            K::InvalidReasonCode { packet: T::Suback, code: ReasonCode(0x03) },
            Some(v3::MQTT_3_9_3_2)
        )
        .at(4),
        reject!(
            V3,
            "SUBACK second return code 0x81",
            pkt(0x90, "0001 00 81"),
            K::InvalidReasonCode { packet: T::Suback, code: ReasonCode(0x81) },
            Some(v3::MQTT_3_9_3_2)
        )
        .at(5),
        reject!(
            V5,
            "SUBACK reason code 0x11 (an UNSUBACK code)",
            pkt(0x90, "0001 00 11"),
            K::InvalidReasonCode { packet: T::Suback, code: ReasonCode(0x11) },
            Some(v5::MQTT_3_9_3_2)
        )
        .at(5),
        reject!(
            V5,
            "UNSUBACK reason code 0x10",
            pkt(0xB0, "0001 00 10"),
            K::InvalidReasonCode { packet: T::Unsuback, code: ReasonCode(0x10) },
            Some(v5::MQTT_3_11_3_2)
        )
        .at(5),
        reject!(
            V5,
            "DISCONNECT reason code 0x05",
            pkt(0xE0, "05"),
            K::InvalidReasonCode { packet: T::Disconnect, code: ReasonCode(0x05) },
            Some(v5::MQTT_3_14_2_1)
        )
        .at(2),
        reject!(
            V5,
            "AUTH reason code 0x01",
            pkt(0xF0, "01 00"),
            K::InvalidReasonCode { packet: T::Auth, code: ReasonCode(0x01) },
            Some(v5::MQTT_3_15_2_1)
        )
        .at(2),
        reject!(
            V5,
            "AUTH with a reason code and no property length (AUTH has no one-byte form)",
            pkt(0xF0, "18"),
            K::Truncated { .. },
            None
        ),
        reject!(
            V5,
            "AUTH reason code 0x87 (valid in other packets)",
            pkt(0xF0, "87 00"),
            K::InvalidReasonCode { packet: T::Auth, code: ReasonCode(0x87) },
            Some(v5::MQTT_3_15_2_1)
        )
        .at(2),
        // --- CONNECT variable header.
        reject!(
            V3,
            "protocol name 'MQIsdp' (MQTT 3.1)",
            pkt(0x10, "0006 4d5149736470 04 02 003c 0001 61"),
            K::InvalidProtocolName { .. },
            Some(v3::MQTT_3_1_2_1)
        ),
        reject!(
            V5,
            "protocol name 'mqtt' in lower case",
            pkt(0x10, "0004 6d717474 05 02 003c 00 0001 61"),
            K::InvalidProtocolName { .. },
            Some(v5::MQTT_3_1_2_1)
        ),
        reject!(
            V3,
            "protocol level 3",
            pkt(0x10, "0004 4d515454 03 02 003c 0001 61"),
            K::UnsupportedProtocolLevel { level: 3 },
            Some(v3::MQTT_3_1_2_2)
        )
        .at(8),
        reject!(
            V5,
            "protocol level 6",
            pkt(0x10, "0004 4d515454 06 02 003c 00 0001 61"),
            K::UnsupportedProtocolLevel { level: 6 },
            Some(v5::MQTT_3_1_2_2)
        )
        .at(8),
        reject!(
            V3,
            "CONNECT reserved flag set",
            pkt(0x10, concat!("0004 4d515454 04", " 03 003c 0001 61")),
            K::ConnectReservedFlag,
            Some(v3::MQTT_3_1_2_3)
        )
        .at(9),
        reject!(
            V5,
            "CONNECT reserved flag set",
            pkt(0x10, concat!("0004 4d515454 05", " 01 003c 00 0001 61")),
            K::ConnectReservedFlag,
            Some(v5::MQTT_3_1_2_3)
        )
        .at(9),
        reject!(
            V3,
            "password flag without the user name flag",
            pkt(0x10, concat!("0004 4d515454 04", " 42 003c", " 0001 61", " 0002 7077")),
            K::PasswordWithoutUsername,
            Some(v3::MQTT_3_1_2_22)
        )
        .at(9),
        reject!(
            V3,
            "will QoS 1 without the will flag",
            pkt(0x10, concat!("0004 4d515454 04", " 0a 003c 0001 61")),
            K::InconsistentWillFlags,
            Some(v3::MQTT_3_1_2_13)
        )
        .at(9),
        reject!(
            V5,
            "will QoS 2 without the will flag",
            pkt(0x10, concat!("0004 4d515454 05", " 12 003c 00 0001 61")),
            K::InconsistentWillFlags,
            Some(v5::MQTT_3_1_2_11)
        )
        .at(9),
        reject!(
            V3,
            "will retain without the will flag",
            pkt(0x10, concat!("0004 4d515454 04", " 22 003c 0001 61")),
            K::InconsistentWillFlags,
            Some(v3::MQTT_3_1_2_15)
        )
        .at(9),
        reject!(
            V5,
            "will retain without the will flag",
            pkt(0x10, concat!("0004 4d515454 05", " 22 003c 00 0001 61")),
            K::InconsistentWillFlags,
            Some(v5::MQTT_3_1_2_13)
        )
        .at(9),
        reject!(
            V3,
            "will QoS 3",
            pkt(0x10, concat!("0004 4d515454 04", " 1e 003c", " 0001 61", " 0001 77 0000")),
            K::InvalidQos,
            Some(v3::MQTT_3_1_2_14)
        )
        .at(9),
        reject!(
            V5,
            "will QoS 3",
            pkt(0x10, concat!("0004 4d515454 05", " 1e 003c 00", " 0001 61", " 00 0001 77 0000")),
            K::InvalidQos,
            Some(v5::MQTT_3_1_2_12)
        )
        .at(9),
        // --- CONNACK flags.
        reject!(V3, "CONNACK acknowledge flags with bit 7 set", pkt(0x20, "80 00"), K::ConnackReservedFlags, None)
            .at(2),
        reject!(
            V5,
            "CONNACK acknowledge flags with bit 1 set",
            pkt(0x20, "02 00 00"),
            K::ConnackReservedFlags,
            Some(v5::MQTT_3_2_2_1)
        )
        .at(2),
        reject!(
            V3,
            "session present on a refused CONNACK (return code 5)",
            pkt(0x20, "01 05"),
            K::SessionPresentOnRefusal,
            Some(v3::MQTT_3_2_2_4)
        ),
        reject!(
            V5,
            "session present on a refused CONNACK (0x87)",
            pkt(0x20, "01 87 00"),
            K::SessionPresentOnRefusal,
            Some(v5::MQTT_3_2_2_6)
        ),
    ]
}

/// Each malformed packet of the table is rejected with the documented kind, the exact version-qualified statement, and the offset where given.
#[test]
fn malformed_packets_are_rejected_with_the_documented_kind_statement_and_offset() {
    let table = rejections();
    assert!(table.len() >= 60, "the table must hold at least 60 cases, holds {}", table.len());
    let mut report = Vec::new();
    for (i, case) in table.iter().enumerate() {
        let mismatches = case.mismatches();
        if !mismatches.is_empty() {
            report.push(format!(
                "#{i} [{}] {}\n    bytes {}\n    {}",
                case.version,
                case.what,
                to_hex(&case.bytes),
                mismatches.join("\n    ")
            ));
        }
    }
    assert!(
        report.is_empty(),
        "{} of {} cases differ from the contract:\n{}",
        report.len(),
        table.len(),
        report.join("\n")
    );
}

/// One input the decoder must accept, and a check on what it decodes to.
struct Accept {
    version: Version,
    what: &'static str,
    bytes: Vec<u8>,
    max_packet_size: Option<usize>,
    check: fn(&Packet) -> bool,
    check_text: &'static str,
}

/// A table row: version, what is odd but allowed, bytes, pattern the packet must match.
macro_rules! accept {
    ($version:expr, $what:expr, $bytes:expr, $pat:pat $(if $guard:expr)?) => {
        Accept {
            version: $version,
            what: $what,
            bytes: $bytes,
            max_packet_size: None,
            check: |p: &Packet| matches!(p, $pat $(if $guard)?),
            check_text: stringify!($pat $(if $guard)?),
        }
    };
}

fn acceptances() -> Vec<Accept> {
    vec![
        accept!(
            V3,
            "remaining length 0 in two bytes (3.1.1 does not require the minimum)",
            raw("c0 80 00"),
            Packet::Pingreq
        ),
        accept!(V3, "remaining length 0 in four bytes", raw("d0 80 80 80 00"), Packet::Pingresp),
        accept!(V3, "remaining length 5 in two bytes", raw("30 85 00 0003 616263"),
            Packet::Publish(p) if p.topic.as_str() == "abc" && p.payload.is_empty()),
        accept!(V5, "password without a user name (allowed in 5.0)",
            pkt(0x10, concat!("0004 4d515454 05", " 42 003c 00", " 0001 61", " 0002 7077")),
            Packet::Connect(c) if c.username.is_none() && c.password.as_deref() == Some(&b"pw"[..])),
        accept!(V5, "empty client identifier without clean start (allowed in 5.0)",
            pkt(0x10, concat!("0004 4d515454 05", " 00 003c 00", " 0000")),
            Packet::Connect(c) if c.client_id.is_empty() && !c.clean_start),
        accept!(V3, "empty client identifier with clean session", pkt(0x10, concat!("0004 4d515454 04", " 02 003c 0000")),
            Packet::Connect(c) if c.client_id.is_empty() && c.clean_start),
        // 3.1.1 MQTT-3.1.3-8: the server answers CONNACK 0x02 (identifier rejected), so the packet must decode.
        accept!(V3, "empty client identifier without clean session (the server must answer CONNACK 0x02)",
            pkt(0x10, concat!("0004 4d515454 04", " 00 003c", " 0000")),
            Packet::Connect(c) if c.client_id.is_empty() && !c.clean_start),
        accept!(V3, "a 5.0 CONNECT is decoded by its own protocol level", pkt(0x10, CONNECT_V5),
            Packet::Connect(c) if c.version == Version::V5 && c.client_id == "a"),
        accept!(V5, "a 3.1.1 CONNECT is decoded by its own protocol level", pkt(0x10, CONNECT_V3),
            Packet::Connect(c) if c.version == Version::V3_1_1 && c.keep_alive_secs == 60),
        accept!(V5, "will with properties",
            pkt(0x10, concat!("0004 4d515454 05", " 2e 003c 00", " 0001 61", " 05 1800000009", " 0001 77", " 0002 6869")),
            Packet::Connect(c) if c.will.as_ref().is_some_and(|w| w.qos == Qos::AtLeastOnce && w.retain
                && w.properties.will_delay_interval_secs == Some(9) && w.topic.as_str() == "w"
                && w.payload.as_ref() == b"hi")),
        accept!(V5, "empty topic name with a Topic Alias", pkt(0x30, "0000 03 230005"),
            Packet::Publish(p) if p.topic.is_empty() && p.properties.topic_alias == Some(5)),
        accept!(V5, "two Subscription Identifiers in PUBLISH", pkt(0x30, concat!("0001 61", " 05 0b01 0b8101")),
            Packet::Publish(p) if p.properties.subscription_identifiers == [1, 129]),
        accept!(V5, "a repeated user property name, order kept",
            pkt(0x30, concat!("0001 61", " 0e 26 0001 6b 0001 32 26 0001 6b 0001 31")),
            Packet::Publish(p) if p.properties.user_properties
                == [("k".to_owned(), "2".to_owned()), ("k".to_owned(), "1".to_owned())]),
        accept!(V5, "properties in descending identifier order", pkt(0x30, concat!("0001 61", " 05 230001 0101")),
            Packet::Publish(p) if p.properties.topic_alias == Some(1)
                && p.properties.payload_format_indicator == Some(1)),
        accept!(V5, "Maximum QoS 1 and Topic Alias Maximum 0 (both allowed values)", pkt(0x20, "00 00 05 2401 220000"),
            Packet::Connack(c) if c.properties.maximum_qos == Some(1) && c.properties.topic_alias_maximum == Some(0)),
        accept!(V3, "a BOM (ef bb bf) at the start of a topic is kept", pkt(0x30, "0004 efbbbf61"),
            Packet::Publish(p) if p.topic.as_str() == "\u{FEFF}a"),
        accept!(V5, "a BOM inside a user property value is kept",
            pkt(0x30, concat!("0001 61", " 0a 26 0001 6b 0004 61efbbbf")),
            Packet::Publish(p) if p.properties.user_properties == [("k".to_owned(), "a\u{FEFF}".to_owned())]),
        accept!(V3, "a four-byte UTF-8 character in a topic", pkt(0x30, "0004 f09f9880"),
            Packet::Publish(p) if p.topic.as_str() == "😀"),
        accept!(V5, "PUBACK with reason code 0 and an explicit empty property list", pkt(0x40, "0001 00 00"),
            Packet::Puback(r) if r.packet_id.get() == 1 && r.reason_code.is_success() && r.properties.is_empty()),
        accept!(V5, "PUBACK with a reason code and no property length", pkt(0x40, "ffff 10"),
            Packet::Puback(r) if r.packet_id.get() == 0xFFFF && r.reason_code == ReasonCode(0x10)),
        accept!(V5, "PUBREL with no reason code", pkt(0x62, "0001"),
            Packet::Pubrel(r) if r.reason_code.is_success()),
        accept!(V5, "DISCONNECT with remaining length 0", pkt(0xE0, ""),
            Packet::Disconnect(d) if d.reason_code.is_success() && d.properties.is_empty()),
        accept!(V5, "DISCONNECT with a reason code and no property length", pkt(0xE0, "04"),
            Packet::Disconnect(d) if d.reason_code == ReasonCode::DISCONNECT_WITH_WILL_MESSAGE),
        accept!(V5, "AUTH with remaining length 0", pkt(0xF0, ""), Packet::Auth(a) if a.reason_code.is_success()),
        accept!(V5, "SUBSCRIBE with No Local, Retain As Published and Retain Handling 2 on a plain filter",
            pkt(0x82, "0001 00 0001 61 2e"),
            Packet::Subscribe(s) if s.subscriptions[0].options.no_local
                && s.subscriptions[0].options.retain_as_published
                && s.subscriptions[0].options.retain_handling == RetainHandling::DoNotSend
                && s.subscriptions[0].options.qos == Qos::ExactlyOnce),
        accept!(V5, "shared subscription with Retain As Published", pkt(0x82, "0001 00 000a 2473686172652f672f61 08"),
            Packet::Subscribe(s) if s.subscriptions[0].filter.shared() == Some(("g", "a"))),
        accept!(V3, "'$share//a' is an ordinary filter in 3.1.1", pkt(0x82, "0001 0009 2473686172652f2f61 00"),
            Packet::Subscribe(s) if s.subscriptions[0].filter.as_str() == "$share//a"),
        accept!(V3, "'$share/g/a' is an ordinary filter in 3.1.1: it matches the topic '$share/g/a', not 'a'",
            pkt(0x82, "0001 000a 2473686172652f672f61 01"),
            Packet::Subscribe(s) if s.subscriptions[0].filter.matches(&TopicName::new("$share/g/a").expect("valid"))
                && !s.subscriptions[0].filter.matches(&TopicName::new("a").expect("valid"))),
        accept!(V3, "SUBACK with every 3.1.1 return code", pkt(0x90, "0001 00 01 02 80"),
            Packet::Suback(s) if s.reason_codes == [ReasonCode(0), ReasonCode(1), ReasonCode(2), ReasonCode(0x80)]),
        Accept {
            max_packet_size: Some(12),
            ..accept!(V3, "PUBLISH of exactly the maximum size (12 bytes)",
            pkt(0x30, "0003 616263 6465666768"), Packet::Publish(p) if p.payload.as_ref() == b"defgh")
        },
    ]
}

/// Inputs that look odd but that the specification allows decode whole to the expected value, re-encode to a value that decodes the same, and survive JSON.
#[test]
fn allowed_odd_forms_are_accepted() {
    let mut report = Vec::new();
    for (i, case) in acceptances().iter().enumerate() {
        let options = DecodeOptions {
            version: case.version,
            max_packet_size: case.max_packet_size.unwrap_or(DecodeOptions::PROTOCOL_MAX_PACKET_SIZE),
        };
        let head = format!("#{i} [{}] {}\n    bytes {}", case.version, case.what, to_hex(&case.bytes));
        match decode(&case.bytes, &options) {
            Ok(Some((packet, n))) if n == case.bytes.len() && (case.check)(&packet) => {
                let version = match &packet {
                    Packet::Connect(c) => c.version,
                    _ => case.version,
                };
                let again = encode_to_vec(&packet, version)
                    .map_err(|e| e.to_string())
                    .and_then(|b| decode(&b, &DecodeOptions::new(version)).map_err(|e| e.to_string()));
                if !matches!(&again, Ok(Some((p, _))) if *p == packet) {
                    report.push(format!("{head}\n    re-encoding {packet:?} gave {again:?}"));
                }
                let json = serde_json::to_string(&packet).expect("packets serialize");
                match serde_json::from_str::<Packet>(&json) {
                    Ok(back) if back == packet => {}
                    other => report.push(format!("{head}\n    JSON {json} reads back as {other:?}")),
                }
            }
            Ok(Some((packet, n))) => report.push(format!(
                "{head}\n    decoded {packet:?} consuming {n} bytes; expected all bytes and {}",
                case.check_text
            )),
            other => report.push(format!("{head}\n    expected a packet, got {other:?}")),
        }
    }
    assert!(
        report.is_empty(),
        "{} allowed forms were not handled as the specification says:\n{}",
        report.len(),
        report.join("\n")
    );
}

/// Inputs that are a strict prefix of some valid packet ask for more bytes instead of failing.
#[test]
fn incomplete_inputs_ask_for_more_bytes() {
    let cases: [(Version, &str, Vec<u8>); 8] = [
        (V3, "nothing", Vec::new()),
        (V5, "nothing", Vec::new()),
        (V5, "first byte only", raw("30")),
        (V5, "a remaining length byte with the continuation bit (80 may become 80 01)", raw("30 80")),
        (V3, "the largest remaining length, no body yet", raw("30 ff ff ff 7f")),
        (V5, "half a CONNECT", raw("10 11 0004 4d51")),
        (V3, "SUBSCRIBE cut inside its filter", raw("82 06 0001 0001")),
        (V5, "PUBLISH cut inside its properties", raw("30 0a 0001 61 05 0b")),
    ];
    let mut report = Vec::new();
    for (version, what, bytes) in cases {
        let got = decode(&bytes, &DecodeOptions::new(version));
        if got != Ok(None) {
            report.push(format!("[{version}] {what} ({}): got {got:?}", to_hex(&bytes)));
        }
    }
    assert!(report.is_empty(), "incomplete inputs did not ask for more bytes:\n{}", report.join("\n"));
}
