//! The primitives both versions share: variable byte integers, two- and
//! four-byte integers, UTF-8 strings (with the rules of 3.1.1 section 1.5.3
//! and 5.0 section 1.5.4), binary data, and the [`Reader`] cursor that every
//! packet decoder reads through.
//!
//! The reader never indexes without a bounds check and never allocates: it
//! hands out slices of the packet, and the packet decoders copy what they
//! keep. Every error it builds carries the offset from the first byte of the
//! packet, the packet type and the version being decoded.

use bytes::Bytes;

use crate::codec::{DecodeError, DecodeErrorKind, EncodeError, Packet, PacketId, PacketType, Version};
use crate::spec::{v3_1_1, v5, StatementId};

/// The largest value a variable byte integer can hold (four bytes).
pub(crate) const VARINT_MAX: u32 = 268_435_455;

/// The statement a rejection cites in each version (`None`: the
/// specification has no statement for it in that version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cite {
    v3: Option<StatementId>,
    v5: Option<StatementId>,
}

impl Cite {
    /// No statement in either version.
    pub(crate) const NONE: Cite = Cite { v3: None, v5: None };

    /// `v3` in 3.1.1 and `v5` in 5.0.
    pub(crate) const fn both(v3: StatementId, v5: StatementId) -> Cite {
        Cite { v3: Some(v3), v5: Some(v5) }
    }

    /// A statement in 3.1.1 only.
    pub(crate) const fn v3(v3: StatementId) -> Cite {
        Cite { v3: Some(v3), v5: None }
    }

    /// A statement in 5.0 only.
    pub(crate) const fn v5(v5: StatementId) -> Cite {
        Cite { v3: None, v5: Some(v5) }
    }

    /// The statement for `version`.
    pub(crate) const fn pick(self, version: Version) -> Option<StatementId> {
        match version {
            Version::V3_1_1 => self.v3,
            Version::V5 => self.v5,
        }
    }
}

/// Ill-formed UTF-8 or a surrogate.
const CITE_UTF8: Cite = Cite::both(v3_1_1::MQTT_1_5_3_1, v5::MQTT_1_5_4_1);
/// U+0000 in a string.
const CITE_NUL: Cite = Cite::both(v3_1_1::MQTT_1_5_3_2, v5::MQTT_1_5_4_2);
/// A non-minimal variable byte integer (5.0 only).
pub(crate) const CITE_VARINT_NOT_MINIMAL: Cite = Cite::v5(v5::MQTT_1_5_5_1);
/// A CONNECT that does not match its remaining length.
const CITE_CONNECT_MALFORMED: Cite = Cite::both(v3_1_1::MQTT_3_1_4_1, v5::MQTT_3_1_4_1);

/// The position of the first U+0000 byte in `bytes`. The common case (none)
/// is a branch-free scan the compiler vectorizes (cheaper than a `memchr`
/// call for the short strings MQTT carries).
fn find_nul(bytes: &[u8]) -> Option<usize> {
    if bytes.iter().fold(false, |found, b| found | (*b == 0)) {
        bytes.iter().position(|b| *b == 0)
    } else {
        None
    }
}

/// The position of the first `+` or `#` in `bytes`. The common case (none)
/// is a branch-free scan the compiler vectorizes.
pub(crate) fn find_wildcard(bytes: &[u8]) -> Option<usize> {
    let any = bytes.iter().fold(false, |found, b| found | (*b == b'+') | (*b == b'#'));
    if any {
        bytes.iter().position(|b| *b == b'+' || *b == b'#')
    } else {
        None
    }
}

/// The outcome of reading a variable byte integer from the front of a slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Varint {
    /// A complete integer of `len` bytes. `minimal` is false when fewer
    /// bytes could have held the value.
    Value {
        /// The decoded value.
        value: u32,
        /// How many bytes it took (1..=4).
        len: usize,
        /// Whether it used the fewest bytes possible.
        minimal: bool,
    },
    /// The slice ends before the last byte.
    Incomplete,
    /// The fourth byte still has its continuation bit set.
    TooLong,
}

/// Reads a variable byte integer from the front of `bytes`.
pub(crate) fn read_varint(bytes: &[u8]) -> Varint {
    let mut value: u32 = 0;
    for (i, shift) in [0u32, 7, 14, 21].into_iter().enumerate() {
        let Some(&byte) = bytes.get(i) else {
            return Varint::Incomplete;
        };
        value |= u32::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            // A longer encoding is minimal exactly when its last group is not zero.
            return Varint::Value { value, len: i + 1, minimal: i == 0 || byte != 0 };
        }
    }
    Varint::TooLong
}

