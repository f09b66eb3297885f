//! Recording: a seed's generated workload, restricted to what a real server
//! over TCP can reproduce, run step by step against the model broker in the
//! simulation, and turned into a [`Case`] with the expected observations.
//!
//! The restriction (see `docs/replay.md`): no network or broker faults, no
//! silences, no shared subscriptions (which member gets a message is the
//! server's choice), no Will Delay, Session Expiry 5 s raised to 300 s (the
//! replay does not keep the model's timing); client-side abrupt closes
//! (followed by a reconnect) stay. The steps are then run one at a time,
//! `spacing_ms` of simulated time apart, so every step has settled before
//! the next begins; the replay keeps the same discipline over TCP.

use std::collections::BTreeMap;
use std::time::Duration;

use super::case::{
    ClientInput, ExpectedDelivery, Generator, Header, Line, Op, Source, Step, WillInput, ALLOWED_VARIATIONS, FORMAT,
};
use super::{Case, ReplayError};
use crate::codec::{filter_matches, Packet, Properties, Qos, TopicName};
use crate::explore::{self, Kind};
use crate::model::ClientConfig;
use crate::sim::{Action, ClientSpec, Fault, FaultPlan, FaultStep, Scenario, Step as SimStep};
use crate::spec::Version;
use crate::trace::{Dir, EventKind};

/// When the first step runs in the model run, ms.
const START_MS: u64 = 1_000;

/// How a case is drawn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSettings {
    /// Simulated time between two steps, ms (each step settles within it).
    pub spacing_ms: u64,
    /// The most steps kept from the script (the rest is cut); a final
    /// connect per client left disconnected comes on top.
    pub max_steps: usize,
    /// Keep at most this many clients.
    pub max_clients: Option<usize>,
    /// Make every client speak this version.
    pub version: Option<Version>,
}

impl Default for RecordSettings {
    fn default() -> RecordSettings {
        RecordSettings { spacing_ms: 250, max_steps: 120, max_clients: None, version: None }
    }
}

/// Draws the workload of `seed`, runs it against the model broker and
/// returns the self-checking case.
pub fn record(seed: u64, settings: &RecordSettings) -> Result<Case, ReplayError> {
    if settings.spacing_ms < 200 {
        return Err(ReplayError::Usage("spacing must be at least 200 ms (steps must settle)".into()));
    }
    let ModelRun { knobs, clients, steps, judged } = model_run(seed, settings);
    if judged.kind != Kind::Pass {
        let why = judged.first().map(|f| f.to_string()).unwrap_or_else(|| judged.scenario_verdict.line());
        return Err(ReplayError::Model(format!("the model run of seed {seed} did not pass: {why}")));
    }
    let (acks, deliveries) = observe(&judged.trace, &clients, &steps, settings.spacing_ms)?;
    let mut versions: Vec<Version> = clients.iter().map(|c| c.version).collect();
    versions.sort();
    versions.dedup();
    let header = Header {
        format: FORMAT.to_owned(),
        seed,
        generator: Generator {
            input_model: "explore standard, replayable subset".to_owned(),
            knobs: serde_json::to_value(&knobs).unwrap_or_default(),
            spacing_ms: settings.spacing_ms,
            max_steps: settings.max_steps,
            max_clients: settings.max_clients,
            version: settings.version,
        },
        versions,
        allowed_variations: ALLOWED_VARIATIONS.iter().map(|s| (*s).to_owned()).collect(),
        mqttsim_version: env!("CARGO_PKG_VERSION").to_owned(),
    };
    Ok(Case { header, clients, steps, acks, deliveries })
}

/// The model run behind a case.
pub struct ModelRun {
    /// What the seed switched on.
    pub knobs: explore::Knobs,
    /// The clients.
    pub clients: Vec<ClientInput>,
    /// The steps.
    pub steps: Vec<Step>,
    /// The judged run (its trace is the model's side of the case).
    pub judged: explore::Judged,
}

/// Draws, restricts and runs the workload of `seed` against the model broker.
pub fn model_run(seed: u64, settings: &RecordSettings) -> ModelRun {
    let drawn = explore::draw(seed);
    let (clients, steps) = restrict(&drawn.scenario, settings);
    let scenario = model_scenario(&clients, &steps, settings.spacing_ms);
    let judged = explore::judge(&scenario, seed);
    ModelRun { knobs: drawn.knobs, clients, steps, judged }
}

