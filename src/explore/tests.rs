//! Unit tests of the sweep's plumbing (the end-to-end proofs live in
//! `sim-tests/explore.rs`).

use super::*;

/// Shards partition the seed range: together they cover it once.
#[test]
fn shards_partition_the_seed_range() {
    let mut all = Vec::new();
    for shard in 0..3 {
        let plan = Plan { shard, shards: 3, ..Plan::seeds(100, 10, 1) };
        all.extend((0..).map_while(|i| plan.seed_at(i)));
    }
    all.sort();
    assert_eq!(all, (100..110).collect::<Vec<_>>());
}

/// Results come back in seed order and are the same for one job and for four.
#[test]
fn sweeps_are_ordered_and_independent_of_the_number_of_jobs() {
    let run = |jobs| {
        let mut seen = Vec::new();
        let report = sweep(&Plan::seeds(0, 8, jobs), |r, _| seen.push((r.seed, r.kind, r.cited.len())));
        (seen, report.kept, report.coverage)
    };
    let one = run(1);
    assert_eq!(one.0.iter().map(|s| s.0).collect::<Vec<_>>(), (0..8).collect::<Vec<_>>());
    assert_eq!(one, run(4));
    assert_eq!(one.1.first().map(|k| k.seed), Some(0), "the first seed always adds coverage");
}
