//! Recording and comparison without a network: the restriction of the input
//! model, and each allowed variation and each difference on hand-made
//! observations.

use super::case::{ClientInput, ExpectedDelivery, Generator, Header, Line, Op, Source, Step, FORMAT};
use super::real::{Observed, ObservedDelivery};
use super::{compare, record, Case, RecordSettings};
use crate::codec::Qos;
use crate::spec::Version;

fn client(name: &str, version: Version) -> ClientInput {
    ClientInput {
        name: name.into(),
        version,
        clean_start: false,
        keep_alive_secs: 60,
        session_expiry_interval_secs: None,
        receive_maximum: None,
        will: None,
    }
}

/// Two clients, `p` (publisher) and `s` (subscriber, version `v`); steps as given.
fn case(v: Version, steps: Vec<(&str, Op)>) -> Case {
    Case {
        header: Header {
            format: FORMAT.into(),
            seed: 0,
            generator: Generator {
                input_model: "hand-made".into(),
                knobs: serde_json::Value::Null,
                spacing_ms: 250,
                max_steps: 100,
                max_clients: None,
                version: None,
            },
            versions: vec![v],
            allowed_variations: Vec::new(),
            mqttsim_version: String::new(),
        },
        clients: vec![client("p", Version::V5), client("s", v)],
        steps: steps.into_iter().enumerate().map(|(i, (c, op))| Step { step: i, client: c.into(), op }).collect(),
        acks: Vec::new(),
        deliveries: Vec::new(),
    }
}

fn publish(payload: &str, qos: Qos) -> Op {
    Op::Publish { topic: "t/a".into(), payload: payload.into(), qos, retain: false }
}

fn expected(step: usize, payload: &str, qos: Qos, publish_step: usize, max_copies: u32) -> ExpectedDelivery {
    ExpectedDelivery {
        step,
        client: "s".into(),
        topic: "t/a".into(),
        payload: payload.into(),
        qos,
        retain: false,
        source: Source::Publish { publisher: "p".into(), publish_step },
        max_copies,
        optional: None,
    }
}

fn seen(step: usize, payload: &str, qos: Qos) -> ObservedDelivery {
    ObservedDelivery { step, client: "s".into(), topic: "t/a".into(), payload: payload.into(), qos, retain: false }
}

fn cited(case: &Case, observed: &Observed) -> Vec<String> {
    compare(case, observed).iter().map(|d| d.statement.map_or("none".into(), |s| s.to_string())).collect()
}

/// One copy at the highest QoS, or one per matching subscription, are both accepted; one copy at a lower QoS is not.
#[test]
fn overlapping_subscriptions_accept_either_variation_but_not_a_lower_qos() {
    for (v, st) in [(Version::V3_1_1, "3.1.1/MQTT-3.3.5-1"), (Version::V5, "5.0/MQTT-3.3.4-2")] {
        let mut c = case(v, vec![("p", publish("m", Qos::ExactlyOnce))]);
        c.deliveries.push(expected(0, "m", Qos::ExactlyOnce, 0, 3));
        let single = Observed { deliveries: vec![seen(0, "m", Qos::ExactlyOnce)], ..Observed::default() };
        assert!(cited(&c, &single).is_empty());
        let per_sub = Observed {
            deliveries: vec![
                seen(0, "m", Qos::AtLeastOnce),
                seen(0, "m", Qos::AtMostOnce),
                seen(0, "m", Qos::ExactlyOnce),
            ],
            ..Observed::default()
        };
        assert!(cited(&c, &per_sub).is_empty());
        let lower = Observed { deliveries: vec![seen(0, "m", Qos::AtLeastOnce)], ..Observed::default() };
        assert_eq!(cited(&c, &lower), [st]);
        let four = Observed { deliveries: vec![seen(0, "m", Qos::ExactlyOnce); 4], ..Observed::default() };
        let st = if v == Version::V5 { "5.0/MQTT-4.3.3-10" } else { "3.1.1/MQTT-4.3.3-2" };
        assert_eq!(cited(&c, &four), [st], "more copies than subscriptions");
    }
}

/// A QoS 0 message for an offline session may be missing; a missing QoS 1 message names the statement that owed it.
#[test]
fn missing_messages_name_their_statement_unless_optional() {
    let mut c = case(
        Version::V5,
        vec![("p", publish("a", Qos::AtMostOnce)), ("s", Op::Connect), ("p", publish("b", Qos::AtLeastOnce))],
    );
    let mut offline = expected(1, "a", Qos::AtMostOnce, 0, 1);
    offline.optional = Some("qos0-offline".into());
    c.deliveries.push(offline);
    c.deliveries.push(expected(2, "b", Qos::AtLeastOnce, 2, 1));
    assert_eq!(cited(&c, &Observed::default()), ["5.0/MQTT-4.5.0-1"]);
    // The same QoS 1 message queued while offline (delivered at a later step).
    c.deliveries[1] = expected(2, "b", Qos::AtLeastOnce, 0, 1);
    c.clients[1].version = Version::V3_1_1;
    assert_eq!(cited(&c, &Observed::default()), ["3.1.1/MQTT-3.1.2-5"]);
    // QoS 1 may be duplicated.
    c.deliveries.truncate(1);
    c.deliveries.push(expected(2, "b", Qos::AtLeastOnce, 2, 1));
    let twice = Observed { deliveries: vec![seen(2, "b", Qos::AtLeastOnce); 2], ..Observed::default() };
    assert!(cited(&c, &twice).is_empty());
}

