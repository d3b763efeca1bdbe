//! # chatnode
//!
//! A self-hosted instant-messaging node: one binary, an embedded sled store, and the
//! promise that messages are never lost, never doubled and always in order.
//!
//! # Layout
//!
//! Follow one message through the files in this order:
//!
//! - [`http::ws`]: the WebSocket handshake; then the socket's bytes to and from its session.
//! - [`actors::session`]: one actor per WebSocket; decodes frames ([`protocol`]),
//!   checks and rate-limits them ([`limits`]); it sees the node only through
//!   [`actors::session::SessionEnv`].
//! - [`actors::hub`]: finds (or revives from the store) the conversation's actor.
//! - [`actors::conversation`]: the single writer of a conversation: membership checks,
//!   the send queue in order, handed to the [`store`].
//! - [`store::commit`]: group commit, many writes per flush + fsync; the writes themselves
//!   (dedupe, next seq, one transaction per message) are `store/messages.rs`'s.
//! - back in [`actors::conversation`]: once durable, `ack` to the sender and push to
//!   every member's sessions through the [`actors::registry`].
//!
//! Around it: [`http`] (routes, and the browser client `web/index.html` at `/`),
//! [`auth`] (passwords, tokens), [`accounts`] (account changes shared by HTTP and the
//! `user` commands), [`config`] (settings), [`push`] (Web Push to devices whose app is closed), [`search`] (the index that follows
//! the store's feed of durable entries, and search pages from it),
//! [`error`] (typed errors and their protocol codes; the HTTP status is chosen in `http/respond.rs`), [`actors::supervisor`]
//! (closes silent sockets), [`memory`] (keeps RSS flat), [`server`] (start and graceful stop), [`admin`]
//! (`chatnode check`, `backup`, `restore`, and the node's admin socket).

pub mod accounts;
pub mod actors;
pub mod admin;
pub mod auth;
pub mod background;
pub mod clock;
pub mod compactor;
pub mod config;
pub mod error;
pub mod http;
pub mod limits;
pub mod logging;
pub mod maintenance;
pub mod media;
pub mod memory;
pub mod metrics;
pub mod node;
pub mod progress;
pub mod protocol;
pub mod push;
pub mod retention;
pub mod search;
pub mod server;
pub mod store;
pub mod tls;
pub mod views;
