//! Tests of the wire format: byte-exact fixtures of every packet in both
//! versions (`fixtures_v3`, `fixtures_v5`), the rejections of
//! `docs/codec-rejections.md` (`rejections`), encoding rules (`encoding`)
//! and robustness against arbitrary bytes (`robustness`).

mod encoding;
mod fixtures_v3;
mod fixtures_v5;
mod rejections;
mod robustness;

use crate::codec::{
    decode, encode_to_vec, DecodeError, DecodeErrorKind, DecodeOptions, Packet, PacketId, PacketType, TopicFilter,
    TopicName, Version,
};
use crate::spec::StatementId;

/// The bytes of a fixture written as hex chunks (whitespace ignored).
pub(super) fn hex(chunks: &[&str]) -> Vec<u8> {
    let digits: Vec<u8> = chunks.iter().flat_map(|c| c.bytes()).filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len() % 2 == 0, "odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).expect("hex digit"))
        .collect()
}

/// Asserts that `chunks` decode (as `version`) to `expected`, that
/// `expected` encodes back to exactly those bytes, and that every strict
/// prefix asks for more bytes.
pub(super) fn round_trip(version: Version, chunks: &[&str], expected: Packet) {
    let bytes = hex(chunks);
    decodes_to(version, &bytes, &expected);
    assert_eq!(encode_to_vec(&expected, version).unwrap(), bytes, "encoding of {expected:?}");
}

/// Asserts that `bytes` decode (as `version`) to `expected`, alone and with
/// bytes of a next packet behind them, and that every strict prefix gives
/// `Ok(None)`.
pub(super) fn decodes_to(version: Version, bytes: &[u8], expected: &Packet) {
    let options = DecodeOptions::new(version);
    assert_eq!(decode(bytes, &options), Ok(Some((expected.clone(), bytes.len()))), "decoding {bytes:02x?}");
    let mut followed = bytes.to_vec();
    followed.extend_from_slice(&[0xC0, 0x00]);
    assert_eq!(decode(&followed, &options), Ok(Some((expected.clone(), bytes.len()))));
    for end in 0..bytes.len() {
        assert_eq!(decode(&bytes[..end], &options), Ok(None), "prefix of {end} bytes of {bytes:02x?}");
    }
}

/// The rejection of `bytes` decoded as `version`.
pub(super) fn rejection(version: Version, bytes: &[u8]) -> DecodeError {
    match decode(bytes, &DecodeOptions::new(version)) {
        Err(err) => err,
        Ok(other) => panic!("{bytes:02x?} as {version} was not rejected: {other:?}"),
    }
}

/// Asserts that `bytes` decoded as `version` are rejected with `kind` at
/// `offset` citing `statement`, and that the error names `packet` and the
/// version.
#[track_caller]
pub(super) fn rejects(
    version: Version,
    bytes: &[u8],
    kind: DecodeErrorKind,
    offset: usize,
    statement: Option<StatementId>,
    packet: PacketType,
) {
    let err = rejection(version, bytes);
    assert_eq!(
        (&err.kind, err.offset, err.statement, err.packet, err.version),
        (&kind, offset, statement, Some(packet), version),
        "{bytes:02x?} as {version}: {err}"
    );
}

/// A packet identifier.
pub(super) fn id(value: u16) -> PacketId {
    PacketId::new(value).unwrap()
}

/// A topic name.
pub(super) fn topic(name: &str) -> TopicName {
    TopicName::new(name).unwrap()
}

/// A topic filter (5.0 rules, which accept every filter the fixtures use).
pub(super) fn filter(text: &str) -> TopicFilter {
    TopicFilter::new(text).unwrap()
}

/// Hex of a string's UTF-8 bytes, for building test packets inline.
pub(super) fn text(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// `decode_bytes` gives the same packet as `decode` and shares the PUBLISH payload with its input.
#[test]
fn decode_bytes_shares_the_publish_payload() {
    use crate::codec::{decode, decode_bytes, DecodeOptions, Packet, Version};
    // PUBLISH QoS 0, topic "a/b", no properties, payload "hello".
    let buf =
        bytes::Bytes::from_static(&[0x30, 0x0b, 0x00, 0x03, b'a', b'/', b'b', 0x00, b'h', b'e', b'l', b'l', b'o']);
    let options = DecodeOptions::new(Version::V5);
    let shared = decode_bytes(&buf, &options).unwrap().unwrap();
    assert_eq!(Some(shared.clone()), decode(&buf, &options).unwrap());
    let Packet::Publish(publish) = shared.0 else { panic!("a PUBLISH") };
    assert_eq!(publish.payload.as_ptr(), buf[8..].as_ptr(), "the payload points into the input");
}

/// `packet_len` reads a packet's whole length from its fixed header: for a
/// valid packet it is what `decode` consumes, for a rejected or oversized
/// one it is how far to skip, even before the buffer holds all of it.
#[test]
fn packet_len_reads_the_whole_packet_length_from_the_fixed_header() {
    let ping = [0xC0u8, 0x00];
    assert_eq!(crate::codec::packet_len(&ping), Some(2));
    let mut two = ping.to_vec();
    two.extend_from_slice(&ping);
    assert_eq!(crate::codec::packet_len(&two), Some(2));
    // A PUBLISH with a 200-byte remaining length (two-byte varint), cut short.
    let mut publish = vec![0x30u8, 0xC8, 0x01];
    publish.resize(3 + 200, 0);
    assert_eq!(crate::codec::packet_len(&publish[..100]), Some(203));
    assert_eq!(crate::codec::packet_len(&publish), Some(203));
    let packet = crate::codec::encode_to_vec(&Packet::Pingreq, Version::V5).expect("encodes");
    assert_eq!(crate::codec::packet_len(&packet), Some(packet.len()));
    assert_eq!(crate::codec::packet_len(&[0x30]), None, "no remaining length yet");
    assert_eq!(crate::codec::packet_len(&[0x30, 0x80]), None, "remaining length incomplete");
    assert_eq!(crate::codec::packet_len(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF]), None, "varint too long");
}
