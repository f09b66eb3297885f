//! The built-in scenarios, by name, as `mqttsim sim NAME --seed N` runs
//! them and `sim-tests` snapshots them.
//!
//! Each scenario exists once per protocol version where it applies, named
//! `FAMILY-v311` / `FAMILY-v5`; `fault-heavy` draws its clients' versions,
//! its workload and its swarm parameters from the seed. Every name builds a
//! [`Scenario`] from a seed ([`BuiltIn::build`]; all but `fault-heavy` ignore
//! it, though latency and back-off still come from the seed when the world
//! runs) and runs it through [`run_checked`], which adds the history
//! checkers of [`crate::check::history`] to the scenario's own minimal
//! checks.

use bytes::Bytes;

use super::faults::{Fault, FaultPlan, FaultStep, Swarm, BROKER};
use super::net::LatencyMs;
use super::rng::Stream;
use super::scenario::{Action, RandomFaults, RunOutcome, Scenario, Verdict};
use crate::check::history::{check_history, CheckConfig};
use crate::codec::PropertyValues;
use crate::codec::{Properties, Qos, TopicName, Version, Will};
use crate::model::ClientConfig;
use crate::trace::EventKind;

/// One built-in scenario.
#[derive(Debug, Clone, Copy)]
pub struct BuiltIn {
    /// The name `mqttsim sim` takes.
    pub name: &'static str,
    /// The protocol versions its clients speak.
    pub versions: &'static str,
    /// What it shows, in one line.
    pub summary: &'static str,
    build: fn(u64) -> Scenario,
}

impl BuiltIn {
    /// The scenario for `seed` (only `fault-heavy` draws its shape from it).
    pub fn build(&self, seed: u64) -> Scenario {
        (self.build)(seed)
    }

    /// Builds and runs the scenario with `seed`, history checks included.
    pub fn run(&self, seed: u64) -> RunOutcome {
        run_checked(&self.build(seed), seed)
    }

    /// `NAME  VERSIONS  SUMMARY`, aligned for `mqttsim sim --list`.
    pub fn list_line(&self) -> String {
        format!("{:<34} {:<14} {}", self.name, self.versions, self.summary)
    }
}

const KEEP_ALIVE: &str =
    "a partitioned, silent client is closed by the broker at 1.5x its 60 s keep-alive; its will is published";
const QOS2_PUBLISH: &str =
    "partition right after a QoS 2 PUBLISH: reconnect with the session, resend with DUP, delivered exactly once";
const QOS2_PUBREC: &str =
    "partition right after PUBREC: reconnect with the session, PUBREL again, delivered exactly once";
const QOS2_PUBREL: &str =
    "partition right after PUBREL: reconnect with the session, PUBREL again, delivered exactly once";
const RESTART_DURABLE: &str =
    "broker crash and restart with the durable store: the unacknowledged QoS 1 message is redelivered";
const RESTART_VOLATILE: &str =
    "broker crash and restart without the durable store: the session and its QoS 1 message are lost";
const HOLD: &str = "one publisher's link held then released: deliveries reorder between publishers, never within one";
const TAKEOVER: &str =
    "a second connection with the same client id takes the session over; the first connection is closed";
const WILL_DELAY: &str =
    "will delay against session expiry: the earlier of the two publishes the will, a resumed session none";
const SESSION_EXPIRY: &str =
    "two subscribers disconnect: the one whose session outlives the gap gets the queued message, the other not";
const FAULT_HEAVY: &str =
    "3 clients, 60 s, partitions plus swarm-drawn faults, QoS 0/1/2 workload and versions drawn from the seed";

const V311: &str = "3.1.1";
const V5: &str = "5.0";

