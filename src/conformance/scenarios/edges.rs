//! Edges of the 5.0 capabilities and flows: refusals that depend on what
//! the server supports (Maximum QoS, retain, wildcards), diagnostics that
//! must give way to the client's Maximum Packet Size on CONNACK and
//! DISCONNECT, QoS 2 state and message expiry, credentials and AUTH, and a
//! will that must not outlive its connection.

use std::time::Duration;

use bytes::Bytes;

use super::connect::{close_after, Phase};
use super::{scenario, Requirement, Scenario};
use crate::codec::raw::{self, RawPacket};
use crate::codec::{
    self, Auth, Packet, PacketType, Properties, PubResponse, Publish, Qos, QosPid, ReasonCode, TopicName, Version, Will,
};
use crate::conformance::conn::{describe, describe_event};
use crate::conformance::{ConnectOpts, Ctx, Event, Stop, TestConn};
use crate::spec::{v3_1_1, v5, StatementId};

/// The client Maximum Packet Size in the CONNACK / DISCONNECT scenarios:
/// room for a bare CONNACK or DISCONNECT and little else.
const TIGHT_MAXIMUM_PACKET_SIZE: u32 = 16;

pub(super) const SCENARIOS: &[Scenario] = &[
    scenario!("maximum-qos-declared", maximum_qos_declared,
        "a PUBLISH at every QoS up to the CONNACK's Maximum QoS (2 when absent) is accepted, not refused with 0x9B",
        v3: [], v5: [MQTT_3_2_2_9], requires: []),
    scenario!("will-qos-above-maximum-refused", will_qos_above_maximum,
        "a CONNECT whose Will QoS exceeds the server's Maximum QoS is refused (CONNACK 0x9B or none) and closed",
        v3: [], v5: [MQTT_3_2_2_12], requires: []),
    scenario!("will-retain-unsupported-refused", will_retain_unsupported,
        "a CONNECT with Will Retain 1 to a server without retain is refused (CONNACK 0x9A or none) and closed",
        v3: [], v5: [MQTT_3_2_2_13], requires: []),
    scenario!("wildcard-unsupported-refused", wildcard_unsupported,
        "a server without wildcard subscriptions refuses a filter holding + or # (SUBACK 0x80, or a close)",
        v3: [MQTT_3_8_3_2], v5: [], requires: []),
    scenario!("connack-fits-maximum-packet-size", connack_fits,
        "with a 16-byte client Maximum Packet Size, an accepting and a refusing CONNACK carry no Reason String or User Property that would exceed it",
        v3: [], v5: [MQTT_3_2_2_19, MQTT_3_2_2_20], requires: []),
    scenario!("disconnect-fits-maximum-packet-size", disconnect_fits,
        "with a 16-byte client Maximum Packet Size, the server's DISCONNECT for a protocol error carries no Reason String or User Property that would exceed it",
        v3: [], v5: [MQTT_3_14_2_3, MQTT_3_14_2_4], requires: []),
    scenario!("qos2-kept-until-pubrec", qos2_kept_until_pubrec,
        "QoS 2 messages in flight to a subscriber have distinct packet ids, and without PUBREC they are resent (DUP 1, same ids) on resume",
        v3: [MQTT_4_3_3_1, MQTT_4_4_0_1], v5: [MQTT_4_3_3_1, MQTT_4_3_3_3, MQTT_4_4_0_1],
        requires: [Requirement::Qos(Qos::ExactlyOnce)]),
    scenario!("qos2-sent-not-expired", qos2_sent_not_expired,
        "a QoS 2 PUBLISH already sent is not dropped when its Message Expiry Interval passes: resent on resume",
        v3: [], v5: [MQTT_4_3_3_7], requires: [Requirement::Qos(Qos::ExactlyOnce)]),
    scenario!("qos2-completed-after-expiry", qos2_completed_after_expiry,
        "an incoming QoS 2 exchange is completed (PUBCOMP) even after the message's expiry interval passed",
        v3: [], v5: [MQTT_4_3_3_13], requires: [Requirement::Qos(Qos::ExactlyOnce)]),
    scenario!("wrong-password-refused", wrong_password,
        "with credentials given (--username/--password), a CONNECT with a wrong password is refused and closed",
        v3: [], v5: [MQTT_3_1_4_2], requires: []),
    scenario!("auth-reserved-flags-close", auth_reserved_flags,
        "an AUTH whose fixed-header flags are not 0 is malformed: the connection closes",
        v3: [], v5: [MQTT_3_15_1_1], requires: []),
    scenario!("enhanced-authentication-challenge", enhanced_auth,
        "CONNECT with the profile's Authentication Method: AUTH 0x18 (same method, diagnostics within 128 bytes) or CONNACK with it; a wrong answer is refused and closed",
        v3: [], v5: [MQTT_4_12_0_2, MQTT_4_12_0_4, MQTT_4_12_0_5, MQTT_3_15_2_1, MQTT_3_15_2_2, MQTT_3_15_2_3],
        requires: [Requirement::AuthenticationMethod]),
    scenario!("will-not-inherited-by-next-connection", will_not_inherited,
        "a will discarded by DISCONNECT is not published when a later connection of the client id, without a will, drops",
        v3: [MQTT_3_1_2_12, MQTT_3_1_2_10], v5: [MQTT_3_1_2_10], requires: []),
];