/// The replayable clients and steps of a drawn scenario.
fn restrict(scenario: &Scenario, settings: &RecordSettings) -> (Vec<ClientInput>, Vec<Step>) {
    let keep = settings.max_clients.unwrap_or(usize::MAX).max(1);
    let clients: Vec<ClientInput> =
        scenario.clients.iter().take(keep).map(|c| client_input(&c.name, &c.config, settings.version)).collect();
    let version_of = |name: &str| clients.iter().find(|c| c.name == name).map(|c| c.version);

    // The script and the client closes, in time order (script first at a tie).
    let mut timed: Vec<(u64, usize, String, Op)> = Vec::new();
    for (i, s) in scenario.script.iter().enumerate() {
        let Some(version) = version_of(&s.client) else { continue };
        let op = match &s.action {
            Action::Connect => Op::Connect,
            Action::Subscribe { filter, qos, .. } if !filter.starts_with("$share/") => {
                Op::Subscribe { filter: filter.clone(), qos: *qos }
            }
            Action::Unsubscribe { filter } if !filter.starts_with("$share/") => {
                Op::Unsubscribe { filter: filter.clone() }
            }
            Action::Publish { topic, payload, qos, retain, .. } => {
                Op::Publish { topic: topic.clone(), payload: payload.clone(), qos: *qos, retain: *retain }
            }
            Action::Disconnect { reason } if version == Version::V3_1_1 && *reason != 0 => Op::Close,
            Action::Disconnect { reason } => Op::Disconnect { reason: *reason },
            _ => continue,
        };
        timed.push((s.at_ms, i, s.client.clone(), op));
    }
    for (i, f) in scenario.faults.steps.iter().enumerate() {
        if let Fault::CloseClient { client } = &f.fault {
            if version_of(client).is_some() {
                timed.push((f.at_ms, scenario.script.len() + i, client.clone(), Op::Close));
            }
        }
    }
    timed.sort_by_key(|(at, i, _, _)| (*at, *i));

    // Only what applies: connect when disconnected, everything else when connected.
    let mut connected: BTreeMap<String, bool> = clients.iter().map(|c| (c.name.clone(), false)).collect();
    let mut steps = Vec::new();
    for (_, _, client, op) in timed {
        if steps.len() >= settings.max_steps {
            break;
        }
        let is_connected = connected.get(&client).copied().unwrap_or(false);
        let applies = match op {
            Op::Connect => !is_connected,
            _ => is_connected,
        };
        if !applies {
            continue;
        }
        match op {
            Op::Connect => {
                connected.insert(client.clone(), true);
            }
            Op::Disconnect { .. } => {
                connected.insert(client.clone(), false);
            }
            _ => {}
        }
        steps.push(Step { step: steps.len(), client, op });
    }
    // Everyone who was ever connected ends connected, so what their sessions
    // are owed is delivered within the case.
    for c in &clients {
        let ever = steps.iter().any(|s| s.client == c.name);
        if ever && !connected.get(&c.name).copied().unwrap_or(false) {
            steps.push(Step { step: steps.len(), client: c.name.clone(), op: Op::Connect });
        }
    }
    (clients, steps)
}

fn client_input(name: &str, config: &ClientConfig, force: Option<Version>) -> ClientInput {
    let version = force.unwrap_or(config.version);
    let (session_expiry_interval_secs, receive_maximum) = match version {
        Version::V3_1_1 => (None, None),
        // 5 s expiries depend on timing the replay does not keep.
        Version::V5 => {
            (config.session_expiry_interval_secs.map(|s| if s == 5 { 300 } else { s }), config.receive_maximum)
        }
    };
    ClientInput {
        name: name.to_owned(),
        version,
        clean_start: config.clean_start,
        keep_alive_secs: config.keep_alive_secs,
        session_expiry_interval_secs,
        receive_maximum,
        will: config.will.as_ref().map(|w| WillInput {
            topic: w.topic.as_str().to_owned(),
            payload: String::from_utf8_lossy(&w.payload).into_owned(),
            qos: w.qos,
            retain: w.retain,
        }),
    }
}

/// The model client configuration for a case client.
pub(crate) fn client_config(c: &ClientInput, client_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new(client_id.to_owned(), c.version);
    config.clean_start = c.clean_start;
    config.keep_alive_secs = c.keep_alive_secs;
    config.session_expiry_interval_secs = c.session_expiry_interval_secs;
    config.receive_maximum = c.receive_maximum;
    config.will = c.will.as_ref().and_then(|w| {
        Some(crate::codec::Will {
            topic: TopicName::new(w.topic.clone()).ok()?,
            payload: w.payload.clone().into_bytes().into(),
            qos: w.qos,
            retain: w.retain,
            properties: Properties::default(),
        })
    });
    config
}

fn step_at_ms(step: usize, spacing_ms: u64) -> u64 {
    START_MS + step as u64 * spacing_ms
}

