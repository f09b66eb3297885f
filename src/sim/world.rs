//! [`World`]: the discrete-event simulation of one broker and N clients over
//! the simulated [`Network`].
//!
//! Everything that will happen is an entry in one queue ordered by
//! (simulated time, sequence number), never by hash order: segment
//! arrivals, timer wake-ups (each machine's `poll_timeout`), fault steps,
//! scenario steps, reconnects and resumes. The world pops the next entry and
//! jumps straight to its time; there is no fixed tick, so the trace header's
//! tick is zero for this driver.
//!
//! Every packet sent and received at each end (decoded per connection and
//! direction), every open and close, citation, fault and application
//! delivery goes to the [`Trace`] at the simulated time it happened.
//!
//! Runs are bounded by `max_time` and `max_steps` (queue entries
//! processed); the trace by its own `max_events`. Exceeding any of them
//! stops the run with [`Stop`], a harness outcome, never a panic.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::mem;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::client::{ClientOut, Command, SimClient};
use super::faults::{Fault, BROKER};
use super::net::{Arrival, LatencyMs, Network, Segment, Sent, Side};
use super::rng::SimRng;
use super::wills::{OwedWill, WillWatch};
use crate::codec::{decode, DecodeOptions, Packet, Properties, Qos, Version};
use crate::model::{Broker, BrokerConfig, Citation, ConnectionId, Output, Server, Session};
use crate::trace::{self, ClosedBy, Dir, Endpoint, EventKind, Trace};

/// The world's knobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorldConfig {
    /// The broker's configuration.
    pub broker: BrokerConfig,
    /// Whether sessions survive a broker crash (exported at the crash,
    /// imported at the restart).
    pub durable_store: bool,
    /// The latency of every link until a fault changes it.
    pub latency: LatencyMs,
    /// A client that lost its connection tries again after a back-off in
    /// this range (ms, from the workload stream).
    pub reconnect_min_ms: u64,
    /// See `reconnect_min_ms`.
    pub reconnect_max_ms: u64,
    /// No entry is processed after this simulated time (ms).
    pub max_time_ms: u64,
    /// No more than this many queue entries are processed.
    pub max_steps: u64,
}

impl Default for WorldConfig {
    fn default() -> Self {
        WorldConfig {
            broker: BrokerConfig::default(),
            durable_store: false,
            latency: LatencyMs::default(),
            reconnect_min_ms: 100,
            reconnect_max_ms: 2_000,
            max_time_ms: 3_600_000,
            max_steps: 10_000_000,
        }
    }
}

/// Why a run stopped early: a harness outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// Simulated time reached `max_time_ms`.
    MaxTime,
    /// `max_steps` queue entries were processed.
    MaxSteps,
    /// The trace refused an event.
    Trace(trace::TraceError),
}

impl std::fmt::Display for Stop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stop::MaxTime => write!(f, "the run reached its maximum simulated time"),
            Stop::MaxSteps => write!(f, "the run reached its maximum number of steps"),
            Stop::Trace(e) => write!(f, "{e}"),
        }
    }
}

/// A message a client published, as the world saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The publisher.
    pub client: String,
    /// Its sequence number at the publisher.
    pub seq: u64,
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Bytes,
    /// QoS.
    pub qos: Qos,
    /// When the application asked.
    pub at: Duration,
    /// When the flow completed, if it did.
    pub completed_at: Option<Duration>,
    /// Its Message Expiry Interval, if it has one.
    pub expiry: Option<Duration>,
}

/// A message handed to a client application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// The receiver.
    pub client: String,
    /// Topic.
    pub topic: String,
    /// Payload.
    pub payload: Bytes,
    /// QoS it arrived with.
    pub qos: Qos,
    /// Its RETAIN flag: set on a retained message sent for a new
    /// subscription, and on live copies under Retain As Published.
    pub retain: bool,
    /// When.
    pub at: Duration,
}

/// A subscription the world knows to be active at the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSubscription {
    /// The filter.
    pub filter: String,
    /// The requested QoS.
    pub qos: Qos,
    /// Whether No Local is set.
    pub no_local: bool,
    /// When the SUBACK arrived.
    pub since: Duration,
}

/// One hosted client and its driver state.
struct Host {
    name: String,
    /// `name`, as events carry it.
    endpoint: Endpoint,
    machine: Box<dyn SimClient>,
    conn: Option<ConnectionId>,
    /// Whether the driver keeps it connected (reconnecting after a close).
    want_connected: bool,
    /// Whether the session survives a disconnect (for liveness).
    persistent: bool,
    /// A reconnect is queued.
    reconnect_queued: bool,
    silenced: bool,
    inbox: VecDeque<Arrival>,
    deferred: VecDeque<(Command, Properties)>,
    timer: Option<Duration>,
    /// SUBSCRIBEs awaiting their SUBACK, one slot per filter; a slot an
    /// UNSUBSCRIBE sent since has emptied stays empty (the broker handles
    /// the two in order, so the filter ends up unsubscribed).
    pending_subscribes: VecDeque<Vec<Option<ActiveSubscription>>>,
    subscriptions: Vec<ActiveSubscription>,
    /// The client saw a CONNACK on its current connection.
    connected: bool,
    has_connected: bool,
    /// Every shared subscription filter the client ever had granted.
    shared_filters: BTreeSet<String>,
}

