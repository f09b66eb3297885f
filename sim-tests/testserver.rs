//! The test server for client libraries against real clients: the
//! paho-mqtt suite `sim-tests/python/test_client_behaviours.py`, the
//! Mosquitto command-line clients with behaviours switched on, the
//! in-process library API over a raw TCP client, and the test server as the
//! broker host of a turmoil run against rumqttc and a raw client.
//!
//! A missing tool fails the test when `CI` is set and skips it otherwise.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::process::{Command, Stdio};
use std::time::Duration;

use mqttsim::codec::{Packet, PacketType, Publish};
use mqttsim::model::{BrokerConfig, ConnectionId};
use mqttsim::sim::turmoil::{ClientUnderTest, TurmoilConfig, TurmoilOutcome, TurmoilRun, TurmoilWorld, BROKER_HOST};
use mqttsim::testserver::{self, BadFlow, Control, Finished, SimTestServer, TestEvent, TestServerConfig};
use mqttsim::trace::{ClosedBy, Dir, EventKind};
use rumqttc::{QoS, Request};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::plugging_in::{run_rumqttc, RumqttcScript};
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

/// In-process on tokio: start the test server, watch its events, send a packet, inject a bad flow, send raw bytes and disconnect through the control channel, stop and get the dump and stats.
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
    // An injected bad flow, raw bytes as they are, then a disconnect.
    handle.command(Control::Inject(ConnectionId(0), BadFlow::UnexpectedPubrel)).expect("control");
    let mut pubrel = [0u8; 4];
    stream.read_exact(&mut pubrel).expect("PUBREL");
    assert_eq!(pubrel[..2], [0x62, 2], "a PUBREL: {pubrel:?}");
    handle.command(Control::SendRaw(ConnectionId(0), vec![0xF0, 0])).expect("control");
    let mut raw = [0u8; 2];
    stream.read_exact(&mut raw).expect("raw bytes");
    assert_eq!(raw, [0xF0, 0], "the reserved packet type 15, as given");
    handle.command(Control::Disconnect(ConnectionId(0))).expect("control");
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).expect("end of stream after the disconnect");
    assert!(rest.is_empty(), "{rest:?}");
    let finished = handle.stop();
    assert_eq!(finished.stats.connections, 1);
    assert_eq!(finished.stats.packets["out"][PacketType::Pingresp.name()], 2);
    assert_eq!(finished.stats.packets["out"][PacketType::Pubrel.name()], 1);
    assert_eq!(finished.driver.commands, 5, "Send, Inject, SendRaw, Disconnect, Stop");
    assert!(finished.report.passed());
    assert!(finished.dump.iter().any(|r| r.raw_hex.as_deref() == Some("f000")), "{:?}", finished.dump);
}

/// The test server with `behaviours` (TOML) as the broker host of a turmoil
/// run with rumqttc publishing one message of `qos` at 1 s.
fn rumqttc_against_the_test_server(seed: u64, qos: QoS, behaviours: &str) -> (TurmoilRun, Vec<Finished>) {
    let (broker, config) =
        testserver::split_config(&format!("sys_interval_secs = 0\n{behaviours}")).expect("valid configuration");
    let server = SimTestServer::new(broker, config);
    let mut world = TurmoilConfig::new("testserver-rumqttc-pubrec-drop", seed);
    world.max_duration_ms = 20_000;
    let script = RumqttcScript {
        client_id: "rumqttc",
        keep_alive: Duration::from_secs(5),
        clean_session: false,
        requests: vec![(Duration::from_secs(1), Request::Publish(rumqttc::Publish::new("t/q", qos, &b"exactly"[..])))],
        stop_at: Duration::from_secs(6),
    };
    let run = TurmoilWorld::new(world, server.broker())
        .client("rumqttc", ClientUnderTest::custom(move |connector| run_rumqttc(connector, script)))
        .run();
    (run, server.finished())
}

/// The packets `who` sent or received, with their trace connection, in order.
fn packets_of<'a>(run: &'a TurmoilRun, who: &str, dir: Dir) -> Vec<(u64, &'a Packet)> {
    run.trace
        .events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Packet { endpoint, conn, dir: d, packet, .. } if endpoint == who && *d == dir => {
                Some((*conn, packet))
            }
            _ => None,
        })
        .collect()
}

