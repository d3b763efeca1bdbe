//! `history`: the big store of issue 25, filled and read over the real protocol.
//!
//! - `history fill` registers the accounts, creates the conversations of
//!   [`shape`] (600 direct chats and 400 groups of 4-9 members by default, one member of
//!   every group never connecting) and sends the messages as fast as the node takes them;
//!   everyone else reads everything. It writes a manifest (accounts, tokens,
//!   conversations) for the probe.
//! - `history probe` reads that manifest and pages history newest-first and oldest-first
//!   from many clients at once, then syncs the biggest conversation from 0 in small
//!   pages, sampling the node's RSS throughout.

pub mod bodies;
pub mod fill;
pub mod probe;
pub mod shape;
