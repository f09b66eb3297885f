//! The `mqttsim` command line: parses arguments and composes the library.
//!
//! Owns: argument parsing, reading input, printing results, exit codes.
//! Must not touch: protocol logic (it calls `codec`, `spec` and the other
//! layers, and decides nothing about MQTT itself).
//!
//! Exit codes say the kind of outcome: [`EXIT_OK`] success,
//! [`EXIT_VIOLATION`] a specification violation or conformance failure,
//! [`EXIT_USAGE`] unusable input or a harness error.

mod check;
mod decode;
mod explore;
mod record;
mod replay;
mod serve;
mod sim;
mod statements;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::spec::Version;

/// Success.
pub const EXIT_OK: u8 = 0;
/// A specification violation (decode) or a conformance failure.
pub const EXIT_VIOLATION: u8 = 1;
/// Unusable input, bad arguments, or a harness error.
pub const EXIT_USAGE: u8 = 2;

/// Deterministic-simulation testing for MQTT 3.1.1 and 5.0 brokers and clients.
#[derive(Debug, Parser)]
#[command(name = "mqttsim", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decode MQTT packets from hex, strictly, and name the statement any bytes break.
    ///
    /// Prints one JSON object per packet and exits 0. On a violation it prints the
    /// statement ID, its summary and the byte offset, and exits 1. Input that is not
    /// hex exits 2.
    ///
    /// Examples:
    ///   mqttsim decode 30 0b 00 03 61 2f 62 00 68 65 6c 6c 6f
    ///   echo 'e0 00' | mqttsim decode --mqtt 3.1.1 -
    #[command(verbatim_doc_comment)]
    Decode(decode::DecodeArgs),
    /// Print the statement catalogue: every normative statement of MQTT 3.1.1 and 5.0.
    ///
    /// Columns: version, id, actor (server, client, both), level (MUST, MUST NOT,
    /// SHOULD, SHOULD NOT, MAY), section, and a one-line summary.
    Statements(statements::StatementsArgs),
    /// Run the model broker over real TCP, for real MQTT clients (3.1.1 and 5.0).
    ///
    /// The first line of standard output is `listening on IP:PORT` (with `--port 0`
    /// the port is a free one). Runs until SIGINT, SIGTERM or `--max-runtime-secs`,
    /// then prints the statement coverage of the run (server-side statements cited,
    /// per version) and exits 0. Logs go to standard error; set RUST_LOG (e.g.
    /// `RUST_LOG=mqttsim=debug`) for more.
    ///
    /// Examples:
    ///   mqttsim serve --port 0 --max-runtime-secs 60
    ///   mqttsim serve --port 1883 --config broker.toml --coverage coverage.json
    #[command(verbatim_doc_comment)]
    Serve(serve::ServeArgs),
    /// Check a running MQTT server against the specs, statement by statement.
    ///
    /// Probes the server's capabilities (5.0 CONNACK properties; whether 3.1.1 and
    /// 5.0 connect), then runs statement-tagged scenarios concurrently and reports
    /// pass / fail / skipped per statement, with expected and observed packets for
    /// each failure. Client ids and topics are unique per run, and retained
    /// messages the run creates are cleared afterwards.
    ///
    /// Exit codes: 0 nothing failed; 1 a statement failed; 2 bad arguments, an
    /// unreachable server, or scenarios that could not be judged.
    ///
    /// Examples:
    ///   mqttsim check 127.0.0.1:1883
    ///   mqttsim check broker:1883 --mqtt 5 --only keep-alive
    ///   mqttsim check 127.0.0.1:1883 --format junit --out conformance.xml
    #[command(verbatim_doc_comment)]
    Check(check::CheckArgs),
    /// Sweep generated workloads over many seeds against the model broker.
    ///
    /// Each seed draws its knobs (which action and fault kinds are on, and how
    /// often), 3 to 5 clients mixing 3.1.1 and 5.0, a script and a fault plan;
    /// the run is judged by the history checkers (safety) and by what is still
    /// owed at the end (liveness). Seeds run in parallel; output is in seed
    /// order. A progress line on standard error shows seeds/s, failures and
    /// statement coverage. Every failure is shrunk by delta debugging and
    /// written to `seeds/<scenario>-<seed>.toml` with its replay command.
    ///
    /// Exit codes: 0 no failure; 1 a safety failure; 3 a liveness failure;
    /// 2 bad arguments or a harness error.
    ///
    /// Examples:
    ///   mqttsim explore --seeds 10000 --jobs 2
    ///   mqttsim explore --time-budget-secs 60 --shard 2/4
    ///   mqttsim explore --replay seeds/fault-heavy-589.toml --trace
    #[command(verbatim_doc_comment)]
    Explore(explore::ExploreArgs),
    /// Run a built-in scenario in the deterministic simulation, or list them.
    ///
    /// Prints the run's trace (text or JSON lines; to FILE with --out) and then one
    /// `verdict: ...` line on standard output. The same scenario and seed print the
    /// same bytes in every process. There is no default seed. On a failure, standard
    /// error gets the seed, the scenario's configuration and the command that
    /// replays it.
    ///
    /// Exit codes: 0 pass; 1 safety violation; 3 liveness failure (the system did
    /// not settle after every fault healed); 2 harness error, unknown scenario or
    /// bad arguments.
    ///
    /// Examples:
    ///   mqttsim sim --list
    ///   mqttsim sim keep-alive-expiry-v5 --seed 7
    ///   mqttsim sim fault-heavy --seed 42 --trace jsonl --out run.jsonl
    #[command(verbatim_doc_comment)]
    Sim(sim::SimArgs),
    /// Record a seed's generated workload against the model broker as a self-checking case.
    ///
    /// Draws the workload of the seed with the `explore` input model, restricted
    /// to what a real server over TCP can reproduce (no network or broker faults;
    /// client-side abrupt closes and reconnects stay), runs it step by step against
    /// the model broker, and writes the inputs and the expected observations as
    /// JSON lines (docs/replay.md). Exit codes: 0 written; 2 the model run did not
    /// pass, or bad arguments.
    ///
    /// Example:
    ///   mqttsim record --seed 7 --out case.jsonl --clients 3
    #[command(verbatim_doc_comment)]
    Record(record::RecordArgs),
    /// Replay a recorded case against a real server over TCP, or run a differential run.
    ///
    /// Client ids and topics are unique per run; the server's packet ids are
    /// answered, not compared; the allowed variations stated in the case are
    /// accepted. Each difference names the statement involved. With
    /// --differential, records --seeds cases from --from and summarises the
    /// differences by statement. Exit codes: 0 equal; 1 differences; 2 unusable
    /// case, unreachable server or bad arguments.
    ///
    /// Examples:
    ///   mqttsim replay case.jsonl --against 127.0.0.1:1883
    ///   mqttsim replay --differential --seeds 20 --from 100 --against 127.0.0.1:1883
    #[command(verbatim_doc_comment)]
    Replay(replay::ReplayArgs),
}

/// Parses `3.1.1`, `311`, `4`, `5`, `5.0` for `--mqtt`.
pub(crate) fn parse_version(text: &str) -> Result<Version, String> {
    Version::parse(text).ok_or_else(|| format!("unknown MQTT version {text:?}: use 3.1.1 or 5"))
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Decode(args) => decode::run(&args),
        Command::Statements(args) => statements::run(&args),
        Command::Serve(args) => serve::run(&args),
        Command::Check(args) => check::run(&args),
        Command::Explore(args) => explore::run(&args),
        Command::Sim(args) => sim::run(&args),
        Command::Record(args) => record::run(&args),
        Command::Replay(args) => replay::run(&args),
    };
    ExitCode::from(code)
}
