//! `mqttsim serve`: the model broker over real TCP, for real clients, run
//! as the [test server](crate::testserver): behaviours from the
//! configuration file, a packet dump, stats and a client-conformance report.
//!
//! Runs on a current-thread tokio runtime. One task owns the broker anyway
//! (it is not `Sync`), so more threads would only add cross-thread wake-ups
//! between the connection tasks and that owner; one thread also schedules
//! the same way a turmoil host does, so what real clients see here and what
//! the simulation sees differ only in the network.

use std::future::Future;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::check::Format;
use super::{EXIT_OK, EXIT_USAGE};
use crate::check::{self, Coverage};
use crate::io::{DriverConfig, NoDelayListener};
use crate::model::{BrokerConfig, Citation, CiteKind};
use crate::testserver::{self, DumpTarget, Finished, RunOptions, TestServer, TestServerConfig};

/// Arguments of `mqttsim serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on. Only loopback by default: the model broker
    /// is a test oracle, not a production server.
    #[arg(long, value_name = "IP", default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// The TCP port; 0 picks a free one (read it from the first line of output).
    #[arg(long, value_name = "N", default_value_t = 1883)]
    pub port: u16,
    /// Broker configuration as TOML (limits, capabilities, access rules,
    /// credentials); every field is optional. Default: the built-in defaults.
    /// `[[behaviour]]` tables and a `[testserver]` table configure the test
    /// server (see docs/test-server.md).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Also write the full coverage report as JSON to FILE when stopping.
    #[arg(long, value_name = "FILE")]
    pub coverage: Option<PathBuf>,
    /// Stop by itself after this many seconds (a bound for scripts and CI).
    #[arg(long, value_name = "N")]
    pub max_runtime_secs: Option<u64>,
    /// Write every packet as JSON lines: to FILE, or one `conn-N.jsonl` per
    /// connection when the path is a directory or ends with `/`.
    #[arg(long, value_name = "FILE|DIR")]
    pub dump: Option<PathBuf>,
    /// Print stats when stopping (connections, packets per type and
    /// direction, violations) and a client-conformance summary.
    #[arg(long)]
    pub stats: bool,
    /// Write the client-conformance report to FILE when stopping, in
    /// `--report-format`; without it, by FILE's extension: `.json` JSON,
    /// `.xml` JUnit XML, text otherwise.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// The format of `--report` (the formats of `mqttsim check`): text,
    /// json, or junit (a suite per version, a case per client statement).
    #[arg(long, value_enum, value_name = "FORMAT", requires = "report")]
    pub report_format: Option<Format>,
    /// Leave Nagle's algorithm on (by default accepted sockets get
    /// TCP_NODELAY, so small packets are not held for the peer's delayed
    /// ACK). Mosquitto's default, for like-for-like throughput comparisons.
    #[arg(long)]
    pub no_tcp_nodelay: bool,
}

/// Serves until SIGINT, SIGTERM or the maximum runtime, prints the coverage
/// summary, and returns the exit code.
pub fn run(args: &ServeArgs) -> u8 {
    init_logging();
    let (config, server_config) = match load_config(args.config.as_ref()) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("mqttsim serve: {message}");
            return EXIT_USAGE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mqttsim serve: cannot start the async runtime: {e}");
            return EXIT_USAGE;
        }
    };
    let mut coverage = Coverage::new();
    let served = runtime
        .block_on(serve(args, config, server_config, |c: Citation| coverage.record(c.statement, cite_kind(c.kind))));
    let finished = match served {
        Ok(finished) => finished,
        Err(message) => {
            eprintln!("mqttsim serve: {message}");
            return EXIT_USAGE;
        }
    };

    let report = coverage.report();
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(report.summary().as_bytes());
    let _ = out.flush();
    if let Some(path) = &args.coverage {
        if let Err(e) = std::fs::write(path, report.to_json_pretty() + "\n") {
            eprintln!("mqttsim serve: cannot write the coverage report to {}: {e}", path.display());
            return EXIT_USAGE;
        }
    }
    let client_report = &finished.report;
    if args.stats {
        let _ = out.write_all(finished.stats.to_text().as_bytes());
        let _ = out.write_all(client_report.to_text().as_bytes());
        let _ = out.flush();
    }
    for error in &finished.dump_errors {
        eprintln!("mqttsim serve: packet dump: {error}");
    }
    if let Some(path) = &args.report {
        let text = match args.report_format.unwrap_or_else(|| format_of(path)) {
            Format::Text => client_report.to_text(),
            Format::Json => client_report.to_json_pretty() + "\n",
            Format::Junit => client_report.to_junit(),
        };
        if let Err(e) = std::fs::write(path, text) {
            eprintln!("mqttsim serve: cannot write the client report to {}: {e}", path.display());
            return EXIT_USAGE;
        }
    }
    EXIT_OK
}

