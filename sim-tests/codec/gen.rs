//! A seeded generator of random VALID packets of either version.
//!
//! One seed gives one packet stream, byte for byte, on every machine
//! (`Pcg64Mcg`, no global RNG, no `HashMap`). Every value is valid per the
//! codec contract, so the decoder must accept its encoding:
//! - 5.0 packets carry any property allowed in them (section 2.2.2.2, written
//!   out here independently of `PropertyId::allowed_in`) with a valid value:
//!   0/1 flags, Receive Maximum, Maximum Packet Size, Topic Alias and
//!   Subscription Identifier at least 1, Maximum QoS 0 or 1, Authentication
//!   Data only with an Authentication Method, one Subscription Identifier in
//!   SUBSCRIBE and one or more in PUBLISH, repeated user property names;
//! - 3.1.1 packets hold nothing 5.0-only: no properties, `SUCCESS` on the
//!   acknowledgements and DISCONNECT, no UNSUBACK codes, no 5.0 subscription
//!   options, a password only with a user name, clean session with an empty
//!   client identifier;
//! - never QoS 3, DUP only on QoS 1 and 2, session present only on a
//!   successful CONNACK, reason codes drawn from `ReasonCode::valid_for`;
//! - strings mix ASCII, two-, three- and four-byte UTF-8 and U+FEFF (BOM),
//!   and avoid U+0000, control characters and non-characters; topic names
//!   have no wildcard and are empty only in a 5.0 PUBLISH with a Topic Alias;
//!   filters put `+` and `#` only where allowed, with `$share/` in 5.0.

use bytes::Bytes;
use mqttsim::codec::{
    Auth, Connack, Connect, Disconnect, Packet, PacketId, PacketType, Properties, PropertyContext, PropertyId,
    PubResponse, Publish, Qos, QosPid, ReasonCode, RetainHandling, Suback, Subscribe, Subscription,
    SubscriptionOptions, TopicFilter, TopicName, Unsuback, Unsubscribe, Version, Will,
};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// The largest value of a Variable Byte Integer.
pub const VARINT_MAX: u32 = 268_435_455;

/// Characters of more than one byte in UTF-8, including U+FEFF (the BOM,
/// which a receiver must keep [5.0 MQTT-1.5.4-3]) and the code points next to
/// the surrogate range.
const MULTIBYTE: [char; 13] =
    ['é', 'ß', 'Ω', 'Ж', '中', '語', '\u{FEFF}', '\u{FFFD}', '\u{D7FF}', '\u{E000}', '😀', '\u{10000}', '\u{10FFFD}'];

/// The packet types of `version`, in type-number order (AUTH only in 5.0).
pub fn packet_types(version: Version) -> &'static [PacketType] {
    use PacketType as T;
    const V3: [PacketType; 14] = [
        T::Connect,
        T::Connack,
        T::Publish,
        T::Puback,
        T::Pubrec,
        T::Pubrel,
        T::Pubcomp,
        T::Subscribe,
        T::Suback,
        T::Unsubscribe,
        T::Unsuback,
        T::Pingreq,
        T::Pingresp,
        T::Disconnect,
    ];
    const V5: [PacketType; 15] = [
        T::Connect,
        T::Connack,
        T::Publish,
        T::Puback,
        T::Pubrec,
        T::Pubrel,
        T::Pubcomp,
        T::Subscribe,
        T::Suback,
        T::Unsubscribe,
        T::Unsuback,
        T::Pingreq,
        T::Pingresp,
        T::Disconnect,
        T::Auth,
    ];
    match version {
        Version::V3_1_1 => &V3,
        Version::V5 => &V5,
    }
}

