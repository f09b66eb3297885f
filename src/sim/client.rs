//! [`SimClient`]: what the world needs from a client state machine, so any
//! sans-IO MQTT client (the model client, a scripted byte client in tests, a
//! third-party client's state) can be hosted by the discrete-event world.

use std::time::Duration;

use bytes::Bytes;

use crate::codec::{Properties, Qos, ReasonCode, Subscription, TopicFilter, TopicName};
use crate::model::{Citation, ClientEvent, ClientOutput, ModelClient};

/// An application command for a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Publish a message.
    Publish {
        /// The topic.
        topic: TopicName,
        /// The payload.
        payload: Bytes,
        /// The QoS.
        qos: Qos,
        /// The RETAIN flag.
        retain: bool,
    },
    /// Subscribe.
    Subscribe(Vec<Subscription>),
    /// Unsubscribe.
    Unsubscribe(Vec<TopicFilter>),
    /// Disconnect with DISCONNECT and this reason.
    Disconnect(ReasonCode),
}

/// What a hosted client asks of the world, or tells it.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientOut {
    /// Write these bytes.
    Transmit(Vec<u8>),
    /// Close the socket.
    Close,
    /// A statement was cited.
    Cite(Citation),
    /// CONNACK arrived.
    Connected {
        /// Whether the broker resumed a session.
        session_present: bool,
        /// Its reason code.
        reason_code: ReasonCode,
    },
    /// A message was handed to the application.
    Delivered {
        /// Topic.
        topic: String,
        /// Payload.
        payload: Bytes,
        /// QoS it arrived with.
        qos: Qos,
        /// RETAIN flag.
        retain: bool,
    },
    /// The publish numbered `seq` finished its flow.
    PublishCompleted {
        /// Its sequence number.
        seq: u64,
        /// The final reason code.
        reason_code: ReasonCode,
    },
    /// A SUBACK arrived, with one reason code per requested filter.
    Subscribed {
        /// Granted QoS or failure, per filter.
        reason_codes: Vec<ReasonCode>,
    },
    /// An UNSUBACK arrived.
    Unsubscribed,
    /// The broker sent DISCONNECT or the connection ended.
    Disconnected,
    /// The peer broke the protocol (a safety finding).
    ProtocolViolation(String),
}

/// A sans-IO client the world can host. Time is simulated, like the broker's.
pub trait SimClient {
    /// The socket connected; the client sends its CONNECT.
    fn handle_connection_opened(&mut self, now: Duration);
    /// Bytes arrived.
    fn handle_bytes(&mut self, now: Duration, bytes: &[u8]);
    /// The socket closed (peer, network, or a fault).
    fn handle_connection_closed(&mut self, now: Duration);
    /// Deadlines at or before `now` fire.
    fn handle_timeout(&mut self, now: Duration);
    /// The next output.
    fn poll_output(&mut self) -> Option<ClientOut>;
    /// The earliest deadline.
    fn poll_timeout(&self) -> Option<Duration>;
    /// An application command; a publish returns its sequence number.
    fn command(&mut self, now: Duration, command: Command, properties: Properties) -> Option<u64>;
}

impl SimClient for ModelClient {
    fn handle_connection_opened(&mut self, now: Duration) {
        ModelClient::handle_connection_opened(self, now);
    }

    fn handle_bytes(&mut self, now: Duration, bytes: &[u8]) {
        ModelClient::handle_bytes(self, now, bytes);
    }

    fn handle_connection_closed(&mut self, now: Duration) {
        ModelClient::handle_connection_closed(self, now);
    }

    fn handle_timeout(&mut self, now: Duration) {
        ModelClient::handle_timeout(self, now);
    }

    fn poll_output(&mut self) -> Option<ClientOut> {
        Some(match ModelClient::poll_output(self)? {
            ClientOutput::Transmit(bytes) => ClientOut::Transmit(bytes),
            ClientOutput::Close => ClientOut::Close,
            ClientOutput::Cite(c) => ClientOut::Cite(c),
            ClientOutput::Event(event) => match event {
                ClientEvent::Connected { session_present, reason_code } => {
                    ClientOut::Connected { session_present, reason_code }
                }
                ClientEvent::Delivered { topic, payload, qos, retain, .. } => {
                    ClientOut::Delivered { topic, payload, qos, retain }
                }
                ClientEvent::PublishCompleted { seq, reason_code } => ClientOut::PublishCompleted { seq, reason_code },
                ClientEvent::Subscribed { reason_codes } => ClientOut::Subscribed { reason_codes },
                ClientEvent::Unsubscribed { .. } => ClientOut::Unsubscribed,
                ClientEvent::Disconnected { .. } => ClientOut::Disconnected,
                ClientEvent::ProtocolViolation { description } => ClientOut::ProtocolViolation(description),
            },
        })
    }

    fn poll_timeout(&self) -> Option<Duration> {
        ModelClient::poll_timeout(self)
    }

    fn command(&mut self, now: Duration, command: Command, properties: Properties) -> Option<u64> {
        match command {
            Command::Publish { topic, payload, qos, retain } => {
                return Some(self.publish(now, topic, payload, qos, retain, properties));
            }
            Command::Subscribe(subscriptions) => self.subscribe(now, subscriptions, properties),
            Command::Unsubscribe(filters) => self.unsubscribe(now, filters),
            Command::Disconnect(reason) => self.disconnect(now, reason),
        }
        None
    }
}
