//! The input model: from a seed, a whole [`Scenario`] (clients, script and
//! fault plan, all as data), swarm style.
//!
//! Each seed first draws its [`Knobs`]: how many clients, how many speak
//! 5.0, which action kinds are on and how often they happen, the QoS mix,
//! and the fault [`Swarm`]. Then it draws the clients and a script from
//! them. The fault plan is drawn into [`Scenario::faults`] (never into
//! `random_faults`), so the shrinker can cut it like any other data.
//!
//! Choices come from the `explore` sub-stream of the seed, and 5.0
//! subscription options and publish properties from `explore-options`
//! (added on top of the drawn script, so switching them on changes nothing
//! else); the run
//! itself uses the seed's standard streams (latency, reconnect back-off).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::codec::{Properties, Qos, TopicName, Will};
use crate::model::ClientConfig;
use crate::sim::rng::Stream;
use crate::sim::{Action, ClientSpec, Fault, FaultPlan, FaultStep, Scenario, Step, Swarm};
use crate::spec::Version;

/// The sub-stream the input model draws from.
pub const STREAM: &str = "explore";
/// The sub-stream of 5.0 subscription options and publish properties.
pub const OPTIONS_STREAM: &str = "explore-options";

/// The standard workload's simulated safety phase, ms.
pub const DURATION_MS: u64 = 60_000;

/// The liveness phase's bound, ms: longer than the broker's longest
/// keep-alive timeout (1.5 x 60 s) plus a reconnect.
pub const SETTLE_MS: u64 = 100_000;

/// Topic names publishers use.
const TOPICS: [&str; 6] = ["t/a", "t/b", "t/a/x", "t/b/y", "u/1", "u/2"];
/// Filters subscribers use (overlapping, with wildcards).
const FILTERS: [&str; 10] = ["t/a", "t/b", "t/+", "t/#", "t/a/+", "+/1", "u/#", "#", "t/+/x", "will/+"];
/// Shared groups 5.0 subscribers may join.
const SHARED: [&str; 3] = ["$share/g1/t/+", "$share/g1/u/#", "$share/g2/t/#"];

/// One action kind's switch and rate: the mean gap between two actions of
/// that kind at one client, ms; `None` = the kind is off for this seed.
pub type Rate = Option<u64>;

/// What a seed switched on, and how often, printed at the start of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Knobs {
    /// Number of clients (3 to 5).
    pub clients: usize,
    /// Chance that a client speaks 5.0 (else 3.1.1).
    pub v5_share: f64,
    /// Chance that a client keeps its session (clean start 0).
    pub persistent_share: f64,
    /// Chance that a client carries a will.
    pub will_share: f64,
    /// Relative weights of QoS 0, 1 and 2 for publishes and subscriptions.
    pub qos_weights: [u32; 3],
    /// Chance that a publish is retained.
    pub retain_chance: f64,
    /// Chance that a payload is large (256 to 2,048 bytes) instead of small.
    pub large_payload_chance: f64,
    /// Whether sessions survive a broker crash.
    pub durable_store: bool,
    /// Publishes per client.
    pub publish_every_ms: Rate,
    /// Subscribes after the first one.
    pub subscribe_every_ms: Rate,
    /// Unsubscribes.
    pub unsubscribe_every_ms: Rate,
    /// Normal DISCONNECTs (reason 0), each followed by a reconnect.
    pub disconnect_every_ms: Rate,
    /// DISCONNECTs that keep the will (5.0 reason 0x04; 3.1.1 clients drop
    /// the socket instead), each followed by a reconnect.
    pub disconnect_will_every_ms: Rate,
    /// Abrupt disconnects: the socket drops without DISCONNECT (the client
    /// reconnects after its back-off).
    pub abrupt_every_ms: Rate,
    /// Application silences (stop reading and sending for a while).
    pub silence_every_ms: Rate,
    /// The fault kinds and rates.
    pub faults: Swarm,
    /// Chance that a 5.0 SUBSCRIBE carries subscription options (No Local,
    /// Retain As Published, Retain Handling, an identifier) and a 5.0
    /// PUBLISH carries properties (expiry, content type, user properties,
    /// response topic). Drawn from a stream of its own, so it adds to a
    /// seed's workload without changing the rest of it.
    #[serde(default)]
    pub options_share: f64,
}

