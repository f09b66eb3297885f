//! QoS 0, 1 and 2 flows between a publisher, the server and a subscriber;
//! ordering.

use super::{scenario, Requirement, Scenario};
use crate::codec::{Packet, PacketId, PubResponse, Qos, QosPid};
use crate::conformance::conn::{describe, describe_event};
use crate::conformance::{Ctx, Event, Stop};
use crate::spec::{v3_1_1, v5};

pub(super) const SCENARIOS: &[Scenario] = &[
    scenario!("qos1-puback", qos1_puback, "a QoS 1 PUBLISH gets a PUBACK with the same packet id",
        v3: [MQTT_2_3_1_6, MQTT_3_3_4_1, MQTT_4_3_2_2], v5: [MQTT_2_2_1_5, MQTT_3_3_4_1, MQTT_4_3_2_4],
        requires: [Requirement::Qos(Qos::AtLeastOnce)]),
    scenario!("qos2-flow", qos2_flow,
        "QoS 2: PUBREC (again for a DUP resend), PUBCOMP for PUBREL, one copy to the subscriber (forwarded on PUBLISH or on PUBREL)",
        v3: [MQTT_2_3_1_6, MQTT_3_3_4_1, MQTT_4_3_3_2],
        v5: [MQTT_2_2_1_5, MQTT_3_3_4_1, MQTT_4_3_3_8, MQTT_4_3_3_10, MQTT_4_3_3_11, MQTT_4_3_3_2],
        requires: [Requirement::Qos(Qos::ExactlyOnce)]),
    scenario!("qos-downgraded-to-granted", qos_downgraded,
        "a QoS 1 message to a QoS 0 subscription is delivered at QoS 0",
        v3: [MQTT_3_8_4_6], v5: [MQTT_3_8_4_8, MQTT_4_8_2_3], requires: [Requirement::Qos(Qos::AtLeastOnce)]),
    scenario!("qos1-forwarded", qos1_forwarded,
        "a QoS 1 message (sent with DUP 1) reaches a QoS 1 subscriber at QoS 1 with DUP 0 and a packet id",
        v3: [MQTT_3_3_1_3, MQTT_4_3_2_1, MQTT_4_5_0_1], v5: [MQTT_3_3_1_3, MQTT_4_3_2_2, MQTT_2_2_1_4, MQTT_4_5_0_1],
        requires: [Requirement::Qos(Qos::AtLeastOnce)]),
    scenario!("qos0-forwarded", qos0_forwarded, "a QoS 0 message is forwarded with QoS 0 and DUP 0",
        v3: [MQTT_3_3_1_2, MQTT_4_3_1_1], v5: [MQTT_3_3_1_2, MQTT_4_3_1_1, MQTT_2_2_1_2], requires: []),
    scenario!("ordered-delivery", ordered_delivery,
        "five QoS 1 messages from one publisher reach the subscriber in order, in flight together with distinct packet ids",
        v3: [MQTT_4_6_0_5, MQTT_4_6_0_6, MQTT_4_3_2_1], v5: [MQTT_4_6_0_5, MQTT_4_6_0_6, MQTT_4_3_2_1],
        requires: [Requirement::Qos(Qos::AtLeastOnce)]),
];

async fn qos1_puback(ctx: Ctx) -> Result<(), Stop> {
    let mut conn = ctx.client().await?;
    let id = PacketId::new(0x1234).expect("non-zero");
    let publish = ctx.publish_packet(&ctx.topic("t"), QosPid::AtLeastOnce(id), false, b"x")?;
    conn.send(&Packet::Publish(publish)).await?;
    let st = ctx.st(v3_1_1::MQTT_2_3_1_6, v5::MQTT_2_2_1_5);
    conn.expect(st, "PUBACK with packet id 4660", |p| matches!(p, Packet::Puback(r) if r.packet_id == id)).await?;
    ctx.disconnect(conn).await
}

