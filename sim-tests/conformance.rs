//! The conformance suite (`src/conformance`, `mqttsim check`): the whole
//! suite against the model broker inside turmoil; deliberately wrong servers
//! that it must catch on the right statement; and, over real loopback TCP,
//! Mosquitto (its failures must equal docs/findings/mosquitto-2.0.11.md) and
//! `mqttsim serve` (everything passes).

use std::collections::BTreeSet;
use std::collections::VecDeque;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use mqttsim::conformance::sim::{check_model, check_server, SimOptions};
use mqttsim::conformance::{scenarios, Outcome, Profile, Report, SuiteOptions};
use mqttsim::model::{Broker, BrokerConfig, ConnectionId, Credential, Output, OverlapPolicy, Qos2Forward, Server};
use mqttsim::spec::{v3_1_1, v5, StatementId, Version};

/// The binary under test, built by cargo for this test run.
const MQTTSIM: &str = env!("CARGO_BIN_EXE_mqttsim");

/// Suite options for a simulated run: fixed run id, exact timing.
fn sim_suite() -> SuiteOptions {
    SuiteOptions { run_id: "sim".into(), timing_tolerance: Duration::from_millis(50), ..SuiteOptions::default() }
}

/// Scenarios that apply only to a server lacking a capability the default
/// model broker has (or needing credentials / an authentication method the
/// run does not give): skipped there, run by
/// `capability_dependent_scenarios_pass_against_a_model_configured_for_them`.
const CAPABILITY_DEPENDENT: &[&str] = &[
    "will-qos-above-maximum-refused",
    "will-retain-unsupported-refused",
    "wildcard-unsupported-refused",
    "wrong-password-refused",
    "enhanced-authentication-challenge",
];

/// Panics with the text report unless every scenario passed (or is a
/// capability-dependent one that was skipped).
fn assert_all_pass(report: &Report) {
    let bad: Vec<_> = report
        .scenarios
        .iter()
        .filter(|s| match &s.outcome {
            Outcome::Pass => false,
            Outcome::Skipped { .. } => !CAPABILITY_DEPENDENT.contains(&s.name.as_str()),
            _ => true,
        })
        .collect();
    assert!(bad.is_empty(), "not every scenario passed:\n{}", report.to_text());
}

/// The whole suite, both versions, passes against the model broker in simulation.
#[test]
fn the_whole_suite_passes_against_the_model_broker_in_turmoil() {
    let report = check_model(BrokerConfig::default(), sim_suite(), SimOptions::default());
    assert_all_pass(&report);
    assert!(report.scenarios.len() >= 50, "both versions run: {} scenario runs", report.scenarios.len());
}

/// The allowed variations of the model (QoS 2 forwarded on PUBREL, one copy
/// per overlapping subscription) pass too, and a profile pinning the other
/// variation catches each.
#[test]
fn allowed_variations_pass_and_a_pinned_profile_tells_them_apart() {
    let config = BrokerConfig {
        qos2_forward: Qos2Forward::OnPubrel,
        overlap: OverlapPolicy::PerSubscription,
        ..BrokerConfig::default()
    };
    let only = |pattern: &str| SuiteOptions { only: Some(pattern.into()), ..sim_suite() };
    for pattern in ["qos2-flow", "overlapping"] {
        let report = check_model(config.clone(), only(pattern), SimOptions::default());
        assert_all_pass(&report);
    }

    let mut pinned = Profile::default();
    pinned.variations.qos2_forward = Some("on_publish".into());
    pinned.variations.overlap = Some("single".into());
    for (pattern, statement) in [("qos2-flow", v5::MQTT_4_3_3_10), ("overlapping", v5::MQTT_3_3_4_2)] {
        let options = SuiteOptions { versions: vec![Version::V5], profile: pinned.clone(), ..only(pattern) };
        let report = check_model(config.clone(), options, SimOptions::default());
        assert_eq!(report.failed_statements(), vec![statement], "{}", report.to_text());
    }
}

/// A fake server that accepts every connection with a 3.1.1 CONNACK and
/// then never answers anything (so PINGREQ gets no PINGRESP).
#[derive(Default)]
struct NoPingresp {
    connected: Vec<ConnectionId>,
    out: VecDeque<Output>,
}