/// Inside the simulation, the test server drops rumqttc's connection right after sending PUBREC for its QoS 2 PUBLISH. rumqttc 0.25 answers the PUBREC it read (that PUBREL is lost), sees the end of stream, reconnects after its 1 s delay with the session resumed and sends PUBREL again for the same packet id (not the PUBLISH); the server completes with PUBCOMP, and its client report checks PUBREL-after-PUBREC with no violation.
#[test]
fn rumqttc_resends_pubrel_after_the_test_server_drops_it_right_after_pubrec() {
    let (run, finished) = rumqttc_against_the_test_server(
        3,
        QoS::ExactlyOnce,
        "[[behaviour]]\nconnection = 1\nclose_after_sent = \"PUBREC\"\n",
    );
    let text = run.trace.render_text();
    assert_eq!(run.outcome, TurmoilOutcome::Finished, "{text}");
    let sent = packets_of(&run, "rumqttc", Dir::Sent);
    let got = packets_of(&run, "rumqttc", Dir::Received);

    // The first connection: PUBLISH QoS 2, PUBREC back, then the drop.
    let publishes: Vec<(u64, &Publish)> =
        sent.iter().filter_map(|(c, p)| if let Packet::Publish(p) = p { Some((*c, p)) } else { None }).collect();
    assert_eq!(publishes.len(), 1, "rumqttc does not resend the PUBLISH once PUBREC arrived:\n{text}");
    let (first_conn, publish) = publishes[0];
    let pid = publish.packet_id().expect("QoS 2 has an id");
    assert!(got.iter().any(|(c, p)| *c == first_conn && matches!(p, Packet::Pubrec(r) if r.packet_id == pid)));
    // It answers that PUBREC on the dying connection (the PUBREL is lost: the server never reads it), then sees the end of stream.
    assert!(sent.iter().any(|(c, p)| *c == first_conn && matches!(p, Packet::Pubrel(r) if r.packet_id == pid)));
    let broker_got = packets_of(&run, BROKER_HOST, Dir::Received);
    assert!(!broker_got.iter().any(|(c, p)| *c == first_conn && matches!(p, Packet::Pubrel(_))), "{text}");
    assert!(text.contains("rumqttc: connection ended: io UnexpectedEof"), "{text}");

    // Next: a new connection that resumes the session and carries PUBREL for the same id, completed by PUBCOMP.
    let connects: Vec<u64> = sent.iter().filter(|(_, p)| matches!(p, Packet::Connect(_))).map(|(c, _)| *c).collect();
    assert_eq!(connects.len(), 2, "one reconnect:\n{text}");
    let second = connects[1];
    assert!(got.iter().any(|(c, p)| *c == second && matches!(p, Packet::Connack(a) if a.session_present)));
    let second_sent: Vec<&Packet> = sent.iter().filter(|(c, _)| *c == second).map(|(_, p)| *p).collect();
    assert!(matches!(second_sent.get(1), Some(Packet::Pubrel(r)) if r.packet_id == pid), "{second_sent:?}\n{text}");
    assert!(got.iter().any(|(c, p)| *c == second && matches!(p, Packet::Pubcomp(r) if r.packet_id == pid)));
    let broker_publishes = broker_got.iter().filter(|(_, p)| matches!(p, Packet::Publish(_))).count();
    assert_eq!(broker_publishes, 1, "the message entered the broker once");

    // The server's side: one start, two connections, the flow completed, no client violation.
    assert_eq!(finished.len(), 1, "one start of the broker host");
    let f = &finished[0];
    assert_eq!(f.stats.connections, 2);
    assert_eq!(f.stats.packets["in"]["PUBREL"], 1, "{}", f.stats.to_text());
    assert_eq!(f.stats.packets["out"]["PUBCOMP"], 1, "{}", f.stats.to_text());
    assert!(f.report.passed(), "{}", f.report.to_text());
    let pubrel = f.report.covered.iter().find(|c| c.statement.to_string() == "3.1.1/MQTT-4.3.3-1");
    assert!(pubrel.is_some_and(|c| c.counts.checked == 1), "{}", f.report.to_text());
    assert!(f.dump.iter().any(|r| r.conn == 1 && r.packet.as_ref().is_some_and(|p| p["type"] == "PUBCOMP")));

    // The run is a function of its seed: the same seed gives the same trace bytes.
    let (again, _) = rumqttc_against_the_test_server(
        3,
        QoS::ExactlyOnce,
        "[[behaviour]]\nconnection = 1\nclose_after_sent = \"PUBREC\"\n",
    );
    assert_eq!(again.trace.render_text(), text);
}

