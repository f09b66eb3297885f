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
use mqttsim::model::{Broker, BrokerConfig, ConnectionId, Output, OverlapPolicy, Qos2Forward, Server};
use mqttsim::spec::{v3_1_1, v5, StatementId, Version};

/// The binary under test, built by cargo for this test run.
const MQTTSIM: &str = env!("CARGO_BIN_EXE_mqttsim");

/// Suite options for a simulated run: fixed run id, exact timing.
fn sim_suite() -> SuiteOptions {
    SuiteOptions { run_id: "sim".into(), timing_tolerance: Duration::from_millis(50), ..SuiteOptions::default() }
}

/// Panics with the text report unless every scenario passed.
fn assert_all_pass(report: &Report) {
    let bad: Vec<_> = report.scenarios.iter().filter(|s| s.outcome != Outcome::Pass).collect();
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

/// The model broker with one defect: every PUBLISH it sends has RETAIN 0.
struct RetainFlagDropped(Broker);

impl Server for RetainFlagDropped {
    fn handle_connection_opened(&mut self, now: Duration, conn: ConnectionId) {
        self.0.handle_connection_opened(now, conn)
    }
    fn handle_bytes(&mut self, now: Duration, conn: ConnectionId, bytes: &[u8]) {
        self.0.handle_bytes(now, conn, bytes)
    }
    fn handle_connection_closed(&mut self, now: Duration, conn: ConnectionId) {
        self.0.handle_connection_closed(now, conn)
    }
    fn handle_timeout(&mut self, now: Duration) {
        self.0.handle_timeout(now)
    }
    fn poll_output(&mut self) -> Option<Output> {
        match self.0.poll_output()? {
            Output::Transmit { conn, mut bytes } => {
                clear_retain_bits(&mut bytes);
                Some(Output::Transmit { conn, bytes })
            }
            other => Some(other),
        }
    }
    fn poll_timeout(&self) -> Option<Duration> {
        self.0.poll_timeout()
    }
}

/// Clears the RETAIN bit of every PUBLISH in a buffer of whole packets.
fn clear_retain_bits(bytes: &mut [u8]) {
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] >> 4 == 3 {
            bytes[at] &= !1;
        }
        let (mut length, mut shift, mut i) = (0usize, 0, at + 1);
        loop {
            let b = bytes[i];
            length |= usize::from(b & 0x7F) << shift;
            shift += 7;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        at = i + length;
    }
}

/// The suite fails a server that sends retained messages with RETAIN 0, on
/// the statement of each version that requires RETAIN 1.
#[test]
fn a_server_sending_retained_messages_with_retain_0_fails_on_the_retain_statements() {
    let options = SuiteOptions { only: Some("retained-delivered-on-subscribe".into()), ..sim_suite() };
    let report =
        check_server(|| RetainFlagDropped(Broker::new(BrokerConfig::default())), options, SimOptions::default());
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
struct Killed(Child);

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

/// Runs `mqttsim check` on `port` with JSON output; returns the report and the exit code.
fn run_check(port: u16, dir: &Path) -> (Report, i32) {
    let out = dir.join("report.json");
    let status = Command::new(MQTTSIM)
        .args(["check", &format!("127.0.0.1:{port}"), "--format", "json", "--out"])
        .arg(&out)
        .status()
        .expect("run mqttsim check");
    let report: Report =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("the report was written")).expect("valid JSON");
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

/// Mosquitto over real TCP fails exactly the statements documented in
/// docs/findings/mosquitto-2.0.11.md, and the whole run takes under 30 s.
#[test]
fn mosquitto_fails_exactly_the_documented_statements() {
    let binary = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto"].into_iter().find(|p| Path::new(p).exists());
    if !require(binary.is_some(), "mosquitto") {
        return;
    }
    let dir = temp_dir("mosquitto");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let config = dir.join("mosquitto.conf");
    std::fs::write(&config, format!("listener {port} 127.0.0.1\nallow_anonymous true\n")).expect("write config");
    let _mosquitto = Killed(
        Command::new(binary.expect("checked"))
            .arg("-c")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto"),
    );
    wait_listening(port);
    let start = Instant::now();
    let (report, code) = run_check(port, &dir);
    let took = start.elapsed();
    let failed: BTreeSet<StatementId> = report.failed_statements().into_iter().collect();
    let documented = documented_mosquitto_failures();
    assert_eq!(failed, documented, "failures differ from docs/findings/mosquitto-2.0.11.md");
    assert!(!report.has_errors(), "no scenario may be unjudged");
    assert_eq!(code, if failed.is_empty() { 0 } else { 1 }, "exit code");
    assert!(took < Duration::from_secs(30), "the suite took {took:?}");
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
    let (report, code) = run_check(port, &dir);
    assert_all_pass(&report);
    assert_eq!(code, 0);
}
