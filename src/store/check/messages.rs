//! Messages, one conversation at a time, wherever they are stored (single keys or sealed
//! chunks): gapless seqs from first_seq, a dedupe entry for every client_id not pruned, media links recorded, and each member's positions and unread
//! count right once the conversation is read.

use std::collections::{HashMap, HashSet};

use super::{detail, show_key, CheckReport, States};
use crate::error::Result;
use crate::store::codec::{
    be, chunk_first, chunk_key, dedupe_key, media_ref_key, message_key, read_be,
};
use crate::store::messages::media_id_of;
use crate::store::{ChunkRecord, ConvRecord, Store, StoredKind, CHUNK_SEQS};

/// Counts of others' unread-counting messages after a seq, for one conversation.
#[derive(Default)]
struct Countable {
    /// Seqs of messages that count as unread for someone (ascending).
    seqs: Vec<u64>,
    /// The same, per sender.
    by_sender: HashMap<String, Vec<u64>>,
    /// Seqs of `system` messages: where members may have joined (a member's counter
    /// starts when their state is made, at creation or at the system message that
    /// added them).
    joins: Vec<u64>,
}

impl Countable {
    fn after(seqs: &[u64], seq: u64) -> u64 {
        (seqs.len() - seqs.partition_point(|s| *s <= seq)) as u64
    }

    /// What `unread` of `user` must be with `read_seq`, had they been a member since
    /// `joined` (0: from the start).
    fn unread_since(&self, user: &str, read_seq: u64, joined: u64) -> u64 {
        let from = read_seq.max(joined);
        let own = self.by_sender.get(user).map_or(0, |s| Self::after(s, from));
        Self::after(&self.seqs, from) - own
    }

    /// Whether `unread` is right for `user` with `read_seq` for some moment they could
    /// have joined at; the count to report if not (as a member from the start).
    fn unread_fits(&self, user: &str, read_seq: u64, unread: u64) -> Result<(), u64> {
        let fits = std::iter::once(0)
            .chain(self.joins.iter().copied())
            .any(|j| self.unread_since(user, read_seq, j) == unread);
        match fits {
            true => Ok(()),
            false => Err(self.unread_since(user, read_seq, 0)),
        }
    }
}

impl Store {
    /// Checks every message against its conversation, its dedupe entry and its media,
    /// then each conversation's guard and member states.
    pub(super) fn check_messages(
        &self,
        r: &mut CheckReport,
        convs: &HashMap<u64, ConvRecord>,
        last_seqs: &HashMap<u64, u64>,
        states: &States,
        media: &HashSet<String>,
    ) -> Result<()> {
        let mut ids: std::collections::BTreeSet<u64> = convs.keys().copied().collect();
        ids.extend(self.conversations_in_history(r)?);
        let total = last_seqs.values().sum();
        let mut progress = crate::progress::Progress::delayed("check", total, "messages");
        for conv in ids {
            let (last, countable) = self.check_history(r, conv, convs, media)?;
            self.finish_conversation(r, conv, last, &countable, last_seqs, states);
            progress.set(r.stats.messages);
        }
        progress.finish();
        Ok(())
    }

