//! MQTT 5.0 shared subscriptions (`$share/NAME/FILTER`): one copy per
//! message for the group, each member's granted QoS, what happens to a
//! message whose member refuses it, drops, or ends its session.

use super::connect::{close_after, Phase};
use super::{scenario, Requirement, Scenario};
use crate::codec::{Packet, PubResponse, Publish, Qos, ReasonCode, SubscriptionOptions};
use crate::conformance::conn::describe;
use crate::conformance::{ConnectOpts, Ctx, Event, Stop, TestConn};
use crate::spec::{v5, StatementId};

pub(super) const SCENARIOS: &[Scenario] = &[
    scenario!("shared-subscription-one-copy", one_copy,
        "each message to a shared subscription reaches one member only, at that member's granted QoS",
        v3: [], v5: [MQTT_4_8_2_3], requires: [Requirement::SharedSubscriptions, Requirement::Qos(Qos::AtLeastOnce)]),
    scenario!("shared-refused-not-redirected", refused_not_redirected,
        "a shared-subscription message refused with PUBACK 0x80 is dropped: no other member and no resend gets it",
        v3: [], v5: [MQTT_4_8_2_6], requires: [Requirement::SharedSubscriptions, Requirement::Qos(Qos::AtLeastOnce)]),
    scenario!("shared-qos2-completed-on-reconnect", qos2_completed_on_reconnect,
        "a shared-subscription QoS 2 delivery cut by a dropped connection is completed to the same member when it reconnects",
        v3: [], v5: [MQTT_4_8_2_4], requires: [Requirement::SharedSubscriptions, Requirement::Qos(Qos::ExactlyOnce)]),
    scenario!("shared-not-redirected-after-session-end", not_redirected_after_session_end,
        "a shared-subscription message in flight to a member whose session ends is not sent to another member",
        v3: [], v5: [MQTT_4_8_2_5], requires: [Requirement::SharedSubscriptions, Requirement::Qos(Qos::AtLeastOnce)]),
    scenario!("shared-no-local-closes", no_local_closes,
        "No Local on a shared subscription is a protocol error: the server closes (optionally after DISCONNECT 0x82)",
        v3: [], v5: [MQTT_4_13_1_1], requires: [Requirement::SharedSubscriptions]),
];

/// The shared-subscription filter for `topic`, with a group name unique to
/// this scenario run.
fn share(ctx: &Ctx, topic: &str) -> String {
    format!("$share/{}/{topic}", ctx.client_id())
}

/// Connects a member with `opts` and subscribes it to `filter` at `qos`.
async fn member(ctx: &Ctx, opts: &ConnectOpts, filter: &str, qos: Qos) -> Result<TestConn, Stop> {
    let (mut conn, _, _) = ctx.connect_with(opts).await?;
    ctx.subscribe1(&mut conn, filter, qos).await?;
    Ok(conn)
}

/// Collects what both members have pending; returns (member index, PUBLISH) pairs.
async fn collect(members: &mut [TestConn; 2], st: StatementId) -> Result<Vec<(usize, Publish)>, Stop> {
    let mut got = Vec::new();
    for (i, m) in members.iter_mut().enumerate() {
        for p in m.drain_publishes(st, "PUBLISHes of the shared subscription", 64).await? {
            got.push((i, p));
        }
    }
    Ok(got)
}

/// Publishes one QoS 1 message and returns which member got it, with the PUBLISH.
async fn deliver_one(
    ctx: &Ctx,
    publisher: &mut TestConn,
    members: &mut [TestConn; 2],
    topic: &str,
    qos: Qos,
    st: StatementId,
) -> Result<(usize, Publish), Stop> {
    ctx.publish(publisher, topic, qos, false, b"shared").await?;
    let mut got = collect(members, st).await?;
    match got.len() {
        1 => Ok(got.remove(0)),
        0 => Err(ctx.fail(st, "the message delivered to one member of the group", "no member got it")),
        _ => Err(ctx.fail(
            st,
            "the message delivered to exactly one member of the group",
            format!(
                "{} copies: {}",
                got.len(),
                got.iter().map(|(_, p)| describe_publish(p)).collect::<Vec<_>>().join(", ")
            ),
        )),
    }
}

fn describe_publish(p: &Publish) -> String {
    describe(&Packet::Publish(p.clone()))
}

async fn one_copy(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("s");
    let filter = share(&ctx, &topic);
    let granted = [Qos::AtMostOnce, Qos::AtLeastOnce];
    let mut members =
        [member(&ctx, &ctx.opts(), &filter, granted[0]).await?, member(&ctx, &ctx.opts(), &filter, granted[1]).await?];
    let mut publisher = ctx.client().await?;
    const MESSAGES: usize = 6;
    for i in 0..MESSAGES {
        ctx.publish(&mut publisher, &topic, Qos::AtLeastOnce, false, format!("m{i}").as_bytes()).await?;
    }
    let st = v5::MQTT_4_8_2_3;
    let got = collect(&mut members, st).await?;
    for (i, p) in &got {
        if p.qos_pid.qos() != granted[*i] {
            return Err(ctx.fail(
                st,
                format!("QoS {} (granted to this member; the message has QoS 1)", granted[*i].as_u8()),
                describe_publish(p),
            ));
        }
        members[*i].ack(p, st).await?;
    }
    let mut payloads: Vec<_> = got.iter().map(|(_, p)| String::from_utf8_lossy(&p.payload).into_owned()).collect();
    payloads.sort();
    let mut want: Vec<_> = (0..MESSAGES).map(|i| format!("m{i}")).collect();
    want.sort();
    if payloads != want {
        return Err(ctx.fail(
            st,
            format!("each of the {MESSAGES} messages to exactly one member"),
            format!("payloads received by the group: {payloads:?}"),
        ));
    }
    let [a, b] = members;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(a).await?;
    ctx.disconnect(b).await
}