/// The properties MQTT 5.0 section 2.2.2.2 allows in `context`, in
/// identifier order.
pub fn allowed_properties(context: PropertyContext) -> &'static [PropertyId] {
    use PacketType as T;
    use PropertyId as P;
    match context {
        PropertyContext::Will => &[
            P::PayloadFormatIndicator,
            P::MessageExpiryInterval,
            P::ContentType,
            P::ResponseTopic,
            P::CorrelationData,
            P::WillDelayInterval,
            P::UserProperty,
        ],
        PropertyContext::Packet(T::Connect) => &[
            P::SessionExpiryInterval,
            P::AuthenticationMethod,
            P::AuthenticationData,
            P::RequestProblemInformation,
            P::RequestResponseInformation,
            P::ReceiveMaximum,
            P::TopicAliasMaximum,
            P::UserProperty,
            P::MaximumPacketSize,
        ],
        PropertyContext::Packet(T::Connack) => &[
            P::SessionExpiryInterval,
            P::AssignedClientIdentifier,
            P::ServerKeepAlive,
            P::AuthenticationMethod,
            P::AuthenticationData,
            P::ResponseInformation,
            P::ServerReference,
            P::ReasonString,
            P::ReceiveMaximum,
            P::TopicAliasMaximum,
            P::MaximumQos,
            P::RetainAvailable,
            P::UserProperty,
            P::MaximumPacketSize,
            P::WildcardSubscriptionAvailable,
            P::SubscriptionIdentifierAvailable,
            P::SharedSubscriptionAvailable,
        ],
        PropertyContext::Packet(T::Publish) => &[
            P::PayloadFormatIndicator,
            P::MessageExpiryInterval,
            P::ContentType,
            P::ResponseTopic,
            P::CorrelationData,
            P::SubscriptionIdentifier,
            P::TopicAlias,
            P::UserProperty,
        ],
        PropertyContext::Packet(T::Puback | T::Pubrec | T::Pubrel | T::Pubcomp | T::Suback | T::Unsuback) => {
            &[P::ReasonString, P::UserProperty]
        }
        PropertyContext::Packet(T::Subscribe) => &[P::SubscriptionIdentifier, P::UserProperty],
        PropertyContext::Packet(T::Unsubscribe) => &[P::UserProperty],
        PropertyContext::Packet(T::Pingreq | T::Pingresp) => &[],
        PropertyContext::Packet(T::Disconnect) => {
            &[P::SessionExpiryInterval, P::ServerReference, P::ReasonString, P::UserProperty]
        }
        PropertyContext::Packet(T::Auth) => {
            &[P::AuthenticationMethod, P::AuthenticationData, P::ReasonString, P::UserProperty]
        }
    }
}

/// Every reason code `packet` of `version` may carry, ascending.
pub fn valid_reason_codes(version: Version, packet: PacketType) -> Vec<ReasonCode> {
    (0..=u8::MAX).map(ReasonCode).filter(|code| code.valid_for(version, packet)).collect()
}

/// A seeded source of valid packets for one version.
pub struct Gen {
    rng: Pcg64Mcg,
    version: Version,
    large_payloads: bool,
}

impl Gen {
    /// A generator for `version` seeded with `seed`, with payloads up to 20 KiB.
    pub fn new(seed: u64, version: Version) -> Gen {
        Gen { rng: Pcg64Mcg::seed_from_u64(seed), version, large_payloads: true }
    }

    /// The same generator with payloads of at most 1 KiB, for tests that
    /// decode every prefix or mutate the bytes many times.
    pub fn small(seed: u64, version: Version) -> Gen {
        Gen { large_payloads: false, ..Gen::new(seed, version) }
    }

    /// A random valid packet of any type of this version.
    pub fn any_packet(&mut self) -> Packet {
        let types = packet_types(self.version);
        let ty = types[self.rng.random_range(0..types.len())];
        self.packet(ty)
    }

