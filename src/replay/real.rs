//! Replaying a [`Case`] against a real server over TCP (tokio): one
//! connection per connected client, the steps one at a time, each followed
//! by a settle (wait for the step's expected messages, bounded, then a
//! PINGREQ marker per connection), recording what arrived.
//!
//! Client ids and topics are unique per run (`ms<RUN><i>`,
//! `mqttsim/<RUN>/...`); the server's packet identifiers are answered as
//! they come and never compared. Afterwards the run's persistent sessions
//! are ended and its retained messages cleared.

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use super::case::{ClientInput, Line, Op};
use super::{Case, ReplayError};
use crate::codec::{
    Connect, Disconnect, Packet, PacketId, Properties, PubResponse, Publish, QosPid, ReasonCode, Subscribe,
    Subscription, SubscriptionOptions, TopicFilter, TopicName, Unsubscribe, Will,
};
use crate::conformance::{Connector, Event, TcpConnector, TestConn};
use crate::spec::{v3_1_1, v5, StatementId, Version};

/// How to replay.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// `HOST:PORT`.
    pub addr: String,
    /// The bound on every wait for a packet.
    pub timeout: Duration,
    /// The quiet period after an abrupt close before reconnecting, so the
    /// server has seen the close (nothing observable says so).
    pub quiet: Duration,
    /// Letters and digits unique to this run (client ids, topic prefix).
    pub run_id: String,
}

impl ReplayOptions {
    /// Options for `addr` with a 2 s timeout and a 100 ms quiet period.
    pub fn new(addr: impl Into<String>, run_id: impl Into<String>) -> ReplayOptions {
        ReplayOptions {
            addr: addr.into(),
            timeout: Duration::from_secs(2),
            quiet: Duration::from_millis(100),
            run_id: run_id.into(),
        }
    }
}

/// A message a client received in the replay (topic without the run's prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedDelivery {
    /// The step during which it arrived.
    pub step: usize,
    /// The receiver.
    pub client: String,
    /// Topic, relative to the run's prefix.
    pub topic: String,
    /// Payload (lossy UTF-8).
    pub payload: String,
    /// QoS.
    pub qos: crate::codec::Qos,
    /// RETAIN.
    pub retain: bool,
}

/// Something the server did (or did not do) that needs no comparison to be
/// a difference: a missing acknowledgement, an unexpected close, bad bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The step.
    pub step: usize,
    /// The client.
    pub client: String,
    /// The statement involved, when one is.
    pub statement: Option<StatementId>,
    /// What should have happened.
    pub expected: String,
    /// What happened.
    pub observed: String,
}

/// What the replay saw.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// CONNACKs, SUBACKs and UNSUBACKs, as [`Line`]s.
    pub acks: Vec<Line>,
    /// Messages received, in arrival order per client.
    pub deliveries: Vec<ObservedDelivery>,
    /// Problems.
    pub problems: Vec<Problem>,
    /// Notes from the clean-up (failures to clear what the run left).
    pub cleanup: Vec<String>,
}

struct Live {
    conn: TestConn,
    next_id: u16,
    qos2_in: BTreeSet<u16>,
}

impl Live {
    fn packet_id(&mut self) -> PacketId {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        PacketId::new(self.next_id).expect("never zero")
    }
}

/// What one read gave, after PUBLISH and PUBREL were handled.
// Packet is large (CONNECT), but a Got is moved once, straight into a match.
#[allow(clippy::large_enum_variant)]
enum Got {
    Packet(Packet),
    /// A PUBLISH or PUBREL, recorded and answered.
    Handled,
    Timeout,
    Closed,
}

struct Replayer<'a> {
    case: &'a Case,
    options: &'a ReplayOptions,
    connector: TcpConnector,
    prefix: String,
    live: Vec<Option<Live>>,
    step: usize,
    out: Observed,
    /// Per client: expected messages (topic, payload, retain) not seen yet.
    pending: Vec<Vec<(String, String, bool)>>,
}

