//! The actors: one per socket ([`session`]), one per active conversation
//! ([`conversation`]), the [`hub`] that finds or revives conversation actors, the
//! [`registry`] of who is online, and the [`supervisor`] that closes silent sockets.

pub mod conversation;
pub mod hub;
pub mod registry;
pub mod session;
pub mod supervisor;

use std::sync::Arc;

use actix::{Message, Recipient};

/// Identifies one socket for the lifetime of the node.
pub type SessionId = u64;

/// What other actors hand to a session to write on its socket.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub enum Push {
    /// A ready-made frame.
    Frame(Arc<str>),
    /// A `message` frame for (conv, seq): held back while the session catches up, so
    /// the client sees every conversation in seq order.
    Message {
        /// Conversation.
        conv: u64,
        /// Seq.
        seq: u64,
        /// The encoded frame.
        frame: Arc<str>,
    },
    /// Close the socket with this code (heartbeat, logout, shutdown, flooding).
    Close {
        /// WebSocket close code.
        code: u16,
        /// Short reason.
        reason: &'static str,
    },
}

/// A session as other actors see it: where to push, and its id.
#[derive(Debug, Clone)]
pub struct SessionRef {
    /// The socket's id.
    pub id: SessionId,
    /// Its mailbox.
    pub recipient: Recipient<Push>,
}

impl SessionRef {
    /// Pushes a frame to this session (dropped if it is gone).
    pub fn frame(&self, frame: Arc<str>) {
        self.recipient.do_send(Push::Frame(frame));
    }
}
