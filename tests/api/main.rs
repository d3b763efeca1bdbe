//! The API test suite: real nodes on 127.0.0.1, real stores in temp dirs, real sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

mod accounts;
mod backup;
mod chat;
mod crash;
mod groups;
mod media;
mod offline;
mod randomized;
mod restart;
mod security;
