//! One pass over a trace that rebuilds what the history checkers reason
//! about, from the client endpoints' packets and the deliveries alone:
//! connections and sessions, publications (with their DUP resends and
//! acknowledgements), wills, subscriptions with the interval each was in
//! force, and the messages each client application received.
//!
//! Nothing here decides whether the broker was right; it only records what
//! the clients saw, with the trace position of every fact.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;

use crate::codec::{Packet, Qos, RetainHandling, TopicFilter, Will};
use crate::spec::Version;
use crate::trace::{ClosedBy, Dir, Endpoint, Event, EventKind};

/// A fact's position in the trace and its simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct At {
    /// Index in `trace.events()`.
    pub idx: usize,
    /// The event's time.
    pub at: Duration,
}

/// The CONNACK a client received.
#[derive(Debug, Clone, Copy)]
pub(super) struct ConnackSeen {
    pub at: At,
    pub session_present: bool,
    pub success: bool,
}

/// One client connection, from its CONNECT on.
#[derive(Debug, Clone)]
pub(super) struct Conn {
    pub endpoint: String,
    /// The session key: the client id, or the assigned one.
    pub key: String,
    pub version: Version,
    pub connect: At,
    pub clean_start: bool,
    /// How long the session outlives the connection; `None` is forever.
    pub session_expiry: Option<Duration>,
    pub will: Option<Will>,
    pub max_packet_size: Option<u32>,
    pub connack: Option<ConnackSeen>,
    /// The client's DISCONNECT and its reason code.
    pub disconnect: Option<(At, u8)>,
    /// A DISCONNECT the client received from the server.
    pub server_disconnect: Option<At>,
    pub closed: Option<At>,
    /// Who closed it, as the client saw it.
    pub closed_by: Option<ClosedBy>,
    /// Packets received on this connection, by time (for "still alive" evidence).
    pub received: Vec<At>,
    /// The session epoch this connection belongs to (set at a successful CONNACK).
    pub epoch: Option<u64>,
}

impl Conn {
    /// Whether the client ended this connection with a DISCONNECT that drops the will.
    pub fn normal_disconnect(&self) -> Option<At> {
        match self.disconnect {
            Some((at, rc)) if self.version == Version::V3_1_1 || rc != 0x04 => Some(at),
            _ => None,
        }
    }
}

/// Where a publication came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// A PUBLISH the client sent.
    Client,
    /// The will of a connection.
    Will,
}

/// One application message offered to the broker.
#[derive(Debug, Clone)]
pub(super) struct Publication {
    pub origin: Origin,
    /// The publisher's connection (for a will: the connection that carried it).
    pub conn: usize,
    /// The publisher's session key.
    pub key: String,
    /// First send (for a will: its connection's close, or CONNECT when never closed).
    pub first: At,
    /// Every send (first one and DUP resends), with the connection.
    pub sends: Vec<(At, usize)>,
    /// Sends the broker must take as a new message: the first, and every
    /// resend as a new PUBLISH (DUP 0, e.g. after the session was lost).
    pub fresh_sends: usize,
    pub topic: String,
    pub payload: Bytes,
    pub qos: Qos,
    pub retain: bool,
    pub expiry: Option<Duration>,
    pub bytes_len: usize,
    /// A successful PUBACK/PUBREC the publisher received.
    pub acked: Option<At>,
    /// A PUBACK/PUBREC with a failure reason code.
    pub rejected: bool,
}

/// A subscription as the client asked for it, and how long it was in force.
#[derive(Debug, Clone)]
pub(super) struct Sub {
    pub key: String,
    pub epoch: u64,
    pub conn: usize,
    pub filter: TopicFilter,
    pub no_local: bool,
    pub rap: bool,
    pub rh: RetainHandling,
    pub subscribe: At,
    /// SUBACK receipt and the granted QoS (`None`: refused).
    pub acked: Option<(At, Option<Qos>)>,
    /// Whether the same filter was in force (acknowledged) in the session when subscribed.
    pub existed_before: bool,
    pub unsubscribe_sent: Option<At>,
    pub unsubscribed: Option<At>,
}

impl Sub {
    /// Not refused by the SUBACK.
    pub fn possible(&self) -> bool {
        !matches!(self.acked, Some((_, None)))
    }

    /// Acknowledged with a granted QoS: its receipt and the QoS.
    pub fn granted(&self) -> Option<(At, Qos)> {
        match self.acked {
            Some((at, Some(qos))) => Some((at, qos)),
            _ => None,
        }
    }

