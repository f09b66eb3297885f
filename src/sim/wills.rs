//! [`WillWatch`]: which wills the broker owes, worked out from what the
//! broker's end of each connection saw (the packets it received and sent,
//! and how the connection ended), for the liveness phase.
//!
//! A will is owed when its connection was accepted (a CONNACK with a success
//! code went out) and then ended without the broker receiving a DISCONNECT
//! with reason 0x00 (3.1.1: any DISCONNECT; 3.1.1 MQTT-3.1.2-8, 5.0
//! MQTT-3.1.2-8, MQTT-3.14.4-3). The connection ends when the broker's end
//! closes (the client's end of stream, a protocol error, a takeover, the
//! broker's own close), when the broker receives a DISCONNECT that keeps the
//! will (5.0, reason other than 0x00), or at the keep-alive bound: nothing
//! received for 1.5 times the keep-alive (the server's, when its CONNACK set
//! one) means the broker must have closed it by then (3.1.1 MQTT-3.1.2-24,
//! 5.0 MQTT-3.1.2-22) whether or not it did.
//!
//! The will is due when the connection ended (3.1.1; 5.0 with no will delay
//! or a session that ends with the connection), else at the earlier of the
//! will delay and the session expiry (5.0 MQTT-3.1.3-9 and 3.1.2.11.2). A
//! new connection accepted for the same client id after the end and before
//! the due time cancels it (5.0 MQTT-3.1.2-8).
//!
//! Not judged, on purpose: a QoS 0 will (at most once may lose it), a will
//! with a Message Expiry Interval (it may expire legitimately before a
//! subscriber returns), and a will whose connection the broker lost in a
//! crash, or that was waiting on its delay when the broker crashed (the
//! durable store keeps sessions, not wills in waiting).
//!
//! Owns: this bookkeeping only. Must not touch: the broker, the trace or the
//! network; the world feeds it and asks it.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;

use crate::codec::{Packet, Qos, Version};
use crate::model::ConnectionId;

/// A will the broker owes, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwedWill {
    /// The endpoint whose connection carried the will.
    pub endpoint: String,
    /// The will's topic.
    pub topic: String,
    /// The will's payload.
    pub payload: Bytes,
    /// The will's QoS (1 or 2).
    pub qos: Qos,
    /// When the broker must publish it.
    pub due: Duration,
}

#[derive(Debug, Clone)]
struct WillInfo {
    topic: String,
    payload: Bytes,
    qos: Qos,
    delay_secs: u32,
    judged: bool,
}

/// What the broker's end of one connection saw.
#[derive(Debug, Clone)]
struct ConnWill {
    endpoint: String,
    client_id: String,
    version: Version,
    will: Option<WillInfo>,
    keep_alive_secs: u16,
    session_expiry_secs: u32,
    /// The CONNECT asked for a clean start.
    clean_start: bool,
    accepted: bool,
    last_received: Duration,
    /// A DISCONNECT 0x00 arrived: the will is discarded.
    discarded: bool,
    /// When and how the connection ended at the broker (true: a crash).
    ended: Option<(Duration, bool)>,
}

/// The broker's view of every connection that carried a will. See the
/// module documentation.
#[derive(Debug, Default)]
pub struct WillWatch {
    conns: BTreeMap<ConnectionId, ConnWill>,
    /// When a connection for each client id was accepted, and whether it
    /// started clean.
    accepted: BTreeMap<String, Vec<(Duration, bool)>>,
    crashes: Vec<Duration>,
}

