//! The built-in simulation scenarios: a snapshot of each one's trace at a
//! fixed seed (top-level `snapshots/`), what each must show, determinism
//! over hundreds of `fault-heavy` seeds, and the `mqttsim sim` command
//! line. (The replay of every file in `seeds/` is in `explore.rs`.)
//!
//! Snapshots are accepted with `INSTA_UPDATE=always cargo test --test
//! sim-tests sim` (or `cargo insta review`); under `CI` a changed or new
//! snapshot fails.

use std::collections::BTreeMap;
use std::process::Command;

use mqttsim::sim::catalog::{self, BuiltIn, CATALOG};
use mqttsim::sim::{RunOutcome, Verdict};
use mqttsim::trace::{EventKind, Trace};

/// The seed every snapshot is taken with.
const SNAPSHOT_SEED: u64 = 1;

/// Seeds the determinism test runs twice each.
const DETERMINISM_SEEDS: u64 = 200;

/// The one place snapshots are configured: top-level `snapshots/`, no module prefix.
fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings
}

fn builtin(name: &str) -> &'static BuiltIn {
    catalog::find(name).unwrap_or_else(|| panic!("no built-in scenario {name}"))
}

/// A large trace, as a snapshot: its header, every fault and note, the
/// number of events of each kind, the verdict, and the content hash of the
/// whole text (so any change to any event still shows).
fn summary(trace: &Trace) -> String {
    let text = trace.render_text();
    let mut out: String = text.lines().take_while(|l| l.starts_with('#')).map(|l| format!("{l}\n")).collect();
    let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
    for event in trace.events() {
        let kind = match &event.kind {
            EventKind::Packet { .. } => "packet",
            EventKind::Malformed { .. } => "malformed",
            EventKind::Opened { .. } => "opened",
            EventKind::Closed { .. } => "closed",
            EventKind::Cite { .. } => "cite",
            EventKind::Fault { .. } => "fault",
            EventKind::Delivery { .. } => "delivery",
            EventKind::Note { .. } => "note",
            EventKind::Verdict { .. } => "verdict",
        };
        *kinds.entry(kind).or_default() += 1;
    }
    out.push_str(&format!("# summary: {} events, {} bytes of text\n", trace.len(), text.len()));
    for (kind, n) in kinds {
        out.push_str(&format!("# {kind}: {n}\n"));
    }
    out.push_str(&format!("# content hash: {}\n", trace.content_hash()));
    let header_lines = out.lines().count();
    let body = text.lines().skip_while(|l| l.starts_with('#'));
    for line in body.filter(|l| l.contains("!! FAULT") || l.contains(".. NOTE") || l.contains("** VERDICT")) {
        out.push_str(line);
        out.push('\n');
    }
    debug_assert!(out.lines().count() >= header_lines);
    out
}

/// Runs `name` at the snapshot seed and snapshots its trace (whole, or a
/// summary for `fault-heavy`). Returns the outcome for further checks.
fn snapshot(name: &str) -> RunOutcome {
    let outcome = builtin(name).run(SNAPSHOT_SEED);
    let text = if name == "fault-heavy" { summary(&outcome.trace) } else { outcome.trace.render_text() };
    assert!(text.starts_with(&format!("# mqttsim trace\n# seed: {SNAPSHOT_SEED}\n# scenario: {name}\n# tick: ")));
    snapshot_settings().bind(|| insta::assert_snapshot!(name, text));
    outcome
}

fn payloads_to(outcome: &RunOutcome, client: &str) -> Vec<String> {
    outcome
        .delivered
        .iter()
        .filter(|d| d.client == client)
        .map(|d| String::from_utf8_lossy(&d.payload).into_owned())
        .collect()
}

macro_rules! snapshot_tests {
    ($($test:ident => $name:literal),* $(,)?) => {
        /// The names with a snapshot test below.
        const SNAPSHOTTED: &[&str] = &[$($name),*];
        $(
            #[doc = concat!("`", $name, "` passes at the snapshot seed and its trace matches its snapshot.")]
            #[test]
            fn $test() {
                let outcome = snapshot($name);
                assert_eq!(outcome.verdict, Verdict::Pass, "{}", $name);
            }
        )*
    };
}

