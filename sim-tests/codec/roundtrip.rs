//! Seeded round trips of random valid packets: encode → decode gives the same
//! value and consumes every byte, decode → encode gives the same bytes, a
//! stream of packets decodes in sequence however it is split, and every
//! strict prefix of a packet asks for more bytes.
//!
//! Each packet has its own seed (`BASE + type * 1_000_000 + index`), printed
//! on failure: `Gen::new(seed, version).packet(type)` rebuilds it.

use std::collections::{BTreeMap, BTreeSet};

use mqttsim::codec::{
    decode, encode_to_vec, DecodeErrorKind, DecodeOptions, Packet, PacketType, Properties, PropertyContext, PropertyId,
    Qos, ReasonCode, RetainHandling, Version,
};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::gen::{allowed_properties, packet_types, valid_reason_codes, Gen};
use super::to_hex;

/// Random packets per version and packet type.
const PACKETS_PER_TYPE: u64 = 10_000;
/// Failures reported before a test stops looking for more.
const MAX_FAILURES: usize = 10;

/// The seed of packet `index` of type `ty` for a test whose base seed is `base`.
fn packet_seed(base: u64, ty: PacketType, index: u64) -> u64 {
    base + ty as u64 * 1_000_000 + index
}

/// `Debug` of `packet` and hex of `bytes`, cut to a readable length.
fn describe(packet: &Packet, bytes: &[u8]) -> String {
    let mut text = format!("{packet:?}");
    if text.len() > 1500 {
        let cut = (0..=1500).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    let hex = to_hex(bytes);
    let hex = if hex.len() > 400 { format!("{}… ({} bytes)", &hex[..400], bytes.len()) } else { hex };
    format!("packet {text}\n    bytes {hex}")
}

/// Encodes `packet`, decodes it back, and re-encodes the decoded value;
/// returns why the round trip is not the identity, if it is not.
fn roundtrip_one(packet: &Packet, version: Version) -> Result<(), String> {
    let bytes = encode_to_vec(packet, version).map_err(|e| format!("encode failed: {e}"))?;
    let options = DecodeOptions::new(version);
    match decode(&bytes, &options) {
        Ok(Some((decoded, consumed))) => {
            if consumed != bytes.len() {
                return Err(format!("decode consumed {consumed} of {} bytes", bytes.len()));
            }
            if decoded != *packet {
                return Err(format!("decoded a different value: {decoded:?}"));
            }
            let again = encode_to_vec(&decoded, version).map_err(|e| format!("re-encode failed: {e}"))?;
            if again != bytes {
                return Err(format!("re-encoding the decoded value gave other bytes: {}", to_hex(&again)));
            }
        }
        Ok(None) => return Err("decode asked for more bytes".to_owned()),
        Err(e) => return Err(format!("decode rejected it: {e} ({e:?})")),
    }
    // The packet fits a maximum of exactly its size and not one byte less.
    let exact = DecodeOptions { version, max_packet_size: bytes.len() };
    if !matches!(decode(&bytes, &exact), Ok(Some(_))) {
        return Err(format!("rejected with max_packet_size = its size {}", bytes.len()));
    }
    let smaller = DecodeOptions { version, max_packet_size: bytes.len() - 1 };
    match decode(&bytes, &smaller) {
        Err(e) if matches!(e.kind, DecodeErrorKind::PacketTooLarge { size, max } if size == bytes.len() && max == bytes.len() - 1) => {
            Ok(())
        }
        other => Err(format!("with max_packet_size {} expected PacketTooLarge, got {other:?}", bytes.len() - 1)),
    }
}

/// The properties set in `p`, in identifier order.
fn present_properties(p: &Properties) -> Vec<PropertyId> {
    use PropertyId as P;
    let present = [
        (P::PayloadFormatIndicator, p.payload_format_indicator.is_some()),
        (P::MessageExpiryInterval, p.message_expiry_interval_secs.is_some()),
        (P::ContentType, p.content_type.is_some()),
        (P::ResponseTopic, p.response_topic.is_some()),
        (P::CorrelationData, p.correlation_data.is_some()),
        (P::SubscriptionIdentifier, !p.subscription_identifiers.is_empty()),
        (P::SessionExpiryInterval, p.session_expiry_interval_secs.is_some()),
        (P::AssignedClientIdentifier, p.assigned_client_identifier.is_some()),
        (P::ServerKeepAlive, p.server_keep_alive_secs.is_some()),
        (P::AuthenticationMethod, p.authentication_method.is_some()),
        (P::AuthenticationData, p.authentication_data.is_some()),
        (P::RequestProblemInformation, p.request_problem_information.is_some()),
        (P::WillDelayInterval, p.will_delay_interval_secs.is_some()),
        (P::RequestResponseInformation, p.request_response_information.is_some()),
        (P::ResponseInformation, p.response_information.is_some()),
        (P::ServerReference, p.server_reference.is_some()),
        (P::ReasonString, p.reason_string.is_some()),
        (P::ReceiveMaximum, p.receive_maximum.is_some()),
        (P::TopicAliasMaximum, p.topic_alias_maximum.is_some()),
        (P::TopicAlias, p.topic_alias.is_some()),
        (P::MaximumQos, p.maximum_qos.is_some()),
        (P::RetainAvailable, p.retain_available.is_some()),
        (P::UserProperty, !p.user_properties.is_empty()),
        (P::MaximumPacketSize, p.maximum_packet_size.is_some()),
        (P::WildcardSubscriptionAvailable, p.wildcard_subscription_available.is_some()),
        (P::SubscriptionIdentifierAvailable, p.subscription_identifier_available.is_some()),
        (P::SharedSubscriptionAvailable, p.shared_subscription_available.is_some()),
    ];
    present.iter().filter(|(_, set)| *set).map(|(id, _)| *id).collect()
}

/// What the generated packets of one version exercised: reason codes per
/// packet type, properties per context, and named features.
#[derive(Default)]
struct Coverage {
    reason_codes: BTreeMap<PacketType, BTreeSet<ReasonCode>>,
    properties: BTreeMap<String, BTreeSet<PropertyId>>,
    features: BTreeSet<&'static str>,
}

/// Features every version's packets must show at least once.
const FEATURES_BOTH: &[&str] = &[
    "PUBLISH QoS 0",
    "PUBLISH QoS 1",
    "PUBLISH QoS 2",
    "DUP",
    "RETAIN",
    "empty payload",
    "payload over 1 KiB",
    "packet identifier 1",
    "packet identifier 65535",
    "empty client identifier",
    "will",
    "will retain",
    "will QoS 2",
    "user name and password",
    "session present",
    "subscription QoS 2",
    "filter with +",
    "filter with #",
    "2-byte UTF-8",
    "3-byte UTF-8",
    "4-byte UTF-8",
    "BOM",
];

/// Features only 5.0 packets can show.
const FEATURES_V5: &[&str] = &[
    "password without user name",
    "will with properties",
    "repeated user property name",
    "several subscription identifiers",
    "empty topic with Topic Alias",
    "shared subscription",
    "No Local",
    "Retain As Published",
    "Retain Handling 1",
    "Retain Handling 2",
];

impl Coverage {
    fn properties(&mut self, context: &str, p: &Properties) {
        self.properties.entry(context.to_owned()).or_default().extend(present_properties(p));
        let names: Vec<&str> = p.user_properties.iter().map(|(n, _)| n.as_str()).collect();
        if names.iter().enumerate().any(|(i, n)| names[..i].contains(n)) {
            self.features.insert("repeated user property name");
        }
        if p.subscription_identifiers.len() > 1 {
            self.features.insert("several subscription identifiers");
        }
        let strings = p.user_properties.iter().flat_map(|(n, v)| [n.as_str(), v.as_str()]);
        let strings = strings.chain(p.content_type.as_deref()).chain(p.reason_string.as_deref());
        strings.for_each(|s| self.string(s));
    }

    fn string(&mut self, s: &str) {
        for c in s.chars() {
            match c.len_utf8() {
                2 => self.features.insert("2-byte UTF-8"),
                3 => self.features.insert("3-byte UTF-8"),
                4 => self.features.insert("4-byte UTF-8"),
                _ => false,
            };
            if c == '\u{FEFF}' {
                self.features.insert("BOM");
            }
        }
    }

    fn code(&mut self, ty: PacketType, code: ReasonCode) {
        self.reason_codes.entry(ty).or_default().insert(code);
    }

    fn record(&mut self, packet: &Packet) {
        let ty = packet.packet_type();
        let mut feature = |name: &'static str, present: bool| {
            if present {
                self.features.insert(name);
            }
        };
        match packet {
            Packet::Connect(c) => {
                feature("empty client identifier", c.client_id.is_empty());
                feature("user name and password", c.username.is_some() && c.password.is_some());
                feature("password without user name", c.username.is_none() && c.password.is_some());
                if let Some(w) = &c.will {
                    feature("will", true);
                    feature("will retain", w.retain);
                    feature("will QoS 2", w.qos == Qos::ExactlyOnce);
                    feature("will with properties", !w.properties.is_empty());
                    self.properties("will properties", &w.properties);
                    self.string(w.topic.as_str());
                }
                self.properties(ty.name(), &c.properties);
                self.string(&c.client_id);
                self.string(c.username.as_deref().unwrap_or(""));
            }
            Packet::Connack(c) => {
                feature("session present", c.session_present);
                self.code(ty, c.reason_code);
                self.properties(ty.name(), &c.properties);
            }
            Packet::Publish(p) => {
                feature(["PUBLISH QoS 0", "PUBLISH QoS 1", "PUBLISH QoS 2"][p.qos().as_u8() as usize], true);
                feature("DUP", p.dup);
                feature("RETAIN", p.retain);
                feature("empty payload", p.payload.is_empty());
                feature("payload over 1 KiB", p.payload.len() > 1024);
                feature("empty topic with Topic Alias", p.topic.is_empty() && p.properties.topic_alias.is_some());
                if let Some(id) = p.packet_id() {
                    feature("packet identifier 1", id.get() == 1);
                    feature("packet identifier 65535", id.get() == u16::MAX);
                }
                self.properties(ty.name(), &p.properties);
                self.string(p.topic.as_str());
            }
            Packet::Puback(r) | Packet::Pubrec(r) | Packet::Pubrel(r) | Packet::Pubcomp(r) => {
                self.code(ty, r.reason_code);
                self.properties(ty.name(), &r.properties);
            }
            Packet::Subscribe(s) => {
                for sub in &s.subscriptions {
                    feature("shared subscription", sub.filter.shared().is_some());
                    feature("No Local", sub.options.no_local);
                    feature("Retain As Published", sub.options.retain_as_published);
                    feature("Retain Handling 1", sub.options.retain_handling == RetainHandling::SendIfNew);
                    feature("Retain Handling 2", sub.options.retain_handling == RetainHandling::DoNotSend);
                    feature("subscription QoS 2", sub.options.qos == Qos::ExactlyOnce);
                    feature("filter with +", sub.filter.as_str().contains('+'));
                    feature("filter with #", sub.filter.as_str().contains('#'));
                }
                self.properties(ty.name(), &s.properties);
            }
            Packet::Suback(s) => {
                s.reason_codes.iter().for_each(|c| self.code(ty, *c));
                self.properties(ty.name(), &s.properties);
            }
            Packet::Unsubscribe(u) => self.properties(ty.name(), &u.properties),
            Packet::Unsuback(u) => {
                u.reason_codes.iter().for_each(|c| self.code(ty, *c));
                self.properties(ty.name(), &u.properties);
            }
            Packet::Pingreq | Packet::Pingresp => {}
            Packet::Disconnect(d) => {
                self.code(ty, d.reason_code);
                self.properties(ty.name(), &d.properties);
            }
            Packet::Auth(a) => {
                self.code(ty, a.reason_code);
                self.properties(ty.name(), &a.properties);
            }
        }
    }

    /// What a generator of `version` should have produced but did not.
    fn gaps(&self, version: Version) -> Vec<String> {
        let mut gaps = Vec::new();
        let v5 = version == Version::V5;
        for &ty in packet_types(version) {
            let carries_codes = match ty {
                PacketType::Connack | PacketType::Suback => true,
                PacketType::Unsuback | PacketType::Auth => v5,
                PacketType::Puback | PacketType::Pubrec | PacketType::Pubrel | PacketType::Pubcomp => true,
                PacketType::Disconnect => true,
                _ => false,
            };
            if carries_codes {
                let expected: BTreeSet<ReasonCode> = valid_reason_codes(version, ty).into_iter().collect();
                let seen = self.reason_codes.get(&ty).cloned().unwrap_or_default();
                if seen != expected {
                    gaps.push(format!("{ty} reason codes: expected {expected:?}, generated {seen:?}"));
                }
            }
            let expected: BTreeSet<PropertyId> = if v5 {
                allowed_properties(PropertyContext::Packet(ty)).iter().copied().collect()
            } else {
                BTreeSet::new()
            };
            let seen = self.properties.get(ty.name()).cloned().unwrap_or_default();
            if seen != expected {
                gaps.push(format!("{ty} properties: expected {expected:?}, generated {seen:?}"));
            }
        }
        let expected: BTreeSet<PropertyId> =
            if v5 { allowed_properties(PropertyContext::Will).iter().copied().collect() } else { BTreeSet::new() };
        let seen = self.properties.get("will properties").cloned().unwrap_or_default();
        if seen != expected {
            gaps.push(format!("will properties: expected {expected:?}, generated {seen:?}"));
        }
        for name in FEATURES_BOTH.iter().chain(if v5 { FEATURES_V5 } else { &[] }) {
            if !self.features.contains(name) {
                gaps.push(format!("feature never generated: {name}"));
            }
        }
        if !v5 {
            for name in FEATURES_V5.iter().filter(|n| self.features.contains(*n)) {
                gaps.push(format!("5.0-only feature generated for 3.1.1: {name}"));
            }
        }
        gaps
    }
}