async fn qos2_flow(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("t");
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::ExactlyOnce).await?;
    let mut publisher = ctx.client().await?;
    let id = PacketId::new(77).expect("non-zero");
    let mut publish = ctx.publish_packet(&topic, QosPid::ExactlyOnce(id), false, b"once")?;
    publisher.send(&Packet::Publish(publish.clone())).await?;
    let st = ctx.st(v3_1_1::MQTT_2_3_1_6, v5::MQTT_4_3_3_8);
    publisher.expect(st, "PUBREC with packet id 77", |p| matches!(p, Packet::Pubrec(r) if r.packet_id == id)).await?;
    publish.dup = true;
    publisher.send(&Packet::Publish(publish)).await?;
    let st = ctx.st(v3_1_1::MQTT_4_3_3_2, v5::MQTT_4_3_3_10);
    publisher
        .expect(st, "PUBREC again for the resent PUBLISH", |p| matches!(p, Packet::Pubrec(r) if r.packet_id == id))
        .await?;

    // Which allowed variation: forwarded on PUBLISH (the copy is already
    // queued for the subscriber) or only on PUBREL.
    sub.send(&Packet::Pingreq).await?;
    let early = match sub.recv(ctx.wait).await {
        Event::Packet(Packet::Publish(p)) => {
            sub.expect(st, "PINGRESP", |p| matches!(p, Packet::Pingresp)).await?;
            Some(p)
        }
        Event::Packet(Packet::Pingresp) => None,
        other => return Err(ctx.fail(st, "the message or the PINGRESP", describe_event(&other))),
    };
    match (ctx.variations.qos2_forward.as_deref(), &early) {
        (Some("on_publish"), None) => {
            return Err(ctx.fail(st, "the profile says QoS 2 is forwarded on PUBLISH", "nothing before PUBREL"))
        }
        (Some("on_pubrel"), Some(p)) => {
            return Err(ctx.fail(
                st,
                "the profile says QoS 2 is forwarded on PUBREL",
                describe(&Packet::Publish(p.clone())),
            ))
        }
        _ => {}
    }
    publisher.send(&Packet::Pubrel(PubResponse::new(id))).await?;
    let st_comp = ctx.st(v3_1_1::MQTT_4_3_3_2, v5::MQTT_4_3_3_11);
    publisher
        .expect(st_comp, "PUBCOMP with packet id 77", |p| matches!(p, Packet::Pubcomp(r) if r.packet_id == id))
        .await?;
    let copy = match early {
        Some(p) => p,
        None => sub.expect_publish(st, "the message, once", |p| p.topic.as_str() == topic).await?,
    };
    if copy.qos() != Qos::ExactlyOnce || copy.dup {
        let st = ctx.st(v3_1_1::MQTT_4_3_3_1, v5::MQTT_4_3_3_2);
        return Err(ctx.fail(st, "QoS 2, DUP 0 on the first delivery", describe(&Packet::Publish(copy))));
    }
    sub.ack(&copy, st).await?;
    sub.expect_nothing(st, "no second copy of the message").await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}

async fn qos_downgraded(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("t");
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtMostOnce).await?;
    let mut publisher = ctx.client().await?;
    ctx.publish(&mut publisher, &topic, Qos::AtLeastOnce, false, b"x").await?;
    let st = ctx.st(v3_1_1::MQTT_3_8_4_6, v5::MQTT_3_8_4_8);
    sub.expect_publish(st, "the message at QoS 0", |p| p.qos() == Qos::AtMostOnce).await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}

async fn qos1_forwarded(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("t");
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtLeastOnce).await?;
    let mut publisher = ctx.client().await?;
    let id = publisher.next_packet_id();
    let mut publish = ctx.publish_packet(&topic, QosPid::AtLeastOnce(id), false, b"x")?;
    publish.dup = true;
    ctx.publish_full(&mut publisher, publish).await?;
    let st = ctx.st(v3_1_1::MQTT_4_5_0_1, v5::MQTT_4_5_0_1);
    let p = sub.expect_publish(st, "the message", |p| p.topic.as_str() == topic).await?;
    if p.qos() != Qos::AtLeastOnce {
        let st = ctx.st(v3_1_1::MQTT_4_3_2_1, v5::MQTT_4_3_2_2);
        return Err(ctx.fail(st, "QoS 1", describe(&Packet::Publish(p))));
    }
    if p.dup {
        let st = ctx.st(v3_1_1::MQTT_3_3_1_3, v5::MQTT_3_3_1_3);
        return Err(ctx.fail(
            st,
            "DUP 0 on the first delivery, whatever the inbound DUP",
            describe(&Packet::Publish(p)),
        ));
    }
    sub.ack(&p, st).await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}

async fn qos0_forwarded(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("t");
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, ctx.caps.maximum_qos.min(Qos::AtLeastOnce)).await?;
    let mut publisher = ctx.client().await?;
    ctx.publish(&mut publisher, &topic, Qos::AtMostOnce, false, b"x").await?;
    let st = ctx.st(v3_1_1::MQTT_4_3_1_1, v5::MQTT_4_3_1_1);
    sub.expect_publish(st, "the message with QoS 0 and DUP 0", |p| p.qos() == Qos::AtMostOnce && !p.dup).await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}

async fn ordered_delivery(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("t");
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtLeastOnce).await?;
    let mut publisher = ctx.client().await?;
    for i in 0..5u8 {
        ctx.publish(&mut publisher, &topic, Qos::AtLeastOnce, false, &[b'0' + i]).await?;
    }
    let st = ctx.st(v3_1_1::MQTT_4_6_0_6, v5::MQTT_4_6_0_5);
    // Received before any PUBACK: all five are in flight at once.
    let mut received = Vec::new();
    for i in 0..5u8 {
        let p =
            sub.expect_publish(st, &format!("message {i} (in publish order)"), |p| p.payload[..] == [b'0' + i]).await?;
        received.push(p);
    }
    let mut ids: Vec<_> = received.iter().filter_map(|p| p.packet_id()).collect();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() != received.len() {
        let st = ctx.st(v3_1_1::MQTT_4_3_2_1, v5::MQTT_4_3_2_1);
        let seen: Vec<_> = received.iter().map(|p| p.packet_id().map(|i| i.get())).collect();
        return Err(ctx.fail(st, "a different packet id for each unacknowledged message", format!("ids {seen:?}")));
    }
    for p in &received {
        sub.ack(p, st).await?;
    }
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}
