//! The MQTT 3.1.1 and 5.0 wire format.
//!
//! Owns: the fixed header, variable byte integers, strings, binary data,
//! string pairs, properties, every control packet ([`Packet`]), strict
//! decoding ([`decode`]) whose every rejection names the version-qualified
//! statement it breaks, deterministic encoding ([`encode`]), and the raw
//! writer ([`raw`]) for deliberately malformed bytes.
//!
//! Must not touch: clocks, randomness, logging, sockets or session state. The
//! decoder is a pure function of its input: `Ok(None)` means "need more bytes"
//! and is never an error, and no input makes it panic.
//!
//! One set of primitives serves both versions ([`wire`]); only the per-packet
//! modules know where 3.1.1 and 5.0 differ.

mod error;
mod packet;
mod properties;
pub mod raw;
mod reason;
mod serde_bytes;
mod topic;
pub mod wire;

pub use crate::spec::Version;
pub use error::{DecodeError, DecodeErrorKind, EncodeError, NO_LOCAL_ON_SHARED};
pub use packet::{
    Auth, Connack, Connect, Disconnect, Packet, PacketId, PacketType, PubResponse, Publish, Qos, QosPid,
    RetainHandling, Suback, Subscribe, Subscription, SubscriptionOptions, Unsuback, Unsubscribe, Will,
};
pub use properties::{Properties, PropertyContext, PropertyId, PropertyValues};
pub use reason::ReasonCode;
pub use topic::{filter_matches, TopicError, TopicFilter, TopicName};

pub(crate) use serde_bytes::{opt_payload as serde_opt_payload, payload as serde_payload};

/// Limits and context for [`decode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// The version every packet but CONNECT is decoded as. CONNECT carries
    /// its own protocol level and is decoded by it.
    pub version: Version,
    /// The largest whole packet (fixed header included) accepted, in bytes.
    pub max_packet_size: usize,
}

impl DecodeOptions {
    /// The largest packet MQTT can express: 268,435,455 bytes of remaining
    /// length plus a 5-byte fixed header.
    pub const PROTOCOL_MAX_PACKET_SIZE: usize = 268_435_460;

    /// Options for `version` with the protocol's own size limit.
    pub const fn new(version: Version) -> DecodeOptions {
        DecodeOptions { version, max_packet_size: DecodeOptions::PROTOCOL_MAX_PACKET_SIZE }
    }
}

/// Decodes one packet from the front of `buf`.
///
/// Returns `Ok(Some((packet, consumed)))` for a whole valid packet,
/// `Ok(None)` when `buf` holds only part of a packet, and `Err` when the
/// bytes cannot be a valid packet of `options.version`.
pub fn decode(buf: &[u8], options: &DecodeOptions) -> Result<Option<(Packet, usize)>, DecodeError> {
    wire::decode_packet(buf, options)
}

/// The length of the packet at the front of `buf` (fixed header included),
/// as its fixed header announces it: how far to skip past a packet
/// [`decode`] rejected, or one too large to buffer, to reach the next one.
/// `None` when the fixed header is incomplete or its Remaining Length is not
/// a valid variable byte integer. `buf` may hold less than the packet.
pub fn packet_len(buf: &[u8]) -> Option<usize> {
    wire::packet_len(buf)
}

/// Decodes one packet from the front of `buf`, like [`decode`], but shares
/// the PUBLISH payload with `buf` instead of copying it.
pub fn decode_bytes(buf: &bytes::Bytes, options: &DecodeOptions) -> Result<Option<(Packet, usize)>, DecodeError> {
    wire::decode_packet_from(buf, Some(buf), options)
}

/// Appends the encoding of `packet` for `version` to `out`.
pub fn encode(packet: &Packet, version: Version, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    wire::encode_packet(packet, version, out)
}

/// The encoding of `packet` for `version`, as a new buffer.
pub fn encode_to_vec(packet: &Packet, version: Version) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode(packet, version, &mut out)?;
    Ok(out)
}
