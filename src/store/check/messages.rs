//! Messages, one conversation at a time: gapless seqs from first_seq, a dedupe entry
//! for every client_id, media links recorded, and each member's positions and unread
//! count right once the conversation is read.

use std::collections::{HashMap, HashSet};

use super::{show_key, CheckReport, States};
use crate::error::Result;
use crate::store::codec::{be, dedupe_key, media_ref_key, read_be};
use crate::store::messages::media_id_of;
use crate::store::{ConvRecord, MessageRecord, Store, StoredKind};

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
        let mut current: Option<(u64, u64, Countable)> = None;
        let mut seen_convs: HashSet<u64> = HashSet::new();
        for kv in self.messages.iter() {
            let (k, v) = kv?;
            let (Ok(conv), Ok(seq), 16) = (
                read_be(&k),
                read_be(k.get(8..).unwrap_or_default()),
                k.len(),
            ) else {
                r.problem(
                    "undecodable",
                    format!("convseq_message key {}", show_key(&k)),
                );
                continue;
            };
            r.stats.messages += 1;
            if current.as_ref().is_some_and(|(c, _, _)| *c != conv) {
                if let Some((c, last, countable)) = current.take() {
                    self.finish_conversation(r, c, last, &countable, last_seqs, states);
                }
            }
            // seqs run gapless from first_seq (retention deletes from the front)
            let before_first = convs
                .get(&conv)
                .map_or(0, |c| c.first_seq.saturating_sub(1));
            let (_, last, countable) = current.get_or_insert_with(|| {
                seen_convs.insert(conv);
                (conv, before_first, Countable::default())
            });
            if seq == 0 {
                r.problem("seq", format!("conversation {conv}: a message has seq 0"));
            } else if seq != *last + 1 {
                r.problem(
                    "seq",
                    format!(
                        "conversation {conv}: seqs {}..={} are missing",
                        *last + 1,
                        seq - 1
                    ),
                );
            }
            *last = seq;
            if !convs.contains_key(&conv) {
                r.problem(
                    "message",
                    format!("message {conv}/{seq} belongs to no conversation"),
                );
            }
            let Some(msg) = r.decoded::<MessageRecord>("convseq_message", &k, &v) else {
                continue;
            };
            if !msg.client_id.is_empty() {
                match self.dedupe.get(dedupe_key(&msg.sender, &msg.client_id))? {
                    None => r.problem(
                        "dedupe",
                        format!("message {conv}/{seq} ({:?}, {:?}) has no dedupe entry", msg.sender, msg.client_id),
                    ),
                    Some(at) if at.as_ref() != [be(conv), be(seq)].concat() => r.problem(
                        "dedupe",
                        format!(
                            "message {conv}/{seq}: ({:?}, {:?}) is stored twice; the dedupe entry points at another message",
                            msg.sender, msg.client_id
                        ),
                    ),
                    Some(_) => {}
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
        if let Some((c, last, countable)) = current.take() {
            self.finish_conversation(r, c, last, &countable, last_seqs, states);
        }
        for (conv, record) in convs.iter().filter(|(c, _)| !seen_convs.contains(c)) {
            let last = record.first_seq.saturating_sub(1);
            self.finish_conversation(r, *conv, last, &Countable::default(), last_seqs, states);
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