/// Every built-in scenario, in listing order.
pub const CATALOG: &[BuiltIn] = &[
    BuiltIn {
        name: "keep-alive-expiry-v311",
        versions: V311,
        summary: KEEP_ALIVE,
        build: |_| keep_alive_expiry(Version::V3_1_1),
    },
    BuiltIn {
        name: "keep-alive-expiry-v5",
        versions: V5,
        summary: KEEP_ALIVE,
        build: |_| keep_alive_expiry(Version::V5),
    },
    BuiltIn {
        name: "qos2-partition-after-publish-v311",
        versions: V311,
        summary: QOS2_PUBLISH,
        build: |_| qos2_partition(Version::V3_1_1, Qos2Cut::AfterPublish),
    },
    BuiltIn {
        name: "qos2-partition-after-publish-v5",
        versions: V5,
        summary: QOS2_PUBLISH,
        build: |_| qos2_partition(Version::V5, Qos2Cut::AfterPublish),
    },
    BuiltIn {
        name: "qos2-partition-after-pubrec-v311",
        versions: V311,
        summary: QOS2_PUBREC,
        build: |_| qos2_partition(Version::V3_1_1, Qos2Cut::AfterPubrec),
    },
    BuiltIn {
        name: "qos2-partition-after-pubrec-v5",
        versions: V5,
        summary: QOS2_PUBREC,
        build: |_| qos2_partition(Version::V5, Qos2Cut::AfterPubrec),
    },
    BuiltIn {
        name: "qos2-partition-after-pubrel-v311",
        versions: V311,
        summary: QOS2_PUBREL,
        build: |_| qos2_partition(Version::V3_1_1, Qos2Cut::AfterPubrel),
    },
    BuiltIn {
        name: "qos2-partition-after-pubrel-v5",
        versions: V5,
        summary: QOS2_PUBREL,
        build: |_| qos2_partition(Version::V5, Qos2Cut::AfterPubrel),
    },
    BuiltIn {
        name: "broker-restart-durable-v311",
        versions: V311,
        summary: RESTART_DURABLE,
        build: |_| broker_restart(Version::V3_1_1, true),
    },
    BuiltIn {
        name: "broker-restart-durable-v5",
        versions: V5,
        summary: RESTART_DURABLE,
        build: |_| broker_restart(Version::V5, true),
    },
    BuiltIn {
        name: "broker-restart-volatile-v311",
        versions: V311,
        summary: RESTART_VOLATILE,
        build: |_| broker_restart(Version::V3_1_1, false),
    },
    BuiltIn {
        name: "broker-restart-volatile-v5",
        versions: V5,
        summary: RESTART_VOLATILE,
        build: |_| broker_restart(Version::V5, false),
    },
    BuiltIn { name: "hold-release-v311", versions: V311, summary: HOLD, build: |_| hold_release(Version::V3_1_1) },
    BuiltIn { name: "hold-release-v5", versions: V5, summary: HOLD, build: |_| hold_release(Version::V5) },
    BuiltIn {
        name: "session-takeover-v311",
        versions: V311,
        summary: TAKEOVER,
        build: |_| session_takeover(Version::V3_1_1),
    },
    BuiltIn { name: "session-takeover-v5", versions: V5, summary: TAKEOVER, build: |_| session_takeover(Version::V5) },
    BuiltIn { name: "will-delay-v5", versions: V5, summary: WILL_DELAY, build: |_| will_delay() },
    BuiltIn { name: "session-expiry-v5", versions: V5, summary: SESSION_EXPIRY, build: |_| session_expiry() },
    BuiltIn { name: "fault-heavy", versions: "3.1.1+5.0", summary: FAULT_HEAVY, build: fault_heavy },
];

/// The built-in scenario named `name`.
pub fn find(name: &str) -> Option<&'static BuiltIn> {
    CATALOG.iter().find(|b| b.name == name)
}

