//! Codec throughput: mqttsim against rumqttc, same packets, same run.
//!
//! Builds a realistic mix of packets per version (mostly PUBLISH at QoS 0 and
//! 1 with 16 B to 2 KiB payloads and their PUBACKs, some QoS 2 flows,
//! SUBSCRIBE/SUBACK, PINGREQ/PINGRESP and a few CONNECT/CONNACK), encodes it
//! into one stream with mqttsim, and then times, for each codec:
//! - decode: the whole stream, packet by packet;
//! - encode: every packet into a reused buffer.
//!
//! Prints packets/s for each codec and the ratio mqttsim / rumqttc (above 1.0
//! means mqttsim is faster). The best of several rounds is kept.
//!
//! Run: `cargo bench --bench codec`

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use mqttsim::codec::{
    decode_bytes, encode, Connack, Connect, DecodeOptions, Packet, PacketId, Properties, PubResponse, Publish, Qos,
    QosPid, ReasonCode, Suback, Subscribe, Subscription, SubscriptionOptions, TopicFilter, TopicName, Version,
};
use rand::{RngExt, SeedableRng};

const PACKETS: usize = 20_000;
const ROUNDS: usize = 7;

fn pid(n: usize) -> PacketId {
    PacketId::new((n % 65_535 + 1) as u16).expect("non-zero")
}

fn mix(version: Version, seed: u64) -> Vec<Packet> {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
    let v5 = version == Version::V5;
    let mut packets = Vec::with_capacity(PACKETS);
    let mut n = 0;
    while packets.len() < PACKETS {
        n += 1;
        let roll = rng.random_range(0..100u32);
        let topic = TopicName::new(format!("site/{}/sensor/{}/temp", rng.random_range(0..50u32), n % 200)).unwrap();
        let payload_len = [16usize, 64, 256, 2048][rng.random_range(0..4usize)];
        let payload = Bytes::from(vec![b'x'; payload_len]);
        let mut properties = Properties::default();
        if v5 && roll % 3 == 0 {
            properties.message_expiry_interval_secs = Some(60);
            properties.user_properties.push(("unit".into(), "celsius".into()));
        }
        match roll {
            0..=39 => packets.push(Packet::Publish(Publish {
                dup: false,
                qos_pid: QosPid::AtMostOnce,
                retain: false,
                topic,
                properties,
                payload,
            })),
            40..=69 => {
                packets.push(Packet::Publish(Publish {
                    dup: false,
                    qos_pid: QosPid::AtLeastOnce(pid(n)),
                    retain: roll % 10 == 0,
                    topic,
                    properties,
                    payload,
                }));
                packets.push(Packet::Puback(PubResponse::new(pid(n))));
            }
            70..=79 => {
                packets.push(Packet::Publish(Publish {
                    dup: false,
                    qos_pid: QosPid::ExactlyOnce(pid(n)),
                    retain: false,
                    topic,
                    properties,
                    payload,
                }));
                packets.push(Packet::Pubrec(PubResponse::new(pid(n))));
                packets.push(Packet::Pubrel(PubResponse::new(pid(n))));
                packets.push(Packet::Pubcomp(PubResponse::new(pid(n))));
            }
            80..=89 => {
                packets.push(Packet::Subscribe(Subscribe {
                    packet_id: pid(n),
                    properties: Properties::default(),
                    subscriptions: vec![
                        Subscription {
                            filter: TopicFilter::new("site/+/sensor/#").unwrap(),
                            options: SubscriptionOptions::qos(Qos::AtLeastOnce),
                        },
                        Subscription {
                            filter: TopicFilter::new("alerts/#").unwrap(),
                            options: SubscriptionOptions::qos(Qos::ExactlyOnce),
                        },
                    ],
                }));
                packets.push(Packet::Suback(Suback {
                    packet_id: pid(n),
                    properties: Properties::default(),
                    reason_codes: vec![ReasonCode::GRANTED_QOS_1, ReasonCode::GRANTED_QOS_2],
                }));
            }
            90..=96 => {
                packets.push(Packet::Pingreq);
                packets.push(Packet::Pingresp);
            }
            _ => {
                let mut properties = Properties::default();
                if v5 {
                    properties.session_expiry_interval_secs = Some(3600);
                    properties.receive_maximum = Some(100);
                }
                packets.push(Packet::Connect(Connect {
                    version,
                    clean_start: true,
                    keep_alive_secs: 60,
                    properties,
                    client_id: format!("device-{n}"),
                    will: None,
                    username: Some("user".into()),
                    password: Some(Bytes::from_static(b"secret")),
                }));
                packets.push(Packet::Connack(Connack {
                    session_present: false,
                    reason_code: ReasonCode::SUCCESS,
                    properties: Properties::default(),
                }));
            }
        }
    }
    packets
}