/// Runs the round trip over `PACKETS_PER_TYPE` packets of every type of
/// `version`, then checks that the generator covered what it must.
fn roundtrip_every_type(version: Version, base_seed: u64) {
    let mut failures = Vec::new();
    let mut coverage = Coverage::default();
    'types: for &ty in packet_types(version) {
        for index in 0..PACKETS_PER_TYPE {
            let seed = packet_seed(base_seed, ty, index);
            let packet = Gen::new(seed, version).packet(ty);
            coverage.record(&packet);
            if let Err(why) = roundtrip_one(&packet, version) {
                let bytes = encode_to_vec(&packet, version).unwrap_or_default();
                failures.push(format!(
                    "{version} {ty} seed {seed} (Gen::new({seed}, {version:?}).packet({ty:?})): {why}\n    {}",
                    describe(&packet, &bytes)
                ));
                if failures.len() >= MAX_FAILURES {
                    break 'types;
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} round-trip failures (first {MAX_FAILURES} shown):\n{}",
        failures.len(),
        failures.join("\n")
    );
    let gaps = coverage.gaps(version);
    assert!(gaps.is_empty(), "the {version} generator missed (base seed {base_seed}):\n{}", gaps.join("\n"));
}

/// Every valid 3.1.1 packet survives encode → decode → encode unchanged, for 10,000 random packets of each type.
#[test]
fn random_valid_3_1_1_packets_round_trip_exactly() {
    roundtrip_every_type(Version::V3_1_1, 0x3110_0000_0000);
}

/// Every valid 5.0 packet (all properties, all reason codes) survives encode → decode → encode unchanged, for 10,000 random packets of each type.
#[test]
fn random_valid_5_0_packets_round_trip_exactly() {
    roundtrip_every_type(Version::V5, 0x5000_0000_0000);
}

/// The generator's property table (written from the specification) agrees with `PropertyId::allowed_in`.
#[test]
fn generator_property_table_agrees_with_allowed_in() {
    let mut contexts = vec![PropertyContext::Will];
    contexts.extend(packet_types(Version::V5).iter().map(|&ty| PropertyContext::Packet(ty)));
    let mut mismatches = Vec::new();
    for context in contexts {
        for id in PropertyId::ALL {
            let ours = allowed_properties(context).contains(&id);
            if ours != id.allowed_in(context) {
                mismatches.push(format!("{} in {context:?}: specification table says {ours}", id.name()));
            }
        }
    }
    assert!(mismatches.is_empty(), "allowed_in disagrees with section 2.2.2.2:\n{}", mismatches.join("\n"));
}

/// A stream of many packets of mixed types decodes packet by packet, each consuming exactly its own bytes.
#[test]
fn concatenated_packets_decode_in_sequence() {
    for (version, seed) in [(Version::V3_1_1, 0xC0_3110), (Version::V5, 0xC0_5000)] {
        let mut gen = Gen::new(seed, version);
        let packets: Vec<Packet> = (0..3_000).map(|_| gen.any_packet()).collect();
        let mut stream = Vec::new();
        let mut ends = Vec::new();
        for p in &packets {
            stream.extend(encode_to_vec(p, version).unwrap_or_else(|e| panic!("seed {seed}: encode {p:?}: {e}")));
            ends.push(stream.len());
        }
        let options = DecodeOptions::new(version);
        let mut offset = 0;
        for (i, expected) in packets.iter().enumerate() {
            match decode(&stream[offset..], &options) {
                Ok(Some((p, n))) => {
                    assert_eq!(&p, expected, "{version} seed {seed}: packet #{i} at byte {offset} decoded differently");
                    assert_eq!(offset + n, ends[i], "{version} seed {seed}: packet #{i} at byte {offset} consumed {n}");
                    offset += n;
                }
                other => {
                    panic!("{version} seed {seed}: packet #{i} at byte {offset}: expected a packet, got {other:?}")
                }
            }
        }
        assert_eq!(decode(&stream[offset..], &options), Ok(None), "{version} seed {seed}: end of stream");
    }
}

/// A stream fed in random-sized chunks decodes to the same packets as when it arrives whole.
#[test]
fn stream_split_at_random_points_decodes_the_same_packets() {
    for (version, seed) in [(Version::V3_1_1, 0x5711_3110), (Version::V5, 0x5711_5000)] {
        let mut gen = Gen::small(seed, version);
        let packets: Vec<Packet> = (0..2_000).map(|_| gen.any_packet()).collect();
        let stream: Vec<u8> = packets.iter().flat_map(|p| encode_to_vec(p, version).expect("valid packet")).collect();
        let mut rng = Pcg64Mcg::seed_from_u64(seed);
        let options = DecodeOptions::new(version);
        let mut buffer = Vec::new();
        let mut decoded = Vec::new();
        let mut fed = 0;
        while fed < stream.len() {
            let chunk = rng.random_range(1..=64).min(stream.len() - fed);
            buffer.extend_from_slice(&stream[fed..fed + chunk]);
            fed += chunk;
            loop {
                match decode(&buffer, &options) {
                    Ok(Some((p, n))) => {
                        decoded.push(p);
                        buffer.drain(..n);
                    }
                    Ok(None) => break,
                    Err(e) => panic!("{version} seed {seed}: after {fed} bytes, packet #{}: {e}", decoded.len()),
                }
            }
        }
        assert!(buffer.is_empty(), "{version} seed {seed}: {} bytes left over", buffer.len());
        assert_eq!(decoded.len(), packets.len(), "{version} seed {seed}: packet count");
        if let Some(i) = (0..packets.len()).find(|&i| decoded[i] != packets[i]) {
            panic!("{version} seed {seed}: packet #{i} differs:\n  sent {:?}\n   got {:?}", packets[i], decoded[i]);
        }
    }
}

/// Every strict prefix of a valid packet (the empty one included) is `Ok(None)`, never an error or a packet.
#[test]
fn every_strict_prefix_of_a_packet_asks_for_more_bytes() {
    const SAMPLES_PER_TYPE: u64 = 40;
    let mut failures = Vec::new();
    for version in Version::ALL {
        for &ty in packet_types(version) {
            for index in 0..SAMPLES_PER_TYPE {
                let seed = packet_seed(0x9F1E_0000_0000, ty, index);
                let packet = Gen::small(seed, version).packet(ty);
                let bytes = encode_to_vec(&packet, version).expect("valid packet");
                let options = DecodeOptions::new(version);
                if let Some(len) = (0..bytes.len()).find(|&len| decode(&bytes[..len], &options) != Ok(None)) {
                    failures.push(format!(
                        "{version} {ty} seed {seed} (Gen::small): prefix of {len} bytes gave {:?}\n    {}",
                        decode(&bytes[..len], &options),
                        describe(&packet, &bytes)
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} prefixes were not Ok(None):\n{}", failures.len(), failures.join("\n"));
}

/// Every generated packet survives a JSON round trip (the trace format) unchanged.
#[test]
fn generated_packets_survive_a_json_round_trip() {
    const SAMPLES_PER_TYPE: u64 = 300;
    let mut failures = Vec::new();
    for version in Version::ALL {
        for &ty in packet_types(version) {
            for index in 0..SAMPLES_PER_TYPE {
                let seed = packet_seed(0x15_0000_0000, ty, index);
                let packet = Gen::small(seed, version).packet(ty);
                let json = serde_json::to_string(&packet).expect("packets serialize");
                match serde_json::from_str::<Packet>(&json) {
                    Ok(back) if back == packet => {}
                    other => failures
                        .push(format!("{version} {ty} seed {seed} (Gen::small): {json}\n    read back as {other:?}")),
                }
                if failures.len() >= MAX_FAILURES {
                    break;
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} packets changed through JSON:\n{}", failures.len(), failures.join("\n"));
}

/// The encoder refuses values the wire cannot carry (AUTH in 3.1.1, a string over 65,535 bytes, a Subscription Identifier over 268,435,455) and accepts the largest that fit.
#[test]
fn encoder_refuses_values_the_wire_cannot_carry() {
    use mqttsim::codec::{Auth, EncodeError, Publish, QosPid, TopicName};
    let publish = |topic_len: usize, subscription_identifier: u32| {
        let mut properties = Properties::default();
        properties.subscription_identifiers.push(subscription_identifier);
        Packet::Publish(Publish {
            dup: false,
            qos_pid: QosPid::AtMostOnce,
            retain: false,
            topic: TopicName::new("t".repeat(topic_len)).expect("valid topic"),
            properties,
            payload: bytes::Bytes::new(),
        })
    };
    assert!(
        matches!(
            encode_to_vec(&Packet::Auth(Auth::default()), Version::V3_1_1),
            Err(EncodeError::NotInVersion { packet: PacketType::Auth, version: Version::V3_1_1 })
        ),
        "AUTH in 3.1.1"
    );
    let got = encode_to_vec(&publish(65_536, 1), Version::V5);
    assert!(matches!(got, Err(EncodeError::FieldTooLong { .. })), "65,536-byte topic: {:?}", got.map(|b| b.len()));
    let got = encode_to_vec(&publish(1, super::gen::VARINT_MAX + 1), Version::V5);
    assert!(
        matches!(got, Err(EncodeError::VarintTooLarge { value: 268_435_456, .. })),
        "Subscription Identifier 268,435,456: {got:?}"
    );
    let largest = publish(65_535, super::gen::VARINT_MAX);
    assert_eq!(
        roundtrip_one(&largest, Version::V5),
        Ok(()),
        "65,535-byte topic and Subscription Identifier 268,435,455"
    );
}
