//! Subscriptions: wildcards, `$` topics, retained messages, shared groups,
//! 5.0 subscription options, access rules, UNSUBSCRIBE, `$SYS`.

use super::*;
use crate::codec::RetainHandling;
use crate::model::{DenyAction, DenyRule};
use crate::spec::{v3_1_1 as v3, v5};
use CiteKind::Fulfilled;

const V3: Version = Version::V3_1_1;
const V5: Version = Version::V5;

/// Wildcards match by level, and filters starting with a wildcard do not match `$` topics.
#[test]
fn wildcards_match_but_not_dollar_topics() {
    let mut h = Harness::new(BrokerConfig { sys_interval_secs: 10, ..config() });
    let all = h.connect(V3, "all");
    h.subscribe(all, "#", Qos::AtMostOnce);
    let sys = h.connect(V5, "sys");
    h.subscribe(sys, "$SYS/broker/clients/+", Qos::AtMostOnce);
    h.advance(10.0);
    assert!(h.publishes(all).is_empty());
    let got = h.publishes(sys);
    assert!(got.iter().any(|p| p.topic.as_str() == "$SYS/broker/clients/connected" && p.payload == "2"));
    let p = h.connect(V3, "pub");
    h.publish(p, publish("a/b/c", Qos::AtMostOnce, "x"));
    assert_eq!(payloads(&h.publishes(all)), ["x"]);
    h.assert_cited(v3::MQTT_4_7_2_1, Fulfilled);
}

/// Retained messages are stored, replaced, cleared by an empty payload, and sent with RETAIN=1 on subscribe.
#[test]
fn retained_messages_are_stored_replaced_and_cleared() {
    let mut h = Harness::new(config());
    let p = h.connect(V3, "pub");
    h.publish(p, retained("r/1", Qos::AtLeastOnce, "old"));
    h.publish(p, retained("r/1", Qos::AtLeastOnce, "new"));
    h.publish(p, retained("r/2", Qos::AtMostOnce, "two"));
    h.publish(p, publish("r/2", Qos::AtMostOnce, "not retained"));
    let s = h.connect(V5, "s");
    h.subscribe(s, "r/#", Qos::AtLeastOnce);
    let got = h.publishes(s);
    assert_eq!(payloads(&got), ["new", "two"]);
    assert!(got.iter().all(|p| p.retain));
    h.publish(p, retained("r/1", Qos::AtMostOnce, ""));
    let live = h.publishes(s);
    assert_eq!(live.len(), 1, "the clearing message is forwarded");
    assert!(!live[0].retain);
    let s2 = h.connect(V3, "s2");
    h.subscribe(s2, "r/#", Qos::AtLeastOnce);
    assert_eq!(payloads(&h.publishes(s2)), ["two"]);
    h.assert_cited(v3::MQTT_3_3_1_10, Fulfilled);
    h.assert_cited(v3::MQTT_3_3_1_12, Fulfilled);
}

/// The retained store is bounded by max_retained_messages.
#[test]
fn the_retained_store_is_bounded() {
    let mut h = Harness::new(BrokerConfig { max_retained_messages: 1, ..config() });
    let p = h.connect(V5, "pub");
    h.publish(p, retained("a", Qos::AtMostOnce, "1"));
    h.publish(p, retained("b", Qos::AtMostOnce, "2"));
    assert!(h.broker.retained_message("a").is_some());
    assert!(h.broker.retained_message("b").is_none());
}

/// Retain handling 0 sends retained messages, 1 only for a new subscription, 2 never; an identical filter replaces.
#[test]
fn retain_handling_controls_retained_delivery_on_subscribe() {
    let mut h = Harness::new(config());
    let p = h.connect(V5, "pub");
    h.publish(p, retained("t", Qos::AtMostOnce, "r"));
    let s = h.connect(V5, "s");
    let opts = |rh| SubscriptionOptions { retain_handling: rh, ..SubscriptionOptions::qos(Qos::AtMostOnce) };
    for (rh, expected) in [
        (RetainHandling::SendAtSubscribe, 1),
        (RetainHandling::SendAtSubscribe, 1),
        (RetainHandling::SendIfNew, 0),
        (RetainHandling::DoNotSend, 0),
    ] {
        h.subscribe_with(s, "t", opts(rh), Properties::default());
        assert_eq!(h.publishes(s).len(), expected, "{rh:?}");
    }
    assert_eq!(h.broker.session("s").unwrap().subscriptions.len(), 1);
    h.unsubscribe(s, "t");
    h.subscribe_with(s, "t", opts(RetainHandling::SendIfNew), Properties::default());
    assert_eq!(h.publishes(s).len(), 1);
    h.assert_cited(v5::MQTT_3_8_4_3, Fulfilled);
    h.assert_cited(v5::MQTT_3_3_1_10, Fulfilled);
    h.assert_cited(v5::MQTT_3_3_1_11, Fulfilled);
}

/// Retain As Published keeps the RETAIN flag on live messages; otherwise it is cleared.
#[test]
fn retain_as_published_keeps_the_flag() {
    let mut h = Harness::new(config());
    let keep = h.connect(V5, "keep");
    let opts = SubscriptionOptions { retain_as_published: true, ..SubscriptionOptions::qos(Qos::AtMostOnce) };
    h.subscribe_with(keep, "t", opts, Properties::default());
    let clear = h.connect(V5, "clear");
    h.subscribe(clear, "t", Qos::AtMostOnce);
    let p = h.connect(V5, "pub");
    h.publish(p, retained("t", Qos::AtMostOnce, "x"));
    assert!(h.publishes(keep)[0].retain);
    assert!(!h.publishes(clear)[0].retain);
    h.assert_cited(v5::MQTT_3_3_1_13, Fulfilled);
    h.assert_cited(v5::MQTT_3_3_1_12, Fulfilled);
}

