//! The codec (`mqttsim::codec`) tested from the outside, against its public
//! contract: `src/codec` and `docs/codec-rejections.md`.
//!
//! - [`gen`]: a seeded generator of random valid packets of either version.
//! - [`roundtrip`]: encode → decode → encode is the identity on valid
//!   packets, one packet or a stream of them, and a prefix asks for more.
//! - [`malformed`]: a table of malformed packets, each with the error kind,
//!   the version-qualified statement and the offset the decoder must report,
//!   plus inputs the decoder must accept.
//! - [`no_panic`]: a million random and mutated inputs; the decoder never
//!   panics and what it accepts re-encodes to itself.
//!
//! Every test is seeded with a fixed seed and prints it on failure.

mod gen;
mod malformed;
mod no_panic;
mod roundtrip;

/// Lower-case hex of `bytes`, for failure messages.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