impl WillWatch {
    /// A packet the broker received (`received`) or sent on `conn` at `now`;
    /// `endpoint` is the client's endpoint name.
    pub fn packet(&mut self, now: Duration, conn: ConnectionId, endpoint: &str, received: bool, packet: &Packet) {
        if received && !self.conns.contains_key(&conn) {
            if let Packet::Connect(c) = packet {
                let will = c.will.as_ref().map(|w| WillInfo {
                    topic: w.topic.as_str().to_owned(),
                    payload: w.payload.clone(),
                    qos: w.qos,
                    delay_secs: w.properties.will_delay_interval_secs.unwrap_or(0),
                    judged: w.qos != Qos::AtMostOnce && w.properties.message_expiry_interval_secs.is_none(),
                });
                let session_expiry_secs = match c.version {
                    Version::V3_1_1 => u32::MAX,
                    Version::V5 => c.properties.session_expiry_interval_secs.unwrap_or(0),
                };
                self.conns.insert(
                    conn,
                    ConnWill {
                        endpoint: endpoint.to_owned(),
                        client_id: c.client_id.clone(),
                        version: c.version,
                        will,
                        keep_alive_secs: c.keep_alive_secs,
                        session_expiry_secs,
                        clean_start: c.clean_start,
                        accepted: false,
                        last_received: now,
                        discarded: false,
                        ended: None,
                    },
                );
                return;
            }
        }
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if c.ended.is_some() {
            return;
        }
        match (received, packet) {
            (true, Packet::Disconnect(d)) => {
                c.last_received = now;
                if let Some(secs) = d.properties.session_expiry_interval_secs {
                    c.session_expiry_secs = secs;
                }
                if d.reason_code.0 == 0 {
                    c.discarded = true;
                } else {
                    c.ended = Some((now, false));
                }
            }
            (true, _) => c.last_received = now,
            (false, Packet::Connack(a)) if a.reason_code.0 < 0x80 => {
                c.accepted = true;
                if let Some(id) = &a.properties.assigned_client_identifier {
                    c.client_id = id.clone();
                }
                if let Some(secs) = a.properties.server_keep_alive_secs {
                    c.keep_alive_secs = secs;
                }
                if let Some(secs) = a.properties.session_expiry_interval_secs {
                    c.session_expiry_secs = secs;
                }
                self.accepted.entry(c.client_id.clone()).or_default().push((now, c.clean_start));
            }
            _ => {}
        }
    }

    /// The broker's end of `conn` closed at `now`.
    pub fn closed(&mut self, now: Duration, conn: ConnectionId) {
        if let Some(c) = self.conns.get_mut(&conn) {
            if c.ended.is_none() {
                c.ended = Some((now, false));
            }
        }
    }

    /// The broker crashed at `now`: every connection it had ends, unjudged.
    pub fn crashed(&mut self, now: Duration) {
        self.crashes.push(now);
        for c in self.conns.values_mut() {
            if c.ended.is_none() {
                c.ended = Some((now, true));
            }
        }
    }

    /// The wills owed by `until` (due at or before it), as things stand at
    /// `now`. `dead` says whether the client's end of a still open
    /// connection can never send again (closed, or its pipe wedged): its
    /// keep-alive bound then ends it, even if that bound is still ahead.
    pub fn owed(&self, now: Duration, until: Duration, dead: impl Fn(ConnectionId) -> bool) -> Vec<OwedWill> {
        let mut out = Vec::new();
        for (id, c) in &self.conns {
            let Some(will) = c.will.as_ref().filter(|w| w.judged) else { continue };
            if !c.accepted || c.discarded {
                continue;
            }
            let bound = (c.keep_alive_secs > 0)
                .then(|| c.last_received + Duration::from_millis(u64::from(c.keep_alive_secs) * 1_500));
            let end = match (c.ended, bound) {
                (Some((at, _)), Some(b)) if b < at => Some((b, false)),
                (Some(ended), _) => Some(ended),
                (None, Some(b)) if b <= now || dead(*id) => Some((b, false)),
                (None, _) => None,
            };
            let Some((end, false)) = end else { continue };
            let due = match c.version {
                Version::V5 if will.delay_secs > 0 && c.session_expiry_secs > 0 => {
                    end + Duration::from_secs(u64::from(will.delay_secs.min(c.session_expiry_secs)))
                }
                _ => end,
            };
            if due > until {
                continue;
            }
            // The first connection accepted for the client id while the will
            // waits: resuming the session cancels it (5.0 MQTT-3.1.3-9), a
            // clean start ends the session and so sends it at once.
            let next = self.accepted.get(&c.client_id).and_then(|ts| ts.iter().find(|(t, _)| *t >= end && *t < due));
            let (due, cancelled) = match next {
                Some(&(t, true)) => (t, false),
                Some(_) => (due, true),
                None => (due, false),
            };
            let crashed_waiting = self.crashes.iter().any(|t| *t >= end && *t < due);
            if cancelled || crashed_waiting {
                continue;
            }
            out.push(OwedWill {
                endpoint: c.endpoint.clone(),
                topic: will.topic.clone(),
                payload: will.payload.clone(),
                qos: will.qos,
                due,
            });
        }
        out
    }
}
