//! `mqttsim check HOST:PORT`: the conformance suite against a real server.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{EXIT_OK, EXIT_USAGE, EXIT_VIOLATION};
use crate::conformance::{run_suite, Profile, SuiteOptions, TcpConnector};
use crate::spec::Version;

/// Which versions to test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MqttChoice {
    /// MQTT 3.1.1 only.
    #[value(name = "3.1.1", alias = "311")]
    V311,
    /// MQTT 5.0 only.
    #[value(name = "5", alias = "5.0")]
    V5,
    /// Both versions.
    Both,
}

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: every scenario, then every statement with failures.
    Text,
    /// The whole report as JSON.
    Json,
    /// JUnit XML: a suite per version, a test case per statement.
    Junit,
}

/// Arguments of `mqttsim check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The server, as HOST:PORT.
    #[arg(value_name = "HOST:PORT")]
    pub server: String,
    /// The MQTT versions to test.
    #[arg(long = "mqtt", value_enum, default_value = "both")]
    pub mqtt: MqttChoice,
    /// A TOML profile: [capabilities] to declare (overriding the probe),
    /// [variations] to pin (qos2_forward = "on_publish" | "on_pubrel",
    /// overlap = "single" | "per_subscription"), and skip = ["scenario", ...].
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Run only scenarios whose `VERSION/name` or statement ids contain PATTERN
    /// (e.g. `keep-alive`, `5.0/`, `MQTT-3.3.1`).
    #[arg(long, value_name = "PATTERN")]
    pub only: Option<String>,
    /// The report format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Write the report to FILE instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Scenarios run at once.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub jobs: usize,
    /// The time limit of one scenario, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    pub scenario_timeout_secs: u64,
    /// How long to wait for one expected packet, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 3000)]
    pub wait_ms: u64,
    /// User name for every CONNECT.
    #[arg(long, value_name = "U")]
    pub username: Option<String>,
    /// Password for every CONNECT (needs --username).
    #[arg(long, value_name = "P", requires = "username")]
    pub password: Option<String>,
    /// Do not measure the server's limits (topic length, payload, client id
    /// length and characters) before the scenarios.
    #[arg(long)]
    pub no_limit_probes: bool,
}

/// Runs the suite and returns the exit code: 0 when nothing failed, 1 when a
/// statement failed, 2 for bad arguments, an unreachable server, or
/// scenarios that could not be judged.
pub fn run(args: &CheckArgs) -> u8 {
    let profile = match &args.profile {
        None => Profile::default(),
        Some(path) => match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| Profile::from_toml_str(&text).map_err(|e| e.to_string()))
            .and_then(|p| p.validate().map(|()| p))
        {
            Ok(p) => p,
            Err(e) => {
                eprintln!("mqttsim check: cannot use the profile {}: {e}", path.display());
                return EXIT_USAGE;
            }
        },
    };
    let versions = match args.mqtt {
        MqttChoice::V311 => vec![Version::V3_1_1],
        MqttChoice::V5 => vec![Version::V5],
        MqttChoice::Both => Version::ALL.to_vec(),
    };
    let options = SuiteOptions {
        versions,
        only: args.only.clone(),
        jobs: args.jobs.max(1),
        scenario_limit: Duration::from_secs(args.scenario_timeout_secs.max(1)),
        wait: Duration::from_millis(args.wait_ms.max(1)),
        run_id: run_id(),
        username: args.username.clone(),
        password: args.password.clone(),
        profile,
        probe_limits: !args.no_limit_probes,
        ..SuiteOptions::default()
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mqttsim check: cannot start the async runtime: {e}");
            return EXIT_USAGE;
        }
    };
    let connector = Arc::new(TcpConnector { addr: args.server.clone() });
    let report = runtime.block_on(run_suite(connector, options));
    if !report.capabilities.v3_1_1 && !report.capabilities.v5 {
        eprintln!("mqttsim check: {} accepts neither MQTT 3.1.1 nor 5.0 connections:", args.server);
        for line in &report.probe {
            eprintln!("  {line}");
        }
        return EXIT_USAGE;
    }
    let text = match args.format {
        Format::Text => report.to_text(),
        Format::Json => report.to_json() + "\n",
        Format::Junit => report.to_junit(),
    };
    let written = match &args.out {
        Some(path) => std::fs::write(path, &text).map_err(|e| format!("cannot write {}: {e}", path.display())),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(|e| e.to_string())
        }
    };
    if let Err(e) = written {
        eprintln!("mqttsim check: {e}");
        return EXIT_USAGE;
    }
    if report.has_failures() {
        EXIT_VIOLATION
    } else if report.has_errors() {
        EXIT_USAGE
    } else {
        EXIT_OK
    }
}

/// Eight letters and digits from the clock and the process id, so that two
/// runs against one server use different client ids and topics.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut x = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
    let alphabet = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = String::new();
    for _ in 0..8 {
        out.push(alphabet[(x % 36) as usize] as char);
        x /= 36;
    }
    out
}
