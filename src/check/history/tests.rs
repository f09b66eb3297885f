//! Hand-built histories: each rule passes on a correct one and fails, with
//! its statement and event index, on a wrong one.

use std::time::Duration;

use bytes::Bytes;

use super::{check_history, pending_at_end, render_violations, rule, CheckConfig, Violation};
use crate::codec::PropertyValues;
use crate::codec::{
    Connack, Connect, Disconnect, Packet, PacketId, Properties, PubResponse, Publish, Qos, QosPid, ReasonCode,
    RetainHandling, Suback, Subscribe, Subscription, SubscriptionOptions, TopicFilter, TopicName, Unsuback,
    Unsubscribe, Will,
};
use crate::spec::{v3_1_1, v5, StatementId, Version};
use crate::trace::{ClosedBy, Dir, EventKind, Trace, TraceHeader};

/// A trace under construction: every event 10 ms after the previous one.
struct H {
    trace: Trace,
    now: Duration,
}

fn pid(n: u16) -> PacketId {
    PacketId::new(n).expect("non-zero")
}

impl H {
    fn new() -> H {
        let header = TraceHeader::new(1, "history-test", Duration::from_millis(1), serde_json::json!({}));
        H { trace: Trace::new(header, 1000), now: Duration::ZERO }
    }

    /// Index the next event will get.
    fn next(&self) -> usize {
        self.trace.len()
    }

    fn wait(&mut self, d: Duration) -> &mut H {
        self.now += d;
        self
    }

    fn push(&mut self, kind: EventKind) -> usize {
        self.now += Duration::from_millis(10);
        let idx = self.trace.len();
        self.trace.push(self.now, kind).expect("room and time order");
        idx
    }

    fn packet(&mut self, who: &str, conn: u64, dir: Dir, packet: Packet, bytes_len: usize) -> usize {
        self.push(EventKind::Packet { endpoint: who.into(), conn, dir, packet, bytes_len })
    }

    fn connect_with(
        &mut self,
        who: &str,
        conn: u64,
        version: Version,
        clean: bool,
        props: Properties,
        will: Option<Will>,
    ) {
        let connect = Connect {
            version,
            clean_start: clean,
            keep_alive_secs: 60,
            properties: props,
            client_id: who.to_owned(),
            will,
            username: None,
            password: None,
        };
        self.packet(who, conn, Dir::Sent, Packet::Connect(connect), 20);
    }

    /// CONNECT (5.0, session expiry `expiry` seconds) and CONNACK.
    fn connect(&mut self, who: &str, conn: u64, clean: bool, expiry: u32, present: bool) -> usize {
        let props =
            Properties::from(PropertyValues { session_expiry_interval_secs: Some(expiry), ..Default::default() });
        self.connect_with(who, conn, Version::V5, clean, props, None);
        self.connack(who, conn, present)
    }

    fn connack(&mut self, who: &str, conn: u64, present: bool) -> usize {
        let connack =
            Connack { session_present: present, reason_code: ReasonCode::SUCCESS, properties: Properties::default() };
        self.packet(who, conn, Dir::Received, Packet::Connack(connack), 5)
    }

    fn subscribe(&mut self, who: &str, conn: u64, id: u16, filter: &str, qos: Qos) {
        send_subscribe(self, who, conn, id, filter, SubscriptionOptions::qos(qos));
        let suback = Suback {
            packet_id: pid(id),
            properties: Properties::default(),
            reason_codes: vec![ReasonCode(qos.as_u8())],
        };
        self.packet(who, conn, Dir::Received, Packet::Suback(suback), 5);
    }

    fn unsubscribe(&mut self, who: &str, conn: u64, id: u16, filter: &str) {
        let filters = vec![TopicFilter::new(filter).expect("valid filter")];
        let unsubscribe = Unsubscribe { packet_id: pid(id), properties: Properties::default(), filters };
        self.packet(who, conn, Dir::Sent, Packet::Unsubscribe(unsubscribe), 10);
        let unsuback = Unsuback { packet_id: pid(id), properties: Properties::default(), reason_codes: vec![] };
        self.packet(who, conn, Dir::Received, Packet::Unsuback(unsuback), 5);
    }

    fn publish_packet(qos: Qos, id: u16, topic: &str, payload: &str, retain: bool, props: Properties) -> Publish {
        Publish {
            dup: false,
            qos_pid: QosPid::from_parts(qos, PacketId::new(id)).expect("pid for QoS > 0"),
            retain,
            topic: TopicName::new(topic).expect("valid topic"),
            properties: props,
            payload: Bytes::copy_from_slice(payload.as_bytes()),
        }
    }

    /// A PUBLISH the client sends and, for QoS ≥ 1, the broker's PUBACK/PUBREC.
    // A test script step: every argument is one field of the packet.
    #[allow(clippy::too_many_arguments)]
    fn publish_with(
        &mut self,
        who: &str,
        conn: u64,
        qos: Qos,
        id: u16,
        topic: &str,
        payload: &str,
        retain: bool,
        props: Properties,
    ) -> usize {
        let publish = H::publish_packet(qos, id, topic, payload, retain, props);
        let sent = self.packet(who, conn, Dir::Sent, Packet::Publish(publish), 20);
        match qos {
            Qos::AtMostOnce => {}
            Qos::AtLeastOnce => {
                self.packet(who, conn, Dir::Received, Packet::Puback(PubResponse::new(pid(id))), 4);
            }
            Qos::ExactlyOnce => {
                self.packet(who, conn, Dir::Received, Packet::Pubrec(PubResponse::new(pid(id))), 4);
            }
        }
        sent
    }

    fn publish(&mut self, who: &str, conn: u64, qos: Qos, id: u16, topic: &str, payload: &str) -> usize {
        self.publish_with(who, conn, qos, id, topic, payload, false, Properties::default())
    }

    /// A PUBLISH the client receives (of `bytes_len` bytes), then the delivery to its application.
    /// Returns the PUBLISH's index.
    // A test script step: every argument is one field of the packet.
    #[allow(clippy::too_many_arguments)]
    fn deliver_sized(
        &mut self,
        who: &str,
        conn: u64,
        qos: Qos,
        topic: &str,
        payload: &str,
        retain: bool,
        bytes_len: usize,
    ) -> usize {
        let publish = H::publish_packet(qos, 9, topic, payload, retain, Properties::default());
        let idx = self.packet(who, conn, Dir::Received, Packet::Publish(publish), bytes_len);
        self.push(EventKind::Delivery {
            client: who.to_owned(),
            topic: topic.to_owned(),
            qos: qos.as_u8(),
            retain,
            payload: Bytes::copy_from_slice(payload.as_bytes()),
            publisher_seq: None,
        });
        idx
    }

    fn deliver(&mut self, who: &str, conn: u64, qos: Qos, topic: &str, payload: &str) -> usize {
        self.deliver_sized(who, conn, qos, topic, payload, false, 20)
    }

    fn deliver_retained(&mut self, who: &str, conn: u64, qos: Qos, topic: &str, payload: &str) -> usize {
        self.deliver_sized(who, conn, qos, topic, payload, true, 20)
    }

    fn disconnect(&mut self, who: &str, conn: u64) {
        self.packet(who, conn, Dir::Sent, Packet::Disconnect(Disconnect::default()), 2);
        self.close(who, conn, ClosedBy::Local);
    }

    fn close(&mut self, who: &str, conn: u64, by: ClosedBy) -> usize {
        self.push(EventKind::Closed { endpoint: who.into(), conn, by })
    }

    fn check(&self) -> Vec<Violation> {
        check_history(&self.trace, &CheckConfig::default())
    }

    fn pending(&self) -> Vec<Violation> {
        pending_at_end(&self.trace, &CheckConfig::default())
    }
}

