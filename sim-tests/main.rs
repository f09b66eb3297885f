//! The `sim-tests` integration test binary: every cross-module test of
//! mqttsim, one module per area, linked once to keep builds fast.
//!
//! - [`codec`]: the wire format against its contract: seeded round trips of
//!   random valid packets, a table of malformed packets with the statement
//!   each one breaks, and a million mutated inputs that must never panic.
//! - [`conformance`]: the conformance suite against the model broker in
//!   turmoil, against deliberately wrong servers, and against Mosquitto and
//!   `mqttsim serve` over loopback TCP.
//! - [`plugging_in`]: a third-party client (rumqttc) against the model
//!   broker inside turmoil, through the plug-in seam.
//! - [`real_clients`]: real MQTT clients (mosquitto_pub/sub, paho-mqtt)
//!   against `mqttsim serve` over loopback TCP.
//! - [`testserver`]: real clients (paho-mqtt, mosquitto_pub/sub) against
//!   `mqttsim serve` with misbehaviours switched on.
//! - [`tidy`]: source checks: no wall clock, unseeded RNG or hash iteration
//!   in simulated code, every `select!` biased, nothing unfinished.

mod codec;
mod conformance;
mod plugging_in;
mod real_clients;
mod testserver;
mod tidy;