impl Knobs {
    /// Draws the knobs of a seed from `rng`.
    pub fn draw(rng: &mut Stream) -> Knobs {
        let mut rate = |p: f64, lo: u64, hi: u64| rng.chance(p).then(|| rng.range_u64(lo, hi));
        let publish_every_ms = Some(rate(1.0, 500, 4_000).unwrap_or(1_000));
        let subscribe_every_ms = rate(0.5, 5_000, 30_000);
        let unsubscribe_every_ms = rate(0.4, 8_000, 40_000);
        let disconnect_every_ms = rate(0.4, 10_000, 40_000);
        let disconnect_will_every_ms = rate(0.3, 10_000, 40_000);
        let abrupt_every_ms = rate(0.3, 10_000, 40_000);
        let silence_every_ms = rate(0.2, 10_000, 40_000);
        let weight = |rng: &mut Stream| if rng.chance(0.8) { rng.range_u64(1, 4) as u32 } else { 0 };
        let mut qos_weights = [weight(rng), weight(rng), weight(rng)];
        if qos_weights.iter().all(|w| *w == 0) {
            qos_weights[1 + rng.index(2)] = 1;
        }
        Knobs {
            clients: rng.range_u64(3, 5) as usize,
            v5_share: [0.0, 0.5, 0.5, 1.0][rng.index(4)],
            persistent_share: rng.range_f64(0.0, 1.0),
            will_share: rng.range_f64(0.0, 0.8),
            qos_weights,
            retain_chance: [0.0, 0.1, 0.4][rng.index(3)],
            large_payload_chance: [0.0, 0.05, 0.3][rng.index(3)],
            durable_store: rng.chance(0.5),
            publish_every_ms,
            subscribe_every_ms,
            unsubscribe_every_ms,
            disconnect_every_ms,
            disconnect_will_every_ms,
            abrupt_every_ms,
            silence_every_ms,
            faults: Swarm::draw(rng),
            options_share: 0.0,
        }
    }

    /// One line per knob, for the start of a run.
    pub fn describe(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    fn qos(&self, rng: &mut Stream) -> Qos {
        let total: u32 = self.qos_weights.iter().sum();
        let mut pick = rng.range_u64(0, u64::from(total.max(1)) - 1) as u32;
        for (i, w) in self.qos_weights.iter().enumerate() {
            if pick < *w {
                return [Qos::AtMostOnce, Qos::AtLeastOnce, Qos::ExactlyOnce][i];
            }
            pick -= w;
        }
        Qos::AtLeastOnce
    }
}

/// Which parts of the input model are on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// Everything, faults included (the standard workload).
    #[default]
    Standard,
    /// No network or broker faults, no abrupt disconnects, no silences:
    /// clients, subscriptions, publishes, unsubscribes, normal and will
    /// disconnects and reconnects only.
    Calm,
}

/// A drawn scenario and the knobs it was drawn with.
#[derive(Debug, Clone, PartialEq)]
pub struct Drawn {
    /// The scenario (faults as data in `faults`).
    pub scenario: Scenario,
    /// What the seed switched on.
    pub knobs: Knobs,
}

/// Draws the scenario of `seed` (named `explore`), standard profile.
pub fn draw(seed: u64) -> Drawn {
    draw_with(seed, Profile::Standard)
}

/// Draws the scenario of `seed` in `profile`.
pub fn draw_with(seed: u64, profile: Profile) -> Drawn {
    let mut drawn = draw_without_options(seed, profile);
    let mut options = Stream::new(seed, OPTIONS_STREAM);
    drawn.knobs.options_share = [0.0, 0.3, 0.8][options.index(3)];
    add_options(&mut options, drawn.knobs.options_share, &mut drawn.scenario);
    drawn
}

/// The scenario of `seed` in `profile` before 5.0 subscription options and
/// publish properties are added: the workload the turmoil driver and
/// record/replay take (they do not carry options).
pub fn draw_without_options(seed: u64, profile: Profile) -> Drawn {
    let mut rng = Stream::new(seed, STREAM);
    let mut knobs = Knobs::draw(&mut rng);
    if profile == Profile::Calm {
        knobs.faults = Swarm {
            partition_every_ms: None,
            hold_every_ms: None,
            latency_every_ms: None,
            close_every_ms: None,
            silence_every_ms: None,
            crash_every_ms: None,
        };
        knobs.abrupt_every_ms = None;
        knobs.silence_every_ms = None;
    }
    let mut scenario = Scenario::new("explore");
    scenario.end_ms = DURATION_MS;
    // The liveness bound: a wedged connection is found only by a keep-alive
    // (1.5 x 60 s at most at the broker), then the client reconnects.
    scenario.settle_ms = SETTLE_MS;
    scenario.max_events = 200_000;
    scenario.world.durable_store = knobs.durable_store;
    scenario.world.broker.sys_interval_secs = 0;
    scenario.world.max_steps = 2_000_000;

    for i in 0..knobs.clients {
        let name = format!("client-{}", (b'a' + i as u8) as char);
        scenario.clients.push(ClientSpec { name: name.clone(), config: client_config(&mut rng, &knobs, i, &name) });
    }
    let names: Vec<String> = scenario.clients.iter().map(|c| c.name.clone()).collect();
    let mut payloads = 0u64;
    let mut faults = Vec::new();
    for spec in &scenario.clients {
        script_for(&mut rng, &knobs, spec, &mut payloads, &mut scenario.script, &mut faults);
    }
    let (plan, _) = FaultPlan::draw(&mut rng, &names, DURATION_MS, Some(knobs.faults.clone()));
    faults.extend(plan.steps);
    scenario.faults = FaultPlan::new(faults);
    scenario.script.sort_by_key(|s| s.at_ms);
    Drawn { scenario, knobs }
}

