//! The turmoil world: the seam through which any broker or client that can
//! run over a turmoil `TcpStream` runs inside the simulation, recorded in
//! the same [`Trace`] as the model. See `docs/plugging-in.md`.
//!
//! Owns: the turmoil `Sim` of one run (seeded RNG, pinned epoch, chosen
//! tick, bounded duration), the broker host with the model broker's
//! optional durable store and the client hosts ([`hosts`]), the recording
//! layer ([`record`]), the application of the discrete world's
//! [`FaultPlan`] to turmoil ([`fault`]; it is the only caller of turmoil's
//! fault functions on this path), and runs of a whole [`Scenario`] with its
//! liveness phase ([`scenario`]).
//!
//! Must not touch: model internals, wall clocks, unseeded randomness,
//! hash-ordered iteration. The only randomness here is turmoil's own, seeded
//! with the run's seed; plugged-in code draws from [`Connector::rng`].
//!
//! # Layout
//! - [`record`]: [`Recorder`], [`Recorded`] streams, [`RecordingListener`].
//! - [`hosts`]: [`BrokerUnderTest`], [`ClientUnderTest`], [`Connector`],
//!   the scripted model client's driver and its [`ClientControl`].
//! - [`fault`]: how each [`Fault`](crate::sim::Fault) is applied.
//! - [`scenario`]: [`run_scenario`], a [`Scenario`] on this path.
//!
//! The external crate is always named `::turmoil` here, since this module
//! is called `turmoil` too.

pub mod fault;
pub mod hosts;
pub mod record;
pub mod scenario;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::io::DriverConfig;
use crate::sim::faults::FaultPlan;
#[cfg(doc)]
use crate::sim::Scenario;
use crate::trace::{Trace, TraceError, TraceHeader};

use fault::{Context, Op};
use hosts::BrokerStore;
pub use hosts::{
    serve, BrokerUnderTest, ClientAction, ClientControl, ClientStep, ClientUnderTest, Connector, HostFuture,
    HostResult, ModelClientSpec, BROKER_HOST, BROKER_PORT,
};
pub use record::{ConnIds, PeerAddrs, Recorded, Recorder, RecordingListener};
pub use scenario::{run_scenario, ScenarioRun};

/// Everything about a turmoil run but its hosts. Printed (without the seed
/// and scenario, which have their own lines) in the trace header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurmoilConfig {
    /// The scenario's name, for the trace header.
    pub scenario: String,
    /// The one seed: turmoil's RNG (latency, ephemeral ports) and every
    /// [`Connector::rng`] derive from it.
    pub seed: u64,
    /// The simulation step, ms. Every host advances by one tick per step and
    /// idle time is never skipped, so a run costs about (hosts × simulated
    /// time / tick × 2 µs). Trace times have this resolution.
    pub tick_ms: u64,
    /// The bound on simulated time, ms: a run whose clients have not all
    /// ended by then ends as [`TurmoilOutcome::TimedOut`].
    pub max_duration_ms: u64,
    /// The bound on trace events.
    pub max_events: usize,
    /// The lowest message latency, ms.
    pub min_latency_ms: u64,
    /// The highest message latency, ms (turmoil draws
    /// `min + (max - min) × Exp(5)`, whole ms, delivered at step boundaries).
    pub max_latency_ms: u64,
    /// The faults (the discrete world's plan type), applied at the first
    /// step boundary at or after their time; see [`fault`].
    pub faults: FaultPlan,
    /// Whether the model broker's sessions survive a crash (exported at the
    /// crash, imported at the restart). Other brokers keep what they keep.
    #[serde(default)]
    pub durable_store: bool,
    /// When the liveness phase begins (ms): every fault ends (links heal
    /// and release, default latency returns, a crashed broker restarts,
    /// silenced clients resume). None: never.
    #[serde(default)]
    pub heal_at_ms: Option<u64>,
}

