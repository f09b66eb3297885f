//! The hosts of a turmoil run: the broker under test (the model broker,
//! with its optional durable store, any sans-IO [`Server`], or any async
//! code given a [`RecordingListener`]) and the clients under test (a
//! scripted [`ModelClient`] that obeys its [`ClientControl`], or any async
//! code given a [`Connector`]).

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::record::{ConnIds, Recorded, Recorder, RecordingListener};
use crate::codec::{Properties, Qos, ReasonCode, Subscription, SubscriptionOptions, TopicFilter, TopicName};
use crate::io::DriverConfig;
use crate::model::{
    Broker, BrokerConfig, ClientConfig, ClientEvent, ClientOutput, ConnectionId, ModelClient, Output, Server, Session,
};
use crate::sim::rng::{SimRng, Stream};
use crate::spec::Version;
use crate::trace::EventKind;

/// The broker's host name and trace endpoint.
pub const BROKER_HOST: &str = "broker";

/// The port the broker listens on.
pub const BROKER_PORT: u16 = 1883;

/// What a host's software returns (turmoil's result).
pub type HostResult = ::turmoil::Result;

/// The future a plugged-in host runs. It need not be `Send`: turmoil runs
/// each host on its own current-thread runtime.
pub type HostFuture = Pin<Box<dyn Future<Output = HostResult>>>;

/// A user-supplied broker: called on every (re)start of the broker host with
/// a listener bound to [`BROKER_PORT`] whose streams are recorded.
pub type BrokerFn = Rc<dyn Fn(RecordingListener) -> HostFuture>;

/// A user-supplied sans-IO server, built afresh on every (re)start.
pub type ServerFn = Box<dyn Fn() -> Box<dyn Server>>;

/// A user-supplied client: called once with its [`Connector`].
pub type ClientFn = Box<dyn FnOnce(Connector) -> HostFuture>;

/// The broker under test.
pub enum BrokerUnderTest {
    /// The model broker with this configuration, through [`crate::io::run`].
    Model(BrokerConfig),
    /// Any sans-IO [`Server`], through [`crate::io::run`].
    Server(ServerFn),
    /// Any async code that serves MQTT on the listener it is given.
    Custom(BrokerFn),
}

impl BrokerUnderTest {
    /// A broker from any async function of the listener.
    pub fn custom<F, Fut>(f: F) -> BrokerUnderTest
    where
        F: Fn(RecordingListener) -> Fut + 'static,
        Fut: Future<Output = HostResult> + 'static,
    {
        BrokerUnderTest::Custom(Rc::new(move |listener| Box::pin(f(listener))))
    }

    /// A broker from any sans-IO server factory.
    pub fn server<F, S>(f: F) -> BrokerUnderTest
    where
        F: Fn() -> S + 'static,
        S: Server + 'static,
    {
        BrokerUnderTest::Server(Box::new(move || Box::new(f())))
    }

    /// Starts the software once: bind, then serve. A model broker starts
    /// from `store` (empty unless it is durable and kept sessions at a crash).
    pub(super) fn start(&self, recorder: Recorder, driver: DriverConfig, store: &BrokerStore) -> HostFuture {
        match self {
            BrokerUnderTest::Model(config) => {
                let broker = SharedBroker(store.start(config));
                Box::pin(async move { serve(bind(recorder).await?, broker, driver).await })
            }
            BrokerUnderTest::Server(make) => {
                let server = DynServer(make());
                Box::pin(async move { serve(bind(recorder).await?, server, driver).await })
            }
            BrokerUnderTest::Custom(f) => {
                let f = Rc::clone(f);
                Box::pin(async move { f(bind(recorder).await?).await })
            }
        }
    }
}

async fn bind(recorder: Recorder) -> io::Result<RecordingListener> {
    let listener = ::turmoil::net::TcpListener::bind(("0.0.0.0", BROKER_PORT)).await?;
    Ok(RecordingListener::new(listener, recorder, BROKER_HOST))
}

