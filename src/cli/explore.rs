//! `mqttsim explore`: sweep generated workloads over many seeds against the
//! model broker, shrink every failure and write it to `seeds/`; or replay
//! one seed file (`--replay`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

use super::{EXIT_OK, EXIT_USAGE, EXIT_VIOLATION};
use crate::explore::{self, judge, Kind, Limits, Plan, Profile, SeedFile};
use crate::model::Defects;

/// A liveness failure (nothing unsafe happened, but the system did not settle).
pub const EXIT_LIVENESS: u8 = 3;

/// What explore runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// The model broker, in the discrete-event world.
    Model,
}

/// The input model's profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProfileArg {
    /// Everything, faults included.
    Standard,
    /// No faults, abrupt disconnects or silences.
    Calm,
}

/// Arguments of `mqttsim explore`.
#[derive(Debug, Args)]
pub struct ExploreArgs {
    /// How many seeds to sweep (over all shards). Default 1,000 unless
    /// `--time-budget-secs` is given.
    #[arg(long, value_name = "N", conflicts_with = "time_budget_secs")]
    pub seeds: Option<u64>,
    /// Sweep for this long (wall clock) instead of a fixed number of seeds.
    #[arg(long, value_name = "S")]
    pub time_budget_secs: Option<u64>,
    /// The first seed.
    #[arg(long, value_name = "SEED", default_value_t = 0)]
    pub from: u64,
    /// Worker threads (default: the available parallelism).
    #[arg(long, value_name = "J")]
    pub jobs: Option<usize>,
    /// Run only shard K of N (1-based): seeds with (seed - from) % N == K - 1.
    #[arg(long, value_name = "K/N", value_parser = parse_shard)]
    pub shard: Option<(u64, u64)>,
    /// The system under test.
    #[arg(long, value_enum, default_value = "model")]
    pub target: Target,
    /// Switch on a deliberate defect of the model broker (repeatable), to
    /// show that explore finds it: one of the names of `model::Defects::NAMES`.
    #[arg(long, value_name = "NAME")]
    pub defect: Vec<String>,
    /// Which parts of the input model are on: `standard` (faults included)
    /// or `calm` (no faults, abrupt disconnects or silences).
    #[arg(long, value_enum, default_value = "standard")]
    pub profile: ProfileArg,
    /// Where shrunk failures are written.
    #[arg(long, value_name = "DIR", default_value = "seeds")]
    pub seeds_dir: PathBuf,
    /// Report failures without shrinking or writing them.
    #[arg(long)]
    pub no_shrink: bool,
    /// Shrink (and write) at most this many failures.
    #[arg(long, value_name = "M", default_value_t = 5)]
    pub max_shrink: usize,
    /// Stop the sweep after this many failures.
    #[arg(long, value_name = "M")]
    pub max_failures: Option<usize>,
    /// Print every seed (outcome and knobs), not only failures.
    #[arg(long)]
    pub verbose: bool,
    /// Print the seeds kept by coverage-guided selection, with the statements each added.
    #[arg(long)]
    pub show_kept: bool,
    /// Instead of sweeping: replay this seed file and compare its verdict.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["seeds", "time_budget_secs"])]
    pub replay: Option<PathBuf>,
    /// Instead of sweeping: print the scenario (JSON) and knobs of this seed.
    #[arg(long, value_name = "SEED", conflicts_with_all = ["seeds", "time_budget_secs", "replay"])]
    pub show: Option<u64>,
    /// With `--replay` or `--show`: print the trace (and, with `--show`, run and judge the seed).
    #[arg(long)]
    pub trace: bool,
}

fn parse_shard(text: &str) -> Result<(u64, u64), String> {
    let (k, n) = text.split_once('/').ok_or("expected K/N, e.g. 2/4")?;
    let k: u64 = k.trim().parse().map_err(|_| format!("bad shard number {k:?}"))?;
    let n: u64 = n.trim().parse().map_err(|_| format!("bad shard count {n:?}"))?;
    if n == 0 || k == 0 || k > n {
        return Err(format!("shard {k}/{n}: need 1 <= K <= N"));
    }
    Ok((k, n))
}

/// Both sets of defects switched on.
fn merge(a: Defects, b: Defects) -> Defects {
    let mut a = serde_json::to_value(a).unwrap_or_default();
    let b = serde_json::to_value(b).unwrap_or_default();
    if let (Some(a), Some(b)) = (a.as_object_mut(), b.as_object()) {
        for (k, v) in b {
            if v == &serde_json::Value::Bool(true) {
                a.insert(k.clone(), v.clone());
            }
        }
    }
    serde_json::from_value(a).unwrap_or_default()
}

fn profile_of(p: ProfileArg) -> Profile {
    match p {
        ProfileArg::Standard => Profile::Standard,
        ProfileArg::Calm => Profile::Calm,
    }
}

fn exit_for(kind: Kind) -> u8 {
    match kind {
        Kind::Pass => EXIT_OK,
        Kind::Safety => EXIT_VIOLATION,
        Kind::Liveness => EXIT_LIVENESS,
        Kind::Harness => EXIT_USAGE,
    }
}