fn pick(version: Version, v3: StatementId, v5: StatementId) -> StatementId {
    match version {
        Version::V3_1_1 => v3,
        Version::V5 => v5,
    }
}

/// Replays `case` against `options.addr`. A server that cannot be reached
/// at all is an error; everything the server does once connected is data.
pub async fn replay(case: &Case, options: &ReplayOptions) -> Result<Observed, ReplayError> {
    let connector = TcpConnector { addr: options.addr.clone() };
    // Reachable at all?
    match tokio::time::timeout(options.timeout, connector.connect()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return Err(ReplayError::Connect(format!("cannot connect to {}: {e}", options.addr))),
        Err(_) => return Err(ReplayError::Connect(format!("connecting to {} timed out", options.addr))),
    }
    let mut r = Replayer {
        case,
        options,
        connector,
        prefix: format!("mqttsim/{}/", options.run_id),
        live: case.clients.iter().map(|_| None).collect(),
        step: 0,
        out: Observed::default(),
        pending: case.clients.iter().map(|_| Vec::new()).collect(),
    };
    let ran = r.run_all().await;
    // Clean up even after a harness error, so the server keeps nothing of the run.
    r.cleanup().await;
    ran.map(|()| r.out)
}

impl Replayer<'_> {
    async fn run_all(&mut self) -> Result<(), ReplayError> {
        let case = self.case;
        for step in &case.steps {
            self.step = step.step;
            let Some(i) = case.clients.iter().position(|c| c.name == step.client) else {
                return Err(ReplayError::BadCase { line: 0, why: format!("unknown client {}", step.client) });
            };
            self.expect_step(step.step);
            self.run_step(i, &step.op).await?;
            self.settle().await?;
        }
        Ok(())
    }

    fn client(&self, i: usize) -> &ClientInput {
        &self.case.clients[i]
    }

    fn client_id(&self, i: usize) -> String {
        format!("ms{}{i}", self.options.run_id)
    }

    fn problem(&mut self, i: usize, statement: Option<StatementId>, expected: &str, observed: impl Into<String>) {
        let client = self.client(i).name.clone();
        self.out.problems.push(Problem {
            step: self.step,
            client,
            statement,
            expected: expected.to_owned(),
            observed: observed.into(),
        });
    }

    /// Adds the messages expected at `step` to the pending sets.
    fn expect_step(&mut self, step: usize) {
        for d in self.case.deliveries.iter().filter(|d| d.step == step && d.optional.is_none()) {
            if let Some(i) = self.case.clients.iter().position(|c| c.name == d.client) {
                self.pending[i].push((d.topic.clone(), d.payload.clone(), d.retain));
            }
        }
    }

    async fn run_step(&mut self, i: usize, op: &Op) -> Result<(), ReplayError> {
        let version = self.client(i).version;
        match op {
            Op::Connect => self.connect(i, self.client(i).clean_start).await,
            Op::Close => {
                if let Some(live) = self.live[i].take() {
                    live.conn.drop_connection().await;
                }
                // The will, if the model saw one, arrives at the others first.
                self.wait_pending(|j| j != i).await;
                tokio::time::sleep(self.options.quiet).await;
                self.connect(i, self.client(i).clean_start).await
            }
            Op::Disconnect { reason } => {
                let packet = Packet::Disconnect(Disconnect {
                    reason_code: ReasonCode(if version == Version::V5 { *reason } else { 0 }),
                    properties: Properties::default(),
                });
                if self.send(i, &packet).await {
                    let deadline = Instant::now() + self.options.timeout;
                    // Read until the server closes (messages before it count).
                    loop {
                        match self.recv(i, deadline).await {
                            Got::Closed | Got::Timeout => break,
                            Got::Packet(_) | Got::Handled => {}
                        }
                    }
                }
                if let Some(live) = self.live[i].take() {
                    live.conn.drop_connection().await;
                }
                Ok(())
            }
            Op::Subscribe { filter, qos } => {
                let Ok(f) = TopicFilter::for_version(format!("{}{filter}", self.prefix), version) else {
                    return Err(ReplayError::BadCase { line: 0, why: format!("bad filter {filter:?}") });
                };
                let Some(live) = self.live[i].as_mut() else {
                    self.not_connected(i);
                    return Ok(());
                };
                let id = live.packet_id();
                let sub = Subscription { filter: f, options: SubscriptionOptions::qos(*qos) };
                let packet = Packet::Subscribe(Subscribe {
                    packet_id: id,
                    properties: Properties::default(),
                    subscriptions: vec![sub],
                });
                if !self.send(i, &packet).await {
                    return Ok(());
                }
                let st = pick(version, v3_1_1::MQTT_3_8_4_1, v5::MQTT_3_8_4_1);
                if let Some(Packet::Suback(ack)) =
                    self.await_packet(i, st, "SUBACK", |p| matches!(p, Packet::Suback(a) if a.packet_id == id)).await
                {
                    let reason_codes = ack.reason_codes.iter().map(|c| c.0).collect();
                    let client = self.client(i).name.clone();
                    self.out.acks.push(Line::Suback { step: self.step, client, reason_codes });
                }
                Ok(())
            }
            Op::Unsubscribe { filter } => {
                let Ok(f) = TopicFilter::for_version(format!("{}{filter}", self.prefix), version) else {
                    return Err(ReplayError::BadCase { line: 0, why: format!("bad filter {filter:?}") });
                };
                let Some(live) = self.live[i].as_mut() else {
                    self.not_connected(i);
                    return Ok(());
                };
                let id = live.packet_id();
                let packet = Packet::Unsubscribe(Unsubscribe {
                    packet_id: id,
                    properties: Properties::default(),
                    filters: vec![f],
                });
                if !self.send(i, &packet).await {
                    return Ok(());
                }
                let st = pick(version, v3_1_1::MQTT_3_10_4_4, v5::MQTT_3_10_4_4);
                if let Some(Packet::Unsuback(ack)) = self
                    .await_packet(i, st, "UNSUBACK", |p| matches!(p, Packet::Unsuback(a) if a.packet_id == id))
                    .await
                {
                    let reason_codes = ack.reason_codes.iter().map(|c| c.0).collect();
                    let client = self.client(i).name.clone();
                    self.out.acks.push(Line::Unsuback { step: self.step, client, reason_codes });
                }
                Ok(())
            }
            Op::Publish { topic, payload, qos, retain } => {
                let Ok(name) = TopicName::new(format!("{}{topic}", self.prefix)) else {
                    return Err(ReplayError::BadCase { line: 0, why: format!("bad topic {topic:?}") });
                };
                let Some(live) = self.live[i].as_mut() else {
                    self.not_connected(i);
                    return Ok(());
                };
                let id = live.packet_id();
                let qos_pid = QosPid::from_parts(*qos, Some(id)).expect("an id is given");
                let publish = Publish {
                    dup: false,
                    qos_pid,
                    retain: *retain,
                    topic: name,
                    properties: Properties::default(),
                    payload: Bytes::from(payload.clone().into_bytes()),
                };
                if !self.send(i, &Packet::Publish(publish)).await {
                    return Ok(());
                }
                match qos_pid {
                    QosPid::AtMostOnce => {}
                    QosPid::AtLeastOnce(_) => {
                        let st = pick(version, v3_1_1::MQTT_4_3_2_2, v5::MQTT_4_3_2_4);
                        self.await_packet(i, st, "PUBACK", |p| matches!(p, Packet::Puback(a) if a.packet_id == id))
                            .await;
                    }
                    QosPid::ExactlyOnce(_) => {
                        let st = pick(version, v3_1_1::MQTT_4_3_3_2, v5::MQTT_4_3_3_8);
                        if self
                            .await_packet(i, st, "PUBREC", |p| matches!(p, Packet::Pubrec(a) if a.packet_id == id))
                            .await
                            .is_some()
                            && self.send(i, &Packet::Pubrel(PubResponse::new(id))).await
                        {
                            let st = pick(version, v3_1_1::MQTT_4_3_3_2, v5::MQTT_4_3_3_11);
                            self.await_packet(
                                i,
                                st,
                                "PUBCOMP",
                                |p| matches!(p, Packet::Pubcomp(a) if a.packet_id == id),
                            )
                            .await;
                        }
                    }
                }
                Ok(())
            }
        }
    }

    fn not_connected(&mut self, i: usize) {
        self.problem(i, None, "a connection for this step", "the client is not connected (an earlier step failed)");
    }

    fn connect_packet(&self, i: usize, clean_start: bool) -> Packet {
        let c = self.client(i);
        let mut properties = Properties::default();
        if c.version == Version::V5 {
            properties.session_expiry_interval_secs = c.session_expiry_interval_secs;
            properties.receive_maximum = c.receive_maximum;
        }
        let will = c.will.as_ref().and_then(|w| {
            Some(Will {
                topic: TopicName::new(format!("{}{}", self.prefix, w.topic)).ok()?,
                payload: Bytes::from(w.payload.clone().into_bytes()),
                qos: w.qos,
                retain: w.retain,
                properties: Properties::default(),
            })
        });
        Packet::Connect(Connect {
            version: c.version,
            clean_start,
            keep_alive_secs: c.keep_alive_secs,
            properties,
            client_id: self.client_id(i),
            will,
            username: None,
            password: None,
        })
    }

    async fn open(&self, version: Version) -> Result<TestConn, ReplayError> {
        match tokio::time::timeout(self.options.timeout, self.connector.connect()).await {
            Ok(Ok(stream)) => Ok(TestConn::new(stream, version, self.options.timeout)),
            Ok(Err(e)) => Err(ReplayError::Connect(format!("cannot connect to {}: {e}", self.options.addr))),
            Err(_) => Err(ReplayError::Connect(format!("connecting to {} timed out", self.options.addr))),
        }
    }

    async fn connect(&mut self, i: usize, clean_start: bool) -> Result<(), ReplayError> {
        let version = self.client(i).version;
        let conn = self.open(version).await?;
        self.live[i] = Some(Live { conn, next_id: 0, qos2_in: BTreeSet::new() });
        let packet = self.connect_packet(i, clean_start);
        if !self.send(i, &packet).await {
            return Ok(());
        }
        let st = pick(version, v3_1_1::MQTT_3_1_4_4, v5::MQTT_3_1_4_5);
        if let Some(Packet::Connack(ack)) =
            self.await_packet(i, st, "CONNACK", |p| matches!(p, Packet::Connack(_))).await
        {
            let client = self.client(i).name.clone();
            self.out.acks.push(Line::Connack {
                step: self.step,
                client,
                session_present: ack.session_present,
                reason_code: ack.reason_code.0,
            });
            if ack.reason_code.0 >= 0x80 {
                self.live[i] = None;
            }
        }
        Ok(())
    }

    /// Sends on client `i`'s connection; false (and a problem) when there is none.
    async fn send(&mut self, i: usize, packet: &Packet) -> bool {
        let Some(live) = self.live[i].as_mut() else {
            self.not_connected(i);
            return false;
        };
        if let Err(e) = live.conn.send(packet).await {
            let why = format!("{e:?}");
            self.problem(i, None, "the packet is sent", why);
            self.live[i] = None;
            return false;
        }
        true
    }

    /// The next packet on client `i` before `deadline`; a PUBLISH or PUBREL
    /// is recorded and answered here and reported as [`Got::Handled`].
    async fn recv(&mut self, i: usize, deadline: Instant) -> Got {
        let Some(live) = self.live[i].as_mut() else { return Got::Closed };
        let left = deadline.saturating_duration_since(Instant::now());
        match live.conn.recv(left).await {
            Event::Timeout => Got::Timeout,
            Event::Closed => {
                self.live[i] = None;
                Got::Closed
            }
            Event::Malformed { error, statement, .. } => {
                self.problem(i, statement, "well-formed packets", format!("malformed packet: {error}"));
                self.live[i] = None;
                Got::Closed
            }
            Event::Packet(Packet::Publish(p)) => {
                let reply = match p.qos_pid {
                    QosPid::AtMostOnce => None,
                    QosPid::AtLeastOnce(id) => Some(Packet::Puback(PubResponse::new(id))),
                    QosPid::ExactlyOnce(id) => Some(Packet::Pubrec(PubResponse::new(id))),
                };
                let first = match p.qos_pid {
                    QosPid::ExactlyOnce(id) => live.qos2_in.insert(id.get()),
                    _ => true,
                };
                if first {
                    self.delivered(i, &p);
                }
                match reply {
                    Some(reply) if !self.send(i, &reply).await => Got::Closed,
                    _ => Got::Handled,
                }
            }
            Event::Packet(Packet::Pubrel(r)) => {
                live.qos2_in.remove(&r.packet_id.get());
                if self.send(i, &Packet::Pubcomp(PubResponse::new(r.packet_id))).await {
                    Got::Handled
                } else {
                    Got::Closed
                }
            }
            Event::Packet(other) => Got::Packet(other),
        }
    }

    fn delivered(&mut self, i: usize, p: &Publish) {
        let topic = p.topic.as_str();
        let topic = topic.strip_prefix(self.prefix.as_str()).unwrap_or(topic).to_owned();
        let payload = String::from_utf8_lossy(&p.payload).into_owned();
        if let Some(k) = self.pending[i].iter().position(|(t, pl, r)| *t == topic && *pl == payload && *r == p.retain) {
            self.pending[i].swap_remove(k);
        }
        let client = self.client(i).name.clone();
        self.out.deliveries.push(ObservedDelivery {
            step: self.step,
            client,
            topic,
            payload,
            qos: p.qos_pid.qos(),
            retain: p.retain,
        });
    }

    /// Waits (bounded) for a packet matching `want` on client `i`; anything
    /// else that arrives meanwhile is a problem citing `statement`.
    async fn await_packet(
        &mut self,
        i: usize,
        statement: StatementId,
        what: &str,
        want: impl Fn(&Packet) -> bool,
    ) -> Option<Packet> {
        let deadline = Instant::now() + self.options.timeout;
        loop {
            match self.recv(i, deadline).await {
                Got::Packet(p) if want(&p) => return Some(p),
                Got::Handled => {}
                Got::Packet(p) => {
                    let observed = format!("unexpected {}", crate::conformance::describe(&p));
                    self.problem(i, Some(statement), &format!("{what} next"), observed);
                }
                Got::Timeout => {
                    let observed = format!("no {what} within {} ms", self.options.timeout.as_millis());
                    self.problem(i, Some(statement), what, observed);
                    return None;
                }
                Got::Closed => {
                    self.problem(i, Some(statement), what, "the connection was closed");
                    return None;
                }
            }
        }
    }

    /// Waits until the clients selected by `which` received what they are
    /// owed so far, or the timeout passes (then what is owed is given up;
    /// the comparison reports it).
    async fn wait_pending(&mut self, which: impl Fn(usize) -> bool) {
        let deadline = Instant::now() + self.options.timeout;
        for i in 0..self.case.clients.len() {
            if !which(i) {
                continue;
            }
            while !self.pending[i].is_empty() && self.live[i].is_some() {
                match self.recv(i, deadline).await {
                    Got::Timeout | Got::Closed => break,
                    Got::Handled => {}
                    Got::Packet(p) => {
                        let observed = format!("unexpected {}", crate::conformance::describe(&p));
                        self.problem(i, None, "only PUBLISH and PUBREL between steps", observed);
                    }
                }
            }
            self.pending[i].clear();
        }
    }

    /// After a step: the expected messages (bounded wait), then a PINGREQ
    /// marker per connection, so whatever the server sent before its
    /// PINGRESP is recorded in this step.
    async fn settle(&mut self) -> Result<(), ReplayError> {
        self.wait_pending(|_| true).await;
        for i in 0..self.case.clients.len() {
            if self.live[i].is_none() || !self.send(i, &Packet::Pingreq).await {
                continue;
            }
            let st = pick(self.client(i).version, v3_1_1::MQTT_3_12_4_1, v5::MQTT_3_12_4_1);
            self.await_packet(i, st, "PINGRESP", |p| matches!(p, Packet::Pingresp)).await;
        }
        Ok(())
    }

    /// Disconnects everyone, ends the run's persistent sessions and clears
    /// its retained messages; failures become notes.
    async fn cleanup(&mut self) {
        for i in 0..self.case.clients.len() {
            if let Some(mut live) = self.live[i].take() {
                let _ = live.conn.send(&Packet::Disconnect(Disconnect::default())).await;
                live.conn.drop_connection().await;
            }
        }
        for i in 0..self.case.clients.len() {
            if self.client(i).clean_start {
                continue;
            }
            let version = self.client(i).version;
            let mut packet = self.connect_packet(i, true);
            if let Packet::Connect(c) = &mut packet {
                c.will = None;
                c.properties = Properties::default();
            }
            if let Err(e) = self.one_shot(version, packet, &[]).await {
                self.out.cleanup.push(format!("ending the session of {}: {e}", self.client(i).name));
            }
        }
        let mut topics: BTreeSet<String> = BTreeSet::new();
        for s in &self.case.steps {
            if let Op::Publish { topic, retain: true, .. } = &s.op {
                topics.insert(topic.clone());
            }
        }
        for c in &self.case.clients {
            if let Some(w) = c.will.as_ref().filter(|w| w.retain) {
                topics.insert(w.topic.clone());
            }
        }
        if topics.is_empty() {
            return;
        }
        let version = self.case.clients.first().map_or(Version::V3_1_1, |c| c.version);
        let connect = Packet::Connect(Connect {
            version,
            clean_start: true,
            keep_alive_secs: 60,
            properties: Properties::default(),
            client_id: format!("ms{}c", self.options.run_id),
            will: None,
            username: None,
            password: None,
        });
        let mut clears = Vec::new();
        for t in &topics {
            let Ok(topic) = TopicName::new(format!("{}{t}", self.prefix)) else { continue };
            clears.push(Packet::Publish(Publish {
                dup: false,
                qos_pid: QosPid::AtMostOnce,
                retain: true,
                topic,
                properties: Properties::default(),
                payload: Bytes::new(),
            }));
        }
        if let Err(e) = self.one_shot(version, connect, &clears).await {
            self.out.cleanup.push(format!("clearing {} retained topics: {e}", topics.len()));
        }
    }

    /// Connects with `connect`, sends `packets`, proves them processed with a
    /// PINGREQ round trip, and disconnects.
    async fn one_shot(&self, version: Version, connect: Packet, packets: &[Packet]) -> Result<(), String> {
        let mut conn = self.open(version).await.map_err(|e| e.to_string())?;
        let wait = self.options.timeout;
        conn.send(&connect).await.map_err(|e| format!("{e:?}"))?;
        match conn.recv(wait).await {
            Event::Packet(Packet::Connack(a)) if a.reason_code.0 < 0x80 => {}
            other => return Err(format!("no CONNACK: {other:?}")),
        }
        for p in packets {
            conn.send(p).await.map_err(|e| format!("{e:?}"))?;
        }
        conn.send(&Packet::Pingreq).await.map_err(|e| format!("{e:?}"))?;
        let deadline = Instant::now() + wait;
        loop {
            match conn.recv(deadline.saturating_duration_since(Instant::now())).await {
                Event::Packet(Packet::Pingresp) => break,
                Event::Packet(_) => {}
                _ => return Err("no PINGRESP".into()),
            }
        }
        conn.send(&Packet::Disconnect(Disconnect::default())).await.map_err(|e| format!("{e:?}"))?;
        conn.drop_connection().await;
        Ok(())
    }
}
