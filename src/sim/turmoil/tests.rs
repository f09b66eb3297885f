//! Turmoil-path tests: scripted model clients against the model broker,
//! recorded through the same layer plugged-in code uses.

use bytes::Bytes;

use super::*;
use crate::codec::{Packet, Will};
use crate::model::{BrokerConfig, ClientConfig};
use crate::sim::faults::{Fault, FaultPlan, FaultStep};
use crate::sim::Verdict;
use crate::spec::Version;
use crate::trace::{ClosedBy, Dir, Event, EventKind, Trace};

fn model_client(id: &str, steps: Vec<ClientStep>, stop_at_ms: u64) -> ClientUnderTest {
    ClientUnderTest::model(ModelClientSpec {
        config: ClientConfig::new(id, Version::V5),
        steps,
        connect_at_start: true,
        reconnect_after_ms: Some(500),
        stop_at_ms,
    })
}

fn at(at_ms: u64, fault: Fault) -> FaultStep {
    FaultStep { at_ms, fault }
}

fn step(at_ms: u64, action: ClientAction) -> ClientStep {
    ClientStep { at_ms, action }
}

fn publish(topic: &str, payload: &str, qos: u8) -> ClientAction {
    ClientAction::Publish { topic: topic.to_owned(), payload: payload.to_owned(), qos, retain: false }
}

fn subscribe(filter: &str, qos: u8) -> ClientAction {
    ClientAction::Subscribe { filter: filter.to_owned(), qos }
}

fn pub_sub(seed: u64, faults: FaultPlan) -> TurmoilRun {
    let mut config = TurmoilConfig::new("turmoil-pub-sub", seed);
    config.tick_ms = 10;
    config.faults = faults;
    TurmoilWorld::new(config, BrokerUnderTest::Model(BrokerConfig::default()))
        .client("sub", model_client("sub", vec![step(0, subscribe("t/#", 1))], 3_000))
        .client("pub", model_client("pub", vec![step(500, publish("t/a", "one", 1))], 3_000))
        .run()
}

fn deliveries(events: &[Event]) -> Vec<(String, String, Bytes)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Delivery { client, topic, payload, .. } => {
                Some((client.clone(), topic.clone(), payload.clone()))
            }
            _ => None,
        })
        .collect()
}

/// A model client's QoS 1 publish reaches a subscriber through the model broker on turmoil TCP, and both ends of every connection are recorded under one number.
#[test]
fn a_qos1_message_reaches_the_subscriber_and_both_ends_are_recorded() {
    let run = pub_sub(1, FaultPlan::default());
    assert_eq!(run.outcome, TurmoilOutcome::Finished, "{}", run.trace.render_text());
    let events = run.trace.events();
    assert_eq!(deliveries(events), vec![("sub".to_owned(), "t/a".to_owned(), Bytes::from_static(b"one"))]);
    // The publisher's PUBLISH is seen sent by `pub` and received by the broker on the same connection.
    let sent = events.iter().find_map(|e| match &e.kind {
        EventKind::Packet { endpoint, conn, dir: Dir::Sent, packet: Packet::Publish(_), .. } if endpoint == "pub" => {
            Some(*conn)
        }
        _ => None,
    });
    let received = events.iter().find_map(|e| match &e.kind {
        EventKind::Packet { endpoint, conn, dir: Dir::Received, packet: Packet::Publish(_), .. }
            if endpoint == BROKER_HOST =>
        {
            Some(*conn)
        }
        _ => None,
    });
    assert!(sent.is_some() && sent == received, "{sent:?} {received:?}");
    let opened = events.iter().filter(|e| matches!(e.kind, EventKind::Opened { .. })).count();
    assert_eq!(opened, 4, "two connections, each opened at both ends");
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::Cite { endpoint, .. } if endpoint == BROKER_HOST)));
    assert!(events.windows(2).all(|w| w[0].at <= w[1].at));
    let text = run.trace.render_text();
    assert!(text.starts_with("# mqttsim trace\n# seed: 1\n# scenario: turmoil-pub-sub\n# tick: 10ms\n"), "{text}");
}

