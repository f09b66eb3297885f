//! The trace of a run: what every endpoint sent and received, with simulated
//! time, connection and direction, and what the run said about it
//! (statement citations, faults, deliveries to client applications, notes
//! and the verdict).
//!
//! Owns: the event model ([`Trace`], [`TraceHeader`], [`Event`], [`Endpoint`],
//! [`EventKind`]), its bound ([`Trace::push`] refuses events past
//! `max_events` with [`TraceError::Full`]), the stable one-line-per-event
//! text rendering used by snapshots and the CLI ([`Trace::render_text`],
//! documented column by column in `docs/trace-format.md`), the JSON-lines
//! form ([`Trace::to_jsonl`], [`read_jsonl`]) and a content hash of the text
//! ([`Trace::content_hash`]) for "same seed, same bytes" checks.
//!
//! Must not touch: turmoil, the model, clocks. A trace is plain data; the
//! simulator stamps each event with simulated time, so a trace produced from
//! a seed is a pure function of that seed. Nothing here iterates a hash map,
//! and the text never uses `Debug` output, so its bytes are stable.

mod jsonl;
mod text;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::codec::Packet;
use crate::spec::StatementId;

pub use jsonl::{read_jsonl, ReadError, FORMAT};
pub use text::render_packet;

/// What a run is, printed before its events: everything needed to replay it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceHeader {
    /// The seed every random choice of the run derives from.
    pub seed: u64,
    /// The scenario's name, as `mqttsim sim SCENARIO` takes it.
    pub scenario: String,
    /// The simulation step (turmoil's tick).
    #[serde(rename = "tick_ns", with = "duration_ns")]
    pub tick: Duration,
    /// The sampled configuration of the run. The text rendering prints it
    /// as canonical JSON (object keys sorted, no whitespace).
    pub config: serde_json::Value,
    /// The mqttsim version that produced the trace. Kept in the JSON-lines
    /// form but left out of the text, so snapshots and content hashes do not
    /// change with every release.
    pub mqttsim_version: String,
}

impl TraceHeader {
    /// A header for `scenario` run with `seed`, `tick` and `config`, stamped
    /// with this crate's version.
    pub fn new(seed: u64, scenario: impl Into<String>, tick: Duration, config: serde_json::Value) -> TraceHeader {
        TraceHeader {
            seed,
            scenario: scenario.into(),
            tick,
            config,
            mqttsim_version: env!("CARGO_PKG_VERSION").to_owned(),
        }
    }
}

/// The name of an endpoint (`broker`, `client-a`, ...) in an event.
///
/// The text is shared, so recording an event with a name the recorder
/// already holds does not allocate (a run records tens of thousands of
/// events). It compares, orders, hashes, displays and serialises as its
/// text, and derefs to `str`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Endpoint(Arc<str>);

impl Endpoint {
    /// An endpoint named `name`.
    pub fn new(name: &str) -> Endpoint {
        Endpoint(Arc::from(name))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Endpoint {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Endpoint {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Endpoint {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Endpoint {
    fn from(name: &str) -> Endpoint {
        Endpoint::new(name)
    }
}

impl From<&String> for Endpoint {
    fn from(name: &String) -> Endpoint {
        Endpoint::new(name)
    }
}

impl From<String> for Endpoint {
    fn from(name: String) -> Endpoint {
        Endpoint(Arc::from(name))
    }
}

impl PartialEq<str> for Endpoint {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Endpoint {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Endpoint {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<Endpoint> for str {
    fn eq(&self, other: &Endpoint) -> bool {
        self == &*other.0
    }
}

impl PartialEq<Endpoint> for &str {
    fn eq(&self, other: &Endpoint) -> bool {
        *self == &*other.0
    }
}

impl PartialEq<Endpoint> for String {
    fn eq(&self, other: &Endpoint) -> bool {
        **self == *other.0
    }
}

impl Serialize for Endpoint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Endpoint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Endpoint, D::Error> {
        String::deserialize(deserializer).map(Endpoint::from)
    }
}

/// Which way bytes went, as seen by the endpoint that recorded them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dir {
    /// The endpoint wrote the bytes (`->` in the text).
    Sent,
    /// The endpoint read the bytes (`<-` in the text).
    Received,
}

impl Dir {
    /// `->` for sent, `<-` for received.
    pub const fn arrow(self) -> &'static str {
        match self {
            Dir::Sent => "->",
            Dir::Received => "<-",
        }
    }
}

/// Who ended a connection, as seen by the endpoint that recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClosedBy {
    /// This endpoint closed it (after DISCONNECT, a protocol error, a
    /// keep-alive timeout, a takeover, ...).
    Local,
    /// The peer closed it (end of stream).
    Peer,
    /// The network broke it (a crash, a reset, a fault of the simulation).
    Network,
}

impl ClosedBy {
    /// `local`, `peer` or `network`.
    pub const fn as_str(self) -> &'static str {
        match self {
            ClosedBy::Local => "local",
            ClosedBy::Peer => "peer",
            ClosedBy::Network => "network",
        }
    }
}

/// What a citation says about its statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CiteKind {
    /// The endpoint checked that its peer obeyed the statement, and it did.
    Checked,
    /// The peer broke the statement (or, from an oracle, the endpoint did).
    Violated,
    /// The endpoint fulfilled an obligation the statement puts on itself.
    Fulfilled,
}

impl CiteKind {
    /// `checked`, `violated` or `fulfilled`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CiteKind::Checked => "checked",
            CiteKind::Violated => "violated",
            CiteKind::Fulfilled => "fulfilled",
        }
    }
}

