//! A million seeded random and mutated inputs, each decoded as 3.1.1 and as
//! 5.0 with a maximum packet size drawn from a few: the decoder never panics,
//! and its answer is consistent:
//! - `Ok(Some((p, n)))`: `n` is the packet's declared size, within the input
//!   and the maximum; decoding just those `n` bytes gives the same; `p`
//!   encodes, and its encoding decodes back to `p` (a decoded value is always
//!   encodable and stable), and its JSON form (the trace format) reads back
//!   as `p`;
//! - `Ok(None)`: the fixed header is incomplete, or the packet it declares is
//!   longer than the input (and within the maximum);
//! - `Err(e)`: the offset lies within the input, the statement (if any)
//!   belongs to the version decoded, and the error displays.
//!
//! Mutations start from valid packets (`gen::Gen::small`): bit flips, byte
//! replacements, truncations, insertions, deletions, remaining-length edits,
//! concatenations; half of the body edits then fix the remaining length so
//! the decoder reaches the damaged field.

use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use mqttsim::codec::{decode, decode_bytes, encode_to_vec, DecodeOptions, Packet, PacketType, Version};
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

use super::gen::Gen;
use super::to_hex;

/// The maximum packet sizes each input may be decoded with.
const MAX_SIZES: [usize; 4] = [16, 300, 4096, DecodeOptions::PROTOCOL_MAX_PACKET_SIZE];
/// Valid packets per version that mutations start from.
const POOL_SIZE: u64 = 1_000;
/// Violations reported before a test stops looking for more.
const MAX_FAILURES: usize = 10;

/// How the fixed header at the front of an input reads.
enum Header {
    /// Fewer bytes than a complete fixed header.
    Incomplete,
    /// A complete fixed header declaring a packet of this many bytes in all.
    Complete(usize),
    /// A remaining length longer than four bytes.
    Invalid,
}

fn header(input: &[u8]) -> Header {
    let mut value = 0usize;
    for i in 0..4 {
        let Some(&b) = input.get(1 + i) else { return Header::Incomplete };
        value |= usize::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Header::Complete(1 + (i + 1) + value);
        }
    }
    Header::Invalid
}

/// The minimal remaining-length encoding of `len`.
fn varint(mut len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (len % 128) as u8;
        len /= 128;
        out.push(if len > 0 { byte | 0x80 } else { byte });
        if len == 0 {
            return out;
        }
    }
}

/// The body of a valid packet (after the remaining length).
fn body_of(packet: &[u8]) -> &[u8] {
    let len_bytes = packet[1..].iter().position(|b| b & 0x80 == 0).expect("valid header") + 1;
    &packet[1 + len_bytes..]
}

/// `first`, the minimal remaining length of `body`, then `body`.
fn assemble(first: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![first];
    out.extend(varint(body.len()));
    out.extend_from_slice(body);
    out
}

/// Counts of the decoder's answers over one test.
#[derive(Default, Debug)]
struct Tally {
    packets: u64,
    need_more: u64,
    errors: u64,
}

/// Runs every input through the decoder and collects violations.
struct Harness {
    name: &'static str,
    seed: u64,
    rng: Pcg64Mcg,
    pools: [Vec<Vec<u8>>; 2],
    tally: Tally,
    violations: u64,
    failures: Vec<String>,
}

impl Harness {
    fn new(name: &'static str, seed: u64) -> Harness {
        let pool = |version: Version, salt: u64| {
            (0..POOL_SIZE)
                .map(|i| {
                    let packet = Gen::small(seed ^ (salt << 32) ^ i, version).any_packet();
                    encode_to_vec(&packet, version).expect("generated packets encode")
                })
                .collect::<Vec<_>>()
        };
        Harness {
            name,
            seed,
            rng: Pcg64Mcg::seed_from_u64(seed),
            pools: [pool(Version::V3_1_1, 3), pool(Version::V5, 5)],
            tally: Tally::default(),
            violations: 0,
            failures: Vec::new(),
        }
    }

    /// A valid encoded packet of either version from the pool.
    fn valid(&mut self) -> Vec<u8> {
        let pool = &self.pools[self.rng.random_range(0..2)];
        pool[self.rng.random_range(0..pool.len())].clone()
    }

