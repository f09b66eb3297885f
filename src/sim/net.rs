//! [`Network`]: a simulated network of named endpoints joined by TCP-like
//! connections.
//!
//! Each connection has two one-way pipes (client → server and server →
//! client). A segment sent into a pipe arrives after a latency drawn from the
//! "latency" stream within the link's range, never before an earlier segment
//! of the same pipe (delivery order is preserved, as in TCP).
//!
//! Faults, with turmoil's semantics (see `turmoil-notes.md`):
//! - a partition (both ways or one way) loses every segment sent into, or
//!   arriving through, a partitioned link, and wedges that pipe forever:
//!   there is no retransmit, so later segments (and the close) are lost too,
//!   even after the link heals. New connections work again after a heal.
//!   When the liveness phase heals everything, the world resets the client
//!   end of such connections ([`Network::wedged_conns`]), standing in for
//!   TCP's retransmission timeout; the broker end is left for the broker's
//!   keep-alive (or a takeover) to find.
//! - hold delays segments without losing them; release sends them on, in
//!   order, each with a fresh latency.
//! - connecting across a partition fails at once.
//!
//! The network never looks at the bytes, and owns no clock or queue: it
//! answers "when does this segment arrive, if ever" and the world schedules
//! the [`Arrival`].

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::rng::Stream;
use crate::model::ConnectionId;
use crate::trace::Endpoint;

/// Which end of a connection: the side that connected or the side that accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The end that called connect (a client).
    Connector,
    /// The end that accepted (the broker).
    Acceptor,
}

impl Side {
    /// The other end.
    pub const fn peer(self) -> Side {
        match self {
            Side::Connector => Side::Acceptor,
            Side::Acceptor => Side::Connector,
        }
    }

    const fn index(self) -> usize {
        match self {
            Side::Connector => 0,
            Side::Acceptor => 1,
        }
    }
}

/// What travels through a pipe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// The connection is established (the acceptor learns of it).
    Open,
    /// Bytes, as one write.
    Data(Vec<u8>),
    /// The sender closed its socket (end of stream).
    Fin,
}

/// A segment due at one end of a connection at a simulated time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// When it arrives.
    pub at: Duration,
    /// The connection.
    pub conn: ConnectionId,
    /// The end it arrives at.
    pub to: Side,
    /// What arrives.
    pub segment: Segment,
}

/// Why a connect failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    /// The link is partitioned in at least one direction.
    Partitioned,
}

/// A latency range in whole milliseconds, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatencyMs {
    /// Lowest latency.
    pub min_ms: u64,
    /// Highest latency.
    pub max_ms: u64,
}

impl Default for LatencyMs {
    fn default() -> Self {
        LatencyMs { min_ms: 1, max_ms: 5 }
    }
}

/// The state of one direction of a link between two endpoints.
#[derive(Debug, Clone, Copy, Default)]
struct Link {
    partitioned: bool,
    held: bool,
    latency: Option<LatencyMs>,
}

#[derive(Debug, Default)]
struct Pipe {
    wedged: bool,
    /// The arrival time of the last segment scheduled through this pipe.
    last_arrival: Duration,
    held: VecDeque<Segment>,
}

#[derive(Debug)]
struct Conn {
    /// The endpoints' numbers (see `Network::names`), indexed by side.
    ends: [usize; 2],
    /// Indexed by the sending side.
    pipes: [Pipe; 2],
    /// Whether each end's socket is closed (it sends nothing more).
    closed: [bool; 2],
}

/// What happened to a segment handed to [`Network::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// It will arrive.
    Scheduled(Arrival),
    /// It waits for a release.
    Held,
    /// It is lost (partition, wedged pipe, or a closed socket).
    Lost,
}

/// The simulated network. See the module documentation.
#[derive(Debug)]
pub struct Network {
    default_latency: LatencyMs,
    /// Endpoint names, numbered in the order they were first seen.
    names: Vec<Endpoint>,
    /// Endpoint numbers by name.
    ids: BTreeMap<String, usize>,
    /// Keyed by (from, to) endpoint numbers.
    links: BTreeMap<(usize, usize), Link>,
    conns: BTreeMap<ConnectionId, Conn>,
    next_conn: u64,
}

impl Network {
    /// A network whose links all have `default_latency` until told otherwise.
    pub fn new(default_latency: LatencyMs) -> Network {
        Network {
            default_latency,
            names: Vec::new(),
            ids: BTreeMap::new(),
            links: BTreeMap::new(),
            conns: BTreeMap::new(),
            next_conn: 1,
        }
    }