/// One thing that happened in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Simulated time since the start of the run.
    #[serde(rename = "at_ns", with = "duration_ns")]
    pub at: Duration,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What an [`Event`] records.
///
/// `endpoint` names the host or application that saw the event (`broker`,
/// `client-a`, ...); `conn` numbers that endpoint's connections.
// A decoded packet (CONNECT in particular) is much larger than the other
// variants; boxing it would cost an allocation per recorded packet, and
// packet events are the bulk of every trace.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// A whole, valid packet written or read by `endpoint`.
    Packet {
        /// Who saw it.
        endpoint: Endpoint,
        /// On which of its connections.
        conn: u64,
        /// Written or read.
        dir: Dir,
        /// The decoded packet.
        packet: Packet,
        /// Its size on the wire, fixed header included.
        bytes_len: usize,
    },
    /// Bytes that did not decode as a packet.
    Malformed {
        /// Who saw them.
        endpoint: Endpoint,
        /// On which of its connections.
        conn: u64,
        /// Written or read.
        dir: Dir,
        /// The bytes, as lowercase hex digits without separators.
        hex: String,
        /// Why they are not a valid packet.
        error: String,
        /// The statement they break, when the decoder names one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        statement: Option<StatementId>,
    },
    /// A connection was established.
    Opened {
        /// Who saw it.
        endpoint: Endpoint,
        /// The number it has from now on.
        conn: u64,
        /// The other side (a host name or an address).
        peer: String,
    },
    /// A connection ended.
    Closed {
        /// Who saw it.
        endpoint: Endpoint,
        /// Which connection.
        conn: u64,
        /// Who ended it.
        by: ClosedBy,
    },
    /// A statement was exercised at a decision point.
    Cite {
        /// Who made the decision.
        endpoint: Endpoint,
        /// On which connection, when it concerns one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conn: Option<u64>,
        /// The statement.
        statement: StatementId,
        /// Checked, violated or fulfilled.
        kind: CiteKind,
    },
    /// The simulation injected a fault, e.g. `partition client-a <-> broker`
    /// or `crash broker`.
    Fault {
        /// What was done, in one line.
        description: String,
    },
    /// A message handed to a client application.
    Delivery {
        /// The receiving client.
        client: String,
        /// The topic it was published to.
        topic: String,
        /// The QoS it was delivered with.
        qos: u8,
        /// Whether it arrived as a retained message.
        retain: bool,
        /// The application payload.
        #[serde(with = "crate::codec::serde_payload")]
        payload: Bytes,
        /// The publisher's sequence number for this message, when the
        /// workload numbers its messages (for ordering and duplicate checks).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        publisher_seq: Option<u64>,
    },
    /// A free-form remark from the harness (a phase change, a workload step).
    Note {
        /// One line.
        text: String,
    },
    /// The outcome of the run, or of one check.
    Verdict {
        /// One line.
        text: String,
    },
}

