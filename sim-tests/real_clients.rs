//! Real MQTT clients against `mqttsim serve` over loopback TCP, nothing
//! mocked: the Mosquitto command-line clients (Debian `mosquitto-clients`)
//! and a pytest suite on paho-mqtt 2.x (`sim-tests/python`), for MQTT 3.1.1
//! and 5.0.
//!
//! A missing tool fails the test when `CI` is set (saying what to install)
//! and skips it otherwise, with `skipped: ...` on stderr.

use std::io::{BufRead as _, BufReader, Read as _};
use std::path::PathBuf;
use std::process::{Child, ChildStdout, Command, Output, Stdio};

/// The binary under test, built by cargo for this test run.
pub(crate) const MQTTSIM: &str = env!("CARGO_BIN_EXE_mqttsim");

/// Seconds the client tools wait for a message before giving up (`-W`).
const CLIENT_WAIT_SECS: &str = "10";

/// A running `mqttsim serve --port 0`, stopped (SIGKILL) when dropped.
pub(crate) struct Served {
    child: Child,
    stdout: BufReader<ChildStdout>,
    pub(crate) port: u16,
}

impl Served {
    /// Starts the server and reads the port from its first line of output.
    /// The read is bounded: the server stops itself after 60 s.
    pub(crate) fn start(extra: &[&str]) -> Served {
        let mut child = Command::new(MQTTSIM)
            .args(["serve", "--port", "0", "--max-runtime-secs", "60"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mqttsim serve");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("read the first line");
        let port = line
            .trim_end()
            .strip_prefix("listening on 127.0.0.1:")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("first line should be `listening on 127.0.0.1:PORT`, got {line:?}"));
        Served { child, stdout, port }
    }

    /// Stops the server with SIGTERM and returns the rest of its output and
    /// whether it exited successfully.
    pub(crate) fn terminate(mut self) -> (String, bool) {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().expect("run kill");
        assert!(status.success(), "kill -TERM failed");
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).expect("read the rest of stdout");
        let exit = self.child.wait().expect("wait for mqttsim serve");
        (rest, exit.success())
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `program` can be run at all.
fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program).args(args).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| {
        // mosquitto_pub --help exits 1 but ran; a missing Python module exits 1 too, so callers pick args.
        s.code().is_some()
    })
}

/// Fails under CI, skips otherwise, when a tool is missing. Returns whether to go on.
pub(crate) fn require(present: bool, what: &str, install: &str) -> bool {
    if present {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{what} is missing; install it with: {install}");
    }
    eprintln!("skipped: {what} is missing (install it with: {install})");
    false
}

pub(crate) fn mosquitto_present() -> bool {
    require(
        runs("mosquitto_pub", &["--help"]) && runs("mosquitto_sub", &["--help"]) && runs("stdbuf", &["--version"]),
        "mosquitto_pub/mosquitto_sub (and coreutils stdbuf)",
        "apt-get install -y mosquitto-clients",
    )
}

