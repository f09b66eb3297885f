//! Codec throughput: mqttsim against rumqttc, same packets, same run.
//!
//! Builds a realistic mix of packets per version (mostly PUBLISH at QoS 0 and
//! 1 with 16 B to 2 KiB payloads and their PUBACKs, some QoS 2 flows,
//! SUBSCRIBE/SUBACK, PINGREQ/PINGRESP and a few CONNECT/CONNACK), encodes it
//! into one stream with mqttsim, and then times, for each codec:
//! - decode: the whole stream, packet by packet;
//! - encode: every packet into a reused buffer.
//!
//! Fairness: both codecs do equivalent work. Decode: each pass copies the
//! stream into a fresh buffer, then decodes it packet by packet, sharing
//! PUBLISH payloads with that buffer (mqttsim's `decode_bytes`, rumqttc's
//! `BytesMut::split_to`); each decoded packet is observed by reference
//! (`black_box(&packet)`) and dropped, so neither codec pays for the bench
//! moving its packet type around. Encode: each codec encodes the packets its
//! own decoder made of the same stream (so payloads and topics lie in memory
//! alike), one by one, into a cleared, reused buffer. The two codecs take
//! turns round by round (one warm-up round each first), so both see the same
//! machine state; the best round of each is kept.
//!
//! Prints packets/s for each codec and the ratio mqttsim / rumqttc (above 1.0
//! means mqttsim is faster). Each pass is its own never-inlined function
//! (`mqttsim_decode_v5`, `rumqttc_encode_v3`, ...) so that profilers can
//! measure them apart: `--only NAME` runs only the passes whose name contains
//! NAME, `--rounds N` sets the number of timed rounds, e.g.
//! `valgrind --tool=callgrind --collect-atstart=no
//! --toggle-collect='codec::mqttsim_encode_v5' BENCH_BINARY --bench --rounds 1
//! --only mqttsim_encode_v5` counts the instructions of two passes (warm-up
//! and timed).
//!
//! Run: `cargo bench --bench codec`

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use mqttsim::codec::{
    decode_bytes, encode, Connack, Connect, DecodeOptions, Packet, PacketId, Properties, PubResponse, Publish, Qos,
    QosPid, ReasonCode, Suback, Subscribe, Subscription, SubscriptionOptions, TopicFilter, TopicName, Version,
};
use rand::{RngExt, SeedableRng};

const PACKETS: usize = 20_000;
const ROUNDS: usize = 25;

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

/// `--only NAME` (e.g. `mqttsim_encode_v5`) runs only the passes whose
/// function name contains NAME: for `perf stat` on one codec and operation.
static ONLY: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Whether the pass `name` runs (see `--only`).
fn selected(name: &str) -> bool {
    ONLY.get().and_then(Option::as_deref).is_none_or(|only| name.contains(only))
}

/// Times one pass: its duration and the number of packets it handled.
fn time<F: FnMut() -> usize>(f: &mut F) -> (Duration, usize) {
    let start = Instant::now();
    let count = f();
    (start.elapsed(), count)
}

/// Runs the two passes alternately (one warm-up round each, then `rounds`
/// timed rounds each, mqttsim and rumqttc taking turns so that both see the
/// same machine state) and keeps the best time of each. A pass that
/// `--only` leaves out reports a count of 0.
fn compare<A: FnMut() -> usize, B: FnMut() -> usize>(
    rounds: usize,
    (ours_name, mut ours): (&str, A),
    (theirs_name, mut theirs): (&str, B),
) -> ((Duration, usize), (Duration, usize)) {
    let (run_ours, run_theirs) = (selected(ours_name), selected(theirs_name));
    let (mut a, mut b) = ((Duration::MAX, 0), (Duration::MAX, 0));
    for round in 0..=rounds {
        for (run, f, best) in [
            (run_ours, &mut ours as &mut dyn FnMut() -> usize, &mut a),
            (run_theirs, &mut theirs as &mut dyn FnMut() -> usize, &mut b),
        ] {
            if run {
                let (elapsed, count) = time(&mut &mut *f);
                if round > 0 {
                    *best = (best.0.min(elapsed), count);
                }
            }
        }
    }
    (a, b)
}

