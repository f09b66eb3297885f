//! The text rendering: header lines, then one line per event.
//!
//! Every line is built here field by field, in a fixed order, with our own
//! escaping: no `Debug` output and no map iteration, so the same trace gives
//! the same bytes on every platform and release. The format is documented
//! column by column in `docs/trace-format.md`; a change here is a change to
//! every snapshot.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;

use super::{CiteKind, Event, EventKind, Trace, TraceHeader};
use crate::codec::PropertyValues;
use crate::codec::{
    Auth, Connack, Connect, Disconnect, Packet, Properties, PubResponse, Publish, QosPid, ReasonCode, Suback,
    Subscribe, Subscription, SubscriptionOptions, Unsuback, Unsubscribe, Will,
};

/// Payloads, binary properties and malformed bytes show at most this many
/// bytes; longer ones end in `…(N bytes)`.
pub(crate) const MAX_SHOWN_BYTES: usize = 64;

/// The endpoint column is padded to this many characters (longer names
/// widen their line).
const ENDPOINT_WIDTH: usize = 10;

/// The connection column (`#N` or `-`) is padded to this many characters.
const CONN_WIDTH: usize = 4;

/// What stands in the endpoint column for events of the whole world (faults,
/// notes, verdicts).
const WORLD: &str = "*";

pub(crate) fn render_trace(trace: &Trace) -> String {
    let mut out = String::new();
    render_header(&mut out, trace.header());
    for event in trace.events() {
        render_event_into(&mut out, event);
        out.push('\n');
    }
    out
}

fn render_header(out: &mut String, header: &TraceHeader) {
    out.push_str("# mqttsim trace\n");
    let _ = writeln!(out, "# seed: {}", header.seed);
    out.push_str("# scenario: ");
    push_inline(out, &header.scenario);
    out.push_str("\n# tick: ");
    push_millis(out, header.tick);
    out.push_str("\n# config: ");
    push_canonical_json(out, &header.config);
    out.push('\n');
}

pub(crate) fn render_event(event: &Event) -> String {
    let mut out = String::new();
    render_event_into(&mut out, event);
    out
}

fn render_event_into(out: &mut String, event: &Event) {
    push_time(out, event.at);
    out.push(' ');
    match &event.kind {
        EventKind::Packet { endpoint, conn, dir, packet, bytes_len: _ } => {
            push_columns(out, endpoint, Some(*conn), dir.arrow());
            packet_summary(out, packet);
        }
        EventKind::Malformed { endpoint, conn, dir, hex, error, statement } => {
            push_columns(out, endpoint, Some(*conn), dir.arrow());
            out.push_str("MALFORMED hex=");
            push_hex_str(out, hex);
            out.push_str(" error=");
            push_quoted(out, error);
            if let Some(statement) = statement {
                let _ = write!(out, " statement={statement}");
            }
        }
        EventKind::Opened { endpoint, conn, peer } => {
            push_columns(out, endpoint, Some(*conn), "++");
            out.push_str("OPEN peer=");
            push_word(out, peer);
        }
        EventKind::Closed { endpoint, conn, by } => {
            push_columns(out, endpoint, Some(*conn), "--");
            out.push_str("CLOSE by=");
            out.push_str(by.as_str());
        }
        EventKind::Cite { endpoint, conn, statement, kind } => {
            push_columns(out, endpoint, *conn, "::");
            let kind: CiteKind = *kind;
            let _ = write!(out, "CITE {} {statement}", kind.as_str());
        }
        EventKind::Fault { description } => {
            push_columns(out, WORLD, None, "!!");
            out.push_str("FAULT ");
            push_inline(out, description);
        }
        EventKind::Delivery { client, topic, qos, retain, payload, publisher_seq } => {
            push_columns(out, client, None, "=>");
            out.push_str("DELIVER");
            if let Some(seq) = publisher_seq {
                let _ = write!(out, " seq={seq}");
            }
            let _ = write!(out, " qos={qos} retain={}", u8::from(*retain));
            out.push_str(" topic=");
            push_quoted(out, topic);
            out.push_str(" payload=");
            push_payload(out, payload);
        }
        EventKind::Note { text } => {
            push_columns(out, WORLD, None, "..");
            out.push_str("NOTE ");
            push_inline(out, text);
        }
        EventKind::Verdict { text } => {
            push_columns(out, WORLD, None, "**");
            out.push_str("VERDICT ");
            push_inline(out, text);
        }
    }
}