    /// Half the time, rewrites the remaining length of a mutated packet to
    /// match its body, so that the decoder reaches the damaged field.
    fn maybe_fix_length(&mut self, first: u8, body: &[u8], unfixed: Vec<u8>) -> Vec<u8> {
        if self.rng.random::<bool>() {
            assemble(first, body)
        } else {
            unfixed
        }
    }

    /// Decodes `input` as both versions and checks every answer.
    fn run(&mut self, index: u64, input: &[u8]) {
        for version in Version::ALL {
            let max_packet_size = MAX_SIZES[self.rng.random_range(0..MAX_SIZES.len())];
            let options = DecodeOptions { version, max_packet_size };
            let (name, seed) = (self.name, self.seed);
            if let Err(why) = guarded(name, seed, index, input, &options, || self.check(input, &options)) {
                self.violations += 1;
                if self.failures.len() < MAX_FAILURES {
                    self.failures.push(format!(
                        "{} seed {} input #{index} as {version} with max_packet_size {max_packet_size}: {why}\n    input {}",
                        self.name,
                        self.seed,
                        to_hex(input)
                    ));
                }
            }
        }
    }

    /// The decoder's answer for `input` under `options`, and why it breaks
    /// the contract if it does.
    fn check(&mut self, input: &[u8], options: &DecodeOptions) -> Result<(), String> {
        let answer = decode(input, options);
        let shared = decode_bytes(&bytes::Bytes::copy_from_slice(input), options);
        if shared != answer {
            return Err(format!("decode_bytes answers {shared:?} where decode answers {answer:?}"));
        }
        match answer {
            Ok(Some((packet, n))) => {
                self.tally.packets += 1;
                if n == 0 || n > input.len() {
                    return Err(format!("consumed {n} of {} bytes", input.len()));
                }
                if n > options.max_packet_size {
                    return Err(format!("accepted {n} bytes over the maximum {}", options.max_packet_size));
                }
                if let Header::Complete(total) = header(input) {
                    if n != total {
                        return Err(format!("consumed {n} bytes but the header declares {total}"));
                    }
                }
                let alone = decode(&input[..n], options);
                if alone != Ok(Some((packet.clone(), n))) {
                    return Err(format!("the packet's own {n} bytes decode differently: {alone:?}"));
                }
                let version = match &packet {
                    Packet::Connect(c) => c.version,
                    _ => options.version,
                };
                if packet.packet_type() == PacketType::Auth && version == Version::V3_1_1 {
                    return Err(format!("decoded AUTH as 3.1.1: {packet:?}"));
                }
                let encoded =
                    encode_to_vec(&packet, version).map_err(|e| format!("decoded {packet:?} does not encode: {e}"))?;
                match decode(&encoded, &DecodeOptions::new(version)) {
                    Ok(Some((again, m))) if again == packet && m == encoded.len() => {}
                    other => {
                        return Err(format!(
                            "decoded {packet:?}, re-encoded as {}, which decodes to {other:?}",
                            to_hex(&encoded)
                        ))
                    }
                }
                let json = serde_json::to_string(&packet).map_err(|e| format!("{packet:?} does not serialize: {e}"))?;
                match serde_json::from_str::<Packet>(&json) {
                    Ok(back) if back == packet => Ok(()),
                    other => Err(format!("decoded {packet:?}; its JSON {json} reads back as {other:?}")),
                }
            }
            Ok(None) => {
                self.tally.need_more += 1;
                match header(input) {
                    Header::Complete(total) if total <= input.len() => {
                        Err(format!("asked for more bytes although the {total}-byte packet is complete"))
                    }
                    Header::Complete(total) if total > options.max_packet_size => Err(format!(
                        "asked for more bytes of a {total}-byte packet over the maximum {}",
                        options.max_packet_size
                    )),
                    Header::Invalid => Err("asked for more bytes after a remaining length of 5 bytes".to_owned()),
                    _ => Ok(()),
                }
            }
            Err(err) => {
                self.tally.errors += 1;
                if err.offset > input.len() {
                    return Err(format!("error offset {} beyond the {}-byte input: {err}", err.offset, input.len()));
                }
                if let Some(statement) = err.statement {
                    if statement.version != err.version {
                        return Err(format!("error for {} cites {statement}: {err}", err.version));
                    }
                }
                // Display looks the statement up in the catalogue; it must not panic.
                let _ = err.to_string();
                Ok(())
            }
        }
    }

