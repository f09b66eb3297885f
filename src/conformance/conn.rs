//! [`TestConn`]: a packet-level client that sends valid packets or raw bytes
//! and expects packets, a close, or nothing, always within a bound.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::{Failure, Stop, Stream};
use crate::codec::{self, DecodeOptions, Packet, PacketId, PubResponse, ReasonCode, Version};
use crate::spec::StatementId;

/// The largest packet a test connection buffers, in bytes.
const READ_BUFFER_MAX_BYTES: usize = 4 << 20;

/// What arrived on a test connection.
// Packet is large (CONNECT) but events are moved once, straight into a
// match; boxing would only make every pattern in the scenarios noisier.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A whole, valid packet.
    Packet(Packet),
    /// The server closed the connection (end of stream or reset).
    Closed,
    /// Nothing arrived within the bound.
    Timeout,
    /// Bytes that are not a valid packet of this version.
    Malformed {
        /// The first byte of the bad packet.
        first_byte: u8,
        /// What the decoder found.
        error: String,
        /// The bad packet's bytes (everything buffered when its length
        /// cannot be read from its fixed header).
        bytes: Vec<u8>,
        /// The statement the bytes break, when the decoder names one.
        statement: Option<StatementId>,
    },
}

/// A one-line rendering of a packet for failure reports.
pub fn describe(packet: &Packet) -> String {
    serde_json::to_string(packet).unwrap_or_else(|_| format!("{:?}", packet.packet_type()))
}

/// A one-line rendering of an event for failure reports.
pub fn describe_event(event: &Event) -> String {
    match event {
        Event::Packet(p) => describe(p),
        Event::Closed => "the connection was closed".into(),
        Event::Timeout => "nothing arrived".into(),
        Event::Malformed { first_byte, error, .. } => {
            format!("malformed packet (first byte {first_byte:#04x}): {error}")
        }
    }
}

/// The statement a malformed packet from the server breaks, if the decoder
/// names one: a server must send well-formed packets, so that statement,
/// not the scenario's expectation, is the one failed.
pub fn malformed_statement(event: &Event) -> Option<StatementId> {
    match event {
        Event::Malformed { statement, .. } => *statement,
        _ => None,
    }
}

/// The topics of one scenario run, and where a PUBLISH of another
/// scenario's topic is recorded.
struct Scope {
    run_prefix: String,
    own_prefix: String,
    stray: Arc<Mutex<Option<Failure>>>,
}

/// One connection to the server under test.
pub struct TestConn {
    stream: Box<dyn Stream>,
    version: Version,
    buf: Vec<u8>,
    /// Packets received early and put back by [`TestConn::unread`].
    unread: std::collections::VecDeque<Packet>,
    closed: bool,
    /// Bytes of an oversized packet still to be read and dropped.
    skip: usize,
    next_id: u16,
    /// The default bound on waits for packets.
    pub wait: Duration,
    /// Where PUBLISHes of other scenarios are recorded instead of returned.
    scope: Option<Scope>,
}

impl std::fmt::Debug for TestConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestConn").field("version", &self.version).field("closed", &self.closed).finish()
    }
}

fn fail(statement: StatementId, expected: impl Into<String>, observed: impl Into<String>) -> Stop {
    Stop::Fail(Failure { statement, expected: expected.into(), observed: observed.into() })
}

impl TestConn {
    /// Wraps a stream; packets are encoded and decoded as `version`.
    pub fn new(stream: Box<dyn Stream>, version: Version, wait: Duration) -> TestConn {
        TestConn {
            stream,
            version,
            buf: Vec::new(),
            unread: Default::default(),
            closed: false,
            skip: 0,
            next_id: 0,
            wait,
            scope: None,
        }
    }

    /// Declares the run's topic prefix and the scenario's own prefix inside
    /// it. A PUBLISH under the first but not the second (another scenario's
    /// topic, which no subscription of this connection can match) is then
    /// not returned: the first one is recorded in `stray` as a failure of
    /// MQTT-3.3.2-3 and the scenario goes on, so that one such server fault
    /// does not cascade into the steps of every scenario it reaches.
    pub fn set_scope(&mut self, run_prefix: String, own_prefix: String, stray: Arc<Mutex<Option<Failure>>>) {
        self.scope = Some(Scope { run_prefix, own_prefix, stray });
    }

    /// Forgets the scope: for a connection subscribed beyond its scenario's
    /// topics (`#`), where other scenarios' messages are legitimate.
    pub fn clear_scope(&mut self) {
        self.scope = None;
    }