    /// The number of endpoint `name`, given one if it has none yet.
    fn id(&mut self, name: &str) -> usize {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len();
        self.names.push(Endpoint::new(name));
        self.ids.insert(name.to_owned(), id);
        id
    }

    fn link(&self, from: usize, to: usize) -> Link {
        self.links.get(&(from, to)).copied().unwrap_or_default()
    }

    fn link_mut(&mut self, from: &str, to: &str) -> &mut Link {
        let key = (self.id(from), self.id(to));
        self.links.entry(key).or_default()
    }

    /// Whether segments from `from` to `to` are lost.
    pub fn is_partitioned(&self, from: &str, to: &str) -> bool {
        match (self.ids.get(from), self.ids.get(to)) {
            (Some(f), Some(t)) => self.link(*f, *t).partitioned,
            _ => false,
        }
    }

    /// Partitions `a` → `b`, and `b` → `a` unless `one_way`.
    pub fn partition(&mut self, a: &str, b: &str, one_way: bool) {
        self.link_mut(a, b).partitioned = true;
        if !one_way {
            self.link_mut(b, a).partitioned = true;
        }
    }

    /// Heals both directions between `a` and `b`. Wedged pipes stay wedged.
    pub fn heal(&mut self, a: &str, b: &str) {
        self.link_mut(a, b).partitioned = false;
        self.link_mut(b, a).partitioned = false;
    }

    /// Holds segments both ways between `a` and `b` until [`Network::release`].
    pub fn hold(&mut self, a: &str, b: &str) {
        self.link_mut(a, b).held = true;
        self.link_mut(b, a).held = true;
    }

    /// Sets the latency range both ways between `a` and `b`.
    pub fn set_latency(&mut self, a: &str, b: &str, latency: LatencyMs) {
        self.link_mut(a, b).latency = Some(latency);
        self.link_mut(b, a).latency = Some(latency);
    }

    /// Heals and releases every link and restores default latencies,
    /// returning the released segments' arrivals (the liveness phase).
    pub fn heal_all(&mut self, now: Duration, rng: &mut Stream) -> Vec<Arrival> {
        // In the order of the names, whatever order they were numbered in.
        let mut pairs: Vec<(String, String)> =
            self.links.keys().map(|(a, b)| (self.names[*a].to_string(), self.names[*b].to_string())).collect();
        pairs.sort();
        let mut out = Vec::new();
        for (a, b) in &pairs {
            self.heal(a, b);
            out.extend(self.release(now, a, b, rng));
        }
        self.links.clear();
        out
    }

    /// Stops holding both ways between `a` and `b`; the held segments are
    /// sent on, in order, each with a latency drawn now.
    pub fn release(&mut self, now: Duration, a: &str, b: &str, rng: &mut Stream) -> Vec<Arrival> {
        self.link_mut(a, b).held = false;
        self.link_mut(b, a).held = false;
        let (a, b) = (self.id(a), self.id(b));
        let mut out = Vec::new();
        let ids: Vec<ConnectionId> = self.conns.keys().copied().collect();
        for id in ids {
            for from in [Side::Connector, Side::Acceptor] {
                let c = &self.conns[&id];
                let (f, t) = (c.ends[from.index()], c.ends[from.peer().index()]);
                if !((f == a && t == b) || (f == b && t == a)) {
                    continue;
                }
                let held: Vec<Segment> =
                    self.conns.get_mut(&id).map(|c| c.pipes[from.index()].held.drain(..).collect()).unwrap_or_default();
                for segment in held {
                    if let Sent::Scheduled(arrival) = self.transmit(now, id, from, segment, rng) {
                        out.push(arrival);
                    }
                }
            }
        }
        out
    }

    /// Opens a connection from `client` to `server`; the acceptor learns of
    /// it through the returned [`Segment::Open`] arrival.
    pub fn connect(
        &mut self,
        now: Duration,
        client: &str,
        server: &str,
        rng: &mut Stream,
    ) -> Result<(ConnectionId, Option<Arrival>), ConnectError> {
        if self.is_partitioned(client, server) || self.is_partitioned(server, client) {
            return Err(ConnectError::Partitioned);
        }
        let id = ConnectionId(self.next_conn);
        self.next_conn += 1;
        let ends = [self.id(client), self.id(server)];
        self.conns.insert(id, Conn { ends, pipes: [Pipe::default(), Pipe::default()], closed: [false, false] });
        let arrival = match self.send(now, id, Side::Connector, Segment::Open, rng) {
            Sent::Scheduled(a) => Some(a),
            Sent::Held | Sent::Lost => None,
        };
        Ok((id, arrival))
    }

