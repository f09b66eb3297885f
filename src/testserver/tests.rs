//! Behaviours of the test server at the sans-IO level, with explicit time.

use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::codec::{
    self, Connect, DecodeOptions, Packet, PacketId, PacketType, Properties, PubResponse, Publish, Qos, QosPid,
    Subscribe, Subscription, SubscriptionOptions, TopicFilter, TopicName, Version,
};
use crate::model::{ConnectionId, Output, Server};

const C0: ConnectionId = ConnectionId(0);
const C1: ConnectionId = ConnectionId(1);

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn server(toml_behaviours: &str) -> TestServer {
    let (broker, config) = split_config(&format!("sys_interval_secs = 0\n{toml_behaviours}")).expect("valid config");
    TestServer::new(broker, config)
}

fn connect_packet(version: Version, client_id: &str, keep_alive_secs: u16, clean: bool) -> Packet {
    Packet::Connect(Connect {
        version,
        clean_start: clean,
        keep_alive_secs,
        properties: Properties::default(),
        client_id: client_id.into(),
        will: None,
        username: None,
        password: None,
    })
}

fn bytes(packet: &Packet, version: Version) -> Vec<u8> {
    codec::encode_to_vec(packet, version).expect("encodes")
}

fn publish(qos: Qos, id: u16, topic: &str, dup: bool) -> Packet {
    Packet::Publish(Publish {
        dup,
        qos_pid: QosPid::from_parts(qos, PacketId::new(id)).expect("valid"),
        retain: false,
        topic: TopicName::new(topic).expect("topic"),
        properties: Properties::default(),
        payload: Bytes::from_static(b"{\"n\":1}"),
    })
}

fn subscribe(id: u16, filter: &str, qos: Qos) -> Packet {
    Packet::Subscribe(Subscribe {
        packet_id: PacketId::new(id).expect("id"),
        properties: Properties::default(),
        subscriptions: vec![Subscription {
            filter: TopicFilter::new(filter).expect("filter"),
            options: SubscriptionOptions::qos(qos),
        }],
    })
}

fn pid(id: u16) -> PacketId {
    PacketId::new(id).expect("id")
}

/// Everything the server wants done, with citations left out.
fn drain(s: &mut TestServer) -> Vec<Output> {
    std::iter::from_fn(|| s.poll_output()).filter(|o| !matches!(o, Output::Cite(_))).collect()
}

/// The packets `outputs` send to `conn`, decoded (raw bytes that do not decode are skipped).
fn sent(outputs: &[Output], conn: ConnectionId, version: Version) -> Vec<Packet> {
    let mut out = Vec::new();
    for o in outputs {
        if let Output::Transmit { conn: c, bytes } = o {
            if *c != conn {
                continue;
            }
            let mut rest = &bytes[..];
            while let Ok(Some((packet, used))) = codec::decode(rest, &DecodeOptions::new(version)) {
                out.push(packet);
                rest = &rest[used..];
            }
        }
    }
    out
}

fn types(packets: &[Packet]) -> Vec<PacketType> {
    packets.iter().map(Packet::packet_type).collect()
}

fn closes(outputs: &[Output], conn: ConnectionId) -> bool {
    outputs.iter().any(|o| matches!(o, Output::Close { conn: c } if *c == conn))
}

/// Opens `conn` and connects it; returns the outputs.
fn open(s: &mut TestServer, now: Duration, conn: ConnectionId, version: Version, client_id: &str) -> Vec<Output> {
    s.handle_connection_opened(now, conn);
    s.handle_bytes(now, conn, &bytes(&connect_packet(version, client_id, 0, true), version));
    drain(s)
}

/// Connects a subscriber (c0, QoS `qos` on `t`) and a publisher (c1).
fn subscriber_and_publisher(s: &mut TestServer, version: Version, qos: Qos) {
    open(s, secs(0.0), C0, version, "sub");
    s.handle_bytes(secs(0.0), C0, &bytes(&subscribe(1, "t", qos), version));
    open(s, secs(0.0), C1, version, "pub");
    drain(s);
}