    /// Fails the test with the violations found, then checks that the
    /// inputs were rejected at least once and accepted at least
    /// `min_packets` times (mutations that never reach a valid packet or
    /// never break one test nothing).
    fn finish(self, inputs: u64, min_packets: u64) {
        assert!(
            self.failures.is_empty(),
            "{} violations (first {} shown):\n{}",
            self.violations,
            self.failures.len(),
            self.failures.join("\n")
        );
        let t = &self.tally;
        eprintln!("{} seed {}: {inputs} inputs, {t:?}", self.name, self.seed);
        assert!(t.errors > 0, "{} seed {}: no input was rejected ({t:?})", self.name, self.seed);
        assert!(
            t.packets >= min_packets,
            "{} seed {}: only {} accepted, expected ≥ {min_packets}",
            self.name,
            self.seed,
            t.packets
        );
    }
}

/// Runs `f` (decoding `input` and checking the answer); if it panics,
/// prints the input that caused it before the panic fails the test.
fn guarded<R>(name: &str, seed: u64, index: u64, input: &[u8], options: &DecodeOptions, f: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(panic) => {
            eprintln!(
                "{name} seed {seed} input #{index}: panicked decoding as {} with max_packet_size {}\n    input {}",
                options.version,
                options.max_packet_size,
                to_hex(input)
            );
            resume_unwind(panic)
        }
    }
}

/// Random bytes (half of them behind a plausible fixed header with the right remaining length) never make the decoder panic.
#[test]
fn random_bytes_never_panic_the_decoder() {
    const INPUTS: u64 = 250_000;
    let mut h = Harness::new("random bytes", 0x0A11_0001);
    for i in 0..INPUTS {
        let len = if h.rng.random_range(0..10) == 0 { h.rng.random_range(0..400) } else { h.rng.random_range(0..40) };
        let mut body = vec![0u8; len];
        h.rng.fill(&mut body[..]);
        let input = if h.rng.random::<bool>() {
            body
        } else {
            let ty = h.rng.random_range(1u8..=15);
            let flags = match ty {
                3 => h.rng.random_range(0..16),
                6 | 8 | 10 => 2,
                _ => 0,
            };
            assemble(ty << 4 | flags, &body)
        };
        h.run(i, &input);
    }
    h.finish(INPUTS, 1);
}

/// Valid packets with one to four bits flipped never make the decoder panic, and what it accepts is stable.
#[test]
fn bit_flipped_packets_never_panic_the_decoder() {
    const INPUTS: u64 = 200_000;
    let mut h = Harness::new("bit flips", 0x0A11_0002);
    for i in 0..INPUTS {
        let mut input = h.valid();
        for _ in 0..h.rng.random_range(1..=4) {
            let at = h.rng.random_range(0..input.len());
            input[at] ^= 1 << h.rng.random_range(0..8);
        }
        h.run(i, &input);
    }
    h.finish(INPUTS, INPUTS / 20);
}

/// Valid packets with bytes replaced by boundary values (00, 7f, 80, ff, c0, ed, '+', '#', '/') never make the decoder panic.
#[test]
fn byte_replaced_packets_never_panic_the_decoder() {
    const INPUTS: u64 = 150_000;
    const VALUES: [u8; 12] = [0x00, 0x01, 0x02, 0x03, 0x7F, 0x80, 0xFF, 0xC0, 0xED, b'+', b'#', b'/'];
    let mut h = Harness::new("byte replacements", 0x0A11_0003);
    for i in 0..INPUTS {
        let packet = h.valid();
        let (first, body) = (packet[0], body_of(&packet).to_vec());
        let mut body = body;
        let mut unfixed = packet.clone();
        for _ in 0..h.rng.random_range(1..=3) {
            let value =
                if h.rng.random::<bool>() { VALUES[h.rng.random_range(0..VALUES.len())] } else { h.rng.random() };
            let at = h.rng.random_range(0..unfixed.len());
            unfixed[at] = value;
            if !body.is_empty() {
                let at = h.rng.random_range(0..body.len());
                body[at] = value;
            }
        }
        let input = h.maybe_fix_length(first, &body, unfixed);
        h.run(i, &input);
    }
    h.finish(INPUTS, INPUTS / 50);
}

