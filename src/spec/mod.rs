//! The statement catalogue: every normative statement of MQTT 3.1.1 (141) and
//! MQTT 5.0 (251), each version-qualified, with the actor it binds, its level,
//! its section and a one-line summary in our own words.
//!
//! Owns: [`StatementId`], [`Statement`], the tables generated at build time from
//! `src/spec/mqtt-3.1.1.tsv` and `src/spec/mqtt-5.0.tsv`, and the named constants
//! in [`v3_1_1`] and [`v5`] used for citations (a typo in a citation does not
//! compile).
//!
//! Must not touch: anything else in the crate. This module has no dependencies,
//! so every layer can cite statements.

use std::fmt;

/// An MQTT protocol version that mqttsim speaks.
///
/// The same statement ID means different things in 3.1.1 and 5.0, so every
/// statement reference carries its version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Version {
    /// MQTT 3.1.1 (protocol level 4).
    #[serde(rename = "3.1.1")]
    V3_1_1,
    /// MQTT 5.0 (protocol level 5).
    #[serde(rename = "5.0")]
    V5,
}

impl Version {
    /// Both versions, oldest first.
    pub const ALL: [Version; 2] = [Version::V3_1_1, Version::V5];

    /// The protocol level byte carried in CONNECT.
    pub const fn protocol_level(self) -> u8 {
        match self {
            Version::V3_1_1 => 4,
            Version::V5 => 5,
        }
    }

    /// The version for a CONNECT protocol level byte, if mqttsim speaks it.
    pub const fn from_protocol_level(level: u8) -> Option<Version> {
        match level {
            4 => Some(Version::V3_1_1),
            5 => Some(Version::V5),
            _ => None,
        }
    }

    /// The short name used on the command line and in reports: `3.1.1` or `5.0`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Version::V3_1_1 => "3.1.1",
            Version::V5 => "5.0",
        }
    }

    /// Parses `3.1.1`, `311`, `4`, `5`, `5.0` or `50`.
    pub fn parse(text: &str) -> Option<Version> {
        match text.trim() {
            "3.1.1" | "311" | "4" | "v3.1.1" => Some(Version::V3_1_1),
            "5" | "5.0" | "50" | "v5" => Some(Version::V5),
            _ => None,
        }
    }

    /// Every statement of this version, in specification order.
    pub fn statements(self) -> &'static [Statement] {
        match self {
            Version::V3_1_1 => V3_1_1_TABLE,
            Version::V5 => V5_TABLE,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A version-qualified normative statement ID, such as 5.0 `MQTT-1.5.4-1`.
///
/// Displays as `5.0/MQTT-1.5.4-1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatementId {
    /// The specification the ID belongs to.
    pub version: Version,
    /// The ID as printed in the specification, e.g. `MQTT-1.5.4-1`.
    pub id: &'static str,
}

impl StatementId {
    /// The catalogue entry for this ID.
    pub fn statement(self) -> &'static Statement {
        lookup(self.version, self.id).expect("StatementId values are only built from the catalogue")
    }

    /// The one-line summary of the statement.
    pub fn summary(self) -> &'static str {
        self.statement().summary
    }
}

impl fmt::Display for StatementId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.version, self.id)
    }
}

impl serde::Serialize for StatementId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for StatementId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_qualified(&text).ok_or_else(|| serde::de::Error::custom(format!("unknown statement {text:?}")))
    }
}

/// Who a statement binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    /// Binds the server.
    Server,
    /// Binds the client.
    Client,
    /// Binds whichever side sends or receives (encoding rules, both peers).
    Both,
}

impl Actor {
    /// `server`, `client` or `both`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Actor::Server => "server",
            Actor::Client => "client",
            Actor::Both => "both",
        }
    }

    /// Whether a statement with this actor binds the server.
    pub const fn binds_server(self) -> bool {
        matches!(self, Actor::Server | Actor::Both)
    }

    /// Whether a statement with this actor binds the client.
    pub const fn binds_client(self) -> bool {
        matches!(self, Actor::Client | Actor::Both)
    }
}

/// The requirement level of a statement (RFC 2119 keyword).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub enum Level {
    /// MUST.
    #[serde(rename = "MUST")]
    Must,
    /// MUST NOT.
    #[serde(rename = "MUST NOT")]
    MustNot,
    /// SHOULD.
    #[serde(rename = "SHOULD")]
    Should,
    /// SHOULD NOT.
    #[serde(rename = "SHOULD NOT")]
    ShouldNot,
    /// MAY.
    #[serde(rename = "MAY")]
    May,
}

