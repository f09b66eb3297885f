//! More MQTT 5.0 features: topic alias limits, Request Problem Information,
//! message and session expiry, will delay, will user properties, unknown
//! authentication methods.

use std::time::Duration;

use bytes::Bytes;

use super::connect::{close_after, Phase};
use super::{scenario, Requirement, Scenario};
use crate::codec::PropertyValues;
use crate::codec::{Packet, Properties, Qos, QosPid, TopicName, Will};
use crate::conformance::conn::{describe, describe_event};
use crate::conformance::{ConnectOpts, Ctx, Event, Stop};
use crate::spec::v5;

pub(super) const SCENARIOS: &[Scenario] = &[
    scenario!("topic-alias-maximum-respected", topic_alias_maximum,
        "a client with Topic Alias Maximum 1 never gets a Topic Alias above 1",
        v3: [], v5: [MQTT_3_1_2_26, MQTT_3_3_2_11], requires: []),
    scenario!("topic-alias-not-kept-across-connections", topic_alias_per_connection,
        "a Topic Alias set on one connection is unknown on the next: an empty topic with it is a protocol error",
        v3: [], v5: [MQTT_3_3_2_7], requires: [Requirement::TopicAlias]),
    scenario!("no-problem-information", no_problem_information,
        "with Request Problem Information 0, SUBACK, UNSUBACK and PUBACK carry no Reason String or User Property",
        v3: [], v5: [MQTT_3_1_2_29], requires: [Requirement::Qos(Qos::AtLeastOnce)]),
    scenario!("message-expiry", message_expiry,
        "a queued message whose Message Expiry Interval passed is dropped; one still valid is sent with the interval reduced",
        v3: [], v5: [MQTT_3_3_2_5, MQTT_3_3_2_6], requires: [Requirement::Qos(Qos::AtLeastOnce)]),
    scenario!("session-expires", session_expires,
        "a session with Session Expiry Interval 1 s is gone 2 s after the disconnect (Session Present 0)",
        v3: [], v5: [MQTT_4_1_0_2], requires: []),
    scenario!("will-delay-cancelled-by-reconnect", will_delay_cancelled,
        "a will with Will Delay 2 s is not published when the session reconnects within the delay",
        v3: [], v5: [MQTT_3_1_3_9], requires: []),
    scenario!("will-user-properties-in-order", will_user_properties,
        "the will is published with its User Properties in their original order",
        v3: [], v5: [MQTT_3_1_3_10, MQTT_1_5_7_1], requires: []),
    scenario!("unknown-authentication-method-refused", unknown_auth_method,
        "a CONNECT with an unknown Authentication Method is refused (CONNACK 0x8C or 0x87, or none) and closed",
        v3: [], v5: [MQTT_4_12_0_1, MQTT_4_13_2_1, MQTT_3_2_2_7], requires: []),
];

async fn topic_alias_maximum(ctx: Ctx) -> Result<(), Stop> {
    let mut opts = ctx.opts();
    opts.properties.topic_alias_maximum = Some(1);
    let (mut sub, _, _) = ctx.connect_with(&opts).await?;
    ctx.subscribe1(&mut sub, &ctx.topic("t/+"), Qos::AtMostOnce).await?;
    let mut publisher = ctx.client().await?;
    for i in 0..4 {
        ctx.publish(&mut publisher, &ctx.topic(&format!("t/{}", i % 2)), Qos::AtMostOnce, false, b"a").await?;
    }
    for _ in 0..4 {
        let p = sub.expect_publish(v5::MQTT_3_3_2_11, "the message", |_| true).await?;
        if p.properties.topic_alias.is_some_and(|a| a > 1) {
            return Err(ctx.fail(v5::MQTT_3_3_2_11, "Topic Alias at most 1", describe(&Packet::Publish(p))));
        }
    }
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}

async fn topic_alias_per_connection(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("a");
    let opts = ctx.opts();
    let (mut conn, _, _) = ctx.connect_with(&opts).await?;
    let mut first = ctx.publish_packet(&topic, QosPid::AtMostOnce, false, b"1")?;
    first.properties.topic_alias = Some(1);
    ctx.publish_full(&mut conn, first).await?;
    ctx.disconnect(conn).await?;
    let (mut conn, _, _) = ctx.connect_with(&opts).await?;
    let mut second = ctx.publish_packet(&topic, QosPid::AtMostOnce, false, b"2")?;
    second.topic = TopicName::new("").map_err(|e| Stop::Error(e.to_string()))?;
    second.properties.topic_alias = Some(1);
    conn.send(&Packet::Publish(second)).await?;
    let st = v5::MQTT_3_3_2_7;
    close_after(
        &ctx,
        &mut conn,
        Phase::Connected,
        st,
        st,
        "the connection closed (unknown alias)",
        |e| matches!(e, Event::Packet(Packet::Disconnect(d)) if d.reason_code.0 >= 0x80),
    )
    .await
}