/// Every acknowledgement, CONNACK included, is held for the configured delay and then sent.
#[test]
fn acks_are_delayed_by_the_configured_time() {
    let mut s = server("[[behaviour]]\ndelay_acks_ms = 500\n");
    let out = open(&mut s, secs(1.0), C0, Version::V5, "a");
    assert!(sent(&out, C0, Version::V5).is_empty(), "CONNACK is held");
    assert_eq!(s.poll_timeout(), Some(secs(1.5)));
    s.handle_timeout(secs(1.5));
    assert_eq!(types(&sent(&drain(&mut s), C0, Version::V5)), [PacketType::Connack]);
    s.handle_bytes(secs(2.0), C0, &bytes(&publish(Qos::AtLeastOnce, 7, "x", false), Version::V5));
    assert!(sent(&drain(&mut s), C0, Version::V5).is_empty(), "PUBACK is held");
    s.handle_timeout(secs(2.5));
    let got = sent(&drain(&mut s), C0, Version::V5);
    assert!(matches!(&got[..], [Packet::Puback(a)] if a.packet_id == pid(7)), "{got:?}");
}

/// With `never_ack`, PUBACK is never sent while other packets still go out.
#[test]
fn never_ack_swallows_acknowledgements_but_not_connack_when_narrowed() {
    let mut s = server("[[behaviour]]\nnever_ack = true\nacks = [\"PUBACK\"]\n");
    let out = open(&mut s, secs(0.0), C0, Version::V3_1_1, "a");
    assert_eq!(types(&sent(&out, C0, Version::V3_1_1)), [PacketType::Connack]);
    s.handle_bytes(secs(1.0), C0, &bytes(&publish(Qos::AtLeastOnce, 3, "x", false), Version::V3_1_1));
    assert!(sent(&drain(&mut s), C0, Version::V3_1_1).is_empty());
    assert_eq!(s.stats().dropped, 1);
}

/// A chosen CONNACK code refuses the connection and closes it; the broker never sees the client.
#[test]
fn a_chosen_connack_code_refuses_and_closes() {
    let mut s = server("[[behaviour]]\nconnection = 1\nconnack_code = 0x87\n");
    let out = open(&mut s, secs(0.0), C0, Version::V5, "a");
    let packets = sent(&out, C0, Version::V5);
    assert!(matches!(&packets[..], [Packet::Connack(a)] if a.reason_code.0 == 0x87), "{packets:?}");
    assert!(closes(&out, C0));
    assert!(s.broker().session("a").is_none());
    // The second connection is not selected and is accepted.
    let out = open(&mut s, secs(0.0), C1, Version::V5, "a");
    assert!(matches!(&sent(&out, C1, Version::V5)[..], [Packet::Connack(a)] if a.reason_code.0 == 0));
}

/// Client ids matching a pattern are refused with "identifier rejected", others accepted.
#[test]
fn client_ids_matching_a_pattern_are_refused() {
    let mut s = server("[[behaviour]]\nreject_client_ids = [\"bad-*\"]\n");
    let out = open(&mut s, secs(0.0), C0, Version::V3_1_1, "bad-one");
    assert!(matches!(&sent(&out, C0, Version::V3_1_1)[..], [Packet::Connack(a)] if a.reason_code.0 == 0x02));
    assert!(closes(&out, C0));
    let out = open(&mut s, secs(0.0), C1, Version::V3_1_1, "good");
    assert!(matches!(&sent(&out, C1, Version::V3_1_1)[..], [Packet::Connack(a)] if a.reason_code.0 == 0));
}

/// Only listed user names and passwords are accepted; others get "bad user name or password".
#[test]
fn credentials_are_checked_against_the_list() {
    let mut s = server("[[behaviour]]\ncredentials = [{ username = \"u\", password = \"p\" }]\n");
    s.handle_connection_opened(secs(0.0), C0);
    let mut good = connect_packet(Version::V5, "a", 0, true);
    if let Packet::Connect(c) = &mut good {
        c.username = Some("u".into());
        c.password = Some(Bytes::from_static(b"p"));
    }
    s.handle_bytes(secs(0.0), C0, &bytes(&good, Version::V5));
    assert!(matches!(&sent(&drain(&mut s), C0, Version::V5)[..], [Packet::Connack(a)] if a.reason_code.0 == 0));
    let out = open(&mut s, secs(0.0), C1, Version::V5, "b");
    assert!(matches!(&sent(&out, C1, Version::V5)[..], [Packet::Connack(a)] if a.reason_code.0 == 0x86));
}

