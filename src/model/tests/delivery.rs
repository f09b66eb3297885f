//! QoS 0/1/2 in both directions, inflight windows, offline queues, resend on resume, expiry.

use super::*;
use crate::model::{OverlapPolicy, Qos2Forward};
use crate::spec::{v3_1_1 as v3, v5};
use CiteKind::Fulfilled;

const V3: Version = Version::V3_1_1;
const V5: Version = Version::V5;

fn persistent(c: &mut Connect) {
    c.clean_start = false;
    c.properties.session_expiry_interval_secs = Some(1000);
}

/// QoS 1 is acknowledged to the publisher and delivered with a packet id; PUBACK frees it.
#[test]
fn qos_1_is_acknowledged_and_delivered_across_versions() {
    let mut h = Harness::new(config());
    let sub = h.connect(V5, "sub");
    h.subscribe(sub, "a/+", Qos::AtLeastOnce);
    let publisher = h.connect(V3, "pub");
    let back = h.publish(publisher, publish("a/b", Qos::AtLeastOnce, "hi"));
    assert_eq!(back, [Packet::Puback(ack(pid(1)))]);
    let got = h.publishes(sub);
    assert_eq!(payloads(&got), ["hi"]);
    let id = got[0].packet_id().unwrap();
    assert!(!got[0].dup);
    assert_eq!(h.broker.session("sub").unwrap().inflight.len(), 1);
    h.send(sub, Packet::Puback(ack(id)));
    assert!(h.broker.session("sub").unwrap().inflight.is_empty());
    h.assert_cited(v3::MQTT_4_3_2_2, Fulfilled);
    h.assert_cited(v5::MQTT_4_3_2_3, Fulfilled);
}

/// Delivered QoS is the minimum of the published and the granted QoS.
#[test]
fn delivery_qos_is_downgraded_to_the_granted_qos() {
    let mut h = Harness::new(config());
    let sub = h.connect(V3, "sub");
    h.subscribe(sub, "t", Qos::AtMostOnce);
    let publisher = h.connect(V3, "pub");
    h.publish(publisher, publish("t", Qos::ExactlyOnce, "x"));
    let got = h.publishes(sub);
    assert_eq!(got[0].qos(), Qos::AtMostOnce);
    h.assert_cited(v3::MQTT_3_8_4_6, Fulfilled);
}

/// QoS 2 forwarded on PUBLISH: PUBREC, a duplicate is not re-forwarded, PUBREL gets PUBCOMP.
#[test]
fn qos_2_forwarded_on_publish_is_delivered_once() {
    let mut h = Harness::new(config());
    let sub = h.connect(V5, "sub");
    h.subscribe(sub, "t", Qos::ExactlyOnce);
    let p = h.connect(V5, "pub");
    assert_eq!(h.publish(p, publish("t", Qos::ExactlyOnce, "x")), [Packet::Pubrec(ack(pid(1)))]);
    assert_eq!(h.publishes(sub).len(), 1);
    let dup = Publish { dup: true, ..publish("t", Qos::ExactlyOnce, "x") };
    assert_eq!(h.publish(p, dup), [Packet::Pubrec(ack(pid(1)))]);
    assert!(h.publishes(sub).is_empty());
    h.send(p, Packet::Pubrel(ack(pid(1))));
    assert_eq!(h.received(p), [Packet::Pubcomp(ack(pid(1)))]);
    h.assert_cited(v5::MQTT_4_3_3_10, Fulfilled);
    h.assert_cited(v5::MQTT_4_3_3_11, Fulfilled);
}

/// QoS 2 forwarded on PUBREL: nothing reaches subscribers until the PUBREL.
#[test]
fn qos_2_forwarded_on_pubrel_waits_for_the_release() {
    let mut h = Harness::new(BrokerConfig { qos2_forward: Qos2Forward::OnPubrel, ..config() });
    let sub = h.connect(V3, "sub");
    h.subscribe(sub, "t", Qos::ExactlyOnce);
    let p = h.connect(V3, "pub");
    h.publish(p, publish("t", Qos::ExactlyOnce, "x"));
    assert!(h.publishes(sub).is_empty());
    h.send(p, Packet::Pubrel(ack(pid(1))));
    assert_eq!(h.received(p), [Packet::Pubcomp(ack(pid(1)))]);
    let got = h.publishes(sub);
    assert_eq!(payloads(&got), ["x"]);
    // Outgoing QoS 2: PUBREC from the subscriber gets PUBREL, PUBCOMP ends it.
    let id = got[0].packet_id().unwrap();
    h.send(sub, Packet::Pubrec(ack(id)));
    assert_eq!(h.received(sub), [Packet::Pubrel(ack(id))]);
    h.send(sub, Packet::Pubcomp(ack(id)));
    assert!(h.broker.session("sub").unwrap().inflight.is_empty());
}