/// Asserts exactly one violation, of `rule` citing `statement` at `event_index`.
#[track_caller]
/// `build(true)` breaks no rule and owes nothing at the end; `build(false)`
/// breaks no safety rule and leaves exactly one 5.0 will pending, that of the
/// close at the event `build` returns.
fn assert_will_pending_only_without(build: impl Fn(bool) -> (H, usize)) {
    let (with, _) = build(true);
    assert_clean(&with.check());
    assert_clean(&with.pending());
    let (without, close) = build(false);
    assert_clean(&without.check());
    assert_one(&without.pending(), rule::PENDING_WILL, v5::MQTT_3_1_2_8, close);
}

fn assert_one(violations: &[Violation], rule: &str, statement: StatementId, event_index: usize) {
    assert_eq!(violations.len(), 1, "{}", render_violations(violations));
    let v = &violations[0];
    assert_eq!((v.rule, v.statement, v.event_index), (rule, Some(statement), event_index), "{v}");
}

#[track_caller]
fn assert_clean(violations: &[Violation]) {
    assert!(violations.is_empty(), "{}", render_violations(violations));
}

/// A subscriber `sub` (5.0, persistent) subscribed to `a/#` at `qos`, and a publisher `pub`.
fn pair(qos: Qos) -> H {
    let mut h = H::new();
    h.connect("sub", 1, true, 300, false);
    h.subscribe("sub", 1, 1, "a/#", qos);
    h.connect("pub", 1, true, 0, false);
    h
}

/// A QoS 2 message delivered once passes; the same message delivered twice breaks exactly-once.
#[test]
fn a_qos2_message_delivered_twice_breaks_exactly_once() {
    let mut h = pair(Qos::ExactlyOnce);
    h.publish("pub", 1, Qos::ExactlyOnce, 1, "a/b", "m1");
    h.deliver("sub", 1, Qos::ExactlyOnce, "a/b", "m1");
    assert_clean(&h.check());
    assert_clean(&h.pending());

    let second = h.deliver("sub", 1, Qos::ExactlyOnce, "a/b", "m1");
    assert_one(&h.check(), rule::QOS2_EXACTLY_ONCE, v5::MQTT_4_3_3_10, second);
}

/// A QoS 0 message delivered twice through one subscription breaks at-most-once; once is fine.
#[test]
fn a_qos0_message_delivered_twice_breaks_at_most_once() {
    let mut h = pair(Qos::AtMostOnce);
    h.publish("pub", 1, Qos::AtMostOnce, 0, "a/b", "m1");
    h.deliver("sub", 1, Qos::AtMostOnce, "a/b", "m1");
    assert_clean(&h.check());
    let second = h.deliver("sub", 1, Qos::AtMostOnce, "a/b", "m1");
    assert_one(&h.check(), rule::QOS0_AT_MOST_ONCE, v5::MQTT_4_3_1_1, second);
}

/// A QoS 1 message published while a persistent subscriber was away must reach it after it resumes.
fn lost_across_reconnect(deliver_first: bool) -> (H, usize) {
    let mut h = pair(Qos::AtLeastOnce);
    h.close("sub", 1, ClosedBy::Network);
    h.publish("pub", 1, Qos::AtLeastOnce, 1, "a/b", "m1");
    h.connect("sub", 2, false, 300, true);
    if deliver_first {
        h.deliver("sub", 2, Qos::AtLeastOnce, "a/b", "m1");
    }
    h.publish("pub", 1, Qos::AtLeastOnce, 2, "a/b", "m2");
    let m2 = h.deliver("sub", 2, Qos::AtLeastOnce, "a/b", "m2");
    (h, m2)
}

/// Losing an acknowledged QoS 1 message across a reconnect of a persistent session is caught when a later one arrives.
#[test]
fn a_qos1_message_lost_across_a_persistent_reconnect_is_caught() {
    let (ok, _) = lost_across_reconnect(true);
    assert_clean(&ok.check());
    assert_clean(&ok.pending());

    let (lost, m2) = lost_across_reconnect(false);
    assert_one(&lost.check(), rule::QOS1_AT_LEAST_ONCE, v5::MQTT_3_1_2_23, m2);
}

/// An acknowledged QoS 1 message never delivered is pending at the end, but is excused by a non-durable broker crash.
#[test]
fn an_undelivered_acknowledged_message_is_pending_at_the_end() {
    let mut h = pair(Qos::AtLeastOnce);
    h.publish("pub", 1, Qos::AtLeastOnce, 1, "a/b", "m1");
    let ack = h.next() - 1;
    assert_clean(&h.check());
    assert_one(&h.pending(), rule::PENDING_DELIVERY, v5::MQTT_4_5_0_1, ack);

    h.push(EventKind::Fault { description: "crash broker".to_owned() });
    assert_clean(&h.pending());
    let durable = CheckConfig { durable_broker: true, ..CheckConfig::default() };
    assert_eq!(pending_at_end(&h.trace, &durable).len(), 1);
}

/// One publisher's messages on one topic at one QoS must reach a subscriber in publish order.
#[test]
fn messages_delivered_out_of_publish_order_are_caught() {
    let mut h = pair(Qos::AtLeastOnce);
    h.publish("pub", 1, Qos::AtLeastOnce, 1, "a/b", "m1");
    h.publish("pub", 1, Qos::AtLeastOnce, 2, "a/b", "m2");
    let mut ok = H { trace: h.trace.clone(), now: h.now };
    ok.deliver("sub", 1, Qos::AtLeastOnce, "a/b", "m1");
    ok.deliver("sub", 1, Qos::AtLeastOnce, "a/b", "m2");
    assert_clean(&ok.check());

    h.deliver("sub", 1, Qos::AtLeastOnce, "a/b", "m2");
    let late = h.deliver("sub", 1, Qos::AtLeastOnce, "a/b", "m1");
    assert_one(&h.check(), rule::ORDER, v5::MQTT_4_6_0_5, late);
}

/// Messages on different topics carry no order between them.
#[test]
fn messages_on_different_topics_may_arrive_in_any_order() {
    let mut h = pair(Qos::AtLeastOnce);
    h.publish("pub", 1, Qos::AtLeastOnce, 1, "a/b", "m1");
    h.publish("pub", 1, Qos::AtLeastOnce, 2, "a/c", "m2");
    h.deliver("sub", 1, Qos::AtLeastOnce, "a/c", "m2");
    h.deliver("sub", 1, Qos::AtLeastOnce, "a/b", "m1");
    assert_clean(&h.check());
}

/// A 3.1.1 subscriber's ordering violation cites the 3.1.1 statement.
#[test]
fn an_ordering_violation_cites_the_subscribers_version() {
    let mut h = H::new();
    h.connect_with("sub", 1, Version::V3_1_1, true, Properties::default(), None);
    h.connack("sub", 1, false);
    h.subscribe("sub", 1, 1, "a/b", Qos::AtMostOnce);
    h.connect("pub", 1, true, 0, false);
    h.publish("pub", 1, Qos::AtMostOnce, 0, "a/b", "m1");
    h.publish("pub", 1, Qos::AtMostOnce, 0, "a/b", "m2");
    h.deliver("sub", 1, Qos::AtMostOnce, "a/b", "m2");
    let late = h.deliver("sub", 1, Qos::AtMostOnce, "a/b", "m1");
    assert_one(&h.check(), rule::ORDER, v3_1_1::MQTT_4_6_0_6, late);
}

