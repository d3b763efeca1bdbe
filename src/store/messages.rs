//! Messages: the gapless append, history pages, recall, the offline queue and search.

use std::{
    collections::{BTreeSet, BinaryHeap, VecDeque},
    sync::Arc,
};

use sled::transaction::{ConflictableTransactionError, Transactional, TransactionalTree};

use super::codec::{be, dedupe_key, media_ref_key, member_key, message_key, read_be};
use super::events::{write_event, Counts, QueuedEvent};
use super::history::{tx_entry, Entries};
use super::records::encode;
use super::tx::{abort, tx_decode, tx_encode, tx_result};
use super::{MemberState, MessageRecord, Store, Ticket};
use crate::error::{Error, Result};
use crate::protocol::MessageView;

/// Called once a queued write is durable, with where it landed.
pub type AppendWaiter = Box<dyn FnOnce(Result<Landed>) + Send>;
/// The trees a message write touches, inside a transaction.
#[derive(Clone, Copy)]
pub(super) struct MessageTrees<'a> {
    pub(super) last_seqs: &'a TransactionalTree,
    pub(super) messages: &'a TransactionalTree,
    pub(super) chunks: &'a TransactionalTree,
    pub(super) dedupe: &'a TransactionalTree,
    pub(super) members: &'a TransactionalTree,
    pub(super) media_refs: &'a TransactionalTree,
}

/// Result of [`Store::append`].
#[derive(Debug, Clone, Copy)]
pub struct Appended {
    /// Wait on this before acking or pushing.
    pub ticket: Ticket,
}

/// A page of messages, ascending by seq.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The messages.
    pub messages: Vec<MessageView>,
    /// More remain in the direction asked.
    pub has_more: bool,
}

/// Where a user's offline-queue drain stands: conversations still to send, oldest first.
#[derive(Debug, Clone, Default)]
pub struct OfflineCursor {
    pending: VecDeque<(u64, u64, u64)>,
}

impl OfflineCursor {
    /// Nothing left to send.
    pub fn is_done(&self) -> bool {
        self.pending.is_empty()
    }
}

/// Why one message was not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// `seq` is not the next seq: the store is at `store_at`.
    SeqTaken {
        /// The stored last seq.
        store_at: u64,
    },
    /// (sender, client_id) is stored already.
    ClientIdTaken,
}

impl Refused {
    /// The error a caller that expected the write reports.
    pub fn into_error(self, conv: u64, seq: u64) -> Error {
        match self {
            Refused::SeqTaken { store_at } => Error::Internal(format!(
                "seq conflict in conversation {conv}: wanted {seq}, store is at {store_at}"
            )),
            Refused::ClientIdTaken => Error::Internal("client_id already stored".into()),
        }
    }
}

/// Writes message `seq` of `conv` with its dedupe entry, the last-seq guard, the members'
/// unread and hidden flags and media references; or writes nothing and says why not
/// (`seq` is not the next seq, or the client_id is taken). Checks come before any write,
/// so a refused message leaves the transaction as it was.
pub(super) fn write_message(
    trees: MessageTrees<'_>,
    conv: u64,
    seq: u64,
    record: &MessageRecord,
    encoded: &[u8],
    member_names: &[String],
) -> std::result::Result<Option<Refused>, ConflictableTransactionError<Error>> {
    let last = tx_last_seq(trees.last_seqs, conv)?;
    if seq != last + 1 {
        return Ok(Some(Refused::SeqTaken { store_at: last }));
    }
    if stored_copy(trees.dedupe, record)?.is_some() {
        return Ok(Some(Refused::ClientIdTaken));
    }
    put_message(trees, conv, seq, record, encoded, member_names)?;
    Ok(None)
}

