//! CONNECT and CONNACK, PINGREQ, keep-alive, wills, client ids, takeover.

use std::time::Duration;

use bytes::Bytes;

use super::{scenario, Requirement, Scenario};
use crate::codec::raw::{self, RawPacket};
use crate::codec::{Packet, PacketType, Properties, Qos, ReasonCode, TopicName, Version, Will};
use crate::conformance::conn::{describe, describe_event};
use crate::conformance::{Ctx, Event, Stop, TestConn};
use crate::spec::{v3_1_1, v5};

pub(super) const SCENARIOS: &[Scenario] = &[
    scenario!("connect-accepted", connect_accepted,
        "a valid clean CONNECT gets CONNACK 0 with Session Present 0 as the first packet, and only one CONNACK",
        v3: [MQTT_3_1_4_4, MQTT_3_2_0_1, MQTT_3_2_2_1, MQTT_3_1_3_5],
        v5: [MQTT_3_1_4_5, MQTT_3_2_0_1, MQTT_3_2_0_2, MQTT_3_2_2_2, MQTT_3_1_3_5, MQTT_3_1_2_28, MQTT_4_12_0_6],
        requires: []),
    scenario!("second-connect-closes", second_connect_closes,
        "a second CONNECT on one connection is a protocol violation: the server closes",
        v3: [MQTT_3_1_0_2], v5: [MQTT_3_1_0_2, MQTT_3_14_4_1, MQTT_3_14_4_2, MQTT_3_14_2_2, MQTT_3_14_2_1], requires: []),
    scenario!("first-packet-not-connect-closes", first_packet_not_connect,
        "a PINGREQ before CONNECT gets no PINGRESP; the server closes",
        v3: [MQTT_4_8_0_1, MQTT_3_2_0_1], v5: [MQTT_4_13_1_1, MQTT_3_2_0_1, MQTT_3_14_0_1], requires: []),
    scenario!("bad-protocol-name-closes", bad_protocol_name,
        "CONNECT with protocol name MQTX is not accepted; the server closes",
        v3: [MQTT_3_1_2_1, MQTT_3_1_4_1], v5: [MQTT_3_1_2_1], requires: []),
    scenario!("bad-protocol-level-refused", bad_protocol_level,
        "CONNECT with an unknown protocol level: 3.1.1 CONNACK 0x01 then close; 5.0 optional CONNACK 0x84, then close",
        v3: [MQTT_3_1_2_2, MQTT_3_2_2_4, MQTT_3_2_2_5], v5: [MQTT_3_1_2_2, MQTT_3_2_2_7, MQTT_3_2_2_6], requires: []),
    scenario!("reserved-connect-flag-closes", reserved_connect_flag,
        "CONNECT with the reserved connect flag set is malformed; closed without a successful CONNACK",
        v3: [MQTT_3_1_2_3, MQTT_3_1_4_1], v5: [MQTT_3_1_2_3, MQTT_3_1_4_1], requires: []),
    scenario!("pingreq-pingresp", pingreq_pingresp, "every PINGREQ gets a PINGRESP",
        v3: [MQTT_3_12_4_1], v5: [MQTT_3_12_4_1], requires: []),
    scenario!("keep-alive-enforced", keep_alive_enforced,
        "silent clients with keep-alive 1 s (three, started 1.7 s apart) are each closed within 1.5 s (plus the timing tolerance)",
        v3: [MQTT_3_1_2_24], v5: [MQTT_3_1_2_22, MQTT_3_2_2_22], requires: []),
    scenario!("will-on-keep-alive-expiry", will_on_keep_alive_expiry,
        "the will of a client closed for keep-alive expiry is published, with RETAIN 0",
        v3: [MQTT_3_1_2_8, MQTT_3_1_2_16], v5: [MQTT_3_1_2_8, MQTT_3_1_2_14], requires: []),
    scenario!("will-on-network-close", will_on_network_close,
        "a will is published when the network connection closes without DISCONNECT",
        v3: [MQTT_3_1_2_8], v5: [MQTT_3_1_2_7, MQTT_3_1_2_8], requires: []),
    scenario!("will-not-on-disconnect", will_not_on_disconnect,
        "a will is discarded, not published, after a normal DISCONNECT",
        v3: [MQTT_3_1_2_10, MQTT_3_14_4_3], v5: [MQTT_3_1_2_10, MQTT_3_14_4_3], requires: []),
    scenario!("will-retained", will_retained,
        "a will with Will Retain 1 is published retained: a later subscriber gets it with RETAIN 1",
        v3: [MQTT_3_1_2_17], v5: [MQTT_3_1_2_15], requires: [Requirement::Retain]),
    scenario!("empty-client-id", empty_client_id,
        "a zero-length client id: accepted with a unique assigned id, or refused with the identifier-rejected code",
        v3: [MQTT_3_1_3_6, MQTT_3_1_3_8, MQTT_3_1_3_9], v5: [MQTT_3_1_3_6, MQTT_3_1_3_7, MQTT_3_2_2_16, MQTT_3_1_3_8],
        requires: []),
    scenario!("client-takeover", client_takeover,
        "a second connection with the same client id makes the server close the first",
        v3: [MQTT_3_1_4_2], v5: [MQTT_3_1_4_3], requires: []),
];

