//! [`run_suite`]: probe, then run the selected scenarios concurrently with a
//! time limit each, then clear the retained messages the run created.

use std::sync::atomic::AtomicU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::ctx::Shared;
use super::report::{Report, ScenarioResult};
use super::scenarios::{self, Scenario};
use super::{probe, probe_limits, Connector, Ctx, Outcome, Profile, Stop, TestConn};
use crate::codec::{Packet, Properties, Publish, QosPid, TopicName};
use crate::spec::Version;

/// What to run and how.
#[derive(Debug, Clone)]
pub struct SuiteOptions {
    /// The versions to test.
    pub versions: Vec<Version>,
    /// Run only scenarios whose name, `VERSION/name` or statement ids contain this.
    pub only: Option<String>,
    /// Scenarios run at once.
    pub jobs: usize,
    /// The time limit of one scenario.
    pub scenario_limit: Duration,
    /// The default bound on waiting for one packet.
    pub wait: Duration,
    /// How late a timed event may be beyond the spec's bound.
    pub timing_tolerance: Duration,
    /// Letters and digits that make this run's client ids and topics unique.
    pub run_id: String,
    /// User name for every CONNECT.
    pub username: Option<String>,
    /// Password for every CONNECT.
    pub password: Option<String>,
    /// Declared capabilities, variations and skips.
    pub profile: Profile,
    /// Whether to measure the server's limits (topic length, payload,
    /// client id) before the scenarios.
    pub probe_limits: bool,
}

impl Default for SuiteOptions {
    fn default() -> SuiteOptions {
        SuiteOptions {
            versions: Version::ALL.to_vec(),
            only: None,
            jobs: 16,
            scenario_limit: Duration::from_secs(20),
            wait: Duration::from_secs(3),
            timing_tolerance: Duration::from_millis(500),
            run_id: "run0".into(),
            username: None,
            password: None,
            profile: Profile::default(),
            probe_limits: true,
        }
    }
}

fn selected(s: &Scenario, version: Version, only: Option<&str>) -> bool {
    let Some(pattern) = only else { return true };
    let qualified = format!("{version}/{}", s.name);
    qualified.contains(pattern) || s.statements(version).iter().any(|st| st.to_string().contains(pattern))
}

