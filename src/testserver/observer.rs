//! [`Observer`]: watches the client side of every connection and cites the
//! client-side statements the client exercises, complied with or broken.
//!
//! It sees the client's packets as they arrive and the server's packets as
//! they actually go on the wire (after delays, drops and rewrites), so the
//! checks judge what the client could know.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;

use crate::check::junit::{CaseOutcome, JunitDocument, TestCase, TestSuite};
use crate::codec::{DecodeError, Packet, Qos, ReasonCode};
use crate::model::ConnectionId;
use crate::spec::{v3_1_1, v5, StatementId, Version};

/// One broken client-side statement.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    /// Seconds since the server started (`now` as given to the server).
    pub time_s: f64,
    /// The connection.
    pub conn: u64,
    /// The client identifier, when CONNECT arrived.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The statement broken.
    pub statement: StatementId,
    /// The statement's summary.
    pub summary: &'static str,
    /// What the client did.
    pub detail: String,
}

/// Counts of one statement in a [`ClientReport`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct StatementCounts {
    /// Times the client was checked and complied.
    pub checked: u64,
    /// Times the client broke it.
    pub violated: u64,
}

/// One statement line of a [`ClientReport`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CoveredStatement {
    /// The statement.
    pub statement: StatementId,
    /// Its summary.
    pub summary: &'static str,
    /// How often it was checked and violated.
    #[serde(flatten)]
    pub counts: StatementCounts,
}

/// The client-conformance report: statements covered and violated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClientReport {
    /// Every client-side statement the clients exercised, in catalogue order.
    pub covered: Vec<CoveredStatement>,
    /// Every violation, in the order found.
    pub violations: Vec<Violation>,
}

impl ClientReport {
    /// Whether no violation was found.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// The report as text: one line per statement, then one per violation.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let violated = self.covered.iter().filter(|c| c.counts.violated > 0).count();
        out.push_str(&format!(
            "client conformance: {} statements exercised, {} violated, {} violations\n",
            self.covered.len(),
            violated,
            self.violations.len()
        ));
        for c in &self.covered {
            let verdict = if c.counts.violated > 0 { "VIOLATED" } else { "ok" };
            out.push_str(&format!(
                "  {verdict:8} {} (checked {}, violated {}): {}\n",
                c.statement, c.counts.checked, c.counts.violated, c.summary
            ));
        }
        for v in &self.violations {
            let id = v.client_id.as_deref().unwrap_or("-");
            out.push_str(&format!(
                "violation at {:.3}s on c{} (client {id}): {}: {}\n",
                v.time_s, v.conn, v.statement, v.detail
            ));
        }
        out
    }

    /// The report as pretty JSON.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report always serializes")
    }

    /// The report as JUnit XML (the writer `mqttsim check` uses): one suite
    /// per version, one case per client-side statement exercised, failed
    /// when the client broke it, with one line per violation as the body.
    pub fn to_junit(&self) -> String {
        let mut doc = JunitDocument::new("mqttsim serve: client conformance");
        for version in Version::ALL {
            let cases: Vec<TestCase> = self
                .covered
                .iter()
                .filter(|c| c.statement.version == version)
                .map(|c| {
                    let outcome = if c.counts.violated == 0 {
                        CaseOutcome::Pass
                    } else {
                        let lines: Vec<String> = self
                            .violations
                            .iter()
                            .filter(|v| v.statement == c.statement)
                            .map(|v| {
                                let id = v.client_id.as_deref().unwrap_or("-");
                                format!("at {:.3}s on c{} (client {id}): {}", v.time_s, v.conn, v.detail)
                            })
                            .collect();
                        CaseOutcome::Failure {
                            message: format!(
                                "{}: violated {} of {} times",
                                c.statement,
                                c.counts.violated,
                                c.counts.checked + c.counts.violated
                            ),
                            body: lines.join("\n"),
                        }
                    };
                    TestCase::new(
                        format!("mqtt-{version}-client"),
                        format!("{} {}", c.statement.id, c.summary),
                        outcome,
                    )
                })
                .collect();
            if !cases.is_empty() {
                doc.suites.push(TestSuite { name: format!("MQTT {version} client"), cases });
            }
        }
        doc.to_xml()
    }
}

