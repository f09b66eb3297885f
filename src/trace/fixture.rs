//! A small trace with one event of every kind, shared by the trace tests and
//! used for the example in `docs/trace-format.md`.

use std::time::Duration;

use bytes::Bytes;

use super::{CiteKind, ClosedBy, Dir, EventKind, Trace, TraceHeader};
use crate::codec::{
    Connack, Connect, Packet, PacketId, Properties, PubResponse, Publish, QosPid, ReasonCode, TopicName,
};
use crate::spec::{v5, Version};

/// The header of the example run.
pub(crate) fn header() -> TraceHeader {
    TraceHeader {
        seed: 42,
        scenario: "keepalive-expiry".to_owned(),
        tick: Duration::from_millis(1),
        config: serde_json::json!({ "version": "5.0", "keep_alive_secs": 60, "clients": ["client-a", "client-b"] }),
        mqttsim_version: "0.1.0".to_owned(),
    }
}

pub(crate) fn pid(value: u16) -> PacketId {
    PacketId::new(value).expect("non-zero")
}

pub(crate) fn publish(qos_pid: QosPid, topic: &str, payload: &'static [u8]) -> Publish {
    Publish {
        dup: false,
        qos_pid,
        retain: false,
        topic: TopicName::new(topic).expect("valid topic"),
        properties: Properties::default(),
        payload: Bytes::from_static(payload),
    }
}

/// One event of every kind, in time order.
pub(crate) fn sample_trace() -> Trace {
    let mut trace = Trace::new(header(), 100);
    let ms = Duration::from_millis;
    let packet = |endpoint: &str, conn, dir, packet, bytes_len| EventKind::Packet {
        endpoint: endpoint.into(),
        conn,
        dir,
        packet,
        bytes_len,
    };
    let connect = Connect {
        version: Version::V5,
        clean_start: true,
        keep_alive_secs: 60,
        properties: Properties::default(),
        client_id: "client-a".to_owned(),
        will: None,
        username: None,
        password: None,
    };
    let connack =
        Connack { session_present: false, reason_code: ReasonCode::SUCCESS, properties: Properties::default() };
    let mut expiring = publish(QosPid::AtLeastOnce(pid(7)), "a/b", b"hi");
    expiring.properties.message_expiry_interval_secs = Some(60);

    let events = [
        (ms(0), EventKind::Note { text: "phase safety".to_owned() }),
        (ms(3), EventKind::Opened { endpoint: "broker".into(), conn: 1, peer: "client-a".to_owned() }),
        (ms(3), packet("client-a", 1, Dir::Sent, Packet::Connect(connect.clone()), 23)),
        (ms(4), packet("broker", 1, Dir::Received, Packet::Connect(connect), 23)),
        (
            ms(4),
            EventKind::Cite {
                endpoint: "broker".into(),
                conn: Some(1),
                statement: v5::MQTT_3_1_4_5,
                kind: CiteKind::Fulfilled,
            },
        ),
        (ms(4), packet("broker", 1, Dir::Sent, Packet::Connack(connack), 5)),
        (ms(1_500), packet("client-a", 1, Dir::Sent, Packet::Publish(expiring), 17)),
        (ms(1_501), packet("broker", 1, Dir::Sent, Packet::Puback(PubResponse::new(pid(7))), 4)),
        (
            ms(1_502),
            EventKind::Delivery {
                client: "client-b".to_owned(),
                topic: "a/b".to_owned(),
                qos: 1,
                retain: false,
                payload: Bytes::from_static(b"hi"),
                publisher_seq: Some(1),
            },
        ),
        (ms(30_000), EventKind::Fault { description: "partition client-a <-> broker".to_owned() }),
        (
            ms(45_000),
            EventKind::Malformed {
                endpoint: "broker".into(),
                conn: 2,
                dir: Dir::Received,
                hex: "3f00".to_owned(),
                error: "PUBLISH with QoS 3".to_owned(),
                statement: Some(v5::MQTT_3_3_1_4),
            },
        ),
        (ms(45_000), EventKind::Closed { endpoint: "broker".into(), conn: 2, by: ClosedBy::Local }),
        (
            ms(90_000),
            EventKind::Cite {
                endpoint: "broker".into(),
                conn: Some(1),
                statement: v5::MQTT_3_1_2_22,
                kind: CiteKind::Fulfilled,
            },
        ),
        (ms(90_000), EventKind::Closed { endpoint: "broker".into(), conn: 1, by: ClosedBy::Local }),
        (ms(90_000), EventKind::Verdict { text: "pass".to_owned() }),
    ];
    for (at, kind) in events {
        trace.push(at, kind).expect("the sample fits its bound");
    }
    trace
}