    /// Whether the filter matches `topic`.
    pub fn matches(&self, topic: &str) -> bool {
        crate::codec::filter_matches(self.filter.matching_part(), topic)
    }

    pub fn shared(&self) -> bool {
        self.filter.shared().is_some()
    }
}

/// One SUBSCRIBE a client sent.
#[derive(Debug, Clone)]
pub(super) struct SubscribeReq {
    pub conn: usize,
    pub at: At,
    pub subs: Vec<usize>,
}

/// A message handed to a client application.
#[derive(Debug, Clone)]
pub(super) struct Delivered {
    pub at: At,
    /// The PUBLISH the client received for it, when the trace has it.
    pub recv: Option<At>,
    pub endpoint: String,
    pub key: String,
    pub conn: Option<usize>,
    pub topic: String,
    pub payload: Bytes,
    pub qos: u8,
    pub retain: bool,
    pub dup: bool,
    /// The packet id of the PUBLISH it came in (QoS > 0).
    pub pid: Option<u16>,
}

impl Delivered {
    /// When the client received it (the PUBLISH, else the delivery itself).
    pub fn recv_at(&self) -> Duration {
        self.recv.map_or(self.at.at, |r| r.at)
    }

    /// Where in the trace the client received it (the PUBLISH, else the delivery).
    pub fn received(&self) -> At {
        self.recv.unwrap_or(self.at)
    }
}

/// A received PUBLISH not yet matched with a delivery.
#[derive(Debug, Clone)]
struct Incoming {
    at: At,
    conn: usize,
    topic: String,
    payload: Bytes,
    dup: bool,
    pid: Option<u16>,
    linked: bool,
}

/// A fault event and the words of its description (endpoint names among them).
#[derive(Debug, Clone)]
pub(super) struct FaultSeen {
    pub at: At,
    pub words: Vec<String>,
}

impl FaultSeen {
    /// Whether the fault names `endpoint` (its link, its silence, its close).
    pub fn names(&self, endpoint: &str) -> bool {
        self.words.iter().any(|w| w == endpoint)
    }
}

/// Everything the checkers need, rebuilt from a trace.
#[derive(Debug, Default)]
pub(super) struct History {
    pub conns: Vec<Conn>,
    pub pubs: Vec<Publication>,
    pub subs: Vec<Sub>,
    pub requests: Vec<SubscribeReq>,
    pub deliveries: Vec<Delivered>,
    /// Fault events that crash or restart the broker.
    pub crashes: Vec<At>,
    /// Every fault event.
    pub faults: Vec<FaultSeen>,
    /// Oversized packets a client received: (packet, connection).
    pub received_sizes: Vec<(At, usize, usize)>,
    /// Time of the last event.
    pub end: Duration,
    /// Index one past the last event.
    pub len: usize,
}

#[derive(Default)]
struct Builder {
    h: History,
    /// (endpoint, conn number) → connection index.
    by_conn: BTreeMap<(Endpoint, u64), usize>,
    /// endpoint → its latest connection.
    current: BTreeMap<String, usize>,
    /// session key → epoch counter.
    epochs: BTreeMap<String, u64>,
    /// (key, packet id) → publication awaiting PUBACK/PUBREC.
    outstanding: BTreeMap<(String, u16), usize>,
    /// (connection, packet id) → SUBSCRIBE record.
    pending_sub: BTreeMap<(usize, u16), usize>,
    /// (connection, packet id) → subs an UNSUBSCRIBE removes.
    pending_unsub: BTreeMap<(usize, u16), Vec<usize>>,
    /// (connection, direction) → topic alias map.
    aliases: BTreeMap<(usize, bool), BTreeMap<u16, String>>,
    incoming: BTreeMap<String, Vec<Incoming>>,
}

