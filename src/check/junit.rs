//! A small typed JUnit XML writer: a document of test suites, each of test
//! cases that pass, are skipped, could not be judged (error) or failed, with
//! a message and a body; every text and attribute is XML-escaped.
//!
//! Owns: the one JUnit shape every mqttsim report uses (`mqttsim check`'s
//! conformance report, the test server's client-conformance report), so CI
//! tools read them the same way.
//!
//! Must not touch: what the reports mean. Callers build the suites and
//! cases; this module only writes them. No clock (JUnit's optional `time`
//! attributes are left out, so the output is a function of the input).

/// How one test case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseOutcome {
    /// It held.
    Pass,
    /// It was not run; an optional reason becomes the `message` attribute.
    Skipped {
        /// Why, if known.
        message: Option<String>,
    },
    /// It could not be judged.
    Error {
        /// The `message` attribute.
        message: String,
        /// The element's text.
        body: String,
    },
    /// It failed.
    Failure {
        /// The `message` attribute.
        message: String,
        /// The element's text.
        body: String,
    },
}

/// One `<testcase>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    /// The `classname` attribute.
    pub classname: String,
    /// The `name` attribute.
    pub name: String,
    /// How it ended.
    pub outcome: CaseOutcome,
}

/// One `<testsuite>`: its counts are computed from its cases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSuite {
    /// The `name` attribute.
    pub name: String,
    /// The cases, in order.
    pub cases: Vec<TestCase>,
}

/// A whole `<testsuites>` document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JunitDocument {
    /// The `name` attribute of `<testsuites>`.
    pub name: String,
    /// The suites, in order.
    pub suites: Vec<TestSuite>,
}

/// The counts of one suite, as its attributes say them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SuiteCounts {
    /// Every case.
    pub tests: usize,
    /// Cases that failed.
    pub failures: usize,
    /// Cases that could not be judged.
    pub errors: usize,
    /// Cases not run.
    pub skipped: usize,
}

impl TestCase {
    /// A case of `classname` named `name` ending in `outcome`.
    pub fn new(classname: impl Into<String>, name: impl Into<String>, outcome: CaseOutcome) -> TestCase {
        TestCase { classname: classname.into(), name: name.into(), outcome }
    }
}

impl TestSuite {
    /// The suite's counts.
    pub fn counts(&self) -> SuiteCounts {
        let mut counts = SuiteCounts { tests: self.cases.len(), ..SuiteCounts::default() };
        for case in &self.cases {
            match case.outcome {
                CaseOutcome::Pass => {}
                CaseOutcome::Skipped { .. } => counts.skipped += 1,
                CaseOutcome::Error { .. } => counts.errors += 1,
                CaseOutcome::Failure { .. } => counts.failures += 1,
            }
        }
        counts
    }
}

impl JunitDocument {
    /// An empty document named `name`.
    pub fn new(name: impl Into<String>) -> JunitDocument {
        JunitDocument { name: name.into(), suites: Vec::new() }
    }

    /// The document as XML: a declaration, then two-space indented suites,
    /// each case on one line, ending in a newline.
    pub fn to_xml(&self) -> String {
        let mut out =
            format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"{}\">\n", escape(&self.name));
        for suite in &self.suites {
            let c = suite.counts();
            out.push_str(&format!(
                "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\">\n",
                escape(&suite.name),
                c.tests,
                c.failures,
                c.errors,
                c.skipped
            ));
            for case in &suite.cases {
                out.push_str(&format!(
                    "    <testcase classname=\"{}\" name=\"{}\">",
                    escape(&case.classname),
                    escape(&case.name)
                ));
                match &case.outcome {
                    CaseOutcome::Pass => {}
                    CaseOutcome::Skipped { message: None } => out.push_str("<skipped/>"),
                    CaseOutcome::Skipped { message: Some(m) } => {
                        out.push_str(&format!("<skipped message=\"{}\"/>", escape(m)));
                    }
                    CaseOutcome::Error { message, body } => {
                        out.push_str(&format!("<error message=\"{}\">{}</error>", escape(message), escape(body)));
                    }
                    CaseOutcome::Failure { message, body } => {
                        out.push_str(&format!("<failure message=\"{}\">{}</failure>", escape(message), escape(body)));
                    }
                }
                out.push_str("</testcase>\n");
            }
            out.push_str("  </testsuite>\n");
        }
        out.push_str("</testsuites>\n");
        out
    }
}

