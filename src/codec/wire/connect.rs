//! CONNECT and CONNACK (3.1.1 and 5.0 sections 3.1 and 3.2).
//!
//! CONNECT carries its own protocol level and is decoded by it: level 4 as
//! 3.1.1, level 5 as 5.0. A level that is neither is rejected, citing 3.1.1
//! below 5 and 5.0 otherwise; errors found before the level byte (the fixed
//! header, the protocol name) are cited for the version the level names, or
//! for the decoder's version when the packet is too short to hold a level.

use bytes::Bytes;

use super::primitives::{put_binary, put_string, put_u16, Cite, Decoded, Reader, CITE_VARINT_NOT_MINIMAL};
use super::{first_byte_error, properties, put_fixed_header, reason_code, topic_name};
use crate::codec::{
    Connack, Connect, DecodeErrorKind, EncodeError, Packet, PacketType, PropertyContext, Qos, Version, Will,
};
use crate::spec::{v3_1_1, v5};

/// The CONNECT flag bits.
const RESERVED: u8 = 0b0000_0001;
const CLEAN_START: u8 = 0b0000_0010;
const WILL: u8 = 0b0000_0100;
const WILL_QOS_SHIFT: u8 = 3;
const WILL_QOS: u8 = 0b0001_1000;
const WILL_RETAIN: u8 = 0b0010_0000;
const PASSWORD: u8 = 0b0100_0000;
const USER_NAME: u8 = 0b1000_0000;

/// The protocol name field as it must appear: length 4, then `MQTT`.
const PROTOCOL_NAME: &[u8] = b"MQTT";

/// The version whose statements a CONNECT with protocol level `level` is
/// judged by.
fn version_for_level(level: u8) -> Version {
    if level < 5 {
        Version::V3_1_1
    } else {
        Version::V5
    }
}

/// Peeks at the protocol level byte of a whole CONNECT packet.
fn peek_level(body: &[u8]) -> Option<u8> {
    let len = u16::from_be_bytes([*body.first()?, *body.get(1)?]);
    body.get(2 + usize::from(len)).copied()
}

/// Decodes a whole CONNECT packet: `packet` includes the fixed header of
/// `header_len` bytes, `minimal` says whether its remaining length was
/// minimally encoded, and `fallback` is the version errors are judged by
/// when the packet is too short to hold a protocol level.
pub(super) fn decode_connect(packet: &[u8], header_len: usize, minimal: bool, fallback: Version) -> Decoded {
    let body = packet.get(header_len..).unwrap_or_default();
    let version = peek_level(body).map_or(fallback, version_for_level);
    let mut r = Reader::new(packet, header_len, version, PacketType::Connect);
    let first = packet.first().copied().unwrap_or_default();
    if let Some((kind, cite)) = first_byte_error(first, PacketType::Connect) {
        return Err(r.error(kind, 0, cite));
    }
    if !minimal && version == Version::V5 {
        return Err(r.error(DecodeErrorKind::VarintNotMinimal, header_len - 1, CITE_VARINT_NOT_MINIMAL));
    }
    decode_connect_fields(&mut r)
}

/// Decodes CONNECT's variable header and payload.
pub(super) fn decode_connect_fields(r: &mut Reader<'_>) -> Decoded {
    let name_offset = r.pos();
    let name = r.binary("protocol name")?;
    if name != PROTOCOL_NAME {
        let found = String::from_utf8_lossy(name).into_owned();
        let cite = Cite::both(v3_1_1::MQTT_3_1_2_1, v5::MQTT_3_1_2_1);
        return Err(r.error(DecodeErrorKind::InvalidProtocolName { found }, name_offset, cite));
    }
    let level_offset = r.pos();
    let level = r.u8("protocol level")?;
    let Some(version) = Version::from_protocol_level(level) else {
        r.version = version_for_level(level);
        let cite = Cite::both(v3_1_1::MQTT_3_1_2_2, v5::MQTT_3_1_2_2);
        return Err(r.error(DecodeErrorKind::UnsupportedProtocolLevel { level }, level_offset, cite));
    };
    r.version = version;

    let flags_offset = r.pos();
    let flags = r.u8("connect flags")?;
    let flag_error = |r: &Reader<'_>, kind, cite| Err(r.error(kind, flags_offset, cite));
    if flags & RESERVED != 0 {
        let cite = Cite::both(v3_1_1::MQTT_3_1_2_3, v5::MQTT_3_1_2_3);
        return flag_error(r, DecodeErrorKind::ConnectReservedFlag, cite);
    }
    let will_qos = (flags & WILL_QOS) >> WILL_QOS_SHIFT;
    if flags & WILL == 0 {
        if will_qos != 0 {
            let cite = Cite::both(v3_1_1::MQTT_3_1_2_13, v5::MQTT_3_1_2_11);
            return flag_error(r, DecodeErrorKind::InconsistentWillFlags, cite);
        }
        if flags & WILL_RETAIN != 0 {
            let cite = Cite::both(v3_1_1::MQTT_3_1_2_15, v5::MQTT_3_1_2_13);
            return flag_error(r, DecodeErrorKind::InconsistentWillFlags, cite);
        }
    }
    let Some(will_qos) = Qos::from_u8(will_qos) else {
        let cite = Cite::both(v3_1_1::MQTT_3_1_2_14, v5::MQTT_3_1_2_12);
        return flag_error(r, DecodeErrorKind::InvalidQos, cite);
    };
    if version == Version::V3_1_1 && flags & PASSWORD != 0 && flags & USER_NAME == 0 {
        return flag_error(r, DecodeErrorKind::PasswordWithoutUsername, Cite::v3(v3_1_1::MQTT_3_1_2_22));
    }
    let keep_alive_secs = r.u16("keep alive")?;
    let properties = if version == Version::V5 {
        properties::decode(r, PropertyContext::Packet(PacketType::Connect))?
    } else {
        Default::default()
    };

    let client_id = r.string("client identifier")?.to_owned();
    let will = if flags & WILL != 0 {
        let properties =
            if version == Version::V5 { properties::decode(r, PropertyContext::Will)? } else { Default::default() };
        let topic_offset = r.pos();
        let topic = r.string("will topic")?;
        let topic = topic_name(r, topic, topic_offset, false)?;
        let payload = Bytes::copy_from_slice(r.binary("will payload")?);
        Some(Will { topic, payload, qos: will_qos, retain: flags & WILL_RETAIN != 0, properties })
    } else {
        None
    };
    let username = if flags & USER_NAME != 0 { Some(r.string("user name")?.to_owned()) } else { None };
    let password = if flags & PASSWORD != 0 { Some(Bytes::copy_from_slice(r.binary("password")?)) } else { None };
    r.finish("bytes left after the last CONNECT field")?;
    r.done(Packet::Connect(Connect {
        version,
        clean_start: flags & CLEAN_START != 0,
        keep_alive_secs,
        properties,
        client_id,
        will,
        username,
        password,
    }))
}

