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
//! Memory is O(users + conversations + members + media) plus one conversation's messages.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::codec::{be, dedupe_key, media_ref_key, read_be, FORMAT_VERSION};
use super::messages::media_id_of;
use super::migrations::FormatState;
use super::records::{decode, StoredConvKind, Versioned};
use super::{ConvRecord, MediaRecord, MemberState, MessageRecord, Store, TokenRecord, UserRecord};
use crate::error::Result;

/// How many problem lines a report keeps; the counts cover all of them.
pub const KEEP_LINES: usize = 200;

/// What was looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckStats {
    /// Accounts.
    pub users: u64,
    /// Conversations.
    pub conversations: u64,
    /// Messages.
    pub messages: u64,
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

    fn problem(&mut self, kind: &'static str, line: String) {
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
pub(super) fn detail(e: &crate::error::Error) -> String {
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
    /// Verifies every invariant listed in the module docs; read-only. Meant for a stopped
    /// store: with writers running, it would report half-done writes.
    pub fn check(&self) -> Result<CheckReport> {
        let mut r = CheckReport::default();

        // meta
        let mut next_conv = None;
        for kv in self.meta.iter() {
            let (k, v) = kv?;
            match k.as_ref() {
                b"format_version" => match FormatState::of(Some(&v)) {
                    FormatState::Current => r.format = Some(FORMAT_VERSION),
                    FormatState::Older(old) => r.format = Some(old),
                    _ => r.problem(
                        "format",
                        format!(
                            "meta format_version is {:?}, this build reads 1 to {FORMAT_VERSION}",
                            v.as_ref()
                        ),
                    ),
                },
                b"migrating_to" => r.interrupted = v.first().copied(),
                k if super::SEEN_KEYS.iter().any(|s| s.as_bytes() == k) => {
                    if read_be(&v).is_err() {
                        r.problem("undecodable", format!("meta {}", show_key(k)));
                    }
                }
                b"next_conv" => match read_be(&v) {
                    Ok(n) => next_conv = Some(n),
                    Err(e) => r.problem("undecodable", format!("meta next_conv: {e}")),
                },
                other => r.problem("meta", format!("unknown meta key {}", show_key(other))),
            }
        }
        if self.meta.get("format_version")?.is_none() {
            r.problem("format", "meta has no format_version".into());
        }

        // accounts and tokens
        let mut users = HashSet::new();
        for kv in self.users.iter() {
            let (k, v) = kv?;
            if r.decoded::<UserRecord>("username_user", &k, &v).is_some() {
                users.insert(String::from_utf8_lossy(&k).into_owned());
            }
        }
        r.stats.users = users.len() as u64;
        for kv in self.tokens.iter() {
            let (k, v) = kv?;
            if let Some(t) = r.decoded::<TokenRecord>("tokenhash_token", &k, &v) {
                if !users.contains(&t.user) {
                    r.problem(
                        "token",
                        format!("a token of {:?}, who has no account", t.user),
                    );
                }
            }
        }

        // conversations
        let mut convs: HashMap<u64, ConvRecord> = HashMap::new();
        for kv in self.convs.iter() {
            let (k, v) = kv?;
            let Ok(conv) = read_be(&k) else {
                r.problem("undecodable", format!("convid_conv key {}", show_key(&k)));
                continue;
            };
            let Some(record) = r.decoded::<ConvRecord>("convid_conv", &k, &v) else {
                continue;
            };
            let mut sorted = record.members.clone();
            sorted.sort();
            sorted.dedup();
            if sorted != record.members {
                r.problem(
                    "conversation",
                    format!("conversation {conv}: members not sorted and unique"),
                );
            }
            if record.kind == StoredConvKind::Direct && record.members.len() != 2 {
                r.problem(
                    "conversation",
                    format!(
                        "direct conversation {conv} has {} members",
                        record.members.len()
                    ),
                );
            }
            for m in &record.members {
                if !users.contains(m) {
                    r.problem(
                        "conversation",
                        format!("conversation {conv} lists {m:?}, who has no account"),
                    );
                }
            }
            convs.insert(conv, record);
        }
        r.stats.conversations = convs.len() as u64;
        if let Some(max) = convs.keys().max() {
            if next_conv.unwrap_or(0) < *max {
                r.problem(
                    "meta",
                    format!(
                        "next_conv is {:?} but conversation {max} exists: ids would be reused",
                        next_conv
                    ),
                );
            }
        }
        for kv in self.pairs.iter() {
            let (k, v) = kv?;
            let (Some((a, b)), Ok(conv)) = (split_zero(&k), read_be(&v)) else {
                r.problem("undecodable", format!("pair_convid key {}", show_key(&k)));
                continue;
            };
            let pair = vec![
                String::from_utf8_lossy(a).into_owned(),
                String::from_utf8_lossy(b).into_owned(),
            ];
            match convs.get(&conv) {
                Some(c) if c.kind == StoredConvKind::Direct && c.members == pair => {}
                _ => r.problem(
                    "pair",
                    format!(
                        "direct pair {pair:?} points at conversation {conv}, which is not theirs"
                    ),
                ),
            }
        }
        let mut last_seqs: HashMap<u64, u64> = HashMap::new();
        for kv in self.last_seqs.iter() {
            let (k, v) = kv?;
            match (read_be(&k), read_be(&v)) {
                (Ok(conv), Ok(last)) => {
                    if !convs.contains_key(&conv) {
                        r.problem(
                            "last seq",
                            format!("conversation {conv} has a last seq but no record"),
                        );
                    }
                    last_seqs.insert(conv, last);
                }
                _ => r.problem(
                    "undecodable",
                    format!("convid_lastseq key {}", show_key(&k)),
                ),
            }
        }

        // member states, by conversation
        let mut states: HashMap<u64, Vec<(String, MemberState)>> = HashMap::new();
        for kv in self.members.iter() {
            let (k, v) = kv?;
            let (Some((user, conv)), true) = (split_zero(&k), k.len() >= 9) else {
                r.problem(
                    "undecodable",
                    format!("userconv_state key {}", show_key(&k)),
                );
                continue;
            };
            let (user, Ok(conv)) = (String::from_utf8_lossy(user).into_owned(), read_be(conv))
            else {
                r.problem(
                    "undecodable",
                    format!("userconv_state key {}", show_key(&k)),
                );
                continue;
            };
            let Some(state) = r.decoded::<MemberState>("userconv_state", &k, &v) else {
                continue;
            };
            r.stats.members += 1;
            match convs.get(&conv) {
                None => r.problem("member", format!("{user:?} has a state in conversation {conv}, which does not exist")),
                Some(c) if !c.has_member(&user) => r.problem(
                    "member",
                    format!("{user:?} has a state in conversation {conv}, whose record does not list them"),
                ),
                Some(_) => {}
            }
            states.entry(conv).or_default().push((user, state));
        }
        for (conv, record) in &convs {
            let listed: HashSet<&str> = states
                .get(conv)
                .map(|s| s.iter().map(|(u, _)| u.as_str()).collect())
                .unwrap_or_default();
            for m in &record.members {
                if !listed.contains(m.as_str()) {
                    r.problem(
                        "member",
                        format!("{m:?} is listed in conversation {conv} but has no state"),
                    );
                }
            }
        }

        // media
        let mut media: HashSet<String> = HashSet::new();
        for kv in self.media.iter() {
            let (k, v) = kv?;
            let id = String::from_utf8_lossy(&k).into_owned();
            let Some(record) = r.decoded::<MediaRecord>("mediaid_media", &k, &v) else {
                continue;
            };
            match std::fs::metadata(self.media_path(&id)) {
                Ok(m) if m.len() == record.size => {}
                Ok(m) => r.problem(
                    "media",
                    format!(
                        "media {id}: file has {} bytes, record says {}",
                        m.len(),
                        record.size
                    ),
                ),
                Err(e) => r.problem(
                    "media",
                    format!("media {id}: file {:?}: {e}", self.media_path(&id)),
                ),
            }
            if record.thumb && !self.thumb_path(&id).is_file() {
                r.problem(
                    "media",
                    format!("media {id}: its thumbnail file is missing"),
                );
            }
            media.insert(id);
        }
        r.stats.media = media.len() as u64;
        // files with no record (a crash between deleting a record and its file, or a
        // file put there by hand); unfinished uploads (.part) are the sweep's business
        if let Ok(entries) = std::fs::read_dir(self.media_dir()) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let id = name.strip_suffix(super::THUMB_SUFFIX).unwrap_or(&name);
                if name.ends_with(super::PART_SUFFIX) || media.contains(id) {
                    continue;
                }
                r.problem(
                    "media",
                    format!("file {name:?} in the media directory has no record"),
                );
            }
        }
        for kv in self.media_refs.iter() {
            let (k, _) = kv?;
            let Some((id, conv)) = split_zero(&k).and_then(|(id, c)| {
                Some((String::from_utf8_lossy(id).into_owned(), read_be(c).ok()?))
            }) else {
                r.problem("undecodable", format!("mediaconv_ref key {}", show_key(&k)));
                continue;
            };
            if !media.contains(&id) {
                r.problem(
                    "media",
                    format!("conversation {conv} references media {id}, which is not recorded"),
                );
            }
            if !convs.contains_key(&conv) {
                r.problem(
                    "media",
                    format!(
                        "media {id} is referenced by conversation {conv}, which does not exist"
                    ),
                );
            }
        }

        // messages, one conversation at a time
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
                    self.finish_conversation(&mut r, c, last, &countable, &last_seqs, &states);
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
            } else if msg.kind != super::StoredKind::System && msg.kind != super::StoredKind::Recall
            {
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
            if msg.kind == super::StoredKind::System {
                countable.joins.push(seq);
            }
            if msg.counts_as_unread() {
                countable.seqs.push(seq);
                countable.by_sender.entry(msg.sender).or_default().push(seq);
            }
        }
        if let Some((c, last, countable)) = current.take() {
            self.finish_conversation(&mut r, c, last, &countable, &last_seqs, &states);
        }
        for (conv, record) in convs.iter().filter(|(c, _)| !seen_convs.contains(c)) {
            let last = record.first_seq.saturating_sub(1);
            self.finish_conversation(
                &mut r,
                *conv,
                last,
                &Countable::default(),
                &last_seqs,
                &states,
            );
        }

        // dedupe entries point at their message
        for kv in self.dedupe.iter() {
            let (k, v) = kv?;
            r.stats.dedupe += 1;
            let (Some((sender, client_id)), Ok(conv), Ok(seq)) = (
                split_zero(&k),
                read_be(&v),
                read_be(v.get(8..).unwrap_or_default()),
            ) else {
                r.problem(
                    "undecodable",
                    format!("senderclientid_convseq key {}", show_key(&k)),
                );
                continue;
            };
            let (sender, client_id) = (
                String::from_utf8_lossy(sender),
                String::from_utf8_lossy(client_id),
            );
            match self.messages.get(super::codec::message_key(conv, seq))? {
                None => r.problem(
                    "dedupe",
                    format!(
                        "({sender:?}, {client_id:?}) points at {conv}/{seq}, which is not stored"
                    ),
                ),
                Some(bytes) => {
                    if let Ok(m) = decode::<MessageRecord>(&bytes) {
                        if m.sender != sender || m.client_id != client_id {
                            r.problem(
                                "dedupe",
                                format!(
                                    "({sender:?}, {client_id:?}) points at {conv}/{seq}, which is ({:?}, {:?})",
                                    m.sender, m.client_id
                                ),
                            );
                        }
                    }
                }
            }
        }
        self.check_marks_into(&mut r)?;
        Ok(r)
    }

    /// The high-water marks: a store holding less than it once held was damaged.
    fn check_marks_into(&self, r: &mut CheckReport) -> Result<()> {
        let (now, marks) = (self.counts_now()?, self.marks()?);
        for ((what, now), mark) in ["users", "conversations", "messages"]
            .iter()
            .zip(now)
            .zip(marks)
        {
            if now < mark {
                r.problem(
                    "damage",
                    format!("the store has {now} {what}, but it once had {mark} (meta seen_*)"),
                );
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
        states: &HashMap<u64, Vec<(String, MemberState)>>,
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
