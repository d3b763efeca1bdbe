//! Conversations, their members, and each member's state.

use sled::transaction::{ConflictableTransactionError, Transactional};

use super::codec::{be, member_key, member_prefix, pair_key, read_be};
use super::messages::{write_message_or_abort, MessageTrees};
use super::records::{decode, encode, StoredConvKind};
use super::tx::{tx_decode, tx_encode, tx_result};
use super::{ConvRecord, MemberState, MessageRecord, Store, Ticket};
use crate::error::{Error, Result};

/// A membership change to apply with its `system` message.
pub struct MembershipChange<'a> {
    /// The conversation.
    pub conv: u64,
    /// Its record after the change.
    pub record: &'a ConvRecord,
    /// Usernames that join.
    pub added: &'a [String],
    /// Usernames that leave (their state is deleted: they lose access at once).
    pub removed: &'a [String],
    /// The system message, at this seq.
    pub seq: u64,
    /// What the system message says.
    pub message: &'a MessageRecord,
}

impl Store {
    /// A conversation's record.
    pub fn conversation(&self, conv: u64) -> Result<Option<ConvRecord>> {
        self.convs.get(be(conv))?.map(|v| decode(&v)).transpose()
    }

    /// Creates a group with `members` (the creator included, sorted, deduplicated).
    pub async fn create_group(
        &self,
        creator: &str,
        name: &str,
        members: &[String],
    ) -> Result<(u64, ConvRecord)> {
        let conv = self.next_id("next_conv")?;
        let record = ConvRecord::new(
            StoredConvKind::Group,
            name,
            creator,
            sorted_members(creator, members),
        );
        let value = encode(&record)?;
        let state = encode(&MemberState::default())?;
        self.write_durably(|| {
            tx_result(
                (&self.convs, &self.members).transaction(|(convs, members)| {
                    convs.insert(&be(conv), value.as_slice())?;
                    for m in &record.members {
                        members.insert(member_key(m, conv), state.as_slice())?;
                    }
                    Ok(())
                }),
            )
        })
        .await?;
        Ok((conv, record))
    }

    /// The direct conversation of `a` and `b`, created if missing; `true` if created now.
    pub async fn find_or_create_direct(&self, a: &str, b: &str) -> Result<(u64, ConvRecord, bool)> {
        let key = pair_key(a, b);
        if let Some(found) = self.pairs.get(&key)? {
            let conv = read_be(&found)?;
            if let Some(record) = self.conversation(conv)? {
                return Ok((conv, record, false));
            }
        }
        let conv = self.next_id("next_conv")?;
        let record = ConvRecord::new(
            StoredConvKind::Direct,
            "",
            a,
            sorted_members(a, &[b.to_string()]),
        );
        let value = encode(&record)?;
        let state = encode(&MemberState::default())?;
        let outcome = self
            .write_durably(|| {
                tx_result((&self.pairs, &self.convs, &self.members).transaction(
                    |(pairs, convs, members)| {
                        if let Some(existing) = pairs.get(&key)? {
                            return Ok(Some(
                                read_be(&existing).map_err(ConflictableTransactionError::Abort)?,
                            ));
                        }
                        pairs.insert(key.as_slice(), &be(conv))?;
                        convs.insert(&be(conv), value.as_slice())?;
                        for m in &record.members {
                            members.insert(member_key(m, conv), state.as_slice())?;
                        }
                        Ok(None)
                    },
                ))
            })
            .await?;
        match outcome {
            None => Ok((conv, record, true)),
            Some(existing) => {
                let record = self
                    .conversation(existing)?
                    .ok_or_else(|| Error::Internal("direct index points nowhere".into()))?;
                Ok((existing, record, false))
            }
        }
    }

