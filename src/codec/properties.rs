//! MQTT 5.0 properties: one struct holding every property
//! ([`PropertyValues`]), shared by all packets, which hold it through
//! [`Properties`] (no allocation while no property is set). Which properties
//! a packet may carry is checked by the decoder ([`PropertyId::allowed_in`]);
//! the encoder writes them in ascending identifier order (user properties in
//! their own order, in the user property slot), so encoding is deterministic
//! byte for byte.

use std::fmt;
use std::ops::{Deref, DerefMut};

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::packet::PacketType;

/// Where a property set sits: in a packet's variable header, or in CONNECT's
/// will properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyContext {
    /// The properties of a packet of this type.
    Packet(PacketType),
    /// The will properties inside CONNECT.
    Will,
}

/// Every MQTT 5.0 property identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[allow(missing_docs)]
pub enum PropertyId {
    PayloadFormatIndicator = 0x01,
    MessageExpiryInterval = 0x02,
    ContentType = 0x03,
    ResponseTopic = 0x08,
    CorrelationData = 0x09,
    SubscriptionIdentifier = 0x0B,
    SessionExpiryInterval = 0x11,
    AssignedClientIdentifier = 0x12,
    ServerKeepAlive = 0x13,
    AuthenticationMethod = 0x15,
    AuthenticationData = 0x16,
    RequestProblemInformation = 0x17,
    WillDelayInterval = 0x18,
    RequestResponseInformation = 0x19,
    ResponseInformation = 0x1A,
    ServerReference = 0x1C,
    ReasonString = 0x1F,
    ReceiveMaximum = 0x21,
    TopicAliasMaximum = 0x22,
    TopicAlias = 0x23,
    MaximumQos = 0x24,
    RetainAvailable = 0x25,
    UserProperty = 0x26,
    MaximumPacketSize = 0x27,
    WildcardSubscriptionAvailable = 0x28,
    SubscriptionIdentifierAvailable = 0x29,
    SharedSubscriptionAvailable = 0x2A,
}

impl PropertyId {
    /// All 27 properties in identifier order.
    pub const ALL: [PropertyId; 27] = [
        PropertyId::PayloadFormatIndicator,
        PropertyId::MessageExpiryInterval,
        PropertyId::ContentType,
        PropertyId::ResponseTopic,
        PropertyId::CorrelationData,
        PropertyId::SubscriptionIdentifier,
        PropertyId::SessionExpiryInterval,
        PropertyId::AssignedClientIdentifier,
        PropertyId::ServerKeepAlive,
        PropertyId::AuthenticationMethod,
        PropertyId::AuthenticationData,
        PropertyId::RequestProblemInformation,
        PropertyId::WillDelayInterval,
        PropertyId::RequestResponseInformation,
        PropertyId::ResponseInformation,
        PropertyId::ServerReference,
        PropertyId::ReasonString,
        PropertyId::ReceiveMaximum,
        PropertyId::TopicAliasMaximum,
        PropertyId::TopicAlias,
        PropertyId::MaximumQos,
        PropertyId::RetainAvailable,
        PropertyId::UserProperty,
        PropertyId::MaximumPacketSize,
        PropertyId::WildcardSubscriptionAvailable,
        PropertyId::SubscriptionIdentifierAvailable,
        PropertyId::SharedSubscriptionAvailable,
    ];

    /// The property for an identifier, or `None` if the identifier is unknown.
    pub fn from_u8(value: u8) -> Option<PropertyId> {
        PropertyId::ALL.iter().copied().find(|p| *p as u8 == value)
    }

