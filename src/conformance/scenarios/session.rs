//! Persistent sessions: Session Present, queuing while offline, clean
//! start, redelivery with DUP on reconnect.

use super::{scenario, Requirement, Scenario};
use crate::codec::{Packet, Qos, Version};
use crate::conformance::conn::describe;
use crate::conformance::{ConnectOpts, Ctx, Stop};
use crate::spec::{v3_1_1, v5};

/// Session Expiry Interval for persistent 5.0 sessions, in seconds.
const SESSION_EXPIRY_SECS: u32 = 300;

pub(super) const SCENARIOS: &[Scenario] = &[
    scenario!("session-present-0-for-new-session", session_present_new,
        "CONNECT without clean start for an unknown client id gets Session Present 0",
        v3: [MQTT_3_2_2_3, MQTT_3_1_2_4], v5: [MQTT_3_2_2_3, MQTT_3_1_2_6], requires: []),
    scenario!("session-resumed-with-queued-messages", queued_while_offline,
        "a persistent session is resumed (Session Present 1) and gets the QoS 1 messages queued while offline",
        v3: [MQTT_3_1_2_4, MQTT_3_1_2_5, MQTT_3_2_2_2, MQTT_3_1_3_2, MQTT_4_1_0_1],
        v5: [MQTT_3_1_2_5, MQTT_3_1_2_23, MQTT_3_2_2_3, MQTT_3_1_3_2, MQTT_4_1_0_1],
        requires: [Requirement::Qos(Qos::AtLeastOnce)]),
    scenario!("clean-start-discards-session", clean_start_discards,
        "a clean start discards the stored session: Session Present 0 and no old subscriptions",
        v3: [MQTT_3_1_2_6, MQTT_3_2_2_1, MQTT_3_1_4_3], v5: [MQTT_3_1_2_4, MQTT_3_2_2_2, MQTT_3_1_4_4], requires: []),
    scenario!("unacked-redelivered-with-dup", redelivered_with_dup,
        "an unacknowledged QoS 1 delivery is resent on session resume with DUP 1 and the same packet id",
        v3: [MQTT_4_4_0_1, MQTT_3_3_1_1, MQTT_2_3_1_4], v5: [MQTT_4_4_0_1, MQTT_3_3_1_1, MQTT_4_3_2_3],
        requires: [Requirement::Qos(Qos::AtLeastOnce)]),
    scenario!("unsubscribe-keeps-inflight-delivery", unsubscribe_keeps_inflight,
        "a QoS 1 delivery started before UNSUBSCRIBE is still completed: resent after a reconnect",
        v3: [MQTT_3_10_4_3], v5: [MQTT_3_10_4_3], requires: [Requirement::Qos(Qos::AtLeastOnce)]),
];

fn persistent(ctx: &Ctx, client_id: &str) -> ConnectOpts {
    let mut opts = ctx.opts();
    opts.client_id = client_id.to_string();
    opts.clean = false;
    if ctx.version == Version::V5 {
        opts.properties.session_expiry_interval_secs = Some(SESSION_EXPIRY_SECS);
    }
    opts
}

async fn session_present_new(ctx: Ctx) -> Result<(), Stop> {
    let id = ctx.client_id();
    let (conn, present, _) = ctx.connect_with(&persistent(&ctx, &id)).await?;
    if present {
        let st = ctx.st(v3_1_1::MQTT_3_2_2_3, v5::MQTT_3_2_2_3);
        return Err(ctx.fail(st, "Session Present 0 for a client id never seen", "Session Present 1"));
    }
    ctx.disconnect(conn).await?;
    ctx.end_session(&id).await
}

async fn queued_while_offline(ctx: Ctx) -> Result<(), Stop> {
    let id = ctx.client_id();
    let topic = ctx.topic("q");
    let (mut sub, _, _) = ctx.connect_with(&persistent(&ctx, &id)).await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtLeastOnce).await?;
    ctx.disconnect_and_wait(sub).await?;
    let mut publisher = ctx.client().await?;
    ctx.publish(&mut publisher, &topic, Qos::AtLeastOnce, false, b"queued").await?;
    let (mut sub, present, _) = ctx.connect_with(&persistent(&ctx, &id)).await?;
    if !present {
        let st = ctx.st(v3_1_1::MQTT_3_2_2_2, v5::MQTT_3_2_2_3);
        return Err(ctx.fail(st, "Session Present 1 when resuming a stored session", "Session Present 0"));
    }
    let st = ctx.st(v3_1_1::MQTT_3_1_2_5, v5::MQTT_3_1_2_5);
    let p = sub.expect_publish(st, "the QoS 1 message queued while offline", |p| &p.payload[..] == b"queued").await?;
    sub.ack(&p, st).await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await?;
    ctx.end_session(&id).await
}

