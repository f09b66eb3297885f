//! MQTT 5.0 properties: one struct holding every property, shared by all
//! packets. Which properties a packet may carry is checked by the decoder
//! ([`PropertyId::allowed_in`]); the encoder writes them in ascending
//! identifier order (user properties in their own order, in the user
//! property slot), so encoding is deterministic byte for byte.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

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

/// Every MQTT 5.0 property. `None` / empty means absent.
///
/// Only the properties allowed in a packet may be set on it; the decoder
/// rejects others, and the raw writer is the way to send them on purpose.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Properties {
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

impl Properties {
    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        // Field by field (destructured, so a new field cannot be forgotten):
        // building and comparing against a default value is several times slower
        // on the encode path, which asks this for every acknowledgement.
        let Properties {
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