    /// The endpoint names of `conn`'s connector and acceptor.
    pub fn names(&self, conn: ConnectionId) -> Option<(&str, &str)> {
        self.endpoints(conn).map(|(a, b)| (a.as_str(), b.as_str()))
    }

    /// The endpoints of `conn`'s connector and acceptor, as events carry
    /// them (cloning one does not allocate).
    pub fn endpoints(&self, conn: ConnectionId) -> Option<(&Endpoint, &Endpoint)> {
        self.conns.get(&conn).map(|c| (&self.names[c.ends[0]], &self.names[c.ends[1]]))
    }

    /// Whether `side` of `conn` is still open.
    pub fn is_open(&self, conn: ConnectionId, side: Side) -> bool {
        self.conns.get(&conn).is_some_and(|c| !c.closed[side.index()])
    }

    /// Whether `from`'s end of `conn` can still get anything to the other
    /// end: the connection exists, that end is open and its pipe is not
    /// wedged.
    pub fn can_send(&self, conn: ConnectionId, from: Side) -> bool {
        self.conns.get(&conn).is_some_and(|c| !c.closed[from.index()] && !c.pipes[from.index()].wedged)
    }

    /// Sends `segment` from `from`'s end of `conn`. A [`Segment::Fin`]
    /// closes that end: it sends nothing afterwards.
    pub fn send(&mut self, now: Duration, conn: ConnectionId, from: Side, segment: Segment, rng: &mut Stream) -> Sent {
        let Some(c) = self.conns.get_mut(&conn) else { return Sent::Lost };
        if c.closed[from.index()] {
            return Sent::Lost;
        }
        if matches!(segment, Segment::Fin) {
            c.closed[from.index()] = true;
        }
        let key = (c.ends[from.index()], c.ends[from.peer().index()]);
        let link = self.links.get(&key).copied().unwrap_or_default();
        if link.held && !link.partitioned {
            if c.pipes[from.index()].wedged {
                return Sent::Lost;
            }
            c.pipes[from.index()].held.push_back(segment);
            return Sent::Held;
        }
        self.transmit(now, conn, from, segment, rng)
    }

    fn transmit(&mut self, now: Duration, conn: ConnectionId, from: Side, segment: Segment, rng: &mut Stream) -> Sent {
        let Some(c) = self.conns.get_mut(&conn) else { return Sent::Lost };
        let key = (c.ends[from.index()], c.ends[from.peer().index()]);
        let link = self.links.get(&key).copied().unwrap_or_default();
        let pipe = &mut c.pipes[from.index()];
        if link.partitioned {
            pipe.wedged = true;
        }
        if pipe.wedged {
            return Sent::Lost;
        }
        let latency = link.latency.unwrap_or(self.default_latency);
        let at = (now + Duration::from_millis(rng.range_u64(latency.min_ms, latency.max_ms))).max(pipe.last_arrival);
        pipe.last_arrival = at;
        Sent::Scheduled(Arrival { at, conn, to: from.peer(), segment })
    }

    /// Whether `arrival` gets through: a segment reaching a link that was
    /// partitioned while it flew is lost, and wedges its pipe.
    pub fn accept(&mut self, arrival: &Arrival) -> bool {
        let from = arrival.to.peer();
        let Some(c) = self.conns.get_mut(&arrival.conn) else { return false };
        let key = (c.ends[from.index()], c.ends[arrival.to.index()]);
        let partitioned = self.links.get(&key).is_some_and(|l| l.partitioned);
        let pipe = &mut c.pipes[from.index()];
        if partitioned {
            pipe.wedged = true;
        }
        !pipe.wedged
    }

    /// The connections that lost data for good (a pipe is wedged) and
    /// still have an open end, in id order.
    pub fn wedged_conns(&self) -> Vec<ConnectionId> {
        self.conns
            .iter()
            .filter(|(_, c)| c.pipes.iter().any(|p| p.wedged) && c.closed.iter().any(|closed| !closed))
            .map(|(id, _)| *id)
            .collect()
    }

    /// Marks `side` of `conn` closed without sending anything (the end is
    /// gone, e.g. its host crashed before the close could be sent), and
    /// forgets the connection when both ends are closed.
    pub fn close_silently(&mut self, conn: ConnectionId, side: Side) {
        if let Some(c) = self.conns.get_mut(&conn) {
            c.closed[side.index()] = true;
            if c.closed == [true, true] {
                self.conns.remove(&conn);
            }
        }
    }