/// Why an event was not added to a [`Trace`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TraceError {
    /// The trace already holds `max_events` events. A run that produces more
    /// is itself a finding (it made no progress, or it is too long), so the
    /// caller stops the run rather than losing events.
    #[error("the trace is full: it holds its maximum of {max_events} events")]
    Full {
        /// The bound.
        max_events: usize,
    },
    /// The event is earlier than the last one; simulated time never goes
    /// back, so this is a harness bug.
    #[error("event at {at:?} is earlier than the previous event at {last:?}")]
    TimeWentBack {
        /// The refused event's time.
        at: Duration,
        /// The time of the last event in the trace.
        last: Duration,
    },
}

/// The record of one run: a header, then events in the order they happened,
/// never more than `max_events` of them.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    header: TraceHeader,
    max_events: usize,
    events: Vec<Event>,
}

impl Trace {
    /// An empty trace that will hold at most `max_events` events.
    pub fn new(header: TraceHeader, max_events: usize) -> Trace {
        Trace { header, max_events, events: Vec::new() }
    }

    /// The header.
    pub fn header(&self) -> &TraceHeader {
        &self.header
    }

    /// The events, in order.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The most events this trace holds.
    pub fn max_events(&self) -> usize {
        self.max_events
    }

    /// The number of events.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether no event was recorded.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Whether another event would be refused.
    pub fn is_full(&self) -> bool {
        self.events.len() >= self.max_events
    }

    /// Makes room for `additional` more events (never beyond `max_events`)
    /// so that recording does not reallocate; changes nothing else.
    pub fn reserve(&mut self, additional: usize) {
        let room = self.max_events.saturating_sub(self.events.len());
        self.events.reserve(additional.min(room));
    }

    /// Appends `kind` at simulated time `at`.
    ///
    /// Refuses the event, leaving the trace as it was, when the trace is full
    /// or `at` is earlier than the last event.
    pub fn push(&mut self, at: Duration, kind: EventKind) -> Result<(), TraceError> {
        if self.is_full() {
            return Err(TraceError::Full { max_events: self.max_events });
        }
        if let Some(last) = self.events.last() {
            if at < last.at {
                return Err(TraceError::TimeWentBack { at, last: last.at });
            }
        }
        self.events.push(Event { at, kind });
        Ok(())
    }

    /// The text rendering: header lines, then one line per event, each line
    /// ending in `\n`. See `docs/trace-format.md`.
    pub fn render_text(&self) -> String {
        text::render_trace(self)
    }

    /// The JSON-lines form: the header object on the first line, then one
    /// event object per line, each line ending in `\n`. [`read_jsonl`] reads
    /// it back.
    pub fn to_jsonl(&self) -> String {
        jsonl::write(self)
    }

    /// The FNV-1a 64 hash of [`Trace::render_text`]'s bytes.
    pub fn content_hash(&self) -> ContentHash {
        ContentHash::of(self.render_text().as_bytes())
    }
}

impl Event {
    /// The event's line in the text rendering, without the line break.
    pub fn render_line(&self) -> String {
        text::render_event(self)
    }
}

/// A 64-bit FNV-1a hash of some bytes; displays as 16 lowercase hex digits.
///
/// Not for security: it only tells "same bytes" from "different bytes"
/// between two runs cheaply, and is the same on every platform and release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentHash(pub u64);

impl ContentHash {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> ContentHash {
        let mut hash = ContentHash::OFFSET_BASIS;
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(ContentHash::PRIME);
        }
        ContentHash(hash)
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Serde form of a `Duration` as whole nanoseconds (exact, unlike floats).
mod duration_ns {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        let nanos = u64::try_from(duration.as_nanos())
            .map_err(|_| serde::ser::Error::custom("a duration over 584 years does not fit in u64 nanoseconds"))?;
        serializer.serialize_u64(nanos)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        u64::deserialize(deserializer).map(Duration::from_nanos)
    }
}

#[cfg(test)]
pub(crate) mod fixture;

#[cfg(test)]
mod tests {
    use super::fixture::{header, sample_trace};
    use super::*;

    fn note(text: &str) -> EventKind {
        EventKind::Note { text: text.to_owned() }
    }

    /// A trace takes events up to its bound, then refuses the next one with an error and keeps what it has.
    #[test]
    fn a_full_trace_refuses_further_events_with_an_error() {
        let mut trace = Trace::new(header(), 2);
        trace.push(Duration::from_millis(1), note("one")).unwrap();
        trace.push(Duration::from_millis(2), note("two")).unwrap();
        assert!(trace.is_full());
        assert_eq!(trace.push(Duration::from_millis(3), note("three")), Err(TraceError::Full { max_events: 2 }));
        assert_eq!(trace.len(), 2);
        assert_eq!(trace.events()[1].kind, note("two"));
    }

