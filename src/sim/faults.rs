//! Fault plans: what the simulation does to the network and the hosts, and
//! when, as serde data. A plan is written by hand or drawn from the seed
//! ([`FaultPlan::draw`]), swarm style: each seed first draws which fault
//! kinds are enabled and how often they strike ([`Swarm`]), then the faults.

use serde::{Deserialize, Serialize};

use super::rng::Stream;

/// The name of the broker endpoint.
pub const BROKER: &str = "broker";

/// One fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Segments `a` → `b` (and `b` → `a` unless `one_way`) are lost; the
    /// connections that lose one stay wedged.
    Partition {
        /// One endpoint.
        a: String,
        /// The other.
        b: String,
        /// Only `a` → `b`.
        one_way: bool,
    },
    /// Ends a partition between `a` and `b` (both directions).
    Heal {
        /// One endpoint.
        a: String,
        /// The other.
        b: String,
    },
    /// Delays segments both ways between `a` and `b`.
    Hold {
        /// One endpoint.
        a: String,
        /// The other.
        b: String,
    },
    /// Sends the held segments on.
    Release {
        /// One endpoint.
        a: String,
        /// The other.
        b: String,
    },
    /// Sets the latency range both ways between `a` and `b`.
    Latency {
        /// One endpoint.
        a: String,
        /// The other.
        b: String,
        /// Lowest latency, ms.
        min_ms: u64,
        /// Highest latency, ms.
        max_ms: u64,
    },
    /// Drops the client's socket: no DISCONNECT, the broker sees an end of stream.
    CloseClient {
        /// The client.
        client: String,
    },
    /// The client stops reading and sending; its socket stays open. It
    /// resumes after `for_ms`, or when the scenario or liveness phase says.
    Silence {
        /// The client.
        client: String,
        /// How long, ms.
        for_ms: Option<u64>,
    },
    /// The broker process dies; its peers see their connections close.
    CrashBroker,
    /// The broker starts again: empty, or from the durable store.
    RestartBroker,
}

impl Fault {
    /// The one-line description recorded in the trace.
    pub fn describe(&self) -> String {
        match self {
            Fault::Partition { a, b, one_way: false } => format!("partition {a} <-> {b}"),
            Fault::Partition { a, b, one_way: true } => format!("partition {a} -> {b}"),
            Fault::Heal { a, b } => format!("heal {a} <-> {b}"),
            Fault::Hold { a, b } => format!("hold {a} <-> {b}"),
            Fault::Release { a, b } => format!("release {a} <-> {b}"),
            Fault::Latency { a, b, min_ms, max_ms } => format!("latency {a} <-> {b} {min_ms}..={max_ms}ms"),
            Fault::CloseClient { client } => format!("close {client}"),
            Fault::Silence { client, for_ms: Some(ms) } => format!("silence {client} for {ms}ms"),
            Fault::Silence { client, for_ms: None } => format!("silence {client}"),
            Fault::CrashBroker => "crash broker".to_owned(),
            Fault::RestartBroker => "restart broker".to_owned(),
        }
    }
}

/// A fault at a simulated time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultStep {
    /// When, in ms since the start of the run.
    pub at_ms: u64,
    /// What.
    pub fault: Fault,
}

/// The swarm parameters of one seed: which fault kinds are on, and the mean
/// time between two faults of each kind (ms). Printed in the trace header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Swarm {
    /// Mean ms between partitions (with a heal after 0.5 to 10 s); none = off.
    pub partition_every_ms: Option<u64>,
    /// Mean ms between hold/release pairs; none = off.
    pub hold_every_ms: Option<u64>,
    /// Mean ms between latency changes; none = off.
    pub latency_every_ms: Option<u64>,
    /// Mean ms between abrupt client closes; none = off.
    pub close_every_ms: Option<u64>,
    /// Mean ms between client silences; none = off.
    pub silence_every_ms: Option<u64>,
    /// Mean ms between broker crashes (each followed by a restart); none = off.
    pub crash_every_ms: Option<u64>,
}

impl Swarm {
    /// Draws the swarm parameters: each kind is on with probability 1/2 and
    /// its mean interval is 2 to 30 s (crashes 10 to 60 s).
    pub fn draw(rng: &mut Stream) -> Swarm {
        let mut kind = |lo: u64, hi: u64| rng.chance(0.5).then(|| rng.range_u64(lo, hi));
        Swarm {
            partition_every_ms: kind(2_000, 30_000),
            hold_every_ms: kind(2_000, 30_000),
            latency_every_ms: kind(2_000, 30_000),
            close_every_ms: kind(2_000, 30_000),
            silence_every_ms: kind(2_000, 30_000),
            crash_every_ms: kind(10_000, 60_000),
        }
    }

    /// Every kind on, with the given mean interval (for fault-heavy scenarios).
    pub fn all(every_ms: u64) -> Swarm {
        Swarm {
            partition_every_ms: Some(every_ms),
            hold_every_ms: Some(every_ms),
            latency_every_ms: Some(every_ms),
            close_every_ms: Some(every_ms),
            silence_every_ms: Some(every_ms),
            crash_every_ms: Some(every_ms * 3),
        }
    }
}