async fn refused_not_redirected(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("r");
    let filter = share(&ctx, &topic);
    let mut members = [
        member(&ctx, &ctx.opts(), &filter, Qos::AtLeastOnce).await?,
        member(&ctx, &ctx.opts(), &filter, Qos::AtLeastOnce).await?,
    ];
    let mut publisher = ctx.client().await?;
    let st = v5::MQTT_4_8_2_6;
    let (chosen, p) = deliver_one(&ctx, &mut publisher, &mut members, &topic, Qos::AtLeastOnce, st).await?;
    let pid = p.packet_id().ok_or_else(|| ctx.fail(st, "QoS 1 (granted)", describe_publish(&p)))?;
    let refuse = PubResponse { reason_code: ReasonCode::UNSPECIFIED_ERROR, ..PubResponse::new(pid) };
    members[chosen].send(&Packet::Puback(refuse)).await?;
    // The PINGRESP proves the server processed the PUBACK before the other
    // member is asked.
    members[chosen].expect_nothing(st, "no resend to the member that refused it").await?;
    members[1 - chosen].expect_nothing(st, "the refused message not sent to another member").await?;
    let [a, b] = members;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(a).await?;
    ctx.disconnect(b).await
}

fn persistent(ctx: &Ctx, client_id: &str) -> ConnectOpts {
    let mut opts = ctx.opts();
    opts.client_id = client_id.to_string();
    opts.clean = false;
    opts.properties.session_expiry_interval_secs = Some(300);
    opts
}

async fn qos2_completed_on_reconnect(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("q");
    let filter = share(&ctx, &topic);
    let ids = [ctx.client_id(), ctx.client_id()];
    let mut members = [
        member(&ctx, &persistent(&ctx, &ids[0]), &filter, Qos::ExactlyOnce).await?,
        member(&ctx, &persistent(&ctx, &ids[1]), &filter, Qos::ExactlyOnce).await?,
    ];
    let mut publisher = ctx.client().await?;
    let st = v5::MQTT_4_8_2_4;
    let (chosen, p) = deliver_one(&ctx, &mut publisher, &mut members, &topic, Qos::ExactlyOnce, st).await?;
    let pid = p.packet_id().ok_or_else(|| ctx.fail(st, "QoS 2 (granted)", describe_publish(&p)))?;
    let [a, b] = members;
    let (dropped, mut other) = if chosen == 0 { (a, b) } else { (b, a) };
    dropped.drop_connection().await;
    // The reconnect makes the server finish with the old connection first.
    let (mut back, present, _) = ctx.connect_with(&persistent(&ctx, &ids[chosen])).await?;
    if !present {
        return Err(ctx.fail(v5::MQTT_3_2_2_3, "Session Present 1 (session expiry 300 s)", "Session Present 0"));
    }
    let again = back
        .expect_publish(st, &format!("the unacknowledged QoS 2 PUBLISH resent with packet id {pid}"), |q| {
            q.packet_id() == Some(pid) && q.payload == p.payload
        })
        .await?;
    if !again.dup {
        return Err(ctx.fail(v5::MQTT_3_3_1_1, "DUP 1 on the redelivery", describe_publish(&again)));
    }
    back.ack(&again, st).await?;
    other.expect_nothing(st, "the message not sent to the other member").await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(other).await?;
    ctx.disconnect(back).await?;
    for id in &ids {
        ctx.end_session(id).await?;
    }
    Ok(())
}

async fn not_redirected_after_session_end(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("e");
    let filter = share(&ctx, &topic);
    // Session Expiry Interval 0 (the default): the session ends with the connection.
    let mut members = [
        member(&ctx, &ctx.opts(), &filter, Qos::AtLeastOnce).await?,
        member(&ctx, &ctx.opts(), &filter, Qos::AtLeastOnce).await?,
    ];
    let mut publisher = ctx.client().await?;
    let st = v5::MQTT_4_8_2_5;
    let (chosen, _) = deliver_one(&ctx, &mut publisher, &mut members, &topic, Qos::AtLeastOnce, st).await?;
    let [a, b] = members;
    let (gone, mut other) = if chosen == 0 { (a, b) } else { (b, a) };
    ctx.disconnect_and_wait(gone).await?;
    other.expect_nothing(st, "the unacknowledged message not redirected to another member").await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(other).await
}

async fn no_local_closes(ctx: Ctx) -> Result<(), Stop> {
    let mut conn = ctx.client().await?;
    let filter = share(&ctx, &ctx.topic("n"));
    let id = conn.next_packet_id();
    let subscriptions = vec![crate::codec::Subscription {
        filter: crate::codec::TopicFilter::new(filter).map_err(|e| Stop::Error(e.to_string()))?,
        options: SubscriptionOptions { no_local: true, ..SubscriptionOptions::qos(Qos::AtMostOnce) },
    }];
    conn.send(&Packet::Subscribe(crate::codec::Subscribe {
        packet_id: id,
        properties: Default::default(),
        subscriptions,
    }))
    .await?;
    let st = v5::MQTT_4_13_1_1;
    close_after(
        &ctx,
        &mut conn,
        Phase::Connected,
        st,
        st,
        "the connection closed (No Local on a shared subscription is a Protocol Error)",
        |e| matches!(e, Event::Packet(Packet::Disconnect(d)) if d.reason_code.0 >= 0x80),
    )
    .await
}
