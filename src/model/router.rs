//! Subscription matching: which sessions get a copy of a message, at which
//! QoS, with which subscription identifiers and RETAIN flag. One store of
//! subscriptions (inside the sessions) serves 3.1.1 and 5.0 clients alike.

use std::collections::BTreeMap;

use super::config::OverlapPolicy;
use super::defects::{matches_ignoring_dollar_rule, Defects};
use super::session::{Delivery, Message, Session, SubscriptionEntry};
use crate::codec::Qos;
use crate::spec::Version;

/// The outcome of routing one message.
#[derive(Debug, Default)]
pub struct Routing {
    /// (client id, delivery), in client id order; shared groups' picks follow.
    pub deliveries: Vec<(String, Delivery)>,
    /// Subscriptions skipped because of No Local.
    pub no_local_skips: usize,
    /// Sessions that matched more than one subscription.
    pub overlapping: usize,
    /// Versions of sessions whose wildcard-leading filters did not match
    /// because the topic starts with `$`.
    pub dollar_guarded: Vec<Version>,
    /// Whether a shared group received the message.
    pub shared: bool,
}

/// Routes `message` to every matching subscription.
///
/// `online` says whether a client id is connected: a shared group prefers
/// connected members, chosen round-robin with `cursors` (per shared filter).
/// `defects` may break the `$` rule and the QoS of overlapping subscriptions.
pub fn route(
    sessions: &BTreeMap<String, Session>,
    online: &dyn Fn(&str) -> bool,
    message: &Message,
    policy: OverlapPolicy,
    cursors: &mut BTreeMap<String, usize>,
    defects: Defects,
) -> Routing {
    let mut routing = Routing::default();
    let mut groups: BTreeMap<String, Vec<(&Session, &SubscriptionEntry)>> = BTreeMap::new();
    for session in sessions.values() {
        let mut matched: Vec<&SubscriptionEntry> = Vec::new();
        for entry in session.subscriptions.values() {
            let filter = entry.filter.matching_part();
            if defects.dollar_topics_match_wildcards {
                // Defect: the `$` rule is skipped (and not cited).
                if !matches_ignoring_dollar_rule(filter, message.topic.as_str()) {
                    continue;
                }
            } else {
                if message.topic.is_dollar() && (filter.starts_with('+') || filter.starts_with('#')) {
                    if !routing.dollar_guarded.contains(&session.version) {
                        routing.dollar_guarded.push(session.version);
                    }
                    continue;
                }
                if !entry.filter.matches(&message.topic) {
                    continue;
                }
            }
            if entry.filter.shared().is_some() {
                groups.entry(entry.filter.as_str().to_string()).or_default().push((session, entry));
                continue;
            }
            if entry.options.no_local && message.publisher.as_deref() == Some(session.client_id.as_str()) {
                routing.no_local_skips += 1;
                continue;
            }
            matched.push(entry);
        }
        if matched.len() > 1 {
            routing.overlapping += 1;
        }
        match policy {
            OverlapPolicy::SingleMaxQos => {
                if matched.is_empty() {
                    continue;
                }
                let granted = if defects.downgrade_overlapping_qos {
                    // Defect: the lowest granted QoS instead of the highest.
                    matched.iter().map(|e| e.options.qos).min()
                } else {
                    matched.iter().map(|e| e.options.qos).max()
                }
                .unwrap_or(Qos::AtMostOnce);
                let retain = message.retain && matched.iter().any(|e| e.options.retain_as_published);
                let ids = matched.iter().filter_map(|e| e.identifier).collect();
                routing.deliveries.push((session.client_id.clone(), delivery(message, granted, retain, ids, false)));
            }
            OverlapPolicy::PerSubscription => {
                for e in matched {
                    let retain = message.retain && e.options.retain_as_published;
                    let ids = e.identifier.into_iter().collect();
                    routing
                        .deliveries
                        .push((session.client_id.clone(), delivery(message, e.options.qos, retain, ids, false)));
                }
            }
        }
    }
    for (filter, members) in groups {
        let cursor = cursors.entry(filter).or_insert(0);
        let online_members: Vec<_> = members.iter().filter(|(s, _)| online(&s.client_id)).collect();
        let pool: Vec<_> = if online_members.is_empty() { members.iter().collect() } else { online_members };
        let (session, entry) = pool[*cursor % pool.len()];
        *cursor = cursor.wrapping_add(1);
        let retain = message.retain && entry.options.retain_as_published;
        let ids = entry.identifier.into_iter().collect();
        routing.shared = true;
        routing.deliveries.push((session.client_id.clone(), delivery(message, entry.options.qos, retain, ids, true)));
    }
    routing
}

fn delivery(message: &Message, granted: Qos, retain: bool, subscription_ids: Vec<u32>, shared: bool) -> Delivery {
    Delivery { message: message.clone(), qos: message.qos.min(granted), retain, subscription_ids, shared }
}
