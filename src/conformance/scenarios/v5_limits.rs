//! MQTT 5.0 limits and property rules: malformed PUBLISH properties, a
//! small client Maximum Packet Size, acknowledgements with error codes.

use super::connect::{close_after, Phase};
use super::{scenario, Requirement, Scenario};
use crate::codec::raw::{self, RawPacket};
use crate::codec::{self, Packet, PacketType, PubResponse, Qos, ReasonCode, Version};
use crate::conformance::conn::describe;
use crate::conformance::{Ctx, Event, Stop};
use crate::spec::{v5, StatementId};

/// The publisher's Maximum Packet Size in `small-maximum-packet-size`:
/// room for bare acknowledgements (at most 6 bytes) and nothing more.
const SMALL_MAXIMUM_PACKET_SIZE: u32 = 16;

pub(super) const SCENARIOS: &[Scenario] = &[
    scenario!("response-topic-wildcard-closes", response_topic_wildcard,
        "a PUBLISH whose Response Topic holds a wildcard is malformed: the connection closes",
        v3: [], v5: [MQTT_3_3_2_14], requires: []),
    scenario!("response-topic-ill-formed-utf8-closes", response_topic_utf8,
        "a PUBLISH whose Response Topic is ill-formed UTF-8 is malformed: the connection closes",
        v3: [], v5: [MQTT_3_3_2_13], requires: []),
    scenario!("content-type-ill-formed-utf8-closes", content_type_utf8,
        "a PUBLISH whose Content Type is ill-formed UTF-8 is malformed: the connection closes",
        v3: [], v5: [MQTT_3_3_2_19], requires: []),
    scenario!("user-property-ill-formed-utf8-closes", user_property_utf8,
        "a PUBLISH whose User Property value is ill-formed UTF-8 is malformed: the connection closes",
        v3: [], v5: [MQTT_1_5_7_1], requires: []),
    scenario!("small-maximum-packet-size", small_maximum_packet_size,
        "with a small client Maximum Packet Size, no acknowledgement the server sends exceeds it (Reason Strings and User Properties left out)",
        v3: [],
        v5: [MQTT_3_1_2_24, MQTT_3_4_2_2, MQTT_3_4_2_3, MQTT_3_5_2_2, MQTT_3_5_2_3, MQTT_3_6_2_2, MQTT_3_6_2_3,
             MQTT_3_7_2_2, MQTT_3_7_2_3, MQTT_3_9_2_1, MQTT_3_9_2_2, MQTT_3_11_2_1, MQTT_3_11_2_2],
        requires: [Requirement::Qos(Qos::ExactlyOnce)]),
    scenario!("puback-error-not-retransmitted", puback_error_not_retransmitted,
        "a delivery answered with PUBACK 0x80 counts as acknowledged: not resent on session resume",
        v3: [], v5: [MQTT_4_4_0_2], requires: [Requirement::Qos(Qos::AtLeastOnce)]),
];

/// A QoS 0 PUBLISH to a fresh topic with the given property bytes.
fn publish_with(ctx: &Ctx, build: impl FnOnce(RawPacket) -> RawPacket) -> Vec<u8> {
    RawPacket::new(raw::fixed_header(PacketType::Publish, 0))
        .string(&ctx.topic("p"))
        .properties(build)
        .bytes(b"payload")
        .build()
}

async fn closes_on(ctx: &Ctx, bytes: &[u8], st: StatementId) -> Result<(), Stop> {
    let mut conn = ctx.client().await?;
    conn.send_raw(bytes).await?;
    close_after(
        ctx,
        &mut conn,
        Phase::Connected,
        st,
        st,
        "the connection closed",
        |e| matches!(e, Event::Packet(Packet::Disconnect(d)) if d.reason_code.0 >= 0x80),
    )
    .await
}

async fn response_topic_wildcard(ctx: Ctx) -> Result<(), Stop> {
    let bytes = publish_with(&ctx, |p| p.property_string(0x08, &ctx.topic("reply/#")));
    closes_on(&ctx, &bytes, v5::MQTT_3_3_2_14).await
}

