//! Typed errors, and their protocol error codes.
//!
//! Every layer returns [`Error`]; [`Error::code`] is the protocol's error code (the
//! `error` frame's and the HTTP body's). This module knows no framework: each layer maps
//! its own errors at its edge (sled's in the store, actix's mailbox in the actors) and
//! the HTTP status is chosen once, in `http/respond.rs`.

/// Everything that can go wrong while serving a client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request or frame is malformed (not JSON, unknown type, missing or bad field).
    #[error("{0}")]
    BadRequest(String),
    /// A body, frame or upload is over its configured limit.
    #[error("{0}")]
    TooLarge(String),
    /// No, a wrong, or an expired token; or a wrong password.
    #[error("unauthorized")]
    Unauthorized,
    /// The caller is authenticated but the action is switched off (e.g. registration).
    #[error("{0}")]
    Forbidden(String),
    /// The conversation does not exist or the caller is not a member: never told apart.
    #[error("no such conversation")]
    NoSuchConversation,
    /// A resource other than a conversation was not found (media, route, user).
    #[error("{0}")]
    NotFound(String),
    /// The username is taken.
    #[error("username taken")]
    Conflict,
    /// Too many requests or frames.
    #[error("rate limited")]
    RateLimited,
    /// The path exists but does not take this method; names the methods it takes.
    #[error("this path takes {0} only")]
    MethodNotAllowed(&'static str),
    /// The user already holds `limits.max_sessions_per_user` sockets.
    #[error("too many sessions for this user")]
    TooManySessions,
    /// A recall came after the configured window.
    #[error("recall window passed")]
    RecallWindowPassed,
    /// Only the sender may recall or edit a message.
    #[error("only the sender may change a message")]
    NotSender,
    /// The message cannot be edited or reacted to (not text, recalled, an event, system).
    #[error("{0}")]
    NotEditable(String),
    /// An edit came after `messages.edit_window_secs` (or editing is off).
    #[error("edit window passed")]
    EditWindowPassed,
    /// The node is at its connection limit.
    #[error("too many connections")]
    Unavailable,
    /// The store or an actor failed; details are logged, not sent.
    #[error("internal error")]
    Internal(String),
}

/// Shorthand used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The protocol's error code (PROTOCOL.md, "Error codes").
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadRequest(_) => "bad_frame",
            Error::TooLarge(_) => "too_large",
            Error::Unauthorized => "unauthorized",
            Error::Forbidden(_) => "forbidden",
            Error::NoSuchConversation => "no_such_conversation",
            Error::NotFound(_) => "not_found",
            Error::MethodNotAllowed(_) => "method_not_allowed",
            Error::Conflict => "conflict",
            Error::RateLimited | Error::TooManySessions => "rate_limited",
            Error::RecallWindowPassed => "recall_window_passed",
            Error::NotSender => "not_sender",
            Error::NotEditable(_) => "not_editable",
            Error::EditWindowPassed => "edit_window_passed",
            Error::Unavailable => "unavailable",
            Error::Internal(_) => "internal",
        }
    }

    /// The message shown to the client; internal details stay in the log.
    pub fn client_message(&self) -> String {
        match self {
            Error::Internal(_) => "internal error".to_string(),
            other => other.to_string(),
        }
    }

    /// Shorthand for a bad request with a message.
    pub fn bad(msg: impl Into<String>) -> Self {
        Error::BadRequest(msg.into())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Internal(format!("io: {e}"))
    }
}