/// Gives `share` of the 5.0 clients' SUBSCRIBEs options and PUBLISHes
/// properties, drawn from `rng`.
fn add_options(rng: &mut Stream, share: f64, scenario: &mut Scenario) {
    if share == 0.0 {
        return;
    }
    let v5: BTreeSet<String> =
        scenario.clients.iter().filter(|c| c.config.version == Version::V5).map(|c| c.name.clone()).collect();
    let mut next_id = 1;
    for step in &mut scenario.script {
        if !v5.contains(&step.client) || !rng.chance(share) {
            continue;
        }
        match &mut step.action {
            Action::Subscribe { filter, options, .. } => {
                // No Local on a shared subscription is a protocol error
                // (MQTT-3.8.3-4); the workload stays valid.
                options.no_local = !filter.starts_with("$share/") && rng.chance(0.4);
                options.retain_as_published = rng.chance(0.4);
                options.retain_handling = rng.index(3) as u8;
                if rng.chance(0.5) {
                    options.subscription_identifier = Some(next_id);
                    next_id += 1;
                }
            }
            Action::Publish { properties, .. } => {
                if rng.chance(0.3) {
                    properties.message_expiry_secs = Some(rng.range_u64(1, 120) as u32);
                }
                properties.payload_utf8 = rng.chance(0.5);
                if rng.chance(0.3) {
                    properties.content_type = Some("text/plain".to_owned());
                }
                if rng.chance(0.3) {
                    properties.response_topic = Some(format!("reply/{}", step.client));
                    properties.correlation_data = Some(format!("{}", step.at_ms));
                }
                for k in 0..rng.range_u64(0, 2) {
                    properties.user_properties.push((format!("k{k}"), format!("v{}", step.at_ms)));
                }
            }
            _ => {}
        }
    }
}

fn client_config(rng: &mut Stream, knobs: &Knobs, i: usize, name: &str) -> ClientConfig {
    let version = if rng.chance(knobs.v5_share) { Version::V5 } else { Version::V3_1_1 };
    let mut config = ClientConfig::new(format!("x{i}"), version);
    config.clean_start = !rng.chance(knobs.persistent_share);
    // A partition wedges a connection for good (no retransmit): only the
    // keep-alive can find it dead, so with partitions on keep-alive 0 would
    // leave messages owed forever, an expectation no broker can meet.
    let keep_alives: &[u16] =
        if knobs.faults.partition_every_ms.is_some() { &[5, 10, 30, 60] } else { &[0, 5, 10, 30, 60] };
    config.keep_alive_secs = keep_alives[rng.index(keep_alives.len())];
    if version == Version::V5 {
        config.session_expiry_interval_secs = [None, Some(0), Some(5), Some(300), Some(u32::MAX)][rng.index(5)];
        if rng.chance(0.2) {
            config.receive_maximum = Some(rng.range_u64(1, 10) as u16);
        }
    }
    config.max_inflight = [1, 4, 32][rng.index(3)];
    if rng.chance(knobs.will_share) {
        let mut properties = Properties::default();
        if version == Version::V5 && rng.chance(0.3) {
            properties.will_delay_interval_secs = Some(rng.range_u64(1, 5) as u32);
        }
        config.will = Some(Will {
            topic: TopicName::new(format!("will/{name}")).expect("valid will topic"),
            payload: format!("will of {name}").into_bytes().into(),
            qos: knobs.qos(rng),
            retain: rng.chance(knobs.retain_chance),
            properties,
        });
    }
    config
}