/// The report format `path`'s extension names: `.json`, `.xml` (JUnit), else text.
fn format_of(path: &std::path::Path) -> Format {
    match path.extension().and_then(|e| e.to_str()) {
        Some("json") => Format::Json,
        Some("xml") => Format::Junit,
        _ => Format::Text,
    }
}

/// The model's citation kind, in the check layer's terms.
fn cite_kind(kind: CiteKind) -> check::CiteKind {
    match kind {
        CiteKind::Checked => check::CiteKind::Checked,
        CiteKind::Violated => check::CiteKind::Violated,
        CiteKind::Fulfilled => check::CiteKind::Fulfilled,
    }
}

/// Logs to standard error; `RUST_LOG` overrides the default `info`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second call (tests that run the command twice in one process) is harmless.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}

fn load_config(path: Option<&PathBuf>) -> Result<(BrokerConfig, TestServerConfig), String> {
    let Some(path) = path else {
        return Ok((BrokerConfig::default(), TestServerConfig::default()));
    };
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    testserver::split_config(&text).map_err(|e| format!("invalid configuration in {}: {e}", path.display()))
}

/// `--dump PATH`: a directory (existing, or written with a trailing `/`) gets one file per connection.
fn dump_target(path: &std::path::Path) -> DumpTarget {
    let text = path.to_string_lossy();
    if path.is_dir() || text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR) {
        DumpTarget::Dir(path.to_path_buf())
    } else {
        DumpTarget::File(path.to_path_buf())
    }
}

/// Binds, announces the address on stdout, and drives the broker until a stop.
async fn serve(
    args: &ServeArgs,
    config: BrokerConfig,
    server_config: TestServerConfig,
    cite: impl FnMut(Citation),
) -> Result<Finished, String> {
    // Signal handlers go in before the address is announced, so a client
    // that stops us right after reading it is handled cleanly.
    let stop = stop_signal(args.max_runtime_secs.map(Duration::from_secs))?;
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener.local_addr().map_err(|e| format!("cannot read the bound address: {e}"))?;
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {local}")
            .and_then(|()| out.flush())
            .map_err(|e| format!("cannot write to stdout: {e}"))?;
    }
    tracing::info!(%local, "model broker listening");
    // A little above the broker's own limit, so the broker (not the kernel
    // backlog) answers the first connections over it with "server busy".
    let driver_config =
        DriverConfig { max_connections: config.max_connections.saturating_add(16), ..DriverConfig::default() };
    let options =
        RunOptions { driver: driver_config, dump: args.dump.as_deref().map(dump_target), ..RunOptions::default() };
    let server = TestServer::new(config, server_config);
    let finished = if args.no_tcp_nodelay {
        testserver::run(listener, server, options, cite, stop).await
    } else {
        testserver::run(NoDelayListener(listener), server, options, cite, stop).await
    };
    tracing::info!(stats = ?finished.driver, "stopped");
    Ok(finished)
}

/// Completes on SIGINT, SIGTERM (Unix) or after `max_runtime`, whichever is first.
fn stop_signal(max_runtime: Option<Duration>) -> Result<impl Future<Output = ()>, String> {
    #[cfg(unix)]
    let (mut interrupt, mut terminate) = {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = signal(SignalKind::interrupt()).map_err(|e| format!("cannot handle SIGINT: {e}"))?;
        let terminate = signal(SignalKind::terminate()).map_err(|e| format!("cannot handle SIGTERM: {e}"))?;
        (interrupt, terminate)
    };
    Ok(async move {
        let deadline = async {
            match max_runtime {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        #[cfg(unix)]
        tokio::select! {
            biased;
            _ = interrupt.recv() => tracing::info!("SIGINT: stopping"),
            _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
            () = deadline => tracing::info!("maximum runtime reached: stopping"),
        }
        #[cfg(not(unix))]
        tokio::select! {
            biased;
            _ = tokio::signal::ctrl_c() => tracing::info!("interrupted: stopping"),
            () = deadline => tracing::info!("maximum runtime reached: stopping"),
        }
    })
}
