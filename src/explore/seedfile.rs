//! Seed files: one small TOML file per failure under `seeds/`, kept
//! forever and replayed by `sim-tests`. A file names its scenario either by
//! its catalogue name (`scenario = "fault-heavy"`, built from the seed) or
//! inline (`[scenario]`, e.g. a case `mqttsim explore` shrank), and records
//! the verdict its replay must give today in one `expected` key. The format
//! is documented in `seeds/README.md`; JSON with the same keys also reads.
//!
//! The verdict is [`judge`]'s: the scenario's own run, then the history
//! checkers (safety), then what is still owed at the end (liveness).

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::sim::Scenario;

use super::run::{judge, Finding, Judged, Kind};

/// Which scenario a seed file replays.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SeedScenario {
    /// A built-in scenario (`mqttsim sim --list`), built from the seed.
    Catalogue(String),
    /// The scenario itself (a shrunk case).
    Inline(Box<Scenario>),
}

/// The contents of a seed file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedFile {
    /// The seed.
    pub seed: u64,
    /// `pass`, `safety`, `liveness` or `harness`: what the replay gives today
    /// (`pass` once the bug, or the checker's false positive, is fixed).
    pub expected: Kind,
    /// What the failure showed when it was found (the finding's line).
    pub found: String,
    /// Diagnosis, configuration worth knowing, the fix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// The command that replays it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<String>,
    /// The scenario: a catalogue name or inline (last, so TOML writes the
    /// plain keys first).
    pub scenario: SeedScenario,
}

/// Why a seed file cannot be read or replayed.
#[derive(Debug, thiserror::Error)]
pub enum SeedFileError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is not a valid seed file.
    #[error("{path}: {why}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The catalogue has no scenario of that name.
    #[error("no built-in scenario named {0:?} (see `mqttsim sim --list`)")]
    UnknownScenario(String),
}

impl SeedFile {
    /// A seed file for the inline `scenario` with `seed`, showing `finding`.
    pub fn new(scenario: Scenario, seed: u64, finding: &Finding, path: &Path) -> SeedFile {
        SeedFile {
            seed,
            expected: finding.kind,
            found: finding.to_string(),
            notes: None,
            replay: Some(replay_command(path)),
            scenario: SeedScenario::Inline(Box::new(scenario)),
        }
    }

    /// Where a case of `scenario` with `seed` goes under `dir`.
    pub fn path_in(dir: &Path, scenario: &Scenario, seed: u64) -> PathBuf {
        dir.join(format!("{}-{seed}.toml", scenario.name))
    }

    /// The scenario to replay: the inline one, or the catalogue's for the seed.
    pub fn scenario(&self) -> Result<Scenario, SeedFileError> {
        match &self.scenario {
            SeedScenario::Inline(s) => Ok((**s).clone()),
            SeedScenario::Catalogue(name) => crate::sim::catalog::find(name)
                .map(|b| b.build(self.seed))
                .ok_or_else(|| SeedFileError::UnknownScenario(name.clone())),
        }
    }

    /// Replays it and judges the run.
    pub fn replay(&self) -> Result<Judged, SeedFileError> {
        Ok(judge(&self.scenario()?, self.seed))
    }

    /// The TOML text.
    pub fn to_toml(&self) -> Result<String, String> {
        toml::to_string(self).map_err(|e| e.to_string())
    }

    /// Writes it as TOML to `path`, creating the directory.
    pub fn write(&self, path: &Path) -> Result<(), SeedFileError> {
        let io = |source| SeedFileError::Io { path: path.to_owned(), source };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let text = self.to_toml().map_err(|why| SeedFileError::Format { path: path.to_owned(), why })?;
        std::fs::write(path, text).map_err(io)
    }

    /// Reads one (`.toml`, or `.json` with the same keys).
    pub fn read(path: &Path) -> Result<SeedFile, SeedFileError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| SeedFileError::Io { path: path.to_owned(), source })?;
        let format = |why: String| SeedFileError::Format { path: path.to_owned(), why };
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => serde_json::from_str(&text).map_err(|e| format(e.to_string())),
            _ => toml::from_str(&text).map_err(|e| format(e.to_string())),
        }
    }

    /// Every seed file (`*.toml`, `*.json`) in `dir`, sorted by name.
    pub fn paths_in(dir: &Path) -> Result<Vec<PathBuf>, SeedFileError> {
        let entries = std::fs::read_dir(dir).map_err(|source| SeedFileError::Io { path: dir.to_owned(), source })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("toml" | "json")))
            .collect();
        paths.sort();
        Ok(paths)
    }
}

/// The command that replays the seed file at `path`.
pub fn replay_command(path: &Path) -> String {
    format!("mqttsim explore --replay {}", path.display())
}
