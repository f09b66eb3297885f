//! [`ClientConfig`]: what a scripted model client sends in CONNECT and the
//! limits it keeps on its own side.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::codec::Will;
use crate::spec::Version;

/// Everything a [`super::ModelClient`] needs to connect. The same values are
/// used on every (re)connection; change them through
/// [`super::ModelClient::config_mut`] between connections.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// The client identifier; empty lets a 5.0 server assign one.
    pub client_id: String,
    /// The protocol version spoken on every connection.
    pub version: Version,
    /// Clean Session (3.1.1) or Clean Start (5.0).
    #[serde(default = "default_clean_start")]
    pub clean_start: bool,
    /// Keep Alive sent in CONNECT, in seconds; 0 turns keep-alive off.
    #[serde(default = "default_keep_alive_secs")]
    pub keep_alive_secs: u16,
    /// Session Expiry Interval (5.0) sent in CONNECT; absent means 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_expiry_interval_secs: Option<u32>,
    /// The will message carried in CONNECT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub will: Option<Will>,
    /// The user name carried in CONNECT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password carried in CONNECT (sent only with a user name).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::codec::serde_opt_payload")]
    pub password: Option<Bytes>,
    /// Receive Maximum (5.0) sent in CONNECT: incoming QoS 2 messages we keep
    /// unreleased at once. Absent means 65,535.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive_maximum: Option<u16>,
    /// Topic Alias Maximum (5.0) sent in CONNECT: the highest alias we accept
    /// on incoming PUBLISH. Absent means 0 (no aliases).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_alias_maximum: Option<u16>,
    /// Our own send window: outgoing QoS 1/2 PUBLISH in flight at once. The
    /// window is min(this, the server's Receive Maximum); 0 counts as 1.
    #[serde(default = "default_max_inflight")]
    pub max_inflight: u16,
}

fn default_clean_start() -> bool {
    true
}

fn default_keep_alive_secs() -> u16 {
    60
}

fn default_max_inflight() -> u16 {
    32
}

impl ClientConfig {
    /// A clean-start client with a 60 s keep-alive, no will, no credentials,
    /// no 5.0 properties and a send window of 32.
    pub fn new(client_id: impl Into<String>, version: Version) -> ClientConfig {
        ClientConfig {
            client_id: client_id.into(),
            version,
            clean_start: default_clean_start(),
            keep_alive_secs: default_keep_alive_secs(),
            session_expiry_interval_secs: None,
            will: None,
            username: None,
            password: None,
            receive_maximum: None,
            topic_alias_maximum: None,
            max_inflight: default_max_inflight(),
        }
    }

    /// Whether session state outlives a connection: Clean Session 0 in
    /// 3.1.1; Clean Start 0 and a non-zero Session Expiry Interval in 5.0.
    pub fn is_persistent(&self) -> bool {
        !self.clean_start
            && match self.version {
                Version::V3_1_1 => true,
                Version::V5 => self.session_expiry_interval_secs.unwrap_or(0) > 0,
            }
    }

    /// The send window before the server's Receive Maximum is known.
    pub(crate) fn own_window(&self) -> u16 {
        self.max_inflight.max(1)
    }
}