    /// A random valid packet of type `ty` (AUTH only for 5.0).
    pub fn packet(&mut self, ty: PacketType) -> Packet {
        use PacketType as T;
        match ty {
            T::Connect => Packet::Connect(self.connect()),
            T::Connack => Packet::Connack(self.connack()),
            T::Publish => Packet::Publish(self.publish()),
            T::Puback => Packet::Puback(self.pub_response(ty)),
            T::Pubrec => Packet::Pubrec(self.pub_response(ty)),
            T::Pubrel => Packet::Pubrel(self.pub_response(ty)),
            T::Pubcomp => Packet::Pubcomp(self.pub_response(ty)),
            T::Subscribe => Packet::Subscribe(self.subscribe()),
            T::Suback => Packet::Suback(self.suback()),
            T::Unsubscribe => Packet::Unsubscribe(self.unsubscribe()),
            T::Unsuback => Packet::Unsuback(self.unsuback()),
            T::Pingreq => Packet::Pingreq,
            T::Pingresp => Packet::Pingresp,
            T::Disconnect => Packet::Disconnect(Disconnect {
                reason_code: self.reason_code(ty),
                properties: self.properties(PropertyContext::Packet(ty)),
            }),
            T::Auth => {
                assert_eq!(self.version, Version::V5, "AUTH exists only in 5.0");
                Packet::Auth(Auth {
                    reason_code: self.reason_code(ty),
                    properties: self.properties(PropertyContext::Packet(ty)),
                })
            }
        }
    }

    fn is_v5(&self) -> bool {
        self.version == Version::V5
    }

    fn coin(&mut self) -> bool {
        self.rng.random::<bool>()
    }

    fn one_in(&mut self, n: u32) -> bool {
        self.rng.random_range(0..n) == 0
    }

    fn connect(&mut self) -> Connect {
        let client_id = if self.one_in(8) { String::new() } else { self.string() };
        // 3.1.1: a client sending an empty client identifier must set Clean
        // Session [3.1.1 MQTT-3.1.3-7]; 5.0 has no such rule.
        let clean_start = if client_id.is_empty() && !self.is_v5() { true } else { self.coin() };
        let will = if self.coin() { Some(self.will()) } else { None };
        let username = if self.coin() { Some(self.string()) } else { None };
        // 3.1.1: no password without a user name [3.1.1 MQTT-3.1.2-22].
        let password = if (username.is_some() || self.is_v5()) && self.coin() { Some(self.bytes(0..40)) } else { None };
        Connect {
            version: self.version,
            clean_start,
            keep_alive_secs: self.u16(),
            properties: self.properties(PropertyContext::Packet(PacketType::Connect)),
            client_id,
            will,
            username,
            password,
        }
    }

    fn will(&mut self) -> Will {
        let properties = self.properties(PropertyContext::Will);
        let payload = self.payload(properties.payload_format_indicator == Some(1));
        Will { topic: self.topic_name(), payload, qos: self.qos(), retain: self.coin(), properties }
    }

    fn connack(&mut self) -> Connack {
        let reason_code = self.reason_code(PacketType::Connack);
        // Session present only on a successful CONNACK [3.1.1 MQTT-3.2.2-4, 5.0 MQTT-3.2.2-6].
        let session_present = reason_code.is_success() && self.coin();
        Connack {
            session_present,
            reason_code,
            properties: self.properties(PropertyContext::Packet(PacketType::Connack)),
        }
    }

    fn publish(&mut self) -> Publish {
        let qos_pid = match self.rng.random_range(0..3) {
            0 => QosPid::AtMostOnce,
            1 => QosPid::AtLeastOnce(self.packet_id()),
            _ => QosPid::ExactlyOnce(self.packet_id()),
        };
        // DUP only on QoS 1 and 2 [MQTT-3.3.1-2].
        let dup = qos_pid != QosPid::AtMostOnce && self.coin();
        let properties = self.properties(PropertyContext::Packet(PacketType::Publish));
        // 5.0: with a Topic Alias the topic name may be empty (section 3.3.2.3.4).
        let topic = if properties.topic_alias.is_some() && self.coin() {
            TopicName::new("").expect("the empty topic name is representable")
        } else {
            self.topic_name()
        };
        let payload = self.payload(properties.payload_format_indicator == Some(1));
        Publish { dup, qos_pid, retain: self.coin(), topic, properties, payload }
    }

    fn pub_response(&mut self, ty: PacketType) -> PubResponse {
        PubResponse {
            packet_id: self.packet_id(),
            reason_code: self.reason_code(ty),
            properties: self.properties(PropertyContext::Packet(ty)),
        }
    }