/// Valid packets truncated, with random bytes inserted, or with a range deleted never make the decoder panic.
#[test]
fn truncated_and_spliced_packets_never_panic_the_decoder() {
    const INPUTS: u64 = 150_000;
    let mut h = Harness::new("truncations and insertions", 0x0A11_0004);
    for i in 0..INPUTS {
        let packet = h.valid();
        let first = packet[0];
        let mut body = body_of(&packet).to_vec();
        let input = match h.rng.random_range(0..4) {
            // Truncation of the whole packet (a prefix: must ask for more) or of its body.
            0 => packet[..h.rng.random_range(0..packet.len())].to_vec(),
            1 => {
                body.truncate(h.rng.random_range(0..=body.len()));
                assemble(first, &body)
            }
            // Insertion of 1..8 random bytes into the body.
            2 => {
                let at = h.rng.random_range(0..=body.len());
                let n = h.rng.random_range(1..=8);
                let extra: Vec<u8> = (0..n).map(|_| h.rng.random()).collect();
                body.splice(at..at, extra);
                let unfixed = [&packet[..packet.len() - body_of(&packet).len()], &body[..]].concat();
                h.maybe_fix_length(first, &body, unfixed)
            }
            // Deletion of a range of the body.
            _ => {
                let start = h.rng.random_range(0..=body.len());
                let end = h.rng.random_range(start..=body.len().min(start + 8));
                body.drain(start..end);
                let unfixed = [&packet[..packet.len() - body_of(&packet).len()], &body[..]].concat();
                h.maybe_fix_length(first, &body, unfixed)
            }
        };
        h.run(i, &input);
    }
    h.finish(INPUTS, INPUTS / 20);
}

/// Valid packets whose remaining length is rewritten (off by a few, random, non-minimal, five bytes) never make the decoder panic.
#[test]
fn remaining_length_edits_never_panic_the_decoder() {
    const INPUTS: u64 = 150_000;
    let mut h = Harness::new("remaining-length edits", 0x0A11_0005);
    for i in 0..INPUTS {
        let packet = h.valid();
        let first = packet[0];
        let body = body_of(&packet);
        let len = body.len();
        let field: Vec<u8> = match h.rng.random_range(0..5) {
            0 => {
                let delta = h.rng.random_range(1..=3);
                varint(if h.rng.random::<bool>() { len + delta } else { len.saturating_sub(delta) })
            }
            1 => varint(h.rng.random_range(0..1 << 14)),
            2 => varint(h.rng.random_range(0..=268_435_455)),
            3 => {
                // The right length padded to two to five bytes (non-minimal; five is too long).
                let mut v = varint(len);
                let target = h.rng.random_range(v.len() + 1..=5);
                while v.len() < target {
                    let last = v.len() - 1;
                    v[last] |= 0x80;
                    v.push(0);
                }
                v
            }
            _ => vec![0xFF, 0xFF, 0xFF, 0xFF, h.rng.random_range(0..=0x7F)],
        };
        let mut input = vec![first];
        input.extend(field);
        input.extend_from_slice(body);
        h.run(i, &input);
    }
    h.finish(INPUTS, INPUTS / 20);
}

/// Two to four valid packets back to back, sometimes with one byte changed, decode one at a time without panics.
#[test]
fn concatenated_packets_never_panic_the_decoder() {
    const INPUTS: u64 = 100_000;
    let mut h = Harness::new("concatenations", 0x0A11_0006);
    for i in 0..INPUTS {
        let mut input = Vec::new();
        for _ in 0..h.rng.random_range(2..=4) {
            let packet = h.valid();
            input.extend(packet);
        }
        if h.rng.random::<bool>() {
            let at = h.rng.random_range(0..input.len());
            input[at] = h.rng.random();
        }
        h.run(i, &input);
    }
    h.finish(INPUTS, INPUTS / 4);
}
