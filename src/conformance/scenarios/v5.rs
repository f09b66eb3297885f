//! Features only MQTT 5.0 has: topic aliases, No Local, forwarded
//! properties, Receive Maximum, Maximum Packet Size.

use bytes::Bytes;

use super::{scenario, Requirement, Scenario};
use crate::codec::PropertyValues;
use crate::codec::{Packet, Properties, Qos, QosPid, SubscriptionOptions, TopicName};
use crate::conformance::conn::{describe, describe_event};
use crate::conformance::{Ctx, Event, Stop};
use crate::spec::v5;

pub(super) const SCENARIOS: &[Scenario] = &[
    scenario!("topic-alias", topic_alias,
        "a PUBLISH with an empty topic and a known Topic Alias is routed to the aliased topic; no alias is sent to a client that allowed none",
        v3: [], v5: [MQTT_3_3_2_12, MQTT_3_1_2_27], requires: [Requirement::TopicAlias]),
    scenario!("no-local", no_local, "with No Local a client does not get its own publications back",
        v3: [], v5: [MQTT_3_8_3_3], requires: []),
    scenario!("properties-forwarded", properties_forwarded,
        "Payload Format Indicator, Content Type, Response Topic, Correlation Data and User Properties (in order) reach the subscriber unchanged",
        v3: [], v5: [MQTT_3_3_2_4, MQTT_3_3_2_15, MQTT_3_3_2_16, MQTT_3_3_2_17, MQTT_3_3_2_18, MQTT_3_3_2_20],
        requires: []),
    scenario!("receive-maximum-respected", receive_maximum,
        "with Receive Maximum 1 the server sends one unacknowledged QoS 1 PUBLISH at a time, and still answers PINGREQ",
        v3: [], v5: [MQTT_3_3_4_9, MQTT_3_3_4_10, MQTT_4_9_0_1, MQTT_4_9_0_2, MQTT_4_9_0_3],
        requires: [Requirement::Qos(Qos::AtLeastOnce)]),
    scenario!("maximum-packet-size-respected", maximum_packet_size,
        "a message larger than the client's Maximum Packet Size is not sent to it; a smaller one is",
        v3: [], v5: [MQTT_3_1_2_24, MQTT_3_1_2_25], requires: []),
];

async fn topic_alias(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("a");
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtMostOnce).await?;
    let mut publisher = ctx.client().await?;
    let mut first = ctx.publish_packet(&topic, QosPid::AtMostOnce, false, b"1")?;
    first.properties.topic_alias = Some(1);
    ctx.publish_full(&mut publisher, first).await?;
    let mut second = ctx.publish_packet(&topic, QosPid::AtMostOnce, false, b"2")?;
    second.topic = TopicName::new("").map_err(|e| Stop::Error(e.to_string()))?;
    second.properties.topic_alias = Some(1);
    ctx.publish_full(&mut publisher, second).await?;
    for payload in [b"1", b"2"] {
        let p = sub
            .expect_publish(v5::MQTT_3_3_2_12, "the message on the aliased topic", |p| &p.payload[..] == payload)
            .await?;
        if p.properties.topic_alias.is_some() {
            return Err(ctx.fail(
                v5::MQTT_3_1_2_27,
                "no Topic Alias to a client that sent no Topic Alias Maximum",
                describe(&Packet::Publish(p)),
            ));
        }
        if p.topic.as_str() != topic {
            return Err(ctx.fail(v5::MQTT_3_3_2_12, format!("topic {topic}"), describe(&Packet::Publish(p))));
        }
    }
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}

async fn no_local(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("n");
    let mut conn = ctx.client().await?;
    let options = SubscriptionOptions { no_local: true, ..SubscriptionOptions::qos(Qos::AtMostOnce) };
    ctx.subscribe_opts(&mut conn, &topic, options, Properties::default()).await?;
    let mut other = ctx.client().await?;
    ctx.publish(&mut conn, &topic, Qos::AtMostOnce, false, b"own").await?;
    ctx.publish(&mut other, &topic, Qos::AtMostOnce, false, b"other").await?;
    conn.expect_publish(v5::MQTT_3_8_3_3, "only the other client's message", |p| &p.payload[..] == b"other").await?;
    ctx.disconnect(other).await?;
    ctx.disconnect(conn).await
}

