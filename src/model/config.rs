//! [`BrokerConfig`]: every option of the model broker in one serde struct,
//! loadable from TOML. Every field has a default, so an empty file is a
//! complete configuration.

use serde::{Deserialize, Serialize};

use super::defects::Defects;
use crate::codec::{Qos, TopicFilter, TopicName};

/// When an incoming QoS 2 message is forwarded to subscribers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Qos2Forward {
    /// Forward as soon as the PUBLISH arrives (spec method A: store and forward at once).
    #[default]
    OnPublish,
    /// Forward only when the PUBREL arrives.
    OnPubrel,
}

/// How a message matching several subscriptions of one session is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverlapPolicy {
    /// One copy at the highest granted QoS, carrying every subscription identifier.
    #[default]
    SingleMaxQos,
    /// One copy per matching subscription.
    PerSubscription,
}

/// What a deny rule forbids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenyAction {
    /// Publishing to topics matching the filter.
    Publish,
    /// Subscribing with a filter that can match a topic of the rule's filter.
    Subscribe,
    /// Both.
    Both,
}

/// A deny rule: `action` on `filter` is refused, optionally only for one user name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DenyRule {
    /// What is refused.
    pub action: DenyAction,
    /// The topic filter the rule covers (wildcards allowed).
    pub filter: String,
    /// Only for this user name; every client when absent.
    #[serde(default)]
    pub username: Option<String>,
}

/// A user name and password pair the broker accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    /// The user name.
    pub username: String,
    /// The password (UTF-8 for convenience in TOML).
    pub password: String,
}

/// Every option of the model broker. See the field docs for defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrokerConfig {
    /// Simultaneous network connections; beyond it CONNECT is refused
    /// (5.0 0x89 Server busy, 3.1.1 0x03 Server unavailable). Default 10,000.
    pub max_connections: usize,
    /// Sessions kept, online and offline together; a CONNECT that would
    /// create one more is refused (5.0 0x97 Quota exceeded, 3.1.1 0x03 Server
    /// unavailable), so persistent sessions cannot grow without bound.
    /// Default 100,000.
    pub max_sessions: usize,
    /// Our own cap on outgoing QoS 1/2 messages in flight per session;
    /// the window is min(this, the client's Receive Maximum). Default 32.
    pub max_inflight: u16,
    /// Messages queued per session beyond the inflight window (also while
    /// offline). When full, QoS 0 messages are dropped first, then new ones
    /// are refused. Default 1,000.
    pub max_queued_messages_per_session: usize,
    /// Retained messages kept; a new topic beyond it is not retained. Default 10,000.
    pub max_retained_messages: usize,
    /// The largest packet we accept, in bytes (5.0 Maximum Packet Size). Default 1 MiB.
    pub max_packet_size: u32,
    /// Our Receive Maximum: incoming QoS 2 messages a 5.0 client may have
    /// unreleased. Default 64.
    pub receive_maximum: u16,
    /// Maximum QoS granted and accepted (0, 1 or 2). Default 2.
    pub maximum_qos: Qos,
    /// Retained messages supported. Default true.
    pub retain_available: bool,
    /// Wildcard subscriptions supported. Default true.
    pub wildcard_subscription_available: bool,
    /// Subscription identifiers supported. Default true.
    pub subscription_identifier_available: bool,
    /// Shared subscriptions supported. Default true.
    pub shared_subscription_available: bool,
    /// Topic Alias Maximum we accept from clients (0 = none). Default 16.
    pub topic_alias_maximum: u16,
    /// Whether we assign topic aliases on PUBLISH to 5.0 clients that allow them. Default false.
    pub outgoing_topic_aliases: bool,
    /// Server Keep Alive override sent in CONNACK (5.0) and enforced for
    /// every client; `None` keeps the client's value. Default none.
    pub server_keep_alive_secs: Option<u16>,
    /// Longest session expiry we honour, in seconds. Default none (no cap).
    pub max_session_expiry_secs: Option<u32>,
    /// When QoS 2 messages are forwarded. Default `on_publish`.
    pub qos2_forward: Qos2Forward,
    /// Overlapping subscription policy. Default `single_max_qos`.
    pub overlap: OverlapPolicy,
    /// Accept zero-length client ids (3.1.1 with clean session, 5.0 assigned). Default true.
    pub allow_empty_client_id: bool,
    /// Refuse client ids that are not 1 to 23 characters of `[0-9a-zA-Z]`
    /// (identifier rejected: 3.1.1 0x02, 5.0 0x85). Default false.
    pub strict_client_id: bool,
    /// Client id prefixes that are refused (identifier rejected). Default none.
    pub denied_client_id_prefixes: Vec<String>,
    /// Whether a CONNECT without a user name is accepted. Default true.
    pub allow_anonymous: bool,
    /// Accepted user names and passwords. A CONNECT with a user name must
    /// match one of them when the list is not empty.
    pub credentials: Vec<Credential>,
    /// Publish and subscribe deny rules.
    pub deny: Vec<DenyRule>,
    /// `$SYS` statistics interval in seconds; 0 disables them. Default 10.
    pub sys_interval_secs: u32,
    /// Response Information sent in CONNACK to a 5.0 client that asks for it;
    /// none means the server sends none. Default `response/`.
    pub response_information: Option<String>,
    /// Seconds a new connection may take to send CONNECT; 0 waits forever. Default 30.
    pub connect_timeout_secs: u32,
    /// Whether statement citations are emitted as outputs. Default true.
    pub citations: bool,
    /// Secret of the built-in `MQTTSIM-CHALLENGE` enhanced authentication
    /// method; the method is offered only when this is set. Default none.
    pub challenge_secret: Option<String>,
    /// Deliberate defects for proving that tests can fail; never on by
    /// default (see [`Defects`]).
    #[serde(skip_serializing_if = "Defects::is_none")]
    pub defects: Defects,
}

