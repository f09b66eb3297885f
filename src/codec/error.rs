//! The codec layer's error: why bytes are not a valid packet, where, and which
//! normative statement they break.

use std::fmt;

use super::packet::PacketType;
use super::properties::PropertyId;
use super::reason::ReasonCode;
use crate::spec::{StatementId, Version};

/// Why a byte string is not a valid packet.
///
/// `Ok(None)` from the decoder (need more bytes) is never one of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[allow(missing_docs)]
pub enum DecodeErrorKind {
    #[error("packet type 0 is reserved")]
    ReservedPacketType,
    #[error("AUTH (type 15) does not exist in MQTT 3.1.1")]
    AuthInV3,
    #[error("{packet} fixed-header flags are {flags:#06b}, must be {expected:#06b}")]
    ReservedFlags { packet: PacketType, flags: u8, expected: u8 },
    #[error("variable byte integer has more than 4 bytes")]
    VarintTooLong,
    #[error("variable byte integer is not encoded in the minimum number of bytes")]
    VarintNotMinimal,
    #[error("remaining length {declared} does not match the packet's content ({detail})")]
    RemainingLengthMismatch { declared: usize, detail: &'static str },
    #[error("packet of {size} bytes exceeds the maximum packet size {max}")]
    PacketTooLarge { size: usize, max: usize },
    #[error("{field} is cut off before its declared end")]
    Truncated { field: &'static str },
    #[error("QoS 3 does not exist")]
    InvalidQos,
    #[error("DUP is set on a QoS 0 PUBLISH")]
    DupOnQos0,
    #[error("packet identifier 0 where a non-zero one is required")]
    ZeroPacketId,
    #[error("{field} is not well-formed UTF-8 (or encodes a surrogate)")]
    InvalidUtf8 { field: &'static str },
    #[error("{field} contains U+0000")]
    NullCharacter { field: &'static str },
    #[error("topic name contains a wildcard character")]
    WildcardInTopicName,
    #[error("topic name is empty")]
    EmptyTopicName,
    #[error("topic filter {filter:?} is invalid: {why}")]
    InvalidTopicFilter { filter: String, why: &'static str },
    #[error("{packet} has no topic filters")]
    EmptyPayload { packet: PacketType },
    #[error("subscription options byte {options:#04x} is invalid: {why}")]
    InvalidSubscriptionOptions { options: u8, why: &'static str },
    #[error("property identifier {id:#04x} is unknown")]
    UnknownProperty { id: u8 },
    #[error("property {} appears more than once", .property.name())]
    DuplicateProperty { property: PropertyId },
    #[error("property {} is not allowed in {context}", .property.name())]
    PropertyNotAllowed { property: PropertyId, context: &'static str },
    #[error("property {} has an invalid value: {why}", .property.name())]
    InvalidPropertyValue { property: PropertyId, why: &'static str },
    #[error("property length {length} runs past the end of the packet")]
    PropertyLengthOverrun { length: usize },
    #[error("reason code {code} is not valid in {packet}")]
    InvalidReasonCode { packet: PacketType, code: ReasonCode },
    #[error("protocol name is {found:?}, must be \"MQTT\"")]
    InvalidProtocolName { found: String },
    #[error("protocol level {level} is not supported")]
    UnsupportedProtocolLevel { level: u8 },
    #[error("CONNECT reserved flag is set")]
    ConnectReservedFlag,
    #[error("password flag is set without the user name flag")]
    PasswordWithoutUsername,
    #[error("will QoS or will retain is set without the will flag")]
    InconsistentWillFlags,
    #[error("CONNACK acknowledge flags have reserved bits set")]
    ConnackReservedFlags,
    #[error("session present is set on a CONNACK that refuses the connection")]
    SessionPresentOnRefusal,
    #[error("a zero-length client identifier needs clean session set")]
    EmptyClientIdWithoutCleanSession,
}

/// The `why` of [`DecodeErrorKind::InvalidSubscriptionOptions`] for No Local
/// on a shared subscription.
pub const NO_LOCAL_ON_SHARED: &str = "No Local is set on a shared subscription";

/// A rejection: what is wrong, the byte offset where it was found (from the
/// first byte of the packet), and the version-qualified statement it breaks
/// where the specification has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// What is wrong.
    pub kind: DecodeErrorKind,
    /// Offset of the offending byte from the start of the packet.
    pub offset: usize,
    /// The statement broken, e.g. 5.0 `MQTT-1.5.4-1`.
    pub statement: Option<StatementId>,
    /// The packet type, once the first byte was read.
    pub packet: Option<PacketType>,
    /// The protocol version the bytes were decoded as.
    pub version: Version,
}

impl DecodeError {
    /// The 5.0 reason code a receiver reports for this error: 0x81 (Malformed
    /// Packet), 0x82 (Protocol Error), 0x84 (Unsupported Protocol Version) or
    /// 0x95 (Packet too large).
    pub fn reason_code(&self) -> ReasonCode {
        use DecodeErrorKind as K;
        match self.kind {
            K::PacketTooLarge { .. } => ReasonCode::PACKET_TOO_LARGE,
            K::UnsupportedProtocolLevel { .. } => ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
            K::DuplicateProperty { .. }
            | K::EmptyPayload { .. }
            | K::ZeroPacketId
            | K::InvalidPropertyValue { .. }
            | K::InvalidTopicFilter { .. } => ReasonCode::PROTOCOL_ERROR,
            // 5.0 section 3.8.3.1: No Local on a shared subscription is a Protocol Error.
            K::InvalidSubscriptionOptions { why, .. } if why == NO_LOCAL_ON_SHARED => ReasonCode::PROTOCOL_ERROR,
            _ => ReasonCode::MALFORMED_PACKET,
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(packet) = self.packet {
            write!(f, "{packet}: ")?;
        }
        write!(f, "{} at byte {}", self.kind, self.offset)?;
        if let Some(statement) = self.statement {
            write!(f, " [{statement}: {}]", statement.summary())?;
        }
        Ok(())
    }
}

impl std::error::Error for DecodeError {}

/// Why a packet value cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The packet type does not exist in this version (AUTH in 3.1.1).
    #[error("{packet} does not exist in MQTT {version}")]
    NotInVersion {
        /// The packet type.
        packet: PacketType,
        /// The version asked for.
        version: Version,
    },
    /// A string or binary field is longer than 65,535 bytes.
    #[error("{field} is longer than 65535 bytes")]
    FieldTooLong {
        /// Which field.
        field: &'static str,
    },
    /// The packet is longer than the 268,435,455 bytes a remaining length can express.
    #[error("remaining length {0} exceeds 268435455")]
    TooLarge(usize),
    /// A variable byte integer property is over 268,435,455.
    #[error("{field} value {value} exceeds 268435455")]
    VarintTooLarge {
        /// Which field.
        field: &'static str,
        /// The value.
        value: u32,
    },
}