/// The scenario that runs `steps` one at a time, `spacing_ms` apart.
pub(crate) fn model_scenario(clients: &[ClientInput], steps: &[Step], spacing_ms: u64) -> Scenario {
    let mut scenario = Scenario::new("replay-case");
    scenario.world.broker.sys_interval_secs = 0;
    // A closed client reconnects well within one step.
    scenario.world.reconnect_min_ms = 20;
    scenario.world.reconnect_max_ms = 60;
    for (i, c) in clients.iter().enumerate() {
        scenario.clients.push(ClientSpec { name: c.name.clone(), config: client_config(c, &format!("x{i}")) });
    }
    let mut faults = Vec::new();
    for s in steps {
        let at_ms = step_at_ms(s.step, spacing_ms);
        let action = match &s.op {
            Op::Connect => Action::Connect,
            Op::Subscribe { filter, qos } => {
                Action::Subscribe { filter: filter.clone(), qos: *qos, options: Default::default() }
            }
            Op::Unsubscribe { filter } => Action::Unsubscribe { filter: filter.clone() },
            Op::Publish { topic, payload, qos, retain } => Action::Publish {
                topic: topic.clone(),
                payload: payload.clone(),
                qos: *qos,
                retain: *retain,
                properties: Default::default(),
            },
            Op::Disconnect { reason } => Action::Disconnect { reason: *reason },
            Op::Close => {
                faults.push(FaultStep { at_ms, fault: Fault::CloseClient { client: s.client.clone() } });
                continue;
            }
        };
        scenario.script.push(SimStep { at_ms, client: s.client.clone(), action });
    }
    scenario.faults = FaultPlan::new(faults);
    scenario.end_ms = step_at_ms(steps.len(), spacing_ms) + spacing_ms;
    scenario.settle_ms = 10_000;
    scenario.max_events = 1_000_000;
    scenario
}

/// The subscriptions each session holds, step by step (as the model saw them).
#[derive(Default)]
struct Sessions {
    filters: BTreeMap<String, Vec<String>>,
    connected: BTreeMap<String, bool>,
}

impl Sessions {
    fn copies(&self, client: &str, topic: &str) -> u32 {
        let n = self.filters.get(client).map_or(0, |fs| fs.iter().filter(|f| filter_matches(f, topic)).count());
        (n as u32).max(1)
    }
}

type Observed = (Vec<Line>, Vec<ExpectedDelivery>);

