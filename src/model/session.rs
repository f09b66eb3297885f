//! Session state: what survives a disconnect. Subscriptions, outgoing QoS 1/2
//! messages in flight and queued, incoming QoS 2 packet ids not yet released,
//! and the expiry settings. Everything here is `Clone + Serialize +
//! Deserialize`, so a durable store can snapshot and restore sessions.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::codec::{PacketId, Properties, Qos, SubscriptionOptions, TopicFilter, TopicName};
use crate::spec::Version;

/// Session expiry meaning "never" (3.1.1 clean session 0, 5.0 0xFFFFFFFF).
pub const NEVER_EXPIRES: u32 = u32::MAX;

/// An application message as the broker holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// The topic it was published to.
    pub topic: TopicName,
    /// The payload.
    #[serde(with = "crate::codec::serde_payload")]
    pub payload: Bytes,
    /// The QoS it was published with.
    pub qos: Qos,
    /// The RETAIN flag it was published with.
    pub retain: bool,
    /// Properties forwarded unchanged: payload format indicator, content
    /// type, response topic, correlation data, user properties (in order).
    #[serde(default, skip_serializing_if = "Properties::is_empty")]
    pub properties: Properties,
    /// When the message expires (absolute, on the broker's clock), if it has
    /// a Message Expiry Interval.
    #[serde(default)]
    pub expires_at: Option<Duration>,
    /// The client id of the publisher (for No Local); none for wills' own
    /// session-less publication and `$SYS`.
    #[serde(default)]
    pub publisher: Option<String>,
}

impl Message {
    /// Whether the message's expiry interval has passed at `now`.
    pub fn expired(&self, now: Duration) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }

    /// The remaining expiry interval in whole seconds (rounded up, at least 1).
    pub fn remaining_expiry_secs(&self, now: Duration) -> Option<u32> {
        let at = self.expires_at?;
        let left = at.saturating_sub(now);
        let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
        Some(secs.clamp(1, u64::from(u32::MAX)) as u32)
    }
}

/// One copy of a message on its way to one session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The message.
    pub message: Message,
    /// The QoS it is delivered with: min(published, granted).
    pub qos: Qos,
    /// The RETAIN flag it is delivered with.
    pub retain: bool,
    /// Subscription identifiers of the subscriptions it matched.
    #[serde(default)]
    pub subscription_ids: Vec<u32>,
    /// Whether it reached this session through a shared subscription.
    #[serde(default)]
    pub shared: bool,
}

/// Where an outgoing QoS 1/2 message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InflightState {
    /// QoS 1 PUBLISH sent, waiting for PUBACK.
    AwaitPuback,
    /// QoS 2 PUBLISH sent, waiting for PUBREC.
    AwaitPubrec,
    /// PUBREL sent, waiting for PUBCOMP.
    AwaitPubcomp,
}

/// An outgoing QoS 1/2 message that has a packet id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inflight {
    /// Its packet id, unique among the session's inflight messages.
    pub packet_id: PacketId,
    /// The message and how it is delivered.
    pub delivery: Delivery,
    /// Where the exchange stands.
    pub state: InflightState,
}

/// One subscription of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionEntry {
    /// The filter as subscribed (possibly `$share/group/...`).
    pub filter: TopicFilter,
    /// The options, with `qos` being the granted QoS.
    pub options: SubscriptionOptions,
    /// The Subscription Identifier (5.0), if any.
    #[serde(default)]
    pub identifier: Option<u32>,
}

/// What enqueueing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnqueueOutcome {
    /// Queued.
    Queued,
    /// Queued after dropping the oldest queued QoS 0 message.
    QueuedDroppingQos0,
    /// The queue is full of QoS 1/2 messages: the new message was refused.
    Refused,
}

/// Everything the broker keeps for one client id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The client id: the key of the session.
    pub client_id: String,
    /// The protocol version of the latest connection.
    pub version: Version,
    /// Subscriptions by filter.
    #[serde(default)]
    pub subscriptions: BTreeMap<TopicFilter, SubscriptionEntry>,
    /// Outgoing QoS 1/2 messages with a packet id, oldest first.
    #[serde(default)]
    pub inflight: VecDeque<Inflight>,
    /// Messages waiting for the inflight window (or for the client to return).
    #[serde(default)]
    pub queue: VecDeque<Delivery>,
    /// Incoming QoS 2 packet ids received but not released; the message is
    /// kept here when QoS 2 is forwarded on PUBREL.
    #[serde(default)]
    pub incoming_qos2: BTreeMap<PacketId, Option<Message>>,
    /// The next packet id to try.
    pub next_packet_id: PacketId,
    /// Session Expiry Interval in seconds ([`NEVER_EXPIRES`] = never).
    pub expiry_interval_secs: u32,
    /// When the session's last connection closed; `None` while connected
    /// (and for a freshly restored session until the broker sees time).
    #[serde(default)]
    pub offline_since: Option<Duration>,
}

impl Session {
    /// A fresh, empty session.
    pub fn new(client_id: String, version: Version, expiry_interval_secs: u32) -> Session {
        Session {
            client_id,
            version,
            subscriptions: BTreeMap::new(),
            inflight: VecDeque::new(),
            queue: VecDeque::new(),
            incoming_qos2: BTreeMap::new(),
            next_packet_id: PacketId::new(1).expect("1 is non-zero"),
            expiry_interval_secs,
            offline_since: None,
        }
    }

    /// When the session expires, if it is offline and expires at all.
    pub fn expires_at(&self) -> Option<Duration> {
        let since = self.offline_since?;
        (self.expiry_interval_secs != NEVER_EXPIRES)
            .then(|| since + Duration::from_secs(u64::from(self.expiry_interval_secs)))
    }

    /// Allocates a packet id not used by any inflight message.
    pub fn allocate_packet_id(&mut self) -> Option<PacketId> {
        let mut id = self.next_packet_id;
        for _ in 0..u16::MAX {
            if !self.inflight.iter().any(|m| m.packet_id == id) {
                self.next_packet_id = id.next();
                return Some(id);
            }
            id = id.next();
        }
        None
    }

    /// Queues a delivery, bounded by `limit`: when full, the oldest QoS 0
    /// message is dropped to make room, and if there is none the new
    /// delivery is refused (a new QoS 0 delivery is refused outright).
    pub fn enqueue(&mut self, delivery: Delivery, limit: usize, now: Duration) -> EnqueueOutcome {
        if self.queue.len() >= limit {
            self.queue.retain(|d| !d.message.expired(now));
        }
        if self.queue.len() < limit {
            self.queue.push_back(delivery);
            return EnqueueOutcome::Queued;
        }
        if delivery.qos == Qos::AtMostOnce {
            return EnqueueOutcome::Refused;
        }
        match self.queue.iter().position(|d| d.qos == Qos::AtMostOnce) {
            Some(i) => {
                self.queue.remove(i);
                self.queue.push_back(delivery);
                EnqueueOutcome::QueuedDroppingQos0
            }
            None => EnqueueOutcome::Refused,
        }
    }
}