    fn subscribe(&mut self) -> Subscribe {
        let count = self.rng.random_range(1..=6);
        let subscriptions = (0..count)
            .map(|_| {
                let filter = self.topic_filter();
                let options = if self.is_v5() {
                    SubscriptionOptions {
                        qos: self.qos(),
                        // No Local is a protocol error on a shared subscription [5.0 MQTT-3.8.3-4].
                        no_local: filter.shared().is_none() && self.coin(),
                        retain_as_published: self.coin(),
                        retain_handling: match self.rng.random_range(0..3) {
                            0 => RetainHandling::SendAtSubscribe,
                            1 => RetainHandling::SendIfNew,
                            _ => RetainHandling::DoNotSend,
                        },
                    }
                } else {
                    SubscriptionOptions::qos(self.qos())
                };
                Subscription { filter, options }
            })
            .collect();
        Subscribe {
            packet_id: self.packet_id(),
            properties: self.properties(PropertyContext::Packet(PacketType::Subscribe)),
            subscriptions,
        }
    }

    fn suback(&mut self) -> Suback {
        let count = self.rng.random_range(1..=8);
        let reason_codes = (0..count).map(|_| self.reason_code(PacketType::Suback)).collect();
        Suback {
            packet_id: self.packet_id(),
            properties: self.properties(PropertyContext::Packet(PacketType::Suback)),
            reason_codes,
        }
    }

    fn unsubscribe(&mut self) -> Unsubscribe {
        let count = self.rng.random_range(1..=6);
        let filters = (0..count).map(|_| self.topic_filter()).collect();
        Unsubscribe {
            packet_id: self.packet_id(),
            properties: self.properties(PropertyContext::Packet(PacketType::Unsubscribe)),
            filters,
        }
    }

    fn unsuback(&mut self) -> Unsuback {
        // 3.1.1 UNSUBACK has no payload; 5.0 has one code per filter.
        let count = if self.is_v5() { self.rng.random_range(1..=8) } else { 0 };
        let reason_codes = (0..count).map(|_| self.reason_code(PacketType::Unsuback)).collect();
        Unsuback {
            packet_id: self.packet_id(),
            properties: self.properties(PropertyContext::Packet(PacketType::Unsuback)),
            reason_codes,
        }
    }

    /// A reason code valid for `packet` in this version (`SUCCESS` where
    /// 3.1.1 has none).
    fn reason_code(&mut self, packet: PacketType) -> ReasonCode {
        let codes = valid_reason_codes(self.version, packet);
        assert!(!codes.is_empty(), "no valid reason code for {packet} in {}", self.version);
        codes[self.rng.random_range(0..codes.len())]
    }

