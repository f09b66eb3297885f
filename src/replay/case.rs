//! The case file: a header, the inputs (clients and the ordered steps) and
//! the expected observations, one JSON object per line (`docs/replay.md`).

use std::io::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::ReplayError;
use crate::codec::Qos;
use crate::spec::Version;

/// The `format` of the header line this module writes and reads.
pub const FORMAT: &str = "mqttsim-case/1";

/// The allowed variations every case states in its header.
pub const ALLOWED_VARIATIONS: [&str; 5] = [
    "overlap: a message matching several subscriptions of one session arrives once at the highest granted QoS, or once per matching subscription (each at its own QoS)",
    "qos0-offline: a QoS 0 message for an offline session may be dropped instead of queued",
    "qos1-duplicates: a QoS 1 message may arrive more than once",
    "unsuback-no-subscription: a 5.0 UNSUBACK may say 0x00 or 0x11 (no subscription existed) for a filter that was not subscribed",
    "packet-ids: the server picks its own packet identifiers; messages are compared by topic, payload, QoS and RETAIN",
];

/// The first line: what the case is and how it was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Header {
    /// [`FORMAT`].
    pub format: String,
    /// The seed the workload was drawn from.
    pub seed: u64,
    /// The generator's settings.
    pub generator: Generator,
    /// The MQTT versions the clients speak (`3.1.1`, `5.0`), sorted.
    pub versions: Vec<Version>,
    /// The allowed variations the replay accepts ([`ALLOWED_VARIATIONS`]).
    pub allowed_variations: Vec<String>,
    /// The mqttsim version that recorded the case.
    pub mqttsim_version: String,
}

/// How the workload was drawn and run against the model broker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generator {
    /// `explore` input model, standard profile, restricted to what a real
    /// server over TCP can reproduce (see `docs/replay.md`).
    pub input_model: String,
    /// The knobs the seed drew (`explore::Knobs`), as JSON.
    pub knobs: serde_json::Value,
    /// Simulated time between two steps in the model run, ms.
    pub spacing_ms: u64,
    /// The most steps kept.
    pub max_steps: usize,
    /// At most this many clients were kept, when limited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_clients: Option<usize>,
    /// Every client was made to speak this version, when forced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
}

/// A client's connect parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientInput {
    /// Its name in the case (`client-a`, ...); the replay derives a unique client id from it.
    pub name: String,
    /// The version it speaks.
    pub version: Version,
    /// Clean Session (3.1.1) / Clean Start (5.0).
    pub clean_start: bool,
    /// Keep Alive, seconds.
    pub keep_alive_secs: u16,
    /// Session Expiry Interval (5.0), seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_expiry_interval_secs: Option<u32>,
    /// Receive Maximum (5.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receive_maximum: Option<u16>,
    /// The will, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub will: Option<WillInput>,
}

/// A will (topic relative to the run's prefix).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WillInput {
    /// Topic.
    pub topic: String,
    /// Payload (UTF-8).
    pub payload: String,
    /// QoS.
    pub qos: Qos,
    /// RETAIN.
    pub retain: bool,
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Open a connection and send CONNECT.
    Connect,
    /// SUBSCRIBE to one filter (options: QoS only).
    Subscribe {
        /// The filter, relative to the run's prefix.
        filter: String,
        /// The maximum QoS asked for.
        qos: Qos,
    },
    /// UNSUBSCRIBE from one filter.
    Unsubscribe {
        /// The filter.
        filter: String,
    },
    /// PUBLISH and complete its flow.
    Publish {
        /// The topic, relative to the run's prefix.
        topic: String,
        /// The payload (UTF-8, unique within the case).
        payload: String,
        /// The QoS.
        qos: Qos,
        /// RETAIN.
        retain: bool,
    },
    /// Send DISCONNECT with `reason` (5.0; 3.1.1 sends a plain DISCONNECT)
    /// and close.
    Disconnect {
        /// The reason code; 0x04 keeps the will (5.0).
        reason: u8,
    },
    /// Drop the connection without DISCONNECT, then connect again once the
    /// server has seen the close.
    Close,
}

/// One step of the inputs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// Its position, from 0.
    pub step: usize,
    /// The client that acts.
    pub client: String,
    /// What it does.
    #[serde(flatten)]
    pub op: Op,
}

/// Where an expected message comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum Source {
    /// Forwarded live from a client's PUBLISH.
    Publish {
        /// The publisher.
        publisher: String,
        /// The step of the PUBLISH.
        publish_step: usize,
    },
    /// A retained message sent because of a SUBSCRIBE.
    Retained,
    /// A will.
    Will {
        /// Whose will.
        of: String,
    },
}

/// A message a client's application received in the model run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpectedDelivery {
    /// The step during which it arrived.
    pub step: usize,
    /// The receiver.
    pub client: String,
    /// Topic, relative to the run's prefix.
    pub topic: String,
    /// Payload.
    pub payload: String,
    /// QoS it arrived with.
    pub qos: Qos,
    /// RETAIN it arrived with.
    pub retain: bool,
    /// Where it comes from.
    #[serde(flatten)]
    pub source: Source,
    /// How many copies the overlap variation allows (subscriptions of the
    /// receiver's session matching the topic when it was published).
    pub max_copies: u32,
    /// Why the message may be missing (an allowed variation), if it may.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<String>,
}