/// Closing right after a received PUBLISH: the broker keeps the message but the PUBACK is never sent.
#[test]
fn close_after_received_publish_drops_the_answer() {
    let mut s = server("[[behaviour]]\nclose_after_received = \"PUBLISH\"\n");
    open(&mut s, secs(0.0), C0, Version::V3_1_1, "a");
    s.handle_bytes(secs(1.0), C0, &bytes(&publish(Qos::AtLeastOnce, 1, "x", false), Version::V3_1_1));
    let out = drain(&mut s);
    assert!(sent(&out, C0, Version::V3_1_1).is_empty());
    assert!(closes(&out, C0));
    assert!(s.connections().is_empty());
}

/// `close_after_sent = PUBREC` sends the PUBREC then closes; `close_before_sent = PUBCOMP` closes instead of it.
#[test]
fn close_after_or_before_a_named_sent_packet() {
    let mut s = server("[[behaviour]]\nconnection = 1\nclose_after_sent = \"PUBREC\"\n[[behaviour]]\nconnection = 2\nclose_before_sent = \"PUBCOMP\"\n");
    open(&mut s, secs(0.0), C0, Version::V5, "a");
    s.handle_bytes(secs(1.0), C0, &bytes(&publish(Qos::ExactlyOnce, 1, "x", false), Version::V5));
    let out = drain(&mut s);
    assert_eq!(types(&sent(&out, C0, Version::V5)), [PacketType::Pubrec]);
    assert!(closes(&out, C0));

    let mut resumed = connect_packet(Version::V5, "b", 0, true);
    s.handle_connection_opened(secs(2.0), C1);
    if let Packet::Connect(c) = &mut resumed {
        c.client_id = "b".into();
    }
    s.handle_bytes(secs(2.0), C1, &bytes(&resumed, Version::V5));
    s.handle_bytes(secs(2.0), C1, &bytes(&publish(Qos::ExactlyOnce, 1, "x", false), Version::V5));
    s.handle_bytes(secs(2.0), C1, &bytes(&Packet::Pubrel(PubResponse::new(pid(1))), Version::V5));
    let out = drain(&mut s);
    assert_eq!(types(&sent(&out, C1, Version::V5)), [PacketType::Connack, PacketType::Pubrec]);
    assert!(closes(&out, C1));
}

/// Closing after N received packets and after a time both work.
#[test]
fn close_after_packets_and_after_time() {
    let mut s = server("[[behaviour]]\nconnection = 1\nclose_after_packets = 2\n[[behaviour]]\nconnection = 2\nclose_after_ms = 3000\n");
    open(&mut s, secs(0.0), C0, Version::V3_1_1, "a");
    s.handle_bytes(secs(0.1), C0, &bytes(&Packet::Pingreq, Version::V3_1_1));
    assert!(closes(&drain(&mut s), C0));
    open(&mut s, secs(1.0), C1, Version::V3_1_1, "b");
    assert_eq!(s.poll_timeout(), Some(secs(4.0)));
    s.handle_timeout(secs(4.0));
    assert!(closes(&drain(&mut s), C1));
}

/// A silent connection reads and writes nothing for the configured time, then catches up.
#[test]
fn silence_for_a_time_holds_both_directions() {
    let mut s = server("[[behaviour]]\nsilent_after_received = \"CONNECT\"\nsilent_for_ms = 2000\n");
    let out = open(&mut s, secs(0.0), C0, Version::V3_1_1, "a");
    assert!(out.is_empty(), "CONNACK held: {out:?}");
    s.handle_bytes(secs(1.0), C0, &bytes(&Packet::Pingreq, Version::V3_1_1));
    assert!(drain(&mut s).is_empty());
    s.handle_timeout(secs(2.0));
    assert_eq!(types(&sent(&drain(&mut s), C0, Version::V3_1_1)), [PacketType::Connack, PacketType::Pingresp]);
}

/// Silence for good keeps the socket open: even the broker's keep-alive close is held.
#[test]
fn silence_for_good_never_writes_or_closes() {
    let mut s = server("[[behaviour]]\nsilent_after_ms = 0\n");
    s.handle_connection_opened(secs(0.0), C0);
    s.handle_timeout(secs(0.0));
    s.handle_bytes(secs(0.1), C0, &bytes(&connect_packet(Version::V3_1_1, "a", 1, true), Version::V3_1_1));
    for t in 1..100 {
        s.handle_timeout(secs(f64::from(t)));
    }
    assert!(drain(&mut s).is_empty());
}