/// A retained message delivered on subscribe must be the last acknowledged retained publish.
#[test]
fn a_stale_retained_message_on_subscribe_is_caught() {
    let mut h = H::new();
    h.connect("pub", 1, true, 0, false);
    h.publish_with("pub", 1, Qos::AtLeastOnce, 1, "r/t", "old", true, Properties::default());
    h.publish_with("pub", 1, Qos::AtLeastOnce, 2, "r/t", "new", true, Properties::default());
    h.connect("sub", 1, true, 0, false);
    h.subscribe("sub", 1, 1, "r/#", Qos::AtLeastOnce);
    let mut ok = H { trace: h.trace.clone(), now: h.now };
    ok.deliver_retained("sub", 1, Qos::AtLeastOnce, "r/t", "new");
    assert_clean(&ok.check());

    let stale = h.deliver_retained("sub", 1, Qos::AtLeastOnce, "r/t", "old");
    assert_one(&h.check(), rule::RETAINED, v5::MQTT_3_3_1_5, stale);
}

/// While a retained publish is unacknowledged, either the old or the new value may be delivered on subscribe.
#[test]
fn an_in_flight_retained_publish_allows_either_value() {
    let mut h = H::new();
    h.connect("pub", 1, true, 0, false);
    h.publish_with("pub", 1, Qos::AtLeastOnce, 1, "r/t", "old", true, Properties::default());
    let publish = H::publish_packet(Qos::AtLeastOnce, 2, "r/t", "new", true, Properties::default());
    h.packet("pub", 1, Dir::Sent, Packet::Publish(publish), 20);
    h.connect("sub", 1, true, 0, false);
    h.subscribe("sub", 1, 1, "r/#", Qos::AtLeastOnce);
    h.deliver_retained("sub", 1, Qos::AtLeastOnce, "r/t", "old");
    assert_clean(&h.check());
}

/// The will "gone" on `will/w` at QoS 1, not retained, without properties.
fn gone_will() -> Will {
    Will {
        topic: TopicName::new("will/w").expect("valid"),
        payload: Bytes::from_static(b"gone"),
        qos: Qos::AtLeastOnce,
        retain: false,
        properties: Properties::default(),
    }
}

/// A will with the given close; the subscriber listens on `will/#` at QoS 1.
fn will_history(normal: bool, deliver: bool) -> (H, usize, Option<usize>) {
    let mut h = H::new();
    h.connect("sub", 1, true, 0, false);
    h.subscribe("sub", 1, 1, "will/#", Qos::AtLeastOnce);
    // Well before the will can go (a subscription acknowledged within the
    // timing slack of the close may postdate the will).
    h.wait(Duration::from_secs(5));
    let will = gone_will();
    h.connect_with("w", 1, Version::V5, true, Properties::default(), Some(will));
    h.connack("w", 1, false);
    let close = if normal {
        h.disconnect("w", 1);
        h.next() - 1
    } else {
        h.close("w", 1, ClosedBy::Network)
    };
    let delivered = deliver.then(|| h.deliver("sub", 1, Qos::AtLeastOnce, "will/w", "gone"));
    (h, close, delivered)
}

/// A will delivered after a normal DISCONNECT breaks MQTT-3.14.4-3; after an abnormal close it is right.
#[test]
fn a_will_after_a_normal_disconnect_is_caught() {
    let (ok, _, _) = will_history(false, true);
    assert_clean(&ok.check());
    assert_clean(&ok.pending());

    let (wrong, _, delivered) = will_history(true, true);
    assert_one(&wrong.check(), rule::WILL, v5::MQTT_3_14_4_3, delivered.expect("delivered"));
}

/// A will due after an abnormal close and never delivered is reported as pending at the close.
#[test]
fn a_missing_will_after_an_abnormal_close_is_pending() {
    let (missing, close, _) = will_history(false, false);
    assert_clean(&missing.check());
    assert_one(&missing.pending(), rule::PENDING_WILL, v5::MQTT_3_1_2_8, close);

    let (normal, _, _) = will_history(true, false);
    assert_clean(&normal.pending());
}

/// A will published although the session resumed before its will delay passed breaks MQTT-3.1.3-9.
#[test]
fn a_will_after_resuming_within_the_will_delay_is_caught() {
    let mut h = H::new();
    h.connect("sub", 1, true, 0, false);
    h.subscribe("sub", 1, 1, "will/#", Qos::AtLeastOnce);
    let will = Will {
        properties: Properties::from(PropertyValues { will_delay_interval_secs: Some(60), ..Default::default() }),
        ..gone_will()
    };
    let props = Properties::from(PropertyValues { session_expiry_interval_secs: Some(300), ..Default::default() });
    h.connect_with("w", 1, Version::V5, true, props.clone(), Some(will));
    h.connack("w", 1, false);
    h.close("w", 1, ClosedBy::Network);
    h.wait(Duration::from_secs(5));
    h.connect_with("w", 2, Version::V5, false, props, None);
    h.connack("w", 2, true);
    h.wait(Duration::from_secs(70));
    let delivered = h.deliver("sub", 1, Qos::AtLeastOnce, "will/w", "gone");
    assert_one(&h.check(), rule::WILL, v5::MQTT_3_1_3_9, delivered);
}

/// Session present must be 0 after clean start 1, and 1 when a persistent session still exists.
#[test]
fn a_wrong_session_present_is_caught() {
    let mut h = H::new();
    h.connect("c", 1, true, 300, false);
    h.close("c", 1, ClosedBy::Network);
    h.connect("c", 2, false, 300, true);
    assert_clean(&h.check());

    let wrong = h.connect("c", 3, true, 300, true);
    assert_one(&h.check(), rule::SESSION_PRESENT, v5::MQTT_3_2_2_2, wrong);
}

/// A 3.1.1 persistent session resumed with session present 0 breaks 3.1.1 MQTT-3.2.2-2; after a clean session 0 is right.
#[test]
fn a_lost_3_1_1_session_is_caught_by_session_present() {
    let mut h = H::new();
    h.connect_with("c", 1, Version::V3_1_1, true, Properties::default(), None);
    h.connack("c", 1, false);
    h.disconnect("c", 1);
    h.connect_with("c", 2, Version::V3_1_1, false, Properties::default(), None);
    h.connack("c", 2, false);
    h.disconnect("c", 2);
    assert_clean(&h.check());

    h.connect_with("c", 3, Version::V3_1_1, false, Properties::default(), None);
    let wrong = h.connack("c", 3, false);
    assert_one(&h.check(), rule::SESSION_PRESENT, v3_1_1::MQTT_3_2_2_2, wrong);
}

/// A session that expired before the reconnect must not be reported present.
#[test]
fn an_expired_session_must_not_be_present() {
    let mut h = H::new();
    h.connect("c", 1, true, 10, false);
    h.close("c", 1, ClosedBy::Network);
    h.wait(Duration::from_secs(30));
    let wrong = h.connect("c", 2, false, 10, true);
    assert_one(&h.check(), rule::SESSION_PRESENT, v5::MQTT_3_2_2_3, wrong);
}

/// A message delivered to a client with no matching subscription is caught; one after UNSUBACK cites MQTT-3.10.4-2.
#[test]
fn a_delivery_without_a_subscription_is_caught() {
    let mut h = pair(Qos::AtLeastOnce);
    h.publish("pub", 1, Qos::AtLeastOnce, 1, "x/y", "m1");
    let stray = h.deliver("sub", 1, Qos::AtLeastOnce, "x/y", "m1");
    assert_one(&h.check(), rule::NOT_SUBSCRIBED, v5::MQTT_3_3_2_3, stray);

    let mut h = pair(Qos::AtLeastOnce);
    h.publish("pub", 1, Qos::AtLeastOnce, 1, "a/b", "m1");
    h.deliver("sub", 1, Qos::AtLeastOnce, "a/b", "m1");
    h.unsubscribe("sub", 1, 2, "a/#");
    assert_clean(&h.check());
    h.publish("pub", 1, Qos::AtLeastOnce, 2, "a/b", "m2");
    let late = h.deliver("sub", 1, Qos::AtLeastOnce, "a/b", "m2");
    assert_one(&h.check(), rule::NOT_SUBSCRIBED, v5::MQTT_3_10_4_2, late);
}