/// Rebuilds the history of `events`.
pub(super) fn build(events: &[Event]) -> History {
    let mut b = Builder::default();
    for (idx, event) in events.iter().enumerate() {
        let at = At { idx, at: event.at };
        match &event.kind {
            EventKind::Packet { endpoint, conn, dir, packet, bytes_len } => {
                b.packet(at, endpoint, *conn, *dir, packet, *bytes_len);
            }
            EventKind::Closed { endpoint, conn, by } => {
                if let Some(&c) = b.by_conn.get(&(endpoint.clone(), *conn)) {
                    let conn_rec = &mut b.h.conns[c];
                    if conn_rec.closed.is_none() {
                        conn_rec.closed = Some(at);
                        conn_rec.closed_by = Some(*by);
                    }
                }
            }
            EventKind::Fault { description } => {
                b.h.faults.push(FaultSeen { at, words: description.split_whitespace().map(str::to_owned).collect() });
                if description.starts_with("crash broker") || description.starts_with("restart broker") {
                    b.h.crashes.push(at);
                }
            }
            EventKind::Delivery { client, topic, qos, retain, payload, .. } => {
                b.delivery(at, client, topic, *qos, *retain, payload);
            }
            _ => {}
        }
    }
    b.h.end = events.last().map_or(Duration::ZERO, |e| e.at);
    b.h.len = events.len();
    b.add_wills();
    b.h
}