/// Runs `scenario` with `seed`, then, when the scenario's own checks found
/// no safety violation, runs the history checkers over the trace. Their
/// violations turn the verdict into [`Verdict::Safety`]; each is appended
/// to the trace as a note, followed by the new verdict line.
pub fn run_checked(scenario: &Scenario, seed: u64) -> RunOutcome {
    let mut outcome = scenario.run(seed);
    if !matches!(outcome.verdict, Verdict::Pass | Verdict::Liveness(_)) {
        return outcome;
    }
    let config = CheckConfig { durable_broker: scenario.world.durable_store, ..CheckConfig::default() };
    let violations = check_history(&outcome.trace, &config);
    if violations.is_empty() {
        return outcome;
    }
    let lines: Vec<String> = violations.iter().map(|v| format!("history: {v}")).collect();
    let at = outcome.trace.events().last().map(|e| e.at).unwrap_or_default();
    for line in &lines {
        // A full trace keeps what it has; the verdict below still changes.
        let _ = outcome.trace.push(at, EventKind::Note { text: line.clone() });
    }
    outcome.verdict = Verdict::Safety(lines);
    let _ = outcome.trace.push(at, EventKind::Verdict { text: outcome.verdict.line() });
    outcome
}

// ---- builders shared with the scenario tests ----

/// A client config: `persistent` means Clean Start 0 with a one-hour
/// session expiry (5.0) or Clean Session 0 (3.1.1).
pub(crate) fn client(id: &str, version: Version, persistent: bool, keep_alive_secs: u16) -> ClientConfig {
    let mut c = ClientConfig::new(id, version);
    c.keep_alive_secs = keep_alive_secs;
    if persistent {
        c.clean_start = false;
        c.session_expiry_interval_secs = Some(3_600);
    }
    c
}

/// A non-retained publish.
pub(crate) fn publish(topic: &str, payload: &str, qos: Qos) -> Action {
    Action::Publish {
        topic: topic.to_owned(),
        payload: payload.to_owned(),
        qos,
        retain: false,
        properties: Default::default(),
    }
}

/// A subscribe.
pub(crate) fn subscribe(filter: &str, qos: Qos) -> Action {
    Action::Subscribe { filter: filter.to_owned(), qos, options: Default::default() }
}

/// A fault step.
pub(crate) fn fault(at_ms: u64, fault: Fault) -> FaultStep {
    FaultStep { at_ms, fault }
}

/// A two-way partition between `client` and the broker.
pub(crate) fn partition(client: &str) -> Fault {
    Fault::Partition { a: client.to_owned(), b: BROKER.to_owned(), one_way: false }
}

/// Heals the link between `client` and the broker.
pub(crate) fn heal(client: &str) -> Fault {
    Fault::Heal { a: client.to_owned(), b: BROKER.to_owned() }
}

fn will(topic: &str, payload: &'static str, delay_secs: Option<u32>) -> Will {
    let properties = Properties::from(PropertyValues { will_delay_interval_secs: delay_secs, ..Default::default() });
    Will {
        topic: TopicName::new(topic.to_owned()).expect("a valid will topic"),
        payload: Bytes::from_static(payload.as_bytes()),
        qos: Qos::AtLeastOnce,
        retain: false,
        properties,
    }
}

fn suffix(version: Version) -> &'static str {
    match version {
        Version::V3_1_1 => "v311",
        Version::V5 => "v5",
    }
}

// ---- the scenarios ----

/// `keep-alive-expiry-*`: client-a (60 s keep-alive, a QoS 1 will) goes
/// silent and is partitioned at 1 s; the broker closes it 90 s after its
/// last packet and client-b, subscribed to `will/#`, gets the will.
pub fn keep_alive_expiry(version: Version) -> Scenario {
    let mut a = client("a", version, false, 60);
    a.will = Some(will("will/a", "a is gone", None));
    let mut s = Scenario::new(&format!("keep-alive-expiry-{}", suffix(version)))
        .client("client-a", a)
        .client("client-b", client("b", version, false, 60))
        .step(0, "client-a", Action::Connect)
        .step(0, "client-b", Action::Connect)
        .step(50, "client-b", subscribe("will/#", Qos::AtLeastOnce))
        .step(1_000, "client-a", Action::Silence);
    s.faults = FaultPlan::new(vec![fault(1_000, partition("client-a"))]);
    s.end_ms = 100_000;
    s.settle_ms = 60_000;
    s
}