/// CONNACK carries the overridden session expiry, assigned client id and server keep-alive (5.0).
#[test]
fn connack_overrides_are_applied() {
    let mut s =
        server("[[behaviour]]\nsession_expiry_secs = 9\nassigned_client_id = \"given\"\nserver_keep_alive_secs = 5\n");
    let out = open(&mut s, secs(0.0), C0, Version::V5, "a");
    let Packet::Connack(ack) = &sent(&out, C0, Version::V5)[0] else { panic!("CONNACK expected") };
    assert_eq!(ack.properties.session_expiry_interval_secs, Some(9));
    assert_eq!(ack.properties.assigned_client_identifier.as_deref(), Some("given"));
    assert_eq!(ack.properties.server_keep_alive_secs, Some(5));
}

/// `max_then_wrap` sends 65535 then 1, and maps the client's acks back so the broker's flow completes.
#[test]
fn max_then_wrap_rewrites_ids_and_maps_acks_back() {
    let mut s = server("[[behaviour]]\nconnection = 1\npacket_ids = \"max_then_wrap\"\n");
    subscriber_and_publisher(&mut s, Version::V5, Qos::AtLeastOnce);
    s.handle_bytes(secs(1.0), C1, &bytes(&publish(Qos::AtLeastOnce, 1, "t", false), Version::V5));
    let first = sent(&drain(&mut s), C0, Version::V5);
    assert!(matches!(&first[..], [Packet::Publish(p)] if p.packet_id() == Some(pid(65535))), "{first:?}");
    s.handle_bytes(secs(1.1), C0, &bytes(&Packet::Puback(PubResponse::new(pid(65535))), Version::V5));
    s.handle_bytes(secs(1.2), C1, &bytes(&publish(Qos::AtLeastOnce, 2, "t", false), Version::V5));
    let second = sent(&drain(&mut s), C0, Version::V5);
    assert!(matches!(&second[..], [Packet::Publish(p)] if p.packet_id() == Some(pid(1))), "{second:?}");
    assert_eq!(s.broker().session("sub").map(|x| x.inflight.len()), Some(1), "the first was acknowledged");
}