/// The same seed gives the same trace bytes; the run is a function of its seed and config.
#[test]
fn the_same_seed_gives_the_same_trace_bytes() {
    let faults =
        FaultPlan::new(vec![FaultStep { at_ms: 200, fault: Fault::Hold { a: "pub".into(), b: BROKER_HOST.into() } }]);
    let first = pub_sub(42, faults.clone()).trace.render_text();
    let second = pub_sub(42, faults).trace.render_text();
    assert_eq!(first, second);
}

/// A broker crash closes the clients' connections (end of stream, as turmoil shows it), the restarted broker accepts them again, and the trace says who closed what.
#[test]
fn a_broker_crash_and_restart_is_recorded_and_clients_reconnect() {
    let mut config = TurmoilConfig::new("turmoil-crash", 3);
    config.tick_ms = 10;
    config.faults = FaultPlan::new(vec![at(1_000, Fault::CrashBroker), at(1_500, Fault::RestartBroker)]);
    let run = TurmoilWorld::new(config, BrokerUnderTest::Model(BrokerConfig::default()))
        .client("sub", model_client("sub", vec![step(0, subscribe("t/#", 1))], 4_000))
        .client("pub", model_client("pub", vec![step(3_000, publish("t/a", "after", 1))], 4_000))
        .run();
    assert_eq!(run.outcome, TurmoilOutcome::Finished, "{}", run.trace.render_text());
    let events = run.trace.events();
    let closed = |endpoint: &str, by: ClosedBy| {
        events
            .iter()
            .filter(|e| matches!(&e.kind, EventKind::Closed { endpoint: p, by: b, .. } if p == endpoint && *b == by))
            .count()
    };
    assert_eq!(closed(BROKER_HOST, ClosedBy::Network), 2, "{}", run.trace.render_text());
    assert_eq!(closed("sub", ClosedBy::Peer), 1);
    // The subscriber had a clean session: it subscribes again only if told, so
    // the message after the restart is not delivered; the publisher's is completed.
    assert!(deliveries(events).is_empty());
    let connects = events
        .iter()
        .filter(|e| {
            matches!(&e.kind, EventKind::Packet { endpoint, dir: Dir::Sent, packet: Packet::Connect(_), .. } if endpoint == "sub")
        })
        .count();
    assert_eq!(connects, 2, "one CONNECT before the crash, one after the restart");
}

/// A partitioned client goes silent; the broker closes it at 1.5 × keep-alive and publishes its will to the subscriber.
#[test]
fn a_partitioned_client_is_timed_out_and_its_will_is_published() {
    let mut config = TurmoilConfig::new("turmoil-keep-alive", 5);
    config.tick_ms = 10;
    config.faults =
        FaultPlan::new(vec![at(1_000, Fault::Partition { a: "dying".into(), b: BROKER_HOST.into(), one_way: false })]);
    let mut dying = ClientConfig::new("dying", Version::V3_1_1);
    dying.keep_alive_secs = 4;
    dying.will = Some(Will {
        topic: crate::codec::TopicName::new("wills/dying").expect("topic"),
        payload: Bytes::from_static(b"gone"),
        qos: crate::codec::Qos::AtLeastOnce,
        retain: false,
        properties: crate::codec::Properties::default(),
    });
    let run = TurmoilWorld::new(config, BrokerUnderTest::Model(BrokerConfig::default()))
        .client("watcher", model_client("watcher", vec![step(0, subscribe("wills/#", 1))], 10_000))
        .client(
            "dying",
            ClientUnderTest::model(ModelClientSpec {
                config: dying,
                steps: Vec::new(),
                connect_at_start: true,
                reconnect_after_ms: None,
                stop_at_ms: 10_000,
            }),
        )
        .run();
    assert_eq!(run.outcome, TurmoilOutcome::Finished, "{}", run.trace.render_text());
    let events = run.trace.events();
    let will = events.iter().find(|e| matches!(&e.kind, EventKind::Delivery { client, topic, .. } if client == "watcher" && topic == "wills/dying"));
    let will = will.unwrap_or_else(|| panic!("will delivered\n{}", run.trace.render_text()));
    // Last packet from `dying` reached the broker at about 0 s; 1.5 × 4 s later it is closed.
    assert!(will.at >= Duration::from_secs(6) && will.at < Duration::from_millis(6_200), "{:?}", will.at);
    let closed_local = events
        .iter()
        .any(|e| matches!(&e.kind, EventKind::Closed { endpoint, by: ClosedBy::Local, .. } if endpoint == BROKER_HOST));
    assert!(closed_local, "the broker closed the silent connection itself");
}

