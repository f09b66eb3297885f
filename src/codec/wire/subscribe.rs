//! SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK (sections 3.8 to 3.11 of
//! both versions).
//!
//! Filters are validated by the rules of the version being decoded: in
//! 3.1.1 a `$share/...` filter is an ordinary filter, in 5.0 it is a shared
//! subscription. The subscription options byte has QoS only in 3.1.1 (bits
//! 2-7 reserved) and QoS, No Local, Retain As Published and Retain Handling
//! in 5.0 (bits 6-7 reserved).

use super::primitives::{put_string, put_u16, Cite, Decoded, Reader};
use super::publish::CITE_ZERO_ID_REQUEST;
use super::{properties, put_fixed_header, reason_code, topic_filter};
use crate::codec::{
    DecodeError, DecodeErrorKind, EncodeError, Packet, PacketType, Properties, PropertyContext, Qos, RetainHandling,
    Suback, Subscribe, Subscription, SubscriptionOptions, Unsuback, Unsubscribe, Version,
};
use crate::spec::{v3_1_1, v5};

/// Packet identifier 0 in SUBACK or UNSUBACK.
const CITE_ZERO_ID_ACK: Cite = Cite::both(v3_1_1::MQTT_2_3_1_7, v5::MQTT_2_2_1_6);

/// Reads the 5.0 properties of the packet being decoded (none in 3.1.1).
fn packet_properties(r: &mut Reader<'_>) -> Result<Properties, DecodeError> {
    if r.version == Version::V5 {
        properties::decode(r, PropertyContext::Packet(r.packet_type))
    } else {
        Ok(Default::default())
    }
}

/// Fails with `EmptyPayload` citing `cite` if no filter follows.
fn require_payload(r: &Reader<'_>, cite: Cite) -> Result<(), DecodeError> {
    if r.at_end() {
        return Err(r.error(DecodeErrorKind::EmptyPayload { packet: r.packet_type }, r.pos(), cite));
    }
    Ok(())
}

/// Decodes SUBSCRIBE.
pub(super) fn decode_subscribe(r: &mut Reader<'_>) -> Decoded {
    let packet_id = r.packet_id(CITE_ZERO_ID_REQUEST)?;
    let properties = packet_properties(r)?;
    require_payload(r, Cite::both(v3_1_1::MQTT_3_8_3_3, v5::MQTT_3_8_3_2))?;
    let mut subscriptions = Vec::new();
    while !r.at_end() {
        let filter_offset = r.pos();
        let filter = r.string("topic filter")?;
        let filter = topic_filter(r, filter, filter_offset)?;
        let options_offset = r.pos();
        let byte = r.u8("subscription options")?;
        let options =
            subscription_options(r.version, byte, filter.as_str().starts_with("$share/")).map_err(|(why, cite)| {
                r.error(DecodeErrorKind::InvalidSubscriptionOptions { options: byte, why }, options_offset, cite)
            })?;
        subscriptions.push(Subscription { filter, options });
    }
    r.done(Packet::Subscribe(Subscribe { packet_id, properties, subscriptions }))
}

/// Interprets a subscription options byte of `version` (`shared`: the
/// filter is a 5.0 shared subscription), or says why it is invalid.
fn subscription_options(version: Version, byte: u8, shared: bool) -> Result<SubscriptionOptions, (&'static str, Cite)> {
    let qos = Qos::from_u8(byte & 0b11);
    if version == Version::V3_1_1 {
        let cite = Cite::v3(v3_1_1::MQTT_3_8_3_4);
        if byte & 0b1111_1100 != 0 {
            return Err(("reserved bits 2-7 are set", cite));
        }
        return qos.map(SubscriptionOptions::qos).ok_or(("QoS 3 does not exist", cite));
    }
    if byte & 0b1100_0000 != 0 {
        return Err(("reserved bits 6-7 are set", Cite::v5(v5::MQTT_3_8_3_5)));
    }
    let qos = qos.ok_or(("QoS 3 does not exist", Cite::NONE))?;
    let retain_handling =
        RetainHandling::from_u8((byte >> 4) & 0b11).ok_or(("Retain Handling 3 does not exist", Cite::NONE))?;
    let no_local = byte & 0b0100 != 0;
    if no_local && shared {
        return Err((crate::codec::NO_LOCAL_ON_SHARED, Cite::v5(v5::MQTT_3_8_3_4)));
    }
    Ok(SubscriptionOptions { qos, no_local, retain_as_published: byte & 0b1000 != 0, retain_handling })
}

/// Decodes SUBACK.
pub(super) fn decode_suback(r: &mut Reader<'_>) -> Decoded {
    let packet_id = r.packet_id(CITE_ZERO_ID_ACK)?;
    let properties = packet_properties(r)?;
    let mut reason_codes = Vec::with_capacity(r.left());
    while !r.at_end() {
        reason_codes.push(reason_code(r, Cite::both(v3_1_1::MQTT_3_9_3_2, v5::MQTT_3_9_3_2))?);
    }
    r.done(Packet::Suback(Suback { packet_id, properties, reason_codes }))
}

