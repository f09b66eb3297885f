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

/// A brief trace header changes the header only: the same events, the same
/// verdict, the same findings and the same statements cited as a full one.
#[test]
fn a_brief_header_judges_the_same_as_a_full_one() {
    let plan = Plan::seeds(0, 1, 1);
    for seed in [3, 41] {
        let (scenario, _) = plan.scenario(seed);
        let full = judge(&scenario, seed);
        let brief = judge_with(&scenario, seed, crate::sim::HeaderDetail::Brief);
        assert_eq!(full.trace.events(), brief.trace.events());
        assert_ne!(full.trace.header().config, serde_json::Value::Null);
        assert_eq!(brief.trace.header().config, serde_json::Value::Null);
        assert_eq!((full.kind, &full.findings, &full.cited), (brief.kind, &brief.findings, &brief.cited));
    }
}

/// The statements a judged run reports are exactly those the broker cited
/// in its trace (the first-sight cache in front of the set loses none).
#[test]
fn cited_statements_are_every_broker_citation_in_the_trace() {
    let plan = Plan::seeds(0, 1, 1);
    let (scenario, _) = plan.scenario(7);
    let judged = judge(&scenario, 7);
    let mut expected = std::collections::BTreeSet::new();
    for event in judged.trace.events() {
        if let crate::trace::EventKind::Cite { endpoint, statement, .. } = &event.kind {
            if endpoint == crate::sim::BROKER {
                expected.insert(*statement);
            }
        }
    }
    assert!(expected.len() > 50, "seed 7 cites many statements: {}", expected.len());
    assert_eq!(judged.cited, expected);
}
