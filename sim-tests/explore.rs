//! `explore` proves that it finds bugs: with a deliberate defect of the
//! model broker switched on, a small sweep finds a failure naming the
//! defect's rule and statement and shrinks it to a small case; with every
//! defect off the same sweeps find nothing (calm) or nothing unsafe
//! (standard, faults on). Also: every file in `seeds/` replays to its
//! recorded verdict.
//!
//! Budgets (seeds from 0; shrinking at most `SHRINK_RUNS` runs), first
//! failing seed and shrunk size (clients + steps + faults) when written:
//! - `duplicate_retained_delivery`: calm, 120 seeds; seed 0, `retained`;
//! - `will_on_normal_disconnect`: calm, 120 seeds; seed 8, `will`;
//! - `forget_inflight_on_takeover`: standard, 60 seeds; seed 0,
//!   `qos1-at-least-once`, 129 shrunk to 22;
//! - `downgrade_overlapping_qos`: standard, 60 seeds; seed 51,
//!   `qos2-exactly-once`, 243 shrunk to 12.

use std::path::Path;

use mqttsim::explore::{self, with_defects, Kind, Limits, Plan, Profile, Report, SeedFile, SeedResult};
use mqttsim::model::Defects;

/// The seed budget of the calm sweeps.
const CALM_SEEDS: u64 = 120;
/// The seed budget of the standard (faults on) sweeps.
const STANDARD_SEEDS: u64 = 60;
/// A shrunk calm case has at most this many clients + script steps + fault steps.
const MAX_SHRUNK_SIZE: usize = 10;
/// A shrunk standard case (its partitions and heals come in pairs) at most this many.
const MAX_SHRUNK_SIZE_FAULTS: usize = 25;
/// Shrinking runs at most this many candidates.
const SHRINK_RUNS: usize = 1500;

fn plan(profile: Profile, defect: Option<&str>) -> Plan {
    let seeds = match profile {
        Profile::Calm => CALM_SEEDS,
        Profile::Standard => STANDARD_SEEDS,
    };
    let mut plan = Plan { profile, ..Plan::seeds(0, seeds, 2) };
    if let Some(name) = defect {
        plan.tweak = Some(with_defects(Defects::only(name).expect("a known defect")));
    }
    plan
}

fn sweep(plan: &Plan) -> Report {
    explore::sweep(plan, |_, _| {})
}

/// The first seed whose run broke safety rule `rule` (in the standard
/// profile liveness failures of wedged connections are background noise).
fn first_with(report: &Report, rule: &str) -> Option<SeedResult> {
    report.failures.iter().find(|f| f.kind == Kind::Safety && f.findings.iter().any(|x| x.rule == rule)).cloned()
}

/// Sweeps with `defect` on, expects a safety failure of `rule` within the
/// budget, shrinks it, and checks the shrunk case still fails the same way
/// and is small; returns the shrunk size.
fn finds_and_shrinks(profile: Profile, defect: &str, rule: &str) -> usize {
    let plan = plan(profile, Some(defect));
    let report = sweep(&plan);
    let mut failure = first_with(&report, rule).unwrap_or_else(|| panic!("{defect}: no {rule} failure in budget"));
    // Shrink towards the finding of that rule.
    failure.findings.retain(|f| f.rule == rule);
    let first = failure.findings[0].clone();
    let case =
        explore::shrink_failure(&plan, &failure, Limits { max_runs: SHRINK_RUNS }).expect("the failure reproduces");
    let max = if profile == Profile::Calm { MAX_SHRUNK_SIZE } else { MAX_SHRUNK_SIZE_FAULTS };
    assert!(
        case.shrunk.size_after <= max,
        "{defect}: shrunk only from {} to {}",
        case.shrunk.size_before,
        case.shrunk.size_after
    );
    let again = explore::judge(&case.shrunk.scenario, case.seed);
    assert!(again.shows(&first.signature()), "{defect}: the shrunk case no longer shows {first}");
    // The seed file round-trips and replays to the same verdict.
    let dir = std::env::temp_dir().join(format!("mqttsim-explore-{defect}-{}", std::process::id()));
    let path = explore::write_case(&case, &dir).expect("writes the seed file");
    let file = SeedFile::read(&path).expect("reads the seed file");
    assert_eq!(file.replay().expect("replays").kind, file.expected);
    assert_eq!(file.expected, Kind::Safety);
    let _ = std::fs::remove_dir_all(dir);
    case.shrunk.size_after
}

