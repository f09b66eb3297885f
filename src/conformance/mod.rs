//! The conformance suite: statement-tagged packet-level scenarios that run
//! unchanged against a real server over TCP (`mqttsim check HOST:PORT`) and
//! against the model broker inside turmoil ([`sim`]).
//!
//! Owns: the [`Connector`] seam (one byte stream per connection), the
//! packet-level test client [`TestConn`], the scenario catalogue
//! ([`scenarios::ALL`]), the capability probe, the concurrent runner
//! ([`run_suite`]) and the per-statement report with its text, JSON and
//! JUnit forms, and the statement table of docs/conformance.md
//! ([`statements`]).
//!
//! Must not touch: the model broker's internals (the suite judges a server
//! only by the bytes it sends, so it cannot inherit the model's bugs).
//!
//! # Shape
//!
//! A scenario is an `async fn(Ctx) -> Result<(), Stop>`. [`Ctx`] gives it
//! unique client ids and a topic prefix for this run (isolation), the
//! version, the server's capabilities, the allowed variations and the time
//! bounds. Every wait is bounded; absence is proven with a marker (a PINGREQ
//! whose PINGRESP must come first) instead of a sleep, except where the
//! spec's timing is the subject (keep-alive).

mod conn;
mod ctx;
mod probe;
mod report;
mod runner;
pub mod scenarios;
pub mod sim;
pub mod statements;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::io;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::codec::Qos;
use crate::spec::StatementId;

pub use conn::{describe, Event, TestConn};
pub use ctx::{ConnectOpts, Ctx};
pub use probe::{probe, probe_limits};
pub use report::{Report, ScenarioResult, StatementResult, StatementStatus};
pub use runner::{run_suite, SuiteOptions};
pub use scenarios::{Requirement, Scenario};

/// A boxed future, as scenarios and connectors return them.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A byte stream to a server: real TCP, turmoil TCP, or anything else.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Opens new connections to the server under test.
pub trait Connector: Send + Sync {
    /// Opens one connection.
    fn connect(&self) -> BoxFuture<'_, io::Result<Box<dyn Stream>>>;
    /// A name for reports, e.g. `127.0.0.1:1883`.
    fn describe(&self) -> String;
}

/// Connects over real TCP (tokio) to `addr` (`HOST:PORT`).
#[derive(Debug, Clone)]
pub struct TcpConnector {
    /// `HOST:PORT`.
    pub addr: String,
}

impl Connector for TcpConnector {
    fn connect(&self) -> BoxFuture<'_, io::Result<Box<dyn Stream>>> {
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect(&self.addr).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream) as Box<dyn Stream>)
        })
    }

    fn describe(&self) -> String {
        self.addr.clone()
    }
}

/// Why a scenario stopped before passing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The server broke a statement.
    Fail(Failure),
    /// The scenario does not apply to this server.
    Skip(String),
    /// The harness could not judge (connection refused, time limit).
    Error(String),
}

/// A statement the server broke, with what was expected and what was seen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The statement broken.
    pub statement: StatementId,
    /// What the statement requires here.
    pub expected: String,
    /// What the server did.
    pub observed: String,
}

/// The outcome of one scenario run for one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Every check held.
    Pass,
    /// A statement was broken.
    Fail(Failure),
    /// Not run, with the reason (a missing capability, a profile choice).
    Skipped {
        /// Why.
        reason: String,
    },
    /// The harness could not judge.
    Error {
        /// What went wrong.
        message: String,
    },
}

/// What the server supports, from the probe and the profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// A 3.1.1 CONNECT is accepted.
    pub v3_1_1: bool,
    /// A 5.0 CONNECT is accepted.
    pub v5: bool,
    /// Maximum QoS (5.0 CONNACK; 2 when absent).
    pub maximum_qos: Qos,
    /// Retained messages supported.
    pub retain_available: bool,
    /// Wildcard subscriptions supported.
    pub wildcard_subscription_available: bool,
    /// Subscription identifiers supported.
    pub subscription_identifier_available: bool,
    /// Shared subscriptions supported.
    pub shared_subscription_available: bool,
    /// Topic Alias Maximum the server accepts (0: none).
    pub topic_alias_maximum: u16,
    /// The server's Receive Maximum (65,535 when absent).
    pub receive_maximum: u16,
    /// The largest packet the server accepts, if it says.
    pub maximum_packet_size: Option<u32>,
    /// The keep-alive the server imposes, if it says.
    pub server_keep_alive_secs: Option<u16>,
    /// An enhanced authentication method the server supports (5.0), as a
    /// profile declares it; the probe cannot find one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_method: Option<String>,
    /// Limits the probe measured (none when not probed).
    #[serde(default)]
    pub limits: Limits,
}

