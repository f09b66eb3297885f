//! The decoded form of every MQTT 3.1.1 and 5.0 control packet.
//!
//! One set of types serves both versions: fields that exist only in 5.0
//! (properties, reason codes on acknowledgements) are empty or `SUCCESS` in a
//! 3.1.1 packet. Names follow the specification (CONNECT is [`Connect`],
//! CONNACK is [`Connack`], ...).

use std::fmt;
use std::num::NonZeroU16;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::properties::Properties;
use super::reason::ReasonCode;
use super::topic::{TopicFilter, TopicName};
use crate::spec::Version;

/// A packet identifier: never zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PacketId(pub NonZeroU16);

impl PacketId {
    /// The identifier for `value`, or `None` for zero.
    pub const fn new(value: u16) -> Option<PacketId> {
        match NonZeroU16::new(value) {
            Some(v) => Some(PacketId(v)),
            None => None,
        }
    }

    /// The numeric value (1..=65535).
    pub const fn get(self) -> u16 {
        self.0.get()
    }

    /// The next identifier, wrapping from 65535 to 1.
    pub const fn next(self) -> PacketId {
        match NonZeroU16::new(self.0.get().wrapping_add(1)) {
            Some(v) => PacketId(v),
            None => PacketId(NonZeroU16::MIN),
        }
    }
}

impl fmt::Display for PacketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A quality-of-service level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum Qos {
    /// QoS 0: at most once.
    AtMostOnce = 0,
    /// QoS 1: at least once.
    AtLeastOnce = 1,
    /// QoS 2: exactly once.
    ExactlyOnce = 2,
}

impl Qos {
    /// The QoS for the two-bit wire value, or `None` for 3.
    pub const fn from_u8(value: u8) -> Option<Qos> {
        match value {
            0 => Some(Qos::AtMostOnce),
            1 => Some(Qos::AtLeastOnce),
            2 => Some(Qos::ExactlyOnce),
            _ => None,
        }
    }

    /// The wire value.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }
}

impl From<Qos> for u8 {
    fn from(qos: Qos) -> u8 {
        qos as u8
    }
}

impl TryFrom<u8> for Qos {
    type Error = String;
    fn try_from(value: u8) -> Result<Qos, String> {
        Qos::from_u8(value).ok_or_else(|| format!("QoS {value} does not exist"))
    }
}

/// The QoS of a PUBLISH together with its packet identifier: QoS 0 has none,
/// QoS 1 and 2 always have one.
///
/// Serialized as `{"qos": 1, "packet_id": 7}` (no `packet_id` for QoS 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "QosPidRepr", try_from = "QosPidRepr")]
pub enum QosPid {
    /// QoS 0, no packet identifier.
    AtMostOnce,
    /// QoS 1 with its packet identifier.
    AtLeastOnce(PacketId),
    /// QoS 2 with its packet identifier.
    ExactlyOnce(PacketId),
}

/// The serde form of [`QosPid`].
#[derive(Serialize, Deserialize)]
struct QosPidRepr {
    qos: Qos,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    packet_id: Option<PacketId>,
}

impl From<QosPid> for QosPidRepr {
    fn from(value: QosPid) -> QosPidRepr {
        QosPidRepr { qos: value.qos(), packet_id: value.packet_id() }
    }
}

impl TryFrom<QosPidRepr> for QosPid {
    type Error = String;
    fn try_from(repr: QosPidRepr) -> Result<QosPid, String> {
        match (repr.qos, repr.packet_id) {
            (Qos::AtMostOnce, Some(_)) => Err("a QoS 0 PUBLISH has no packet_id".to_owned()),
            (qos, id) => QosPid::from_parts(qos, id).ok_or_else(|| format!("QoS {} needs a packet_id", qos.as_u8())),
        }
    }
}

impl QosPid {
    /// The QoS level.
    pub const fn qos(self) -> Qos {
        match self {
            QosPid::AtMostOnce => Qos::AtMostOnce,
            QosPid::AtLeastOnce(_) => Qos::AtLeastOnce,
            QosPid::ExactlyOnce(_) => Qos::ExactlyOnce,
        }
    }

    /// The packet identifier, for QoS 1 and 2.
    pub const fn packet_id(self) -> Option<PacketId> {
        match self {
            QosPid::AtMostOnce => None,
            QosPid::AtLeastOnce(id) | QosPid::ExactlyOnce(id) => Some(id),
        }
    }