/// A message nobody expected names why it should not have come: unsubscribed, a will, or no subscription at all.
#[test]
fn unexpected_messages_name_their_statement() {
    let c =
        case(Version::V5, vec![("s", Op::Unsubscribe { filter: "t/+".into() }), ("p", publish("x", Qos::AtLeastOnce))]);
    let extra = Observed { deliveries: vec![seen(1, "x", Qos::AtLeastOnce)], ..Observed::default() };
    assert_eq!(cited(&c, &extra), ["5.0/MQTT-3.10.4-2"]);
    let c = case(Version::V3_1_1, vec![("p", publish("x", Qos::AtLeastOnce))]);
    assert_eq!(cited(&c, &extra), ["3.1.1/MQTT-3.3.2-3"]);
    let mut c = case(Version::V3_1_1, vec![("p", Op::Disconnect { reason: 0 })]);
    c.clients[0].will =
        Some(super::case::WillInput { topic: "t/a".into(), payload: "x".into(), qos: Qos::AtLeastOnce, retain: false });
    assert_eq!(cited(&c, &extra), ["3.1.1/MQTT-3.14.4-3"]);
}

/// Messages of one publisher arriving out of publish order name the ordering statement.
#[test]
fn order_per_publisher_is_checked() {
    let mut c = case(Version::V5, vec![("p", publish("1", Qos::AtLeastOnce)), ("p", publish("2", Qos::AtLeastOnce))]);
    c.deliveries.push(expected(1, "1", Qos::AtLeastOnce, 0, 1));
    c.deliveries.push(expected(1, "2", Qos::AtLeastOnce, 1, 1));
    let in_order = Observed {
        deliveries: vec![seen(1, "1", Qos::AtLeastOnce), seen(1, "2", Qos::AtLeastOnce)],
        ..Observed::default()
    };
    assert!(cited(&c, &in_order).is_empty());
    let swapped = Observed {
        deliveries: vec![seen(1, "2", Qos::AtLeastOnce), seen(1, "1", Qos::AtLeastOnce)],
        ..Observed::default()
    };
    assert_eq!(cited(&c, &swapped), ["5.0/MQTT-4.6.0-5"]);
}

/// Session present, SUBACK codes and UNSUBACK codes are compared, with 0x00 and 0x11 interchangeable in UNSUBACK.
#[test]
fn acknowledgements_are_compared() {
    let mut c = case(Version::V5, vec![("s", Op::Connect), ("s", Op::Unsubscribe { filter: "t/a".into() })]);
    c.acks = vec![
        Line::Connack { step: 0, client: "s".into(), session_present: true, reason_code: 0 },
        Line::Unsuback { step: 1, client: "s".into(), reason_codes: vec![0x11] },
    ];
    let same = Observed { acks: c.acks.clone(), ..Observed::default() };
    assert!(cited(&c, &same).is_empty());
    let other = Observed {
        acks: vec![
            Line::Connack { step: 0, client: "s".into(), session_present: false, reason_code: 0 },
            Line::Unsuback { step: 1, client: "s".into(), reason_codes: vec![0x00] },
        ],
        ..Observed::default()
    };
    assert_eq!(cited(&c, &other), ["5.0/MQTT-3.2.2-3"]);
    let refused = Observed {
        acks: vec![c.acks[0].clone(), Line::Unsuback { step: 1, client: "s".into(), reason_codes: vec![0x80] }],
        ..Observed::default()
    };
    assert_eq!(cited(&c, &refused), ["5.0/MQTT-3.11.3-2"]);
}

/// Recording is a function of the seed, and a case holds only what a real server over TCP can reproduce.
#[test]
fn recording_is_deterministic_and_replayable() {
    let settings = RecordSettings { max_steps: 60, ..RecordSettings::default() };
    let mut recorded = 0;
    for seed in 0..12 {
        let Ok(case) = record(seed, &settings) else { continue };
        recorded += 1;
        assert_eq!(record(seed, &settings).as_ref(), Ok(&case), "seed {seed}");
        // The knobs are informational floats, which JSON may not round-trip to the last bit.
        let mut back = Case::from_jsonl(&case.to_jsonl()).expect("reads back");
        back.header.generator.knobs = case.header.generator.knobs.clone();
        assert_eq!(back, case);
        let mut connected = std::collections::BTreeMap::new();
        for s in &case.steps {
            let on = connected.entry(s.client.clone()).or_insert(false);
            match &s.op {
                Op::Connect => {
                    assert!(!*on, "seed {seed} step {}: connect while connected", s.step);
                    *on = true;
                }
                Op::Disconnect { .. } => {
                    assert!(*on);
                    *on = false;
                }
                Op::Subscribe { filter, .. } | Op::Unsubscribe { filter } => {
                    assert!(*on && !filter.starts_with("$share/"), "seed {seed} step {}", s.step);
                }
                Op::Publish { .. } | Op::Close => assert!(*on, "seed {seed} step {}", s.step),
            }
        }
        assert!(connected.values().all(|on| *on), "seed {seed}: everyone ends connected");
        assert!(case.deliveries.iter().all(|d| d.max_copies >= 1));
    }
    assert!(recorded >= 8, "most seeds record ({recorded} of 12)");
}