async fn maximum_qos_declared(ctx: Ctx) -> Result<(), Stop> {
    let mut conn = ctx.client().await?;
    let topic = ctx.topic("q");
    let st = v5::MQTT_3_2_2_9;
    let declared = ctx.caps.maximum_qos.as_u8();
    let refused = |p: &Packet| {
        let code = match p {
            Packet::Puback(r) | Packet::Pubrec(r) => r.reason_code,
            Packet::Disconnect(d) => d.reason_code,
            _ => return false,
        };
        code == ReasonCode::QOS_NOT_SUPPORTED
    };
    for qos in [Qos::AtMostOnce, Qos::AtLeastOnce, Qos::ExactlyOnce].into_iter().filter(|q| q.as_u8() <= declared) {
        let id = conn.next_packet_id();
        let publish = ctx.publish_packet(&topic, QosPid::from_parts(qos, Some(id)).expect("id"), false, b"q")?;
        conn.send(&Packet::Publish(publish)).await?;
        let expected = format!("QoS {} accepted (Maximum QoS {declared} declared)", qos.as_u8());
        if qos == Qos::AtMostOnce {
            conn.send(&Packet::Pingreq).await?;
        }
        match conn.recv(ctx.wait).await {
            Event::Packet(p) if refused(&p) => return Err(ctx.fail(st, expected, describe(&p))),
            Event::Packet(Packet::Pingresp) if qos == Qos::AtMostOnce => {}
            Event::Packet(Packet::Puback(r)) if qos == Qos::AtLeastOnce && r.packet_id == id => {}
            Event::Packet(Packet::Pubrec(r)) if qos == Qos::ExactlyOnce && r.packet_id == id => {
                conn.send(&Packet::Pubrel(PubResponse::new(id))).await?;
                conn.expect(v5::MQTT_4_3_3_11, "PUBCOMP", |p| matches!(p, Packet::Pubcomp(c) if c.packet_id == id))
                    .await?;
            }
            other => return Err(ctx.fail(st, expected, describe_event(&other))),
        }
    }
    ctx.disconnect(conn).await
}

fn will(topic: &str, qos: Qos, retain: bool) -> Result<Will, Stop> {
    Ok(Will {
        topic: TopicName::new(topic).map_err(|e| Stop::Error(e.to_string()))?,
        payload: Bytes::from_static(b"will"),
        qos,
        retain,
        properties: Properties::default(),
    })
}

/// Sends CONNECT with `opts` and requires a refusal: CONNACK >= 0x80 (then
/// the close) or the close alone. Anything else fails `st`.
async fn refused(ctx: &Ctx, opts: &ConnectOpts, st: StatementId, expected: &str) -> Result<(), Stop> {
    let mut conn = ctx.raw().await?;
    conn.send(&ctx.connect_packet(opts)).await?;
    match conn.recv(ctx.wait).await {
        Event::Closed => return Ok(()),
        Event::Packet(Packet::Connack(c)) if c.reason_code.0 >= 0x80 => {}
        other => return Err(ctx.fail(st, expected, describe_event(&other))),
    }
    close_after(
        ctx,
        &mut conn,
        Phase::BeforeConnack,
        st,
        v5::MQTT_4_13_2_1,
        "the close after a refusing CONNACK",
        |_| false,
    )
    .await
}

