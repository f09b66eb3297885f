//! Recorded cases replayed against real servers over loopback TCP:
//! `mqttsim record` then `mqttsim replay` against `mqttsim serve` (no
//! differences), planted differences named by their statement, and a small
//! differential run against Mosquitto checked against
//! docs/findings/mosquitto-2.0.11.md.
//!
//! Mosquitto missing fails the test when `CI` is set and skips it otherwise.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use mqttsim::replay::case::{Line, Source};
use mqttsim::replay::{record, Case, RecordSettings};
use mqttsim::spec::Version;

use crate::conformance::start_mosquitto;
use crate::real_clients::{Served, MQTTSIM};

/// Small cases keep the tests at a few seconds.
const MAX_STEPS: &str = "40";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mqttsim-replay-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

fn mqttsim(args: &[&str]) -> Output {
    Command::new(MQTTSIM).args(args).stdin(Stdio::null()).output().expect("run mqttsim")
}

/// `mqttsim replay CASE --against PORT --format json`: the exit code and the report.
fn replay_json(case: &Path, port: u16) -> (i32, serde_json::Value) {
    let out = mqttsim(&[
        "replay",
        case.to_str().expect("utf-8 path"),
        "--against",
        &format!("127.0.0.1:{port}"),
        "--timeout-ms",
        "1000",
        "--format",
        "json",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: serde_json::Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("replay printed no JSON ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), report)
}

fn statements(report: &serde_json::Value) -> BTreeSet<String> {
    report["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .map(|d| d["statement"].as_str().unwrap_or("none").to_owned())
        .collect()
}

fn small() -> RecordSettings {
    RecordSettings { max_steps: 40, ..RecordSettings::default() }
}

/// The first seed from 0 whose small case has an expected delivery for which `want` holds.
fn seed_with(want: impl Fn(&Case, &mqttsim::replay::case::ExpectedDelivery) -> bool) -> (u64, Case) {
    (0..200)
        .find_map(|seed| {
            let case = record(seed, &small()).ok()?;
            case.deliveries.iter().any(|d| want(&case, d)).then_some((seed, case))
        })
        .expect("some seed below 200 has such a delivery")
}

/// What a case exercises, for choosing seeds that together cover the workload kinds.
fn features(case: &Case) -> BTreeSet<&'static str> {
    let mut out = BTreeSet::new();
    for s in &case.steps {
        match s.op {
            mqttsim::replay::Op::Close => out.insert("abrupt close and reconnect"),
            mqttsim::replay::Op::Disconnect { .. } => out.insert("disconnect"),
            _ => false,
        };
    }
    for d in &case.deliveries {
        match &d.source {
            Source::Retained => out.insert("retained on subscribe"),
            Source::Will { .. } => out.insert("will"),
            Source::Publish { publish_step, .. } if *publish_step < d.step => out.insert("queued while offline"),
            Source::Publish { .. } => false,
        };
        if d.qos == mqttsim::codec::Qos::ExactlyOnce {
            out.insert("QoS 2");
        }
    }
    if case.acks.iter().any(|l| matches!(l, Line::Connack { session_present: true, .. })) {
        out.insert("session present");
    }
    for c in &case.clients {
        out.insert(if c.version == Version::V5 { "5.0 client" } else { "3.1.1 client" });
    }
    out
}

/// `mqttsim record` then `mqttsim replay` against `mqttsim serve` finds no difference, over seeds that together have abrupt closes, disconnects, retained messages, wills, queued messages, QoS 2, session present and both versions.
#[test]
fn recorded_cases_replay_without_differences_against_mqttsim_serve() {
    const ALL: [&str; 9] = [
        "abrupt close and reconnect",
        "disconnect",
        "retained on subscribe",
        "will",
        "queued while offline",
        "QoS 2",
        "session present",
        "5.0 client",
        "3.1.1 client",
    ];
    // The first seeds that each add something not yet covered.
    let mut covered = BTreeSet::new();
    let mut seeds = Vec::new();
    for seed in 0..100u64 {
        let Ok(case) = record(seed, &small()) else { continue };
        let new = features(&case);
        if !new.is_subset(&covered) {
            covered.extend(new);
            seeds.push(seed);
        }
        if covered.len() == ALL.len() {
            break;
        }
    }
    assert_eq!(covered, BTreeSet::from(ALL), "seeds 0..100 cover every kind");
    let served = Served::start(&[]);
    let dir = temp_dir("serve");
    for seed in seeds {
        let path = dir.join(format!("case-{seed}.jsonl"));
        let out = mqttsim(&[
            "record",
            "--seed",
            &seed.to_string(),
            "--max-steps",
            MAX_STEPS,
            "--out",
            path.to_str().expect("utf-8"),
        ]);
        assert!(out.status.success(), "record seed {seed}: {}", String::from_utf8_lossy(&out.stderr));
        let (code, report) = replay_json(&path, served.port);
        assert_eq!(report["differences"], serde_json::json!([]), "seed {seed}");
        assert_eq!((code, report["equal"].as_bool()), (0, Some(true)), "seed {seed}");
    }
}

/// An expected live message edited to say RETAIN 1 is reported as a wrong RETAIN flag under the receiver's version.
#[test]
fn replay_names_the_statement_of_an_edited_expectation() {
    let served = Served::start(&[]);
    let (seed, mut case) = seed_with(|_, d| matches!(d.source, Source::Publish { .. }) && d.optional.is_none());
    let k = case
        .deliveries
        .iter()
        .position(|d| matches!(d.source, Source::Publish { .. }) && d.optional.is_none())
        .expect("found above");
    case.deliveries[k].retain = true;
    let receiver = case.deliveries[k].client.clone();
    let expected = match case.client(&receiver).expect("a case client").version {
        Version::V3_1_1 => "3.1.1/MQTT-3.3.1-8",
        Version::V5 => "5.0/MQTT-3.3.1-9",
    };
    let path = temp_dir("edited").join(format!("case-{seed}.jsonl"));
    case.write(&path).expect("write the edited case");
    let (code, report) = replay_json(&path, served.port);
    assert_eq!(code, 1, "differences exit 1: {report}");
    assert_eq!(statements(&report), BTreeSet::from([expected.to_owned()]), "seed {seed}: {report}");
    let d = &report["differences"][0];
    assert_eq!(d["client"], receiver.as_str());
    assert_eq!(d["step"], case.deliveries[k].step);
}

/// `mqttsim serve` with the deliberate defect "no retained delivery" misses retained messages on subscribe, cited as MQTT-3.3.1-6 (3.1.1) / MQTT-3.3.1-9 (5.0).
#[test]
fn replay_names_the_statement_of_a_broker_defect() {
    let dir = temp_dir("defect");
    let config = dir.join("broker.toml");
    std::fs::write(&config, "[defects]\nno_retained_delivery = true\n").expect("write the config");
    let served = Served::start(&["--config", config.to_str().expect("utf-8")]);
    let (seed, case) = seed_with(|_, d| d.source == Source::Retained);
    let mut expected = BTreeSet::new();
    for d in case.deliveries.iter().filter(|d| d.source == Source::Retained) {
        expected.insert(match case.client(&d.client).expect("a case client").version {
            Version::V3_1_1 => "3.1.1/MQTT-3.3.1-6".to_owned(),
            Version::V5 => "5.0/MQTT-3.3.1-9".to_owned(),
        });
    }
    let path = dir.join(format!("case-{seed}.jsonl"));
    case.write(&path).expect("write the case");
    let (code, report) = replay_json(&path, served.port);
    assert_eq!(code, 1, "differences exit 1: {report}");
    assert_eq!(statements(&report), expected, "seed {seed}: {report}");
}

/// A case file that is not one, and a server that is not there, exit 2.
#[test]
fn replay_exits_2_on_a_bad_case_or_an_unreachable_server() {
    let dir = temp_dir("bad");
    let bad = dir.join("bad.jsonl");
    std::fs::write(&bad, "{\"kind\":\"step\",\"step\":0,\"client\":\"a\",\"op\":\"connect\"}\n").expect("write");
    let out = mqttsim(&["replay", bad.to_str().expect("utf-8"), "--against", "127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1"), "{}", String::from_utf8_lossy(&out.stderr));
    let good = dir.join("good.jsonl");
    record(1, &small()).expect("record").write(&good).expect("write");
    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let out = mqttsim(&["replay", good.to_str().expect("utf-8"), "--against", &format!("127.0.0.1:{port}")]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The case file lists the header, clients, steps and expectations, and reads back to the same case.
#[test]
fn a_recorded_case_round_trips_through_its_file() {
    let case = record(5, &small()).expect("record");
    let text = case.to_jsonl();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().expect("a line")).expect("json");
    assert_eq!(first["kind"], "header");
    assert_eq!(first["format"], "mqttsim-case/1");
    assert_eq!(first["seed"], 5);
    // The knobs are informational floats, which JSON may not round-trip to the last bit.
    let mut back = Case::from_jsonl(&text).expect("reads back");
    back.header.generator.knobs = case.header.generator.knobs.clone();
    assert_eq!(back, case);
    assert!(case.acks.iter().any(|l| matches!(l, Line::Connack { .. })));
}

// ---- Mosquitto ----

/// The statements docs/findings/mosquitto-2.0.11.md lists as found by
/// differential replay: lines of the form ``- replay `VERSION/MQTT-...`: ...``.
fn documented_replay_findings() -> BTreeSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/findings/mosquitto-2.0.11.md");
    let text = std::fs::read_to_string(path).expect("read the findings");
    text.lines()
        .filter_map(|l| l.strip_prefix("- replay `"))
        .filter_map(|l| l.split('`').next())
        .map(|id| {
            assert!(mqttsim::spec::parse_qualified(id).is_some(), "unknown statement {id:?} in the findings");
            id.to_owned()
        })
        .collect()
}

/// A small differential run against Mosquitto (3.1.1 and 5.0 cases) differs on exactly the statements documented as found by differential replay.
#[test]
fn differential_replay_against_mosquitto_matches_the_documented_findings() {
    let dir = temp_dir("mosquitto");
    let Some((_mosquitto, port)) = start_mosquitto(&dir) else { return };
    let against = format!("127.0.0.1:{port}");
    let mut found = BTreeSet::new();
    for version in ["3.1.1", "5"] {
        let out = mqttsim(&[
            "replay",
            "--differential",
            "--from",
            "9",
            "--seeds",
            "3",
            "--max-steps",
            MAX_STEPS,
            "--mqtt",
            version,
            "--against",
            &against,
            "--timeout-ms",
            "1000",
            "--format",
            "json",
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!("no JSON ({e}): {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        });
        let cases = report["cases"].as_array().expect("cases");
        assert_eq!(cases.len(), 3);
        assert!(cases.iter().all(|c| c["not_recorded"].is_null()), "every seed recorded: {report}");
        let statements: BTreeSet<String> = report["by_statement"]
            .as_array()
            .expect("by_statement")
            .iter()
            .map(|s| s["statement"].as_str().expect("statement").to_owned())
            .collect();
        let differs = !statements.is_empty();
        assert_eq!(out.status.code(), Some(if differs { 1 } else { 0 }), "exit code vs {statements:?}");
        eprintln!("--mqtt {version}: {statements:?}");
        found.extend(statements);
    }
    assert_eq!(found, documented_replay_findings(), "differences vs docs/findings/mosquitto-2.0.11.md");
}
