//! Compaction: what keeps a store's memory and disk flat in the number of messages it
//! has kept.
//!
//! sled costs memory per key (~40 bytes of its page table, whatever the cache size) and
//! disk per key, so old history gives up its keys in two bounded steps, each one
//! transaction, run by the compactor thread (`crate::compactor`), never on the ack path:
//!
//! - **sealing**: once [`KEEP_NEWEST`] newer entries follow it, a conversation's next
//!   [`CHUNK_SEQS`] seqs move from their own keys in `convseq_message` into one
//!   zstd-compressed [`ChunkRecord`] in `convseq_chunk`. The newest entries stay single
//!   keys: new messages, receipts and most edits and reactions touch only them. Readers
//!   see both trees through `store::history`;
//! - **dedupe pruning**: the dedupe entries of messages older than
//!   `storage.dedupe_window_secs` are removed. A retry of a message sent longer ago than
//!   that is stored again (clients retry within seconds or minutes of a reconnect).
//!
//! `convid_compaction` keeps, per conversation, where each step has come to; both only
//! move forward. A kill at any moment leaves either the state before a step's
//! transaction or after it.

use std::sync::atomic::{AtomicU64, Ordering};

use sled::transaction::{ConflictableTransactionError, Transactional, TransactionalTree};

use super::codec::{be, chunk_first, chunk_key, dedupe_key, message_key, read_be, MAX_CHUNK_BYTES};
pub use super::records::CompactionState;
use super::records::{decode, ChunkRecord, CHUNK_SEQS};
use super::tx::{tx_decode, tx_encode, tx_result};
use super::{Store, Ticket};
use crate::error::{Error, Result};

/// Entries kept as single keys behind a conversation's newest, before a chunk is sealed.
pub const KEEP_NEWEST: u64 = 64;

/// Largest chunk sealed (its entries' bytes before compression): a quarter of what a
/// chunk may hold, so edits and reactions folded in later have room. A range of larger
/// messages stays as single keys.
const MAX_SEAL_BYTES: usize = MAX_CHUNK_BYTES / 4;

/// What compaction did since the store was opened (/metrics).
#[derive(Debug, Default)]
pub struct Counters {
    sealed: AtomicU64,
    pruned: AtomicU64,
    backlog: AtomicU64,
    passes: AtomicU64,
}

/// A reading of [`Counters`].
#[derive(Debug, Clone, Copy, Default)]
pub struct CompactionStats {
    /// Entries moved into chunks.
    pub sealed: u64,
    /// Dedupe entries removed.
    pub pruned: u64,
    /// Entries the last pass left to seal (under a burst the compactor falls behind).
    pub backlog: u64,
    /// Passes over every conversation completed.
    pub passes: u64,
}

/// What one step did.
#[derive(Debug, Clone, Copy)]
pub struct Step {
    /// Entries moved into a chunk, or dedupe entries removed.
    pub entries: usize,
    /// Durable once this is (nothing waits for it: a lost step is done again).
    pub ticket: Ticket,
}

impl Store {
    /// What compaction has done since the store was opened.
    pub fn compaction_stats(&self) -> CompactionStats {
        CompactionStats {
            sealed: self.compacted.sealed.load(Ordering::Relaxed),
            pruned: self.compacted.pruned.load(Ordering::Relaxed),
            backlog: self.compacted.backlog.load(Ordering::Relaxed),
            passes: self.compacted.passes.load(Ordering::Relaxed),
        }
    }

    /// Records a completed compaction pass and what it left to seal.
    pub fn compaction_pass_done(&self, backlog: u64) {
        self.compacted.backlog.store(backlog, Ordering::Relaxed);
        self.compacted.passes.fetch_add(1, Ordering::Relaxed);
    }

    /// Where compaction stands in `conv`.
    pub fn compaction_state(&self, conv: u64) -> Result<CompactionState> {
        match self.compaction.get(be(conv))? {
            Some(v) => decode(&v),
            None => Ok(CompactionState::default()),
        }
    }