async fn response_topic_utf8(ctx: Ctx) -> Result<(), Stop> {
    let bytes = publish_with(&ctx, |p| p.u8(0x08).string_bytes(b"reply/\xED\xA0\x80"));
    closes_on(&ctx, &bytes, v5::MQTT_3_3_2_13).await
}

async fn content_type_utf8(ctx: Ctx) -> Result<(), Stop> {
    let bytes = publish_with(&ctx, |p| p.u8(0x03).string_bytes(b"text/\xC0\xAF"));
    closes_on(&ctx, &bytes, v5::MQTT_3_3_2_19).await
}

async fn user_property_utf8(ctx: Ctx) -> Result<(), Stop> {
    let bytes = publish_with(&ctx, |p| p.u8(0x26).string("key").string_bytes(b"\xFF\xFE"));
    closes_on(&ctx, &bytes, v5::MQTT_1_5_7_1).await
}

/// Fails `st` if `p` encodes to more than `limit` bytes.
fn within(ctx: &Ctx, p: &Packet, limit: u32) -> Result<(), Stop> {
    let st = match p {
        Packet::Puback(_) => v5::MQTT_3_4_2_2,
        Packet::Pubrec(_) => v5::MQTT_3_5_2_2,
        Packet::Pubrel(_) => v5::MQTT_3_6_2_2,
        Packet::Pubcomp(_) => v5::MQTT_3_7_2_2,
        Packet::Suback(_) => v5::MQTT_3_9_2_1,
        Packet::Unsuback(_) => v5::MQTT_3_11_2_1,
        _ => v5::MQTT_3_1_2_24,
    };
    let size = codec::encode_to_vec(p, Version::V5).map_or(usize::MAX, |b| b.len());
    if size > limit as usize {
        return Err(ctx.fail(
            st,
            format!(
                "at most {limit} bytes, the client's Maximum Packet Size (Reason String / User Properties left out)"
            ),
            format!("{size} bytes: {}", describe(p)),
        ));
    }
    Ok(())
}

