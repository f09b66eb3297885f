//! Reason codes (5.0) and return codes (3.1.1), and which packets may carry
//! which code.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::packet::PacketType;
use crate::spec::Version;

/// A one-byte reason code (5.0) or return code (3.1.1 CONNACK and SUBACK).
///
/// The same byte means different things in different packets and versions
/// (0x01 is "granted QoS 1" in SUBACK and "unacceptable protocol version" in a
/// 3.1.1 CONNACK); [`ReasonCode::valid_for`] says whether a code exists for a
/// packet, and [`ReasonCode::name`] names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReasonCode(pub u8);

#[allow(missing_docs)]
impl ReasonCode {
    pub const SUCCESS: ReasonCode = ReasonCode(0x00);
    pub const NORMAL_DISCONNECTION: ReasonCode = ReasonCode(0x00);
    pub const GRANTED_QOS_0: ReasonCode = ReasonCode(0x00);
    pub const GRANTED_QOS_1: ReasonCode = ReasonCode(0x01);
    pub const GRANTED_QOS_2: ReasonCode = ReasonCode(0x02);
    pub const DISCONNECT_WITH_WILL_MESSAGE: ReasonCode = ReasonCode(0x04);
    pub const NO_MATCHING_SUBSCRIBERS: ReasonCode = ReasonCode(0x10);
    pub const NO_SUBSCRIPTION_EXISTED: ReasonCode = ReasonCode(0x11);
    pub const CONTINUE_AUTHENTICATION: ReasonCode = ReasonCode(0x18);
    pub const RE_AUTHENTICATE: ReasonCode = ReasonCode(0x19);
    pub const UNSPECIFIED_ERROR: ReasonCode = ReasonCode(0x80);
    pub const MALFORMED_PACKET: ReasonCode = ReasonCode(0x81);
    pub const PROTOCOL_ERROR: ReasonCode = ReasonCode(0x82);
    pub const IMPLEMENTATION_SPECIFIC_ERROR: ReasonCode = ReasonCode(0x83);
    pub const UNSUPPORTED_PROTOCOL_VERSION: ReasonCode = ReasonCode(0x84);
    pub const CLIENT_IDENTIFIER_NOT_VALID: ReasonCode = ReasonCode(0x85);
    pub const BAD_USER_NAME_OR_PASSWORD: ReasonCode = ReasonCode(0x86);
    pub const NOT_AUTHORIZED: ReasonCode = ReasonCode(0x87);
    pub const SERVER_UNAVAILABLE: ReasonCode = ReasonCode(0x88);
    pub const SERVER_BUSY: ReasonCode = ReasonCode(0x89);
    pub const BANNED: ReasonCode = ReasonCode(0x8A);
    pub const SERVER_SHUTTING_DOWN: ReasonCode = ReasonCode(0x8B);
    pub const BAD_AUTHENTICATION_METHOD: ReasonCode = ReasonCode(0x8C);
    pub const KEEP_ALIVE_TIMEOUT: ReasonCode = ReasonCode(0x8D);
    pub const SESSION_TAKEN_OVER: ReasonCode = ReasonCode(0x8E);
    pub const TOPIC_FILTER_INVALID: ReasonCode = ReasonCode(0x8F);
    pub const TOPIC_NAME_INVALID: ReasonCode = ReasonCode(0x90);
    pub const PACKET_IDENTIFIER_IN_USE: ReasonCode = ReasonCode(0x91);
    pub const PACKET_IDENTIFIER_NOT_FOUND: ReasonCode = ReasonCode(0x92);
    pub const RECEIVE_MAXIMUM_EXCEEDED: ReasonCode = ReasonCode(0x93);
    pub const TOPIC_ALIAS_INVALID: ReasonCode = ReasonCode(0x94);
    pub const PACKET_TOO_LARGE: ReasonCode = ReasonCode(0x95);
    pub const MESSAGE_RATE_TOO_HIGH: ReasonCode = ReasonCode(0x96);
    pub const QUOTA_EXCEEDED: ReasonCode = ReasonCode(0x97);
    pub const ADMINISTRATIVE_ACTION: ReasonCode = ReasonCode(0x98);
    pub const PAYLOAD_FORMAT_INVALID: ReasonCode = ReasonCode(0x99);
    pub const RETAIN_NOT_SUPPORTED: ReasonCode = ReasonCode(0x9A);
    pub const QOS_NOT_SUPPORTED: ReasonCode = ReasonCode(0x9B);
    pub const USE_ANOTHER_SERVER: ReasonCode = ReasonCode(0x9C);
    pub const SERVER_MOVED: ReasonCode = ReasonCode(0x9D);
    pub const SHARED_SUBSCRIPTIONS_NOT_SUPPORTED: ReasonCode = ReasonCode(0x9E);
    pub const CONNECTION_RATE_EXCEEDED: ReasonCode = ReasonCode(0x9F);
    pub const MAXIMUM_CONNECT_TIME: ReasonCode = ReasonCode(0xA0);
    pub const SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED: ReasonCode = ReasonCode(0xA1);
    pub const WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED: ReasonCode = ReasonCode(0xA2);

