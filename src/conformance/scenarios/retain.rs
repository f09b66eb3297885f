//! Retained messages: stored, delivered on subscribe with RETAIN 1, cleared
//! by an empty payload, untouched by non-retained publishes; 5.0 Retain As
//! Published and Retain Handling.

use super::{scenario, Requirement, Scenario};
use crate::codec::{Packet, Properties, Qos, RetainHandling, SubscriptionOptions, Version};
use crate::conformance::conn::describe;
use crate::conformance::{Ctx, Stop};
use crate::spec::{v3_1_1, v5};

pub(super) const SCENARIOS: &[Scenario] = &[
    scenario!("retained-delivered-on-subscribe", retained_on_subscribe,
        "a retained message is sent to a new subscriber with RETAIN 1",
        v3: [MQTT_3_3_1_5, MQTT_3_3_1_6, MQTT_3_3_1_8], v5: [MQTT_3_3_1_5, MQTT_3_3_1_9],
        requires: [Requirement::Retain]),
    scenario!("retain-flag-cleared-for-live-subscribers", retain_cleared_live,
        "a RETAIN 1 message forwarded to an existing subscription has RETAIN 0",
        v3: [MQTT_3_3_1_9], v5: [MQTT_3_3_1_12], requires: [Requirement::Retain]),
    scenario!("retained-cleared-by-empty-payload", retained_cleared,
        "an empty retained PUBLISH is forwarded and deletes the retained message",
        v3: [MQTT_3_3_1_10, MQTT_3_3_1_11], v5: [MQTT_3_3_1_6, MQTT_3_3_1_7], requires: [Requirement::Retain]),
    scenario!("retained-kept-by-non-retained-publish", retained_not_replaced,
        "a RETAIN 0 PUBLISH neither replaces nor removes the retained message; QoS 0 retained replaces it",
        v3: [MQTT_3_3_1_12, MQTT_3_3_1_7, MQTT_3_1_2_7], v5: [MQTT_3_3_1_8], requires: [Requirement::Retain]),
    scenario!("retain-as-published", retain_as_published,
        "with Retain As Published 1 the forwarded message keeps RETAIN 1",
        v3: [], v5: [MQTT_3_3_1_13], requires: [Requirement::Retain]),
    scenario!("retain-handling", retain_handling,
        "Retain Handling 2 sends no retained messages; 1 sends them only for a new subscription",
        v3: [], v5: [MQTT_3_3_1_10, MQTT_3_3_1_11], requires: [Requirement::Retain]),
];

async fn retained_on_subscribe(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("r");
    let mut publisher = ctx.client().await?;
    ctx.retained(&topic);
    ctx.publish(&mut publisher, &topic, Qos::AtLeastOnce, true, b"kept").await?;
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtLeastOnce).await?;
    let st = ctx.st(v3_1_1::MQTT_3_3_1_6, v5::MQTT_3_3_1_9);
    let p = sub.expect_publish(st, "the retained message", |p| &p.payload[..] == b"kept").await?;
    if !p.retain {
        let st = ctx.st(v3_1_1::MQTT_3_3_1_8, v5::MQTT_3_3_1_9);
        return Err(ctx.fail(
            st,
            "RETAIN 1 on a retained message sent for a new subscription",
            describe(&Packet::Publish(p)),
        ));
    }
    sub.ack(&p, st).await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}

async fn retain_cleared_live(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("r");
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtMostOnce).await?;
    let mut publisher = ctx.client().await?;
    ctx.retained(&topic);
    ctx.publish(&mut publisher, &topic, Qos::AtMostOnce, true, b"live").await?;
    let st = ctx.st(v3_1_1::MQTT_3_3_1_9, v5::MQTT_3_3_1_12);
    sub.expect_publish(st, "the message with RETAIN 0 (established subscription)", |p| !p.retain).await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}

