//! Reading a conversation's history wherever its entries are: one key each in
//! `convseq_message` (the newest), or sealed into chunks in `convseq_chunk` (see
//! [`compaction`](super::compaction)). Every reader of entries goes through [`Entries`]
//! outside a transaction, or [`tx_entry`] / [`tx_put_entry`] inside one.
//!
//! Sealing moves entries from one tree to the other in one transaction, but a range scan
//! is many reads: a scan that ran across a sealing could see an entry in neither tree. So
//! a scan holds the store's history lock shared, and sealing holds it exclusively for the
//! instant of its transaction. Edits, reactions and recalls rewrite an entry where it is
//! and need no lock.

use std::collections::VecDeque;

use parking_lot::RwLockReadGuard;
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::codec::{chunk_first, chunk_key, message_key, read_be};
use super::records::{decode, encode, ChunkRecord, CHUNK_SEQS};
use super::tx::{tx_decode, tx_encode};
use super::{MessageRecord, Store};
use crate::error::{Error, Result};

/// A conversation's entries in a seq range, ascending or descending, from both trees.
/// A chunk is decompressed only when the scan reaches its range: a page of the newest
/// entries reads single keys alone.
pub struct Entries<'a> {
    _shared: RwLockReadGuard<'a, ()>,
    singles: sled::Iter,
    chunks: sled::Iter,
    lo: u64,
    hi: u64,
    rev: bool,
    single: Option<(u64, sled::IVec)>,
    /// The next chunk, not decoded yet: (first seq, value).
    chunk: Option<(u64, sled::IVec)>,
    /// The decoded chunk's entries in [lo, hi] not yielded yet, in scan order.
    sealed: VecDeque<(u64, Vec<u8>)>,
}

impl Store {
    /// The entries of `conv` with seqs in `lo..=hi`, ascending (or descending if `rev`).
    pub(super) fn entries(&self, conv: u64, lo: u64, hi: u64, rev: bool) -> Entries<'_> {
        let (lo, hi) = (lo.max(1), hi);
        let singles = self
            .messages
            .range(message_key(conv, lo)..=message_key(conv, hi.max(lo)));
        let chunks = self
            .chunks
            .range(chunk_key(conv, chunk_first(lo))..=chunk_key(conv, hi.max(lo)));
        Entries {
            _shared: self.history_lock.read_recursive(),
            singles,
            chunks,
            lo,
            hi,
            rev,
            single: None,
            chunk: None,
            sealed: VecDeque::new(),
        }
    }

    /// One entry of `conv`, wherever it is stored.
    pub fn message(&self, conv: u64, seq: u64) -> Result<Option<MessageRecord>> {
        if let Some(v) = self.messages.get(message_key(conv, seq))? {
            return decode(&v).map(Some);
        }
        match self.chunks.get(chunk_key(conv, chunk_first(seq)))? {
            Some(v) => decode::<ChunkRecord>(&v)?.get(seq).map(decode).transpose(),
            None => Ok(None),
        }
    }
}