/// A CONNECT built by hand: protocol `name`, `level`, connect `flags`, and
/// (5.0-shaped when `properties`) an empty property list.
pub(super) fn raw_connect(name: &str, level: u8, flags: u8, properties: bool, client_id: &str) -> Vec<u8> {
    let mut p = RawPacket::new(raw::fixed_header(PacketType::Connect, 0)).string(name).u8(level).u8(flags).u16(60);
    if properties {
        p = p.properties(|p| p);
    }
    p.string(client_id).build()
}

/// Whether a scenario waits for the close before or after a successful CONNACK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// No successful CONNACK yet: a DISCONNECT is not allowed (5.0 MQTT-3.14.0-1).
    BeforeConnack,
    /// After a successful CONNACK.
    Connected,
}

/// Waits for the close; packets for which `allowed` holds may come first.
/// A packet that is not allowed fails `on_packet` (or the statement a
/// malformed packet breaks); no close fails `on_no_close`. Under 5.0, once
/// the server sent DISCONNECT nothing may follow but the close
/// (MQTT-3.14.4-1, -2), and its DISCONNECT carries no Session Expiry Interval
/// (MQTT-3.14.2-2); before a successful CONNACK it may send no DISCONNECT at
/// all (MQTT-3.14.0-1).
pub(super) async fn close_after(
    ctx: &Ctx,
    conn: &mut TestConn,
    phase: Phase,
    on_packet: crate::spec::StatementId,
    on_no_close: crate::spec::StatementId,
    expected: &str,
    mut allowed: impl FnMut(&Event) -> bool,
) -> Result<(), Stop> {
    let deadline = tokio::time::Instant::now() + ctx.wait;
    let mut disconnect_seen = false;
    let v5 = ctx.version == Version::V5;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let event = conn.recv(left).await;
        match &event {
            Event::Closed => return Ok(()),
            Event::Timeout if disconnect_seen => {
                return Err(ctx.fail(
                    v5::MQTT_3_14_4_2,
                    "the close after the server's DISCONNECT",
                    "the connection stayed open",
                ))
            }
            Event::Timeout => return Err(ctx.fail(on_no_close, expected, "the connection stayed open")),
            _ if disconnect_seen => {
                return Err(ctx.fail(
                    v5::MQTT_3_14_4_1,
                    "nothing after the server's DISCONNECT",
                    describe_event(&event),
                ))
            }
            Event::Packet(Packet::Disconnect(_)) if v5 && phase == Phase::BeforeConnack => {
                return Err(ctx.fail(
                    v5::MQTT_3_14_0_1,
                    "no DISCONNECT before a successful CONNACK",
                    describe_event(&event),
                ))
            }
            Event::Packet(Packet::Disconnect(d)) if v5 && allowed(&event) => {
                if d.properties.session_expiry_interval_secs.is_some() {
                    return Err(ctx.fail(
                        v5::MQTT_3_14_2_2,
                        "no Session Expiry Interval in a server's DISCONNECT",
                        describe_event(&event),
                    ));
                }
                disconnect_seen = true;
            }
            e if allowed(e) => {}
            e => {
                let st = conn.blame(e, on_packet);
                return Err(ctx.fail(st, expected, describe_event(e)));
            }
        }
    }
}

