//! Oracles over what a run produced, and statement coverage against the
//! catalogue.
//!
//! Owns: [`coverage`] (which server-side statements a run cited, how, and
//! which it never reached). Oracles over traces (delivery per QoS, ordering,
//! retained, wills, sessions, keep-alive) will live here too.
//!
//! Must not touch: `model` and `sim`. An oracle that reuses model code
//! inherits its bugs, so this module sees only statement IDs, its own
//! [`coverage::CiteKind`], and (later) trace events. Callers convert at the
//! call site.

pub mod coverage;
pub mod history;
pub mod junit;

pub use coverage::{CiteKind, Coverage, CoverageReport, VersionCoverage};
pub use history::{check_history, pending_at_end, render_violations, CheckConfig, Violation};