/// What a queue entry does.
#[derive(Debug)]
enum Wake {
    Arrive(Arrival),
    BrokerTimer(Duration),
    ClientTimer(usize, Duration),
    Fault(Fault),
    Command(usize, Command, Properties),
    Connect(usize),
    Reconnect(usize),
    Resume(usize),
    Silence(usize),
    Mark,
}

#[derive(Debug)]
struct Entry {
    at: Duration,
    seq: u64,
    wake: Wake,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Decodes one direction of one connection at one end, for the trace.
#[derive(Debug, Default)]
struct Decoder {
    buf: Vec<u8>,
    broken: bool,
}

/// The simulated world. See the module documentation.
pub struct World {
    config: WorldConfig,
    /// The broker's name, as events carry it.
    broker_endpoint: Endpoint,
    now: Duration,
    seq: u64,
    steps: u64,
    queue: BinaryHeap<Entry>,
    net: Network,
    rng: SimRng,
    trace: Trace,
    broker: Option<Broker>,
    broker_timer: Option<Duration>,
    durable: Option<Vec<Session>>,
    hosts: Vec<Host>,
    decoders: BTreeMap<(ConnectionId, Side, bool), Decoder>,
    versions: BTreeMap<ConnectionId, Version>,
    wills: WillWatch,
    published: Vec<Published>,
    /// The first publish of each payload, by index in `published`.
    published_by_payload: BTreeMap<Bytes, usize>,
    /// Index into `published` by (host, the client's sequence number).
    published_by_seq: BTreeMap<(usize, u64), usize>,
    delivered: Vec<Delivered>,
    /// Who got each payload delivered: (client index, topic).
    delivered_by_payload: BTreeMap<Bytes, Vec<(usize, String)>>,
    violations: Vec<String>,
    stop: Option<Stop>,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World").field("now", &self.now).field("steps", &self.steps).finish_non_exhaustive()
    }
}

impl World {
    /// A world with a running broker and no clients, recording into `trace`.
    pub fn new(config: WorldConfig, seed: u64, trace: Trace) -> World {
        let broker = Some(Broker::new(config.broker.clone()));
        let mut world = World {
            net: Network::new(config.latency),
            config,
            now: Duration::ZERO,
            seq: 0,
            steps: 0,
            queue: BinaryHeap::new(),
            rng: SimRng::new(seed),
            trace,
            broker,
            broker_timer: None,
            durable: None,
            hosts: Vec::new(),
            decoders: BTreeMap::new(),
            versions: BTreeMap::new(),
            wills: WillWatch::default(),
            published: Vec::new(),
            published_by_payload: BTreeMap::new(),
            published_by_seq: BTreeMap::new(),
            delivered: Vec::new(),
            delivered_by_payload: BTreeMap::new(),
            violations: Vec::new(),
            stop: None,
            broker_endpoint: Endpoint::new(BROKER),
        };
        world.arm_broker();
        world
    }

    /// Adds a client named `name`; it connects when told ([`World::schedule_connect`]).
    /// `persistent` says whether its session outlives a connection.
    pub fn add_client(&mut self, name: &str, machine: Box<dyn SimClient>, persistent: bool) -> usize {
        self.hosts.push(Host {
            name: name.to_owned(),
            endpoint: Endpoint::new(name),
            machine,
            conn: None,
            want_connected: false,
            persistent,
            reconnect_queued: false,
            silenced: false,
            inbox: VecDeque::new(),
            deferred: VecDeque::new(),
            timer: None,
            pending_subscribes: VecDeque::new(),
            subscriptions: Vec::new(),
            connected: false,
            has_connected: false,
            shared_filters: BTreeSet::new(),
        });
        self.hosts.len() - 1
    }

    /// The index of the client named `name`.
    pub fn client_index(&self, name: &str) -> Option<usize> {
        self.hosts.iter().position(|h| h.name == name)
    }

    /// The names of the clients, in the order they were added.
    pub fn client_names(&self) -> Vec<String> {
        self.hosts.iter().map(|h| h.name.clone()).collect()
    }

    /// The number of clients.
    pub fn client_count(&self) -> usize {
        self.hosts.len()
    }

    /// The name of client `i`.
    pub fn client_name(&self, i: usize) -> &str {
        &self.hosts[i].name
    }

    /// Simulated time now.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Queue entries processed so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// The trace so far.
    pub fn trace(&self) -> &Trace {
        &self.trace
    }

    /// Ends the world, returning its trace.
    pub fn into_trace(self) -> Trace {
        self.trace
    }

    /// Why the run stopped early, if it did.
    pub fn stopped(&self) -> Option<&Stop> {
        self.stop.as_ref()
    }

