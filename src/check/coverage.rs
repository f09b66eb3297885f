//! Statement coverage: which server-side statements (actor server or both) a
//! run cited, set against the catalogue, per version, grouped by section and
//! actor, with the checked / violated / fulfilled split and the list of
//! statements never cited.
//!
//! Feed citations into a [`Coverage`] (one call per citation, or an iterator
//! of `(StatementId, CiteKind)`), then take its [`CoverageReport`]: it
//! serializes to the JSON report and [`CoverageReport::summary`] gives the
//! short text form.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use indexmap::IndexMap;
use serde::Serialize;

use crate::spec::{Actor, Level, Statement, StatementId, Version};

/// How a statement was cited. Mirrors the model's citation kinds without
/// depending on the model: convert at the call site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CiteKind {
    /// The peer was checked against the statement and complied.
    Checked,
    /// The peer was checked and broke the statement.
    Violated,
    /// The server fulfilled an obligation the statement puts on it.
    Fulfilled,
}

/// Citation counts of one statement, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    /// Citations as checked.
    pub checked: u64,
    /// Citations as violated.
    pub violated: u64,
    /// Citations as fulfilled.
    pub fulfilled: u64,
}

impl KindCounts {
    fn add(&mut self, kind: CiteKind, n: u64) {
        let slot = match kind {
            CiteKind::Checked => &mut self.checked,
            CiteKind::Violated => &mut self.violated,
            CiteKind::Fulfilled => &mut self.fulfilled,
        };
        *slot = slot.saturating_add(n);
    }

    /// All citations.
    pub fn total(&self) -> u64 {
        self.checked.saturating_add(self.violated).saturating_add(self.fulfilled)
    }
}

/// A running tally of citations. Cheap to update on every citation.
#[derive(Debug, Clone, Default)]
pub struct Coverage {
    counts: BTreeMap<StatementId, KindCounts>,
}

impl Coverage {
    /// An empty tally.
    pub fn new() -> Coverage {
        Coverage::default()
    }

    /// Counts one citation.
    pub fn record(&mut self, statement: StatementId, kind: CiteKind) {
        self.record_n(statement, kind, 1);
    }

    /// Counts `n` citations of the same statement and kind.
    pub fn record_n(&mut self, statement: StatementId, kind: CiteKind, n: u64) {
        self.counts.entry(statement).or_default().add(kind, n);
    }

    /// Citation counts of one statement (zero when never cited).
    pub fn counts(&self, statement: StatementId) -> KindCounts {
        self.counts.get(&statement).copied().unwrap_or_default()
    }

    /// Whether the statement was cited at all.
    pub fn is_cited(&self, statement: StatementId) -> bool {
        self.counts(statement).total() > 0
    }

    /// The report for both versions.
    pub fn report(&self) -> CoverageReport {
        CoverageReport { versions: Version::ALL.iter().map(|v| self.version_report(*v)).collect() }
    }

    /// The report for one version.
    pub fn version_report(&self, version: Version) -> VersionCoverage {
        let mut by_section: IndexMap<&'static str, GroupCoverage> = IndexMap::new();
        let mut by_actor: IndexMap<Actor, GroupCoverage> = IndexMap::new();
        let mut mandatory = GroupCoverage::default();
        let mut kinds = KindTotals::default();
        let mut cited = Vec::new();
        let mut uncited = Vec::new();
        let mut other_cited = Vec::new();
        for s in version.statements() {
            let counts = self.counts(s.id);
            let is_cited = counts.total() > 0;
            if !s.actor.binds_server() {
                if is_cited {
                    other_cited.push(CitedStatement::new(s, counts));
                }
                continue;
            }
            by_section.entry(s.section).or_default().add(is_cited);
            by_actor.entry(s.actor).or_default().add(is_cited);
            if s.level.is_mandatory() {
                mandatory.add(is_cited);
            }
            if is_cited {
                kinds.add(counts);
                cited.push(CitedStatement::new(s, counts));
            } else {
                uncited.push(UncitedStatement::new(s));
            }
        }
        let total = cited.len() + uncited.len();
        VersionCoverage {
            version,
            server_side_total: total,
            server_side_cited: cited.len(),
            percent: percent(cited.len(), total),
            mandatory,
            kinds,
            by_section: by_section.into_iter().map(|(section, group)| SectionCoverage { section, group }).collect(),
            by_actor: by_actor.into_iter().map(|(actor, group)| ActorCoverage { actor, group }).collect(),
            cited,
            uncited,
            other_cited,
        }
    }
}

