//! [`TestServerConfig`] and [`Behaviour`]: what the test server does on
//! purpose, as data (serde, TOML), per connection.

use serde::{Deserialize, Serialize};

use crate::codec::PacketType;

/// How server-sent PUBLISH packets get their packet identifiers on the wire.
/// The broker keeps its own ids; the test server rewrites them on the way out
/// and maps the client's acknowledgements back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PacketIdStrategy {
    /// Keep the broker's ids unchanged.
    #[default]
    Broker,
    /// 1, 2, 3, ... skipping ids still in use, wrapping after 65535.
    Sequential,
    /// A random free id from the seeded generator.
    Random,
    /// The lowest free id: an id is reused as soon as the protocol allows.
    Reuse,
    /// Start at 65535, then wrap to 1 and go on sequentially.
    MaxThenWrap,
}

/// A deliberately wrong packet flow the server injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BadFlow {
    /// A PUBACK for a packet id the client never used.
    SpuriousAck,
    /// The next acknowledgement the server sends goes out twice.
    DuplicateAck,
    /// A PUBREL for a packet id with no QoS 2 flow.
    UnexpectedPubrel,
    /// Two QoS 1 PUBLISH packets with the same packet id, the first still unacknowledged.
    PublishIdInUse,
    /// A QoS 2 PUBLISH on a topic the client subscribed to with a lower granted QoS.
    QosAboveGranted,
    /// A packet a server never sends (CONNECT).
    WrongPacketType,
    /// A PUBLISH with both QoS bits set (QoS 3), written with the raw writer.
    Malformed,
}

/// One injection: `flow` is sent right after the server sent `after_sent`
/// (or, with `after_received`, right after the client's packet of that type
/// arrived). The first match per connection triggers it, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Injection {
    /// What to send.
    pub flow: BadFlow,
    /// Trigger: after the server sent a packet of this type. Default CONNACK
    /// (when `after_received` is not set either).
    #[serde(default)]
    pub after_sent: Option<PacketType>,
    /// Trigger: after the client's packet of this type arrived.
    #[serde(default)]
    pub after_received: Option<PacketType>,
}

/// A user name and password the server accepts when `credentials` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcceptedCredential {
    /// The user name.
    pub username: String,
    /// The password (UTF-8).
    pub password: String,
}

/// The behaviour of the connections `connections` selects. Every field is
/// optional; when several behaviours select a connection, each field comes
/// from the last behaviour that sets it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Behaviour {
    /// Which connections, counted from 1 in accept order: `"*"` (all, the
    /// default), `"3"`, `"2.."` or `"1..3"` (inclusive).
    pub connections: Option<String>,
    /// Shorthand for `connections = "N"`.
    pub connection: Option<u64>,
    /// The acknowledgement types `delay_acks_ms` and `never_ack` act on.
    /// Default: CONNACK, PUBACK, PUBREC, PUBCOMP, SUBACK, UNSUBACK.
    pub acks: Option<Vec<PacketType>>,
    /// Hold every acknowledgement this long before sending it.
    pub delay_acks_ms: Option<u64>,
    /// Never send acknowledgements (they are swallowed).
    pub never_ack: Option<bool>,
    /// Resend an unacknowledged server PUBLISH (DUP set) after this long.
    pub resend_after_ms: Option<u64>,
    /// Close after this many packets were received from the client.
    pub close_after_packets: Option<u64>,
    /// Close right after the client's packet of this type arrived (it still
    /// reaches the broker; the server's answers to it are not sent).
    pub close_after_received: Option<PacketType>,
    /// Close right after the server sent a packet of this type.
    pub close_after_sent: Option<PacketType>,
    /// Close instead of sending a packet of this type.
    pub close_before_sent: Option<PacketType>,
    /// Close this long after the connection opened.
    pub close_after_ms: Option<u64>,
    /// Go silent (read and write nothing, socket open) this long after the
    /// connection opened.
    pub silent_after_ms: Option<u64>,
    /// Go silent right after the client's packet of this type arrived.
    pub silent_after_received: Option<PacketType>,
    /// How long silence lasts; for good when absent.
    pub silent_for_ms: Option<u64>,
    /// Refuse client ids matching any of these patterns (`*` matches any run of characters).
    pub reject_client_ids: Option<Vec<String>>,
    /// Accept only these user names and passwords (others are refused with
    /// "bad user name or password").
    pub credentials: Option<Vec<AcceptedCredential>>,
    /// Refuse every CONNECT with this CONNACK code (3.1.1 return code or 5.0 reason code).
    pub connack_code: Option<u8>,
    /// The code for `reject_client_ids` and `credentials` refusals, instead
    /// of the standard one.
    pub reject_code: Option<u8>,
    /// Session Expiry Interval to announce in CONNACK (5.0).
    pub session_expiry_secs: Option<u32>,
    /// Assigned Client Identifier to announce in CONNACK (5.0).
    pub assigned_client_id: Option<String>,
    /// Server Keep Alive to announce in CONNACK (5.0).
    pub server_keep_alive_secs: Option<u16>,
    /// Packet identifier strategy for server-sent PUBLISH.
    pub packet_ids: Option<PacketIdStrategy>,
    /// Bad flows to inject.
    pub inject: Option<Vec<Injection>>,
}

