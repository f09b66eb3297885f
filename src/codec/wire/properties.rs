//! MQTT 5.0 properties on the wire (5.0 section 2.2.2): the property length,
//! then identifier and value pairs.
//!
//! Decoding rejects unknown identifiers, properties not allowed where they
//! stand ([`PropertyId::allowed_in`]), repeats (only User Property, and
//! Subscription Identifier in PUBLISH, may repeat), invalid values and a
//! property length that runs past the packet. Encoding writes the properties
//! in ascending identifier order, the user properties and subscription
//! identifiers in their own order in their slot, and checks no values.

use bytes::Bytes;

use super::primitives::{
    find_wildcard, put_binary, put_string, put_u16, put_u32, put_varint, varint_len, Cite, Reader, VARINT_MAX,
};
use crate::codec::{
    DecodeError, DecodeErrorKind, EncodeError, PacketType, Properties, PropertyContext, PropertyId, PropertyValues,
};
use crate::spec::{v3_1_1, v5};

/// Topic Alias 0.
const CITE_TOPIC_ALIAS_ZERO: Cite = Cite::v5(v5::MQTT_3_3_2_8);
/// A wildcard in a Response Topic.
const CITE_RESPONSE_TOPIC_WILDCARD: Cite = Cite::v5(v5::MQTT_3_3_2_14);
/// An empty topic name.
pub(crate) const CITE_EMPTY_TOPIC: Cite = Cite::both(v3_1_1::MQTT_4_7_3_1, v5::MQTT_4_7_3_1);

/// Reads a property length and the properties it covers, for `context`.
pub(crate) fn decode(r: &mut Reader<'_>, context: PropertyContext) -> Result<Properties, DecodeError> {
    let mut properties = Properties::default();
    decode_into(r, context, &mut properties)?;
    Ok(properties)
}

/// Like [`decode`], but into `properties` (empty on entry), which can then
/// sit where the packet is built instead of being moved there.
pub(crate) fn decode_into(
    r: &mut Reader<'_>,
    context: PropertyContext,
    properties: &mut Properties,
) -> Result<(), DecodeError> {
    let start = r.pos();
    let length = r.varint("property length")? as usize;
    if length > r.left() {
        return Err(r.error(DecodeErrorKind::PropertyLengthOverrun { length }, start, Cite::NONE));
    }
    if length == 0 {
        return Ok(());
    }
    let previous = r.narrow_end(r.pos() + length);
    // Allocates the values: at least one property follows.
    let result = decode_block(r, context, properties);
    r.restore_end(previous);
    result
}

/// Reads properties until the end of the (narrowed) region.
fn decode_block(r: &mut Reader<'_>, context: PropertyContext, p: &mut PropertyValues) -> Result<(), DecodeError> {
    let context_name = match context {
        PropertyContext::Packet(packet) => packet.name(),
        PropertyContext::Will => "will properties",
    };
    let subscription_id_repeats = context == PropertyContext::Packet(PacketType::Publish);
    // One bit per identifier (all are below 64) for the properties seen so far.
    let mut seen: u64 = 0;
    while !r.at_end() {
        let id_offset = r.pos();
        let id = r.u8("property identifier")?;
        let Some(property) = PropertyId::from_u8(id) else {
            return Err(r.error(DecodeErrorKind::UnknownProperty { id }, id_offset, Cite::NONE));
        };
        if !property.allowed_in(context) {
            let kind = DecodeErrorKind::PropertyNotAllowed { property, context: context_name };
            return Err(r.error(kind, id_offset, Cite::NONE));
        }
        let repeats = property == PropertyId::UserProperty
            || (property == PropertyId::SubscriptionIdentifier && subscription_id_repeats);
        if !repeats {
            let bit = 1u64 << (id & 63);
            if seen & bit != 0 {
                return Err(r.error(DecodeErrorKind::DuplicateProperty { property }, id_offset, Cite::NONE));
            }
            seen |= bit;
        }
        decode_value(r, property, p)?;
    }
    Ok(())
}

/// The error for an invalid value of `property` at `offset`.
fn invalid(r: &Reader<'_>, property: PropertyId, why: &'static str, offset: usize, cite: Cite) -> DecodeError {
    r.error(DecodeErrorKind::InvalidPropertyValue { property, why }, offset, cite)
}

/// Reads a byte that must be 0 or 1.
fn zero_or_one(r: &mut Reader<'_>, property: PropertyId) -> Result<u8, DecodeError> {
    let offset = r.pos();
    let value = r.u8(property.name())?;
    if value > 1 {
        return Err(invalid(r, property, "must be 0 or 1", offset, Cite::NONE));
    }
    Ok(value)
}