async fn will_qos_above_maximum(ctx: Ctx) -> Result<(), Stop> {
    let above = match ctx.caps.maximum_qos {
        Qos::ExactlyOnce => return Err(Stop::Skip("the server supports QoS 2: no Will QoS is above it".into())),
        Qos::AtMostOnce => Qos::AtLeastOnce,
        Qos::AtLeastOnce => Qos::ExactlyOnce,
    };
    let mut opts = ctx.opts();
    opts.will = Some(will(&ctx.topic("will"), above, false)?);
    let expected = format!(
        "refused (CONNACK 0x9B or no CONNACK) and closed: Will QoS {} above Maximum QoS {}",
        above.as_u8(),
        ctx.caps.maximum_qos.as_u8()
    );
    refused(&ctx, &opts, v5::MQTT_3_2_2_12, &expected).await
}

async fn will_retain_unsupported(ctx: Ctx) -> Result<(), Stop> {
    if ctx.caps.retain_available {
        return Err(Stop::Skip("the server supports retained messages".into()));
    }
    let mut opts = ctx.opts();
    opts.will = Some(will(&ctx.topic("will"), Qos::AtMostOnce, true)?);
    let expected = "refused (CONNACK 0x9A or no CONNACK) and closed: Will Retain 1 without retain support";
    refused(&ctx, &opts, v5::MQTT_3_2_2_13, expected).await
}

async fn wildcard_unsupported(ctx: Ctx) -> Result<(), Stop> {
    if ctx.caps.wildcard_subscription_available {
        return Err(Stop::Skip("the server supports wildcard subscriptions".into()));
    }
    let st = v3_1_1::MQTT_3_8_3_2;
    for filter in [ctx.topic("+"), ctx.topic("#")] {
        let mut conn = ctx.client().await?;
        let id = conn.next_packet_id();
        let subscriptions = vec![codec::Subscription {
            filter: codec::TopicFilter::new(filter.clone()).map_err(|e| Stop::Error(e.to_string()))?,
            options: codec::SubscriptionOptions::qos(Qos::AtMostOnce),
        }];
        conn.send(&Packet::Subscribe(codec::Subscribe {
            packet_id: id,
            properties: Properties::default(),
            subscriptions,
        }))
        .await?;
        let expected = format!("SUBACK 0x80 for {filter} (no wildcard support), or a close");
        match conn.recv(ctx.wait).await {
            Event::Closed => continue,
            Event::Packet(Packet::Suback(s)) if s.packet_id == id && s.reason_codes == [ReasonCode(0x80)] => {}
            other => return Err(ctx.fail(st, expected, describe_event(&other))),
        }
        ctx.disconnect(conn).await?;
    }
    Ok(())
}

/// Fails when `p` (a CONNACK, DISCONNECT or AUTH) exceeds `limit` bytes while
/// carrying a Reason String (`rs`) or User Properties (`up`).
fn diagnostics_fit(ctx: &Ctx, p: &Packet, limit: u32, rs: StatementId, up: StatementId) -> Result<(), Stop> {
    let props = match p {
        Packet::Connack(c) => &c.properties,
        Packet::Disconnect(d) => &d.properties,
        Packet::Auth(a) => &a.properties,
        _ => return Ok(()),
    };
    let size = codec::encode_to_vec(p, Version::V5).map_or(usize::MAX, |b| b.len());
    if size <= limit as usize {
        return Ok(());
    }
    let expected =
        format!("no Reason String or User Property making it exceed the client's Maximum Packet Size {limit}");
    if props.reason_string.is_some() {
        return Err(ctx.fail(rs, expected, format!("{size} bytes: {}", describe(p))));
    }
    if !props.user_properties.is_empty() {
        return Err(ctx.fail(up, expected, format!("{size} bytes: {}", describe(p))));
    }
    Ok(())
}