    /// The specification's name, e.g. `Topic Alias`.
    pub const fn name(self) -> &'static str {
        match self {
            PropertyId::PayloadFormatIndicator => "Payload Format Indicator",
            PropertyId::MessageExpiryInterval => "Message Expiry Interval",
            PropertyId::ContentType => "Content Type",
            PropertyId::ResponseTopic => "Response Topic",
            PropertyId::CorrelationData => "Correlation Data",
            PropertyId::SubscriptionIdentifier => "Subscription Identifier",
            PropertyId::SessionExpiryInterval => "Session Expiry Interval",
            PropertyId::AssignedClientIdentifier => "Assigned Client Identifier",
            PropertyId::ServerKeepAlive => "Server Keep Alive",
            PropertyId::AuthenticationMethod => "Authentication Method",
            PropertyId::AuthenticationData => "Authentication Data",
            PropertyId::RequestProblemInformation => "Request Problem Information",
            PropertyId::WillDelayInterval => "Will Delay Interval",
            PropertyId::RequestResponseInformation => "Request Response Information",
            PropertyId::ResponseInformation => "Response Information",
            PropertyId::ServerReference => "Server Reference",
            PropertyId::ReasonString => "Reason String",
            PropertyId::ReceiveMaximum => "Receive Maximum",
            PropertyId::TopicAliasMaximum => "Topic Alias Maximum",
            PropertyId::TopicAlias => "Topic Alias",
            PropertyId::MaximumQos => "Maximum QoS",
            PropertyId::RetainAvailable => "Retain Available",
            PropertyId::UserProperty => "User Property",
            PropertyId::MaximumPacketSize => "Maximum Packet Size",
            PropertyId::WildcardSubscriptionAvailable => "Wildcard Subscription Available",
            PropertyId::SubscriptionIdentifierAvailable => "Subscription Identifier Available",
            PropertyId::SharedSubscriptionAvailable => "Shared Subscription Available",
        }
    }

    /// Whether this property may appear in `context` (5.0 section 2.2.2.2).
    pub fn allowed_in(self, context: PropertyContext) -> bool {
        use PacketType as T;
        use PropertyId as P;
        let PropertyContext::Packet(packet) = context else {
            return matches!(
                self,
                P::PayloadFormatIndicator
                    | P::MessageExpiryInterval
                    | P::ContentType
                    | P::ResponseTopic
                    | P::CorrelationData
                    | P::WillDelayInterval
                    | P::UserProperty
            );
        };
        match self {
            P::UserProperty => !matches!(packet, T::Pingreq | T::Pingresp),
            P::PayloadFormatIndicator
            | P::MessageExpiryInterval
            | P::ContentType
            | P::ResponseTopic
            | P::CorrelationData
            | P::TopicAlias => packet == T::Publish,
            P::SubscriptionIdentifier => matches!(packet, T::Publish | T::Subscribe),
            P::SessionExpiryInterval => matches!(packet, T::Connect | T::Connack | T::Disconnect),
            P::AuthenticationMethod | P::AuthenticationData => matches!(packet, T::Connect | T::Connack | T::Auth),
            P::RequestProblemInformation | P::RequestResponseInformation => packet == T::Connect,
            P::WillDelayInterval => false,
            P::ReceiveMaximum | P::TopicAliasMaximum | P::MaximumPacketSize => {
                matches!(packet, T::Connect | T::Connack)
            }
            P::AssignedClientIdentifier
            | P::ServerKeepAlive
            | P::ResponseInformation
            | P::MaximumQos
            | P::RetainAvailable
            | P::WildcardSubscriptionAvailable
            | P::SubscriptionIdentifierAvailable
            | P::SharedSubscriptionAvailable => packet == T::Connack,
            P::ServerReference => matches!(packet, T::Connack | T::Disconnect),
            P::ReasonString => matches!(
                packet,
                T::Connack
                    | T::Puback
                    | T::Pubrec
                    | T::Pubrel
                    | T::Pubcomp
                    | T::Suback
                    | T::Unsuback
                    | T::Disconnect
                    | T::Auth
            ),
        }
    }
}

/// The values of every MQTT 5.0 property. `None` / empty means absent.
///
/// Packets hold them through [`Properties`], which allocates only when a
/// property is set; build one with `Properties::from(PropertyValues { .. })`.
///
/// Only the properties allowed in a packet may be set on it; the decoder
/// rejects others, and the raw writer is the way to send them on purpose.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct PropertyValues {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_format_indicator: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_expiry_interval_secs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "super::serde_opt_payload")]
    pub correlation_data: Option<Bytes>,
    /// One in SUBSCRIBE; one or more in a PUBLISH sent by a server.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscription_identifiers: Vec<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_expiry_interval_secs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_client_identifier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_keep_alive_secs: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "super::serde_opt_payload")]
    pub authentication_data: Option<Bytes>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_problem_information: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub will_delay_interval_secs: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_response_information: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_information: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_reference: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_string: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive_maximum: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_alias_maximum: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_alias: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_qos: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_available: Option<u8>,
    /// User properties, in the order they were sent. Names may repeat.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_properties: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_packet_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wildcard_subscription_available: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_identifier_available: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared_subscription_available: Option<u8>,
}