/// Runs the suite against the server `connector` reaches.
pub async fn run_suite(connector: Arc<dyn Connector>, options: SuiteOptions) -> Report {
    let (mut probed, mut notes) = probe(
        connector.as_ref(),
        &format!("ms{}", options.run_id),
        options.username.as_deref(),
        options.password.as_deref(),
        options.wait,
    )
    .await;
    let limits_version = [Version::V5, Version::V3_1_1]
        .into_iter()
        .find(|v| options.versions.contains(v) && if *v == Version::V5 { probed.v5 } else { probed.v3_1_1 });
    if let (true, Some(version)) = (options.probe_limits, limits_version) {
        let (limits, more) = probe_limits(
            connector.as_ref(),
            version,
            &format!("ms{}", options.run_id),
            &format!("mqttsim/{}/probe", options.run_id),
            options.username.as_deref(),
            options.password.as_deref(),
            options.wait,
        )
        .await;
        probed.limits = limits;
        notes.extend(more);
    }
    let caps = Arc::new(options.profile.capabilities.apply(&probed));
    let variations = Arc::new(options.profile.variations.clone());
    let shared = Arc::new(Shared::default());
    let limit = Arc::new(Semaphore::new(options.jobs.max(1)));
    let mut tasks = JoinSet::new();
    let mut index = 0usize;
    let mut results: Vec<Option<ScenarioResult>> = Vec::new();
    for version in &options.versions {
        for scenario in scenarios::all() {
            if scenario.statements(*version).is_empty() || !selected(&scenario, *version, options.only.as_deref()) {
                continue;
            }
            let slot = results.len();
            results.push(None);
            let base = ScenarioResult {
                name: scenario.name.to_string(),
                version: *version,
                statements: scenario.statements(*version).to_vec(),
                outcome: Outcome::Pass,
                duration_ms: 0,
            };
            let supported = match version {
                Version::V3_1_1 => caps.v3_1_1,
                Version::V5 => caps.v5,
            };
            let skip = if !supported {
                Some(format!("the server does not accept MQTT {version} connections"))
            } else if let Some(reason) = scenario.requires.iter().find_map(|r| r.missing(&caps)) {
                Some(reason)
            } else if options
                .profile
                .skip
                .iter()
                .any(|s| *s == scenario.name || *s == format!("{version}/{}", scenario.name))
            {
                Some("skipped by the profile".into())
            } else {
                None
            };
            if let Some(reason) = skip {
                results[slot] = Some(ScenarioResult { outcome: Outcome::Skipped { reason }, ..base });
                continue;
            }
            index += 1;
            let ctx = Ctx {
                connector: connector.clone(),
                version: *version,
                caps: caps.clone(),
                variations: variations.clone(),
                wait: options.wait,
                timing_tolerance: options.timing_tolerance,
                username: options.username.clone(),
                password: options.password.clone(),
                run_id: options.run_id.clone(),
                index,
                name: scenario.name,
                counter: Arc::new(AtomicU32::new(0)),
                shared: shared.clone(),
                stray: Arc::new(Mutex::new(None)),
            };
            let stray = ctx.stray.clone();
            let limit = limit.clone();
            let scenario_limit = options.scenario_limit;
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await.expect("never closed");
                let start = tokio::time::Instant::now();
                let outcome = match tokio::time::timeout(scenario_limit, (scenario.run)(ctx)).await {
                    // A PUBLISH of another scenario's topic, skipped while
                    // the scenario went on, fails it if nothing else did.
                    Ok(Ok(())) => match stray.lock().expect("not poisoned").take() {
                        Some(f) => Outcome::Fail(f),
                        None => Outcome::Pass,
                    },
                    Ok(Err(Stop::Fail(f))) => Outcome::Fail(f),
                    Ok(Err(Stop::Skip(reason))) => Outcome::Skipped { reason },
                    Ok(Err(Stop::Error(message))) => Outcome::Error { message },
                    Err(_) => Outcome::Error {
                        message: format!("the scenario did not finish within {} s", scenario_limit.as_secs()),
                    },
                };
                let duration_ms = start.elapsed().as_millis() as u64;
                (slot, ScenarioResult { outcome, duration_ms, ..base })
            });
        }
    }
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((slot, result)) => results[slot] = Some(result),
            Err(e) => tracing::error!("a scenario task failed: {e}"),
        }
    }
    let scenarios: Vec<ScenarioResult> = results.into_iter().flatten().collect();
    let topics = std::mem::take(&mut *shared.retained.lock().expect("not poisoned"));
    let cleanup = clear_retained(connector.as_ref(), &options, &topics).await;
    Report::new(connector.describe(), options.run_id.clone(), (*caps).clone(), notes, scenarios, cleanup)
}

/// Publishes an empty retained message to every topic the run left a
/// retained message on; returns a note when that failed.
async fn clear_retained(
    connector: &dyn Connector,
    options: &SuiteOptions,
    topics: &[(Version, String)],
) -> Option<String> {
    if topics.is_empty() {
        return None;
    }
    let result: Result<(), String> = async {
        let stream = connector.connect().await.map_err(|e| e.to_string())?;
        let version = topics[0].0;
        let mut conn = TestConn::new(stream, version, options.wait);
        let connect = Packet::Connect(crate::codec::Connect {
            version,
            clean_start: true,
            keep_alive_secs: 60,
            properties: Properties::default(),
            client_id: format!("ms{}cleanup", options.run_id),
            will: None,
            username: options.username.clone(),
            password: options.password.clone().map(bytes::Bytes::from),
        });
        conn.send(&connect).await.map_err(|e| format!("{e:?}"))?;
        match conn.recv(options.wait).await {
            super::Event::Packet(Packet::Connack(_)) => {}
            other => return Err(super::conn::describe_event(&other)),
        }
        for (_, topic) in topics {
            let publish = Publish {
                dup: false,
                qos_pid: QosPid::AtMostOnce,
                retain: true,
                topic: TopicName::new(topic.as_str()).map_err(|e| e.to_string())?,
                properties: Properties::default(),
                payload: bytes::Bytes::new(),
            };
            conn.send(&Packet::Publish(publish)).await.map_err(|e| format!("{e:?}"))?;
        }
        conn.send(&Packet::Pingreq).await.map_err(|e| format!("{e:?}"))?;
        match conn.recv(options.wait).await {
            super::Event::Packet(Packet::Pingresp) => {}
            other => return Err(super::conn::describe_event(&other)),
        }
        conn.send(&Packet::Disconnect(crate::codec::Disconnect::default())).await.map_err(|e| format!("{e:?}"))?;
        conn.drop_connection().await;
        Ok(())
    }
    .await;
    result.err().map(|e| format!("clearing {} retained topics failed: {e}", topics.len()))
}