/// Runs `server` on `listener` until the host is crashed, recording its
/// citations as the broker's.
pub async fn serve(listener: RecordingListener, server: impl Server, driver: DriverConfig) -> HostResult {
    let recorder = listener.recorder().clone();
    let ids: ConnIds = listener.conn_ids();
    let sink = move |c| recorder.cite(BROKER_HOST, &ids, c);
    crate::io::run(listener, server, driver, sink, std::future::pending()).await;
    Ok(())
}

/// A boxed [`Server`] is a server.
struct DynServer(Box<dyn Server>);

impl Server for DynServer {
    fn handle_connection_opened(&mut self, now: Duration, conn: ConnectionId) {
        self.0.handle_connection_opened(now, conn);
    }

    fn handle_bytes(&mut self, now: Duration, conn: ConnectionId, bytes: &[u8]) {
        self.0.handle_bytes(now, conn, bytes);
    }

    fn handle_connection_closed(&mut self, now: Duration, conn: ConnectionId) {
        self.0.handle_connection_closed(now, conn);
    }

    fn handle_timeout(&mut self, now: Duration) {
        self.0.handle_timeout(now);
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.0.poll_output()
    }

    fn poll_timeout(&self) -> Option<Duration> {
        self.0.poll_timeout()
    }
}

/// What a client under test is given: a way to open recorded connections to
/// the broker, the trace, and seeded randomness.
#[derive(Debug, Clone)]
pub struct Connector {
    recorder: Recorder,
    endpoint: String,
    seed: u64,
}

impl Connector {
    pub(super) fn new(recorder: Recorder, endpoint: &str, seed: u64) -> Connector {
        Connector { recorder, endpoint: endpoint.to_owned(), seed }
    }

    /// Opens a TCP connection to the broker, recorded as this client's.
    /// Fails at once with `ConnectionRefused` during a partition or while
    /// the broker is down.
    pub async fn connect(&self) -> io::Result<Recorded<::turmoil::net::TcpStream>> {
        let stream = ::turmoil::net::TcpStream::connect((BROKER_HOST, BROKER_PORT)).await?;
        self.recorder.connected(&self.endpoint, stream)
    }

    /// The client's name: its host and its trace endpoint.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The trace, to record notes or deliveries.
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    /// The run's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A random stream of this client, named `name`: a function of the seed,
    /// the client's name and `name` only.
    pub fn rng(&self, name: &str) -> Stream {
        SimRng::new(self.seed).stream(&format!("{}/{name}", self.endpoint))
    }

    /// Records that an application message was handed to this client's
    /// application.
    pub fn delivered(&self, topic: &str, qos: u8, retain: bool, payload: Bytes) {
        self.recorder.record(EventKind::Delivery {
            client: self.endpoint.clone(),
            topic: topic.to_owned(),
            qos,
            retain,
            payload,
            publisher_seq: None,
        });
    }
}

/// A client under test.
pub enum ClientUnderTest {
    /// A scripted model client (boxed: a spec is large).
    Model(Box<ModelClientSpec>),
    /// Any async code given a [`Connector`].
    Custom(ClientFn),
}

impl ClientUnderTest {
    /// A scripted model client.
    pub fn model(spec: ModelClientSpec) -> ClientUnderTest {
        ClientUnderTest::Model(Box::new(spec))
    }

    /// A client from any async function of its connector.
    pub fn custom<F, Fut>(f: F) -> ClientUnderTest
    where
        F: FnOnce(Connector) -> Fut + 'static,
        Fut: Future<Output = HostResult> + 'static,
    {
        ClientUnderTest::Custom(Box::new(move |connector| Box::pin(f(connector))))
    }

    /// Starts the client; a model client obeys `control`.
    pub(super) fn start(self, connector: Connector, control: Rc<ClientControl>) -> HostFuture {
        match self {
            ClientUnderTest::Model(spec) => Box::pin(run_model_client(*spec, connector, control)),
            ClientUnderTest::Custom(f) => f(connector),
        }
    }
}

