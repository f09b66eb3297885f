//! Proving that the conformance suite can fail: the whole suite against the
//! model broker inside turmoil, with one deliberate defect
//! ([`mqttsim::model::Defects`]) switched on at a time, must fail on exactly
//! the statements that defect breaks; with every defect off it passes.

use std::collections::BTreeSet;
use std::time::Duration;

use mqttsim::conformance::sim::{check_model, SimOptions};
use mqttsim::conformance::{Outcome, Report, SuiteOptions};
use mqttsim::model::{BrokerConfig, Defects};
use mqttsim::spec::{v3_1_1 as v3, v5, StatementId};

/// Suite options for a simulated run: fixed run id, exact timing.
fn sim_suite() -> SuiteOptions {
    SuiteOptions { run_id: "defects".into(), timing_tolerance: Duration::from_millis(50), ..SuiteOptions::default() }
}

/// Runs the whole suite (both versions) against the model broker with
/// only the defect `name` switched on.
fn suite_with(name: &str) -> Report {
    let defects = Defects::only(name).unwrap_or_else(|| panic!("unknown defect {name}"));
    check_model(BrokerConfig { defects, ..BrokerConfig::default() }, sim_suite(), SimOptions::default())
}

/// Asserts the suite with `name` on fails exactly on `expected`, with no
/// scenario left unjudged.
#[track_caller]
fn assert_caught(name: &str, expected: &[StatementId]) {
    let report = suite_with(name);
    let failed: BTreeSet<StatementId> = report.failed_statements().into_iter().collect();
    let expected: BTreeSet<StatementId> = expected.iter().copied().collect();
    assert_eq!(failed, expected, "defect {name}:\n{}", report.to_text());
    let unjudged: Vec<_> = report.scenarios.iter().filter(|s| matches!(s.outcome, Outcome::Error { .. })).collect();
    assert!(unjudged.is_empty(), "defect {name}: unjudged scenarios {unjudged:?}");
}

/// With every defect off the whole suite passes (the baseline the tests
/// below break one switch at a time).
#[test]
fn with_no_defect_the_whole_suite_passes() {
    assert!(BrokerConfig::default().defects.is_none(), "no defect is on by default");
    let report = check_model(BrokerConfig::default(), sim_suite(), SimOptions::default());
    assert!(report.failed_statements().is_empty() && !report.has_errors(), "{}", report.to_text());
}

/// `no_retained_delivery` is caught on 3.1.1/MQTT-3.3.1-6 and
/// 5.0/MQTT-3.3.1-9 (retained message on subscribe), and on the scenarios
/// that rely on it: 3.1.1/MQTT-3.3.1-12, 5.0/MQTT-3.3.1-8 (retained message
/// kept), 3.1.1/MQTT-3.8.4-3, 5.0/MQTT-3.8.4-4 (resent on resubscribe),
/// 5.0/MQTT-3.3.1-10 (Retain Handling 1), 3.1.1/MQTT-3.1.2-17 and
/// 5.0/MQTT-3.1.2-15 (retained will).
#[test]
fn no_retained_delivery_is_caught_on_v3_mqtt_3_3_1_6_and_v5_mqtt_3_3_1_9() {
    assert_caught(
        "no_retained_delivery",
        &[
            v3::MQTT_3_3_1_6,
            v5::MQTT_3_3_1_9,
            v3::MQTT_3_3_1_12,
            v5::MQTT_3_3_1_8,
            v3::MQTT_3_8_4_3,
            v5::MQTT_3_8_4_4,
            v5::MQTT_3_3_1_10,
            v3::MQTT_3_1_2_17,
            v5::MQTT_3_1_2_15,
        ],
    );
}

/// `will_on_normal_disconnect` is caught on 3.1.1/MQTT-3.14.4-3 and
/// 5.0/MQTT-3.14.4-3 (the will is discarded on a normal DISCONNECT).
#[test]
fn will_on_normal_disconnect_is_caught_on_v3_and_v5_mqtt_3_14_4_3() {
    assert_caught("will_on_normal_disconnect", &[v3::MQTT_3_14_4_3, v5::MQTT_3_14_4_3]);
}