    /// The properties of `context`: empty in 3.1.1; in 5.0 each allowed
    /// property is present with a probability drawn per packet, so that
    /// packets with none and with all of them both occur.
    fn properties(&mut self, context: PropertyContext) -> Properties {
        use PropertyId as P;
        let mut p = Properties::default();
        if !self.is_v5() {
            return p;
        }
        let density = [0.0, 0.3, 0.7, 1.0][self.rng.random_range(0..4)];
        for &id in allowed_properties(context) {
            if !self.rng.random_bool(density) {
                continue;
            }
            match id {
                P::PayloadFormatIndicator => p.payload_format_indicator = Some(self.flag()),
                P::MessageExpiryInterval => p.message_expiry_interval_secs = Some(self.u32()),
                P::ContentType => p.content_type = Some(self.string()),
                P::ResponseTopic => p.response_topic = Some(self.topic_name().as_str().to_owned()),
                P::CorrelationData => p.correlation_data = Some(self.bytes(0..40)),
                P::SubscriptionIdentifier => {
                    // One in SUBSCRIBE; a server may put several in PUBLISH.
                    let count = if context == PropertyContext::Packet(PacketType::Publish) {
                        self.rng.random_range(1..=4)
                    } else {
                        1
                    };
                    p.subscription_identifiers = (0..count).map(|_| self.subscription_identifier()).collect();
                }
                P::SessionExpiryInterval => p.session_expiry_interval_secs = Some(self.u32()),
                P::AssignedClientIdentifier => p.assigned_client_identifier = Some(self.string()),
                P::ServerKeepAlive => p.server_keep_alive_secs = Some(self.u16()),
                P::AuthenticationMethod => p.authentication_method = Some(self.string()),
                P::AuthenticationData => p.authentication_data = Some(self.bytes(0..40)),
                P::RequestProblemInformation => p.request_problem_information = Some(self.flag()),
                P::WillDelayInterval => p.will_delay_interval_secs = Some(self.u32()),
                P::RequestResponseInformation => p.request_response_information = Some(self.flag()),
                P::ResponseInformation => p.response_information = Some(self.string()),
                P::ServerReference => p.server_reference = Some(self.string()),
                P::ReasonString => p.reason_string = Some(self.string()),
                P::ReceiveMaximum => p.receive_maximum = Some(self.nonzero_u16()),
                P::TopicAliasMaximum => p.topic_alias_maximum = Some(self.u16()),
                P::TopicAlias => p.topic_alias = Some(self.nonzero_u16()),
                P::MaximumQos => p.maximum_qos = Some(self.flag()),
                P::RetainAvailable => p.retain_available = Some(self.flag()),
                P::UserProperty => p.user_properties = self.user_properties(),
                P::MaximumPacketSize => p.maximum_packet_size = Some(self.u32().max(1)),
                P::WildcardSubscriptionAvailable => p.wildcard_subscription_available = Some(self.flag()),
                P::SubscriptionIdentifierAvailable => p.subscription_identifier_available = Some(self.flag()),
                P::SharedSubscriptionAvailable => p.shared_subscription_available = Some(self.flag()),
            }
        }
        // Authentication Data without a method is a protocol error (section 3.1.2.11.10).
        if p.authentication_method.is_none() {
            p.authentication_data = None;
        }
        p
    }

    /// One to five user properties; names repeat about a third of the time.
    fn user_properties(&mut self) -> Vec<(String, String)> {
        let count = self.rng.random_range(1..=5);
        let mut pairs: Vec<(String, String)> = Vec::with_capacity(count);
        for _ in 0..count {
            let name = match pairs.len() {
                n if n > 0 && self.one_in(3) => pairs[self.rng.random_range(0..n)].0.clone(),
                _ => self.string(),
            };
            let value = self.string();
            pairs.push((name, value));
        }
        pairs
    }

    fn qos(&mut self) -> Qos {
        match self.rng.random_range(0..3) {
            0 => Qos::AtMostOnce,
            1 => Qos::AtLeastOnce,
            _ => Qos::ExactlyOnce,
        }
    }

    fn flag(&mut self) -> u8 {
        self.rng.random_range(0..=1)
    }

    /// A packet identifier over the whole range, with its ends often.
    fn packet_id(&mut self) -> PacketId {
        PacketId::new(self.nonzero_u16()).expect("non-zero by construction")
    }

    fn nonzero_u16(&mut self) -> u16 {
        match self.rng.random_range(0..8) {
            0 => 1,
            1 => u16::MAX,
            _ => self.rng.random_range(1..=u16::MAX),
        }
    }

    fn u16(&mut self) -> u16 {
        match self.rng.random_range(0..8) {
            0 => 0,
            1 => u16::MAX,
            _ => self.rng.random(),
        }
    }

    fn u32(&mut self) -> u32 {
        match self.rng.random_range(0..8) {
            0 => 0,
            1 => u32::MAX,
            2 => self.rng.random_range(0..=u32::from(u16::MAX)),
            _ => self.rng.random(),
        }
    }

    /// A Subscription Identifier (1..=268,435,455), often at a boundary
    /// between encoded lengths.
    fn subscription_identifier(&mut self) -> u32 {
        const EDGES: [u32; 8] = [1, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, VARINT_MAX];
        if self.coin() {
            EDGES[self.rng.random_range(0..EDGES.len())]
        } else {
            self.rng.random_range(1..=VARINT_MAX)
        }
    }