/// A fault plan: steps in time order.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultPlan {
    /// The steps, sorted by `at_ms` (stable for equal times).
    pub steps: Vec<FaultStep>,
}

impl FaultPlan {
    /// A plan of `steps`, sorted by time (keeping the given order for equal times).
    pub fn new(mut steps: Vec<FaultStep>) -> FaultPlan {
        steps.sort_by_key(|s| s.at_ms);
        FaultPlan { steps }
    }

    /// Draws a plan for `clients` over `duration_ms` from the fault stream:
    /// `swarm` (drawn with [`Swarm::draw`] when `None`) says which kinds and
    /// how often. Every fault that needs an end (partition, hold, crash,
    /// silence) gets one within the plan, so the plan ends healed.
    /// Returns the plan and the swarm parameters used.
    pub fn draw(rng: &mut Stream, clients: &[String], duration_ms: u64, swarm: Option<Swarm>) -> (FaultPlan, Swarm) {
        let swarm = swarm.unwrap_or_else(|| Swarm::draw(rng));
        let mut steps = Vec::new();
        if clients.is_empty() || duration_ms == 0 {
            return (FaultPlan::default(), swarm);
        }
        let kinds = [
            swarm.partition_every_ms,
            swarm.hold_every_ms,
            swarm.latency_every_ms,
            swarm.close_every_ms,
            swarm.silence_every_ms,
            swarm.crash_every_ms,
        ];
        for (kind, every) in kinds.iter().enumerate() {
            let Some(every) = *every else { continue };
            let mut t = 0u64;
            loop {
                // Exponential-ish gaps: uniform in 0..2×mean keeps the mean.
                t += rng.range_u64(1, every.saturating_mul(2).max(2));
                if t >= duration_ms {
                    break;
                }
                let client = clients[rng.index(clients.len())].clone();
                let end = (t + rng.range_u64(500, 10_000)).min(duration_ms);
                match kind {
                    0 => {
                        let one_way = rng.chance(0.3);
                        let (a, b) = if rng.chance(0.5) {
                            (client.clone(), BROKER.to_owned())
                        } else {
                            (BROKER.to_owned(), client.clone())
                        };
                        steps.push(FaultStep {
                            at_ms: t,
                            fault: Fault::Partition { a: a.clone(), b: b.clone(), one_way },
                        });
                        steps.push(FaultStep { at_ms: end, fault: Fault::Heal { a, b } });
                    }
                    1 => {
                        steps.push(FaultStep {
                            at_ms: t,
                            fault: Fault::Hold { a: client.clone(), b: BROKER.to_owned() },
                        });
                        steps.push(FaultStep { at_ms: end, fault: Fault::Release { a: client, b: BROKER.to_owned() } });
                    }
                    2 => {
                        let min_ms = rng.range_u64(0, 50);
                        let max_ms = min_ms + rng.range_u64(0, 500);
                        steps.push(FaultStep {
                            at_ms: t,
                            fault: Fault::Latency { a: client, b: BROKER.to_owned(), min_ms, max_ms },
                        });
                    }
                    3 => steps.push(FaultStep { at_ms: t, fault: Fault::CloseClient { client } }),
                    4 => steps.push(FaultStep { at_ms: t, fault: Fault::Silence { client, for_ms: Some(end - t) } }),
                    _ => {
                        steps.push(FaultStep { at_ms: t, fault: Fault::CrashBroker });
                        let restart = (t + rng.range_u64(100, 5_000)).min(duration_ms);
                        steps.push(FaultStep { at_ms: restart, fault: Fault::RestartBroker });
                        t = restart;
                    }
                }
            }
        }
        (FaultPlan::new(steps), swarm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clients() -> Vec<String> {
        vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]
    }

    /// A drawn plan is a function of the seed, sorted, within the duration, and round-trips through JSON.
    #[test]
    fn drawn_plans_are_deterministic_sorted_and_serializable() {
        let draw =
            |seed| FaultPlan::draw(&mut Stream::new(seed, "faults"), &clients(), 60_000, Some(Swarm::all(5_000)));
        let (plan, _) = draw(1);
        assert_eq!(plan, draw(1).0);
        assert_ne!(plan, draw(2).0);
        assert!(plan.steps.windows(2).all(|w| w[0].at_ms <= w[1].at_ms));
        assert!(plan.steps.iter().all(|s| s.at_ms <= 60_000));
        let json = serde_json::to_string(&plan).unwrap();
        assert_eq!(serde_json::from_str::<FaultPlan>(&json).unwrap(), plan);
    }

    /// Swarm parameters differ between seeds, so different seeds stress different kinds.
    #[test]
    fn swarm_parameters_are_drawn_per_seed() {
        let swarms: Vec<Swarm> = (0..16).map(|s| Swarm::draw(&mut Stream::new(s, "faults"))).collect();
        assert!(swarms.iter().any(|s| s.partition_every_ms.is_none()));
        assert!(swarms.iter().any(|s| s.partition_every_ms.is_some()));
    }
}
