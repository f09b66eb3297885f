//! The sweep: many seeds, drawn and judged in parallel on std threads, each
//! deterministic on its own; results are handed back in seed order, so the
//! output (and the coverage-guided selection) is the same for any number
//! of jobs.
//!
//! Coverage-guided selection: in seed order, a seed is *kept* when its run
//! made the broker cite a statement no earlier seed of the sweep cited; the
//! sweep reports the kept seeds and how much coverage each one added.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::sim::{HeaderDetail, Scenario};
use crate::spec::StatementId;

use super::gen::{self, Knobs, Profile};
use super::run::{judge_with, Finding, Kind};

/// A change applied to every drawn scenario before it runs (e.g. a broker
/// defect switched on).
pub type Tweak = Arc<dyn Fn(&mut Scenario) + Send + Sync>;

/// What to sweep.
#[derive(Clone)]
pub struct Plan {
    /// The first seed.
    pub from: u64,
    /// How many seeds (over all shards); unbounded when `None` (then the
    /// time budget must be set).
    pub seeds: Option<u64>,
    /// Stop taking new seeds after this long (wall clock).
    pub time_budget: Option<Duration>,
    /// Worker threads.
    pub jobs: usize,
    /// This shard (0-based) of `shards`: seeds with `(seed - from) % shards == shard`.
    pub shard: u64,
    /// Number of shards.
    pub shards: u64,
    /// Stop after this many failures (none: sweep everything).
    pub max_failures: Option<usize>,
    /// Which parts of the input model are on.
    pub profile: Profile,
    /// Applied to every scenario.
    pub tweak: Option<Tweak>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("from", &self.from)
            .field("seeds", &self.seeds)
            .field("time_budget", &self.time_budget)
            .field("jobs", &self.jobs)
            .field("shard", &self.shard)
            .field("shards", &self.shards)
            .finish_non_exhaustive()
    }
}

impl Plan {
    /// `seeds` seeds from `from`, on `jobs` threads, unsharded.
    pub fn seeds(from: u64, seeds: u64, jobs: usize) -> Plan {
        Plan {
            from,
            seeds: Some(seeds),
            time_budget: None,
            jobs,
            shard: 0,
            shards: 1,
            max_failures: None,
            profile: Profile::Standard,
            tweak: None,
        }
    }

    /// The `i`-th seed of this shard, if within the range.
    pub fn seed_at(&self, i: u64) -> Option<u64> {
        let offset = i.checked_mul(self.shards.max(1))?.checked_add(self.shard)?;
        if self.seeds.is_some_and(|n| offset >= n) {
            return None;
        }
        self.from.checked_add(offset)
    }

    /// The scenario of `seed`, tweaked.
    pub fn scenario(&self, seed: u64) -> (Scenario, Knobs) {
        let drawn = gen::draw_with(seed, self.profile);
        let mut scenario = drawn.scenario;
        if let Some(tweak) = &self.tweak {
            tweak(&mut scenario);
        }
        (scenario, drawn.knobs)
    }
}

/// One seed's result.
#[derive(Debug, Clone)]
pub struct SeedResult {
    /// The seed.
    pub seed: u64,
    /// Its outcome.
    pub kind: Kind,
    /// Its findings (empty on a pass).
    pub findings: Vec<Finding>,
    /// Statements the broker cited.
    pub cited: BTreeSet<StatementId>,
    /// Simulated time covered.
    pub simulated: Duration,
}

/// Running totals, as the progress line shows them.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Seeds judged (in order).
    pub seeds: u64,
    /// Failing seeds so far.
    pub failures: u64,
    /// Distinct statements cited so far.
    pub statements: usize,
    /// Simulated time so far.
    pub simulated: Duration,
    /// Wall time since the start.
    pub elapsed: Duration,
}

impl Progress {
    /// Seeds per second of wall time.
    pub fn seeds_per_sec(&self) -> f64 {
        self.seeds as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Simulated time over wall time.
    pub fn sim_ratio(&self) -> f64 {
        self.simulated.as_secs_f64() / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The progress line.
    pub fn line(&self) -> String {
        format!(
            "{} seeds, {:.0} seeds/s, {} failures, {} statements cited, simulated/wall {:.0}x",
            self.seeds,
            self.seeds_per_sec(),
            self.failures,
            self.statements,
            self.sim_ratio()
        )
    }
}

/// A seed kept by coverage-guided selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kept {
    /// The seed.
    pub seed: u64,
    /// The statements it cited first.
    pub new_statements: Vec<StatementId>,
}

/// What a sweep found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Final totals.
    pub progress: Progress,
    /// Failing seeds, in seed order.
    pub failures: Vec<SeedResult>,
    /// Seeds kept for new coverage, in seed order.
    pub kept: Vec<Kept>,
    /// Every statement cited.
    pub coverage: BTreeSet<StatementId>,
}

/// Judges one seed of `plan`.
pub fn run_seed(plan: &Plan, seed: u64) -> SeedResult {
    let (scenario, _) = plan.scenario(seed);
    let judged = judge_with(&scenario, seed, HeaderDetail::Brief);
    SeedResult { seed, kind: judged.kind, findings: judged.findings, cited: judged.cited, simulated: judged.simulated }
}

/// Sweeps `plan`; calls `each` for every result in seed order (with the
/// totals after it).
pub fn sweep(plan: &Plan, mut each: impl FnMut(&SeedResult, &Progress)) -> Report {
    let start = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel::<(u64, SeedResult)>();
    let mut report = Report::default();
    std::thread::scope(|scope| {
        for _ in 0..plan.jobs.max(1) {
            let tx = tx.clone();
            let next = Arc::clone(&next);
            let stop = Arc::clone(&stop);
            scope.spawn(move || loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if plan.time_budget.is_some_and(|b| start.elapsed() >= b) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(seed) = plan.seed_at(i) else { return };
                if tx.send((i, run_seed(plan, seed))).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        let mut pending: BTreeMap<u64, SeedResult> = BTreeMap::new();
        let mut want = 0u64;
        for (i, result) in rx {
            pending.insert(i, result);
            while let Some(result) = pending.remove(&want) {
                want += 1;
                if stop.load(Ordering::Relaxed) {
                    continue;
                }
                let progress = &mut report.progress;
                progress.seeds += 1;
                progress.simulated += result.simulated;
                let new: Vec<StatementId> =
                    result.cited.iter().filter(|s| !report.coverage.contains(s)).copied().collect();
                if !new.is_empty() {
                    report.coverage.extend(new.iter().copied());
                    report.kept.push(Kept { seed: result.seed, new_statements: new });
                }
                progress.statements = report.coverage.len();
                progress.elapsed = start.elapsed();
                if result.kind != Kind::Pass {
                    progress.failures += 1;
                }
                each(&result, progress);
                if result.kind != Kind::Pass {
                    report.failures.push(result);
                    if plan.max_failures.is_some_and(|m| report.failures.len() >= m) {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            }
        }
    });
    report.progress.elapsed = start.elapsed();
    report
}