/// A message first sent to a subscriber after its Message Expiry Interval is caught; before it, fine.
#[test]
fn a_delivery_after_message_expiry_is_caught() {
    let mut h = pair(Qos::AtLeastOnce);
    let props = Properties::from(PropertyValues { message_expiry_interval_secs: Some(10), ..Default::default() });
    h.publish_with("pub", 1, Qos::AtLeastOnce, 1, "a/b", "fresh", false, props.clone());
    h.wait(Duration::from_secs(5));
    h.deliver("sub", 1, Qos::AtLeastOnce, "a/b", "fresh");
    assert_clean(&h.check());

    h.publish_with("pub", 1, Qos::AtLeastOnce, 2, "a/b", "stale", false, props);
    h.wait(Duration::from_secs(20));
    let late = h.deliver("sub", 1, Qos::AtLeastOnce, "a/b", "stale");
    assert_one(&h.check(), rule::EXPIRED, v5::MQTT_3_3_2_5, late);
}

/// A packet larger than the Maximum Packet Size the client declared is caught.
#[test]
fn a_delivery_over_the_maximum_packet_size_is_caught() {
    let mut h = H::new();
    let props = Properties::from(PropertyValues { maximum_packet_size: Some(64), ..Default::default() });
    h.connect_with("sub", 1, Version::V5, true, props, None);
    h.connack("sub", 1, false);
    h.subscribe("sub", 1, 1, "a/#", Qos::AtMostOnce);
    h.connect("pub", 1, true, 0, false);
    h.publish("pub", 1, Qos::AtMostOnce, 0, "a/b", "small");
    h.deliver_sized("sub", 1, Qos::AtMostOnce, "a/b", "small", false, 64);
    assert_clean(&h.check());

    h.publish("pub", 1, Qos::AtMostOnce, 0, "a/b", "big");
    let big = h.deliver_sized("sub", 1, Qos::AtMostOnce, "a/b", "big", false, 65);
    assert_one(&h.check(), rule::MAX_PACKET_SIZE, v5::MQTT_3_1_2_24, big);
}

/// Violations render one line each with time, event, rule and statement, and come in a stable order.
#[test]
fn violations_render_one_line_each_in_a_stable_order() {
    assert_eq!(render_violations(&[]), "no violations\n");
    let mut h = pair(Qos::ExactlyOnce);
    h.publish("pub", 1, Qos::ExactlyOnce, 1, "x/y", "m1");
    h.deliver("sub", 1, Qos::ExactlyOnce, "x/y", "m1");
    h.deliver("sub", 1, Qos::ExactlyOnce, "x/y", "m1");
    let violations = h.check();
    assert_eq!(violations, h.check());
    let text = render_violations(&violations);
    assert_eq!(text.lines().count(), violations.len());
    assert!(violations.windows(2).all(|w| w[0].event_index <= w[1].event_index));
    assert!(
        text.lines().next().is_some_and(|l| l.contains("event #") && l.contains("[not-subscribed] 5.0/MQTT-3.3.2-3")),
        "{text}"
    );
}

/// A CONNECT whose CONNACK was lost may have created the session, so a later
/// CONNACK with session present 1 is right (seeds/fault-heavy-589.toml,
/// -993.toml); without that CONNECT, session present 1 is still caught.
#[test]
fn a_connect_whose_connack_was_lost_may_have_created_the_session() {
    let build = |lost_connect: bool| {
        let mut h = H::new();
        if lost_connect {
            let props = Properties::from(crate::codec::PropertyValues {
                session_expiry_interval_secs: Some(3600),
                ..Default::default()
            });
            h.connect_with("c", 1, Version::V5, false, props, None);
            h.wait(Duration::from_secs(10));
            h.close("c", 1, ClosedBy::Local);
        }
        let present = h.connect("c", 2, false, 3600, true);
        (h, present)
    };
    let (ok, _) = build(true);
    assert_clean(&ok.check());
    let (wrong, present) = build(false);
    assert_one(&wrong.check(), rule::SESSION_PRESENT, v5::MQTT_3_2_2_3, present);
}

/// The broker handles a CONNECT somewhere between its sending and its
/// CONNACK: a CONNECT sent before the old session expired but answered well
/// after may find it gone; one answered before the expiry must find it.
#[test]
fn session_present_is_judged_over_the_connects_whole_flight() {
    let build = |delay_secs: u64| {
        let mut h = H::new();
        h.connect("c", 1, true, 5, false);
        h.disconnect("c", 1);
        h.wait(Duration::from_secs(2));
        let props = Properties::from(crate::codec::PropertyValues {
            session_expiry_interval_secs: Some(5),
            ..Default::default()
        });
        h.connect_with("c", 2, Version::V5, false, props, None);
        h.wait(Duration::from_secs(delay_secs));
        let connack = h.connack("c", 2, false);
        (h, connack)
    };
    let (held, _) = build(8);
    assert_clean(&held.check());
    let (prompt, connack) = build(0);
    assert_one(&prompt.check(), rule::SESSION_PRESENT, v5::MQTT_3_2_2_3, connack);
}

/// A subscription of a session that ended (3.1.1 clean session reconnect)
/// owes nothing published afterwards; a resumed persistent session still does.
#[test]
fn a_subscription_of_an_ended_session_is_not_owed() {
    let build = |persistent: bool| {
        let mut h = H::new();
        h.connect_with("sub", 1, Version::V3_1_1, !persistent, Properties::default(), None);
        h.connack("sub", 1, false);
        h.subscribe("sub", 1, 1, "a/#", Qos::AtLeastOnce);
        h.disconnect("sub", 1);
        h.connect_with("sub", 2, Version::V3_1_1, !persistent, Properties::default(), None);
        h.connack("sub", 2, persistent);
        h.connect("pub", 1, true, 0, false);
        h.publish("pub", 1, Qos::AtLeastOnce, 1, "a/b", "m1");
        let ack = h.next() - 1;
        (h, ack)
    };
    let (ended, _) = build(false);
    assert_clean(&ended.check());
    assert_clean(&ended.pending());
    let (resumed, ack) = build(true);
    assert_clean(&resumed.check());
    assert_one(&resumed.pending(), rule::PENDING_DELIVERY, v3_1_1::MQTT_4_5_0_1, ack);
}

/// A message kept for a persistent subscriber that stays away is not pending at the end (it waits for the client's return); once the client is back and connected, it is.
#[test]
fn only_a_connected_subscriber_is_owed_a_delivery_at_the_end() {
    let build = |back: bool| {
        let mut h = H::new();
        h.connect_with("sub", 1, Version::V3_1_1, false, Properties::default(), None);
        h.connack("sub", 1, false);
        h.subscribe("sub", 1, 1, "a/#", Qos::AtLeastOnce);
        h.disconnect("sub", 1);
        h.connect("pub", 1, true, 0, false);
        h.publish("pub", 1, Qos::AtLeastOnce, 1, "a/b", "m1");
        let ack = h.next() - 1;
        if back {
            h.connect_with("sub", 2, Version::V3_1_1, false, Properties::default(), None);
            h.connack("sub", 2, true);
        }
        (h, ack)
    };
    let (away, _) = build(false);
    assert_clean(&away.check());
    assert_clean(&away.pending());
    let (back, ack) = build(true);
    assert_clean(&back.check());
    assert_one(&back.pending(), rule::PENDING_DELIVERY, v3_1_1::MQTT_3_1_2_5, ack);
}

