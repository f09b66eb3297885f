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
mod serve;
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
    };
    ExitCode::from(code)
}