/// Writes the minimal encoding of `value` into `out` and returns its length.
/// Values above [`VARINT_MAX`] keep their low 28 bits; callers check first.
pub(crate) fn varint_bytes(value: u32, out: &mut [u8; 4]) -> usize {
    let mut value = value;
    for (i, slot) in out.iter_mut().enumerate() {
        let low = (value & 0x7F) as u8;
        value >>= 7;
        if value == 0 || i == 3 {
            *slot = low;
            return i + 1;
        }
        *slot = low | 0x80;
    }
    4
}

/// The number of bytes of the minimal variable byte integer encoding of
/// `value` (at most [`VARINT_MAX`]; larger values count as four).
pub(crate) const fn varint_len(value: usize) -> usize {
    if value < 128 {
        1
    } else if value < 16_384 {
        2
    } else if value < 2_097_152 {
        3
    } else {
        4
    }
}

/// Appends the minimal encoding of `value`, or fails if it exceeds
/// [`VARINT_MAX`].
pub(crate) fn put_varint(out: &mut Vec<u8>, value: u32, field: &'static str) -> Result<(), EncodeError> {
    if value > VARINT_MAX {
        return Err(EncodeError::VarintTooLarge { field, value });
    }
    let mut bytes = [0u8; 4];
    let len = varint_bytes(value, &mut bytes);
    out.extend_from_slice(&bytes[..len]);
    Ok(())
}

/// Appends a two-byte big-endian integer.
pub(crate) fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Appends a four-byte big-endian integer.
pub(crate) fn put_u32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_be_bytes());
}

/// Appends binary data: a two-byte length, then the bytes.
pub(crate) fn put_binary(out: &mut Vec<u8>, bytes: &[u8], field: &'static str) -> Result<(), EncodeError> {
    let len = u16::try_from(bytes.len()).map_err(|_| EncodeError::FieldTooLong { field })?;
    put_u16(out, len);
    out.extend_from_slice(bytes);
    Ok(())
}

/// Appends a UTF-8 string: a two-byte length, then the bytes.
pub(crate) fn put_string(out: &mut Vec<u8>, text: &str, field: &'static str) -> Result<(), EncodeError> {
    put_binary(out, text.as_bytes(), field)
}

/// What a decoder returns: a whole packet and its size, `None` for more
/// bytes, or the rejection. The packet decoders build it in place (with
/// [`Reader::done`]) so that the large [`Packet`] is not moved on the way out.
pub(crate) type Decoded = Result<Option<(Packet, usize)>, DecodeError>;

/// A cursor over one whole packet (fixed header included, so positions are
/// offsets from the packet's first byte) that reads the fields after the
/// fixed header and builds located, cited errors.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    /// The whole packet.
    packet: &'a [u8],
    /// The next byte to read.
    pos: usize,
    /// The end of the region being read: the packet's end, or a property
    /// block's end while properties are read.
    end: usize,
    /// The version the packet is decoded as.
    pub(crate) version: Version,
    /// The packet's type.
    pub(crate) packet_type: PacketType,
    /// The buffer `packet` was sliced from, when the caller has it as
    /// [`Bytes`]: the payload is then shared instead of copied.
    source: Option<&'a Bytes>,
}