/// Client state kept across connections of one client id.
#[derive(Debug, Default)]
struct SessionView {
    /// QoS>0 PUBLISH ids from the client not yet completed, with the ordinal
    /// of the connection that carried them and their QoS.
    inflight: BTreeMap<u16, (u64, Qos)>,
    /// Ids the server answered with PUBREC (success) and whose PUBCOMP is not sent yet.
    pubrec_sent: BTreeSet<u16>,
}

#[derive(Debug)]
struct ConnView {
    ordinal: u64,
    version: Option<Version>,
    client_id: Option<String>,
    packets: u64,
    keep_alive: Option<Duration>,
    client_keep_alive: Option<Duration>,
    last_received: Option<Duration>,
    /// Keep-alive judging is off after the server itself went silent.
    keep_alive_unreliable: bool,
    /// After a CONNACK with Session Present, the ids the client still has
    /// to resend (MQTT-4.4.0-1), with what it may resend: `true` when the
    /// server had sent PUBREC, so a PUBREL (or, if the PUBREC was lost, the
    /// PUBLISH) is due.
    owed: BTreeMap<u16, bool>,
    /// The client sent something after that CONNACK.
    active_after_connack: bool,
}

/// The client checker. Sans-IO: fed with what happens, read with
/// [`Observer::poll_violation`] and [`Observer::report`].
#[derive(Debug)]
pub struct Observer {
    receive_maximum: u16,
    topic_alias_maximum: u16,
    keep_alive_grace: Duration,
    conns: BTreeMap<ConnectionId, ConnView>,
    sessions: BTreeMap<String, SessionView>,
    counts: BTreeMap<StatementId, StatementCounts>,
    violations: Vec<Violation>,
    unread: usize,
}

/// The most violations kept; later ones are counted but not stored.
const VIOLATIONS_MAX: usize = 10_000;

impl Observer {
    /// An observer for a server announcing `receive_maximum` and `topic_alias_maximum`.
    pub fn new(receive_maximum: u16, topic_alias_maximum: u16, keep_alive_grace: Duration) -> Observer {
        Observer {
            receive_maximum,
            topic_alias_maximum,
            keep_alive_grace,
            conns: BTreeMap::new(),
            sessions: BTreeMap::new(),
            counts: BTreeMap::new(),
            violations: Vec::new(),
            unread: 0,
        }
    }

    /// A connection opened; `ordinal` counts connections from 1.
    pub fn on_open(&mut self, conn: ConnectionId, ordinal: u64) {
        self.conns.insert(
            conn,
            ConnView {
                ordinal,
                version: None,
                client_id: None,
                packets: 0,
                keep_alive: None,
                client_keep_alive: None,
                last_received: None,
                keep_alive_unreliable: false,
                owed: BTreeMap::new(),
                active_after_connack: false,
            },
        );
    }

    /// The server went silent on `conn`: gaps in what it reads say nothing about the client.
    pub fn on_silence(&mut self, conn: ConnectionId) {
        if let Some(view) = self.conns.get_mut(&conn) {
            view.keep_alive_unreliable = true;
        }
    }

    /// The connection closed at `now`: a client that resumed a session
    /// and got on with other work there without resending what was still
    /// unacknowledged broke MQTT-4.4.0-1 (a client that sent nothing after
    /// the CONNACK had no chance and is not judged).
    pub fn on_closed(&mut self, now: Duration, conn: ConnectionId) {
        let Some(view) = self.conns.get(&conn) else { return };
        if !view.owed.is_empty() && view.active_after_connack {
            let version = view.version.unwrap_or(Version::V5);
            let ids: Vec<String> =
                view.owed.iter().map(|(id, rel)| format!("{} {id}", if *rel { "PUBREL" } else { "PUBLISH" })).collect();
            let detail = format!("resumed its session but never resent {}", ids.join(", "));
            self.violated(now, conn, pick(version, v3_1_1::MQTT_4_4_0_1, v5::MQTT_4_4_0_1), detail);
        }
        self.conns.remove(&conn);
    }

