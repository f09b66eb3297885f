//! Jepsen-style history checks: what the clients' applications received,
//! set against what the clients published, from the trace alone.
//!
//! The checks read only the client endpoints' packets (everything but the
//! endpoint that never sent a CONNECT, i.e. the broker) and the `Delivery`
//! events, so a trace recorded against a real server works as well as one
//! from the simulation. Times are client-side; [`CheckConfig::timing_slack`]
//! bounds how far the broker's view of an instant may be from a client's
//! (network latency), and every rule gives the broker the benefit of it.
//!
//! A message is identified by its topic and payload (workloads give each
//! publication a distinct payload); a DUP resend is the same publication
//! when client, packet identifier, topic and payload agree, and so is the
//! same message published again as a new PUBLISH while unacknowledged (a
//! *fresh* send, e.g. after the session was lost). A delivery is
//! attributed to the earliest publication with that topic and payload not
//! yet delivered to that session, or to a will.
//!
//! Client times lag the broker by more than the slack once a fault touches
//! the client's link (a silence stops it reading, a hold delays, a
//! partition wedges the connection): from the first such fault, the broker
//! may have ended the connection as early as the fault, and, when the
//! client ended it, may learn of that arbitrarily late. Rules use this
//! window wherever they need when the broker took a connection as ended.
//!
//! # Rules (rule name, statement: 3.1.1 / 5.0, picked by the version of the client concerned)
//! - `session-present`: a successful CONNACK with clean start 1 says session
//!   present 0 (MQTT-3.2.2-1 / MQTT-3.2.2-2); with clean start 0 it says 1
//!   exactly when the previous session of that client id has not ended
//!   (closed longer ago than its session expiry, or a 3.1.1 clean session)
//!   (MQTT-3.2.2-2, MQTT-3.2.2-3 / MQTT-3.2.2-3); a refused CONNACK says 0
//!   (MQTT-3.2.2-4 / MQTT-3.2.2-6). The broker handles the CONNECT between
//!   its sending and its CONNACK; a CONNECT whose CONNACK never arrived may
//!   have been processed (creating or resuming the session), so it is judged
//!   only when the previous accepted connection and every such CONNECT agree.
//!   Not judged: within the timing slack of expiry, a takeover of a session
//!   with expiry 0, across a broker crash without a durable store ("ended"
//!   neither across one with it: downtime may not count), or a first
//!   CONNECT when the broker is not fresh.
//! - `max-packet-size`: no packet a 5.0 client received is larger than the
//!   Maximum Packet Size of its CONNECT (5.0 MQTT-3.1.2-24).
//! - `not-subscribed`: every delivery that is not a retained-on-subscribe
//!   delivery had a matching subscription of the receiver's session, sent
//!   before the receipt, not refused by SUBACK, and not removed (UNSUBACK
//!   received, or replaced) before the message was published (MQTT-3.3.2-3;
//!   MQTT-3.10.4-2 when the filter had been unsubscribed; 5.0 MQTT-3.8.3-3
//!   when only a No Local subscription matches the publisher's own message).
//! - `message-expired`: no first transmission (DUP 0) of a message reaches a
//!   client later than its Message Expiry Interval (+ slack) after it was
//!   published (5.0 MQTT-3.3.2-5). Redeliveries are exempt: delivery began.
//!   The broker only may not *start* onward delivery after expiry, so the
//!   interval counts from the last send before the receipt (or, when a fault
//!   disturbed the publisher's link, its acknowledgement; unjudged without
//!   one), and a late receipt is excused when a fault disturbed the
//!   receiver's link before the deadline, unless its connection opened after it.
//! - `qos0-at-most-once` / `qos2-exactly-once` (duplicates): a publication is
//!   delivered at QoS 0 or 2 to one session at most once per distinct
//!   subscription filter that routed it (overlapping subscriptions may each
//!   get a copy, MQTT-3.3.5 / MQTT-3.3.4), times the number of sends when the
//!   publisher used QoS 1 (the broker may take a QoS 1 resend as new), or of
//!   fresh sends otherwise (MQTT-4.3.1-1; MQTT-4.3.3-2 / MQTT-4.3.3-10).
//!   QoS 1 may duplicate.
//! - `qos1-at-least-once` / `qos2-exactly-once` (loss): a QoS ≥ 1 publication
//!   the broker acknowledged is owed to every session whose subscription
//!   (SUBACK received before the publish was sent, granted QoS ≥ 1, not
//!   shared, no No Local exclusion, not unsubscribed before the acknowledgement)
//!   matches it. It is lost when the subscriber received a later message of
//!   the same publisher, topic and QoS that the broker certainly received
//!   after it, and never this one (MQTT-4.5.0-1; across a disconnect of a
//!   persistent session MQTT-3.1.2-5 / MQTT-3.1.2-23). The debt is excused
//!   from the moment the subscriber's session may have ended (expiry gap,
//!   session present 0, or a new session replaced it after it subscribed;
//!   from before the publication nothing was ever owed), the broker crashed
//!   without a durable store ([`CheckConfig::durable_broker`]), the message
//!   expired, it would not fit the subscriber's Maximum Packet Size, or the
//!   subscriber's last connection was partitioned and never carried a packet
//!   to it again while staying open (a wedged connection no keep-alive found).
//! - `order`: per subscriber, the first deliveries of one publisher's
//!   messages on one topic at one QoS (published and delivered) come in the
//!   order the broker received them (MQTT-4.6.0-6 / MQTT-4.6.0-5). Excluded,
//!   because the broker's receipt order is not certain or not covered:
//!   pairs where the earlier message was resent after the later one was
//!   first sent, pairs sent on different connections unless the earlier one
//!   was acknowledged before the later one was sent, shared subscriptions,
//!   retained-on-subscribe deliveries, different QoS, redeliveries.
//! - `retained`: which SUBSCRIBE a retained-on-subscribe delivery (RETAIN 1
//!   and not a live forward through a Retain As Published subscription)
//!   answers is not on the wire: copies wait behind the flow-control window
//!   and SUBSCRIBEs may be in flight together. Each first copy (DUP 0) goes
//!   to the earliest matching SUBSCRIBE of the session sent before it that
//!   has a copy left (one per matching filter whose Retain Handling allows
//!   it) and was handled (SUBACK) after the copy's value was written; none
//!   left breaks MQTT-3.3.1-6 / MQTT-3.3.1-9 (5.0 MQTT-3.3.1-10 and
//!   MQTT-3.3.1-11 when the Retain Handling forbids it). The copy carries a
//!   retained write (a retained will too, once it may have been published)
//!   that may have been current when the broker handled that SUBSCRIBE:
//!   published before the receipt, and not certainly overwritten (another
//!   write applied before the SUBSCRIBE was sent, after this one was
//!   applied; "applied" = acknowledged or seen delivered live)
//!   (MQTT-3.3.1-5; 5.0 MQTT-3.3.1-7 / 3.1.1 MQTT-3.3.1-11 for an empty
//!   payload; MQTT-3.3.1-12 / MQTT-3.3.1-8 for a message never retained).
//! - `will`: a will is delivered only after its connection ended without a
//!   normal DISCONNECT (MQTT-3.14.4-3), once the will delay (capped by the
//!   session expiry) passed (MQTT-3.1.2-8), and not when the session was
//!   resumed before the delay (5.0 MQTT-3.1.3-9), nor while the connection
//!   was certainly still alive (a packet received later than the will plus
//!   slack, before any fault on the link). Faults near the DISCONNECT, broker
//!   crashes and a CONNECT never answered make it unjudged. A retained will
//!   delivered on subscribe is judged by `retained`, not here.
//! - `pending-delivery` / `pending-will` ([`pending_at_end`], liveness): owed
//!   messages, and wills due to QoS ≥ 1 subscribers, due by the end of the
//!   trace and neither delivered nor excused by then.