    /// The open connections with `side` at endpoint `name`, in id order.
    pub fn conns_of(&self, name: &str, side: Side) -> Vec<ConnectionId> {
        let Some(&id) = self.ids.get(name) else { return Vec::new() };
        self.conns
            .iter()
            .filter(|(_, c)| c.ends[side.index()] == id && !c.closed[side.index()])
            .map(|(id, _)| *id)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn at(sent: Sent) -> Duration {
        match sent {
            Sent::Scheduled(a) => a.at,
            other => panic!("not scheduled: {other:?}"),
        }
    }

    /// Segments of one pipe never overtake each other, whatever latency each draws.
    #[test]
    fn a_pipe_preserves_order() {
        let mut net = Network::new(LatencyMs { min_ms: 1, max_ms: 50 });
        let mut rng = Stream::new(3, "latency");
        let (id, _) = net.connect(ms(0), "c", "broker", &mut rng).unwrap();
        let mut last = Duration::ZERO;
        for i in 0..200 {
            let t = at(net.send(ms(i), id, Side::Connector, Segment::Data(vec![1]), &mut rng));
            assert!(t >= last && t >= ms(i + 1));
            last = t;
        }
    }

    /// A partition loses data and wedges the pipe for good; a new connection works after the heal.
    #[test]
    fn a_partition_wedges_the_old_connection_but_not_new_ones() {
        let mut net = Network::new(LatencyMs::default());
        let mut rng = Stream::new(3, "latency");
        let (id, _) = net.connect(ms(0), "c", "broker", &mut rng).unwrap();
        net.partition("c", "broker", false);
        assert_eq!(net.send(ms(10), id, Side::Connector, Segment::Data(vec![1]), &mut rng), Sent::Lost);
        assert_eq!(net.connect(ms(10), "c", "broker", &mut rng).unwrap_err(), ConnectError::Partitioned);
        net.heal("c", "broker");
        assert_eq!(net.send(ms(20), id, Side::Connector, Segment::Data(vec![2]), &mut rng), Sent::Lost);
        // The other direction was not used during the partition, so it still works.
        assert!(matches!(net.send(ms(20), id, Side::Acceptor, Segment::Data(vec![3]), &mut rng), Sent::Scheduled(_)));
        let (id2, _) = net.connect(ms(30), "c", "broker", &mut rng).unwrap();
        assert!(matches!(net.send(ms(30), id2, Side::Connector, Segment::Data(vec![4]), &mut rng), Sent::Scheduled(_)));
    }

    /// A one-way partition blocks only its direction.
    #[test]
    fn a_one_way_partition_blocks_one_direction() {
        let mut net = Network::new(LatencyMs::default());
        let mut rng = Stream::new(3, "latency");
        let (id, _) = net.connect(ms(0), "c", "broker", &mut rng).unwrap();
        net.partition("broker", "c", true);
        assert!(matches!(net.send(ms(1), id, Side::Connector, Segment::Data(vec![1]), &mut rng), Sent::Scheduled(_)));
        assert_eq!(net.send(ms(1), id, Side::Acceptor, Segment::Data(vec![1]), &mut rng), Sent::Lost);
    }

    /// Segments in flight when a partition starts are lost on arrival.
    #[test]
    fn in_flight_segments_are_lost_when_a_partition_starts() {
        let mut net = Network::new(LatencyMs { min_ms: 10, max_ms: 10 });
        let mut rng = Stream::new(3, "latency");
        let (id, _) = net.connect(ms(0), "c", "broker", &mut rng).unwrap();
        let Sent::Scheduled(arrival) = net.send(ms(1), id, Side::Connector, Segment::Data(vec![1]), &mut rng) else {
            panic!()
        };
        net.partition("c", "broker", false);
        assert!(!net.accept(&arrival));
    }

    /// Held segments are delayed, not lost, and come out in order on release.
    #[test]
    fn hold_and_release_delay_without_loss() {
        let mut net = Network::new(LatencyMs { min_ms: 1, max_ms: 30 });
        let mut rng = Stream::new(3, "latency");
        let (id, _) = net.connect(ms(0), "c", "broker", &mut rng).unwrap();
        net.hold("c", "broker");
        for i in 0..5u8 {
            assert_eq!(net.send(ms(1), id, Side::Connector, Segment::Data(vec![i]), &mut rng), Sent::Held);
        }
        let released = net.release(ms(100), "broker", "c", &mut rng);
        let bytes: Vec<u8> = released
            .iter()
            .map(|a| match &a.segment {
                Segment::Data(d) => d[0],
                _ => panic!(),
            })
            .collect();
        assert_eq!(bytes, vec![0, 1, 2, 3, 4]);
        assert!(released.windows(2).all(|w| w[0].at <= w[1].at) && released[0].at > ms(100));
    }
}
