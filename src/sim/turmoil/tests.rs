//! Turmoil-path tests: scripted model clients against the model broker,
//! recorded through the same layer plugged-in code uses.

use bytes::Bytes;

use super::*;
use crate::codec::{Packet, Will};
use crate::model::{BrokerConfig, ClientConfig};
use crate::spec::Version;
use crate::trace::{ClosedBy, Dir, Event};

fn model_client(id: &str, steps: Vec<ClientStep>, stop_at_ms: u64) -> ClientUnderTest {
    ClientUnderTest::model(ModelClientSpec {
        config: ClientConfig::new(id, Version::V5),
        steps,
        reconnect_after_ms: Some(500),
        stop_at_ms,
    })
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

fn pub_sub(seed: u64, faults: Vec<FaultAt>) -> TurmoilRun {
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
    let run = pub_sub(1, Vec::new());
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
    let faults = vec![FaultAt::new(200, TurmoilFault::Hold { a: "pub".into(), b: BROKER_HOST.into() })];
    let first = pub_sub(42, faults.clone()).trace.render_text();
    let second = pub_sub(42, faults).trace.render_text();
    assert_eq!(first, second);
}

/// A broker crash closes the clients' connections (end of stream, as turmoil shows it), the restarted broker accepts them again, and the trace says who closed what.
#[test]
fn a_broker_crash_and_restart_is_recorded_and_clients_reconnect() {
    let mut config = TurmoilConfig::new("turmoil-crash", 3);
    config.tick_ms = 10;
    config.faults =
        vec![FaultAt::new(1_000, TurmoilFault::CrashBroker), FaultAt::new(1_500, TurmoilFault::RestartBroker)];
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
        vec![FaultAt::new(1_000, TurmoilFault::Partition { a: "dying".into(), b: BROKER_HOST.into(), one_way: false })];
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