/// The endpoint, connection and mark columns, each followed by one space.
fn push_columns(out: &mut String, endpoint: &str, conn: Option<u64>, mark: &str) {
    let start = out.len();
    push_word(out, endpoint);
    pad_to(out, start, ENDPOINT_WIDTH);
    out.push(' ');
    let start = out.len();
    match conn {
        Some(conn) => {
            let _ = write!(out, "#{conn}");
        }
        None => out.push('-'),
    }
    pad_to(out, start, CONN_WIDTH);
    out.push(' ');
    out.push_str(mark);
    out.push(' ');
}

/// Pads what was written since `start` with spaces to `width` characters.
fn pad_to(out: &mut String, start: usize, width: usize) {
    let written = out[start..].chars().count();
    for _ in written..width {
        out.push(' ');
    }
}

/// Simulated time as seconds with milliseconds, right-aligned in 9
/// characters: `   0.004s`, `  90.000s`. Sub-millisecond parts are cut off.
fn push_time(out: &mut String, at: Duration) {
    let _ = write!(out, "{:>4}.{:03}s", at.as_secs(), at.subsec_millis());
}

/// A duration in milliseconds: `1ms`, `0.5ms`, `2.000001ms`.
fn push_millis(out: &mut String, duration: Duration) {
    let nanos = duration.as_nanos();
    let _ = write!(out, "{}", nanos / 1_000_000);
    let fraction = nanos % 1_000_000;
    if fraction != 0 {
        let digits = format!("{fraction:06}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push_str("ms");
}

/// JSON with object keys sorted and no whitespace, whatever the map type
/// serde_json was built with.
fn push_canonical_json(out: &mut String, value: &serde_json::Value) {
    use serde_json::Value;
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::String(s) => push_json_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_canonical_json(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_string(out, key);
                out.push(':');
                push_canonical_json(out, item);
            }
            out.push('}');
        }
    }
}

fn push_json_string(out: &mut String, s: &str) {
    out.push_str(&serde_json::to_string(s).expect("a string always serializes"));
}

/// Appends `c` as an escape sequence: `\\`, `\"`, `\n`, `\r`, `\t`, or `\u{..}`.
fn push_escape(out: &mut String, c: char) {
    match c {
        '\\' => out.push_str("\\\\"),
        '"' => out.push_str("\\\""),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c => {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        }
    }
}

/// A string in double quotes; quotes, backslashes and control characters escaped.
fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' || c.is_control() {
            push_escape(out, c);
        } else {
            out.push(c);
        }
    }
    out.push('"');
}

/// Free text that ends its line (notes, faults, scenario names): backslashes
/// and control characters escaped, so it stays on one line.
fn push_inline(out: &mut String, s: &str) {
    for c in s.chars() {
        if c == '\\' || c.is_control() {
            push_escape(out, c);
        } else {
            out.push(c);
        }
    }
}

/// A name in a column (endpoint, peer): whitespace escaped too, so columns
/// stay separated by spaces. The empty name shows as `""`.
fn push_word(out: &mut String, s: &str) {
    if s.is_empty() {
        out.push_str("\"\"");
        return;
    }
    for c in s.chars() {
        if c == '\\' || c == '"' || c.is_control() || c.is_whitespace() {
            push_escape(out, c);
        } else {
            out.push(c);
        }
    }
}

/// Bytes as UTF-8 in quotes when they are valid UTF-8, else as `hex:` digits;
/// at most [`MAX_SHOWN_BYTES`] of them, then `…(N bytes)`.
fn push_payload(out: &mut String, bytes: &Bytes) {
    match std::str::from_utf8(bytes) {
        Ok(text) => {
            let mut cut = text.len().min(MAX_SHOWN_BYTES);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            push_quoted(out, &text[..cut]);
        }
        Err(_) => {
            out.push_str("hex:");
            for byte in bytes.iter().take(MAX_SHOWN_BYTES) {
                let _ = write!(out, "{byte:02x}");
            }
        }
    }
    if bytes.len() > MAX_SHOWN_BYTES {
        let _ = write!(out, "…({} bytes)", bytes.len());
    }
}

/// Hex digits recorded for malformed bytes, cut like a payload.
fn push_hex_str(out: &mut String, hex: &str) {
    let shown = MAX_SHOWN_BYTES * 2;
    if hex.len() <= shown || !hex.is_char_boundary(shown) {
        push_word(out, hex);
    } else {
        push_word(out, &hex[..shown]);
        let _ = write!(out, "…({} bytes)", hex.len() / 2);
    }
}