/// `reuse` hands out the lowest free id again as soon as the previous one is acknowledged; `random` is seeded.
#[test]
fn reuse_and_random_strategies() {
    let mut s = server("[[behaviour]]\nconnection = 1\npacket_ids = \"reuse\"\n");
    subscriber_and_publisher(&mut s, Version::V3_1_1, Qos::AtLeastOnce);
    for n in 1..=3u16 {
        s.handle_bytes(secs(1.0), C1, &bytes(&publish(Qos::AtLeastOnce, n, "t", false), Version::V3_1_1));
        let got = sent(&drain(&mut s), C0, Version::V3_1_1);
        assert!(matches!(&got[..], [Packet::Publish(p)] if p.packet_id() == Some(pid(1))), "{got:?}");
        s.handle_bytes(secs(1.0), C0, &bytes(&Packet::Puback(PubResponse::new(pid(1))), Version::V3_1_1));
    }
    let ids = |seed: u64| {
        let mut s =
            server(&format!("[testserver]\nseed = {seed}\n[[behaviour]]\nconnection = 1\npacket_ids = \"random\"\n"));
        subscriber_and_publisher(&mut s, Version::V3_1_1, Qos::AtLeastOnce);
        s.handle_bytes(secs(1.0), C1, &bytes(&publish(Qos::AtLeastOnce, 1, "t", false), Version::V3_1_1));
        match &sent(&drain(&mut s), C0, Version::V3_1_1)[..] {
            [Packet::Publish(p)] => p.packet_id(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(ids(7), ids(7), "same seed, same id");
}

/// An unacknowledged server PUBLISH is resent with DUP after the timeout, and not after its PUBACK.
#[test]
fn unacknowledged_publish_is_resent_with_dup() {
    let mut s = server("[[behaviour]]\nconnection = 1\nresend_after_ms = 1000\n");
    subscriber_and_publisher(&mut s, Version::V3_1_1, Qos::AtLeastOnce);
    s.handle_bytes(secs(1.0), C1, &bytes(&publish(Qos::AtLeastOnce, 1, "t", false), Version::V3_1_1));
    let first = sent(&drain(&mut s), C0, Version::V3_1_1);
    let Packet::Publish(original) = &first[0] else { panic!("{first:?}") };
    assert!(!original.dup);
    s.handle_timeout(secs(2.0));
    let again = sent(&drain(&mut s), C0, Version::V3_1_1);
    assert!(matches!(&again[..], [Packet::Publish(p)] if p.dup && p.packet_id() == original.packet_id()), "{again:?}");
    s.handle_bytes(
        secs(2.1),
        C0,
        &bytes(&Packet::Puback(PubResponse::new(original.packet_id().unwrap())), Version::V3_1_1),
    );
    s.handle_timeout(secs(5.0));
    assert!(sent(&drain(&mut s), C0, Version::V3_1_1).is_empty());
}

/// Injected bad flows: a spurious PUBACK, a duplicated SUBACK, an unexpected PUBREL, a PUBLISH id in use, QoS above granted, a CONNECT and a malformed PUBLISH.
#[test]
fn bad_flows_are_injected_on_their_trigger() {
    let mut s = server(
        "[[behaviour]]\ninject = [{ flow = \"spurious_ack\" }, { flow = \"unexpected_pubrel\" }, { flow = \"duplicate_ack\", after_received = \"CONNECT\" }]\n",
    );
    let out = open(&mut s, secs(0.0), C0, Version::V5, "a");
    let got = types(&sent(&out, C0, Version::V5));
    assert_eq!(got, [PacketType::Connack, PacketType::Puback, PacketType::Pubrel]);
    s.handle_bytes(secs(1.0), C0, &bytes(&subscribe(1, "t/+", Qos::AtMostOnce), Version::V5));
    assert_eq!(types(&sent(&drain(&mut s), C0, Version::V5)), [PacketType::Suback, PacketType::Suback]);

    let mut s = server("[[behaviour]]\ninject = [{ flow = \"publish_id_in_use\" }, { flow = \"qos_above_granted\", after_sent = \"SUBACK\" }, { flow = \"wrong_packet_type\", after_received = \"PINGREQ\" }, { flow = \"malformed\", after_sent = \"PINGRESP\" }]\n");
    let out = open(&mut s, secs(0.0), C0, Version::V3_1_1, "a");
    let got = sent(&out, C0, Version::V3_1_1);
    match &got[..] {
        [Packet::Connack(_), Packet::Publish(a), Packet::Publish(b)] => assert_eq!(a.packet_id(), b.packet_id()),
        other => panic!("{other:?}"),
    }
    s.handle_bytes(secs(1.0), C0, &bytes(&subscribe(1, "t/+", Qos::AtMostOnce), Version::V3_1_1));
    let got = sent(&drain(&mut s), C0, Version::V3_1_1);
    assert!(
        matches!(&got[..], [Packet::Suback(_), Packet::Publish(p)] if p.qos() == Qos::ExactlyOnce && p.topic.as_str() == "t/x"),
        "{got:?}"
    );
    s.handle_bytes(secs(2.0), C0, &bytes(&Packet::Pingreq, Version::V3_1_1));
    let out = drain(&mut s);
    let raw: Vec<&Vec<u8>> =
        out.iter().filter_map(|o| if let Output::Transmit { bytes, .. } = o { Some(bytes) } else { None }).collect();
    assert_eq!(raw.len(), 3, "PINGRESP, malformed PUBLISH, CONNECT: {out:?}");
    assert_eq!(raw[0][0], 0xD0);
    assert_eq!(raw[1][0], 0x36, "a PUBLISH with QoS 3, sent right after the PINGRESP");
    assert!(codec::decode(raw[1], &DecodeOptions::new(Version::V3_1_1)).is_err(), "QoS 3 does not decode");
    assert_eq!(raw[2][0] >> 4, 1, "a CONNECT from the server, after the PINGREQ was handled");
    // Acks of injected publishes stay in the test server.
    s.handle_bytes(secs(3.0), C0, &bytes(&Packet::Puback(PubResponse::new(pid(65000))), Version::V3_1_1));
    assert!(drain(&mut s).is_empty());
}

/// The observer reports a first packet that is not CONNECT.
#[test]
fn observer_reports_a_first_packet_that_is_not_connect() {
    let mut s = server("");
    s.handle_connection_opened(secs(0.0), C0);
    s.handle_bytes(secs(0.0), C0, &bytes(&Packet::Pingreq, Version::V3_1_1));
    let report = s.report();
    assert_eq!(report.violations.len(), 1);
    assert_eq!(report.violations[0].statement.to_string(), "5.0/MQTT-3.1.0-1");
}

/// The observer reports a second CONNECT, a packet id reused in flight, and a topic alias over the maximum.
#[test]
fn observer_reports_second_connect_id_reuse_and_topic_alias() {
    let mut s =
        server("topic_alias_maximum = 2\nreceive_maximum = 10\n[[behaviour]]\nnever_ack = true\nacks = [\"PUBACK\"]\n");
    open(&mut s, secs(0.0), C0, Version::V5, "a");
    s.handle_bytes(secs(0.1), C0, &bytes(&publish(Qos::AtLeastOnce, 4, "x", false), Version::V5));
    s.handle_bytes(secs(0.2), C0, &bytes(&publish(Qos::AtLeastOnce, 4, "x", false), Version::V5));
    let mut aliased = publish(Qos::AtMostOnce, 0, "y", false);
    if let Packet::Publish(p) = &mut aliased {
        p.properties.topic_alias = Some(3);
    }
    s.handle_bytes(secs(0.3), C0, &bytes(&aliased, Version::V5));
    open(&mut s, secs(0.4), C1, Version::V5, "b");
    s.handle_bytes(secs(0.5), C1, &bytes(&connect_packet(Version::V5, "b", 0, true), Version::V5));
    let ids: Vec<String> = s.report().violations.iter().map(|v| v.statement.to_string()).collect();
    assert_eq!(
        ids,
        ["5.0/MQTT-2.2.1-3", "5.0/MQTT-3.2.2-17", "5.0/MQTT-3.3.2-9", "5.0/MQTT-3.1.0-2"],
        "{}",
        s.report().to_text()
    );
    let mut events = Vec::new();
    while let Some(e) = s.poll_event() {
        events.push(e);
    }
    assert_eq!(events.iter().filter(|e| matches!(e, TestEvent::Violation(_))).count(), 4);
}

/// A resend after a reconnect must carry DUP; without it the observer reports 3.3.1-1, with it the statement is checked.
#[test]
fn observer_checks_dup_on_resend_after_reconnect() {
    let mut s = server("[[behaviour]]\nclose_after_received = \"PUBLISH\"\n");
    open(&mut s, secs(0.0), C0, Version::V3_1_1, "a");
    s.handle_bytes(secs(0.1), C0, &bytes(&publish(Qos::AtLeastOnce, 9, "x", false), Version::V3_1_1));
    s.handle_connection_opened(secs(1.0), C1);
    s.handle_bytes(secs(1.0), C1, &bytes(&connect_packet(Version::V3_1_1, "a", 0, false), Version::V3_1_1));
    s.handle_bytes(secs(1.1), C1, &bytes(&publish(Qos::AtLeastOnce, 9, "x", true), Version::V3_1_1));
    let report = s.report();
    assert!(report.passed(), "{}", report.to_text());
    assert!(report.covered.iter().any(|c| c.statement.to_string() == "3.1.1/MQTT-3.3.1-1" && c.counts.checked == 1));
}

/// A client that resumes its session (Session Present 1) must resend the PUBLISH the server never acknowledged (MQTT-4.4.0-1): going on with other work and leaving without it is reported; resending it is checked.
#[test]
fn observer_checks_the_resend_after_resuming_a_session() {
    for resend in [false, true] {
        let v = Version::V3_1_1;
        let mut s = server("[[behaviour]]\nconnection = 1\nclose_after_received = \"PUBLISH\"\n");
        s.handle_connection_opened(secs(0.0), C0);
        s.handle_bytes(secs(0.0), C0, &bytes(&connect_packet(v, "a", 0, false), v));
        s.handle_bytes(secs(0.1), C0, &bytes(&publish(Qos::AtLeastOnce, 9, "x", false), v));
        s.handle_connection_opened(secs(1.0), C1);
        s.handle_bytes(secs(1.0), C1, &bytes(&connect_packet(v, "a", 0, false), v));
        let out = drain(&mut s);
        assert!(
            sent(&out, C1, v).iter().any(|p| matches!(p, Packet::Connack(a) if a.session_present)),
            "the session resumes"
        );
        if resend {
            s.handle_bytes(secs(1.1), C1, &bytes(&publish(Qos::AtLeastOnce, 9, "x", true), v));
        }
        s.handle_bytes(secs(1.2), C1, &bytes(&subscribe(10, "y", Qos::AtMostOnce), v));
        s.handle_connection_closed(secs(1.3), C1);
        let report = s.report();
        let line = report.covered.iter().find(|c| c.statement.to_string() == "3.1.1/MQTT-4.4.0-1");
        if resend {
            assert!(report.passed(), "{}", report.to_text());
            assert_eq!(line.map(|c| c.counts.checked), Some(1), "{}", report.to_text());
        } else {
            assert_eq!(report.violations.len(), 1, "{}", report.to_text());
            assert_eq!(report.violations[0].statement.to_string(), "3.1.1/MQTT-4.4.0-1");
            assert!(report.violations[0].detail.contains("PUBLISH 9"), "{}", report.violations[0].detail);
        }
    }
}

/// A client quiet for longer than its keep-alive is reported; a timely PINGREQ is checked.
#[test]
fn observer_checks_the_keep_alive_interval() {
    let mut s = server("");
    s.handle_connection_opened(secs(0.0), C0);
    s.handle_bytes(secs(0.0), C0, &bytes(&connect_packet(Version::V3_1_1, "a", 10, true), Version::V3_1_1));
    s.handle_bytes(secs(9.0), C0, &bytes(&Packet::Pingreq, Version::V3_1_1));
    s.handle_bytes(secs(21.0), C0, &bytes(&Packet::Pingreq, Version::V3_1_1));
    let report = s.report();
    assert_eq!(report.violations.len(), 1, "{}", report.to_text());
    assert_eq!(report.violations[0].statement.to_string(), "3.1.1/MQTT-3.1.2-23");
}

/// A PUBREL for an id the server never answered with PUBREC is a violation; after PUBREC it is checked.
#[test]
fn observer_checks_pubrel_follows_pubrec() {
    let mut s = server("");
    open(&mut s, secs(0.0), C0, Version::V5, "a");
    s.handle_bytes(secs(0.1), C0, &bytes(&Packet::Pubrel(PubResponse::new(pid(5))), Version::V5));
    s.handle_bytes(secs(0.2), C0, &bytes(&publish(Qos::ExactlyOnce, 6, "x", false), Version::V5));
    s.handle_bytes(secs(0.3), C0, &bytes(&Packet::Pubrel(PubResponse::new(pid(6))), Version::V5));
    let report = s.report();
    assert_eq!(report.violations.len(), 1, "{}", report.to_text());
    assert_eq!(report.violations[0].statement.to_string(), "5.0/MQTT-4.3.3-4");
    let json: serde_json::Value = serde_json::from_str(&report.to_json_pretty()).expect("JSON");
    assert_eq!(json["violations"][0]["statement"], "5.0/MQTT-4.3.3-4");
}

/// The server asks to stop once the configured number of connections came and went.
#[test]
fn stop_after_n_connections() {
    let mut s = server("[testserver]\nstop_after_connections = 2\n");
    open(&mut s, secs(0.0), C0, Version::V5, "a");
    s.handle_connection_closed(secs(1.0), C0);
    assert!(!s.stop_requested());
    open(&mut s, secs(2.0), C1, Version::V5, "b");
    s.handle_connection_closed(secs(3.0), C1);
    assert!(s.stop_requested());
}

/// The dump shows JSON payloads parsed and counts packets per type and direction.
#[test]
fn dump_parses_json_payloads_and_stats_count_packets() {
    let mut s = server("");
    open(&mut s, secs(0.0), C0, Version::V5, "a");
    s.handle_bytes(secs(0.5), C0, &bytes(&publish(Qos::AtMostOnce, 0, "x", false), Version::V5));
    let records: Vec<DumpRecord> = std::iter::from_fn(|| s.poll_event())
        .filter_map(|e| if let TestEvent::Packet(r) = e { Some(r) } else { None })
        .collect();
    let line = records.last().expect("records").to_json_line();
    let json: serde_json::Value = serde_json::from_str(&line).expect("JSON line");
    assert_eq!(json["dir"], "in");
    assert_eq!(json["time_s"], 0.5);
    assert_eq!(json["packet"]["payload"], "{\"n\":1}");
    assert_eq!(json["packet"]["payload_json"]["n"], 1);
    let stats = s.stats();
    assert_eq!(stats.packets["in"]["PUBLISH"], 1);
    assert_eq!(stats.packets["out"]["CONNACK"], 1);
}

/// Behaviours select connections by number and by range; later behaviours override earlier fields.
#[test]
fn behaviours_select_connections_and_merge() {
    let (_, config) = split_config(
        "max_inflight = 4\n[[behaviour]]\nconnections = \"2..\"\ndelay_acks_ms = 10\n[[behaviour]]\nconnection = 3\ndelay_acks_ms = 20\n",
    )
    .expect("valid");
    assert_eq!(config.behaviour_for(1).delay_acks_ms, None);
    assert_eq!(config.behaviour_for(2).delay_acks_ms, Some(10));
    assert_eq!(config.behaviour_for(3).delay_acks_ms, Some(20));
    assert!(split_config("[[behaviour]]\nno_such_field = 1\n").is_err());
    assert!(glob_matches("a*c", "abbc") && !glob_matches("a*c", "abd"));
}

/// Whether `xml` is well formed as far as elements go: every start tag has
/// its end tag in order, attributes are quoted, and text holds no bare `<`
/// or `&` that is not an entity.
fn elements_balance(xml: &str) -> bool {
    let body = xml.strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n").unwrap_or(xml);
    let mut open: Vec<&str> = Vec::new();
    let mut rest = body;
    while let Some(at) = rest.find(['<', '&']) {
        let tail = &rest[at..];
        if let Some(after) = tail.strip_prefix('&') {
            let ok = ["lt;", "gt;", "amp;", "quot;", "apos;", "#"].iter().any(|e| after.starts_with(e));
            if !ok {
                return false;
            }
            rest = after;
            continue;
        }
        let Some(close) = tail.find('>') else { return false };
        let tag = &tail[1..close];
        if tag.contains('<') || tag.matches('"').count() % 2 != 0 {
            return false;
        }
        if let Some(name) = tag.strip_prefix('/') {
            if open.pop() != Some(name) {
                return false;
            }
        } else if !tag.ends_with('/') {
            open.push(tag.split_whitespace().next().unwrap_or(""));
        }
        rest = &tail[close + 1..];
    }
    open.is_empty()
}

/// The client report's JUnit form: a suite per version with the right counts, a failure per violated statement carrying the violation, well formed.
#[test]
fn client_report_junit_has_a_suite_per_version_and_a_failure_per_violated_statement() {
    let mut s = server("");
    // 3.1.1: one clean connection, then a stray PUBREL (violates 4.3.3-1).
    open(&mut s, secs(0.0), C0, Version::V3_1_1, "a<&>");
    s.handle_bytes(secs(0.1), C0, &bytes(&Packet::Pubrel(PubResponse::new(pid(5))), Version::V3_1_1));
    // 5.0: a QoS 1 PUBLISH (checked, no violation).
    open(&mut s, secs(0.2), C1, Version::V5, "b");
    s.handle_bytes(secs(0.3), C1, &bytes(&publish(Qos::AtLeastOnce, 1, "x", false), Version::V5));
    let report = s.report();
    let xml = report.to_junit();
    assert!(elements_balance(&xml), "{xml}");
    assert!(!elements_balance("<a><b></a></b>") && !elements_balance("<a>x & y</a>"), "the check can fail");
    let v3 = report.covered.iter().filter(|c| c.statement.version == Version::V3_1_1).count();
    let v5 = report.covered.iter().filter(|c| c.statement.version == Version::V5).count();
    assert!(v3 >= 2 && v5 >= 2, "{}", report.to_text());
    assert!(xml.contains(&format!(
        "<testsuite name=\"MQTT 3.1.1 client\" tests=\"{v3}\" failures=\"1\" errors=\"0\" skipped=\"0\">"
    )));
    assert!(xml.contains(&format!(
        "<testsuite name=\"MQTT 5.0 client\" tests=\"{v5}\" failures=\"0\" errors=\"0\" skipped=\"0\">"
    )));
    assert_eq!(xml.matches("<testcase ").count(), report.covered.len());
    assert_eq!(xml.matches("<failure ").count(), 1, "{xml}");
    assert!(
        xml.contains("<failure message=\"3.1.1/MQTT-4.3.3-1: violated 1 of 1 times\">at 0.100s on c0 (client a&lt;&amp;&gt;): PUBREL 5"),
        "{xml}"
    );
}