impl TurmoilConfig {
    /// A run of `scenario` with `seed`: a 1 ms tick, 60 s of simulated time
    /// at most, 100,000 events, 1 to 10 ms of latency, no faults.
    pub fn new(scenario: impl Into<String>, seed: u64) -> TurmoilConfig {
        TurmoilConfig {
            scenario: scenario.into(),
            seed,
            tick_ms: 1,
            max_duration_ms: 60_000,
            max_events: 100_000,
            min_latency_ms: 1,
            max_latency_ms: 10,
            faults: FaultPlan::default(),
            durable_store: false,
            heal_at_ms: None,
        }
    }

    /// The tick as a duration (at least 1 ms).
    pub fn tick(&self) -> Duration {
        Duration::from_millis(self.tick_ms.max(1))
    }
}

/// How a turmoil run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurmoilOutcome {
    /// Every client host ended.
    Finished,
    /// `max_duration_ms` passed with clients still running: a liveness
    /// failure, or a script longer than the bound.
    TimedOut,
    /// A host's software returned an error or panicked.
    HostFailed(String),
    /// The fault plan names a host the run does not have, or aims a client
    /// fault at a plugged-in client; nothing ran.
    BadPlan(String),
    /// The trace refused an event (full, or time went back).
    TraceRefused(TraceError),
}

/// The result of [`TurmoilWorld::run`].
#[derive(Debug, Clone)]
pub struct TurmoilRun {
    /// Everything recorded.
    pub trace: Trace,
    /// How it ended.
    pub outcome: TurmoilOutcome,
    /// Simulated time at the end.
    pub elapsed: Duration,
}

/// One turmoil run being assembled: a config, a broker, clients.
pub struct TurmoilWorld {
    config: TurmoilConfig,
    broker: BrokerUnderTest,
    broker_json: serde_json::Value,
    driver: DriverConfig,
    clients: Vec<(String, ClientUnderTest, serde_json::Value)>,
}

impl TurmoilWorld {
    /// A world of `broker` on the host [`BROKER_HOST`], with no clients yet.
    pub fn new(config: TurmoilConfig, broker: BrokerUnderTest) -> TurmoilWorld {
        let broker_json = match &broker {
            BrokerUnderTest::Model(c) => serde_json::json!({ "model": c }),
            BrokerUnderTest::Server(_) => serde_json::json!("server"),
            BrokerUnderTest::Custom(_) => serde_json::json!("custom"),
        };
        TurmoilWorld { config, broker, broker_json, driver: DriverConfig::default(), clients: Vec::new() }
    }

    /// The IO driver's bounds for a model or [`crate::model::Server`] broker.
    pub fn driver_config(mut self, driver: DriverConfig) -> TurmoilWorld {
        self.driver = driver;
        self
    }

    /// Adds a client host named `name` (its trace endpoint too). Clients
    /// start in the order they are added.
    pub fn client(mut self, name: impl Into<String>, client: ClientUnderTest) -> TurmoilWorld {
        let json = match &client {
            ClientUnderTest::Model(spec) => serde_json::json!({ "model": spec }),
            ClientUnderTest::Custom(_) => serde_json::json!("custom"),
        };
        self.clients.push((name.into(), client, json));
        self
    }

    /// The trace header of this world: seed, scenario, tick, and the config
    /// with the hosts (model hosts in full; plugged-in ones as `custom`).
    pub fn header(&self) -> TraceHeader {
        let mut config = serde_json::to_value(&self.config).unwrap_or_default();
        if let Some(map) = config.as_object_mut() {
            map.remove("seed");
            map.remove("scenario");
            map.insert("broker".to_owned(), self.broker_json.clone());
            let clients: Vec<serde_json::Value> = self
                .clients
                .iter()
                .map(|(name, _, json)| serde_json::json!({ "name": name, "client": json }))
                .collect();
            map.insert("clients".to_owned(), serde_json::Value::Array(clients));
        }
        TraceHeader::new(self.config.seed, self.config.scenario.clone(), self.config.tick(), config)
    }

