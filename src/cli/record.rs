//! `mqttsim record`: a seed's generated workload, run against the model
//! broker, written as a self-checking case file (`docs/replay.md`).

use std::path::PathBuf;

use clap::Args;

use super::{parse_version, EXIT_OK, EXIT_USAGE};
use crate::replay::record::model_run;
use crate::replay::{record, RecordSettings};
use crate::spec::Version;

/// Arguments of `mqttsim record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The seed the workload is drawn from.
    #[arg(long, value_name = "N")]
    pub seed: u64,
    /// Where to write the case (JSON lines).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Keep at most N of the drawn clients.
    #[arg(long, value_name = "N")]
    pub clients: Option<usize>,
    /// Make every client speak this version (3.1.1 or 5).
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    pub mqtt: Option<Version>,
    /// Keep at most N steps.
    #[arg(long, value_name = "N", default_value_t = RecordSettings::default().max_steps)]
    pub max_steps: usize,
    /// Also write the model run's trace (text) to FILE, even when it fails.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
    /// Simulated time between two steps in the model run, ms (at least 200).
    #[arg(long, value_name = "MS", default_value_t = RecordSettings::default().spacing_ms)]
    pub spacing_ms: u64,
}

impl RecordArgs {
    /// The recording settings these arguments ask for.
    pub fn settings(&self) -> RecordSettings {
        RecordSettings {
            spacing_ms: self.spacing_ms,
            max_steps: self.max_steps,
            max_clients: self.clients,
            version: self.mqtt,
        }
    }
}

/// Records the case; 0 on success, 2 when the model run did not pass or
/// the file cannot be written.
pub fn run(args: &RecordArgs) -> u8 {
    if let Some(path) = &args.trace {
        let run = model_run(args.seed, &args.settings());
        if let Err(e) = std::fs::write(path, run.judged.trace.render_text()) {
            eprintln!("mqttsim record: cannot write {}: {e}", path.display());
            return EXIT_USAGE;
        }
    }
    let case = match record(args.seed, &args.settings()) {
        Ok(case) => case,
        Err(e) => {
            eprintln!("mqttsim record: {e}");
            return EXIT_USAGE;
        }
    };
    if let Err(e) = case.write(&args.out) {
        eprintln!("mqttsim record: {e}");
        return EXIT_USAGE;
    }
    println!(
        "recorded seed {}: {} clients, {} steps, {} expected messages -> {}",
        args.seed,
        case.clients.len(),
        case.steps.len(),
        case.deliveries.len(),
        args.out.display()
    );
    println!("replay: mqttsim replay {} --against HOST:PORT", args.out.display());
    EXIT_OK
}