    /// Whether `packet` is another scenario's PUBLISH; records the first.
    fn stray(&self, packet: &Packet) -> bool {
        let (Packet::Publish(p), Some(scope)) = (packet, &self.scope) else { return false };
        let topic = p.topic.as_str();
        if !topic.starts_with(scope.run_prefix.as_str()) || topic.starts_with(scope.own_prefix.as_str()) {
            return false;
        }
        let mut slot = scope.stray.lock().expect("not poisoned");
        if slot.is_none() {
            *slot = Some(Failure {
                statement: match self.version {
                    Version::V3_1_1 => crate::spec::v3_1_1::MQTT_3_3_2_3,
                    Version::V5 => crate::spec::v5::MQTT_3_3_2_3,
                },
                expected: "only PUBLISHes matching a subscription of this connection".into(),
                observed: describe(packet),
            });
        }
        true
    }

    /// The statement an unexpected `event` breaks: the one a malformed
    /// packet names, else `statement`.
    pub fn blame(&self, event: &Event, statement: StatementId) -> StatementId {
        malformed_statement(event).unwrap_or(statement)
    }

    /// The version packets are encoded and decoded as.
    pub fn version(&self) -> Version {
        self.version
    }

    /// A fresh packet identifier for this connection (1, 2, ...).
    pub fn next_packet_id(&mut self) -> PacketId {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        PacketId::new(self.next_id).expect("never zero")
    }

    /// Sends a packet encoded for this connection's version.
    pub async fn send(&mut self, packet: &Packet) -> Result<(), Stop> {
        let bytes = codec::encode_to_vec(packet, self.version)
            .map_err(|e| Stop::Error(format!("cannot encode {}: {e}", describe(packet))))?;
        self.send_raw(&bytes).await
    }

