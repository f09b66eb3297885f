//! Simulation speed: wall time against simulated time for the built-in
//! scenarios on the discrete-event world, with turmoil's fixed-tick
//! stepping as the peer baseline, all in one run on one core.
//!
//! - `keep-alive-expiry-v5` (60 s keep-alive, will published at 90 s, broker
//!   plus 2 clients; goal: at most 20 ms of wall time per run in release, at
//!   least 4,500x real time): best and median of many runs, through the
//!   full runner (`BuiltIn::run`, history checks included) and the world
//!   alone (`Scenario::run`).
//! - `fault-heavy` (3 clients, 60 s simulated plus the settle phase,
//!   swarm-drawn faults, QoS 0/1/2; goal: at least 200 seeds/s on one
//!   core): consecutive seeds, one thread, runner and world alone.
//! - Peer: a turmoil 0.7.2 `Sim` with three idle hosts (a broker and two
//!   clients sleeping in loops) stepped at a 1 ms tick for the same
//!   simulated time as the keep-alive run, and at 10 ms. The figure from
//!   `turmoil-notes.md` for the model broker plus two clients at 1 ms is
//!   about 120x real time.
//!
//! CPU time is the thread's on-CPU time from `/proc/thread-self/schedstat`
//! (Linux), printed next to wall time because the machine is shared.
//!
//! - `fault-heavy` on two threads (the machine's two cores), seeds split
//!   between them, runner and world alone: the sweep rate an exploration
//!   of this workload could reach before its own overhead.
//!
//! - `explore`, the standard generated workload (3 to 5 clients, 60 s
//!   simulated, faults on, 5.0 options on; goal: at least 500 seeds/s on
//!   two cores): `explore::sweep` on two jobs, judged by the history
//!   checkers, printing seeds/s and the simulated-to-wall ratio; peer: the
//!   turmoil driver (`sim::turmoil::run_scenario`, 10 ms tick) judging the
//!   option-free form of the first seeds, against the discrete-event world
//!   judging the same option-free scenarios, one thread each.
//!
//! Run: `cargo bench --bench sim` (`-- --quick` for fewer runs). For a
//! profiler, `-- --profile N` runs only `fault-heavy` through the world
//! alone for seeds `0..N` on one thread and prints seeds/s.

use std::hint::black_box;
use std::time::{Duration, Instant};

use mqttsim::sim::catalog;
use mqttsim::sim::Verdict;

/// This thread's on-CPU time, when the kernel tells.
fn cpu_time() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

/// Wall and CPU time of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration, Option<Duration>) {
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let out = f();
    let wall = t0.elapsed();
    let cpu = cpu_time().zip(cpu0).map(|(b, a)| b.saturating_sub(a));
    (out, wall, cpu)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn fmt_cpu(cpu: Option<Duration>) -> String {
    cpu.map_or_else(|| "n/a".to_owned(), |c| format!("{:.3} ms", ms(c)))
}

/// Runs `f` `runs` times; returns (best wall, median wall, mean cpu per run).
/// CPU time is taken over all runs at once: the kernel's per-thread counter
/// is too coarse for one sub-millisecond run.
fn repeat(runs: usize, mut f: impl FnMut()) -> (Duration, Duration, Option<Duration>) {
    let mut walls = Vec::with_capacity(runs);
    let cpu0 = cpu_time();
    for _ in 0..runs {
        let t0 = Instant::now();
        f();
        walls.push(t0.elapsed());
    }
    let cpu = cpu_time().zip(cpu0).map(|(b, a)| b.saturating_sub(a) / runs as u32);
    walls.sort();
    (walls[0], walls[runs / 2], cpu)
}