impl<'a> Reader<'a> {
    /// A reader over `packet` positioned at `body_start`, the first byte
    /// after the fixed header.
    pub(crate) fn new(packet: &'a [u8], body_start: usize, version: Version, packet_type: PacketType) -> Reader<'a> {
        Reader { packet, pos: body_start.min(packet.len()), end: packet.len(), version, packet_type, source: None }
    }

    /// Shares payloads with `source`, the buffer whose front is the packet.
    pub(crate) fn with_source(mut self, source: Option<&'a Bytes>) -> Reader<'a> {
        self.source = source;
        self
    }

    /// Reads everything left as an owned payload: a slice of the source
    /// buffer when there is one, else a copy.
    pub(crate) fn rest_bytes(&mut self) -> Bytes {
        let start = self.pos;
        let rest = self.rest();
        match self.source {
            Some(source) if source.len() >= start + rest.len() => source.slice(start..start + rest.len()),
            _ => Bytes::copy_from_slice(rest),
        }
    }

    /// A rejection of this packet at `offset`, citing `cite`'s statement for
    /// the version being decoded.
    pub(crate) fn error(&self, kind: DecodeErrorKind, offset: usize, cite: Cite) -> DecodeError {
        DecodeError {
            kind,
            offset,
            statement: cite.pick(self.version),
            packet: Some(self.packet_type),
            version: self.version,
        }
    }

    /// The successful result for `packet`, which spans the whole packet.
    #[inline(always)]
    pub(crate) fn done(&self, packet: Packet) -> Decoded {
        Ok(Some((packet, self.packet.len())))
    }

    /// The offset of the next byte to read.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Whether the current region is fully read.
    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.end
    }

    /// How many bytes are left in the current region.
    pub(crate) fn left(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    /// The remaining length the fixed header declared.
    fn declared(&self) -> usize {
        let header = 1 + self.packet.get(1..).map_or(0, |b| match read_varint(b) {
            Varint::Value { len, .. } => len,
            _ => 0,
        });
        self.packet.len().saturating_sub(header)
    }

    /// The statement a truncated field or leftover bytes cite: only CONNECT
    /// has one (section 3.1.4).
    fn malformed_cite(&self) -> Cite {
        if self.packet_type == PacketType::Connect {
            CITE_CONNECT_MALFORMED
        } else {
            Cite::NONE
        }
    }

    /// The error for `field`, starting at `offset`, running past the region's end.
    pub(crate) fn truncated(&self, field: &'static str, offset: usize) -> DecodeError {
        self.error(DecodeErrorKind::Truncated { field }, offset, self.malformed_cite())
    }

    /// Fails with `RemainingLengthMismatch` unless the region is fully read.
    pub(crate) fn finish(&self, detail: &'static str) -> Result<(), DecodeError> {
        if self.pos < self.end {
            let declared = self.declared();
            return Err(self.error(
                DecodeErrorKind::RemainingLengthMismatch { declared, detail },
                self.pos,
                self.malformed_cite(),
            ));
        }
        Ok(())
    }

    /// Reads `len` bytes of `field`, whose first byte is at `field_start`.
    fn take_field(&mut self, len: usize, field: &'static str, field_start: usize) -> Result<&'a [u8], DecodeError> {
        let stop = self.pos.checked_add(len).filter(|stop| *stop <= self.end);
        match stop.and_then(|stop| self.packet.get(self.pos..stop).map(|bytes| (stop, bytes))) {
            Some((stop, bytes)) => {
                self.pos = stop;
                Ok(bytes)
            }
            None => Err(self.truncated(field, field_start)),
        }
    }

    /// Reads `len` raw bytes.
    pub(crate) fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        self.take_field(len, field, self.pos)
    }

    /// Reads everything left in the region.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let bytes = self.packet.get(self.pos..self.end).unwrap_or_default();
        self.pos = self.end.max(self.pos);
        bytes
    }

    /// Reads one byte.
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        let bytes = self.take(1, field)?;
        Ok(bytes.first().copied().unwrap_or_default())
    }

