//! Per-connection state: the read buffer, the phase (before CONNECT,
//! authenticating, connected), the negotiated version and limits, the
//! keep-alive deadline, and topic alias maps in both directions. None of it
//! survives the connection (MQTT-3.3.2-7: aliases are per connection).

use std::collections::BTreeMap;
use std::time::Duration;

use super::session::Message;
use super::ConnectionId;
use crate::codec::{Connect, TopicName};
use crate::spec::Version;

/// Where a connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for CONNECT.
    AwaitConnect,
    /// CONNECT received with an Authentication Method; AUTH exchange running.
    Authenticating {
        /// The CONNECT being authenticated.
        connect: Box<Connect>,
        /// The method.
        method: String,
        /// The authenticator's state.
        state: Vec<u8>,
    },
    /// CONNACK 0x00 sent.
    Connected,
}

/// A will held for a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WillState {
    /// The message to publish.
    pub message: Message,
    /// Will Delay Interval (5.0), seconds.
    pub delay_secs: u32,
    /// Message Expiry Interval of the will (5.0), counted from its publication.
    pub expiry_secs: Option<u32>,
}

/// One network connection.
#[derive(Debug, Clone)]
pub(crate) struct Connection {
    pub phase: Phase,
    /// Bytes received and not yet decoded.
    pub buf: Vec<u8>,
    /// The version, once CONNECT is decoded.
    pub version: Option<Version>,
    /// The client id, once accepted.
    pub client_id: Option<String>,
    /// The user name from CONNECT.
    pub username: Option<String>,
    /// 1.5 × the keep-alive in force; none when keep-alive is off.
    pub keep_alive_grace: Option<Duration>,
    /// When the connection is closed for silence (keep-alive, or no CONNECT in time).
    pub deadline: Option<Duration>,
    /// Incoming topic aliases (5.0).
    pub aliases_in: BTreeMap<u16, TopicName>,
    /// Outgoing topic aliases (5.0), by topic.
    pub aliases_out: BTreeMap<String, u16>,
    /// The client's Receive Maximum (65,535 when absent).
    pub client_receive_maximum: u16,
    /// The client's Maximum Packet Size, if it set one.
    pub client_max_packet_size: Option<u32>,
    /// The client's Topic Alias Maximum (0 when absent).
    pub client_topic_alias_maximum: u16,
    /// Request Problem Information (default true).
    pub problem_information: bool,
    /// The will, if CONNECT carried one.
    pub will: Option<WillState>,
    /// Whether a CONNACK 0x00 was sent.
    pub connack_sent: bool,
    /// Session Expiry Interval in force (5.0; may be changed by DISCONNECT).
    pub session_expiry_secs: u32,
    /// The authentication method in use (5.0), for re-authentication.
    pub auth_method: Option<String>,
    /// The authenticator's state during a re-authentication (5.0).
    pub reauth_state: Option<Vec<u8>>,
    /// The client id the server assigned (5.0), if the client sent none.
    pub assigned_client_id: Option<String>,
}

impl Connection {
    /// A connection that has just opened.
    pub fn new(_id: ConnectionId) -> Connection {
        Connection {
            phase: Phase::AwaitConnect,
            buf: Vec::new(),
            version: None,
            client_id: None,
            username: None,
            keep_alive_grace: None,
            deadline: None,
            aliases_in: BTreeMap::new(),
            aliases_out: BTreeMap::new(),
            client_receive_maximum: u16::MAX,
            client_max_packet_size: None,
            client_topic_alias_maximum: 0,
            problem_information: true,
            will: None,
            connack_sent: false,
            session_expiry_secs: 0,
            auth_method: None,
            reauth_state: None,
            assigned_client_id: None,
        }
    }

    /// The version to use for this connection (5.0 until CONNECT says otherwise).
    pub fn version(&self) -> Version {
        self.version.unwrap_or(Version::V5)
    }

    /// Whether CONNACK 0x00 was sent and the connection is in use.
    pub fn is_connected(&self) -> bool {
        self.phase == Phase::Connected
    }
}
