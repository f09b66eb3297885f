//! `explore` proves that it finds bugs: with a deliberate defect of the
//! model broker switched on, a small sweep of the calm profile (seeds
//! 0..120, no faults) finds a failure naming the defect's statement and
//! shrinks it to a small case; with every defect off the same sweep finds
//! nothing.

use mqttsim::explore::{self, with_defects, Kind, Limits, Plan, Profile, Report};
use mqttsim::model::Defects;

/// The seed budget of every sweep here.
const SEEDS: u64 = 120;
/// A shrunk case has at most this many clients + script steps + fault steps.
const MAX_SHRUNK_SIZE: usize = 10;

fn plan(defect: Option<&str>) -> Plan {
    let mut plan = Plan { profile: Profile::Calm, max_failures: Some(1), ..Plan::seeds(0, SEEDS, 2) };
    if let Some(name) = defect {
        plan.tweak = Some(with_defects(Defects::only(name).expect("a known defect")));
    }
    plan
}

fn sweep(plan: &Plan) -> Report {
    explore::sweep(plan, |_, _| {})
}

/// Sweeps with `defect` on, expects a failure of `rule` within the budget,
/// shrinks it, and checks the shrunk case still fails the same way and is small.
fn finds_and_shrinks(defect: &str, rule: &str) {
    let plan = plan(Some(defect));
    let report = sweep(&plan);
    let failure = report.failures.first().unwrap_or_else(|| panic!("{defect}: nothing found in {SEEDS} seeds"));
    let first = &failure.findings[0];
    assert_eq!(first.rule, rule, "{defect}: found {first}");
    let case = explore::shrink_failure(&plan, failure, Limits::default()).expect("the failure reproduces");
    assert!(
        case.shrunk.size_after <= MAX_SHRUNK_SIZE,
        "{defect}: shrunk only from {} to {}",
        case.shrunk.size_before,
        case.shrunk.size_after
    );
    let again = explore::judge(&case.shrunk.scenario, case.seed);
    assert!(again.shows(&first.signature()), "{defect}: the shrunk case no longer shows {first}");
    // The seed file round-trips and replays to the same verdict.
    let dir = std::env::temp_dir().join(format!("mqttsim-explore-{defect}-{}", std::process::id()));
    let path = explore::write_case(&case, &dir).expect("writes the seed file");
    let file = explore::SeedFile::read(&path).expect("reads the seed file");
    assert_eq!(explore::judge(&file.scenario, file.seed).kind, file.expected_verdict);
    let _ = std::fs::remove_dir_all(dir);
}

/// With every defect off, the calm sweep of the same budget finds nothing.
#[test]
fn the_calm_sweep_finds_nothing_in_the_correct_model_broker() {
    let report = sweep(&plan(None));
    let found: Vec<String> = report.failures.iter().map(|f| format!("seed {}: {}", f.seed, f.findings[0])).collect();
    assert!(found.is_empty(), "{found:#?}");
    assert_eq!(report.progress.seeds, SEEDS);
    assert!(report.coverage.len() > 50, "the sweep cites the broker's statements");
}

/// Retained messages delivered twice on subscribe are found and shrunk.
#[test]
fn explore_finds_duplicate_retained_delivery() {
    finds_and_shrinks("duplicate_retained_delivery", "retained");
}

/// A will published on a normal DISCONNECT is found and shrunk.
#[test]
fn explore_finds_a_will_on_normal_disconnect() {
    finds_and_shrinks("will_on_normal_disconnect", "will");
}

/// The sweep's verdicts do not depend on the number of jobs.
#[test]
fn sweeps_give_the_same_verdicts_on_one_job_and_on_four() {
    let verdicts = |jobs| {
        let plan = Plan { jobs, max_failures: None, ..plan(Some("will_on_normal_disconnect")) };
        let mut out = Vec::new();
        explore::sweep(&Plan { seeds: Some(24), ..plan }, |r, _| out.push((r.seed, r.kind)));
        out
    };
    let one = verdicts(1);
    assert!(one.iter().any(|(_, k)| *k != Kind::Pass));
    assert_eq!(one, verdicts(4));
}
