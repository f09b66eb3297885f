//! PUBLISH and its acknowledgements PUBACK, PUBREC, PUBREL and PUBCOMP
//! (sections 3.3 to 3.7 of both versions).
//!
//! The fixed-header flags of PUBLISH (QoS 3, DUP on QoS 0) are checked with
//! the fixed header; this module reads the topic, packet identifier,
//! properties and payload. The 5.0 acknowledgements may stop after the
//! packet identifier (reason code 0x00, no properties) or after the reason
//! code (no properties); the encoder uses those short forms whenever it can.

use super::primitives::{put_string, put_u16, Cite, Decoded, Reader};
use super::{properties, reason_code, topic_name};
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

/// Decodes PUBACK, PUBREC, PUBREL or PUBCOMP; `variant` is the matching
/// [`Packet`] constructor.
pub(super) fn decode_pub_response(r: &mut Reader<'_>, variant: fn(PubResponse) -> Packet) -> Decoded {
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
            response.properties = properties::decode(r, PropertyContext::Packet(r.packet_type))?;
        }
    }
    let detail = match r.version {
        Version::V3_1_1 => "a 3.1.1 acknowledgement has only a packet identifier",
        Version::V5 => "bytes left after the packet identifier, reason code and properties",
    };
    r.finish(detail)?;
    r.done(variant(response))
}

/// Appends PUBLISH's variable header (the payload is appended by the
/// caller) and returns the packet's first byte.
pub(super) fn encode_publish(publish: &Publish, version: Version, out: &mut Vec<u8>) -> Result<u8, EncodeError> {
    let mut first = (PacketType::Publish as u8) << 4 | publish.qos().as_u8() << 1;
    if publish.dup {
        first |= 0b1000;
    }
    if publish.retain {
        first |= 0b0001;
    }
    put_string(out, publish.topic.as_str(), "topic name")?;
    if let Some(id) = publish.packet_id() {
        put_u16(out, id.get());
    }
    if version == Version::V5 {
        properties::encode(&publish.properties, out)?;
    }
    Ok(first)
}

/// Appends the variable header of PUBACK, PUBREC, PUBREL or PUBCOMP, in the
/// shortest form the version allows.
pub(super) fn encode_pub_response(
    response: &PubResponse,
    version: Version,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    put_u16(out, response.packet_id.get());
    if version == Version::V5 {
        let no_properties = response.properties.is_empty();
        if response.reason_code.is_success() && no_properties {
            return Ok(());
        }
        out.push(response.reason_code.0);
        if !no_properties {
            properties::encode(&response.properties, out)?;
        }
    }
    Ok(())
}
