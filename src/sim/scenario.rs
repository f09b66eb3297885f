//! Scenarios: a world configuration, clients, a fault plan (written or drawn
//! from the seed) and a script of application steps, run as a safety phase
//! (until the script's end) followed by a liveness phase (every fault
//! healed, the system must settle within a bound).
//!
//! The checks here are deliberately minimal (client-reported protocol
//! violations, QoS 2 duplicates, and settling: clients connected, QoS >= 1
//! messages and owed wills delivered); the oracles over the trace live in
//! `check`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::client::Command;
use super::faults::{FaultPlan, Swarm};
use super::rng::Stream;
use super::world::{Delivered, Published, World, WorldConfig};
use crate::codec::{
    filter_matches, Properties, PropertyValues, Qos, ReasonCode, RetainHandling, Subscription, SubscriptionOptions,
    TopicFilter, TopicName, Version,
};
use crate::model::{ClientConfig, ModelClient};
use crate::trace::{Trace, TraceHeader};

/// What a client's application does at a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Connect, and stay connected (reconnecting after a close).
    Connect,
    /// Subscribe to `filter` at `qos`.
    Subscribe {
        /// The filter.
        filter: String,
        /// The maximum QoS.
        qos: Qos,
        /// The other subscription options (5.0; ignored for 3.1.1).
        #[serde(default, skip_serializing_if = "SubscribeOptions::is_default")]
        options: SubscribeOptions,
    },
    /// Unsubscribe from `filter`.
    Unsubscribe {
        /// The filter.
        filter: String,
    },
    /// Publish.
    Publish {
        /// The topic.
        topic: String,
        /// The payload (UTF-8 for readable traces; keep it unique per run).
        payload: String,
        /// The QoS.
        qos: Qos,
        /// The RETAIN flag.
        retain: bool,
        /// PUBLISH properties (5.0; ignored for 3.1.1).
        #[serde(default, skip_serializing_if = "PublishProperties::is_empty")]
        properties: PublishProperties,
    },
    /// Send DISCONNECT with `reason` and stay disconnected.
    Disconnect {
        /// The reason code (5.0; 0x04 keeps the will).
        reason: u8,
    },
    /// Stop reading and sending (the socket stays open).
    Silence,
    /// Resume after [`Action::Silence`].
    Resume,
}

/// The subscription options of [`Action::Subscribe`] beyond the QoS (5.0).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscribeOptions {
    /// No Local: the client's own publications are not sent back to it.
    #[serde(default)]
    pub no_local: bool,
    /// Retain As Published: forwarded messages keep their RETAIN flag.
    #[serde(default)]
    pub retain_as_published: bool,
    /// Retain Handling: 0 send retained at subscribe, 1 only for a new
    /// subscription, 2 never.
    #[serde(default)]
    pub retain_handling: u8,
    /// A Subscription Identifier (1 to 268,435,455) for the SUBSCRIBE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_identifier: Option<u32>,
}

impl SubscribeOptions {
    /// Whether nothing beyond the QoS is set.
    pub fn is_default(&self) -> bool {
        *self == SubscribeOptions::default()
    }
}

/// The properties of [`Action::Publish`] (5.0).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishProperties {
    /// Message Expiry Interval, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_expiry_secs: Option<u32>,
    /// Payload Format Indicator 1: the payload is UTF-8.
    #[serde(default)]
    pub payload_utf8: bool,
    /// Content Type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Response Topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_topic: Option<String>,
    /// Correlation Data (as text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_data: Option<String>,
    /// User Properties, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_properties: Vec<(String, String)>,
}

impl PublishProperties {
    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        *self == PublishProperties::default()
    }

    /// As codec properties.
    pub fn to_properties(&self) -> Properties {
        if self.is_empty() {
            return Properties::default();
        }
        Properties::from(PropertyValues {
            message_expiry_interval_secs: self.message_expiry_secs,
            payload_format_indicator: self.payload_utf8.then_some(1),
            content_type: self.content_type.clone(),
            response_topic: self.response_topic.clone(),
            correlation_data: self.correlation_data.as_ref().map(|c| Bytes::from(c.clone().into_bytes())),
            user_properties: self.user_properties.clone(),
            ..Default::default()
        })
    }
}

/// One scripted step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// When, ms.
    pub at_ms: u64,
    /// Which client, by name.
    pub client: String,
    /// What it does.
    pub action: Action,
}

/// A client of a scenario: its endpoint name and its configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSpec {
    /// The endpoint name in the trace (`client-a`, ...).
    pub name: String,
    /// Its configuration.
    pub config: ClientConfig,
}

