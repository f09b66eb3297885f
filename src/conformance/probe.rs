//! The capability probe: connects once per version before the scenarios and
//! reads what the server says about itself (5.0 CONNACK properties), then
//! measures limits it does not state ([`probe_limits`]): maximum topic
//! length, maximum payload, maximum client id length and the characters a
//! client id may hold, each by a ladder and a bounded binary search.

use std::time::Duration;

use bytes::Bytes;

use super::conn::{describe_event, Event, TestConn};
use super::{Capabilities, Connector, Limits};
use crate::codec::{Connect, Disconnect, Packet, Properties, Publish, Qos, QosPid, ReasonCode, TopicName, Version};

/// Connects with each version and returns the capabilities and one line of
/// notes per finding. `client_id_prefix` keeps probe ids unique per run.
pub async fn probe(
    connector: &dyn Connector,
    client_id_prefix: &str,
    username: Option<&str>,
    password: Option<&str>,
    wait: Duration,
) -> (Capabilities, Vec<String>) {
    let mut caps = Capabilities::default();
    let mut notes = Vec::new();
    for version in Version::ALL {
        let connect = Packet::Connect(Connect {
            version,
            clean_start: true,
            keep_alive_secs: 60,
            properties: Properties::default(),
            client_id: format!("{client_id_prefix}p{}", version.protocol_level()),
            will: None,
            username: username.map(str::to_string),
            password: password.map(|p| Bytes::from(p.to_string())),
        });
        let accepted = match connector.connect().await {
            Err(e) => {
                notes.push(format!("{version}: cannot connect: {e}"));
                None
            }
            Ok(stream) => {
                let mut conn = TestConn::new(stream, version, wait);
                let _ = conn.send(&connect).await;
                match conn.recv(wait).await {
                    Event::Packet(Packet::Connack(ack)) if ack.reason_code == ReasonCode::SUCCESS => {
                        let _ = conn.send(&Packet::Disconnect(Disconnect::default())).await;
                        conn.drop_connection().await;
                        Some(ack.properties)
                    }
                    other => {
                        notes.push(format!("{version}: CONNECT not accepted: {}", describe_event(&other)));
                        None
                    }
                }
            }
        };
        match version {
            Version::V3_1_1 => caps.v3_1_1 = accepted.is_some(),
            Version::V5 => caps.v5 = accepted.is_some(),
        }
        if let (Version::V5, Some(p)) = (version, accepted) {
            if let Some(q) = p.maximum_qos.and_then(Qos::from_u8) {
                caps.maximum_qos = q;
            }
            caps.retain_available = p.retain_available != Some(0);
            caps.wildcard_subscription_available = p.wildcard_subscription_available != Some(0);
            caps.subscription_identifier_available = p.subscription_identifier_available != Some(0);
            caps.shared_subscription_available = p.shared_subscription_available != Some(0);
            caps.topic_alias_maximum = p.topic_alias_maximum.unwrap_or(0);
            caps.receive_maximum = p.receive_maximum.unwrap_or(u16::MAX);
            caps.maximum_packet_size = p.maximum_packet_size;
            caps.server_keep_alive_secs = p.server_keep_alive_secs;
            notes.push(format!(
                "5.0 CONNACK: maximum QoS {}, retain {}, wildcards {}, subscription ids {}, shared subscriptions {}, \
                 topic alias maximum {}, receive maximum {}, maximum packet size {}, server keep alive {}",
                caps.maximum_qos.as_u8(),
                yes_no(caps.retain_available),
                yes_no(caps.wildcard_subscription_available),
                yes_no(caps.subscription_identifier_available),
                yes_no(caps.shared_subscription_available),
                caps.topic_alias_maximum,
                caps.receive_maximum,
                caps.maximum_packet_size.map_or("unlimited".into(), |m| m.to_string()),
                caps.server_keep_alive_secs.map_or("none".into(), |k| format!("{k} s")),
            ));
        }
    }
    (caps, notes)
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// The rungs of the topic length ladder (bytes); the last is the protocol's maximum.
const TOPIC_LENGTH_LADDER: &[u32] = &[64, 1024, 16_384, 65_535];
/// The rungs of the payload ladder (bytes); the last is the probe's ceiling.
const PAYLOAD_LADDER: &[u32] = &[1024, 65_536, 1 << 20, 4 << 20];
/// The rungs of the client id length ladder (bytes); 23 every server must accept.
const CLIENT_ID_LADDER: &[u32] = &[23, 64, 256, 1024, 65_535];
/// Characters beyond `[0-9a-zA-Z]` tried one at a time in a client id.
const CLIENT_ID_EXTRA_CHARACTERS: &[char] = &['-', '_', '.', ':', '/', ' ', '@', '#', '+', '$', 'é'];
/// Attempts one limit search may make after its ladder.
const SEARCH_STEPS_MAX: usize = 24;
/// The longest one attempt may wait for its answer.
const ATTEMPT_WAIT_MAX: Duration = Duration::from_secs(2);

/// What one attempt tries.
#[derive(Debug, Clone, Copy)]
enum Probe {
    TopicLength,
    PayloadBytes,
    ClientIdLength,
}

/// Where and how the limit probes connect.
struct LimitProbe<'a> {
    connector: &'a dyn Connector,
    version: Version,
    client_id_prefix: &'a str,
    topic_prefix: &'a str,
    username: Option<&'a str>,
    password: Option<&'a str>,
    wait: Duration,
    attempts: u32,
}

