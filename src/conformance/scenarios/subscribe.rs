//! SUBSCRIBE and UNSUBSCRIBE: acknowledgements, matching, `$`-topics,
//! overlapping subscriptions.

use super::{scenario, Requirement, Scenario};
use crate::codec::PropertyValues;
use crate::codec::{Packet, Properties, Qos, SubscriptionOptions, TopicFilter, Unsubscribe, Version};
use crate::conformance::conn::{describe, describe_event};
use crate::conformance::{Ctx, Event, Stop};
use crate::spec::{v3_1_1, v5};

pub(super) const SCENARIOS: &[Scenario] = &[
    scenario!("suback-codes-in-order", suback_codes,
        "one SUBSCRIBE with three filters gets one SUBACK with its packet id and one valid code per filter, in order",
        v3: [MQTT_3_8_4_1, MQTT_3_8_4_2, MQTT_3_8_4_4, MQTT_3_8_4_5, MQTT_3_9_3_1, MQTT_3_9_3_2, MQTT_2_3_1_7],
        v5: [MQTT_3_8_4_1, MQTT_3_8_4_2, MQTT_3_8_4_5, MQTT_3_8_4_6, MQTT_3_8_4_7, MQTT_3_9_3_1, MQTT_3_9_3_2, MQTT_2_2_1_6, MQTT_3_2_2_10],
        requires: []),
    scenario!("unsuback-when-nothing-matched", unsuback_nothing,
        "UNSUBSCRIBE of filters never subscribed still gets one UNSUBACK with the packet id (5.0: one code per filter)",
        v3: [MQTT_3_10_4_4, MQTT_3_10_4_5, MQTT_3_10_4_6, MQTT_2_3_1_7],
        v5: [MQTT_3_10_4_4, MQTT_3_10_4_5, MQTT_3_10_4_6, MQTT_3_11_3_1, MQTT_3_11_3_2, MQTT_2_2_1_6],
        requires: []),
    scenario!("unsubscribe-literal-and-stops-delivery", unsubscribe_literal,
        "UNSUBSCRIBE compares filters literally (a/b does not remove a/+), and stops delivery through the removed one",
        v3: [MQTT_3_10_4_1, MQTT_3_10_4_2], v5: [MQTT_3_10_4_1, MQTT_3_10_4_2], requires: [Requirement::Wildcard]),
    scenario!("resubscribe-replaces", resubscribe_replaces,
        "subscribing again to the same filter replaces the subscription (new QoS, one copy)",
        v3: [MQTT_3_8_4_3], v5: [MQTT_3_8_4_3], requires: [Requirement::Qos(Qos::AtLeastOnce)]),
    scenario!("dollar-topics-not-matched-by-wildcards", dollar_topics,
        "filters starting with # or + do not match topics starting with $",
        v3: [MQTT_4_7_2_1], v5: [MQTT_4_7_2_1], requires: [Requirement::Wildcard]),
    scenario!("wildcard-matching", wildcard_matching,
        "+ matches one level, # matches the parent and any levels below; only matching topics are delivered",
        v3: [MQTT_3_3_2_3, MQTT_4_7_1_2, MQTT_4_7_1_3], v5: [MQTT_3_3_2_3], requires: [Requirement::Wildcard]),
    scenario!("overlapping-subscriptions", overlapping,
        "a message matching two subscriptions of one client is delivered at the highest granted QoS (one copy, or one per subscription)",
        v3: [MQTT_3_3_5_1], v5: [MQTT_3_3_4_2, MQTT_3_3_4_3, MQTT_3_3_4_4, MQTT_3_3_4_5],
        requires: [Requirement::Wildcard, Requirement::Qos(Qos::AtLeastOnce)]),
    scenario!("topic-bytes-kept", topic_bytes_kept,
        "a topic holding U+FEFF is matched and delivered byte for byte, not stripped or normalized",
        v3: [MQTT_1_5_3_3, MQTT_4_7_3_4], v5: [MQTT_1_5_4_3, MQTT_4_7_3_4], requires: []),
];