impl Level {
    /// The keyword as written in the specification.
    pub const fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::MustNot => "MUST NOT",
            Level::Should => "SHOULD",
            Level::ShouldNot => "SHOULD NOT",
            Level::May => "MAY",
        }
    }

    /// MUST or MUST NOT.
    pub const fn is_mandatory(self) -> bool {
        matches!(self, Level::Must | Level::MustNot)
    }
}

/// One catalogue entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Statement {
    /// The version-qualified ID.
    pub id: StatementId,
    /// Who the statement binds.
    pub actor: Actor,
    /// Its keyword.
    pub level: Level,
    /// The specification section, e.g. `3.1.2`.
    pub section: &'static str,
    /// One line, in mqttsim's own words.
    pub summary: &'static str,
}

/// Finds a statement by version and ID (e.g. `MQTT-3.1.2-7`).
pub fn lookup(version: Version, id: &str) -> Option<&'static Statement> {
    version.statements().iter().find(|s| s.id.id == id)
}

/// Parses a version-qualified ID such as `5.0/MQTT-1.5.4-1` or `3.1.1/MQTT-2.2.2-1`.
pub fn parse_qualified(text: &str) -> Option<StatementId> {
    let (version, id) = text.split_once('/')?;
    lookup(Version::parse(version)?, id).map(|s| s.id)
}

include!(concat!(env!("OUT_DIR"), "/catalogue.rs"));

#[cfg(test)]
mod tests {
    use super::*;

    /// The catalogue holds 141 statements of 3.1.1 and 251 of 5.0, each ID once.
    #[test]
    fn catalogue_sizes_and_unique_ids() {
        assert_eq!(Version::V3_1_1.statements().len(), 141);
        assert_eq!(Version::V5.statements().len(), 251);
        for version in Version::ALL {
            let mut ids: Vec<_> = version.statements().iter().map(|s| s.id.id).collect();
            ids.sort_unstable();
            let before = ids.len();
            ids.dedup();
            assert_eq!(before, ids.len(), "duplicate IDs in {version}");
        }
    }

    /// Each statement's section is the one its ID names, and its summary is one non-empty line.
    #[test]
    fn sections_match_ids_and_summaries_are_single_lines() {
        for version in Version::ALL {
            for s in version.statements() {
                let rest = s.id.id.strip_prefix("MQTT-").expect("IDs start with MQTT-");
                let (section, _) = rest.rsplit_once('-').expect("IDs end in -N");
                assert_eq!(s.section, section, "{}", s.id);
                assert!(!s.summary.trim().is_empty(), "{}", s.id);
                assert!(!s.summary.contains('\n'), "{}", s.id);
            }
        }
    }

    /// The catalogue has exactly the IDs of the reference lists in `../shared/spec`, in order.
    #[test]
    fn catalogue_matches_the_reference_lists_when_present() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/spec");
        for (version, file) in
            [(Version::V3_1_1, "mqtt-3.1.1-statements.tsv"), (Version::V5, "mqtt-5.0-statements.tsv")]
        {
            let path = dir.join(file);
            let Ok(text) = std::fs::read_to_string(&path) else {
                eprintln!("skipped: {} is not present, so the catalogue was not compared", path.display());
                continue;
            };
            let reference: Vec<&str> =
                text.lines().skip(1).filter(|l| !l.trim().is_empty()).map(|l| l.split('\t').next().unwrap()).collect();
            let ours: Vec<&str> = version.statements().iter().map(|s| s.id.id).collect();
            let missing: Vec<_> = reference.iter().filter(|id| !ours.contains(id)).collect();
            let extra: Vec<_> = ours.iter().filter(|id| !reference.contains(id)).collect();
            assert!(missing.is_empty() && extra.is_empty(), "{version}: missing {missing:?}, extra {extra:?}");
            assert_eq!(ours, reference, "{version}: same IDs, different order");
        }
    }

    /// Qualified IDs round-trip through their text form, and versions are kept apart.
    #[test]
    fn qualified_ids_round_trip() {
        let id = v5::MQTT_1_5_4_1;
        assert_eq!(id.to_string(), "5.0/MQTT-1.5.4-1");
        assert_eq!(parse_qualified("5.0/MQTT-1.5.4-1"), Some(id));
        assert_eq!(parse_qualified("3.1.1/MQTT-1.5.3-1"), Some(v3_1_1::MQTT_1_5_3_1));
        assert_eq!(parse_qualified("3.1.1/MQTT-1.5.4-1"), None, "1.5.4-1 is not a 3.1.1 ID");
        assert_eq!(parse_qualified("MQTT-1.5.4-1"), None, "an unqualified ID is refused");
    }
}
