//! Broker statistics ([`Stats`]) and the `$SYS/broker/...` topics they are
//! published on, as retained messages, every `sys_interval_secs`.

use serde::{Deserialize, Serialize};

/// Counters and gauges of the broker.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Clients with an accepted connection now.
    pub clients_connected: u64,
    /// Sessions held (connected or not).
    pub sessions: u64,
    /// Network connections ever opened.
    pub connections_total: u64,
    /// PUBLISH packets received from clients.
    pub messages_received: u64,
    /// PUBLISH packets sent to clients.
    pub messages_sent: u64,
    /// Messages dropped: queue full, expired, or over the client's maximum packet size.
    pub messages_dropped: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Retained messages held.
    pub retained_messages: u64,
    /// Subscriptions held over all sessions.
    pub subscriptions: u64,
}

impl Stats {
    /// The `$SYS` topics and their payloads, in a fixed order.
    pub fn sys_topics(&self) -> Vec<(&'static str, String)> {
        vec![
            ("$SYS/broker/clients/connected", self.clients_connected.to_string()),
            ("$SYS/broker/clients/total", self.sessions.to_string()),
            ("$SYS/broker/connections/total", self.connections_total.to_string()),
            ("$SYS/broker/messages/received", self.messages_received.to_string()),
            ("$SYS/broker/messages/sent", self.messages_sent.to_string()),
            ("$SYS/broker/messages/dropped", self.messages_dropped.to_string()),
            ("$SYS/broker/bytes/received", self.bytes_received.to_string()),
            ("$SYS/broker/bytes/sent", self.bytes_sent.to_string()),
            ("$SYS/broker/retained messages/count", self.retained_messages.to_string()),
            ("$SYS/broker/subscriptions/count", self.subscriptions.to_string()),
        ]
    }
}