    /// Reads a two-byte big-endian integer.
    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        let bytes = self.take(2, field)?;
        let mut array = [0u8; 2];
        array.copy_from_slice(bytes);
        Ok(u16::from_be_bytes(array))
    }

    /// Reads a four-byte big-endian integer.
    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let bytes = self.take(4, field)?;
        let mut array = [0u8; 4];
        array.copy_from_slice(bytes);
        Ok(u32::from_be_bytes(array))
    }

    /// Reads a variable byte integer: more than four bytes is an error in
    /// both versions, a non-minimal encoding an error in 5.0 only.
    pub(crate) fn varint(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let start = self.pos;
        let region = self.packet.get(self.pos..self.end).unwrap_or_default();
        match read_varint(region) {
            Varint::Value { value, len, minimal } => {
                if !minimal && self.version == Version::V5 {
                    let last = start + len - 1;
                    return Err(self.error(DecodeErrorKind::VarintNotMinimal, last, CITE_VARINT_NOT_MINIMAL));
                }
                self.pos = start + len;
                Ok(value)
            }
            Varint::Incomplete => Err(self.truncated(field, start)),
            Varint::TooLong => Err(self.error(DecodeErrorKind::VarintTooLong, start + 3, Cite::NONE)),
        }
    }

    /// Reads binary data: a two-byte length, then that many bytes.
    pub(crate) fn binary(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let start = self.pos;
        let len = self.u16(field).map_err(|_| self.truncated(field, start))?;
        self.take_field(usize::from(len), field, start)
    }

    /// Reads a UTF-8 string: well-formed (no surrogates, no overlong forms)
    /// and without U+0000. A byte order mark is kept as it is.
    pub(crate) fn string(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        let data_start = self.pos + 2;
        let bytes = self.binary(field)?;
        match std::str::from_utf8(bytes) {
            Ok(text) => match find_nul(bytes) {
                Some(nul) => Err(self.error(DecodeErrorKind::NullCharacter { field }, data_start + nul, CITE_NUL)),
                None => Ok(text),
            },
            Err(e) => {
                let bad = e.valid_up_to();
                let nul = bytes.get(..bad).and_then(find_nul);
                Err(match nul {
                    Some(nul) => self.error(DecodeErrorKind::NullCharacter { field }, data_start + nul, CITE_NUL),
                    None => self.error(DecodeErrorKind::InvalidUtf8 { field }, data_start + bad, CITE_UTF8),
                })
            }
        }
    }

    /// Reads a packet identifier, rejecting 0 with `cite`.
    pub(crate) fn packet_id(&mut self, cite: Cite) -> Result<PacketId, DecodeError> {
        let start = self.pos;
        let value = self.u16("packet identifier")?;
        PacketId::new(value).ok_or_else(|| self.error(DecodeErrorKind::ZeroPacketId, start, cite))
    }

    /// Narrows the region to end at `end` (a property block) and returns
    /// the previous end, to be given back to [`Reader::restore_end`].
    pub(crate) fn narrow_end(&mut self, end: usize) -> usize {
        let previous = self.end;
        self.end = end.min(previous);
        previous
    }

    /// Restores the region end saved by [`Reader::narrow_end`].
    pub(crate) fn restore_end(&mut self, previous: usize) {
        self.end = previous;
    }
}

#[cfg(test)]
mod tests {

    use super::*;