async fn suback_codes(ctx: Ctx) -> Result<(), Stop> {
    let mut conn = ctx.client().await?;
    let (a, b, c) = (ctx.topic("q0"), ctx.topic("q1"), ctx.topic("q2"));
    let requested = [Qos::AtMostOnce, Qos::AtLeastOnce, Qos::ExactlyOnce];
    let filters = [
        (a.as_str(), SubscriptionOptions::qos(requested[0])),
        (b.as_str(), SubscriptionOptions::qos(requested[1])),
        (c.as_str(), SubscriptionOptions::qos(requested[2])),
    ];
    let codes = ctx.subscribe(&mut conn, &filters, Properties::default()).await?;
    for (i, code) in codes.iter().enumerate() {
        let ok_grant = code.0 <= requested[i].as_u8();
        let ok_fail = code.0 >= 0x80 && (ctx.version == Version::V5 || code.0 == 0x80);
        if !(ok_grant || ok_fail) {
            let st = ctx.st(v3_1_1::MQTT_3_9_3_2, v5::MQTT_3_8_4_7);
            return Err(ctx.fail(
                st,
                format!("code {i}: a granted QoS at most {} or a failure code", requested[i].as_u8()),
                format!("{codes:?}"),
            ));
        }
        if code.0 < ctx.caps.maximum_qos.min(requested[i]).as_u8() && code.0 < 0x80 {
            // A lower grant is allowed; nothing to check.
        }
    }
    // The grants are in order: with every filter granted as requested
    // (the usual case) the codes read 0, 1, 2.
    let expected: Vec<u8> = requested.iter().map(|q| q.min(&ctx.caps.maximum_qos).as_u8()).collect();
    let got: Vec<u8> = codes.iter().map(|c| c.0).collect();
    if got.iter().all(|c| *c < 0x80) && got != expected && got.windows(2).any(|w| w[0] > w[1]) {
        let st = ctx.st(v3_1_1::MQTT_3_9_3_1, v5::MQTT_3_9_3_1);
        return Err(ctx.fail(st, format!("codes in filter order, e.g. {expected:?}"), format!("{got:?}")));
    }
    ctx.disconnect(conn).await
}

async fn unsuback_nothing(ctx: Ctx) -> Result<(), Stop> {
    let mut conn = ctx.client().await?;
    let id = conn.next_packet_id();
    let filters = vec![
        TopicFilter::for_version(ctx.topic("never1"), ctx.version).map_err(|e| Stop::Error(e.to_string()))?,
        TopicFilter::for_version(ctx.topic("never2"), ctx.version).map_err(|e| Stop::Error(e.to_string()))?,
    ];
    conn.send(&Packet::Unsubscribe(Unsubscribe { packet_id: id, properties: Properties::default(), filters })).await?;
    let st = ctx.st(v3_1_1::MQTT_3_10_4_5, v5::MQTT_3_10_4_5);
    let p = conn
        .expect(st, &format!("UNSUBACK with packet id {id}"), |p| matches!(p, Packet::Unsuback(u) if u.packet_id == id))
        .await?;
    if ctx.version == Version::V5 {
        let Packet::Unsuback(u) = &p else { unreachable!("checked above") };
        let valid = |c: u8| matches!(c, 0x00 | 0x11 | 0x80 | 0x83 | 0x87 | 0x8F | 0x91);
        if u.reason_codes.len() != 2 || !u.reason_codes.iter().all(|c| valid(c.0)) {
            return Err(ctx.fail(v5::MQTT_3_11_3_2, "two valid Unsubscribe reason codes", describe(&p)));
        }
    }
    let st = ctx.st(v3_1_1::MQTT_3_10_4_6, v5::MQTT_3_10_4_6);
    conn.expect_nothing(st, "one UNSUBACK only").await?;
    ctx.disconnect(conn).await
}

async fn unsubscribe_literal(ctx: Ctx) -> Result<(), Stop> {
    let (wild, exact) = (ctx.topic("+"), ctx.topic("b"));
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &wild, Qos::AtLeastOnce).await?;
    let id = sub.next_packet_id();
    let filter = TopicFilter::for_version(exact.clone(), ctx.version).map_err(|e| Stop::Error(e.to_string()))?;
    sub.send(&Packet::Unsubscribe(Unsubscribe {
        packet_id: id,
        properties: Properties::default(),
        filters: vec![filter],
    }))
    .await?;
    let st = ctx.st(v3_1_1::MQTT_3_10_4_4, v5::MQTT_3_10_4_4);
    sub.expect(st, "UNSUBACK", |p| matches!(p, Packet::Unsuback(u) if u.packet_id == id)).await?;
    let mut publisher = ctx.client().await?;
    ctx.publish(&mut publisher, &exact, Qos::AtLeastOnce, false, b"1").await?;
    let st = ctx.st(v3_1_1::MQTT_3_10_4_1, v5::MQTT_3_10_4_1);
    let p = sub
        .expect_publish(st, "the message, still matched by the wildcard subscription", |p| &p.payload[..] == b"1")
        .await?;
    sub.ack(&p, st).await?;
    let id = sub.next_packet_id();
    let filter = TopicFilter::for_version(wild.clone(), ctx.version).map_err(|e| Stop::Error(e.to_string()))?;
    sub.send(&Packet::Unsubscribe(Unsubscribe {
        packet_id: id,
        properties: Properties::default(),
        filters: vec![filter],
    }))
    .await?;
    sub.expect(st, "UNSUBACK", |p| matches!(p, Packet::Unsuback(u) if u.packet_id == id)).await?;
    ctx.publish(&mut publisher, &exact, Qos::AtLeastOnce, false, b"2").await?;
    let st = ctx.st(v3_1_1::MQTT_3_10_4_2, v5::MQTT_3_10_4_2);
    sub.expect_nothing(st, "no delivery after the subscription was removed").await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}

