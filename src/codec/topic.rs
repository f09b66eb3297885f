//! Topic names and topic filters: validation (section 4.7) and matching.
//!
//! A [`TopicName`] never holds a wildcard; a [`TopicFilter`] holds `+` and `#`
//! only where the specification allows them. Both hold UTF-8 without U+0000
//! (the string rules are enforced when the bytes are decoded).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::spec::Version;

/// Why a string is not a valid topic name or filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TopicError {
    /// A topic filter must be at least one character long.
    #[error("a topic filter must not be empty")]
    EmptyFilter,
    /// A topic name holds `+` or `#`.
    #[error("a topic name must not contain the wildcard characters + or #")]
    WildcardInName,
    /// `#` that is not alone in the last level.
    #[error("# must be the last character and stand alone in its level")]
    MisplacedMultiLevelWildcard,
    /// `+` that does not occupy a whole level.
    #[error("+ must occupy a whole topic level")]
    MisplacedSingleLevelWildcard,
    /// U+0000 inside the topic.
    #[error("a topic must not contain U+0000")]
    NullCharacter,
    /// A `$share/` filter with an empty or invalid share name, or no filter.
    #[error("a shared subscription needs a share name without wildcards or / and a topic filter")]
    InvalidSharedSubscription,
}

/// A topic name, as carried in PUBLISH and in a will. It may be empty only in
/// a 5.0 PUBLISH that uses a topic alias; [`TopicName::new`] allows the empty
/// string for that reason, and the decoder decides whether empty is allowed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TopicName(String);

impl TopicName {
    /// Validates a topic name: no `+`, `#` or U+0000.
    pub fn new(name: impl Into<String>) -> Result<TopicName, TopicError> {
        let name = name.into();
        if name.contains(['+', '#']) {
            return Err(TopicError::WildcardInName);
        }
        if name.contains('\0') {
            return Err(TopicError::NullCharacter);
        }
        Ok(TopicName(name))
    }

    /// A topic name the caller has already checked (the decoder, which
    /// locates the offending byte itself): no `+`, `#` or U+0000.
    pub(crate) fn from_checked(name: &str) -> TopicName {
        debug_assert!(TopicName::new(name).is_ok(), "{name:?} was not checked");
        TopicName(name.to_owned())
    }

    /// The topic as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the name is empty (5.0 topic alias in use).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the name starts with `$` (a server topic such as `$SYS/...`).
    pub fn is_dollar(&self) -> bool {
        self.0.starts_with('$')
    }
}

impl TryFrom<String> for TopicName {
    type Error = TopicError;
    fn try_from(value: String) -> Result<TopicName, TopicError> {
        TopicName::new(value)
    }
}

impl From<TopicName> for String {
    fn from(value: TopicName) -> String {
        value.0
    }
}

impl fmt::Display for TopicName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A topic filter, as carried in SUBSCRIBE and UNSUBSCRIBE, possibly a 5.0
/// shared subscription (`$share/{ShareName}/{filter}`).
///
/// The filter remembers whether it is a shared subscription: 3.1.1 has none,
/// so a `$share/g/a` filter made by [`TopicFilter::new_v3`] is an ordinary
/// filter that matches the topic `$share/g/a`. Equality, ordering and hashing
/// look at the text only. The serde form is the text; reading it back makes
/// a shared subscription of every filter valid as one in 5.0.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TopicFilter {
    text: String,
    shared: bool,
}

impl TopicFilter {
    /// Validates a filter by the 5.0 rules: non-empty, `#` only as the whole
    /// last level, `+` only as a whole level, no U+0000, and for `$share/` a
    /// valid share name followed by a valid filter (the share name is checked
    /// first, so `$share/a+/b` is a bad share name).
    pub fn new(filter: impl Into<String>) -> Result<TopicFilter, TopicError> {
        let text = filter.into();
        let shared = validate_v5(&text)?;
        Ok(TopicFilter { text, shared })
    }

    /// Validates a filter by the 3.1.1 rules: the wildcard placement and
    /// U+0000 rules only. 3.1.1 has no shared subscriptions, so `$share/...`
    /// is an ordinary filter.
    pub fn new_v3(filter: impl Into<String>) -> Result<TopicFilter, TopicError> {
        let text = filter.into();
        validate_filter(&text)?;
        Ok(TopicFilter { text, shared: false })
    }

