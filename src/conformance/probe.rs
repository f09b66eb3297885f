//! The capability probe: connects once per version before the scenarios and
//! reads what the server says about itself (5.0 CONNACK properties).

use std::time::Duration;

use bytes::Bytes;

use super::conn::{describe_event, Event, TestConn};
use super::{Capabilities, Connector};
use crate::codec::{Connect, Disconnect, Packet, Properties, Qos, ReasonCode, Version};

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