/// Where a QoS 2 flow is cut by a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qos2Cut {
    /// The broker has the PUBLISH; the PUBREC is lost.
    AfterPublish,
    /// The publisher has the PUBREC; the PUBREL is lost.
    AfterPubrec,
    /// The broker has the PUBREL; the PUBCOMP is lost.
    AfterPubrel,
}

impl Qos2Cut {
    /// When the partition starts (ms): with a fixed 10 ms latency and the
    /// publish at 1,000 ms, PUBLISH reaches the broker at 1,010, PUBREC the
    /// publisher at 1,020, PUBREL the broker at 1,030, PUBCOMP the
    /// publisher at 1,040.
    pub fn at_ms(self) -> u64 {
        match self {
            Qos2Cut::AfterPublish => 1_015,
            Qos2Cut::AfterPubrec => 1_025,
            Qos2Cut::AfterPubrel => 1_035,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Qos2Cut::AfterPublish => "publish",
            Qos2Cut::AfterPubrec => "pubrec",
            Qos2Cut::AfterPubrel => "pubrel",
        }
    }
}

/// `qos2-partition-after-*`: a persistent publisher's QoS 2 flow is cut at
/// `cut` and healed at 3 s; it reconnects with its session and finishes the
/// flow; the persistent subscriber gets the message exactly once.
pub fn qos2_partition(version: Version, cut: Qos2Cut) -> Scenario {
    let name = format!("qos2-partition-after-{}-{}", cut.label(), suffix(version));
    let mut s = Scenario::new(&name)
        .client("pub", client("pub", version, true, 5))
        .client("sub", client("sub", version, true, 5))
        .step(0, "pub", Action::Connect)
        .step(0, "sub", Action::Connect)
        .step(100, "sub", subscribe("q/#", Qos::ExactlyOnce))
        .step(1_000, "pub", publish("q/x", "exactly-once", Qos::ExactlyOnce));
    s.world.latency = LatencyMs { min_ms: 10, max_ms: 10 };
    s.faults = FaultPlan::new(vec![fault(cut.at_ms(), partition("pub")), fault(3_000, heal("pub"))]);
    s.end_ms = 30_000;
    s
}

/// `broker-restart-*`: the subscriber's link goes down at 0.5 s, a QoS 1
/// message waits in its session, the broker crashes at 2 s and restarts at
/// 3 s, the link heals at 3.5 s. With `durable` the session survives and
/// the message arrives; without, both are gone.
pub fn broker_restart(version: Version, durable: bool) -> Scenario {
    let kind = if durable { "durable" } else { "volatile" };
    let mut s = Scenario::new(&format!("broker-restart-{kind}-{}", suffix(version)))
        .client("pub", client("pub", version, true, 5))
        .client("sub", client("sub", version, true, 5))
        .step(0, "pub", Action::Connect)
        .step(0, "sub", Action::Connect)
        .step(50, "sub", subscribe("d/#", Qos::AtLeastOnce))
        .step(1_000, "pub", publish("d/x", "survives?", Qos::AtLeastOnce));
    s.world.durable_store = durable;
    s.faults = FaultPlan::new(vec![
        fault(500, partition("sub")),
        fault(2_000, Fault::CrashBroker),
        fault(3_000, Fault::RestartBroker),
        fault(3_500, heal("sub")),
    ]);
    s.end_ms = 30_000;
    s
}

