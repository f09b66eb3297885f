//! The deterministic simulation: a seed, named random sub-streams, a
//! simulated network with faults, and a discrete-event world that hosts the
//! model broker and sans-IO clients and records everything in a
//! [`Trace`](crate::trace::Trace).
//!
//! Owns: seed handling ([`rng`]), the simulated network ([`net`]), fault
//! plans as data ([`faults`]), the event queue and hosts ([`world`]), the
//! hosted-client seam ([`client`]), scenarios with their safety and
//! liveness phases ([`scenario`]), the wills the broker owes ([`wills`]),
//! and the turmoil world ([`turmoil`]) where user-supplied async brokers
//! and clients run over simulated TCP.
//!
//! Must not touch: wall clocks, unseeded randomness, hash-ordered iteration,
//! or model internals (only the broker's public API). Only [`turmoil`] names
//! tokio and turmoil. The discrete-event driver jumps from one event to the
//! next instead of stepping a fixed tick, so traces it writes have a tick of
//! zero; turmoil runs step a tick chosen per scenario.

pub mod catalog;
pub mod client;
pub mod faults;
pub mod net;
pub mod rng;
pub mod scenario;
pub mod turmoil;
pub mod wills;
pub mod world;

#[cfg(test)]
mod tests;

pub use client::{ClientOut, Command, SimClient};
pub use faults::{Fault, FaultPlan, FaultStep, Swarm, BROKER};
pub use net::{LatencyMs, Network, Side};
pub use rng::SimRng;
pub use scenario::{Action, ClientSpec, HeaderDetail, RandomFaults, RunOutcome, Scenario, Step, Verdict};
pub use world::{Stop, World, WorldConfig};