/// Reads a two-byte integer that must not be 0.
fn nonzero_u16(r: &mut Reader<'_>, property: PropertyId, cite: Cite) -> Result<u16, DecodeError> {
    let offset = r.pos();
    let value = r.u16(property.name())?;
    if value == 0 {
        return Err(invalid(r, property, "must not be 0", offset, cite));
    }
    Ok(value)
}

/// Reads a UTF-8 string property.
fn string(r: &mut Reader<'_>, property: PropertyId) -> Result<String, DecodeError> {
    r.string(property.name()).map(str::to_owned)
}

/// Reads a binary data property.
fn binary(r: &mut Reader<'_>, property: PropertyId) -> Result<Bytes, DecodeError> {
    r.binary(property.name()).map(Bytes::copy_from_slice)
}

/// Reads the value of `property` into `p`, checking it.
fn decode_value(r: &mut Reader<'_>, property: PropertyId, p: &mut PropertyValues) -> Result<(), DecodeError> {
    use PropertyId as P;
    let name = property.name();
    let offset = r.pos();
    match property {
        P::PayloadFormatIndicator => p.payload_format_indicator = Some(zero_or_one(r, property)?),
        P::MessageExpiryInterval => p.message_expiry_interval_secs = Some(r.u32(name)?),
        P::ContentType => p.content_type = Some(string(r, property)?),
        P::ResponseTopic => {
            let topic = r.string(name)?;
            if topic.is_empty() {
                return Err(r.error(DecodeErrorKind::EmptyTopicName, offset, CITE_EMPTY_TOPIC));
            }
            if let Some(i) = find_wildcard(topic.as_bytes()) {
                let at = offset + 2 + i;
                return Err(r.error(DecodeErrorKind::WildcardInTopicName, at, CITE_RESPONSE_TOPIC_WILDCARD));
            }
            p.response_topic = Some(topic.to_owned());
        }
        P::CorrelationData => p.correlation_data = Some(binary(r, property)?),
        P::SubscriptionIdentifier => {
            let value = r.varint(name)?;
            if value == 0 {
                return Err(invalid(r, property, "must not be 0", offset, Cite::NONE));
            }
            p.subscription_identifiers.push(value);
        }
        P::SessionExpiryInterval => p.session_expiry_interval_secs = Some(r.u32(name)?),
        P::AssignedClientIdentifier => p.assigned_client_identifier = Some(string(r, property)?),
        P::ServerKeepAlive => p.server_keep_alive_secs = Some(r.u16(name)?),
        P::AuthenticationMethod => p.authentication_method = Some(string(r, property)?),
        P::AuthenticationData => p.authentication_data = Some(binary(r, property)?),
        P::RequestProblemInformation => p.request_problem_information = Some(zero_or_one(r, property)?),
        P::WillDelayInterval => p.will_delay_interval_secs = Some(r.u32(name)?),
        P::RequestResponseInformation => p.request_response_information = Some(zero_or_one(r, property)?),
        P::ResponseInformation => p.response_information = Some(string(r, property)?),
        P::ServerReference => p.server_reference = Some(string(r, property)?),
        P::ReasonString => p.reason_string = Some(string(r, property)?),
        P::ReceiveMaximum => p.receive_maximum = Some(nonzero_u16(r, property, Cite::NONE)?),
        P::TopicAliasMaximum => p.topic_alias_maximum = Some(r.u16(name)?),
        P::TopicAlias => p.topic_alias = Some(nonzero_u16(r, property, CITE_TOPIC_ALIAS_ZERO)?),
        P::MaximumQos => p.maximum_qos = Some(zero_or_one(r, property)?),
        P::RetainAvailable => p.retain_available = Some(zero_or_one(r, property)?),
        P::UserProperty => {
            let key = string(r, property)?;
            let value = string(r, property)?;
            p.user_properties.push((key, value));
        }
        P::MaximumPacketSize => {
            let value = r.u32(name)?;
            if value == 0 {
                return Err(invalid(r, property, "must not be 0", offset, Cite::NONE));
            }
            p.maximum_packet_size = Some(value);
        }
        P::WildcardSubscriptionAvailable => p.wildcard_subscription_available = Some(zero_or_one(r, property)?),
        P::SubscriptionIdentifierAvailable => {
            p.subscription_identifier_available = Some(zero_or_one(r, property)?);
        }
        P::SharedSubscriptionAvailable => p.shared_subscription_available = Some(zero_or_one(r, property)?),
    }
    Ok(())
}

/// Appends the property length and the properties, in canonical order.
///
/// The length is computed first ([`block_len`]) and written once, so no
/// byte is moved afterwards; an empty block is the single byte 0.
pub(crate) fn encode(properties: &Properties, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let len = block_len(properties)?;
    encode_with_len(properties, len, out)
}

