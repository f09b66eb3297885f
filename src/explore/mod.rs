//! Model-based exploration: generated workloads judged by the history
//! checkers, swept over many seeds, with each failure shrunk to a small
//! case and written to `seeds/`.
//!
//! Owns: the input model ([`gen`]: a seed draws its knobs, clients, script
//! and fault plan, swarm style), judging one run ([`run`]: the scenario's
//! own verdict, then `check::check_history` for safety and
//! `check::pending_at_end` for liveness), the parallel sweep with
//! coverage-guided selection and sharding ([`sweep`]), delta debugging
//! ([`shrink`]) and seed files ([`seedfile`]).
//!
//! Must not touch: model internals (a defect is switched on through the
//! scenario's broker configuration) or the trace format. Wall-clock time is
//! used only to pace the sweep and report its speed, never inside a run.

pub mod gen;
pub mod run;
pub mod seedfile;
pub mod shrink;
pub mod sweep;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use gen::{draw, draw_with, draw_without_options, Drawn, Knobs, Profile};
pub use run::{judge, judge_with, Finding, Judged, Kind};
pub use seedfile::{SeedFile, SeedFileError, SeedScenario};
pub use shrink::{shrink, Limits, Shrunk};
pub use sweep::{sweep, Plan, Progress, Report, SeedResult, Tweak};

/// A tweak that switches `defects` on in every scenario's broker.
pub fn with_defects(defects: crate::model::Defects) -> Tweak {
    std::sync::Arc::new(move |s: &mut crate::sim::Scenario| s.world.broker.defects = defects)
}

/// A failure, shrunk.
#[derive(Debug, Clone)]
pub struct Case {
    /// The seed.
    pub seed: u64,
    /// What the full scenario showed first.
    pub finding: Finding,
    /// The shrunk scenario.
    pub shrunk: Shrunk,
    /// What the shrunk scenario shows (same kind, rule and statement).
    pub shrunk_finding: Finding,
}

/// Shrinks a failing seed of `plan`.
pub fn shrink_failure(plan: &Plan, failure: &SeedResult, limits: Limits) -> Option<Case> {
    let finding = failure.findings.first()?.clone();
    let (scenario, _) = plan.scenario(failure.seed);
    let signature = finding.signature();
    let shrunk = shrink(&scenario, failure.seed, &signature, limits);
    let judged = judge(&shrunk.scenario, failure.seed);
    let shrunk_finding = judged.findings.iter().find(|f| f.signature() == signature).cloned()?;
    Some(Case { seed: failure.seed, finding, shrunk, shrunk_finding })
}

/// Writes `case` under `dir` as a seed file (inline scenario); returns its path.
pub fn write_case(case: &Case, dir: &std::path::Path) -> Result<PathBuf, SeedFileError> {
    let path = SeedFile::path_in(dir, &case.shrunk.scenario, case.seed);
    SeedFile::new(case.shrunk.scenario.clone(), case.seed, &case.shrunk_finding, &path).write(&path)?;
    Ok(path)
}
