//! The scenario catalogue: every scenario with its name, the version-qualified
//! statements it tests per version, and the capabilities it needs.
//!
//! Families: [`connect`] (CONNECT/CONNACK, keep-alive, wills), [`publish`]
//! (QoS flows, ordering), [`retain`], [`subscribe`] (SUBACK/UNSUBACK,
//! matching), [`malformed`] (bytes from the raw writer that must close the
//! connection), [`session`] (persistence, resume, redelivery), [`flows`]
//! (longer flows: strict decoding, QoS 2 across a reconnect, packet id
//! reuse), [`v5`] / [`v5_more`] / [`v5_limits`] (features only MQTT 5.0
//! has), [`shared`] (shared subscriptions) and [`edges`] (refusals that
//! depend on capabilities, diagnostics against a tight Maximum Packet Size,
//! QoS 2 and expiry, credentials and AUTH).

mod connect;
mod edges;
mod flows;
mod malformed;
mod publish;
mod retain;
mod session;
mod shared;
mod subscribe;
mod v5;
mod v5_limits;
mod v5_more;

use super::{BoxFuture, Capabilities, Ctx, Stop};
use crate::codec::Qos;
use crate::spec::{StatementId, Version};

/// What a scenario needs from the server; without it the scenario is skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// At least this maximum QoS.
    Qos(Qos),
    /// Retained messages.
    Retain,
    /// Wildcard subscriptions.
    Wildcard,
    /// Subscription identifiers.
    SubscriptionIds,
    /// A Topic Alias Maximum of at least 1.
    TopicAlias,
    /// Shared subscriptions (`$share/...`).
    SharedSubscriptions,
    /// An enhanced authentication method the server supports, declared in
    /// the profile (`authentication_method`).
    AuthenticationMethod,
}

impl Requirement {
    /// Why `caps` does not meet this requirement, or `None` if it does.
    pub fn missing(self, caps: &Capabilities) -> Option<String> {
        match self {
            Requirement::Qos(q) if caps.maximum_qos < q => {
                Some(format!("needs QoS {}; the server's maximum QoS is {}", q.as_u8(), caps.maximum_qos.as_u8()))
            }
            Requirement::Retain if !caps.retain_available => Some("needs retained messages".into()),
            Requirement::Wildcard if !caps.wildcard_subscription_available => {
                Some("needs wildcard subscriptions".into())
            }
            Requirement::SubscriptionIds if !caps.subscription_identifier_available => {
                Some("needs subscription identifiers".into())
            }
            Requirement::TopicAlias if caps.topic_alias_maximum == 0 => {
                Some("needs topic aliases (the server's Topic Alias Maximum is 0)".into())
            }
            Requirement::SharedSubscriptions if !caps.shared_subscription_available => {
                Some("needs shared subscriptions".into())
            }
            Requirement::AuthenticationMethod if caps.authentication_method.is_none() => {
                Some("needs an enhanced authentication method (declare authentication_method in the profile)".into())
            }
            _ => None,
        }
    }

    /// A short name for docs.
    pub fn name(self) -> String {
        match self {
            Requirement::Qos(q) => format!("QoS {}", q.as_u8()),
            Requirement::Retain => "retain".into(),
            Requirement::Wildcard => "wildcards".into(),
            Requirement::SubscriptionIds => "subscription ids".into(),
            Requirement::TopicAlias => "topic alias".into(),
            Requirement::SharedSubscriptions => "shared subscriptions".into(),
            Requirement::AuthenticationMethod => "authentication method".into(),
        }
    }
}

/// The body of a scenario.
pub type ScenarioFn = fn(Ctx) -> BoxFuture<'static, Result<(), Stop>>;

/// One scenario: a packet flow with the statements it tests.
#[derive(Clone, Copy)]
pub struct Scenario {
    /// A stable kebab-case name.
    pub name: &'static str,
    /// One line: what it does.
    pub summary: &'static str,
    /// The 3.1.1 statements it tests (empty: not run under 3.1.1).
    pub v3: &'static [StatementId],
    /// The 5.0 statements it tests (empty: not run under 5.0).
    pub v5: &'static [StatementId],
    /// What it needs from the server.
    pub requires: &'static [Requirement],
    /// The body.
    pub run: ScenarioFn,
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario").field("name", &self.name).finish()
    }
}

impl Scenario {
    /// The statements it tests under `version`.
    pub fn statements(&self, version: Version) -> &'static [StatementId] {
        match version {
            Version::V3_1_1 => self.v3,
            Version::V5 => self.v5,
        }
    }

    /// The versions it runs under.
    pub fn versions(&self) -> Vec<Version> {
        Version::ALL.into_iter().filter(|v| !self.statements(*v).is_empty()).collect()
    }
}

/// Builds a [`Scenario`]; statement names are constants of
/// [`crate::spec::v3_1_1`] and [`crate::spec::v5`].
macro_rules! scenario {
    (
        $name:literal, $body:path, $summary:literal,
        v3: [$($a:ident),* $(,)?], v5: [$($b:ident),* $(,)?], requires: [$($r:expr),* $(,)?]
    ) => {
        $crate::conformance::scenarios::Scenario {
            name: $name,
            summary: $summary,
            v3: &[$($crate::spec::v3_1_1::$a),*],
            v5: &[$($crate::spec::v5::$b),*],
            requires: &[$($r),*],
            run: |ctx| Box::pin($body(ctx)),
        }
    };
}
pub(crate) use scenario;

/// Every scenario, in catalogue order.
pub fn all() -> Vec<Scenario> {
    let mut all = Vec::new();
    all.extend_from_slice(connect::SCENARIOS);
    all.extend_from_slice(publish::SCENARIOS);
    all.extend_from_slice(retain::SCENARIOS);
    all.extend_from_slice(subscribe::SCENARIOS);
    all.extend_from_slice(malformed::SCENARIOS);
    all.extend_from_slice(session::SCENARIOS);
    all.extend_from_slice(flows::SCENARIOS);
    all.extend_from_slice(v5::SCENARIOS);
    all.extend_from_slice(v5_more::SCENARIOS);
    all.extend_from_slice(v5_limits::SCENARIOS);
    all.extend_from_slice(shared::SCENARIOS);
    all.extend_from_slice(edges::SCENARIOS);
    all
}

/// The scenario list as a Markdown table (name, versions, statements,
/// requirements, summary), as docs/conformance-suite.md holds it.
pub fn markdown_table() -> String {
    let mut out = String::from(
        "| scenario | 3.1.1 statements | 5.0 statements | needs | what it does |\n|---|---|---|---|---|\n",
    );
    for s in all() {
        let ids = |v: &[StatementId]| {
            if v.is_empty() {
                "—".to_string()
            } else {
                v.iter().map(|s| s.id).collect::<Vec<_>>().join(", ")
            }
        };
        let needs: Vec<String> = s.requires.iter().map(|r| r.name()).collect();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} |\n",
            s.name,
            ids(s.v3),
            ids(s.v5),
            if needs.is_empty() { "—".to_string() } else { needs.join(", ") },
            s.summary
        ));
    }
    out
}

/// The server-side MUST/MUST NOT statements of `version` and whether at
/// least one scenario tests each.
pub fn coverage(version: Version) -> (usize, usize) {
    let scenarios = all();
    let mandatory: Vec<_> =
        version.statements().iter().filter(|s| s.actor.binds_server() && s.level.is_mandatory()).collect();
    let covered =
        mandatory.iter().filter(|s| scenarios.iter().any(|sc| sc.statements(version).contains(&s.id))).count();
    (covered, mandatory.len())
}