async fn properties_forwarded(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("p");
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtMostOnce).await?;
    let mut publisher = ctx.client().await?;
    let mut publish = ctx.publish_packet(&topic, QosPid::AtMostOnce, false, b"{}")?;
    publish.properties = Properties::from(PropertyValues {
        payload_format_indicator: Some(1),
        content_type: Some("application/json".into()),
        response_topic: Some(ctx.topic("reply")),
        correlation_data: Some(Bytes::from_static(b"\x00\x01corr")),
        user_properties: vec![("z".into(), "1".into()), ("a".into(), "2".into()), ("z".into(), "3".into())],
        ..Default::default()
    });
    let sent = publish.properties.clone();
    ctx.publish_full(&mut publisher, publish).await?;
    let p = sub.expect_publish(v5::MQTT_3_3_2_17, "the message", |p| p.topic.as_str() == topic).await?;
    let got = &p.properties;
    let checks = [
        (v5::MQTT_3_3_2_4, got.payload_format_indicator == sent.payload_format_indicator, "Payload Format Indicator 1"),
        (v5::MQTT_3_3_2_20, got.content_type == sent.content_type, "Content Type application/json"),
        (v5::MQTT_3_3_2_15, got.response_topic == sent.response_topic, "the Response Topic unchanged"),
        (v5::MQTT_3_3_2_16, got.correlation_data == sent.correlation_data, "the Correlation Data unchanged"),
        (
            v5::MQTT_3_3_2_17,
            sent.user_properties.iter().all(|u| got.user_properties.contains(u)),
            "every User Property",
        ),
        (v5::MQTT_3_3_2_18, got.user_properties == sent.user_properties, "User Properties z=1, a=2, z=3 in order"),
    ];
    for (st, ok, expected) in checks {
        if !ok {
            return Err(ctx.fail(st, expected, describe(&Packet::Publish(p))));
        }
    }
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}

async fn receive_maximum(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("r");
    let mut opts = ctx.opts();
    opts.properties.receive_maximum = Some(1);
    let (mut sub, _, _) = ctx.connect_with(&opts).await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtLeastOnce).await?;
    let mut publisher = ctx.client().await?;
    for i in 0..3u8 {
        ctx.publish(&mut publisher, &topic, Qos::AtLeastOnce, false, &[b'0' + i]).await?;
    }
    for i in 0..3u8 {
        let p = sub.expect_publish(v5::MQTT_3_3_4_9, &format!("message {i}"), |p| p.payload[..] == [b'0' + i]).await?;
        // One in flight: a PINGREQ is answered, and no further PUBLISH comes first.
        sub.send(&Packet::Pingreq).await?;
        match sub.recv(ctx.wait).await {
            Event::Packet(Packet::Pingresp) => {}
            Event::Packet(Packet::Publish(q)) => {
                return Err(ctx.fail(
                    v5::MQTT_3_3_4_9,
                    "at most 1 unacknowledged QoS 1 PUBLISH (Receive Maximum 1)",
                    describe(&Packet::Publish(q)),
                ))
            }
            other => {
                return Err(ctx.fail(v5::MQTT_3_3_4_10, "PINGRESP while the quota is used up", describe_event(&other)))
            }
        }
        sub.ack(&p, v5::MQTT_3_3_4_9).await?;
    }
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}

async fn maximum_packet_size(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("m");
    let mut opts = ctx.opts();
    opts.properties.maximum_packet_size = Some(256);
    let (mut sub, _, _) = ctx.connect_with(&opts).await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtMostOnce).await?;
    let mut publisher = ctx.client().await?;
    ctx.publish(&mut publisher, &topic, Qos::AtMostOnce, false, &[b'x'; 1000]).await?;
    ctx.publish(&mut publisher, &topic, Qos::AtMostOnce, false, b"small").await?;
    match sub.recv(ctx.wait).await {
        Event::Packet(Packet::Publish(p)) if &p.payload[..] == b"small" => {}
        Event::Packet(Packet::Publish(p)) => {
            return Err(ctx.fail(
                v5::MQTT_3_1_2_24,
                "no packet over 256 bytes (the client's Maximum Packet Size)",
                format!("PUBLISH of {} payload bytes", p.payload.len()),
            ))
        }
        Event::Malformed { error, .. } => {
            return Err(ctx.fail(v5::MQTT_3_1_2_24, "no packet over 256 bytes", error));
        }
        other => {
            return Err(ctx.fail(
                v5::MQTT_3_1_2_25,
                "the small message (the large one silently discarded)",
                describe_event(&other),
            ))
        }
    }
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}
