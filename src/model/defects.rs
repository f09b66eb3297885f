//! [`Defects`]: deliberate defects for proving that tests can fail; never on
//! by default.
//!
//! Each switch breaks the model broker at exactly the decision point of the
//! correct behaviour (the code says `defects.NAME` there), leaves everything
//! else as it is, and stops the citation of the statement it breaks at that
//! point. The conformance suite must catch defects 1 to 8 on the right
//! statement (sim-tests/defects.rs); 9 to 11 are subtler ones for the
//! exploration work (model tests in src/model/tests/defects.rs).

use serde::{Deserialize, Serialize};

use crate::codec::{filter_matches, DecodeError, DecodeErrorKind, PacketType};

/// Deliberate defects for proving that tests can fail; never on by default.
/// Every field is off unless set (`[defects]` in the broker's TOML).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Defects {
    /// Defect 1: Retained messages are not sent on subscribe, whatever the Retain
    /// Handling (breaks 3.1.1 MQTT-3.3.1-6, 5.0 MQTT-3.3.1-9).
    pub no_retained_delivery: bool,
    /// Defect 2: The will is published even on a normal DISCONNECT (5.0 reason
    /// 0x00; every 3.1.1 DISCONNECT) (breaks MQTT-3.14.4-3).
    pub will_on_normal_disconnect: bool,
    /// Defect 3: With overlapping subscriptions (one copy per session), the message
    /// goes at the LOWEST granted QoS instead of the highest (breaks 3.1.1
    /// MQTT-3.3.5-1, 5.0 MQTT-3.3.4-2). No effect with
    /// `overlap = per_subscription`.
    pub downgrade_overlapping_qos: bool,
    /// Defect 4: A PUBLISH resent on session resume has DUP 0 (breaks MQTT-3.3.1-1).
    pub no_dup_on_resend: bool,
    /// Defect 5: The close after 1.5 × keep-alive of silence never happens (breaks
    /// 3.1.1 MQTT-3.1.2-24, 5.0 MQTT-3.1.2-22).
    pub keep_alive_not_enforced: bool,
    /// Defect 6: Filters starting with `#` or `+` match topics starting with `$`,
    /// both in routing and for retained messages on subscribe (breaks
    /// MQTT-4.7.2-1).
    pub dollar_topics_match_wildcards: bool,
    /// Defect 7: A PUBLISH whose topic name is ill-formed UTF-8 is accepted: the
    /// codec still rejects it, and the broker's decode-error handling
    /// replaces each bad byte with `?` and decodes again instead of closing
    /// (breaks 3.1.1 MQTT-1.5.3-1, 5.0 MQTT-1.5.4-1).
    pub accept_malformed_utf8: bool,
    /// Defect 8: The Topic Alias of an incoming 5.0 PUBLISH is ignored: it is
    /// neither recorded nor resolved (values 0 and above the maximum are
    /// still refused). A PUBLISH with a topic is routed by its topic; one
    /// with an empty topic and an alias is dropped silently (not routed,
    /// not acknowledged, no close) (breaks 5.0 MQTT-3.3.2-12, and
    /// MQTT-3.3.2-7 where an unknown alias must close).
    pub ignore_topic_alias: bool,
    /// Defect 9: On session takeover the outgoing inflight window (QoS 1/2 messages
    /// sent and not acknowledged, PUBRELs awaiting PUBCOMP) is cleared: the
    /// messages are lost instead of resent.
    pub forget_inflight_on_takeover: bool,
    /// Defect 10: On session resume, PUBREL is not resent for QoS 2 messages
    /// awaiting PUBCOMP (unacknowledged PUBLISH packets still are).
    pub no_pubrel_resend: bool,
    /// Defect 11: Retained messages are delivered twice on subscribe.
    pub duplicate_retained_delivery: bool,
}

impl Defects {
    /// Every defect off (the default).
    pub const NONE: Defects = Defects {
        no_retained_delivery: false,
        will_on_normal_disconnect: false,
        downgrade_overlapping_qos: false,
        no_dup_on_resend: false,
        keep_alive_not_enforced: false,
        dollar_topics_match_wildcards: false,
        accept_malformed_utf8: false,
        ignore_topic_alias: false,
        forget_inflight_on_takeover: false,
        no_pubrel_resend: false,
        duplicate_retained_delivery: false,
    };