/// The last seq of `conv` as the transaction sees it.
pub(super) fn tx_last_seq(
    last_seqs: &TransactionalTree,
    conv: u64,
) -> std::result::Result<u64, ConflictableTransactionError<Error>> {
    match last_seqs.get(be(conv))? {
        Some(v) => read_be(&v).map_err(ConflictableTransactionError::Abort),
        None => Ok(0),
    }
}

/// Where the message with `record`'s (sender, client_id) is stored, if one is.
pub(super) fn stored_copy(
    dedupe: &TransactionalTree,
    record: &MessageRecord,
) -> std::result::Result<Option<(u64, u64)>, ConflictableTransactionError<Error>> {
    if record.client_id.is_empty() {
        return Ok(None);
    }
    let Some(at) = dedupe.get(dedupe_key(&record.sender, &record.client_id))? else {
        return Ok(None);
    };
    let half = |bytes: &[u8]| read_be(bytes).map_err(ConflictableTransactionError::Abort);
    Ok(Some((half(&at)?, half(at.get(8..).unwrap_or_default())?)))
}

/// Writes message `seq` of `conv` and everything it changes, unchecked: the caller has
/// made sure `seq` is next and the client_id is free. An event changes only its
/// sender's positions: it counts for no one and brings no hidden conversation back.
pub(super) fn put_message(
    trees: MessageTrees<'_>,
    conv: u64,
    seq: u64,
    record: &MessageRecord,
    encoded: &[u8],
    member_names: &[String],
) -> std::result::Result<(), ConflictableTransactionError<Error>> {
    let MessageTrees {
        last_seqs,
        messages,
        dedupe,
        members,
        media_refs,
        ..
    } = trees;
    last_seqs.insert(&be(conv), &be(seq))?;
    messages.insert(&message_key(conv, seq), encoded)?;
    if !record.client_id.is_empty() {
        let mut at = be(conv).to_vec();
        at.extend_from_slice(&be(seq));
        dedupe.insert(dedupe_key(&record.sender, &record.client_id), at)?;
    }
    if let Some(media) = record.media_url.as_deref().and_then(media_id_of) {
        // the last seq linking it here: retention drops the reference once that expires
        media_refs.insert(media_ref_key(media, conv), &be(seq))?;
    }
    let event = record.kind.is_event();
    for name in member_names {
        if event && *name != record.sender {
            continue;
        }
        let key = member_key(name, conv);
        let Some(old) = members.get(&key)? else {
            continue;
        };
        let mut state: MemberState = tx_decode(&old)?;
        let before = state.clone();
        if !event {
            state.hidden = false;
        }
        if record.counts_as_unread_for(name) {
            state.unread += 1;
            if record.mentions_for(name) {
                state.mentions += 1;
            }
        } else if *name == record.sender {
            // Sending shows you were there: move along positions that had nothing pending.
            if state.delivered_seq + 1 == seq {
                state.delivered_seq = seq;
            }
            if state.read_seq + 1 == seq {
                state.read_seq = seq;
            }
        }
        if state != before {
            members.insert(key, tx_encode(&state)?)?;
        }
    }
    Ok(())
}

/// Writes queued message `m` as the next seq of its conversation, or, if its
/// (sender, client_id) is stored already (a retry), writes nothing and says where the
/// first copy is.
fn write_next(
    trees: MessageTrees<'_>,
    m: &QueuedMessage,
    encoded: &[u8],
) -> std::result::Result<Placed, ConflictableTransactionError<Error>> {
    if let Some((conv, seq)) = stored_copy(trees.dedupe, &m.record)? {
        return duplicate_of(trees, conv, seq);
    }
    if let Some(answered) = m.record.reply_to {
        let stored = match tx_entry(trees.messages, trees.chunks, m.conv, answered)? {
            Some((target, _)) => !target.kind.is_event(),
            None => false,
        };
        if !stored {
            return Ok(Placed::Refused(Error::bad(
                "reply_to: no such message in this conversation",
            )));
        }
    }
    let seq = tx_last_seq(trees.last_seqs, m.conv)? + 1;
    put_message(trees, m.conv, seq, &m.record, encoded, &m.members)?;
    Ok(Placed::Stored { seq })
}