impl Server for NoPingresp {
    fn handle_connection_opened(&mut self, _now: Duration, _conn: ConnectionId) {}
    fn handle_bytes(&mut self, _now: Duration, conn: ConnectionId, _bytes: &[u8]) {
        if !self.connected.contains(&conn) {
            self.connected.push(conn);
            self.out.push_back(Output::Transmit { conn, bytes: vec![0x20, 0x02, 0x00, 0x00] });
        }
    }
    fn handle_connection_closed(&mut self, _now: Duration, _conn: ConnectionId) {}
    fn handle_timeout(&mut self, _now: Duration) {}
    fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }
    fn poll_timeout(&self) -> Option<Duration> {
        None
    }
}

/// The suite fails a server that never sends PINGRESP, on MQTT-3.12.4-1.
#[test]
fn a_server_without_pingresp_fails_on_the_pingresp_statement() {
    let options = SuiteOptions { only: Some("pingreq-pingresp".into()), ..sim_suite() };
    let report = check_server(NoPingresp::default, options, SimOptions::default());
    assert_eq!(report.failed_statements(), vec![v3_1_1::MQTT_3_12_4_1], "{}", report.to_text());
    // It speaks only 3.1.1 CONNACKs, so the 5.0 run is skipped with the reason.
    let v5 = report.scenarios.iter().find(|s| s.version == Version::V5).expect("a 5.0 entry");
    assert!(matches!(&v5.outcome, Outcome::Skipped { reason } if reason.contains("5.0")), "{v5:?}");
}

/// The model broker with every output passed through `edit` (one output
/// in, one out): a deliberate defect for the suite to find.
struct Tampered<F> {
    broker: Broker,
    edit: F,
}

impl<F: FnMut(Output) -> Output> Tampered<F> {
    fn new(edit: F) -> Tampered<F> {
        Tampered { broker: Broker::new(BrokerConfig::default()), edit }
    }
}

impl<F: FnMut(Output) -> Output> Server for Tampered<F> {
    fn handle_connection_opened(&mut self, now: Duration, conn: ConnectionId) {
        self.broker.handle_connection_opened(now, conn)
    }
    fn handle_bytes(&mut self, now: Duration, conn: ConnectionId, bytes: &[u8]) {
        self.broker.handle_bytes(now, conn, bytes)
    }
    fn handle_connection_closed(&mut self, now: Duration, conn: ConnectionId) {
        self.broker.handle_connection_closed(now, conn)
    }
    fn handle_timeout(&mut self, now: Duration) {
        self.broker.handle_timeout(now)
    }
    fn poll_output(&mut self) -> Option<Output> {
        self.broker.poll_output().map(&mut self.edit)
    }
    fn poll_timeout(&self) -> Option<Duration> {
        self.broker.poll_timeout()
    }
}

/// The defect of [`Tampered`]: every PUBLISH the broker sends has RETAIN 0.
fn retain_flag_dropped(output: Output) -> Output {
    match output {
        Output::Transmit { conn, mut bytes } => {
            clear_retain_bits(&mut bytes);
            Output::Transmit { conn, bytes }
        }
        other => other,
    }
}

/// Splits a buffer of whole packets into the packets.
fn split_packets(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let len = mqttsim::codec::packet_len(&bytes[at..]).expect("whole packets");
        out.push(bytes[at..at + len].to_vec());
        at += len;
    }
    out
}

/// Clears the RETAIN bit of every PUBLISH in a buffer of whole packets.
fn clear_retain_bits(bytes: &mut [u8]) {
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] >> 4 == 3 {
            bytes[at] &= !1;
        }
        at += mqttsim::codec::packet_len(&bytes[at..]).expect("whole packets");
    }
}

/// The suite fails a server that sends retained messages with RETAIN 0, on
/// the statement of each version that requires RETAIN 1.
#[test]
fn a_server_sending_retained_messages_with_retain_0_fails_on_the_retain_statements() {
    let options = SuiteOptions { only: Some("retained-delivered-on-subscribe".into()), ..sim_suite() };
    let report = check_server(|| Tampered::new(retain_flag_dropped), options, SimOptions::default());
    assert_eq!(report.failed_statements(), vec![v3_1_1::MQTT_3_3_1_8, v5::MQTT_3_3_1_9], "{}", report.to_text());
    for s in &report.scenarios {
        let Outcome::Fail(f) = &s.outcome else { panic!("{} should fail", s.name) };
        assert!(f.observed.contains("\"retain\":false"), "observed names the packet: {}", f.observed);
    }
}

