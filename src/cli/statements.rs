//! `mqttsim statements`: prints the catalogue.

use std::io::Write as _;

use clap::{Args, ValueEnum};

use super::{parse_version, EXIT_OK, EXIT_USAGE};
use crate::spec::Version;

/// Output format of `mqttsim statements`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatementsFormat {
    /// Tab-separated, with a header line.
    Tsv,
    /// One JSON array of objects.
    Json,
}

/// One catalogue row, in column order.
#[derive(serde::Serialize)]
struct Row {
    version: Version,
    id: &'static str,
    actor: crate::spec::Actor,
    level: crate::spec::Level,
    section: &'static str,
    summary: &'static str,
}

/// Arguments of `mqttsim statements`.
#[derive(Debug, Args)]
pub struct StatementsArgs {
    /// Only this version (3.1.1 or 5); both when absent.
    #[arg(long = "mqtt", value_name = "VERSION", value_parser = parse_version)]
    pub version: Option<Version>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = StatementsFormat::Tsv)]
    pub format: StatementsFormat,
}

/// Prints the catalogue and returns the exit code.
pub fn run(args: &StatementsArgs) -> u8 {
    let versions: Vec<Version> = args.version.map_or(Version::ALL.to_vec(), |v| vec![v]);
    let statements = versions.iter().flat_map(|v| v.statements());
    let mut out = std::io::stdout().lock();
    let written = match args.format {
        StatementsFormat::Tsv => {
            let mut text = String::from("version\tid\tactor\tlevel\tsection\tsummary\n");
            for s in statements {
                text.push_str(&format!(
                    "{}\t{}\t{}\t{}\t{}\t{}\n",
                    s.id.version,
                    s.id.id,
                    s.actor.as_str(),
                    s.level.as_str(),
                    s.section,
                    s.summary
                ));
            }
            out.write_all(text.as_bytes())
        }
        StatementsFormat::Json => {
            let rows: Vec<Row> = statements
                .map(|s| Row {
                    version: s.id.version,
                    id: s.id.id,
                    actor: s.actor,
                    level: s.level,
                    section: s.section,
                    summary: s.summary,
                })
                .collect();
            let text = serde_json::to_string_pretty(&rows).expect("catalogue rows always serialize");
            out.write_all(text.as_bytes()).and_then(|()| writeln!(out))
        }
    };
    match written {
        Ok(()) => EXIT_OK,
        // A closed pipe (e.g. `| head`) is not an error worth a message.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => EXIT_OK,
        Err(e) => {
            eprintln!("error: writing the catalogue: {e}");
            EXIT_USAGE
        }
    }
}