/// Inside the simulation, the test server drops rumqttc's connection right after its QoS 1 PUBLISH arrives (no PUBACK). rumqttc reconnects and resends the PUBLISH with the same packet id but DUP 0, and the server's client report names that: 3.1.1/MQTT-3.3.1-1 violated once.
#[test]
fn the_test_server_reports_rumqttc_resending_qos1_without_dup() {
    let (run, finished) = rumqttc_against_the_test_server(
        5,
        QoS::AtLeastOnce,
        "[[behaviour]]\nconnection = 1\nclose_after_received = \"PUBLISH\"\n",
    );
    let text = run.trace.render_text();
    assert_eq!(run.outcome, TurmoilOutcome::Finished, "{text}");
    let sent: Vec<(u64, Publish)> = packets_of(&run, "rumqttc", Dir::Sent)
        .into_iter()
        .filter_map(|(c, p)| if let Packet::Publish(p) = p { Some((c, p.clone())) } else { None })
        .collect();
    assert_eq!(sent.len(), 2, "{text}");
    assert_ne!(sent[0].0, sent[1].0, "the resend is on the new connection");
    assert_eq!(sent[0].1.packet_id(), sent[1].1.packet_id());
    assert!(!sent[0].1.dup && !sent[1].1.dup, "rumqttc 0.25 resends with DUP 0");
    let f = &finished[0];
    let ids: Vec<String> = f.report.violations.iter().map(|v| v.statement.to_string()).collect();
    assert_eq!(ids, ["3.1.1/MQTT-3.3.1-1"], "{}", f.report.to_text());
    let pid = sent[0].1.packet_id().expect("QoS 1 has an id");
    assert_eq!(f.report.violations[0].detail, format!("resent PUBLISH {pid} after reconnecting without DUP"));
    assert_eq!(pid.get(), 1);
    assert_eq!(f.stats.packets["out"]["PUBACK"], 1, "acknowledged once, on the second connection");
}

/// Inside the simulation, a client host controls the test server at runtime: it learns its connection from the event stream, has a PINGRESP sent, makes the server silent for 2 s (its PINGREQ is answered only afterwards), disconnects it and stops the server, whose results are then read.
#[test]
fn the_test_server_is_controlled_at_runtime_inside_the_simulation() {
    let mut server = SimTestServer::new(
        BrokerConfig { sys_interval_secs: 0, ..BrokerConfig::default() },
        TestServerConfig::default(),
    );
    let control = server.control();
    let mut events = server.take_events().expect("events");
    let mut world = TurmoilConfig::new("testserver-control", 1);
    world.max_duration_ms = 20_000;
    let client = ClientUnderTest::custom(move |connector| async move {
        let mut stream = connector.connect().await?;
        stream.write_all(&[0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 10, 0, 1, b'c']).await?;
        let mut connack = [0u8; 4];
        stream.read_exact(&mut connack).await?;
        assert_eq!(connack, [0x20, 2, 0, 0]);
        let conn = loop {
            match events.recv().await.expect("event stream open") {
                TestEvent::Opened { conn, ordinal: 1 } => break conn,
                _ => continue,
            }
        };
        control.send(Control::Send(conn, Box::new(Packet::Pingresp))).await?;
        let mut two = [0u8; 2];
        stream.read_exact(&mut two).await?;
        assert_eq!(two, [0xD0, 0], "the PINGRESP asked for");
        control.send(Control::GoSilent(conn, Some(Duration::from_secs(2)))).await?;
        let silent_from = turmoil::elapsed();
        stream.write_all(&[0xC0, 0]).await?;
        stream.read_exact(&mut two).await?;
        assert_eq!(two, [0xD0, 0], "the PINGREQ answered");
        let waited = turmoil::elapsed() - silent_from;
        assert!(waited >= Duration::from_secs(2), "answered only after the silence: {waited:?}");
        control.send(Control::Disconnect(conn)).await?;
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await?;
        assert!(rest.is_empty());
        control.send(Control::Stop).await?;
        Ok(())
    });
    let run = TurmoilWorld::new(world, server.broker()).client("raw", client).run();
    let text = run.trace.render_text();
    assert_eq!(run.outcome, TurmoilOutcome::Finished, "{text}");
    let finished = server.finished();
    assert_eq!(finished.len(), 1, "the server stopped once");
    let f = &finished[0];
    assert!(f.driver.commands >= 4, "commands reached the driver: {:?}", f.driver);
    assert_eq!(f.stats.packets["out"]["PINGRESP"], 2, "{}", f.stats.to_text());
    assert_eq!(f.stats.connections, 1);
    let closed =
        run.trace.events().iter().any(
            |e| matches!(&e.kind, EventKind::Closed { endpoint, by: ClosedBy::Local, .. } if endpoint == BROKER_HOST),
        );
    assert!(closed, "the server closed the connection:\n{text}");
}