/// Times of a Poisson-ish process of mean gap `every` within `from..until`.
fn times(rng: &mut Stream, every: Rate, from: u64, until: u64) -> Vec<u64> {
    let Some(every) = every else { return Vec::new() };
    let mut out = Vec::new();
    let mut t = from;
    loop {
        t += rng.range_u64(1, every.saturating_mul(2).max(2));
        if t >= until {
            return out;
        }
        out.push(t);
    }
}

fn filter(rng: &mut Stream, version: Version) -> String {
    if version == Version::V5 && rng.chance(0.15) {
        return SHARED[rng.index(SHARED.len())].to_owned();
    }
    FILTERS[rng.index(FILTERS.len())].to_owned()
}

fn script_for(
    rng: &mut Stream,
    knobs: &Knobs,
    spec: &ClientSpec,
    payloads: &mut u64,
    script: &mut Vec<Step>,
    faults: &mut Vec<FaultStep>,
) {
    let name = spec.name.clone();
    let version = spec.config.version;
    let step = |at_ms: u64, action: Action| Step { at_ms, client: name.clone(), action };
    let start = rng.range_u64(0, 2_000);
    script.push(step(start, Action::Connect));
    // Everyone subscribes at least once, shortly after connecting.
    let mut filters = Vec::new();
    // Subscribes of one client are spread at least 1.5 s apart (SUBSCRIBEs
    // in flight together still happen, queued across a reconnect).
    for k in 0..rng.range_u64(1, 3) {
        let f = filter(rng, version);
        let qos = knobs.qos(rng);
        script.push(step(
            start + 10 + 1_500 * k,
            Action::Subscribe { filter: f.clone(), qos, options: Default::default() },
        ));
        filters.push(f);
    }
    let until = DURATION_MS - 5_000;
    let mut last = start + 3_010;
    for at in times(rng, knobs.subscribe_every_ms, start + 3_010, until) {
        if at < last + 1_500 {
            continue;
        }
        last = at;
        let f = filter(rng, version);
        script
            .push(step(at, Action::Subscribe { filter: f.clone(), qos: knobs.qos(rng), options: Default::default() }));
        filters.push(f);
    }
    for at in times(rng, knobs.unsubscribe_every_ms, start, until) {
        let f = filters[rng.index(filters.len())].clone();
        script.push(step(at, Action::Unsubscribe { filter: f }));
    }
    for at in times(rng, knobs.publish_every_ms, start + 200, until) {
        *payloads += 1;
        let mut payload = format!("{name}#{payloads}");
        if rng.chance(knobs.large_payload_chance) {
            let extra = rng.range_u64(256, 2_048) as usize;
            payload.push_str(&".".repeat(extra));
        }
        script.push(step(
            at,
            Action::Publish {
                topic: TOPICS[rng.index(TOPICS.len())].to_owned(),
                payload,
                qos: knobs.qos(rng),
                retain: rng.chance(knobs.retain_chance),
                properties: Default::default(),
            },
        ));
    }
    // Calm runs keep clean-start clients connected: their reconnects start
    // a new session, which the history checker does not yet separate from
    // the old one (see docs/performance.md, "Exploration speed").
    let reconnects =
        knobs.faults.crash_every_ms.is_some() || spec.config.is_persistent() || knobs.abrupt_every_ms.is_some();
    for at in times(rng, knobs.disconnect_every_ms.filter(|_| reconnects), start + 1_000, until) {
        script.push(step(at, Action::Disconnect { reason: 0 }));
        script.push(step(at + rng.range_u64(200, 5_000), Action::Connect));
    }
    for at in times(rng, knobs.disconnect_will_every_ms.filter(|_| reconnects), start + 1_000, until) {
        if version == Version::V5 {
            script.push(step(at, Action::Disconnect { reason: 0x04 }));
            script.push(step(at + rng.range_u64(200, 5_000), Action::Connect));
        } else if knobs.abrupt_every_ms.is_some() {
            faults.push(FaultStep { at_ms: at, fault: Fault::CloseClient { client: name.clone() } });
        }
    }
    for at in times(rng, knobs.abrupt_every_ms, start + 1_000, until) {
        faults.push(FaultStep { at_ms: at, fault: Fault::CloseClient { client: name.clone() } });
    }
    // Silences are faults, not script steps: the trace records faults, and
    // the history checker needs to know when a client stopped reading.
    for at in times(rng, knobs.silence_every_ms, start + 1_000, until) {
        let for_ms = Some(rng.range_u64(500, 8_000));
        faults.push(FaultStep { at_ms: at, fault: Fault::Silence { client: name.clone(), for_ms } });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seed always draws the same scenario, and different seeds draw different ones.
    #[test]
    fn drawing_is_a_function_of_the_seed() {
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3).scenario, draw(4).scenario);
    }

    /// 5.0 subscription options and publish properties are drawn on some seeds, only for 5.0 clients, never No Local on a shared subscription, and without changing anything else the seed draws.
    #[test]
    fn options_and_properties_come_on_top_of_the_same_workload() {
        let drawn: Vec<(u64, Drawn)> = (0..64).map(|seed| (seed, draw(seed))).collect();
        let mut subscribe_options = 0;
        let mut publish_properties = 0;
        for (seed, d) in &drawn {
            let v5: BTreeSet<&str> = d
                .scenario
                .clients
                .iter()
                .filter(|c| c.config.version == Version::V5)
                .map(|c| c.name.as_str())
                .collect();
            for step in &d.scenario.script {
                match &step.action {
                    Action::Subscribe { filter, options, .. } if !options.is_default() => {
                        assert!(v5.contains(step.client.as_str()), "options only for 5.0 clients");
                        assert!(!(options.no_local && filter.starts_with("$share/")), "MQTT-3.8.3-4");
                        assert!(options.retain_handling <= 2);
                        subscribe_options += 1;
                    }
                    Action::Publish { properties, .. } if !properties.is_empty() => {
                        assert!(v5.contains(step.client.as_str()), "properties only for 5.0 clients");
                        publish_properties += 1;
                    }
                    _ => {}
                }
            }
            // Stripping them gives back the workload the seed draws with
            // options off (they come from their own stream).
            let mut stripped = d.scenario.clone();
            for step in &mut stripped.script {
                match &mut step.action {
                    Action::Subscribe { options, .. } => *options = Default::default(),
                    Action::Publish { properties, .. } => *properties = Default::default(),
                    _ => {}
                }
            }
            assert_eq!(stripped, draw_without_options(*seed, Profile::Standard).scenario);
        }
        assert!(subscribe_options > 10 && publish_properties > 10, "{subscribe_options} {publish_properties}");
        assert!(drawn.iter().any(|(_, d)| d.knobs.options_share == 0.0));
    }

    /// Over a few seeds the model mixes versions, QoS levels, wildcards, shared groups, wills and faults.
    #[test]
    fn the_input_model_covers_the_workload_kinds() {
        let drawn: Vec<Drawn> = (0..64).map(draw).collect();
        let clients = drawn.iter().flat_map(|d| d.scenario.clients.iter());
        let versions: Vec<Version> = clients.clone().map(|c| c.config.version).collect();
        assert!(versions.contains(&Version::V5) && versions.contains(&Version::V3_1_1));
        assert!(clients.clone().any(|c| c.config.will.is_some()));
        assert!(clients.clone().any(|c| !c.config.clean_start));
        let actions: Vec<&Action> = drawn.iter().flat_map(|d| d.scenario.script.iter().map(|s| &s.action)).collect();
        for qos in [Qos::AtMostOnce, Qos::AtLeastOnce, Qos::ExactlyOnce] {
            assert!(actions.iter().any(|a| matches!(a, Action::Publish { qos: q, .. } if *q == qos)));
        }
        assert!(actions.iter().any(|a| matches!(a, Action::Publish { retain: true, .. })));
        assert!(actions.iter().any(|a| matches!(a, Action::Subscribe { filter, .. } if filter.starts_with("$share/"))));
        assert!(actions.iter().any(|a| matches!(a, Action::Subscribe { filter, .. } if filter.contains('#'))));
        assert!(actions.iter().any(|a| matches!(a, Action::Unsubscribe { .. })));
        assert!(actions.iter().any(|a| matches!(a, Action::Disconnect { reason: 4 })));
        let faults: Vec<&Fault> = drawn.iter().flat_map(|d| d.scenario.faults.steps.iter().map(|s| &s.fault)).collect();
        assert!(faults.iter().any(|f| matches!(f, Fault::CrashBroker)));
        assert!(faults.iter().any(|f| matches!(f, Fault::Partition { .. })));
        assert!(drawn.iter().all(|d| (3..=5).contains(&d.scenario.clients.len())));
        // Payloads are unique within a scenario.
        for d in &drawn {
            let mut payloads: Vec<&String> = d
                .scenario
                .script
                .iter()
                .filter_map(|s| match &s.action {
                    Action::Publish { payload, .. } => Some(payload),
                    _ => None,
                })
                .collect();
            let n = payloads.len();
            payloads.sort();
            payloads.dedup();
            assert_eq!(payloads.len(), n);
        }
    }
}