impl Builder {
    fn packet(&mut self, at: At, endpoint: &Endpoint, conn: u64, dir: Dir, packet: &Packet, bytes_len: usize) {
        if let (Dir::Sent, Packet::Connect(connect)) = (dir, packet) {
            let version = connect.version;
            let session_expiry = match version {
                Version::V3_1_1 => (connect.clean_start).then_some(Duration::ZERO),
                Version::V5 => expiry(connect.properties.session_expiry_interval_secs.unwrap_or(0)),
            };
            let c = self.h.conns.len();
            self.h.conns.push(Conn {
                endpoint: endpoint.to_string(),
                key: connect.client_id.clone(),
                version,
                connect: at,
                clean_start: connect.clean_start,
                session_expiry,
                will: connect.will.clone(),
                max_packet_size: connect.properties.maximum_packet_size,
                connack: None,
                disconnect: None,
                server_disconnect: None,
                closed: None,
                closed_by: None,
                received: Vec::new(),
                epoch: None,
            });
            self.by_conn.insert((endpoint.clone(), conn), c);
            self.current.insert(endpoint.to_string(), c);
            return;
        }
        let Some(&c) = self.by_conn.get(&(endpoint.clone(), conn)) else { return };
        if dir == Dir::Received {
            self.h.conns[c].received.push(at);
            self.h.received_sizes.push((at, c, bytes_len));
        }
        let key = self.h.conns[c].key.clone();
        match (dir, packet) {
            (Dir::Received, Packet::Connack(connack)) => {
                let success = connack.reason_code.0 < 0x80;
                let conn_rec = &mut self.h.conns[c];
                if conn_rec.key.is_empty() {
                    if let Some(assigned) = &connack.properties.assigned_client_identifier {
                        conn_rec.key = assigned.clone();
                    }
                }
                conn_rec.connack = Some(ConnackSeen { at, session_present: connack.session_present, success });
                if success {
                    let key = conn_rec.key.clone();
                    let epoch = self.epochs.entry(key.clone()).or_insert(0);
                    if !connack.session_present {
                        *epoch += 1;
                        self.outstanding.retain(|(k, _), _| *k != key);
                    }
                    self.h.conns[c].epoch = Some(*epoch);
                }
            }
            (Dir::Sent, Packet::Publish(publish)) => {
                let topic = self.alias(c, true, publish.topic.as_str(), publish.properties.topic_alias);
                let pid = publish.packet_id().map(|p| p.get());
                if publish.dup {
                    if let Some(&p) = pid.and_then(|pid| self.outstanding.get(&(key.clone(), pid))) {
                        let known = &mut self.h.pubs[p];
                        if known.payload == publish.payload && known.topic == topic {
                            known.sends.push((at, c));
                            return;
                        }
                    }
                }
                // The application publishing the same message again as a new
                // PUBLISH (its session lost, it starts over): one publication
                // with one more fresh send.
                let again = self.h.pubs.iter().rposition(|known| {
                    known.origin == Origin::Client
                        && known.key == key
                        && known.acked.is_none()
                        && !known.rejected
                        && known.topic == topic
                        && known.payload == publish.payload
                });
                if let Some(p) = again {
                    let known = &mut self.h.pubs[p];
                    known.sends.push((at, c));
                    known.fresh_sends += 1;
                    if let Some(pid) = pid {
                        self.outstanding.insert((key, pid), p);
                    }
                    return;
                }
                let p = self.h.pubs.len();
                self.h.pubs.push(Publication {
                    origin: Origin::Client,
                    conn: c,
                    key: key.clone(),
                    first: at,
                    sends: vec![(at, c)],
                    fresh_sends: 1,
                    topic,
                    payload: publish.payload.clone(),
                    qos: publish.qos(),
                    retain: publish.retain,
                    expiry: publish.properties.message_expiry_interval_secs.map(|s| Duration::from_secs(s.into())),
                    bytes_len,
                    acked: None,
                    rejected: false,
                });
                if let Some(pid) = pid {
                    self.outstanding.insert((key, pid), p);
                }
            }
            (Dir::Received, Packet::Puback(ack)) | (Dir::Received, Packet::Pubrec(ack)) => {
                let want = if matches!(packet, Packet::Puback(_)) { Qos::AtLeastOnce } else { Qos::ExactlyOnce };
                let slot = (key, ack.packet_id.get());
                if let Some(&p) = self.outstanding.get(&slot) {
                    if self.h.pubs[p].qos == want {
                        self.outstanding.remove(&slot);
                        let publication = &mut self.h.pubs[p];
                        if ack.reason_code.0 < 0x80 {
                            publication.acked.get_or_insert(at);
                        } else {
                            publication.rejected = true;
                        }
                    }
                }
            }
            (Dir::Sent, Packet::Subscribe(subscribe)) => {
                let epoch = self.h.conns[c].epoch.unwrap_or(0);
                let request = self.h.requests.len();
                let mut ids = Vec::new();
                // Subscriptions an UNSUBSCRIBE sent earlier (UNSUBACK not yet
                // received) may already have removed: the broker handles it
                // before this SUBSCRIBE when both went on this connection.
                let unsubscribing: Vec<usize> = self.pending_unsub.values().flatten().copied().collect();
                // A CONNECT of this session key sent after `granted` that
                // never got its CONNACK: the broker may have processed it and
                // begun a new, empty session (e.g. the old one had expired)
                // that a later CONNACK with session present 1 resumed.
                let conns = &self.h.conns;
                let maybe_reset = |granted: At| {
                    conns.iter().enumerate().any(|(o, other)| {
                        o != c && other.key == key && other.connack.is_none() && other.connect.idx > granted.idx
                    })
                };
                for entry in &subscribe.subscriptions {
                    let existed_before = self.h.subs.iter().enumerate().any(|(i, s)| {
                        s.key == key
                            && s.epoch == epoch
                            && s.filter == entry.filter
                            && s.granted().is_some_and(|(granted, _)| !maybe_reset(granted))
                            && s.unsubscribed.is_none()
                            && !unsubscribing.contains(&i)
                    });
                    // Re-subscribing replaces the old subscription once the
                    // broker handles this SUBSCRIBE (possibly at a lower QoS),
                    // which may be long before its SUBACK reaches the client.
                    for old in self.h.subs.iter_mut() {
                        if old.key == key
                            && old.epoch == epoch
                            && old.filter == entry.filter
                            && old.unsubscribed.is_none()
                        {
                            old.unsubscribe_sent.get_or_insert(at);
                        }
                    }
                    ids.push(self.h.subs.len());
                    self.h.subs.push(Sub {
                        key: key.clone(),
                        epoch,
                        conn: c,
                        filter: entry.filter.clone(),
                        no_local: entry.options.no_local,
                        rap: entry.options.retain_as_published,
                        rh: entry.options.retain_handling,
                        subscribe: at,
                        acked: None,
                        existed_before,
                        unsubscribe_sent: None,
                        unsubscribed: None,
                    });
                }
                self.h.requests.push(SubscribeReq { conn: c, at, subs: ids });
                self.pending_sub.insert((c, subscribe.packet_id.get()), request);
            }
            (Dir::Received, Packet::Suback(suback)) => {
                if let Some(request) = self.pending_sub.remove(&(c, suback.packet_id.get())) {
                    let ids = self.h.requests[request].subs.clone();
                    for (i, s) in ids.into_iter().enumerate() {
                        let granted = suback.reason_codes.get(i).and_then(|rc| Qos::from_u8(rc.0));
                        self.h.subs[s].acked = Some((at, granted));
                        if granted.is_some() {
                            // A new SUBSCRIBE for the same filter replaces the old one.
                            let filter = self.h.subs[s].filter.clone();
                            let epoch = self.h.subs[s].epoch;
                            for (o, old) in self.h.subs.iter_mut().enumerate() {
                                if o < s && old.key == key && old.epoch == epoch && old.filter == filter {
                                    old.unsubscribed.get_or_insert(at);
                                }
                            }
                        }
                    }
                }
            }
            (Dir::Sent, Packet::Unsubscribe(unsubscribe)) => {
                let epoch = self.h.conns[c].epoch.unwrap_or(0);
                let mut removed = Vec::new();
                for (s, sub) in self.h.subs.iter_mut().enumerate() {
                    if sub.key == key
                        && sub.epoch == epoch
                        && sub.unsubscribed.is_none()
                        && unsubscribe.filters.contains(&sub.filter)
                    {
                        sub.unsubscribe_sent.get_or_insert(at);
                        removed.push(s);
                    }
                }
                self.pending_unsub.insert((c, unsubscribe.packet_id.get()), removed);
            }
            (Dir::Received, Packet::Unsuback(unsuback)) => {
                if let Some(removed) = self.pending_unsub.remove(&(c, unsuback.packet_id.get())) {
                    for s in removed {
                        self.h.subs[s].unsubscribed.get_or_insert(at);
                    }
                }
            }
            (Dir::Received, Packet::Publish(publish)) => {
                let topic = self.alias(c, false, publish.topic.as_str(), publish.properties.topic_alias);
                self.incoming.entry(self.h.conns[c].endpoint.clone()).or_default().push(Incoming {
                    at,
                    conn: c,
                    topic,
                    payload: publish.payload.clone(),
                    dup: publish.dup,
                    pid: publish.packet_id().map(|p| p.get()),
                    linked: false,
                });
            }
            (Dir::Sent, Packet::Disconnect(disconnect)) => {
                let conn_rec = &mut self.h.conns[c];
                conn_rec.disconnect.get_or_insert((at, disconnect.reason_code.0));
                if let Some(secs) = disconnect.properties.session_expiry_interval_secs {
                    conn_rec.session_expiry = expiry(secs);
                }
            }
            (Dir::Received, Packet::Disconnect(_)) => {
                self.h.conns[c].server_disconnect.get_or_insert(at);
            }
            _ => {}
        }
    }

