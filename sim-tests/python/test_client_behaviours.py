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

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from conftest import TIMEOUT, VERSIONS


class Served:
    """A running `mqttsim serve` with a dump and a JSON client report."""

    def __init__(self, tmp_path, config):
        binary = os.environ.get("MQTTSIM_BIN")
        if not binary:
            pytest.fail("set MQTTSIM_BIN to the mqttsim binary (the Rust test testserver does)")
        self.config = tmp_path / "server.toml"
        self.config.write_text("sys_interval_secs = 0\n" + config)
        self.dump = tmp_path / "dump.jsonl"
        self.report_path = tmp_path / "report.json"
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
        """Stops the server; returns (dump records, report, stdout after the first line)."""
        if self.output is None:
            self.proc.terminate()
            try:
                self.output, _ = self.proc.communicate(timeout=TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                raise
            assert self.proc.returncode == 0, f"mqttsim serve exited with {self.proc.returncode}"
        records = [json.loads(l) for l in self.dump.read_text().splitlines()] if self.dump.exists() else []
        report = json.loads(self.report_path.read_text())
        return records, report, self.output


@pytest.fixture
def behaviour_server(tmp_path):
    made = []

    def make(config):
        served = Served(tmp_path, config)
        made.append(served)
        return served

    yield make
    for served in made:
        if served.output is None:
            served.proc.kill()
            served.proc.wait()


def client(served, version, client_id):
    """A paho client with a persistent session, connected, on its network thread.
    Returns (client, connack queue)."""
    protocol = VERSIONS[version]
    kwargs = {} if protocol == mqtt.MQTTv5 else {"clean_session": False}
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol, **kwargs)
    c.reconnect_delay_set(min_delay=1, max_delay=1)
    connacks = queue.Queue()
    c.on_connect = lambda cl, u, flags, rc, props: connacks.put(rc)
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