impl Extend<(StatementId, CiteKind)> for Coverage {
    fn extend<I: IntoIterator<Item = (StatementId, CiteKind)>>(&mut self, citations: I) {
        for (statement, kind) in citations {
            self.record(statement, kind);
        }
    }
}

impl FromIterator<(StatementId, CiteKind)> for Coverage {
    fn from_iter<I: IntoIterator<Item = (StatementId, CiteKind)>>(citations: I) -> Coverage {
        let mut coverage = Coverage::new();
        coverage.extend(citations);
        coverage
    }
}

/// `part` of `whole` as a percentage with one decimal; 0 for an empty whole.
fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    (part as f64 * 1000.0 / whole as f64).round() / 10.0
}

/// Cited out of total for a group of statements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct GroupCoverage {
    /// Statements of the group cited at least once.
    pub cited: usize,
    /// Statements in the group.
    pub total: usize,
}

impl GroupCoverage {
    fn add(&mut self, cited: bool) {
        self.total += 1;
        if cited {
            self.cited += 1;
        }
    }
}

/// Coverage of one specification section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SectionCoverage {
    /// The section, e.g. `3.1.2`.
    pub section: &'static str,
    /// Its server-side statements.
    #[serde(flatten)]
    pub group: GroupCoverage,
}

/// Coverage of the statements binding one actor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActorCoverage {
    /// `server` or `both`.
    pub actor: Actor,
    /// Its statements.
    #[serde(flatten)]
    pub group: GroupCoverage,
}

/// Per kind: how many server-side statements had at least one citation of
/// that kind, and how many citations of that kind there were.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KindTotals {
    /// Distinct statements cited at least once, per kind.
    pub statements: KindCounts,
    /// Citations, per kind.
    pub citations: KindCounts,
}

impl KindTotals {
    fn add(&mut self, counts: KindCounts) {
        self.citations.add(CiteKind::Checked, counts.checked);
        self.citations.add(CiteKind::Violated, counts.violated);
        self.citations.add(CiteKind::Fulfilled, counts.fulfilled);
        self.statements.add(CiteKind::Checked, u64::from(counts.checked > 0));
        self.statements.add(CiteKind::Violated, u64::from(counts.violated > 0));
        self.statements.add(CiteKind::Fulfilled, u64::from(counts.fulfilled > 0));
    }
}

/// A statement that was cited, with its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CitedStatement {
    /// The version-qualified ID.
    pub id: StatementId,
    /// Who it binds.
    pub actor: Actor,
    /// Its section.
    pub section: &'static str,
    /// Its citations, by kind.
    #[serde(flatten)]
    pub counts: KindCounts,
}

impl CitedStatement {
    fn new(s: &Statement, counts: KindCounts) -> CitedStatement {
        CitedStatement { id: s.id, actor: s.actor, section: s.section, counts }
    }
}

/// A server-side statement that was never cited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UncitedStatement {
    /// The version-qualified ID.
    pub id: StatementId,
    /// Who it binds.
    pub actor: Actor,
    /// Its keyword.
    pub level: Level,
    /// Its section.
    pub section: &'static str,
    /// Its one-line summary.
    pub summary: &'static str,
}

impl UncitedStatement {
    fn new(s: &Statement) -> UncitedStatement {
        UncitedStatement { id: s.id, actor: s.actor, level: s.level, section: s.section, summary: s.summary }
    }
}