fn payloads_to(run: &ScenarioRun, client: &str) -> Vec<String> {
    run.delivered
        .iter()
        .filter(|(c, _, _)| c == client)
        .map(|(_, _, p)| String::from_utf8_lossy(p).into_owned())
        .collect()
}

fn last_connack_session_present(trace: &Trace, endpoint: &str) -> Option<bool> {
    trace.events().iter().rev().find_map(|e| match &e.kind {
        EventKind::Packet { endpoint: ep, dir: Dir::Received, packet: Packet::Connack(c), .. } if ep == endpoint => {
            Some(c.session_present)
        }
        _ => None,
    })
}

/// Through turmoil, with the durable store, a QoS 1 message waiting in a persistent session when the broker crashes is delivered after the restart (the session is resumed); without the store the session, and the message, are gone. Both runs pass the history checks.
#[test]
fn a_broker_restart_keeps_sessions_only_with_the_durable_store() {
    use crate::sim::catalog::broker_restart;
    for version in [Version::V3_1_1, Version::V5] {
        for seed in [1, 2] {
            let durable = run_scenario(&broker_restart(version, true), seed, 10);
            assert_eq!(durable.verdict, Verdict::Pass, "{version:?} seed {seed}\n{}", durable.run.trace.render_text());
            assert_eq!(payloads_to(&durable, "sub"), ["survives?"], "{version:?} seed {seed}");
            assert_eq!(last_connack_session_present(&durable.run.trace, "sub"), Some(true));
            let text = durable.run.trace.render_text();
            assert!(text.contains("crash broker") && text.contains("restart broker"));

            let volatile = run_scenario(&broker_restart(version, false), seed, 10);
            assert_eq!(
                volatile.verdict,
                Verdict::Pass,
                "{version:?} seed {seed}\n{}",
                volatile.run.trace.render_text()
            );
            assert!(payloads_to(&volatile, "sub").is_empty(), "{version:?} seed {seed}");
            assert_eq!(last_connack_session_present(&volatile.run.trace, "sub"), Some(false));
        }
    }
}

/// A will-carrying client whose socket a `close_client` fault drops (no DISCONNECT) is seen closed by its peer at the broker, whose will then reaches the watcher; the client reconnects.
#[test]
fn an_abrupt_client_close_publishes_the_will_and_the_client_reconnects() {
    let mut config = TurmoilConfig::new("turmoil-close-client", 9);
    config.tick_ms = 10;
    config.faults = FaultPlan::new(vec![at(1_000, Fault::CloseClient { client: "dying".into() })]);
    let mut dying = ClientConfig::new("dying", Version::V5);
    dying.will = Some(Will {
        topic: crate::codec::TopicName::new("wills/dying").expect("topic"),
        payload: Bytes::from_static(b"gone"),
        qos: crate::codec::Qos::AtLeastOnce,
        retain: false,
        properties: crate::codec::Properties::default(),
    });
    let run = TurmoilWorld::new(config, BrokerUnderTest::Model(BrokerConfig::default()))
        .client("watcher", model_client("watcher", vec![step(0, subscribe("wills/#", 1))], 3_000))
        .client(
            "dying",
            ClientUnderTest::model(ModelClientSpec {
                config: dying,
                steps: Vec::new(),
                connect_at_start: true,
                reconnect_after_ms: Some(500),
                stop_at_ms: 3_000,
            }),
        )
        .run();
    assert_eq!(run.outcome, TurmoilOutcome::Finished, "{}", run.trace.render_text());
    let events = run.trace.events();
    let closed = |endpoint: &str, by: ClosedBy| {
        events
            .iter()
            .find(|e| matches!(&e.kind, EventKind::Closed { endpoint: p, by: b, .. } if p == endpoint && *b == by))
    };
    let dropped = closed("dying", ClosedBy::Network).expect("the fault drops the client's socket");
    assert_eq!(dropped.at, Duration::from_millis(1_010), "the first step boundary after 1 s ends it");
    assert!(closed(BROKER_HOST, ClosedBy::Peer).is_some(), "the broker sees an end of stream");
    let will = events
        .iter()
        .find(|e| matches!(&e.kind, EventKind::Delivery { client, payload, .. } if client == "watcher" && &payload[..] == b"gone"))
        .expect("the will reaches the watcher");
    assert!(will.at > Duration::from_secs(1) && will.at < Duration::from_millis(1_200), "{:?}", will.at);
    let connects = events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Packet { endpoint, dir: Dir::Sent, packet: Packet::Connect(_), .. } if endpoint == "dying"))
        .count();
    assert_eq!(connects, 2, "it reconnects after the close");
    assert!(!events.iter().any(|e| matches!(&e.kind, EventKind::Packet { endpoint, packet: Packet::Disconnect(_), .. } if endpoint == "dying" && e.at < Duration::from_secs(2))));
}