    /// Validates a filter by the rules of `version` ([`TopicFilter::new_v3`]
    /// or [`TopicFilter::new`]).
    pub fn for_version(filter: impl Into<String>, version: Version) -> Result<TopicFilter, TopicError> {
        match version {
            Version::V3_1_1 => TopicFilter::new_v3(filter),
            Version::V5 => TopicFilter::new(filter),
        }
    }

    /// The filter as a string.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether the filter holds `+` or `#`.
    pub fn has_wildcard(&self) -> bool {
        self.text.contains(['+', '#'])
    }

    /// For a 5.0 shared subscription `$share/{group}/{filter}`: the group and
    /// the inner filter.
    pub fn shared(&self) -> Option<(&str, &str)> {
        if !self.shared {
            return None;
        }
        self.text.strip_prefix("$share/")?.split_once('/')
    }

    /// The filter that topics are matched against: the inner filter of a
    /// shared subscription, or the whole filter.
    pub fn matching_part(&self) -> &str {
        self.shared().map_or(&self.text, |(_, inner)| inner)
    }

    /// Whether `topic` matches this filter (section 4.7), including the rule
    /// that a filter starting with a wildcard does not match a `$` topic.
    pub fn matches(&self, topic: &TopicName) -> bool {
        filter_matches(self.matching_part(), topic.as_str())
    }
}

impl PartialEq for TopicFilter {
    fn eq(&self, other: &TopicFilter) -> bool {
        self.text == other.text
    }
}

impl Eq for TopicFilter {}

impl PartialOrd for TopicFilter {
    fn partial_cmp(&self, other: &TopicFilter) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for TopicFilter {
    fn cmp(&self, other: &TopicFilter) -> std::cmp::Ordering {
        self.text.cmp(&other.text)
    }
}

impl std::hash::Hash for TopicFilter {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl fmt::Debug for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TopicFilter").field(&self.text).finish()
    }
}

/// Accepts every filter valid in either version: by the 5.0 rules when it
/// passes them (so `$share/g/a` is shared), else by the 3.1.1 rules.
impl TryFrom<String> for TopicFilter {
    type Error = TopicError;
    fn try_from(value: String) -> Result<TopicFilter, TopicError> {
        match validate_v5(&value) {
            Ok(shared) => Ok(TopicFilter { text: value, shared }),
            Err(_) => TopicFilter::new_v3(value),
        }
    }
}

impl From<TopicFilter> for String {
    fn from(value: TopicFilter) -> String {
        value.text
    }
}

impl fmt::Display for TopicFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// The 5.0 rules: whether the filter is a shared subscription, or why it is
/// invalid.
fn validate_v5(filter: &str) -> Result<bool, TopicError> {
    if let Some(rest) = filter.strip_prefix("$share/") {
        if filter.contains('\0') {
            return Err(TopicError::NullCharacter);
        }
        let (share, inner) = rest.split_once('/').ok_or(TopicError::InvalidSharedSubscription)?;
        if share.is_empty() || share.contains(['+', '#']) || inner.is_empty() {
            return Err(TopicError::InvalidSharedSubscription);
        }
        validate_filter(inner)?;
        Ok(true)
    } else if filter == "$share" {
        Err(TopicError::InvalidSharedSubscription)
    } else {
        validate_filter(filter)?;
        Ok(false)
    }
}

fn validate_filter(filter: &str) -> Result<(), TopicError> {
    if filter.is_empty() {
        return Err(TopicError::EmptyFilter);
    }
    if filter.contains('\0') {
        return Err(TopicError::NullCharacter);
    }
    // One pass over the bytes, level by level: a level holding `#` must be
    // exactly `#` and the last one; a level holding `+` must be exactly `+`
    // (checked in that order, level by level, so the first bad level decides).
    let bytes = filter.as_bytes();
    let (mut hash, mut plus, mut len) = (false, false, 0usize);
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'/' {
            level_wildcards(hash, plus, len, false)?;
            (hash, plus, len) = (false, false, 0);
        } else {
            hash |= b == b'#';
            plus |= b == b'+';
            len += 1;
        }
        if i + 1 == bytes.len() {
            level_wildcards(hash, plus, len, true)?;
        }
    }
    Ok(())
}