    /// 3.1.1 CONNACK return codes.
    pub const V3_ACCEPTED: ReasonCode = ReasonCode(0x00);
    pub const V3_UNACCEPTABLE_PROTOCOL_VERSION: ReasonCode = ReasonCode(0x01);
    pub const V3_IDENTIFIER_REJECTED: ReasonCode = ReasonCode(0x02);
    pub const V3_SERVER_UNAVAILABLE: ReasonCode = ReasonCode(0x03);
    pub const V3_BAD_USER_NAME_OR_PASSWORD: ReasonCode = ReasonCode(0x04);
    pub const V3_NOT_AUTHORIZED: ReasonCode = ReasonCode(0x05);
    /// 3.1.1 SUBACK failure return code.
    pub const V3_SUBACK_FAILURE: ReasonCode = ReasonCode(0x80);

    /// Whether this is 0x00.
    pub fn is_success(&self) -> bool {
        self.0 == 0
    }

    /// Whether the code reports an error (0x80 and above).
    pub const fn is_error(self) -> bool {
        self.0 >= 0x80
    }

    /// Whether `packet` of `version` may carry this code.
    pub fn valid_for(self, version: Version, packet: PacketType) -> bool {
        self.name(version, packet).is_some()
    }

    /// The specification's name for this code in `packet` of `version`, or
    /// `None` if the code does not exist there.
    pub fn name(self, version: Version, packet: PacketType) -> Option<&'static str> {
        use PacketType as T;
        let c = self.0;
        if version == Version::V3_1_1 {
            return match (packet, c) {
                (T::Connack, 0) => Some("Connection Accepted"),
                (T::Connack, 1) => Some("Connection Refused, unacceptable protocol version"),
                (T::Connack, 2) => Some("Connection Refused, identifier rejected"),
                (T::Connack, 3) => Some("Connection Refused, Server unavailable"),
                (T::Connack, 4) => Some("Connection Refused, bad user name or password"),
                (T::Connack, 5) => Some("Connection Refused, not authorized"),
                (T::Suback, 0) => Some("Success - Maximum QoS 0"),
                (T::Suback, 1) => Some("Success - Maximum QoS 1"),
                (T::Suback, 2) => Some("Success - Maximum QoS 2"),
                (T::Suback, 0x80) => Some("Failure"),
                (T::Puback | T::Pubrec | T::Pubrel | T::Pubcomp | T::Unsuback | T::Disconnect, 0) => Some("Success"),
                _ => None,
            };
        }
        let allowed: &[u8] = match packet {
            T::Connack => &[
                0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99,
                0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
            ],
            T::Puback | T::Pubrec => &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
            T::Pubrel | T::Pubcomp => &[0x00, 0x92],
            T::Suback => &[0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2],
            T::Unsuback => &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91],
            T::Disconnect => &[
                0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96,
                0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
            ],
            T::Auth => &[0x00, 0x18, 0x19],
            _ => &[],
        };
        if !allowed.contains(&c) {
            return None;
        }
        Some(match (packet, c) {
            (T::Disconnect, 0x00) => "Normal disconnection",
            (T::Suback, 0x00) => "Granted QoS 0",
            (T::Suback, 0x01) => "Granted QoS 1",
            (T::Suback, 0x02) => "Granted QoS 2",
            (_, 0x00) => "Success",
            (_, 0x04) => "Disconnect with Will Message",
            (_, 0x10) => "No matching subscribers",
            (_, 0x11) => "No subscription existed",
            (_, 0x18) => "Continue authentication",
            (_, 0x19) => "Re-authenticate",
            (_, 0x80) => "Unspecified error",
            (_, 0x81) => "Malformed Packet",
            (_, 0x82) => "Protocol Error",
            (_, 0x83) => "Implementation specific error",
            (_, 0x84) => "Unsupported Protocol Version",
            (_, 0x85) => "Client Identifier not valid",
            (_, 0x86) => "Bad User Name or Password",
            (_, 0x87) => "Not authorized",
            (_, 0x88) => "Server unavailable",
            (_, 0x89) => "Server busy",
            (_, 0x8A) => "Banned",
            (_, 0x8B) => "Server shutting down",
            (_, 0x8C) => "Bad authentication method",
            (_, 0x8D) => "Keep Alive timeout",
            (_, 0x8E) => "Session taken over",
            (_, 0x8F) => "Topic Filter invalid",
            (_, 0x90) => "Topic Name invalid",
            (_, 0x91) => "Packet Identifier in use",
            (_, 0x92) => "Packet Identifier not found",
            (_, 0x93) => "Receive Maximum exceeded",
            (_, 0x94) => "Topic Alias invalid",
            (_, 0x95) => "Packet too large",
            (_, 0x96) => "Message rate too high",
            (_, 0x97) => "Quota exceeded",
            (_, 0x98) => "Administrative action",
            (_, 0x99) => "Payload format invalid",
            (_, 0x9A) => "Retain not supported",
            (_, 0x9B) => "QoS not supported",
            (_, 0x9C) => "Use another server",
            (_, 0x9D) => "Server moved",
            (_, 0x9E) => "Shared Subscriptions not supported",
            (_, 0x9F) => "Connection rate exceeded",
            (_, 0xA0) => "Maximum connect time",
            (_, 0xA1) => "Subscription Identifiers not supported",
            (_, 0xA2) => "Wildcard Subscriptions not supported",
            _ => return None,
        })
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:02X}", self.0)
    }
}