/// A client's own will is not owed to its own No Local subscription (brokers skip it, as for its other publications); without No Local it is.
#[test]
fn a_will_is_not_owed_to_its_own_no_local_subscription() {
    let build = |no_local: bool| {
        let mut h = H::new();
        let will = gone_will();
        let props = Properties::from(PropertyValues { session_expiry_interval_secs: Some(300), ..Default::default() });
        h.connect_with("w", 1, Version::V5, true, props.clone(), Some(will.clone()));
        h.connack("w", 1, false);
        let mut options = SubscriptionOptions::qos(Qos::AtLeastOnce);
        options.no_local = no_local;
        send_subscribe(&mut h, "w", 1, 1, "will/#", options);
        suback_only(&mut h, "w", 1, 1, Qos::AtLeastOnce);
        h.wait(Duration::from_secs(5));
        let close = h.close("w", 1, ClosedBy::Network);
        h.wait(Duration::from_secs(5));
        h.connect_with("w", 2, Version::V5, false, props, Some(will));
        h.connack("w", 2, true);
        h.wait(Duration::from_secs(5));
        (h, close)
    };
    assert_will_pending_only_without(build);
}

/// Sends SUBSCRIBE `id` for `filter` without waiting for the SUBACK.
fn subscribe_only(h: &mut H, who: &str, conn: u64, id: u16, filter: &str, qos: Qos) {
    send_subscribe(h, who, conn, id, filter, SubscriptionOptions::qos(qos));
}

/// Sends SUBSCRIBE `id` for `filter` with `options` (no SUBACK).
fn send_subscribe(h: &mut H, who: &str, conn: u64, id: u16, filter: &str, options: SubscriptionOptions) {
    let subscribe = Subscribe {
        packet_id: pid(id),
        properties: Properties::default(),
        subscriptions: vec![Subscription { filter: TopicFilter::new(filter).expect("valid filter"), options }],
    };
    h.packet(who, conn, Dir::Sent, Packet::Subscribe(subscribe), 10);
}

fn suback_only(h: &mut H, who: &str, conn: u64, id: u16, qos: Qos) {
    let suback =
        Suback { packet_id: pid(id), properties: Properties::default(), reason_codes: vec![ReasonCode(qos.as_u8())] };
    h.packet(who, conn, Dir::Received, Packet::Suback(suback), 5);
}

/// Two matching SUBSCRIBEs in flight together may each bring the retained
/// message once; a third copy, or two copies for one SUBSCRIBE alone, break
/// MQTT-3.3.1-9.
#[test]
fn subscribes_in_flight_together_share_their_retained_copies() {
    let mut h = H::new();
    h.connect("pub", 1, true, 0, false);
    h.publish_with("pub", 1, Qos::AtLeastOnce, 1, "r/t", "kept", true, Properties::default());
    h.connect("sub", 1, true, 0, false);
    subscribe_only(&mut h, "sub", 1, 1, "r/#", Qos::AtLeastOnce);
    subscribe_only(&mut h, "sub", 1, 2, "#", Qos::AtLeastOnce);
    suback_only(&mut h, "sub", 1, 1, Qos::AtLeastOnce);
    h.deliver_retained("sub", 1, Qos::AtLeastOnce, "r/t", "kept");
    suback_only(&mut h, "sub", 1, 2, Qos::AtLeastOnce);
    h.deliver_retained("sub", 1, Qos::AtLeastOnce, "r/t", "kept");
    assert_clean(&h.check());
    let third = h.deliver_retained("sub", 1, Qos::AtLeastOnce, "r/t", "kept");
    assert_one(&h.check(), rule::RETAINED, v5::MQTT_3_3_1_9, third);

    let mut single = H::new();
    single.connect("pub", 1, true, 0, false);
    single.publish_with("pub", 1, Qos::AtLeastOnce, 1, "r/t", "kept", true, Properties::default());
    single.connect("sub", 1, true, 0, false);
    single.subscribe("sub", 1, 1, "r/#", Qos::AtLeastOnce);
    single.deliver_retained("sub", 1, Qos::AtLeastOnce, "r/t", "kept");
    single.subscribe("sub", 1, 2, "#", Qos::AtLeastOnce);
    single.deliver_retained("sub", 1, Qos::AtLeastOnce, "r/t", "kept");
    assert_clean(&single.check());
    let twice = single.deliver_retained("sub", 1, Qos::AtLeastOnce, "r/t", "kept");
    assert_one(&single.check(), rule::RETAINED, v5::MQTT_3_3_1_9, twice);
}

/// A retained will, published when an earlier connection of its client
/// ended, is delivered on subscribe while a later connection (carrying the
/// same will) is alive: that is the retained will, not a will while alive.
/// A retained will whose connection ended normally was never published:
/// caught by the `retained` rule.
#[test]
fn a_retained_will_on_subscribe_is_not_a_will_while_alive() {
    let build = |normal: bool| {
        let mut h = H::new();
        let will = Will { retain: true, ..gone_will() };
        h.connect_with("w", 1, Version::V5, true, Properties::default(), Some(will.clone()));
        h.connack("w", 1, false);
        if normal {
            h.disconnect("w", 1);
        } else {
            h.close("w", 1, ClosedBy::Network);
        }
        h.connect_with("w", 2, Version::V5, true, Properties::default(), Some(will));
        h.connack("w", 2, false);
        h.connect("sub", 1, true, 0, false);
        h.subscribe("sub", 1, 1, "will/#", Qos::AtLeastOnce);
        let delivered = h.deliver_retained("sub", 1, Qos::AtLeastOnce, "will/w", "gone");
        h.wait(Duration::from_secs(5));
        h.packet("w", 2, Dir::Received, Packet::Pingresp, 2);
        (h, delivered)
    };
    let (ok, _) = build(false);
    assert_clean(&ok.check());
    let (never, delivered) = build(true);
    assert_one(&never.check(), rule::RETAINED, v5::MQTT_3_3_1_8, delivered);
}

/// While a client does not read (a silence fault), the broker may close its
/// connection and publish its will long before the client sees the close;
/// without such a fault, a will before the close is still caught.
#[test]
fn a_will_published_while_its_client_was_silenced_is_not_early() {
    let build = |silenced: bool| {
        let mut h = H::new();
        h.connect("sub", 1, true, 0, false);
        h.subscribe("sub", 1, 1, "will/#", Qos::AtLeastOnce);
        let will = gone_will();
        h.connect_with("w", 1, Version::V5, true, Properties::default(), Some(will));
        h.connack("w", 1, false);
        if silenced {
            h.push(EventKind::Fault { description: "silence w for 10000ms".to_owned() });
        }
        h.wait(Duration::from_secs(8));
        let delivered = h.deliver("sub", 1, Qos::AtLeastOnce, "will/w", "gone");
        h.wait(Duration::from_secs(3));
        h.packet("w", 1, Dir::Received, Packet::Disconnect(Disconnect::default()), 2);
        h.close("w", 1, ClosedBy::Local);
        (h, delivered)
    };
    let (ok, _) = build(true);
    assert_clean(&ok.check());
    assert_clean(&ok.pending());
    let (early, delivered) = build(false);
    assert_one(&early.check(), rule::WILL, v5::MQTT_3_1_2_8, delivered);
}