/// What a scripted model client does, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelClientSpec {
    /// Its CONNECT.
    pub config: ClientConfig,
    /// Application actions at simulated times, applied in time order (ties
    /// in list order).
    pub steps: Vec<ClientStep>,
    /// Whether the client dials at the start; if not, it stays offline until
    /// a `Connect` step.
    #[serde(default = "yes")]
    pub connect_at_start: bool,
    /// After a connection ends (or a connect fails) the client dials again
    /// this long after; `None` stays offline until a `Connect` step.
    pub reconnect_after_ms: Option<u64>,
    /// The client sends DISCONNECT (when connected) and its host ends here.
    /// The run ends when every client has ended.
    pub stop_at_ms: u64,
}

fn yes() -> bool {
    true
}

/// One scripted action at a simulated time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientStep {
    /// When, in ms since the start of the run.
    pub at_ms: u64,
    /// What.
    pub action: ClientAction,
}

/// An application action of a scripted model client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ClientAction {
    /// Subscribe to one filter.
    Subscribe {
        /// The filter.
        filter: String,
        /// Its maximum QoS.
        qos: u8,
    },
    /// Publish one message (queued while offline).
    Publish {
        /// The topic.
        topic: String,
        /// The payload, as text.
        payload: String,
        /// The QoS.
        qos: u8,
        /// RETAIN.
        retain: bool,
    },
    /// Unsubscribe from one filter.
    Unsubscribe {
        /// The filter.
        filter: String,
    },
    /// Send DISCONNECT with `reason` (5.0; 0x04 keeps the will) and stay
    /// offline.
    Disconnect {
        /// The reason code; 0 when absent.
        #[serde(default)]
        reason: u8,
    },
    /// Dial again (after a `Disconnect`, or without `reconnect_after_ms`).
    Connect,
    /// The application stops reading and sending (the socket stays open);
    /// later steps wait until a `Resume`.
    Silence,
    /// Ends a `Silence`.
    Resume,
}

/// The host's simulated clock: time since the run started (client hosts
/// start with the run and are never restarted).
fn now() -> Duration {
    ::turmoil::elapsed()
}

/// Sleeps until the host's clock reads `at`.
async fn sleep_until(at: Duration) {
    tokio::time::sleep(at.saturating_sub(now())).await;
}

/// What the run loop tells a scripted model client between two steps: the
/// client faults (an abrupt close; a silence and its end). Shared with the
/// client's host, which runs on the same thread.
#[derive(Debug, Default)]
pub struct ClientControl {
    close: Cell<bool>,
    silenced: Cell<bool>,
    notify: tokio::sync::Notify,
}

impl ClientControl {
    /// Drop the socket now: no DISCONNECT, the broker sees an end of stream.
    pub(super) fn close(&self) {
        self.close.set(true);
        self.notify.notify_one();
    }

    /// Stop (`true`) or resume (`false`) reading, sending and the script.
    pub(super) fn silence(&self, on: bool) {
        self.silenced.set(on);
        self.notify.notify_one();
    }
}

/// The model broker's store on the turmoil path: the broker of the current
/// start and, with the durable store, the sessions exported at the last
/// crash, which the next start imports (as the discrete-event world does).
#[derive(Debug, Default)]
pub(super) struct BrokerStore {
    pub(super) durable: bool,
    current: RefCell<Option<Rc<RefCell<Broker>>>>,
    saved: RefCell<Option<Vec<Session>>>,
}

impl BrokerStore {
    /// An empty store; `durable` says whether a crash keeps the sessions.
    pub(super) fn new(durable: bool) -> BrokerStore {
        BrokerStore { durable, ..BrokerStore::default() }
    }

    /// The broker host is about to crash: keep its sessions if durable.
    pub(super) fn crash(&self) {
        if let Some(broker) = self.current.borrow_mut().take() {
            if self.durable {
                *self.saved.borrow_mut() = Some(broker.borrow().export_sessions());
            }
        }
    }

    fn start(&self, config: &BrokerConfig) -> Rc<RefCell<Broker>> {
        let sessions = self.saved.borrow_mut().take().unwrap_or_default();
        let broker = Rc::new(RefCell::new(Broker::with_sessions(config.clone(), sessions)));
        *self.current.borrow_mut() = Some(Rc::clone(&broker));
        broker
    }
}

/// The model broker shared with its [`BrokerStore`].
struct SharedBroker(Rc<RefCell<Broker>>);

