"""paho-mqtt 2.x against `mqttsim serve`, over loopback TCP, for MQTT 3.1.1
and 5.0. Nothing is mocked. Where a test must show that something did NOT
arrive, it sends a marker afterwards (after the first flow completed) and
asserts the marker is the first thing received, instead of sleeping."""

import socket
import time

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from conftest import TIMEOUT, Peer

V5_ONLY = pytest.mark.parametrize("version", ["5"], ids=["mqtt5"])


def props(packet_type=PacketTypes.PUBLISH, **values):
    p = Properties(packet_type)
    for name, value in values.items():
        setattr(p, name, value)
    return p


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_a_publish_at_each_qos_reaches_a_subscriber(peers, version, qos):
    """A message published at QoS 0, 1 or 2 is delivered once at that QoS."""
    sub = peers("sub")
    pub = peers("pub")
    topic = f"q/{qos}"
    sub.subscribe(topic, qos=qos)
    pub.publish(topic, b"payload-%d" % qos, qos=qos)
    msg = sub.expect()
    assert (msg.topic, msg.payload, msg.qos, msg.retain) == (topic, b"payload-%d" % qos, qos, False)
    pub.publish(topic, b"marker", qos=1)
    assert sub.expect().payload == b"marker", "the message was delivered only once"


def test_a_retained_message_reaches_later_subscribers_until_cleared(peers, version):
    """A retained message goes to each new subscriber with the retain flag; an empty retained publish clears it."""
    pub = peers("pub")
    pub.publish("ret/t", b"kept", qos=1, retain=True)
    first = peers("first")
    first.subscribe("ret/+", qos=1)
    msg = first.expect()
    assert (msg.topic, msg.payload, msg.retain) == ("ret/t", b"kept", True)

    pub.publish("ret/t", b"", qos=1, retain=True)
    cleared = first.expect()
    assert cleared.payload == b"", "the clearing publish is forwarded to existing subscribers"

    later = peers("later")
    later.subscribe("ret/+", qos=1)
    pub.publish("ret/marker", b"marker", qos=1)
    msg = later.expect()
    assert (msg.topic, msg.payload, msg.retain) == ("ret/marker", b"marker", False), "nothing retained any more"


def _connect_without_thread(peer):
    """Connects a peer driven by hand (no network thread), so its socket can be killed safely."""
    peer.client.connect(peer.broker.host, peer.broker.port, **peer._connect_args())
    deadline = time.monotonic() + TIMEOUT
    while peer.connacks.empty():
        assert time.monotonic() < deadline, "no CONNACK within the bound"
        peer.client.loop(timeout=0.05)
    peer.connack()


def test_the_will_is_published_when_the_socket_dies_but_not_on_disconnect(peers, broker, version):
    """Killing a client's socket publishes its will; a normal DISCONNECT does not."""
    watcher = peers("watcher")
    watcher.subscribe("will/#", qos=1)

    victim = Peer(broker, version, client_id="victim",
                  will={"topic": "will/victim", "payload": b"victim gone", "qos": 1})
    _connect_without_thread(victim)
    sock = victim.client.socket()
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    msg = watcher.expect()
    assert (msg.topic, msg.payload) == ("will/victim", b"victim gone")

    polite = peers("polite", will={"topic": "will/polite", "payload": b"polite gone", "qos": 1})
    polite.disconnect()
    marker = peers("marker")
    marker.publish("will/marker", b"marker", qos=1)
    assert watcher.expect().payload == b"marker", "no will after a normal DISCONNECT"


def test_an_offline_persistent_session_queues_and_redelivers_on_reconnect(peers, version):
    """QoS 1 messages published while a persistent session is offline arrive, in order, when it reconnects."""
    persistent = {"clean": False, "session_expiry": 300}
    durable = peers("durable", connect=False, **persistent)
    if version == "5":
        durable.clean = True  # start from nothing, keep the session afterwards
    durable.connect()
    durable.subscribe("queue/t", qos=1)
    durable.disconnect()

    pub = peers("pub")
    for n in range(3):
        pub.publish("queue/t", b"m%d" % n, qos=1)

    back = peers("durable", connect=False, **persistent)
    flags, _, _ = back.connect()
    assert flags.session_present, "the session was kept"
    got = [back.expect().payload for _ in range(3)]
    assert got == [b"m0", b"m1", b"m2"]