/// The report's three forms hold the verdicts: JSON round-trips, JUnit has
/// one failure per failed statement.
#[test]
fn the_report_formats_carry_the_verdicts() {
    let options = SuiteOptions { only: Some("pingreq-pingresp".into()), ..sim_suite() };
    let report = check_server(NoPingresp::default, options, SimOptions::default());
    let back: Report = serde_json::from_str(&report.to_json()).expect("the JSON form parses back");
    assert_eq!(back, report);
    let junit = report.to_junit();
    assert_eq!(junit.matches("<failure ").count(), 1, "{junit}");
    assert!(junit.contains("MQTT-3.12.4-1"), "{junit}");
    assert!(report.to_text().contains("FAIL  3.1.1/MQTT-3.12.4-1"), "{}", report.to_text());
}

/// docs/conformance-suite.md lists the current scenarios (regenerate with
/// `MQTTSIM_UPDATE_DOCS=1 cargo test --test sim-tests conformance`).
#[test]
fn the_scenario_list_in_the_docs_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/conformance-suite.md");
    let doc = std::fs::read_to_string(&path).expect("read docs/conformance-suite.md");
    let (begin, end) = ("<!-- scenarios:begin -->\n", "<!-- scenarios:end -->");
    let start = doc.find(begin).expect("begin marker") + begin.len();
    let stop = doc.find(end).expect("end marker");
    let mut table = scenarios::markdown_table();
    for version in Version::ALL {
        let (covered, total) = scenarios::coverage(version);
        table.push_str(&format!(
            "\nMQTT {version}: {covered} of {total} server-side MUST / MUST NOT statements have at least one scenario.\n"
        ));
    }
    if std::env::var_os("MQTTSIM_UPDATE_DOCS").is_some() {
        let updated = format!("{}{table}{}", &doc[..start], &doc[stop..]);
        std::fs::write(&path, updated).expect("write the doc");
        return;
    }
    assert_eq!(&doc[start..stop], table, "the scenario list is stale: rerun with MQTTSIM_UPDATE_DOCS=1");
}

/// Every statement a scenario is tagged with binds the server, and each
/// scenario name is unique.
#[test]
fn scenario_tags_are_server_statements_and_names_are_unique() {
    let all = scenarios::all();
    let names: BTreeSet<_> = all.iter().map(|s| s.name).collect();
    assert_eq!(names.len(), all.len(), "duplicate scenario names");
    for s in &all {
        assert!(!s.versions().is_empty(), "{} runs under no version", s.name);
        for version in Version::ALL {
            for id in s.statements(version) {
                assert!(id.statement().actor.binds_server(), "{}: {id} does not bind the server", s.name);
            }
        }
    }
}

// ---- real servers over loopback TCP ----

/// Fails under CI, skips otherwise, when `what` is missing. Returns whether to go on.
fn require(present: bool, what: &str) -> bool {
    if present {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "{what} is required under CI (apt-get install mosquitto)");
    eprintln!("skipped: {what} is not installed");
    false
}

/// A child process killed when dropped.
pub(crate) struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `port` on loopback accepts connections (at most 10 s).
fn wait_listening(port: u16) {
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < Duration::from_secs(10), "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `mqttsim check` on `port` with JSON output to `out`; returns the report and the exit code.
fn run_check(port: u16, out: &Path) -> (Report, i32) {
    let status = Command::new(MQTTSIM)
        .args(["check", &format!("127.0.0.1:{port}"), "--format", "json", "--out"])
        .arg(out)
        .status()
        .expect("run mqttsim check");
    let report: Report =
        serde_json::from_str(&std::fs::read_to_string(out).expect("the report was written")).expect("valid JSON");
    eprintln!("{}", report.to_text());
    (report, status.code().unwrap_or(-1))
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mqttsim-conformance-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create a temporary directory");
    dir
}

/// The statements docs/findings/mosquitto-2.0.11.md lists as failing: every
/// line of the form ``- `VERSION/MQTT-...`: ...``.
fn documented_mosquitto_failures() -> BTreeSet<StatementId> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/findings/mosquitto-2.0.11.md");
    let text = std::fs::read_to_string(&path).expect("read docs/findings/mosquitto-2.0.11.md");
    text.lines()
        .filter_map(|l| l.strip_prefix("- `"))
        .filter_map(|l| l.split('`').next())
        .map(|id| mqttsim::spec::parse_qualified(id).unwrap_or_else(|| panic!("unknown statement {id:?} in the doc")))
        .collect()
}