impl PropertyValues {
    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        // Field by field (destructured, so a new field cannot be forgotten).
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
        } = self;
        payload_format_indicator.is_none()
            && message_expiry_interval_secs.is_none()
            && content_type.is_none()
            && response_topic.is_none()
            && correlation_data.is_none()
            && subscription_identifiers.is_empty()
            && session_expiry_interval_secs.is_none()
            && assigned_client_identifier.is_none()
            && server_keep_alive_secs.is_none()
            && authentication_method.is_none()
            && authentication_data.is_none()
            && request_problem_information.is_none()
            && will_delay_interval_secs.is_none()
            && request_response_information.is_none()
            && response_information.is_none()
            && server_reference.is_none()
            && reason_string.is_none()
            && receive_maximum.is_none()
            && topic_alias_maximum.is_none()
            && topic_alias.is_none()
            && maximum_qos.is_none()
            && retain_available.is_none()
            && user_properties.is_empty()
            && maximum_packet_size.is_none()
            && wildcard_subscription_available.is_none()
            && subscription_identifier_available.is_none()
            && shared_subscription_available.is_none()
    }
}

/// No property set: what an unallocated [`Properties`] reads as.
static NO_VALUES: PropertyValues = PropertyValues {
    payload_format_indicator: None,
    message_expiry_interval_secs: None,
    content_type: None,
    response_topic: None,
    correlation_data: None,
    subscription_identifiers: Vec::new(),
    session_expiry_interval_secs: None,
    assigned_client_identifier: None,
    server_keep_alive_secs: None,
    authentication_method: None,
    authentication_data: None,
    request_problem_information: None,
    will_delay_interval_secs: None,
    request_response_information: None,
    response_information: None,
    server_reference: None,
    reason_string: None,
    receive_maximum: None,
    topic_alias_maximum: None,
    topic_alias: None,
    maximum_qos: None,
    retain_available: None,
    user_properties: Vec::new(),
    maximum_packet_size: None,
    wildcard_subscription_available: None,
    subscription_identifier_available: None,
    shared_subscription_available: None,
};

/// The MQTT 5.0 properties of a packet or a will: a [`PropertyValues`] that
/// costs one pointer, and no allocation, while no property is set (most
/// packets carry none, and 3.1.1 packets never do).
///
/// Reading a field goes through [`Deref`] (`properties.topic_alias`);
/// writing one through [`DerefMut`] (`properties.topic_alias = Some(3)`),
/// which allocates the values on first use. Two property sets are equal
/// when their values are, so an unallocated set equals an allocated one
/// with nothing set, and both encode and serialize alike (as
/// [`PropertyValues`]).
#[derive(Clone, Default)]
pub struct Properties(Option<Box<PropertyValues>>);

impl Properties {
    /// No property set (allocates nothing).
    pub const fn new() -> Properties {
        Properties(None)
    }

    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        self.0.as_deref().is_none_or(PropertyValues::is_empty)
    }

    /// The values, by value (to move a field out).
    pub fn into_values(self) -> PropertyValues {
        self.0.map_or_else(PropertyValues::default, |values| *values)
    }

    /// The values if any were ever written (they may still all be unset),
    /// `None` for a set that never allocated: the encoder's fast path.
    pub(crate) fn allocated(&self) -> Option<&PropertyValues> {
        self.0.as_deref()
    }
}

impl From<PropertyValues> for Properties {
    /// Boxes the values, unless none is set.
    fn from(values: PropertyValues) -> Properties {
        if values.is_empty() {
            Properties(None)
        } else {
            Properties(Some(Box::new(values)))
        }
    }
}

impl Deref for Properties {
    type Target = PropertyValues;
    fn deref(&self) -> &PropertyValues {
        self.0.as_deref().unwrap_or(&NO_VALUES)
    }
}

impl DerefMut for Properties {
    /// Allocates the values on first write.
    fn deref_mut(&mut self) -> &mut PropertyValues {
        self.0.get_or_insert_with(Box::default)
    }
}

impl PartialEq for Properties {
    fn eq(&self, other: &Properties) -> bool {
        match (self.0.as_deref(), other.0.as_deref()) {
            (None, None) => true,
            (Some(a), Some(b)) => a == b,
            (Some(values), None) | (None, Some(values)) => values.is_empty(),
        }
    }
}

impl Eq for Properties {}

impl fmt::Debug for Properties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl Serialize for Properties {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Properties {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Properties, D::Error> {
        PropertyValues::deserialize(deserializer).map(Properties::from)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::codec::{
        decode, encode_to_vec, DecodeOptions, Packet, PacketId, PubResponse, Publish, QosPid, TopicName,
    };
    use crate::spec::Version;

