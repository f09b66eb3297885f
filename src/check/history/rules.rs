//! The history rules, each a pass over a rebuilt [`History`]. Which
//! statement each rule cites, and what it forgives, is documented on the
//! parent module.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::build::{At, Conn, Delivered, History, Origin, Publication, Sub};
use super::{rule, CheckConfig, Violation};
use crate::codec::{Qos, RetainHandling, TopicFilter};
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

/// What the `order` rule compares within: subscriber session, delivered
/// QoS, topic, published QoS.
type OrderGroup<'a> = (&'a str, u8, &'a str, Qos);

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
    /// Publication → its first live delivery's receipt (any session).
    first_live_at: Vec<Option<Duration>>,
    /// (publication, session key) pairs delivered at least once.
    delivered_to: BTreeSet<(usize, &'a str)>,
    /// What the broker owes (see [`Checker::obligations`]), computed once:
    /// it depends on the history and the wills' status only.
    owed: std::rc::Rc<[Obligation]>,
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
            first_live_at: vec![None; h.pubs.len()],
            delivered_to: BTreeSet::new(),
            owed: std::rc::Rc::from(Vec::new()),
        };
        checker.owed = checker.compute_obligations().into();
        checker.attribute();
        for (d, delivery) in h.deliveries.iter().enumerate() {
            let Some(p) = checker.assigned[d] else { continue };
            checker.delivered_to.insert((p, delivery.key.as_str()));
            if checker.retained_for[d].is_none() {
                let t = delivery.recv_at();
                let slot = &mut checker.first_live_at[p];
                *slot = Some(slot.map_or(t, |s| s.min(t)));
            }
        }
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
        // The same, without the broker's DUP resends of a copy already
        // received (QoS 1 may duplicate; a resend is no new routing).
        let mut fresh_live: BTreeMap<(usize, &str), usize> = BTreeMap::new();
        // Live copies with RETAIN=1 (Retain As Published), per (publication, session).
        let mut rap_copies: BTreeMap<(usize, &str), usize> = BTreeMap::new();
        // Retained copies counted against each SUBSCRIBE request, per topic.
        let mut used: BTreeMap<(usize, &str), usize> = BTreeMap::new();
        // (topic, payload) → publications, in order.
        let mut by_message: BTreeMap<(&str, &[u8]), Vec<usize>> = BTreeMap::new();
        for (p, publication) in h.pubs.iter().enumerate() {
            by_message.entry((publication.topic.as_str(), &publication.payload[..])).or_default().push(p);
        }
        // (topic, payload) → receipts of its deliveries, to anyone.
        let mut received: BTreeMap<(&str, &[u8]), Vec<Duration>> = BTreeMap::new();
        for delivery in &h.deliveries {
            received.entry((delivery.topic.as_str(), &delivery.payload[..])).or_default().push(delivery.recv_at());
        }
        // When the broker had certainly routed publication `p` (each time
        // it took it as new): a PUBACK after its last send, or, when it was
        // routed once and no other publication has the same topic and
        // payload, any delivery of it.
        let cfg = self.cfg;
        // The (will, session) pairs the broker owes (see `obligations`,
        // which depends on the wills only, not on attribution).
        let owed_wills: BTreeSet<(usize, &str)> = self
            .owed
            .iter()
            .filter(|o| h.pubs[o.publication].origin == Origin::Will)
            .map(|o| (o.publication, o.key.as_str()))
            .collect();
        let routed_by = |p: usize| {
            let w = &h.pubs[p];
            let last = w.sends.last().map_or(w.first, |&(a, _)| a);
            let ack = w.acked.filter(|a| w.qos == Qos::AtLeastOnce && a.idx > last.idx).map(|a| a.at);
            let key = (w.topic.as_str(), &w.payload[..]);
            let delivered = (by_message.get(&key).map_or(0, |v| v.len()) == 1 && routings(h, cfg, w) == 1)
                .then(|| received.get(&key).and_then(|v| v.iter().copied().min()))
                .flatten();
            match (ack, delivered) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        // When the broker had certainly stored publication `p` as the
        // retained value for the last time, as `retained` judges it: an
        // acknowledgement (PUBACK or PUBREC) after its last send, or once it
        // was certainly routed.
        let stored_by = |p: usize| {
            let w = &h.pubs[p];
            let last = w.sends.last().map_or(w.first, |&(a, _)| a);
            let ack = w.acked.filter(|a| a.idx > last.idx).map(|a| a.at);
            match (ack, routed_by(p)) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            }
        };
        // The earliest each publication may have been published (see `published_from`).
        let published: Vec<Duration> = (0..h.pubs.len()).map(|p| self.published_from(p)).collect();
        // A live copy through a Retain As Published subscription keeps
        // RETAIN=1 (MQTT-3.3.1-12): possible for a retained publication
        // that subscription may have been in force for, as often as such
        // subscriptions (distinct filters) route it; a DUP resend of one
        // too. Which publication RETAIN=1 delivery `d` may be such a copy
        // of, given the copies counted so far.
        let rap_room = |d: usize,
                        fresh_live: &BTreeMap<(usize, &str), usize>,
                        rap_copies: &BTreeMap<(usize, &str), usize>|
         -> Option<usize> {
            let delivery = &h.deliveries[d];
            let recv = delivery.recv_at();
            let epoch = delivery.conn.and_then(|c| h.conns[c].epoch)?;
            let same_pubs =
                by_message.get(&(delivery.topic.as_str(), &delivery.payload[..])).map_or(&[][..], |v| v.as_slice());
            same_pubs.iter().copied().find(|&p| {
                let w = &h.pubs[p];
                // A will may have gone out long before its client saw
                // the connection end.
                let published = published[p];
                if !w.retain || published > recv {
                    return false;
                }
                let own = w.origin == Origin::Client && w.key == delivery.key;
                let routed = routed_by(p);
                let last = w.sends.last().map_or((w.first, w.conn), |&s| s);
                // The subscriptions that may have routed it (as
                // `routes`), in force when the broker did.
                let mut filters: Vec<&TopicFilter> = Vec::new();
                let mut rap_filters: Vec<&TopicFilter> = Vec::new();
                for s in &h.subs {
                    let in_force = may_route(s, delivery, epoch, published, own)
                        // Routed before the SUBSCRIBE was sent, or
                        // sent before it on the same connection.
                        && routed.is_none_or(|t| t > s.subscribe.at)
                        && !(last.1 == s.conn && last.0.idx < s.subscribe.idx);
                    if in_force && !filters.contains(&&s.filter) {
                        filters.push(&s.filter);
                    }
                    if in_force && s.rap && !rap_filters.contains(&&s.filter) {
                        rap_filters.push(&s.filter);
                    }
                }
                // Each time it was routed as new (as `duplicates` allows).
                let n = routings(h, cfg, w);
                let k = (p, delivery.key.as_str());
                let copies = rap_copies.get(&k).copied().unwrap_or(0);
                let live = fresh_live.get(&k).copied().unwrap_or(0);
                (copies < rap_filters.len() * n && live < filters.len() * n) || (delivery.dup && copies > 0)
            })
        };
        // Delivery → the SUBSCRIBE request whose retained copy it counts as.
        let mut slot_of: Vec<Option<usize>> = vec![None; h.deliveries.len()];
        for (d, delivery) in h.deliveries.iter().enumerate() {
            let recv = delivery.recv_at();
            let same_pubs: &[usize] =
                by_message.get(&(delivery.topic.as_str(), &delivery.payload[..])).map_or(&[], |v| v.as_slice());
            if delivery.retain {
                let request = h.requests.iter().enumerate().rev().find(|(_, r)| {
                    h.conns[r.conn].key == delivery.key
                        && r.at.idx < delivery.received().idx
                        && r.subs.iter().any(|&s| h.subs[s].matches(&delivery.topic))
                });
                if let Some((r, _)) = request {
                    // A retained will: one that may have been published by then.
                    let will_ok = |p: usize| {
                        matches!(self.wills[&p], WillStatus::Due { .. } | WillStatus::Maybe)
                            && self.published_from(p) <= recv
                    };
                    // The value's publications, most likely first: the
                    // latest client one sent by then, else the latest will
                    // that may have gone out by then, else any.
                    let clients = same_pubs
                        .iter()
                        .rev()
                        .filter(|&&p| h.pubs[p].first.at <= recv && h.pubs[p].origin == Origin::Client);
                    let wills = same_pubs.iter().rev().filter(|&&p| h.pubs[p].origin == Origin::Will && will_ok(p));
                    let mut values: Vec<usize> = clients.chain(wills).copied().collect();
                    if values.is_empty() {
                        values = same_pubs.iter().rev().copied().collect();
                    }
                    let retained_p = values.first().copied();
                    // A copy a matching SUBSCRIBE still has room for (as
                    // `retained` counts) is taken as retained-on-subscribe.
                    let slot = if delivery.dup {
                        None
                    } else {
                        self.retained_slot(&delivery.key, delivery.received(), &delivery.topic, retained_p, &used)
                    };
                    // Else a live copy through a Retain As Published
                    // subscription (see `rap_room`).
                    // Not if a later retained write had certainly replaced
                    // that value before the SUBSCRIBE was sent (judged as
                    // `retained` does, which would reject that value).
                    let superseded = slot.zip(retained_p).is_some_and(|(g, p)| {
                        stored_by(p).is_some_and(|applied| {
                            h.pubs.iter().enumerate().any(|(q, later)| {
                                q != p
                                    && later.retain
                                    && !later.rejected
                                    && later.topic == delivery.topic
                                    && applied < later.first.at
                                    && stored_by(q).is_some_and(|t| t < h.requests[g].at.at)
                            })
                        })
                    });
                    let rap_live = (slot.is_none() || superseded) && rap_room(d, &fresh_live, &rap_copies).is_some();
                    if !rap_live {
                        // Neither, for that write: of one value written
                        // several times (e.g. the same retained will of each
                        // connection), an earlier write the SUBSCRIBE's
                        // handling may have followed.
                        let earlier_write = if slot.is_none() && !delivery.dup {
                            values.iter().skip(1).find_map(|&p| {
                                let g = self.retained_slot(
                                    &delivery.key,
                                    delivery.received(),
                                    &delivery.topic,
                                    Some(p),
                                    &used,
                                )?;
                                Some((p, g))
                            })
                        } else {
                            None
                        };
                        let (retained_p, slot) = match earlier_write {
                            Some((p, g)) => (Some(p), Some(g)),
                            None => (retained_p, slot),
                        };
                        // No SUBSCRIBE has room and no RAP subscription could
                        // have forwarded it: perhaps an earlier copy on this
                        // topic took the slot this one needs while it could
                        // have been a live RAP copy itself (e.g. one queued
                        // for the session, received between this SUBSCRIBE
                        // and its SUBACK). Count that one as live instead.
                        let repair = if slot.is_none() && !delivery.dup {
                            (0..d).rev().find_map(|e| {
                                let g = slot_of[e]?;
                                let earlier = &h.deliveries[e];
                                if earlier.key != delivery.key || earlier.topic != delivery.topic {
                                    return None;
                                }
                                let mut freed = used.clone();
                                *freed.get_mut(&(g, delivery.topic.as_str()))? -= 1;
                                let mine = self.retained_slot(
                                    &delivery.key,
                                    delivery.received(),
                                    &delivery.topic,
                                    retained_p,
                                    &freed,
                                )?;
                                let p = rap_room(e, &fresh_live, &rap_copies)?;
                                Some((e, g, p, mine))
                            })
                        } else {
                            None
                        };
                        let slot = match repair {
                            Some((e, g, p, mine)) => {
                                let key = h.deliveries[e].key.as_str();
                                *used.entry((g, delivery.topic.as_str())).or_insert(0) -= 1;
                                *live_count.entry((p, key)).or_insert(0) += 1;
                                *fresh_live.entry((p, key)).or_insert(0) += 1;
                                *rap_copies.entry((p, key)).or_insert(0) += 1;
                                slot_of[e] = None;
                                self.retained_for[e] = None;
                                self.assigned[e] = Some(p);
                                Some(mine)
                            }
                            None => slot,
                        };
                        if let Some(g) = slot {
                            *used.entry((g, delivery.topic.as_str())).or_insert(0) += 1;
                        }
                        slot_of[d] = slot;
                        self.retained_for[d] = Some(r);
                        self.assigned[d] = retained_p;
                        continue;
                    }
                }
            }
            let count = |p: usize, counts: &BTreeMap<(usize, &str), usize>| {
                counts.get(&(p, delivery.key.as_str())).copied().unwrap_or(0)
            };
            let clients: Vec<usize> = same_pubs
                .iter()
                .copied()
                .filter(|&p| h.pubs[p].origin == Origin::Client && h.pubs[p].first.at <= recv)
                .collect();
            let wills: Vec<usize> = same_pubs.iter().copied().filter(|&p| h.pubs[p].origin == Origin::Will).collect();
            let will_ok = |p: &usize, strict: bool| match &self.wills[p] {
                WillStatus::Due { from, .. } => *from <= recv,
                WillStatus::Maybe | WillStatus::Open => !strict,
                WillStatus::Forbidden { .. } => false,
            };
            // A QoS 1 DUP 1 copy may resend one already delivered to this
            // session (a QoS 2 receiver drops those itself).
            let resent = || {
                clients
                    .iter()
                    .chain(wills.iter())
                    .find(|&&p| delivery.dup && delivery.qos == 1 && count(p, &live_count) > 0)
            };
            // Of several wills with one topic and payload (one per connection),
            // prefer one this session had subscribed to before it could go out
            // (not through a No Local subscription, for its own will: such a
            // copy is never owed, see `obligations`).
            let routed = |p: usize| {
                let from = self.published_from(p);
                let own = h.pubs[p].key == delivery.key;
                h.subs.iter().any(|s| {
                    s.key == delivery.key
                        && s.matches(&delivery.topic)
                        && !(s.no_local && own)
                        && s.granted().is_some_and(|(acked, _)| acked.at <= from)
                        && s.unsubscribed.is_none_or(|u| u.at > from)
                })
            };
            // Before that, one the broker owes this session: a subscription
            // merely in place when an earlier will (same topic and payload)
            // could first go out may have been dropped before it was due,
            // and that will was then never owed here. Taking the copy for
            // it would leave the owed one pending.
            let owed = |p: usize| owed_wills.contains(&(p, delivery.key.as_str()));
            // A QoS 1 DUP copy with the packet id of an earlier delivery of
            // the same message to this session, on an earlier connection, is
            // the broker's resend of that one (a new message would not reuse
            // an id still awaiting its PUBACK).
            let resend_of = || {
                if !(delivery.dup && delivery.qos == 1 && delivery.pid.is_some()) {
                    return None;
                }
                (0..d).rev().find_map(|e| {
                    let earlier = &h.deliveries[e];
                    (earlier.key == delivery.key
                        && earlier.pid == delivery.pid
                        && earlier.qos == 1
                        && earlier.conn != delivery.conn
                        && self.retained_for[e].is_none()
                        && earlier.topic == delivery.topic
                        && earlier.payload == delivery.payload)
                        .then_some(self.assigned[e])
                        .flatten()
                })
            };
            let resend = resend_of();
            let chosen = resend
                .as_ref()
                .or_else(|| clients.iter().find(|&&p| count(p, &live_count) == 0))
                .or_else(|| wills.iter().find(|p| will_ok(p, true) && count(**p, &live_count) == 0 && owed(**p)))
                .or_else(|| wills.iter().find(|p| will_ok(p, true) && count(**p, &live_count) == 0 && routed(**p)))
                .or_else(|| wills.iter().find(|p| will_ok(p, true) && count(**p, &live_count) == 0))
                .or_else(resent)
                .or_else(|| wills.iter().find(|p| will_ok(p, false) && count(**p, &live_count) == 0))
                .or_else(|| clients.last())
                .or_else(|| wills.iter().find(|p| count(**p, &live_count) == 0))
                .or_else(|| wills.last())
                .copied();
            if let Some(p) = chosen {
                let k = (p, delivery.key.as_str());
                *live_count.entry(k).or_insert(0) += 1;
                // A DUP copy after one already received resends that one.
                if !(delivery.dup && fresh_live.get(&k).is_some_and(|&n| n > 0)) {
                    *fresh_live.entry(k).or_insert(0) += 1;
                    if delivery.retain {
                        *rap_copies.entry(k).or_insert(0) += 1;
                    }
                }
            }
            self.assigned[d] = chosen;
        }
    }

    /// The earliest the broker may have published `p`: its first send; for
    /// a will, the earliest it may have gone out.
    fn published_from(&self, p: usize) -> Duration {
        let h = self.h;
        match (h.pubs[p].origin, self.wills.get(&p)) {
            (Origin::Client, _) => h.pubs[p].first.at,
            (Origin::Will, Some(WillStatus::Due { from, .. })) => *from,
            (Origin::Will, _) => h.conns[h.pubs[p].conn].connect.at,
        }
    }

    /// The subscriptions that may have routed live delivery `d` of publication `p`.
    fn routes(&self, d: usize, p: Option<usize>) -> Vec<usize> {
        let h = self.h;
        let delivery = &h.deliveries[d];
        let Some(epoch) = delivery.conn.and_then(|c| h.conns[c].epoch) else { return Vec::new() };
        let recv = delivery.recv_at();
        let published = p.map_or(recv, |p| self.published_from(p));
        (0..h.subs.len())
            .filter(|&s| {
                let sub = &h.subs[s];
                let own = p.is_some_and(|p| h.pubs[p].origin == Origin::Client && h.pubs[p].key == sub.key);
                may_route(sub, delivery, epoch, published, own)
            })
            .collect()
    }

    /// Whether the session of connection `prev` (accepted, or possibly
    /// processed without an answer) must still exist (`Some(true)`), must
    /// have ended (`Some(false)`), or may be either, when the broker handles
    /// `conn`'s CONNECT: somewhere between its sending and its CONNACK.
    fn session_left_by(&self, prev: &Conn, conn: &Conn) -> Option<bool> {
        let h = self.h;
        let slack = self.cfg.timing_slack;
        let handled_by = conn.connack.map_or(conn.connect.at, |a| a.at.at) + slack;
        let handled_from = conn.connect.at;
        let crashed = h.crashes.iter().any(|f| f.at >= prev.connect.at && f.at <= handled_by);
        if crashed && !self.cfg.durable_broker {
            return None;
        }
        match (close_window(h, self.cfg, prev), prev.session_expiry) {
            // Still open: a takeover; with expiry 0 the session ends with it.
            (None, Some(Duration::ZERO)) => None,
            (None, _) | (Some(_), None) => Some(true),
            (Some((earliest, latest)), Some(expiry)) => {
                // A durable broker that was down meanwhile may count the
                // expiry from its restart (the spec says nothing of downtime):
                // only "must still exist" is judged then.
                if latest.saturating_add(expiry) < handled_from && !crashed {
                    Some(false)
                } else if earliest + expiry > handled_by {
                    Some(true)
                } else {
                    None
                }
            }
        }
    }

    /// Session present on every successful CONNACK matches the session state.
    pub fn session_present(&mut self) {
        let h = self.h;
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
            // The latest earlier connection of the same session key that was
            // accepted, and every later CONNECT of that key whose CONNACK never
            // arrived: the broker may have processed it (creating or resuming
            // the session) and lost only its answer.
            let same_key = |p: &&Conn| p.key == conn.key && !p.key.is_empty();
            let previous = h.conns[..c].iter().rev().filter(same_key).find(|p| p.connack.is_some_and(|a| a.success));
            let since = previous.map(|p| p.connect.idx);
            let unanswered: Vec<&Conn> = h.conns[..c]
                .iter()
                .filter(same_key)
                .filter(|p| p.connack.is_none() && since.is_none_or(|s| p.connect.idx > s))
                .collect();
            let base = match previous {
                None if self.cfg.fresh_broker && !conn.key.is_empty() => Some(false),
                None => None,
                Some(prev) => self.session_left_by(prev, conn),
            };
            let mut outcomes = vec![base];
            outcomes.extend(unanswered.iter().map(|p| self.session_left_by(p, conn)));
            let expected = if outcomes.windows(2).all(|w| w[0] == w[1]) { base } else { None };
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
                if let (Some(expiry), false) = (publication.expiry, delivery.dup) {
                    let slack = self.cfg.timing_slack;
                    // When the broker may have begun counting the interval,
                    // at the latest (`None`: the trace cannot bound it).
                    let start = match (publication.origin, self.wills.get(&p)) {
                        (_, Some(WillStatus::Due { from, .. })) => Some(*from + slack),
                        (Origin::Will, _) => Some(publication.first.at),
                        (Origin::Client, _) => client_expiry_start(h, publication, delivery.recv_at(), slack),
                    };
                    // The broker may not *start* onward delivery after expiry
                    // (MQTT-3.3.2-5); what it sent in time may reach a client
                    // whose link a fault disturbed arbitrarily late. A
                    // connection opened after expiry still convicts it.
                    let late = |start: Duration| {
                        let deadline = start + expiry + slack;
                        let opened = delivery.conn.map_or(start, |c| h.conns[c].connect.at);
                        delivery.recv_at() > deadline
                            && (opened > deadline
                                || !link_disturbed(h, &delivery.endpoint, opened.max(start), deadline))
                    };
                    if start.is_some_and(late) {
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
            let sends = routings(h, self.cfg, publication);
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
        // Copies each SUBSCRIBE request has used, per topic.
        let mut used: BTreeMap<(usize, &str), usize> = BTreeMap::new();
        for (d, delivery) in h.deliveries.iter().enumerate() {
            let Some(r) = self.retained_for[d] else { continue };
            let req = &h.requests[r];
            let v = h.conns[req.conn].version;
            let at = delivery.recv.unwrap_or(delivery.at);
            let recv = delivery.recv_at();
            let topic = delivery.topic.as_str();
            // Which SUBSCRIBE a copy answers is not on the wire: copies wait
            // behind the flow-control window, and several SUBSCRIBEs may be
            // in flight together. Every matching SUBSCRIBE of the session
            // sent before the copy may have it, each up to its allowance;
            // copies go to the earliest with room whose handling the copy's
            // value may have preceded (the SUBACK, else the copy itself).
            let key = &h.conns[req.conn].key;
            let candidates: Vec<usize> = (0..h.requests.len())
                .filter(|&g| {
                    let q = &h.requests[g];
                    h.conns[q.conn].key == *key
                        && q.at.idx < delivery.received().idx
                        && self.retained_allowance(g, topic) > 0
                })
                .collect();
            let subscribed_at = if delivery.dup {
                // A resend (DUP 1) of a copy first sent for an earlier
                // SUBSCRIBE, perhaps on an earlier connection: not a new copy.
                candidates.first().map_or(req.at.at, |&g| h.requests[g].at.at)
            } else {
                let chosen = self.retained_slot(key, delivery.received(), topic, self.assigned[d], &used);
                let Some(g) = chosen else {
                    let allowed = self.retained_allowance(r, topic);
                    let rh = req.subs.iter().map(|&s| &h.subs[s]).find(|s| s.matches(topic)).map(|s| s.rh);
                    let st = match (allowed, rh) {
                        (0, Some(RetainHandling::DoNotSend)) => v5::MQTT_3_3_1_11,
                        (0, Some(RetainHandling::SendIfNew)) => v5::MQTT_3_3_1_10,
                        _ => pick(v, v3_1_1::MQTT_3_3_1_6, v5::MQTT_3_3_1_9),
                    };
                    let total: usize = candidates.iter().map(|&g| self.retained_allowance(g, topic)).sum();
                    self.violation(
                        Some(st),
                        rule::RETAINED,
                        at,
                        format!(
                            "{} got retained {:?} on {:?} but its {} matching SUBSCRIBE(s) handled after that value \
                             was written allow no more copies (at most {total} in all)",
                            delivery.endpoint,
                            delivery.payload,
                            delivery.topic,
                            candidates.len()
                        ),
                    );
                    continue;
                };
                *used.entry((g, topic)).or_insert(0) += 1;
                h.requests[g].at.at
            };
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
                            Some(WillStatus::Maybe) => true,
                            Some(WillStatus::Open) => !self.alive_after(&h.conns[w.conn], recv),
                            Some(WillStatus::Forbidden { .. }) => false,
                        }
                })
                .collect();
            let applied = |p: usize| self.applied_by(p);
            // When the broker had certainly applied `p` for the last time: a
            // resend (after a lost PUBACK) is a new publication that sets
            // the retained value again (MQTT-4.3.2), so only an
            // acknowledgement after the last send counts for a resent one.
            let last_applied = |p: usize| {
                let w = &h.pubs[p];
                match w.sends.last() {
                    Some(&(last, _)) if w.sends.len() > 1 => w.acked.filter(|a| a.idx > last.idx).map(|a| a.at),
                    _ => applied(p),
                }
            };
            let candidates: Vec<usize> = writes
                .iter()
                .copied()
                .filter(|&w| self.published_from(w) <= recv)
                .filter(|&w| {
                    !writes.iter().any(|&later| {
                        later != w
                            && applied(later).is_some_and(|t| t < subscribed_at)
                            && last_applied(w).is_some_and(|t| t < h.pubs[later].first.at)
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

    /// The SUBSCRIBE request a retained copy of `topic` (value `p`), received
    /// by session `key` at `recv`, counts against: the earliest matching one
    /// sent before it with room left whose handling the value may have
    /// preceded (the SUBACK, else the copy itself). "Before" is by trace
    /// order: a copy received at the same instant as a SUBSCRIBE but ahead
    /// of it cannot answer it.
    fn retained_slot(
        &self,
        key: &str,
        received: At,
        topic: &str,
        p: Option<usize>,
        used: &BTreeMap<(usize, &str), usize>,
    ) -> Option<usize> {
        let h = self.h;
        let recv = received.at;
        let value_from = p.map(|p| self.published_from(p));
        (0..h.requests.len()).find(|&g| {
            let q = &h.requests[g];
            let allowance = self.retained_allowance(g, topic);
            let handled = q.subs.first().and_then(|&s| h.subs[s].acked).map_or(recv, |(a, _)| a.at).min(recv);
            h.conns[q.conn].key == key
                && q.at.idx < received.idx
                && allowance > 0
                && used.get(&(g, topic)).copied().unwrap_or(0) < allowance
                && value_from.is_none_or(|t| t <= handled + self.cfg.timing_slack)
        })
    }

    /// How many retained copies per topic SUBSCRIBE request `r` allows: one
    /// per matching filter whose Retain Handling sends on this subscribe.
    fn retained_allowance(&self, r: usize, topic: &str) -> usize {
        let h = self.h;
        h.requests[r]
            .subs
            .iter()
            .filter(|&&s| {
                let sub = &h.subs[s];
                // Retained messages go only to new non-shared subscriptions (3.3.1.3, 4.8.2).
                sub.matches(topic)
                    && !sub.shared()
                    && match sub.rh {
                        RetainHandling::SendAtSubscribe => true,
                        RetainHandling::SendIfNew => !sub.existed_before,
                        RetainHandling::DoNotSend => false,
                    }
            })
            .count()
    }

    /// When the broker had certainly applied publication `p`: its acknowledgement, or the first live delivery of it.
    fn applied_by(&self, p: usize) -> Option<Duration> {
        let ack = self.h.pubs[p].acked.map(|a| a.at);
        let delivered = self.first_live_at[p];
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
            // A retained will delivered on subscribe was published earlier;
            // the `retained` rule judges whether it may have been.
            if h.pubs[p].origin != Origin::Will || self.retained_for[d].is_some() {
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
                WillStatus::Open if self.alive_after(conn, recv) => Some((
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

    /// Whether the client got a packet on `conn` certainly sent after the
    /// broker had published something at `t`: later than `t` plus the slack,
    /// with no fault on its link since the connection began (a silence or a
    /// hold delays what it reads).
    fn alive_after(&self, conn: &Conn, t: Duration) -> bool {
        let late = t + self.cfg.timing_slack;
        let clear_until = link_fault(self.h, &conn.endpoint, conn.connect.at, Duration::MAX).unwrap_or(Duration::MAX);
        conn.received.iter().any(|r| r.at > late && r.at < clear_until)
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
        // A retained-on-subscribe copy and a live Retain As Published copy of
        // one publication look alike (RETAIN 1, same QoS): which one is live
        // is not on the wire (the broker may send retained messages before
        // the SUBACK), so the earlier of them may be the live delivery.
        let lookalike = |p: usize, key: &str, d: usize| {
            let live = &h.deliveries[d];
            if !live.retain {
                return d;
            }
            (0..d)
                .find(|&e| {
                    let copy = &h.deliveries[e];
                    self.retained_for[e].is_some()
                        && self.assigned[e] == Some(p)
                        && copy.key == key
                        && copy.retain
                        && !copy.dup
                        && copy.qos == live.qos
                })
                .unwrap_or(d)
        };
        let mut firsts: Vec<(usize, usize)> = first.iter().map(|(&(p, key), &d)| (lookalike(p, key, d), p)).collect();
        firsts.sort_unstable();
        // Only first deliveries to one session at one QoS of messages on one
        // topic at one QoS are compared: group them, in delivery order.
        let mut groups: BTreeMap<OrderGroup<'_>, Vec<(usize, usize)>> = BTreeMap::new();
        for &(d, p) in &firsts {
            let delivery = &h.deliveries[d];
            let publication = &h.pubs[p];
            groups
                .entry((delivery.key.as_str(), delivery.qos, publication.topic.as_str(), publication.qos))
                .or_default()
                .push((d, p));
        }
        for group in groups.values() {
            for (i, &(d2, late)) in group.iter().enumerate() {
                if h.pubs[late].origin != Origin::Client {
                    continue;
                }
                let Some(&(d1, _)) = group[..i].iter().find(|&&(_, early)| self.received_in_order(late, early)) else {
                    continue;
                };
                if self.routes(d2, Some(late)).iter().all(|&s| h.subs[s].shared()) {
                    continue;
                }
                let (a, b) = (&h.deliveries[d1], &h.deliveries[d2]);
                if reported.insert(d2) {
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

    /// The QoS ≥ 1 messages the broker owes each subscriber (shared, so a
    /// rule can walk them while it records violations).
    pub fn obligations(&self) -> std::rc::Rc<[Obligation]> {
        std::rc::Rc::clone(&self.owed)
    }

    fn compute_obligations(&self) -> Vec<Obligation> {
        let h = self.h;
        let slack = self.cfg.timing_slack;
        let mut out = Vec::new();
        for (p, publication) in h.pubs.iter().enumerate() {
            let (published, owed) = match (publication.origin, self.wills.get(&p)) {
                (Origin::Client, _) => match publication.acked {
                    Some(ack) if publication.qos != Qos::AtMostOnce => (publication.first.at, ack),
                    _ => continue,
                },
                // A subscription is owed a will only if it was in place by
                // the earliest time the broker may have sent it.
                (Origin::Will, Some(WillStatus::Due { from, due, close }))
                    if publication.qos != Qos::AtMostOnce && *due != Duration::MAX =>
                {
                    (*from, At { idx: close.idx, at: due.saturating_add(slack) })
                }
                _ => continue,
            };
            let mut keys: BTreeMap<&str, (Qos, u64, Duration, Version, Duration)> = BTreeMap::new();
            for sub in &h.subs {
                let Some((acked, granted)) = sub.granted() else { continue };
                // No Local may cover the client's own will too (the will is
                // published for its connection, and the model broker and
                // Mosquitto both skip it): such a copy is never owed, though
                // delivering it is not judged wrong either (see `routes`).
                let own = sub.key == publication.key;
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
                // A new session replaced the subscriber's after it subscribed:
                // from its CONNECT on, the old subscription may be gone.
                if connack.success
                    && !connack.session_present
                    && connack.at.at > subscribed
                    && conn.epoch != Some(epoch)
                {
                    void = void.min(conn.connect.at.max(owed));
                }
            }
            if conn.epoch != Some(epoch) {
                continue;
            }
            // A partition wedges a connection without either end seeing a
            // close; a client that keeps sending never pings, so no
            // keep-alive finds it. If the subscriber's last connection was
            // partitioned, stayed open and never carried a packet to it
            // again, nothing could be delivered over it.
            if conn.closed.is_none() && next_connect == Duration::MAX {
                let wedged = h.faults.iter().find(|f| {
                    f.at.at >= conn.connect.at
                        && f.names(&conn.endpoint)
                        && f.words.first().is_some_and(|w| w == "partition")
                        && !conn.received.iter().any(|r| r.at > f.at.at + slack)
                });
                if let Some(f) = wedged {
                    void = void.min(f.at.at.max(owed));
                }
            }
            if let Some(max) = conn.max_packet_size {
                if publication.origin == Origin::Client
                    && publication.bytes_len + self.cfg.packet_size_margin > max as usize
                {
                    void = void.min(owed);
                }
            }
            let window = close_window(h, self.cfg, conn);
            if let (Some(closed), Some((earliest, _)), Some(expiry)) = (conn.closed, window, conn.session_expiry) {
                let may_end = earliest + expiry;
                // The broker certainly had a resuming CONNECT only once the
                // client saw it accepted: a CONNECT that got no CONNACK may
                // have been held up past the expiry, or never arrived.
                let resumed = h
                    .conns
                    .iter()
                    .filter(|n| n.key == key && n.connect.idx > conn.connect.idx)
                    .find_map(|n| n.connack.filter(|a| a.success).map(|a| a.at.at))
                    .unwrap_or(Duration::MAX);
                // The session may have ended before it was resumed (even
                // before the publication: then nothing was ever owed).
                if closed.at >= subscribed && may_end < resumed {
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
        self.delivered_to.contains(&(p, key))
    }

    /// An owed message that a later message of the same publisher, topic and QoS overtook for good.
    pub fn losses(&mut self) {
        let h = self.h;
        let first = self.first_live();
        let owed = self.obligations();
        for o in owed.iter() {
            // Void from the start (e.g. the subscription's session was
            // replaced before the publication): nothing was ever owed.
            if self.delivered(o.publication, &o.key)
                || h.pubs[o.publication].origin != Origin::Client
                || o.void_at <= o.owed.at
            {
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
                let st = self.loss_statement(o, delivery.recv_at());
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
        let slack = self.cfg.timing_slack;
        let owed = self.obligations();
        for o in owed.iter() {
            // Not yet due by the end (a will whose delay runs past it) is not late.
            // (`void_at` is never before `owed`: equal means void from the start.)
            if self.delivered(o.publication, &o.key)
                || o.void_at <= end
                || o.void_at <= o.owed.at
                || o.owed.at.saturating_sub(slack) > end
            {
                continue;
            }
            // Only a subscriber connected at the end can be owed a delivery
            // by then: a session kept for a client that stays away (after a
            // DISCONNECT, or refused) holds its messages for a later return.
            let reachable = self
                .h
                .conns
                .iter()
                .rev()
                .find(|c| c.key == o.key)
                .is_some_and(|c| c.closed.is_none() && c.connack.is_some_and(|a| a.success));
            if !reachable {
                continue;
            }
            let p = &self.h.pubs[o.publication];
            let (rule, what) = match p.origin {
                Origin::Client => (rule::PENDING_DELIVERY, format!("{:?} on {:?} from {}", p.payload, p.topic, p.key)),
                Origin::Will => {
                    (rule::PENDING_WILL, format!("the will of {} ({:?} on {:?})", p.key, p.payload, p.topic))
                }
            };
            let st = self.loss_statement(o, end);
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

/// How many times the broker may have routed `publication` as new: the
/// broker may take a QoS 1 resend as new, and any fresh send. A QoS 2
/// resend after a crash of a broker without a durable store may be taken as
/// new too: its PUBREL state was lost.
fn routings(h: &History, cfg: &CheckConfig, publication: &Publication) -> usize {
    let lost = if cfg.durable_broker {
        0
    } else {
        publication.sends.windows(2).filter(|w| h.crashes.iter().any(|f| f.at > w[0].0.at && f.at <= w[1].0.at)).count()
    };
    if publication.qos == Qos::AtLeastOnce {
        publication.sends.len().max(1)
    } else {
        (publication.fresh_sends + lost).min(publication.sends.len()).max(1)
    }
}

/// The latest instant, on the client's clock, from which the broker may
/// count the Message Expiry Interval of client `publication` as received
/// `recv`: the last send before it (a fresh resend is a new message, a DUP
/// one may be the first copy that arrived). A fault disturbing the
/// publisher's link may hold the PUBLISH back: then as late as its
/// acknowledgement, or `None` when it has none.
fn client_expiry_start(h: &History, publication: &Publication, recv: Duration, slack: Duration) -> Option<Duration> {
    let (last, conn) = publication
        .sends
        .iter()
        .filter(|(at, _)| at.at <= recv)
        .map(|(at, c)| (at.at, *c))
        .max()
        .unwrap_or((publication.first.at, publication.conn));
    let endpoint = &h.conns[conn].endpoint;
    if link_disturbed(h, endpoint, last, last + slack) {
        publication.acked.map(|a| a.at.max(last))
    } else {
        Some(last)
    }
}

/// Whether a fault may have delayed `endpoint`'s traffic with the broker
/// by more than the timing slack between `from` and `to`: one that touches
/// its link within them, or a hold, partition or silence still in force at
/// `from` (a latency fault adds less than the slack).
pub(super) fn link_disturbed(h: &History, endpoint: &str, from: Duration, to: Duration) -> bool {
    if link_fault(h, endpoint, from, to).is_some() {
        return true;
    }
    let before = || h.faults.iter().filter(|f| f.at.at < from && f.names(endpoint));
    fn kind(f: &super::build::FaultSeen) -> &str {
        f.words.first().map_or("", String::as_str)
    }
    let in_force =
        |on: &str, off: &str| before().rfind(|f| kind(f) == on || kind(f) == off).is_some_and(|f| kind(f) == on);
    let silenced = before().filter(|f| kind(f) == "silence").any(|f| {
        let ms = f.words.iter().find_map(|w| w.strip_suffix("ms")?.parse::<u64>().ok());
        ms.is_none_or(|ms| f.at.at + Duration::from_millis(ms) > from)
    });
    in_force("hold", "release") || in_force("partition", "heal") || silenced
}

/// The first fault from `from` to `to` that touches `endpoint`'s link
/// (partition, hold, latency, silence, close): from then on what the client
/// saw may lag what the broker did by more than the timing slack.
pub(super) fn link_fault(h: &History, endpoint: &str, from: Duration, to: Duration) -> Option<Duration> {
    h.faults.iter().find(|f| f.at.at >= from && f.at.at <= to && f.names(endpoint)).map(|f| f.at.at)
}

/// When the broker may have taken connection `conn` as ended, on the
/// client's clock: `(earliest, latest)`, slack included; `latest` is
/// `Duration::MAX` when the trace cannot bound it. `None`: the client saw it
/// open to the end.
///
/// Without a fault on its link, the client sees the end within the slack
/// of the broker. A fault (a silence that stops the client reading, a hold,
/// a partition) can delay what the client sees: the broker may have ended
/// it as early as the fault; and when the client ended it, the broker may
/// learn of it arbitrarily late.
pub(super) fn close_window(h: &History, cfg: &CheckConfig, conn: &Conn) -> Option<(Duration, Duration)> {
    let closed = conn.closed?;
    let slack = cfg.timing_slack;
    let seen = match conn.server_disconnect {
        Some(d) if d.at < closed.at => d.at,
        _ => closed.at,
    };
    let fault = link_fault(h, &conn.endpoint, conn.connect.at, seen + slack);
    // The client's own close: after its DISCONNECT, or a local or network
    // close (a dropped socket) rather than the broker's end of stream.
    let client_ended = conn.server_disconnect.is_none()
        && (conn.disconnect.is_some() || conn.closed_by.is_some_and(|by| by != crate::trace::ClosedBy::Peer));
    let earliest = fault.map_or(seen, |f| f.min(seen)).saturating_sub(slack);
    let latest = if fault.is_some() && client_ended { Duration::MAX } else { seen + slack };
    Some((earliest, latest))
}

/// Whether subscription `sub` may have routed a live copy to `delivery`
/// (session epoch `epoch`) of a message published from `published` on:
/// same session and epoch, possibly granted, matching, sent by the time the
/// copy was received, not unsubscribed before the message was published,
/// and not No Local for the session's own message (`own`).
fn may_route(sub: &Sub, delivery: &Delivered, epoch: u64, published: Duration, own: bool) -> bool {
    sub.key == delivery.key
        && sub.epoch == epoch
        && sub.possible()
        && sub.matches(&delivery.topic)
        && sub.subscribe.at <= delivery.recv_at()
        && sub.unsubscribed.is_none_or(|u| published < u.at)
        && !(sub.no_local && own)
}

/// Decides what the broker may do with the will of `publication`'s connection.
fn will_status(h: &History, cfg: &CheckConfig, publication: &Publication) -> WillStatus {
    let conn = &h.conns[publication.conn];
    let v = conn.version;
    let slack = cfg.timing_slack;
    // No CONNACK seen: the broker may still have accepted the CONNECT (the
    // answer lost, or never read because the client closed first).
    if conn.connack.is_none() {
        return WillStatus::Maybe;
    }
    if conn.connack.is_some_and(|a| !a.success) {
        return WillStatus::Forbidden {
            statement: pick(v, v3_1_1::MQTT_3_1_2_8, v5::MQTT_3_1_2_7),
            why: "the CONNECT that carried it was never accepted",
        };
    }
    let Some(closed) = conn.closed else { return WillStatus::Open };
    let Some((earliest, latest)) = close_window(h, cfg, conn) else { return WillStatus::Open };
    let close = match conn.server_disconnect {
        Some(d) if d.at < closed.at => d,
        _ => closed,
    };
    let crashed = h.crashes.iter().any(|f| f.at >= conn.connect.at && f.at <= closed.at + slack);
    if crashed {
        return WillStatus::Maybe;
    }
    if let Some(disconnect) = conn.normal_disconnect() {
        let faulted = h.faults.iter().any(|f| f.at.at >= conn.connect.at && f.at.at <= disconnect.at + slack);
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
    // `due` is when the broker must have published it (MAX: unknown).
    let due = if latest == Duration::MAX { Duration::MAX } else { latest.saturating_sub(slack) + wait };
    let mut from = earliest + wait;
    let next = h.conns.iter().find(|n| n.key == conn.key && n.connect.idx > conn.connect.idx);
    if let Some(next) = next {
        if next.connect.at < due {
            if next.clean_start {
                // A clean start ends the old session: its will goes at once.
                from = from.min(next.connect.at.saturating_sub(slack));
            } else if wait > Duration::ZERO && next.connack.is_some_and(|a| a.success && a.at.at < from) {
                return WillStatus::Forbidden {
                    statement: v5::MQTT_3_1_3_9,
                    why: "its session was resumed before the will delay passed",
                };
            } else {
                return WillStatus::Maybe;
            }
        }
    }
    // A will waiting on its delay when the broker crashed may be lost with
    // it: a durable store keeps sessions, not wills in waiting (as the
    // world's `WillWatch` excuses it too).
    if wait > Duration::ZERO && h.crashes.iter().any(|f| f.at >= closed.at && f.at < due.saturating_add(slack)) {
        return WillStatus::Maybe;
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
