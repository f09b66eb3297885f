//! Deliberately malformed packets (built with the raw writer) that a server
//! must answer by closing the connection.

use super::connect::{close_after, Phase};
use super::{scenario, Scenario};
use crate::codec::raw::{self, RawPacket};
use crate::codec::{Packet, PacketType, Qos, Version};
use crate::conformance::{Ctx, Event, Stop};
use crate::spec::{v3_1_1, v5, StatementId};

pub(super) const SCENARIOS: &[Scenario] = &[
    scenario!("ill-formed-utf8-topic-closes", ill_formed_utf8,
        "a PUBLISH whose topic holds an encoded surrogate (ill-formed UTF-8) closes the connection",
        v3: [MQTT_1_5_3_1], v5: [MQTT_1_5_4_1, MQTT_4_13_1_1], requires: []),
    scenario!("null-character-topic-closes", null_character,
        "a PUBLISH whose topic holds U+0000 closes the connection",
        v3: [MQTT_1_5_3_2, MQTT_4_7_3_2], v5: [MQTT_1_5_4_2, MQTT_4_7_3_2], requires: []),
    scenario!("wildcard-in-topic-name-closes", wildcard_topic_name,
        "a PUBLISH to a topic name holding + closes the connection",
        v3: [MQTT_3_3_2_2, MQTT_4_7_1_1], v5: [MQTT_3_3_2_2, MQTT_4_7_0_1], requires: []),
    scenario!("qos3-publish-closes", qos3_publish, "a PUBLISH with both QoS bits set closes the connection",
        v3: [MQTT_3_3_1_4], v5: [MQTT_3_3_1_4], requires: []),
    scenario!("pubrel-reserved-flags-close", pubrel_flags, "a PUBREL with flags 0000 instead of 0010 closes the connection",
        v3: [MQTT_3_6_1_1, MQTT_2_2_2_2], v5: [MQTT_3_6_1_1, MQTT_2_1_3_1],
        requires: [super::Requirement::Qos(Qos::ExactlyOnce)]),
    scenario!("subscribe-reserved-flags-close", subscribe_flags,
        "a SUBSCRIBE with flags 0000 instead of 0010 closes the connection",
        v3: [MQTT_3_8_1_1, MQTT_2_2_2_1], v5: [MQTT_3_8_1_1], requires: []),
    scenario!("unsubscribe-reserved-flags-close", unsubscribe_flags,
        "an UNSUBSCRIBE with flags 0000 instead of 0010 closes the connection",
        v3: [MQTT_3_10_1_1], v5: [MQTT_3_10_1_1], requires: []),
    scenario!("subscribe-reserved-options-close", subscribe_options,
        "a SUBSCRIBE whose options byte sets reserved bits (3.1.1: QoS 3) closes the connection",
        v3: [MQTT_3_8_3_4], v5: [MQTT_3_8_3_5], requires: []),
    scenario!("empty-topic-name-closes", empty_topic_name,
        "a PUBLISH with a zero-length topic name (and no Topic Alias) closes the connection",
        v3: [MQTT_4_7_3_1], v5: [MQTT_4_7_3_1], requires: []),
];

/// Sends `bytes` on a fresh connection and requires the close (a 5.0
/// DISCONNECT with an error code may come first).
async fn expect_closed_after(ctx: &Ctx, bytes: &[u8], st: StatementId, expected: &str) -> Result<(), Stop> {
    let mut conn = ctx.client().await?;
    conn.send_raw(bytes).await?;
    let v5 = ctx.version == Version::V5;
    close_after(ctx, &mut conn, Phase::Connected, st, st, expected, |e| {
        v5 && matches!(e, Event::Packet(Packet::Disconnect(d)) if d.reason_code.0 >= 0x80)
    })
    .await
}

/// A QoS 0 PUBLISH with a topic of raw bytes.
fn publish_raw_topic(ctx: &Ctx, topic: &[u8]) -> Vec<u8> {
    let p = RawPacket::new(raw::fixed_header(PacketType::Publish, 0)).string_bytes(topic);
    let p = if ctx.version == Version::V5 { p.properties(|p| p) } else { p };
    p.bytes(b"payload").build()
}

async fn ill_formed_utf8(ctx: Ctx) -> Result<(), Stop> {
    let mut topic = ctx.topic("x").into_bytes();
    topic.extend_from_slice(&[0xED, 0xA0, 0x80]); // U+D800, a surrogate
    let st = ctx.st(v3_1_1::MQTT_1_5_3_1, v5::MQTT_1_5_4_1);
    expect_closed_after(&ctx, &publish_raw_topic(&ctx, &topic), st, "the connection closed").await
}