fn run_ok(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program).args(args).stdin(Stdio::null()).output().expect("run client");
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A `mosquitto_sub -d` waiting for one message; `-d` prints the SUBACK, so
/// a test can publish once the subscription is in place instead of sleeping.
/// Bounded by `-W`: the tool gives up (and its output ends) after that.
struct Subscriber {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Subscriber {
    fn start(port: u16, version: &str, topic: &str, qos: u8) -> Subscriber {
        let port = port.to_string();
        let qos = qos.to_string();
        // stdbuf: mosquitto_sub's stdout is block-buffered on a pipe, and the
        // SUBACK line must arrive while the tool is still waiting.
        let mut child = Command::new("stdbuf")
            .args(["-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", &port, "-V", version, "-t", topic, "-q", &qos])
            .args(["-C", "1", "-W", CLIENT_WAIT_SECS, "-d", "-F", "payload=%p retain=%r qos=%q"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mosquitto_sub");
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        // Bounded by -W: the tool exits (end of output) if nothing happens.
        let mut line = String::new();
        while !line.contains("received SUBACK") {
            line.clear();
            if stdout.read_line(&mut line).expect("read mosquitto_sub output") == 0 {
                panic!("mosquitto_sub ended before its SUBACK");
            }
        }
        Subscriber { child, stdout }
    }

    /// The formatted message line (`payload=... retain=... qos=...`) once the tool has exited.
    fn message(mut self) -> String {
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).expect("read mosquitto_sub output");
        let status = self.child.wait().expect("wait for mosquitto_sub");
        assert!(status.success(), "mosquitto_sub failed ({status}); output:\n{rest}");
        rest.lines()
            .find(|l| l.starts_with("payload="))
            .unwrap_or_else(|| panic!("no message in mosquitto_sub output:\n{rest}"))
            .to_string()
    }
}

fn publish(port: u16, version: &str, args: &[&str]) {
    let port = port.to_string();
    let mut all = vec!["-h", "127.0.0.1", "-p", &port, "-V", version];
    all.extend_from_slice(args);
    run_ok("mosquitto_pub", &all);
}

/// mosquitto_pub and mosquitto_sub exchange QoS 0, 1 and 2 messages through the model broker, over MQTT 3.1.1 and 5.0.
#[test]
fn mosquitto_clients_deliver_qos_0_1_and_2_over_both_versions() {
    if !mosquitto_present() {
        return;
    }
    let served = Served::start(&[]);
    for version in ["mqttv311", "mqttv5"] {
        for qos in 0..=2u8 {
            let topic = format!("rc/{version}/q{qos}");
            let sub = Subscriber::start(served.port, version, &topic, qos);
            let payload = format!("hello-{version}-{qos}");
            publish(served.port, version, &["-t", &topic, "-m", &payload, "-q", &qos.to_string()]);
            assert_eq!(sub.message(), format!("payload={payload} retain=0 qos={qos}"), "{version} QoS {qos}");
        }
    }
}

/// A retained message reaches a later mosquitto_sub, and an empty retained publish clears it, over both versions.
#[test]
fn mosquitto_clients_see_a_retained_message_and_its_clearing() {
    if !mosquitto_present() {
        return;
    }
    let served = Served::start(&[]);
    let port = served.port.to_string();
    for version in ["mqttv311", "mqttv5"] {
        let topic = format!("rc/{version}/retained");
        publish(served.port, version, &["-t", &topic, "-m", "kept", "-q", "1", "-r"]);
        let later = run_ok(
            "mosquitto_sub",
            &["-h", "127.0.0.1", "-p", &port, "-V", version, "-t", &topic, "-C", "1", "-W", CLIENT_WAIT_SECS]
                .iter()
                .chain(&["-F", "payload=%p retain=%r"])
                .copied()
                .collect::<Vec<_>>(),
        );
        assert_eq!(String::from_utf8_lossy(&later.stdout).trim(), "payload=kept retain=1", "{version}");

        publish(served.port, version, &["-t", &topic, "-n", "-q", "1", "-r"]);
        // After clearing, the first message a new subscriber sees is a fresh marker.
        let sub = Subscriber::start(served.port, version, &topic, 1);
        publish(served.port, version, &["-t", &topic, "-m", "marker", "-q", "1"]);
        assert_eq!(sub.message(), "payload=marker retain=0 qos=1", "{version}: nothing retained after clearing");
    }
}

/// On SIGTERM, `mqttsim serve` stops cleanly, prints a coverage line per version and writes the JSON report.
#[test]
fn serve_stops_on_sigterm_and_reports_coverage() {
    let report = std::env::temp_dir().join(format!("mqttsim-coverage-{}.json", std::process::id()));
    let served = Served::start(&["--coverage", report.to_str().expect("UTF-8 temp path")]);
    // One real exchange, so the report has citations in it.
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", served.port)).expect("connect");
    // CONNECT, MQTT 3.1.1, clean session, keep-alive 10, client id "c".
    std::io::Write::write_all(&mut stream, &[0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 10, 0, 1, b'c'])
        .expect("send CONNECT");
    let mut connack = [0u8; 4];
    stream.read_exact(&mut connack).expect("read CONNACK");
    assert_eq!(connack, [0x20, 2, 0, 0], "CONNACK accepted");
    let (rest, ok) = served.terminate();
    assert!(ok, "exit status 0 after SIGTERM; output:\n{rest}");
    let lines: Vec<&str> = rest.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with("MQTT 3.1.1: ") && l.contains("server-side statements cited")),
        "{rest}"
    );
    assert!(lines.iter().any(|l| l.starts_with("MQTT 5.0: ")), "{rest}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).expect("coverage report written")).expect("JSON");
    let _ = std::fs::remove_file(&report);
    let v311 = &json["versions"][0];
    assert_eq!(v311["version"], "3.1.1");
    assert!(v311["server_side_cited"].as_u64().is_some_and(|n| n > 0), "CONNECT handling cites statements");
}

/// Runs one pytest file of `sim-tests/python` against the built binary
/// (`MQTTSIM_BIN`; the suite's conftest starts `mqttsim serve` itself) and
/// asserts it passes. Skips (or fails under CI) without python3, pytest and
/// paho-mqtt 2.x.
pub(crate) fn run_pytest_suite(file: &str) {
    let python_ok = Command::new("python3")
        .args(["-c", "import pytest, paho.mqtt; assert paho.mqtt.__version__.startswith('2.')"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !require(python_ok, "python3 with pytest and paho-mqtt 2.x", "pip install 'paho-mqtt>=2,<3' pytest") {
        return;
    }
    let suite: PathBuf = [env!("CARGO_MANIFEST_DIR"), "sim-tests", "python", file].iter().collect();
    // Each test's waits are bounded in the suite itself.
    let out = Command::new("python3")
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider"])
        .arg(&suite)
        .env("MQTTSIM_BIN", MQTTSIM)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output()
        .expect("run pytest");
    assert!(
        out.status.success(),
        "pytest {file} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The paho-mqtt 2.x pytest suite in sim-tests/python passes against `mqttsim serve` for MQTT 3.1.1 and 5.0.
#[test]
fn paho_mqtt_pytest_suite_passes() {
    run_pytest_suite("test_paho.py");
}