    /// Combines a QoS with an identifier; `id` is ignored for QoS 0 and required otherwise.
    pub const fn from_parts(qos: Qos, id: Option<PacketId>) -> Option<QosPid> {
        match (qos, id) {
            (Qos::AtMostOnce, _) => Some(QosPid::AtMostOnce),
            (Qos::AtLeastOnce, Some(id)) => Some(QosPid::AtLeastOnce(id)),
            (Qos::ExactlyOnce, Some(id)) => Some(QosPid::ExactlyOnce(id)),
            _ => None,
        }
    }
}

/// The control packet types, with their fixed-header type numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PacketType {
    /// 1: client request to connect.
    Connect = 1,
    /// 2: connect acknowledgement.
    Connack = 2,
    /// 3: publish message.
    Publish = 3,
    /// 4: QoS 1 publish acknowledgement.
    Puback = 4,
    /// 5: QoS 2 publish received.
    Pubrec = 5,
    /// 6: QoS 2 publish release.
    Pubrel = 6,
    /// 7: QoS 2 publish complete.
    Pubcomp = 7,
    /// 8: subscribe request.
    Subscribe = 8,
    /// 9: subscribe acknowledgement.
    Suback = 9,
    /// 10: unsubscribe request.
    Unsubscribe = 10,
    /// 11: unsubscribe acknowledgement.
    Unsuback = 11,
    /// 12: ping request.
    Pingreq = 12,
    /// 13: ping response.
    Pingresp = 13,
    /// 14: disconnect notification.
    Disconnect = 14,
    /// 15: authentication exchange (5.0 only).
    Auth = 15,
}

impl PacketType {
    /// The type for the high nibble of the first byte, or `None` for 0 (reserved).
    pub const fn from_u8(value: u8) -> Option<PacketType> {
        Some(match value {
            1 => PacketType::Connect,
            2 => PacketType::Connack,
            3 => PacketType::Publish,
            4 => PacketType::Puback,
            5 => PacketType::Pubrec,
            6 => PacketType::Pubrel,
            7 => PacketType::Pubcomp,
            8 => PacketType::Subscribe,
            9 => PacketType::Suback,
            10 => PacketType::Unsubscribe,
            11 => PacketType::Unsuback,
            12 => PacketType::Pingreq,
            13 => PacketType::Pingresp,
            14 => PacketType::Disconnect,
            15 => PacketType::Auth,
            _ => return None,
        })
    }

    /// The specification's name, e.g. `PUBREL`.
    pub const fn name(self) -> &'static str {
        match self {
            PacketType::Connect => "CONNECT",
            PacketType::Connack => "CONNACK",
            PacketType::Publish => "PUBLISH",
            PacketType::Puback => "PUBACK",
            PacketType::Pubrec => "PUBREC",
            PacketType::Pubrel => "PUBREL",
            PacketType::Pubcomp => "PUBCOMP",
            PacketType::Subscribe => "SUBSCRIBE",
            PacketType::Suback => "SUBACK",
            PacketType::Unsubscribe => "UNSUBSCRIBE",
            PacketType::Unsuback => "UNSUBACK",
            PacketType::Pingreq => "PINGREQ",
            PacketType::Pingresp => "PINGRESP",
            PacketType::Disconnect => "DISCONNECT",
            PacketType::Auth => "AUTH",
        }
    }

    /// The fixed-header flag bits every packet of this type must carry
    /// (PUBLISH has variable flags and returns `None`).
    pub const fn required_flags(self) -> Option<u8> {
        match self {
            PacketType::Publish => None,
            PacketType::Pubrel | PacketType::Subscribe | PacketType::Unsubscribe => Some(0b0010),
            _ => Some(0),
        }
    }
}

impl fmt::Display for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Any MQTT control packet.
///
/// Its size is that of the largest variant (CONNECT); property sets cost one
/// pointer each while empty (see [`Properties`]), which keeps every packet
/// small enough for arrays of packets to stream through the cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "UPPERCASE")]
pub enum Packet {
    /// CONNECT.
    Connect(Connect),
    /// CONNACK.
    Connack(Connack),
    /// PUBLISH.
    Publish(Publish),
    /// PUBACK.
    Puback(PubResponse),
    /// PUBREC.
    Pubrec(PubResponse),
    /// PUBREL.
    Pubrel(PubResponse),
    /// PUBCOMP.
    Pubcomp(PubResponse),
    /// SUBSCRIBE.
    Subscribe(Subscribe),
    /// SUBACK.
    Suback(Suback),
    /// UNSUBSCRIBE.
    Unsubscribe(Unsubscribe),
    /// UNSUBACK.
    Unsuback(Unsuback),
    /// PINGREQ.
    Pingreq,
    /// PINGRESP.
    Pingresp,
    /// DISCONNECT.
    Disconnect(Disconnect),
    /// AUTH (5.0 only).
    Auth(Auth),
}