async fn no_problem_information(ctx: Ctx) -> Result<(), Stop> {
    let mut opts = ctx.opts();
    opts.properties.request_problem_information = Some(0);
    let (mut conn, _, _) = ctx.connect_with(&opts).await?;
    let check = |p: &Packet| -> Result<(), Stop> {
        let props = match p {
            Packet::Suback(a) => &a.properties,
            Packet::Unsuback(a) => &a.properties,
            Packet::Puback(a) => &a.properties,
            _ => return Ok(()),
        };
        if props.reason_string.is_some() || !props.user_properties.is_empty() {
            return Err(ctx.fail(
                v5::MQTT_3_1_2_29,
                "no Reason String or User Property (Request Problem Information 0)",
                describe(p),
            ));
        }
        Ok(())
    };
    // A refused filter and an unknown unsubscribe invite a Reason String.
    let id = conn.next_packet_id();
    let filters = vec![
        crate::codec::Subscription {
            filter: crate::codec::TopicFilter::new(ctx.topic("ok")).map_err(|e| Stop::Error(e.to_string()))?,
            options: crate::codec::SubscriptionOptions::qos(Qos::AtMostOnce),
        },
        crate::codec::Subscription {
            filter: crate::codec::TopicFilter::new("$share/g/".to_string() + &ctx.topic("s"))
                .map_err(|e| Stop::Error(e.to_string()))?,
            options: crate::codec::SubscriptionOptions::qos(Qos::AtMostOnce),
        },
    ];
    conn.send(&Packet::Subscribe(crate::codec::Subscribe {
        packet_id: id,
        properties: Properties::default(),
        subscriptions: filters,
    }))
    .await?;
    let p = conn.expect(v5::MQTT_3_8_4_1, "SUBACK", |p| matches!(p, Packet::Suback(_))).await?;
    check(&p)?;
    let id = conn.next_packet_id();
    let filters = vec![crate::codec::TopicFilter::new(ctx.topic("never")).map_err(|e| Stop::Error(e.to_string()))?];
    conn.send(&Packet::Unsubscribe(crate::codec::Unsubscribe {
        packet_id: id,
        properties: Properties::default(),
        filters,
    }))
    .await?;
    let p = conn.expect(v5::MQTT_3_10_4_4, "UNSUBACK", |p| matches!(p, Packet::Unsuback(_))).await?;
    check(&p)?;
    let id = conn.next_packet_id();
    let publish = ctx.publish_packet(&ctx.topic("nobody"), QosPid::AtLeastOnce(id), false, b"x")?;
    conn.send(&Packet::Publish(publish)).await?;
    let p = conn.expect(v5::MQTT_2_2_1_5, "PUBACK", |p| matches!(p, Packet::Puback(_))).await?;
    check(&p)?;
    ctx.disconnect(conn).await
}

fn persistent(ctx: &Ctx, client_id: &str, expiry_secs: u32) -> ConnectOpts {
    let mut opts = ctx.opts();
    opts.client_id = client_id.to_string();
    opts.clean = false;
    opts.properties.session_expiry_interval_secs = Some(expiry_secs);
    opts
}

async fn message_expiry(ctx: Ctx) -> Result<(), Stop> {
    let id = ctx.client_id();
    let topic = ctx.topic("e");
    let (mut sub, _, _) = ctx.connect_with(&persistent(&ctx, &id, 300)).await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtLeastOnce).await?;
    ctx.disconnect_and_wait(sub).await?;
    let mut publisher = ctx.client().await?;
    for (payload, expiry) in [(&b"short"[..], 1u32), (&b"long"[..], 60)] {
        let pid = publisher.next_packet_id();
        let mut p = ctx.publish_packet(&topic, QosPid::AtLeastOnce(pid), false, payload)?;
        p.properties.message_expiry_interval_secs = Some(expiry);
        ctx.publish_full(&mut publisher, p).await?;
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (mut sub, _, _) = ctx.connect_with(&persistent(&ctx, &id, 300)).await?;
    let p = sub
        .expect_publish(v5::MQTT_3_3_2_5, "only the message still valid (\"long\")", |p| &p.payload[..] == b"long")
        .await?;
    match p.properties.message_expiry_interval_secs {
        Some(left) if left < 60 => {}
        _ => {
            return Err(ctx.fail(
                v5::MQTT_3_3_2_6,
                "Message Expiry Interval below 60 after 2 s in the server",
                describe(&Packet::Publish(p)),
            ))
        }
    }
    sub.ack(&p, v5::MQTT_3_3_2_5).await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await?;
    ctx.end_session(&id).await
}

