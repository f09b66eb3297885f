//! Seed files: one small JSON file per failure under `seeds/`, named
//! `<scenario>-<seed>.json`, holding the seed, the (shrunk) scenario inline,
//! the expected verdict and what it showed, so `sim-tests` can replay it.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::sim::Scenario;

use super::run::{verdict_kind, Finding, Kind};

/// The contents of a seed file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeedFile {
    /// The seed.
    pub seed: u64,
    /// The scenario, inline.
    pub scenario: Scenario,
    /// What `mqttsim explore` judged (scenario run, then the history
    /// checkers): `pass`, `safety`, `liveness` or `harness`.
    pub expected_verdict: Kind,
    /// The kind of [`Scenario::run`]'s own verdict, before the history checks.
    pub scenario_verdict: Kind,
    /// What it showed, one line.
    pub found: String,
    /// The finding that characterises it.
    pub finding: Finding,
    /// The command that replays it.
    pub replay: String,
}

impl SeedFile {
    /// A seed file for `scenario` with `seed`, showing `finding`; replays
    /// the scenario once to record its own verdict.
    pub fn new(scenario: Scenario, seed: u64, finding: Finding, path: &Path) -> SeedFile {
        let scenario_verdict = verdict_kind(&scenario.run(seed).verdict);
        SeedFile {
            seed,
            expected_verdict: finding.kind,
            scenario_verdict,
            found: finding.to_string(),
            finding,
            replay: replay_command(path),
            scenario,
        }
    }

    /// Where it goes under `dir`.
    pub fn path_in(dir: &Path, scenario: &Scenario, seed: u64) -> PathBuf {
        dir.join(format!("{}-{seed}.json", scenario.name))
    }

    /// Writes it (pretty JSON) to `path`, creating the directory.
    pub fn write(&self, path: &Path) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        text.push('\n');
        std::fs::write(path, text)
    }

    /// Reads one.
    pub fn read(path: &Path) -> io::Result<SeedFile> {
        let text = std::fs::read_to_string(path)?;
        serde_json::from_str(&text).map_err(io::Error::other)
    }
}

/// The command that replays the seed file at `path`.
pub fn replay_command(path: &Path) -> String {
    format!("mqttsim explore --replay {}", path.display())
}