/// Limits found by the probe before the scenarios, by a ladder then a
/// binary search of accepted and refused attempts (each a new connection).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// The longest topic name (bytes) a QoS 1 PUBLISH was accepted with.
    pub maximum_topic_length: Option<u32>,
    /// The largest payload (bytes) a QoS 1 PUBLISH was accepted with, up
    /// to the probe's ceiling.
    pub maximum_payload_bytes: Option<u32>,
    /// Whether `maximum_payload_bytes` is only the probe's ceiling (the
    /// server accepted that too).
    pub payload_at_ceiling: bool,
    /// The longest client id (bytes) a CONNECT was accepted with.
    pub maximum_client_id_length: Option<u32>,
    /// The characters beyond `[0-9a-zA-Z]` tried in a client id and
    /// accepted (in the order tried).
    pub client_id_extra_characters_accepted: Option<String>,
    /// The characters tried and refused.
    pub client_id_extra_characters_refused: Option<String>,
}

impl Default for Capabilities {
    fn default() -> Capabilities {
        Capabilities {
            v3_1_1: true,
            v5: true,
            maximum_qos: Qos::ExactlyOnce,
            retain_available: true,
            wildcard_subscription_available: true,
            subscription_identifier_available: true,
            shared_subscription_available: true,
            topic_alias_maximum: 0,
            receive_maximum: u16::MAX,
            maximum_packet_size: None,
            server_keep_alive_secs: None,
            authentication_method: None,
            limits: Limits::default(),
        }
    }
}

/// The allowed variations, as a profile may pin them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Variations {
    /// QoS 2: `on_publish`, `on_pubrel` or `either` (forwarded on the
    /// incoming PUBLISH or only after PUBREL).
    pub qos2_forward: Option<String>,
    /// Overlapping subscriptions: `single`, `per_subscription` or `either`
    /// (one copy at the highest QoS, or one copy per matching subscription).
    pub overlap: Option<String>,
}

/// A profile file (`--profile FILE`, TOML): declared capabilities override
/// the probed ones; variations pin the allowed behaviours; `skip` names
/// scenarios not to run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    /// Declared capabilities (each optional).
    pub capabilities: DeclaredCapabilities,
    /// Allowed variations.
    pub variations: Variations,
    /// Scenario names (or `VERSION/name`) to skip, with the profile as the reason.
    pub skip: Vec<String>,
}

impl Profile {
    /// Parses a profile from TOML.
    pub fn from_toml_str(text: &str) -> Result<Profile, toml::de::Error> {
        toml::from_str(text)
    }

    /// Checks the variation values: `qos2_forward` is `on_publish`,
    /// `on_pubrel` or `either`; `overlap` is `single`, `per_subscription` or
    /// `either`.
    pub fn validate(&self) -> Result<(), String> {
        let check = |name: &str, value: &Option<String>, allowed: &[&str]| match value {
            Some(v) if !allowed.contains(&v.as_str()) => {
                Err(format!("variations.{name} = {v:?}: use one of {}", allowed.join(", ")))
            }
            _ => Ok(()),
        };
        check("qos2_forward", &self.variations.qos2_forward, &["on_publish", "on_pubrel", "either"])?;
        check("overlap", &self.variations.overlap, &["single", "per_subscription", "either"])
    }
}

/// Capabilities a profile declares; absent fields keep the probed value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[allow(missing_docs)]
pub struct DeclaredCapabilities {
    pub v3_1_1: Option<bool>,
    pub v5: Option<bool>,
    pub maximum_qos: Option<u8>,
    pub retain_available: Option<bool>,
    pub wildcard_subscription_available: Option<bool>,
    pub subscription_identifier_available: Option<bool>,
    pub shared_subscription_available: Option<bool>,
    pub topic_alias_maximum: Option<u16>,
    pub authentication_method: Option<String>,
}

impl DeclaredCapabilities {
    /// `probed` with every declared field replacing the probed one.
    pub fn apply(&self, probed: &Capabilities) -> Capabilities {
        let mut c = probed.clone();
        if let Some(v) = self.v3_1_1 {
            c.v3_1_1 = v;
        }
        if let Some(v) = self.v5 {
            c.v5 = v;
        }
        if let Some(q) = self.maximum_qos.and_then(Qos::from_u8) {
            c.maximum_qos = q;
        }
        if let Some(v) = self.retain_available {
            c.retain_available = v;
        }
        if let Some(v) = self.wildcard_subscription_available {
            c.wildcard_subscription_available = v;
        }
        if let Some(v) = self.subscription_identifier_available {
            c.subscription_identifier_available = v;
        }
        if let Some(v) = self.shared_subscription_available {
            c.shared_subscription_available = v;
        }
        if let Some(v) = self.topic_alias_maximum {
            c.topic_alias_maximum = v;
        }
        if let Some(m) = &self.authentication_method {
            c.authentication_method = Some(m.clone());
        }
        c
    }
}