def test_a_clean_session_forgets_subscriptions(peers, version):
    """After a clean (non-persistent) session disconnects, reconnecting starts without the subscription."""
    first = peers("forgetful")
    first.subscribe("clean/t", qos=1)
    first.disconnect()
    again = peers("forgetful")
    pub = peers("pub")
    pub.publish("clean/t", b"lost", qos=1)
    again.subscribe("clean/marker", qos=1)
    pub.publish("clean/marker", b"marker", qos=1)
    assert again.expect().payload == b"marker"


@V5_ONLY
def test_a_shared_subscription_splits_messages_between_its_members(peers, version):
    """Messages on a $share group go to one member each, and every member gets some."""
    members = [peers(f"member{i}") for i in range(2)]
    for member in members:
        member.subscribe("$share/group/share/t", qos=1)
    pub = peers("pub")
    total = 10
    for n in range(total):
        pub.publish("share/t", b"%d" % n, qos=1)
    received = [[] for _ in members]
    deadline = time.monotonic() + TIMEOUT
    while sum(map(len, received)) < total:
        assert time.monotonic() < deadline, f"only {received} within the bound"
        for i, member in enumerate(members):
            while not member.messages.empty():
                received[i].append(member.messages.get_nowait().payload)
        time.sleep(0.01)
    assert sorted(sum(received, []), key=int) == [b"%d" % n for n in range(total)], "each message exactly once"
    assert all(received), f"every member got a share: {received}"


@V5_ONLY
def test_no_local_keeps_a_client_from_receiving_its_own_messages(peers, version):
    """With No Local, a subscriber does not get what it published itself; others still do."""
    selfish = peers("selfish")
    selfish.subscribe("nl/t", options=SubscribeOptions(qos=1, noLocal=True))
    other = peers("other")
    other.subscribe("nl/t", qos=1)
    selfish.publish("nl/t", b"own", qos=1)
    assert other.expect().payload == b"own"
    other.publish("nl/t", b"marker", qos=1)
    assert selfish.expect().payload == b"marker", "its own message was not delivered back"


@V5_ONLY
def test_retain_handling_options_control_retained_delivery_on_subscribe(peers, version):
    """Retain handling 0 always sends retained messages, 1 only for a new subscription, 2 never."""
    pub = peers("pub")
    pub.publish("rh/t", b"kept", qos=1, retain=True)

    always = peers("always")
    always.subscribe("rh/t", options=SubscribeOptions(qos=1, retainHandling=0))
    assert always.expect().payload == b"kept"
    always.subscribe("rh/t", options=SubscribeOptions(qos=1, retainHandling=0))
    assert always.expect().payload == b"kept", "sent again on re-subscribe"

    new_only = peers("new-only")
    new_only.subscribe("rh/t", options=SubscribeOptions(qos=1, retainHandling=1))
    assert new_only.expect().payload == b"kept"
    new_only.subscribe("rh/t", options=SubscribeOptions(qos=1, retainHandling=1))

    never = peers("never")
    never.subscribe("rh/t", options=SubscribeOptions(qos=1, retainHandling=2))

    pub.publish("rh/t", b"marker", qos=1)
    assert new_only.expect().payload == b"marker", "not resent for an existing subscription"
    assert never.expect().payload == b"marker", "never sent with retain handling 2"


@V5_ONLY
def test_retain_as_published_keeps_the_retain_flag(peers, version):
    """With Retain As Published, a forwarded retained publish keeps its retain flag; without, it is cleared."""
    keep = peers("keep")
    keep.subscribe("rap/t", options=SubscribeOptions(qos=1, retainAsPublished=True))
    plain = peers("plain")
    plain.subscribe("rap/t", qos=1)
    pub = peers("pub")
    pub.publish("rap/t", b"r", qos=1, retain=True)
    assert keep.expect().retain is True
    assert plain.expect().retain is False


@V5_ONLY
def test_a_topic_alias_set_by_the_client_is_resolved_by_the_server(peers, version):
    """A client sets a topic alias with its first publish and then publishes with an empty topic."""
    pub = peers("pub", connect=False)
    _, _, connack = pub.connect()
    assert getattr(connack, "TopicAliasMaximum", 0) >= 1, "the server accepts aliases"
    sub = peers("sub")
    sub.subscribe("alias/t", qos=1)
    pub.publish("alias/t", b"first", qos=1, properties=props(TopicAlias=1))
    pub.publish("", b"second", qos=1, properties=props(TopicAlias=1))
    got = [sub.expect() for _ in range(2)]
    assert [(m.topic, m.payload) for m in got] == [("alias/t", b"first"), ("alias/t", b"second")]