    /// What clients published.
    pub fn published(&self) -> &[Published] {
        &self.published
    }

    /// What clients' applications received.
    pub fn delivered(&self) -> &[Delivered] {
        &self.delivered
    }

    /// Whether client `i`'s application received `payload` on `topic`.
    pub fn has_delivered(&self, i: usize, topic: &str, payload: &[u8]) -> bool {
        self.delivered_by_payload.get(payload).is_some_and(|to| to.iter().any(|(j, t)| *j == i && t == topic))
    }

    /// Moves out what clients published and received (the world keeps empty lists).
    pub fn take_results(&mut self) -> (Vec<Published>, Vec<Delivered>) {
        self.published_by_payload.clear();
        self.published_by_seq.clear();
        self.delivered_by_payload.clear();
        (mem::take(&mut self.published), mem::take(&mut self.delivered))
    }

    /// Protocol violations clients reported, and other safety findings.
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// The broker, unless it is crashed.
    pub fn broker(&self) -> Option<&Broker> {
        self.broker.as_ref()
    }

    /// Whether client `i` wants to be connected and completed a CONNACK on its current connection.
    pub fn is_connected(&self, i: usize) -> bool {
        self.hosts[i].connected
    }

    /// Whether client `i` should be connected.
    pub fn wants_connected(&self, i: usize) -> bool {
        self.hosts[i].want_connected
    }

    /// Whether client `i`'s session outlives its connections.
    pub fn is_persistent(&self, i: usize) -> bool {
        self.hosts[i].persistent
    }

    /// Every shared subscription (`$share/...`) client `i` was ever granted.
    pub fn shared_filters_ever(&self, i: usize) -> &BTreeSet<String> {
        &self.hosts[i].shared_filters
    }

    /// Client `i`'s subscriptions known active since its session began.
    pub fn subscriptions(&self, i: usize) -> &[ActiveSubscription] {
        &self.hosts[i].subscriptions
    }

    /// The wills the broker owes by `until`, as things stand now (see
    /// [`WillWatch`](super::wills::WillWatch)).
    pub fn owed_wills(&self, until: Duration) -> Vec<OwedWill> {
        self.wills.owed(self.now, until, |conn| !self.net.can_send(conn, Side::Connector))
    }

    // ---- scheduling ----

    fn push(&mut self, at: Duration, wake: Wake) {
        self.seq += 1;
        self.queue.push(Entry { at: at.max(self.now), seq: self.seq, wake });
    }

    /// Queues a fault at `at`.
    pub fn schedule_fault(&mut self, at: Duration, fault: Fault) {
        self.push(at, Wake::Fault(fault));
    }

    /// Queues an application command for client `i` at `at`.
    pub fn schedule_command(&mut self, at: Duration, i: usize, command: Command) {
        self.schedule_command_with(at, i, command, Properties::default());
    }

    /// Queues application command `command` with its packet's `properties`
    /// (5.0: a PUBLISH's properties, a SUBSCRIBE's identifier) for client
    /// `i` at `at`.
    pub fn schedule_command_with(&mut self, at: Duration, i: usize, command: Command, properties: Properties) {
        self.push(at, Wake::Command(i, command, properties));
    }

    /// Queues "client `i` connects, and stays connected" at `at`.
    pub fn schedule_connect(&mut self, at: Duration, i: usize) {
        self.push(at, Wake::Connect(i));
    }

    /// Queues "client `i` goes silent" at `at`.
    pub fn schedule_silence(&mut self, at: Duration, i: usize) {
        self.push(at, Wake::Silence(i));
    }

    /// Queues "client `i` resumes" at `at`.
    pub fn schedule_resume(&mut self, at: Duration, i: usize) {
        self.push(at, Wake::Resume(i));
    }

    /// Queues a no-op at `at`, so [`World::run_until`] can stop there.
    pub fn schedule_mark(&mut self, at: Duration) {
        self.push(at, Wake::Mark);
    }

    fn arm_broker(&mut self) {
        let next = self.broker.as_ref().and_then(|b| b.poll_timeout());
        if next.is_some() && next != self.broker_timer {
            self.broker_timer = next;
            self.push(next.unwrap_or_default(), Wake::BrokerTimer(next.unwrap_or_default()));
        }
    }

    fn arm_client(&mut self, i: usize) {
        let next = self.hosts[i].machine.poll_timeout();
        if next.is_some() && next != self.hosts[i].timer {
            self.hosts[i].timer = next;
            self.push(next.unwrap_or_default(), Wake::ClientTimer(i, next.unwrap_or_default()));
        }
    }

    // ---- running ----