/// A turmoil world of three idle hosts stepped at `tick` for `simulated`.
fn turmoil_idle(simulated: Duration, tick: Duration) -> Duration {
    let mut sim = turmoil::Builder::new()
        .rng_seed(1)
        .epoch(std::time::UNIX_EPOCH)
        .tick_duration(tick)
        .simulation_duration(simulated + Duration::from_secs(10))
        .build();
    for host in ["broker", "client-a", "client-b"] {
        sim.host(host, || async {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
    sim.client("clock", async move {
        tokio::time::sleep(simulated).await;
        Ok(())
    });
    let ((), wall, _) = timed(|| sim.run().expect("the idle turmoil world runs"));
    wall
}

/// Runs `fault-heavy` seeds `0..seeds` on `threads` threads (seed `k` on
/// thread `k % threads`), through the runner or the world alone; returns
/// the wall time.
fn fault_heavy_threads(seeds: u64, threads: u64, world_alone: bool) -> Duration {
    let fh = catalog::find("fault-heavy").expect("built in");
    let t0 = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..threads {
            scope.spawn(move || {
                for seed in (t..seeds).step_by(threads as usize) {
                    if world_alone {
                        black_box(fh.build(seed).run(seed));
                    } else {
                        black_box(fh.run(seed));
                    }
                }
            });
        }
    });
    t0.elapsed()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(k) = args.iter().position(|a| a == "--profile") {
        let seeds: u64 = args.get(k + 1).and_then(|n| n.parse().ok()).unwrap_or(100);
        let wall = fault_heavy_threads(seeds, 1, true);
        println!("fault-heavy world alone: {seeds} seeds, {:.0} seeds/s", seeds as f64 / wall.as_secs_f64());
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let runs = if quick { 20 } else { 200 };
    let seeds: u64 = if quick { 100 } else { 1_000 };
    println!("simulation benchmark ({} build)", if cfg!(debug_assertions) { "debug" } else { "release" });

    // keep-alive expiry
    let ka = catalog::find("keep-alive-expiry-v5").expect("built in");
    let scenario = ka.build(7);
    let outcome = ka.run(7);
    assert_eq!(outcome.verdict, Verdict::Pass);
    let simulated = outcome.trace.events().last().map(|e| e.at).unwrap_or_default();
    let (best, median, cpu) = repeat(runs, || {
        black_box(ka.run(black_box(7)));
    });
    let (wbest, wmedian, wcpu) = repeat(runs, || {
        black_box(scenario.run(black_box(7)));
    });
    println!(
        "keep-alive-expiry-v5: simulated {:.3} s, {} events, {runs} runs",
        simulated.as_secs_f64(),
        outcome.trace.len()
    );
    let ratio = |wall: Duration| simulated.as_secs_f64() / wall.as_secs_f64();
    println!(
        "  runner (world + history checks): best {:.3} ms  median {:.3} ms  cpu/run {}  ->  {:.0}x real time (median {:.0}x)",
        ms(best),
        ms(median),
        fmt_cpu(cpu),
        ratio(best),
        ratio(median)
    );
    println!(
        "  world alone:                     best {:.3} ms  median {:.3} ms  cpu/run {}  ->  {:.0}x real time (median {:.0}x)",
        ms(wbest),
        ms(wmedian),
        fmt_cpu(wcpu),
        ratio(wbest),
        ratio(wmedian)
    );

    // the peer: turmoil stepping three idle hosts for the same simulated time
    for tick_ms in [1u64, 10] {
        let wall = turmoil_idle(simulated, Duration::from_millis(tick_ms));
        println!(
            "  peer: turmoil, 3 idle hosts, {tick_ms} ms tick, same simulated time: {:.1} ms  ->  {:.0}x real time; discrete-event runner is {:.0}x faster",
            ms(wall),
            ratio(wall),
            wall.as_secs_f64() / median.as_secs_f64()
        );
    }
    println!("  peer (turmoil-notes.md): model broker + 2 clients at a 1 ms tick ~ 120x real time");

    // fault-heavy
    let fh = catalog::find("fault-heavy").expect("built in");
    let mut simulated_total = Duration::ZERO;
    let mut failures = 0u64;
    let ((), wall, cpu) = timed(|| {
        for seed in 0..seeds {
            let outcome = fh.run(seed);
            simulated_total += outcome.trace.events().last().map(|e| e.at).unwrap_or_default();
            failures += u64::from(outcome.verdict != Verdict::Pass);
            black_box(outcome);
        }
    });
    let scenarios: Vec<_> = (0..seeds).map(|seed| fh.build(seed)).collect();
    let ((), wwall, wcpu) = timed(|| {
        for (seed, scenario) in scenarios.iter().enumerate() {
            black_box(scenario.run(seed as u64));
        }
    });
    let per_s = |d: Duration| seeds as f64 / d.as_secs_f64();
    println!(
        "fault-heavy: {seeds} seeds on one thread, {:.1} s simulated per seed on average, {failures} not passing",
        simulated_total.as_secs_f64() / seeds as f64
    );
    println!(
        "  runner (build + world + history checks): {:.3} s wall, cpu {}  ->  {:.0} seeds/s (cpu {:.0} seeds/s), {:.0}x real time",
        wall.as_secs_f64(),
        fmt_cpu(cpu),
        per_s(wall),
        cpu.map_or(0.0, per_s),
        simulated_total.as_secs_f64() / wall.as_secs_f64()
    );
    println!(
        "  world alone:                             {:.3} s wall, cpu {}  ->  {:.0} seeds/s (cpu {:.0} seeds/s)",
        wwall.as_secs_f64(),
        fmt_cpu(wcpu),
        per_s(wwall),
        wcpu.map_or(0.0, per_s)
    );
    for world_alone in [false, true] {
        let wall = fault_heavy_threads(seeds, 2, world_alone);
        println!(
            "  2 threads, {}: {:.3} s wall  ->  {:.0} seeds/s",
            if world_alone { "world alone                    " } else { "runner (world + history checks)" },
            wall.as_secs_f64(),
            per_s(wall)
        );
    }

    explore_sweep(if quick { 1_000 } else { 3_000 }, if quick { 10 } else { 30 });
}

/// The standard explore workload on two jobs, and the turmoil driver as
/// the peer on the option-free form of the first `peer_seeds` seeds.
fn explore_sweep(seeds: u64, peer_seeds: u64) {
    use mqttsim::explore::{self, Kind, Plan, Profile};
    let plan = Plan { profile: Profile::Standard, ..Plan::seeds(0, seeds, 2) };
    let report = explore::sweep(&plan, |_, _| {});
    let p = &report.progress;
    println!(
        "explore, standard workload (faults and 5.0 options on): {} seeds on 2 jobs in {:.2} s  ->  {:.0} seeds/s, simulated/wall {:.0}x, {} failures",
        p.seeds,
        p.elapsed.as_secs_f64(),
        p.seeds as f64 / p.elapsed.as_secs_f64(),
        p.simulated.as_secs_f64() / p.elapsed.as_secs_f64(),
        p.failures
    );
    let scenarios: Vec<_> =
        (0..peer_seeds).map(|seed| explore::draw_without_options(seed, Profile::Standard).scenario).collect();
    let (discrete, dwall, _) =
        timed(|| scenarios.iter().enumerate().map(|(seed, s)| explore::judge(s, seed as u64).kind).collect::<Vec<_>>());
    let (turmoil, twall, _) = timed(|| {
        scenarios
            .iter()
            .enumerate()
            .map(|(seed, s)| {
                explore::run::verdict_kind(&mqttsim::sim::turmoil::run_scenario(s, seed as u64, 10).verdict)
            })
            .collect::<Vec<_>>()
    });
    let per_s = |d: Duration| peer_seeds as f64 / d.as_secs_f64();
    let agree = discrete.iter().zip(&turmoil).filter(|(a, b)| a == b).count();
    let passing = discrete.iter().filter(|k| **k == Kind::Pass).count();
    println!("  option-free form of seeds 0..{peer_seeds}, one thread, judged the same way ({agree} of {peer_seeds} verdicts agree, {passing} pass):");
    println!("    discrete-event world: {:.3} s  ->  {:.0} seeds/s", dwall.as_secs_f64(), per_s(dwall));
    println!(
        "    peer: turmoil driver, 10 ms tick: {:.3} s  ->  {:.1} seeds/s; discrete-event world is {:.0}x faster",
        twall.as_secs_f64(),
        per_s(twall),
        twall.as_secs_f64() / dwall.as_secs_f64()
    );
}
