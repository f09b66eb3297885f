//! The subtle deliberate defects (9 to 11 of [`crate::model::Defects`]),
//! which the exploration work must find: each test shows the observable
//! wrong behaviour with the defect on and the correct one with it off.

use super::*;
use crate::model::{Defects, InflightState};
use crate::spec::{v3_1_1 as v3, v5};
use CiteKind::Fulfilled;

const V3: Version = Version::V3_1_1;
const V5: Version = Version::V5;

fn persistent(c: &mut Connect) {
    c.clean_start = false;
    c.properties.session_expiry_interval_secs = Some(1000);
}

fn with(defects: Defects) -> Harness {
    Harness::new(BrokerConfig { defects, ..config() })
}

fn resend_statement(version: Version) -> StatementId {
    if version == V5 {
        v5::MQTT_4_4_0_1
    } else {
        v3::MQTT_4_4_0_1
    }
}

/// `forget_inflight_on_takeover`: a QoS 1 message sent and not acknowledged
/// is resent (DUP 1, same packet id) to the connection that takes the
/// session over; with the defect it is lost, while a resume after a
/// network drop still resends.
#[test]
fn forget_inflight_on_takeover_loses_the_unacknowledged_message() {
    for version in [V3, V5] {
        for defect in [false, true] {
            let mut h = with(Defects { forget_inflight_on_takeover: defect, ..Defects::NONE });
            let (old, _) = h.connect_with(version, "sub", persistent);
            h.subscribe(old, "t", Qos::AtLeastOnce);
            let p = h.connect(V5, "pub");
            h.publish(p, publish("t", Qos::AtLeastOnce, "m"));
            let first = h.publishes(old);
            assert_eq!(payloads(&first), ["m"]);
            // Takeover: the old connection is still open.
            let (new, connack) = h.connect_with(version, "sub", persistent);
            assert!(connack.session_present);
            assert!(h.is_closed(old), "{version}: the old connection is closed");
            let again = h.publishes(new);
            let inflight = h.broker.session("sub").unwrap().inflight.len();
            if defect {
                assert!(again.is_empty(), "{version}: lost, not resent: {again:?}");
                assert_eq!(inflight, 0, "{version}: the window was cleared");
                assert!(!h.cited(resend_statement(version), Fulfilled), "{version}: no resend cited");
            } else {
                assert_eq!(payloads(&again), ["m"], "{version}");
                assert!(again[0].dup);
                assert_eq!(again[0].packet_id(), first[0].packet_id());
                assert_eq!(inflight, 1);
                h.assert_cited(resend_statement(version), Fulfilled);
            }
            // A resume after a network drop (no takeover) resends in both cases.
            h.publish(p, publish("t", Qos::AtLeastOnce, "n"));
            assert_eq!(payloads(&h.publishes(new)), ["n"]);
            h.drop_network(new);
            let (resumed, _) = h.connect_with(version, "sub", persistent);
            let resent = h.publishes(resumed);
            let expected: &[&str] = if defect { &["n"] } else { &["m", "n"] };
            assert_eq!(payloads(&resent), expected, "{version}");
            assert!(resent.iter().all(|p| p.dup));
        }
    }
}

/// `no_pubrel_resend`: on resume, a QoS 2 message whose PUBREC arrived gets
/// its PUBREL resent; with the defect it does not (the exchange is stuck
/// awaiting PUBCOMP), while an unacknowledged PUBLISH is still resent.
#[test]
fn no_pubrel_resend_leaves_the_qos_2_exchange_stuck() {
    for version in [V3, V5] {
        for defect in [false, true] {
            let mut h = with(Defects { no_pubrel_resend: defect, ..Defects::NONE });
            let (sub, _) = h.connect_with(version, "sub", persistent);
            h.subscribe(sub, "t", Qos::ExactlyOnce);
            let p = h.connect(V5, "pub");
            h.publish(p, publish("t", Qos::ExactlyOnce, "two"));
            h.publish(p, publish("t", Qos::AtLeastOnce, "one"));
            let first = h.publishes(sub);
            assert_eq!(payloads(&first), ["two", "one"]);
            let id = first[0].packet_id().unwrap();
            h.send(sub, Packet::Pubrec(ack(id)));
            assert_eq!(h.received(sub), [Packet::Pubrel(ack(id))]);
            h.drop_network(sub);
            h.citations.clear();
            let (sub, connack) = h.connect_with(version, "sub", persistent);
            assert!(connack.session_present);
            let again = h.received(sub);
            // 5.0 cites the PUBREL resend with MQTT-4.3.3-6.
            assert_eq!(h.cited(v5::MQTT_4_3_3_6, Fulfilled), version == V5 && !defect, "{version}");
            let pubrel = Packet::Pubrel(ack(id));
            let publishes: Vec<_> = again.iter().filter(|p| matches!(p, Packet::Publish(_))).collect();
            assert_eq!(publishes.len(), 1, "{version}: the QoS 1 PUBLISH is resent: {again:?}");
            let session = h.broker.session("sub").unwrap();
            assert!(session.inflight.iter().any(|m| m.packet_id == id && m.state == InflightState::AwaitPubcomp));
            if defect {
                assert!(!again.contains(&pubrel), "{version}: no PUBREL: {again:?}");
            } else {
                assert_eq!(again[0], pubrel, "{version}: PUBREL resent first: {again:?}");
                h.send(sub, Packet::Pubcomp(ack(id)));
                let session = h.broker.session("sub").unwrap();
                assert!(!session.inflight.iter().any(|m| m.packet_id == id), "{version}: PUBCOMP ends it");
            }
        }
    }
}

/// `duplicate_retained_delivery`: a subscription gets one copy of each
/// matching retained message; with the defect it gets two (with different
/// packet ids at QoS 1).
#[test]
fn duplicate_retained_delivery_sends_each_retained_message_twice() {
    for version in [V3, V5] {
        for defect in [false, true] {
            let mut h = with(Defects { duplicate_retained_delivery: defect, ..Defects::NONE });
            let p = h.connect(V5, "pub");
            h.publish(p, retained("t/a", Qos::AtLeastOnce, "r"));
            let sub = h.connect(version, "sub");
            h.subscribe(sub, "t/#", Qos::AtLeastOnce);
            let got = h.publishes(sub);
            assert!(got.iter().all(|p| p.retain && p.payload == "r"), "{version}: {got:?}");
            if defect {
                assert_eq!(got.len(), 2, "{version}: twice: {got:?}");
                assert_ne!(got[0].packet_id(), got[1].packet_id());
            } else {
                assert_eq!(got.len(), 1, "{version}: once: {got:?}");
            }
            // Live messages are not duplicated either way.
            h.publish(p, publish("t/a", Qos::AtLeastOnce, "live"));
            assert_eq!(payloads(&h.publishes(sub)), ["live"], "{version}");
        }
    }
}