    /// Processes entries up to and including `until` (bounded by
    /// `max_time_ms` and `max_steps`); then simulated time is `until`.
    /// Returns false when the run stopped early (see [`World::stopped`]).
    pub fn run_until(&mut self, until: Duration) -> bool {
        let max_time = Duration::from_millis(self.config.max_time_ms);
        while self.stop.is_none() {
            let Some(next) = self.queue.peek() else { break };
            if next.at > until {
                break;
            }
            if next.at > max_time {
                self.stop = Some(Stop::MaxTime);
                break;
            }
            if self.steps >= self.config.max_steps {
                self.stop = Some(Stop::MaxSteps);
                break;
            }
            let entry = self.queue.pop().expect("peeked");
            self.now = entry.at;
            self.steps += 1;
            self.dispatch(entry.wake);
        }
        if self.stop.is_none() {
            self.now = self.now.max(until.min(max_time));
            if until > max_time {
                self.stop = Some(Stop::MaxTime);
            }
        }
        self.stop.is_none()
    }

    /// Runs until `until` or until `settled` holds at one of the checks made
    /// every `every` of simulated time. Returns whether it settled.
    pub fn run_until_settled(&mut self, until: Duration, every: Duration, settled: impl Fn(&World) -> bool) -> bool {
        // Segments in flight (a heal's released ones, or a message the broker
        // acknowledged and is forwarding) land before the world counts as
        // settled: the trace must not end in the middle of a delivery. A
        // world settled but for such segments is checked again as soon as
        // the last of them lands, not a whole period later (periodic traffic
        // such as keep-alive pings could otherwise be in flight at every
        // check).
        loop {
            let settled_now = settled(self);
            let landing = self.queue.iter().filter(|e| matches!(e.wake, Wake::Arrive(_))).map(|e| e.at).max();
            if settled_now && landing.is_none() {
                return true;
            }
            if self.now >= until || self.stop.is_some() {
                return false;
            }
            let next = match landing {
                Some(at) if settled_now => at.max(self.now),
                _ => self.now + every,
            }
            .min(until);
            self.schedule_mark(next);
            if !self.run_until(next) {
                return false;
            }
        }
    }

    /// The liveness phase begins: every fault ends (links heal and
    /// release, default latency returns, a crashed broker restarts,
    /// silenced clients resume) and clients that should be connected
    /// reconnect.
    pub fn heal_all(&mut self) {
        self.note("liveness phase: heal every fault");
        let arrivals = self.net.heal_all(self.now, &mut self.rng.latency);
        for a in arrivals {
            self.push(a.at, Wake::Arrive(a));
        }
        for conn in self.net.wedged_conns() {
            self.reset(conn);
        }
        if self.broker.is_none() {
            self.apply_fault(Fault::RestartBroker);
        }
        for i in 0..self.hosts.len() {
            if self.hosts[i].silenced {
                self.resume(i);
            }
            if self.hosts[i].want_connected && self.hosts[i].conn.is_none() && !self.hosts[i].reconnect_queued {
                self.hosts[i].reconnect_queued = true;
                self.push(self.now, Wake::Reconnect(i));
            }
        }
    }

    /// Resets the client's end of `conn`: its socket reports the
    /// connection gone, as TCP does once retransmissions of data the client
    /// wrote time out, and the client reconnects. The broker's end stays as
    /// it is: finding a dead connection is its keep-alive's job (or a
    /// takeover's), which is part of what is under test.
    fn reset(&mut self, conn: ConnectionId) {
        let Some(i) = self.hosts.iter().position(|h| h.conn == Some(conn)) else { return };
        let now = self.now;
        let endpoint = self.hosts[i].endpoint.clone();
        self.record(EventKind::Closed { endpoint, conn: conn.0, by: ClosedBy::Network });
        self.net.close_silently(conn, Side::Connector);
        self.hosts[i].conn = None;
        self.hosts[i].connected = false;
        self.hosts[i].machine.handle_connection_closed(now);
        self.queue_reconnect(i);
        self.drain_client(i);
    }

    /// Records a note at the current time.
    pub fn note(&mut self, text: &str) {
        self.record(EventKind::Note { text: text.to_owned() });
    }

    /// Records a verdict line at the current time.
    pub fn verdict(&mut self, text: &str) {
        self.record(EventKind::Verdict { text: text.to_owned() });
    }

    fn record(&mut self, kind: EventKind) {
        if self.stop.is_some() {
            return;
        }
        if let Err(e) = self.trace.push(self.now, kind) {
            self.stop = Some(Stop::Trace(e));
        }
    }

    fn dispatch(&mut self, wake: Wake) {
        match wake {
            Wake::Arrive(arrival) => self.arrive(arrival),
            Wake::BrokerTimer(at) => {
                if self.broker_timer == Some(at) {
                    self.broker_timer = None;
                    if let Some(b) = self.broker.as_mut() {
                        b.handle_timeout(self.now);
                    }
                    self.drain_broker();
                }
            }
            Wake::ClientTimer(i, at) => {
                if self.hosts[i].timer == Some(at) && !self.hosts[i].silenced {
                    self.hosts[i].timer = None;
                    let now = self.now;
                    self.hosts[i].machine.handle_timeout(now);
                    self.drain_client(i);
                }
            }
            Wake::Fault(fault) => self.apply_fault(fault),
            Wake::Command(i, command, properties) => self.command(i, command, properties),
            Wake::Connect(i) => {
                self.hosts[i].want_connected = true;
                if self.hosts[i].conn.is_none() && !self.hosts[i].silenced {
                    self.connect(i);
                }
            }
            Wake::Reconnect(i) => {
                self.hosts[i].reconnect_queued = false;
                if self.hosts[i].want_connected && self.hosts[i].conn.is_none() && !self.hosts[i].silenced {
                    self.connect(i);
                }
            }
            Wake::Silence(i) => self.silence(i),
            Wake::Resume(i) => self.resume(i),
            Wake::Mark => {}
        }
    }