impl Packet {
    /// The packet's type.
    pub const fn packet_type(&self) -> PacketType {
        match self {
            Packet::Connect(_) => PacketType::Connect,
            Packet::Connack(_) => PacketType::Connack,
            Packet::Publish(_) => PacketType::Publish,
            Packet::Puback(_) => PacketType::Puback,
            Packet::Pubrec(_) => PacketType::Pubrec,
            Packet::Pubrel(_) => PacketType::Pubrel,
            Packet::Pubcomp(_) => PacketType::Pubcomp,
            Packet::Subscribe(_) => PacketType::Subscribe,
            Packet::Suback(_) => PacketType::Suback,
            Packet::Unsubscribe(_) => PacketType::Unsubscribe,
            Packet::Unsuback(_) => PacketType::Unsuback,
            Packet::Pingreq => PacketType::Pingreq,
            Packet::Pingresp => PacketType::Pingresp,
            Packet::Disconnect(_) => PacketType::Disconnect,
            Packet::Auth(_) => PacketType::Auth,
        }
    }
}

/// The will message carried in CONNECT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Will {
    /// Where the will is published.
    pub topic: TopicName,
    /// The will payload.
    #[serde(with = "super::serde_payload")]
    pub payload: Bytes,
    /// The QoS it is published with.
    pub qos: Qos,
    /// Whether it is published retained.
    pub retain: bool,
    /// Will properties (5.0): will delay interval, payload format, message
    /// expiry, content type, response topic, correlation data, user properties.
    #[serde(default, skip_serializing_if = "Properties::is_empty")]
    pub properties: Properties,
}

/// CONNECT: the first packet a client sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connect {
    /// The protocol version the client asks for (from the protocol level byte).
    pub version: Version,
    /// Clean Session (3.1.1) or Clean Start (5.0).
    pub clean_start: bool,
    /// Keep-alive interval; 0 turns keep-alive off.
    pub keep_alive_secs: u16,
    /// CONNECT properties (5.0).
    #[serde(default, skip_serializing_if = "Properties::is_empty")]
    pub properties: Properties,
    /// The client identifier; may be empty.
    pub client_id: String,
    /// The will message, if the Will Flag is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub will: Option<Will>,
    /// The user name, if the User Name Flag is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password, if the Password Flag is set.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "super::serde_opt_payload")]
    pub password: Option<Bytes>,
}

/// CONNACK: the server's answer to CONNECT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Connack {
    /// Session Present.
    pub session_present: bool,
    /// The 3.1.1 return code or the 5.0 reason code.
    pub reason_code: ReasonCode,
    /// CONNACK properties (5.0).
    #[serde(default, skip_serializing_if = "Properties::is_empty")]
    pub properties: Properties,
}

/// PUBLISH: an application message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publish {
    /// DUP: this may be a redelivery.
    pub dup: bool,
    /// QoS and, for QoS 1 and 2, the packet identifier.
    #[serde(flatten)]
    pub qos_pid: QosPid,
    /// RETAIN.
    pub retain: bool,
    /// The topic name; empty only in 5.0 when a topic alias stands for it.
    pub topic: TopicName,
    /// PUBLISH properties (5.0).
    #[serde(default, skip_serializing_if = "Properties::is_empty")]
    pub properties: Properties,
    /// The application payload.
    #[serde(with = "super::serde_payload")]
    pub payload: Bytes,
}

impl Publish {
    /// The QoS level.
    pub const fn qos(&self) -> Qos {
        self.qos_pid.qos()
    }