@V5_ONLY
def test_message_expiry_drops_stale_queued_messages_and_forwards_the_remaining_interval(peers, version):
    """A queued message past its expiry is dropped; a live one arrives with a reduced Message Expiry Interval."""
    durable = peers("exp", session_expiry=300)
    durable.subscribe("exp/t", qos=1)
    durable.disconnect()
    pub = peers("pub")
    pub.publish("exp/t", b"short", qos=1, properties=props(MessageExpiryInterval=1))
    pub.publish("exp/t", b"long", qos=1, properties=props(MessageExpiryInterval=100))
    # The passing of time is the event under test: wait out the 1 s expiry.
    time.sleep(2.2)
    back = peers("exp", connect=False, clean=False, session_expiry=300)
    back.connect()
    msg = back.expect()
    assert msg.payload == b"long", "the expired message was dropped (it was queued first)"
    remaining = msg.properties.MessageExpiryInterval
    assert 95 <= remaining < 100, f"the remaining interval is forwarded, got {remaining}"


@V5_ONLY
def test_request_response_properties_are_forwarded(peers, version):
    """Response Topic and Correlation Data reach the responder unchanged, and the reply can be matched."""
    asker = peers("asker", connect=False, connect_properties=props(PacketTypes.CONNECT, RequestResponseInformation=1))
    _, _, connack = asker.connect()
    info = getattr(connack, "ResponseInformation", None)
    assert info, "the server sends Response Information when asked"
    responder = peers("responder")
    responder.subscribe("rr/request", qos=1)
    reply_to = f"{info}asker"
    asker.subscribe(reply_to, qos=1)
    asker.publish("rr/request", b"question", qos=1,
                  properties=props(ResponseTopic=reply_to, CorrelationData=b"id-42",
                                   ContentType="text/plain", UserProperty=[("a", "1"), ("b", "2")]))
    request = responder.expect()
    assert request.properties.ResponseTopic == reply_to
    assert request.properties.CorrelationData == b"id-42"
    assert request.properties.ContentType == "text/plain"
    assert request.properties.UserProperty == [("a", "1"), ("b", "2")], "user properties in order"
    responder.publish(request.properties.ResponseTopic, b"answer", qos=1,
                      properties=props(CorrelationData=request.properties.CorrelationData))
    reply = asker.expect()
    assert (reply.payload, reply.properties.CorrelationData) == (b"answer", b"id-42")


def test_sys_topics_count_connected_clients(peers, version):
    """$SYS/broker/clients/connected follows clients connecting and leaving."""
    watcher = peers("watcher")
    others = [peers(f"other{i}") for i in range(2)]
    watcher.subscribe("$SYS/broker/clients/connected", qos=0)

    def wait_for(count):
        deadline = time.monotonic() + TIMEOUT
        seen = []
        while time.monotonic() < deadline:
            msg = watcher.expect(timeout=max(0.01, deadline - time.monotonic()))
            seen.append(msg.payload)
            if msg.payload == str(count).encode():
                return
        pytest.fail(f"clients/connected never became {count}: saw {seen}")

    wait_for(3)
    others[0].disconnect()
    wait_for(2)


def test_a_wildcard_subscription_does_not_match_sys_topics(peers, version):
    """A subscription to # does not receive $SYS topics."""
    sub = peers("sub")
    sub.subscribe("#", qos=0)
    sub.subscribe("$SYS/broker/clients/connected", qos=0)
    first = sub.expect()
    # The $SYS publication arrives through the explicit subscription only once.
    assert first.topic.startswith("$SYS/")
    pub = peers("pub")
    pub.publish("plain/t", b"marker", qos=1)
    deadline = time.monotonic() + TIMEOUT
    while True:
        msg = sub.expect(timeout=max(0.01, deadline - time.monotonic()))
        if msg.payload == b"marker":
            break
        assert msg.topic == "$SYS/broker/clients/connected", f"# matched {msg.topic}"