    // ---- faults ----

    fn apply_fault(&mut self, fault: Fault) {
        self.record(EventKind::Fault { description: fault.describe() });
        match fault {
            Fault::Partition { a, b, one_way } => self.net.partition(&a, &b, one_way),
            Fault::Heal { a, b } => self.net.heal(&a, &b),
            Fault::Hold { a, b } => self.net.hold(&a, &b),
            Fault::Release { a, b } => {
                for arrival in self.net.release(self.now, &a, &b, &mut self.rng.latency) {
                    self.push(arrival.at, Wake::Arrive(arrival));
                }
            }
            Fault::Latency { a, b, min_ms, max_ms } => self.net.set_latency(&a, &b, LatencyMs { min_ms, max_ms }),
            Fault::CloseClient { client } => {
                let Some(i) = self.client_index(&client) else { return };
                if self.hosts[i].silenced {
                    // A frozen process's socket is dropped all the same.
                    self.hosts[i].inbox.clear();
                }
                self.close_client(i, ClosedBy::Network);
            }
            Fault::Silence { client, for_ms } => {
                let Some(i) = self.client_index(&client) else { return };
                self.silence(i);
                if let Some(ms) = for_ms {
                    self.push(self.now + Duration::from_millis(ms), Wake::Resume(i));
                }
            }
            Fault::CrashBroker => {
                let Some(broker) = self.broker.take() else { return };
                self.broker_timer = None;
                self.wills.crashed(self.now);
                let durable = self.config.durable_store;
                for host in &mut self.hosts {
                    // Sessions the crash ends: all without the store, and
                    // those that end with their connection.
                    if !durable || !host.persistent {
                        host.subscriptions.clear();
                    }
                }
                if self.config.durable_store {
                    self.durable = Some(broker.export_sessions());
                }
                for conn in self.net.conns_of(BROKER, Side::Acceptor) {
                    self.record(EventKind::Closed {
                        endpoint: self.broker_endpoint.clone(),
                        conn: conn.0,
                        by: ClosedBy::Network,
                    });
                    self.send(conn, Side::Acceptor, Segment::Fin);
                }
            }
            Fault::RestartBroker => {
                if self.broker.is_some() {
                    return;
                }
                let sessions = self.durable.take().unwrap_or_default();
                self.broker = Some(Broker::with_sessions(self.config.broker.clone(), sessions));
                self.broker_timer = None;
                self.arm_broker();
                self.drain_broker();
            }
        }
    }

    fn silence(&mut self, i: usize) {
        self.hosts[i].silenced = true;
    }

    fn resume(&mut self, i: usize) {
        if !self.hosts[i].silenced {
            return;
        }
        self.hosts[i].silenced = false;
        let inbox: Vec<Arrival> = self.hosts[i].inbox.drain(..).collect();
        for arrival in inbox {
            self.arrive_at_client(i, arrival);
        }
        let deferred: Vec<(Command, Properties)> = self.hosts[i].deferred.drain(..).collect();
        for (command, properties) in deferred {
            self.command(i, command, properties);
        }
        let now = self.now;
        if self.hosts[i].machine.poll_timeout().is_some_and(|t| t <= now) {
            self.hosts[i].machine.handle_timeout(now);
        }
        self.hosts[i].timer = None;
        self.drain_client(i);
        if self.hosts[i].want_connected && self.hosts[i].conn.is_none() && !self.hosts[i].reconnect_queued {
            self.hosts[i].reconnect_queued = true;
            self.push(self.now, Wake::Reconnect(i));
        }
    }

    // ---- connections ----

    fn connect(&mut self, i: usize) {
        let name = self.hosts[i].name.clone();
        let result = if self.broker.is_none() {
            Err("refused: the broker is down")
        } else {
            self.net.connect(self.now, &name, BROKER, &mut self.rng.latency).map_err(|_| "refused: partitioned")
        };
        match result {
            Err(why) => {
                self.note(&format!("{name}: connect {why}"));
                self.queue_reconnect(i);
            }
            Ok((conn, open)) => {
                self.hosts[i].conn = Some(conn);
                self.hosts[i].connected = false;
                self.record(EventKind::Opened { endpoint: name.into(), conn: conn.0, peer: BROKER.to_owned() });
                if let Some(open) = open {
                    self.push(open.at, Wake::Arrive(open));
                }
                let now = self.now;
                self.hosts[i].machine.handle_connection_opened(now);
                self.drain_client(i);
            }
        }
    }