async fn session_expires(ctx: Ctx) -> Result<(), Stop> {
    let id = ctx.client_id();
    let (mut conn, _, _) = ctx.connect_with(&persistent(&ctx, &id, 1)).await?;
    ctx.subscribe1(&mut conn, &ctx.topic("s"), Qos::AtMostOnce).await?;
    ctx.disconnect_and_wait(conn).await?;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (conn, present, _) = ctx.connect_with(&persistent(&ctx, &id, 0)).await?;
    if present {
        return Err(ctx.fail(
            v5::MQTT_4_1_0_2,
            "Session Present 0: the session expired 1 s after the disconnect",
            "Session Present 1 after 2.1 s",
        ));
    }
    ctx.disconnect(conn).await
}

fn will(topic: &str, properties: Properties) -> Result<Will, Stop> {
    Ok(Will {
        topic: TopicName::new(topic).map_err(|e| Stop::Error(e.to_string()))?,
        payload: Bytes::from_static(b"gone"),
        qos: Qos::AtMostOnce,
        retain: false,
        properties,
    })
}

async fn will_delay_cancelled(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("will");
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtMostOnce).await?;
    let id = ctx.client_id();
    let mut opts = persistent(&ctx, &id, 300);
    opts.will = Some(will(
        &topic,
        Properties::from(PropertyValues { will_delay_interval_secs: Some(2), ..Default::default() }),
    )?);
    let (conn, _, _) = ctx.connect_with(&opts).await?;
    conn.drop_connection().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    opts.will = None;
    let (conn, _, _) = ctx.connect_with(&opts).await?;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    sub.expect_nothing(v5::MQTT_3_1_3_9, "no will: the session reconnected within the Will Delay").await?;
    ctx.disconnect(conn).await?;
    ctx.disconnect(sub).await?;
    ctx.end_session(&id).await
}

async fn will_user_properties(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("will");
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtMostOnce).await?;
    let users = vec![("z".to_string(), "1".to_string()), ("a".into(), "2".into()), ("z".into(), "\u{FEFF}3".into())];
    let mut opts = ctx.opts();
    opts.will =
        Some(will(&topic, Properties::from(PropertyValues { user_properties: users.clone(), ..Default::default() }))?);
    let (conn, _, _) = ctx.connect_with(&opts).await?;
    conn.drop_connection().await;
    let p = sub.expect_publish(v5::MQTT_3_1_2_8, "the will", |p| p.topic.as_str() == topic).await?;
    if p.properties.user_properties != users {
        return Err(ctx.fail(
            v5::MQTT_3_1_3_10,
            "User Properties z=1, a=2, z=\u{FEFF}3 in this order",
            describe(&Packet::Publish(p)),
        ));
    }
    ctx.disconnect(sub).await
}

async fn unknown_auth_method(ctx: Ctx) -> Result<(), Stop> {
    let mut opts = ctx.opts();
    opts.properties.authentication_method = Some("mqttsim-unknown-method".into());
    let mut conn = ctx.raw().await?;
    conn.send(&ctx.connect_packet(&opts)).await?;
    let expected = "CONNACK 0x8C or 0x87 (or no CONNACK), then the close";
    match conn.recv(ctx.wait).await {
        Event::Closed => return Ok(()),
        Event::Packet(Packet::Connack(c)) if c.reason_code.0 >= 0x80 => {}
        other => return Err(ctx.fail(v5::MQTT_4_12_0_1, expected, describe_event(&other))),
    }
    let st = v5::MQTT_4_13_2_1;
    close_after(&ctx, &mut conn, Phase::BeforeConnack, st, st, "the close after a refusing CONNACK", |_| false).await
}
