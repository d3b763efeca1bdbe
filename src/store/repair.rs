//! The start-up form of `chatnode check`: fast, and it repairs what can be derived.
//!
//! Every message is written in one transaction with all it changes, so a crash leaves
//! either all of it or none, and this pass normally finds nothing. It is the safety net
//! for what a bug or a damaged disk could leave, and it stays O(conversations + member
//! states): one reverse seek per conversation compares the last-seq guard with the
//! newest message; a conversation scans its messages only when something there is
//! inconsistent, a member recounts `unread` only when the count cannot be right.
//!
//! Derived, so repaired (one log line each):
//! - the last-seq guard lagging behind the newest message (seqs must never be reused);
//! - dedupe entries missing for messages of an inconsistent conversation;
//! - the conversation id counter lagging behind the newest conversation;
//! - member states of users the conversation's record does not list (removed: the
//!   record decides membership), and missing states of listed members (created);
//! - `delivered_seq` / `read_seq` beyond the last seq (clamped), an `unread` larger
//!   than the messages after `read_seq` (recounted).
//!
//! Not derivable, so only reported: messages missing below the guard (the guard stays:
//! their seqs are never handed out again), and values that do not decode.

use std::collections::{HashMap, HashSet};

use super::check::detail;
use super::codec::{be, dedupe_key, member_key, message_key, read_be};
use super::records::{decode, encode};
use super::{ConvRecord, MemberState, MessageRecord, Store};
use crate::error::Result;

/// What the start-up pass did and found.
#[derive(Debug, Clone, Default)]
pub struct StartupRepair {
    /// One line per repair made.
    pub repaired: Vec<String>,
    /// One line per problem that could not be repaired (see `chatnode check`).
    pub unrepairable: Vec<String>,
    /// Conversations looked at.
    pub conversations: u64,
    /// Member states looked at.
    pub members: u64,
}

/// A conversation as the pass sees it.
struct Conv {
    record: ConvRecord,
    /// The seq below which every seq is taken: max(guard, newest message).
    last: u64,
}

impl Store {
    /// Runs the fast check and repairs what can be derived; call before serving.
    pub fn repair_on_start(&self) -> Result<StartupRepair> {
        let mut out = StartupRepair::default();
        let convs = self.repair_conversations(&mut out)?;
        self.repair_members(&convs, &mut out)?;
        if !out.repaired.is_empty() {
            self.flush_now()?;
        }
        Ok(out)
    }

    fn repair_conversations(&self, out: &mut StartupRepair) -> Result<HashMap<u64, Conv>> {
        let mut convs = HashMap::new();
        for kv in self.convs.iter() {
            let (k, v) = kv?;
            let conv = read_be(&k)?;
            let record: ConvRecord = match decode(&v) {
                Ok(r) => r,
                Err(e) => {
                    out.unrepairable.push(format!(
                        "conversation {conv}: record does not decode: {}",
                        detail(&e)
                    ));
                    continue;
                }
            };
            out.conversations += 1;
            let guard = self.last_seq(conv)?;
            let newest = self
                .messages
                .range(message_key(conv, 0)..message_key(conv + 1, 0))
                .next_back()
                .transpose()?;
            let (newest_seq, newest_record) = match newest {
                Some((k, v)) => (read_be(&k[8..])?, decode::<MessageRecord>(&v).ok()),
                // everything sealed (sealing keeps the newest as single keys, so only a
                // store cut short): the newest sealed entry
                None => match self.entries(conv, 1, u64::MAX, true).next() {
                    Some(Ok((seq, m))) => (seq, Some(m)),
                    _ => (0, None),
                },
            };
            let mut scan = false;
            if newest_seq > guard {
                let ((), _ticket) = self.write(|| {
                    self.last_seqs.insert(be(conv), &be(newest_seq))?;
                    Ok(())
                })?;
                out.repaired.push(format!(
                    "conversation {conv}: last-seq guard {guard} lagged behind message {newest_seq}; set to {newest_seq}"
                ));
                scan = true;
            } else if guard > newest_seq {
                out.unrepairable.push(format!(
                    "conversation {conv}: last-seq guard is {guard} but the newest stored message is \
                     {newest_seq}: messages are missing (their seqs stay reserved); run `chatnode check`"
                ));
            }
            let pruned = self.compaction_state(conv)?.deduped_upto;
            if let Some(m) = newest_record.as_ref().filter(|_| newest_seq > pruned) {
                if !m.client_id.is_empty()
                    && self
                        .dedupe
                        .get(dedupe_key(&m.sender, &m.client_id))?
                        .is_none()
                {
                    scan = true;
                }
            }
            if scan {
                self.restore_dedupe(conv, out)?;
            }
            convs.insert(
                conv,
                Conv {
                    record,
                    last: guard.max(newest_seq),
                },
            );
        }
        if let Some(max) = convs.keys().max().copied() {
            let counter = match self.meta.get("next_conv")? {
                Some(v) => read_be(&v)?,
                None => 0,
            };
            if counter < max {
                let ((), _ticket) = self.write(|| {
                    self.meta.insert("next_conv", &be(max))?;
                    Ok(())
                })?;
                out.repaired.push(format!(
                    "conversation id counter was {counter} but conversation {max} exists; set to {max}"
                ));
            }
        }
        Ok(convs)
    }

