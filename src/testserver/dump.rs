//! The packet dump (JSON lines) and the run statistics.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::codec::{DecodeError, Packet};
use crate::model::ConnectionId;

/// Which way a packet went, seen from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the client to the server.
    In,
    /// From the server to the client.
    Out,
}

impl Direction {
    /// `in` or `out`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
        }
    }
}

/// One line of the packet dump.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DumpRecord {
    /// Seconds since the server started, as given by `now` (simulated or wall).
    pub time_s: f64,
    /// The connection.
    pub conn: u64,
    /// The direction.
    pub dir: Direction,
    /// The decoded packet: payloads are UTF-8 text when valid and
    /// `{"hex": ...}` otherwise; `payload_json` holds the payload parsed as
    /// JSON when it is JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub packet: Option<serde_json::Value>,
    /// The bytes in hex, for packets that do not decode or were written raw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_hex: Option<String>,
    /// Why the bytes did not decode, or what a raw packet was meant to be.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl DumpRecord {
    /// A record of a decoded packet.
    pub fn packet(now: Duration, conn: ConnectionId, dir: Direction, packet: &Packet) -> DumpRecord {
        DumpRecord {
            time_s: now.as_secs_f64(),
            conn: conn.0,
            dir,
            packet: Some(packet_json(packet)),
            raw_hex: None,
            note: None,
        }
    }

    /// A record of bytes that did not decode (or were written raw on purpose).
    pub fn raw(now: Duration, conn: ConnectionId, dir: Direction, bytes: &[u8], note: String) -> DumpRecord {
        DumpRecord {
            time_s: now.as_secs_f64(),
            conn: conn.0,
            dir,
            packet: None,
            raw_hex: Some(hex(bytes)),
            note: Some(note),
        }
    }

    /// A record of bytes that failed to decode.
    pub fn undecodable(
        now: Duration,
        conn: ConnectionId,
        dir: Direction,
        bytes: &[u8],
        error: &DecodeError,
    ) -> DumpRecord {
        DumpRecord::raw(now, conn, dir, bytes, error.to_string())
    }

    /// The record as one JSON line (no newline).
    pub fn to_json_line(&self) -> String {
        serde_json::to_string(self).expect("dump records always serialize")
    }
}

/// `packet` as JSON, with `payload_json` added when the payload is JSON.
pub fn packet_json(packet: &Packet) -> serde_json::Value {
    let mut value = serde_json::to_value(packet).expect("packets always serialize");
    if let Packet::Publish(publish) = packet {
        if let Ok(parsed) = serde_json::from_slice::<serde_json::Value>(&publish.payload) {
            if let Some(object) = value.as_object_mut() {
                object.insert("payload_json".into(), parsed);
            }
        }
    }
    value
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Counters of a test-server run, reported at exit.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Stats {
    /// Connections opened.
    pub connections: u64,
    /// Packets per direction and type, e.g. `"in"` → `"PUBLISH"` → 3.
    pub packets: BTreeMap<&'static str, BTreeMap<String, u64>>,
    /// Bytes that did not decode, per direction.
    pub undecodable: BTreeMap<&'static str, u64>,
    /// Acknowledgements swallowed by `never_ack` or dropped by a close.
    pub dropped: u64,
    /// Client-side statement violations found.
    pub violations: u64,
}

impl Stats {
    /// Counts one packet.
    pub fn count(&mut self, dir: Direction, name: &str) {
        *self.packets.entry(dir.as_str()).or_default().entry(name.to_string()).or_default() += 1;
    }

    /// The stats as text lines.
    pub fn to_text(&self) -> String {
        let mut out = format!("connections: {}\n", self.connections);
        for (dir, types) in &self.packets {
            let list: Vec<String> = types.iter().map(|(t, n)| format!("{t} {n}")).collect();
            out.push_str(&format!("packets {dir}: {}\n", list.join(", ")));
        }
        for (dir, n) in &self.undecodable {
            out.push_str(&format!("undecodable {dir}: {n}\n"));
        }
        out.push_str(&format!("dropped by behaviours: {}\n", self.dropped));
        out.push_str(&format!("violations: {}\n", self.violations));
        out
    }
}
