//! The actors: one per socket ([`session`]), one per active conversation
//! ([`conversation`]), the [`hub`] that finds or revives conversation actors, the
//! [`registry`] of who is online, and the [`supervisor`] that closes silent sockets.

pub mod conversation;
pub mod hub;
pub mod registry;
pub mod session;
pub mod supervisor;

use std::sync::{
    atomic::{AtomicBool, AtomicUsize, Ordering},
    Arc,
};

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
    /// Everything the session had asked of one conversation before its
    /// [`Command::Settle`](conversation::Command::Settle) with this token is answered
    /// and has taken effect: the acks and errors are ahead of this in the mailbox.
    Settled(u64),
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
    /// The bytes waiting in that mailbox.
    pub backlog: Arc<Backlog>,
}

impl SessionRef {
    /// Pushes a frame to this session (dropped if it is gone).
    pub fn frame(&self, frame: Arc<str>) {
        self.push(Push::Frame(frame));
    }

    /// Pushes to this session, unless its backlog has overflowed: then the push is
    /// dropped, and the session closes as soon as it runs again.
    pub fn push(&self, push: Push) {
        if let Some(bytes) = push.frame_len() {
            if !self.backlog.add(bytes) {
                return;
            }
        }
        self.recipient.do_send(push);
    }
}

impl Push {
    /// The bytes of the frame it carries, if it carries one.
    fn frame_len(&self) -> Option<usize> {
        match self {
            Push::Frame(frame) | Push::Message { frame, .. } => Some(frame.len()),
            Push::Close { .. } | Push::Settled(_) => None,
        }
    }
}

/// The frames pushed to a session and not yet handled by it. A session's mailbox is
/// unbounded, and a socket that takes its bytes slowly (a phone on a bad link in a busy
/// group) would make it grow without end while the writes wait; past `limit` bytes the
/// session stops taking pushes and closes (4000, "too far behind"). Its client
/// reconnects and gets everything from the offline queue: nothing is lost, since
/// `delivered` only moves on the client's word.
#[derive(Debug)]
pub struct Backlog {
    limit: usize,
    bytes: AtomicUsize,
    overflowed: AtomicBool,
}

impl Backlog {
    /// An empty backlog that overflows past `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Backlog {
            limit,
            bytes: AtomicUsize::new(0),
            overflowed: AtomicBool::new(false),
        }
    }

    /// Counts `bytes` more; false (and from then on always false) past the limit.
    fn add(&self, bytes: usize) -> bool {
        if self.overflowed.load(Ordering::Relaxed) {
            return false;
        }
        let before = self.bytes.fetch_add(bytes, Ordering::Relaxed);
        if before.saturating_add(bytes) > self.limit {
            self.overflowed.store(true, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// The session took `push` out of its mailbox; whether the backlog has overflowed.
    pub fn taken(&self, push: &Push) -> bool {
        if let Some(bytes) = push.frame_len() {
            self.bytes.fetch_sub(bytes, Ordering::Relaxed);
        }
        self.overflowed.load(Ordering::Relaxed)
    }
}

/// An actor that is gone (its mailbox closed) is an internal error to whoever asked it.
impl From<actix::MailboxError> for crate::error::Error {
    fn from(e: actix::MailboxError) -> Self {
        crate::error::Error::Internal(format!("actor mailbox: {e}"))
    }
}