    /// The next violation not read yet.
    pub fn poll_violation(&mut self) -> Option<Violation> {
        if self.unread == 0 {
            return None;
        }
        let index = self.violations.len() - self.unread;
        self.unread -= 1;
        self.violations.get(index).cloned()
    }

    /// Violations found so far.
    pub fn violation_count(&self) -> u64 {
        self.counts.values().map(|c| c.violated).sum()
    }

    /// The report so far.
    pub fn report(&self) -> ClientReport {
        let mut covered: Vec<CoveredStatement> = self
            .counts
            .iter()
            .map(|(id, counts)| CoveredStatement { statement: *id, summary: id.summary(), counts: *counts })
            .collect();
        covered.sort_by_key(|c| {
            let position = c.statement.version.statements().iter().position(|s| s.id == c.statement);
            (c.statement.version, position)
        });
        ClientReport { covered, violations: self.violations.clone() }
    }

    fn checked(&mut self, statement: StatementId) {
        self.counts.entry(statement).or_default().checked += 1;
    }

    fn violated(&mut self, now: Duration, conn: ConnectionId, statement: StatementId, detail: String) {
        self.counts.entry(statement).or_default().violated += 1;
        if self.violations.len() < VIOLATIONS_MAX {
            let client_id = self.conns.get(&conn).and_then(|v| v.client_id.clone());
            self.violations.push(Violation {
                time_s: now.as_secs_f64(),
                conn: conn.0,
                client_id,
                statement,
                summary: statement.summary(),
                detail,
            });
            self.unread += 1;
        }
    }