async fn resubscribe_replaces(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("t");
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtMostOnce).await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtLeastOnce).await?;
    let mut publisher = ctx.client().await?;
    ctx.publish(&mut publisher, &topic, Qos::AtLeastOnce, false, b"x").await?;
    let st = ctx.st(v3_1_1::MQTT_3_8_4_3, v5::MQTT_3_8_4_3);
    let p = sub.expect_publish(st, "the message at the new QoS 1", |p| p.qos() == Qos::AtLeastOnce).await?;
    sub.ack(&p, st).await?;
    sub.expect_nothing(st, "one copy (the subscription was replaced, not added)").await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}

async fn dollar_topics(ctx: Ctx) -> Result<(), Stop> {
    let mut sub = ctx.client().await?;
    // Subscribed to # and +/#: other scenarios' messages are legitimate here.
    sub.clear_scope();
    let filters =
        [("#", SubscriptionOptions::qos(Qos::AtMostOnce)), ("+/#", SubscriptionOptions::qos(Qos::AtMostOnce))];
    ctx.subscribe(&mut sub, &filters, Properties::default()).await?;
    let mut publisher = ctx.client().await?;
    // The server may refuse client publications to $-topics; $SYS topics
    // (retained or periodic) are the other source.
    let dollar = format!("$mqttsim/{}", ctx.topic("d"));
    if let Ok(p) = ctx.publish_packet(&dollar, crate::codec::QosPid::AtMostOnce, false, b"$") {
        publisher.send(&Packet::Publish(p)).await?;
    }
    let marker = ctx.topic("marker");
    ctx.publish(&mut publisher, &marker, Qos::AtMostOnce, false, b"marker").await?;
    let st = ctx.st(v3_1_1::MQTT_4_7_2_1, v5::MQTT_4_7_2_1);
    let deadline = tokio::time::Instant::now() + ctx.wait;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match sub.recv(left).await {
            Event::Packet(Packet::Publish(p)) if p.topic.as_str().starts_with('$') => {
                return Err(ctx.fail(st, "no $-topic through # or +/#", describe(&Packet::Publish(p))));
            }
            Event::Packet(Packet::Publish(p)) if p.topic.as_str() == marker => break,
            Event::Packet(Packet::Publish(_)) => {} // other traffic on the server
            // Another client's PUBLISH this decoder rejects or will not
            // buffer (a concurrent run's malformed-property or size probe)
            // is other traffic too: the connection skips past it.
            Event::Malformed { first_byte, .. } if first_byte >> 4 == 3 => {}
            other => return Err(Stop::Error(format!("waiting for the marker: {}", describe_event(&other)))),
        }
    }
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}

async fn wildcard_matching(ctx: Ctx) -> Result<(), Stop> {
    let mut sub = ctx.client().await?;
    let (plus, hash) = (ctx.topic("p/+/c"), ctx.topic("h/#"));
    let filters = [
        (plus.as_str(), SubscriptionOptions::qos(Qos::AtMostOnce)),
        (hash.as_str(), SubscriptionOptions::qos(Qos::AtMostOnce)),
    ];
    ctx.subscribe(&mut sub, &filters, Properties::default()).await?;
    let mut publisher = ctx.client().await?;
    // (topic, whether it matches, the statement a mistake breaks)
    let st_match = ctx.st(v3_1_1::MQTT_3_3_2_3, v5::MQTT_3_3_2_3);
    let cases = [
        (ctx.topic("p/a/c"), true, ctx.st(v3_1_1::MQTT_4_7_1_3, v5::MQTT_3_3_2_3)),
        (ctx.topic("p/a/b/c"), false, st_match),
        (ctx.topic("p/c"), false, st_match),
        (ctx.topic("h"), true, ctx.st(v3_1_1::MQTT_4_7_1_2, v5::MQTT_3_3_2_3)),
        (ctx.topic("h/x/y"), true, ctx.st(v3_1_1::MQTT_4_7_1_2, v5::MQTT_3_3_2_3)),
        (ctx.topic("hx"), false, st_match),
    ];
    for (topic, _, _) in &cases {
        ctx.publish(&mut publisher, topic, Qos::AtMostOnce, false, topic.as_bytes()).await?;
    }
    for (topic, matches, st) in &cases {
        if !matches {
            continue;
        }
        match sub.recv(ctx.wait).await {
            Event::Packet(Packet::Publish(p)) if p.topic.as_str() == topic => {}
            Event::Packet(Packet::Publish(p)) => {
                let wrong = cases.iter().find(|c| c.0 == p.topic.as_str()).map_or(st_match, |c| c.2);
                return Err(ctx.fail(
                    wrong,
                    format!("{topic} (the next matching topic)"),
                    describe(&Packet::Publish(p)),
                ));
            }
            other => return Err(ctx.fail(*st, format!("{topic} delivered"), describe_event(&other))),
        }
    }
    sub.expect_nothing(st_match, "no message on a non-matching topic").await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}

