//! The API test suite: real nodes on 127.0.0.1, real stores in temp dirs, real sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

mod accounts;
mod admin_users;
mod backup;
mod blast;
mod chat;
mod cli;
mod compaction;
mod crash;
mod damaged;
mod events;
mod fixtures;
mod groups;
mod media;
mod offline;
mod profiles;
mod push;
mod randomized;
mod reads;
mod receipts;
mod restart;
mod roles;
mod search;
mod security;
mod seeds;
mod web;
