//! The IO driver: runs a sans-IO [`Server`](crate::model::Server) over
//! byte-stream connections, real (tokio TCP) or simulated (turmoil TCP).
//!
//! Owns: the only code that names tokio or turmoil sockets; the
//! [`Listener`] seam; the generic loop [`run`] (accept, read →
//! `handle_bytes`, drain `poll_output`, sleep until `poll_timeout`) and
//! [`run_controlled`] (the same with a command input woken on arrival); the
//! per-connection reader and writer tasks; every bound on queues and buffers.
//!
//! Must not touch: protocol decisions. The driver moves bytes, closes
//! connections when asked and hands citations to the caller; it never looks
//! inside the bytes.
//!
//! # Shape
//!
//! One task (the caller's) owns the server: servers are not `Sync`, and one
//! owner keeps every decision in one order. Each connection gets a reader
//! task and a writer task; they talk to the owner over bounded channels:
//!
//! ```text
//!  socket ─► reader ─► events (bounded, shared) ─► owner: handle_bytes / handle_connection_closed
//!  socket ◄─ writer ◄─ writes (bounded, per connection) ◄─ owner: Output::Transmit / Output::Close
//! ```
//!
//! `now` is the time since [`run`] started, on tokio's clock, so a paused
//! clock (tests) and turmoil's simulated clock both work unchanged. Every
//! `select!` is `biased;` so the order of handling does not depend on
//! tokio's RNG.

mod connection;
mod driver;
mod listener;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use driver::{run, run_controlled, DriverStats, Stopped};
pub use listener::{Listener, NoDelayListener};

/// The bounds of one driver. Every queue and buffer has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverConfig {
    /// Open connections at most; beyond it the driver stops accepting until
    /// one closes (the kernel's backlog holds the rest). Default 10,000.
    pub max_connections: usize,
    /// The largest chunk one read hands to the server, in bytes. Default 64 KiB.
    pub read_chunk_max_bytes: usize,
    /// Reader-to-owner messages in flight across all connections; a full
    /// queue pauses reading (backpressure to the peers). Default 1,024.
    pub event_queue_max: usize,
    /// Transmits queued per connection for its writer. Default 1,024.
    pub write_queue_max: usize,
    /// How long the owner waits for room in a full write queue before it
    /// gives up on that (slow) connection and closes it; the owner handles
    /// nothing else meanwhile (backpressure on every peer). A writer whose
    /// socket takes no bytes for this long gives up too. Default 5 s.
    pub write_stall_max: Duration,
    /// How long a closing connection may take to flush its queued bytes.
    /// Default 5 s.
    pub close_linger_max: Duration,
    /// How long a stop waits for connections to flush and close before it
    /// aborts them. Default 2 s.
    pub shutdown_grace_max: Duration,
}

impl Default for DriverConfig {
    fn default() -> DriverConfig {
        DriverConfig {
            max_connections: 10_000,
            read_chunk_max_bytes: 64 * 1024,
            event_queue_max: 1_024,
            write_queue_max: 1_024,
            write_stall_max: Duration::from_secs(5),
            close_linger_max: Duration::from_secs(5),
            shutdown_grace_max: Duration::from_secs(2),
        }
    }
}
