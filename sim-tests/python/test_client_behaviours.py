"""paho-mqtt 2.x against `mqttsim serve` running as the test server, with
behaviours switched on from the configuration file: the server drops,
refuses and delays on purpose, and the tests assert how the real client
reacts and what the server's client-conformance report says about it.

Each test starts its own server (the `behaviour_server` factory) so the
Nth-connection behaviours count only that test's connections."""

import json
import os
import queue
import subprocess
import time
import xml.etree.ElementTree as ET

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from conftest import TIMEOUT, VERSIONS


class Served:
    """A running `mqttsim serve` with a dump and a client report (JSON by
    default; `report_name` ending in `.xml` asks for JUnit XML)."""

    def __init__(self, tmp_path, config, report_name="report.json"):
        binary = os.environ.get("MQTTSIM_BIN")
        if not binary:
            pytest.fail("set MQTTSIM_BIN to the mqttsim binary (the Rust test testserver does)")
        self.config = tmp_path / "server.toml"
        self.config.write_text("sys_interval_secs = 0\n" + config)
        self.dump = tmp_path / "dump.jsonl"
        self.report_path = tmp_path / report_name
        self.proc = subprocess.Popen(
            [binary, "serve", "--port", "0", "--max-runtime-secs", "120", "--config", str(self.config),
             "--dump", str(self.dump), "--report", str(self.report_path), "--stats"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )
        line = self.proc.stdout.readline()
        assert line.startswith("listening on "), f"unexpected first line {line!r}"
        self.host, port = line.split()[-1].rsplit(":", 1)
        self.port = int(port)
        self.output = None

    def stop(self):
        """Stops the server; returns (dump records, report, stdout after the
        first line). The report is parsed JSON, or the text of other formats."""
        if self.output is None:
            self.proc.terminate()
            try:
                self.output, _ = self.proc.communicate(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise
            assert self.proc.returncode == 0, f"mqttsim serve exited with {self.proc.returncode}"
        records = [json.loads(l) for l in self.dump.read_text().splitlines()] if self.dump.exists() else []
        text = self.report_path.read_text()
        report = json.loads(text) if self.report_path.suffix == ".json" else text
        return records, report, self.output


@pytest.fixture
def behaviour_server(tmp_path):
    made = []

    def make(config, **kwargs):
        served = Served(tmp_path, config, **kwargs)
        made.append(served)
        return served

    yield make
    for served in made:
        if served.output is None:
            served.proc.kill()
            served.proc.wait()


def client(served, version, client_id, username=None, password=None, connack_properties=None):
    """A paho client with a persistent session, connected, on its network thread.
    Returns (client, connack queue). With `connack_properties` (a queue), the
    CONNACK properties go there too."""
    protocol = VERSIONS[version]
    kwargs = {} if protocol == mqtt.MQTTv5 else {"clean_session": False}
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol, **kwargs)
    c.reconnect_delay_set(min_delay=1, max_delay=1)
    if username is not None:
        c.username_pw_set(username, password)
    connacks = queue.Queue()

    def on_connect(cl, u, flags, rc, props):
        if connack_properties is not None:
            connack_properties.put(props)
        connacks.put(rc)

    c.on_connect = on_connect
    args = {"keepalive": 30}
    if protocol == mqtt.MQTTv5:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 300
        args["properties"] = props
        # Clean on the first connection only: reconnects resume the session.
        args["clean_start"] = mqtt.MQTT_CLEAN_START_FIRST_ONLY
    c.connect(served.host, served.port, **args)
    c.loop_start()
    return c, connacks


def finish(c):
    c.disconnect()
    c.loop_stop()


def flush_acks(c):
    """Waits until paho has queued its acknowledgements of what it received.

    paho hands a QoS 1 message to on_message *before* it queues the PUBACK,
    so a test that disconnects as soon as the last message arrives can have
    its DISCONNECT written first and the PUBACK never sent. One QoS 1
    round trip on a topic nobody subscribes to fixes the order: paho's
    network thread handles incoming packets one at a time, so by the time it
    has read this PUBACK it has queued every earlier one of its own.
    """
    c.publish("flush/acks", b"", qos=1).wait_for_publish(timeout=TIMEOUT)


def publishes(records, conn=None, direction="in"):
    return [r["packet"] for r in records
            if r["dir"] == direction and r.get("packet", {}).get("type") == "PUBLISH"
            and (conn is None or r["conn"] == conn)]


def test_qos1_is_resent_with_dup_after_a_drop_right_after_publish(behaviour_server, version):
    """The server closes right after the first QoS 1 PUBLISH arrives (no PUBACK); paho reconnects and resends it with DUP."""
    served = behaviour_server('[[behaviour]]\nconnection = 1\nclose_after_received = "PUBLISH"\n')
    c, connacks = client(served, version, f"dup-{version}")
    assert not connacks.get(timeout=TIMEOUT).is_failure
    info = c.publish("b/qos1", b"once", qos=1)
    info.wait_for_publish(timeout=TIMEOUT)
    assert info.is_published(), "the QoS 1 flow completed on the second connection"
    assert connacks.qsize() >= 1, "paho reconnected"
    finish(c)
    records, report, _ = served.stop()
    first = publishes(records, conn=0)
    again = publishes(records, conn=1)
    assert [p["dup"] for p in first] == [False]
    assert again and again[0]["dup"] is True, f"resent with DUP: {again}"
    assert again[0]["packet_id"] == first[0]["packet_id"], "same packet id on the resend"
    assert report["violations"] == [], report
    dup = [c for c in report["covered"] if c["statement"].endswith("MQTT-3.3.1-1")]
    assert dup and dup[0]["checked"] >= 1, report
    resend = [c for c in report["covered"] if c["statement"].endswith("MQTT-4.4.0-1")]
    assert resend and resend[0]["checked"] >= 1, report


def test_qos2_completes_after_a_drop_right_after_pubrec(behaviour_server, version):
    """The server closes right after sending PUBREC; after reconnecting paho completes the QoS 2 flow."""
    served = behaviour_server('[[behaviour]]\nconnection = 1\nclose_after_sent = "PUBREC"\n')
    c, connacks = client(served, version, f"q2-{version}")
    assert not connacks.get(timeout=TIMEOUT).is_failure
    info = c.publish("b/qos2", b"exactly", qos=2)
    info.wait_for_publish(timeout=TIMEOUT)
    assert info.is_published(), "the QoS 2 flow completed"
    finish(c)
    records, report, _ = served.stop()
    out = [(r["conn"], r["packet"]["type"]) for r in records if r["dir"] == "out" and "packet" in r]
    assert (0, "PUBREC") in out and (1, "PUBCOMP") in out, out
    assert (0, "PUBCOMP") not in out, "the first connection ended at PUBREC"
    assert report["violations"] == [], report
    # The reconnect resumed the session, and paho resent what was unfinished.
    resend = [c for c in report["covered"] if c["statement"].endswith("MQTT-4.4.0-1")]
    assert resend and resend[0]["checked"] >= 1, report


def test_a_refusal_with_the_chosen_code_is_reported(behaviour_server, version):
    """`connack_code` refuses the connection; paho reports that refusal (3.1.1 return code 5 and 5.0 reason code 0x87 are both "Not authorized")."""
    code = 5 if version == "3.1.1" else 0x87
    served = behaviour_server(f"[[behaviour]]\nconnack_code = {code}\n")
    c, connacks = client(served, version, f"refused-{version}")
    rc = connacks.get(timeout=TIMEOUT)
    c.loop_stop()
    assert rc.is_failure
    assert str(rc) == "Not authorized", rc
    records, _, _ = served.stop()
    acks = [r["packet"] for r in records if r["dir"] == "out" and r.get("packet", {}).get("type") == "CONNACK"]
    assert acks and acks[0]["reason_code"] == code


def test_delayed_acks_are_waited_for(behaviour_server, version):
    """With every acknowledgement delayed by 700 ms, paho still subscribes, publishes and receives."""
    served = behaviour_server("[[behaviour]]\ndelay_acks_ms = 700\n")
    started = time.monotonic()
    c, connacks = client(served, version, f"slow-{version}")
    assert not connacks.get(timeout=TIMEOUT).is_failure
    messages = queue.Queue()
    c.on_message = lambda cl, u, m: messages.put(m)
    subscribed = queue.Queue()
    c.on_subscribe = lambda cl, u, mid, codes, props: subscribed.put(codes)
    c.subscribe("b/slow", qos=1)
    subscribed.get(timeout=TIMEOUT)
    info = c.publish("b/slow", b"late", qos=1)
    info.wait_for_publish(timeout=TIMEOUT)
    assert info.is_published()
    msg = messages.get(timeout=TIMEOUT)
    assert msg.payload == b"late"
    assert time.monotonic() - started >= 3 * 0.7 - 0.1, "CONNACK, SUBACK and PUBACK each waited"
    finish(c)
    _, report, output = served.stop()
    assert report["violations"] == [], report
    assert "connections: 1" in output, output
    assert "client conformance:" in output, output


def packets(records, kind, direction, conn=None):
    return [r["packet"] for r in records
            if r["dir"] == direction and r.get("packet", {}).get("type") == kind
            and (conn is None or r["conn"] == conn)]


def test_never_ack_leaves_a_qos1_publish_unacknowledged(behaviour_server, version):
    """`never_ack` on PUBACK: paho's QoS 1 publish never completes, and the server counts the swallowed ack."""
    served = behaviour_server('[[behaviour]]\nnever_ack = true\nacks = ["PUBACK"]\n')
    c, connacks = client(served, version, f"noack-{version}")
    assert not connacks.get(timeout=TIMEOUT).is_failure
    info = c.publish("b/noack", b"waiting", qos=1)
    info.wait_for_publish(timeout=2.0)
    assert not info.is_published(), "no PUBACK, so the flow stays open"
    finish(c)
    records, report, output = served.stop()
    assert len(publishes(records)) == 1
    assert packets(records, "PUBACK", "out") == []
    assert "dropped by behaviours: 1" in output, output
    assert report["violations"] == [], report


def test_silence_holds_the_suback_until_it_ends(behaviour_server, version):
    """Silent for 1.5 s right after SUBSCRIBE arrives: paho's SUBACK comes only after the silence, then the connection works on."""
    served = behaviour_server('[[behaviour]]\nsilent_after_received = "SUBSCRIBE"\nsilent_for_ms = 1500\n')
    c, connacks = client(served, version, f"silent-{version}")
    assert not connacks.get(timeout=TIMEOUT).is_failure
    subscribed = queue.Queue()
    c.on_subscribe = lambda cl, u, mid, codes, props: subscribed.put(time.monotonic())
    messages = queue.Queue()
    c.on_message = lambda cl, u, m: messages.put(m)
    asked = time.monotonic()
    c.subscribe("b/silent", qos=1)
    acked = subscribed.get(timeout=TIMEOUT)
    assert acked - asked >= 1.4, f"SUBACK after {acked - asked:.2f}s"
    info = c.publish("b/silent", b"after", qos=1)
    info.wait_for_publish(timeout=TIMEOUT)
    assert messages.get(timeout=TIMEOUT).payload == b"after"
    finish(c)
    records, report, _ = served.stop()
    sub_at = [r["time_s"] for r in records if r["dir"] == "in" and r.get("packet", {}).get("type") == "SUBSCRIBE"]
    ack_at = [r["time_s"] for r in records if r["dir"] == "out" and r.get("packet", {}).get("type") == "SUBACK"]
    assert ack_at[0] - sub_at[0] >= 1.5, (sub_at, ack_at)
    assert report["violations"] == [], report


def test_injected_pubrel_and_spurious_puback(behaviour_server, version):
    """Right after CONNACK the server sends a PUBREL and a PUBACK for ids paho never used: paho answers the PUBREL with PUBCOMP, ignores the PUBACK, and its own QoS 1 publish still completes."""
    served = behaviour_server('[[behaviour]]\ninject = [{ flow = "unexpected_pubrel" }, { flow = "spurious_ack" }]\n')
    c, connacks = client(served, version, f"inject-{version}")
    assert not connacks.get(timeout=TIMEOUT).is_failure
    info = c.publish("b/inject", b"still fine", qos=1)
    info.wait_for_publish(timeout=TIMEOUT)
    assert info.is_published()
    # paho queues its PUBCOMP while the publish is in flight; one more round
    # trip makes sure the server has read it before it is stopped (a slow
    # server could be terminated with the PUBCOMP still unread).
    flush_acks(c)
    finish(c)
    records, report, _ = served.stop()
    rel = packets(records, "PUBREL", "out")
    comp = packets(records, "PUBCOMP", "in")
    assert len(rel) == 1 and [p["packet_id"] for p in comp] == [rel[0]["packet_id"]], (rel, comp)
    pubacks = packets(records, "PUBACK", "out")
    assert len(pubacks) == 3, f"the spurious one, the real one and the flush's: {pubacks}"
    assert report["violations"] == [], report


def test_random_packet_ids_reach_paho_and_are_mapped_back(behaviour_server, version):
    """`packet_ids = "random"` (seeded): paho receives its three QoS 1 messages under the server's random ids, acknowledges those, and the server maps them back (no resend)."""
    served = behaviour_server('[testserver]\nseed = 7\n[[behaviour]]\npacket_ids = "random"\n')
    c, connacks = client(served, version, f"ids-{version}")
    assert not connacks.get(timeout=TIMEOUT).is_failure
    messages = queue.Queue()
    c.on_message = lambda cl, u, m: messages.put(m)
    subscribed = queue.Queue()
    c.on_subscribe = lambda cl, u, mid, codes, props: subscribed.put(codes)
    c.subscribe("b/ids", qos=1)
    subscribed.get(timeout=TIMEOUT)
    for n in range(3):
        c.publish("b/ids", f"m{n}".encode(), qos=1).wait_for_publish(timeout=TIMEOUT)
    got = [messages.get(timeout=TIMEOUT) for _ in range(3)]
    flush_acks(c)
    finish(c)
    records, report, _ = served.stop()
    wire = [p["packet_id"] for p in publishes(records, direction="out") if p["topic"] == "b/ids"]
    assert [m.mid for m in got] == wire, (wire, [m.mid for m in got])
    assert len(set(wire)) == 3 and wire != [1, 2, 3], wire
    # paho acknowledged each message under the id the server chose, in order.
    acked = [p["packet_id"] for p in packets(records, "PUBACK", "in")]
    assert acked == wire, (acked, wire)
    assert report["violations"] == [], report


def test_refusals_carry_each_version_s_code(behaviour_server, version):
    """Client ids matching a pattern and wrong credentials are refused with the version's code (3.1.1: 2 and 4; 5.0: 0x85 and 0x86); paho names the reason; the right credentials pass."""
    served = behaviour_server('[[behaviour]]\nreject_client_ids = ["bad-*"]\n'
                              'credentials = [{ username = "u", password = "p" }]\n')
    expected = {"3.1.1": (2, 4), "5": (0x85, 0x86)}[version]
    for client_id, password, reason in [("bad-1", "p", "Client identifier not valid"),
                                        ("ok-1", "wrong", "Bad user name or password")]:
        c, connacks = client(served, version, client_id, username="u", password=password)
        rc = connacks.get(timeout=TIMEOUT)
        c.loop_stop()
        assert rc.is_failure and str(rc) == reason, rc
    c, connacks = client(served, version, "ok-2", username="u", password="p")
    assert not connacks.get(timeout=TIMEOUT).is_failure
    finish(c)
    records, _, _ = served.stop()
    codes = [p["reason_code"] for p in packets(records, "CONNACK", "out")]
    assert codes[:2] == list(expected) and codes[-1] == 0, codes


def test_connack_overrides_reach_paho_and_it_uses_the_server_keep_alive(behaviour_server):
    """MQTT 5.0 CONNACK overrides: paho sees the assigned client id, session expiry and Server Keep Alive 2 s, and pings at that interval instead of its own 30 s; the report checks the keep-alive statements with no violation."""
    served = behaviour_server('[testserver]\nkeep_alive_grace_ms = 1500\n[[behaviour]]\n'
                              'assigned_client_id = "given-by-server"\nsession_expiry_secs = 77\n'
                              'server_keep_alive_secs = 2\n')
    props = queue.Queue()
    c, connacks = client(served, "5", "", connack_properties=props)
    assert not connacks.get(timeout=TIMEOUT).is_failure
    p = props.get(timeout=TIMEOUT)
    assert p.AssignedClientIdentifier == "given-by-server"
    assert p.SessionExpiryInterval == 77
    assert p.ServerKeepAlive == 2
    time.sleep(5.5)
    finish(c)
    records, report, _ = served.stop()
    pings = packets(records, "PINGREQ", "in")
    assert len(pings) >= 2, f"paho pinged {len(pings)} times in 5.5 s"
    assert report["violations"] == [], report
    ka = [s for s in report["covered"] if s["statement"] == "5.0/MQTT-3.1.2-20"]
    assert ka and ka[0]["checked"] >= 2, report


def test_the_client_report_as_junit_xml(behaviour_server, version):
    """`--report report.xml` writes JUnit XML: it parses, each suite's counts match its cases, and a clean paho session is one suite with no failure."""
    served = behaviour_server("", report_name="report.xml")
    c, connacks = client(served, version, f"junit-{version}")
    assert not connacks.get(timeout=TIMEOUT).is_failure
    c.publish("b/junit", b"x", qos=1).wait_for_publish(timeout=TIMEOUT)
    finish(c)
    _, text, _ = served.stop()
    root = ET.fromstring(text)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    label = {"3.1.1": "MQTT 3.1.1 client", "5": "MQTT 5.0 client"}[version]
    assert [s.get("name") for s in suites] == [label]
    cases = suites[0].findall("testcase")
    assert int(suites[0].get("tests")) == len(cases) >= 2
    assert suites[0].get("failures") == "0" and not suites[0].findall("testcase/failure")
    assert any("MQTT-3.1.0-1" in case.get("name") for case in cases)