    /// Changes a group's members and writes the `system` message that says so, atomically.
    pub fn change_members(&self, change: &MembershipChange<'_>) -> Result<Ticket> {
        let value = encode(change.record)?;
        let msg = encode(change.message)?;
        let state = encode(&MemberState::default())?;
        let conv = change.conv;
        let ((), ticket) = self.write(|| {
            tx_result(
                (
                    &self.convs,
                    &self.members,
                    &self.last_seqs,
                    &self.messages,
                    &self.chunks,
                    &self.dedupe,
                    &self.media_refs,
                )
                    .transaction(
                        |(convs, members, last_seqs, messages, chunks, dedupe, media_refs)| {
                            // retention may have moved first_seq since the actor read
                            // its copy of the record: keep the stored one
                            let stored_first = match convs.get(be(conv))? {
                                Some(v) => tx_decode::<ConvRecord>(&v)?.first_seq,
                                None => 1,
                            };
                            if stored_first > change.record.first_seq {
                                let mut record = change.record.clone();
                                record.first_seq = stored_first;
                                convs.insert(&be(conv), tx_encode(&record)?)?;
                            } else {
                                convs.insert(&be(conv), value.as_slice())?;
                            }
                            for m in change.removed {
                                members.remove(member_key(m, conv))?;
                            }
                            for m in change.added {
                                members.insert(member_key(m, conv), state.as_slice())?;
                            }
                            let trees = MessageTrees {
                                last_seqs,
                                messages,
                                chunks,
                                dedupe,
                                members,
                                media_refs,
                            };
                            write_message_or_abort(
                                trees,
                                conv,
                                change.seq,
                                change.message,
                                &msg,
                                &change.record.members,
                            )
                        },
                    ),
            )
        })?;
        Ok(ticket)
    }

    /// Replaces a conversation's record (a change that takes no seq, e.g. its admins).
    pub fn put_conversation(&self, conv: u64, record: &ConvRecord) -> Result<Ticket> {
        let value = encode(record)?;
        let (_, ticket) = self.write(|| Ok(self.convs.insert(be(conv), value.as_slice())?))?;
        Ok(ticket)
    }

    /// One member's state in one conversation; `None` if not a member.
    pub fn member_state(&self, user: &str, conv: u64) -> Result<Option<MemberState>> {
        self.members
            .get(member_key(user, conv))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// All conversations of `user` with the user's state in each.
    pub fn user_conversations(&self, user: &str) -> Result<Vec<(u64, MemberState)>> {
        let prefix = member_prefix(user);
        self.members
            .scan_prefix(&prefix)
            .map(|kv| {
                let (k, v) = kv?;
                Ok((read_be(&k[prefix.len()..])?, decode(&v)?))
            })
            .collect()
    }

    /// Changes one member's state atomically (compare-and-swap); `None` if not a member.
    pub fn update_member_state(
        &self,
        user: &str,
        conv: u64,
        mut change: impl FnMut(&mut MemberState),
    ) -> Result<Option<(MemberState, Ticket)>> {
        let key = member_key(user, conv);
        let (state, ticket) = self.write(|| {
            let mut failure = None;
            let updated = self.members.update_and_fetch(&key, |old| {
                let old = old?;
                match decode::<MemberState>(old) {
                    Ok(mut state) => {
                        change(&mut state);
                        match encode(&state) {
                            Ok(bytes) => Some(bytes),
                            Err(e) => {
                                failure = Some(e);
                                Some(old.to_vec())
                            }
                        }
                    }
                    Err(e) => {
                        failure = Some(e);
                        Some(old.to_vec())
                    }
                }
            })?;
            if let Some(e) = failure {
                return Err(e);
            }
            updated.map(|v| decode::<MemberState>(&v)).transpose()
        })?;
        Ok(state.map(|s| (s, ticket)))
    }
}

/// `first` and `others`, sorted and unique.
fn sorted_members(first: &str, others: &[String]) -> Vec<String> {
    let mut all: Vec<String> = others.to_vec();
    all.push(first.to_string());
    all.sort();
    all.dedup();
    all
}