impl LimitProbe<'_> {
    fn client_id(&mut self) -> String {
        self.attempts += 1;
        format!("{}l{}", self.client_id_prefix, self.attempts)
    }

    /// Connects with `client_id`; the connection if the CONNACK accepted it.
    async fn connect(&self, client_id: String) -> Option<TestConn> {
        let stream = self.connector.connect().await.ok()?;
        let mut conn = TestConn::new(stream, self.version, self.wait);
        let connect = Packet::Connect(Connect {
            version: self.version,
            clean_start: true,
            keep_alive_secs: 60,
            properties: Properties::default(),
            client_id,
            will: None,
            username: self.username.map(str::to_string),
            password: self.password.map(|p| Bytes::from(p.to_string())),
        });
        conn.send(&connect).await.ok()?;
        match conn.recv(self.wait).await {
            Event::Packet(Packet::Connack(ack)) if ack.reason_code == ReasonCode::SUCCESS => Some(conn),
            _ => None,
        }
    }

    async fn bye(conn: TestConn) {
        let mut conn = conn;
        let _ = conn.send(&Packet::Disconnect(Disconnect::default())).await;
        conn.drop_connection().await;
    }

    /// Whether a QoS 1 PUBLISH with `topic` and `payload_len` bytes is acknowledged with success.
    async fn publish_accepted(&mut self, topic: String, payload_len: usize) -> bool {
        let id = self.client_id();
        let Some(mut conn) = self.connect(id).await else { return false };
        let Ok(topic) = TopicName::new(topic) else { return false };
        let packet_id = conn.next_packet_id();
        let publish = Publish {
            dup: false,
            qos_pid: QosPid::AtLeastOnce(packet_id),
            retain: false,
            topic,
            properties: Properties::default(),
            payload: Bytes::from(vec![b'p'; payload_len]),
        };
        if conn.send(&Packet::Publish(publish)).await.is_err() {
            return false;
        }
        let ok = matches!(
            conn.recv(self.wait).await,
            Event::Packet(Packet::Puback(r)) if r.packet_id == packet_id && r.reason_code.0 < 0x80
        );
        LimitProbe::bye(conn).await;
        ok
    }

    /// Whether a CONNECT with `client_id` is accepted.
    async fn client_id_accepted(&mut self, client_id: String) -> bool {
        match self.connect(client_id).await {
            Some(conn) => {
                LimitProbe::bye(conn).await;
                true
            }
            None => false,
        }
    }

    async fn attempt(&mut self, what: Probe, n: u32) -> bool {
        let n = n as usize;
        match what {
            Probe::TopicLength => {
                let mut topic = format!("{}/", self.topic_prefix);
                if topic.len() >= n {
                    return true;
                }
                topic.extend(std::iter::repeat_n('t', n - topic.len()));
                self.publish_accepted(topic, 1).await
            }
            Probe::PayloadBytes => self.publish_accepted(format!("{}/payload", self.topic_prefix), n).await,
            Probe::ClientIdLength => {
                let mut id = self.client_id();
                if id.len() >= n {
                    id.truncate(n);
                } else {
                    id.extend(std::iter::repeat_n('i', n - id.len()));
                }
                self.client_id_accepted(id).await
            }
        }
    }

    /// The largest accepted value: up the ladder until a refusal, then a
    /// binary search in between. `(None, _)` when even 1 is refused;
    /// `(Some(top), true)` when the top rung was accepted.
    async fn search(&mut self, what: Probe, ladder: &[u32]) -> (Option<u32>, bool) {
        let mut accepted = 0u32;
        let mut refused = None;
        for &rung in ladder {
            if self.attempt(what, rung).await {
                accepted = rung;
            } else {
                refused = Some(rung);
                break;
            }
        }
        let Some(mut refused) = refused else { return (Some(accepted), true) };
        for _ in 0..SEARCH_STEPS_MAX {
            if accepted + 1 >= refused {
                break;
            }
            let mid = accepted + (refused - accepted) / 2;
            if self.attempt(what, mid).await {
                accepted = mid;
            } else {
                refused = mid;
            }
        }
        ((accepted > 0).then_some(accepted), false)
    }
}