    /// The broker's end of `conn` closed: a client whose session ends with
    /// its connection has no subscriptions any more, whether or not it has
    /// noticed yet.
    fn broker_end_closed(&mut self, conn: ConnectionId) {
        let Some((client, _)) = self.net.names(conn) else { return };
        if let Some(host) = self.hosts.iter_mut().find(|h| h.name == client) {
            if !host.persistent {
                host.subscriptions.clear();
            }
        }
    }

    fn queue_reconnect(&mut self, i: usize) {
        if !self.hosts[i].want_connected || self.hosts[i].reconnect_queued {
            return;
        }
        let backoff = self.rng.workload.range_u64(self.config.reconnect_min_ms, self.config.reconnect_max_ms);
        self.hosts[i].reconnect_queued = true;
        self.push(self.now + Duration::from_millis(backoff), Wake::Reconnect(i));
    }

    /// Closes client `i`'s socket from its side (`by` Local: the client
    /// asked; Network: a fault dropped it), tells the machine when the
    /// close did not come from it, and queues a reconnect.
    fn close_client(&mut self, i: usize, by: ClosedBy) {
        let Some(conn) = self.hosts[i].conn.take() else { return };
        self.hosts[i].connected = false;
        let endpoint = self.hosts[i].endpoint.clone();
        self.record(EventKind::Closed { endpoint, conn: conn.0, by });
        self.send(conn, Side::Connector, Segment::Fin);
        if by != ClosedBy::Local {
            let now = self.now;
            self.hosts[i].machine.handle_connection_closed(now);
            self.drain_client(i);
        }
        self.queue_reconnect(i);
    }

    fn send(&mut self, conn: ConnectionId, from: Side, segment: Segment) {
        match self.net.send(self.now, conn, from, segment, &mut self.rng.latency) {
            Sent::Scheduled(arrival) => self.push(arrival.at, Wake::Arrive(arrival)),
            Sent::Held | Sent::Lost => {}
        }
    }

    fn arrive(&mut self, arrival: Arrival) {
        if !self.net.accept(&arrival) || !self.net.is_open(arrival.conn, arrival.to) {
            return;
        }
        match arrival.to {
            Side::Acceptor => self.arrive_at_broker(arrival),
            Side::Connector => {
                let Some(i) = self.hosts.iter().position(|h| h.conn == Some(arrival.conn)) else { return };
                if self.hosts[i].silenced {
                    self.hosts[i].inbox.push_back(arrival);
                } else {
                    self.arrive_at_client(i, arrival);
                }
            }
        }
    }

    fn arrive_at_broker(&mut self, arrival: Arrival) {
        let conn = arrival.conn;
        if self.broker.is_none() {
            return;
        }
        let now = self.now;
        match arrival.segment {
            Segment::Open => {
                let peer = self.net.names(conn).map(|(c, _)| c.to_owned()).unwrap_or_default();
                self.record(EventKind::Opened { endpoint: self.broker_endpoint.clone(), conn: conn.0, peer });
                if let Some(b) = self.broker.as_mut() {
                    b.handle_connection_opened(now, conn);
                }
            }
            Segment::Data(bytes) => {
                self.record_bytes(conn, Side::Acceptor, Dir::Received, &bytes);
                if let Some(b) = self.broker.as_mut() {
                    b.handle_bytes(now, conn, &bytes);
                }
            }
            Segment::Fin => {
                self.record(EventKind::Closed {
                    endpoint: self.broker_endpoint.clone(),
                    conn: conn.0,
                    by: ClosedBy::Peer,
                });
                self.wills.closed(now, conn);
                self.broker_end_closed(conn);
                self.net.close_silently(conn, Side::Acceptor);
                if let Some(b) = self.broker.as_mut() {
                    b.handle_connection_closed(now, conn);
                }
            }
        }
        self.drain_broker();
    }

    fn arrive_at_client(&mut self, i: usize, arrival: Arrival) {
        if self.hosts[i].conn != Some(arrival.conn) {
            return;
        }
        let now = self.now;
        match arrival.segment {
            Segment::Open => {}
            Segment::Data(bytes) => {
                self.record_bytes(arrival.conn, Side::Connector, Dir::Received, &bytes);
                self.hosts[i].machine.handle_bytes(now, &bytes);
            }
            Segment::Fin => {
                let endpoint = self.hosts[i].endpoint.clone();
                self.record(EventKind::Closed { endpoint, conn: arrival.conn.0, by: ClosedBy::Peer });
                self.net.close_silently(arrival.conn, Side::Connector);
                self.hosts[i].conn = None;
                self.hosts[i].connected = false;
                self.hosts[i].machine.handle_connection_closed(now);
                self.queue_reconnect(i);
            }
        }
        self.drain_client(i);
    }

    // ---- machines' outputs ----