    /// A trace with a bound of zero refuses its first event.
    #[test]
    fn a_trace_bounded_at_zero_refuses_everything() {
        let mut trace = Trace::new(header(), 0);
        assert_eq!(trace.push(Duration::ZERO, note("x")), Err(TraceError::Full { max_events: 0 }));
        assert!(trace.is_empty());
    }

    /// Events at the same instant are accepted; an event earlier than the last one is refused.
    #[test]
    fn simulated_time_in_a_trace_never_goes_back() {
        let mut trace = Trace::new(header(), 10);
        trace.push(Duration::from_millis(5), note("a")).unwrap();
        trace.push(Duration::from_millis(5), note("b")).unwrap();
        assert_eq!(
            trace.push(Duration::from_millis(4), note("c")),
            Err(TraceError::TimeWentBack { at: Duration::from_millis(4), last: Duration::from_millis(5) })
        );
        assert_eq!(trace.len(), 2);
    }

    /// FNV-1a 64 gives the published reference values.
    #[test]
    fn the_content_hash_is_fnv1a_64() {
        assert_eq!(ContentHash::of(b"").0, 0xcbf2_9ce4_8422_2325);
        assert_eq!(ContentHash::of(b"a").0, 0xaf63_dc4c_8601_ec8c);
        assert_eq!(ContentHash::of(b"foobar").0, 0x8594_4171_f739_67e8);
        assert_eq!(ContentHash::of(b"a").to_string(), "af63dc4c8601ec8c");
    }

    /// Two traces built the same way hash the same; a changed event, seed or config changes the hash.
    #[test]
    fn equal_traces_hash_equal_and_different_traces_hash_differently() {
        let a = sample_trace();
        let b = sample_trace();
        assert_eq!(a.content_hash(), b.content_hash());

        let mut other_event = sample_trace();
        other_event.push(Duration::from_secs(200), note("one more")).unwrap();
        assert_ne!(a.content_hash(), other_event.content_hash());

        let mut other_seed = header();
        other_seed.seed += 1;
        let mut other_seed_trace = Trace::new(other_seed, 100);
        let mut same_seed_trace = Trace::new(header(), 100);
        for event in a.events() {
            other_seed_trace.push(event.at, event.kind.clone()).unwrap();
            same_seed_trace.push(event.at, event.kind.clone()).unwrap();
        }
        assert_eq!(a.content_hash(), same_seed_trace.content_hash());
        assert_ne!(a.content_hash(), other_seed_trace.content_hash());

        let mut other_config = header();
        other_config.config = serde_json::json!({ "keep_alive_secs": 61 });
        assert_ne!(Trace::new(header(), 1).content_hash(), Trace::new(other_config, 1).content_hash());
    }

    /// The mqttsim version is not part of the text, so a release does not change every snapshot and hash.
    #[test]
    fn the_mqttsim_version_does_not_change_the_hash() {
        let mut other_version = header();
        other_version.mqttsim_version = "9.9.9".to_owned();
        assert_eq!(Trace::new(header(), 1).content_hash(), Trace::new(other_version, 1).content_hash());
    }

    /// The text, hash and JSON-lines examples in docs/trace-format.md are exactly what the code produces.
    #[test]
    fn the_examples_in_the_format_document_are_real() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/trace-format.md");
        let doc = std::fs::read_to_string(&path).expect("docs/trace-format.md exists");
        let block = |name: &str| -> String {
            let marker = format!("<!-- example: {name} -->\n");
            let start = doc.find(&marker).unwrap_or_else(|| panic!("no {name} example")) + marker.len();
            let mut lines = doc[start..].lines();
            assert!(lines.next().is_some_and(|fence| fence.starts_with("```")), "{name}: a code block follows");
            lines.take_while(|line| *line != "```").map(|line| format!("{line}\n")).collect()
        };
        let trace = sample_trace();
        assert_eq!(block("text"), trace.render_text());
        assert_eq!(block("hash"), format!("{}\n", trace.content_hash()));
        assert_eq!(block("jsonl"), trace.to_jsonl());
    }
}
