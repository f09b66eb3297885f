//! Fuzzes the strict decoder with both versions and a small size limit:
//! no input may panic, and every packet it accepts must re-encode to bytes
//! that decode to the same packet.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mqttsim::codec::{decode, decode_bytes, encode_to_vec, DecodeOptions, Version};

fuzz_target!(|data: &[u8]| {
    for version in Version::ALL {
        for max_packet_size in [64, DecodeOptions::PROTOCOL_MAX_PACKET_SIZE] {
            let options = DecodeOptions { version, max_packet_size };
            let mut at = 0;
            while at < data.len() {
                let answer = decode(&data[at..], &options);
                let shared = decode_bytes(&bytes::Bytes::copy_from_slice(&data[at..]), &options);
                assert_eq!(answer, shared, "decode and decode_bytes agree");
                match answer {
                    Ok(Some((packet, used))) => {
                        assert!(used > 0 && used <= data.len() - at);
                        let options = DecodeOptions { version: packet_version(&packet, version), ..options };
                        let bytes = encode_to_vec(&packet, options.version).expect("a decoded packet encodes");
                        let again = decode(&bytes, &DecodeOptions::new(options.version)).expect("re-encoded bytes decode");
                        assert_eq!(again.map(|(p, _)| p), Some(packet));
                        at += used;
                    }
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
});

fn packet_version(packet: &mqttsim::codec::Packet, version: Version) -> Version {
    match packet {
        mqttsim::codec::Packet::Connect(c) => c.version,
        _ => version,
    }
}
