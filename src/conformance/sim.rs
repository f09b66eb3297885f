//! Runs the suite inside turmoil: a server host (the model broker by
//! default) driven by [`crate::io::run`] over `turmoil::net::TcpListener`,
//! and the suite as one turmoil client whose [`Connector`] opens
//! `turmoil::net::TcpStream`s. Time is simulated, so keep-alive scenarios
//! cost milliseconds of wall time.

use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{run_suite, BoxFuture, Connector, Report, Stream, SuiteOptions};
use crate::io::{run, DriverConfig};
use crate::model::{Broker, BrokerConfig, Server};

/// The server host's name inside the simulation.
pub const SERVER_HOST: &str = "server";
/// The port the server listens on inside the simulation.
pub const SERVER_PORT: u16 = 1883;

/// Connects over turmoil's simulated TCP.
#[derive(Debug, Clone)]
pub struct TurmoilConnector {
    /// `host:port` inside the simulation.
    pub addr: String,
}

impl Connector for TurmoilConnector {
    fn connect(&self) -> BoxFuture<'_, io::Result<Box<dyn Stream>>> {
        Box::pin(async move {
            let stream = turmoil::net::TcpStream::connect(self.addr.as_str()).await?;
            Ok(Box::new(stream) as Box<dyn Stream>)
        })
    }

    fn describe(&self) -> String {
        format!("turmoil {}", self.addr)
    }
}

/// How the simulation is set up.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// turmoil's RNG seed.
    pub seed: u64,
    /// The simulation step.
    pub tick: Duration,
    /// Simulated time allowed for the whole suite.
    pub duration: Duration,
    /// turmoil's message latency range (each message takes a value from
    /// it); timed scenarios add this to their tolerance budget.
    pub latency: (Duration, Duration),
}

impl Default for SimOptions {
    fn default() -> SimOptions {
        SimOptions {
            seed: 1,
            tick: Duration::from_millis(1),
            duration: Duration::from_secs(600),
            latency: (Duration::from_millis(1), Duration::from_millis(2)),
        }
    }
}

/// Runs the suite against the model broker with `config` in turmoil.
pub fn check_model(config: BrokerConfig, suite: SuiteOptions, sim: SimOptions) -> Report {
    check_server(move || Broker::new(config.clone()), suite, sim)
}

/// Runs the suite in turmoil against any sans-IO [`Server`] that
/// `make_server` builds (called again if the host restarts).
pub fn check_server<S, F>(make_server: F, suite: SuiteOptions, sim: SimOptions) -> Report
where
    S: Server + 'static,
    F: Fn() -> S + 'static,
{
    let make_server = Arc::new(make_server);
    check_host(
        move || {
            let make_server = make_server.clone();
            async move {
                let listener = turmoil::net::TcpListener::bind(("0.0.0.0", SERVER_PORT)).await?;
                run(listener, make_server(), DriverConfig::default(), |_| {}, std::future::pending()).await;
                Ok(())
            }
        },
        suite,
        sim,
    )
}

/// Runs the suite in turmoil against a server host that `host` starts
/// (it must listen on [`SERVER_PORT`]).
pub fn check_host<H, Fut>(host: H, suite: SuiteOptions, sim: SimOptions) -> Report
where
    H: Fn() -> Fut + 'static,
    Fut: Future<Output = turmoil::Result> + 'static,
{
    let mut world = turmoil::Builder::new()
        .epoch(std::time::UNIX_EPOCH)
        .rng_seed(sim.seed)
        .tick_duration(sim.tick)
        .simulation_duration(sim.duration)
        .min_message_latency(sim.latency.0)
        .max_message_latency(sim.latency.1)
        .build();
    world.host(SERVER_HOST, host);
    let out: Arc<Mutex<Option<Report>>> = Arc::new(Mutex::new(None));
    let slot = out.clone();
    world.client("checker", async move {
        let connector = Arc::new(TurmoilConnector { addr: format!("{SERVER_HOST}:{SERVER_PORT}") });
        let report = run_suite(connector, suite).await;
        *slot.lock().expect("not poisoned") = Some(report);
        Ok(())
    });
    if let Err(e) = world.run() {
        panic!("the simulation failed: {e}");
    }
    let report = out.lock().expect("not poisoned").take();
    report.expect("the checker finished")
}