/// A PUBREL for an unknown packet id gets PUBCOMP 0x92 in 5.0.
#[test]
fn an_unknown_pubrel_gets_packet_identifier_not_found() {
    let mut h = Harness::new(config());
    let c = h.connect(V5, "c");
    h.send(c, Packet::Pubrel(ack(pid(9))));
    match h.expect(c) {
        Packet::Pubcomp(p) => assert_eq!(p.reason_code, ReasonCode::PACKET_IDENTIFIER_NOT_FOUND),
        other => panic!("{other:?}"),
    }
}

/// Unacknowledged messages are resent with DUP=1 and the same id on resume; offline messages are queued.
#[test]
fn unacknowledged_messages_are_resent_with_dup_on_resume() {
    for version in [V3, V5] {
        let mut h = Harness::new(config());
        let (sub, _) = h.connect_with(version, "sub", persistent);
        h.subscribe(sub, "t", Qos::ExactlyOnce);
        let p = h.connect(V5, "pub");
        h.publish(p, publish("t", Qos::AtLeastOnce, "one"));
        h.publish(p, publish("t", Qos::ExactlyOnce, "two"));
        let first = h.publishes(sub);
        assert_eq!(first.len(), 2);
        h.send(sub, Packet::Pubrec(ack(first[1].packet_id().unwrap())));
        h.received(sub);
        h.drop_network(sub);
        h.publish(p, publish("t", Qos::AtLeastOnce, "three"));
        let (sub, connack) = h.connect_with(version, "sub", persistent);
        assert!(connack.session_present);
        let again = h.received(sub);
        assert_eq!(again.len(), 3, "{version}: {again:?}");
        match &again[0] {
            Packet::Publish(p) => {
                assert!(p.dup);
                assert_eq!(p.packet_id(), first[0].packet_id());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(again[1], Packet::Pubrel(ack(first[1].packet_id().unwrap())));
        match &again[2] {
            Packet::Publish(p) => {
                assert!(!p.dup);
                assert_eq!(p.payload, "three");
                assert_ne!(p.packet_id(), first[0].packet_id());
            }
            other => panic!("{other:?}"),
        }
        h.assert_cited(if version == V5 { v5::MQTT_4_4_0_1 } else { v3::MQTT_4_4_0_1 }, Fulfilled);
    }
}

/// The inflight window is the client's Receive Maximum: the rest waits until a PUBACK.
#[test]
fn the_inflight_window_follows_the_clients_receive_maximum() {
    let mut h = Harness::new(config());
    let (sub, _) = h.connect_with(V5, "sub", |c| c.properties.receive_maximum = Some(2));
    h.subscribe(sub, "t", Qos::AtLeastOnce);
    let p = h.connect(V5, "pub");
    for n in 0..4 {
        h.publish(p, publish("t", Qos::AtLeastOnce, &n.to_string()));
    }
    let got = h.publishes(sub);
    assert_eq!(payloads(&got), ["0", "1"]);
    h.send(sub, Packet::Puback(ack(got[0].packet_id().unwrap())));
    assert_eq!(payloads(&h.publishes(sub)), ["2"]);
    h.send(sub, Packet::Pingreq);
    assert_eq!(h.received(sub), [Packet::Pingresp]);
    h.assert_cited(v5::MQTT_3_3_4_9, Fulfilled);
}

/// A client that exceeds our Receive Maximum gets DISCONNECT 0x93.
#[test]
fn exceeding_our_receive_maximum_gets_disconnect_0x93() {
    let mut h = Harness::new(BrokerConfig { receive_maximum: 2, ..config() });
    let c = h.connect(V5, "c");
    for n in 1..=2 {
        let mut p = publish("t", Qos::ExactlyOnce, "x");
        p.qos_pid = QosPid::ExactlyOnce(pid(n));
        h.publish(c, p);
    }
    let mut p = publish("t", Qos::ExactlyOnce, "x");
    p.qos_pid = QosPid::ExactlyOnce(pid(3));
    match h.publish(c, p).last() {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason_code, ReasonCode::RECEIVE_MAXIMUM_EXCEEDED),
        other => panic!("{other:?}"),
    }
    assert!(h.is_closed(c));
}

/// A message whose expiry passes while queued is dropped; others carry the remaining interval.
#[test]
fn messages_expire_while_queued() {
    let mut h = Harness::new(config());
    let (sub, _) = h.connect_with(V5, "sub", persistent);
    h.subscribe(sub, "t", Qos::AtLeastOnce);
    h.drop_network(sub);
    let p = h.connect(V5, "pub");
    let mut short = publish("t", Qos::AtLeastOnce, "short");
    short.properties.message_expiry_interval_secs = Some(5);
    let mut long = publish("t", Qos::AtLeastOnce, "long");
    long.properties.message_expiry_interval_secs = Some(100);
    h.publish(p, short);
    h.publish(p, long);
    h.advance(6.0);
    let (sub, _) = h.connect_with(V5, "sub", persistent);
    let got = h.publishes(sub);
    assert_eq!(payloads(&got), ["long"]);
    assert_eq!(got[0].properties.message_expiry_interval_secs, Some(94));
    h.assert_cited(v5::MQTT_3_3_2_5, Fulfilled);
    h.assert_cited(v5::MQTT_3_3_2_6, Fulfilled);
}

/// An offline queue is bounded: QoS 0 is dropped first, then new messages are refused.
#[test]
fn a_full_queue_drops_qos_0_first_then_refuses() {
    let mut h = Harness::new(BrokerConfig { max_queued_messages_per_session: 2, ..config() });
    let (sub, _) = h.connect_with(V3, "sub", persistent);
    h.subscribe(sub, "t", Qos::AtLeastOnce);
    h.drop_network(sub);
    let p = h.connect(V3, "pub");
    h.publish(p, publish("t", Qos::AtMostOnce, "q0"));
    h.publish(p, publish("t", Qos::AtLeastOnce, "a"));
    h.publish(p, publish("t", Qos::AtLeastOnce, "b"));
    h.publish(p, publish("t", Qos::AtLeastOnce, "c"));
    let (sub, _) = h.connect_with(V3, "sub", persistent);
    assert_eq!(payloads(&h.publishes(sub)), ["a", "b"]);
    assert_eq!(h.broker.stats().messages_dropped, 2);
}

/// Overlapping subscriptions: one copy at the highest QoS with all identifiers, or one copy each.
#[test]
fn overlapping_subscriptions_follow_the_configured_policy() {
    for policy in [OverlapPolicy::SingleMaxQos, OverlapPolicy::PerSubscription] {
        let mut h = Harness::new(BrokerConfig { overlap: policy, ..config() });
        let sub = h.connect(V5, "sub");
        let id = |n| Properties::from(PropertyValues { subscription_identifiers: vec![n], ..Default::default() });
        h.subscribe_with(sub, "a/+", SubscriptionOptions::qos(Qos::AtMostOnce), id(1));
        h.subscribe_with(sub, "a/#", SubscriptionOptions::qos(Qos::AtLeastOnce), id(2));
        let p = h.connect(V5, "pub");
        h.publish(p, publish("a/b", Qos::AtLeastOnce, "x"));
        let got = h.publishes(sub);
        match policy {
            OverlapPolicy::SingleMaxQos => {
                assert_eq!(got.len(), 1);
                assert_eq!(got[0].qos(), Qos::AtLeastOnce);
                assert_eq!(got[0].properties.subscription_identifiers, [2, 1]);
                h.assert_cited(v5::MQTT_3_3_4_4, Fulfilled);
            }
            OverlapPolicy::PerSubscription => {
                assert_eq!(got.len(), 2);
                let mut ids: Vec<_> = got.iter().map(|p| p.properties.subscription_identifiers.clone()).collect();
                ids.sort();
                assert_eq!(ids, [vec![1], vec![2]]);
                h.assert_cited(v5::MQTT_3_3_4_5, Fulfilled);
            }
        }
        h.assert_cited(v5::MQTT_3_3_4_2, Fulfilled);
    }
}
