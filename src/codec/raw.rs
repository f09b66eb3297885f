//! The raw writer: builds any bytes on purpose, valid or not, to send
//! malformed packets to a server or client under test.
//!
//! [`RawPacket`] collects the bytes after the fixed header with chained
//! calls, one per field, and [`RawPacket::build`] puts the fixed header in
//! front with the correct remaining length. Nothing is checked: strings may
//! hold invalid UTF-8 ([`RawPacket::string_bytes`]), variable byte integers
//! may be non-minimal ([`RawPacket::varint_bytes`]), properties may be
//! unknown or repeated, and the remaining length may lie
//! ([`RawPacket::build_with_remaining_length`]).
//!
//! ```
//! use mqttsim::codec::raw::{self, RawPacket};
//! use mqttsim::codec::{decode, DecodeErrorKind, DecodeOptions, PacketType, Version};
//! use mqttsim::spec::v3_1_1;
//!
//! // A CONNECT whose protocol name is "MQTX" instead of "MQTT".
//! let bytes = RawPacket::new(raw::fixed_header(PacketType::Connect, 0))
//!     .string("MQTX") // protocol name
//!     .u8(4) // protocol level: 3.1.1
//!     .u8(0b0000_0010) // connect flags: clean session
//!     .u16(60) // keep alive
//!     .string("client-1") // client identifier
//!     .build();
//! assert_eq!(&bytes[..8], b"\x10\x14\x00\x04MQTX");
//!
//! let err = decode(&bytes, &DecodeOptions::new(Version::V3_1_1)).unwrap_err();
//! assert_eq!(err.kind, DecodeErrorKind::InvalidProtocolName { found: "MQTX".into() });
//! assert_eq!(err.statement, Some(v3_1_1::MQTT_3_1_2_1));
//! assert_eq!(err.offset, 2);
//!
//! // 5.0 properties get a correct property length; the ids are raw bytes.
//! let publish = RawPacket::new(raw::fixed_header(PacketType::Publish, 0))
//!     .string("t")
//!     .properties(|p| p.property_u16(0x23, 0)) // Topic Alias 0
//!     .build();
//! assert_eq!(publish, [0x30, 0x07, 0x00, 0x01, b't', 0x03, 0x23, 0x00, 0x00]);
//! ```

use super::packet::PacketType;

/// The first byte of a fixed header: the packet type in the high nibble and
/// `flags` (only the low four bits are used) in the low nibble.
pub const fn fixed_header(packet_type: PacketType, flags: u8) -> u8 {
    (packet_type as u8) << 4 | (flags & 0x0F)
}

/// The minimal variable byte integer encoding of `value`. Values above
/// 268,435,455 take five bytes, which no valid packet holds.
pub fn varint(value: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(5);
    let mut value = value;
    loop {
        let low = (value & 0x7F) as u8;
        value >>= 7;
        if value == 0 {
            out.push(low);
            return out;
        }
        out.push(low | 0x80);
    }
}

/// A packet under construction: a first byte and the bytes after the fixed
/// header. Every method appends and returns the builder, so calls chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawPacket {
    first_byte: u8,
    body: Vec<u8>,
}

impl RawPacket {
    /// A packet whose fixed header starts with `first_byte` (see
    /// [`fixed_header`]), with an empty body.
    pub fn new(first_byte: u8) -> RawPacket {
        RawPacket { first_byte, body: Vec::new() }
    }

    /// The first byte of the fixed header.
    pub fn first_byte(&self) -> u8 {
        self.first_byte
    }

    /// The bytes written so far after the fixed header.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Appends one byte.
    pub fn u8(mut self, value: u8) -> RawPacket {
        self.body.push(value);
        self
    }

