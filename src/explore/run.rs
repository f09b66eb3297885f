//! One judged run: [`Scenario::run`] with the seed, then the history
//! checkers over its trace (safety) and what is still owed at the end
//! (liveness), folded into one [`Judged`] verdict whose findings name the
//! rule, the statement and the trace position.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::check::history::check_history_and_pending;
use crate::check::{CheckConfig, Violation};
use crate::sim::{HeaderDetail, Scenario, Verdict};
use crate::spec::StatementId;
use crate::trace::{EventKind, Trace};

/// The kind of a judged run's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Safe and settled.
    Pass,
    /// A safety rule broke.
    Safety,
    /// Something owed was not delivered after every fault healed.
    Liveness,
    /// The harness failed or a bound was hit.
    Harness,
}

impl Kind {
    /// `pass`, `safety`, `liveness` or `harness`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Pass => "pass",
            Kind::Safety => "safety",
            Kind::Liveness => "liveness",
            Kind::Harness => "harness",
        }
    }
}

/// Client-reported protocol violations (the scenario's own safety check).
pub const RULE_CLIENT: &str = "client-protocol";
/// The scenario's own settling check (a client not reconnected, a message
/// not completed).
pub const RULE_SETTLE: &str = "not-settled";
/// The harness stopped the run.
pub const RULE_HARNESS: &str = "harness";

/// One finding of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Safety, liveness or harness.
    pub kind: Kind,
    /// The rule (a [`crate::check::history::rule`] name or one of this module's).
    pub rule: String,
    /// The statement broken, when the rule names one.
    pub statement: Option<String>,
    /// Position in the trace, when known.
    pub event_index: Option<usize>,
    /// Simulated time, ms, when known.
    pub at_ms: Option<u64>,
    /// One line.
    pub detail: String,
}

impl Finding {
    fn from_violation(kind: Kind, v: &Violation) -> Finding {
        Finding {
            kind,
            rule: v.rule.to_owned(),
            statement: v.statement.map(|s| s.to_string()),
            event_index: Some(v.event_index),
            at_ms: Some(v.at.as_millis() as u64),
            detail: v.detail.clone(),
        }
    }

    fn plain(kind: Kind, rule: &str, detail: String) -> Finding {
        Finding { kind, rule: rule.to_owned(), statement: None, event_index: None, at_ms: None, detail }
    }

    /// What a shrunk case must still show: kind, rule and statement.
    pub fn signature(&self) -> (Kind, String, Option<String>) {
        (self.kind, self.rule.clone(), self.statement.clone())
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.kind.as_str(), self.rule)?;
        if let Some(s) = &self.statement {
            write!(f, " {s}")?;
        }
        if let (Some(i), Some(ms)) = (self.event_index, self.at_ms) {
            write!(f, " at event #{i} ({}.{:03}s)", ms / 1000, ms % 1000)?;
        }
        write!(f, ": {}", self.detail)
    }
}

/// A judged run.
#[derive(Debug, Clone)]
pub struct Judged {
    /// The overall kind: the first of harness, safety, liveness that has findings.
    pub kind: Kind,
    /// The findings of that kind, trace order.
    pub findings: Vec<Finding>,
    /// The scenario's own verdict (before the history checks).
    pub scenario_verdict: Verdict,
    /// Statements the broker cited during the run.
    pub cited: BTreeSet<StatementId>,
    /// The run's trace.
    pub trace: Trace,
    /// Simulated time the run covered.
    pub simulated: Duration,
}

impl Judged {
    /// The first finding, if any.
    pub fn first(&self) -> Option<&Finding> {
        self.findings.first()
    }

    /// Whether a finding has this signature.
    pub fn shows(&self, signature: &(Kind, String, Option<String>)) -> bool {
        self.findings.iter().any(|f| &f.signature() == signature)
    }
}