fn push_flag(out: &mut String, name: &str, value: bool) {
    let _ = write!(out, " {name}={}", u8::from(value));
}

fn push_rc(out: &mut String, rc: ReasonCode) {
    let _ = write!(out, " rc={rc}");
}

/// The compact one-line summary of a packet, e.g.
/// `PUBLISH qos=1 pid=7 dup=0 retain=0 topic="a/b" payload="hi"`.
///
/// Fields come in a fixed order; 5.0 properties, when any is set, come last
/// as `props{...}` in the order of [`Properties`]' fields.
pub fn render_packet(packet: &Packet) -> String {
    let mut out = String::new();
    packet_summary(&mut out, packet);
    out
}

fn packet_summary(out: &mut String, packet: &Packet) {
    out.push_str(packet.packet_type().name());
    match packet {
        Packet::Connect(connect) => connect_summary(out, connect),
        Packet::Connack(Connack { session_present, reason_code, properties }) => {
            push_flag(out, "session_present", *session_present);
            push_rc(out, *reason_code);
            push_properties(out, properties);
        }
        Packet::Publish(publish) => publish_summary(out, publish),
        Packet::Puback(response) | Packet::Pubrec(response) | Packet::Pubrel(response) | Packet::Pubcomp(response) => {
            let PubResponse { packet_id, reason_code, properties } = response;
            let _ = write!(out, " pid={packet_id}");
            if !reason_code.is_success() {
                push_rc(out, *reason_code);
            }
            push_properties(out, properties);
        }
        Packet::Subscribe(Subscribe { packet_id, properties, subscriptions }) => {
            let _ = write!(out, " pid={packet_id} filters=[");
            for (i, subscription) in subscriptions.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let Subscription { filter, options } = subscription;
                let SubscriptionOptions { qos, no_local, retain_as_published, retain_handling } = options;
                push_quoted(out, filter.as_str());
                let _ = write!(out, " qos={}", qos.as_u8());
                push_flag(out, "nl", *no_local);
                push_flag(out, "rap", *retain_as_published);
                let _ = write!(out, " rh={}", u8::from(*retain_handling));
            }
            out.push(']');
            push_properties(out, properties);
        }
        Packet::Suback(Suback { packet_id, properties, reason_codes }) => {
            let _ = write!(out, " pid={packet_id}");
            push_reason_codes(out, reason_codes);
            push_properties(out, properties);
        }
        Packet::Unsubscribe(Unsubscribe { packet_id, properties, filters }) => {
            let _ = write!(out, " pid={packet_id} filters=[");
            for (i, filter) in filters.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_quoted(out, filter.as_str());
            }
            out.push(']');
            push_properties(out, properties);
        }
        Packet::Unsuback(Unsuback { packet_id, properties, reason_codes }) => {
            let _ = write!(out, " pid={packet_id}");
            if !reason_codes.is_empty() {
                push_reason_codes(out, reason_codes);
            }
            push_properties(out, properties);
        }
        Packet::Pingreq | Packet::Pingresp => {}
        Packet::Disconnect(Disconnect { reason_code, properties }) | Packet::Auth(Auth { reason_code, properties }) => {
            if !reason_code.is_success() {
                push_rc(out, *reason_code);
            }
            push_properties(out, properties);
        }
    }
}

fn push_reason_codes(out: &mut String, codes: &[ReasonCode]) {
    out.push_str(" rc=[");
    for (i, code) in codes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{code}");
    }
    out.push(']');
}

fn connect_summary(out: &mut String, connect: &Connect) {
    let Connect { version, clean_start, keep_alive_secs, properties, client_id, will, username, password } = connect;
    let _ = write!(out, " v={version} client_id=");
    push_quoted(out, client_id);
    push_flag(out, "clean_start", *clean_start);
    let _ = write!(out, " keep_alive={keep_alive_secs}");
    if let Some(username) = username {
        out.push_str(" username=");
        push_quoted(out, username);
    }
    if let Some(password) = password {
        // The content stays out of the text (it may be a real secret when a
        // real server is tested); the JSON-lines form keeps it.
        let _ = write!(out, " password=({} bytes)", password.len());
    }
    if let Some(Will { topic, payload, qos, retain, properties }) = will {
        out.push_str(" will{topic=");
        push_quoted(out, topic.as_str());
        let _ = write!(out, " qos={}", qos.as_u8());
        push_flag(out, "retain", *retain);
        out.push_str(" payload=");
        push_payload(out, payload);
        push_properties(out, properties);
        out.push('}');
    }
    push_properties(out, properties);
}

