//! [`Report`]: the outcome of every scenario and, per statement, pass / fail
//! / skipped, rendered as text (people), JSON or JUnit XML (CI).

use serde::{Deserialize, Serialize};

use super::{Capabilities, Outcome};
use crate::spec::{StatementId, Version};

/// One scenario run under one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioResult {
    /// The scenario name.
    pub name: String,
    /// The version it ran under.
    pub version: Version,
    /// The statements it tests under that version.
    pub statements: Vec<StatementId>,
    /// What happened.
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Wall (or simulated) time it took.
    pub duration_ms: u64,
}

/// The verdict on one statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementStatus {
    /// At least one scenario broke it.
    Fail,
    /// No failure, but a scenario could not be judged.
    Error,
    /// Every scenario that ran held it.
    Pass,
    /// No scenario for it ran.
    Skipped,
}

/// One statement and the scenarios that test it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementResult {
    /// The statement.
    pub statement: StatementId,
    /// Its one-line summary.
    pub summary: String,
    /// The verdict.
    pub status: StatementStatus,
    /// The scenarios testing it.
    pub scenarios: Vec<String>,
    /// The failures naming this statement: `scenario: expected ...; observed ...`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
}

/// The whole report of one `check` run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The server checked.
    pub server: String,
    /// The run id (in client ids and topics).
    pub run_id: String,
    /// Capabilities used (probed, then declared by the profile).
    pub capabilities: Capabilities,
    /// What the probe found.
    pub probe: Vec<String>,
    /// Every scenario result, in catalogue order per version.
    pub scenarios: Vec<ScenarioResult>,
    /// Every statement some selected scenario tests.
    pub statements: Vec<StatementResult>,
    /// A problem clearing the run's retained messages, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup: Option<String>,
}

impl Report {
    /// Builds the per-statement view from the scenario results.
    ///
    /// A failure is charged to the statement it names (which may be a
    /// statement the scenario checks on the way, not one of its tags); an
    /// error or a pass counts for every tagged statement.
    pub fn new(
        server: String,
        run_id: String,
        capabilities: Capabilities,
        probe: Vec<String>,
        scenarios: Vec<ScenarioResult>,
        cleanup: Option<String>,
    ) -> Report {
        let mut statements: Vec<StatementResult> = Vec::new();
        fn entry(statements: &mut Vec<StatementResult>, id: StatementId) -> &mut StatementResult {
            if let Some(i) = statements.iter().position(|s| s.statement == id) {
                return &mut statements[i];
            }
            statements.push(StatementResult {
                statement: id,
                summary: id.summary().to_string(),
                status: StatementStatus::Skipped,
                scenarios: Vec::new(),
                failures: Vec::new(),
            });
            statements.last_mut().expect("just pushed")
        }
        for s in &scenarios {
            let qualified = format!("{}/{}", s.version, s.name);
            for id in &s.statements {
                let e = entry(&mut statements, *id);
                e.scenarios.push(qualified.clone());
                let status = match &s.outcome {
                    Outcome::Pass => StatementStatus::Pass,
                    Outcome::Error { .. } => StatementStatus::Error,
                    Outcome::Skipped { .. } => StatementStatus::Skipped,
                    // Charged below to the statement the failure names; the
                    // other tags stay unjudged by this run.
                    Outcome::Fail(_) => StatementStatus::Skipped,
                };
                e.status = e.status.min(status);
            }
            if let Outcome::Fail(f) = &s.outcome {
                let e = entry(&mut statements, f.statement);
                if !e.scenarios.contains(&qualified) {
                    e.scenarios.push(qualified.clone());
                }
                e.status = StatementStatus::Fail;
                e.failures.push(format!("{qualified}: expected {}; observed {}", f.expected, f.observed));
            }
        }
        statements.sort_by_key(|s| {
            let position = s.statement.version.statements().iter().position(|c| c.id == s.statement);
            (s.statement.version, position)
        });
        Report { server, run_id, capabilities, probe, scenarios, statements, cleanup }
    }

    /// The statements that failed, version-qualified, sorted.
    pub fn failed_statements(&self) -> Vec<StatementId> {
        self.statements.iter().filter(|s| s.status == StatementStatus::Fail).map(|s| s.statement).collect()
    }

