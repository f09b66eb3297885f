//! mqttsim: deterministic-simulation testing for MQTT 3.1.1 and 5.0 brokers
//! and clients.
//!
//! # Layout
//!
//! - [`spec`]: the statement catalogue, every normative statement of both
//!   versions, version-qualified, with actor, level, section and summary.
//! - [`codec`]: the wire format: strict decoding that names the statement a
//!   rejection breaks, deterministic encoding, and a raw writer for malformed
//!   bytes.
//! - [`model`]: the reference broker as a sans-IO state machine that cites
//!   every statement it checks or fulfils.
//! - [`io`]: the generic driver that runs a sans-IO server over real (tokio)
//!   or simulated (turmoil) TCP; the only module that names sockets.
//! - [`trace`]: the events of a run (packets per endpoint and connection,
//!   citations, faults, deliveries) and their stable text and JSON-lines forms.
//! - [`sim`]: the deterministic simulation: seeded sub-streams, a simulated
//!   network with fault plans, and a discrete-event world with traces.
//! - [`check`]: oracles over what a run produced; statement coverage against
//!   the catalogue.
//! - [`testserver`]: the test server for client libraries: the model broker
//!   misbehaving on demand per connection, packet dumps, client checking.
//! - [`conformance`]: statement-tagged scenarios that check a server from
//!   outside, over real TCP (`mqttsim check`) or inside turmoil.
//! - [`explore`]: model-based exploration: seeded generated workloads judged
//!   by the history checkers, parallel sweeps with coverage-guided selection,
//!   and failures shrunk by delta debugging into `seeds/` files.
//! - [`replay`]: recorded cases: a generated workload run against the model
//!   broker becomes a self-checking case file, replayed over real TCP against
//!   any server (`mqttsim record`, `mqttsim replay`, differential runs).
//! - [`cli`]: the `mqttsim` command line (composition only, no protocol logic).
//!
//! Data flows one way: bytes → codec → model → outputs → bytes. Time and
//! randomness enter only at the edges.

pub mod check;
pub mod cli;
pub mod codec;
pub mod conformance;
pub mod explore;
pub mod io;
pub mod model;
pub mod replay;
pub mod sim;
pub mod spec;
pub mod testserver;
pub mod trace;