/// The kind of a scenario verdict.
pub fn verdict_kind(v: &Verdict) -> Kind {
    match v {
        Verdict::Pass => Kind::Pass,
        Verdict::Safety(_) => Kind::Safety,
        Verdict::Liveness(_) => Kind::Liveness,
        Verdict::Harness(_) => Kind::Harness,
    }
}

/// Runs `scenario` with `seed` and judges it; the trace header carries the
/// whole scenario. See the module documentation.
pub fn judge(scenario: &Scenario, seed: u64) -> Judged {
    judge_with(scenario, seed, HeaderDetail::Full)
}

/// [`judge`] with a choice of trace header: sweeps and shrinking, which
/// drop the trace, use [`HeaderDetail::Brief`]. The verdict is the same.
pub fn judge_with(scenario: &Scenario, seed: u64, detail: HeaderDetail) -> Judged {
    let outcome = scenario.run_with(seed, detail);
    let trace = outcome.trace;
    let config = CheckConfig { durable_broker: scenario.world.durable_store, ..CheckConfig::default() };
    let mut cited = BTreeSet::new();
    let mut recent = RecentIds::default();
    let mut simulated = Duration::ZERO;
    for event in trace.events() {
        simulated = simulated.max(event.at);
        if let EventKind::Cite { endpoint, statement, .. } = &event.kind {
            if endpoint == crate::sim::BROKER && recent.first_sight(*statement) {
                cited.insert(*statement);
            }
        }
    }
    let (kind, findings) = match &outcome.verdict {
        Verdict::Harness(why) => (Kind::Harness, vec![Finding::plain(Kind::Harness, RULE_HARNESS, why.clone())]),
        verdict => {
            let (safety_violations, pending) = check_history_and_pending(&trace, &config);
            let mut safety: Vec<Finding> =
                safety_violations.iter().map(|v| Finding::from_violation(Kind::Safety, v)).collect();
            if let Verdict::Safety(lines) = verdict {
                // The scenario's own duplicate check ignores overlapping
                // subscriptions and retained copies on re-subscribe; the
                // history checker's `qos2-exactly-once` judges those.
                safety.extend(
                    lines
                        .iter()
                        .filter(|l| !(l.contains("received QoS 2 message") && l.ends_with("twice")))
                        .map(|l| Finding::plain(Kind::Safety, RULE_CLIENT, l.clone())),
                );
            }
            if !safety.is_empty() {
                (Kind::Safety, safety)
            } else {
                let mut live: Vec<Finding> =
                    pending.iter().map(|v| Finding::from_violation(Kind::Liveness, v)).collect();
                if let Verdict::Liveness(lines) = verdict {
                    live.extend(lines.iter().map(|l| Finding::plain(Kind::Liveness, RULE_SETTLE, l.clone())));
                }
                if live.is_empty() {
                    (Kind::Pass, live)
                } else {
                    (Kind::Liveness, live)
                }
            }
        }
    };
    Judged { kind, findings, scenario_verdict: outcome.verdict, cited, trace, simulated }
}

/// A direct-mapped cache of statement IDs already counted, keyed by the
/// address of the ID's text: a run cites a few hundred statements some
/// ten thousand times, and most citations then cost a pointer comparison
/// instead of a tree search with string comparisons. A miss (a new ID, or
/// two IDs sharing a slot) only means one more insertion into the set, so
/// the set is the same with or without the cache.
struct RecentIds {
    slots: [Option<StatementId>; 512],
}

impl Default for RecentIds {
    fn default() -> RecentIds {
        RecentIds { slots: [None; 512] }
    }
}

impl RecentIds {
    /// Whether `id` is not in its slot (and puts it there).
    fn first_sight(&mut self, id: StatementId) -> bool {
        let address = id.id.as_ptr() as usize;
        let slot = &mut self.slots[(address ^ (address >> 9)) % 512];
        match slot {
            Some(seen) if std::ptr::eq(seen.id, id.id) && seen.version == id.version => false,
            _ => {
                *slot = Some(id);
                true
            }
        }
    }
}
