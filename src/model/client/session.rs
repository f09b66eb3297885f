//! The client's side of the session: outgoing QoS 1/2 messages in flight
//! (in their original send order), messages not yet sent, and the packet
//! ids of incoming QoS 2 messages not yet released.

use std::collections::{BTreeSet, VecDeque};

use bytes::Bytes;

use crate::codec::{PacketId, Properties, Publish, Qos, Subscription, TopicFilter, TopicName};

/// Where an outgoing QoS 1/2 message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutState {
    /// PUBLISH sent; waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
    AwaitingAck,
    /// PUBREL sent; waiting for PUBCOMP.
    AwaitingComp,
}

/// An outgoing QoS 1/2 message with its packet id.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing {
    /// The application sequence number `publish` returned.
    pub seq: u64,
    /// The PUBLISH as first sent (DUP clear); its packet id is the flow's id.
    pub publish: Publish,
    pub state: OutState,
}

impl Outgoing {
    pub fn id(&self) -> PacketId {
        self.publish.packet_id().expect("only QoS 1/2 messages are in flight")
    }
}

/// An application message not yet sent.
#[derive(Debug, Clone)]
pub(crate) struct PendingPublish {
    pub seq: u64,
    pub topic: TopicName,
    pub payload: Bytes,
    pub qos: Qos,
    pub retain: bool,
    pub properties: Properties,
}

impl PendingPublish {
    /// A message in flight turned back into a new one (its packet id is freed).
    pub fn from_outgoing(outgoing: Outgoing) -> PendingPublish {
        let Publish { qos_pid, retain, topic, properties, payload, .. } = outgoing.publish;
        PendingPublish { seq: outgoing.seq, topic, payload, qos: qos_pid.qos(), retain, properties }
    }
}

/// A SUBSCRIBE or UNSUBSCRIBE the application asked for.
#[derive(Debug, Clone)]
pub(crate) enum Command {
    Subscribe { subscriptions: Vec<Subscription>, properties: Box<Properties> },
    Unsubscribe { filters: Vec<TopicFilter> },
}

/// A command sent and waiting for its SUBACK or UNSUBACK.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub id: PacketId,
    pub command: Command,
}

/// The session state the client keeps (MQTT 3.1.1 section 4.1, 5.0 section 4.1).
#[derive(Debug, Clone)]
pub(crate) struct ClientSession {
    /// Outgoing QoS 1/2 messages not yet complete, in original send order.
    pub inflight: Vec<Outgoing>,
    /// Application messages not yet sent, in the order they were published.
    pub pending: VecDeque<PendingPublish>,
    /// Incoming QoS 2 packet ids answered with PUBREC and not yet released.
    pub incoming_qos2: BTreeSet<PacketId>,
    /// Where the search for a free packet id starts.
    pub next_id: PacketId,
}

impl Default for ClientSession {
    fn default() -> ClientSession {
        ClientSession {
            inflight: Vec::new(),
            pending: VecDeque::new(),
            incoming_qos2: BTreeSet::new(),
            next_id: PacketId::new(1).expect("1 is a packet id"),
        }
    }
}

impl ClientSession {
    /// Whether any state is held that a server must match (messages in
    /// flight or incoming QoS 2 ids).
    pub fn holds_state(&self) -> bool {
        !self.inflight.is_empty() || !self.incoming_qos2.is_empty()
    }

    /// The position of the in-flight message with `id` in `state`.
    pub fn find(&self, id: PacketId, state: OutState) -> Option<usize> {
        self.inflight.iter().position(|o| o.state == state && o.id() == id)
    }
}
