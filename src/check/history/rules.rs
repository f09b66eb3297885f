//! The history rules, each a pass over a rebuilt [`History`]. Which
//! statement each rule cites, and what it forgives, is documented on the
//! parent module.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::build::{At, History, Origin, Publication};
use super::{rule, CheckConfig, Violation};
use crate::codec::{Qos, RetainHandling};
use crate::spec::{v3_1_1, v5, StatementId, Version};

/// Picks the statement of `version`.
fn pick(version: Version, v3: StatementId, v5: StatementId) -> StatementId {
    match version {
        Version::V3_1_1 => v3,
        Version::V5 => v5,
    }
}

/// Whether the broker may publish a will, must have published it, or must not.
#[derive(Debug, Clone)]
pub(super) enum WillStatus {
    /// Due from `from` on (earliest allowed receipt); `due` is when the broker must publish it.
    Due { from: Duration, due: Duration, close: At },
    /// Never allowed: the statement it breaks and why.
    Forbidden { statement: StatementId, why: &'static str },
    /// The connection was still open at the end of the trace, as the client saw it.
    Open,
    /// The trace cannot tell (faults, timing at the edge).
    Maybe,
}

/// A QoS ≥ 1 message the broker owes a subscriber.
#[derive(Debug, Clone)]
pub(super) struct Obligation {
    pub publication: usize,
    pub key: String,
    pub version: Version,
    /// Acknowledged (or, for a will, due) here.
    pub owed: At,
    /// From here on the broker may legitimately have dropped it.
    pub void_at: Duration,
}

/// The history with each delivery attributed to a publication.
pub(super) struct Checker<'a> {
    pub h: &'a History,
    pub cfg: &'a CheckConfig,
    /// Delivery → the SUBSCRIBE request it answers, for retained-on-subscribe deliveries.
    pub retained_for: Vec<Option<usize>>,
    /// Delivery → publication.
    pub assigned: Vec<Option<usize>>,
    pub wills: BTreeMap<usize, WillStatus>,
    pub out: Vec<Violation>,
}