/// Whether `bytes` start with a 5.0 CONNACK with a failure code.
fn is_v5_refusal(bytes: &[u8]) -> bool {
    let options = crate::codec::DecodeOptions::new(Version::V5);
    matches!(crate::codec::decode(bytes, &options), Ok(Some((Packet::Connack(c), _))) if c.reason_code.0 >= 0x80)
}

/// A CONNACK refusing (code >= 0x80), allowed before a close in 5.0.
fn refusal(e: &Event) -> bool {
    matches!(e, Event::Packet(Packet::Connack(c)) if c.reason_code.0 >= 0x80)
}

async fn connect_accepted(ctx: Ctx) -> Result<(), Stop> {
    let mut conn = ctx.raw().await?;
    let mut opts = ctx.opts();
    opts.client_id = format!("{}abcdefghijklmnopqrstuvw", opts.client_id).chars().take(23).collect();
    conn.send(&ctx.connect_packet(&opts)).await?;
    let first = ctx.st(v3_1_1::MQTT_3_2_0_1, v5::MQTT_3_2_0_1);
    let p = conn.expect(first, "CONNACK as the first packet", |p| matches!(p, Packet::Connack(_))).await?;
    let Packet::Connack(ack) = p else { unreachable!("checked above") };
    if ack.reason_code != ReasonCode::SUCCESS {
        let st = ctx.st(v3_1_1::MQTT_3_1_3_5, v5::MQTT_3_1_3_5);
        return Err(ctx.fail(
            st,
            "CONNACK 0 for a 23-character alphanumeric client id",
            describe(&Packet::Connack(ack)),
        ));
    }
    if ack.session_present {
        let st = ctx.st(v3_1_1::MQTT_3_2_2_1, v5::MQTT_3_2_2_2);
        return Err(ctx.fail(st, "Session Present 0 after a clean start", describe(&Packet::Connack(ack))));
    }
    if ctx.version == Version::V5 {
        if ack.properties.response_information.is_some() {
            return Err(ctx.fail(
                v5::MQTT_3_1_2_28,
                "no Response Information (none was requested)",
                describe(&Packet::Connack(ack)),
            ));
        }
        if ack.properties.authentication_method.is_some() {
            return Err(ctx.fail(
                v5::MQTT_4_12_0_6,
                "no Authentication Method (CONNECT had none)",
                describe(&Packet::Connack(ack)),
            ));
        }
    }
    let st = ctx.st(v3_1_1::MQTT_3_2_0_1, v5::MQTT_3_2_0_2);
    conn.expect_nothing(st, "one CONNACK only, then the PINGRESP").await?;
    ctx.disconnect(conn).await
}

async fn second_connect_closes(ctx: Ctx) -> Result<(), Stop> {
    let opts = ctx.opts();
    let (mut conn, _, _) = ctx.connect_with(&opts).await?;
    conn.send(&ctx.connect_packet(&opts)).await?;
    let st = ctx.st(v3_1_1::MQTT_3_1_0_2, v5::MQTT_3_1_0_2);
    close_after(
        &ctx,
        &mut conn,
        Phase::Connected,
        st,
        st,
        "the connection closed (5.0: optionally after DISCONNECT 0x82)",
        |e| matches!(e, Event::Packet(Packet::Disconnect(_))),
    )
    .await
}