/// Where a retry goes: the first copy at (conv, seq), with its timestamp.
pub(super) fn duplicate_of(
    trees: MessageTrees<'_>,
    conv: u64,
    seq: u64,
) -> std::result::Result<Placed, ConflictableTransactionError<Error>> {
    let ts = match tx_entry(trees.messages, trees.chunks, conv, seq)? {
        Some((first, _)) => first.ts,
        None => 0,
    };
    Ok(Placed::Duplicate { conv, seq, ts })
}

/// [`write_message`], aborting the transaction if the message is refused.
pub(super) fn write_message_or_abort(
    trees: MessageTrees<'_>,
    conv: u64,
    seq: u64,
    record: &MessageRecord,
    encoded: &[u8],
    member_names: &[String],
) -> std::result::Result<(), ConflictableTransactionError<Error>> {
    match write_message(trees, conv, seq, record, encoded, member_names)? {
        None => Ok(()),
        Some(refused) => abort(refused.into_error(conv, seq)),
    }
}

/// One message of a batch for [`Store::append_batch`].
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Conversation.
    pub conv: u64,
    /// Its seq: the store's last seq + 1, counting the messages before it in the batch.
    pub seq: u64,
    /// What to store.
    pub record: MessageRecord,
    /// The conversation's members (whose unread and hidden flags change).
    pub members: Arc<[String]>,
}

/// Moves `mark.user`'s delivered position in `mark.conv` up to `mark.upto`; the position
/// it had, or `None` if the user is not a member.
fn write_delivered(
    members: &TransactionalTree,
    mark: &DeliveredMark,
) -> std::result::Result<Placed, ConflictableTransactionError<Error>> {
    let key = member_key(&mark.user, mark.conv);
    let Some(old) = members.get(&key)? else {
        return Ok(Placed::Delivered { before: None });
    };
    let mut state: MemberState = tx_decode(&old)?;
    let before = state.delivered_seq;
    if mark.upto > before {
        state.delivered_seq = mark.upto;
        members.insert(key, tx_encode(&state)?)?;
    }
    Ok(Placed::Delivered {
        before: Some(before),
    })
}

/// What the group commit writes for a caller, in queue order.
#[derive(Debug, Clone)]
pub enum QueuedWrite {
    /// A message to number and store.
    Message(QueuedMessage),
    /// A member's cumulative `delivered`.
    Delivered(DeliveredMark),
    /// An edit, reaction or recall to check, number and store with its target's new state.
    Event(QueuedEvent),
}

/// A member's cumulative delivery confirmation, for the group commit to write.
#[derive(Debug, Clone)]
pub struct DeliveredMark {
    /// Who confirms.
    pub user: String,
    /// Conversation.
    pub conv: u64,
    /// Up to here (no further than the newest durable seq).
    pub upto: u64,
}

/// A message for the group commit to number and write ([`Store::queue`]).
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    /// Conversation.
    pub conv: u64,
    /// What to store.
    pub record: MessageRecord,
    /// The conversation's members (whose unread and hidden flags change).
    pub members: Arc<[String]>,
}

/// What became of a queued message, once durable.
#[derive(Debug, Clone, PartialEq)]
pub enum Landed {
    /// Stored as `seq`; the record comes back for the ack and the push.
    Stored {
        /// Its seq.
        seq: u64,
        /// What was stored.
        record: MessageRecord,
    },
    /// Its (sender, client_id) was stored already (a retry): the first copy's place.
    Duplicate {
        /// Conversation of the first copy (a client_id reused elsewhere points there).
        conv: u64,
        /// Its seq.
        seq: u64,
        /// Its timestamp.
        ts: u64,
    },
    /// An event was stored as `seq` and folded into its target.
    Event {
        /// Its seq.
        seq: u64,
        /// What was stored.
        record: MessageRecord,
        /// For a recall: the members whose counters went down, with the new counts.
        counts: Vec<Counts>,
    },
    /// Nothing stored: the event would change nothing (a second recall of a message).
    Unchanged {
        /// The event that was not stored.
        record: MessageRecord,
    },
    /// A `delivered` was written.
    Delivered {
        /// Who confirmed.
        user: String,
        /// The delivered position before.
        before: u64,
        /// The position confirmed.
        upto: u64,
    },
}

