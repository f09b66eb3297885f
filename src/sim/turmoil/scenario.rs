//! [`run_scenario`]: a discrete-world [`Scenario`] run on the turmoil path
//! instead, so the two drivers can be compared on the same seeds.
//!
//! The scenario maps one to one: its broker configuration and durable store,
//! its clients as scripted model clients (each starting offline, its script
//! turned into [`ClientAction`]s), the same fault plan for the seed
//! ([`Scenario::fault_plan`]), the liveness phase's heal at the end of the
//! safety phase, and the clients stopping at the end of the settle bound.
//!
//! What differs, by construction: latency (turmoil draws on its own curve,
//! delivered at tick boundaries), the reconnect back-off (fixed at the
//! scenario's lowest, not drawn), and the run's length (turmoil runs the
//! whole settle bound; the discrete world stops once settled). So traces
//! differ in timing. The verdict is judged from the trace alone: the history
//! checkers ([`check_history`], then [`pending_at_end`] for liveness) plus
//! the clients' own protocol-violation reports.
//!
//! Must not touch: the discrete world; this module only reads the scenario.

use bytes::Bytes;

use super::{
    BrokerUnderTest, ClientAction, ClientStep, ClientUnderTest, ModelClientSpec, TurmoilConfig, TurmoilOutcome,
    TurmoilRun, TurmoilWorld,
};
use crate::check::history::{check_history, pending_at_end, CheckConfig};
use crate::sim::scenario::{Action, Scenario, Verdict};
use crate::trace::{EventKind, Trace};

/// The note a scripted model client records when its broker breaks the protocol.
pub(super) const PROTOCOL_VIOLATION: &str = "protocol violation: ";

/// The result of [`run_scenario`].
#[derive(Debug, Clone)]
pub struct ScenarioRun {
    /// The turmoil run: its trace and how it ended.
    pub run: TurmoilRun,
    /// The verdict judged from the trace (see the module documentation).
    pub verdict: Verdict,
    /// Every message handed to a client application: (client, topic, payload), sorted.
    pub delivered: Vec<(String, String, Bytes)>,
}

/// Runs `scenario` with `seed` on turmoil at a `tick_ms` tick.
pub fn run_scenario(scenario: &Scenario, seed: u64, tick_ms: u64) -> ScenarioRun {
    let (plan, _) = scenario.fault_plan(seed);
    let stop_at_ms = scenario.end_ms + scenario.settle_ms;
    let mut config = TurmoilConfig::new(scenario.name.clone(), seed);
    config.tick_ms = tick_ms;
    config.max_duration_ms = stop_at_ms + 5_000;
    config.max_events = scenario.max_events;
    config.min_latency_ms = scenario.world.latency.min_ms;
    config.max_latency_ms = scenario.world.latency.max_ms;
    config.faults = plan;
    config.durable_store = scenario.world.durable_store;
    config.heal_at_ms = Some(scenario.end_ms);
    let mut world = TurmoilWorld::new(config, BrokerUnderTest::Model(scenario.world.broker.clone()));
    for spec in &scenario.clients {
        let steps = scenario
            .script
            .iter()
            .filter(|s| s.client == spec.name)
            .map(|s| ClientStep { at_ms: s.at_ms, action: action(&s.action) })
            .collect();
        let client = ModelClientSpec {
            config: spec.config.clone(),
            steps,
            connect_at_start: false,
            reconnect_after_ms: Some(scenario.world.reconnect_min_ms),
            stop_at_ms,
        };
        world = world.client(spec.name.clone(), ClientUnderTest::model(client));
    }
    let run = world.run();
    let verdict = judge(&run, scenario.world.durable_store);
    let mut delivered: Vec<(String, String, Bytes)> = run
        .trace
        .events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Delivery { client, topic, payload, .. } => {
                Some((client.clone(), topic.clone(), payload.clone()))
            }
            _ => None,
        })
        .collect();
    delivered.sort();
    ScenarioRun { run, verdict, delivered }
}

fn action(action: &Action) -> ClientAction {
    match action {
        Action::Connect => ClientAction::Connect,
        Action::Subscribe { filter, qos, .. } => ClientAction::Subscribe { filter: filter.clone(), qos: qos.as_u8() },
        Action::Unsubscribe { filter } => ClientAction::Unsubscribe { filter: filter.clone() },
        Action::Publish { topic, payload, qos, retain, .. } => {
            ClientAction::Publish { topic: topic.clone(), payload: payload.clone(), qos: qos.as_u8(), retain: *retain }
        }
        Action::Disconnect { reason } => ClientAction::Disconnect { reason: *reason },
        Action::Silence => ClientAction::Silence,
        Action::Resume => ClientAction::Resume,
    }
}

/// The verdict of a turmoil run, from its outcome and trace.
fn judge(run: &TurmoilRun, durable_broker: bool) -> Verdict {
    if run.outcome != TurmoilOutcome::Finished {
        return Verdict::Harness(format!("{:?}", run.outcome));
    }
    let config = CheckConfig { durable_broker, ..CheckConfig::default() };
    let mut safety = client_violations(&run.trace);
    safety.extend(check_history(&run.trace, &config).iter().map(|v| format!("history: {v}")));
    if !safety.is_empty() {
        return Verdict::Safety(safety);
    }
    let pending: Vec<String> = pending_at_end(&run.trace, &config).iter().map(|v| format!("history: {v}")).collect();
    if !pending.is_empty() {
        return Verdict::Liveness(pending);
    }
    Verdict::Pass
}

fn client_violations(trace: &Trace) -> Vec<String> {
    trace
        .events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Note { text } if text.contains(PROTOCOL_VIOLATION) => Some(text.clone()),
            _ => None,
        })
        .collect()
}