impl Entries<'_> {
    /// The next key/value of `iter` in the scan's direction.
    fn step(iter: &mut sled::Iter, rev: bool) -> Option<sled::Result<(sled::IVec, sled::IVec)>> {
        if rev {
            iter.next_back()
        } else {
            iter.next()
        }
    }

    /// Fills `single` with the next single entry, if there is one.
    fn fill_single(&mut self) -> Result<()> {
        if self.single.is_none() {
            if let Some(kv) = Self::step(&mut self.singles, self.rev) {
                let (k, v) = kv?;
                self.single = Some((read_be(k.get(8..).unwrap_or_default())?, v));
            }
        }
        Ok(())
    }

    /// Fills `chunk` with the next chunk (undecoded), if there is one.
    fn fill_chunk(&mut self) -> Result<()> {
        if self.chunk.is_none() {
            if let Some(kv) = Self::step(&mut self.chunks, self.rev) {
                let (k, v) = kv?;
                self.chunk = Some((read_be(k.get(8..).unwrap_or_default())?, v));
            }
        }
        Ok(())
    }

    /// Decodes the next chunk into `sealed`, keeping its entries in range.
    fn open_chunk(&mut self) -> Result<()> {
        let Some((_, v)) = self.chunk.take() else {
            return Ok(());
        };
        let chunk: ChunkRecord = decode(&v)?;
        let (lo, hi) = (self.lo, self.hi);
        let inside = chunk
            .entries
            .into_iter()
            .filter(|e| (lo..=hi).contains(&e.0));
        self.sealed = if self.rev {
            inside.rev().collect()
        } else {
            inside.collect()
        };
        Ok(())
    }

    /// Whether single entry `seq` comes before everything the undecoded next chunk may
    /// hold (chunk `first` holds seqs `first..first + CHUNK_SEQS`).
    fn single_before_chunk(&self, seq: u64) -> bool {
        match &self.chunk {
            None => true,
            Some((first, _)) if self.rev => seq >= first + CHUNK_SEQS,
            Some((first, _)) => seq < *first,
        }
    }

    fn next_entry(&mut self) -> Result<Option<(u64, MessageRecord)>> {
        loop {
            self.fill_single()?;
            if self.sealed.is_empty() {
                self.fill_chunk()?;
                let single_first = match &self.single {
                    Some((seq, _)) => self.single_before_chunk(*seq),
                    None => self.chunk.is_none(),
                };
                if !single_first {
                    self.open_chunk()?;
                    continue;
                }
                return match self.single.take() {
                    Some((seq, v)) => Ok(Some((seq, decode(&v)?))),
                    None => Ok(None),
                };
            }
            let single_first = match (&self.single, self.sealed.front()) {
                (Some((a, _)), Some((b, _))) if a == b => {
                    // never both (sealing moves an entry in one transaction): the single wins
                    self.sealed.pop_front();
                    true
                }
                (Some((a, _)), Some((b, _))) => (a < b) != self.rev,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if single_first {
                if let Some((seq, v)) = self.single.take() {
                    return Ok(Some((seq, decode(&v)?)));
                }
            }
            if let Some((seq, bytes)) = self.sealed.pop_front() {
                return Ok(Some((seq, decode(&bytes)?)));
            }
        }
    }
}

impl Iterator for Entries<'_> {
    type Item = Result<(u64, MessageRecord)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_entry().transpose()
    }
}

/// Where an entry was found inside a transaction, to write it back there.
pub(super) enum Slot {
    /// Its own key in `convseq_message`.
    Single,
    /// Inside this chunk of `convseq_chunk`.
    Sealed(ChunkRecord),
}

/// Entry `seq` of `conv` as a transaction over `messages` and `chunks` sees it.
pub(super) fn tx_entry(
    messages: &TransactionalTree,
    chunks: &TransactionalTree,
    conv: u64,
    seq: u64,
) -> std::result::Result<Option<(MessageRecord, Slot)>, ConflictableTransactionError<Error>> {
    if let Some(v) = messages.get(message_key(conv, seq))? {
        return Ok(Some((tx_decode(&v)?, Slot::Single)));
    }
    let Some(v) = chunks.get(chunk_key(conv, chunk_first(seq)))? else {
        return Ok(None);
    };
    let chunk: ChunkRecord = tx_decode(&v)?;
    match chunk.get(seq) {
        Some(bytes) => Ok(Some((tx_decode(bytes)?, Slot::Sealed(chunk)))),
        None => Ok(None),
    }
}

/// Writes entry `seq` of `conv` back where [`tx_entry`] found it.
pub(super) fn tx_put_entry(
    messages: &TransactionalTree,
    chunks: &TransactionalTree,
    conv: u64,
    seq: u64,
    record: &MessageRecord,
    slot: Slot,
) -> std::result::Result<(), ConflictableTransactionError<Error>> {
    let bytes = tx_encode(record)?;
    match slot {
        Slot::Single => {
            messages.insert(&message_key(conv, seq), bytes)?;
        }
        Slot::Sealed(mut chunk) => {
            chunk.set(seq, bytes);
            let value = encode(&chunk).map_err(ConflictableTransactionError::Abort)?;
            chunks.insert(&chunk_key(conv, chunk_first(seq)), value)?;
        }
    }
    Ok(())
}