/// Coverage of one version's server-side statements.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionCoverage {
    /// The version.
    pub version: Version,
    /// Server-side statements (actor server or both) in the catalogue.
    pub server_side_total: usize,
    /// Of those, how many were cited at least once.
    pub server_side_cited: usize,
    /// `server_side_cited` as a percentage of `server_side_total`, one decimal.
    pub percent: f64,
    /// The MUST and MUST NOT statements among the server-side ones.
    pub mandatory: GroupCoverage,
    /// Checked / violated / fulfilled, over server-side statements.
    pub kinds: KindTotals,
    /// Per section, in specification order.
    pub by_section: Vec<SectionCoverage>,
    /// Per actor (server, both), in order of first appearance.
    pub by_actor: Vec<ActorCoverage>,
    /// The server-side statements cited, in specification order.
    pub cited: Vec<CitedStatement>,
    /// The server-side statements never cited, in specification order.
    pub uncited: Vec<UncitedStatement>,
    /// Client-only statements that were cited too (the server checking its
    /// peer); they do not count towards the server-side figures.
    pub other_cited: Vec<CitedStatement>,
}

impl VersionCoverage {
    /// One line, e.g. `MQTT 3.1.1: 97/108 server-side statements cited (89.8%)`.
    pub fn headline(&self) -> String {
        format!(
            "MQTT {}: {}/{} server-side statements cited ({:.1}%)",
            self.version, self.server_side_cited, self.server_side_total, self.percent
        )
    }
}

/// Coverage of both versions: the JSON report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoverageReport {
    /// One entry per version, oldest first.
    pub versions: Vec<VersionCoverage>,
}

impl CoverageReport {
    /// The coverage of one version.
    pub fn version(&self, version: Version) -> Option<&VersionCoverage> {
        self.versions.iter().find(|v| v.version == version)
    }

    /// A short text summary: per version its headline, then the citation
    /// counts by kind and the mandatory share.
    pub fn summary(&self) -> String {
        let mut text = String::new();
        for v in &self.versions {
            let c = &v.kinds.citations;
            let _ = writeln!(
                text,
                "{}; MUST/MUST NOT {}/{}; citations: {} checked, {} violated, {} fulfilled",
                v.headline(),
                v.mandatory.cited,
                v.mandatory.total,
                c.checked,
                c.violated,
                c.fulfilled
            );
        }
        text
    }

    /// The JSON report, pretty-printed.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("the coverage report always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{v3_1_1, v5};