snapshot_tests! {
    keep_alive_expiry_v311 => "keep-alive-expiry-v311",
    keep_alive_expiry_v5 => "keep-alive-expiry-v5",
    qos2_partition_after_publish_v311 => "qos2-partition-after-publish-v311",
    qos2_partition_after_publish_v5 => "qos2-partition-after-publish-v5",
    qos2_partition_after_pubrec_v311 => "qos2-partition-after-pubrec-v311",
    qos2_partition_after_pubrec_v5 => "qos2-partition-after-pubrec-v5",
    qos2_partition_after_pubrel_v311 => "qos2-partition-after-pubrel-v311",
    qos2_partition_after_pubrel_v5 => "qos2-partition-after-pubrel-v5",
    broker_restart_durable_v311 => "broker-restart-durable-v311",
    broker_restart_durable_v5 => "broker-restart-durable-v5",
    broker_restart_volatile_v311 => "broker-restart-volatile-v311",
    broker_restart_volatile_v5 => "broker-restart-volatile-v5",
    hold_release_v311 => "hold-release-v311",
    hold_release_v5 => "hold-release-v5",
    session_takeover_v311 => "session-takeover-v311",
    session_takeover_v5 => "session-takeover-v5",
    will_delay_v5 => "will-delay-v5",
    session_expiry_v5 => "session-expiry-v5",
    fault_heavy => "fault-heavy",
}

/// Every built-in scenario has a snapshot test, and names are unique.
#[test]
fn every_built_in_scenario_is_snapshotted() {
    let names: Vec<&str> = CATALOG.iter().map(|b| b.name).collect();
    assert_eq!(names, SNAPSHOTTED);
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len());
}

/// Every built-in scenario passes for a few more seeds than the snapshot's.
#[test]
fn every_built_in_scenario_passes_for_several_seeds() {
    for b in CATALOG {
        for seed in 2..6 {
            let outcome = b.run(seed);
            assert_eq!(outcome.verdict, Verdict::Pass, "mqttsim sim {} --seed {seed}", b.name);
        }
    }
}

/// Session takeover: the second connection resumes the session (session present 1) and gets the next message through the inherited subscription; the first gets only the one before.
#[test]
fn a_takeover_moves_the_session_to_the_second_connection() {
    for name in ["session-takeover-v311", "session-takeover-v5"] {
        let outcome = builtin(name).run(SNAPSHOT_SEED);
        assert_eq!(payloads_to(&outcome, "first"), ["before takeover"], "{name}");
        assert_eq!(payloads_to(&outcome, "second"), ["after takeover"], "{name}");
        let text = outcome.trace.render_text();
        assert!(text.contains("second     #3   <- CONNACK session_present=1"), "{name}");
    }
}

/// Will delay against session expiry: the session's end publishes the will at 11 s, the delay at 6 s, and a resumed session never.
#[test]
fn the_earlier_of_will_delay_and_session_expiry_publishes_the_will() {
    let outcome = builtin("will-delay-v5").run(SNAPSHOT_SEED);
    let at = |payload: &str| {
        outcome.delivered.iter().find(|d| d.client == "sub" && d.payload == payload.as_bytes()).map(|d| d.at.as_secs())
    };
    assert_eq!(at("delay-first is gone"), Some(6));
    assert_eq!(at("expiry-first is gone"), Some(11));
    assert_eq!(at("resumed is gone"), None);
}

/// Session expiry while disconnected: only the session that outlived the gap gets the queued message.
#[test]
fn only_a_session_that_outlives_the_gap_gets_the_queued_message() {
    let outcome = builtin("session-expiry-v5").run(SNAPSHOT_SEED);
    assert_eq!(payloads_to(&outcome, "keeps"), ["while away"]);
    assert!(payloads_to(&outcome, "loses").is_empty());
}