/// `text` escaped for XML text and attribute values: the five predefined
/// entities, and control characters other than newline and tab as
/// character references.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push_str(&format!("&#{};", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document() -> JunitDocument {
        JunitDocument {
            name: "demo".into(),
            suites: vec![
                TestSuite {
                    name: "first".into(),
                    cases: vec![
                        TestCase::new("c", "passes", CaseOutcome::Pass),
                        TestCase::new("c", "skipped", CaseOutcome::Skipped { message: None }),
                        TestCase::new("c", "skipped why", CaseOutcome::Skipped { message: Some("no \"x\"".into()) }),
                        TestCase::new(
                            "c",
                            "fails <a & b>",
                            CaseOutcome::Failure { message: "M-1".into(), body: "expected 1\nobserved 'two'".into() },
                        ),
                    ],
                },
                TestSuite {
                    name: "second".into(),
                    cases: vec![TestCase::new(
                        "d",
                        "errs",
                        CaseOutcome::Error { message: "could not be judged".into(), body: "bell\u{7}".into() },
                    )],
                },
            ],
        }
    }

    /// The writer's exact output: declaration, suites with counts from their cases, one case per line, escaped text.
    #[test]
    fn the_document_is_written_with_counts_and_escaping() {
        let expected = concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<testsuites name=\"demo\">\n",
            "  <testsuite name=\"first\" tests=\"4\" failures=\"1\" errors=\"0\" skipped=\"2\">\n",
            "    <testcase classname=\"c\" name=\"passes\"></testcase>\n",
            "    <testcase classname=\"c\" name=\"skipped\"><skipped/></testcase>\n",
            "    <testcase classname=\"c\" name=\"skipped why\"><skipped message=\"no &quot;x&quot;\"/></testcase>\n",
            "    <testcase classname=\"c\" name=\"fails &lt;a &amp; b&gt;\"><failure message=\"M-1\">expected 1\nobserved &apos;two&apos;</failure></testcase>\n",
            "  </testsuite>\n",
            "  <testsuite name=\"second\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\">\n",
            "    <testcase classname=\"d\" name=\"errs\"><error message=\"could not be judged\">bell&#7;</error></testcase>\n",
            "  </testsuite>\n",
            "</testsuites>\n",
        );
        assert_eq!(document().to_xml(), expected);
    }

    /// Counts per suite match the outcomes of its cases.
    #[test]
    fn suite_counts_follow_the_outcomes() {
        let doc = document();
        assert_eq!(doc.suites[0].counts(), SuiteCounts { tests: 4, failures: 1, errors: 0, skipped: 2 });
        assert_eq!(doc.suites[1].counts(), SuiteCounts { tests: 1, failures: 0, errors: 1, skipped: 0 });
        assert_eq!(JunitDocument::new("empty").to_xml().lines().count(), 3);
    }

    /// The conformance report's JUnit form, written by this module, is byte for byte what it was before the switch.
    #[test]
    fn the_conformance_report_keeps_its_junit_bytes() {
        use crate::conformance::{Report, StatementResult, StatementStatus};
        use crate::spec::{v3_1_1, v5};
        let statement = |id: crate::spec::StatementId, status, failures: Vec<&str>| StatementResult {
            statement: id,
            summary: "a <summary> & \"quotes\"".into(),
            status,
            scenarios: vec!["3.1.1/one".into(), "5.0/two".into()],
            failures: failures.into_iter().map(String::from).collect(),
        };
        let report = Report {
            server: "s".into(),
            run_id: "r".into(),
            capabilities: Default::default(),
            probe: Vec::new(),
            scenarios: Vec::new(),
            statements: vec![
                statement(v3_1_1::MQTT_3_1_0_1, StatementStatus::Pass, vec![]),
                statement(v3_1_1::MQTT_3_1_0_2, StatementStatus::Fail, vec!["3.1.1/one: expected a; observed <b>"]),
                statement(v5::MQTT_3_1_0_1, StatementStatus::Skipped, vec![]),
                statement(v5::MQTT_3_1_0_2, StatementStatus::Error, vec![]),
            ],
            cleanup: None,
        };
        let expected = concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
            "<testsuites name=\"mqttsim check\">\n",
            "  <testsuite name=\"MQTT 3.1.1\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\">\n",
            "    <testcase classname=\"mqtt-3.1.1\" name=\"MQTT-3.1.0-1 a &lt;summary&gt; &amp; &quot;quotes&quot;\"></testcase>\n",
            "    <testcase classname=\"mqtt-3.1.1\" name=\"MQTT-3.1.0-2 a &lt;summary&gt; &amp; &quot;quotes&quot;\"><failure message=\"3.1.1/MQTT-3.1.0-2\">3.1.1/one: expected a; observed &lt;b&gt;</failure></testcase>\n",
            "  </testsuite>\n",
            "  <testsuite name=\"MQTT 5.0\" tests=\"2\" failures=\"0\" errors=\"1\" skipped=\"1\">\n",
            "    <testcase classname=\"mqtt-5.0\" name=\"MQTT-3.1.0-1 a &lt;summary&gt; &amp; &quot;quotes&quot;\"><skipped/></testcase>\n",
            "    <testcase classname=\"mqtt-5.0\" name=\"MQTT-3.1.0-2 a &lt;summary&gt; &amp; &quot;quotes&quot;\"><error message=\"could not be judged\">3.1.1/one, 5.0/two</error></testcase>\n",
            "  </testsuite>\n",
            "</testsuites>\n",
        );
        assert_eq!(report.to_junit(), expected);
    }
}