async fn first_packet_not_connect(ctx: Ctx) -> Result<(), Stop> {
    let mut conn = ctx.raw().await?;
    conn.send(&Packet::Pingreq).await?;
    let on_packet = ctx.st(v3_1_1::MQTT_3_2_0_1, v5::MQTT_3_2_0_1);
    let on_open = ctx.st(v3_1_1::MQTT_4_8_0_1, v5::MQTT_4_13_1_1);
    close_after(
        &ctx,
        &mut conn,
        Phase::BeforeConnack,
        on_packet,
        on_open,
        "no PINGRESP before CONNACK; the connection closed",
        |_| false,
    )
    .await
}

async fn bad_protocol_name(ctx: Ctx) -> Result<(), Stop> {
    let mut conn = ctx.raw().await?;
    let v5 = ctx.version == Version::V5;
    conn.send_raw(&raw_connect("MQTX", ctx.version.protocol_level(), 0b10, v5, &ctx.client_id())).await?;
    let st = ctx.st(v3_1_1::MQTT_3_1_2_1, v5::MQTT_3_1_2_1);
    close_after(
        &ctx,
        &mut conn,
        Phase::BeforeConnack,
        st,
        st,
        "the connection closed (optionally after a refusing CONNACK)",
        |e| {
            matches!(e, Event::Packet(Packet::Connack(c)) if c.reason_code != ReasonCode::SUCCESS)
                || matches!(e, Event::Malformed { first_byte: 0x20, .. })
        },
    )
    .await
}

async fn bad_protocol_level(ctx: Ctx) -> Result<(), Stop> {
    let mut conn = ctx.raw().await?;
    match ctx.version {
        Version::V3_1_1 => {
            conn.send_raw(&raw_connect("MQTT", 9, 0b10, false, &ctx.client_id())).await?;
            // Level 9 is unsupported by 3.1.1 and by 5.0 alike: a server that
            // also speaks 5.0 may answer in 5.0's form (CONNACK 0x84, allowed
            // by 5.0 MQTT-3.1.2-2). A 3.1.1-only server must send 0x01.
            let expected = if ctx.caps.v5 {
                "CONNACK with return code 0x01 (or, from a server that also speaks 5.0, a 5.0 CONNACK 0x84)"
            } else {
                "CONNACK with return code 0x01"
            };
            match conn.recv(ctx.wait).await {
                Event::Packet(p @ Packet::Connack(_)) => {
                    let Packet::Connack(c) = &p else { unreachable!("matched") };
                    if c.reason_code != ReasonCode::V3_UNACCEPTABLE_PROTOCOL_VERSION {
                        return Err(ctx.fail(v3_1_1::MQTT_3_1_2_2, expected, describe(&p)));
                    }
                    if c.session_present {
                        return Err(ctx.fail(
                            v3_1_1::MQTT_3_2_2_4,
                            "Session Present 0 with a non-zero code",
                            describe(&p),
                        ));
                    }
                }
                Event::Malformed { bytes, .. } if ctx.caps.v5 && is_v5_refusal(&bytes) => {}
                other => return Err(ctx.fail(v3_1_1::MQTT_3_1_2_2, expected, describe_event(&other))),
            }
            let st = v3_1_1::MQTT_3_2_2_5;
            close_after(
                &ctx,
                &mut conn,
                Phase::BeforeConnack,
                st,
                st,
                "the connection closed after CONNACK 0x01",
                |_| false,
            )
            .await
        }
        Version::V5 => {
            conn.send_raw(&raw_connect("MQTT", 6, 0b10, true, &ctx.client_id())).await?;
            let expected = "the connection closed, optionally after CONNACK 0x84";
            match conn.recv(ctx.wait).await {
                Event::Closed => return Ok(()),
                Event::Packet(p @ Packet::Connack(_)) => {
                    let Packet::Connack(c) = &p else { unreachable!("matched") };
                    if c.reason_code.0 < 0x80 {
                        return Err(ctx.fail(v5::MQTT_3_1_2_2, expected, describe(&p)));
                    }
                    if c.session_present {
                        return Err(ctx.fail(v5::MQTT_3_2_2_6, "Session Present 0 with a failure code", describe(&p)));
                    }
                }
                // A CONNACK in another version's form (the level was not 5).
                Event::Malformed { first_byte: 0x20, .. } => {}
                other => return Err(ctx.fail(v5::MQTT_3_1_2_2, expected, describe_event(&other))),
            }
            let st = v5::MQTT_3_2_2_7;
            close_after(&ctx, &mut conn, Phase::BeforeConnack, st, st, "the close after a refusing CONNACK", |_| false)
                .await
        }
    }
}