    /// Whether any scenario failed.
    pub fn has_failures(&self) -> bool {
        self.scenarios.iter().any(|s| matches!(s.outcome, Outcome::Fail(_)))
    }

    /// Whether any scenario could not be judged.
    pub fn has_errors(&self) -> bool {
        self.scenarios.iter().any(|s| matches!(s.outcome, Outcome::Error { .. }))
    }

    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.scenarios.iter().filter(|s| f(&s.outcome)).count()
    }

    /// The text form, for people.
    pub fn to_text(&self) -> String {
        let mut out = format!("mqttsim check {} (run {})\n", self.server, self.run_id);
        for line in &self.probe {
            out.push_str(&format!("probe: {line}\n"));
        }
        out.push_str("\nscenarios:\n");
        for s in &self.scenarios {
            let (word, detail) = match &s.outcome {
                Outcome::Pass => ("pass", String::new()),
                Outcome::Fail(f) => {
                    ("FAIL", format!(" {}: expected {}; observed {}", f.statement, f.expected, f.observed))
                }
                Outcome::Skipped { reason } => ("skip", format!(" ({reason})")),
                Outcome::Error { message } => ("ERROR", format!(" {message}")),
            };
            out.push_str(&format!("  {word:5} {}/{} [{} ms]{detail}\n", s.version, s.name, s.duration_ms));
        }
        out.push_str("\nstatements:\n");
        for st in &self.statements {
            let word = match st.status {
                StatementStatus::Fail => "FAIL",
                StatementStatus::Error => "ERROR",
                StatementStatus::Pass => "pass",
                StatementStatus::Skipped => "skip",
            };
            out.push_str(&format!("  {word:5} {}  {}\n", st.statement, st.summary));
            for f in &st.failures {
                out.push_str(&format!("          {f}\n"));
            }
        }
        let by = |status| self.statements.iter().filter(|s| s.status == status).count();
        out.push_str(&format!(
            "\n{} scenarios: {} passed, {} failed, {} skipped, {} errors; {} statements: {} passed, {} failed, {} skipped, {} errors\n",
            self.scenarios.len(),
            self.count(|o| matches!(o, Outcome::Pass)),
            self.count(|o| matches!(o, Outcome::Fail(_))),
            self.count(|o| matches!(o, Outcome::Skipped { .. })),
            self.count(|o| matches!(o, Outcome::Error { .. })),
            self.statements.len(),
            by(StatementStatus::Pass),
            by(StatementStatus::Fail),
            by(StatementStatus::Skipped),
            by(StatementStatus::Error),
        ));
        if let Some(c) = &self.cleanup {
            out.push_str(&format!("cleanup: {c}\n"));
        }
        out
    }

    /// The JSON form (pretty), for CI and scripts.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("reports serialize")
    }

    /// The JUnit XML form: one test suite per version, one test case per
    /// statement (failure: the failing scenarios with expected and observed).
    pub fn to_junit(&self) -> String {
        use crate::check::junit::{CaseOutcome, JunitDocument, TestCase, TestSuite};
        let mut doc = JunitDocument::new("mqttsim check");
        for version in Version::ALL {
            let cases: Vec<TestCase> = self
                .statements
                .iter()
                .filter(|s| s.statement.version == version)
                .map(|c| {
                    let outcome = match c.status {
                        StatementStatus::Pass => CaseOutcome::Pass,
                        StatementStatus::Skipped => CaseOutcome::Skipped { message: None },
                        StatementStatus::Error => {
                            CaseOutcome::Error { message: "could not be judged".into(), body: c.scenarios.join(", ") }
                        }
                        StatementStatus::Fail => {
                            CaseOutcome::Failure { message: c.statement.to_string(), body: c.failures.join("\n") }
                        }
                    };
                    TestCase::new(format!("mqtt-{version}"), format!("{} {}", c.statement.id, c.summary), outcome)
                })
                .collect();
            if !cases.is_empty() {
                doc.suites.push(TestSuite { name: format!("MQTT {version}"), cases });
            }
        }
        doc.to_xml()
    }
}
