//! The wire format: one set of primitives shared by MQTT 3.1.1 and 5.0, the
//! properties of 5.0, and one module per packet family that knows where the
//! two versions differ (never one copy per version).
//!
//! - `primitives`: variable byte integers, integers, UTF-8 strings, binary
//!   data and the bounds-checked `Reader` every decoder reads through;
//! - `properties`: the 5.0 property block;
//! - `connect`: CONNECT and CONNACK;
//! - `publish`: PUBLISH and its acknowledgements PUBACK, PUBREC, PUBREL, PUBCOMP;
//! - `subscribe`: SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK;
//! - `control`: PINGREQ, PINGRESP, DISCONNECT and AUTH.
//!
//! Decoding is strict and follows `docs/codec-rejections.md`: each rejection
//! names its kind, the offset of the offending byte from the start of the
//! packet, and the statement it breaks. The fixed header is checked as soon
//! as it arrives (reserved types and flags, PUBLISH QoS and DUP, the
//! remaining length and the maximum packet size); everything else once the
//! whole packet is in the buffer. CONNECT is the exception: it is decoded by
//! its own protocol level, so its fixed header is checked once the level is
//! known. Encoding is canonical (see the same document).

mod connect;
mod control;
mod primitives;
mod properties;
mod publish;
mod subscribe;
#[cfg(test)]
mod tests;

use bytes::Bytes;

use primitives::{
    find_wildcard, read_varint, varint_bytes, Cite, Decoded, Reader, Varint, CITE_VARINT_NOT_MINIMAL, VARINT_MAX,
};

use super::{
    DecodeError, DecodeErrorKind, DecodeOptions, EncodeError, Packet, PacketType, ReasonCode, TopicError, TopicFilter,
    TopicName, Version,
};
use crate::spec::{v3_1_1, v5};

/// Decodes one packet from the front of `buf` (see [`crate::codec::decode`]).
pub(crate) fn decode_packet(buf: &[u8], options: &DecodeOptions) -> Decoded {
    decode_packet_from(buf, None, options)
}

/// Decodes one packet from the front of `buf`; `source`, when given, is
/// `buf` itself as [`Bytes`], so PUBLISH payloads are shared, not copied.
pub(crate) fn decode_packet_from(buf: &[u8], source: Option<&Bytes>, options: &DecodeOptions) -> Decoded {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let version = options.version;
    let header_error = |kind, offset, packet, statement| DecodeError { kind, offset, statement, packet, version };
    let Some(packet_type) = PacketType::from_u8(first >> 4) else {
        return Err(header_error(DecodeErrorKind::ReservedPacketType, 0, None, None));
    };
    if packet_type == PacketType::Auth && version == Version::V3_1_1 {
        return Err(header_error(DecodeErrorKind::AuthInV3, 0, Some(packet_type), None));
    }
    if packet_type != PacketType::Connect {
        if let Some((kind, cite)) = first_byte_error(first, packet_type) {
            return Err(header_error(kind, 0, Some(packet_type), cite.pick(version)));
        }
    }
    let (remaining, minimal, header_len) = match read_varint(buf.get(1..).unwrap_or_default()) {
        Varint::Incomplete => return Ok(None),
        Varint::TooLong => return Err(header_error(DecodeErrorKind::VarintTooLong, 4, Some(packet_type), None)),
        Varint::Value { value, len, minimal } => (value as usize, minimal, 1 + len),
    };
    if !minimal && version == Version::V5 && packet_type != PacketType::Connect {
        let statement = CITE_VARINT_NOT_MINIMAL.pick(version);
        return Err(header_error(DecodeErrorKind::VarintNotMinimal, header_len - 1, Some(packet_type), statement));
    }
    let size = header_len + remaining;
    if size > options.max_packet_size {
        let kind = DecodeErrorKind::PacketTooLarge { size, max: options.max_packet_size };
        return Err(header_error(kind, 1, Some(packet_type), None));
    }
    let Some(bytes) = buf.get(..size) else {
        return Ok(None);
    };
    if packet_type == PacketType::Connect {
        return connect::decode_connect(bytes, header_len, minimal, version);
    }
    decode_body(&mut Reader::new(bytes, header_len, version, packet_type).with_source(source), first)
}

/// Decodes the variable header and payload of every packet but CONNECT.
fn decode_body(r: &mut Reader<'_>, first: u8) -> Decoded {
    match r.packet_type {
        PacketType::Connect => connect::decode_connect_fields(r),
        PacketType::Connack => connect::decode_connack(r),
        PacketType::Publish => publish::decode_publish(r, first),
        PacketType::Puback | PacketType::Pubrec | PacketType::Pubrel | PacketType::Pubcomp => {
            publish::decode_pub_response(r)
        }
        PacketType::Subscribe => subscribe::decode_subscribe(r),
        PacketType::Suback => subscribe::decode_suback(r),
        PacketType::Unsubscribe => subscribe::decode_unsubscribe(r),
        PacketType::Unsuback => subscribe::decode_unsuback(r),
        PacketType::Pingreq => {
            r.finish("PINGREQ has no content")?;
            r.done(Packet::Pingreq)
        }
        PacketType::Pingresp => {
            r.finish("PINGRESP has no content")?;
            r.done(Packet::Pingresp)
        }
        PacketType::Disconnect => control::decode_disconnect(r),
        PacketType::Auth => control::decode_auth(r),
    }
}

