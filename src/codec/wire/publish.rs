//! PUBLISH and its acknowledgements PUBACK, PUBREC, PUBREL and PUBCOMP
//! (sections 3.3 to 3.7 of both versions).
//!
//! The fixed-header flags of PUBLISH (QoS 3, DUP on QoS 0) are checked with
//! the fixed header; this module reads the topic, packet identifier,
//! properties and payload. The 5.0 acknowledgements may stop after the
//! packet identifier (reason code 0x00, no properties) or after the reason
//! code (no properties); the encoder uses those short forms whenever it can.

use super::primitives::{put_string, put_u16, Cite, Decoded, Reader};
use super::{properties, put_fixed_header, reason_code, topic_name};
use crate::codec::{EncodeError, Packet, PacketType, PropertyContext, PubResponse, Publish, Qos, QosPid, Version};
use crate::spec::{v3_1_1, v5};

/// Packet identifier 0 in PUBLISH, SUBSCRIBE or UNSUBSCRIBE.
pub(super) const CITE_ZERO_ID_REQUEST: Cite = Cite::both(v3_1_1::MQTT_2_3_1_1, v5::MQTT_2_2_1_3);

/// Decodes PUBLISH; `first` is its (already checked) first byte.
pub(super) fn decode_publish(r: &mut Reader<'_>, first: u8) -> Decoded {
    let dup = first & 0b1000 != 0;
    let retain = first & 0b0001 != 0;
    let qos = Qos::from_u8((first >> 1) & 0b11).unwrap_or(Qos::AtMostOnce);
    let topic_offset = r.pos();
    let topic = r.string("topic name")?;
    let packet_id = if qos == Qos::AtMostOnce { None } else { Some(r.packet_id(CITE_ZERO_ID_REQUEST)?) };
    let properties = if r.version == Version::V5 {
        properties::decode(r, PropertyContext::Packet(PacketType::Publish))?
    } else {
        Default::default()
    };
    let alias_stands_in = r.version == Version::V5 && properties.topic_alias.is_some();
    let topic = topic_name(r, topic, topic_offset, alias_stands_in)?;
    let payload = r.rest_bytes();
    let qos_pid = QosPid::from_parts(qos, packet_id).unwrap_or(QosPid::AtMostOnce);
    r.done(Packet::Publish(Publish { dup, qos_pid, retain, topic, properties, payload }))
}

/// Decodes PUBACK, PUBREC, PUBREL or PUBCOMP (the reader's packet type).
pub(super) fn decode_pub_response(r: &mut Reader<'_>) -> Decoded {
    let packet_id = r.packet_id(Cite::both(v3_1_1::MQTT_2_3_1_6, v5::MQTT_2_2_1_5))?;
    let mut response = PubResponse::new(packet_id);
    if r.version == Version::V5 && !r.at_end() {
        let cite = match r.packet_type {
            PacketType::Puback => Cite::v5(v5::MQTT_3_4_2_1),
            PacketType::Pubrec => Cite::v5(v5::MQTT_3_5_2_1),
            PacketType::Pubrel => Cite::v5(v5::MQTT_3_6_2_1),
            _ => Cite::v5(v5::MQTT_3_7_2_1),
        };
        response.reason_code = reason_code(r, cite)?;
        if !r.at_end() {
            properties::decode_into(r, PropertyContext::Packet(r.packet_type), &mut response.properties)?;
        }
    }
    let detail = match r.version {
        Version::V3_1_1 => "a 3.1.1 acknowledgement has only a packet identifier",
        Version::V5 => "bytes left after the packet identifier, reason code and properties",
    };
    r.finish(detail)?;
    // Built here, in the result (a constructor passed as a function would
    // move the whole `Packet` once more).
    r.done(match r.packet_type {
        PacketType::Puback => Packet::Puback(response),
        PacketType::Pubrec => Packet::Pubrec(response),
        PacketType::Pubrel => Packet::Pubrel(response),
        _ => Packet::Pubcomp(response),
    })
}

/// Appends the whole PUBLISH: its length is computed first, so every byte
/// is written once, in place.
pub(super) fn encode_publish(publish: &Publish, version: Version, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let mut first = (PacketType::Publish as u8) << 4 | publish.qos().as_u8() << 1;
    if publish.dup {
        first |= 0b1000;
    }
    if publish.retain {
        first |= 0b0001;
    }
    let topic = publish.topic.as_str();
    if topic.len() > usize::from(u16::MAX) {
        return Err(EncodeError::FieldTooLong { field: "topic name" });
    }
    let packet_id = publish.packet_id();
    let mut body_len = 2 + topic.len() + if packet_id.is_some() { 2 } else { 0 } + publish.payload.len();
    let properties_len = if version == Version::V5 { properties::block_len(&publish.properties)? } else { 0 };
    if version == Version::V5 {
        body_len += properties::encoded_len(properties_len);
    }
    put_fixed_header(out, first, body_len)?;
    put_string(out, topic, "topic name")?;
    if let Some(id) = packet_id {
        put_u16(out, id.get());
    }
    if version == Version::V5 {
        properties::encode_with_len(&publish.properties, properties_len, out)?;
    }
    out.extend_from_slice(&publish.payload);
    Ok(())
}

/// Appends the whole PUBACK, PUBREC, PUBREL or PUBCOMP (`packet_type`), in
/// the shortest form the version allows.
pub(super) fn encode_pub_response(
    response: &PubResponse,
    packet_type: PacketType,
    version: Version,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let first = (packet_type as u8) << 4 | packet_type.required_flags().unwrap_or(0);
    let id = response.packet_id.get().to_be_bytes();
    if version == Version::V3_1_1 {
        out.extend_from_slice(&[first, 2, id[0], id[1]]);
        return Ok(());
    }
    let properties_len = properties::block_len(&response.properties)?;
    if properties_len == 0 {
        if response.reason_code.is_success() {
            out.extend_from_slice(&[first, 2, id[0], id[1]]);
        } else {
            out.extend_from_slice(&[first, 3, id[0], id[1], response.reason_code.0]);
        }
        return Ok(());
    }
    put_fixed_header(out, first, 3 + properties::encoded_len(properties_len))?;
    out.extend_from_slice(&[id[0], id[1], response.reason_code.0]);
    properties::encode_with_len(&response.properties, properties_len, out)
}