fn publish_summary(out: &mut String, publish: &Publish) {
    let Publish { dup, qos_pid, retain, topic, properties, payload } = publish;
    let _ = write!(out, " qos={}", qos_pid.qos().as_u8());
    if let QosPid::AtLeastOnce(pid) | QosPid::ExactlyOnce(pid) = qos_pid {
        let _ = write!(out, " pid={pid}");
    }
    push_flag(out, "dup", *dup);
    push_flag(out, "retain", *retain);
    out.push_str(" topic=");
    push_quoted(out, topic.as_str());
    out.push_str(" payload=");
    push_payload(out, payload);
    push_properties(out, properties);
}

/// ` props{name=value ...}` with the set properties in field order, or
/// nothing when none is set.
fn push_properties(out: &mut String, properties: &Properties) {
    if properties.is_empty() {
        return;
    }
    // Destructured in full so that a new property fails to compile here
    // until it has a place in the rendering.
    let PropertyValues {
        payload_format_indicator,
        message_expiry_interval_secs,
        content_type,
        response_topic,
        correlation_data,
        subscription_identifiers,
        session_expiry_interval_secs,
        assigned_client_identifier,
        server_keep_alive_secs,
        authentication_method,
        authentication_data,
        request_problem_information,
        will_delay_interval_secs,
        request_response_information,
        response_information,
        server_reference,
        reason_string,
        receive_maximum,
        topic_alias_maximum,
        topic_alias,
        maximum_qos,
        retain_available,
        user_properties,
        maximum_packet_size,
        wildcard_subscription_available,
        subscription_identifier_available,
        shared_subscription_available,
    } = &**properties;

    let mut items = PropList { out, first: true };
    items.number("payload_format_indicator", payload_format_indicator.map(u64::from));
    items.number("message_expiry_interval_secs", message_expiry_interval_secs.map(u64::from));
    items.text("content_type", content_type.as_deref());
    items.text("response_topic", response_topic.as_deref());
    items.binary("correlation_data", correlation_data.as_ref());
    if !subscription_identifiers.is_empty() {
        let out = items.name("subscription_identifiers");
        out.push('[');
        for (i, id) in subscription_identifiers.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{id}");
        }
        out.push(']');
    }
    items.number("session_expiry_interval_secs", session_expiry_interval_secs.map(u64::from));
    items.text("assigned_client_identifier", assigned_client_identifier.as_deref());
    items.number("server_keep_alive_secs", server_keep_alive_secs.map(u64::from));
    items.text("authentication_method", authentication_method.as_deref());
    items.binary("authentication_data", authentication_data.as_ref());
    items.number("request_problem_information", request_problem_information.map(u64::from));
    items.number("will_delay_interval_secs", will_delay_interval_secs.map(u64::from));
    items.number("request_response_information", request_response_information.map(u64::from));
    items.text("response_information", response_information.as_deref());
    items.text("server_reference", server_reference.as_deref());
    items.text("reason_string", reason_string.as_deref());
    items.number("receive_maximum", receive_maximum.map(u64::from));
    items.number("topic_alias_maximum", topic_alias_maximum.map(u64::from));
    items.number("topic_alias", topic_alias.map(u64::from));
    items.number("maximum_qos", maximum_qos.map(u64::from));
    items.number("retain_available", retain_available.map(u64::from));
    if !user_properties.is_empty() {
        let out = items.name("user_properties");
        out.push('[');
        for (i, (key, value)) in user_properties.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_quoted(out, key);
            out.push('=');
            push_quoted(out, value);
        }
        out.push(']');
    }
    items.number("maximum_packet_size", maximum_packet_size.map(u64::from));
    items.number("wildcard_subscription_available", wildcard_subscription_available.map(u64::from));
    items.number("subscription_identifier_available", subscription_identifier_available.map(u64::from));
    items.number("shared_subscription_available", shared_subscription_available.map(u64::from));
    items.out.push('}');
}

/// Writes `props{a=1 b="x"` one item at a time.
struct PropList<'a> {
    out: &'a mut String,
    first: bool,
}