fn rate(count: usize, time: Duration) -> f64 {
    count as f64 / time.as_secs_f64()
}

fn report(what: &str, (ours, theirs): ((Duration, usize), (Duration, usize))) {
    if ours.1 == 0 || theirs.1 == 0 {
        // `--only`: one side did not run.
        let (who, (time, count)) = if ours.1 == 0 { ("rumqttc", theirs) } else { ("mqttsim", ours) };
        if count > 0 {
            println!("{what:<22} {who} {:>12.0} packets/s", rate(count, time));
        }
        return;
    }
    assert_eq!(ours.1, theirs.1, "{what}: both codecs must process the same packets");
    let (a, b) = (rate(ours.1, ours.0), rate(theirs.1, theirs.0));
    println!("{what:<22} mqttsim {a:>12.0} packets/s   rumqttc {b:>12.0} packets/s   ratio {:.2}x", a / b);
}

// One named, never-inlined function per timed pass, so that a profiler
// (`valgrind --tool=callgrind`, `perf`) can attribute the cost of each codec,
// operation and version separately (inclusive cost of the function).

/// mqttsim decode: the stream is copied into a fresh buffer (as rumqttc's
/// pass does), then decoded packet by packet with `decode_bytes`, which shares
/// PUBLISH payloads with the buffer; the consumed bytes are skipped with
/// `Buf::advance` (rumqttc's `read` splits them off itself).
fn mqttsim_decode(stream: &[u8], options: &DecodeOptions) -> usize {
    let mut buf = Bytes::copy_from_slice(stream);
    let mut n = 0;
    while !buf.is_empty() {
        let decoded = decode_bytes(&buf, options);
        let used = match &decoded {
            Ok(Some((p, used))) => {
                black_box(p);
                *used
            }
            _ => panic!("valid and whole"),
        };
        buf.advance(used);
        n += 1;
    }
    n
}

#[inline(never)]
fn mqttsim_decode_v3(stream: &[u8], options: &DecodeOptions) -> usize {
    assert_eq!(options.version, Version::V3_1_1);
    mqttsim_decode(stream, options)
}

#[inline(never)]
fn mqttsim_decode_v5(stream: &[u8], options: &DecodeOptions) -> usize {
    assert_eq!(options.version, Version::V5);
    mqttsim_decode(stream, options)
}

/// mqttsim encode: every packet into one reused buffer.
fn mqttsim_encode(packets: &[Packet], version: Version, out: &mut Vec<u8>) -> usize {
    for p in packets {
        out.clear();
        encode(p, version, out).expect("encodes");
        black_box(&out);
    }
    packets.len()
}

#[inline(never)]
fn mqttsim_encode_v3(packets: &[Packet], out: &mut Vec<u8>) -> usize {
    mqttsim_encode(packets, Version::V3_1_1, out)
}

#[inline(never)]
fn mqttsim_encode_v5(packets: &[Packet], out: &mut Vec<u8>) -> usize {
    mqttsim_encode(packets, Version::V5, out)
}

const RUMQTTC_V4_MAX: usize = usize::MAX >> 1;

#[inline(never)]
fn rumqttc_decode_v3(stream: &[u8]) -> usize {
    use rumqttc::mqttbytes::v4::Packet as R;
    let mut buf = BytesMut::from(stream);
    let mut n = 0;
    while !buf.is_empty() {
        let p = R::read(&mut buf, RUMQTTC_V4_MAX);
        black_box(p.as_ref().expect("valid"));
        n += 1;
    }
    n
}

#[inline(never)]
fn rumqttc_decode_v5(stream: &[u8]) -> usize {
    use rumqttc::v5::mqttbytes::v5::Packet as R;
    let mut buf = BytesMut::from(stream);
    let mut n = 0;
    while !buf.is_empty() {
        let p = R::read(&mut buf, None);
        black_box(p.as_ref().expect("valid"));
        n += 1;
    }
    n
}