/// Faults drawn from the seed instead of (in addition to) a written plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RandomFaults {
    /// The swarm parameters; drawn per seed when absent.
    pub swarm: Option<Swarm>,
    /// Faults are drawn within `0..until_ms`.
    pub until_ms: u64,
}

/// A scenario. See the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scenario {
    /// Its name, as `mqttsim sim NAME` takes it.
    pub name: String,
    /// The world's configuration.
    pub world: WorldConfig,
    /// The clients.
    pub clients: Vec<ClientSpec>,
    /// Written faults.
    pub faults: FaultPlan,
    /// Faults drawn from the seed.
    pub random_faults: Option<RandomFaults>,
    /// The script.
    pub script: Vec<Step>,
    /// The safety phase ends here (ms); the liveness phase starts.
    pub end_ms: u64,
    /// The liveness phase must settle within this many ms.
    pub settle_ms: u64,
    /// The trace's bound.
    pub max_events: usize,
}

impl Scenario {
    /// An empty scenario named `name`: default world, no clients, 60 s of
    /// safety, 60 s to settle, 1,000,000 trace events at most.
    pub fn new(name: &str) -> Scenario {
        Scenario {
            name: name.to_owned(),
            world: WorldConfig::default(),
            clients: Vec::new(),
            faults: FaultPlan::default(),
            random_faults: None,
            script: Vec::new(),
            end_ms: 60_000,
            settle_ms: 60_000,
            max_events: 1_000_000,
        }
    }

    /// Adds a client.
    pub fn client(mut self, name: &str, config: ClientConfig) -> Scenario {
        self.clients.push(ClientSpec { name: name.to_owned(), config });
        self
    }

    /// Adds a step.
    pub fn step(mut self, at_ms: u64, client: &str, action: Action) -> Scenario {
        self.script.push(Step { at_ms, client: client.to_owned(), action });
        self
    }

    /// The fault plan of a run with `seed`: the written faults plus those
    /// drawn from the seed's fault stream, and the swarm parameters drawn
    /// (both drivers run the same plan for the same seed).
    pub fn fault_plan(&self, seed: u64) -> (FaultPlan, Option<Swarm>) {
        let mut faults = self.faults.clone();
        let mut swarm = None;
        if let Some(random) = &self.random_faults {
            let names: Vec<String> = self.clients.iter().map(|c| c.name.clone()).collect();
            let mut stream = Stream::new(seed, super::rng::FAULTS);
            let (drawn, used) = FaultPlan::draw(&mut stream, &names, random.until_ms, random.swarm.clone());
            faults.steps.extend(drawn.steps);
            faults = FaultPlan::new(faults.steps);
            swarm = Some(used);
        }
        (faults, swarm)
    }

    /// Runs the scenario with `seed`; the trace header carries the whole
    /// scenario ([`HeaderDetail::Full`]).
    pub fn run(&self, seed: u64) -> RunOutcome {
        self.run_with(seed, HeaderDetail::Full)
    }