    fn drain_broker(&mut self) {
        while let Some(output) = self.broker.as_mut().and_then(|b| b.poll_output()) {
            match output {
                Output::Transmit { conn, bytes } => {
                    if self.net.is_open(conn, Side::Acceptor) {
                        self.record_bytes(conn, Side::Acceptor, Dir::Sent, &bytes);
                        self.send(conn, Side::Acceptor, Segment::Data(bytes));
                    }
                }
                Output::Close { conn } => {
                    if self.net.is_open(conn, Side::Acceptor) {
                        self.record(EventKind::Closed {
                            endpoint: self.broker_endpoint.clone(),
                            conn: conn.0,
                            by: ClosedBy::Local,
                        });
                        self.wills.closed(self.now, conn);
                        self.broker_end_closed(conn);
                        self.send(conn, Side::Acceptor, Segment::Fin);
                    }
                }
                Output::Cite(c) => self.cite(self.broker_endpoint.clone(), c),
            }
        }
        self.arm_broker();
    }

    fn cite(&mut self, endpoint: Endpoint, c: Citation) {
        let kind = match c.kind {
            crate::model::CiteKind::Checked => trace::CiteKind::Checked,
            crate::model::CiteKind::Violated => trace::CiteKind::Violated,
            crate::model::CiteKind::Fulfilled => trace::CiteKind::Fulfilled,
        };
        self.record(EventKind::Cite { endpoint, conn: c.conn.map(|c| c.0), statement: c.statement, kind });
    }

    fn drain_client(&mut self, i: usize) {
        while let Some(output) = self.hosts[i].machine.poll_output() {
            match output {
                ClientOut::Transmit(bytes) => {
                    if let Some(conn) = self.hosts[i].conn {
                        self.record_bytes(conn, Side::Connector, Dir::Sent, &bytes);
                        self.send(conn, Side::Connector, Segment::Data(bytes));
                    }
                }
                ClientOut::Close => self.close_client(i, ClosedBy::Local),
                ClientOut::Cite(c) => {
                    let c = Citation { conn: self.hosts[i].conn, ..c };
                    self.cite(self.hosts[i].endpoint.clone(), c);
                }
                ClientOut::Connected { session_present, reason_code } => {
                    let host = &mut self.hosts[i];
                    if reason_code.0 < 0x80 {
                        host.connected = true;
                        if !session_present {
                            // SUBSCRIBEs still unanswered stay pending: the
                            // client sends them again on this connection.
                            host.subscriptions.clear();
                        }
                        host.has_connected = true;
                    }
                }
                ClientOut::Delivered { topic, payload, qos, retain } => {
                    let publisher_seq = self
                        .published_by_payload
                        .get(&payload[..])
                        .map(|k| &self.published[*k])
                        .filter(|p| p.topic == topic)
                        .or_else(|| self.published.iter().find(|p| p.topic == topic && p.payload == payload))
                        .map(|p| p.seq);
                    let name = self.hosts[i].name.clone();
                    self.delivered_by_payload.entry(payload.clone()).or_default().push((i, topic.clone()));
                    self.delivered.push(Delivered {
                        client: name.clone(),
                        topic: topic.clone(),
                        payload: payload.clone(),
                        qos,
                        retain,
                        at: self.now,
                    });
                    self.record(EventKind::Delivery {
                        client: name,
                        topic,
                        qos: qos.as_u8(),
                        retain,
                        payload,
                        publisher_seq,
                    });
                }
                ClientOut::PublishCompleted { seq, .. } => {
                    let now = self.now;
                    if let Some(p) = self.published_by_seq.get(&(i, seq)).map(|&k| &mut self.published[k]) {
                        p.completed_at.get_or_insert(now);
                    }
                }
                ClientOut::Subscribed { reason_codes } => {
                    let now = self.now;
                    let host = &mut self.hosts[i];
                    if let Some(subs) = host.pending_subscribes.pop_front() {
                        for (sub, code) in subs.into_iter().zip(reason_codes) {
                            if let (Some(mut sub), true) = (sub, code.0 < 0x80) {
                                sub.since = now;
                                if sub.filter.starts_with("$share/") {
                                    host.shared_filters.insert(sub.filter.clone());
                                }
                                host.subscriptions.retain(|s| s.filter != sub.filter);
                                host.subscriptions.push(sub);
                            }
                        }
                    }
                }
                ClientOut::Unsubscribed | ClientOut::Disconnected => {}
                ClientOut::ProtocolViolation(description) => {
                    let name = &self.hosts[i].name;
                    self.violations.push(format!("{name}: {description}"));
                    let text = format!("{name}: protocol violation: {description}");
                    self.record(EventKind::Note { text });
                }
            }
        }
        self.arm_client(i);
    }