    fn server_side(version: Version) -> Vec<&'static Statement> {
        version.statements().iter().filter(|s| s.actor.binds_server()).collect()
    }

    /// With no citations every server-side statement is uncited and the counts match the catalogue.
    #[test]
    fn an_empty_run_cites_nothing_and_lists_every_server_side_statement() {
        let report = Coverage::new().report();
        assert_eq!(report.versions.len(), 2);
        for version in Version::ALL {
            let v = report.version(version).expect("both versions");
            let expected = server_side(version).len();
            assert!(expected > 0);
            assert_eq!(v.server_side_total, expected);
            assert_eq!(v.server_side_cited, 0);
            assert_eq!(v.uncited.len(), expected);
            assert_eq!(v.percent, 0.0);
            let section_total: usize = v.by_section.iter().map(|s| s.group.total).sum();
            let actor_total: usize = v.by_actor.iter().map(|a| a.group.total).sum();
            assert_eq!((section_total, actor_total), (expected, expected));
            assert!(v.by_actor.iter().all(|a| a.actor.binds_server()));
        }
    }

    /// Citations are counted per statement and kind, grouped by section and actor, and versions stay apart.
    #[test]
    fn citations_are_counted_by_kind_section_and_actor() {
        let s = server_side(Version::V5)[0];
        let t = server_side(Version::V5)[1];
        let coverage: Coverage = [
            (s.id, CiteKind::Checked),
            (s.id, CiteKind::Checked),
            (s.id, CiteKind::Violated),
            (t.id, CiteKind::Fulfilled),
        ]
        .into_iter()
        .collect();
        let report = coverage.report();
        let v5r = report.version(Version::V5).expect("5.0");
        assert_eq!(v5r.server_side_cited, 2);
        assert_eq!(v5r.uncited.len(), v5r.server_side_total - 2);
        assert!(!v5r.uncited.iter().any(|u| u.id == s.id || u.id == t.id));
        assert_eq!(v5r.kinds.citations, KindCounts { checked: 2, violated: 1, fulfilled: 1 });
        assert_eq!(v5r.kinds.statements, KindCounts { checked: 1, violated: 1, fulfilled: 1 });
        assert_eq!(v5r.cited[0].id, s.id);
        assert_eq!(v5r.cited[0].counts, KindCounts { checked: 2, violated: 1, fulfilled: 0 });
        let section = v5r.by_section.iter().find(|g| g.section == s.section).expect("its section");
        assert!(section.group.cited >= 1);
        let cited_by_actor: usize = v5r.by_actor.iter().map(|a| a.group.cited).sum();
        assert_eq!(cited_by_actor, 2);
        let v311 = report.version(Version::V3_1_1).expect("3.1.1");
        assert_eq!(v311.server_side_cited, 0, "5.0 citations do not count for 3.1.1");
    }

    /// A client-only statement cited by the server (checking its peer) is listed apart and does not count.
    #[test]
    fn client_only_citations_do_not_count_towards_server_side_coverage() {
        let client_only = v3_1_1::MQTT_3_1_0_1;
        assert_eq!(client_only.statement().actor, Actor::Client);
        let coverage: Coverage = [(client_only, CiteKind::Checked)].into_iter().collect();
        let v = coverage.version_report(Version::V3_1_1);
        assert_eq!(v.server_side_cited, 0);
        assert_eq!(v.other_cited.len(), 1);
        assert_eq!(v.other_cited[0].id, client_only);
    }

    /// The headline has the documented form and the percentage is rounded to one decimal.
    #[test]
    fn the_summary_has_one_headline_per_version() {
        let mut coverage = Coverage::new();
        for s in server_side(Version::V3_1_1).iter().take(3) {
            coverage.record(s.id, CiteKind::Fulfilled);
        }
        coverage.record_n(v5::MQTT_1_5_4_1, CiteKind::Checked, 5);
        let report = coverage.report();
        let v = report.version(Version::V3_1_1).expect("3.1.1");
        let total = v.server_side_total;
        let pct = (3.0 * 1000.0 / total as f64).round() / 10.0;
        assert_eq!(v.headline(), format!("MQTT 3.1.1: 3/{total} server-side statements cited ({pct:.1}%)"));
        let summary = report.summary();
        let lines: Vec<&str> = summary.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with(&v.headline()));
        assert!(lines[1].starts_with("MQTT 5.0: "), "{}", lines[1]);
        assert!(lines[0].contains("citations: 0 checked, 0 violated, 3 fulfilled"), "{}", lines[0]);
    }

    /// The JSON report carries the figures, uses qualified statement IDs, and lists uncited statements with summaries.
    #[test]
    fn the_json_report_names_statements_by_qualified_id() {
        let s = server_side(Version::V5)[0];
        let coverage: Coverage = [(s.id, CiteKind::Fulfilled)].into_iter().collect();
        let json: serde_json::Value = serde_json::from_str(&coverage.report().to_json_pretty()).expect("valid JSON");
        let v5j = &json["versions"][1];
        assert_eq!(v5j["version"], "5.0");
        assert_eq!(v5j["server_side_cited"], 1);
        assert_eq!(v5j["cited"][0]["id"], s.id.to_string());
        assert_eq!(v5j["cited"][0]["fulfilled"], 1);
        assert!(v5j["uncited"][0]["summary"].as_str().is_some_and(|t| !t.is_empty()));
        assert!(v5j["by_section"][0]["total"].as_u64().is_some_and(|n| n > 0));
        assert_eq!(json["versions"][0]["version"], "3.1.1");
    }
}