async fn reserved_connect_flag(ctx: Ctx) -> Result<(), Stop> {
    let mut conn = ctx.raw().await?;
    let v5 = ctx.version == Version::V5;
    conn.send_raw(&raw_connect("MQTT", ctx.version.protocol_level(), 0b11, v5, &ctx.client_id())).await?;
    let st = ctx.st(v3_1_1::MQTT_3_1_2_3, v5::MQTT_3_1_2_3);
    close_after(&ctx, &mut conn, Phase::BeforeConnack, st, st, "closed without a successful CONNACK", |e| {
        v5 && refusal(e)
    })
    .await
}

async fn pingreq_pingresp(ctx: Ctx) -> Result<(), Stop> {
    let mut conn = ctx.client().await?;
    let st = ctx.st(v3_1_1::MQTT_3_12_4_1, v5::MQTT_3_12_4_1);
    for _ in 0..3 {
        conn.send(&Packet::Pingreq).await?;
        conn.expect(st, "PINGRESP", |p| matches!(p, Packet::Pingresp)).await?;
    }
    ctx.disconnect(conn).await
}

fn will(topic: &str, payload: &'static [u8], retain: bool) -> Result<Will, Stop> {
    Ok(Will {
        topic: TopicName::new(topic).map_err(|e| Stop::Error(e.to_string()))?,
        payload: Bytes::from_static(payload),
        qos: Qos::AtMostOnce,
        retain,
        properties: Properties::default(),
    })
}

/// Connects a client with keep-alive 1 s (and `will`), then stays silent
/// until the server closes, at most 8 × keep-alive plus the wait. Returns
/// the keep-alive in force and how long after CONNACK the close came.
async fn silent_until_closed(ctx: &Ctx, will: Option<Will>) -> Result<(u16, Duration), Stop> {
    let mut opts = ctx.opts();
    opts.keep_alive_secs = 1;
    opts.will = will;
    let (mut conn, _, props) = ctx.connect_with(&opts).await?;
    let keep_alive = match props.server_keep_alive_secs {
        None => 1,
        Some(0) => return Err(Stop::Skip("the server turns keep-alive off (Server Keep Alive 0)".into())),
        Some(k) if k > 10 => return Err(Stop::Skip(format!("the server imposes keep-alive {k} s"))),
        Some(k) => k,
    };
    let start = tokio::time::Instant::now();
    let limit = Duration::from_secs(8 * u64::from(keep_alive)) + ctx.wait;
    let st = ctx.st(v3_1_1::MQTT_3_1_2_24, v5::MQTT_3_1_2_22);
    loop {
        match conn.recv(limit.saturating_sub(start.elapsed())).await {
            Event::Closed => return Ok((keep_alive, start.elapsed())),
            Event::Packet(Packet::Disconnect(_)) if ctx.version == Version::V5 => {}
            Event::Timeout => {
                return Err(ctx.fail(
                    st,
                    "the connection closed within 1.5 × keep-alive",
                    format!("still open after {} ms", start.elapsed().as_millis()),
                ))
            }
            other => return Err(ctx.fail(st, "no packet, then a close", describe_event(&other))),
        }
    }
}