/// A client's own will comes back to it through a later subscription without
/// No Local: that delivery answers the will of the connection that ended
/// after it subscribed, not that of an earlier one its No Local subscription
/// skipped (never owed). Without the delivery, the later will is pending.
#[test]
fn an_own_will_is_attributed_to_the_connection_it_was_owed_for() {
    let build = |deliver: bool| {
        let mut h = H::new();
        let will = gone_will();
        let props = Properties::from(PropertyValues { session_expiry_interval_secs: Some(300), ..Default::default() });
        h.connect_with("w", 1, Version::V5, true, props.clone(), Some(will.clone()));
        h.connack("w", 1, false);
        let mut options = SubscriptionOptions::qos(Qos::AtLeastOnce);
        options.no_local = true;
        send_subscribe(&mut h, "w", 1, 1, "will/#", options);
        suback_only(&mut h, "w", 1, 1, Qos::AtLeastOnce);
        h.wait(Duration::from_secs(5));
        h.close("w", 1, ClosedBy::Network);
        h.wait(Duration::from_secs(5));
        h.connect_with("w", 2, Version::V5, false, props.clone(), Some(will.clone()));
        h.connack("w", 2, true);
        h.subscribe("w", 2, 2, "#", Qos::AtLeastOnce);
        h.wait(Duration::from_secs(5));
        let close = h.close("w", 2, ClosedBy::Network);
        h.wait(Duration::from_secs(5));
        h.connect_with("w", 3, Version::V5, false, props, Some(will));
        h.connack("w", 3, true);
        if deliver {
            h.deliver("w", 3, Qos::AtLeastOnce, "will/w", "gone");
        }
        h.wait(Duration::from_secs(5));
        (h, close)
    };
    assert_will_pending_only_without(build);
}

/// A RETAIN=1 copy of a value that a later retained write (acknowledged with
/// PUBREC) replaced before a still unanswered SUBSCRIBE was sent is the live
/// copy of a Retain As Published subscription, not that SUBSCRIBE's retained
/// copy. Without Retain As Published it is a stale retained value.
#[test]
fn a_superseded_retained_value_is_a_live_copy_through_retain_as_published() {
    let build = |rap: bool| {
        let mut h = H::new();
        h.connect("sub", 1, true, 300, false);
        let mut options = SubscriptionOptions::qos(Qos::AtLeastOnce);
        options.retain_as_published = rap;
        send_subscribe(&mut h, "sub", 1, 1, "#", options);
        suback_only(&mut h, "sub", 1, 1, Qos::AtLeastOnce);
        h.wait(Duration::from_secs(5));
        h.connect("pub", 1, true, 0, false);
        h.publish_with("pub", 1, Qos::ExactlyOnce, 1, "r/t", "old", true, Properties::default());
        h.wait(Duration::from_secs(5));
        h.publish_with("pub", 1, Qos::ExactlyOnce, 2, "r/t", "new", true, Properties::default());
        h.wait(Duration::from_secs(5));
        subscribe_only(&mut h, "sub", 1, 2, "r/t", Qos::AtLeastOnce);
        h.wait(Duration::from_secs(5));
        let old = h.deliver_retained("sub", 1, Qos::AtLeastOnce, "r/t", "old");
        (h, old)
    };
    let (live, _) = build(true);
    assert_clean(&live.check());
    let (stale, old) = build(false);
    assert_one(&stale.check(), rule::RETAINED, v5::MQTT_3_3_1_5, old);
}

/// A subscriber with a Retain As Published subscription re-subscribes while
/// a retained message is on its way: the live copy (RETAIN 1) may come before
/// the SUBACK and the retained copy after it, or the other way round, so the
/// earlier RETAIN 1 copy keeps the message's place in the publish order. A
/// live copy with RETAIN 0 after a later message is still out of order.
#[test]
fn a_live_retain_as_published_copy_keeps_its_place_in_the_order() {
    let build = |rap_copy_first: bool| {
        let mut h = H::new();
        h.connect("sub", 1, true, 300, false);
        let mut options = SubscriptionOptions::qos(Qos::AtMostOnce);
        options.retain_as_published = true;
        send_subscribe(&mut h, "sub", 1, 1, "a/#", options);
        suback_only(&mut h, "sub", 1, 1, Qos::AtMostOnce);
        h.wait(Duration::from_secs(5));
        h.connect("pub", 1, true, 0, false);
        h.publish_with("pub", 1, Qos::AtMostOnce, 0, "a/b", "m1", true, Properties::default());
        h.publish("pub", 1, Qos::AtMostOnce, 0, "a/b", "m2");
        h.wait(Duration::from_secs(5));
        subscribe_only(&mut h, "sub", 1, 2, "a/b", Qos::AtMostOnce);
        let mut late = None;
        if rap_copy_first {
            h.deliver_retained("sub", 1, Qos::AtMostOnce, "a/b", "m1");
            h.deliver("sub", 1, Qos::AtMostOnce, "a/b", "m2");
        } else {
            h.deliver("sub", 1, Qos::AtMostOnce, "a/b", "m2");
            late = Some(h.deliver("sub", 1, Qos::AtMostOnce, "a/b", "m1"));
        }
        suback_only(&mut h, "sub", 1, 2, Qos::AtMostOnce);
        h.deliver_retained("sub", 1, Qos::AtMostOnce, "a/b", "m1");
        (h, late)
    };
    let (ok, _) = build(true);
    assert_clean(&ok.check());
    let (reordered, late) = build(false);
    assert_one(&reordered.check(), rule::ORDER, v5::MQTT_4_6_0_5, late.expect("a late copy"));
}

/// The next event happens at the same instant as the previous one.
fn same_instant(h: &mut H) {
    h.now -= Duration::from_millis(10);
}

/// Sends SUBSCRIBE `id` for `filter` with Retain As Published `rap` and
/// Retain Handling `rh`, without waiting for the SUBACK.
// A test script step: every argument is one field of the packet.
#[allow(clippy::too_many_arguments)]
fn subscribe_with_only(
    h: &mut H,
    who: &str,
    conn: u64,
    id: u16,
    filter: &str,
    qos: Qos,
    rap: bool,
    rh: RetainHandling,
) {
    let options =
        SubscriptionOptions { retain_as_published: rap, retain_handling: rh, ..SubscriptionOptions::qos(qos) };
    send_subscribe(h, who, conn, id, filter, options);
}

/// A RETAIN=1 QoS 0 PUBLISH received and handed to the application at one instant.
fn deliver_retained_at_once(h: &mut H, who: &str, conn: u64, topic: &str, payload: &str) {
    let publish = H::publish_packet(Qos::AtMostOnce, 0, topic, payload, true, Properties::default());
    h.packet(who, conn, Dir::Received, Packet::Publish(publish), 20);
    same_instant(h);
    h.push(EventKind::Delivery {
        client: who.to_owned(),
        topic: topic.to_owned(),
        qos: 0,
        retain: true,
        payload: Bytes::copy_from_slice(payload.as_bytes()),
        publisher_seq: None,
    });
}

/// A retained QoS 0 PUBLISH.
fn publish_retained(h: &mut H, who: &str, conn: u64, topic: &str, payload: &str) -> usize {
    h.publish_with(who, conn, Qos::AtMostOnce, 0, topic, payload, true, Properties::default())
}

/// A copy received at the same instant as a SUBSCRIBE but before it was
/// sent is no retained copy for it: here a live Retain As Published copy
/// that, counted against the new SUBSCRIBE, left no room for that
/// SUBSCRIBE's real retained copy (seed 9250). A copy beyond what the
/// subscriptions allow is still caught.
#[test]
fn a_copy_received_before_a_subscribe_was_sent_is_not_its_retained_copy() {
    let mut h = H::new();
    h.connect("sub", 1, true, 0, false);
    subscribe_with_only(&mut h, "sub", 1, 1, "#", Qos::AtMostOnce, true, RetainHandling::SendIfNew);
    suback_only(&mut h, "sub", 1, 1, Qos::AtMostOnce);
    h.connect("pub", 1, true, 0, false);
    h.wait(Duration::from_secs(2));
    publish_retained(&mut h, "pub", 1, "t/a", "first");
    deliver_retained_at_once(&mut h, "sub", 1, "t/a", "first");
    same_instant(&mut h);
    publish_retained(&mut h, "sub", 1, "t/a", "own");
    same_instant(&mut h);
    subscribe_with_only(&mut h, "sub", 1, 2, "#", Qos::AtMostOnce, true, RetainHandling::SendAtSubscribe);
    // The live copy through the old "#", then the SUBACK, then the retained copy.
    h.deliver_retained("sub", 1, Qos::AtMostOnce, "t/a", "own");
    suback_only(&mut h, "sub", 1, 2, Qos::AtMostOnce);
    h.deliver_retained("sub", 1, Qos::AtMostOnce, "t/a", "own");
    assert_clean(&h.check());
    let extra = h.deliver_retained("sub", 1, Qos::AtMostOnce, "t/a", "own");
    assert_one(&h.check(), rule::RETAINED, v5::MQTT_3_3_1_9, extra);
}

