//! `mqttsim replay`: a recorded case (or, with `--differential`, freshly
//! recorded cases for a range of seeds) replayed against a real server.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::{parse_version, EXIT_OK, EXIT_USAGE, EXIT_VIOLATION};
use crate::replay::{compare, differential, replay, Case, RecordSettings, ReplayOptions};
use crate::spec::Version;

/// Report formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// One line per difference.
    Text,
    /// One JSON object.
    Json,
}

/// Arguments of `mqttsim replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The case file (from `mqttsim record`); not with --differential.
    #[arg(value_name = "CASE", required_unless_present = "differential", conflicts_with = "differential")]
    pub case: Option<PathBuf>,
    /// The server, `HOST:PORT`.
    #[arg(long, value_name = "HOST:PORT")]
    pub against: String,
    /// The bound on every wait for a packet, ms.
    #[arg(long, value_name = "MS", default_value_t = 2_000)]
    pub timeout_ms: u64,
    /// The report format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Record and replay `--seeds` cases, and summarise the differences by statement.
    #[arg(long)]
    pub differential: bool,
    /// How many seeds (--differential).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub seeds: u64,
    /// The first seed (--differential).
    #[arg(long, value_name = "SEED", default_value_t = 0)]
    pub from: u64,
    /// Keep at most N clients per case (--differential).
    #[arg(long, value_name = "N")]
    pub clients: Option<usize>,
    /// Make every client speak this version (--differential).
    #[arg(long, value_name = "VERSION", value_parser = parse_version)]
    pub mqtt: Option<Version>,
    /// Keep at most N steps per case (--differential).
    #[arg(long, value_name = "N", default_value_t = RecordSettings::default().max_steps)]
    pub max_steps: usize,
}

/// Eight letters and digits from the clock and the process id, so two runs
/// against one server use different client ids and topics.
fn run_id() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut x = (nanos as u64) ^ (u64::from(std::process::id()) << 32);
    let alphabet = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..8)
        .map(|_| {
            let c = alphabet[(x % 36) as usize] as char;
            x /= 36;
            c
        })
        .collect()
}

/// Replays; 0 when equal, 1 on differences, 2 on a harness error.
pub fn run(args: &ReplayArgs) -> u8 {
    let mut options = ReplayOptions::new(args.against.clone(), run_id());
    options.timeout = Duration::from_millis(args.timeout_ms.max(1));
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mqttsim replay: cannot start the async runtime: {e}");
            return EXIT_USAGE;
        }
    };
    if args.differential {
        let settings = RecordSettings {
            max_steps: args.max_steps,
            max_clients: args.clients,
            version: args.mqtt,
            ..Default::default()
        };
        let seeds = args.from..args.from.saturating_add(args.seeds);
        let report = match runtime.block_on(differential(seeds, &settings, &options)) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("mqttsim replay: {e}");
                return EXIT_USAGE;
            }
        };
        match args.format {
            Format::Text => print!("{}", report.to_text()),
            Format::Json => println!("{}", serde_json::to_string(&report).unwrap_or_default()),
        }
        return if report.equal() { EXIT_OK } else { EXIT_VIOLATION };
    }
    let Some(path) = &args.case else {
        eprintln!("mqttsim replay: give a CASE file or --differential");
        return EXIT_USAGE;
    };
    let case = match Case::read(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mqttsim replay: {e}");
            return EXIT_USAGE;
        }
    };
    let observed = match runtime.block_on(replay(&case, &options)) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("mqttsim replay: {e}");
            return EXIT_USAGE;
        }
    };
    let differences = compare(&case, &observed);
    match args.format {
        Format::Text => {
            for d in &differences {
                println!("{d}");
            }
            for note in &observed.cleanup {
                eprintln!("mqttsim replay: clean-up: {note}");
            }
            println!(
                "{}: seed {}, {} steps, {} difference(s) against {}",
                if differences.is_empty() { "equal" } else { "different" },
                case.header.seed,
                case.steps.len(),
                differences.len(),
                args.against
            );
        }
        Format::Json => {
            let json = serde_json::json!({
                "case": path.display().to_string(),
                "seed": case.header.seed,
                "against": args.against,
                "steps": case.steps.len(),
                "equal": differences.is_empty(),
                "differences": differences,
                "cleanup": observed.cleanup,
            });
            println!("{json}");
        }
    }
    if differences.is_empty() {
        EXIT_OK
    } else {
        EXIT_VIOLATION
    }
}
