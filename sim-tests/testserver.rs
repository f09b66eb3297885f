//! The test server for client libraries against real clients: the
//! paho-mqtt suite `sim-tests/python/test_client_behaviours.py`, the
//! Mosquitto command-line clients with behaviours switched on, and the
//! in-process library API over a raw TCP client.
//!
//! A missing tool fails the test when `CI` is set and skips it otherwise.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Command, Stdio};
use std::time::Duration;

use mqttsim::codec::{Packet, PacketType};
use mqttsim::model::{BrokerConfig, ConnectionId};
use mqttsim::testserver::{self, Control, TestEvent, TestServerConfig};

use crate::real_clients::{mosquitto_present, run_pytest_suite, Served};

/// Starts `mqttsim serve` (see [`Served`]) with `config` as its TOML configuration.
fn serve_with(config: &str, extra: &[&str]) -> Served {
    let path = std::env::temp_dir().join(format!("mqttsim-ts-{}-{}.toml", std::process::id(), unique()));
    std::fs::write(&path, format!("sys_interval_secs = 0\n{config}")).expect("write config");
    let mut args = vec!["--config", path.to_str().expect("UTF-8 temp path")];
    args.extend_from_slice(extra);
    Served::start(&args)
}

/// SIGTERM, then the rest of stdout; the server must exit 0.
fn terminate(served: Served) -> String {
    let (rest, success) = served.terminate();
    assert!(success, "serve exits 0:\n{rest}");
    rest
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The paho-mqtt behaviour suite passes: resends with DUP, QoS 2 after a drop, refusals, delayed acks, the report.
#[test]
fn paho_mqtt_reacts_to_the_test_server_behaviours() {
    run_pytest_suite("test_client_behaviours.py");
}

/// mosquitto_pub refused with a chosen CONNACK code exits non-zero and says so; the next connection is accepted.
#[test]
fn mosquitto_pub_reports_a_refusal_with_the_chosen_code() {
    if !mosquitto_present() {
        return;
    }
    let served = serve_with("[[behaviour]]\nconnection = 1\nconnack_code = 5\n", &["--stats"]);
    let port = served.port.to_string();
    let refused = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port, "-V", "mqttv311", "-t", "t", "-m", "x"])
        .output()
        .expect("run mosquitto_pub");
    assert!(!refused.status.success(), "refused: non-zero exit");
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("refused") && stderr.contains("not authorised"), "{stderr}");
    let accepted = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port, "-V", "mqttv311", "-t", "t", "-m", "x", "-q", "1"])
        .output()
        .expect("run mosquitto_pub");
    assert!(accepted.status.success(), "{}", String::from_utf8_lossy(&accepted.stderr));
    let rest = terminate(served);
    assert!(rest.contains("connections: 2"), "{rest}");
    assert!(rest.contains("packets out: CONNACK 2, PUBACK 1"), "{rest}");
}

/// With every ack delayed by 300 ms, mosquitto_sub and mosquitto_pub still exchange a QoS 1 message, and the dump shows it.
#[test]
fn mosquitto_clients_deliver_through_delayed_acks_and_the_dump_shows_it() {
    if !mosquitto_present() {
        return;
    }
    let dump = std::env::temp_dir().join(format!("mqttsim-ts-dump-{}-{}.jsonl", std::process::id(), unique()));
    let served = serve_with("[[behaviour]]\ndelay_acks_ms = 300\n", &["--dump", dump.to_str().expect("UTF-8")]);
    let port = served.port.to_string();
    let mut sub = Command::new("stdbuf")
        .args(["-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", &port, "-V", "mqttv5", "-t", "d/t", "-q", "1"])
        .args(["-C", "1", "-W", "10", "-d", "-F", "payload=%p qos=%q"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mosquitto_sub");
    let mut out = BufReader::new(sub.stdout.take().expect("piped"));
    let mut line = String::new();
    while !line.contains("received SUBACK") {
        line.clear();
        assert!(out.read_line(&mut line).expect("read") > 0, "mosquitto_sub ended before its SUBACK");
    }
    let publish = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port, "-V", "mqttv5", "-t", "d/t", "-m", "{\"late\":true}", "-q", "1"])
        .output()
        .expect("run mosquitto_pub");
    assert!(publish.status.success());
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("read");
    assert!(sub.wait().expect("wait").success(), "{rest}");
    assert!(rest.lines().any(|l| l == "payload={\"late\":true} qos=1"), "{rest}");
    terminate(served);
    let text = std::fs::read_to_string(&dump).expect("dump written");
    let _ = std::fs::remove_file(&dump);
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    assert!(lines.iter().any(|l| l["dir"] == "in" && l["packet"]["payload_json"]["late"] == true), "{text}");
    assert!(lines.iter().any(|l| l["dir"] == "out" && l["packet"]["type"] == "SUBACK"), "{text}");
}

/// In-process: start the test server, watch its events, send a packet to a connection through the control channel, stop and get stats.
#[test]
fn library_api_starts_controls_and_reports() {
    let mut handle = testserver::spawn(
        BrokerConfig { sys_interval_secs: 0, ..BrokerConfig::default() },
        TestServerConfig::default(),
        "127.0.0.1:0".parse().expect("address"),
    )
    .expect("start");
    let mut events = handle.take_events().expect("events");
    let mut stream = std::net::TcpStream::connect(handle.addr()).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    // CONNECT, MQTT 3.1.1, clean session, keep-alive 10, client id "c".
    stream.write_all(&[0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 10, 0, 1, b'c']).expect("CONNECT");
    let mut connack = [0u8; 4];
    stream.read_exact(&mut connack).expect("CONNACK");
    assert_eq!(connack, [0x20, 2, 0, 0]);
    handle.command(Control::Send(ConnectionId(0), Box::new(Packet::Pingresp))).expect("control");
    let mut pingresp = [0u8; 2];
    stream.read_exact(&mut pingresp).expect("PINGRESP");
    assert_eq!(pingresp, [0xD0, 0]);
    // A PINGREQ as the server sees it arrives on the event stream.
    stream.write_all(&[0xC0, 0]).expect("PINGREQ");
    stream.read_exact(&mut pingresp).expect("PINGRESP");
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let TestEvent::Packet(record) = event {
            seen.push((record.dir.as_str(), record.packet.map(|p| p["type"].as_str().unwrap_or("").to_string())));
        }
    }
    assert!(seen.contains(&("in", Some("PINGREQ".into()))), "{seen:?}");
    drop(stream);
    let finished = handle.stop();
    assert_eq!(finished.stats.connections, 1);
    assert_eq!(finished.stats.packets["out"][PacketType::Pingresp.name()], 2);
    assert!(finished.report.passed());
    assert!(finished.dump.len() >= 5, "{:?}", finished.dump);
}