/// `mosquitto_pub` with `args` against `port`: (exit code, stderr).
fn mosquitto_pub(port: u16, args: &[&str]) -> (Option<i32>, String) {
    let port = port.to_string();
    let out = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run mosquitto_pub");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A `mosquitto_sub -d` on `topic` (QoS 1) for `count` messages, started
/// once its SUBACK is in: `wait` returns (exit code, the rest of its output).
struct DebugSub {
    child: std::process::Child,
    out: BufReader<std::process::ChildStdout>,
    seen: String,
}

impl DebugSub {
    fn start(port: u16, version: &str, topic: &str, count: u8) -> DebugSub {
        let (port, count) = (port.to_string(), count.to_string());
        let mut child = Command::new("stdbuf")
            .args(["-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p", &port, "-V", version, "-t", topic, "-q", "1"])
            .args(["-C", &count, "-W", "10", "-d", "-F", "payload=%p qos=%q"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start mosquitto_sub");
        let mut out = BufReader::new(child.stdout.take().expect("piped"));
        let mut seen = String::new();
        // Bounded by -W: the tool's output ends when it gives up.
        while !seen.contains("received SUBACK") {
            assert!(out.read_line(&mut seen).expect("read") > 0, "mosquitto_sub ended before its SUBACK:\n{seen}");
        }
        DebugSub { child, out, seen }
    }

    fn wait(mut self) -> (Option<i32>, String) {
        self.out.read_to_string(&mut self.seen).expect("read");
        let status = self.child.wait().expect("wait for mosquitto_sub");
        (status.code(), self.seen)
    }
}

/// The dump lines of a JSON-lines file.
fn dump_lines(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect()
}

/// Refusals with both versions' codes: mosquitto_pub exits with the 3.1.1 return code (2 identifier rejected, 4 bad user name or password) or the 5.0 reason code (0x85, 0x86) and says why; the right credentials are accepted.
#[test]
fn mosquitto_pub_is_refused_with_3_1_1_return_codes_and_5_0_reason_codes() {
    if !mosquitto_present() {
        return;
    }
    let served = serve_with(
        "[[behaviour]]\nreject_client_ids = [\"bad-*\"]\ncredentials = [{ username = \"u\", password = \"p\" }]\n",
        &["--stats"],
    );
    let port = served.port;
    let base = ["-t", "t", "-m", "x", "-q", "1"];
    let with = |extra: &[&'static str]| -> Vec<&'static str> { extra.iter().chain(&base).copied().collect() };
    let (code, err) = mosquitto_pub(port, &with(&["-V", "mqttv311", "-i", "bad-1", "-u", "u", "-P", "p"]));
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("identifier rejected"), "{err}");
    let (code, err) = mosquitto_pub(port, &with(&["-V", "mqttv311", "-i", "ok-1", "-u", "u", "-P", "wrong"]));
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("bad user name or password"), "{err}");
    let (code, err) = mosquitto_pub(port, &with(&["-V", "mqttv311", "-i", "ok-2", "-u", "u", "-P", "p"]));
    assert_eq!(code, Some(0), "{err}");
    // mosquitto_pub exits with the 5.0 reason code itself.
    let (code, err) = mosquitto_pub(port, &with(&["-V", "mqttv5", "-i", "bad-2", "-u", "u", "-P", "p"]));
    assert_eq!(code, Some(0x85), "{err}");
    assert!(err.contains("Client Identifier not valid"), "{err}");
    let (code, err) = mosquitto_pub(port, &with(&["-V", "mqttv5", "-i", "ok-3", "-u", "u", "-P", "wrong"]));
    assert_eq!(code, Some(0x86), "{err}");
    assert!(err.contains("Bad User Name or Password"), "{err}");
    let (code, err) = mosquitto_pub(port, &with(&["-V", "mqttv5", "-i", "ok-4", "-u", "u", "-P", "p"]));
    assert_eq!(code, Some(0), "{err}");
    let rest = terminate(served);
    assert!(rest.contains("connections: 6"), "{rest}");
    assert!(rest.contains("packets in: CONNECT 6, DISCONNECT 2, PUBLISH 2"), "{rest}");
}

/// Injected bad flows against mosquitto_sub (3.1.1), each right after its SUBACK on its own connection: a spurious PUBACK is ignored, an unexpected PUBREL is answered with PUBCOMP, a QoS 2 PUBLISH above the granted QoS 0 is accepted and printed as QoS 2 (mosquitto_sub does not check the granted QoS), and a malformed packet or a CONNECT from the server ends the client with a protocol error (exit 2).
#[test]
fn mosquitto_sub_reacts_to_injected_bad_flows() {
    if !mosquitto_present() {
        return;
    }
    let dump = std::env::temp_dir().join(format!("mqttsim-ts-inject-{}-{}.jsonl", std::process::id(), unique()));
    // Connections 1 and 3 subscribe with a publisher after each (2 and 4); 5 to 7 only subscribe.
    let flows = [(1, "spurious_ack"), (3, "unexpected_pubrel"), (5, "qos_above_granted"), (6, "malformed")];
    let mut config: String = flows
        .iter()
        .map(|(n, flow)| {
            format!("[[behaviour]]\nconnection = {n}\ninject = [{{ flow = \"{flow}\", after_sent = \"SUBACK\" }}]\n")
        })
        .collect();
    config.push_str(
        "[[behaviour]]\nconnection = 7\ninject = [{ flow = \"wrong_packet_type\", after_sent = \"SUBACK\" }]\n",
    );
    let served = serve_with(&config, &["--dump", dump.to_str().expect("UTF-8"), "--stats"]);
    let port = served.port;

    let sub = DebugSub::start(port, "mqttv311", "inj/a", 1);
    let (code, err) = mosquitto_pub(port, &["-V", "mqttv311", "-t", "inj/a", "-m", "after-spurious", "-q", "1"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, out) = sub.wait();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("received PUBACK (Mid: 65000") && out.contains("payload=after-spurious qos=1"), "{out}");

    let sub = DebugSub::start(port, "mqttv311", "inj/b", 1);
    let (code, err) = mosquitto_pub(port, &["-V", "mqttv311", "-t", "inj/b", "-m", "after-pubrel", "-q", "1"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, out) = sub.wait();
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("received PUBREL (Mid: 65000)") && out.contains("sending PUBCOMP (m65000)"), "{out}");

    let port_s = port.to_string();
    let plain_sub = |topic: &str| {
        Command::new("mosquitto_sub")
            .args(["-h", "127.0.0.1", "-p", &port_s, "-V", "mqttv311", "-t", topic, "-q", "0", "-C", "1", "-W", "5"])
            .args(["-F", "payload=%p qos=%q"])
            .stdin(Stdio::null())
            .output()
            .expect("run mosquitto_sub")
    };
    let above = plain_sub("inj/c");
    assert!(above.status.success(), "{above:?}");
    assert_eq!(String::from_utf8_lossy(&above.stdout).trim(), "payload=mqttsim injected qos=2");
    for topic in ["inj/d", "inj/e"] {
        let broken = plain_sub(topic);
        assert_eq!(broken.status.code(), Some(2), "{broken:?}");
        assert!(String::from_utf8_lossy(&broken.stderr).contains("protocol error"), "{broken:?}");
    }
    let rest = terminate(served);
    assert!(rest.contains("connections: 7"), "{rest}");
    let lines = dump_lines(&dump);
    let _ = std::fs::remove_file(&dump);
    let has = |conn: u64, dir: &str, kind: &str| {
        lines.iter().any(|l| l["conn"] == conn && l["dir"] == dir && l["packet"]["type"] == kind)
    };
    assert!(has(0, "out", "PUBACK") && has(2, "out", "PUBREL") && has(2, "in", "PUBCOMP"));
    assert!(has(4, "out", "PUBLISH") && has(4, "in", "PUBREC"), "the QoS 2 flow of the injected PUBLISH");
    let raw = |conn: u64| lines.iter().any(|l| l["conn"] == conn && l["dir"] == "out" && l["raw_hex"].is_string());
    assert!(raw(5) && raw(6), "malformed and CONNECT written raw");
}

/// `--dump DIR/` writes one `conn-N.jsonl` per connection, each holding only its connection's packets, from CONNECT on.
#[test]
fn dump_dir_gets_one_file_per_connection() {
    if !mosquitto_present() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("mqttsim-ts-dumpdir-{}-{}", std::process::id(), unique()));
    let arg = format!("{}/", dir.display());
    let served = serve_with("", &["--dump", &arg]);
    for (version, payload) in [("mqttv311", "first"), ("mqttv5", "second")] {
        let (code, err) = mosquitto_pub(served.port, &["-V", version, "-t", "d/t", "-m", payload, "-q", "1"]);
        assert_eq!(code, Some(0), "{err}");
    }
    terminate(served);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("dump directory created")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["conn-0.jsonl", "conn-1.jsonl"]);
    for (conn, payload) in [(0u64, "first"), (1, "second")] {
        let lines = dump_lines(&dir.join(format!("conn-{conn}.jsonl")));
        assert!(lines.iter().all(|l| l["conn"] == conn));
        assert_eq!(lines[0]["packet"]["type"], "CONNECT");
        let publishes: Vec<&serde_json::Value> =
            lines.iter().filter(|l| l["dir"] == "in" && l["packet"]["type"] == "PUBLISH").collect();
        assert_eq!(publishes.len(), 1);
        assert_eq!(publishes[0]["packet"]["payload"], payload);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Server PUBLISH packet ids follow `packet_ids = "max_then_wrap"` on the wire: mosquitto_sub receives 65535 then 1 and acknowledges those, which the server maps back to the broker's ids (both flows complete).
#[test]
fn mosquitto_sub_sees_the_max_then_wrap_packet_ids() {
    if !mosquitto_present() {
        return;
    }
    let served = serve_with("[[behaviour]]\nconnection = 1\npacket_ids = \"max_then_wrap\"\n", &["--stats"]);
    let sub = DebugSub::start(served.port, "mqttv5", "ids/t", 2);
    for payload in ["a", "b"] {
        let (code, err) = mosquitto_pub(served.port, &["-V", "mqttv5", "-t", "ids/t", "-m", payload, "-q", "1"]);
        assert_eq!(code, Some(0), "{err}");
    }
    let (code, out) = sub.wait();
    assert_eq!(code, Some(0), "{out}");
    let ids: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("received PUBLISH"))
        .filter_map(|l| l.split(", ").find_map(|f| f.strip_prefix('m')))
        .collect();
    assert_eq!(ids, ["65535", "1"], "{out}");
    assert!(out.contains("sending PUBACK (m65535, rc0)") && out.contains("payload=b qos=1"), "{out}");
    let rest = terminate(served);
    // Two PUBACKs from the subscriber and none left unacknowledged: no resend with DUP.
    assert!(rest.contains("packets out: CONNACK 3, PUBACK 2, PUBLISH 2, SUBACK 1"), "{rest}");
}

/// `mqttsim serve` with its own stop conditions, without a signal: its
/// stdout to the end, its exit code, and how long it ran.
fn serve_until_it_stops(config: &str, clients: impl FnOnce(u16)) -> (String, Option<i32>, Duration) {
    let path = std::env::temp_dir().join(format!("mqttsim-ts-stop-{}-{}.toml", std::process::id(), unique()));
    std::fs::write(&path, format!("sys_interval_secs = 0\n{config}")).expect("write config");
    let started = std::time::Instant::now();
    let mut child = Command::new(crate::real_clients::MQTTSIM)
        .args(["serve", "--port", "0", "--stats", "--max-runtime-secs", "60", "--config"])
        .arg(&path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start mqttsim serve");
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut first = String::new();
    out.read_line(&mut first).expect("first line");
    let port: u16 = first.trim_end().rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    clients(port);
    // Bounded by --max-runtime-secs.
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("read stdout");
    let status = child.wait().expect("wait");
    let _ = std::fs::remove_file(&path);
    (rest, status.code(), started.elapsed())
}

/// `[testserver] stop_after_connections = 2` ends the server by itself, exit 0 with its stats, once two clients came and went.
#[test]
fn serve_stops_by_itself_after_n_connections() {
    if !mosquitto_present() {
        return;
    }
    let (rest, code, _) = serve_until_it_stops("[testserver]\nstop_after_connections = 2\n", |port| {
        for _ in 0..2 {
            let (code, err) = mosquitto_pub(port, &["-V", "mqttv311", "-t", "s/t", "-m", "x"]);
            assert_eq!(code, Some(0), "{err}");
        }
    });
    assert_eq!(code, Some(0), "{rest}");
    assert!(rest.contains("connections: 2"), "{rest}");
}

/// `[testserver] max_runtime_ms` ends the server by itself, exit 0, long before `--max-runtime-secs`.
#[test]
fn serve_stops_by_itself_after_its_maximum_runtime() {
    let (rest, code, ran) = serve_until_it_stops("[testserver]\nmax_runtime_ms = 500\n", |_| {});
    assert_eq!(code, Some(0), "{rest}");
    assert!(rest.contains("connections: 0"), "{rest}");
    assert!(ran >= Duration::from_millis(500) && ran < Duration::from_secs(30), "{ran:?}");
}

/// The client report as JUnit XML, by `.xml` extension and by `--report-format junit`: a raw client whose first packet is PINGREQ (judged under 5.0, the version being unknown) and a good 3.1.1 one give one failure, on 5.0/MQTT-3.1.0-1.
#[test]
fn serve_writes_the_client_report_as_junit() {
    let dir = std::env::temp_dir();
    let xml = dir.join(format!("mqttsim-ts-report-{}-{}.xml", std::process::id(), unique()));
    let other = dir.join(format!("mqttsim-ts-report-{}-{}.txt", std::process::id(), unique()));
    for (path, extra) in [(&xml, None), (&other, Some("junit"))] {
        let mut args = vec!["--report", path.to_str().expect("UTF-8")];
        if let Some(format) = extra {
            args.extend(["--report-format", format]);
        }
        let served = serve_with("", &args);
        let mut bad = std::net::TcpStream::connect(("127.0.0.1", served.port)).expect("connect");
        bad.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        bad.write_all(&[0xC0, 0]).expect("PINGREQ first");
        let mut rest = Vec::new();
        let _ = bad.read_to_end(&mut rest); // the broker closes it
        let mut good = std::net::TcpStream::connect(("127.0.0.1", served.port)).expect("connect");
        good.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        good.write_all(&[0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 10, 0, 1, b'c']).expect("CONNECT");
        let mut connack = [0u8; 4];
        good.read_exact(&mut connack).expect("CONNACK");
        good.write_all(&[0xE0, 0]).expect("DISCONNECT");
        let _ = good.read_to_end(&mut rest);
        terminate(served);
        let text = std::fs::read_to_string(path).expect("report written");
        let _ = std::fs::remove_file(path);
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites"), "{text}");
        assert_eq!(text.matches("<testsuite ").count(), text.matches("</testsuite>").count());
        assert_eq!(text.matches("<testcase ").count(), text.matches("</testcase>").count());
        assert_eq!(text.matches("<failure ").count(), 1, "{text}");
        assert!(text.contains("<failure message=\"5.0/MQTT-3.1.0-1: violated 1 of 1 times\">"), "{text}");
        assert!(text.contains("first packet was PINGREQ, not CONNECT"), "{text}");
    }
}