/// Broker restart: the durable store redelivers the QoS 1 message; without it the message is gone.
#[test]
fn only_the_durable_store_redelivers_after_a_broker_restart() {
    for v in ["v311", "v5"] {
        let durable = builtin(&format!("broker-restart-durable-{v}")).run(SNAPSHOT_SEED);
        assert_eq!(payloads_to(&durable, "sub"), ["survives?"], "{v}");
        let volatile = builtin(&format!("broker-restart-volatile-{v}")).run(SNAPSHOT_SEED);
        assert!(payloads_to(&volatile, "sub").is_empty(), "{v}");
    }
}

/// The QoS 2 partitions deliver exactly once at every step, in both versions.
#[test]
fn qos2_partitions_deliver_exactly_once() {
    for b in CATALOG.iter().filter(|b| b.name.starts_with("qos2-partition-")) {
        for seed in 0..4 {
            let outcome = b.run(seed);
            assert_eq!(payloads_to(&outcome, "sub"), ["exactly-once"], "{} --seed {seed}", b.name);
        }
    }
}

/// `fault-heavy`, run twice for each of 200 seeds, gives the same trace bytes both times.
#[test]
fn fault_heavy_traces_are_identical_for_the_same_seed() {
    let b = builtin("fault-heavy");
    let mut verdicts: BTreeMap<String, u64> = BTreeMap::new();
    for seed in 0..DETERMINISM_SEEDS {
        let first = b.run(seed);
        let second = b.run(seed);
        let (a, b2) = (first.trace.render_text(), second.trace.render_text());
        assert!(a == b2, "mqttsim sim fault-heavy --seed {seed}: two runs differ");
        assert_eq!(first.verdict, second.verdict, "seed {seed}");
        let kind = first.verdict.line().split(':').next().unwrap_or_default().to_owned();
        *verdicts.entry(kind).or_default() += 1;
    }
    assert_eq!(verdicts.get("pass").copied(), Some(DETERMINISM_SEEDS), "{verdicts:?}");
}

/// Different seeds give different `fault-heavy` traces, and different traces for a scenario whose shape is fixed but whose latency is drawn.
#[test]
fn different_seeds_give_different_traces() {
    for name in ["fault-heavy", "hold-release-v5"] {
        let b = builtin(name);
        let hashes: Vec<_> = (0..16).map(|seed| b.run(seed).trace.content_hash()).collect();
        let mut unique = hashes.clone();
        unique.sort_by_key(|h| h.0);
        unique.dedup();
        assert_eq!(unique.len(), hashes.len(), "{name}: {hashes:?}");
    }
}

fn mqttsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mqttsim")).args(args).output().expect("run mqttsim")
}

/// `mqttsim sim` prints the same bytes in two processes, ends with the verdict line, and exits 0.
#[test]
fn the_cli_prints_identical_bytes_in_two_processes() {
    let a = mqttsim(&["sim", "fault-heavy", "--seed", "7"]);
    let b = mqttsim(&["sim", "fault-heavy", "--seed", "7"]);
    assert_eq!(a.status.code(), Some(0), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(a.stdout == b.stdout, "two processes printed different bytes");
    let text = String::from_utf8(a.stdout).unwrap();
    assert!(text.starts_with("# mqttsim trace\n# seed: 7\n# scenario: fault-heavy\n"));
    assert!(text.ends_with("verdict: pass\n"));
    let c = mqttsim(&["sim", "fault-heavy", "--seed", "8"]);
    assert!(c.stdout != b.stdout);
}

/// `--list` names every built-in scenario; an unknown scenario or a missing seed exits 2.
#[test]
fn the_cli_lists_scenarios_and_rejects_unknown_ones() {
    let list = mqttsim(&["sim", "--list"]);
    assert_eq!(list.status.code(), Some(0));
    let text = String::from_utf8(list.stdout).unwrap();
    assert_eq!(text.lines().count(), CATALOG.len());
    for b in CATALOG {
        assert!(text.lines().any(|l| l.starts_with(&format!("{} ", b.name))), "{}", b.name);
    }
    assert_eq!(mqttsim(&["sim", "no-such-scenario", "--seed", "1"]).status.code(), Some(2));
    assert_eq!(mqttsim(&["sim", "keep-alive-expiry-v5"]).status.code(), Some(2));
    let jsonl = mqttsim(&["sim", "keep-alive-expiry-v5", "--seed", "3", "--trace", "jsonl"]);
    assert_eq!(jsonl.status.code(), Some(0));
    let first = String::from_utf8(jsonl.stdout).unwrap();
    assert!(first.lines().next().is_some_and(|l| l.starts_with('{')));
}

/// The kind of a verdict: `pass`, `safety`, `liveness` or `harness`.
fn kind(verdict: &Verdict) -> &'static str {
    match verdict {
        Verdict::Pass => "pass",
        Verdict::Safety(_) => "safety",
        Verdict::Liveness(_) => "liveness",
        Verdict::Harness(_) => "harness",
    }
}