async fn retained_cleared(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("r");
    let mut publisher = ctx.client().await?;
    ctx.retained(&topic);
    ctx.publish(&mut publisher, &topic, Qos::AtLeastOnce, true, b"old").await?;
    let mut live = ctx.client().await?;
    ctx.subscribe1(&mut live, &topic, Qos::AtMostOnce).await?;
    live.expect_publish(ctx.st(v3_1_1::MQTT_3_3_1_6, v5::MQTT_3_3_1_9), "the retained message", |p| p.retain).await?;
    ctx.publish(&mut publisher, &topic, Qos::AtLeastOnce, true, b"").await?;
    let st = ctx.st(v3_1_1::MQTT_3_3_1_10, v5::MQTT_3_3_1_6);
    live.expect_publish(st, "the empty retained PUBLISH forwarded normally", |p| p.payload.is_empty()).await?;
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtMostOnce).await?;
    let st = ctx.st(v3_1_1::MQTT_3_3_1_11, v5::MQTT_3_3_1_7);
    sub.expect_nothing(st, "no retained message after the empty retained PUBLISH").await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(live).await?;
    ctx.disconnect(sub).await
}

async fn retained_not_replaced(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("r");
    let mut publisher = ctx.client().await?;
    ctx.retained(&topic);
    ctx.publish(&mut publisher, &topic, Qos::AtLeastOnce, true, b"first").await?;
    ctx.publish(&mut publisher, &topic, Qos::AtMostOnce, true, b"second").await?;
    ctx.publish(&mut publisher, &topic, Qos::AtLeastOnce, false, b"not-retained").await?;
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtLeastOnce).await?;
    let st = ctx.st(v3_1_1::MQTT_3_3_1_12, v5::MQTT_3_3_1_8);
    let p = sub.expect_publish(st, "the retained message \"second\"", |p| p.retain).await?;
    if &p.payload[..] != b"second" {
        let st = match (ctx.version, &p.payload[..]) {
            (Version::V3_1_1, b"first") => v3_1_1::MQTT_3_3_1_7,
            _ => st,
        };
        return Err(ctx.fail(
            st,
            "the retained message \"second\" (QoS 0 retained replaces, RETAIN 0 does not)",
            describe(&Packet::Publish(p)),
        ));
    }
    sub.ack(&p, st).await?;
    sub.expect_nothing(st, "one retained message only").await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}

async fn retain_as_published(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("r");
    let mut sub = ctx.client().await?;
    let options = SubscriptionOptions { retain_as_published: true, ..SubscriptionOptions::qos(Qos::AtMostOnce) };
    ctx.subscribe_opts(&mut sub, &topic, options, Properties::default()).await?;
    let mut publisher = ctx.client().await?;
    ctx.retained(&topic);
    ctx.publish(&mut publisher, &topic, Qos::AtMostOnce, true, b"rap").await?;
    sub.expect_publish(v5::MQTT_3_3_1_13, "the message with RETAIN 1 (Retain As Published)", |p| p.retain).await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}

async fn retain_handling(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("r");
    let mut publisher = ctx.client().await?;
    ctx.retained(&topic);
    ctx.publish(&mut publisher, &topic, Qos::AtLeastOnce, true, b"kept").await?;

    let mut sub = ctx.client().await?;
    let rh2 =
        SubscriptionOptions { retain_handling: RetainHandling::DoNotSend, ..SubscriptionOptions::qos(Qos::AtMostOnce) };
    ctx.subscribe_opts(&mut sub, &topic, rh2, Properties::default()).await?;
    sub.expect_nothing(v5::MQTT_3_3_1_11, "no retained message with Retain Handling 2").await?;

    let mut sub1 = ctx.client().await?;
    let rh1 =
        SubscriptionOptions { retain_handling: RetainHandling::SendIfNew, ..SubscriptionOptions::qos(Qos::AtMostOnce) };
    ctx.subscribe_opts(&mut sub1, &topic, rh1, Properties::default()).await?;
    sub1.expect_publish(v5::MQTT_3_3_1_10, "the retained message for a new subscription (Retain Handling 1)", |p| {
        p.retain
    })
    .await?;
    ctx.subscribe_opts(&mut sub1, &topic, rh1, Properties::default()).await?;
    sub1.expect_nothing(v5::MQTT_3_3_1_10, "no retained message for an existing subscription (Retain Handling 1)")
        .await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await?;
    ctx.disconnect(sub1).await
}