async fn connack_fits(ctx: Ctx) -> Result<(), Stop> {
    let (rs, up) = (v5::MQTT_3_2_2_19, v5::MQTT_3_2_2_20);
    // Accepted.
    let mut opts = ctx.opts();
    opts.properties.maximum_packet_size = Some(TIGHT_MAXIMUM_PACKET_SIZE);
    let mut conn = ctx.raw().await?;
    conn.send(&ctx.connect_packet(&opts)).await?;
    let p = conn.expect(v5::MQTT_3_1_4_5, "CONNACK", |p| matches!(p, Packet::Connack(_))).await?;
    diagnostics_fit(&ctx, &p, TIGHT_MAXIMUM_PACKET_SIZE, rs, up)?;
    ctx.disconnect(conn).await?;
    // Refused: an unknown authentication method invites a Reason String.
    let mut opts = ctx.opts();
    opts.properties.maximum_packet_size = Some(TIGHT_MAXIMUM_PACKET_SIZE);
    opts.properties.authentication_method = Some("mqttsim-unknown-method".into());
    let mut conn = ctx.raw().await?;
    conn.send(&ctx.connect_packet(&opts)).await?;
    match conn.recv(ctx.wait).await {
        Event::Closed => Ok(()),
        Event::Packet(p @ Packet::Connack(_)) => diagnostics_fit(&ctx, &p, TIGHT_MAXIMUM_PACKET_SIZE, rs, up),
        other => Err(ctx.fail(v5::MQTT_4_12_0_1, "a refusing CONNACK or the close", describe_event(&other))),
    }
}

async fn disconnect_fits(ctx: Ctx) -> Result<(), Stop> {
    let mut opts = ctx.opts();
    opts.properties.maximum_packet_size = Some(TIGHT_MAXIMUM_PACKET_SIZE);
    let (mut conn, _, _) = ctx.connect_with(&opts).await?;
    // Topic Alias 0 is a protocol error (0x94): an invitation to explain it.
    let bytes = RawPacket::new(raw::fixed_header(PacketType::Publish, 0))
        .string(&ctx.topic("a"))
        .properties(|p| p.property_u16(0x23, 0))
        .bytes(b"x")
        .build();
    conn.send_raw(&bytes).await?;
    let mut too_big: Option<Stop> = None;
    let st = v5::MQTT_4_13_1_1;
    close_after(&ctx, &mut conn, Phase::Connected, st, st, "the connection closed (Topic Alias 0)", |e| match e {
        Event::Packet(p @ Packet::Disconnect(d)) if d.reason_code.0 >= 0x80 => {
            if too_big.is_none() {
                too_big =
                    diagnostics_fit(&ctx, p, TIGHT_MAXIMUM_PACKET_SIZE, v5::MQTT_3_14_2_3, v5::MQTT_3_14_2_4).err();
            }
            true
        }
        _ => false,
    })
    .await?;
    too_big.map_or(Ok(()), Err)
}

fn persistent(ctx: &Ctx, client_id: &str) -> ConnectOpts {
    let mut opts = ctx.opts();
    opts.client_id = client_id.to_string();
    opts.clean = false;
    if ctx.version == crate::spec::Version::V5 {
        opts.properties.session_expiry_interval_secs = Some(300);
    }
    opts
}

/// Connects a persistent QoS 2 subscriber to `topic`.
async fn qos2_subscriber(ctx: &Ctx, client_id: &str, topic: &str) -> Result<TestConn, Stop> {
    let (mut sub, _, _) = ctx.connect_with(&persistent(ctx, client_id)).await?;
    ctx.subscribe1(&mut sub, topic, Qos::ExactlyOnce).await?;
    Ok(sub)
}

/// Reconnects `client_id`, requiring Session Present 1.
async fn resume(ctx: &Ctx, client_id: &str) -> Result<TestConn, Stop> {
    let (conn, present, _) = ctx.connect_with(&persistent(ctx, client_id)).await?;
    if !present {
        let st = ctx.st(v3_1_1::MQTT_3_2_2_2, v5::MQTT_3_2_2_3);
        return Err(ctx.fail(st, "Session Present 1 (the session was kept)", "Session Present 0"));
    }
    Ok(conn)
}

/// Completes the QoS 2 flow of every PUBLISH in `got` as the receiver.
async fn complete_all(conn: &mut TestConn, got: &[Publish], st: StatementId) -> Result<(), Stop> {
    for p in got {
        conn.ack(p, st).await?;
    }
    Ok(())
}