/// Every file in `seeds/` (catalogue or inline scenario, TOML or JSON)
/// replays to its recorded `expected` verdict.
#[test]
fn every_recorded_seed_replays_to_its_expected_verdict() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let paths = SeedFile::paths_in(&dir).expect("seeds/ is readable");
    assert!(!paths.is_empty());
    for path in paths {
        let file = SeedFile::read(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(!file.found.is_empty(), "{}: say what it found", path.display());
        let judged = file.replay().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let first = judged.first().map(|f| f.to_string()).unwrap_or_default();
        assert_eq!(judged.kind, file.expected, "{}: {first}", path.display());
    }
}

/// With every defect off, the standard sweep (faults on) of the same budget breaks no safety rule.
#[test]
fn the_standard_sweep_finds_nothing_unsafe_in_the_correct_model_broker() {
    let report = sweep(&plan(Profile::Standard, None));
    let unsafe_: Vec<String> = report
        .failures
        .iter()
        .filter(|f| f.kind != Kind::Liveness)
        .map(|f| format!("seed {}: {}", f.seed, f.findings[0]))
        .collect();
    assert!(unsafe_.is_empty(), "{unsafe_:#?}");
    assert_eq!(report.progress.seeds, STANDARD_SEEDS);
}

/// Taking over a session forgetting its inflight window is found (faults on) and shrunk.
#[test]
fn explore_finds_a_forgotten_inflight_window_on_takeover() {
    // A takeover that forgets the window loses what was in flight; in this
    // budget the first such loss is a QoS 2 message.
    finds_and_shrinks(Profile::Standard, "forget_inflight_on_takeover", "qos2-exactly-once");
}

/// Delivering at the lowest QoS of overlapping subscriptions is found (faults on) and shrunk.
#[test]
fn explore_finds_a_qos_downgrade_of_overlapping_subscriptions() {
    finds_and_shrinks(Profile::Standard, "downgrade_overlapping_qos", "qos2-exactly-once");
}

/// With every defect off, the calm sweep of the same budget finds nothing.
#[test]
fn the_calm_sweep_finds_nothing_in_the_correct_model_broker() {
    let report = sweep(&plan(Profile::Calm, None));
    let found: Vec<String> = report.failures.iter().map(|f| format!("seed {}: {}", f.seed, f.findings[0])).collect();
    assert!(found.is_empty(), "{found:#?}");
    assert_eq!(report.progress.seeds, CALM_SEEDS);
    assert!(report.coverage.len() > 50, "the sweep cites the broker's statements");
}

/// Retained messages delivered twice on subscribe are found and shrunk.
#[test]
fn explore_finds_duplicate_retained_delivery() {
    finds_and_shrinks(Profile::Calm, "duplicate_retained_delivery", "retained");
}

/// A will published on a normal DISCONNECT is found and shrunk.
#[test]
fn explore_finds_a_will_on_normal_disconnect() {
    finds_and_shrinks(Profile::Calm, "will_on_normal_disconnect", "will");
}

/// The sweep's verdicts do not depend on the number of jobs.
#[test]
fn sweeps_give_the_same_verdicts_on_one_job_and_on_four() {
    let verdicts = |jobs| {
        let plan = Plan { jobs, max_failures: None, ..plan(Profile::Calm, Some("will_on_normal_disconnect")) };
        let mut out = Vec::new();
        explore::sweep(&Plan { seeds: Some(24), ..plan }, |r, _| out.push((r.seed, r.kind)));
        out
    };
    let one = verdicts(1);
    assert!(one.iter().any(|(_, k)| *k != Kind::Pass));
    assert_eq!(one, verdicts(4));
}

/// Seeds per profile for the two-driver comparison.
const DRIVER_SEEDS: u64 = 12;

/// Both drivers give the same verdict on the same generated seeds: each
/// seed's option-free workload (the turmoil path carries no 5.0 options),
/// calm and standard (faults on), judged on the discrete-event world and on
/// turmoil at a 10 ms tick. Timing differs between the two (latency curve,
/// tick boundaries, reconnect back-off), so traces differ; verdicts must not.
#[test]
fn both_drivers_give_the_same_verdict_on_generated_seeds() {
    for profile in [Profile::Calm, Profile::Standard] {
        for seed in 0..DRIVER_SEEDS {
            let scenario = explore::draw_without_options(seed, profile).scenario;
            let discrete = explore::judge(&scenario, seed);
            let turmoil = mqttsim::sim::turmoil::run_scenario(&scenario, seed, 10);
            let turmoil_kind = explore::run::verdict_kind(&turmoil.verdict);
            assert_eq!(discrete.kind, Kind::Pass, "{profile:?} seed {seed}: {:?}", discrete.findings);
            assert_eq!(turmoil_kind, discrete.kind, "{profile:?} seed {seed}, turmoil: {:?}", turmoil.verdict);
        }
    }
}