    /// A packet (or undecodable bytes) arrived from the client.
    pub fn on_received(&mut self, now: Duration, conn: ConnectionId, packet: Result<&Packet, &DecodeError>) {
        let Some(view) = self.conns.get_mut(&conn) else { return };
        view.packets += 1;
        let first = view.packets == 1;
        let previous = view.last_received.replace(now);
        let ka = view.keep_alive.filter(|_| !view.keep_alive_unreliable);
        let client_ka = view.client_keep_alive;
        let version = view.version;

        let packet = match packet {
            Ok(packet) => packet,
            Err(error) => {
                if let Some(statement) = error.statement {
                    self.violated(now, conn, statement, format!("sent bytes that do not decode: {error}"));
                }
                return;
            }
        };
        let is_connect = matches!(packet, Packet::Connect(_));
        if let Some(view) = self.conns.get_mut(&conn) {
            if view.version.is_some() && !is_connect {
                view.active_after_connack = true;
            }
            let resent = match packet {
                Packet::Publish(p) => p.packet_id().map(|id| id.get()),
                Packet::Pubrel(r) => Some(r.packet_id.get()),
                _ => None,
            };
            if let Some(id) = resent.filter(|id| view.owed.contains_key(id)) {
                let rel_due = view.owed.remove(&id).unwrap_or(false);
                let ok = rel_due || matches!(packet, Packet::Publish(_));
                let statement = pick(view.version.unwrap_or(Version::V5), v3_1_1::MQTT_4_4_0_1, v5::MQTT_4_4_0_1);
                if ok {
                    self.checked(statement);
                } else {
                    let detail = format!("resent PUBREL {id} for a PUBLISH the server never answered with PUBREC");
                    self.violated(now, conn, statement, detail);
                }
            }
        }
        if first {
            let version = match packet {
                Packet::Connect(c) => c.version,
                _ => Version::V5,
            };
            let id = pick(version, v3_1_1::MQTT_3_1_0_1, v5::MQTT_3_1_0_1);
            if is_connect {
                self.checked(id);
            } else {
                self.violated(now, conn, id, format!("first packet was {}, not CONNECT", packet.packet_type()));
                return;
            }
        } else if is_connect {
            let id = pick(version.unwrap_or(Version::V5), v3_1_1::MQTT_3_1_0_2, v5::MQTT_3_1_0_2);
            self.violated(now, conn, id, "sent a second CONNECT on the same connection".into());
            return;
        }
        let Some(version) = version.or(match packet {
            Packet::Connect(c) => Some(c.version),
            _ => None,
        }) else {
            return;
        };

        // Keep-alive: the gap since the last packet must not exceed the keep-alive.
        if let (Some(ka), Some(previous)) = (ka, previous) {
            let gap = now.saturating_sub(previous);
            let ka_id = pick(version, v3_1_1::MQTT_3_1_2_23, v5::MQTT_3_1_2_20);
            if gap > ka + self.keep_alive_grace {
                let within_own = client_ka.is_some_and(|own| own != ka && gap <= own + self.keep_alive_grace);
                if within_own && version == Version::V5 {
                    self.violated(
                        now,
                        conn,
                        v5::MQTT_3_1_2_21,
                        format!(
                            "{:.1}s without a packet: kept its own keep-alive instead of the Server Keep Alive {}s",
                            gap.as_secs_f64(),
                            ka.as_secs()
                        ),
                    );
                } else {
                    self.violated(
                        now,
                        conn,
                        ka_id,
                        format!("{:.1}s without a packet, keep-alive is {}s", gap.as_secs_f64(), ka.as_secs()),
                    );
                }
            } else if matches!(packet, Packet::Pingreq) {
                self.checked(ka_id);
            }
        }

        match packet {
            Packet::Connect(connect) => {
                let view = self.conns.get_mut(&conn).expect("present");
                view.version = Some(connect.version);
                view.client_id = Some(connect.client_id.clone());
                let ka = (connect.keep_alive_secs > 0).then(|| Duration::from_secs(connect.keep_alive_secs.into()));
                view.keep_alive = ka;
                view.client_keep_alive = ka;
                let key = session_key(&connect.client_id, conn);
                if connect.clean_start {
                    self.sessions.insert(key, SessionView::default());
                } else {
                    self.sessions.entry(key).or_default();
                }
            }
            Packet::Publish(publish) => self.on_publish(now, conn, version, publish),
            Packet::Pubrel(rel) => {
                let id = pick(version, v3_1_1::MQTT_4_3_3_1, v5::MQTT_4_3_3_4);
                let known = self.session(conn).is_some_and(|s| s.pubrec_sent.contains(&rel.packet_id.get()));
                if known {
                    self.checked(id);
                } else {
                    self.violated(now, conn, id, format!("PUBREL {} without a PUBREC for that id", rel.packet_id));
                }
            }
            Packet::Subscribe(sub) => self.id_in_use(now, conn, version, sub.packet_id.get(), "SUBSCRIBE"),
            Packet::Unsubscribe(unsub) => self.id_in_use(now, conn, version, unsub.packet_id.get(), "UNSUBSCRIBE"),
            _ => {}
        }
    }

    fn id_in_use(&mut self, now: Duration, conn: ConnectionId, version: Version, pid: u16, what: &str) {
        let id = pick(version, v3_1_1::MQTT_2_3_1_2, v5::MQTT_2_2_1_3);
        if self.session(conn).is_some_and(|s| s.inflight.contains_key(&pid)) {
            self.violated(now, conn, id, format!("{what} uses packet id {pid}, still in use by a PUBLISH"));
        } else {
            self.checked(id);
        }
    }