/// What is wrong with the first byte of a packet of `packet_type`, if
/// anything: PUBLISH QoS 3 or DUP on QoS 0, or reserved flags of any other
/// packet.
fn first_byte_error(first: u8, packet_type: PacketType) -> Option<(DecodeErrorKind, Cite)> {
    let flags = first & 0x0F;
    let Some(expected) = packet_type.required_flags() else {
        let qos = (flags >> 1) & 0b11;
        if qos == 3 {
            return Some((DecodeErrorKind::InvalidQos, Cite::both(v3_1_1::MQTT_3_3_1_4, v5::MQTT_3_3_1_4)));
        }
        if qos == 0 && flags & 0b1000 != 0 {
            return Some((DecodeErrorKind::DupOnQos0, Cite::both(v3_1_1::MQTT_3_3_1_2, v5::MQTT_3_3_1_2)));
        }
        return None;
    };
    if flags == expected {
        return None;
    }
    let cite = match packet_type {
        PacketType::Pubrel => Cite::both(v3_1_1::MQTT_3_6_1_1, v5::MQTT_3_6_1_1),
        PacketType::Subscribe => Cite::both(v3_1_1::MQTT_3_8_1_1, v5::MQTT_3_8_1_1),
        PacketType::Unsubscribe => Cite::both(v3_1_1::MQTT_3_10_1_1, v5::MQTT_3_10_1_1),
        PacketType::Auth => Cite::v5(v5::MQTT_3_15_1_1),
        PacketType::Disconnect => Cite::both(v3_1_1::MQTT_3_14_1_1, v5::MQTT_3_14_1_1),
        _ => Cite::both(v3_1_1::MQTT_2_2_2_2, v5::MQTT_2_1_3_1),
    };
    Some((DecodeErrorKind::ReservedFlags { packet: packet_type, flags, expected }, cite))
}

/// Checks a topic name read at `offset` (its length prefix): no wildcard
/// (the offset points at it), and not empty unless `may_be_empty`.
fn topic_name(r: &Reader<'_>, topic: &str, offset: usize, may_be_empty: bool) -> Result<TopicName, DecodeError> {
    if topic.is_empty() && !may_be_empty {
        return Err(r.error(DecodeErrorKind::EmptyTopicName, offset, properties::CITE_EMPTY_TOPIC));
    }
    if let Some(i) = find_wildcard(topic.as_bytes()) {
        let cite = Cite::both(v3_1_1::MQTT_3_3_2_2, v5::MQTT_3_3_2_2);
        return Err(r.error(DecodeErrorKind::WildcardInTopicName, offset + 2 + i, cite));
    }
    // No wildcard (just checked) and no U+0000 (checked when the string was read).
    Ok(TopicName::from_checked(topic))
}

/// Validates a topic filter read at `offset` by the rules of the version
/// being decoded (shared subscriptions exist only in 5.0).
fn topic_filter(r: &Reader<'_>, filter: &str, offset: usize) -> Result<TopicFilter, DecodeError> {
    let error = match TopicFilter::for_version(filter, r.version) {
        Ok(filter) => return Ok(filter),
        Err(error) => error,
    };
    let (why, cite) = match error {
        TopicError::EmptyFilter => ("empty", Cite::both(v3_1_1::MQTT_4_7_3_1, v5::MQTT_4_7_3_1)),
        TopicError::MisplacedMultiLevelWildcard => {
            ("# is not alone in the last level", Cite::both(v3_1_1::MQTT_4_7_1_2, v5::MQTT_4_7_1_1))
        }
        TopicError::MisplacedSingleLevelWildcard => {
            ("+ does not fill a whole level", Cite::both(v3_1_1::MQTT_4_7_1_3, v5::MQTT_4_7_1_2))
        }
        TopicError::InvalidSharedSubscription => {
            let share_name = filter.strip_prefix("$share/").and_then(|rest| rest.split('/').next());
            if share_name.is_none_or(str::is_empty) {
                ("shared subscription without a share name", Cite::v5(v5::MQTT_4_8_2_1))
            } else {
                ("shared subscription with an invalid share name or no topic filter", Cite::v5(v5::MQTT_4_8_2_2))
            }
        }
        TopicError::NullCharacter => ("contains U+0000", Cite::both(v3_1_1::MQTT_1_5_3_2, v5::MQTT_1_5_4_2)),
        TopicError::WildcardInName => ("contains a wildcard", Cite::NONE),
    };
    Err(r.error(DecodeErrorKind::InvalidTopicFilter { filter: filter.to_owned(), why }, offset, cite))
}