    /// Runs the scenario with `seed`, with as much of it in the trace
    /// header as `detail` asks for. The events are the same either way.
    pub fn run_with(&self, seed: u64, detail: HeaderDetail) -> RunOutcome {
        let (faults, swarm) = self.fault_plan(seed);
        let config = match detail {
            HeaderDetail::Full => serde_json::json!({
                "scenario": self,
                "sampled": { "swarm": swarm, "faults": faults },
            }),
            HeaderDetail::Brief => serde_json::Value::Null,
        };
        // Tick 0: the discrete-event driver has no fixed step.
        let header = TraceHeader::new(seed, self.name.clone(), Duration::ZERO, config);
        let mut trace = Trace::new(header, self.max_events);
        // About 64 events per step and fault (fault-heavy records ~50): one
        // allocation instead of a dozen reallocations of a large vector.
        trace.reserve(64 * (self.script.len() + faults.steps.len()) + 256);
        let mut world = World::new(self.world.clone(), seed, trace);
        for spec in &self.clients {
            let persistent = spec.config.is_persistent();
            world.add_client(&spec.name, Box::new(ModelClient::new(spec.config.clone())), persistent);
        }
        for step in &faults.steps {
            world.schedule_fault(Duration::from_millis(step.at_ms), step.fault.clone());
        }
        for step in &self.script {
            let at = Duration::from_millis(step.at_ms);
            let Some(i) = world.client_index(&step.client) else {
                return self.harness(world, format!("step for unknown client {}", step.client));
            };
            let version = self.clients[i].config.version;
            match &step.action {
                Action::Connect => world.schedule_connect(at, i),
                Action::Silence => world.schedule_silence(at, i),
                Action::Resume => world.schedule_resume(at, i),
                Action::Subscribe { filter, qos, options } => {
                    let Ok(filter) = TopicFilter::for_version(filter.clone(), version) else {
                        return self.harness(world, format!("bad filter {filter}"));
                    };
                    let mut sub = Subscription { filter, options: SubscriptionOptions::qos(*qos) };
                    let mut properties = Properties::default();
                    if version == Version::V5 {
                        sub.options.no_local = options.no_local;
                        sub.options.retain_as_published = options.retain_as_published;
                        let Some(rh) = RetainHandling::from_u8(options.retain_handling) else {
                            return self.harness(world, format!("bad retain handling {}", options.retain_handling));
                        };
                        sub.options.retain_handling = rh;
                        if let Some(id) = options.subscription_identifier {
                            properties.subscription_identifiers = vec![id];
                        }
                    }
                    world.schedule_command_with(at, i, Command::Subscribe(vec![sub]), properties);
                }
                Action::Unsubscribe { filter } => {
                    let Ok(filter) = TopicFilter::for_version(filter.clone(), version) else {
                        return self.harness(world, format!("bad filter {filter}"));
                    };
                    world.schedule_command(at, i, Command::Unsubscribe(vec![filter]));
                }
                Action::Publish { topic, payload, qos, retain, properties } => {
                    let Ok(topic) = TopicName::new(topic.clone()) else {
                        return self.harness(world, format!("bad topic {topic}"));
                    };
                    let payload = Bytes::from(payload.clone().into_bytes());
                    let properties =
                        if version == Version::V5 { properties.to_properties() } else { Properties::default() };
                    let command = Command::Publish { topic, payload, qos: *qos, retain: *retain };
                    world.schedule_command_with(at, i, command, properties);
                }
                Action::Disconnect { reason } => {
                    world.schedule_command(at, i, Command::Disconnect(ReasonCode(*reason)))
                }
            }
        }

        // Safety phase.
        let end = Duration::from_millis(self.end_ms);
        world.schedule_mark(end);
        if !world.run_until(end) {
            let why = world.stopped().map(|s| s.to_string()).unwrap_or_default();
            return self.harness(world, why);
        }
        let safety = safety_findings(&world);
        if !safety.is_empty() {
            return finish(world, Verdict::Safety(safety));
        }

        // Liveness phase.
        world.heal_all();
        let until = end + Duration::from_millis(self.settle_ms);
        let settled = world.run_until_settled(until, Duration::from_secs(1), |w| liveness(w, until, false).is_empty());
        if let Some(stop) = world.stopped() {
            let why = stop.to_string();
            return self.harness(world, why);
        }
        let mut safety = safety_findings(&world);
        if !safety.is_empty() {
            safety.sort();
            return finish(world, Verdict::Safety(safety));
        }
        if !settled {
            let findings = liveness(&world, until, true);
            return finish(world, Verdict::Liveness(findings));
        }
        finish(world, Verdict::Pass)
    }

    fn harness(&self, world: World, why: String) -> RunOutcome {
        finish(world, Verdict::Harness(why))
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Safe and settled.
    Pass,
    /// Safety violations.
    Safety(Vec<String>),
    /// The system did not settle after every fault healed.
    Liveness(Vec<String>),
    /// The harness failed or a bound was hit.
    Harness(String),
}

impl Verdict {
    /// One line: `pass`, `safety: ...`, `liveness: ...` or `harness: ...`.
    pub fn line(&self) -> String {
        match self {
            Verdict::Pass => "pass".to_owned(),
            Verdict::Safety(v) => format!("safety: {}", v.join("; ")),
            Verdict::Liveness(v) => format!("liveness: {}", v.join("; ")),
            Verdict::Harness(why) => format!("harness: {why}"),
        }
    }
}

/// How much a run's trace header says about the scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderDetail {
    /// The whole scenario and the sampled fault plan, as JSON: the trace
    /// alone is enough to replay the run.
    Full,
    /// Only the seed and the scenario's name (the config is `null`). For
    /// sweeps that judge a trace and drop it: serialising a generated
    /// scenario costs about a tenth of a run, and the run can be replayed
    /// from its seed.
    Brief,
}

/// The result of [`Scenario::run`].
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Everything that happened, ending with the verdict line.
    pub trace: Trace,
    /// The verdict.
    pub verdict: Verdict,
    /// What the clients published.
    pub published: Vec<Published>,
    /// What the clients' applications received.
    pub delivered: Vec<Delivered>,
}