impl Default for BrokerConfig {
    fn default() -> BrokerConfig {
        BrokerConfig {
            max_connections: 10_000,
            max_sessions: 100_000,
            max_inflight: 32,
            max_queued_messages_per_session: 1_000,
            max_retained_messages: 10_000,
            max_packet_size: 1 << 20,
            receive_maximum: 64,
            maximum_qos: Qos::ExactlyOnce,
            retain_available: true,
            wildcard_subscription_available: true,
            subscription_identifier_available: true,
            shared_subscription_available: true,
            topic_alias_maximum: 16,
            outgoing_topic_aliases: false,
            server_keep_alive_secs: None,
            max_session_expiry_secs: None,
            qos2_forward: Qos2Forward::OnPublish,
            overlap: OverlapPolicy::SingleMaxQos,
            allow_empty_client_id: true,
            strict_client_id: false,
            denied_client_id_prefixes: Vec::new(),
            allow_anonymous: true,
            credentials: Vec::new(),
            deny: Vec::new(),
            sys_interval_secs: 10,
            response_information: Some("response/".to_string()),
            connect_timeout_secs: 30,
            citations: true,
            challenge_secret: None,
            defects: Defects::NONE,
        }
    }
}

impl BrokerConfig {
    /// Parses a TOML document; missing fields take their defaults.
    pub fn from_toml_str(text: &str) -> Result<BrokerConfig, toml::de::Error> {
        toml::from_str(text)
    }

    /// Renders the configuration as TOML.
    pub fn to_toml_string(&self) -> String {
        toml::to_string(self).expect("BrokerConfig always serializes")
    }

    /// Whether `username` may publish to `topic`.
    pub fn may_publish(&self, username: Option<&str>, topic: &TopicName) -> bool {
        !self.deny.iter().any(|rule| {
            matches!(rule.action, DenyAction::Publish | DenyAction::Both)
                && rule_applies(rule, username)
                && TopicFilter::new(rule.filter.clone()).is_ok_and(|f| f.matches(topic))
        })
    }

    /// Whether `username` may subscribe with `filter` (the filter's matching
    /// part overlapping a denied filter is refused).
    pub fn may_subscribe(&self, username: Option<&str>, filter: &TopicFilter) -> bool {
        !self.deny.iter().any(|rule| {
            matches!(rule.action, DenyAction::Subscribe | DenyAction::Both)
                && rule_applies(rule, username)
                && filters_overlap(&rule.filter, filter.matching_part())
        })
    }
}

fn rule_applies(rule: &DenyRule, username: Option<&str>) -> bool {
    rule.username.as_deref().is_none_or(|u| Some(u) == username)
}

/// Whether some topic name could match both filters.
fn filters_overlap(a: &str, b: &str) -> bool {
    let mut a = a.split('/');
    let mut b = b.split('/');
    loop {
        match (a.next(), b.next()) {
            (Some("#"), _) | (_, Some("#")) => return true,
            (None, None) => return true,
            (Some(x), Some(y)) if x == "+" || y == "+" || x == y => {}
            _ => return false,
        }
    }
}