async fn small_maximum_packet_size(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("m");
    // The subscriber's limit is exactly the size of the message it gets, so
    // only a bare PUBREL fits beside it; the publisher's limit fits bare
    // acknowledgements only.
    let forwarded =
        ctx.publish_packet(&topic, codec::QosPid::ExactlyOnce(codec::PacketId::new(1).expect("1")), false, b"x")?;
    let sub_limit = codec::encode_to_vec(&Packet::Publish(forwarded), Version::V5)
        .map_err(|e| Stop::Error(e.to_string()))?
        .len() as u32;
    let mut opts = ctx.opts();
    opts.properties.maximum_packet_size = Some(sub_limit);
    let (mut sub, _, _) = ctx.connect_with(&opts).await?;
    let options = codec::SubscriptionOptions::qos(Qos::ExactlyOnce);
    let id = sub.next_packet_id();
    let subscriptions = vec![codec::Subscription {
        filter: codec::TopicFilter::new(topic.clone()).map_err(|e| Stop::Error(e.to_string()))?,
        options,
    }];
    sub.send(&Packet::Subscribe(codec::Subscribe { packet_id: id, properties: Default::default(), subscriptions }))
        .await?;
    let p = sub.expect(v5::MQTT_3_8_4_1, "SUBACK", |p| matches!(p, Packet::Suback(_))).await?;
    within(&ctx, &p, sub_limit)?;

    let mut opts = ctx.opts();
    opts.properties.maximum_packet_size = Some(SMALL_MAXIMUM_PACKET_SIZE);
    let (mut conn, _, _) = ctx.connect_with(&opts).await?;
    let id = conn.next_packet_id();
    let subscriptions = vec![codec::Subscription {
        filter: codec::TopicFilter::new(ctx.topic("other")).map_err(|e| Stop::Error(e.to_string()))?,
        options,
    }];
    conn.send(&Packet::Subscribe(codec::Subscribe { packet_id: id, properties: Default::default(), subscriptions }))
        .await?;
    let p = conn.expect(v5::MQTT_3_8_4_1, "SUBACK", |p| matches!(p, Packet::Suback(_))).await?;
    within(&ctx, &p, SMALL_MAXIMUM_PACKET_SIZE)?;
    let id = conn.next_packet_id();
    let filters = vec![codec::TopicFilter::new(ctx.topic("never")).map_err(|e| Stop::Error(e.to_string()))?];
    conn.send(&Packet::Unsubscribe(codec::Unsubscribe { packet_id: id, properties: Default::default(), filters }))
        .await?;
    let p = conn.expect(v5::MQTT_3_10_4_4, "UNSUBACK", |p| matches!(p, Packet::Unsuback(_))).await?;
    within(&ctx, &p, SMALL_MAXIMUM_PACKET_SIZE)?;
    // PUBACK for a message nobody gets (0x10 invites a Reason String).
    let id = conn.next_packet_id();
    let publish = ctx.publish_packet(&ctx.topic("nobody"), codec::QosPid::AtLeastOnce(id), false, b"x")?;
    conn.send(&Packet::Publish(publish)).await?;
    let p = conn.expect(v5::MQTT_2_2_1_5, "PUBACK", |p| matches!(p, Packet::Puback(_))).await?;
    within(&ctx, &p, SMALL_MAXIMUM_PACKET_SIZE)?;
    // QoS 2 to the subscriber: PUBREC and PUBCOMP to the publisher, PUBREL to the subscriber.
    let id = conn.next_packet_id();
    let publish = ctx.publish_packet(&topic, codec::QosPid::ExactlyOnce(id), false, b"x")?;
    conn.send(&Packet::Publish(publish)).await?;
    let p = conn.expect(v5::MQTT_4_3_3_8, "PUBREC", |p| matches!(p, Packet::Pubrec(_))).await?;
    within(&ctx, &p, SMALL_MAXIMUM_PACKET_SIZE)?;
    conn.send(&Packet::Pubrel(PubResponse::new(id))).await?;
    let p = conn.expect(v5::MQTT_4_3_3_11, "PUBCOMP", |p| matches!(p, Packet::Pubcomp(_))).await?;
    within(&ctx, &p, SMALL_MAXIMUM_PACKET_SIZE)?;
    let p =
        sub.expect_publish(v5::MQTT_3_1_2_24, "the message (it fits exactly)", |p| p.topic.as_str() == topic).await?;
    let pid = p.packet_id().expect("QoS 2");
    sub.send(&Packet::Pubrec(PubResponse::new(pid))).await?;
    let p = sub.expect(v5::MQTT_4_3_3_4, "PUBREL", |p| matches!(p, Packet::Pubrel(_))).await?;
    within(&ctx, &p, sub_limit)?;
    sub.send(&Packet::Pubcomp(PubResponse::new(pid))).await?;
    ctx.disconnect(conn).await?;
    ctx.disconnect(sub).await
}

async fn puback_error_not_retransmitted(ctx: Ctx) -> Result<(), Stop> {
    let id = ctx.client_id();
    let topic = ctx.topic("e");
    let mut opts = ctx.opts();
    opts.client_id = id.clone();
    opts.clean = false;
    opts.properties.session_expiry_interval_secs = Some(300);
    let (mut sub, _, _) = ctx.connect_with(&opts).await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtLeastOnce).await?;
    let mut publisher = ctx.client().await?;
    ctx.publish(&mut publisher, &topic, Qos::AtLeastOnce, false, b"refused").await?;
    let p = sub.expect_publish(v5::MQTT_4_4_0_2, "the message", |p| &p.payload[..] == b"refused").await?;
    let pid = p.packet_id().expect("QoS 1");
    let refuse = PubResponse { reason_code: ReasonCode::UNSPECIFIED_ERROR, ..PubResponse::new(pid) };
    sub.send(&Packet::Puback(refuse)).await?;
    sub.expect_nothing(v5::MQTT_4_4_0_2, "no resend after PUBACK 0x80").await?;
    sub.drop_connection().await;
    let (mut sub, _, _) = ctx.connect_with(&opts).await?;
    sub.expect_nothing(v5::MQTT_4_4_0_2, "no resend on resume: PUBACK 0x80 acknowledged it").await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await?;
    ctx.end_session(&id).await
}