/// `hold-release-*`: p1 and p2 each publish five QoS 1 messages while p1's
/// link is held (1 s to 3 s); the subscriber gets all of p2's before p1's,
/// each publisher's in order. Latency 1 to 40 ms, from the seed.
pub fn hold_release(version: Version) -> Scenario {
    let mut s = Scenario::new(&format!("hold-release-{}", suffix(version)))
        .client("p1", client("p1", version, false, 60))
        .client("p2", client("p2", version, false, 60))
        .client("sub", client("sub", version, false, 60))
        .step(0, "p1", Action::Connect)
        .step(0, "p2", Action::Connect)
        .step(0, "sub", Action::Connect)
        .step(50, "sub", subscribe("o/#", Qos::AtLeastOnce));
    for k in 0..5 {
        s = s.step(1_100 + k * 100, "p1", publish("o/1", &format!("m{k}"), Qos::AtLeastOnce));
        s = s.step(1_100 + k * 100, "p2", publish("o/2", &format!("n{k}"), Qos::AtLeastOnce));
    }
    s.world.latency = LatencyMs { min_ms: 1, max_ms: 40 };
    s.faults = FaultPlan::new(vec![
        fault(1_000, Fault::Hold { a: "p1".to_owned(), b: BROKER.to_owned() }),
        fault(3_000, Fault::Release { a: "p1".to_owned(), b: BROKER.to_owned() }),
    ]);
    s.end_ms = 10_000;
    s
}

/// `session-takeover-*`: `first` (client id `shared`, persistent) subscribes
/// and gets a message; at 2 s `second` connects with the same client id and
/// takes the session over (the broker closes `first`, whose application
/// then stops); the next message reaches `second` through the inherited
/// subscription.
pub fn session_takeover(version: Version) -> Scenario {
    let mut s = Scenario::new(&format!("session-takeover-{}", suffix(version)))
        .client("first", client("shared", version, true, 60))
        .client("second", client("shared", version, true, 60))
        .client("pub", client("pub", version, false, 60))
        .step(0, "first", Action::Connect)
        .step(0, "pub", Action::Connect)
        .step(50, "first", subscribe("s/#", Qos::AtLeastOnce))
        .step(1_000, "pub", publish("s/x", "before takeover", Qos::AtLeastOnce))
        .step(2_000, "second", Action::Connect)
        // The takeover closes `first` about 10 ms later; its reconnect
        // back-off is at least 100 ms, so it stops before trying again.
        .step(2_100, "first", Action::Disconnect { reason: 0 })
        .step(3_000, "pub", publish("s/x", "after takeover", Qos::AtLeastOnce));
    s.world.latency = LatencyMs { min_ms: 2, max_ms: 5 };
    s.end_ms = 10_000;
    s
}

/// `will-delay-v5`: three 5.0 clients with QoS 1 wills send DISCONNECT
/// 0x04 (keep the will) at 1 s. `expiry-first` (will delay 30 s, session
/// expiry 10 s): the will goes when the session ends, at 11 s.
/// `delay-first` (will delay 5 s, session expiry 60 s): at 6 s. `resumed`
/// (will delay 10 s, session expiry 60 s) reconnects at 6 s: never.
pub fn will_delay() -> Scenario {
    let v = Version::V5;
    let with = |id: &str, delay: u32, expiry: u32, payload: &'static str| {
        let mut c = client(id, v, true, 60);
        c.session_expiry_interval_secs = Some(expiry);
        c.will = Some(will(&format!("will/{id}"), payload, Some(delay)));
        c
    };
    let mut s = Scenario::new("will-delay-v5")
        .client("expiry-first", with("expiry-first", 30, 10, "expiry-first is gone"))
        .client("delay-first", with("delay-first", 5, 60, "delay-first is gone"))
        .client("resumed", with("resumed", 10, 60, "resumed is gone"))
        .client("sub", client("sub", v, false, 60))
        .step(0, "sub", Action::Connect)
        .step(0, "expiry-first", Action::Connect)
        .step(0, "delay-first", Action::Connect)
        .step(0, "resumed", Action::Connect)
        .step(50, "sub", subscribe("will/#", Qos::AtLeastOnce));
    for name in ["expiry-first", "delay-first", "resumed"] {
        s = s.step(1_000, name, Action::Disconnect { reason: 0x04 });
    }
    s = s.step(6_000, "resumed", Action::Connect);
    s.end_ms = 30_000;
    s
}