impl Server for SharedBroker {
    fn handle_connection_opened(&mut self, now: Duration, conn: ConnectionId) {
        self.0.borrow_mut().handle_connection_opened(now, conn);
    }

    fn handle_bytes(&mut self, now: Duration, conn: ConnectionId, bytes: &[u8]) {
        self.0.borrow_mut().handle_bytes(now, conn, bytes);
    }

    fn handle_connection_closed(&mut self, now: Duration, conn: ConnectionId) {
        self.0.borrow_mut().handle_connection_closed(now, conn);
    }

    fn handle_timeout(&mut self, now: Duration) {
        self.0.borrow_mut().handle_timeout(now);
    }

    fn poll_output(&mut self) -> Option<Output> {
        self.0.borrow_mut().poll_output()
    }

    fn poll_timeout(&self) -> Option<Duration> {
        self.0.borrow().poll_timeout()
    }
}

/// The state of a scripted model client's driver.
struct Driver {
    client: ModelClient,
    version: Version,
    conn: Option<Recorded<::turmoil::net::TcpStream>>,
    dial_at: Option<Duration>,
    /// Whether the application wants to be connected (false after a Disconnect step).
    online: bool,
    reconnect: Option<Duration>,
}

impl Driver {
    fn redial(&mut self) {
        self.dial_at = if self.online { self.reconnect.map(|d| now() + d) } else { None };
    }

    fn lost(&mut self) {
        self.conn = None;
        self.client.handle_connection_closed(now());
        self.redial();
    }
}