/// No Local stops a client's own messages coming back to it.
#[test]
fn no_local_suppresses_own_messages() {
    let mut h = Harness::new(config());
    let c = h.connect(V5, "c");
    let opts = SubscriptionOptions { no_local: true, ..SubscriptionOptions::qos(Qos::AtMostOnce) };
    h.subscribe_with(c, "t", opts, Properties::default());
    h.publish(c, publish("t", Qos::AtMostOnce, "mine"));
    assert!(h.publishes(c).is_empty());
    let other = h.connect(V3, "other");
    h.publish(other, publish("t", Qos::AtMostOnce, "theirs"));
    assert_eq!(payloads(&h.publishes(c)), ["theirs"]);
    h.assert_cited(v5::MQTT_3_8_3_3, Fulfilled);
}

/// A shared group splits messages round-robin, and a shared subscribe gets no retained messages.
#[test]
fn shared_subscriptions_split_the_load() {
    let mut h = Harness::new(config());
    let p = h.connect(V5, "pub");
    h.publish(p, retained("jobs/x", Qos::AtMostOnce, "retained"));
    let a = h.connect(V5, "a");
    let b = h.connect(V5, "b");
    // 3.1.1 has no shared subscriptions: for a 3.1.1 client the filter is literal.
    let literal = h.connect(V3, "literal");
    h.subscribe(a, "$share/g/jobs/#", Qos::AtLeastOnce);
    h.subscribe(b, "$share/g/jobs/#", Qos::AtLeastOnce);
    h.subscribe(literal, "$share/g/jobs/#", Qos::AtLeastOnce);
    assert!(h.publishes(a).is_empty() && h.publishes(b).is_empty());
    for n in 0..4 {
        h.publish(p, publish("jobs/x", Qos::AtMostOnce, &n.to_string()));
    }
    assert_eq!(payloads(&h.publishes(a)), ["0", "2"]);
    assert_eq!(payloads(&h.publishes(b)), ["1", "3"]);
    assert!(h.publishes(literal).is_empty(), "a 3.1.1 $share/ filter is not a shared subscription");
    h.publish(p, publish("$share/g/jobs/x", Qos::AtMostOnce, "literal"));
    assert_eq!(payloads(&h.publishes(literal)), ["literal"]);
}

/// Denied subscriptions get 0x80 (3.1.1) or 0x87 (5.0); denied publishes are acknowledged but not forwarded.
#[test]
fn deny_rules_refuse_subscriptions_and_publishes() {
    let cfg = BrokerConfig {
        deny: vec![
            DenyRule { action: DenyAction::Subscribe, filter: "secret/#".into(), username: None },
            DenyRule { action: DenyAction::Publish, filter: "ro/#".into(), username: None },
        ],
        ..config()
    };
    let mut h = Harness::new(cfg);
    let c3 = h.connect(V3, "c3");
    assert_eq!(h.subscribe(c3, "secret/x", Qos::AtMostOnce), [ReasonCode::V3_SUBACK_FAILURE]);
    assert_eq!(h.subscribe(c3, "#", Qos::AtMostOnce), [ReasonCode::V3_SUBACK_FAILURE]);
    let c5 = h.connect(V5, "c5");
    assert_eq!(h.subscribe(c5, "secret/x", Qos::AtMostOnce), [ReasonCode::NOT_AUTHORIZED]);
    assert_eq!(h.subscribe(c5, "ro/#", Qos::AtMostOnce), [ReasonCode::GRANTED_QOS_0]);
    assert_eq!(h.publish(c3, publish("ro/x", Qos::AtLeastOnce, "x")), [Packet::Puback(ack(pid(1)))]);
    match h.publish(c5, publish("ro/x", Qos::AtLeastOnce, "x")).as_slice() {
        [Packet::Puback(p)] => assert_eq!(p.reason_code, ReasonCode::NOT_AUTHORIZED),
        other => panic!("{other:?}"),
    }
    assert!(h.publishes(c5).is_empty());
    h.assert_cited(v3::MQTT_3_3_5_2, Fulfilled);
}

/// UNSUBSCRIBE removes exact matches; 5.0 reports 0x11 when none existed.
#[test]
fn unsubscribe_reports_whether_a_subscription_existed() {
    let mut h = Harness::new(config());
    let c = h.connect(V5, "c");
    h.subscribe(c, "a/#", Qos::AtMostOnce);
    match h.unsubscribe(c, "a/+") {
        Packet::Unsuback(u) => assert_eq!(u.reason_codes, [ReasonCode::NO_SUBSCRIPTION_EXISTED]),
        other => panic!("{other:?}"),
    }
    match h.unsubscribe(c, "a/#") {
        Packet::Unsuback(u) => assert_eq!(u.reason_codes, [ReasonCode::SUCCESS]),
        other => panic!("{other:?}"),
    }
    let c3 = h.connect(V3, "c3");
    assert!(matches!(h.unsubscribe(c3, "x"), Packet::Unsuback(_)));
    h.assert_cited(v3::MQTT_3_10_4_5, Fulfilled);
}

/// Granted QoS is capped by the configured maximum QoS.
#[test]
fn granted_qos_is_capped_by_maximum_qos() {
    let mut h = Harness::new(BrokerConfig { maximum_qos: Qos::AtLeastOnce, ..config() });
    let c = h.connect(V5, "c");
    assert_eq!(h.subscribe(c, "t", Qos::ExactlyOnce), [ReasonCode::GRANTED_QOS_1]);
    h.assert_cited(v5::MQTT_3_2_2_10, Fulfilled);
}
