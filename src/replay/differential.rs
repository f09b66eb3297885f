//! The differential run: for each seed, record a case against the model
//! broker, replay it against a real server, and summarise the differences
//! by statement.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{compare, record, replay, Difference, RecordSettings, ReplayError, ReplayOptions};

/// One seed of a differential run.
#[derive(Debug, Clone, Serialize)]
pub struct DiffCase {
    /// The seed.
    pub seed: u64,
    /// Why the seed gave no case (its model run did not pass), if it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_recorded: Option<String>,
    /// Steps in the case.
    pub steps: usize,
    /// The differences.
    pub differences: Vec<Difference>,
}

/// One statement's share of a differential run.
#[derive(Debug, Clone, Serialize)]
pub struct StatementSummary {
    /// The statement (`5.0/MQTT-...`), or `none` for differences without one.
    pub statement: String,
    /// Differences citing it.
    pub differences: usize,
    /// Seeds with at least one.
    pub seeds: Vec<u64>,
    /// The first one, as an example.
    pub example: String,
}

/// A differential run's result.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    /// The server.
    pub against: String,
    /// Every seed, in order.
    pub cases: Vec<DiffCase>,
    /// Differences grouped by statement, sorted by statement.
    pub by_statement: Vec<StatementSummary>,
}

impl DiffReport {
    /// Whether no case showed a difference.
    pub fn equal(&self) -> bool {
        self.cases.iter().all(|c| c.differences.is_empty())
    }

    /// The statements that differed (`none` for differences without one).
    pub fn statements(&self) -> Vec<String> {
        self.by_statement.iter().map(|s| s.statement.clone()).collect()
    }

    /// The text summary.
    pub fn to_text(&self) -> String {
        let recorded = self.cases.iter().filter(|c| c.not_recorded.is_none()).count();
        let differing = self.cases.iter().filter(|c| !c.differences.is_empty()).count();
        let mut out = format!(
            "differential run against {}: {} seeds, {recorded} recorded, {differing} with differences\n",
            self.against,
            self.cases.len()
        );
        for c in &self.cases {
            if let Some(why) = &c.not_recorded {
                out.push_str(&format!("seed {}: not recorded: {why}\n", c.seed));
            }
        }
        for s in &self.by_statement {
            let seeds: Vec<String> = s.seeds.iter().map(u64::to_string).collect();
            out.push_str(&format!(
                "{}: {} difference(s) in seed(s) {}\n  e.g. {}\n",
                s.statement,
                s.differences,
                seeds.join(", "),
                s.example
            ));
        }
        out
    }
}

/// The run id of one seed: the first four characters of `run_id` and four
/// base-36 digits of the seed, so client ids stay within the 23 characters
/// every server must accept.
fn seed_run_id(run_id: &str, seed: u64) -> String {
    let alphabet = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut x = seed;
    let digits: String = (0..4)
        .map(|_| {
            let c = alphabet[(x % 36) as usize] as char;
            x /= 36;
            c
        })
        .collect();
    format!("{}{digits}", run_id.chars().take(4).collect::<String>())
}

/// Records and replays `seeds` against `options.addr`. Each seed gets its
/// own run id (from `options.run_id` and the seed), so cases never interfere.
pub async fn differential(
    seeds: impl IntoIterator<Item = u64>,
    settings: &RecordSettings,
    options: &ReplayOptions,
) -> Result<DiffReport, ReplayError> {
    let mut cases = Vec::new();
    for seed in seeds {
        let case = match record(seed, settings) {
            Ok(case) => case,
            Err(ReplayError::Model(why)) => {
                cases.push(DiffCase { seed, not_recorded: Some(why), steps: 0, differences: Vec::new() });
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut opts = options.clone();
        opts.run_id = seed_run_id(&options.run_id, seed);
        let observed = replay(&case, &opts).await?;
        let differences = compare(&case, &observed);
        cases.push(DiffCase { seed, not_recorded: None, steps: case.steps.len(), differences });
    }
    let mut groups: BTreeMap<String, StatementSummary> = BTreeMap::new();
    for c in &cases {
        for d in &c.differences {
            let key = d.statement.map_or_else(|| "none".to_owned(), |s| s.to_string());
            let entry = groups.entry(key.clone()).or_insert_with(|| StatementSummary {
                statement: key,
                differences: 0,
                seeds: Vec::new(),
                example: format!("seed {}: {d}", c.seed),
            });
            entry.differences += 1;
            if entry.seeds.last() != Some(&c.seed) {
                entry.seeds.push(c.seed);
            }
        }
    }
    Ok(DiffReport { against: options.addr.clone(), cases, by_statement: groups.into_values().collect() })
}
