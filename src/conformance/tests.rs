//! Unit tests of the runner and the report: verdict aggregation per
//! statement, and that a simulated run is reproducible.

use super::report::ScenarioResult;
use super::sim::{check_model, SimOptions};
use super::{Capabilities, Failure, Outcome, Report, StatementStatus, SuiteOptions};
use crate::model::BrokerConfig;
use crate::spec::{v3_1_1, v5, Version};

fn result(name: &str, outcome: Outcome) -> ScenarioResult {
    ScenarioResult {
        name: name.into(),
        version: Version::V5,
        statements: vec![v5::MQTT_3_12_4_1, v5::MQTT_3_1_4_5],
        outcome,
        duration_ms: 0,
    }
}

/// A failure is charged to the statement it names; a pass of another
/// scenario does not clear it; an error leaves a statement unjudged.
#[test]
fn a_statement_fails_if_any_scenario_fails_on_it() {
    let failure = Failure { statement: v5::MQTT_3_12_4_1, expected: "PINGRESP".into(), observed: "nothing".into() };
    let scenarios = vec![
        result("a", Outcome::Pass),
        result("b", Outcome::Fail(failure)),
        result("c", Outcome::Error { message: "refused".into() }),
    ];
    let report = Report::new("x".into(), "r".into(), Capabilities::default(), vec![], scenarios, None);
    let status = |id| report.statements.iter().find(|s| s.statement == id).map(|s| s.status);
    assert_eq!(status(v5::MQTT_3_12_4_1), Some(StatementStatus::Fail));
    assert_eq!(status(v5::MQTT_3_1_4_5), Some(StatementStatus::Error));
    assert_eq!(report.failed_statements(), vec![v5::MQTT_3_12_4_1]);
    assert!(report.has_failures() && report.has_errors());
    let failures = &report.statements.iter().find(|s| s.statement == v5::MQTT_3_12_4_1).unwrap().failures;
    assert_eq!(failures, &vec!["5.0/b: expected PINGRESP; observed nothing".to_string()]);
}

/// Only skips: the statement is skipped, and nothing failed.
#[test]
fn a_statement_with_only_skipped_scenarios_is_skipped() {
    let scenarios = vec![result("a", Outcome::Skipped { reason: "needs retain".into() })];
    let report = Report::new("x".into(), "r".into(), Capabilities::default(), vec![], scenarios, None);
    assert!(report.statements.iter().all(|s| s.status == StatementStatus::Skipped));
    assert!(!report.has_failures() && !report.has_errors());
}

/// Two simulated runs with the same seed give the same report.
#[test]
fn a_simulated_run_is_reproducible() {
    let options = || SuiteOptions { run_id: "sim".into(), only: Some("5.0/".into()), ..SuiteOptions::default() };
    let first = check_model(BrokerConfig::default(), options(), SimOptions::default());
    let second = check_model(BrokerConfig::default(), options(), SimOptions::default());
    assert_eq!(first.to_json(), second.to_json());
}

/// A PUBLISH of another scenario's topic (same run) is skipped and
/// recorded as a failure of MQTT-3.3.2-3; the scenario's own topics and
/// other runs' topics come through.
#[test]
fn a_publish_of_another_scenarios_topic_is_recorded_and_skipped() {
    use super::{Event, TestConn};
    use crate::codec::{encode_to_vec, Packet, Properties, Publish, QosPid, TopicName};
    use tokio::io::AsyncWriteExt as _;
    let publish = |topic: &str| {
        Packet::Publish(Publish {
            dup: false,
            qos_pid: QosPid::AtMostOnce,
            retain: true,
            topic: TopicName::new(topic).unwrap(),
            properties: Properties::default(),
            payload: bytes::Bytes::new(),
        })
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let (stream, mut peer) = tokio::io::duplex(4096);
        let mut conn = TestConn::new(Box::new(stream), Version::V3_1_1, std::time::Duration::from_secs(1));
        let stray = std::sync::Arc::new(std::sync::Mutex::new(None));
        conn.set_scope("mqttsim/run1/".into(), "mqttsim/run1/v3/mine/".into(), stray.clone());
        for topic in
            ["mqttsim/run1/v3/other/a", "mqttsim/run1/v3/other/b", "mqttsim/run2/v3/x/t", "mqttsim/run1/v3/mine/t"]
        {
            peer.write_all(&encode_to_vec(&publish(topic), Version::V3_1_1).unwrap()).await.unwrap();
        }
        assert_eq!(conn.recv(std::time::Duration::from_secs(1)).await, Event::Packet(publish("mqttsim/run2/v3/x/t")));
        assert_eq!(
            conn.recv(std::time::Duration::from_secs(1)).await,
            Event::Packet(publish("mqttsim/run1/v3/mine/t"))
        );
        let recorded = stray.lock().unwrap().clone().expect("a stray recorded");
        assert_eq!(recorded.statement, v3_1_1::MQTT_3_3_2_3);
        assert!(recorded.observed.contains("run1/v3/other/a"), "the first stray: {}", recorded.observed);
    });
}
