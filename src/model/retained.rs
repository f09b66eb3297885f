//! The retained-message store: one message per topic, shared by 3.1.1 and
//! 5.0 clients, bounded by `max_retained_messages`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::session::Message;
use crate::codec::TopicFilter;

/// What storing a retained message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetainOutcome {
    /// Stored (new topic or replacement).
    Stored,
    /// The empty payload cleared the topic.
    Cleared,
    /// The store is full and the topic is new: not retained.
    Full,
}

/// Retained messages by topic name, iterated in topic order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Retained {
    messages: BTreeMap<String, Message>,
}

impl Retained {
    /// Stores, replaces or (for an empty payload) clears the topic's message.
    pub fn store(&mut self, message: &Message, limit: usize) -> RetainOutcome {
        let topic = message.topic.as_str().to_string();
        if message.payload.is_empty() {
            self.messages.remove(&topic);
            return RetainOutcome::Cleared;
        }
        if !self.messages.contains_key(&topic) && self.messages.len() >= limit {
            return RetainOutcome::Full;
        }
        self.messages.insert(topic, message.clone());
        RetainOutcome::Stored
    }

    /// Retained messages matching `filter` that have not expired at `now`.
    pub fn matching(&self, filter: &TopicFilter, now: Duration) -> Vec<Message> {
        self.messages.values().filter(|m| filter.matches(&m.topic) && !m.expired(now)).cloned().collect()
    }

    /// Retained messages whose topic satisfies `matches` that have not expired at `now`.
    pub(crate) fn matching_by(&self, matches: impl Fn(&str) -> bool, now: Duration) -> Vec<Message> {
        self.messages.values().filter(|m| matches(m.topic.as_str()) && !m.expired(now)).cloned().collect()
    }

    /// Drops expired messages.
    pub fn prune(&mut self, now: Duration) {
        self.messages.retain(|_, m| !m.expired(now));
    }

    /// Number of retained messages.
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The message retained for `topic`, if any.
    pub fn get(&self, topic: &str) -> Option<&Message> {
        self.messages.get(topic)
    }
}
