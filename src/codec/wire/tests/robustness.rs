//! No input makes the decoder panic, and whatever it accepts re-encodes to
//! bytes that decode to the same packet.

use super::{hex, round_trip};
use crate::codec::{decode, encode_to_vec, DecodeOptions, Packet, Version};

/// A small deterministic generator (xorshift), so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Seeds: one valid packet of each shape, in each version.
fn seeds() -> Vec<(Version, Vec<u8>)> {
    let v3 = [
        "10 23 00 04 4d 51 54 54 04 ee 00 3c 00 03 63 69 64 00 03 77 2f 74 00 03 62 79 65 00 04 75 73 65 72 00 02 70 77",
        "20 02 01 00",
        "33 06 00 01 61 00 0a 78",
        "62 02 00 03",
        "82 0c 00 05 00 03 61 2f 23 01 00 01 2b 02",
        "90 05 00 05 01 02 80",
        "a2 0a 00 06 00 03 61 2f 62 00 01 23",
        "b0 02 00 06",
        "e0 00",
    ];
    let v5 = [
        "10 1c 00 04 4d 51 54 54 05 16 00 1e 03 21 00 14 00 01 63 05 18 00 00 00 0a 00 01 77 00 00",
        "20 0c 00 00 09 24 01 26 00 01 6b 00 01 76",
        "32 12 00 01 61 00 07 0b 01 01 08 00 01 72 0b 01 23 00 02 78",
        "40 0f 00 01 80 0b 1f 00 01 65 26 00 01 6b 00 01 76",
        "82 0b 00 05 02 0b 05 00 03 61 2f 23 2d",
        "90 05 00 05 00 01 02",
        "a2 08 00 06 00 00 03 61 2f 62",
        "b0 05 00 06 00 00 11",
        "e0 05 8b 03 1c 00 00",
        "f0 06 19 04 15 00 01 6d",
    ];
    v3.iter().map(|h| (Version::V3_1_1, hex(&[h]))).chain(v5.iter().map(|h| (Version::V5, hex(&[h])))).collect()
}

/// Decoding, and if accepted re-encoding and decoding again, must agree.
fn check(version: Version, bytes: &[u8]) {
    let options = DecodeOptions::new(version);
    if let Ok(Some((packet, used))) = decode(bytes, &options) {
        assert!(used <= bytes.len());
        let as_version = match &packet {
            Packet::Connect(c) => c.version,
            _ => version,
        };
        let again = encode_to_vec(&packet, as_version).expect("an accepted packet encodes");
        assert_eq!(decode(&again, &options), Ok(Some((packet, again.len()))), "{bytes:02x?}");
    }
}

/// The seeds are valid packets, so mutating them explores the decoder's every branch.
#[test]
fn seeds_are_valid() {
    for (version, bytes) in seeds() {
        let options = DecodeOptions::new(version);
        let decoded = decode(&bytes, &options);
        assert!(matches!(decoded, Ok(Some((_, n))) if n == bytes.len()), "{bytes:02x?}: {decoded:?}");
    }
    round_trip(Version::V3_1_1, &["c0 00"], Packet::Pingreq);
}

/// Every single-byte change of every seed is decoded without a panic, and what is accepted round-trips.
#[test]
fn every_single_byte_mutation_is_handled() {
    for (version, bytes) in seeds() {
        for i in 0..bytes.len() {
            for value in [0x00, 0x01, 0x02, 0x03, 0x7F, 0x80, 0xFF, bytes[i] ^ 0x01, bytes[i] ^ 0x40] {
                let mut mutated = bytes.clone();
                mutated[i] = value;
                check(version, &mutated);
                check(version, &mutated[..i]);
            }
        }
    }
}

/// Random mutations and random bytes never make the decoder panic.
#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let seeds = seeds();
    for _ in 0..20_000 {
        let (version, mut bytes) = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(4) {
            match rng.below(4) {
                0 if !bytes.is_empty() => {
                    let i = rng.below(bytes.len());
                    bytes[i] = rng.next() as u8;
                }
                1 => {
                    let i = rng.below(bytes.len() + 1);
                    bytes.insert(i, rng.next() as u8);
                }
                2 if bytes.len() > 1 => {
                    let i = rng.below(bytes.len());
                    bytes.remove(i);
                }
                _ => {
                    let len = rng.below(12);
                    bytes = (0..len).map(|_| rng.next() as u8).collect();
                }
            }
        }
        check(version, &bytes);
        let other = if version == Version::V5 { Version::V3_1_1 } else { Version::V5 };
        check(other, &bytes);
    }
}
