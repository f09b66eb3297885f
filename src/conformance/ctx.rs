//! [`Ctx`]: what a scenario gets: fresh client ids and topics for this run,
//! the version, the server's capabilities and variations, time bounds, and
//! helpers for the common flows (connect, subscribe, publish).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;

use super::conn::{describe, TestConn};
use super::{Capabilities, Connector, Failure, Stop, Variations};
use crate::codec::{
    Connect, Packet, Properties, Publish, Qos, QosPid, ReasonCode, Subscribe, Subscription, SubscriptionOptions,
    TopicFilter, TopicName, Will,
};
use crate::spec::{v3_1_1, v5, StatementId, Version};

/// PUBLISHes a SUBSCRIBE may be answered with before its SUBACK (and that
/// may arrive after our DISCONNECT, before the close).
const EARLY_PUBLISHES_MAX: usize = 1000;

/// State shared by every scenario of one run.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    /// Topics a scenario published retained messages to, cleared afterwards.
    pub retained: Mutex<Vec<(Version, String)>>,
}

/// How to build a CONNECT.
#[derive(Debug, Clone)]
pub struct ConnectOpts {
    /// The client id.
    pub client_id: String,
    /// Clean Session (3.1.1) / Clean Start (5.0).
    pub clean: bool,
    /// Keep alive in seconds (0: off).
    pub keep_alive_secs: u16,
    /// The will.
    pub will: Option<Will>,
    /// CONNECT properties (5.0).
    pub properties: Properties,
}

/// The context of one scenario run for one version.
#[derive(Clone)]
pub struct Ctx {
    pub(crate) connector: Arc<dyn Connector>,
    /// The version under test.
    pub version: Version,
    /// The server's capabilities (probed, then profile-declared).
    pub caps: Arc<Capabilities>,
    /// The allowed variations the profile pinned.
    pub variations: Arc<Variations>,
    /// The default bound on waiting for a packet.
    pub wait: Duration,
    /// How late a timed event (keep-alive close) may be beyond the spec's bound.
    pub timing_tolerance: Duration,
    pub(crate) username: Option<String>,
    pub(crate) password: Option<String>,
    pub(crate) run_id: String,
    pub(crate) index: usize,
    pub(crate) name: &'static str,
    pub(crate) counter: Arc<AtomicU32>,
    pub(crate) shared: Arc<Shared>,
    /// The first PUBLISH of another scenario's topic a connection of this
    /// scenario received (see [`TestConn::set_scope`]).
    pub(crate) stray: Arc<Mutex<Option<Failure>>>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("version", &self.version).field("name", &self.name).finish()
    }
}

impl Ctx {
    /// The statement for this version: `v3` under 3.1.1, `v5` under 5.0.
    pub fn st(&self, v3: StatementId, v5: StatementId) -> StatementId {
        match self.version {
            Version::V3_1_1 => v3,
            Version::V5 => v5,
        }
    }

    /// A fail of `statement`.
    pub fn fail(&self, statement: StatementId, expected: impl Into<String>, observed: impl Into<String>) -> Stop {
        Stop::Fail(Failure { statement, expected: expected.into(), observed: observed.into() })
    }

