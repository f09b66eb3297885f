//! [`TurmoilFault`]: what a turmoil run does to its network and broker, as
//! data, and [`FaultAt`], one fault at a simulated time. They mirror the
//! discrete-event world's faults that turmoil itself can inject.

use serde::{Deserialize, Serialize};

/// One fault turmoil injects between two steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TurmoilFault {
    /// Segments `a` → `b` (and `b` → `a` unless `one_way`) are lost. Writes
    /// still succeed and reads hang; the connections stay wedged after the
    /// heal (turmoil has no retransmit), so recovery is by reconnecting.
    Partition {
        /// One host.
        a: String,
        /// The other.
        b: String,
        /// Only `a` → `b`.
        one_way: bool,
    },
    /// Ends a partition between `a` and `b`, both ways.
    Heal {
        /// One host.
        a: String,
        /// The other.
        b: String,
    },
    /// Delays segments both ways between `a` and `b` without losing them.
    Hold {
        /// One host.
        a: String,
        /// The other.
        b: String,
    },
    /// Sends the held segments on.
    Release {
        /// One host.
        a: String,
        /// The other.
        b: String,
    },
    /// The broker host's software dies; peers see an end of stream.
    CrashBroker,
    /// The broker host's software starts again (from nothing: it is a
    /// restartable factory). Restarting a running broker crashes it first.
    RestartBroker,
}

impl TurmoilFault {
    /// The one-line description recorded in the trace (the same words as
    /// the discrete-event world's faults).
    pub fn describe(&self) -> String {
        match self {
            TurmoilFault::Partition { a, b, one_way: false } => format!("partition {a} <-> {b}"),
            TurmoilFault::Partition { a, b, one_way: true } => format!("partition {a} -> {b}"),
            TurmoilFault::Heal { a, b } => format!("heal {a} <-> {b}"),
            TurmoilFault::Hold { a, b } => format!("hold {a} <-> {b}"),
            TurmoilFault::Release { a, b } => format!("release {a} <-> {b}"),
            TurmoilFault::CrashBroker => "crash broker".to_owned(),
            TurmoilFault::RestartBroker => "restart broker".to_owned(),
        }
    }
}

/// A fault at a simulated time. It is applied at the first step boundary at
/// or after `at_ms`, so with a 10 ms tick a fault at 15 ms happens at 20 ms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultAt {
    /// When, in ms since the start of the run.
    pub at_ms: u64,
    /// What.
    pub fault: TurmoilFault,
}

impl FaultAt {
    /// `fault` at `at_ms`.
    pub fn new(at_ms: u64, fault: TurmoilFault) -> FaultAt {
        FaultAt { at_ms, fault }
    }
}