    /// Resolves a 5.0 topic alias on one direction of a connection.
    fn alias(&mut self, c: usize, sent: bool, topic: &str, alias: Option<u16>) -> String {
        let Some(alias) = alias else { return topic.to_owned() };
        let map = self.aliases.entry((c, sent)).or_default();
        if topic.is_empty() {
            map.get(&alias).cloned().unwrap_or_default()
        } else {
            map.insert(alias, topic.to_owned());
            topic.to_owned()
        }
    }

    fn delivery(&mut self, at: At, client: &str, topic: &str, qos: u8, retain: bool, payload: &Bytes) {
        let conn = self.current.get(client).copied();
        let mut recv = None;
        if let Some(list) = self.incoming.get_mut(client) {
            if let Some(incoming) =
                list.iter_mut().rev().find(|i| !i.linked && i.topic == topic && i.payload == *payload)
            {
                incoming.linked = true;
                recv = Some(incoming.clone());
            }
        }
        let conn = recv.as_ref().map(|r| r.conn).or(conn);
        let key = conn.map_or_else(|| client.to_owned(), |c| self.h.conns[c].key.clone());
        self.h.deliveries.push(Delivered {
            at,
            recv: recv.as_ref().map(|r| r.at),
            endpoint: client.to_owned(),
            key,
            conn,
            topic: topic.to_owned(),
            payload: payload.clone(),
            qos,
            retain,
            dup: recv.as_ref().is_some_and(|r| r.dup),
            pid: recv.as_ref().and_then(|r| r.pid),
        });
    }

    /// Adds one publication per connection that carried a will.
    fn add_wills(&mut self) {
        for (c, conn) in self.h.conns.iter().enumerate() {
            let Some(will) = &conn.will else { continue };
            let first = conn.closed.unwrap_or(conn.connect);
            self.h.pubs.push(Publication {
                origin: Origin::Will,
                conn: c,
                key: conn.key.clone(),
                first,
                sends: Vec::new(),
                fresh_sends: 1,
                topic: will.topic.as_str().to_owned(),
                payload: will.payload.clone(),
                qos: will.qos,
                retain: will.retain,
                expiry: will.properties.message_expiry_interval_secs.map(|s| Duration::from_secs(s.into())),
                bytes_len: 0,
                acked: None,
                rejected: false,
            });
        }
    }
}

/// A session expiry interval in seconds; 0xFFFFFFFF never expires.
fn expiry(secs: u32) -> Option<Duration> {
    (secs != u32::MAX).then(|| Duration::from_secs(secs.into()))
}