    /// Sends bytes as they are. A write to a connection the server already
    /// closed is not an error here: the following expectation sees the close.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), Stop> {
        if self.stream.write_all(bytes).await.is_err() || self.stream.flush().await.is_err() {
            self.closed = true;
        }
        Ok(())
    }

    /// Closes our side abruptly (no DISCONNECT): the server sees a network close.
    pub async fn drop_connection(mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// Puts `packets` back, in order, ahead of anything not yet received:
    /// for packets a flow may see early (a PUBLISH before the SUBACK).
    pub fn unread(&mut self, packets: Vec<Packet>) {
        for p in packets.into_iter().rev() {
            self.unread.push_front(p);
        }
    }

    /// The next event within `timeout`.
    pub async fn recv(&mut self, timeout: Duration) -> Event {
        if let Some(p) = self.unread.pop_front() {
            return Event::Packet(p);
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if !self.buf.is_empty() {
                match codec::decode(&self.buf, &DecodeOptions::new(self.version)) {
                    Ok(Some((packet, used))) => {
                        self.buf.drain(..used);
                        if self.stray(&packet) {
                            continue;
                        }
                        return Event::Packet(packet);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        // Only that packet when its length can be read, so
                        // a caller that tolerates it can read on.
                        let first_byte = self.buf[0];
                        let len = codec::packet_len(&self.buf).filter(|&n| n <= self.buf.len());
                        let bytes: Vec<u8> = self.buf.drain(..len.unwrap_or(self.buf.len())).collect();
                        return Event::Malformed { first_byte, error: e.to_string(), bytes, statement: e.statement };
                    }
                }
            }
            if self.closed {
                return Event::Closed;
            }
            let mut chunk = [0u8; 8192];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return Event::Timeout,
                Ok(Ok(0)) | Ok(Err(_)) => {
                    self.closed = true;
                    if !self.buf.is_empty() {
                        let first_byte = self.buf[0];
                        let bytes = std::mem::take(&mut self.buf);
                        let error = "connection closed inside a packet".into();
                        return Event::Malformed { first_byte, error, bytes, statement: None };
                    }
                    return Event::Closed;
                }
                Ok(Ok(n)) => {
                    let dropped = n.min(self.skip);
                    self.skip -= dropped;
                    self.buf.extend_from_slice(&chunk[dropped..n]);
                    if self.buf.len() > READ_BUFFER_MAX_BYTES {
                        // Reported once; the rest of that packet is read and
                        // dropped as it arrives, so reading can go on after it.
                        let first_byte = self.buf[0];
                        let bytes = match codec::packet_len(&self.buf) {
                            Some(total) => {
                                let have = self.buf.len().min(total);
                                self.skip = total - have;
                                self.buf.drain(..have).collect()
                            }
                            None => std::mem::take(&mut self.buf),
                        };
                        let error = "packet too large".into();
                        return Event::Malformed { first_byte, error, bytes, statement: None };
                    }
                }
            }
        }
    }

    /// The next packet, which must satisfy `pred`, within the default wait.
    /// Anything else fails `statement` with `expected` as the expectation.
    pub async fn expect(
        &mut self,
        statement: StatementId,
        expected: &str,
        pred: impl FnOnce(&Packet) -> bool,
    ) -> Result<Packet, Stop> {
        let wait = self.wait;
        self.expect_within(statement, expected, wait, pred).await
    }

    /// Like [`TestConn::expect`] with an explicit bound.
    pub async fn expect_within(
        &mut self,
        statement: StatementId,
        expected: &str,
        timeout: Duration,
        pred: impl FnOnce(&Packet) -> bool,
    ) -> Result<Packet, Stop> {
        match self.recv(timeout).await {
            Event::Packet(p) if pred(&p) => Ok(p),
            other => Err(fail(self.blame(&other, statement), expected, describe_event(&other))),
        }
    }

    /// The next packet must be a PUBLISH; returns it.
    pub async fn expect_publish(
        &mut self,
        statement: StatementId,
        expected: &str,
        pred: impl FnOnce(&codec::Publish) -> bool,
    ) -> Result<codec::Publish, Stop> {
        match self.expect(statement, expected, |p| matches!(p, Packet::Publish(_))).await? {
            Packet::Publish(p) if pred(&p) => Ok(p),
            Packet::Publish(p) => {
                let event = Event::Packet(Packet::Publish(p));
                Err(fail(self.blame(&event, statement), expected, describe_event(&event)))
            }
            _ => unreachable!("checked above"),
        }
    }

    /// Waits for the server to close the connection. A DISCONNECT (5.0)
    /// before the close is allowed; its reason code is returned. Any other
    /// packet, or no close within the bound, fails `statement`.
    pub async fn expect_close(&mut self, statement: StatementId, expected: &str) -> Result<Option<ReasonCode>, Stop> {
        self.expect_close_allowing(statement, expected, |_| false).await
    }

    /// Like [`TestConn::expect_close`], also allowing packets for which
    /// `allowed` holds before the close (e.g. a CONNACK with a failure code).
    pub async fn expect_close_allowing(
        &mut self,
        statement: StatementId,
        expected: &str,
        mut allowed: impl FnMut(&Packet) -> bool,
    ) -> Result<Option<ReasonCode>, Stop> {
        let deadline = tokio::time::Instant::now() + self.wait;
        let mut reason = None;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv(left).await {
                Event::Closed => return Ok(reason),
                Event::Packet(Packet::Disconnect(d)) if self.version == Version::V5 && reason.is_none() => {
                    reason = Some(d.reason_code);
                }
                Event::Packet(p) if allowed(&p) => {}
                other => {
                    let statement = self.blame(&other, statement);
                    return Err(fail(statement, expected, describe_event(&other)));
                }
            }
        }
    }

    /// Proves that nothing (else) is pending from the server: sends PINGREQ
    /// and requires PINGRESP to be the next packet. A packet before it fails
    /// `statement`.
    pub async fn expect_nothing(&mut self, statement: StatementId, expected: &str) -> Result<(), Stop> {
        self.send(&Packet::Pingreq).await?;
        match self.recv(self.wait).await {
            Event::Packet(Packet::Pingresp) => Ok(()),
            Event::Timeout | Event::Closed => Err(Stop::Error(format!(
                "the PINGRESP used as a marker did not arrive while checking {statement} ({expected})"
            ))),
            other => Err(fail(self.blame(&other, statement), expected, describe_event(&other))),
        }
    }

    /// Collects every PUBLISH the server has pending for this connection:
    /// sends PINGREQ and returns the PUBLISHes that arrive before its
    /// PINGRESP (at most `limit`). Any other packet fails `statement`.
    pub async fn drain_publishes(
        &mut self,
        statement: StatementId,
        expected: &str,
        limit: usize,
    ) -> Result<Vec<codec::Publish>, Stop> {
        self.send(&Packet::Pingreq).await?;
        let mut got = Vec::new();
        loop {
            match self.recv(self.wait).await {
                Event::Packet(Packet::Pingresp) => return Ok(got),
                Event::Packet(Packet::Publish(p)) if got.len() < limit => got.push(p),
                Event::Timeout | Event::Closed => {
                    return Err(Stop::Error(format!(
                        "the PINGRESP used as a marker did not arrive while checking {statement} ({expected})"
                    )))
                }
                other => return Err(fail(self.blame(&other, statement), expected, describe_event(&other))),
            }
        }
    }

    /// Answers a received PUBLISH as a receiver must (PUBACK for QoS 1; for
    /// QoS 2 PUBREC, then waits for PUBREL and sends PUBCOMP).
    pub async fn ack(&mut self, publish: &codec::Publish, statement: StatementId) -> Result<(), Stop> {
        match publish.qos_pid {
            codec::QosPid::AtMostOnce => Ok(()),
            codec::QosPid::AtLeastOnce(id) => self.send(&Packet::Puback(PubResponse::new(id))).await,
            codec::QosPid::ExactlyOnce(id) => {
                self.send(&Packet::Pubrec(PubResponse::new(id))).await?;
                self.expect(
                    statement,
                    "PUBREL with the id of the PUBREC",
                    |p| matches!(p, Packet::Pubrel(r) if r.packet_id == id),
                )
                .await?;
                self.send(&Packet::Pubcomp(PubResponse::new(id))).await
            }
        }
    }
}