async fn qos2_kept_until_pubrec(ctx: Ctx) -> Result<(), Stop> {
    let id = ctx.client_id();
    let topic = ctx.topic("k");
    let sub = qos2_subscriber(&ctx, &id, &topic).await?;
    let mut sub = sub;
    let mut publisher = ctx.client().await?;
    const MESSAGES: usize = 3;
    for i in 0..MESSAGES {
        ctx.publish(&mut publisher, &topic, Qos::ExactlyOnce, false, format!("m{i}").as_bytes()).await?;
    }
    let st_ids = ctx.st(v3_1_1::MQTT_4_3_3_1, v5::MQTT_4_3_3_1);
    let first = sub.drain_publishes(st_ids, "the QoS 2 messages", 16).await?;
    let mut ids: Vec<_> = first.iter().filter_map(|p| p.packet_id()).collect();
    ids.sort();
    ids.dedup();
    if first.len() != MESSAGES || ids.len() != MESSAGES {
        let seen: Vec<_> = first.iter().map(|p| describe(&Packet::Publish(p.clone()))).collect();
        return Err(ctx.fail(
            st_ids,
            format!("{MESSAGES} QoS 2 PUBLISHes in flight together, each with its own packet id"),
            seen.join(", "),
        ));
    }
    sub.drop_connection().await;
    let mut sub = resume(&ctx, &id).await?;
    let st = ctx.st(v3_1_1::MQTT_4_4_0_1, v5::MQTT_4_3_3_3);
    let again = sub.drain_publishes(st, "the unacknowledged PUBLISHes resent", 16).await?;
    for p in &first {
        if let Some(q) = again.iter().find(|q| !q.dup && q.packet_id() == p.packet_id() && q.payload == p.payload) {
            let st = ctx.st(v3_1_1::MQTT_3_3_1_1, v5::MQTT_3_3_1_1);
            return Err(ctx.fail(st, "DUP 1 on the redelivery", describe(&Packet::Publish(q.clone()))));
        }
        if !again.iter().any(|q| q.dup && q.packet_id() == p.packet_id() && q.payload == p.payload) {
            let seen: Vec<_> = again.iter().map(|p| describe(&Packet::Publish(p.clone()))).collect();
            return Err(ctx.fail(
                st,
                format!("{} resent with DUP 1 (no PUBREC came)", describe(&Packet::Publish(p.clone()))),
                if seen.is_empty() { "nothing".to_string() } else { seen.join(", ") },
            ));
        }
    }
    complete_all(&mut sub, &again, st).await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await?;
    ctx.end_session(&id).await
}

async fn qos2_sent_not_expired(ctx: Ctx) -> Result<(), Stop> {
    let id = ctx.client_id();
    let topic = ctx.topic("x");
    let mut sub = qos2_subscriber(&ctx, &id, &topic).await?;
    let mut publisher = ctx.client().await?;
    let pid = publisher.next_packet_id();
    let mut publish = ctx.publish_packet(&topic, QosPid::ExactlyOnce(pid), false, b"short-lived")?;
    publish.properties.message_expiry_interval_secs = Some(1);
    ctx.publish_full(&mut publisher, publish).await?;
    let st = v5::MQTT_4_3_3_7;
    let p = sub.expect_publish(st, "the message", |p| &p.payload[..] == b"short-lived").await?;
    sub.drop_connection().await;
    // Timing is the subject: the expiry interval must pass.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let mut sub = resume(&ctx, &id).await?;
    let again = sub
        .expect_publish(st, "the PUBLISH already sent resent (DUP 1, same id) although its expiry passed", |q| {
            q.packet_id() == p.packet_id() && q.payload == p.payload
        })
        .await?;
    sub.ack(&again, st).await?;
    ctx.disconnect(publisher).await?;
    ctx.disconnect(sub).await?;
    ctx.end_session(&id).await
}