/// Where a queued write went, inside the batch transaction.
#[derive(Debug)]
pub(super) enum Placed {
    Stored {
        seq: u64,
    },
    Event {
        seq: u64,
        counts: Vec<Counts>,
    },
    Duplicate {
        conv: u64,
        seq: u64,
        ts: u64,
    },
    Delivered {
        before: Option<u64>,
    },
    /// Not written, for this reason (the caller's error).
    Refused(Error),
    /// Not written: nothing would change.
    Unchanged,
}

impl Placed {
    /// With the write back: what the waiter hears.
    pub(super) fn landed(self, write: QueuedWrite) -> Result<Landed> {
        match (self, write) {
            (Placed::Stored { seq }, QueuedWrite::Message(m)) => Ok(Landed::Stored {
                seq,
                record: m.record,
            }),
            (Placed::Event { seq, counts }, QueuedWrite::Event(e)) => Ok(Landed::Event {
                seq,
                record: e.record,
                counts,
            }),
            (Placed::Duplicate { conv, seq, ts }, _) => Ok(Landed::Duplicate { conv, seq, ts }),
            (Placed::Refused(e), _) => Err(e),
            (Placed::Unchanged, QueuedWrite::Event(e)) => {
                Ok(Landed::Unchanged { record: e.record })
            }
            (
                Placed::Delivered {
                    before: Some(before),
                },
                QueuedWrite::Delivered(mark),
            ) => Ok(Landed::Delivered {
                user: mark.user,
                before,
                upto: mark.upto,
            }),
            (Placed::Delivered { before: None }, _) => Err(Error::NoSuchConversation),
            _ => Err(Error::Internal(
                "a queued write landed as another kind".into(),
            )),
        }
    }
}

/// The trees a message write touches, outside a transaction: what a batch writer owns.
#[derive(Clone)]
pub(super) struct MessageTreeSet {
    pub(super) last_seqs: sled::Tree,
    pub(super) messages: sled::Tree,
    pub(super) chunks: sled::Tree,
    pub(super) dedupe: sled::Tree,
    pub(super) members: sled::Tree,
    pub(super) media_refs: sled::Tree,
}