    /// Every conversation with messages and its last seq, ascending by id.
    pub fn last_seqs(&self) -> Result<Vec<(u64, u64)>> {
        self.last_seqs
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((read_be(&k)?, read_be(&v)?))
            })
            .collect()
    }

    /// Entries that sealing would still move in `conv`, at most (for /metrics).
    pub fn unsealed_behind(&self, conv: u64, last: u64) -> Result<u64> {
        let state = self.compaction_state(conv)?;
        Ok(last
            .saturating_sub(KEEP_NEWEST)
            .saturating_sub(state.sealed_upto)
            / CHUNK_SEQS
            * CHUNK_SEQS)
    }

    /// Seals the next chunk of `conv` if [`KEEP_NEWEST`] entries follow it; `None` if
    /// there is nothing to seal yet.
    pub fn seal_next(&self, conv: u64) -> Result<Option<Step>> {
        let state = self.compaction_state(conv)?;
        let first = state.sealed_upto + 1;
        let end = first + CHUNK_SEQS - 1;
        if end.saturating_add(KEEP_NEWEST) > self.last_seq(conv)? {
            return Ok(None);
        }
        let chunk = chunk_key(conv, chunk_first(first));
        // exclusive for the instant of the move: no scan may run across it
        let _moving = self.history_lock.write();
        let (moved, ticket) = self.write(|| {
            tx_result(
                (&self.messages, &self.chunks, &self.compaction).transaction(
                    |(messages, chunks, compaction)| {
                        let mut sealed: ChunkRecord = match chunks.get(chunk)? {
                            Some(v) => tx_decode(&v)?,
                            None => ChunkRecord::default(),
                        };
                        let mut singles = Vec::new();
                        for seq in first..=end {
                            if let Some(v) = messages.get(message_key(conv, seq))? {
                                singles.push((seq, v.to_vec()));
                            }
                        }
                        let moved = singles.len();
                        // a seq both sealed and single (never written so): the single wins,
                        // as it does for readers
                        singles.append(&mut sealed.entries);
                        singles.sort_by_key(|e| e.0);
                        singles.dedup_by_key(|e| e.0);
                        sealed.entries = singles;
                        let fits = sealed.raw_len() <= MAX_SEAL_BYTES;
                        if fits && moved > 0 {
                            chunks.insert(&chunk, tx_encode(&sealed)?)?;
                            for seq in first..=end {
                                messages.remove(&message_key(conv, seq))?;
                            }
                        }
                        advance(compaction, conv, |s| s.sealed_upto = s.sealed_upto.max(end))?;
                        Ok(if fits { moved } else { 0 })
                    },
                ),
            )
        })?;
        self.compacted
            .sealed
            .fetch_add(moved as u64, Ordering::Relaxed);
        Ok(Some(Step {
            entries: moved,
            ticket,
        }))
    }

    /// Removes the dedupe entries of up to [`CHUNK_SEQS`] of `conv`'s oldest entries not
    /// pruned yet that are older than `window_ms` at `now_ms`; `None` if there is nothing
    /// to do. Once it knows when the next entry falls out of the window it records that,
    /// and until then answers `None` from the compaction state alone: an idle node's
    /// passes read no message (and pull no chunk into sled's cache) to learn it.
    pub fn prune_dedupe_next(
        &self,
        conv: u64,
        now_ms: u64,
        window_ms: u64,
    ) -> Result<Option<Step>> {
        let state = self.compaction_state(conv)?;
        if state.unpruned_since_ms != 0
            && state.unpruned_since_ms.saturating_add(window_ms) > now_ms
        {
            return Ok(None);
        }
        let cutoff = now_ms.saturating_sub(window_ms);
        let mut doomed = Vec::new();
        let mut upto = None;
        let mut seen = 0;
        // the ts of the oldest entry kept; `now_ms` when none follows (a later one is
        // newer), 0 when a full batch left the rest unread
        let mut since = now_ms;
        for entry in self
            .entries(conv, state.deduped_upto + 1, u64::MAX, false)
            .take(CHUNK_SEQS as usize)
        {
            let (seq, m) = entry?;
            seen += 1;
            if m.ts >= cutoff {
                since = m.ts.max(1);
                break;
            }
            upto = Some(seq);
            if seen == CHUNK_SEQS as usize {
                since = 0;
            }
            if !m.client_id.is_empty() {
                doomed.push((dedupe_key(&m.sender, &m.client_id), seq));
            }
        }
        if upto.is_none() && since == state.unpruned_since_ms {
            return Ok(None);
        }
        let (removed, ticket) = self.write(|| {
            tx_result(
                (&self.dedupe, &self.compaction).transaction(|(dedupe, compaction)| {
                    let mut removed = 0;
                    for (key, seq) in &doomed {
                        let mut at = be(conv).to_vec();
                        at.extend_from_slice(&be(*seq));
                        // a client_id reused elsewhere points there: leave that one
                        if dedupe
                            .get(key)?
                            .is_some_and(|v| v.as_ref() == at.as_slice())
                        {
                            dedupe.remove(key.as_slice())?;
                            removed += 1;
                        }
                    }
                    advance(compaction, conv, |s| {
                        if let Some(upto) = upto {
                            s.deduped_upto = s.deduped_upto.max(upto);
                        }
                        s.unpruned_since_ms = since;
                    })?;
                    Ok(removed)
                }),
            )
        })?;
        self.compacted
            .pruned
            .fetch_add(removed as u64, Ordering::Relaxed);
        Ok(Some(Step {
            entries: removed,
            ticket,
        }))
    }
}

/// Moves `conv`'s compaction state forward by `step`, inside a transaction (the stored
/// state, not the one read before it: both steps move it).
fn advance(
    compaction: &TransactionalTree,
    conv: u64,
    step: impl Fn(&mut CompactionState),
) -> std::result::Result<(), ConflictableTransactionError<Error>> {
    let mut state = match compaction.get(be(conv))? {
        Some(v) => tx_decode(&v)?,
        None => CompactionState::default(),
    };
    step(&mut state);
    compaction.insert(&be(conv), tx_encode(&state)?)?;
    Ok(())
}