/// Starts Mosquitto on a free loopback port with the minimal configuration
/// of docs/findings/mosquitto-2.0.11.md; `None` (skip) when it is not
/// installed outside CI. Shared with the replay tests.
pub(crate) fn start_mosquitto(dir: &Path) -> Option<(Killed, u16)> {
    let binary = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"].into_iter().find(|p| Path::new(p).exists());
    if !require(binary.is_some(), "mosquitto") {
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let config = dir.join("mosquitto.conf");
    std::fs::write(&config, format!("listener {port} 127.0.0.1\nallow_anonymous true\nset_tcp_nodelay true\n"))
        .expect("write config");
    let child = Command::new(binary.expect("checked"))
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mosquitto");
    let killed = Killed(child);
    wait_listening(port);
    Some((killed, port))
}

/// Asserts that a report of a run against Mosquitto shows exactly the
/// documented failures, nothing unjudged, and the matching exit code.
fn assert_documented_mosquitto_result(report: &Report, code: i32) {
    let failed: BTreeSet<StatementId> = report.failed_statements().into_iter().collect();
    let documented = documented_mosquitto_failures();
    assert_eq!(failed, documented, "failures differ from docs/findings/mosquitto-2.0.11.md");
    assert!(!report.has_errors(), "no scenario may be unjudged:\n{}", report.to_text());
    assert_eq!(code, if failed.is_empty() { 0 } else { 1 }, "exit code");
}

/// Mosquitto over real TCP fails exactly the statements documented in
/// docs/findings/mosquitto-2.0.11.md, the limit probes find the limits
/// documented there, and the whole run (both versions, limit probes
/// included) takes under 30 s.
#[test]
fn mosquitto_fails_exactly_the_documented_statements() {
    let dir = temp_dir("mosquitto");
    let Some((_mosquitto, port)) = start_mosquitto(&dir) else { return };
    let start = Instant::now();
    let (report, code) = run_check(port, &dir.join("report.json"));
    let took = start.elapsed();
    eprintln!("the suite against Mosquitto took {took:?}");
    assert_documented_mosquitto_result(&report, code);
    // The limits docs/findings/mosquitto-2.0.11.md reports.
    let limits = &report.capabilities.limits;
    assert_eq!(limits.maximum_topic_length, Some(65_535), "{limits:?}");
    assert!(limits.payload_at_ceiling && limits.maximum_payload_bytes == Some(4 << 20), "{limits:?}");
    assert_eq!(limits.maximum_client_id_length, Some(65_535), "{limits:?}");
    assert_eq!(limits.client_id_extra_characters_refused.as_deref(), Some(""), "{limits:?}");
    assert!(took < Duration::from_secs(30), "the suite took {took:?}");
}

/// Isolation: two `mqttsim check` runs against one Mosquitto at the same
/// time (distinct run ids, so distinct client ids, topics and share
/// groups) each give exactly the documented result.
#[test]
fn two_simultaneous_runs_against_one_mosquitto_do_not_interfere() {
    let dir = temp_dir("mosquitto-twice");
    let Some((_mosquitto, port)) = start_mosquitto(&dir) else { return };
    let (first, second) = std::thread::scope(|scope| {
        let a = scope.spawn(|| run_check(port, &dir.join("first.json")));
        let b = scope.spawn(|| run_check(port, &dir.join("second.json")));
        (a.join().expect("first run"), b.join().expect("second run"))
    });
    assert_ne!(first.0.run_id, second.0.run_id, "the runs need distinct run ids");
    assert_documented_mosquitto_result(&first.0, first.1);
    assert_documented_mosquitto_result(&second.0, second.1);
    assert_eq!(first.0.cleanup, None, "retained messages of the first run cleared");
    assert_eq!(second.0.cleanup, None, "retained messages of the second run cleared");
}

/// `mqttsim check` against `mqttsim serve` over real TCP: every scenario passes, exit code 0.
#[test]
fn mqttsim_serve_passes_every_scenario_over_real_tcp() {
    let dir = temp_dir("serve");
    let mut child = Command::new(MQTTSIM)
        .args(["serve", "--port", "0", "--max-runtime-secs", "120"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mqttsim serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line).expect("read the first line");
    let _serve = Killed(child);
    let port: u16 = line
        .trim_end()
        .strip_prefix("listening on 127.0.0.1:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"));
    let (report, code) = run_check(port, &dir.join("report.json"));
    assert_all_pass(&report);
    assert_eq!(code, 0);
}

/// Runs the scenario `name` against the model broker with `config` and
/// `suite`, and requires that it ran (was not skipped) and passed.
fn assert_scenario_passes(name: &str, config: BrokerConfig, suite: SuiteOptions) {
    let options = SuiteOptions { only: Some(format!("/{name}")), ..suite };
    let report = check_model(config, options, SimOptions::default());
    let ran: Vec<_> = report.scenarios.iter().filter(|s| s.name == name).collect();
    assert!(!ran.is_empty(), "{name} was not selected");
    for s in ran {
        assert_eq!(s.outcome, Outcome::Pass, "{}/{name}:\n{}", s.version, report.to_text());
    }
}

/// The scenarios that apply only to servers lacking a capability (QoS 2,
/// retain, wildcards) or having one the probe cannot see (credentials, an
/// enhanced authentication method) run and pass against a model broker
/// configured that way.
#[test]
fn capability_dependent_scenarios_pass_against_a_model_configured_for_them() {
    let suite = || SuiteOptions { probe_limits: false, ..sim_suite() };
    let qos1 = BrokerConfig { maximum_qos: mqttsim::codec::Qos::AtLeastOnce, ..BrokerConfig::default() };
    assert_scenario_passes("will-qos-above-maximum-refused", qos1, suite());
    let no_retain = BrokerConfig { retain_available: false, ..BrokerConfig::default() };
    assert_scenario_passes("will-retain-unsupported-refused", no_retain, suite());
    let no_wildcards = BrokerConfig { wildcard_subscription_available: false, ..BrokerConfig::default() };
    assert_scenario_passes("wildcard-unsupported-refused", no_wildcards, suite());
    let credentials = BrokerConfig {
        allow_anonymous: false,
        credentials: vec![Credential { username: "alice".into(), password: "secret".into() }],
        ..BrokerConfig::default()
    };
    let with_credentials = SuiteOptions { username: Some("alice".into()), password: Some("secret".into()), ..suite() };
    assert_scenario_passes("wrong-password-refused", credentials, with_credentials);
    let challenge = BrokerConfig { challenge_secret: Some("s3cret".into()), ..BrokerConfig::default() };
    let mut profile = Profile::default();
    profile.capabilities.authentication_method = Some("MQTTSIM-CHALLENGE".into());
    assert_scenario_passes("enhanced-authentication-challenge", challenge, SuiteOptions { profile, ..suite() });
}

/// The limit probes find the limits a model broker is configured with: a
/// 4096-byte Maximum Packet Size bounds topic and payload exactly, and
/// strict client ids allow 23 letters and digits only.
#[test]
fn the_limit_probes_find_the_configured_limits_of_the_model() {
    use mqttsim::codec::{encode_to_vec, Packet, PacketId, Properties, Publish, QosPid, TopicName};
    const MAX_PACKET_SIZE_BYTES: u32 = 4096;
    let config =
        BrokerConfig { max_packet_size: MAX_PACKET_SIZE_BYTES, strict_client_id: true, ..BrokerConfig::default() };
    let options = SuiteOptions { only: Some("pingreq-pingresp".into()), ..sim_suite() };
    let report = check_model(config, options, SimOptions::default());
    let limits = &report.capabilities.limits;
    // The largest n whose 5.0 QoS 1 PUBLISH (topic, payload) fits in the packet size.
    let size = |topic: &str, payload: usize| {
        let publish = Publish {
            dup: false,
            qos_pid: QosPid::AtLeastOnce(PacketId::new(1).unwrap()),
            retain: false,
            topic: TopicName::new(topic).unwrap(),
            properties: Properties::default(),
            payload: vec![b'p'; payload].into(),
        };
        encode_to_vec(&Packet::Publish(publish), Version::V5).unwrap().len() as u32
    };
    let payload = limits.maximum_payload_bytes.expect("a payload limit") as usize;
    assert!(size("mqttsim/sim/probe/payload", payload) <= MAX_PACKET_SIZE_BYTES, "{limits:?}");
    assert!(size("mqttsim/sim/probe/payload", payload + 1) > MAX_PACKET_SIZE_BYTES, "{limits:?}");
    assert!(!limits.payload_at_ceiling);
    let topic_len = limits.maximum_topic_length.expect("a topic limit") as usize;
    let topic = |n: usize| format!("mqttsim/sim/probe/{}", "t".repeat(n - "mqttsim/sim/probe/".len()));
    assert!(size(&topic(topic_len), 1) <= MAX_PACKET_SIZE_BYTES, "{limits:?}");
    assert!(size(&topic(topic_len + 1), 1) > MAX_PACKET_SIZE_BYTES, "{limits:?}");
    assert_eq!(limits.maximum_client_id_length, Some(23), "{limits:?}");
    assert_eq!(limits.client_id_extra_characters_accepted.as_deref(), Some(""));
    assert_eq!(limits.client_id_extra_characters_refused.as_deref(), Some("-_.:/ @#+$é"));
    assert!(report.probe.iter().any(|l| l.contains("client id length 23 bytes")), "{:?}", report.probe);
}

/// docs/conformance.md holds the statement table generated from the code:
/// every server-side statement with its scenarios or the reason none can
/// test it (regenerate with
/// `MQTTSIM_UPDATE_DOCS=1 cargo test --test sim-tests conformance::the_statement_table`).
#[test]
fn the_statement_table_in_docs_conformance_md_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/conformance.md");
    let doc = std::fs::read_to_string(&path).expect("read docs/conformance.md");
    let (begin, end) = ("<!-- statements:begin -->\n", "<!-- statements:end -->");
    let start = doc.find(begin).expect("begin marker") + begin.len();
    let stop = doc.find(end).expect("end marker");
    let table = mqttsim::conformance::statements::statement_table();
    if std::env::var_os("MQTTSIM_UPDATE_DOCS").is_some() {
        std::fs::write(&path, format!("{}{table}{}", &doc[..start], &doc[stop..])).expect("write the doc");
        return;
    }
    assert_eq!(&doc[start..stop], table, "docs/conformance.md is stale: rerun with MQTTSIM_UPDATE_DOCS=1");
}