    /// The name of every defect, in order, as in the TOML.
    pub const NAMES: [&'static str; 11] = [
        "no_retained_delivery",
        "will_on_normal_disconnect",
        "downgrade_overlapping_qos",
        "no_dup_on_resend",
        "keep_alive_not_enforced",
        "dollar_topics_match_wildcards",
        "accept_malformed_utf8",
        "ignore_topic_alias",
        "forget_inflight_on_takeover",
        "no_pubrel_resend",
        "duplicate_retained_delivery",
    ];

    /// Only the defect called `name` (one of [`Defects::NAMES`]) switched on.
    pub fn only(name: &str) -> Option<Defects> {
        let mut d = Defects::NONE;
        let flag = match name {
            "no_retained_delivery" => &mut d.no_retained_delivery,
            "will_on_normal_disconnect" => &mut d.will_on_normal_disconnect,
            "downgrade_overlapping_qos" => &mut d.downgrade_overlapping_qos,
            "no_dup_on_resend" => &mut d.no_dup_on_resend,
            "keep_alive_not_enforced" => &mut d.keep_alive_not_enforced,
            "dollar_topics_match_wildcards" => &mut d.dollar_topics_match_wildcards,
            "accept_malformed_utf8" => &mut d.accept_malformed_utf8,
            "ignore_topic_alias" => &mut d.ignore_topic_alias,
            "forget_inflight_on_takeover" => &mut d.forget_inflight_on_takeover,
            "no_pubrel_resend" => &mut d.no_pubrel_resend,
            "duplicate_retained_delivery" => &mut d.duplicate_retained_delivery,
            _ => return None,
        };
        *flag = true;
        Some(d)
    }

    /// Whether every defect is off.
    pub fn is_none(&self) -> bool {
        *self == Defects::NONE
    }
}

/// Whether `filter` matches `topic` with the `$` rule (MQTT-4.7.2-1)
/// skipped, as `dollar_topics_match_wildcards` has it.
pub(crate) fn matches_ignoring_dollar_rule(filter: &str, topic: &str) -> bool {
    match topic.strip_prefix('$') {
        // The first level only has to match a leading wildcard, so any
        // character other than `$` stands in for it.
        Some(rest) if filter.starts_with('+') || filter.starts_with('#') => filter_matches(filter, &format!("_{rest}")),
        _ => filter_matches(filter, topic),
    }
}

/// For `accept_malformed_utf8`: if `err` is ill-formed UTF-8 in the topic
/// name of the PUBLISH at the start of `frame`, replaces each bad byte of
/// the topic with `?` (lengths unchanged) and returns true, so that the
/// caller decodes the frame again. The codec is not weakened.
pub(crate) fn repair_topic_utf8(frame: &mut [u8], err: &DecodeError) -> bool {
    if err.packet != Some(PacketType::Publish) || err.kind != (DecodeErrorKind::InvalidUtf8 { field: "topic name" }) {
        return false;
    }
    // Fixed header: the type byte, then a variable byte integer.
    let mut at = 1;
    loop {
        let Some(&b) = frame.get(at) else { return false };
        at += 1;
        if b & 0x80 == 0 || at > 4 {
            break;
        }
    }
    let Some(len) = frame.get(at..at + 2).map(|l| usize::from(u16::from_be_bytes([l[0], l[1]]))) else {
        return false;
    };
    let Some(topic) = frame.get_mut(at + 2..at + 2 + len) else { return false };
    let mut repaired = false;
    while let Err(e) = std::str::from_utf8(topic) {
        let start = e.valid_up_to();
        let bad = e.error_len().unwrap_or(topic.len() - start);
        topic[start..start + bad].fill(b'?');
        repaired = true;
    }
    repaired
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name selects exactly its own defect, and none is on by default.
    #[test]
    fn each_name_switches_on_one_defect() {
        assert!(Defects::default().is_none());
        for name in Defects::NAMES {
            let d = Defects::only(name).expect("a known name");
            assert!(!d.is_none(), "{name}");
            let parsed: Defects = toml::from_str(&format!("{name} = true")).expect("parses");
            assert_eq!(parsed, d, "{name}");
        }
        assert!(Defects::only("nonsense").is_none());
    }

    /// The `$` rule is skipped only for filters starting with a wildcard.
    #[test]
    fn dollar_rule_skipped() {
        assert!(!filter_matches("#", "$SYS/a"));
        assert!(matches_ignoring_dollar_rule("#", "$SYS/a"));
        assert!(matches_ignoring_dollar_rule("+/a", "$SYS/a"));
        assert!(!matches_ignoring_dollar_rule("+/b", "$SYS/a"));
        assert!(matches_ignoring_dollar_rule("$SYS/#", "$SYS/a"));
        assert!(matches_ignoring_dollar_rule("a/+", "a/b"));
    }
}