mod build;
mod rules;
#[cfg(test)]
mod tests;

use std::fmt;
use std::time::Duration;

use crate::spec::StatementId;
use crate::trace::Trace;

/// The names of the rules, as they appear in [`Violation::rule`].
pub mod rule {
    /// Session Present in CONNACK against the session state.
    pub const SESSION_PRESENT: &str = "session-present";
    /// A packet over the client's Maximum Packet Size.
    pub const MAX_PACKET_SIZE: &str = "max-packet-size";
    /// A delivery without a matching subscription in force.
    pub const NOT_SUBSCRIBED: &str = "not-subscribed";
    /// A delivery after the message expired.
    pub const EXPIRED: &str = "message-expired";
    /// A QoS 0 message delivered more often than allowed.
    pub const QOS0_AT_MOST_ONCE: &str = "qos0-at-most-once";
    /// A QoS 1 message lost.
    pub const QOS1_AT_LEAST_ONCE: &str = "qos1-at-least-once";
    /// A QoS 2 message duplicated or lost.
    pub const QOS2_EXACTLY_ONCE: &str = "qos2-exactly-once";
    /// Messages of one publisher and topic out of order.
    pub const ORDER: &str = "order";
    /// Retained state on subscribe.
    pub const RETAINED: &str = "retained";
    /// A will delivered when it must not be.
    pub const WILL: &str = "will";
    /// An owed message not delivered by the end (liveness).
    pub const PENDING_DELIVERY: &str = "pending-delivery";
    /// A due will not delivered by the end (liveness).
    pub const PENDING_WILL: &str = "pending-will";
}

