//! Faults on the turmoil path: the same [`FaultPlan`] of [`Fault`]s as the
//! discrete-event world, applied to a turmoil `Sim` between two steps, at
//! the first step boundary at or after each fault's time (with a 10 ms tick
//! a fault at 15 ms happens at 20 ms).
//!
//! How each fault maps:
//! - `partition` / `heal` / `hold` / `release`: turmoil's own
//!   (`partition`, `partition_oneway`, `repair`, `hold`, `release`). A
//!   partitioned stream stays wedged after the heal, as in the discrete world.
//! - `latency`: the link's latency range (turmoil draws within it on its
//!   own curve, so the timings differ from the discrete world's uniform draw).
//! - `close_client` / `silence`: told to the scripted model client through
//!   its [`ClientControl`]; a plan that aims them at a plugged-in client is
//!   refused before the run ([`check`]).
//! - `crash_broker` / `restart_broker`: turmoil's `crash` and `bounce` of the
//!   broker host; the model broker's sessions go through the
//!   [`BrokerStore`] when the store is durable. A restart of a running broker
//!   does nothing, as in the discrete world.
//!
//! The turmoil-only part is [`Op`]: a fault, the end of a timed silence, or
//! the liveness phase's "heal every fault".

use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use super::hosts::{BrokerStore, ClientControl, BROKER_HOST};
use super::record::Recorder;
use crate::sim::faults::{Fault, FaultPlan};
use crate::trace::EventKind;

/// What the run loop does at a step boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Op {
    /// A fault of the plan.
    Fault(Fault),
    /// A timed silence of this client ends.
    Resume(String),
    /// The liveness phase begins: every fault ends.
    HealAll,
}

/// What applying an [`Op`] needs besides the `Sim`.
pub(super) struct Context<'a> {
    pub(super) recorder: &'a Recorder,
    pub(super) store: &'a BrokerStore,
    /// The scripted model clients' controls, by name.
    pub(super) controls: &'a BTreeMap<String, Rc<ClientControl>>,
    /// Every client host's name.
    pub(super) clients: &'a [String],
    /// The default latency range, restored by the heal.
    pub(super) latency: (Duration, Duration),
}

/// Refuses a plan that names a host the run does not have, or aims a client
/// fault at a client that is not a scripted model client.
pub(super) fn check(
    plan: &FaultPlan,
    clients: &[String],
    controls: &BTreeMap<String, Rc<ClientControl>>,
) -> Result<(), String> {
    let known = |name: &String| name == BROKER_HOST || clients.contains(name);
    for step in &plan.steps {
        let ok = match &step.fault {
            Fault::Partition { a, b, .. }
            | Fault::Heal { a, b }
            | Fault::Hold { a, b }
            | Fault::Release { a, b }
            | Fault::Latency { a, b, .. } => known(a) && known(b) && a != b,
            Fault::CloseClient { client } | Fault::Silence { client, .. } => controls.contains_key(client),
            Fault::CrashBroker | Fault::RestartBroker => true,
        };
        if !ok {
            return Err(format!(
                "fault at {} ms ({}) names an unknown host or a client that cannot take client faults",
                step.at_ms,
                step.fault.describe()
            ));
        }
    }
    Ok(())
}

/// Applies `op` now; returns the ops it schedules (the end of a timed
/// silence), as (delay, op).
pub(super) fn apply(sim: &mut ::turmoil::Sim<'_>, cx: &Context<'_>, op: Op) -> Option<(Duration, Op)> {
    match op {
        Op::Fault(fault) => return apply_fault(sim, cx, &fault),
        Op::Resume(client) => {
            if let Some(control) = cx.controls.get(&client) {
                control.silence(false);
            }
        }
        Op::HealAll => {
            cx.recorder.note("liveness phase: heal every fault");
            for client in cx.clients {
                sim.repair(client.as_str(), BROKER_HOST);
                sim.release(client.as_str(), BROKER_HOST);
                set_latency(sim, client, cx.latency.0, cx.latency.1);
            }
            if !sim.is_host_running(BROKER_HOST) {
                apply_fault(sim, cx, &Fault::RestartBroker);
            }
            for control in cx.controls.values() {
                control.silence(false);
            }
        }
    }
    None
}

fn set_latency(sim: &mut ::turmoil::Sim<'_>, client: &str, min: Duration, max: Duration) {
    sim.set_link_latency(client, BROKER_HOST, min);
    sim.set_link_max_message_latency(client, BROKER_HOST, max.max(min));
}

fn apply_fault(sim: &mut ::turmoil::Sim<'_>, cx: &Context<'_>, fault: &Fault) -> Option<(Duration, Op)> {
    cx.recorder.record(EventKind::Fault { description: fault.describe() });
    match fault {
        Fault::Partition { a, b, one_way: false } => sim.partition(a.as_str(), b.as_str()),
        Fault::Partition { a, b, one_way: true } => sim.partition_oneway(a.as_str(), b.as_str()),
        Fault::Heal { a, b } => sim.repair(a.as_str(), b.as_str()),
        Fault::Hold { a, b } => sim.hold(a.as_str(), b.as_str()),
        Fault::Release { a, b } => sim.release(a.as_str(), b.as_str()),
        Fault::Latency { a, b, min_ms, max_ms } => {
            sim.set_link_latency(a.as_str(), b.as_str(), Duration::from_millis(*min_ms));
            sim.set_link_max_message_latency(a.as_str(), b.as_str(), Duration::from_millis((*max_ms).max(*min_ms)));
        }
        Fault::CloseClient { client } => {
            if let Some(control) = cx.controls.get(client) {
                control.close();
            }
        }
        Fault::Silence { client, for_ms } => {
            if let Some(control) = cx.controls.get(client) {
                control.silence(true);
                return for_ms.map(|ms| (Duration::from_millis(ms), Op::Resume(client.clone())));
            }
        }
        Fault::CrashBroker => {
            if sim.is_host_running(BROKER_HOST) {
                cx.store.crash();
                cx.recorder.set_crashing(Some(BROKER_HOST));
                sim.crash(BROKER_HOST);
                cx.recorder.set_crashing(None);
            }
        }
        Fault::RestartBroker => {
            if !sim.is_host_running(BROKER_HOST) {
                cx.recorder.set_crashing(Some(BROKER_HOST));
                sim.bounce(BROKER_HOST);
                cx.recorder.set_crashing(None);
            }
        }
    }
    None
}