/// Reads a reason code at the reader's position and checks it is defined
/// for the packet being decoded, citing `cite` if not.
fn reason_code(r: &mut Reader<'_>, cite: Cite) -> Result<ReasonCode, DecodeError> {
    let offset = r.pos();
    let code = ReasonCode(r.u8("reason code")?);
    if !code.valid_for(r.version, r.packet_type) {
        let kind = DecodeErrorKind::InvalidReasonCode { packet: r.packet_type, code };
        return Err(r.error(kind, offset, cite));
    }
    Ok(code)
}

/// Appends the encoding of `packet` for `version` (see
/// [`crate::codec::encode`]); on error `out` is left as it was.
pub(crate) fn encode_packet(packet: &Packet, version: Version, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    let result = encode_into(packet, version, out, start);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Room reserved for the fixed header of the packets whose length is not
/// computed in advance (CONNECT and the rare ones): the first byte and up to
/// four bytes of remaining length.
const HEADER_ROOM: usize = 5;

/// Appends the fixed header: the first byte and the remaining length
/// `body_len` as a variable byte integer.
pub(crate) fn put_fixed_header(out: &mut Vec<u8>, first: u8, body_len: usize) -> Result<(), EncodeError> {
    let remaining = u32::try_from(body_len).ok().filter(|v| *v <= VARINT_MAX).ok_or(EncodeError::TooLarge(body_len))?;
    let mut header = [first, 0, 0, 0, 0];
    let mut length = [0u8; 4];
    let length_len = varint_bytes(remaining, &mut length);
    header[1..5].copy_from_slice(&length);
    out.reserve(1 + length_len + body_len);
    out.extend_from_slice(&header[..1 + length_len]);
    Ok(())
}

/// Writes the packet. The frequent packets (PUBLISH, its acknowledgements,
/// SUBSCRIBE, SUBACK, CONNACK, PINGREQ, PINGRESP) compute their remaining
/// length first and write every byte once, in place. The others write the
/// body after [`HEADER_ROOM`] bytes, then the real fixed header, and move
/// the body left over the unused room.
fn encode_into(packet: &Packet, version: Version, out: &mut Vec<u8>, start: usize) -> Result<(), EncodeError> {
    match packet {
        Packet::Publish(p) => return publish::encode_publish(p, version, out),
        Packet::Puback(a) | Packet::Pubrec(a) | Packet::Pubrel(a) | Packet::Pubcomp(a) => {
            return publish::encode_pub_response(a, packet.packet_type(), version, out);
        }
        Packet::Connack(c) => return connect::encode_connack(c, version, out),
        Packet::Subscribe(s) => return subscribe::encode_subscribe(s, version, out),
        Packet::Suback(s) => return subscribe::encode_suback(s, version, out),
        Packet::Pingreq | Packet::Pingresp => {
            out.extend_from_slice(&[(packet.packet_type() as u8) << 4, 0]);
            return Ok(());
        }
        _ => {}
    }
    if packet.packet_type() == PacketType::Auth && version == Version::V3_1_1 {
        return Err(EncodeError::NotInVersion { packet: PacketType::Auth, version });
    }
    out.extend_from_slice(&[0u8; HEADER_ROOM]);
    let flags = packet.packet_type().required_flags().unwrap_or(0);
    let first = (packet.packet_type() as u8) << 4 | flags;
    match packet {
        Packet::Connect(c) => connect::encode_connect(c, out)?,
        Packet::Unsubscribe(u) => subscribe::encode_unsubscribe(u, version, out)?,
        Packet::Unsuback(u) => subscribe::encode_unsuback(u, version, out)?,
        Packet::Disconnect(d) => control::encode_disconnect(d, version, out)?,
        Packet::Auth(a) => control::encode_auth(a, out)?,
        // Written above.
        Packet::Publish(_)
        | Packet::Puback(_)
        | Packet::Pubrec(_)
        | Packet::Pubrel(_)
        | Packet::Pubcomp(_)
        | Packet::Connack(_)
        | Packet::Subscribe(_)
        | Packet::Suback(_)
        | Packet::Pingreq
        | Packet::Pingresp => {}
    }
    let body_len = out.len() - start - HEADER_ROOM;
    let remaining = u32::try_from(body_len).ok().filter(|v| *v <= VARINT_MAX).ok_or(EncodeError::TooLarge(body_len))?;
    let mut length = [0u8; 4];
    let length_len = varint_bytes(remaining, &mut length);
    let gap = HEADER_ROOM - 1 - length_len;
    out[start + gap] = first;
    out[start + gap + 1..start + HEADER_ROOM].copy_from_slice(&length[..length_len]);
    if gap > 0 {
        out.copy_within(start + gap.., start);
        out.truncate(out.len() - gap);
    }
    Ok(())
}

/// See [`crate::codec::packet_len`].
pub(crate) fn packet_len(buf: &[u8]) -> Option<usize> {
    match primitives::read_varint(buf.get(1..)?) {
        primitives::Varint::Value { value, len, .. } => Some(1 + len + usize::try_from(value).ok()?),
        _ => None,
    }
}