/// Appends a property block whose content length `len` was computed by
/// [`block_len`].
pub(crate) fn encode_with_len(properties: &Properties, len: usize, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if len == 0 {
        out.push(0);
        return Ok(());
    }
    let value = u32::try_from(len).ok().filter(|v| *v <= VARINT_MAX).ok_or(EncodeError::TooLarge(len))?;
    put_varint(out, value, "property length")?;
    out.reserve(len);
    encode_block(properties, out)
}

/// The size of a property block with its length prefix, for content length `len`.
pub(crate) fn encoded_len(len: usize) -> usize {
    varint_len(len) + len
}

/// The length of an optional string or binary property: identifier, two-byte length, data.
fn field_len(value: Option<&[u8]>) -> usize {
    value.map_or(0, |v| 3 + v.len())
}

/// The content length of the property block (without its length prefix):
/// 0 when no property is set. Fails as encoding would, on the first field
/// that cannot be encoded (a string or binary over 65,535 bytes, a
/// subscription identifier above the variable byte integer range).
///
/// Properties that were never written (the common case) cost one pointer
/// test.
pub(crate) fn block_len(properties: &Properties) -> Result<usize, EncodeError> {
    match properties.allocated() {
        None => Ok(0),
        Some(values) => values_len(values),
    }
}

/// [`block_len`] of allocated values. Every field is read once, without
/// early exits, so that it costs a few independent loads and few branches.
fn values_len(values: &PropertyValues) -> Result<usize, EncodeError> {
    let PropertyValues {
        payload_format_indicator,
        message_expiry_interval_secs,
        content_type,
        response_topic,
        correlation_data,
        subscription_identifiers,
        session_expiry_interval_secs,
        assigned_client_identifier,
        server_keep_alive_secs,
        authentication_method,
        authentication_data,
        request_problem_information,
        will_delay_interval_secs,
        request_response_information,
        response_information,
        server_reference,
        reason_string,
        receive_maximum,
        topic_alias_maximum,
        topic_alias,
        maximum_qos,
        retain_available,
        user_properties,
        maximum_packet_size,
        wildcard_subscription_available,
        subscription_identifier_available,
        shared_subscription_available,
    } = values;
    let bytes = 2
        * (usize::from(payload_format_indicator.is_some())
            + usize::from(request_problem_information.is_some())
            + usize::from(request_response_information.is_some())
            + usize::from(maximum_qos.is_some())
            + usize::from(retain_available.is_some())
            + usize::from(wildcard_subscription_available.is_some())
            + usize::from(subscription_identifier_available.is_some())
            + usize::from(shared_subscription_available.is_some()));
    let u16s = 3
        * (usize::from(server_keep_alive_secs.is_some())
            + usize::from(receive_maximum.is_some())
            + usize::from(topic_alias_maximum.is_some())
            + usize::from(topic_alias.is_some()));
    let u32s = 5
        * (usize::from(message_expiry_interval_secs.is_some())
            + usize::from(session_expiry_interval_secs.is_some())
            + usize::from(will_delay_interval_secs.is_some())
            + usize::from(maximum_packet_size.is_some()));
    let strings = [
        content_type,
        response_topic,
        assigned_client_identifier,
        authentication_method,
        response_information,
        server_reference,
        reason_string,
    ];
    let mut long = 0;
    let mut fields = 0;
    for s in strings {
        let len = s.as_deref().map_or(0, str::len);
        long |= len;
        fields += field_len(s.as_deref().map(str::as_bytes));
    }
    for b in [correlation_data, authentication_data] {
        let len = b.as_deref().map_or(0, <[u8]>::len);
        long |= len;
        fields += field_len(b.as_deref());
    }
    let mut total = bytes + u16s + u32s + fields;
    if !subscription_identifiers.is_empty() || !user_properties.is_empty() {
        for id in subscription_identifiers {
            if *id > VARINT_MAX {
                // Reported in encoding order, after any earlier field's error.
                return first_error(values);
            }
            total += 1 + varint_len(*id as usize);
        }
        for (key, value) in user_properties {
            long |= key.len() | value.len();
            total += 5 + key.len() + value.len();
        }
    }
    if long > usize::from(u16::MAX) {
        return first_error(values);
    }
    Ok(total)
}

/// The error encoding `properties` fails with (slow path: encodes into a
/// scratch buffer, which stops at the first field in encoding order that
/// cannot be encoded).
#[cold]
fn first_error(values: &PropertyValues) -> Result<usize, EncodeError> {
    let mut scratch = Vec::new();
    encode_block(values, &mut scratch)?;
    // Every field fits: the total is simply what was written.
    Ok(scratch.len())
}