    /// Appends a two-byte big-endian integer.
    pub fn u16(mut self, value: u16) -> RawPacket {
        self.body.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// Appends a four-byte big-endian integer.
    pub fn u32(mut self, value: u32) -> RawPacket {
        self.body.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// Appends the minimal variable byte integer encoding of `value` (five
    /// bytes above 268,435,455).
    pub fn varint(mut self, value: u32) -> RawPacket {
        self.body.extend_from_slice(&varint(value));
        self
    }

    /// Appends variable byte integer bytes as given, e.g. a non-minimal
    /// `[0x80, 0x00]` for 0 or five bytes.
    pub fn varint_bytes(self, bytes: &[u8]) -> RawPacket {
        self.bytes(bytes)
    }

    /// Appends a UTF-8 string: its length as two bytes, then the text.
    /// Texts over 65,535 bytes get a length truncated to 16 bits.
    pub fn string(self, text: &str) -> RawPacket {
        self.string_bytes(text.as_bytes())
    }

    /// Appends arbitrary bytes as a string (a two-byte length, then the
    /// bytes), e.g. ill-formed UTF-8 or an encoded U+0000.
    pub fn string_bytes(self, bytes: &[u8]) -> RawPacket {
        self.binary(bytes)
    }

    /// Appends binary data: its length as two bytes (truncated to 16 bits),
    /// then the bytes.
    pub fn binary(self, bytes: &[u8]) -> RawPacket {
        self.u16(bytes.len() as u16).bytes(bytes)
    }

    /// Appends bytes as they are.
    pub fn bytes(mut self, bytes: &[u8]) -> RawPacket {
        self.body.extend_from_slice(bytes);
        self
    }

    /// Appends a property with a one-byte value (identifier `id`, any byte).
    pub fn property_u8(self, id: u8, value: u8) -> RawPacket {
        self.u8(id).u8(value)
    }

    /// Appends a property with a two-byte integer value.
    pub fn property_u16(self, id: u8, value: u16) -> RawPacket {
        self.u8(id).u16(value)
    }

    /// Appends a property with a four-byte integer value.
    pub fn property_u32(self, id: u8, value: u32) -> RawPacket {
        self.u8(id).u32(value)
    }

    /// Appends a property with a variable byte integer value.
    pub fn property_varint(self, id: u8, value: u32) -> RawPacket {
        self.u8(id).varint(value)
    }

    /// Appends a property with a UTF-8 string value.
    pub fn property_string(self, id: u8, value: &str) -> RawPacket {
        self.u8(id).string(value)
    }

    /// Appends a property with a string pair value (User Property is 0x26).
    pub fn property_pair(self, id: u8, key: &str, value: &str) -> RawPacket {
        self.u8(id).string(key).string(value)
    }

    /// Appends a property with a binary data value.
    pub fn property_binary(self, id: u8, value: &[u8]) -> RawPacket {
        self.u8(id).binary(value)
    }

    /// Appends a property block: `build` receives an empty builder, appends
    /// the properties (or any bytes) to it, and its body is written here
    /// after a correct, minimal property length.
    pub fn properties(self, build: impl FnOnce(RawPacket) -> RawPacket) -> RawPacket {
        let block = build(RawPacket::new(0)).body;
        self.varint(u32::try_from(block.len()).unwrap_or(u32::MAX)).bytes(&block)
    }

    /// The packet: the first byte, the correct minimal remaining length,
    /// then the body.
    pub fn build(self) -> Vec<u8> {
        let length = varint(u32::try_from(self.body.len()).unwrap_or(u32::MAX));
        self.build_with_remaining_length_bytes(&length)
    }

    /// The packet with a remaining length of `length` (minimally encoded)
    /// whatever the body's real length.
    pub fn build_with_remaining_length(self, length: u32) -> Vec<u8> {
        self.build_with_remaining_length_bytes(&varint(length))
    }

    /// The packet with `length` written as the remaining length bytes as
    /// they are (non-minimal, five bytes, cut off...).
    pub fn build_with_remaining_length_bytes(self, length: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + length.len() + self.body.len());
        out.push(self.first_byte);
        out.extend_from_slice(length);
        out.extend_from_slice(&self.body);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode, DecodeErrorKind, DecodeOptions, Packet, PropertyId, Version};

    /// The first byte puts the type in the high nibble and the flags in the low one.
    #[test]
    fn fixed_header_combines_type_and_flags() {
        assert_eq!(fixed_header(PacketType::Pubrel, 0b0010), 0x62);
        assert_eq!(fixed_header(PacketType::Publish, 0xFF), 0x3F);
        assert_eq!(fixed_header(PacketType::Auth, 0), 0xF0);
    }

    /// Variable byte integers are minimal, and values past the maximum take five bytes.
    #[test]
    fn varint_is_minimal_and_can_exceed_four_bytes() {
        assert_eq!(varint(0), [0x00]);
        assert_eq!(varint(321), [0xC1, 0x02]);
        assert_eq!(varint(268_435_455), [0xFF, 0xFF, 0xFF, 0x7F]);
        assert_eq!(varint(268_435_456), [0x80, 0x80, 0x80, 0x80, 0x01]);
    }

    /// Every field writer appends exactly its bytes, and build adds the right remaining length.
    #[test]
    fn every_field_writer_appends_its_encoding() {
        let bytes = RawPacket::new(0x30)
            .u8(0xAB)
            .u16(0x0102)
            .u32(0x0304_0506)
            .varint(128)
            .varint_bytes(&[0x80, 0x00])
            .string("é")
            .string_bytes(&[0xFF])
            .binary(&[1, 2])
            .bytes(&[9])
            .build();
        let expected = [
            0x30, 0x17, 0xAB, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x80, 0x01, 0x80, 0x00, 0x00, 0x02, 0xC3, 0xA9, 0x00,
            0x01, 0xFF, 0x00, 0x02, 0x01, 0x02, 0x09,
        ];
        assert_eq!(bytes, expected);
    }

    /// The property writers put the identifier before the value, and the block gets its length.
    #[test]
    fn property_writers_and_block_length() {
        let packet = RawPacket::new(0xE0).u8(0x00).properties(|p| {
            p.property_u8(0x01, 1)
                .property_u16(0x21, 10)
                .property_u32(0x11, 7)
                .property_varint(0x0B, 200)
                .property_string(0x1F, "r")
                .property_pair(0x26, "k", "v")
                .property_binary(0x16, &[0xAA])
        });
        let expected_block = [
            0x01, 0x01, 0x21, 0x00, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x07, 0x0B, 0xC8, 0x01, 0x1F, 0x00, 0x01, b'r', 0x26,
            0x00, 0x01, b'k', 0x00, 0x01, b'v', 0x16, 0x00, 0x01, 0xAA,
        ];
        assert_eq!(packet.body()[0], 0x00);
        assert_eq!(packet.body()[1] as usize, expected_block.len());
        assert_eq!(&packet.body()[2..], &expected_block);
    }

    /// A lying or non-minimal remaining length is written as asked.
    #[test]
    fn remaining_length_can_lie() {
        let packet = RawPacket::new(0xC0).u8(0x00);
        assert_eq!(packet.clone().build(), [0xC0, 0x01, 0x00]);
        assert_eq!(packet.clone().build_with_remaining_length(0), [0xC0, 0x00, 0x00]);
        assert_eq!(packet.build_with_remaining_length_bytes(&[0x81, 0x00]), [0xC0, 0x81, 0x00, 0x00]);
    }

    /// Bytes from the raw writer reach the decoder's rejections, e.g. an unknown property.
    #[test]
    fn raw_packets_exercise_decoder_rejections() {
        let opts = DecodeOptions::new(Version::V5);
        let ok = RawPacket::new(fixed_header(PacketType::Disconnect, 0))
            .u8(0x8E)
            .properties(|p| p.property_string(PropertyId::ReasonString as u8, "bye"))
            .build();
        assert!(matches!(decode(&ok, &opts), Ok(Some((Packet::Disconnect(_), n))) if n == ok.len()));

        let unknown = RawPacket::new(fixed_header(PacketType::Disconnect, 0))
            .u8(0x00)
            .properties(|p| p.property_u8(0x7F, 0))
            .build();
        let err = decode(&unknown, &opts).unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::UnknownProperty { id: 0x7F });
        assert_eq!(err.offset, 4);
    }
}