    /// Runs to the end: every client ended, the time bound, a host failure
    /// or a full trace. Faults are applied between steps.
    pub fn run(self) -> TurmoilRun {
        let header = self.header();
        let TurmoilWorld { config, broker, driver, clients, .. } = self;
        let recorder = Recorder::new(Trace::new(header, config.max_events));
        let names: Vec<String> = clients.iter().map(|(name, _, _)| name.clone()).collect();
        let controls: BTreeMap<String, Rc<ClientControl>> = clients
            .iter()
            .filter(|(_, c, _)| matches!(c, ClientUnderTest::Model(_)))
            .map(|(name, _, _)| (name.clone(), Rc::new(ClientControl::default())))
            .collect();
        if let Err(why) = fault::check(&config.faults, &names, &controls) {
            return TurmoilRun {
                trace: recorder.finish(),
                outcome: TurmoilOutcome::BadPlan(why),
                elapsed: Duration::ZERO,
            };
        }
        let tick = config.tick();
        let max = Duration::from_millis(config.max_duration_ms);
        let min_latency = Duration::from_millis(config.min_latency_ms);
        let max_latency = Duration::from_millis(config.max_latency_ms).max(min_latency);
        let mut sim = ::turmoil::Builder::new()
            .rng_seed(config.seed)
            .epoch(UNIX_EPOCH)
            .tick_duration(tick)
            // Our own bound ends the run first; turmoil's is a backstop.
            .simulation_duration(max + tick * 4)
            .min_message_latency(min_latency)
            .max_message_latency(max_latency)
            .build();
        let store = Rc::new(BrokerStore::new(config.durable_store));
        let host_recorder = recorder.clone();
        let host_store = Rc::clone(&store);
        sim.host(BROKER_HOST, move || broker.start(host_recorder.clone(), driver.clone(), &host_store));
        for (name, client, _) in clients {
            let connector = Connector::new(recorder.clone(), &name, config.seed);
            let control = controls.get(&name).cloned().unwrap_or_default();
            sim.client(name.as_str(), client.start(connector, control));
        }
        // Pending ops in (time, order of scheduling): never hash-ordered.
        let mut ops: BTreeMap<(Duration, u64), Op> = BTreeMap::new();
        let mut next = 0u64;
        let mut schedule = |ops: &mut BTreeMap<(Duration, u64), Op>, at: Duration, op: Op| {
            ops.insert((at, next), op);
            next += 1;
        };
        for step in &config.faults.steps {
            schedule(&mut ops, Duration::from_millis(step.at_ms), Op::Fault(step.fault.clone()));
        }
        if let Some(at) = config.heal_at_ms {
            schedule(&mut ops, Duration::from_millis(at), Op::HealAll);
        }
        let cx = Context {
            recorder: &recorder,
            store: &store,
            controls: &controls,
            clients: &names,
            latency: (min_latency, max_latency),
        };
        let outcome = loop {
            let elapsed = sim.elapsed();
            recorder.set_now(elapsed);
            while let Some(entry) = ops.first_entry().filter(|e| e.key().0 <= elapsed) {
                let op = entry.remove();
                if let Some((after, then)) = fault::apply(&mut sim, &cx, op) {
                    schedule(&mut ops, elapsed + after, then);
                }
            }
            if let Some(e) = recorder.refused() {
                break TurmoilOutcome::TraceRefused(e);
            }
            if elapsed >= max {
                break TurmoilOutcome::TimedOut;
            }
            // Events of this step are stamped with its end (see `record`).
            recorder.set_now(elapsed + tick);
            match sim.step() {
                Ok(true) => break TurmoilOutcome::Finished,
                Ok(false) => {}
                Err(e) => break TurmoilOutcome::HostFailed(e.to_string()),
            }
        };
        if outcome == TurmoilOutcome::Finished {
            // Let the last segments land, so the broker's side of the final
            // packets (a DISCONNECT, say) is in the trace too.
            let drain_end = (sim.elapsed() + max_latency + tick * 2).min(max);
            while sim.elapsed() < drain_end && recorder.refused().is_none() {
                recorder.set_now(sim.elapsed() + tick);
                if let Err(e) = sim.step() {
                    recorder.note(format!("after the clients ended: {e}"));
                    break;
                }
            }
        }
        let outcome = match (outcome, recorder.refused()) {
            (TurmoilOutcome::Finished, Some(e)) => TurmoilOutcome::TraceRefused(e),
            (outcome, _) => outcome,
        };
        let elapsed = sim.elapsed();
        let trace = recorder.finish();
        drop(sim);
        TurmoilRun { trace, outcome, elapsed }
    }
}
