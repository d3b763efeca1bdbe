//! `chatnode check`: every invariant of a stopped store, verified from the trees.
//!
//! What holds in a sound store (and what each line of a report means when it does not):
//!
//! - every stored value decodes (format byte + bincode);
//! - per conversation, message seqs are exactly first_seq..last with no gap, and
//!   `convid_lastseq` equals the last message's seq;
//! - every dedupe entry points at a stored message with that sender and client_id, and
//!   every message with a client_id has its dedupe entry;
//! - every member state belongs to a conversation whose record lists that member (and
//!   every listed member has a state); `delivered_seq` and `read_seq` are at most the
//!   last seq; `unread` equals the count of others' non-system, non-recalled messages
//!   after `read_seq`;
//! - media references point at recorded media whose file is there, and every file in
//!   the media directory belongs to a record;
//! - the conversation id counter is past every conversation id (ids are never reused).
//!
//! The offline queue needs no check of its own: it is derived (the messages after each
//! member's `delivered_seq`), so it points at stored messages by construction, and the
//! bound on `delivered_seq` is what is left to verify.
//!
//! One file per tree (or family of trees); [`Store::check`] runs them in order, each
//! handing on what the next needs. Memory is O(users + conversations + members + media)
//! plus one conversation's messages.

mod accounts;
mod conversations;
mod dedupe;
mod media;
mod members;
mod messages;
mod meta;

use std::collections::{BTreeMap, HashMap};

use super::codec::FORMAT_VERSION;
use super::records::{decode, Versioned};
use super::{MemberState, Store};
use crate::error::Result;

/// Member states by conversation: (username, state).
type States = HashMap<u64, Vec<(String, MemberState)>>;

/// How many problem lines a report keeps; the counts cover all of them.
pub const KEEP_LINES: usize = 200;

/// What was looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckStats {
    /// Accounts.
    pub users: u64,
    /// Conversations.
    pub conversations: u64,
    /// Messages (and events), wherever stored.
    pub messages: u64,
    /// Sealed chunks of older history.
    pub chunks: u64,
    /// Member states.
    pub members: u64,
    /// Dedupe entries.
    pub dedupe: u64,
    /// Media records.
    pub media: u64,
}

/// The outcome of [`Store::check`]: the problems found (the first `KEEP_LINES` (200) as
/// lines, all of them counted by kind) and what was looked at.
#[derive(Debug, Clone, Default)]
pub struct CheckReport {
    /// One line per problem, in the order found; capped at `KEEP_LINES` (200).
    pub lines: Vec<String>,
    /// Problems per kind, all of them.
    pub counts: BTreeMap<&'static str, u64>,
    /// What was looked at.
    pub stats: CheckStats,
    /// The store's format version, if it is one this build reads.
    pub format: Option<u8>,
    /// A migration to this version was interrupted (the next start runs it again).
    pub interrupted: Option<u8>,
    /// Every tree: (name, keys, bytes of keys and values), by name: where the store's
    /// bytes are (sled's file adds its own overhead and free space).
    pub trees: Vec<(String, u64, u64)>,
    /// How long the check took.
    pub took: std::time::Duration,
}

impl CheckReport {
    /// No problem found.
    pub fn is_ok(&self) -> bool {
        self.counts.is_empty()
    }

    /// Whether the node migrates the store when it next starts.
    pub fn migration_pending(&self) -> bool {
        self.format.is_some_and(|v| v < FORMAT_VERSION)
    }

    /// Number of problems found.
    pub fn problems(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Records a problem of `kind` (also for checks outside the store: the search index).
    pub fn problem(&mut self, kind: &'static str, line: String) {
        *self.counts.entry(kind).or_insert(0) += 1;
        if self.lines.len() < KEEP_LINES {
            self.lines.push(format!("{kind}: {line}"));
        }
    }

    /// Decodes `bytes`, or records why it does not and returns `None`.
    fn decoded<T: Versioned>(&mut self, tree: &str, key: &[u8], bytes: &[u8]) -> Option<T> {
        match decode(bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                self.problem(
                    "undecodable",
                    format!("{tree} key {}: {}", show_key(key), detail(&e)),
                );
                None
            }
        }
    }
}

/// What went wrong, with the detail that `Error`'s display keeps from clients.
pub(in crate::store) fn detail(e: &crate::error::Error) -> String {
    match e {
        crate::error::Error::Internal(d) => d.clone(),
        other => other.to_string(),
    }
}

/// A key for a report line: text where it is text, hex otherwise.
fn show_key(key: &[u8]) -> String {
    if key.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        String::from_utf8_lossy(key).into_owned()
    } else {
        hex::encode(key)
    }
}

/// Splits `name ++ 0 ++ rest` keys.
fn split_zero(key: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = key.iter().position(|b| *b == 0)?;
    Some((&key[..at], &key[at + 1..]))
}

impl Store {
    /// Verifies every invariant listed in the module docs; read-only. Meant for a stopped
    /// store: with writers running, it would report half-done writes.
    pub fn check(&self) -> Result<CheckReport> {
        let started = std::time::Instant::now();
        let mut r = CheckReport::default();
        let next_conv = self.check_meta(&mut r)?;
        let users = self.check_accounts(&mut r)?;
        let convs = self.check_conversations(&mut r, &users, next_conv)?;
        let last_seqs = self.check_last_seqs(&mut r, &convs)?;
        let states = self.check_members(&mut r, &convs)?;
        let media = self.check_media(&mut r, &convs)?;
        self.check_messages(&mut r, &convs, &last_seqs, &states, &media)?;
        self.check_dedupe(&mut r)?;
        self.check_marks_into(&mut r)?;
        r.trees = self.tree_sizes()?;
        r.took = started.elapsed();
        Ok(r)
    }

    /// (name, keys, bytes of keys and values) of every tree, by name.
    fn tree_sizes(&self) -> Result<Vec<(String, u64, u64)>> {
        let mut out = Vec::new();
        for name in self.db.tree_names() {
            let tree = self.db.open_tree(&name)?;
            let (mut keys, mut bytes) = (0u64, 0u64);
            for kv in tree.iter() {
                let (k, v) = kv?;
                keys += 1;
                bytes += (k.len() + v.len()) as u64;
            }
            out.push((String::from_utf8_lossy(&name).into_owned(), keys, bytes));
        }
        out.sort();
        Ok(out)
    }
}
