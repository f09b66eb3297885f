//! `mqttsim sim`: lists the built-in scenarios, or runs one with a seed and
//! prints its trace and verdict.

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{EXIT_OK, EXIT_USAGE, EXIT_VIOLATION};
use crate::sim::catalog::{self, CATALOG};
use crate::sim::Verdict;

/// The system did not settle after every fault healed.
pub const EXIT_LIVENESS: u8 = 3;

/// Trace formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TraceFormat {
    /// The stable one-line-per-event text (`docs/trace-format.md`).
    Text,
    /// JSON lines: the header, then one event per line.
    Jsonl,
}

/// Arguments of `mqttsim sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// The scenario to run (see `--list`).
    #[arg(value_name = "SCENARIO", required_unless_present = "list")]
    pub scenario: Option<String>,
    /// The seed every random choice of the run derives from. Required: there
    /// is no default seed.
    #[arg(long, value_name = "N", required_unless_present = "list")]
    pub seed: Option<u64>,
    /// List the built-in scenarios (name, versions, description) and exit.
    #[arg(long, conflicts_with_all = ["scenario", "seed"])]
    pub list: bool,
    /// The trace format.
    #[arg(long, value_enum, default_value = "text")]
    pub trace: TraceFormat,
    /// Write the trace to FILE instead of standard output (the verdict line
    /// still goes to standard output).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Runs `mqttsim sim` and returns the exit code: 0 pass, 1 safety
/// violation, 3 liveness failure, 2 harness error, unknown scenario or
/// unusable arguments.
pub fn run(args: &SimArgs) -> u8 {
    let mut stdout = std::io::stdout().lock();
    if args.list {
        let text: String = CATALOG.iter().map(|b| b.list_line() + "\n").collect();
        return match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
            Ok(()) => EXIT_OK,
            Err(e) => {
                eprintln!("mqttsim sim: {e}");
                EXIT_USAGE
            }
        };
    }
    let (Some(name), Some(seed)) = (args.scenario.as_deref(), args.seed) else {
        eprintln!("mqttsim sim: give a SCENARIO and --seed N, or --list");
        return EXIT_USAGE;
    };
    let Some(builtin) = catalog::find(name) else {
        eprintln!("mqttsim sim: unknown scenario {name:?}; the built-in scenarios are:");
        for b in CATALOG {
            eprintln!("  {}", b.name);
        }
        return EXIT_USAGE;
    };
    let scenario = builtin.build(seed);
    let outcome = catalog::run_checked(&scenario, seed);
    let trace = match args.trace {
        TraceFormat::Text => outcome.trace.render_text(),
        TraceFormat::Jsonl => outcome.trace.to_jsonl(),
    };
    let verdict = format!("verdict: {}\n", outcome.verdict.line());
    let written = match &args.out {
        Some(path) => std::fs::write(path, &trace)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))
            .and_then(|()| stdout.write_all(verdict.as_bytes()).map_err(|e| e.to_string())),
        None => stdout
            .write_all(trace.as_bytes())
            .and_then(|()| stdout.write_all(verdict.as_bytes()))
            .map_err(|e| e.to_string()),
    };
    if let Err(e) = written.and_then(|()| stdout.flush().map_err(|e| e.to_string())) {
        eprintln!("mqttsim sim: {e}");
        return EXIT_USAGE;
    }
    let (code, kind) = match &outcome.verdict {
        Verdict::Pass => return EXIT_OK,
        Verdict::Safety(_) => (EXIT_VIOLATION, "safety violation"),
        Verdict::Liveness(_) => (EXIT_LIVENESS, "liveness failure"),
        Verdict::Harness(_) => (EXIT_USAGE, "harness error"),
    };
    let config = serde_json::to_string(&scenario).unwrap_or_else(|e| format!("(cannot serialize: {e})"));
    eprintln!("mqttsim sim: {kind} in scenario {name} with seed {seed}");
    eprintln!("seed: {seed}");
    eprintln!("config: {config}");
    eprintln!("replay: mqttsim sim {name} --seed {seed}");
    code
}