async fn overlapping(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("o/t");
    let mut sub = ctx.client().await?;
    let ids = ctx.version == Version::V5 && ctx.caps.subscription_identifier_available;
    let props = |id: u32| {
        Properties::from(PropertyValues {
            subscription_identifiers: if ids { vec![id] } else { vec![] },
            ..Default::default()
        })
    };
    ctx.subscribe_opts(&mut sub, &ctx.topic("o/#"), SubscriptionOptions::qos(Qos::AtMostOnce), props(1)).await?;
    ctx.subscribe_opts(&mut sub, &topic, SubscriptionOptions::qos(Qos::AtLeastOnce), props(2)).await?;
    let mut publisher = ctx.client().await?;
    ctx.publish(&mut publisher, &topic, Qos::AtLeastOnce, false, b"x").await?;
    let st = ctx.st(v3_1_1::MQTT_3_3_5_1, v5::MQTT_3_3_4_2);
    let first = sub.expect_publish(st, "the message", |p| p.topic.as_str() == topic).await?;
    sub.ack(&first, st).await?;
    sub.send(&Packet::Pingreq).await?;
    let second = match sub.recv(ctx.wait).await {
        Event::Packet(Packet::Publish(p)) => {
            sub.ack(&p, st).await?;
            sub.expect(st, "PINGRESP after at most two copies", |p| matches!(p, Packet::Pingresp)).await?;
            Some(p)
        }
        Event::Packet(Packet::Pingresp) => None,
        other => return Err(ctx.fail(st, "a second copy or the PINGRESP", describe_event(&other))),
    };
    let copies: Vec<_> = std::iter::once(first).chain(second).collect();
    match (ctx.variations.overlap.as_deref(), copies.len()) {
        (Some("single"), 2) => return Err(ctx.fail(st, "one copy (profile: single)", "two copies")),
        (Some("per_subscription"), 1) => {
            return Err(ctx.fail(st, "two copies (profile: per_subscription)", "one copy"))
        }
        _ => {}
    }
    if !copies.iter().any(|p| p.qos() == Qos::AtLeastOnce) {
        let seen: Vec<_> = copies.iter().map(|p| describe(&Packet::Publish(p.clone()))).collect();
        return Err(ctx.fail(st, "a copy at QoS 1, the highest granted", seen.join("; ")));
    }
    if ids {
        let mut all: Vec<u32> = copies.iter().flat_map(|p| p.properties.subscription_identifiers.clone()).collect();
        all.sort_unstable();
        let (st, ok) = if copies.len() == 1 {
            (v5::MQTT_3_3_4_4, all == [1, 2])
        } else {
            (v5::MQTT_3_3_4_5, copies.iter().all(|p| p.properties.subscription_identifiers.len() == 1) && all == [1, 2])
        };
        if !ok {
            let seen: Vec<_> = copies.iter().map(|p| describe(&Packet::Publish(p.clone()))).collect();
            return Err(ctx.fail(
                st,
                "subscription identifiers 1 and 2 (one copy: both; one per copy otherwise)",
                seen.join("; "),
            ));
        }
    }
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}

async fn topic_bytes_kept(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("\u{FEFF}bom");
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtMostOnce).await?;
    let mut publisher = ctx.client().await?;
    ctx.publish(&mut publisher, &topic, Qos::AtMostOnce, false, b"x").await?;
    let st = ctx.st(v3_1_1::MQTT_1_5_3_3, v5::MQTT_1_5_4_3);
    sub.expect_publish(st, "the message on the topic with U+FEFF kept", |p| p.topic.as_str() == topic).await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}