impl<'a> Checker<'a> {
    pub fn new(h: &'a History, cfg: &'a CheckConfig) -> Checker<'a> {
        let mut wills = BTreeMap::new();
        for (p, publication) in h.pubs.iter().enumerate() {
            if publication.origin == Origin::Will {
                wills.insert(p, will_status(h, cfg, publication));
            }
        }
        let mut checker = Checker {
            h,
            cfg,
            retained_for: vec![None; h.deliveries.len()],
            assigned: vec![None; h.deliveries.len()],
            wills,
            out: Vec::new(),
        };
        checker.attribute();
        checker
    }

    fn violation(&mut self, statement: Option<StatementId>, rule: &'static str, at: At, detail: String) {
        self.out.push(Violation { statement, rule, event_index: at.idx, at: at.at, detail });
    }

    fn version_of(&self, key: &str) -> Version {
        self.h.conns.iter().rev().find(|c| c.key == key).map_or(Version::V5, |c| c.version)
    }

    /// Attributes every delivery: retained-on-subscribe or live, and to which publication.
    fn attribute(&mut self) {
        let h = self.h;
        let mut live_count: BTreeMap<(usize, &str), usize> = BTreeMap::new();
        for (d, delivery) in h.deliveries.iter().enumerate() {
            let recv = delivery.recv_at();
            let same = |p: &Publication| p.topic == delivery.topic && p.payload == delivery.payload;
            if delivery.retain {
                let request = h.requests.iter().enumerate().rev().find(|(_, r)| {
                    h.conns[r.conn].key == delivery.key
                        && r.at.at <= recv
                        && r.subs.iter().any(|&s| h.subs[s].matches(&delivery.topic))
                });
                if let Some((r, req)) = request {
                    let rap_live = h.subs.iter().any(|s| {
                        s.key == delivery.key
                            && s.rap
                            && s.possible()
                            && s.matches(&delivery.topic)
                            && s.subscribe.at <= recv
                            && s.unsubscribed.is_none_or(|u| u.at > recv)
                    }) && h.pubs.iter().any(|p| same(p) && p.retain && p.first.at > req.at.at);
                    if !rap_live {
                        self.retained_for[d] = Some(r);
                        self.assigned[d] = h
                            .pubs
                            .iter()
                            .enumerate()
                            .rev()
                            .find(|(_, p)| same(p) && p.first.at <= recv && p.origin == Origin::Client)
                            .or_else(|| h.pubs.iter().enumerate().rev().find(|(_, p)| same(p)))
                            .map(|(p, _)| p);
                        continue;
                    }
                }
            }
            let count = |p: usize, counts: &BTreeMap<(usize, &str), usize>| {
                counts.get(&(p, delivery.key.as_str())).copied().unwrap_or(0)
            };
            let clients: Vec<usize> = (0..h.pubs.len())
                .filter(|&p| h.pubs[p].origin == Origin::Client && same(&h.pubs[p]) && h.pubs[p].first.at <= recv)
                .collect();
            let wills: Vec<usize> =
                (0..h.pubs.len()).filter(|&p| h.pubs[p].origin == Origin::Will && same(&h.pubs[p])).collect();
            let will_ok = |p: &usize, strict: bool| match &self.wills[p] {
                WillStatus::Due { from, .. } => *from <= recv,
                WillStatus::Maybe | WillStatus::Open => !strict,
                WillStatus::Forbidden { .. } => false,
            };
            let chosen = clients
                .iter()
                .find(|&&p| count(p, &live_count) == 0)
                .or_else(|| wills.iter().find(|p| will_ok(p, true) && count(**p, &live_count) == 0))
                .or_else(|| wills.iter().find(|p| will_ok(p, false) && count(**p, &live_count) == 0))
                .or_else(|| clients.last())
                .or_else(|| wills.iter().find(|p| count(**p, &live_count) == 0))
                .or_else(|| wills.last())
                .copied();
            if let Some(p) = chosen {
                *live_count.entry((p, delivery.key.as_str())).or_insert(0) += 1;
            }
            self.assigned[d] = chosen;
        }
    }

    /// The subscriptions that may have routed live delivery `d` of publication `p`.
    fn routes(&self, d: usize, p: Option<usize>) -> Vec<usize> {
        let h = self.h;
        let delivery = &h.deliveries[d];
        let Some(epoch) = delivery.conn.and_then(|c| h.conns[c].epoch) else { return Vec::new() };
        let recv = delivery.recv_at();
        let published = p.map_or(recv, |p| h.pubs[p].first.at);
        (0..h.subs.len())
            .filter(|&s| {
                let sub = &h.subs[s];
                let own = p.is_some_and(|p| h.pubs[p].origin == Origin::Client && h.pubs[p].key == sub.key);
                sub.key == delivery.key
                    && sub.epoch == epoch
                    && sub.possible()
                    && sub.matches(&delivery.topic)
                    && sub.subscribe.at <= recv
                    && sub.unsubscribed.is_none_or(|u| published < u.at)
                    && !(sub.no_local && own)
            })
            .collect()
    }

    /// Session present on every successful CONNACK matches the session state.
    pub fn session_present(&mut self) {
        let h = self.h;
        let slack = self.cfg.timing_slack;
        for (c, conn) in h.conns.iter().enumerate() {
            let Some(connack) = conn.connack else { continue };
            let v = conn.version;
            if !connack.success {
                if connack.session_present {
                    let st = pick(v, v3_1_1::MQTT_3_2_2_4, v5::MQTT_3_2_2_6);
                    self.violation(
                        Some(st),
                        rule::SESSION_PRESENT,
                        connack.at,
                        format!("{}: a refused CONNACK says session present 1", conn.endpoint),
                    );
                }
                continue;
            }
            if conn.clean_start {
                if connack.session_present {
                    let st = pick(v, v3_1_1::MQTT_3_2_2_1, v5::MQTT_3_2_2_2);
                    self.violation(
                        Some(st),
                        rule::SESSION_PRESENT,
                        connack.at,
                        format!("{}: CONNECT with clean start 1 answered with session present 1", conn.endpoint),
                    );
                }
                continue;
            }
            // The latest earlier connection of the same session key that was accepted.
            let previous = h.conns[..c]
                .iter()
                .rev()
                .find(|p| p.key == conn.key && !p.key.is_empty() && p.connack.is_some_and(|a| a.success));
            let expected = match previous {
                None if self.cfg.fresh_broker && !conn.key.is_empty() => Some(false),
                None => None,
                Some(prev) => {
                    let crashed = !self.cfg.durable_broker
                        && h.crashes.iter().any(|f| f.at >= prev.connect.at && f.at <= conn.connect.at);
                    match (prev.closed, prev.session_expiry) {
                        _ if crashed => None,
                        (None, Some(Duration::ZERO)) => None,
                        (None, _) => Some(true),
                        (Some(_), None) => Some(true),
                        (Some(closed), Some(expiry)) => {
                            let ends = closed.at + expiry;
                            if ends + slack < conn.connect.at {
                                Some(false)
                            } else if ends > conn.connect.at + slack {
                                Some(true)
                            } else {
                                None
                            }
                        }
                    }
                }
            };
            if let Some(expected) = expected {
                if expected != connack.session_present {
                    let st = match (v, expected) {
                        (Version::V3_1_1, true) => v3_1_1::MQTT_3_2_2_2,
                        (Version::V3_1_1, false) => v3_1_1::MQTT_3_2_2_3,
                        (Version::V5, _) => v5::MQTT_3_2_2_3,
                    };
                    let why = if expected {
                        "the previous session had not expired"
                    } else if previous.is_some() {
                        "the previous session had ended"
                    } else {
                        "no session existed for this client id"
                    };
                    self.violation(
                        Some(st),
                        rule::SESSION_PRESENT,
                        connack.at,
                        format!(
                            "{}: CONNECT with clean start 0 for {:?} answered with session present {} but {why}",
                            conn.endpoint, conn.key, connack.session_present as u8
                        ),
                    );
                }
            }
        }
    }

    /// No packet a 5.0 client received is larger than the Maximum Packet Size it declared.
    pub fn max_packet_size(&mut self) {
        for &(at, c, len) in &self.h.received_sizes {
            let conn = &self.h.conns[c];
            if let (Version::V5, Some(max)) = (conn.version, conn.max_packet_size) {
                if len > max as usize {
                    self.violation(
                        Some(v5::MQTT_3_1_2_24),
                        rule::MAX_PACKET_SIZE,
                        at,
                        format!("{} received a {len}-byte packet over its Maximum Packet Size {max}", conn.endpoint),
                    );
                }
            }
        }
    }

    /// Every live delivery has a matching subscription in force; none after expiry.
    pub fn subscribed_and_fresh(&mut self) {
        let h = self.h;
        for (d, delivery) in h.deliveries.iter().enumerate() {
            let p = self.assigned[d];
            let v = self.version_of(&delivery.key);
            let at = delivery.recv.unwrap_or(delivery.at);
            if self.retained_for[d].is_none() && delivery.conn.is_some() && self.routes(d, p).is_empty() {
                let epoch = delivery.conn.and_then(|c| h.conns[c].epoch);
                let matching: Vec<_> = h
                    .subs
                    .iter()
                    .filter(|s| s.key == delivery.key && Some(s.epoch) == epoch && s.matches(&delivery.topic))
                    .collect();
                let (st, why) = if matching.iter().any(|s| s.no_local && s.unsubscribed.is_none()) {
                    (v5::MQTT_3_8_3_3, "its only matching subscription has No Local and it published the message")
                } else if matching.iter().any(|s| s.unsubscribed.is_some()) {
                    (pick(v, v3_1_1::MQTT_3_10_4_2, v5::MQTT_3_10_4_2), "it had unsubscribed before the publish")
                } else {
                    (pick(v, v3_1_1::MQTT_3_3_2_3, v5::MQTT_3_3_2_3), "no subscription of its session matches")
                };
                self.violation(
                    Some(st),
                    rule::NOT_SUBSCRIBED,
                    at,
                    format!("{} got {:?} on {:?}: {why}", delivery.endpoint, delivery.payload, delivery.topic),
                );
            }
            if let Some(p) = p {
                let publication = &h.pubs[p];
                if let Some(expiry) = publication.expiry {
                    let start = match self.wills.get(&p) {
                        Some(WillStatus::Due { from, .. }) => *from + self.cfg.timing_slack,
                        _ => publication.first.at,
                    };
                    if !delivery.dup && delivery.recv_at() > start + expiry + self.cfg.timing_slack {
                        self.violation(
                            Some(v5::MQTT_3_3_2_5),
                            rule::EXPIRED,
                            at,
                            format!(
                                "{} got {:?} on {:?} {:?} after it was published with a {}s message expiry",
                                delivery.endpoint,
                                delivery.payload,
                                delivery.topic,
                                delivery.recv_at() - publication.first.at,
                                expiry.as_secs()
                            ),
                        );
                    }
                }
            }
        }
    }

    /// QoS 0 at most once and QoS 2 exactly once, per subscription that routed it.
    pub fn duplicates(&mut self) {
        let h = self.h;
        let mut seen: BTreeMap<(usize, String), (usize, usize)> = BTreeMap::new();
        for d in 0..h.deliveries.len() {
            let delivery = &h.deliveries[d];
            let (Some(p), None) = (self.assigned[d], self.retained_for[d]) else { continue };
            if delivery.qos == 1 {
                continue;
            }
            let publication = &h.pubs[p];
            let filters: BTreeSet<&str> = self.routes(d, Some(p)).iter().map(|&s| h.subs[s].filter.as_str()).collect();
            let sends = if publication.qos == Qos::AtLeastOnce { publication.sends.len().max(1) } else { 1 };
            let allowed_now = filters.len().max(1) * sends;
            let entry = seen.entry((p, delivery.key.clone())).or_insert((0, 0));
            entry.0 += 1;
            entry.1 = entry.1.max(allowed_now);
            if entry.0 > entry.1 {
                let v = self.version_of(&delivery.key);
                let (st, rule) = if delivery.qos == 2 {
                    (pick(v, v3_1_1::MQTT_4_3_3_2, v5::MQTT_4_3_3_10), rule::QOS2_EXACTLY_ONCE)
                } else {
                    (pick(v, v3_1_1::MQTT_4_3_1_1, v5::MQTT_4_3_1_1), rule::QOS0_AT_MOST_ONCE)
                };
                self.violation(
                    Some(st),
                    rule,
                    delivery.recv.unwrap_or(delivery.at),
                    format!(
                        "{} got {:?} on {:?} at QoS {} for the {} time (at most {} allowed)",
                        delivery.endpoint,
                        delivery.payload,
                        delivery.topic,
                        delivery.qos,
                        ordinal(entry.0),
                        entry.1
                    ),
                );
            }
        }
    }

    /// Retained-on-subscribe deliveries carry the retained state and come as often as the SUBSCRIBE allows.
    pub fn retained(&mut self) {
        let h = self.h;
        let mut per_request: BTreeMap<(usize, &str), usize> = BTreeMap::new();
        for (d, delivery) in h.deliveries.iter().enumerate() {
            let Some(r) = self.retained_for[d] else { continue };
            let req = &h.requests[r];
            let v = h.conns[req.conn].version;
            let at = delivery.recv.unwrap_or(delivery.at);
            let recv = delivery.recv_at();
            // How many copies this SUBSCRIBE allows for the topic.
            let allowed = req
                .subs
                .iter()
                .filter(|&&s| {
                    let sub = &h.subs[s];
                    sub.matches(&delivery.topic)
                        && match sub.rh {
                            RetainHandling::SendAtSubscribe => true,
                            RetainHandling::SendIfNew => !sub.existed_before,
                            RetainHandling::DoNotSend => false,
                        }
                })
                .count();
            let n = per_request.entry((r, delivery.topic.as_str())).or_insert(0);
            *n += 1;
            if *n > allowed {
                let rh = req.subs.iter().map(|&s| &h.subs[s]).find(|s| s.matches(&delivery.topic)).map(|s| s.rh);
                let st = match (allowed, rh) {
                    (0, Some(RetainHandling::DoNotSend)) => v5::MQTT_3_3_1_11,
                    (0, Some(RetainHandling::SendIfNew)) => v5::MQTT_3_3_1_10,
                    _ => pick(v, v3_1_1::MQTT_3_3_1_6, v5::MQTT_3_3_1_9),
                };
                self.violation(
                    Some(st),
                    rule::RETAINED,
                    at,
                    format!(
                        "{} got retained {:?} on {:?} {} time(s) for one SUBSCRIBE that allows {allowed}",
                        delivery.endpoint, delivery.payload, delivery.topic, n
                    ),
                );
                continue;
            }
            // The retained writes to this topic the broker may have held when it processed the SUBSCRIBE.
            let writes: Vec<usize> = (0..h.pubs.len())
                .filter(|&p| {
                    let w = &h.pubs[p];
                    w.retain
                        && w.topic == delivery.topic
                        && !w.rejected
                        && match self.wills.get(&p) {
                            None => true,
                            Some(WillStatus::Due { from, .. }) => *from <= recv,
                            Some(WillStatus::Maybe) | Some(WillStatus::Open) => true,
                            Some(WillStatus::Forbidden { .. }) => false,
                        }
                })
                .collect();
            let applied = |p: usize| self.applied_by(p);
            let candidates: Vec<usize> = writes
                .iter()
                .copied()
                .filter(|&w| h.pubs[w].first.at <= recv)
                .filter(|&w| {
                    !writes.iter().any(|&later| {
                        later != w
                            && applied(later).is_some_and(|t| t < req.at.at)
                            && applied(w).is_some_and(|t| t < h.pubs[later].first.at)
                    })
                })
                .collect();
            if candidates.iter().any(|&w| h.pubs[w].payload == delivery.payload && !h.pubs[w].payload.is_empty()) {
                continue;
            }
            if writes.is_empty() && !self.cfg.fresh_broker {
                continue;
            }
            let current: Vec<String> = candidates
                .iter()
                .map(|&w| {
                    let p = &h.pubs[w];
                    if p.payload.is_empty() {
                        "(cleared)".to_owned()
                    } else {
                        format!("{:?}", p.payload)
                    }
                })
                .collect();
            let st = if delivery.payload.is_empty() {
                pick(v, v3_1_1::MQTT_3_3_1_11, v5::MQTT_3_3_1_7)
            } else if writes.iter().any(|&w| h.pubs[w].payload == delivery.payload) {
                pick(v, v3_1_1::MQTT_3_3_1_5, v5::MQTT_3_3_1_5)
            } else {
                pick(v, v3_1_1::MQTT_3_3_1_12, v5::MQTT_3_3_1_8)
            };
            self.violation(
                Some(st),
                rule::RETAINED,
                at,
                format!(
                    "{} got retained {:?} on {:?} on subscribe, but the retained state was one of [{}]",
                    delivery.endpoint,
                    delivery.payload,
                    delivery.topic,
                    if current.is_empty() { "(none)".to_owned() } else { current.join(", ") }
                ),
            );
        }
    }

    /// When the broker had certainly applied publication `p`: its acknowledgement, or the first live delivery of it.
    fn applied_by(&self, p: usize) -> Option<Duration> {
        let ack = self.h.pubs[p].acked.map(|a| a.at);
        let delivered = (0..self.h.deliveries.len())
            .filter(|&d| self.assigned[d] == Some(p) && self.retained_for[d].is_none())
            .map(|d| self.h.deliveries[d].recv_at())
            .min();
        match (ack, delivered) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Wills are delivered only when due.
    pub fn wills(&mut self) {
        let h = self.h;
        for (d, delivery) in h.deliveries.iter().enumerate() {
            let Some(p) = self.assigned[d] else { continue };
            if h.pubs[p].origin != Origin::Will {
                continue;
            }
            let conn = &h.conns[h.pubs[p].conn];
            let v = conn.version;
            let recv = delivery.recv_at();
            let at = delivery.recv.unwrap_or(delivery.at);
            let problem = match &self.wills[&p] {
                WillStatus::Forbidden { statement, why } => Some((*statement, (*why).to_owned())),
                WillStatus::Due { from, .. } if recv < *from => Some((
                    pick(v, v3_1_1::MQTT_3_1_2_8, v5::MQTT_3_1_2_8),
                    "it arrived before the connection ended and its will delay passed".to_owned(),
                )),
                WillStatus::Open if conn.received.iter().any(|r| r.at > recv + self.cfg.timing_slack) => Some((
                    pick(v, v3_1_1::MQTT_3_1_2_8, v5::MQTT_3_1_2_8),
                    "the connection was still alive afterwards".to_owned(),
                )),
                _ => None,
            };
            if let Some((st, why)) = problem {
                self.violation(
                    Some(st),
                    rule::WILL,
                    at,
                    format!(
                        "{} got the will of {} ({:?} on {:?}) but {why}",
                        delivery.endpoint, conn.endpoint, delivery.payload, delivery.topic
                    ),
                );
            }
        }
    }

    /// The first live delivery of each publication to each session key.
    fn first_live(&self) -> BTreeMap<(usize, &'a str), usize> {
        let h: &'a History = self.h;
        let mut first = BTreeMap::new();
        for (d, delivery) in h.deliveries.iter().enumerate() {
            if let (Some(p), None) = (self.assigned[d], self.retained_for[d]) {
                first.entry((p, delivery.key.as_str())).or_insert(d);
            }
        }
        first
    }

    /// Whether the broker certainly received `a` before `b`: the same publisher
    /// sent `a` first, did not resend it after `b` was first sent, and either
    /// sent both on one connection or had `a` acknowledged before sending `b`.
    fn received_in_order(&self, a: usize, b: usize) -> bool {
        let (pa, pb) = (&self.h.pubs[a], &self.h.pubs[b]);
        pa.origin == Origin::Client
            && pb.origin == Origin::Client
            && pa.key == pb.key
            && pa.first.idx < pb.first.idx
            && pa.sends.iter().all(|(s, _)| s.idx < pb.first.idx)
            && (pa.conn == pb.conn || pa.acked.is_some_and(|ack| ack.idx < pb.first.idx))
    }

    /// Per subscriber, a publisher's messages on a topic at one QoS arrive in publish order.
    pub fn order(&mut self) {
        let h = self.h;
        let first = self.first_live();
        let mut reported = BTreeSet::new();
        let mut firsts: Vec<(usize, usize)> = first.iter().map(|(&(p, _), &d)| (d, p)).collect();
        firsts.sort_unstable();
        for (i, &(d2, late)) in firsts.iter().enumerate() {
            let shared_only = self.routes(d2, Some(late)).iter().all(|&s| h.subs[s].shared());
            if shared_only || h.pubs[late].origin != Origin::Client {
                continue;
            }
            for &(d1, early) in &firsts[..i] {
                let (a, b) = (&h.deliveries[d1], &h.deliveries[d2]);
                let same_group = a.key == b.key
                    && a.qos == b.qos
                    && h.pubs[early].topic == h.pubs[late].topic
                    && h.pubs[early].qos == h.pubs[late].qos;
                if same_group && self.received_in_order(late, early) && reported.insert(d2) {
                    let v = self.version_of(&b.key);
                    self.violation(
                        Some(pick(v, v3_1_1::MQTT_4_6_0_6, v5::MQTT_4_6_0_5)),
                        rule::ORDER,
                        b.recv.unwrap_or(b.at),
                        format!(
                            "{} got {:?} after {:?} on {:?}, but {} published them the other way round",
                            b.endpoint, b.payload, a.payload, b.topic, h.pubs[late].key
                        ),
                    );
                }
            }
        }
    }

    /// The QoS ≥ 1 messages the broker owes each subscriber.
    pub fn obligations(&self) -> Vec<Obligation> {
        let h = self.h;
        let slack = self.cfg.timing_slack;
        let mut out = Vec::new();
        for (p, publication) in h.pubs.iter().enumerate() {
            let (published, owed) = match (publication.origin, self.wills.get(&p)) {
                (Origin::Client, _) => match publication.acked {
                    Some(ack) if publication.qos != Qos::AtMostOnce => (publication.first.at, ack),
                    _ => continue,
                },
                (Origin::Will, Some(WillStatus::Due { due, close, .. })) if publication.qos != Qos::AtMostOnce => {
                    (close.at, At { idx: close.idx, at: *due + slack })
                }
                _ => continue,
            };
            let mut keys: BTreeMap<&str, (Qos, u64, Duration, Version, Duration)> = BTreeMap::new();
            for sub in &h.subs {
                let Some((acked, granted)) = sub.granted() else { continue };
                let own = publication.origin == Origin::Client && sub.key == publication.key;
                if acked.at > published
                    || sub.shared()
                    || (sub.no_local && own)
                    || !sub.matches(&publication.topic)
                    || sub.unsubscribed.is_some_and(|u| u.at <= owed.at)
                    || sub.unsubscribe_sent.is_some_and(|u| u.at <= owed.at)
                {
                    continue;
                }
                let until = sub.unsubscribe_sent.map_or(Duration::MAX, |u| u.at);
                let entry =
                    keys.entry(&sub.key).or_insert((granted, sub.epoch, until, h.conns[sub.conn].version, acked.at));
                entry.0 = entry.0.max(granted);
                entry.2 = entry.2.max(until);
                entry.4 = entry.4.min(acked.at);
            }
            for (key, (granted, epoch, until, version, subscribed)) in keys {
                if granted.min(publication.qos) == Qos::AtMostOnce {
                    continue;
                }
                let void_at = self.void_at(publication, key, epoch, owed.at, subscribed).min(until);
                out.push(Obligation { publication: p, key: key.to_owned(), version, owed, void_at });
            }
        }
        out
    }

    /// From when the broker may have dropped `publication` for session `key`.
    fn void_at(
        &self,
        publication: &Publication,
        key: &str,
        epoch: u64,
        owed: Duration,
        subscribed: Duration,
    ) -> Duration {
        let h = self.h;
        let slack = self.cfg.timing_slack;
        let mut void = Duration::MAX;
        let mut conns = h.conns.iter().filter(|c| c.key == key).peekable();
        while let Some(conn) = conns.next() {
            let next_connect = conns.peek().map_or(Duration::MAX, |n| n.connect.at);
            if let Some(connack) = conn.connack {
                if connack.success && !connack.session_present && connack.at.at > owed && conn.epoch != Some(epoch) {
                    void = void.min(connack.at.at);
                }
            }
            if conn.epoch != Some(epoch) {
                continue;
            }
            if let Some(max) = conn.max_packet_size {
                if publication.origin == Origin::Client
                    && publication.bytes_len + self.cfg.packet_size_margin > max as usize
                {
                    void = void.min(owed);
                }
            }
            if let (Some(closed), Some(expiry)) = (conn.closed, conn.session_expiry) {
                let may_end = (closed.at + expiry).saturating_sub(slack);
                if closed.at >= subscribed && may_end < next_connect && next_connect > owed {
                    void = void.min(may_end.max(owed));
                }
            }
        }
        if !self.cfg.durable_broker {
            if let Some(crash) = h.crashes.iter().find(|f| f.at >= subscribed) {
                void = void.min(crash.at.max(owed));
            }
        }
        if let Some(expiry) = publication.expiry {
            void = void.min((publication.first.at + expiry).saturating_sub(slack).max(owed));
        }
        void
    }

    /// Whether the subscriber was disconnected at some time between `from` and `to`.
    fn disconnected_between(&self, key: &str, from: Duration, to: Duration) -> bool {
        let conns: Vec<_> = self.h.conns.iter().filter(|c| c.key == key).collect();
        conns.iter().enumerate().any(|(i, c)| {
            let back = conns.get(i + 1).map_or(Duration::MAX, |n| n.connect.at);
            c.closed.is_some_and(|x| x.at <= to && back >= from)
        })
    }

    fn loss_statement(&self, o: &Obligation, until: Duration) -> StatementId {
        if self.h.pubs[o.publication].origin == Origin::Will {
            return pick(o.version, v3_1_1::MQTT_3_1_2_8, v5::MQTT_3_1_2_8);
        }
        if self.disconnected_between(&o.key, o.owed.at, until) {
            pick(o.version, v3_1_1::MQTT_3_1_2_5, v5::MQTT_3_1_2_23)
        } else {
            pick(o.version, v3_1_1::MQTT_4_5_0_1, v5::MQTT_4_5_0_1)
        }
    }

    fn delivered(&self, p: usize, key: &str) -> bool {
        (0..self.h.deliveries.len()).any(|d| self.assigned[d] == Some(p) && self.h.deliveries[d].key == key)
    }

    /// An owed message that a later message of the same publisher, topic and QoS overtook for good.
    pub fn losses(&mut self) {
        let h = self.h;
        let first = self.first_live();
        for o in self.obligations() {
            if self.delivered(o.publication, &o.key) || h.pubs[o.publication].origin != Origin::Client {
                continue;
            }
            let p1 = &h.pubs[o.publication];
            let overtaken = first
                .iter()
                .filter(|((p2, key), _)| {
                    *key == o.key
                        && h.pubs[*p2].topic == p1.topic
                        && h.pubs[*p2].qos == p1.qos
                        && self.received_in_order(o.publication, *p2)
                })
                .map(|(_, &d)| d)
                .filter(|&d| h.deliveries[d].recv_at() < o.void_at)
                .min();
            if let Some(d) = overtaken {
                let delivery = &h.deliveries[d];
                let st = self.loss_statement(&o, delivery.recv_at());
                let rule = if p1.qos == Qos::ExactlyOnce { rule::QOS2_EXACTLY_ONCE } else { rule::QOS1_AT_LEAST_ONCE };
                self.violation(
                    Some(st),
                    rule,
                    delivery.recv.unwrap_or(delivery.at),
                    format!(
                        "{} never got {:?} on {:?} (QoS {}, acknowledged to {} at event #{}), but got the later {:?}",
                        delivery.endpoint,
                        p1.payload,
                        p1.topic,
                        p1.qos.as_u8(),
                        p1.key,
                        o.owed.idx,
                        delivery.payload
                    ),
                );
            }
        }
    }

    /// Owed messages neither delivered nor excused by the end of the trace.
    pub fn pending(&mut self) {
        let end = self.h.end;
        for o in self.obligations() {
            if self.delivered(o.publication, &o.key) || o.void_at <= end {
                continue;
            }
            let p = &self.h.pubs[o.publication];
            let (rule, what) = match p.origin {
                Origin::Client => (rule::PENDING_DELIVERY, format!("{:?} on {:?} from {}", p.payload, p.topic, p.key)),
                Origin::Will => {
                    (rule::PENDING_WILL, format!("the will of {} ({:?} on {:?})", p.key, p.payload, p.topic))
                }
            };
            let st = self.loss_statement(&o, end);
            let at = At { idx: o.owed.idx, at: self.h.pubs[o.publication].acked.map_or(o.owed.at, |a| a.at) };
            self.violation(
                Some(st),
                rule,
                at,
                format!("{what} (QoS {}) is owed to {} and was not delivered by the end", p.qos.as_u8(), o.key),
            );
        }
    }
}