/// The driver of a scripted model client over recorded turmoil TCP: read →
/// `handle_bytes`, write outputs, sleep until the earliest of its deadline,
/// the next step, the next dial and the end, or until the run loop's
/// [`ClientControl`] says something. While silenced it neither reads, nor
/// writes, nor dials, nor runs its timers or script (but for `Resume`).
async fn run_model_client(spec: ModelClientSpec, connector: Connector, control: Rc<ClientControl>) -> HostResult {
    let ms = Duration::from_millis;
    let endpoint = connector.endpoint().to_owned();
    let recorder = connector.recorder().clone();
    let mut d = Driver {
        version: spec.config.version,
        client: ModelClient::new(spec.config),
        conn: None,
        dial_at: spec.connect_at_start.then_some(Duration::ZERO),
        online: spec.connect_at_start,
        reconnect: spec.reconnect_after_ms.map(ms),
    };
    let mut steps: Vec<ClientStep> = spec.steps;
    steps.sort_by_key(|s| s.at_ms);
    let mut steps: VecDeque<ClientStep> = steps.into();
    let stop = ms(spec.stop_at_ms);
    let mut buf = vec![0u8; 4096];
    loop {
        if control.close.take() {
            if let Some(stream) = d.conn.take() {
                // Dropped, not shut down: recorded as closed by the network.
                recorder.set_crashing(Some(&endpoint));
                drop(stream);
                recorder.set_crashing(None);
                d.lost();
            }
        }
        if control.silenced.get() {
            // Only a scripted Resume (or the run loop) ends a silence.
            if let Some(k) = steps.iter().position(|s| ms(s.at_ms) <= now() && s.action == ClientAction::Resume) {
                steps.remove(k);
                control.silenced.set(false);
                continue;
            }
            if now() >= stop {
                break;
            }
            let resume = steps.iter().find(|s| s.action == ClientAction::Resume).map(|s| ms(s.at_ms));
            let wake = resume.map_or(stop, |r| r.min(stop));
            tokio::select! {
                biased;
                () = control.notify.notified() => {}
                () = sleep_until(wake) => {}
            }
            continue;
        }
        if d.conn.is_none() && d.dial_at.is_some_and(|t| t <= now()) && now() < stop {
            d.dial_at = None;
            match connector.connect().await {
                Ok(stream) => {
                    d.conn = Some(stream);
                    d.client.handle_connection_opened(now());
                }
                Err(_) => d.redial(),
            }
        }
        // Drain outputs; a failed write or a requested close ends the connection.
        let mut ended = false;
        while let Some(output) = d.client.poll_output() {
            match output {
                ClientOutput::Transmit(bytes) => {
                    if let Some(stream) = d.conn.as_mut() {
                        if stream.write_all(&bytes).await.is_err() {
                            ended = true;
                        }
                    }
                }
                ClientOutput::Close => {
                    if let Some(mut stream) = d.conn.take() {
                        let _ = stream.shutdown().await;
                        d.redial();
                    }
                }
                ClientOutput::Cite(c) => {
                    // The model client cites without a connection: it has one at a time.
                    let c = crate::model::Citation { conn: d.conn.as_ref().map(|s| ConnectionId(s.conn())), ..c };
                    recorder.cite(&endpoint, &ConnIds::default(), c);
                }
                ClientOutput::Event(ClientEvent::Delivered { topic, payload, qos, retain, .. }) => {
                    connector.delivered(&topic, qos.as_u8(), retain, payload);
                }
                ClientOutput::Event(ClientEvent::ProtocolViolation { description }) => {
                    recorder.note(format!("{endpoint}: {}{description}", super::scenario::PROTOCOL_VIOLATION));
                }
                ClientOutput::Event(_) => {}
            }
        }
        if ended {
            d.lost();
            continue;
        }
        if now() >= stop {
            break;
        }
        let wake = [d.client.poll_timeout(), steps.front().map(|s| ms(s.at_ms)), d.dial_at]
            .into_iter()
            .flatten()
            .fold(stop, Duration::min);
        let read = async {
            match d.conn.as_mut() {
                Some(stream) => stream.read(&mut buf).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = control.notify.notified() => {}
            read = read => match read {
                Ok(n) if n > 0 => d.client.handle_bytes(now(), &buf[..n]),
                _ => d.lost(),
            },
            () = sleep_until(wake) => {
                while steps.front().is_some_and(|s| ms(s.at_ms) <= now()) && !control.silenced.get() {
                    let step = steps.pop_front().expect("checked");
                    d.apply(now(), step.action, &control)?;
                }
                if d.client.poll_timeout().is_some_and(|t| t <= now()) {
                    d.client.handle_timeout(now());
                }
            }
        }
    }
    if d.client.is_connected() && !control.silenced.get() {
        d.client.disconnect(now(), ReasonCode::NORMAL_DISCONNECTION);
        while let Some(output) = d.client.poll_output() {
            if let (ClientOutput::Transmit(bytes), Some(stream)) = (output, d.conn.as_mut()) {
                let _ = stream.write_all(&bytes).await;
            }
        }
    }
    if let Some(mut stream) = d.conn.take() {
        let _ = stream.shutdown().await;
    }
    Ok(())
}

impl Driver {
    fn apply(&mut self, now: Duration, action: ClientAction, control: &ClientControl) -> HostResult {
        let qos = |q: u8| Qos::from_u8(q).ok_or_else(|| format!("QoS {q} does not exist"));
        let filter = |filter: String| match self.version {
            Version::V3_1_1 => TopicFilter::new_v3(filter),
            Version::V5 => TopicFilter::new(filter),
        };
        match action {
            ClientAction::Subscribe { filter: f, qos: q } => {
                let filter = filter(f).map_err(|e| format!("{e}"))?;
                let subscription = Subscription { filter, options: SubscriptionOptions::qos(qos(q)?) };
                self.client.subscribe(now, vec![subscription], Properties::default());
            }
            ClientAction::Unsubscribe { filter: f } => {
                let filter = filter(f).map_err(|e| format!("{e}"))?;
                self.client.unsubscribe(now, vec![filter]);
            }
            ClientAction::Publish { topic, payload, qos: q, retain } => {
                let topic = TopicName::new(topic).map_err(|e| format!("{e}"))?;
                self.client.publish(now, topic, Bytes::from(payload), qos(q)?, retain, Properties::default());
            }
            ClientAction::Disconnect { reason } => {
                self.client.disconnect(now, ReasonCode(reason));
                self.online = false;
                self.dial_at = None;
            }
            ClientAction::Connect => {
                self.online = true;
                if self.conn.is_none() {
                    self.dial_at = Some(now);
                }
            }
            ClientAction::Silence => control.silenced.set(true),
            ClientAction::Resume => control.silenced.set(false),
        }
        Ok(())
    }
}
