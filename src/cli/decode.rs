//! `mqttsim decode`: strict decoding of packets given as hex.

use std::io::Read as _;

use clap::Args;

use super::{parse_version, EXIT_OK, EXIT_USAGE, EXIT_VIOLATION};
use crate::codec::{self, DecodeOptions, Packet};
use crate::spec::Version;

/// Arguments of `mqttsim decode`.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// Decode as this version (3.1.1 or 5). Default: the version of a CONNECT
    /// in the input, else 5.
    #[arg(long = "mqtt", value_name = "VERSION", value_parser = parse_version)]
    pub version: Option<Version>,
    /// Refuse packets larger than this many bytes (the fixed header included).
    #[arg(long, value_name = "BYTES")]
    pub max_packet_size: Option<usize>,
    /// The packets as hex digits; spaces, colons and a 0x prefix are allowed.
    /// Read from standard input when absent or `-`.
    #[arg(value_name = "HEX", num_args = 0.., allow_hyphen_values = true)]
    pub hex: Vec<String>,
}

/// Why input could not be read as bytes.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// A character that is not a hex digit or separator.
    #[error("{0:?} at character {1} is not a hex digit")]
    NotHex(char, usize),
    /// An odd number of digits.
    #[error("odd number of hex digits ({0}): every byte needs two")]
    OddLength(usize),
    /// Nothing to decode.
    #[error("no bytes given: pass hex digits as arguments or on standard input")]
    Empty,
}

/// Parses hex digits, ignoring whitespace, `:`, `,` and `0x` prefixes.
pub fn parse_hex(text: &str) -> Result<Vec<u8>, HexError> {
    let cleaned = text.replace("0x", " ").replace("0X", " ");
    let mut digits = Vec::new();
    for (i, c) in cleaned.chars().enumerate() {
        if c.is_whitespace() || c == ':' || c == ',' {
            continue;
        }
        let d = c.to_digit(16).ok_or(HexError::NotHex(c, i))?;
        digits.push(d as u8);
    }
    if digits.is_empty() {
        return Err(HexError::Empty);
    }
    if digits.len() % 2 != 0 {
        return Err(HexError::OddLength(digits.len()));
    }
    Ok(digits.chunks(2).map(|p| p[0] << 4 | p[1]).collect())
}

/// Decodes and prints; returns the exit code.
pub fn run(args: &DecodeArgs) -> u8 {
    let text = if args.hex.is_empty() || args.hex == ["-"] {
        let mut text = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut text) {
            eprintln!("error: reading standard input: {e}");
            return EXIT_USAGE;
        }
        text
    } else {
        args.hex.join(" ")
    };
    let bytes = match parse_hex(&text) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("error: unusable input: {e}");
            return EXIT_USAGE;
        }
    };
    let (lines, code) = decode_all(&bytes, args.version, args.max_packet_size);
    for line in lines {
        println!("{line}");
    }
    code
}

/// Decodes every packet in `bytes`; returns the lines to print and the exit code.
pub fn decode_all(bytes: &[u8], version: Option<Version>, max_packet_size: Option<usize>) -> (Vec<String>, u8) {
    let mut version_now = version.unwrap_or(Version::V5);
    let mut options = DecodeOptions::new(version_now);
    if let Some(max) = max_packet_size {
        options.max_packet_size = max;
    }
    let mut lines = Vec::new();
    let mut at = 0;
    let mut index = 1;
    while at < bytes.len() {
        options.version = version_now;
        match codec::decode(&bytes[at..], &options) {
            Ok(Some((packet, used))) => {
                if let (Packet::Connect(connect), None) = (&packet, version) {
                    version_now = connect.version;
                }
                lines.push(serde_json::to_string(&packet).expect("packets always serialize"));
                at += used;
                index += 1;
            }
            Ok(None) => {
                lines.push(format!(
                    "error: packet {index} (byte {at} of the input) is incomplete: only {} bytes of it are present",
                    bytes.len() - at
                ));
                return (lines, EXIT_VIOLATION);
            }
            Err(e) => {
                let packet = e.packet.map_or_else(|| "packet".to_owned(), |p| p.name().to_owned());
                lines.push(format!("error: {packet} (packet {index}, decoded as MQTT {}): {}", e.version, e.kind));
                lines.push(format!("  at byte {} of the packet, byte {} of the input", e.offset, at + e.offset));
                match e.statement {
                    Some(id) => {
                        let s = id.statement();
                        lines.push(format!(
                            "  breaks {id} ({}, {}): {}",
                            s.level.as_str(),
                            s.actor.as_str(),
                            s.summary
                        ));
                    }
                    None => lines.push("  (no numbered statement covers this rejection)".to_owned()),
                }
                if e.version == Version::V5 {
                    lines.push(format!("  a 5.0 receiver reports reason code {}", e.reason_code()));
                }
                return (lines, EXIT_VIOLATION);
            }
        }
    }
    (lines, EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hex parsing ignores separators and refuses what is not hex.
    #[test]
    fn hex_parsing_accepts_separators_and_refuses_junk() {
        assert_eq!(parse_hex("e0 00"), Ok(vec![0xe0, 0x00]));
        assert_eq!(parse_hex("0xE0:0x00\n"), Ok(vec![0xe0, 0x00]));
        assert_eq!(parse_hex("e0 0"), Err(HexError::OddLength(3)));
        assert_eq!(parse_hex("zz"), Err(HexError::NotHex('z', 0)));
        assert_eq!(parse_hex("  "), Err(HexError::Empty));
    }
}
