//! The reference ("model") broker: complete MQTT 3.1.1 and 5.0 server
//! behaviour as a sans-IO state machine, the test oracle every later part
//! trusts.
//!
//! Owns: sessions, subscriptions, retained messages, wills, inflight windows,
//! keep-alive deadlines, flow control, topic aliases, expiry, access rules,
//! `$SYS` statistics, and the citation of every normative statement it
//! checks or fulfils.
//!
//! Must not touch: tokio, turmoil, sockets, `rand`, `Instant::now`,
//! `SystemTime`, or `HashMap` iteration. Time comes in as `now` (a
//! [`Duration`] since an origin the driver picks); bytes come in through
//! `handle_*` and go out through [`Server::poll_output`].

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::spec::StatementId;

mod auth;
mod broker;
pub mod client;
mod config;
mod connect;
mod connection;
mod defects;
mod publish;
mod retained;
mod router;
mod session;
mod subscribe;
mod sys;
#[cfg(test)]
mod tests;

pub use auth::{AuthStep, Authenticator, ChallengeResponse};
pub use broker::Broker;
pub use client::{ClientConfig, ClientEvent, ClientOutput, ModelClient};
pub use config::{BrokerConfig, Credential, DenyAction, DenyRule, OverlapPolicy, Qos2Forward};
pub use defects::Defects;
pub use retained::Retained;
pub use session::{Delivery, Inflight, InflightState, Message, Session, SubscriptionEntry, NEVER_EXPIRES};
pub use sys::Stats;

/// A network connection, numbered by the driver. Never reused within a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConnectionId(pub u64);

impl std::fmt::Display for ConnectionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// Whether a citation records a check of the peer or our own obligation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiteKind {
    /// We checked the peer against the statement and it complied.
    Checked,
    /// We checked the peer and it broke the statement.
    Violated,
    /// We fulfilled an obligation the statement puts on us.
    Fulfilled,
}

/// One statement cited at a decision point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Citation {
    /// The statement, version-qualified.
    pub statement: StatementId,
    /// Checked, violated or fulfilled.
    pub kind: CiteKind,
    /// The connection the decision concerned, if any.
    pub conn: Option<ConnectionId>,
}

/// What a sans-IO server asks its driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write these bytes to the connection, in order.
    Transmit {
        /// The connection.
        conn: ConnectionId,
        /// Encoded packets (possibly several).
        bytes: Vec<u8>,
    },
    /// Close the connection after everything queued for it was written.
    Close {
        /// The connection.
        conn: ConnectionId,
    },
    /// A statement was cited (for coverage and the trace).
    Cite(Citation),
}

/// A sans-IO MQTT server driven by an IO driver (real TCP or simulated).
///
/// The driver calls `handle_*` as things happen, then drains
/// [`Server::poll_output`] until it returns `None`, and sleeps until
/// [`Server::poll_timeout`] (calling [`Server::handle_timeout`] then).
pub trait Server {
    /// A client opened a connection.
    fn handle_connection_opened(&mut self, now: Duration, conn: ConnectionId);
    /// Bytes arrived on a connection (any split: partial packets are buffered).
    fn handle_bytes(&mut self, now: Duration, conn: ConnectionId, bytes: &[u8]);
    /// The connection was closed by the peer or the network.
    fn handle_connection_closed(&mut self, now: Duration, conn: ConnectionId);
    /// Time passed; deadlines at or before `now` fire.
    fn handle_timeout(&mut self, now: Duration);
    /// The next thing for the driver to do, if any.
    fn poll_output(&mut self) -> Option<Output>;
    /// The earliest deadline, if any.
    fn poll_timeout(&self) -> Option<Duration>;
}