fn best<F: FnMut() -> usize>(mut f: F) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut count = 0;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        count = f();
        best = best.min(start.elapsed());
    }
    (best, count)
}

fn rate(count: usize, time: Duration) -> f64 {
    count as f64 / time.as_secs_f64()
}

fn report(what: &str, ours: (Duration, usize), theirs: (Duration, usize)) {
    assert_eq!(ours.1, theirs.1, "{what}: both codecs must process the same packets");
    let (a, b) = (rate(ours.1, ours.0), rate(theirs.1, theirs.0));
    println!("{what:<22} mqttsim {a:>12.0} packets/s   rumqttc {b:>12.0} packets/s   ratio {:.2}x", a / b);
}

fn main() {
    // `cargo test` runs benches with `--bench` absent; keep that fast.
    let quick = !std::env::args().any(|a| a == "--bench");
    println!("codec benchmark: {PACKETS} packets per version, best of {ROUNDS} rounds");
    for version in Version::ALL {
        let packets = mix(version, 7);
        let mut stream = Vec::new();
        for p in &packets {
            encode(p, version, &mut stream).expect("the mix encodes");
        }
        let options = DecodeOptions::new(version);
        // Both codecs start from a fresh copy of the stream and share payloads
        // with it (mqttsim's `decode_bytes`, rumqttc's `BytesMut::split_to`).
        let mqttsim_decode = || {
            let mut buf = Bytes::from(stream.clone());
            let mut n = 0;
            while !buf.is_empty() {
                let (p, used) = decode_bytes(&buf, &options).expect("valid").expect("whole");
                black_box(p);
                let _ = buf.split_to(used);
                n += 1;
            }
            n
        };
        let mut out = Vec::with_capacity(4096);
        let mqttsim_encode = |out: &mut Vec<u8>| {
            for p in &packets {
                out.clear();
                encode(p, version, out).expect("encodes");
                black_box(&out);
            }
            packets.len()
        };
        println!("MQTT {version}: {} bytes", stream.len());
        if quick {
            assert_eq!(mqttsim_decode(), packets.len());
            continue;
        }
        match version {
            Version::V3_1_1 => {
                use rumqttc::mqttbytes::v4::Packet as R;
                let max = usize::MAX >> 1;
                let theirs: Vec<R> = {
                    let mut buf = BytesMut::from(&stream[..]);
                    (0..packets.len()).map(|_| R::read(&mut buf, max).expect("rumqttc reads the mix")).collect()
                };
                let their_decode = || {
                    let mut buf = BytesMut::from(&stream[..]);
                    let mut n = 0;
                    while !buf.is_empty() {
                        black_box(R::read(&mut buf, max).expect("valid"));
                        n += 1;
                    }
                    n
                };
                let mut wbuf = BytesMut::with_capacity(4096);
                let their_encode = |wbuf: &mut BytesMut| {
                    for p in &theirs {
                        wbuf.clear();
                        p.write(wbuf, max).expect("writes");
                        black_box(&wbuf);
                    }
                    theirs.len()
                };
                report("decode", best(mqttsim_decode), best(their_decode));
                report("encode", best(|| mqttsim_encode(&mut out)), best(|| their_encode(&mut wbuf)));
            }
            Version::V5 => {
                use rumqttc::v5::mqttbytes::v5::Packet as R;
                let theirs: Vec<R> = {
                    let mut buf = BytesMut::from(&stream[..]);
                    (0..packets.len()).map(|_| R::read(&mut buf, None).expect("rumqttc reads the mix")).collect()
                };
                let their_decode = || {
                    let mut buf = BytesMut::from(&stream[..]);
                    let mut n = 0;
                    while !buf.is_empty() {
                        black_box(R::read(&mut buf, None).expect("valid"));
                        n += 1;
                    }
                    n
                };
                let mut wbuf = BytesMut::with_capacity(4096);
                let their_encode = |wbuf: &mut BytesMut| {
                    for p in &theirs {
                        wbuf.clear();
                        p.write(wbuf, None).expect("writes");
                        black_box(&wbuf);
                    }
                    theirs.len()
                };
                report("decode", best(mqttsim_decode), best(their_decode));
                report("encode", best(|| mqttsim_encode(&mut out)), best(|| their_encode(&mut wbuf)));
            }
        }
    }
}