    /// One character of a string: printable ASCII (except the characters in
    /// `excluded`) or a multi-byte character.
    fn char_excluding(&mut self, excluded: &str) -> char {
        loop {
            let c = if self.one_in(4) {
                MULTIBYTE[self.rng.random_range(0..MULTIBYTE.len())]
            } else {
                char::from(self.rng.random_range(0x20u8..0x7F))
            };
            if !excluded.contains(c) {
                return c;
            }
        }
    }

    /// A general UTF-8 string: empty, short or up to 200 characters, and
    /// sometimes opening with a BOM.
    fn string(&mut self) -> String {
        let len = match self.rng.random_range(0..20) {
            0..=2 => 0,
            3..=16 => self.rng.random_range(1..12),
            _ => self.rng.random_range(12..200),
        };
        let mut s = String::new();
        if self.one_in(16) {
            s.push('\u{FEFF}');
        }
        for _ in 0..len {
            s.push(self.char_excluding(""));
        }
        s
    }

    /// One topic level with no `/`, `+` or `#`; sometimes empty.
    fn topic_level(&mut self) -> String {
        let len = if self.one_in(10) { 0 } else { self.rng.random_range(1..10) };
        (0..len).map(|_| self.char_excluding("/+#")).collect()
    }

    /// A non-empty topic name without wildcards; sometimes a `$` topic.
    fn topic_name(&mut self) -> TopicName {
        let levels = self.rng.random_range(1..=5);
        let mut name = (0..levels).map(|_| self.topic_level()).collect::<Vec<_>>().join("/");
        if self.one_in(16) {
            name.insert_str(0, "$SYS/");
        }
        if name.is_empty() {
            name.push('t');
        }
        TopicName::new(name).expect("generated topic names are valid")
    }

    /// A valid topic filter; in 5.0 sometimes a shared subscription.
    fn topic_filter(&mut self) -> TopicFilter {
        let inner = self.plain_filter();
        let filter = if self.is_v5() && self.one_in(5) {
            let mut share = self.topic_level();
            if share.is_empty() {
                share.push('g');
            }
            format!("$share/{share}/{inner}")
        } else {
            inner
        };
        TopicFilter::new(filter).expect("generated topic filters are valid")
    }

    /// A non-empty filter of one to five levels, each `+`, `#` (last level
    /// only) or text, never starting with `$share`.
    fn plain_filter(&mut self) -> String {
        let levels = self.rng.random_range(1..=5);
        let mut parts = Vec::with_capacity(levels);
        for i in 0..levels {
            let part = match self.rng.random_range(0..10) {
                0 | 1 => "+".to_owned(),
                2 if i + 1 == levels => "#".to_owned(),
                _ => self.topic_level(),
            };
            parts.push(part);
        }
        let mut filter = parts.join("/");
        if filter.is_empty() {
            filter.push('#');
        }
        if filter.starts_with("$share") {
            filter.insert(0, 'x');
        }
        filter
    }

    /// Random bytes with a length in `len`.
    fn bytes(&mut self, len: std::ops::Range<usize>) -> Bytes {
        let n = self.rng.random_range(len);
        let mut v = vec![0u8; n];
        self.rng.fill(&mut v[..]);
        Bytes::from(v)
    }

    /// A payload: often empty, mostly small, sometimes up to 1 KiB and (when
    /// allowed) up to 20 KiB. UTF-8 text when the Payload Format Indicator
    /// says so.
    fn payload(&mut self, utf8: bool) -> Bytes {
        let len = match self.rng.random_range(0..40) {
            0..=7 => 0,
            8..=31 => self.rng.random_range(1..64),
            32..=37 => self.rng.random_range(64..1024),
            _ if self.large_payloads => self.rng.random_range(1024..20_000),
            _ => self.rng.random_range(64..1024),
        };
        if utf8 {
            let mut s = String::with_capacity(len);
            while s.len() < len {
                s.push(self.char_excluding(""));
            }
            Bytes::from(s)
        } else {
            let mut v = vec![0u8; len];
            self.rng.fill(&mut v[..]);
            Bytes::from(v)
        }
    }
}