#[inline(never)]
fn rumqttc_encode_v3(packets: &[rumqttc::mqttbytes::v4::Packet], wbuf: &mut BytesMut) -> usize {
    for p in packets {
        wbuf.clear();
        p.write(wbuf, RUMQTTC_V4_MAX).expect("writes");
        black_box(&wbuf);
    }
    packets.len()
}

#[inline(never)]
fn rumqttc_encode_v5(packets: &[rumqttc::v5::mqttbytes::v5::Packet], wbuf: &mut BytesMut) -> usize {
    for p in packets {
        wbuf.clear();
        p.write(wbuf, None).expect("writes");
        black_box(&wbuf);
    }
    packets.len()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo test` runs benches with `--bench` absent; keep that fast.
    let quick = !args.iter().any(|a| a == "--bench");
    // `--rounds N` (e.g. 1 under callgrind) overrides the number of rounds.
    let rounds = args
        .iter()
        .position(|a| a == "--rounds")
        .and_then(|i| args.get(i + 1))
        .map(|n| n.parse().expect("--rounds takes a number"))
        .unwrap_or(ROUNDS);
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned();
    ONLY.set(only).expect("set once");
    println!("codec benchmark: {PACKETS} packets per version, best of {rounds} rounds");
    for version in Version::ALL {
        let packets = mix(version, 7);
        let mut stream = Vec::new();
        for p in &packets {
            encode(p, version, &mut stream).expect("the mix encodes");
        }
        let options = DecodeOptions::new(version);
        // Each codec encodes the packets its own decoder made of the stream
        // (so payloads and topics lie in memory alike for both).
        let packets: Vec<Packet> = {
            let mut buf = Bytes::copy_from_slice(&stream);
            let mut ours = Vec::with_capacity(packets.len());
            while !buf.is_empty() {
                let (p, used) = decode_bytes(&buf, &options).expect("valid").expect("whole");
                ours.push(p);
                buf.advance(used);
            }
            assert_eq!(ours, packets, "the mix round-trips");
            ours
        };
        let mut out = Vec::with_capacity(4096);
        let mut wbuf = BytesMut::with_capacity(4096);
        println!("MQTT {version}: {} bytes", stream.len());
        if quick {
            assert_eq!(mqttsim_decode(&stream, &options), packets.len());
            continue;
        }
        match version {
            Version::V3_1_1 => {
                use rumqttc::mqttbytes::v4::Packet as R;
                let theirs: Vec<R> = {
                    let mut buf = BytesMut::from(&stream[..]);
                    (0..packets.len())
                        .map(|_| R::read(&mut buf, RUMQTTC_V4_MAX).expect("rumqttc reads the mix"))
                        .collect()
                };
                report(
                    "decode",
                    compare(
                        rounds,
                        ("mqttsim_decode_v3", || mqttsim_decode_v3(&stream, &options)),
                        ("rumqttc_decode_v3", || rumqttc_decode_v3(&stream)),
                    ),
                );
                report(
                    "encode",
                    compare(
                        rounds,
                        ("mqttsim_encode_v3", || mqttsim_encode_v3(&packets, &mut out)),
                        ("rumqttc_encode_v3", || rumqttc_encode_v3(&theirs, &mut wbuf)),
                    ),
                );
            }
            Version::V5 => {
                use rumqttc::v5::mqttbytes::v5::Packet as R;
                let theirs: Vec<R> = {
                    let mut buf = BytesMut::from(&stream[..]);
                    (0..packets.len()).map(|_| R::read(&mut buf, None).expect("rumqttc reads the mix")).collect()
                };
                report(
                    "decode",
                    compare(
                        rounds,
                        ("mqttsim_decode_v5", || mqttsim_decode_v5(&stream, &options)),
                        ("rumqttc_decode_v5", || rumqttc_decode_v5(&stream)),
                    ),
                );
                report(
                    "encode",
                    compare(
                        rounds,
                        ("mqttsim_encode_v5", || mqttsim_encode_v5(&packets, &mut out)),
                        ("rumqttc_encode_v5", || rumqttc_encode_v5(&theirs, &mut wbuf)),
                    ),
                );
            }
        }
    }
}
