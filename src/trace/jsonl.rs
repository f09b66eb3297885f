//! The JSON-lines form of a trace: the header object on the first line, then
//! one event object per line. It carries everything the text leaves out
//! (exact times in nanoseconds, byte lengths, whole payloads, passwords, the
//! mqttsim version) and reads back into an equal [`Trace`].

use std::io::{self, BufRead};

use serde::{Deserialize, Serialize};

use super::{Event, Trace, TraceError, TraceHeader};

/// The value of the header's `format` field; [`read_jsonl`] refuses others.
pub const FORMAT: &str = "mqttsim-trace/1";

#[derive(Serialize)]
struct HeaderOut<'a> {
    format: &'static str,
    #[serde(flatten)]
    header: &'a TraceHeader,
    max_events: usize,
}

#[derive(Deserialize)]
struct HeaderIn {
    format: String,
    #[serde(flatten)]
    header: TraceHeader,
    max_events: usize,
}

/// Why JSON lines could not be read as a trace. Line numbers start at 1.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The reader failed.
    #[error("cannot read the trace: {0}")]
    Io(#[from] io::Error),
    /// There was no header line.
    #[error("the trace is empty: the first line must be its header")]
    MissingHeader,
    /// The first line is not a header object.
    #[error("line 1 is not a trace header: {0}")]
    BadHeader(serde_json::Error),
    /// The header names another format or version.
    #[error("line 1 has format {found:?}, expected {FORMAT:?}")]
    WrongFormat {
        /// The format found.
        found: String,
    },
    /// A line is not an event object.
    #[error("line {line} is not a trace event: {source}")]
    BadEvent {
        /// The line.
        line: usize,
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// An event could not be added: the trace's bound was exceeded, or time went back.
    #[error("line {line}: {source}")]
    Refused {
        /// The line.
        line: usize,
        /// Why the trace refused it.
        source: TraceError,
    },
}

pub(crate) fn write(trace: &Trace) -> String {
    let mut out = Vec::new();
    write_to(trace, &mut out).expect("writing to a Vec does not fail");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

fn write_to(trace: &Trace, out: &mut impl io::Write) -> io::Result<()> {
    let header = HeaderOut { format: FORMAT, header: trace.header(), max_events: trace.max_events() };
    serde_json::to_writer(&mut *out, &header)?;
    out.write_all(b"\n")?;
    for event in trace.events() {
        serde_json::to_writer(&mut *out, event)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

impl Trace {
    /// Writes [`Trace::to_jsonl`] to `out`.
    pub fn write_jsonl(&self, out: &mut impl io::Write) -> io::Result<()> {
        write_to(self, out)
    }
}

/// Reads the JSON-lines form written by [`Trace::to_jsonl`]. Blank lines are
/// skipped; the trace's bound and time order are enforced as when recording.
pub fn read_jsonl(reader: impl BufRead) -> Result<Trace, ReadError> {
    let mut trace: Option<Trace> = None;
    for (index, line) in reader.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let number = index + 1;
        match trace.as_mut() {
            None => {
                let header: HeaderIn = serde_json::from_str(&line).map_err(ReadError::BadHeader)?;
                if header.format != FORMAT {
                    return Err(ReadError::WrongFormat { found: header.format });
                }
                trace = Some(Trace::new(header.header, header.max_events));
            }
            Some(trace) => {
                let event: Event =
                    serde_json::from_str(&line).map_err(|source| ReadError::BadEvent { line: number, source })?;
                trace.push(event.at, event.kind).map_err(|source| ReadError::Refused { line: number, source })?;
            }
        }
    }
    trace.ok_or(ReadError::MissingHeader)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use super::super::fixture::{header, pid, publish, sample_trace};
    use super::super::{Dir, EventKind};
    use super::*;
    use crate::codec::{Packet, QosPid};

    /// Writing a trace as JSON lines and reading it back gives an equal trace, with the same text and hash.
    #[test]
    fn json_lines_round_trip_to_an_equal_trace() {
        let mut trace = sample_trace();
        // Binary payloads, sub-millisecond times and properties survive too.
        let mut binary = publish(QosPid::ExactlyOnce(pid(9)), "bin", &[0xff, 0x00]);
        binary.properties.correlation_data = Some(Bytes::from_static(&[1, 2, 3]));
        binary.properties.user_properties = vec![("a".to_owned(), "1".to_owned()), ("a".to_owned(), "2".to_owned())];
        let kind = EventKind::Packet {
            endpoint: "client-b".into(),
            conn: 3,
            dir: Dir::Received,
            packet: Packet::Publish(binary),
            bytes_len: 17,
        };
        trace.push(Duration::from_nanos(95_000_000_001), kind).unwrap();

        let text = trace.to_jsonl();
        let back = read_jsonl(text.as_bytes()).unwrap();
        assert_eq!(back, trace);
        assert_eq!(back.to_jsonl(), text);
        assert_eq!(back.content_hash(), trace.content_hash());
        assert_eq!(text.lines().count(), 1 + trace.len());
    }

    /// The header line names the format and carries the header fields and the bound; events carry `at_ns` and `event`.
    #[test]
    fn the_first_line_is_the_header_and_each_event_has_its_own_line() {
        let text = sample_trace().to_jsonl();
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "{\"format\":\"mqttsim-trace/1\",\"seed\":42,\"scenario\":\"keepalive-expiry\",\"tick_ns\":1000000,\
             \"config\":{\"clients\":[\"client-a\",\"client-b\"],\"keep_alive_secs\":60,\"version\":\"5.0\"},\
             \"mqttsim_version\":\"0.1.0\",\"max_events\":100}"
        );
        assert_eq!(lines.next().unwrap(), "{\"at_ns\":0,\"event\":\"note\",\"text\":\"phase safety\"}");
        assert_eq!(
            lines.nth(8).unwrap(),
            "{\"at_ns\":30000000000,\"event\":\"fault\",\"description\":\"partition client-a <-> broker\"}"
        );
    }

    /// Reading refuses an empty input, another format, a bad event line, and more events than the bound.
    #[test]
    fn reading_refuses_bad_input_with_the_line_number() {
        assert!(matches!(read_jsonl(&b""[..]), Err(ReadError::MissingHeader)));
        assert!(matches!(read_jsonl(&b"[1]\n"[..]), Err(ReadError::BadHeader(_))));

        let text = sample_trace().to_jsonl();
        let other_format = text.replacen(FORMAT, "mqttsim-trace/0", 1);
        assert!(matches!(read_jsonl(other_format.as_bytes()), Err(ReadError::WrongFormat { .. })));

        let bad_event = format!("{text}{{\"at_ns\":1,\"event\":\"nonsense\"}}\n");
        let lines = text.lines().count();
        match read_jsonl(bad_event.as_bytes()) {
            Err(ReadError::BadEvent { line, .. }) => assert_eq!(line, lines + 1),
            other => panic!("expected a bad event, got {other:?}"),
        }

        let mut small = Trace::new(header(), 1);
        small.push(Duration::ZERO, EventKind::Note { text: "a".to_owned() }).unwrap();
        let over = format!("{}{{\"at_ns\":1,\"event\":\"note\",\"text\":\"b\"}}\n", small.to_jsonl());
        match read_jsonl(over.as_bytes()) {
            Err(ReadError::Refused { line: 3, source: TraceError::Full { max_events: 1 } }) => {}
            other => panic!("expected the bound to refuse line 3, got {other:?}"),
        }
    }
}