/// The whole test-server configuration: behaviours, limits, seed.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TestServerConfig {
    /// Seed of the random packet id strategy.
    pub seed: u64,
    /// Stop once this many connections were accepted and all closed again.
    pub stop_after_connections: Option<u64>,
    /// Stop after this long (the runtime enforces it).
    pub max_runtime_ms: Option<u64>,
    /// Tolerance on the client keep-alive check. Default 500 ms.
    pub keep_alive_grace_ms: Option<u64>,
    /// The behaviours, in order.
    pub behaviour: Vec<Behaviour>,
}

/// Default acknowledgement set for delays and `never_ack`.
pub const DEFAULT_ACKS: [PacketType; 6] = [
    PacketType::Connack,
    PacketType::Puback,
    PacketType::Pubrec,
    PacketType::Pubcomp,
    PacketType::Suback,
    PacketType::Unsuback,
];

impl Behaviour {
    /// Whether this behaviour applies to the `ordinal`-th connection (from 1).
    pub fn selects(&self, ordinal: u64) -> bool {
        if let Some(n) = self.connection {
            return n == ordinal;
        }
        match self.connections.as_deref().map(str::trim) {
            None | Some("*") | Some("") => true,
            Some(text) => match text.split_once("..") {
                None => text.parse::<u64>().is_ok_and(|n| n == ordinal),
                Some((low, high)) => {
                    let low = if low.is_empty() { 1 } else { low.parse().unwrap_or(u64::MAX) };
                    let high = if high.is_empty() { u64::MAX } else { high.parse().unwrap_or(0) };
                    (low..=high).contains(&ordinal)
                }
            },
        }
    }

    /// `self` with every field `over` sets replaced by `over`'s value.
    pub fn merged(mut self, over: &Behaviour) -> Behaviour {
        macro_rules! take {
            ($($field:ident),*) => { $( if over.$field.is_some() { self.$field = over.$field.clone(); } )* };
        }
        take!(
            acks,
            delay_acks_ms,
            never_ack,
            resend_after_ms,
            close_after_packets,
            close_after_received,
            close_after_sent,
            close_before_sent,
            close_after_ms,
            silent_after_ms,
            silent_after_received,
            silent_for_ms,
            reject_client_ids,
            credentials,
            connack_code,
            reject_code,
            session_expiry_secs,
            assigned_client_id,
            server_keep_alive_secs,
            packet_ids,
            inject
        );
        self
    }

    /// Whether `packet_type` is one of the acknowledgements this behaviour acts on.
    pub fn is_ack(&self, packet_type: PacketType) -> bool {
        match &self.acks {
            Some(list) => list.contains(&packet_type),
            None => DEFAULT_ACKS.contains(&packet_type),
        }
    }
}

impl TestServerConfig {
    /// Parses a TOML document holding test-server keys only.
    pub fn from_toml_str(text: &str) -> Result<TestServerConfig, toml::de::Error> {
        toml::from_str(text)
    }

    /// The effective behaviour of the `ordinal`-th connection (from 1).
    pub fn behaviour_for(&self, ordinal: u64) -> Behaviour {
        self.behaviour.iter().filter(|b| b.selects(ordinal)).fold(Behaviour::default(), |acc, b| acc.merged(b))
    }
}

/// Whether `text` matches `pattern`, where `*` matches any run of characters.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else { return false };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(at) => rest = &rest[at + part.len()..],
                None => return false,
            }
        }
    }
    true
}