    /// A PUBACK with `properties`.
    fn puback(properties: Properties) -> Packet {
        let packet_id = PacketId::new(7).expect("non-zero");
        Packet::Puback(PubResponse { properties, ..PubResponse::new(packet_id) })
    }

    #[test]
    fn reading_a_field_does_not_allocate_and_writing_one_does() {
        let mut properties = Properties::new();
        assert_eq!(properties.topic_alias, None);
        assert!(properties.user_properties.is_empty());
        assert!(properties.allocated().is_none());
        properties.topic_alias = Some(3);
        assert_eq!(properties.allocated().and_then(|v| v.topic_alias), Some(3));
        assert!(!properties.is_empty());
    }

    #[test]
    fn empty_and_allocated_but_unset_properties_are_equal_and_encode_alike() {
        let empty = Properties::new();
        let mut allocated = Properties::new();
        allocated.reason_string = Some("gone".to_owned());
        allocated.reason_string = None;
        assert!(allocated.allocated().is_some(), "written once, so allocated");
        assert!(allocated.is_empty());
        assert_eq!(empty, allocated);
        assert_eq!(allocated, empty);
        assert_eq!(empty, Properties::default());
        for version in Version::ALL {
            assert_eq!(
                encode_to_vec(&puback(empty.clone()), version).unwrap(),
                encode_to_vec(&puback(allocated.clone()), version).unwrap(),
                "{version}"
            );
        }
        assert_eq!(serde_json::to_string(&empty).unwrap(), "{}");
        assert_eq!(serde_json::to_string(&allocated).unwrap(), "{}");
        assert_eq!(serde_json::to_string(&puback(allocated)).unwrap(), r#"{"type":"PUBACK","packet_id":7}"#);
    }

    #[test]
    fn a_set_property_makes_properties_unequal_to_empty_ones() {
        let mut set = Properties::new();
        set.user_properties.push(("k".to_owned(), "v".to_owned()));
        assert_ne!(set, Properties::new());
        assert_ne!(Properties::new(), set);
        let mut other = set.clone();
        other.user_properties[0].1 = "w".to_owned();
        assert_ne!(set, other);
    }

    #[test]
    fn from_values_allocates_only_when_a_property_is_set() {
        assert!(Properties::from(PropertyValues::default()).allocated().is_none());
        let values = PropertyValues { session_expiry_interval_secs: Some(60), ..Default::default() };
        let properties = Properties::from(values.clone());
        assert_eq!(*properties, values);
        assert_eq!(properties.into_values(), values);
        assert_eq!(Properties::new().into_values(), PropertyValues::default());
    }

    #[test]
    fn properties_serialize_as_their_values_and_read_back_equal() {
        let properties = Properties::from(PropertyValues {
            topic_alias: Some(4),
            correlation_data: Some(Bytes::from_static(b"\x00\x01")),
            user_properties: vec![("a".to_owned(), "b".to_owned())],
            ..Default::default()
        });
        let json = serde_json::to_string(&properties).unwrap();
        assert_eq!(json, serde_json::to_string(&*properties).unwrap());
        let back: Properties = serde_json::from_str(&json).unwrap();
        assert_eq!(back, properties);
        let empty: Properties = serde_json::from_str("{}").unwrap();
        assert!(empty.allocated().is_none());
        assert!(serde_json::from_str::<Properties>(r#"{"no_such_property":1}"#).is_err());
    }

    #[test]
    fn a_packet_without_properties_decodes_without_allocating_them() {
        // 5.0 PUBLISH QoS 0, topic "a", property length 0, payload "x".
        let bytes = [0x30, 0x05, 0x00, 0x01, b'a', 0x00, b'x'];
        let (packet, _) = decode(&bytes, &DecodeOptions::new(Version::V5)).unwrap().unwrap();
        let Packet::Publish(publish) = &packet else { panic!("{packet:?}") };
        assert!(publish.properties.allocated().is_none());
        let expected = Publish {
            dup: false,
            qos_pid: QosPid::AtMostOnce,
            retain: false,
            topic: TopicName::new("a").unwrap(),
            properties: Properties::new(),
            payload: Bytes::from_static(b"x"),
        };
        assert_eq!(packet, Packet::Publish(expected));
    }

    #[test]
    fn packets_stay_small() {
        // An empty property set is one pointer, so every packet but CONNECT
        // stays small; the bound keeps a large member from creeping back in.
        assert_eq!(std::mem::size_of::<Properties>(), std::mem::size_of::<usize>());
        assert!(std::mem::size_of::<Packet>() <= 168, "{}", std::mem::size_of::<Packet>());
    }
}