/// What the checks may assume about the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckConfig {
    /// The broker keeps sessions across a crash and restart. Without it, a
    /// `crash broker` / `restart broker` fault excuses lost sessions and messages.
    pub durable_broker: bool,
    /// The broker held no sessions and no retained messages when the trace
    /// began (true in simulation; false against a long-running server).
    pub fresh_broker: bool,
    /// How far the broker's view of an instant may be from a client's.
    pub timing_slack: Duration,
    /// Bytes a forwarded PUBLISH may grow by over the publisher's (subscription
    /// identifiers, expiry, alias), when judging whether it fits a subscriber's
    /// Maximum Packet Size.
    pub packet_size_margin: usize,
}

impl Default for CheckConfig {
    fn default() -> CheckConfig {
        CheckConfig {
            durable_broker: false,
            fresh_broker: true,
            timing_slack: Duration::from_secs(1),
            packet_size_margin: 16,
        }
    }
}

/// One broken rule, at one position of the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The statement broken, in the version of the client concerned.
    pub statement: Option<StatementId>,
    /// The rule's name (see [`rule`]).
    pub rule: &'static str,
    /// Position of the event that shows it in `trace.events()`.
    pub event_index: usize,
    /// That event's time.
    pub at: Duration,
    /// What happened, in one line.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.at.as_millis();
        write!(f, "{:>5}.{:03}s event #{} [{}]", millis / 1000, millis % 1000, self.event_index, self.rule)?;
        if let Some(statement) = self.statement {
            write!(f, " {statement}")?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// Every safety violation in `trace`, ordered by event index, then rule, then detail.
pub fn check_history(trace: &Trace, config: &CheckConfig) -> Vec<Violation> {
    let history = build::build(trace.events());
    let mut checker = rules::Checker::new(&history, config);
    run_safety_rules(&mut checker);
    sorted(checker.out)
}

fn run_safety_rules(checker: &mut rules::Checker<'_>) {
    checker.session_present();
    checker.max_packet_size();
    checker.subscribed_and_fresh();
    checker.duplicates();
    checker.losses();
    checker.order();
    checker.retained();
    checker.wills();
}

/// QoS ≥ 1 messages the broker acknowledged (and wills that fell due) that a
/// subscriber is still owed at the end of the trace, as liveness failures
/// for the caller to report after its settle phase. Each points at the
/// acknowledgement (or the will's close).
pub fn pending_at_end(trace: &Trace, config: &CheckConfig) -> Vec<Violation> {
    let history = build::build(trace.events());
    let mut checker = rules::Checker::new(&history, config);
    checker.pending();
    sorted(checker.out)
}

/// Both [`check_history`] and [`pending_at_end`], rebuilding the history once:
/// `(safety violations, liveness failures)`.
pub fn check_history_and_pending(trace: &Trace, config: &CheckConfig) -> (Vec<Violation>, Vec<Violation>) {
    let history = build::build(trace.events());
    let mut checker = rules::Checker::new(&history, config);
    run_safety_rules(&mut checker);
    let safety = sorted(std::mem::take(&mut checker.out));
    checker.pending();
    (safety, sorted(checker.out))
}

/// One line per violation, each ending in `\n`; `no violations\n` when empty.
pub fn render_violations(violations: &[Violation]) -> String {
    if violations.is_empty() {
        return "no violations\n".to_owned();
    }
    violations.iter().map(|v| format!("{v}\n")).collect()
}

fn sorted(mut out: Vec<Violation>) -> Vec<Violation> {
    out.sort_by(|a, b| (a.event_index, a.rule, &a.detail).cmp(&(b.event_index, b.rule, &b.detail)));
    out.dedup();
    out
}