async fn clean_start_discards(ctx: Ctx) -> Result<(), Stop> {
    let id = ctx.client_id();
    let topic = ctx.topic("c");
    let (mut sub, _, _) = ctx.connect_with(&persistent(&ctx, &id)).await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtLeastOnce).await?;
    ctx.disconnect_and_wait(sub).await?;
    let mut clean = persistent(&ctx, &id);
    clean.clean = true;
    let (mut sub, present, _) = ctx.connect_with(&clean).await?;
    if present {
        let st = ctx.st(v3_1_1::MQTT_3_2_2_1, v5::MQTT_3_2_2_2);
        return Err(ctx.fail(st, "Session Present 0 after a clean start", "Session Present 1"));
    }
    let mut publisher = ctx.client().await?;
    ctx.publish(&mut publisher, &topic, Qos::AtLeastOnce, false, b"old-sub").await?;
    let st = ctx.st(v3_1_1::MQTT_3_1_2_6, v5::MQTT_3_1_2_4);
    sub.expect_nothing(st, "no message through the discarded session's subscription").await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await?;
    ctx.end_session(&id).await
}

async fn redelivered_with_dup(ctx: Ctx) -> Result<(), Stop> {
    let id = ctx.client_id();
    let topic = ctx.topic("d");
    let (mut sub, _, _) = ctx.connect_with(&persistent(&ctx, &id)).await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtLeastOnce).await?;
    let mut publisher = ctx.client().await?;
    ctx.publish(&mut publisher, &topic, Qos::AtLeastOnce, false, b"unacked").await?;
    let st = ctx.st(v3_1_1::MQTT_4_4_0_1, v5::MQTT_4_4_0_1);
    let first = sub.expect_publish(st, "the message", |p| &p.payload[..] == b"unacked").await?;
    // No PUBACK: drop the connection, then resume the session.
    sub.drop_connection().await;
    let (mut sub, present, _) = ctx.connect_with(&persistent(&ctx, &id)).await?;
    if !present {
        let st = ctx.st(v3_1_1::MQTT_3_2_2_2, v5::MQTT_3_2_2_3);
        return Err(ctx.fail(st, "Session Present 1 when resuming", "Session Present 0"));
    }
    let again = sub.expect_publish(st, "the unacknowledged message again", |p| &p.payload[..] == b"unacked").await?;
    if !again.dup {
        let st = ctx.st(v3_1_1::MQTT_3_3_1_1, v5::MQTT_3_3_1_1);
        return Err(ctx.fail(st, "DUP 1 on the redelivery", describe(&Packet::Publish(again))));
    }
    if again.packet_id() != first.packet_id() {
        let st = ctx.st(v3_1_1::MQTT_2_3_1_4, v5::MQTT_4_4_0_1);
        return Err(ctx.fail(
            st,
            format!("the original packet id {:?}", first.packet_id().map(|p| p.get())),
            describe(&Packet::Publish(again)),
        ));
    }
    sub.ack(&again, st).await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await?;
    ctx.end_session(&id).await
}

async fn unsubscribe_keeps_inflight(ctx: Ctx) -> Result<(), Stop> {
    let id = ctx.client_id();
    let topic = ctx.topic("u");
    let (mut sub, _, _) = ctx.connect_with(&persistent(&ctx, &id)).await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtLeastOnce).await?;
    let mut publisher = ctx.client().await?;
    ctx.publish(&mut publisher, &topic, Qos::AtLeastOnce, false, b"started").await?;
    let st = ctx.st(v3_1_1::MQTT_3_10_4_3, v5::MQTT_3_10_4_3);
    let first = sub.expect_publish(st, "the message", |p| &p.payload[..] == b"started").await?;
    let uid = sub.next_packet_id();
    let filter =
        crate::codec::TopicFilter::for_version(topic.clone(), ctx.version).map_err(|e| Stop::Error(e.to_string()))?;
    sub.send(&Packet::Unsubscribe(crate::codec::Unsubscribe {
        packet_id: uid,
        properties: crate::codec::Properties::default(),
        filters: vec![filter],
    }))
    .await?;
    sub.expect(st, "UNSUBACK", |p| matches!(p, Packet::Unsuback(u) if u.packet_id == uid)).await?;
    sub.drop_connection().await;
    let (mut sub, _, _) = ctx.connect_with(&persistent(&ctx, &id)).await?;
    let again = sub
        .expect_publish(st, "the unacknowledged message resent although the subscription is gone", |p| {
            &p.payload[..] == b"started"
        })
        .await?;
    if again.packet_id() != first.packet_id() {
        return Err(ctx.fail(st, "the same packet id on the resend", describe(&Packet::Publish(again))));
    }
    sub.ack(&again, st).await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await?;
    ctx.end_session(&id).await
}