    fn command(&mut self, i: usize, command: Command, properties: Properties) {
        if self.hosts[i].silenced {
            self.hosts[i].deferred.push_back((command, properties));
            return;
        }
        let now = self.now;
        match &command {
            Command::Subscribe(subs) => {
                let active = subs
                    .iter()
                    .map(|s| {
                        Some(ActiveSubscription {
                            filter: s.filter.as_str().to_owned(),
                            qos: s.options.qos,
                            no_local: s.options.no_local,
                            since: now,
                        })
                    })
                    .collect();
                self.hosts[i].pending_subscribes.push_back(active);
            }
            Command::Unsubscribe(filters) => {
                let host = &mut self.hosts[i];
                let gone = |s: &ActiveSubscription| filters.iter().any(|f| f.as_str() == s.filter);
                host.subscriptions.retain(|s| !gone(s));
                for slot in host.pending_subscribes.iter_mut().flatten() {
                    if slot.as_ref().is_some_and(gone) {
                        *slot = None;
                    }
                }
            }
            Command::Disconnect(_) => self.hosts[i].want_connected = false,
            Command::Publish { .. } => {}
        }
        let expiry = properties.message_expiry_interval_secs.map(|s| Duration::from_secs(s.into()));
        let seq = self.hosts[i].machine.command(now, command.clone(), properties);
        if let (Command::Publish { topic, payload, qos, .. }, Some(seq)) = (command, seq) {
            self.published_by_payload.entry(payload.clone()).or_insert(self.published.len());
            self.published_by_seq.entry((i, seq)).or_insert(self.published.len());
            self.published.push(Published {
                client: self.hosts[i].name.clone(),
                seq,
                topic: topic.as_str().to_owned(),
                payload,
                qos,
                at: now,
                completed_at: if qos == Qos::AtMostOnce { Some(now) } else { None },
                expiry,
            });
        }
        self.drain_client(i);
    }

    // ---- trace decoding ----

    fn record_bytes(&mut self, conn: ConnectionId, side: Side, dir: Dir, bytes: &[u8]) {
        let key = (conn, side, dir == Dir::Sent);
        let pending = match self.decoders.get(&key) {
            Some(d) if d.broken => return,
            Some(d) => !d.buf.is_empty(),
            None => false,
        };
        let endpoint = match side {
            Side::Acceptor => self.broker_endpoint.clone(),
            Side::Connector => match self.net.endpoints(conn) {
                Some((c, _)) => c.clone(),
                None => Endpoint::new(""),
            },
        };
        // Fast path: nothing buffered, so whole packets need no copy and no
        // decoder is stored unless bytes are left over or they are malformed.
        if !pending {
            let mut decoder = Decoder::default();
            let consumed = self.decode_into_trace(&endpoint, conn, dir, bytes, &mut decoder);
            if decoder.broken || consumed < bytes.len() {
                if !decoder.broken {
                    decoder.buf.extend_from_slice(&bytes[consumed..]);
                }
                self.decoders.insert(key, decoder);
            }
            return;
        }
        let mut decoder = self.decoders.remove(&key).unwrap_or_default();
        decoder.buf.extend_from_slice(bytes);
        let buf = std::mem::take(&mut decoder.buf);
        let start = self.decode_into_trace(&endpoint, conn, dir, &buf, &mut decoder);
        decoder.buf = buf;
        decoder.buf.drain(..start);
        self.decoders.insert(key, decoder);
    }

    /// Records every whole packet at the front of `buf`; returns the bytes
    /// used. Undecodable bytes are recorded once and break the decoder.
    fn decode_into_trace(
        &mut self,
        endpoint: &Endpoint,
        conn: ConnectionId,
        dir: Dir,
        buf: &[u8],
        decoder: &mut Decoder,
    ) -> usize {
        let mut start = 0;
        loop {
            let version = self.versions.get(&conn).copied().unwrap_or(Version::V5);
            match decode(&buf[start..], &DecodeOptions::new(version)) {
                Ok(Some((packet, used))) => {
                    if let Packet::Connect(c) = &packet {
                        self.versions.insert(conn, c.version);
                    }
                    if endpoint == BROKER {
                        let client = self.net.names(conn).map_or("", |(c, _)| c);
                        self.wills.packet(self.now, conn, client, dir == Dir::Received, &packet);
                        if let Packet::Connack(ack) = &packet {
                            // The broker started a new session: whatever the
                            // client had is gone, even if it never sees this
                            // CONNACK and its next one says "session present".
                            if dir == Dir::Sent && !ack.session_present && ack.reason_code.0 == 0 {
                                let client = client.to_owned();
                                if let Some(host) = self.hosts.iter_mut().find(|h| h.name == client) {
                                    host.subscriptions.clear();
                                }
                            }
                        }
                    }
                    start += used;
                    let endpoint = endpoint.clone();
                    self.record(EventKind::Packet { endpoint, conn: conn.0, dir, packet, bytes_len: used });
                }
                Ok(None) => return start,
                Err(e) => {
                    let hex = buf[start..].iter().map(|b| format!("{b:02x}")).collect();
                    self.record(EventKind::Malformed {
                        endpoint: endpoint.clone(),
                        conn: conn.0,
                        dir,
                        hex,
                        error: e.to_string(),
                        statement: e.statement,
                    });
                    decoder.broken = true;
                    return buf.len();
                }
            }
        }
    }
}
