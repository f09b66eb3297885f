//! The `sim-tests` integration test binary: every cross-module test of
//! mqttsim, one module per area, linked once to keep builds fast.
//!
//! - [`codec`]: the wire format against its contract: seeded round trips of
//!   random valid packets, a table of malformed packets with the statement
//!   each one breaks, and a million mutated inputs that must never panic.
//! - [`conformance`]: the conformance suite against the model broker in
//!   turmoil, against deliberately wrong servers, and against Mosquitto and
//!   `mqttsim serve` over loopback TCP.
//! - [`defects`]: the conformance suite against the model broker with one
//!   deliberate defect switched on at a time, caught on the right statement.
//! - [`explore`]: `mqttsim explore` finds deliberate model-broker defects in
//!   a small seed budget and shrinks each to a small case; the correct broker
//!   passes the same budget.
//! - [`plugging_in`]: a third-party client (rumqttc) against the model
//!   broker inside turmoil, through the plug-in seam.
//! - [`real_clients`]: real MQTT clients (mosquitto_pub/sub, paho-mqtt)
//!   against `mqttsim serve` over loopback TCP.
//! - [`replay`]: recorded cases replayed against `mqttsim serve` (no
//!   differences; planted differences named by statement) and a small
//!   differential run against Mosquitto checked against its findings.
//! - [`sim`]: the built-in simulation scenarios: a snapshot of each trace
//!   at a fixed seed, what each must show, 200 `fault-heavy` seeds run twice
//!   for identical bytes, every recorded seed in `seeds/` replayed, and the
//!   `mqttsim sim` command line.
//! - [`testserver`]: real clients (paho-mqtt, mosquitto_pub/sub) against
//!   `mqttsim serve` with misbehaviours switched on, and rumqttc against the
//!   test server inside the simulation.
//! - [`tidy`]: source checks: no wall clock, unseeded RNG or hash iteration
//!   in simulated code, every `select!` biased, nothing unfinished.

mod codec;
mod conformance;
mod defects;
mod explore;
mod plugging_in;
mod real_clients;
mod replay;
mod sim;
mod testserver;
mod tidy;