/// Appends one byte-valued property.
fn put_byte_property(out: &mut Vec<u8>, id: PropertyId, value: Option<u8>) {
    if let Some(value) = value {
        out.extend_from_slice(&[id as u8, value]);
    }
}

/// Appends one two-byte-integer property.
fn put_u16_property(out: &mut Vec<u8>, id: PropertyId, value: Option<u16>) {
    if let Some(value) = value {
        out.push(id as u8);
        put_u16(out, value);
    }
}

/// Appends one four-byte-integer property.
fn put_u32_property(out: &mut Vec<u8>, id: PropertyId, value: Option<u32>) {
    if let Some(value) = value {
        out.push(id as u8);
        put_u32(out, value);
    }
}

/// Appends one string property.
fn put_string_property(out: &mut Vec<u8>, id: PropertyId, value: &Option<String>) -> Result<(), EncodeError> {
    if let Some(value) = value {
        out.push(id as u8);
        put_string(out, value, id.name())?;
    }
    Ok(())
}

/// Appends one binary property.
fn put_binary_property(out: &mut Vec<u8>, id: PropertyId, value: &Option<Bytes>) -> Result<(), EncodeError> {
    if let Some(value) = value {
        out.push(id as u8);
        put_binary(out, value, id.name())?;
    }
    Ok(())
}

/// Appends every set property in ascending identifier order.
fn encode_block(values: &PropertyValues, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    use PropertyId as P;
    // Destructured so that a new field cannot be forgotten here.
    let PropertyValues {
        payload_format_indicator,
        message_expiry_interval_secs,
        content_type,
        response_topic,
        correlation_data,
        subscription_identifiers,
        session_expiry_interval_secs,
        assigned_client_identifier,
        server_keep_alive_secs,
        authentication_method,
        authentication_data,
        request_problem_information,
        will_delay_interval_secs,
        request_response_information,
        response_information,
        server_reference,
        reason_string,
        receive_maximum,
        topic_alias_maximum,
        topic_alias,
        maximum_qos,
        retain_available,
        user_properties,
        maximum_packet_size,
        wildcard_subscription_available,
        subscription_identifier_available,
        shared_subscription_available,
    } = values;
    put_byte_property(out, P::PayloadFormatIndicator, *payload_format_indicator);
    put_u32_property(out, P::MessageExpiryInterval, *message_expiry_interval_secs);
    put_string_property(out, P::ContentType, content_type)?;
    put_string_property(out, P::ResponseTopic, response_topic)?;
    put_binary_property(out, P::CorrelationData, correlation_data)?;
    for id in subscription_identifiers {
        out.push(P::SubscriptionIdentifier as u8);
        put_varint(out, *id, P::SubscriptionIdentifier.name())?;
    }
    put_u32_property(out, P::SessionExpiryInterval, *session_expiry_interval_secs);
    put_string_property(out, P::AssignedClientIdentifier, assigned_client_identifier)?;
    put_u16_property(out, P::ServerKeepAlive, *server_keep_alive_secs);
    put_string_property(out, P::AuthenticationMethod, authentication_method)?;
    put_binary_property(out, P::AuthenticationData, authentication_data)?;
    put_byte_property(out, P::RequestProblemInformation, *request_problem_information);
    put_u32_property(out, P::WillDelayInterval, *will_delay_interval_secs);
    put_byte_property(out, P::RequestResponseInformation, *request_response_information);
    put_string_property(out, P::ResponseInformation, response_information)?;
    put_string_property(out, P::ServerReference, server_reference)?;
    put_string_property(out, P::ReasonString, reason_string)?;
    put_u16_property(out, P::ReceiveMaximum, *receive_maximum);
    put_u16_property(out, P::TopicAliasMaximum, *topic_alias_maximum);
    put_u16_property(out, P::TopicAlias, *topic_alias);
    put_byte_property(out, P::MaximumQos, *maximum_qos);
    put_byte_property(out, P::RetainAvailable, *retain_available);
    for (key, value) in user_properties {
        out.push(P::UserProperty as u8);
        put_string(out, key, P::UserProperty.name())?;
        put_string(out, value, P::UserProperty.name())?;
    }
    put_u32_property(out, P::MaximumPacketSize, *maximum_packet_size);
    put_byte_property(out, P::WildcardSubscriptionAvailable, *wildcard_subscription_available);
    put_byte_property(out, P::SubscriptionIdentifierAvailable, *subscription_identifier_available);
    put_byte_property(out, P::SharedSubscriptionAvailable, *shared_subscription_available);
    Ok(())
}