async fn null_character(ctx: Ctx) -> Result<(), Stop> {
    let mut topic = ctx.topic("x").into_bytes();
    topic.extend_from_slice(&[0x00, b'y']);
    let st = ctx.st(v3_1_1::MQTT_1_5_3_2, v5::MQTT_1_5_4_2);
    expect_closed_after(&ctx, &publish_raw_topic(&ctx, &topic), st, "the connection closed").await
}

async fn wildcard_topic_name(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("+").into_bytes();
    let st = ctx.st(v3_1_1::MQTT_3_3_2_2, v5::MQTT_3_3_2_2);
    expect_closed_after(&ctx, &publish_raw_topic(&ctx, &topic), st, "the connection closed").await
}

async fn qos3_publish(ctx: Ctx) -> Result<(), Stop> {
    let p = RawPacket::new(raw::fixed_header(PacketType::Publish, 0b0110)).string(&ctx.topic("q3")).u16(1);
    let p = if ctx.version == Version::V5 { p.properties(|p| p) } else { p };
    let st = ctx.st(v3_1_1::MQTT_3_3_1_4, v5::MQTT_3_3_1_4);
    expect_closed_after(&ctx, &p.bytes(b"x").build(), st, "the connection closed").await
}

async fn pubrel_flags(ctx: Ctx) -> Result<(), Stop> {
    let mut conn = ctx.client().await?;
    let id = conn.next_packet_id();
    let publish = ctx.publish_packet(&ctx.topic("t"), crate::codec::QosPid::ExactlyOnce(id), false, b"x")?;
    conn.send(&Packet::Publish(publish)).await?;
    let st = ctx.st(v3_1_1::MQTT_2_3_1_6, v5::MQTT_2_2_1_5);
    conn.expect(st, "PUBREC", |p| matches!(p, Packet::Pubrec(r) if r.packet_id == id)).await?;
    conn.send_raw(&RawPacket::new(raw::fixed_header(PacketType::Pubrel, 0)).u16(id.get()).build()).await?;
    let st = ctx.st(v3_1_1::MQTT_3_6_1_1, v5::MQTT_3_6_1_1);
    let v5 = ctx.version == Version::V5;
    close_after(&ctx, &mut conn, Phase::Connected, st, st, "the connection closed, no PUBCOMP", |e| {
        v5 && matches!(e, Event::Packet(Packet::Disconnect(d)) if d.reason_code.0 >= 0x80)
    })
    .await
}

fn subscribe_raw(ctx: &Ctx, flags: u8, options: u8) -> Vec<u8> {
    let p = RawPacket::new(raw::fixed_header(PacketType::Subscribe, flags)).u16(1);
    let p = if ctx.version == Version::V5 { p.properties(|p| p) } else { p };
    p.string(&ctx.topic("s")).u8(options).build()
}

async fn subscribe_flags(ctx: Ctx) -> Result<(), Stop> {
    let st = ctx.st(v3_1_1::MQTT_3_8_1_1, v5::MQTT_3_8_1_1);
    expect_closed_after(&ctx, &subscribe_raw(&ctx, 0, 0), st, "the connection closed, no SUBACK").await
}

async fn unsubscribe_flags(ctx: Ctx) -> Result<(), Stop> {
    let p = RawPacket::new(raw::fixed_header(PacketType::Unsubscribe, 0)).u16(1);
    let p = if ctx.version == Version::V5 { p.properties(|p| p) } else { p };
    let bytes = p.string(&ctx.topic("s")).build();
    let st = ctx.st(v3_1_1::MQTT_3_10_1_1, v5::MQTT_3_10_1_1);
    expect_closed_after(&ctx, &bytes, st, "the connection closed, no UNSUBACK").await
}

async fn subscribe_options(ctx: Ctx) -> Result<(), Stop> {
    let (options, st) = match ctx.version {
        Version::V3_1_1 => (0x03, v3_1_1::MQTT_3_8_3_4),
        Version::V5 => (0xC0, v5::MQTT_3_8_3_5),
    };
    expect_closed_after(&ctx, &subscribe_raw(&ctx, 0b0010, options), st, "the connection closed, no SUBACK").await
}

async fn empty_topic_name(ctx: Ctx) -> Result<(), Stop> {
    let st = ctx.st(v3_1_1::MQTT_4_7_3_1, v5::MQTT_4_7_3_1);
    expect_closed_after(&ctx, &publish_raw_topic(&ctx, b""), st, "the connection closed").await
}