fn finish(mut world: World, verdict: Verdict) -> RunOutcome {
    world.verdict(&verdict.line());
    let (published, delivered) = world.take_results();
    RunOutcome { trace: world.into_trace(), verdict, published, delivered }
}

/// Client-reported protocol violations, and a QoS 2 message handed to the
/// same application more often than its subscriptions allow (payloads are
/// unique per run by convention): once, plus once per matching shared
/// subscription; retained copies for new subscriptions do not count.
fn safety_findings(world: &World) -> Vec<String> {
    let mut out: Vec<String> = world.violations().to_vec();
    let mut seen: BTreeMap<(&String, &String, &Bytes), usize> = BTreeMap::new();
    // Only applications' publications have unique payloads; a will is sent
    // again each time its connection ends.
    let published: BTreeSet<&Bytes> = world.published().iter().map(|p| &p.payload).collect();
    for d in world.delivered() {
        // A retained copy sent for a new subscription is a copy of its own
        // (RETAIN=1 also marks live Retain As Published copies; the history
        // checker's exactly-once rule judges every copy).
        if d.qos != Qos::ExactlyOnce || d.retain || !published.contains(&d.payload) {
            continue;
        }
        let copies = seen.entry((&d.client, &d.topic, &d.payload)).or_default();
        *copies += 1;
        // Each shared subscription that matches brings its own copy, on top
        // of the one from the client's non-shared subscriptions (MQTT 5.0
        // section 4.8.2), so those copies are not duplicates.
        let shared = world.client_index(&d.client).map_or(0, |i| {
            world
                .shared_filters_ever(i)
                .iter()
                .filter(|f| f.splitn(3, '/').nth(2).is_some_and(|f| filter_matches(f, &d.topic)))
                .count()
        });
        if *copies == 2 + shared {
            out.push(format!(
                "{} received QoS 2 message {:?} on {} twice",
                d.client,
                String::from_utf8_lossy(&d.payload),
                d.topic
            ));
        }
    }
    out
}

/// What keeps the world from having settled: a client that should be
/// connected and is not; a persistent publisher's QoS >= 1 message not
/// completed; a completed QoS >= 1 message not delivered to a subscriber
/// whose subscription was known active (and its session unbroken) from
/// before the publish to now; a will the broker owes by `until` (see
/// [`super::wills`]) not delivered to such a subscriber of its topic.
/// Unless `all`, it stops at the first finding (the settle checks only ask
/// whether there is one).
fn liveness(world: &World, until: Duration, all: bool) -> Vec<String> {
    let mut out = Vec::new();
    let found = |out: &mut Vec<String>, finding: String| {
        out.push(finding);
        !all
    };
    let clients = world.client_count();
    for i in 0..clients {
        if world.wants_connected(i)
            && !world.is_connected(i)
            && found(&mut out, format!("{} is not connected", world.client_name(i)))
        {
            return out;
        }
    }
    for p in world.published() {
        // An expiring message may rightly be dropped undelivered (the history
        // checker judges those against their expiry).
        if p.qos == Qos::AtMostOnce || p.expiry.is_some() {
            continue;
        }
        let Some(publisher) = world.client_index(&p.client) else { continue };
        if p.completed_at.is_none() {
            if world.is_persistent(publisher)
                && world.wants_connected(publisher)
                && found(&mut out, format!("{} publish {} not completed", p.client, p.seq))
            {
                return out;
            }
            continue;
        }
        for j in 0..clients {
            if !world.wants_connected(j) {
                continue;
            }
            let expected = world.subscriptions(j).iter().any(|s| {
                s.since <= p.at
                    && s.qos != Qos::AtMostOnce
                    && !(s.no_local && j == publisher)
                    && filter_matches(&s.filter, &p.topic)
            });
            if expected && !world.has_delivered(j, &p.topic, &p.payload) {
                let finding = format!("{} did not receive {} publish {}", world.client_name(j), p.client, p.seq);
                if found(&mut out, finding) {
                    return out;
                }
            }
        }
    }
    for will in world.owed_wills(until) {
        for j in 0..clients {
            if !world.wants_connected(j) {
                continue;
            }
            let name = world.client_name(j);
            let expected = world.subscriptions(j).iter().any(|s| {
                s.since <= will.due
                    && s.qos != Qos::AtMostOnce
                    && !(s.no_local && name == will.endpoint)
                    && filter_matches(&s.filter, &will.topic)
            });
            if expected && !world.has_delivered(j, &will.topic, &will.payload) {
                let finding = format!(
                    "{name} did not receive the will of {} (due at {} ms)",
                    will.endpoint,
                    will.due.as_millis()
                );
                if found(&mut out, finding) {
                    return out;
                }
            }
        }
    }
    out
}