/// One line of a case file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Line {
    /// The header (first line).
    Header(Header),
    /// A client's connect parameters.
    Client(ClientInput),
    /// A step.
    Step(Step),
    /// The CONNACK a step's connect got.
    Connack {
        /// The step (a connect or close).
        step: usize,
        /// The client.
        client: String,
        /// Session Present.
        session_present: bool,
        /// The reason code.
        reason_code: u8,
    },
    /// The SUBACK a subscribe step got.
    Suback {
        /// The step.
        step: usize,
        /// The client.
        client: String,
        /// The reason codes.
        reason_codes: Vec<u8>,
    },
    /// The UNSUBACK an unsubscribe step got (3.1.1: no codes).
    Unsuback {
        /// The step.
        step: usize,
        /// The client.
        client: String,
        /// The reason codes.
        reason_codes: Vec<u8>,
    },
    /// A message received.
    Delivery(ExpectedDelivery),
}

/// A whole case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The header.
    pub header: Header,
    /// The clients.
    pub clients: Vec<ClientInput>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// The expected CONNACKs, SUBACKs and UNSUBACKs, by step.
    pub acks: Vec<Line>,
    /// The expected deliveries, in the order the model saw them.
    pub deliveries: Vec<ExpectedDelivery>,
}

impl Case {
    /// The client named `name`.
    pub fn client(&self, name: &str) -> Option<&ClientInput> {
        self.clients.iter().find(|c| c.name == name)
    }

    /// The JSON-lines form: header, clients, steps, acknowledgements, deliveries.
    pub fn to_jsonl(&self) -> String {
        let mut lines = vec![Line::Header(self.header.clone())];
        lines.extend(self.clients.iter().cloned().map(Line::Client));
        lines.extend(self.steps.iter().cloned().map(Line::Step));
        lines.extend(self.acks.iter().cloned());
        lines.extend(self.deliveries.iter().cloned().map(Line::Delivery));
        lines.iter().map(|l| serde_json::to_string(l).expect("case lines serialize") + "\n").collect()
    }

    /// Reads the JSON-lines form; checks the format, that steps are numbered
    /// in order and that every line names a known client and step.
    pub fn from_jsonl(text: &str) -> Result<Case, ReplayError> {
        let bad = |line: usize, why: String| ReplayError::BadCase { line, why };
        let mut header = None;
        let mut case = Case {
            header: Header {
                format: String::new(),
                seed: 0,
                generator: Generator {
                    input_model: String::new(),
                    knobs: serde_json::Value::Null,
                    spacing_ms: 0,
                    max_steps: 0,
                    max_clients: None,
                    version: None,
                },
                versions: Vec::new(),
                allowed_variations: Vec::new(),
                mqttsim_version: String::new(),
            },
            clients: Vec::new(),
            steps: Vec::new(),
            acks: Vec::new(),
            deliveries: Vec::new(),
        };
        for (i, raw) in text.lines().enumerate() {
            let n = i + 1;
            if raw.trim().is_empty() {
                continue;
            }
            let line: Line = serde_json::from_str(raw).map_err(|e| bad(n, e.to_string()))?;
            if header.is_none() && !matches!(line, Line::Header(_)) {
                return Err(bad(n, "the first line must be the header".into()));
            }
            let step_ok = |step: usize, count: usize| {
                if step < count {
                    Ok(())
                } else {
                    Err(bad(n, format!("step {step} does not exist")))
                }
            };
            let client_ok = |client: &str, clients: &[ClientInput]| {
                if clients.iter().any(|c| c.name == client) {
                    Ok(())
                } else {
                    Err(bad(n, format!("unknown client {client:?}")))
                }
            };
            match line {
                Line::Header(h) => {
                    if header.is_some() {
                        return Err(bad(n, "a second header".into()));
                    }
                    if h.format != FORMAT {
                        return Err(bad(n, format!("format {:?}; this mqttsim reads {FORMAT:?}", h.format)));
                    }
                    header = Some(h);
                }
                Line::Client(c) => {
                    if case.client(&c.name).is_some() {
                        return Err(bad(n, format!("client {:?} twice", c.name)));
                    }
                    case.clients.push(c);
                }
                Line::Step(s) => {
                    if s.step != case.steps.len() {
                        return Err(bad(n, format!("step {} out of order (expected {})", s.step, case.steps.len())));
                    }
                    client_ok(&s.client, &case.clients)?;
                    case.steps.push(s);
                }
                Line::Connack { step, ref client, .. }
                | Line::Suback { step, ref client, .. }
                | Line::Unsuback { step, ref client, .. } => {
                    step_ok(step, case.steps.len())?;
                    client_ok(client, &case.clients)?;
                    case.acks.push(line);
                }
                Line::Delivery(d) => {
                    step_ok(d.step, case.steps.len())?;
                    client_ok(&d.client, &case.clients)?;
                    case.deliveries.push(d);
                }
            }
        }
        case.header = header.ok_or_else(|| bad(0, "the file is empty".into()))?;
        Ok(case)
    }

    /// Writes the JSON-lines form to `path`.
    pub fn write(&self, path: &Path) -> Result<(), ReplayError> {
        let io = |e: std::io::Error| ReplayError::Io(format!("cannot write {}: {e}", path.display()));
        let mut file = std::fs::File::create(path).map_err(io)?;
        file.write_all(self.to_jsonl().as_bytes()).map_err(io)
    }

    /// Reads a case file.
    pub fn read(path: &Path) -> Result<Case, ReplayError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ReplayError::Io(format!("cannot read {}: {e}", path.display())))?;
        Case::from_jsonl(&text)
    }
}