    /// A client id unique to this run, scenario and call: 1 to 23 letters
    /// and digits, which every server must accept.
    pub fn client_id(&self) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let v = match self.version {
            Version::V3_1_1 => 'a',
            Version::V5 => 'b',
        };
        format!("ms{}{v}{:03}{:03}", self.run_id, self.index % 1000, n % 1000)
    }

    /// A topic unique to this run, scenario and version: `mqttsim/RUN/VERSION/SCENARIO/suffix`.
    pub fn topic(&self, suffix: &str) -> String {
        let v = match self.version {
            Version::V3_1_1 => "v3",
            Version::V5 => "v5",
        };
        format!("mqttsim/{}/{v}/{}/{suffix}", self.run_id, self.name)
    }

    /// Records that `topic` holds a retained message, to clear after the run.
    pub fn retained(&self, topic: &str) {
        self.shared.retained.lock().expect("not poisoned").push((self.version, topic.to_string()));
    }

    /// Skips the scenario unless the server grants at least `qos`.
    pub fn need_qos(&self, qos: Qos) -> Result<(), Stop> {
        if self.caps.maximum_qos < qos {
            return Err(Stop::Skip(format!("the server's maximum QoS is {}", self.caps.maximum_qos.as_u8())));
        }
        Ok(())
    }

    /// A new raw connection (no CONNECT sent).
    pub async fn raw(&self) -> Result<TestConn, Stop> {
        match tokio::time::timeout(self.wait, self.connector.connect()).await {
            Ok(Ok(stream)) => {
                let mut conn = TestConn::new(stream, self.version, self.wait);
                conn.set_scope(format!("mqttsim/{}/", self.run_id), self.topic(""), self.stray.clone());
                Ok(conn)
            }
            Ok(Err(e)) => Err(Stop::Error(format!("cannot connect to {}: {e}", self.connector.describe()))),
            Err(_) => Err(Stop::Error(format!("connecting to {} timed out", self.connector.describe()))),
        }
    }

    /// Options for a clean-start connection with a fresh client id.
    pub fn opts(&self) -> ConnectOpts {
        ConnectOpts {
            client_id: self.client_id(),
            clean: true,
            keep_alive_secs: 60,
            will: None,
            properties: Properties::default(),
        }
    }

    /// The CONNECT for `opts`, with the run's credentials.
    pub fn connect_packet(&self, opts: &ConnectOpts) -> Packet {
        Packet::Connect(Connect {
            version: self.version,
            clean_start: opts.clean,
            keep_alive_secs: opts.keep_alive_secs,
            properties: opts.properties.clone(),
            client_id: opts.client_id.clone(),
            will: opts.will.clone(),
            username: self.username.clone(),
            password: self.password.clone().map(Bytes::from),
        })
    }

    /// Connects with `opts` and requires a successful CONNACK; returns the
    /// connection and the CONNACK's Session Present flag and properties.
    pub async fn connect_with(&self, opts: &ConnectOpts) -> Result<(TestConn, bool, Properties), Stop> {
        let mut conn = self.raw().await?;
        conn.send(&self.connect_packet(opts)).await?;
        let st = self.st(v3_1_1::MQTT_3_1_4_4, v5::MQTT_3_1_4_5);
        let packet = conn.expect(st, "CONNACK accepting a valid CONNECT", |p| matches!(p, Packet::Connack(_))).await?;
        let Packet::Connack(ack) = packet else { unreachable!("checked above") };
        if ack.reason_code != ReasonCode::SUCCESS {
            return Err(self.fail(st, "CONNACK with code 0 (accepted)", describe(&Packet::Connack(ack))));
        }
        Ok((conn, ack.session_present, ack.properties))
    }

    /// Connects a clean session with a fresh client id.
    pub async fn client(&self) -> Result<TestConn, Stop> {
        Ok(self.connect_with(&self.opts()).await?.0)
    }

    /// Subscribes `conn` to `filters` and returns the SUBACK codes, after
    /// checking the SUBACK's packet id and length.
    pub async fn subscribe(
        &self,
        conn: &mut TestConn,
        filters: &[(&str, SubscriptionOptions)],
        properties: Properties,
    ) -> Result<Vec<ReasonCode>, Stop> {
        let id = conn.next_packet_id();
        let subscriptions = filters
            .iter()
            .map(|(f, options)| {
                let filter = TopicFilter::for_version(*f, self.version)
                    .map_err(|e| Stop::Error(format!("bad filter {f:?}: {e}")))?;
                Ok(Subscription { filter, options: *options })
            })
            .collect::<Result<Vec<_>, Stop>>()?;
        conn.send(&Packet::Subscribe(Subscribe { packet_id: id, properties, subscriptions })).await?;
        let st = self.st(v3_1_1::MQTT_3_8_4_2, v5::MQTT_3_8_4_2);
        // The server may send PUBLISHes for the new subscription (retained
        // messages) before the SUBACK (section 3.8.4 of both versions):
        // they are kept for the scenario, in order.
        let mut early = Vec::new();
        let ack = loop {
            let p = conn
                .expect(st, &format!("SUBACK with packet id {id}"), |p| {
                    matches!(p, Packet::Suback(s) if s.packet_id == id) || matches!(p, Packet::Publish(_))
                })
                .await?;
            match p {
                Packet::Suback(ack) => break ack,
                p if early.len() < EARLY_PUBLISHES_MAX => early.push(p),
                p => {
                    return Err(self.fail(
                        st,
                        format!("SUBACK with packet id {id} within {EARLY_PUBLISHES_MAX} PUBLISHes"),
                        describe(&p),
                    ))
                }
            }
        };
        conn.unread(early);
        if ack.reason_codes.len() != filters.len() {
            let st = self.st(v3_1_1::MQTT_3_8_4_5, v5::MQTT_3_8_4_6);
            return Err(self.fail(
                st,
                format!("{} reason codes, one per filter", filters.len()),
                describe(&Packet::Suback(ack)),
            ));
        }
        Ok(ack.reason_codes)
    }

    /// Subscribes to one filter at `qos` and requires it granted (at most at `qos`).
    pub async fn subscribe1(&self, conn: &mut TestConn, filter: &str, qos: Qos) -> Result<(), Stop> {
        self.subscribe_opts(conn, filter, SubscriptionOptions::qos(qos), Properties::default()).await
    }

    /// Subscribes to one filter with `options` and requires it granted.
    pub async fn subscribe_opts(
        &self,
        conn: &mut TestConn,
        filter: &str,
        options: SubscriptionOptions,
        properties: Properties,
    ) -> Result<(), Stop> {
        let codes = self.subscribe(conn, &[(filter, options)], properties).await?;
        if codes[0].0 > options.qos.as_u8() {
            let st = self.st(v3_1_1::MQTT_3_8_4_5, v5::MQTT_3_8_4_7);
            return Err(self.fail(
                st,
                format!("granted QoS at most {} for {filter}", options.qos.as_u8()),
                format!("code {:#04x}", codes[0].0),
            ));
        }
        Ok(())
    }

    /// A PUBLISH packet.
    pub fn publish_packet(&self, topic: &str, qos_pid: QosPid, retain: bool, payload: &[u8]) -> Result<Publish, Stop> {
        let topic = TopicName::new(topic).map_err(|e| Stop::Error(format!("bad topic {topic:?}: {e}")))?;
        Ok(Publish {
            dup: false,
            qos_pid,
            retain,
            topic,
            properties: Properties::default(),
            payload: Bytes::copy_from_slice(payload),
        })
    }

    /// Publishes and completes the acknowledgement flow for its QoS; for QoS 0
    /// a PINGREQ/PINGRESP round trip follows, so on return the server has
    /// processed the message.
    pub async fn publish(
        &self,
        conn: &mut TestConn,
        topic: &str,
        qos: Qos,
        retain: bool,
        payload: &[u8],
    ) -> Result<(), Stop> {
        let id = conn.next_packet_id();
        let qos_pid = QosPid::from_parts(qos, Some(id)).expect("id given");
        let publish = self.publish_packet(topic, qos_pid, retain, payload)?;
        self.publish_full(conn, publish).await
    }

    /// Sends `publish` and completes its acknowledgement flow.
    pub async fn publish_full(&self, conn: &mut TestConn, publish: Publish) -> Result<(), Stop> {
        conn.send(&Packet::Publish(publish.clone())).await?;
        match publish.qos_pid {
            QosPid::AtMostOnce => {
                conn.send(&Packet::Pingreq).await?;
                let st = self.st(v3_1_1::MQTT_3_12_4_1, v5::MQTT_3_12_4_1);
                conn.expect(st, "PINGRESP", |p| matches!(p, Packet::Pingresp)).await?;
            }
            QosPid::AtLeastOnce(id) => {
                let st = self.st(v3_1_1::MQTT_2_3_1_6, v5::MQTT_2_2_1_5);
                conn.expect(
                    st,
                    &format!("PUBACK with packet id {id}"),
                    |p| matches!(p, Packet::Puback(r) if r.packet_id == id),
                )
                .await?;
            }
            QosPid::ExactlyOnce(id) => {
                let st = self.st(v3_1_1::MQTT_2_3_1_6, v5::MQTT_2_2_1_5);
                conn.expect(
                    st,
                    &format!("PUBREC with packet id {id}"),
                    |p| matches!(p, Packet::Pubrec(r) if r.packet_id == id),
                )
                .await?;
                conn.send(&Packet::Pubrel(crate::codec::PubResponse::new(id))).await?;
                let st = self.st(v3_1_1::MQTT_4_3_3_2, v5::MQTT_4_3_3_11);
                conn.expect(
                    st,
                    &format!("PUBCOMP with packet id {id}"),
                    |p| matches!(p, Packet::Pubcomp(r) if r.packet_id == id),
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Sends DISCONNECT (normal) and waits for the server to close.
    pub async fn disconnect(&self, mut conn: TestConn) -> Result<(), Stop> {
        conn.send(&Packet::Disconnect(crate::codec::Disconnect::default())).await?;
        conn.drop_connection().await;
        Ok(())
    }

    /// Sends DISCONNECT, then waits until the server closes the connection,
    /// so that on return the server has processed the DISCONNECT.
    pub async fn disconnect_and_wait(&self, mut conn: TestConn) -> Result<(), Stop> {
        conn.send(&Packet::Disconnect(crate::codec::Disconnect::default())).await?;
        // PUBLISHes the server sent before it read the DISCONNECT may come first.
        for _ in 0..EARLY_PUBLISHES_MAX {
            match conn.recv(self.wait).await {
                super::Event::Closed => return Ok(()),
                super::Event::Packet(Packet::Publish(_)) => {}
                other => {
                    return Err(Stop::Error(format!(
                        "the server did not close the connection after DISCONNECT: {}",
                        super::conn::describe_event(&other)
                    )))
                }
            }
        }
        Err(Stop::Error(format!("more than {EARLY_PUBLISHES_MAX} PUBLISHes after DISCONNECT")))
    }

    /// Ends the persistent session of `client_id` (connects with a clean
    /// start and no session expiry, then disconnects).
    pub async fn end_session(&self, client_id: &str) -> Result<(), Stop> {
        let mut opts = self.opts();
        opts.client_id = client_id.to_string();
        let (conn, _, _) = self.connect_with(&opts).await?;
        self.disconnect(conn).await
    }
}