async fn qos2_completed_after_expiry(ctx: Ctx) -> Result<(), Stop> {
    let mut conn = ctx.client().await?;
    let pid = conn.next_packet_id();
    let mut publish: Publish = ctx.publish_packet(&ctx.topic("c"), QosPid::ExactlyOnce(pid), false, b"x")?;
    publish.properties.message_expiry_interval_secs = Some(1);
    conn.send(&Packet::Publish(publish)).await?;
    conn.expect(v5::MQTT_4_3_3_8, "PUBREC", |p| matches!(p, Packet::Pubrec(r) if r.packet_id == pid)).await?;
    // Timing is the subject: the message expires before PUBREL.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    conn.send(&Packet::Pubrel(PubResponse::new(pid))).await?;
    let st = v5::MQTT_4_3_3_13;
    conn.expect(
        st,
        &format!("PUBCOMP for packet id {pid} with a success code (the exchange completes though the message expired)"),
        |p| matches!(p, Packet::Pubcomp(r) if r.packet_id == pid && r.reason_code.0 < 0x80),
    )
    .await?;
    ctx.disconnect(conn).await
}

async fn wrong_password(ctx: Ctx) -> Result<(), Stop> {
    let (Some(user), Some(password)) = (ctx.username.clone(), ctx.password.clone()) else {
        return Err(Stop::Skip("needs credentials (--username and --password)".into()));
    };
    let mut conn = ctx.raw().await?;
    let mut packet = ctx.connect_packet(&ctx.opts());
    if let Packet::Connect(c) = &mut packet {
        c.username = Some(user);
        c.password = Some(Bytes::from(format!("{password}-not-the-password")));
    }
    conn.send(&packet).await?;
    let st = v5::MQTT_3_1_4_2;
    let expected = "a refusal (CONNACK 0x86 / 0x87 or none) and the close: the password is wrong";
    match conn.recv(ctx.wait).await {
        Event::Closed => return Ok(()),
        Event::Packet(Packet::Connack(c)) if c.reason_code.0 >= 0x80 => {}
        other => return Err(ctx.fail(st, expected, describe_event(&other))),
    }
    close_after(&ctx, &mut conn, Phase::BeforeConnack, st, st, "the close after a refusing CONNACK", |_| false).await
}

async fn auth_reserved_flags(ctx: Ctx) -> Result<(), Stop> {
    let mut conn = ctx.client().await?;
    let bytes = RawPacket::new(raw::fixed_header(PacketType::Auth, 0b0001)).u8(0x19).properties(|p| p).build();
    conn.send_raw(&bytes).await?;
    let st = v5::MQTT_3_15_1_1;
    close_after(
        &ctx,
        &mut conn,
        Phase::Connected,
        st,
        st,
        "the connection closed (malformed AUTH)",
        |e| matches!(e, Event::Packet(Packet::Disconnect(d)) if d.reason_code.0 >= 0x80),
    )
    .await
}

/// The client Maximum Packet Size in the enhanced-authentication scenario:
/// room for an AUTH with a method name and some data, not for long
/// diagnostics.
const AUTH_MAXIMUM_PACKET_SIZE: u32 = 128;

/// Rounds of wrong answers the enhanced-authentication scenario sends
/// before the server must have refused.
const AUTH_ROUNDS: usize = 3;