    /// The packet identifier, for QoS 1 and 2.
    pub const fn packet_id(&self) -> Option<PacketId> {
        self.qos_pid.packet_id()
    }
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share this shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PubResponse {
    /// The identifier of the PUBLISH this answers.
    pub packet_id: PacketId,
    /// The reason code (5.0); `SUCCESS` in 3.1.1.
    #[serde(default, skip_serializing_if = "ReasonCode::is_success")]
    pub reason_code: ReasonCode,
    /// Properties (5.0): reason string, user properties.
    #[serde(default, skip_serializing_if = "Properties::is_empty")]
    pub properties: Properties,
}

impl PubResponse {
    /// A successful response for `packet_id` with no properties.
    pub fn new(packet_id: PacketId) -> PubResponse {
        PubResponse { packet_id, reason_code: ReasonCode::SUCCESS, properties: Properties::default() }
    }
}

/// How retained messages are sent when a subscription is made (5.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(into = "u8", try_from = "u8")]
pub enum RetainHandling {
    /// 0: send retained messages at the time of the subscribe.
    #[default]
    SendAtSubscribe = 0,
    /// 1: send them only if the subscription did not exist before.
    SendIfNew = 1,
    /// 2: do not send them.
    DoNotSend = 2,
}

impl RetainHandling {
    /// The value for the two option bits, or `None` for 3.
    pub const fn from_u8(value: u8) -> Option<RetainHandling> {
        match value {
            0 => Some(RetainHandling::SendAtSubscribe),
            1 => Some(RetainHandling::SendIfNew),
            2 => Some(RetainHandling::DoNotSend),
            _ => None,
        }
    }
}

impl From<RetainHandling> for u8 {
    fn from(value: RetainHandling) -> u8 {
        value as u8
    }
}

impl TryFrom<u8> for RetainHandling {
    type Error = String;
    fn try_from(value: u8) -> Result<RetainHandling, String> {
        RetainHandling::from_u8(value).ok_or_else(|| format!("retain handling {value} does not exist"))
    }
}

/// The options byte of one SUBSCRIBE entry. In 3.1.1 only `qos` exists and
/// the other fields are false / `SendAtSubscribe`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SubscriptionOptions {
    /// Maximum QoS.
    pub qos: Qos,
    /// No Local (5.0): do not send the client its own publications.
    #[serde(default)]
    pub no_local: bool,
    /// Retain As Published (5.0): keep the RETAIN flag when forwarding.
    #[serde(default)]
    pub retain_as_published: bool,
    /// Retain Handling (5.0).
    #[serde(default)]
    pub retain_handling: RetainHandling,
}

impl SubscriptionOptions {
    /// Options with the given maximum QoS and every 5.0 option at its default.
    pub const fn qos(qos: Qos) -> SubscriptionOptions {
        SubscriptionOptions {
            qos,
            no_local: false,
            retain_as_published: false,
            retain_handling: RetainHandling::SendAtSubscribe,
        }
    }
}

/// One topic filter and its options in SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// The filter.
    pub filter: TopicFilter,
    /// Its options.
    #[serde(flatten)]
    pub options: SubscriptionOptions,
}

/// SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// Properties (5.0): subscription identifier, user properties.
    #[serde(default, skip_serializing_if = "Properties::is_empty")]
    pub properties: Properties,
    /// At least one subscription.
    pub subscriptions: Vec<Subscription>,
}

/// SUBACK: one return code (3.1.1) or reason code (5.0) per subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suback {
    /// Packet identifier of the SUBSCRIBE.
    pub packet_id: PacketId,
    /// Properties (5.0): reason string, user properties.
    #[serde(default, skip_serializing_if = "Properties::is_empty")]
    pub properties: Properties,
    /// One code per subscription, in order.
    pub reason_codes: Vec<ReasonCode>,
}

/// UNSUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsubscribe {
    /// Packet identifier.
    pub packet_id: PacketId,
    /// Properties (5.0): user properties.
    #[serde(default, skip_serializing_if = "Properties::is_empty")]
    pub properties: Properties,
    /// At least one filter.
    pub filters: Vec<TopicFilter>,
}

/// UNSUBACK: in 5.0 one reason code per filter; in 3.1.1 no payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsuback {
    /// Packet identifier of the UNSUBSCRIBE.
    pub packet_id: PacketId,
    /// Properties (5.0): reason string, user properties.
    #[serde(default, skip_serializing_if = "Properties::is_empty")]
    pub properties: Properties,
    /// One code per filter (5.0); empty in 3.1.1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reason_codes: Vec<ReasonCode>,
}

/// DISCONNECT. In 3.1.1 it has no content.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Disconnect {
    /// The reason code (5.0); `SUCCESS` (normal disconnection) in 3.1.1.
    #[serde(default, skip_serializing_if = "ReasonCode::is_success")]
    pub reason_code: ReasonCode,
    /// Properties (5.0): session expiry interval, reason string, server reference, user properties.
    #[serde(default, skip_serializing_if = "Properties::is_empty")]
    pub properties: Properties,
}

/// AUTH (5.0): one step of an enhanced authentication exchange.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Auth {
    /// 0x00 success, 0x18 continue authentication, 0x19 re-authenticate.
    #[serde(default, skip_serializing_if = "ReasonCode::is_success")]
    pub reason_code: ReasonCode,
    /// Properties: authentication method and data, reason string, user properties.
    #[serde(default, skip_serializing_if = "Properties::is_empty")]
    pub properties: Properties,
}