/// A `silence` fault stops a client without closing its socket: the broker closes it at 1.5 × its keep-alive; when the silence ends the client notices and reconnects.
#[test]
fn a_silenced_client_is_timed_out_by_the_broker_and_reconnects_after() {
    let mut config = TurmoilConfig::new("turmoil-silence", 4);
    config.tick_ms = 10;
    config.faults = FaultPlan::new(vec![at(1_000, Fault::Silence { client: "quiet".into(), for_ms: Some(8_000) })]);
    let mut quiet = ClientConfig::new("quiet", Version::V3_1_1);
    quiet.keep_alive_secs = 2;
    let run = TurmoilWorld::new(config, BrokerUnderTest::Model(BrokerConfig::default()))
        .client(
            "quiet",
            ClientUnderTest::model(ModelClientSpec {
                config: quiet,
                steps: Vec::new(),
                connect_at_start: true,
                reconnect_after_ms: Some(200),
                stop_at_ms: 12_000,
            }),
        )
        .run();
    assert_eq!(run.outcome, TurmoilOutcome::Finished, "{}", run.trace.render_text());
    let events = run.trace.events();
    let sent: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(&e.kind, EventKind::Packet { endpoint, dir: Dir::Sent, .. } if endpoint == "quiet"))
        .collect();
    assert!(!sent.iter().any(|e| e.at > Duration::from_millis(1_010) && e.at < Duration::from_secs(9)), "silent");
    let broker_close = events
        .iter()
        .find(|e| matches!(&e.kind, EventKind::Closed { endpoint, by: ClosedBy::Local, .. } if endpoint == BROKER_HOST))
        .expect("the broker closes the silent connection");
    // The CONNECT reached the broker in the first tens of ms; 1.5 × 2 s later it is closed.
    assert!(
        broker_close.at >= Duration::from_secs(3) && broker_close.at < Duration::from_millis(3_200),
        "{:?}",
        broker_close.at
    );
    let connects =
        sent.iter().filter(|e| matches!(&e.kind, EventKind::Packet { packet: Packet::Connect(_), .. })).count();
    assert_eq!(connects, 2, "{}", run.trace.render_text());
}

/// A fault plan naming an unknown host is refused before anything runs.
#[test]
fn a_plan_naming_an_unknown_host_is_refused() {
    let run = pub_sub(1, FaultPlan::new(vec![at(10, Fault::CloseClient { client: "nobody".into() })]));
    assert!(
        matches!(run.outcome, TurmoilOutcome::BadPlan(ref why) if why.contains("close nobody")),
        "{:?}",
        run.outcome
    );
}

/// A whole scenario on turmoil with every fault kind its seed draws (client closes and silences, crashes with the durable store, partitions, holds, latency) gives the same trace bytes twice, and another seed another trace.
#[test]
fn a_faulted_scenario_replays_byte_for_byte_on_turmoil() {
    let run = |seed| {
        let scenario = crate::sim::catalog::fault_heavy(seed);
        run_scenario(&scenario, seed, 10).run.trace.render_text()
    };
    let first = run(5);
    assert!(first.contains("!! FAULT"), "{first}");
    assert_eq!(first, run(5));
    assert_ne!(first, run(6));
}