async fn keep_alive_enforced(ctx: Ctx) -> Result<(), Stop> {
    // Three silent clients, started 1.7 s apart, so that a server checking
    // deadlines only on a coarse periodic tick is caught whatever the tick's
    // phase (one tick cannot fall in all three clients' windows).
    let one = |offset_ms: u64| {
        let ctx = ctx.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(offset_ms)).await;
            silent_until_closed(&ctx, None).await
        }
    };
    let (a, b, c) = tokio::join!(one(0), one(1700), one(3400));
    for measured in [a, b, c] {
        let (keep_alive, closed_after) = measured?;
        let bound = Duration::from_millis(u64::from(keep_alive) * 1500);
        if closed_after > bound + ctx.timing_tolerance {
            let st = ctx.st(v3_1_1::MQTT_3_1_2_24, v5::MQTT_3_1_2_22);
            return Err(ctx.fail(
                st,
                format!(
                    "the connection closed within 1.5 × keep-alive {keep_alive} s = {} ms (tolerance {} ms)",
                    bound.as_millis(),
                    ctx.timing_tolerance.as_millis()
                ),
                format!("closed {} ms after CONNACK", closed_after.as_millis()),
            ));
        }
    }
    Ok(())
}

async fn will_on_keep_alive_expiry(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("will");
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtMostOnce).await?;
    silent_until_closed(&ctx, Some(will(&topic, b"gone", false)?)).await?;
    let st = ctx.st(v3_1_1::MQTT_3_1_2_8, v5::MQTT_3_1_2_8);
    let p = sub.expect_publish(st, &format!("the will published to {topic}"), |p| p.topic.as_str() == topic).await?;
    if p.retain {
        let st = ctx.st(v3_1_1::MQTT_3_1_2_16, v5::MQTT_3_1_2_14);
        return Err(ctx.fail(st, "the will with RETAIN 0", describe(&Packet::Publish(p))));
    }
    ctx.disconnect(sub).await
}

async fn will_on_network_close(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("will");
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtMostOnce).await?;
    let mut opts = ctx.opts();
    opts.will = Some(will(&topic, b"gone", false)?);
    let (conn, _, _) = ctx.connect_with(&opts).await?;
    conn.drop_connection().await;
    let st = ctx.st(v3_1_1::MQTT_3_1_2_8, v5::MQTT_3_1_2_8);
    sub.expect_publish(st, &format!("the will published to {topic}"), |p| {
        p.topic.as_str() == topic && &p.payload[..] == b"gone"
    })
    .await?;
    ctx.disconnect(sub).await
}

async fn will_not_on_disconnect(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("will");
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtLeastOnce).await?;
    let mut opts = ctx.opts();
    opts.will = Some(will(&topic, b"will", false)?);
    let (conn, _, _) = ctx.connect_with(&opts).await?;
    ctx.disconnect_and_wait(conn).await?;
    let mut marker = ctx.client().await?;
    ctx.publish(&mut marker, &topic, Qos::AtLeastOnce, false, b"marker").await?;
    let st = ctx.st(v3_1_1::MQTT_3_14_4_3, v5::MQTT_3_14_4_3);
    let p =
        sub.expect_publish(st, "the marker message, and no will before it", |p| &p.payload[..] == b"marker").await?;
    sub.ack(&p, st).await?;
    ctx.disconnect(marker).await?;
    ctx.disconnect(sub).await
}

