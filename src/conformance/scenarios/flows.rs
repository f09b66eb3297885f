//! Longer flows: strict decoding of everything a server sends, QoS 2 to a
//! subscriber across a reconnect, packet id reuse, data after a refused
//! CONNECT, resubscription, a malformed DISCONNECT.

use super::connect::{close_after, raw_connect, Phase};
use super::{scenario, Requirement, Scenario};
use crate::codec::raw::{self, RawPacket};
use crate::codec::{Packet, PacketId, PacketType, Properties, PubResponse, Qos, QosPid, TopicName, Version, Will};
use crate::conformance::conn::describe_event;
use crate::conformance::{Ctx, Event, Stop};
use crate::spec::{v3_1_1, v5};

pub(super) const SCENARIOS: &[Scenario] = &[
    scenario!("server-packets-well-formed", server_packets_well_formed,
        "every packet the server sends in QoS 0/1/2 flows both ways, SUBACK, UNSUBACK and PINGRESP decodes strictly",
        v3: [MQTT_2_3_1_1, MQTT_3_3_2_1],
        v5: [MQTT_1_5_5_1, MQTT_3_2_2_1, MQTT_3_2_2_8, MQTT_3_4_2_1, MQTT_3_5_2_1, MQTT_3_6_2_1, MQTT_3_7_2_1, MQTT_3_3_2_8,
             MQTT_3_3_2_1, MQTT_2_2_2_1],
        requires: [Requirement::Qos(Qos::ExactlyOnce)]),
    scenario!("qos2-pubrel-resent-not-publish", qos2_pubrel_resent,
        "QoS 2 to a subscriber: PUBREL with the id after PUBREC; after a reconnect the PUBREL is resent, never the PUBLISH",
        v3: [MQTT_4_3_3_1, MQTT_4_4_0_1], v5: [MQTT_4_3_3_4, MQTT_4_3_3_5, MQTT_4_3_3_6, MQTT_4_4_0_1],
        requires: [Requirement::Qos(Qos::ExactlyOnce)]),
    scenario!("packet-id-reused-after-ack-is-new", packet_id_reuse,
        "a packet id reused after PUBACK / PUBCOMP starts a new message, which is delivered again",
        v3: [MQTT_4_3_2_2, MQTT_4_3_3_2], v5: [MQTT_4_3_2_5, MQTT_4_3_3_12],
        requires: [Requirement::Qos(Qos::ExactlyOnce)]),
    scenario!("data-after-refused-connect-ignored", data_after_refused_connect,
        "a retained PUBLISH sent right behind a refused CONNECT is not processed",
        v3: [MQTT_3_1_4_5], v5: [MQTT_3_1_4_6], requires: [Requirement::Retain]),
    scenario!("resubscribe-resends-retained", resubscribe_resends_retained,
        "subscribing again to the same filter sends the retained message again",
        v3: [MQTT_3_8_4_3], v5: [MQTT_3_8_4_4], requires: [Requirement::Retain]),
    scenario!("malformed-disconnect-publishes-will", malformed_disconnect,
        "a DISCONNECT with a reserved flag bit set is a violation, not a normal disconnect: closed, and the will published",
        v3: [MQTT_3_14_1_1], v5: [MQTT_3_14_1_1], requires: []),
];

async fn server_packets_well_formed(ctx: Ctx) -> Result<(), Stop> {
    // Every expectation below decodes strictly: a malformed packet fails
    // the statement the decoder names.
    let topic = ctx.topic("w");
    let mut sub = ctx.client().await?;
    for qos in [Qos::AtMostOnce, Qos::AtLeastOnce, Qos::ExactlyOnce] {
        ctx.subscribe1(&mut sub, &format!("{topic}/{}", qos.as_u8()), qos).await?;
    }
    let mut publisher = ctx.client().await?;
    let st = ctx.st(v3_1_1::MQTT_4_5_0_1, v5::MQTT_4_5_0_1);
    for qos in [Qos::AtMostOnce, Qos::AtLeastOnce, Qos::ExactlyOnce] {
        ctx.publish(&mut publisher, &format!("{topic}/{}", qos.as_u8()), qos, false, b"w").await?;
        let p = sub.expect_publish(st, &format!("the QoS {} message", qos.as_u8()), |p| p.qos() == qos).await?;
        sub.ack(&p, st).await?;
    }
    let id = sub.next_packet_id();
    let filters = vec![crate::codec::TopicFilter::for_version(format!("{topic}/0"), ctx.version)
        .map_err(|e| Stop::Error(e.to_string()))?];
    sub.send(&Packet::Unsubscribe(crate::codec::Unsubscribe {
        packet_id: id,
        properties: Properties::default(),
        filters,
    }))
    .await?;
    sub.expect(ctx.st(v3_1_1::MQTT_3_10_4_4, v5::MQTT_3_10_4_4), "UNSUBACK", |p| matches!(p, Packet::Unsuback(_)))
        .await?;
    sub.expect_nothing(ctx.st(v3_1_1::MQTT_3_12_4_1, v5::MQTT_3_12_4_1), "nothing more").await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}

fn persistent(ctx: &Ctx, client_id: &str) -> crate::conformance::ConnectOpts {
    let mut opts = ctx.opts();
    opts.client_id = client_id.to_string();
    opts.clean = false;
    if ctx.version == Version::V5 {
        opts.properties.session_expiry_interval_secs = Some(300);
    }
    opts
}

