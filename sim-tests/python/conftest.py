"""Fixtures for the paho-mqtt suite: a fresh `mqttsim serve --port 0` per
test, started from the binary named by MQTTSIM_BIN, and a small client
wrapper whose every wait is bounded."""

import os
import queue
import subprocess
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

# Bound on every wait for an event (CONNACK, SUBACK, a message, ...).
TIMEOUT = 10.0

VERSIONS = {"3.1.1": mqtt.MQTTv311, "5": mqtt.MQTTv5}

# Short $SYS interval so the $SYS test does not wait 10 s.
BROKER_CONFIG = "sys_interval_secs = 1\n"


class Broker:
    def __init__(self, host, port):
        self.host = host
        self.port = port


@pytest.fixture
def broker(tmp_path):
    """A model broker of its own for each test, so tests cannot see each other."""
    binary = os.environ.get("MQTTSIM_BIN")
    if not binary:
        pytest.fail("set MQTTSIM_BIN to the mqttsim binary (the Rust test real_clients does)")
    config = tmp_path / "broker.toml"
    config.write_text(BROKER_CONFIG)
    coverage = tmp_path / "coverage.json"
    proc = subprocess.Popen(
        [binary, "serve", "--port", "0", "--max-runtime-secs", "120",
         "--config", str(config), "--coverage", str(coverage)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        # The first line comes at once; if the server dies, readline returns "".
        line = proc.stdout.readline()
        assert line.startswith("listening on "), f"unexpected first line {line!r}"
        host, port = line.split()[-1].rsplit(":", 1)
        yield Broker(host, int(port))
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, f"mqttsim serve exited with {proc.returncode}"
    assert "server-side statements cited" in out, out


@pytest.fixture(params=list(VERSIONS), ids=lambda v: "mqtt" + v.replace(".", ""))
def version(request):
    return request.param


class Peer:
    """A paho client on its own network thread, with bounded waits."""

    def __init__(self, broker, version, client_id="", clean=True, session_expiry=None,
                 will=None, connect_properties=None):
        self.broker = broker
        self.version = version
        self.protocol = VERSIONS[version]
        self.clean = clean
        self.session_expiry = session_expiry
        self.connect_properties = connect_properties
        kwargs = {}
        if self.protocol != mqtt.MQTTv5:
            kwargs["clean_session"] = clean
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=self.protocol, **kwargs)
        if will is not None:
            self.client.will_set(**will)
        self.messages = queue.Queue()
        self.connacks = queue.Queue()
        self.subacks = {}
        self.disconnected = threading.Event()
        self._lock = threading.Lock()
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = lambda c, u, f, rc, p: self.disconnected.set()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.connacks.put((flags, reason_code, properties))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        with self._lock:
            event = self.subacks.setdefault(mid, [threading.Event(), None])
        event[1] = reason_codes
        event[0].set()

    def _connect_args(self):
        args = {"keepalive": 60}
        if self.protocol == mqtt.MQTTv5:
            args["clean_start"] = self.clean
            props = self.connect_properties or Properties(PacketTypes.CONNECT)
            if self.session_expiry is not None:
                props.SessionExpiryInterval = self.session_expiry
            args["properties"] = props
        return args

    def connect(self):
        """Connects, starts the network thread, returns (flags, reason code, properties) of CONNACK."""
        self.disconnected.clear()
        self.client.connect(self.broker.host, self.broker.port, **self._connect_args())
        self.client.loop_start()
        return self.connack()

    def connack(self):
        try:
            flags, rc, props = self.connacks.get(timeout=TIMEOUT)
        except queue.Empty:
            pytest.fail(f"no CONNACK within {TIMEOUT}s")
        assert not rc.is_failure, f"connection refused: {rc}"
        return flags, rc, props

    def subscribe(self, topic, qos=0, options=None, properties=None):
        """Subscribes and waits for the SUBACK; returns its reason codes."""
        _, mid = self.client.subscribe(topic, qos=qos, options=options, properties=properties)
        with self._lock:
            event = self.subacks.setdefault(mid, [threading.Event(), None])
        assert event[0].wait(TIMEOUT), f"no SUBACK for {topic} within {TIMEOUT}s"
        return event[1]

    def publish(self, topic, payload, qos=0, retain=False, properties=None):
        """Publishes and, for QoS 1 and 2, waits until the flow completed."""
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(timeout=TIMEOUT)
        assert info.is_published(), f"publish to {topic} not completed within {TIMEOUT}s"
        return info

    def expect(self, timeout=TIMEOUT):
        """The next message, or a test failure after `timeout`."""
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no message within {timeout}s")

    def disconnect(self):
        """A normal DISCONNECT; waits until the network thread saw the close."""
        self.client.disconnect()
        assert self.disconnected.wait(TIMEOUT), "no disconnect within the bound"
        self.client.loop_stop()


@pytest.fixture
def peers(broker, version):
    """A factory of connected peers for the current broker and version; all
    are disconnected at the end of the test."""
    made = []

    def make(client_id="", connect=True, **kwargs):
        peer = Peer(broker, version, client_id=client_id, **kwargs)
        made.append(peer)
        if connect:
            peer.connect()
        return peer

    yield make
    for peer in made:
        # DISCONNECT first: the network thread then ends at once instead of
        # on its next 1 s poll.
        peer.client.disconnect()
    for peer in made:
        peer.client.loop_stop()