/// Checks one level of a filter: `len` bytes, whether it holds `#` or `+`,
/// and whether it is the `last` level.
fn level_wildcards(hash: bool, plus: bool, len: usize, last: bool) -> Result<(), TopicError> {
    if hash && (len != 1 || !last) {
        return Err(TopicError::MisplacedMultiLevelWildcard);
    }
    if plus && len != 1 {
        return Err(TopicError::MisplacedSingleLevelWildcard);
    }
    Ok(())
}

/// Whether a plain (non-shared) filter matches a topic name.
///
/// Compares level by level on the bytes (`/` is ASCII, so it never occurs
/// inside a multi-byte character); routing and the history checks call this
/// hundreds of thousands of times per explored seed.
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    let (f, t) = (filter.as_bytes(), topic.as_bytes());
    if t.first() == Some(&b'$') && matches!(f.first(), Some(b'+' | b'#')) {
        return false;
    }
    let level_end = |s: &[u8], from: usize| s[from..].iter().position(|&b| b == b'/').map_or(s.len(), |p| from + p);
    let (mut i, mut j) = (0, 0);
    loop {
        let fe = level_end(f, i);
        let level = &f[i..fe];
        if level == b"#" {
            return true;
        }
        let te = level_end(t, j);
        if level != b"+" && level != &t[j..te] {
            return false;
        }
        match (fe < f.len(), te < t.len()) {
            (true, true) => (i, j) = (fe + 1, te + 1),
            (false, false) => return true,
            // The topic ended: only a last `#` level still matches (it
            // matches its parent level too).
            (true, false) => return &f[fe + 1..] == b"#",
            (false, true) => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> TopicName {
        TopicName::new(s).unwrap()
    }

    /// The byte matcher agrees with a plain level-by-level reading of the
    /// rules for every filter and topic of up to five characters over
    /// `a b / + # $` (names without wildcards).
    #[test]
    fn filter_matching_agrees_with_the_level_by_level_rules() {
        fn by_levels(filter: &str, topic: &str) -> bool {
            if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
                return false;
            }
            let (mut f, mut t) = (filter.split('/'), topic.split('/'));
            loop {
                match (f.next(), t.next()) {
                    (Some("#"), _) => return true,
                    (Some("+"), Some(_)) => {}
                    (Some(fl), Some(tl)) if fl == tl => {}
                    (None, None) => return true,
                    _ => return false,
                }
            }
        }
        fn strings(alphabet: &[char], max: usize) -> Vec<String> {
            let mut out = vec![String::new()];
            let mut last = vec![String::new()];
            for _ in 0..max {
                last = last.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
                out.extend(last.iter().cloned());
            }
            out
        }
        let filters: Vec<String> = strings(&['a', '/', '+', '#', '$'], 5)
            .into_iter()
            .filter(|f| TopicFilter::new(f.as_str()).is_ok())
            .collect();
        let topics: Vec<String> =
            strings(&['a', 'b', '/', '$'], 5).into_iter().filter(|t| TopicName::new(t.as_str()).is_ok()).collect();
        let mut matched = 0;
        for filter in &filters {
            for topic in &topics {
                let expected = by_levels(filter, topic);
                assert_eq!(filter_matches(filter, topic), expected, "{filter} vs {topic}");
                matched += usize::from(expected);
            }
        }
        assert!(matched > 1000 && filters.len() > 100 && topics.len() > 100, "{matched}");
    }

    /// Filters follow the wildcard placement rules of section 4.7.1.
    #[test]
    fn filter_validation_follows_wildcard_rules() {
        for ok in ["#", "+", "a/#", "a/+/b", "+/+", "/", "a//b", "$share/g/a/#", "sport/tennis/#"] {
            assert!(TopicFilter::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a#", "a/#/b", "a+", "a/b+", "#/a", "$share/g", "$share//a", "$share/g+/a", "$share"] {
            assert!(TopicFilter::new(bad).is_err(), "{bad}");
        }
        assert_eq!(TopicName::new("a/+"), Err(TopicError::WildcardInName));
    }

    /// The byte scan of `validate_filter` gives the same verdict as reading
    /// the rules level by level, for every string of up to five characters
    /// over `a / + #`.
    #[test]
    fn filter_validation_matches_the_level_by_level_rules() {
        fn by_levels(filter: &str) -> Result<(), TopicError> {
            if filter.is_empty() {
                return Err(TopicError::EmptyFilter);
            }
            let levels: Vec<&str> = filter.split('/').collect();
            for (i, level) in levels.iter().enumerate() {
                if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
                    return Err(TopicError::MisplacedMultiLevelWildcard);
                }
                if level.contains('+') && *level != "+" {
                    return Err(TopicError::MisplacedSingleLevelWildcard);
                }
            }
            Ok(())
        }
        let mut filters = vec![String::new()];
        let mut checked = 0;
        for _ in 0..6 {
            let mut longer = Vec::new();
            for filter in &filters {
                assert_eq!(validate_filter(filter), by_levels(filter), "{filter:?}");
                checked += 1;
                for c in ['a', '/', '+', '#'] {
                    longer.push(format!("{filter}{c}"));
                }
            }
            filters = longer;
        }
        assert_eq!(checked, 1 + 4 + 16 + 64 + 256 + 1024);
    }

    /// 3.1.1 has no shared subscriptions: a `$share/` filter only follows the wildcard rules there.
    #[test]
    fn v3_filters_treat_share_as_an_ordinary_level() {
        for ok in ["$share/g", "$share", "$share//a", "$share/+/a"] {
            assert!(TopicFilter::new_v3(ok).is_ok(), "{ok}");
            assert!(TopicFilter::for_version(ok, Version::V5).is_err(), "{ok}");
            assert_eq!(TopicFilter::try_from(ok.to_owned()).unwrap().as_str(), ok, "serde reads {ok} back");
        }
        let v3 = TopicFilter::new_v3("$share/g/a").unwrap();
        assert_eq!(v3.shared(), None);
        assert!(v3.matches(&name("$share/g/a")));
        assert!(!v3.matches(&name("a")));
        let v5 = TopicFilter::new("$share/g/a").unwrap();
        assert_eq!(v5.shared(), Some(("g", "a")));
        assert!(v5.matches(&name("a")));
        assert_eq!(v3, v5, "equality looks at the text");
        assert_eq!(TopicFilter::new_v3("a/b#"), Err(TopicError::MisplacedMultiLevelWildcard));
        assert_eq!(TopicFilter::new_v3(""), Err(TopicError::EmptyFilter));
    }

    /// In 5.0 the share name is judged before the wildcards, and the inner filter after it.
    #[test]
    fn shared_filters_check_the_share_name_first() {
        assert_eq!(TopicFilter::new("$share/g+/a"), Err(TopicError::InvalidSharedSubscription));
        assert_eq!(TopicFilter::new("$share/#/a"), Err(TopicError::InvalidSharedSubscription));
        assert_eq!(TopicFilter::new("$share/g/a#"), Err(TopicError::MisplacedMultiLevelWildcard));
        assert_eq!(TopicFilter::new("$share/g/a+"), Err(TopicError::MisplacedSingleLevelWildcard));
        assert_eq!(TopicFilter::new("$share/g\0/a"), Err(TopicError::NullCharacter));
        assert!(TopicFilter::new("$share/g/+/b/#").is_ok());
    }

    /// Matching follows section 4.7, including `#` matching the parent level and `$` topics.
    #[test]
    fn matching_follows_section_4_7() {
        let cases = [
            ("sport/tennis/player1/#", "sport/tennis/player1", true),
            ("sport/tennis/player1/#", "sport/tennis/player1/ranking", true),
            ("sport/#", "sport", true),
            ("sport/+", "sport", false),
            ("sport/+", "sport/", true),
            ("+/+", "/finance", true),
            ("/+", "/finance", true),
            ("+", "/finance", false),
            ("#", "$SYS/x", false),
            ("+/monitor/Clients", "$SYS/monitor/Clients", false),
            ("$SYS/#", "$SYS/monitor/Clients", true),
            ("$SYS/monitor/+", "$SYS/monitor/Clients", true),
            ("a/b", "a/b", true),
            ("a/b", "a/b/c", false),
        ];
        for (filter, topic, expected) in cases {
            assert_eq!(TopicFilter::new(filter).unwrap().matches(&name(topic)), expected, "{filter} vs {topic}");
        }
        let shared = TopicFilter::new("$share/g/sport/#").unwrap();
        assert_eq!(shared.shared(), Some(("g", "sport/#")));
        assert!(shared.matches(&name("sport/x")));
    }
}