async fn qos2_pubrel_resent(ctx: Ctx) -> Result<(), Stop> {
    let id = ctx.client_id();
    let topic = ctx.topic("q2");
    let (mut sub, _, _) = ctx.connect_with(&persistent(&ctx, &id)).await?;
    ctx.subscribe1(&mut sub, &topic, Qos::ExactlyOnce).await?;
    let mut publisher = ctx.client().await?;
    ctx.publish(&mut publisher, &topic, Qos::ExactlyOnce, false, b"two").await?;
    let st = ctx.st(v3_1_1::MQTT_4_3_3_1, v5::MQTT_4_3_3_4);
    let p = sub.expect_publish(st, "the QoS 2 message", |p| p.qos() == Qos::ExactlyOnce).await?;
    let pid = p.packet_id().expect("QoS 2 has an id");
    sub.send(&Packet::Pubrec(PubResponse::new(pid))).await?;
    sub.expect(st, &format!("PUBREL with packet id {pid}"), |p| matches!(p, Packet::Pubrel(r) if r.packet_id == pid))
        .await?;
    // No PUBCOMP: the PUBREL stays unacknowledged across a reconnect.
    sub.drop_connection().await;
    let (mut sub, _, _) = ctx.connect_with(&persistent(&ctx, &id)).await?;
    let st = ctx.st(v3_1_1::MQTT_4_3_3_1, v5::MQTT_4_3_3_6);
    match sub.recv(ctx.wait).await {
        Event::Packet(Packet::Pubrel(r)) if r.packet_id == pid => {}
        other => {
            let st = match &other {
                Event::Packet(Packet::Publish(_)) => st,
                _ => ctx.st(v3_1_1::MQTT_4_4_0_1, v5::MQTT_4_3_3_5),
            };
            return Err(ctx.fail(st, format!("the PUBREL {pid} resent (never the PUBLISH)"), describe_event(&other)));
        }
    }
    sub.send(&Packet::Pubcomp(PubResponse::new(pid))).await?;
    sub.expect_nothing(st, "nothing more after PUBCOMP").await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await?;
    ctx.end_session(&id).await
}

async fn packet_id_reuse(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("r");
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtMostOnce).await?;
    let mut publisher = ctx.client().await?;
    let id = PacketId::new(9).expect("non-zero");
    for (qos_pid, st) in [
        (QosPid::AtLeastOnce(id), ctx.st(v3_1_1::MQTT_4_3_2_2, v5::MQTT_4_3_2_5)),
        (QosPid::ExactlyOnce(id), ctx.st(v3_1_1::MQTT_4_3_3_2, v5::MQTT_4_3_3_12)),
    ] {
        for payload in [b"first", b"again"] {
            let publish = ctx.publish_packet(&topic, qos_pid, false, payload)?;
            ctx.publish_full(&mut publisher, publish).await?;
            sub.expect_publish(st, &format!("the message {:?}", String::from_utf8_lossy(payload)), |p| {
                &p.payload[..] == payload
            })
            .await?;
        }
    }
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}

async fn data_after_refused_connect(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("refused");
    ctx.retained(&topic);
    let mut conn = ctx.raw().await?;
    let v5 = ctx.version == Version::V5;
    let mut bytes = raw_connect("MQTT", 9, 0b10, v5, &ctx.client_id());
    let publish = RawPacket::new(raw::fixed_header(PacketType::Publish, 0b0001)).string(&topic);
    let publish = if v5 { publish.properties(|p| p) } else { publish };
    bytes.extend(publish.bytes(b"must-not-be-kept").build());
    conn.send_raw(&bytes).await?;
    let st = ctx.st(v3_1_1::MQTT_3_1_4_5, v5::MQTT_3_1_4_6);
    close_after(&ctx, &mut conn, Phase::BeforeConnack, st, st, "a refusal and the close", |e| {
        matches!(e, Event::Packet(Packet::Connack(c)) if c.reason_code != crate::codec::ReasonCode::SUCCESS)
            || matches!(e, Event::Malformed { first_byte: 0x20, .. })
    })
    .await?;
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtMostOnce).await?;
    sub.expect_nothing(st, "no retained message from the PUBLISH after the refused CONNECT").await?;
    ctx.disconnect(sub).await
}

async fn resubscribe_resends_retained(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("rr");
    let mut publisher = ctx.client().await?;
    ctx.retained(&topic);
    ctx.publish(&mut publisher, &topic, Qos::AtLeastOnce, true, b"kept").await?;
    let mut sub = ctx.client().await?;
    let st = ctx.st(v3_1_1::MQTT_3_8_4_3, v5::MQTT_3_8_4_4);
    for round in ["first", "second"] {
        ctx.subscribe1(&mut sub, &topic, Qos::AtMostOnce).await?;
        sub.expect_publish(st, &format!("the retained message on the {round} SUBSCRIBE"), |p| p.retain).await?;
    }
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await
}

async fn malformed_disconnect(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("will");
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtMostOnce).await?;
    let mut opts = ctx.opts();
    opts.will = Some(Will {
        topic: TopicName::new(topic.as_str()).map_err(|e| Stop::Error(e.to_string()))?,
        payload: bytes::Bytes::from_static(b"gone"),
        qos: Qos::AtMostOnce,
        retain: false,
        properties: Properties::default(),
    });
    let (mut conn, _, _) = ctx.connect_with(&opts).await?;
    conn.send_raw(&[0xE1, 0x00]).await?; // DISCONNECT with flags 0001
    let st = ctx.st(v3_1_1::MQTT_3_14_1_1, v5::MQTT_3_14_1_1);
    let v5 = ctx.version == Version::V5;
    close_after(&ctx, &mut conn, Phase::Connected, st, st, "the connection closed", |e| {
        v5 && matches!(e, Event::Packet(Packet::Disconnect(d)) if d.reason_code.0 >= 0x80)
    })
    .await?;
    sub.expect_publish(st, "the will (a malformed DISCONNECT does not discard it)", |p| p.topic.as_str() == topic)
        .await?;
    ctx.disconnect(sub).await
}
