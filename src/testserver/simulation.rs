//! [`SimTestServer`]: the test server as the broker host of a turmoil run
//! ([`TurmoilWorld`](crate::sim::turmoil::TurmoilWorld)), so a client under
//! test (a plugged-in third-party client, a scripted model client) meets the
//! same misbehaviours inside the simulation as over real TCP, recorded in
//! the run's trace.
//!
//! Each start of the broker host (the first, and each restart after a
//! crash) runs a fresh [`TestServer`] through [`run`] on the recorded
//! listener; its citations go to the trace as the broker's. Control
//! commands and the event stream outlive restarts, and every start leaves a
//! [`Finished`] (dump, stats, report) readable after the run, even though a
//! simulation ends with its broker host still serving.

use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::runtime::{run, Control, Finished, FinishedSlot, RunOptions};
use super::server::{TestEvent, TestServer};
use super::TestServerConfig;
use crate::io::DriverConfig;
use crate::model::BrokerConfig;
use crate::sim::turmoil::{BrokerUnderTest, RecordingListener, BROKER_HOST};

/// Control commands queued at most.
const CONTROL_QUEUE_MAX: usize = 256;
/// Events queued for the stream at most; beyond it they are dropped (and counted in [`Finished::events_dropped`]).
const EVENT_QUEUE_MAX: usize = 100_000;

/// A test server for the turmoil world: hand [`SimTestServer::broker`] to
/// `TurmoilWorld::new`, give [`SimTestServer::control`] senders and the
/// event stream to client hosts (or read the stream after the run), and
/// read [`SimTestServer::finished`] once the run is over.
#[derive(Debug)]
pub struct SimTestServer {
    broker: BrokerConfig,
    config: TestServerConfig,
    driver: DriverConfig,
    control: mpsc::Sender<Control>,
    /// Shared by every start of the host: the one that runs takes commands from it.
    commands: Arc<tokio::sync::Mutex<mpsc::Receiver<Control>>>,
    events_tx: mpsc::Sender<TestEvent>,
    events: Option<mpsc::Receiver<TestEvent>>,
    finished: FinishedSlot,
}

impl SimTestServer {
    /// A test server around a model broker with `broker`, behaving as `config` says.
    pub fn new(broker: BrokerConfig, config: TestServerConfig) -> SimTestServer {
        let (control, commands) = mpsc::channel(CONTROL_QUEUE_MAX);
        let (events_tx, events) = mpsc::channel(EVENT_QUEUE_MAX);
        SimTestServer {
            broker,
            config,
            driver: DriverConfig::default(),
            control,
            commands: Arc::new(tokio::sync::Mutex::new(commands)),
            events_tx,
            events: Some(events),
            finished: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The IO driver's bounds inside the host.
    pub fn driver_config(mut self, driver: DriverConfig) -> SimTestServer {
        self.driver = driver;
        self
    }

    /// The broker host: every (re)start serves a fresh [`TestServer`] on
    /// the recorded listener until the host ends, the server stops itself
    /// (`stop_after_connections`, `max_runtime_ms`, [`Control::Stop`]), or
    /// the run is over.
    pub fn broker(&self) -> BrokerUnderTest {
        let broker = self.broker.clone();
        let config = self.config.clone();
        let driver = self.driver.clone();
        let commands = Arc::clone(&self.commands);
        let events = self.events_tx.clone();
        let finished = Arc::clone(&self.finished);
        BrokerUnderTest::custom(move |listener: RecordingListener| {
            let server = TestServer::new(broker.clone(), config.clone());
            let (forward, control) = mpsc::channel(CONTROL_QUEUE_MAX);
            let options = RunOptions {
                driver: driver.clone(),
                keep_dump: true,
                control: Some(control),
                events: Some(events.clone()),
                finished: Some(Arc::clone(&finished)),
                ..RunOptions::default()
            };
            let commands = Arc::clone(&commands);
            async move {
                let recorder = listener.recorder().clone();
                let ids = listener.conn_ids();
                let cite = move |c| recorder.cite(BROKER_HOST, &ids, c);
                // Commands go from the shared queue to this start's server;
                // a crash drops this future and leaves the queue for the next start.
                let relay = async move {
                    loop {
                        let Some(command) = commands.lock().await.recv().await else { break };
                        if forward.send(command).await.is_err() {
                            break;
                        }
                    }
                    std::future::pending::<()>().await;
                };
                tokio::select! {
                    biased;
                    _ = run(listener, server, options, cite, std::future::pending()) => {}
                    () = relay => {}
                }
                Ok(())
            }
        })
    }

    /// A sender of control commands for client hosts (bounded; `send` waits for room).
    pub fn control(&self) -> mpsc::Sender<Control> {
        self.control.clone()
    }

    /// The event stream (packets, violations, opens, closes) of every start; taken once.
    pub fn take_events(&mut self) -> Option<mpsc::Receiver<TestEvent>> {
        self.events.take()
    }

    /// What each start of the host finished with, in order (the dump is
    /// kept in memory). Empty before the run.
    pub fn finished(&self) -> Vec<Finished> {
        self.finished.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}