/// Decides what the broker may do with the will of `publication`'s connection.
fn will_status(h: &History, cfg: &CheckConfig, publication: &Publication) -> WillStatus {
    let conn = &h.conns[publication.conn];
    let v = conn.version;
    let slack = cfg.timing_slack;
    if conn.connack.is_none_or(|a| !a.success) {
        return WillStatus::Forbidden {
            statement: pick(v, v3_1_1::MQTT_3_1_2_8, v5::MQTT_3_1_2_7),
            why: "the CONNECT that carried it was never accepted",
        };
    }
    let Some(closed) = conn.closed else { return WillStatus::Open };
    let close = match conn.server_disconnect {
        Some(d) if d.at < closed.at => d,
        _ => closed,
    };
    let crashed = h.crashes.iter().any(|f| f.at >= conn.connect.at && f.at <= closed.at + slack);
    if crashed {
        return WillStatus::Maybe;
    }
    if let Some(disconnect) = conn.normal_disconnect() {
        let faulted = h.faults.iter().any(|f| f.at >= conn.connect.at && f.at <= disconnect.at + slack);
        return if faulted {
            WillStatus::Maybe
        } else {
            WillStatus::Forbidden {
                statement: pick(v, v3_1_1::MQTT_3_14_4_3, v5::MQTT_3_14_4_3),
                why: "its client ended the connection with a normal DISCONNECT",
            }
        };
    }
    let delay = match v {
        Version::V3_1_1 => Duration::ZERO,
        Version::V5 => conn
            .will
            .as_ref()
            .and_then(|w| w.properties.will_delay_interval_secs)
            .map_or(Duration::ZERO, |s| Duration::from_secs(s.into())),
    };
    let wait = conn.session_expiry.map_or(delay, |e| e.min(delay));
    let due = close.at + wait;
    let mut from = close.at.saturating_sub(slack) + wait;
    let next = h.conns.iter().find(|n| n.key == conn.key && n.connect.idx > conn.connect.idx);
    if let Some(next) = next {
        if next.connect.at < due {
            if next.clean_start {
                from = from.min(next.connect.at.saturating_sub(slack));
            } else if next.connect.at + slack < due && wait > Duration::ZERO {
                return WillStatus::Forbidden {
                    statement: v5::MQTT_3_1_3_9,
                    why: "its session was resumed before the will delay passed",
                };
            } else {
                return WillStatus::Maybe;
            }
        }
    }
    WillStatus::Due { from, due, close }
}

fn ordinal(n: usize) -> String {
    match n {
        1 => "1st".to_owned(),
        2 => "2nd".to_owned(),
        3 => "3rd".to_owned(),
        n => format!("{n}th"),
    }
}