/// Every server-side MUST / MUST NOT statement either has a scenario or a
/// reason why none can test it, never both; every reason names a real
/// server-side statement.
#[test]
fn every_statement_has_a_scenario_or_a_reason_why_not() {
    use mqttsim::conformance::statements::{not_testable_reason, not_testable_statements, scenarios_for};
    for version in Version::ALL {
        for s in version.statements().iter().filter(|s| s.actor.binds_server() && s.level.is_mandatory()) {
            let tested = !scenarios_for(s.id).is_empty();
            let reason = not_testable_reason(s.id);
            assert!(tested != reason.is_some(), "{}: scenarios {:?}, reason {reason:?}", s.id, scenarios_for(s.id));
        }
    }
    for (version, id) in not_testable_statements() {
        let s = mqttsim::spec::lookup(version, id).unwrap_or_else(|| panic!("{version}/{id} is not in the catalogue"));
        assert!(s.actor.binds_server(), "{version}/{id} does not bind the server");
    }
}

/// The model broker, except that a PUBLISH the broker queued right behind
/// a SUBACK (a retained message for the new subscription) goes out before
/// that SUBACK, as both versions allow (section 3.8.4). Counts the swaps.
struct PublishBeforeSuback {
    broker: Broker,
    out: VecDeque<Output>,
    swaps: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Server for PublishBeforeSuback {
    fn handle_connection_opened(&mut self, now: Duration, conn: ConnectionId) {
        self.broker.handle_connection_opened(now, conn)
    }
    fn handle_bytes(&mut self, now: Duration, conn: ConnectionId, bytes: &[u8]) {
        self.broker.handle_bytes(now, conn, bytes)
    }
    fn handle_connection_closed(&mut self, now: Duration, conn: ConnectionId) {
        self.broker.handle_connection_closed(now, conn)
    }
    fn handle_timeout(&mut self, now: Duration) {
        self.broker.handle_timeout(now)
    }
    fn poll_output(&mut self) -> Option<Output> {
        // Gather what the broker has, merging consecutive transmissions to
        // one connection (citations are not needed by the driver).
        while let Some(o) = self.broker.poll_output() {
            match (o, self.out.back_mut()) {
                (Output::Cite(_), _) => {}
                (Output::Transmit { conn, bytes }, Some(Output::Transmit { conn: last, bytes: pending }))
                    if conn == *last =>
                {
                    pending.extend_from_slice(&bytes)
                }
                (o, _) => self.out.push_back(o),
            }
        }
        match self.out.pop_front()? {
            Output::Transmit { conn, bytes } => {
                let mut packets = split_packets(&bytes);
                let mut i = 0;
                while i + 1 < packets.len() {
                    // A SUBACK followed by PUBLISHes: the PUBLISHes go first.
                    if packets[i][0] == 0x90 && packets[i + 1][0] >> 4 == 3 {
                        let n = packets[i + 1..].iter().take_while(|p| p[0] >> 4 == 3).count();
                        packets[i..=i + n].rotate_left(1);
                        self.swaps.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        i += n;
                    }
                    i += 1;
                }
                Some(Output::Transmit { conn, bytes: packets.concat() })
            }
            other => Some(other),
        }
    }
    fn poll_timeout(&self) -> Option<Duration> {
        self.broker.poll_timeout()
    }
}

/// Retained messages sent before the SUBACK (allowed) do not fail the
/// retained-message scenarios.
#[test]
fn retained_messages_before_the_suback_are_accepted() {
    let swaps = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = swaps.clone();
    let make = move || PublishBeforeSuback {
        broker: Broker::new(BrokerConfig::default()),
        out: VecDeque::new(),
        swaps: counter.clone(),
    };
    let options = SuiteOptions { only: Some("retain".into()), probe_limits: false, ..sim_suite() };
    let report = check_server(make, options, SimOptions::default());
    assert_all_pass(&report);
    assert!(report.scenarios.len() >= 8, "{}", report.to_text());
    assert!(swaps.load(std::sync::atomic::Ordering::Relaxed) > 0, "some PUBLISH went out before its SUBACK");
}

/// The defect of [`Tampered`]: every successful CONNACK is followed by a
/// PUBLISH of a topic of another scenario of the run, which the connection
/// never subscribed to.
fn stray_after_connack(output: Output) -> Output {
    use mqttsim::codec::{encode_to_vec, Packet, Properties, Publish, QosPid, TopicName};
    match output {
        Output::Transmit { conn, mut bytes } if bytes.len() >= 4 && bytes[0] == 0x20 && bytes[3] == 0 => {
            // CONNACK remaining length 2 is 3.1.1; 5.0 has properties.
            let version = if bytes[1] == 2 { Version::V3_1_1 } else { Version::V5 };
            let stray = Packet::Publish(Publish {
                dup: false,
                qos_pid: QosPid::AtMostOnce,
                retain: false,
                topic: TopicName::new("mqttsim/sim/v3/elsewhere/t").expect("valid"),
                properties: Properties::default(),
                payload: b"stray".to_vec().into(),
            });
            bytes.extend(encode_to_vec(&stray, version).expect("encodes"));
            Output::Transmit { conn, bytes }
        }
        other => other,
    }
}

/// A PUBLISH of another scenario's topic fails the scenario on
/// MQTT-3.3.2-3 (after it ran to its end), and only there.
#[test]
fn a_publish_nobody_subscribed_to_fails_on_the_topic_matching_statement() {
    let options = SuiteOptions { only: Some("pingreq-pingresp".into()), probe_limits: false, ..sim_suite() };
    let report = check_server(|| Tampered::new(stray_after_connack), options, SimOptions::default());
    assert_eq!(report.failed_statements(), vec![v3_1_1::MQTT_3_3_2_3, v5::MQTT_3_3_2_3], "{}", report.to_text());
    for s in &report.scenarios {
        let Outcome::Fail(f) = &s.outcome else { panic!("{} should fail", s.name) };
        assert!(f.observed.contains("elsewhere"), "observed names the stray PUBLISH: {}", f.observed);
    }
}