    /// Every conversation id that has history in either tree, and any key there that is
    /// not conv ++ seq.
    fn conversations_in_history(&self, r: &mut CheckReport) -> Result<Vec<u64>> {
        let mut ids = Vec::new();
        for (name, tree) in [
            ("convseq_message", &self.messages),
            ("convseq_chunk", &self.chunks),
        ] {
            for k in tree.iter().keys() {
                let k = k?;
                match (read_be(&k), k.len()) {
                    (Ok(conv), 16) => {
                        if ids.last() != Some(&conv) {
                            ids.push(conv);
                        }
                    }
                    _ => r.problem("undecodable", format!("{name} key {}", show_key(&k))),
                }
            }
        }
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// Checks one conversation's entries, oldest first: gapless seqs from first_seq,
    /// dedupe entries (of entries not pruned yet), media; its last seq and what counts.
    fn check_history(
        &self,
        r: &mut CheckReport,
        conv: u64,
        convs: &HashMap<u64, ConvRecord>,
        media: &HashSet<String>,
    ) -> Result<(u64, Countable)> {
        let mut countable = Countable::default();
        // seqs run gapless from first_seq (retention deletes from the front)
        let mut last = convs
            .get(&conv)
            .map_or(0, |c| c.first_seq.saturating_sub(1));
        let pruned = self.compaction_state(conv)?.deduped_upto;
        self.check_chunks_of(r, conv)?;
        for entry in self.entries(conv, 1, u64::MAX, false) {
            let (seq, msg) = match entry {
                Ok(e) => e,
                Err(e) => {
                    r.problem(
                        "undecodable",
                        format!(
                            "conversation {conv}: an entry after seq {last}: {}",
                            detail(&e)
                        ),
                    );
                    continue;
                }
            };
            r.stats.messages += 1;
            if seq != last + 1 {
                r.problem(
                    "seq",
                    format!(
                        "conversation {conv}: seqs {}..={} are missing",
                        last + 1,
                        seq.saturating_sub(1)
                    ),
                );
            }
            last = seq;
            if !convs.contains_key(&conv) {
                r.problem(
                    "message",
                    format!("message {conv}/{seq} belongs to no conversation"),
                );
            }
            if !msg.client_id.is_empty() {
                match self.dedupe.get(dedupe_key(&msg.sender, &msg.client_id))? {
                    None if seq > pruned => r.problem(
                        "dedupe",
                        format!("message {conv}/{seq} ({:?}, {:?}) has no dedupe entry", msg.sender, msg.client_id),
                    ),
                    Some(at) if at.as_ref() != [be(conv), be(seq)].concat() && seq > pruned => r.problem(
                        "dedupe",
                        format!(
                            "message {conv}/{seq}: ({:?}, {:?}) is stored twice; the dedupe entry points at another message",
                            msg.sender, msg.client_id
                        ),
                    ),
                    _ => {}
                }
            } else if msg.kind != StoredKind::System && msg.kind != StoredKind::Recall {
                // system messages and recall events are the node's, without a client_id
                r.problem("message", format!("message {conv}/{seq} has no client_id"));
            }
            if let Some(id) = msg.media_url.as_deref().and_then(media_id_of) {
                if !media.contains(id) {
                    r.problem(
                        "media",
                        format!("message {conv}/{seq} links media {id}, which is not recorded"),
                    );
                } else if self.media_refs.get(media_ref_key(id, conv))?.is_none() {
                    r.problem(
                        "media",
                        format!("message {conv}/{seq} links media {id} without a reference entry"),
                    );
                }
            }
            if msg.kind == StoredKind::System {
                countable.joins.push(seq);
            }
            if msg.counts_as_unread() {
                countable.seqs.push(seq);
                countable.by_sender.entry(msg.sender).or_default().push(seq);
            }
        }
        Ok((last, countable))
    }

    /// The chunks of `conv`: each decodes, starts where its key says, holds only seqs of
    /// its own range in order, lies below where sealing has come, and shares no seq with
    /// a single key.
    fn check_chunks_of(&self, r: &mut CheckReport, conv: u64) -> Result<()> {
        let sealed_upto = self.compaction_state(conv)?.sealed_upto;
        let range = chunk_key(conv, 0)..chunk_key(conv + 1, 0);
        for kv in self.chunks.range(range) {
            let (k, v) = kv?;
            let first = read_be(k.get(8..).unwrap_or_default())?;
            r.stats.chunks += 1;
            let Some(chunk) = r.decoded::<ChunkRecord>("convseq_chunk", &k, &v) else {
                continue;
            };
            let end = first + CHUNK_SEQS - 1;
            let seqs: Vec<u64> = chunk.entries.iter().map(|e| e.0).collect();
            let in_order = seqs.windows(2).all(|w| w[0] < w[1]);
            let inside = seqs.iter().all(|s| (first..=end).contains(s));
            if chunk_first(first) != first || !in_order || !inside || seqs.is_empty() {
                r.problem(
                    "chunk",
                    format!("conversation {conv}: the chunk at {first} holds seqs {seqs:?}"),
                );
            }
            if end > sealed_upto {
                r.problem(
                    "chunk",
                    format!("conversation {conv}: the chunk at {first} lies past where sealing has come ({sealed_upto})"),
                );
            }
            for seq in seqs {
                if self.messages.contains_key(message_key(conv, seq))? {
                    r.problem(
                        "chunk",
                        format!("conversation {conv}: seq {seq} is both sealed and a single key"),
                    );
                }
            }
        }
        Ok(())
    }

    /// The per-conversation checks once its messages are read: the last-seq guard, and
    /// every member's positions and unread count.
    fn finish_conversation(
        &self,
        r: &mut CheckReport,
        conv: u64,
        last: u64,
        countable: &Countable,
        last_seqs: &HashMap<u64, u64>,
        states: &States,
    ) {
        let guard = last_seqs.get(&conv).copied().unwrap_or(0);
        if guard != last {
            r.problem(
                "last seq",
                format!(
                    "conversation {conv}: convid_lastseq is {guard} but the last message is {last}"
                ),
            );
        }
        for (user, s) in states.get(&conv).map(Vec::as_slice).unwrap_or_default() {
            if s.delivered_seq > last || s.read_seq > last {
                r.problem(
                    "member",
                    format!(
                        "{user:?} in conversation {conv}: delivered {} / read {} beyond the last seq {last}",
                        s.delivered_seq, s.read_seq
                    ),
                );
            }
            if let Err(want) = countable.unread_fits(user, s.read_seq, s.unread) {
                r.problem(
                    "unread",
                    format!("{user:?} in conversation {conv}: unread is {} but {want} messages after read seq {} count", s.unread, s.read_seq),
                );
            }
        }
    }
}
