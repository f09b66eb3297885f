//! Enhanced authentication (5.0 AUTH exchanges) as a pluggable
//! [`Authenticator`], with the deterministic built-in
//! [`ChallengeResponse`] method.

use bytes::Bytes;

/// One step's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStep {
    /// Authenticated; the data (if any) goes in CONNACK (or AUTH 0x00).
    Success(Option<Bytes>),
    /// Send AUTH 0x18 with this data and remember `state` for the next step.
    Continue {
        /// Authentication Data for the client.
        data: Bytes,
        /// Opaque state kept on the connection until the next step.
        state: Vec<u8>,
    },
    /// Refused: CONNACK (or DISCONNECT) 0x87 Not authorized.
    Fail,
}

/// An enhanced authentication method.
pub trait Authenticator {
    /// The Authentication Method name, e.g. `SCRAM-SHA-1`.
    fn method(&self) -> &str;
    /// The first step, from CONNECT (or AUTH 0x19). `nonce` is a
    /// deterministic per-exchange number the broker supplies.
    fn start(&self, client_id: &str, data: Option<&[u8]>, nonce: u64) -> AuthStep;
    /// A later step, from AUTH 0x18, with the state the previous step kept.
    fn step(&self, client_id: &str, state: &[u8], data: Option<&[u8]>) -> AuthStep;
}

/// The built-in method `MQTTSIM-CHALLENGE`: the server sends the challenge
/// `nonce-<n>` and the client must answer `<challenge>:<secret>`.
#[derive(Debug, Clone)]
pub struct ChallengeResponse {
    /// The shared secret.
    pub secret: String,
}

impl ChallengeResponse {
    /// The method name.
    pub const METHOD: &'static str = "MQTTSIM-CHALLENGE";

    /// The answer a client must give to `challenge`.
    pub fn answer(challenge: &[u8], secret: &str) -> Vec<u8> {
        let mut out = challenge.to_vec();
        out.push(b':');
        out.extend_from_slice(secret.as_bytes());
        out
    }
}

impl Authenticator for ChallengeResponse {
    fn method(&self) -> &str {
        ChallengeResponse::METHOD
    }

    fn start(&self, _client_id: &str, _data: Option<&[u8]>, nonce: u64) -> AuthStep {
        let challenge = format!("nonce-{nonce}").into_bytes();
        AuthStep::Continue { data: Bytes::from(challenge.clone()), state: challenge }
    }

    fn step(&self, _client_id: &str, state: &[u8], data: Option<&[u8]>) -> AuthStep {
        if data == Some(ChallengeResponse::answer(state, &self.secret).as_slice()) {
            AuthStep::Success(None)
        } else {
            AuthStep::Fail
        }
    }
}