impl MessageTreeSet {
    /// Runs `f` in one transaction over the trees a message write touches.
    pub(super) fn transact<T>(
        &self,
        f: impl Fn(MessageTrees<'_>) -> std::result::Result<T, ConflictableTransactionError<Error>>,
    ) -> Result<T> {
        tx_result(
            (
                &self.last_seqs,
                &self.messages,
                &self.chunks,
                &self.dedupe,
                &self.members,
                &self.media_refs,
            )
                .transaction(|t| {
                    f(MessageTrees {
                        last_seqs: &t.0,
                        messages: &t.1,
                        chunks: &t.2,
                        dedupe: &t.3,
                        members: &t.4,
                        media_refs: &t.5,
                    })
                }),
        )
    }

    /// Writes `batch` in order in one transaction; for each message, `None` if written or
    /// why it was refused (a refused message changes nothing, the others are written).
    pub(super) fn write_batch(&self, batch: &[NewMessage]) -> Result<Vec<Option<Refused>>> {
        let encoded = batch
            .iter()
            .map(|m| encode(&m.record))
            .collect::<Result<Vec<_>>>()?;
        self.transact(|trees| {
            batch
                .iter()
                .zip(&encoded)
                .map(|(m, bytes)| write_message(trees, m.conv, m.seq, &m.record, bytes, &m.members))
                .collect()
        })
    }

    /// Writes `batch` in order in one transaction, each message as the next seq of its
    /// conversation; a retry of a stored (sender, client_id) is not written and takes no
    /// seq. The group commit's thread is the only caller, so seqs stay gapless.
    pub(super) fn write_queued(&self, batch: &[QueuedWrite]) -> Result<Vec<Placed>> {
        let encoded = batch
            .iter()
            .map(|w| match w {
                QueuedWrite::Message(m) => encode(&m.record),
                QueuedWrite::Event(e) => encode(&e.record),
                QueuedWrite::Delivered(_) => Ok(Vec::new()),
            })
            .collect::<Result<Vec<_>>>()?;
        self.transact(|trees| {
            batch
                .iter()
                .zip(&encoded)
                .map(|(w, bytes)| match w {
                    QueuedWrite::Message(m) => write_next(trees, m, bytes),
                    QueuedWrite::Event(e) => write_event(trees, e, bytes),
                    QueuedWrite::Delivered(mark) => write_delivered(trees.members, mark),
                })
                .collect()
        })
    }
}

/// Most entries [`Store::last_message`] looks back over (a run of events longer than
/// this shows no last message): bounds what a conversation list costs.
pub const LAST_MESSAGE_LOOKBACK: usize = 1000;

/// The media id in a `/media/ID` url.
pub fn media_id_of(url: &str) -> Option<&str> {
    url.strip_prefix("/media/")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

impl Store {
    /// The seq of the newest message of `conv` (0 if none).
    pub fn last_seq(&self, conv: u64) -> Result<u64> {
        match self.last_seqs.get(be(conv))? {
            Some(v) => read_be(&v),
            None => Ok(0),
        }
    }

    /// Where (sender, client_id) was stored, if it was.
    pub fn dedupe(&self, sender: &str, client_id: &str) -> Result<Option<(u64, u64)>> {
        match self.dedupe.get(dedupe_key(sender, client_id))? {
            Some(v) => Ok(Some((read_be(&v)?, read_be(&v[8..])?))),
            None => Ok(None),
        }
    }

    /// Appends `record` as message `seq` of `conv` (which must be last seq + 1), atomically
    /// with everything it changes. Not durable until the ticket is.
    pub fn append(
        &self,
        conv: u64,
        seq: u64,
        record: &MessageRecord,
        members: &[String],
    ) -> Result<Appended> {
        let encoded = encode(record)?;
        let trees = self.message_trees();
        let ((), ticket) = self.write(|| {
            trees.transact(|t| write_message_or_abort(t, conv, seq, record, &encoded, members))
        })?;
        Ok(Appended { ticket })
    }

    /// Appends `batch` in one transaction (see [`NewMessage::seq`]); for each message,
    /// `None` if written or why it was refused. Not durable until the ticket is.
    pub fn append_batch(&self, batch: &[NewMessage]) -> Result<(Vec<Option<Refused>>, Ticket)> {
        let trees = self.message_trees();
        self.write(|| trees.write_batch(batch))
    }

    /// Hands `write` to the group commit, which writes it with everything else queued
    /// meanwhile in one transaction and calls `done` once it is durable (see
    /// [`GroupCommit`](super::GroupCommit)). A message gets its conversation's next seq,
    /// in queue order; a retry of a stored (sender, client_id) lands as
    /// [`Landed::Duplicate`] and takes no seq; a `delivered` lands as
    /// [`Landed::Delivered`] (or [`Error::NoSuchConversation`]). The caller never waits
    /// for the store.
    pub fn queue(&self, write: QueuedWrite, done: AppendWaiter) {
        self.commit.append(write, done);
    }

    /// Handles on the trees a message write touches.
    pub(super) fn message_trees(&self) -> MessageTreeSet {
        MessageTreeSet {
            last_seqs: self.last_seqs.clone(),
            messages: self.messages.clone(),
            chunks: self.chunks.clone(),
            dedupe: self.dedupe.clone(),
            members: self.members.clone(),
            media_refs: self.media_refs.clone(),
        }
    }

    /// Up to `limit` messages before `before` (newest page if `None`), ascending.
    pub fn page_before(&self, conv: u64, before: Option<u64>, limit: usize) -> Result<Page> {
        let hi = match before {
            Some(b) => b.saturating_sub(1),
            None => u64::MAX,
        };
        let mut out = Vec::with_capacity(limit);
        let mut has_more = false;
        if hi >= 1 {
            for entry in self.entries(conv, 1, hi, true) {
                let (seq, m) = entry?;
                if out.len() == limit {
                    has_more = true;
                    break;
                }
                out.push(m.view(conv, seq));
            }
        }
        out.reverse();
        Ok(Page {
            messages: out,
            has_more,
        })
    }

    /// Up to `limit` messages after `after`, ascending.
    pub fn page_after(&self, conv: u64, after: u64, limit: usize) -> Result<Page> {
        let mut out = Vec::with_capacity(limit);
        let mut has_more = false;
        for entry in self.entries(conv, after.saturating_add(1), u64::MAX, false) {
            let (seq, m) = entry?;
            if out.len() == limit {
                has_more = true;
                break;
            }
            out.push(m.view(conv, seq));
        }
        Ok(Page {
            messages: out,
            has_more,
        })
    }

    /// Messages in (from, to] that count as unread for `user`.
    pub fn count_unread(&self, conv: u64, user: &str, from: u64, to: u64) -> Result<u64> {
        Ok(self.count_unread_mentions(conv, user, from, to)?.0)
    }

    /// Messages in (from, to] that count as unread for `user`, and of those the ones
    /// that mention the user.
    pub fn count_unread_mentions(
        &self,
        conv: u64,
        user: &str,
        from: u64,
        to: u64,
    ) -> Result<(u64, u64)> {
        let (mut unread, mut mentions) = (0, 0);
        if to <= from {
            return Ok((0, 0));
        }
        for entry in self.entries(conv, from + 1, to, false) {
            let (_, m) = entry?;
            if m.counts_as_unread_for(user) {
                unread += 1;
                mentions += u64::from(m.mentions.iter().any(|n| n == user));
            }
        }
        Ok((unread, mentions))
    }

    /// The newest message of `conv` at or below `upto` that is not an event (what a
    /// conversation shows as its last message), looking back at most
    /// 1000 entries (a run of events longer than that shows no last message).
    pub fn last_message(&self, conv: u64, upto: u64) -> Result<Option<MessageView>> {
        if upto == 0 {
            return Ok(None);
        }
        for entry in self
            .entries(conv, 1, upto, true)
            .take(LAST_MESSAGE_LOOKBACK)
        {
            let (seq, m) = entry?;
            if !m.kind.is_event() {
                return Ok(Some(m.view(conv, seq)));
            }
        }
        Ok(None)
    }

    /// Distinct senders of the messages in (from, to].
    pub fn senders_between(&self, conv: u64, from: u64, to: u64) -> Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        if to <= from {
            return Ok(out);
        }
        for entry in self.entries(conv, from + 1, to, false) {
            out.insert(entry?.1.sender);
        }
        Ok(out)
    }

    /// Starts draining `user`'s offline queue: every conversation with messages after
    /// the user's `delivered_seq`, the one with the oldest such message first.
    pub fn offline_start(&self, user: &str) -> Result<OfflineCursor> {
        let mut pending = Vec::new();
        for (conv, state) in self.user_conversations(user)? {
            let last = self.last_seq(conv)?;
            if last > state.delivered_seq {
                let first_ts = self
                    .message(conv, state.delivered_seq + 1)?
                    .map(|m| m.ts)
                    .unwrap_or(u64::MAX);
                pending.push((first_ts, conv, state.delivered_seq, last));
            }
        }
        pending.sort_unstable();
        Ok(OfflineCursor {
            pending: pending
                .into_iter()
                .map(|(_, c, from, to)| (c, from, to))
                .collect(),
        })
    }

    /// The next at most `limit` queued messages, in seq order per conversation. The
    /// user's own messages in the range are included: another device may not have them.
    pub fn offline_next(
        &self,
        cursor: &mut OfflineCursor,
        limit: usize,
    ) -> Result<Vec<MessageView>> {
        let mut out = Vec::with_capacity(limit.min(1024));
        while out.len() < limit {
            let Some(&mut (conv, ref mut from, to)) = cursor.pending.front_mut() else {
                break;
            };
            let mut exhausted = true;
            for entry in self.entries(conv, *from + 1, to, false) {
                let (seq, m) = entry?;
                *from = seq;
                out.push(m.view(conv, seq));
                if out.len() == limit {
                    exhausted = seq == to;
                    break;
                }
            }
            if exhausted {
                cursor.pending.pop_front();
            }
        }
        Ok(out)
    }

    /// Messages of `convs` whose body contains `needle` (case-insensitive, any script:
    /// Chinese matches without spaces), newest first across all of them. The
    /// conversations are walked together from their newest message back, by time, so
    /// the first `limit` hits found are the newest there are; at most `budget` messages
    /// are looked at in all, which bounds what one request costs however many
    /// conversations or messages the caller has.
    pub fn search(
        &self,
        convs: &[u64],
        needle: &str,
        limit: usize,
        budget: usize,
    ) -> Result<SearchHits> {
        let needle = needle.to_lowercase();
        let mut walks = Vec::with_capacity(convs.len());
        let mut heads = BinaryHeap::with_capacity(convs.len());
        for &conv in convs {
            let mut walk = self.entries(conv, 1, u64::MAX, true);
            if let Some(head) = next_head(&mut walk, walks.len())? {
                heads.push(head);
            }
            walks.push(walk);
        }
        let mut hits = Vec::new();
        let mut looked = 0;
        while hits.len() < limit && looked < budget {
            let Some(Head {
                seq, walk, record, ..
            }) = heads.pop()
            else {
                break;
            };
            looked += 1;
            // events are never hits: an edit is found through its target's new body
            if !record.recalled
                && !record.kind.is_event()
                && record.body.to_lowercase().contains(&needle)
            {
                hits.push(record.view(convs[walk], seq));
            }
            if let Some(next) = next_head(&mut walks[walk], walk)? {
                heads.push(next);
            }
        }
        Ok(SearchHits {
            complete: hits.len() == limit || heads.is_empty(),
            hits,
        })
    }
}

/// What [`Store::search`] found.
#[derive(Debug, Clone, Default)]
pub struct SearchHits {
    /// The hits, newest first.
    pub hits: Vec<MessageView>,
    /// Whether an unbounded search would have found the same: `limit` hits were found
    /// or every message was looked at (false: the budget ran out first).
    pub complete: bool,
}

/// The next (older) message of one conversation in a search, ordered by time.
struct Head {
    ts: u64,
    seq: u64,
    /// Index of its conversation's walk.
    walk: usize,
    record: MessageRecord,
}

impl PartialEq for Head {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == std::cmp::Ordering::Equal
    }
}

impl Eq for Head {}

impl PartialOrd for Head {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Head {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.ts, self.seq, self.walk).cmp(&(other.ts, other.seq, other.walk))
    }
}

/// The next message of `walk` (a conversation's messages, newest first).
fn next_head(walk: &mut Entries<'_>, index: usize) -> Result<Option<Head>> {
    let Some(entry) = walk.next() else {
        return Ok(None);
    };
    let (seq, record) = entry?;
    Ok(Some(Head {
        ts: record.ts,
        seq,
        walk: index,
        record,
    }))
}
