//! The test server for MQTT client libraries: the model broker wrapped in
//! [`TestServer`], which misbehaves exactly when and how a test asks, dumps
//! every packet as JSON lines, counts, and checks the client against the
//! client-side statements of MQTT 3.1.1 and 5.0.
//!
//! Owns: behaviours as data ([`Behaviour`], per connection, TOML), the
//! sans-IO [`TestServer`] (a [`Server`](crate::model::Server) wrapping a
//! [`Broker`](crate::model::Broker)), the client checker ([`Observer`]), the
//! dump and stats ([`DumpRecord`], [`Stats`]), and the runtime edge
//! ([`run`], [`spawn`], and [`SimTestServer`] as the broker host of a
//! turmoil run) with control commands and the event stream.
//!
//! Must not touch: the broker's internals (it only sees its bytes), and,
//! outside `runtime` and `simulation`, tokio, clocks or unseeded randomness: time comes in as
//! `now`, the random packet-id strategy uses a generator seeded from
//! [`TestServerConfig::seed`].
//!
//! # Shape
//!
//! ```text
//! client bytes ─► frame ─► decode ─► observer, dump ─► behaviours (close, silence, reject, id map back) ─► Broker
//! client ◄─ Output ◄─ behaviours (delay, drop, rewrite ids, CONNACK overrides, close, inject) ◄─ frame ◄─ Broker outputs
//! ```

mod config;
mod dump;
mod observer;
mod runtime;
mod server;
mod simulation;
#[cfg(test)]
mod tests;

pub use config::{
    glob_matches, AcceptedCredential, BadFlow, Behaviour, Injection, PacketIdStrategy, TestServerConfig, DEFAULT_ACKS,
};
pub use dump::{hex, packet_json, Direction, DumpRecord, Stats};
pub use observer::{ClientReport, CoveredStatement, Observer, StatementCounts, Violation};
pub use runtime::{run, spawn, Control, DumpTarget, Finished, FinishedSlot, RunOptions, TestServerHandle};
pub use server::{TestEvent, TestServer};
pub use simulation::SimTestServer;

/// Splits a serve configuration file into the broker's part and the test
/// server's part: `[[behaviour]]` tables and a `[testserver]` table go to
/// the test server, everything else to the broker.
pub fn split_config(text: &str) -> Result<(crate::model::BrokerConfig, TestServerConfig), String> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| e.to_string())?;
    let behaviour = table.remove("behaviour");
    let mut server = match table.remove("testserver") {
        Some(toml::Value::Table(t)) => t,
        Some(_) => return Err("`testserver` must be a table".into()),
        None => toml::Table::new(),
    };
    if let Some(b) = behaviour {
        server.insert("behaviour".into(), b);
    }
    let broker: crate::model::BrokerConfig =
        toml::Value::Table(table).try_into().map_err(|e: toml::de::Error| format!("broker: {e}"))?;
    let server: TestServerConfig =
        toml::Value::Table(server).try_into().map_err(|e: toml::de::Error| format!("test server: {e}"))?;
    Ok((broker, server))
}