/// Decodes UNSUBSCRIBE.
pub(super) fn decode_unsubscribe(r: &mut Reader<'_>) -> Decoded {
    let packet_id = r.packet_id(CITE_ZERO_ID_REQUEST)?;
    let properties = packet_properties(r)?;
    require_payload(r, Cite::both(v3_1_1::MQTT_3_10_3_2, v5::MQTT_3_10_3_2))?;
    let mut filters = Vec::new();
    while !r.at_end() {
        let filter_offset = r.pos();
        let filter = r.string("topic filter")?;
        filters.push(topic_filter(r, filter, filter_offset)?);
    }
    r.done(Packet::Unsubscribe(Unsubscribe { packet_id, properties, filters }))
}

/// Decodes UNSUBACK: only the packet identifier in 3.1.1.
pub(super) fn decode_unsuback(r: &mut Reader<'_>) -> Decoded {
    let packet_id = r.packet_id(CITE_ZERO_ID_ACK)?;
    let mut unsuback = Unsuback { packet_id, properties: Default::default(), reason_codes: Vec::new() };
    if r.version == Version::V3_1_1 {
        r.finish("a 3.1.1 UNSUBACK has only a packet identifier")?;
        return r.done(Packet::Unsuback(unsuback));
    }
    unsuback.properties = packet_properties(r)?;
    unsuback.reason_codes.reserve(r.left());
    while !r.at_end() {
        unsuback.reason_codes.push(reason_code(r, Cite::v5(v5::MQTT_3_11_3_2))?);
    }
    r.done(Packet::Unsuback(unsuback))
}

/// The content length of the packet's property block in `version` (none in 3.1.1).
fn properties_len(properties: &Properties, version: Version) -> Result<usize, EncodeError> {
    if version == Version::V5 {
        properties::block_len(properties)
    } else {
        Ok(0)
    }
}

/// The size of the packet's property block with its length prefix in `version`.
fn properties_size(len: usize, version: Version) -> usize {
    if version == Version::V5 {
        properties::encoded_len(len)
    } else {
        0
    }
}

/// Appends the whole SUBSCRIBE (length computed first, written once).
pub(super) fn encode_subscribe(subscribe: &Subscribe, version: Version, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let first = (PacketType::Subscribe as u8) << 4 | 0b0010;
    let properties_len = properties_len(&subscribe.properties, version)?;
    let mut body_len = 2 + properties_size(properties_len, version);
    for Subscription { filter, .. } in &subscribe.subscriptions {
        if filter.as_str().len() > usize::from(u16::MAX) {
            return Err(EncodeError::FieldTooLong { field: "topic filter" });
        }
        body_len += 3 + filter.as_str().len();
    }
    put_fixed_header(out, first, body_len)?;
    put_u16(out, subscribe.packet_id.get());
    if version == Version::V5 {
        properties::encode_with_len(&subscribe.properties, properties_len, out)?;
    }
    for Subscription { filter, options } in &subscribe.subscriptions {
        put_string(out, filter.as_str(), "topic filter")?;
        let mut byte = options.qos.as_u8();
        if version == Version::V5 {
            byte |= u8::from(options.no_local) << 2
                | u8::from(options.retain_as_published) << 3
                | u8::from(options.retain_handling) << 4;
        }
        out.push(byte);
    }
    Ok(())
}

/// Appends the whole SUBACK (length computed first, written once).
pub(super) fn encode_suback(suback: &Suback, version: Version, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let first = (PacketType::Suback as u8) << 4;
    let properties_len = properties_len(&suback.properties, version)?;
    let body_len = 2 + properties_size(properties_len, version) + suback.reason_codes.len();
    put_fixed_header(out, first, body_len)?;
    put_u16(out, suback.packet_id.get());
    if version == Version::V5 {
        properties::encode_with_len(&suback.properties, properties_len, out)?;
    }
    out.extend(suback.reason_codes.iter().map(|code| code.0));
    Ok(())
}

/// Appends UNSUBSCRIBE's variable header and payload.
pub(super) fn encode_unsubscribe(
    unsubscribe: &Unsubscribe,
    version: Version,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    put_u16(out, unsubscribe.packet_id.get());
    if version == Version::V5 {
        properties::encode(&unsubscribe.properties, out)?;
    }
    for filter in &unsubscribe.filters {
        put_string(out, filter.as_str(), "topic filter")?;
    }
    Ok(())
}

/// Appends UNSUBACK: the packet identifier, and in 5.0 the properties and
/// reason codes.
pub(super) fn encode_unsuback(unsuback: &Unsuback, version: Version, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    put_u16(out, unsuback.packet_id.get());
    if version == Version::V5 {
        properties::encode(&unsuback.properties, out)?;
        out.extend(unsuback.reason_codes.iter().map(|code| code.0));
    }
    Ok(())
}