/// Runs `mqttsim explore`.
pub fn run(args: &ExploreArgs) -> u8 {
    let Target::Model = args.target;
    if let Some(path) = &args.replay {
        return replay(path, args.trace);
    }
    if let Some(seed) = args.show {
        let drawn = explore::draw_with(seed, profile_of(args.profile));
        println!("seed {seed}");
        println!("knobs {}", drawn.knobs.describe());
        println!("{}", serde_json::to_string_pretty(&drawn.scenario).unwrap_or_default());
        if !args.trace {
            return EXIT_OK;
        }
        let judged = judge(&drawn.scenario, seed);
        print!("{}", judged.trace.render_text());
        println!("judged: {}", judged.kind.as_str());
        for finding in &judged.findings {
            println!("  {finding}");
        }
        return exit_for(judged.kind);
    }
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    let (shard, shards) = args.shard.map(|(k, n)| (k - 1, n)).unwrap_or((0, 1));
    let seeds = match (args.seeds, args.time_budget_secs) {
        (Some(n), _) => Some(n),
        (None, Some(_)) => None,
        (None, None) => Some(1_000),
    };
    let plan = Plan {
        from: args.from,
        seeds,
        time_budget: args.time_budget_secs.map(Duration::from_secs),
        jobs,
        shard,
        shards,
        max_failures: args.max_failures,
        profile: profile_of(args.profile),
        tweak: None,
    };
    let mut plan = plan;
    if !args.defect.is_empty() {
        let mut defects = Defects::NONE;
        for name in &args.defect {
            let Some(one) = Defects::only(name) else {
                eprintln!("unknown defect {name:?}; known: {}", Defects::NAMES.join(", "));
                return EXIT_USAGE;
            };
            defects = merge(defects, one);
        }
        plan.tweak = Some(explore::with_defects(defects));
    }
    let range = match seeds {
        Some(n) => format!("seeds {}..{}", args.from, args.from.saturating_add(n)),
        None => format!("seeds from {} for {} s", args.from, args.time_budget_secs.unwrap_or(0)),
    };
    let defects =
        if args.defect.is_empty() { String::new() } else { format!(" with defects {}", args.defect.join(",")) };
    println!("explore: target model{defects}, {range}, shard {}/{shards}, {jobs} jobs", shard + 1);

    let mut last_progress = Instant::now();
    let stderr = std::io::stderr();
    let report = explore::sweep(&plan, |result, progress| {
        if args.verbose || result.kind != Kind::Pass {
            let (_, knobs) = plan.scenario(result.seed);
            println!("seed {}: {}", result.seed, result.kind.as_str());
            if args.verbose {
                println!("  knobs {}", knobs.describe());
            }
            for finding in result.findings.iter().take(3) {
                println!("  {finding}");
            }
            if result.findings.len() > 3 {
                println!("  ... and {} more", result.findings.len() - 3);
            }
        }
        if last_progress.elapsed() >= Duration::from_millis(500) {
            last_progress = Instant::now();
            let _ = write!(stderr.lock(), "\r{}", progress.line());
        }
    });
    eprintln!("\r{}", report.progress.line());
    println!(
        "swept {} seeds in {:.2} s: {:.0} seeds/s, simulated/wall {:.0}x, {} failures",
        report.progress.seeds,
        report.progress.elapsed.as_secs_f64(),
        report.progress.seeds_per_sec(),
        report.progress.sim_ratio(),
        report.failures.len()
    );
    println!("coverage: {} statements cited; {} seeds kept for new coverage", report.coverage.len(), report.kept.len());
    if args.show_kept {
        for kept in &report.kept {
            let ids: Vec<String> = kept.new_statements.iter().map(|s| s.to_string()).collect();
            println!("  kept seed {}: +{} {}", kept.seed, ids.len(), ids.join(" "));
        }
    }

    let worst = report.failures.iter().map(|f| f.kind).max().unwrap_or(Kind::Pass);
    if !args.no_shrink {
        for failure in report.failures.iter().take(args.max_shrink) {
            let Some(case) = explore::shrink_failure(&plan, failure, Limits::default()) else {
                println!("seed {}: could not reproduce while shrinking", failure.seed);
                continue;
            };
            println!(
                "seed {}: shrunk from {} to {} (clients + steps + faults) in {} runs: {}",
                case.seed, case.shrunk.size_before, case.shrunk.size_after, case.shrunk.runs, case.shrunk_finding
            );
            match explore::write_case(&case, &args.seeds_dir) {
                Ok(path) => {
                    println!("  wrote {}\n  replay: {}", path.display(), explore::seedfile::replay_command(&path))
                }
                Err(e) => eprintln!("  cannot write the seed file: {e}"),
            }
        }
    }
    exit_for(worst)
}

fn replay(path: &Path, show_trace: bool) -> u8 {
    let file = match SeedFile::read(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("cannot read {}: {e}", path.display());
            return EXIT_USAGE;
        }
    };
    println!("replay {} (seed {}), expected {}", path.display(), file.seed, file.expected.as_str());
    println!("found then: {}", file.found);
    let judged = match file.replay() {
        Ok(judged) => judged,
        Err(e) => {
            eprintln!("cannot replay {}: {e}", path.display());
            return EXIT_USAGE;
        }
    };
    if show_trace {
        print!("{}", judged.trace.render_text());
    }
    println!("now: {}", judged.kind.as_str());
    for finding in &judged.findings {
        println!("  {finding}");
    }
    if judged.kind != file.expected {
        println!("the verdict changed: expected {}, got {}", file.expected.as_str(), judged.kind.as_str());
    }
    exit_for(judged.kind)
}