    /// Writes the dedupe entries missing for messages of `conv`.
    fn restore_dedupe(&self, conv: u64, out: &mut StartupRepair) -> Result<()> {
        let mut restored = 0;
        // entries up to `deduped_upto` lost theirs on purpose (compaction)
        let pruned = self.compaction_state(conv)?.deduped_upto;
        for kv in self
            .messages
            .range(message_key(conv, pruned + 1)..message_key(conv + 1, 0))
        {
            let (k, v) = kv?;
            let Ok(m) = decode::<MessageRecord>(&v) else {
                continue;
            };
            if m.client_id.is_empty() {
                continue;
            }
            let key = dedupe_key(&m.sender, &m.client_id);
            if self.dedupe.get(&key)?.is_none() {
                let ((), _ticket) = self.write(|| {
                    self.dedupe.insert(key, k.as_ref())?;
                    Ok(())
                })?;
                restored += 1;
            }
        }
        if restored > 0 {
            out.repaired.push(format!(
                "conversation {conv}: restored {restored} missing dedupe entries"
            ));
        }
        Ok(())
    }

    fn repair_members(&self, convs: &HashMap<u64, Conv>, out: &mut StartupRepair) -> Result<()> {
        let mut seen: HashSet<(u64, String)> = HashSet::new();
        for kv in self.members.iter() {
            let (k, v) = kv?;
            let Some(at) = k.iter().position(|b| *b == 0) else {
                out.unrepairable
                    .push(format!("member state key {} is malformed", hex::encode(&k)));
                continue;
            };
            let user = String::from_utf8_lossy(&k[..at]).into_owned();
            let conv = read_be(&k[at + 1..])?;
            out.members += 1;
            let Some(c) = convs.get(&conv).filter(|c| c.record.has_member(&user)) else {
                let ((), _ticket) = self.write(|| {
                    self.members.remove(&k)?;
                    Ok(())
                })?;
                out.repaired.push(format!(
                    "removed the state of {user:?} in conversation {conv}: the conversation's record does not list them"
                ));
                continue;
            };
            let state: MemberState = match decode(&v) {
                Ok(s) => s,
                Err(e) => {
                    out.unrepairable.push(format!(
                        "state of {user:?} in conversation {conv} does not decode: {}",
                        detail(&e)
                    ));
                    seen.insert((conv, user));
                    continue;
                }
            };
            let mut fixed = state.clone();
            if fixed.delivered_seq > c.last || fixed.read_seq > c.last {
                fixed.delivered_seq = fixed.delivered_seq.min(c.last);
                fixed.read_seq = fixed.read_seq.min(c.last);
                out.repaired.push(format!(
                    "{user:?} in conversation {conv}: delivered {} / read {} beyond the last seq {}; clamped",
                    state.delivered_seq, state.read_seq, c.last
                ));
            }
            if fixed.unread > c.last - fixed.read_seq {
                fixed.unread = self.count_unread(conv, &user, fixed.read_seq, c.last)?;
                out.repaired.push(format!(
                    "{user:?} in conversation {conv}: unread {} exceeded the messages after read seq {}; recounted {}",
                    state.unread, fixed.read_seq, fixed.unread
                ));
            }
            if fixed != state {
                let bytes = encode(&fixed)?;
                let ((), _ticket) = self.write(|| {
                    self.members.insert(&k, bytes)?;
                    Ok(())
                })?;
            }
            seen.insert((conv, user));
        }
        for (conv, c) in convs {
            for m in &c.record.members {
                if seen.contains(&(*conv, m.clone())) {
                    continue;
                }
                let state = MemberState {
                    unread: self.count_unread(*conv, m, 0, c.last)?,
                    ..MemberState::default()
                };
                let bytes = encode(&state)?;
                let ((), _ticket) = self.write(|| {
                    self.members.insert(member_key(m, *conv), bytes)?;
                    Ok(())
                })?;
                out.repaired.push(format!(
                    "{m:?} is listed in conversation {conv} but had no state; created it (unread {})",
                    state.unread
                ));
            }
        }
        Ok(())
    }
}