/// Measures the server's limits with `version` (maximum topic length,
/// maximum payload, maximum client id length, and which characters beyond
/// letters and digits a client id may hold). Every attempt is a new
/// connection with a clean session and a non-retained message under
/// `topic_prefix`, so nothing is left behind. Returns the limits and one
/// line of notes.
pub async fn probe_limits(
    connector: &dyn Connector,
    version: Version,
    client_id_prefix: &str,
    topic_prefix: &str,
    username: Option<&str>,
    password: Option<&str>,
    wait: Duration,
) -> (Limits, Vec<String>) {
    let mut p = LimitProbe {
        connector,
        version,
        client_id_prefix,
        topic_prefix,
        username,
        password,
        wait: wait.min(ATTEMPT_WAIT_MAX),
        attempts: 0,
    };
    let maximum_topic_length = p.search(Probe::TopicLength, TOPIC_LENGTH_LADDER).await.0;
    let (maximum_payload_bytes, at_ceiling) = p.search(Probe::PayloadBytes, PAYLOAD_LADDER).await;
    let maximum_client_id_length = p.search(Probe::ClientIdLength, CLIENT_ID_LADDER).await.0;
    let mut limits = Limits {
        maximum_topic_length,
        maximum_payload_bytes,
        payload_at_ceiling: at_ceiling,
        maximum_client_id_length,
        ..Limits::default()
    };
    let (mut yes, mut no) = (String::new(), String::new());
    for &c in CLIENT_ID_EXTRA_CHARACTERS {
        let id = format!("{}{c}x", p.client_id());
        if p.client_id_accepted(id).await {
            yes.push(c);
        } else {
            no.push(c);
        }
    }
    limits.client_id_extra_characters_accepted = Some(yes);
    limits.client_id_extra_characters_refused = Some(no);
    let show = |v: Option<u32>| v.map_or("none accepted".to_string(), |n| n.to_string());
    let note = format!(
        "limits ({version}, {} attempts): topic length {} bytes, payload {}{} bytes, client id length {} bytes, \
         client id characters beyond [0-9a-zA-Z]: accepted {:?}, refused {:?}",
        p.attempts,
        show(limits.maximum_topic_length),
        if at_ceiling { "at least " } else { "" },
        show(limits.maximum_payload_bytes),
        show(limits.maximum_client_id_length),
        limits.client_id_extra_characters_accepted.as_deref().unwrap_or(""),
        limits.client_id_extra_characters_refused.as_deref().unwrap_or(""),
    );
    (limits, vec![note])
}