type Deliveries = Vec<(String, String, bytes::Bytes)>;

/// Runs `name` with `seed` on both drivers (turmoil at a 10 ms tick):
/// each one's verdict kind and sorted deliveries (client, topic, payload).
fn both_drivers(name: &str, seed: u64) -> ((&'static str, Deliveries), (&'static str, Deliveries)) {
    let b = builtin(name);
    let discrete = b.run(seed);
    let turmoil = mqttsim::sim::turmoil::run_scenario(&b.build(seed), seed, 10);
    let mut delivered: Deliveries =
        discrete.delivered.iter().map(|d| (d.client.clone(), d.topic.clone(), d.payload.clone())).collect();
    delivered.sort();
    ((kind(&discrete.verdict), delivered), (kind(&turmoil.verdict), turmoil.delivered))
}

/// Both drivers agree on scenarios whose outcome does not hinge on timing: the same seeds of fault-free and faulted built-in scenarios (partition, hold, crash and restart with and without the durable store, client silence), run on the discrete-event world and on turmoil, pass on both and hand exactly the same multiset of messages to the clients' applications.
#[test]
fn both_drivers_reach_the_same_verdict_and_deliveries() {
    let names = [
        // fault-free
        "session-expiry-v5",
        "will-delay-v5",
        "session-takeover-v311",
        // faulted
        "broker-restart-durable-v5",
        "broker-restart-volatile-v311",
        "hold-release-v5",
        "qos2-partition-after-pubrec-v311",
        "keep-alive-expiry-v5",
    ];
    for name in names {
        for seed in 1..=2 {
            let (discrete, turmoil) = both_drivers(name, seed);
            assert_eq!(discrete.0, "pass", "mqttsim sim {name} --seed {seed}");
            assert_eq!(discrete, turmoil, "{name} --seed {seed}: discrete world, then turmoil");
        }
    }
}

/// Both drivers agree on `fault-heavy` (every fault kind the seed's swarm draws: partitions, holds, latency, abrupt closes, silences, crashes with the durable store): the same verdict, and the same set of QoS 1 and 2 messages handed to each client. QoS 0 deliveries (at most once: a fault may lose one in one driver and not the other) and the number of QoS 1 duplicates (at least once) depend on timing, which differs between the drivers, so they are left out.
#[test]
fn both_drivers_agree_on_fault_heavy_verdicts_and_reliable_deliveries() {
    for seed in 1..=3 {
        let scenario = builtin("fault-heavy").build(seed);
        let reliable: std::collections::BTreeSet<bytes::Bytes> = scenario
            .script
            .iter()
            .filter_map(|s| match &s.action {
                mqttsim::sim::Action::Publish { payload, qos, .. } if *qos != mqttsim::codec::Qos::AtMostOnce => {
                    Some(bytes::Bytes::from(payload.clone()))
                }
                _ => None,
            })
            .collect();
        let ((discrete_kind, discrete), (turmoil_kind, turmoil)) = both_drivers("fault-heavy", seed);
        assert_eq!(discrete_kind, turmoil_kind, "fault-heavy --seed {seed}");
        let set = |d: Deliveries| -> std::collections::BTreeSet<_> {
            d.into_iter().filter(|(_, _, p)| reliable.contains(p)).collect()
        };
        let (discrete, turmoil) = (set(discrete), set(turmoil));
        assert!(!discrete.is_empty());
        assert_eq!(discrete, turmoil, "fault-heavy --seed {seed}: discrete world, then turmoil");
    }
}
