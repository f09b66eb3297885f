//! Serde forms for payloads and binary data: a JSON string when the bytes are
//! UTF-8, otherwise `{"hex": "..."}`. Both forms are accepted when reading.

use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Form {
    Text(String),
    Hex { hex: String },
}

fn to_form(bytes: &Bytes) -> Form {
    match std::str::from_utf8(bytes) {
        Ok(text) => Form::Text(text.to_owned()),
        Err(_) => Form::Hex { hex: bytes.iter().map(|b| format!("{b:02x}")).collect() },
    }
}

fn from_form<E: serde::de::Error>(form: Form) -> Result<Bytes, E> {
    match form {
        Form::Text(text) => Ok(Bytes::from(text)),
        Form::Hex { hex } => {
            if hex.len() % 2 != 0 {
                return Err(E::custom("hex payload has an odd number of digits"));
            }
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).map_err(|_| E::custom("invalid hex payload")))
                .collect::<Result<Vec<u8>, E>>()
                .map(Bytes::from)
        }
    }
}

/// `#[serde(with = ...)]` for `Bytes`.
pub mod payload {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &Bytes, serializer: S) -> Result<S::Ok, S::Error> {
        to_form(bytes).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
        from_form(Form::deserialize(deserializer)?)
    }
}

/// `#[serde(with = ...)]` for `Option<Bytes>`.
pub mod opt_payload {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &Option<Bytes>, serializer: S) -> Result<S::Ok, S::Error> {
        bytes.as_ref().map(to_form).serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Bytes>, D::Error> {
        Option::<Form>::deserialize(deserializer)?.map(from_form).transpose()
    }
}