/// Decodes CONNACK's variable header.
pub(super) fn decode_connack(r: &mut Reader<'_>) -> Decoded {
    let flags_offset = r.pos();
    let flags = r.u8("connect acknowledge flags")?;
    if flags & 0xFE != 0 {
        return Err(r.error(DecodeErrorKind::ConnackReservedFlags, flags_offset, Cite::v5(v5::MQTT_3_2_2_1)));
    }
    let reason_code = reason_code(r, Cite::both(v3_1_1::MQTT_3_2_2_6, v5::MQTT_3_2_2_8))?;
    let session_present = flags & 1 != 0;
    if session_present && !reason_code.is_success() {
        let cite = Cite::both(v3_1_1::MQTT_3_2_2_4, v5::MQTT_3_2_2_6);
        return Err(r.error(DecodeErrorKind::SessionPresentOnRefusal, flags_offset, cite));
    }
    let properties = if r.version == Version::V5 {
        properties::decode(r, PropertyContext::Packet(PacketType::Connack))?
    } else {
        Default::default()
    };
    r.finish("bytes left after the CONNACK variable header")?;
    r.done(Packet::Connack(Connack { session_present, reason_code, properties }))
}

/// Appends CONNECT's variable header and payload, in the layout of the
/// version the packet names (`connect.version`).
pub(super) fn encode_connect(connect: &Connect, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let version = connect.version;
    put_string(out, "MQTT", "protocol name")?;
    out.push(version.protocol_level());
    let mut flags = 0;
    if connect.clean_start {
        flags |= CLEAN_START;
    }
    if let Some(will) = &connect.will {
        flags |= WILL | (will.qos.as_u8() << WILL_QOS_SHIFT);
        if will.retain {
            flags |= WILL_RETAIN;
        }
    }
    if connect.password.is_some() {
        flags |= PASSWORD;
    }
    if connect.username.is_some() {
        flags |= USER_NAME;
    }
    out.push(flags);
    put_u16(out, connect.keep_alive_secs);
    if version == Version::V5 {
        properties::encode(&connect.properties, out)?;
    }
    put_string(out, &connect.client_id, "client identifier")?;
    if let Some(will) = &connect.will {
        if version == Version::V5 {
            properties::encode(&will.properties, out)?;
        }
        put_string(out, will.topic.as_str(), "will topic")?;
        put_binary(out, &will.payload, "will payload")?;
    }
    if let Some(username) = &connect.username {
        put_string(out, username, "user name")?;
    }
    if let Some(password) = &connect.password {
        put_binary(out, password, "password")?;
    }
    Ok(())
}

/// Appends the whole CONNACK (length computed first, written once).
pub(super) fn encode_connack(connack: &Connack, version: Version, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let first = (PacketType::Connack as u8) << 4;
    let variable = [u8::from(connack.session_present), connack.reason_code.0];
    if version == Version::V3_1_1 {
        out.extend_from_slice(&[first, 2, variable[0], variable[1]]);
        return Ok(());
    }
    let properties_len = properties::block_len(&connack.properties)?;
    put_fixed_header(out, first, 2 + properties::encoded_len(properties_len))?;
    out.extend_from_slice(&variable);
    properties::encode_with_len(&connack.properties, properties_len, out)
}
