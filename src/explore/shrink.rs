//! Shrinking: delta debugging over a scenario as data. A failing scenario
//! is cut down (whole clients first, then script steps and fault steps
//! together with `ddmin`, then payload sizes) while the same seed still
//! shows a finding with the same kind, rule and statement.
//!
//! Every candidate is a full run, so the number of runs is bounded
//! ([`Limits::max_runs`]); the result is the smallest scenario found
//! within that bound, which still fails.

use crate::sim::{Action, Fault, FaultPlan, FaultStep, HeaderDetail, Scenario, Step};

use super::run::{judge_with, Kind};

/// Bounds on shrinking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Runs at most (each candidate is one run).
    pub max_runs: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_runs: 3_000 }
    }
}

/// A shrunk scenario.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The smallest failing scenario found.
    pub scenario: Scenario,
    /// Its size ([`size`]) before.
    pub size_before: usize,
    /// Its size after.
    pub size_after: usize,
    /// Runs made.
    pub runs: usize,
}

/// The size of a scenario: clients + script steps + fault steps.
pub fn size(s: &Scenario) -> usize {
    s.clients.len() + s.script.len() + s.faults.steps.len()
}

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Step(Step),
    Fault(FaultStep),
}

fn items(s: &Scenario) -> Vec<Item> {
    let mut out: Vec<Item> = s.script.iter().cloned().map(Item::Step).collect();
    out.extend(s.faults.steps.iter().cloned().map(Item::Fault));
    out
}

fn with_items(base: &Scenario, items: &[Item]) -> Scenario {
    let mut s = base.clone();
    s.script = items
        .iter()
        .filter_map(|i| match i {
            Item::Step(s) => Some(s.clone()),
            Item::Fault(_) => None,
        })
        .collect();
    s.faults = FaultPlan::new(
        items
            .iter()
            .filter_map(|i| match i {
                Item::Fault(f) => Some(f.clone()),
                Item::Step(_) => None,
            })
            .collect(),
    );
    s
}

fn mentions(fault: &Fault, client: &str) -> bool {
    match fault {
        Fault::Partition { a, b, .. }
        | Fault::Heal { a, b }
        | Fault::Hold { a, b }
        | Fault::Release { a, b }
        | Fault::Latency { a, b, .. } => a == client || b == client,
        Fault::CloseClient { client: c } | Fault::Silence { client: c, .. } => c == client,
        Fault::CrashBroker | Fault::RestartBroker => false,
    }
}

/// Shrinks `scenario`, which with `seed` shows `signature`; returns the
/// smallest scenario found that still shows it.
pub fn shrink(scenario: &Scenario, seed: u64, signature: &(Kind, String, Option<String>), limits: Limits) -> Shrunk {
    let mut runs = 0usize;
    let fails = |s: &Scenario, runs: &mut usize| -> bool {
        if *runs >= limits.max_runs {
            return false;
        }
        *runs += 1;
        judge_with(s, seed, HeaderDetail::Brief).shows(signature)
    };
    let size_before = size(scenario);
    let mut best = scenario.clone();

    // Whole clients, last first.
    let mut i = best.clients.len();
    while i > 0 && best.clients.len() > 1 {
        i -= 1;
        let name = best.clients[i].name.clone();
        let mut candidate = best.clone();
        candidate.clients.remove(i);
        candidate.script.retain(|s| s.client != name);
        candidate.faults.steps.retain(|f| !mentions(&f.fault, &name));
        if fails(&candidate, &mut runs) {
            best = candidate;
        }
    }

    // Steps and faults together.
    let mut current = items(&best);
    let mut n = 2usize;
    while current.len() >= 2 && runs < limits.max_runs {
        let chunk = current.len().div_ceil(n);
        let mut reduced = false;
        for start in (0..current.len()).step_by(chunk) {
            let mut candidate = current.clone();
            candidate.drain(start..(start + chunk).min(current.len()));
            if fails(&with_items(&best, &candidate), &mut runs) {
                current = candidate;
                n = (n - 1).max(2);
                reduced = true;
                break;
            }
        }
        if !reduced {
            if n >= current.len() {
                break;
            }
            n = (n * 2).min(current.len());
        }
    }
    if current.len() == 1 {
        let empty = with_items(&best, &[]);
        if fails(&empty, &mut runs) {
            current.clear();
        }
    }
    best = with_items(&best, &current);

    // Payloads back to their name part.
    for k in 0..best.script.len() {
        if let Action::Publish { payload, .. } = &best.script[k].action {
            if let Some(cut) = payload.find('.') {
                let mut candidate = best.clone();
                if let Action::Publish { payload, .. } = &mut candidate.script[k].action {
                    payload.truncate(cut);
                }
                if fails(&candidate, &mut runs) {
                    best = candidate;
                }
            }
        }
    }

    let size_after = size(&best);
    Shrunk { scenario: best, size_before, size_after, runs }
}
