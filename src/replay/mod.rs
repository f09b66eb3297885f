//! Recorded cases and their replay against real servers.
//!
//! Owns: the case file format ([`case`], JSON lines, `docs/replay.md`),
//! recording a seed's generated workload against the model broker in the
//! simulation into a self-checking case ([`record`]), replaying a case over
//! real TCP ([`real`]), comparing what the server did with what the case
//! expects under the allowed variations ([`compare`]), and the
//! differential run over many seeds ([`differential`]).
//!
//! Must not touch: the model broker's internals (the model is run through
//! `explore::judge` on a `sim::Scenario`), the simulation (the replay is a
//! thin IO driver at the edge: wall-clock time and sockets live only in
//! [`real`]), or the input model itself (`explore::gen` is read, then
//! restricted here).

pub mod case;
pub mod compare;
pub mod differential;
pub mod real;
pub mod record;
#[cfg(test)]
mod tests;

pub use case::{Case, Op};
pub use compare::{compare, Difference};
pub use differential::{differential, DiffCase, DiffReport};
pub use real::{replay, Observed, ReplayOptions};
pub use record::{record, RecordSettings};

/// Why recording or replaying could not judge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// A case file line is not valid.
    #[error("case file line {line}: {why}")]
    BadCase {
        /// The 1-based line (0: the file as a whole).
        line: usize,
        /// What is wrong.
        why: String,
    },
    /// Reading or writing a file failed.
    #[error("{0}")]
    Io(String),
    /// The model run of the workload did not pass, or its trace was not usable.
    #[error("{0}")]
    Model(String),
    /// The server could not be reached.
    #[error("{0}")]
    Connect(String),
    /// Unusable settings.
    #[error("{0}")]
    Usage(String),
}

/// Replays `case` against `options.addr` and returns the differences.
pub async fn replay_and_compare(case: &Case, options: &ReplayOptions) -> Result<Vec<Difference>, ReplayError> {
    let observed = replay(case, options).await?;
    Ok(compare(case, &observed))
}