impl PropList<'_> {
    /// Writes the separator and `name=`, and hands back the buffer for the value.
    fn name(&mut self, name: &str) -> &mut String {
        self.out.push_str(if self.first { " props{" } else { " " });
        self.first = false;
        self.out.push_str(name);
        self.out.push('=');
        self.out
    }

    fn number(&mut self, name: &str, value: Option<u64>) {
        if let Some(value) = value {
            let _ = write!(self.name(name), "{value}");
        }
    }

    fn text(&mut self, name: &str, value: Option<&str>) {
        if let Some(value) = value {
            push_quoted(self.name(name), value);
        }
    }

    fn binary(&mut self, name: &str, value: Option<&Bytes>) {
        if let Some(value) = value {
            push_payload(self.name(name), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use super::super::fixture::{header, pid, publish, sample_trace};
    use super::super::{CiteKind, ClosedBy, Dir, Event, EventKind};
    use super::*;
    use crate::codec::{
        Qos, RetainHandling, Suback, Subscribe, Subscription, SubscriptionOptions, TopicFilter, TopicName, Unsuback,
        Unsubscribe,
    };
    use crate::spec::{v3_1_1, v5, Version};

    fn line(at_ms: u64, kind: EventKind) -> String {
        Event { at: Duration::from_millis(at_ms), kind }.render_line()
    }

    fn sent(packet: Packet) -> EventKind {
        EventKind::Packet { endpoint: "client-a".into(), conn: 1, dir: Dir::Sent, packet, bytes_len: 0 }
    }

    /// The header lines come first: seed, scenario, tick and the config as canonical JSON with sorted keys.
    #[test]
    fn the_text_starts_with_the_header_lines() {
        let trace = super::super::Trace::new(header(), 10);
        assert_eq!(
            trace.render_text(),
            "# mqttsim trace\n\
             # seed: 42\n\
             # scenario: keepalive-expiry\n\
             # tick: 1ms\n\
             # config: {\"clients\":[\"client-a\",\"client-b\"],\"keep_alive_secs\":60,\"version\":\"5.0\"}\n"
        );
    }

    /// A tick that is not a whole number of milliseconds shows its fraction, without trailing zeros.
    #[test]
    fn a_fractional_tick_shows_its_fraction() {
        let mut out = String::new();
        push_millis(&mut out, Duration::from_micros(500));
        out.push(' ');
        push_millis(&mut out, Duration::from_nanos(2_000_001));
        out.push(' ');
        push_millis(&mut out, Duration::from_secs(1));
        assert_eq!(out, "0.5ms 2.000001ms 1000ms");
    }

    /// Time is seconds with milliseconds, right-aligned in nine characters; sub-millisecond parts are cut.
    #[test]
    fn time_is_fixed_width_seconds_with_milliseconds() {
        let mut out = String::new();
        for at in [Duration::ZERO, Duration::from_nanos(90_000_999_999), Duration::from_secs(12_345)] {
            push_time(&mut out, at);
            out.push('|');
        }
        assert_eq!(out, "   0.000s|  90.000s|12345.000s|");
    }

    /// A sent and a received PUBLISH render with arrow, columns and properties in field order.
    #[test]
    fn a_packet_event_renders_time_endpoint_conn_arrow_and_summary() {
        let mut packet = publish(QosPid::AtLeastOnce(pid(7)), "a/b", b"hi");
        packet.properties.message_expiry_interval_secs = Some(60);
        packet.properties.user_properties = vec![("k".to_owned(), "v".to_owned())];
        assert_eq!(
            line(90_000, sent(Packet::Publish(packet.clone()))),
            "  90.000s client-a   #1   -> PUBLISH qos=1 pid=7 dup=0 retain=0 topic=\"a/b\" payload=\"hi\" \
             props{message_expiry_interval_secs=60 user_properties=[\"k\"=\"v\"]}"
        );
        let received = EventKind::Packet {
            endpoint: "broker".into(),
            conn: 12,
            dir: Dir::Received,
            packet: Packet::Publish(publish(QosPid::AtMostOnce, "t", b"")),
            bytes_len: 5,
        };
        assert_eq!(
            line(1, received),
            "   0.001s broker     #12  <- PUBLISH qos=0 dup=0 retain=0 topic=\"t\" payload=\"\""
        );
    }

    /// Every packet type has its one-line summary.
    #[test]
    fn every_packet_type_has_a_one_line_summary() {
        let connect = Connect {
            version: Version::V3_1_1,
            clean_start: false,
            keep_alive_secs: 30,
            properties: Properties::default(),
            client_id: "c\"1".to_owned(),
            will: Some(Will {
                topic: TopicName::new("w").unwrap(),
                payload: Bytes::from_static(b"bye"),
                qos: Qos::AtLeastOnce,
                retain: true,
                properties: Properties::from(PropertyValues {
                    will_delay_interval_secs: Some(5),
                    ..Default::default()
                }),
            }),
            username: Some("u".to_owned()),
            password: Some(Bytes::from_static(b"secret")),
        };
        let subscribe = Subscribe {
            packet_id: pid(3),
            properties: Properties::from(PropertyValues { subscription_identifiers: vec![9], ..Default::default() }),
            subscriptions: vec![
                Subscription {
                    filter: TopicFilter::new("a/+").unwrap(),
                    options: SubscriptionOptions::qos(Qos::AtLeastOnce),
                },
                Subscription {
                    filter: TopicFilter::new("b/#").unwrap(),
                    options: SubscriptionOptions {
                        qos: Qos::ExactlyOnce,
                        no_local: true,
                        retain_as_published: true,
                        retain_handling: RetainHandling::DoNotSend,
                    },
                },
            ],
        };
        let reason = Properties::from(PropertyValues { reason_string: Some("why".to_owned()), ..Default::default() });
        let cases = [
            (
                Packet::Connect(connect),
                "CONNECT v=3.1.1 client_id=\"c\\\"1\" clean_start=0 keep_alive=30 username=\"u\" password=(6 bytes) \
                 will{topic=\"w\" qos=1 retain=1 payload=\"bye\" props{will_delay_interval_secs=5}}",
            ),
            (
                Packet::Connack(Connack {
                    session_present: true,
                    reason_code: ReasonCode::SUCCESS,
                    properties: Properties::from(PropertyValues {
                        topic_alias_maximum: Some(10),
                        ..Default::default()
                    }),
                }),
                "CONNACK session_present=1 rc=0x00 props{topic_alias_maximum=10}",
            ),
            (
                Packet::Publish(Publish {
                    dup: true,
                    retain: true,
                    ..publish(QosPid::ExactlyOnce(pid(65535)), "x", b"y")
                }),
                "PUBLISH qos=2 pid=65535 dup=1 retain=1 topic=\"x\" payload=\"y\"",
            ),
            (Packet::Puback(PubResponse::new(pid(1))), "PUBACK pid=1"),
            (
                Packet::Pubrec(PubResponse {
                    packet_id: pid(2),
                    reason_code: ReasonCode::NO_MATCHING_SUBSCRIBERS,
                    properties: Properties::default(),
                }),
                "PUBREC pid=2 rc=0x10",
            ),
            (
                Packet::Pubrel(PubResponse {
                    packet_id: pid(3),
                    reason_code: ReasonCode::PACKET_IDENTIFIER_NOT_FOUND,
                    properties: reason.clone(),
                }),
                "PUBREL pid=3 rc=0x92 props{reason_string=\"why\"}",
            ),
            (Packet::Pubcomp(PubResponse::new(pid(4))), "PUBCOMP pid=4"),
            (
                Packet::Subscribe(subscribe),
                "SUBSCRIBE pid=3 filters=[\"a/+\" qos=1 nl=0 rap=0 rh=0,\"b/#\" qos=2 nl=1 rap=1 rh=2] \
                 props{subscription_identifiers=[9]}",
            ),
            (
                Packet::Suback(Suback {
                    packet_id: pid(3),
                    properties: Properties::default(),
                    reason_codes: vec![ReasonCode::GRANTED_QOS_1, ReasonCode::V3_SUBACK_FAILURE],
                }),
                "SUBACK pid=3 rc=[0x01,0x80]",
            ),
            (
                Packet::Unsubscribe(Unsubscribe {
                    packet_id: pid(4),
                    properties: Properties::default(),
                    filters: vec![TopicFilter::new("a/+").unwrap(), TopicFilter::new("b").unwrap()],
                }),
                "UNSUBSCRIBE pid=4 filters=[\"a/+\",\"b\"]",
            ),
            (
                Packet::Unsuback(Unsuback {
                    packet_id: pid(4),
                    properties: Properties::default(),
                    reason_codes: vec![],
                }),
                "UNSUBACK pid=4",
            ),
            (
                Packet::Unsuback(Unsuback {
                    packet_id: pid(5),
                    properties: Properties::default(),
                    reason_codes: vec![ReasonCode::SUCCESS, ReasonCode::NO_SUBSCRIPTION_EXISTED],
                }),
                "UNSUBACK pid=5 rc=[0x00,0x11]",
            ),
            (Packet::Pingreq, "PINGREQ"),
            (Packet::Pingresp, "PINGRESP"),
            (Packet::Disconnect(Disconnect::default()), "DISCONNECT"),
            (
                Packet::Disconnect(Disconnect { reason_code: ReasonCode::KEEP_ALIVE_TIMEOUT, properties: reason }),
                "DISCONNECT rc=0x8D props{reason_string=\"why\"}",
            ),
            (
                Packet::Auth(Auth {
                    reason_code: ReasonCode::CONTINUE_AUTHENTICATION,
                    properties: Properties::from(PropertyValues {
                        authentication_method: Some("SCRAM".to_owned()),
                        authentication_data: Some(Bytes::from_static(&[0, 1, 0xff])),
                        ..Default::default()
                    }),
                }),
                "AUTH rc=0x18 props{authentication_method=\"SCRAM\" authentication_data=hex:0001ff}",
            ),
        ];
        for (packet, expected) in cases {
            assert_eq!(render_packet(&packet), expected);
        }
    }

    /// Undecodable bytes show as hex with the decoder's error and the statement they break, if any.
    #[test]
    fn a_malformed_event_shows_hex_error_and_statement() {
        let malformed = |statement| EventKind::Malformed {
            endpoint: "broker".into(),
            conn: 2,
            dir: Dir::Received,
            hex: "3f00".to_owned(),
            error: "PUBLISH with QoS 3".to_owned(),
            statement,
        };
        assert_eq!(
            line(45_000, malformed(Some(v5::MQTT_3_3_1_4))),
            "  45.000s broker     #2   <- MALFORMED hex=3f00 error=\"PUBLISH with QoS 3\" statement=5.0/MQTT-3.3.1-4"
        );
        assert_eq!(
            line(45_000, malformed(None)),
            "  45.000s broker     #2   <- MALFORMED hex=3f00 error=\"PUBLISH with QoS 3\""
        );
    }

    /// Long malformed bytes are cut after 64 bytes (128 hex digits) and say how many there were.
    #[test]
    fn long_malformed_bytes_are_truncated() {
        let kind = EventKind::Malformed {
            endpoint: "broker".into(),
            conn: 1,
            dir: Dir::Sent,
            hex: "ab".repeat(100),
            error: "too long".to_owned(),
            statement: None,
        };
        let expected =
            format!("   0.000s broker     #1   -> MALFORMED hex={}…(100 bytes) error=\"too long\"", "ab".repeat(64));
        assert_eq!(line(0, kind), expected);
    }

    /// Opening and closing a connection show the peer and who closed it.
    #[test]
    fn connection_events_show_peer_and_closer() {
        let opened = EventKind::Opened { endpoint: "broker".into(), conn: 1, peer: "client-a".to_owned() };
        assert_eq!(line(3, opened), "   0.003s broker     #1   ++ OPEN peer=client-a");
        for (by, word) in [(ClosedBy::Local, "local"), (ClosedBy::Peer, "peer"), (ClosedBy::Network, "network")] {
            let closed = EventKind::Closed { endpoint: "client-a".into(), conn: 3, by };
            assert_eq!(line(3, closed), format!("   0.003s client-a   #3   -- CLOSE by={word}"));
        }
    }

    /// A citation shows its kind and version-qualified statement, with or without a connection.
    #[test]
    fn a_citation_shows_kind_and_statement() {
        let cite =
            |conn, kind| EventKind::Cite { endpoint: "broker".into(), conn, statement: v3_1_1::MQTT_3_3_1_4, kind };
        assert_eq!(
            line(4, cite(Some(1), CiteKind::Checked)),
            "   0.004s broker     #1   :: CITE checked 3.1.1/MQTT-3.3.1-4"
        );
        assert_eq!(
            line(4, cite(None, CiteKind::Violated)),
            "   0.004s broker     -    :: CITE violated 3.1.1/MQTT-3.3.1-4"
        );
        assert_eq!(
            line(4, cite(None, CiteKind::Fulfilled)),
            "   0.004s broker     -    :: CITE fulfilled 3.1.1/MQTT-3.3.1-4"
        );
    }

    /// Faults, notes and verdicts belong to the whole world and show `*` as their endpoint.
    #[test]
    fn world_events_render_with_a_star_endpoint() {
        let fault = EventKind::Fault { description: "partition client-a <-> broker".to_owned() };
        assert_eq!(line(30_000, fault), "  30.000s *          -    !! FAULT partition client-a <-> broker");
        let note = EventKind::Note { text: "phase liveness\nsecond line".to_owned() };
        assert_eq!(line(0, note), "   0.000s *          -    .. NOTE phase liveness\\nsecond line");
        let verdict = EventKind::Verdict { text: "pass".to_owned() };
        assert_eq!(line(90_000, verdict), "  90.000s *          -    ** VERDICT pass");
    }

    /// A delivery shows the client, the publisher's sequence number when known, and the message.
    #[test]
    fn a_delivery_shows_client_sequence_and_message() {
        let delivery = |publisher_seq| EventKind::Delivery {
            client: "client-b".to_owned(),
            topic: "a/b".to_owned(),
            qos: 2,
            retain: true,
            payload: Bytes::from_static(b"hi"),
            publisher_seq,
        };
        assert_eq!(
            line(1_502, delivery(Some(3))),
            "   1.502s client-b   -    => DELIVER seq=3 qos=2 retain=1 topic=\"a/b\" payload=\"hi\""
        );
        assert_eq!(
            line(1_502, delivery(None)),
            "   1.502s client-b   -    => DELIVER qos=2 retain=1 topic=\"a/b\" payload=\"hi\""
        );
    }

    /// UTF-8 payloads are quoted and escaped; others are hex; both are cut after 64 bytes with the full length.
    #[test]
    fn payloads_are_escaped_utf8_or_hex_and_truncated() {
        let show = |bytes: Vec<u8>| {
            let mut out = String::new();
            push_payload(&mut out, &Bytes::from(bytes));
            out
        };
        assert_eq!(show(b"say \"hi\"\\\n\t\r\x00\x7f".to_vec()), "\"say \\\"hi\\\"\\\\\\n\\t\\r\\u{0}\\u{7f}\"");
        assert_eq!(show("é ✓".as_bytes().to_vec()), "\"é ✓\"");
        assert_eq!(show(vec![0xff, 0x00, 0x10]), "hex:ff0010");
        assert_eq!(show(vec![b'x'; 64]), format!("\"{}\"", "x".repeat(64)));
        assert_eq!(show(vec![b'x'; 65]), format!("\"{}\"…(65 bytes)", "x".repeat(64)));
        assert_eq!(show(vec![0xfe; 100]), format!("hex:{}…(100 bytes)", "fe".repeat(64)));
        // 63 ASCII bytes then a two-byte character: the cut falls inside it, so it moves back before it.
        let mut split = vec![b'y'; 63];
        split.extend_from_slice("é".as_bytes());
        assert_eq!(show(split), format!("\"{}\"…(65 bytes)", "y".repeat(63)));
    }

    /// Names with spaces or control characters are escaped so the columns stay separable.
    #[test]
    fn names_in_columns_never_contain_spaces() {
        let opened = EventKind::Opened { endpoint: "my broker".into(), conn: 1, peer: String::new() };
        assert_eq!(line(0, opened), "   0.000s my\\u{20}broker #1   ++ OPEN peer=\"\"");
    }

    /// The sample trace renders line for line as documented in docs/trace-format.md.
    #[test]
    fn the_sample_trace_renders_as_documented() {
        let text = sample_trace().render_text();
        let expected = "\
# mqttsim trace
# seed: 42
# scenario: keepalive-expiry
# tick: 1ms
# config: {\"clients\":[\"client-a\",\"client-b\"],\"keep_alive_secs\":60,\"version\":\"5.0\"}
   0.000s *          -    .. NOTE phase safety
   0.003s broker     #1   ++ OPEN peer=client-a
   0.003s client-a   #1   -> CONNECT v=5.0 client_id=\"client-a\" clean_start=1 keep_alive=60
   0.004s broker     #1   <- CONNECT v=5.0 client_id=\"client-a\" clean_start=1 keep_alive=60
   0.004s broker     #1   :: CITE fulfilled 5.0/MQTT-3.1.4-5
   0.004s broker     #1   -> CONNACK session_present=0 rc=0x00
   1.500s client-a   #1   -> PUBLISH qos=1 pid=7 dup=0 retain=0 topic=\"a/b\" payload=\"hi\" props{message_expiry_interval_secs=60}
   1.501s broker     #1   -> PUBACK pid=7
   1.502s client-b   -    => DELIVER seq=1 qos=1 retain=0 topic=\"a/b\" payload=\"hi\"
  30.000s *          -    !! FAULT partition client-a <-> broker
  45.000s broker     #2   <- MALFORMED hex=3f00 error=\"PUBLISH with QoS 3\" statement=5.0/MQTT-3.3.1-4
  45.000s broker     #2   -- CLOSE by=local
  90.000s broker     #1   :: CITE fulfilled 5.0/MQTT-3.1.2-22
  90.000s broker     #1   -- CLOSE by=local
  90.000s *          -    ** VERDICT pass
";
        assert_eq!(text, expected);
        assert!(!text.contains("Some("), "no Debug output");
    }
}