/// `downgrade_overlapping_qos` is caught on 3.1.1/MQTT-3.3.5-1 and
/// 5.0/MQTT-3.3.4-2 (overlapping subscriptions: the highest granted QoS).
#[test]
fn downgrade_overlapping_qos_is_caught_on_v3_mqtt_3_3_5_1_and_v5_mqtt_3_3_4_2() {
    assert_caught("downgrade_overlapping_qos", &[v3::MQTT_3_3_5_1, v5::MQTT_3_3_4_2]);
}

/// `no_dup_on_resend` is caught on 3.1.1/MQTT-3.3.1-1 and 5.0/MQTT-3.3.1-1
/// (DUP 1 on a redelivered PUBLISH).
#[test]
fn no_dup_on_resend_is_caught_on_v3_and_v5_mqtt_3_3_1_1() {
    assert_caught("no_dup_on_resend", &[v3::MQTT_3_3_1_1, v5::MQTT_3_3_1_1]);
}

/// `keep_alive_not_enforced` is caught on 3.1.1/MQTT-3.1.2-24 and
/// 5.0/MQTT-3.1.2-22 (close after 1.5 × keep-alive), by both the
/// keep-alive scenario and the will-on-keep-alive-expiry one.
#[test]
fn keep_alive_not_enforced_is_caught_on_v3_mqtt_3_1_2_24_and_v5_mqtt_3_1_2_22() {
    assert_caught("keep_alive_not_enforced", &[v3::MQTT_3_1_2_24, v5::MQTT_3_1_2_22]);
}

/// `dollar_topics_match_wildcards` is caught on 3.1.1/MQTT-4.7.2-1 and
/// 5.0/MQTT-4.7.2-1, both through the retained `$SYS` topics on subscribe
/// and, with `$SYS` off, through routing of a live `$`-topic PUBLISH.
#[test]
fn dollar_topics_match_wildcards_is_caught_on_v3_and_v5_mqtt_4_7_2_1() {
    let expected = [v3::MQTT_4_7_2_1, v5::MQTT_4_7_2_1];
    assert_caught("dollar_topics_match_wildcards", &expected);
    // Without $SYS, only the routing decision can let the $-topic through.
    let defects = Defects { dollar_topics_match_wildcards: true, ..Defects::NONE };
    let config = BrokerConfig { defects, sys_interval_secs: 0, ..BrokerConfig::default() };
    let options = SuiteOptions { only: Some("dollar-topics".into()), ..sim_suite() };
    let report = check_model(config, options, SimOptions::default());
    assert_eq!(report.failed_statements(), expected, "{}", report.to_text());
    for s in &report.scenarios {
        let Outcome::Fail(f) = &s.outcome else { panic!("{} {} should fail", s.version, s.name) };
        assert!(f.observed.contains("$mqttsim/"), "the live $-topic message: {}", f.observed);
    }
}

/// `accept_malformed_utf8` is caught on 3.1.1/MQTT-1.5.3-1 and
/// 5.0/MQTT-1.5.4-1 (ill-formed UTF-8 closes the connection).
#[test]
fn accept_malformed_utf8_is_caught_on_v3_mqtt_1_5_3_1_and_v5_mqtt_1_5_4_1() {
    assert_caught("accept_malformed_utf8", &[v3::MQTT_1_5_3_1, v5::MQTT_1_5_4_1]);
}

/// `ignore_topic_alias` is caught on 5.0/MQTT-3.3.2-12 (a known alias
/// stands for its topic) and 5.0/MQTT-3.3.2-7 (an alias unknown on this
/// connection closes it); 3.1.1 has no aliases.
#[test]
fn ignore_topic_alias_is_caught_on_v5_mqtt_3_3_2_12_and_v5_mqtt_3_3_2_7() {
    assert_caught("ignore_topic_alias", &[v5::MQTT_3_3_2_12, v5::MQTT_3_3_2_7]);
}