/// The expected observations from the model run's trace.
fn observe(
    trace: &crate::trace::Trace,
    clients: &[ClientInput],
    steps: &[Step],
    spacing_ms: u64,
) -> Result<Observed, ReplayError> {
    let step_of = |at: Duration| -> Option<usize> {
        let ms = at.as_millis() as u64;
        if ms < START_MS || steps.is_empty() {
            return None;
        }
        Some((((ms - START_MS) / spacing_ms) as usize).min(steps.len() - 1))
    };
    let publishes: BTreeMap<(&str, &str), (usize, &str)> = steps
        .iter()
        .filter_map(|s| match &s.op {
            Op::Publish { topic, payload, .. } => {
                Some(((topic.as_str(), payload.as_str()), (s.step, s.client.as_str())))
            }
            _ => None,
        })
        .collect();
    let wills: BTreeMap<(&str, &str), &str> = clients
        .iter()
        .filter_map(|c| c.will.as_ref().map(|w| ((w.topic.as_str(), w.payload.as_str()), c.name.as_str())))
        .collect();

    let mut sessions = Sessions::default();
    // The copies allowed for a message, and whether its receiver was online, fixed at its publish step.
    let mut at_publish: BTreeMap<(usize, String), (u32, bool)> = BTreeMap::new();
    let mut acks = Vec::new();
    let mut deliveries = Vec::new();
    let mut next_step = 0usize;
    let advance = |upto: usize, sessions: &mut Sessions, at_publish: &mut BTreeMap<(usize, String), (u32, bool)>| {
        // Snapshot before applying the step: a publish sees the subscriptions in force.
        let s = &steps[upto];
        if let Op::Publish { topic, .. } = &s.op {
            for c in clients {
                let online = sessions.connected.get(&c.name).copied().unwrap_or(false);
                at_publish.insert((s.step, c.name.clone()), (sessions.copies(&c.name, topic), online));
            }
        }
        if let Op::Close = s.op {
            if let Some(w) = clients.iter().find(|c| c.name == s.client).and_then(|c| c.will.as_ref()) {
                for c in clients {
                    let online = c.name != s.client && sessions.connected.get(&c.name).copied().unwrap_or(false);
                    at_publish.insert((s.step, c.name.clone()), (sessions.copies(&c.name, &w.topic), online));
                }
            }
        }
        if let Op::Disconnect { reason } = s.op {
            sessions.connected.insert(s.client.clone(), false);
            if reason == 0x04 {
                if let Some(w) = clients.iter().find(|c| c.name == s.client).and_then(|c| c.will.as_ref()) {
                    for c in clients {
                        let online = sessions.connected.get(&c.name).copied().unwrap_or(false);
                        at_publish.insert((s.step, c.name.clone()), (sessions.copies(&c.name, &w.topic), online));
                    }
                }
            }
        }
        if let Op::Close = s.op {
            sessions.connected.insert(s.client.clone(), false);
        }
    };
    for event in trace.events() {
        let Some(step) = step_of(event.at) else { continue };
        while next_step <= step {
            advance(next_step, &mut sessions, &mut at_publish);
            next_step += 1;
        }
        match &event.kind {
            EventKind::Packet { endpoint, dir: Dir::Received, packet, .. }
                if clients.iter().any(|c| &c.name == endpoint) =>
            {
                match packet {
                    Packet::Connack(ack) => {
                        if !ack.session_present {
                            sessions.filters.remove(endpoint.as_str());
                        }
                        sessions.connected.insert(endpoint.to_string(), ack.reason_code.0 < 0x80);
                        acks.push(Line::Connack {
                            step,
                            client: endpoint.to_string(),
                            session_present: ack.session_present,
                            reason_code: ack.reason_code.0,
                        });
                    }
                    Packet::Suback(ack) => {
                        let Some(Op::Subscribe { filter, .. }) =
                            steps.get(step).filter(|s| &s.client == endpoint).map(|s| &s.op)
                        else {
                            return Err(ReplayError::Model(format!(
                                "{endpoint}: a SUBACK outside its subscribe step {step}"
                            )));
                        };
                        if ack.reason_codes.iter().all(|c| c.0 < 0x80) {
                            let fs = sessions.filters.entry(endpoint.to_string()).or_default();
                            if !fs.contains(filter) {
                                fs.push(filter.clone());
                            }
                        }
                        let reason_codes = ack.reason_codes.iter().map(|c| c.0).collect();
                        acks.push(Line::Suback { step, client: endpoint.to_string(), reason_codes });
                    }
                    Packet::Unsuback(ack) => {
                        let Some(Op::Unsubscribe { filter }) =
                            steps.get(step).filter(|s| &s.client == endpoint).map(|s| &s.op)
                        else {
                            return Err(ReplayError::Model(format!(
                                "{endpoint}: an UNSUBACK outside its unsubscribe step {step}"
                            )));
                        };
                        if let Some(fs) = sessions.filters.get_mut(endpoint.as_str()) {
                            fs.retain(|f| f != filter);
                        }
                        let reason_codes = ack.reason_codes.iter().map(|c| c.0).collect();
                        acks.push(Line::Unsuback { step, client: endpoint.to_string(), reason_codes });
                    }
                    _ => {}
                }
            }
            EventKind::Delivery { client, topic, qos, retain, payload, .. } => {
                let payload = String::from_utf8_lossy(payload).into_owned();
                let qos = Qos::from_u8(*qos).unwrap_or(Qos::AtMostOnce);
                let key = (topic.as_str(), payload.as_str());
                let (source, publish_step) = if *retain {
                    (Source::Retained, None)
                } else if let Some((publish_step, publisher)) = publishes.get(&key) {
                    (
                        Source::Publish { publisher: (*publisher).to_owned(), publish_step: *publish_step },
                        Some(*publish_step),
                    )
                } else if let Some(of) = wills.get(&key) {
                    // The will's step: the latest close or will-disconnect of its owner up to now.
                    let will_step = steps[..=step]
                        .iter()
                        .rev()
                        .find(|s| &s.client == of && matches!(s.op, Op::Close | Op::Disconnect { reason: 0x04 }));
                    (Source::Will { of: (*of).to_owned() }, will_step.map(|s| s.step))
                } else {
                    return Err(ReplayError::Model(format!("{client} received {topic} {payload:?} from nowhere")));
                };
                let (max_copies, online) =
                    publish_step.and_then(|p| at_publish.get(&(p, client.clone())).copied()).unwrap_or((1, true));
                let optional = (!online && qos == Qos::AtMostOnce && !*retain).then(|| "qos0-offline".to_owned());
                deliveries.push(ExpectedDelivery {
                    step,
                    client: client.clone(),
                    topic: topic.clone(),
                    payload,
                    qos,
                    retain: *retain,
                    source,
                    max_copies: if *retain { 1 } else { max_copies },
                    optional,
                });
            }
            _ => {}
        }
    }
    Ok((acks, deliveries))
}