async fn enhanced_auth(ctx: Ctx) -> Result<(), Stop> {
    let method = ctx.caps.authentication_method.clone().expect("required");
    let mut opts = ctx.opts();
    opts.properties.authentication_method = Some(method.clone());
    opts.properties.maximum_packet_size = Some(AUTH_MAXIMUM_PACKET_SIZE);
    let mut conn = ctx.raw().await?;
    conn.send(&ctx.connect_packet(&opts)).await?;
    let same = v5::MQTT_4_12_0_5;
    let expected_method = format!("Authentication Method {method:?}");
    for round in 0..=AUTH_ROUNDS {
        match conn.recv(ctx.wait).await {
            Event::Packet(Packet::Auth(a)) if round < AUTH_ROUNDS => {
                let p = Packet::Auth(a.clone());
                if a.reason_code != ReasonCode::CONTINUE_AUTHENTICATION {
                    let st = if matches!(a.reason_code.0, 0x00 | 0x18 | 0x19) {
                        v5::MQTT_4_12_0_2
                    } else {
                        v5::MQTT_3_15_2_1
                    };
                    return Err(ctx.fail(st, "AUTH 0x18 (Continue authentication) during CONNECT", describe(&p)));
                }
                if a.properties.authentication_method.as_deref() != Some(method.as_str()) {
                    return Err(ctx.fail(same, format!("AUTH with {expected_method}"), describe(&p)));
                }
                let limit = AUTH_MAXIMUM_PACKET_SIZE;
                diagnostics_fit(&ctx, &p, limit, v5::MQTT_3_15_2_2, v5::MQTT_3_15_2_3)?;
                let answer = Auth {
                    reason_code: ReasonCode::CONTINUE_AUTHENTICATION,
                    properties: Properties::from(crate::codec::PropertyValues {
                        authentication_method: Some(method.clone()),
                        authentication_data: Some(Bytes::from_static(b"mqttsim-wrong-answer")),
                        ..Default::default()
                    }),
                };
                conn.send(&Packet::Auth(answer)).await?;
            }
            Event::Packet(Packet::Connack(c)) if c.reason_code == ReasonCode::SUCCESS && round == 0 => {
                // The method needed no exchange: only the echo can be checked.
                if c.properties.authentication_method.as_deref() != Some(method.as_str()) {
                    let p = Packet::Connack(c);
                    return Err(ctx.fail(same, format!("a successful CONNACK with {expected_method}"), describe(&p)));
                }
                return ctx.disconnect(conn).await;
            }
            Event::Packet(Packet::Connack(c)) if c.reason_code == ReasonCode::SUCCESS => {
                return Err(ctx.fail(
                    v5::MQTT_4_12_0_4,
                    "authentication refused: the answer was wrong",
                    describe(&Packet::Connack(c)),
                ));
            }
            Event::Closed => return Ok(()),
            Event::Packet(Packet::Connack(c)) if c.reason_code.0 >= 0x80 => {
                let st = v5::MQTT_4_12_0_4;
                return close_after(&ctx, &mut conn, Phase::BeforeConnack, st, st, "the close after refusing", |_| {
                    false
                })
                .await;
            }
            other => {
                return Err(ctx.fail(
                    v5::MQTT_4_12_0_4,
                    "AUTH 0x18, or a refusal (CONNACK >= 0x80 or the close) of the wrong answer",
                    describe_event(&other),
                ))
            }
        }
    }
    unreachable!("every round returns or continues; the last one cannot take an AUTH")
}

async fn will_not_inherited(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("will");
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtLeastOnce).await?;
    let mut opts = ctx.opts();
    opts.will = Some(will(&topic, Qos::AtMostOnce, false)?);
    let (conn, _, _) = ctx.connect_with(&opts).await?;
    ctx.disconnect_and_wait(conn).await?;
    let mut marker = ctx.client().await?;
    // First: the DISCONNECT itself published nothing (else that is the fault).
    let st = ctx.st(v3_1_1::MQTT_3_14_4_3, v5::MQTT_3_14_4_3);
    after_marker(&ctx, &mut marker, &mut sub, &topic, b"marker1", st).await?;
    // The same client id again, without a will, ended by a network close.
    opts.will = None;
    let (conn, _, _) = ctx.connect_with(&opts).await?;
    conn.drop_connection().await;
    // A third connection with the id: the server is done with the second.
    let (conn, _, _) = ctx.connect_with(&opts).await?;
    ctx.disconnect_and_wait(conn).await?;
    let st = ctx.st(v3_1_1::MQTT_3_1_2_12, v5::MQTT_3_1_2_10);
    after_marker(&ctx, &mut marker, &mut sub, &topic, b"marker2", st).await?;
    ctx.disconnect(marker).await?;
    ctx.disconnect(sub).await
}

/// `marker` publishes `payload` to `topic` at QoS 1; it must be the next
/// message `sub` gets (no will before it), else `st` fails.
async fn after_marker(
    ctx: &Ctx,
    marker: &mut TestConn,
    sub: &mut TestConn,
    topic: &str,
    payload: &[u8],
    st: StatementId,
) -> Result<(), Stop> {
    ctx.publish(marker, topic, Qos::AtLeastOnce, false, payload).await?;
    let p = sub.expect_publish(st, "the marker message, and no will before it", |p| &p.payload[..] == payload).await?;
    sub.ack(&p, st).await
}