/// A retained will forwarded live through a Retain As Published
/// subscription keeps RETAIN=1 even when its client saw its connection end
/// only later (silenced): not a retained-on-subscribe copy that Retain
/// Handling 2 forbids (seeds 2285, 3327, 3806, 9487). Without Retain As
/// Published the RETAIN=1 copy is still caught.
#[test]
fn a_retained_will_forwarded_through_retain_as_published_is_live() {
    let build = |rap: bool| {
        let mut h = H::new();
        h.connect("sub", 1, true, 0, false);
        subscribe_with_only(&mut h, "sub", 1, 1, "will/#", Qos::AtLeastOnce, rap, RetainHandling::DoNotSend);
        suback_only(&mut h, "sub", 1, 1, Qos::AtLeastOnce);
        let will = Will { retain: true, ..gone_will() };
        h.connect_with("w", 1, Version::V5, true, Properties::default(), Some(will));
        h.connack("w", 1, false);
        h.push(EventKind::Fault { description: "silence w for 10000ms".to_owned() });
        h.wait(Duration::from_secs(8));
        let delivered = h.deliver_retained("sub", 1, Qos::AtLeastOnce, "will/w", "gone");
        h.wait(Duration::from_secs(3));
        h.packet("w", 1, Dir::Received, Packet::Disconnect(Disconnect::default()), 2);
        h.close("w", 1, ClosedBy::Local);
        (h, delivered)
    };
    let (ok, _) = build(true);
    assert_clean(&ok.check());
    let (plain, delivered) = build(false);
    assert_one(&plain.check(), rule::RETAINED, v5::MQTT_3_3_1_11, delivered);
}

/// UNSUBSCRIBE then SUBSCRIBE of the same filter, sent together: the broker
/// removes the subscription first, so Retain Handling 1 sends the retained
/// message (seed 5719). Re-subscribing without the UNSUBSCRIBE must not.
#[test]
fn retain_handling_1_after_a_pending_unsubscribe_sends_retained() {
    let build = |unsubscribe: bool| {
        let mut h = H::new();
        h.connect("pub", 1, true, 0, false);
        h.publish_with("pub", 1, Qos::AtLeastOnce, 1, "r/t", "kept", true, Properties::default());
        h.connect("sub", 1, true, 0, false);
        subscribe_with_only(&mut h, "sub", 1, 1, "r/#", Qos::AtLeastOnce, false, RetainHandling::SendIfNew);
        suback_only(&mut h, "sub", 1, 1, Qos::AtLeastOnce);
        h.deliver_retained("sub", 1, Qos::AtLeastOnce, "r/t", "kept");
        let filters = vec![TopicFilter::new("r/#").expect("valid filter")];
        if unsubscribe {
            let unsubscribe = Unsubscribe { packet_id: pid(2), properties: Properties::default(), filters };
            h.packet("sub", 1, Dir::Sent, Packet::Unsubscribe(unsubscribe), 10);
        }
        subscribe_with_only(&mut h, "sub", 1, 3, "r/#", Qos::AtLeastOnce, false, RetainHandling::SendIfNew);
        if unsubscribe {
            let unsuback = Unsuback { packet_id: pid(2), properties: Properties::default(), reason_codes: vec![] };
            h.packet("sub", 1, Dir::Received, Packet::Unsuback(unsuback), 5);
        }
        suback_only(&mut h, "sub", 1, 3, Qos::AtLeastOnce);
        let again = h.deliver_retained("sub", 1, Qos::AtLeastOnce, "r/t", "kept");
        (h, again)
    };
    let (ok, _) = build(true);
    assert_clean(&ok.check());
    let (resubscribed, again) = build(false);
    assert_one(&resubscribed.check(), rule::RETAINED, v5::MQTT_3_3_1_10, again);
}

/// The broker's DUP resend of a Retain As Published copy is no new copy:
/// with two such subscriptions the second one's copy may still follow
/// (seed 4822); a third new copy is caught.
#[test]
fn a_dup_resend_does_not_use_up_a_retain_as_published_copy() {
    let mut h = H::new();
    h.connect("sub", 1, false, 300, false);
    subscribe_with_only(&mut h, "sub", 1, 1, "t/#", Qos::AtLeastOnce, true, RetainHandling::DoNotSend);
    suback_only(&mut h, "sub", 1, 1, Qos::AtLeastOnce);
    subscribe_with_only(&mut h, "sub", 1, 2, "t/+", Qos::AtLeastOnce, true, RetainHandling::DoNotSend);
    suback_only(&mut h, "sub", 1, 2, Qos::AtLeastOnce);
    h.connect("pub", 1, true, 0, false);
    h.publish_with("pub", 1, Qos::AtLeastOnce, 1, "t/b", "m", true, Properties::default());
    h.deliver_retained("sub", 1, Qos::AtLeastOnce, "t/b", "m");
    h.close("sub", 1, ClosedBy::Network);
    h.connect("sub", 2, false, 300, true);
    let mut resend = H::publish_packet(Qos::AtLeastOnce, 9, "t/b", "m", true, Properties::default());
    resend.dup = true;
    h.packet("sub", 2, Dir::Received, Packet::Publish(resend), 20);
    h.push(EventKind::Delivery {
        client: "sub".to_owned(),
        topic: "t/b".to_owned(),
        qos: 1,
        retain: true,
        payload: Bytes::from_static(b"m"),
        publisher_seq: None,
    });
    h.deliver_retained("sub", 2, Qos::AtLeastOnce, "t/b", "m");
    assert_clean(&h.check());
    let third = h.deliver_retained("sub", 2, Qos::AtLeastOnce, "t/b", "m");
    assert_one(&h.check(), rule::RETAINED, v5::MQTT_3_3_1_11, third);
}

/// A live Retain As Published copy of an older value, queued for the
/// session and received between a SUBSCRIBE and its SUBACK, must not take
/// the retained copy that SUBSCRIBE brings after (seeds 1894, 3106, 4288,
/// 8760, 9272). A copy too many is still caught.
#[test]
fn a_queued_retain_as_published_copy_leaves_the_retained_copy_its_slot() {
    let mut h = H::new();
    h.connect("sub", 1, true, 0, false);
    subscribe_with_only(&mut h, "sub", 1, 1, "u/#", Qos::AtMostOnce, true, RetainHandling::DoNotSend);
    suback_only(&mut h, "sub", 1, 1, Qos::AtMostOnce);
    h.connect("pub", 1, true, 0, false);
    h.wait(Duration::from_secs(2));
    publish_retained(&mut h, "pub", 1, "u/1", "a");
    publish_retained(&mut h, "pub", 1, "u/1", "b");
    subscribe_with_only(&mut h, "sub", 1, 2, "#", Qos::AtMostOnce, false, RetainHandling::SendAtSubscribe);
    h.deliver_retained("sub", 1, Qos::AtMostOnce, "u/1", "a");
    h.deliver_retained("sub", 1, Qos::AtMostOnce, "u/1", "b");
    suback_only(&mut h, "sub", 1, 2, Qos::AtMostOnce);
    h.deliver_retained("sub", 1, Qos::AtMostOnce, "u/1", "b");
    assert_clean(&h.check());
    let extra = h.deliver_retained("sub", 1, Qos::AtMostOnce, "u/1", "b");
    assert_one(&h.check(), rule::RETAINED, v5::MQTT_3_3_1_9, extra);
}

