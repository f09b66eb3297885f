//! The statement view of the catalogue: for every server-side statement of
//! both versions, the scenarios that test it, or why no scenario can
//! ([`not_testable_reason`], kept here as data), rendered as the Markdown
//! of docs/conformance.md ([`statement_table`]).
//!
//! Must not touch: the scenarios themselves (it only reads their tags).

use super::scenarios;
use crate::spec::{StatementId, Version};

/// Why a server-side MUST / MUST NOT statement has no scenario: what a
/// client on the wire cannot see or cannot cause.
const NOT_TESTABLE: &[(Version, &str, &str)] = &[
    (
        Version::V3_1_1,
        "MQTT-2.3.1-5",
        "a packet id in a QoS 0 PUBLISH would look exactly like the first two payload bytes, so no received packet can show it",
    ),
    (
        Version::V3_1_1,
        "MQTT-3.2.2-6",
        "which failures have no fitting return code is internal to the server; a client cannot provoke such a failure on purpose",
    ),
    (
        Version::V3_1_1,
        "MQTT-3.3.5-2",
        "needs a topic the server denies this client, which the suite cannot set up on an unknown server",
    ),
    (
        Version::V3_1_1,
        "MQTT-4.1.0-2",
        "a session can only be inspected by connecting again, which ends the connection first; nothing seen while connected tells an ended session apart",
    ),
    (Version::V3_1_1, "MQTT-4.7.3-3", "the two-byte length prefix cannot express a longer string, so no packet can carry one"),
    (Version::V3_1_1, "MQTT-4.8.0-2", "transient errors happen inside the server; a client cannot cause one on purpose"),
    (Version::V3_1_1, "MQTT-6.0.0-1", "WebSocket transport; the suite connects over plain TCP"),
    (Version::V3_1_1, "MQTT-6.0.0-2", "WebSocket transport; the suite connects over plain TCP"),
    (Version::V3_1_1, "MQTT-6.0.0-4", "WebSocket transport; the suite connects over plain TCP"),
    (
        Version::V3_1_1,
        "MQTT-7.0.0-1",
        "bridging concerns the server's own outbound connections, which a client of it never sees",
    ),
    (
        Version::V3_1_1,
        "MQTT-7.0.0-2",
        "a property of the whole implementation, not of any packet exchange",
    ),
    (
        Version::V3_1_1,
        "MQTT-7.1.1-1",
        "every scenario already runs over TCP; a server without such a transport cannot be reached at all",
    ),
    (
        Version::V5,
        "MQTT-4.2-1",
        "every scenario already runs over TCP; a server without such a transport cannot be reached at all",
    ),
    (
        Version::V5,
        "MQTT-4.3.3-9",
        "a server answers PUBREC >= 0x80 only for its own reasons (quota, authorisation, limits), which a client cannot provoke portably",
    ),
    (Version::V5, "MQTT-4.7.3-3", "the two-byte length prefix cannot express a longer string, so no packet can carry one"),
    (
        Version::V5,
        "MQTT-4.12.1-2",
        "re-authentication needs a successful authentication first, which depends on the method's secret; the suite only knows how to fail an exchange",
    ),
    (Version::V5, "MQTT-6.0.0-1", "WebSocket transport; the suite connects over plain TCP"),
    (Version::V5, "MQTT-6.0.0-2", "WebSocket transport; the suite connects over plain TCP"),
    (Version::V5, "MQTT-6.0.0-4", "WebSocket transport; the suite connects over plain TCP"),
];

/// Why no scenario can test `id`, if the catalogue says so.
pub fn not_testable_reason(id: StatementId) -> Option<&'static str> {
    NOT_TESTABLE.iter().find(|(v, s, _)| *v == id.version && *s == id.id).map(|(_, _, reason)| *reason)
}

/// The statements [`NOT_TESTABLE`] names, version-qualified (for checks that
/// every entry is a real statement).
pub fn not_testable_statements() -> Vec<(Version, &'static str)> {
    NOT_TESTABLE.iter().map(|(v, s, _)| (*v, *s)).collect()
}

/// The scenarios tagged with `id`, in catalogue order.
pub fn scenarios_for(id: StatementId) -> Vec<&'static str> {
    scenarios::all().into_iter().filter(|s| s.statements(id.version).contains(&id)).map(|s| s.name).collect()
}

/// docs/conformance.md's generated part: per version, every server-side
/// statement with its level, summary, and scenarios or the reason none can
/// test it.
pub fn statement_table() -> String {
    let mut out = String::new();
    for version in Version::ALL {
        let (covered, total) = scenarios::coverage(version);
        out.push_str(&format!(
            "## MQTT {version}\n\n{covered} of {total} server-side MUST / MUST NOT statements ({:.1}%) have at least one scenario.\n\n",
            covered as f64 * 100.0 / total as f64
        ));
        out.push_str("| statement | level | summary | scenarios |\n|---|---|---|---|\n");
        for s in version.statements().iter().filter(|s| s.actor.binds_server()) {
            let names = scenarios_for(s.id);
            let tested = if !names.is_empty() {
                names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
            } else if let Some(reason) = not_testable_reason(s.id) {
                format!("not testable from outside: {reason}")
            } else {
                "no scenario yet".to_string()
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                s.id,
                s.level.as_str(),
                s.summary.replace('|', "\\|"),
                tested.replace('|', "\\|")
            ));
        }
        out.push('\n');
    }
    out
}
