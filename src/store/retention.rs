//! Retention: deleting a conversation's oldest messages, a bounded batch at a time.
//!
//! One batch is one sled transaction over the trees the messages touch: the messages
//! (their own keys, or the chunks they were sealed into), their dedupe entries, the conversation record's `first_seq`, the members' unread
//! counts (an expired unread message no longer counts) and the media references whose
//! last linking message expired. `convid_lastseq` is left alone, so the next seq is
//! unaffected and seqs stay gapless from `first_seq` to `last_seq`. Batches come from
//! the front only, so what remains is always one contiguous range.

use std::collections::BTreeSet;

use super::codec::{
    be, chunk_first, chunk_key, dedupe_key, media_ref_key, member_key, message_key, read_be,
};
use super::messages::media_id_of;
use super::tx::{tx_decode, tx_encode, tx_result};
use super::{ChunkRecord, ConvRecord, MemberState, MessageRecord, Store, Ticket};
use crate::error::Result;
use sled::transaction::Transactional;

/// What one expiry batch deleted.
#[derive(Debug, Clone)]
pub struct ExpiredBatch {
    /// Every message of the conversation up to this seq is gone.
    pub upto: u64,
    /// How many were deleted.
    pub deleted: usize,
    /// Media that lost their last reference in this conversation (delete them if no
    /// other conversation links them).
    pub unlinked_media: Vec<String>,
    /// Durable once this is.
    pub ticket: Ticket,
}

impl Store {
    /// Up to `limit` stored messages of `conv` after seq `after`, ascending (the search
    /// indexer catches up with these).
    pub fn records_after(
        &self,
        conv: u64,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(u64, MessageRecord)>> {
        self.entries(conv, after.saturating_add(1), u64::MAX, false)
            .take(limit)
            .collect()
    }

    /// Every conversation id, ascending.
    pub fn conversation_ids(&self) -> Result<Vec<u64>> {
        self.convs.iter().keys().map(|k| read_be(&k?)).collect()
    }

    /// Deletes up to `limit` of the oldest messages of `conv` stored before `cutoff_ms`;
    /// `None` if there were none.
    pub fn expire_batch(
        &self,
        conv: u64,
        cutoff_ms: u64,
        limit: usize,
    ) -> Result<Option<ExpiredBatch>> {
        let mut doomed: Vec<(u64, MessageRecord)> = Vec::new();
        for entry in self.entries(conv, 1, u64::MAX, false) {
            let (seq, record) = entry?;
            if record.ts >= cutoff_ms || doomed.len() >= limit {
                break;
            }
            doomed.push((seq, record));
        }
        let sealed: BTreeSet<u64> = doomed.iter().map(|(seq, _)| chunk_first(*seq)).collect();
        let Some(&(upto, _)) = doomed.last() else {
            return Ok(None);
        };
        let media: BTreeSet<&str> = doomed
            .iter()
            .filter_map(|(_, m)| m.media_url.as_deref().and_then(media_id_of))
            .collect();
        let (unlinked, ticket) = self.write(|| {
            tx_result(
                (
                    &self.convs,
                    &self.messages,
                    &self.chunks,
                    &self.dedupe,
                    &self.members,
                    &self.media_refs,
                )
                    .transaction(
                        |(convs, messages, chunks, dedupe, members, media_refs)| {
                            let Some(v) = convs.get(be(conv))? else {
                                return Ok(Vec::new());
                            };
                            let mut record: ConvRecord = tx_decode(&v)?;
                            record.first_seq = record.first_seq.max(upto + 1);
                            convs.insert(&be(conv), tx_encode(&record)?)?;
                            for &first in &sealed {
                                let key = chunk_key(conv, first);
                                let Some(v) = chunks.get(key)? else {
                                    continue;
                                };
                                let mut chunk: ChunkRecord = tx_decode(&v)?;
                                chunk.entries.retain(|e| e.0 > upto);
                                if chunk.entries.is_empty() {
                                    chunks.remove(&key)?;
                                } else {
                                    chunks.insert(&key, tx_encode(&chunk)?)?;
                                }
                            }
                            for (seq, m) in &doomed {
                                messages.remove(&message_key(conv, *seq))?;
                                if m.client_id.is_empty() {
                                    continue;
                                }
                                let key = dedupe_key(&m.sender, &m.client_id);
                                let mut at = be(conv).to_vec();
                                at.extend_from_slice(&be(*seq));
                                if dedupe
                                    .get(&key)?
                                    .is_some_and(|v| v.as_ref() == at.as_slice())
                                {
                                    dedupe.remove(key)?;
                                }
                            }
                            for name in &record.members {
                                let key = member_key(name, conv);
                                let Some(v) = members.get(&key)? else {
                                    continue;
                                };
                                let mut state: MemberState = tx_decode(&v)?;
                                let counted = doomed
                                    .iter()
                                    .filter(|(seq, m)| {
                                        *seq > state.read_seq && m.counts_as_unread_for(name)
                                    })
                                    .count() as u64;
                                if counted > 0 {
                                    state.unread = state.unread.saturating_sub(counted);
                                    members.insert(key, tx_encode(&state)?)?;
                                }
                            }
                            let mut unlinked = Vec::new();
                            for id in &media {
                                let key = media_ref_key(id, conv);
                                // the value is the last seq linking it here (older stores: empty,
                                // unknown, so kept)
                                let last = media_refs.get(&key)?.and_then(|v| read_be(&v).ok());
                                if last.is_some_and(|last| last <= upto) {
                                    media_refs.remove(key)?;
                                    unlinked.push(id.to_string());
                                }
                            }
                            Ok(unlinked)
                        },
                    ),
            )
        })?;
        Ok(Some(ExpiredBatch {
            upto,
            deleted: doomed.len(),
            unlinked_media: unlinked,
            ticket,
        }))
    }
}