/// A will waiting on its delay when the broker crashes may be lost with it
/// (a durable store keeps sessions, not wills in waiting): not pending at
/// the end, even with a durable broker. Without the crash it is pending.
#[test]
fn a_will_waiting_on_its_delay_when_the_broker_crashes_is_not_pending() {
    let build = |crash: bool| {
        let mut h = H::new();
        h.connect("sub", 1, true, 300, false);
        h.subscribe("sub", 1, 1, "will/#", Qos::AtLeastOnce);
        h.wait(Duration::from_secs(5));
        let will = Will {
            properties: Properties::from(PropertyValues { will_delay_interval_secs: Some(10), ..Default::default() }),
            ..gone_will()
        };
        let props = Properties::from(PropertyValues { session_expiry_interval_secs: Some(300), ..Default::default() });
        h.connect_with("w", 1, Version::V5, true, props, Some(will));
        h.connack("w", 1, false);
        let close = h.close("w", 1, ClosedBy::Network);
        h.wait(Duration::from_secs(3));
        if crash {
            h.push(EventKind::Fault { description: "crash broker".to_owned() });
            h.close("sub", 1, ClosedBy::Peer);
            h.wait(Duration::from_secs(2));
            h.push(EventKind::Fault { description: "restart broker".to_owned() });
            h.connect("sub", 2, false, 300, true);
        }
        h.wait(Duration::from_secs(30));
        // An event at the end, well past the will's due time.
        h.packet("sub", if crash { 2 } else { 1 }, Dir::Sent, Packet::Pingreq, 2);
        (h, close)
    };
    let durable = CheckConfig { durable_broker: true, ..CheckConfig::default() };
    let (crashed, _) = build(true);
    assert_clean(&check_history(&crashed.trace, &durable));
    assert_clean(&pending_at_end(&crashed.trace, &durable));
    let (kept, close) = build(false);
    assert_one(&pending_at_end(&kept.trace, &durable), rule::PENDING_WILL, v5::MQTT_3_1_2_8, close);
}

/// Of two wills with one topic and payload, the one copy a subscriber got
/// answers the will owed to it: not an earlier one whose connection ended
/// just after the subscriber sent its UNSUBSCRIBE (in place when that will
/// could first go out, but never owed). Without the copy, the owed will is
/// pending.
#[test]
fn a_will_copy_answers_the_will_owed_to_the_subscriber() {
    let build = |deliver: bool| {
        let mut h = H::new();
        h.connect("sub", 1, true, 300, false);
        h.subscribe("sub", 1, 1, "will/#", Qos::AtLeastOnce);
        h.wait(Duration::from_secs(5));
        h.connect_with("w", 1, Version::V5, true, Properties::default(), Some(gone_will()));
        h.connack("w", 1, false);
        h.wait(Duration::from_secs(5));
        h.unsubscribe("sub", 1, 2, "will/#");
        h.close("w", 1, ClosedBy::Network);
        h.wait(Duration::from_secs(5));
        h.subscribe("sub", 1, 3, "will/#", Qos::AtLeastOnce);
        h.wait(Duration::from_secs(5));
        h.connect_with("w", 2, Version::V5, true, Properties::default(), Some(gone_will()));
        h.connack("w", 2, false);
        h.wait(Duration::from_secs(5));
        let close = h.close("w", 2, ClosedBy::Network);
        if deliver {
            h.deliver("sub", 1, Qos::AtLeastOnce, "will/w", "gone");
        }
        h.wait(Duration::from_secs(5));
        (h, close)
    };
    assert_will_pending_only_without(build);
}

/// A CONNECT whose CONNACK never arrived may have begun a new, empty session
/// (the old one had expired) that a later CONNACK with session present 1
/// resumed: re-subscribing with Retain Handling 1 may then bring the
/// retained message (seed 15946). Without that CONNECT the subscription
/// certainly existed, and the copy is still caught.
#[test]
fn retain_handling_1_after_a_connect_without_connack_may_send_retained() {
    let build = |lost_connect: bool| {
        let mut h = H::new();
        h.connect("pub", 1, true, 0, false);
        h.publish_with("pub", 1, Qos::AtLeastOnce, 1, "r/t", "kept", true, Properties::default());
        h.connect("sub", 1, false, 300, false);
        subscribe_with_only(&mut h, "sub", 1, 1, "r/#", Qos::AtLeastOnce, false, RetainHandling::SendIfNew);
        suback_only(&mut h, "sub", 1, 1, Qos::AtLeastOnce);
        h.deliver_retained("sub", 1, Qos::AtLeastOnce, "r/t", "kept");
        h.disconnect("sub", 1);
        h.wait(Duration::from_secs(1));
        if lost_connect {
            let props =
                Properties::from(PropertyValues { session_expiry_interval_secs: Some(300), ..Default::default() });
            h.connect_with("sub", 2, Version::V5, false, props, None);
            h.wait(Duration::from_secs(1));
            h.close("sub", 2, ClosedBy::Local);
        }
        h.connect("sub", 3, false, 300, true);
        subscribe_with_only(&mut h, "sub", 3, 2, "r/#", Qos::AtLeastOnce, false, RetainHandling::SendIfNew);
        suback_only(&mut h, "sub", 3, 2, Qos::AtLeastOnce);
        let again = h.deliver_retained("sub", 3, Qos::AtLeastOnce, "r/t", "kept");
        (h, again)
    };
    let (ok, _) = build(true);
    assert_clean(&ok.check());
    let (resubscribed, again) = build(false);
    assert_one(&resubscribed.check(), rule::RETAINED, v5::MQTT_3_3_1_10, again);
}

/// Each connection of a client carries the same retained will: a retained
/// copy for a SUBSCRIBE handled before the latest connection ended (queued,
/// received after it) is the value an earlier connection's will left, not a
/// copy too many (seed 37237). A second copy for that one SUBSCRIBE is still
/// caught.
#[test]
fn a_retained_will_written_again_keeps_the_earlier_writes_retained_copy() {
    let mut h = H::new();
    let will = Will { retain: true, ..gone_will() };
    h.connect_with("w", 1, Version::V5, true, Properties::default(), Some(will.clone()));
    h.connack("w", 1, false);
    h.close("w", 1, ClosedBy::Network);
    h.wait(Duration::from_secs(5));
    h.connect_with("w", 2, Version::V5, true, Properties::default(), Some(will));
    h.connack("w", 2, false);
    h.wait(Duration::from_secs(5));
    h.connect("sub", 1, true, 0, false);
    subscribe_with_only(&mut h, "sub", 1, 1, "will/#", Qos::AtLeastOnce, false, RetainHandling::DoNotSend);
    suback_only(&mut h, "sub", 1, 1, Qos::AtLeastOnce);
    subscribe_with_only(&mut h, "sub", 1, 2, "will/+", Qos::AtLeastOnce, false, RetainHandling::SendAtSubscribe);
    suback_only(&mut h, "sub", 1, 2, Qos::AtLeastOnce);
    h.wait(Duration::from_secs(5));
    h.close("w", 2, ClosedBy::Network);
    h.wait(Duration::from_secs(5));
    h.deliver("sub", 1, Qos::AtLeastOnce, "will/w", "gone");
    h.deliver_retained("sub", 1, Qos::AtLeastOnce, "will/w", "gone");
    assert_clean(&h.check());
    let extra = h.deliver_retained("sub", 1, Qos::AtLeastOnce, "will/w", "gone");
    assert_one(&h.check(), rule::RETAINED, v5::MQTT_3_3_1_9, extra);
}