async fn will_retained(ctx: Ctx) -> Result<(), Stop> {
    let topic = ctx.topic("will");
    let mut sub = ctx.client().await?;
    ctx.subscribe1(&mut sub, &topic, Qos::AtMostOnce).await?;
    let mut opts = ctx.opts();
    opts.will = Some(will(&topic, b"gone", true)?);
    let (conn, _, _) = ctx.connect_with(&opts).await?;
    ctx.retained(&topic);
    conn.drop_connection().await;
    let st = ctx.st(v3_1_1::MQTT_3_1_2_8, v5::MQTT_3_1_2_8);
    sub.expect_publish(st, &format!("the will published to {topic}"), |p| p.topic.as_str() == topic).await?;
    let mut late = ctx.client().await?;
    ctx.subscribe1(&mut late, &topic, Qos::AtMostOnce).await?;
    let st = ctx.st(v3_1_1::MQTT_3_1_2_17, v5::MQTT_3_1_2_15);
    late.expect_publish(st, "the will as a retained message (RETAIN 1) on subscribe", |p| {
        p.retain && p.topic.as_str() == topic
    })
    .await?;
    ctx.disconnect(late).await?;
    ctx.disconnect(sub).await
}

async fn empty_client_id(ctx: Ctx) -> Result<(), Stop> {
    let mut opts = ctx.opts();
    opts.client_id = String::new();
    let mut conn = ctx.raw().await?;
    conn.send(&ctx.connect_packet(&opts)).await?;
    let st = ctx.st(v3_1_1::MQTT_3_1_3_6, v5::MQTT_3_1_3_6);
    let p = conn.expect(st, "CONNACK", |p| matches!(p, Packet::Connack(_))).await?;
    let Packet::Connack(ack) = &p else { unreachable!("checked above") };
    let rejected = match ctx.version {
        Version::V3_1_1 => ReasonCode::V3_IDENTIFIER_REJECTED,
        Version::V5 => ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
    };
    if ack.reason_code == rejected {
        let st = ctx.st(v3_1_1::MQTT_3_1_3_9, v5::MQTT_3_1_3_8);
        close_after(&ctx, &mut conn, Phase::BeforeConnack, st, st, "closed after refusing the client id", |_| false)
            .await?;
    } else if ack.reason_code != ReasonCode::SUCCESS {
        return Err(ctx.fail(st, "CONNACK 0, or the identifier-rejected code", describe(&p)));
    } else {
        if ctx.version == Version::V5 {
            match &ack.properties.assigned_client_identifier {
                Some(id) if !id.is_empty() => {}
                _ => {
                    return Err(ctx.fail(
                        v5::MQTT_3_1_3_7,
                        "an Assigned Client Identifier in the CONNACK",
                        describe(&p),
                    ))
                }
            }
        }
        ctx.disconnect(conn).await?;
    }
    if ctx.version == Version::V3_1_1 {
        opts.clean = false;
        let mut conn = ctx.raw().await?;
        conn.send(&ctx.connect_packet(&opts)).await?;
        let st = v3_1_1::MQTT_3_1_3_8;
        conn.expect(
            st,
            "CONNACK 0x02 for an empty client id with CleanSession 0",
            |p| matches!(p, Packet::Connack(c) if c.reason_code == ReasonCode::V3_IDENTIFIER_REJECTED),
        )
        .await?;
        close_after(&ctx, &mut conn, Phase::BeforeConnack, st, st, "closed after CONNACK 0x02", |_| false).await?;
    }
    Ok(())
}

async fn client_takeover(ctx: Ctx) -> Result<(), Stop> {
    let opts = ctx.opts();
    let (mut first, _, _) = ctx.connect_with(&opts).await?;
    let (second, _, _) = ctx.connect_with(&opts).await?;
    let st = ctx.st(v3_1_1::MQTT_3_1_4_2, v5::MQTT_3_1_4_3);
    close_after(
        &ctx,
        &mut first,
        Phase::Connected,
        st,
        st,
        "the first connection closed (5.0: optionally DISCONNECT 0x8E first)",
        |e| matches!(e, Event::Packet(Packet::Disconnect(d)) if d.reason_code == ReasonCode::SESSION_TAKEN_OVER),
    )
    .await?;
    ctx.disconnect(second).await
}
