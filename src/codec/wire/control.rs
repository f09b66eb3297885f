//! PINGREQ and PINGRESP (handled by the dispatcher: they have no content),
//! DISCONNECT (sections 3.14) and AUTH (5.0 section 3.15).
//!
//! A 3.1.1 DISCONNECT has no content. A 5.0 DISCONNECT may be empty (reason
//! code 0x00, no properties), hold only a reason code, or a reason code and
//! properties; the encoder uses the shortest form. A 5.0 AUTH is empty or has
//! a reason code and a property length.

use super::primitives::{Cite, Decoded, Reader};
use super::{properties, reason_code};
use crate::codec::{
    Auth, DecodeError, Disconnect, EncodeError, Packet, Properties, PropertyContext, ReasonCode, Version,
};
use crate::spec::v5;

/// Reads the optional reason code and properties of a 5.0 DISCONNECT or AUTH.
fn decode_reason_and_properties(r: &mut Reader<'_>, cite: Cite) -> Result<(ReasonCode, Properties), DecodeError> {
    let mut code = ReasonCode::SUCCESS;
    let mut properties = Properties::default();
    if !r.at_end() {
        code = reason_code(r, cite)?;
        if !r.at_end() {
            properties = properties::decode(r, PropertyContext::Packet(r.packet_type))?;
        }
    }
    r.finish("bytes left after the reason code and properties")?;
    Ok((code, properties))
}

/// Decodes DISCONNECT.
pub(super) fn decode_disconnect(r: &mut Reader<'_>) -> Decoded {
    if r.version == Version::V3_1_1 {
        r.finish("a 3.1.1 DISCONNECT has no content")?;
        return r.done(Packet::Disconnect(Disconnect::default()));
    }
    let (reason_code, properties) = decode_reason_and_properties(r, Cite::v5(v5::MQTT_3_14_2_1))?;
    r.done(Packet::Disconnect(Disconnect { reason_code, properties }))
}

/// Decodes AUTH (the dispatcher has already refused it in 3.1.1).
///
/// Unlike DISCONNECT, AUTH has only two forms (5.0 section 3.15.2.1): empty
/// (reason code 0x00, no properties), or a reason code followed by a property
/// length. A lone reason code is cut off.
pub(super) fn decode_auth(r: &mut Reader<'_>) -> Decoded {
    if r.at_end() {
        return r.done(Packet::Auth(Auth::default()));
    }
    let reason_code = reason_code(r, Cite::v5(v5::MQTT_3_15_2_1))?;
    let properties = properties::decode(r, PropertyContext::Packet(r.packet_type))?;
    r.finish("bytes left after the AUTH properties")?;
    r.done(Packet::Auth(Auth { reason_code, properties }))
}

/// Appends the shortest form of a reason code and properties.
fn encode_reason_and_properties(
    code: ReasonCode,
    properties: &Properties,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let no_properties = properties.is_empty();
    if code.is_success() && no_properties {
        return Ok(());
    }
    out.push(code.0);
    if !no_properties {
        properties::encode(properties, out)?;
    }
    Ok(())
}

/// Appends DISCONNECT's variable header (nothing in 3.1.1).
pub(super) fn encode_disconnect(
    disconnect: &Disconnect,
    version: Version,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    if version == Version::V5 {
        encode_reason_and_properties(disconnect.reason_code, &disconnect.properties, out)?;
    }
    Ok(())
}

/// Appends AUTH's variable header (the caller has refused AUTH in 3.1.1):
/// nothing for success without properties, else the reason code and the
/// property block (whose length is never omitted in AUTH).
pub(super) fn encode_auth(auth: &Auth, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if auth.reason_code.is_success() && auth.properties.is_empty() {
        return Ok(());
    }
    out.push(auth.reason_code.0);
    properties::encode(&auth.properties, out)
}