    fn on_publish(&mut self, now: Duration, conn: ConnectionId, version: Version, publish: &crate::codec::Publish) {
        if version == Version::V5 {
            if let Some(alias) = publish.properties.topic_alias {
                if alias > self.topic_alias_maximum {
                    let detail = format!("Topic Alias {alias} above the server's maximum {}", self.topic_alias_maximum);
                    self.violated(now, conn, v5::MQTT_3_2_2_17, detail.clone());
                    self.violated(now, conn, v5::MQTT_3_3_2_9, detail);
                } else {
                    self.checked(v5::MQTT_3_2_2_17);
                    self.checked(v5::MQTT_3_3_2_9);
                }
            }
        }
        let Some(pid) = publish.packet_id() else { return };
        let pid = pid.get();
        let ordinal = self.conns.get(&conn).map_or(0, |v| v.ordinal);
        let receive_maximum = self.receive_maximum;
        let in_use_id = pick(version, v3_1_1::MQTT_2_3_1_2, v5::MQTT_2_2_1_3);
        let dup_id = pick(version, v3_1_1::MQTT_3_3_1_1, v5::MQTT_3_3_1_1);
        let Some(session) = self.session_mut(conn) else { return };
        match session.inflight.get(&pid).copied() {
            Some((earlier, _)) if earlier != ordinal => {
                // A resend after a reconnect: DUP must be set.
                session.inflight.insert(pid, (ordinal, publish.qos()));
                if publish.dup {
                    self.checked(dup_id);
                } else {
                    self.violated(now, conn, dup_id, format!("resent PUBLISH {pid} after reconnecting without DUP"));
                }
            }
            Some(_) => {
                if publish.dup {
                    self.checked(dup_id);
                } else {
                    self.violated(now, conn, in_use_id, format!("new PUBLISH reuses packet id {pid} still in flight"));
                }
            }
            None => {
                session.inflight.insert(pid, (ordinal, publish.qos()));
                let count = session.inflight.len();
                self.checked(in_use_id);
                if version == Version::V5 {
                    if count > usize::from(receive_maximum) {
                        self.violated(
                            now,
                            conn,
                            v5::MQTT_3_3_4_7,
                            format!("{count} QoS>0 PUBLISH in flight, server Receive Maximum is {receive_maximum}"),
                        );
                    } else {
                        self.checked(v5::MQTT_3_3_4_7);
                    }
                }
            }
        }
    }

    /// A packet went to the client on the wire.
    pub fn on_sent(&mut self, conn: ConnectionId, packet: &Packet) {
        match packet {
            Packet::Connack(connack) => {
                if let Some(secs) = connack.properties.server_keep_alive_secs {
                    if let Some(view) = self.conns.get_mut(&conn) {
                        view.keep_alive = (secs > 0).then(|| Duration::from_secs(secs.into()));
                    }
                }
                if connack.session_present && connack.reason_code.0 == 0 {
                    let ordinal = self.conns.get(&conn).map_or(0, |v| v.ordinal);
                    let owed: BTreeMap<u16, bool> = self
                        .session(conn)
                        .map(|s| {
                            s.inflight
                                .iter()
                                .filter(|(_, (carried_on, _))| *carried_on != ordinal)
                                .map(|(id, _)| (*id, s.pubrec_sent.contains(id)))
                                .collect()
                        })
                        .unwrap_or_default();
                    if let Some(view) = self.conns.get_mut(&conn) {
                        view.owed = owed;
                    }
                }
            }
            Packet::Puback(ack) => {
                if let Some(s) = self.session_mut(conn) {
                    s.inflight.remove(&ack.packet_id.get());
                }
            }
            Packet::Pubrec(ack) => {
                if let Some(s) = self.session_mut(conn) {
                    if ack.reason_code.0 >= ReasonCode::UNSPECIFIED_ERROR.0 {
                        s.inflight.remove(&ack.packet_id.get());
                    } else {
                        s.pubrec_sent.insert(ack.packet_id.get());
                    }
                }
            }
            Packet::Pubcomp(ack) => {
                if let Some(s) = self.session_mut(conn) {
                    s.inflight.remove(&ack.packet_id.get());
                    s.pubrec_sent.remove(&ack.packet_id.get());
                }
            }
            _ => {}
        }
    }

    fn session(&self, conn: ConnectionId) -> Option<&SessionView> {
        let view = self.conns.get(&conn)?;
        self.sessions.get(&session_key(view.client_id.as_deref()?, conn))
    }

    fn session_mut(&mut self, conn: ConnectionId) -> Option<&mut SessionView> {
        let view = self.conns.get(&conn)?;
        let key = session_key(view.client_id.as_deref()?, conn);
        self.sessions.get_mut(&key)
    }
}

/// Sessions are keyed by client id; an empty one is its connection's alone.
fn session_key(client_id: &str, conn: ConnectionId) -> String {
    if client_id.is_empty() {
        format!("\u{0}{conn}")
    } else {
        client_id.to_string()
    }
}

fn pick(version: Version, v3: StatementId, v5: StatementId) -> StatementId {
    match version {
        Version::V3_1_1 => v3,
        Version::V5 => v5,
    }
}