/// `session-expiry-v5`: `keeps` (session expiry 60 s) and `loses` (5 s)
/// subscribe at QoS 1 and disconnect at 1 s; a QoS 1 message is published
/// at 2 s; both reconnect at 10 s. `keeps` resumes its session (session
/// present 1) and gets the message; `loses` starts afresh and does not.
pub fn session_expiry() -> Scenario {
    let v = Version::V5;
    let with = |id: &str, expiry: u32| {
        let mut c = client(id, v, true, 60);
        c.session_expiry_interval_secs = Some(expiry);
        c
    };
    let mut s = Scenario::new("session-expiry-v5")
        .client("keeps", with("keeps", 60))
        .client("loses", with("loses", 5))
        .client("pub", client("pub", v, false, 60))
        .step(0, "keeps", Action::Connect)
        .step(0, "loses", Action::Connect)
        .step(0, "pub", Action::Connect)
        .step(50, "keeps", subscribe("e/#", Qos::AtLeastOnce))
        .step(50, "loses", subscribe("e/#", Qos::AtLeastOnce))
        .step(1_000, "keeps", Action::Disconnect { reason: 0 })
        .step(1_000, "loses", Action::Disconnect { reason: 0 })
        .step(2_000, "pub", publish("e/x", "while away", Qos::AtLeastOnce))
        .step(10_000, "keeps", Action::Connect)
        .step(10_000, "loses", Action::Connect);
    s.end_ms = 20_000;
    s
}

/// The stream `fault-heavy` draws its shape from.
pub const FAULT_HEAVY_STREAM: &str = "catalog/fault-heavy";

/// Publishes per client in `fault-heavy`.
pub const FAULT_HEAVY_PUBLISHES: u64 = 20;

/// `fault-heavy`: three persistent clients (each 3.1.1 or 5.0, 10 s
/// keep-alive) subscribe to `t/#` at QoS 1 or 2 and publish
/// [`FAULT_HEAVY_PUBLISHES`] messages each at QoS 0, 1 or 2 over 60 s,
/// all drawn from the seed, with the durable store on and faults drawn
/// swarm style: partitions always (mean 2 to 15 s apart), every other kind
/// on with probability 1/2 at its own drawn rate.
pub fn fault_heavy(seed: u64) -> Scenario {
    let mut rng = Stream::new(seed, FAULT_HEAVY_STREAM);
    let names = ["client-a", "client-b", "client-c"];
    let mut s = Scenario::new("fault-heavy");
    s.world.latency = LatencyMs { min_ms: 1, max_ms: 20 };
    s.world.durable_store = true;
    let partition_every_ms = Some(rng.range_u64(2_000, 15_000));
    let mut maybe = |lo: u64, hi: u64| rng.chance(0.5).then(|| rng.range_u64(lo, hi));
    let swarm = Swarm {
        partition_every_ms,
        hold_every_ms: maybe(2_000, 30_000),
        latency_every_ms: maybe(2_000, 30_000),
        close_every_ms: maybe(2_000, 30_000),
        silence_every_ms: maybe(2_000, 30_000),
        crash_every_ms: maybe(10_000, 60_000),
    };
    s.random_faults = Some(RandomFaults { swarm: Some(swarm), until_ms: 60_000 });
    for name in names {
        let version = if rng.chance(0.5) { Version::V5 } else { Version::V3_1_1 };
        let sub_qos = if rng.chance(0.5) { Qos::ExactlyOnce } else { Qos::AtLeastOnce };
        s = s.client(name, client(name, version, true, 10));
        s = s.step(0, name, Action::Connect).step(10, name, subscribe("t/#", sub_qos));
    }
    let slot_ms = 58_000 / FAULT_HEAVY_PUBLISHES;
    for k in 0..FAULT_HEAVY_PUBLISHES {
        for name in names {
            let at = 500 + k * slot_ms + rng.range_u64(0, slot_ms - 1);
            let qos = [Qos::AtMostOnce, Qos::AtLeastOnce, Qos::ExactlyOnce][rng.index(3)];
            s = s.step(at, name, publish(&format!("t/{name}"), &format!("{name}-{k}"), qos));
        }
    }
    s.script.sort_by_key(|step| step.at_ms);
    s.end_ms = 60_000;
    s.settle_ms = 120_000;
    s
}