    fn reader(bytes: &[u8], version: Version) -> Reader<'_> {
        Reader::new(bytes, 0, version, PacketType::Publish)
    }

    /// Every boundary value of a variable byte integer encodes minimally and decodes back.
    #[test]
    fn varint_boundaries_round_trip_with_the_fewest_bytes() {
        let cases: [(u32, &[u8]); 8] = [
            (0, &[0x00]),
            (127, &[0x7F]),
            (128, &[0x80, 0x01]),
            (16_383, &[0xFF, 0x7F]),
            (16_384, &[0x80, 0x80, 0x01]),
            (2_097_151, &[0xFF, 0xFF, 0x7F]),
            (2_097_152, &[0x80, 0x80, 0x80, 0x01]),
            (268_435_455, &[0xFF, 0xFF, 0xFF, 0x7F]),
        ];
        for (value, bytes) in cases {
            let mut out = Vec::new();
            put_varint(&mut out, value, "test").unwrap();
            assert_eq!(out, bytes, "encoding {value}");
            assert_eq!(read_varint(bytes), Varint::Value { value, len: bytes.len(), minimal: true }, "{value}");
            for version in Version::ALL {
                assert_eq!(reader(bytes, version).varint("test"), Ok(value), "{value} in {version}");
            }
        }
    }

    /// A value above 268,435,455 cannot be encoded as a variable byte integer.
    #[test]
    fn varint_above_the_maximum_is_refused_on_encode() {
        let mut out = Vec::new();
        assert_eq!(
            put_varint(&mut out, 268_435_456, "test"),
            Err(EncodeError::VarintTooLarge { field: "test", value: 268_435_456 })
        );
        assert!(out.is_empty());
    }

    /// A fifth byte is never allowed: the fourth byte's continuation bit is the error, in both versions.
    #[test]
    fn varint_with_a_fifth_byte_is_rejected_at_the_fourth_byte() {
        assert_eq!(read_varint(&[0xFF, 0xFF, 0xFF, 0xFF]), Varint::TooLong);
        for version in Version::ALL {
            let err = reader(&[0x80, 0x80, 0x80, 0x80, 0x01], version).varint("test").unwrap_err();
            assert_eq!(err.kind, DecodeErrorKind::VarintTooLong);
            assert_eq!(err.offset, 3);
            assert_eq!(err.statement, None);
        }
    }

    /// A non-minimal variable byte integer breaks 5.0 MQTT-1.5.5-1 and is accepted in 3.1.1.
    #[test]
    fn non_minimal_varint_is_rejected_in_5_0_and_accepted_in_3_1_1() {
        for bytes in [&[0x80, 0x00][..], &[0xFF, 0x00], &[0x80, 0x80, 0x00], &[0x81, 0x80, 0x80, 0x00]] {
            assert!(matches!(read_varint(bytes), Varint::Value { minimal: false, .. }), "{bytes:02x?}");
            let err = reader(bytes, Version::V5).varint("test").unwrap_err();
            assert_eq!(err.kind, DecodeErrorKind::VarintNotMinimal);
            assert_eq!(err.statement, Some(v5::MQTT_1_5_5_1));
            assert_eq!(err.offset, bytes.len() - 1, "the superfluous zero group is the offending byte");
            assert!(reader(bytes, Version::V3_1_1).varint("test").is_ok(), "{bytes:02x?}");
        }
        assert_eq!(reader(&[0xFF, 0x00], Version::V3_1_1).varint("test"), Ok(127));
    }

    /// A variable byte integer cut off by the end of its region is a truncated field.
    #[test]
    fn varint_cut_off_is_truncated() {
        assert_eq!(read_varint(&[0x80, 0x80]), Varint::Incomplete);
        let err = reader(&[0x80, 0x80], Version::V5).varint("test").unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::Truncated { field: "test" });
        assert_eq!(err.offset, 0);
    }

    /// Strings keep a byte order mark, reject surrogates, overlong forms and U+0000, and point at the bad byte.
    #[test]
    fn strings_follow_the_utf8_rules_of_both_versions() {
        let bom = [0x00, 0x04, 0xEF, 0xBB, 0xBF, b'a'];
        assert_eq!(reader(&bom, Version::V5).string("s"), Ok("\u{FEFF}a"));

        let cases: [(&[u8], usize, bool); 5] = [
            (&[0x00, 0x03, b'a', 0xED, 0xA0], 3, true), // multi-byte sequence cut off by the string's end
            (&[0x00, 0x04, b'a', 0xED, 0xA0, 0x80], 3, true), // surrogate U+D800
            (&[0x00, 0x02, 0xC0, 0x80], 2, true),       // overlong U+0000
            (&[0x00, 0x02, b'a', 0x00], 3, false),      // U+0000
            (&[0x00, 0x03, 0x00, 0xFF, b'a'], 2, false), // U+0000 before the ill-formed byte
        ];
        for (bytes, offset, utf8) in cases {
            for version in Version::ALL {
                let err = reader(bytes, version).string("s").unwrap_err();
                assert_eq!(err.offset, offset, "{bytes:02x?}");
                let expected = match (utf8, version) {
                    (true, Version::V3_1_1) => v3_1_1::MQTT_1_5_3_1,
                    (true, Version::V5) => v5::MQTT_1_5_4_1,
                    (false, Version::V3_1_1) => v3_1_1::MQTT_1_5_3_2,
                    (false, Version::V5) => v5::MQTT_1_5_4_2,
                };
                assert_eq!(err.statement, Some(expected), "{bytes:02x?}");
                if utf8 {
                    assert_eq!(err.kind, DecodeErrorKind::InvalidUtf8 { field: "s" });
                } else {
                    assert_eq!(err.kind, DecodeErrorKind::NullCharacter { field: "s" });
                }
            }
        }
    }

    /// A string or binary whose length runs past the region is truncated at the length prefix.
    #[test]
    fn string_longer_than_its_region_is_truncated_at_its_start() {
        let err = reader(&[0x00, 0x05, b'a'], Version::V5).string("s").unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::Truncated { field: "s" });
        assert_eq!(err.offset, 0);
        let err = reader(&[0x00], Version::V5).binary("b").unwrap_err();
        assert_eq!(err.kind, DecodeErrorKind::Truncated { field: "b" });
    }

    /// Strings and binary data over 65,535 bytes cannot be encoded.
    #[test]
    fn fields_over_65535_bytes_are_refused_on_encode() {
        let long = "x".repeat(65_536);
        assert_eq!(put_string(&mut Vec::new(), &long, "f"), Err(EncodeError::FieldTooLong { field: "f" }));
        let mut out = Vec::new();
        put_string(&mut out, &long[..65_535], "f").unwrap();
        assert_eq!(out.len(), 65_537);
        assert_eq!(&out[..2], &[0xFF, 0xFF]);
    }

    /// `varint_len` agrees with the minimal encoding at every boundary.
    #[test]
    fn varint_len_is_the_minimal_encoding_length() {
        for value in [0u32, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, VARINT_MAX] {
            let mut bytes = [0u8; 4];
            assert_eq!(varint_len(value as usize), varint_bytes(value, &mut bytes), "{value}");
        }
    }
}
