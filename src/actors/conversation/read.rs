//! Receipts: `delivered` and `read`, and who sent the newest messages.

use std::collections::{BTreeSet, VecDeque};

use actix::Context;

use super::fanout::Effect;
use super::queue::{Barrier, Waiter};
use super::{Conversation, SessionRef};
use crate::actors::registry::Deliver;
use crate::actors::Push;
use crate::error::{Error, Result};
use crate::protocol::ServerFrame;
use crate::store::{DeliveredMark, QueuedWrite};

/// Senders of the newest stored messages, as indexes into the member list: receipts
/// for `delivered` and `read` name the senders of a seq range, and reading that range
/// from the store would decode every message in it on the actor's thread.
#[derive(Default)]
pub(super) struct RecentSenders {
    /// Seq of `senders[0]`.
    first: u64,
    senders: VecDeque<u32>,
}

impl RecentSenders {
    /// Most seqs remembered (4 bytes each).
    const KEEP: usize = 512;

    /// Records that message `seq` (the next after the last recorded) came from `sender`;
    /// `members` is the conversation's sorted member list.
    pub(super) fn push(&mut self, seq: u64, sender: &str, members: &[String]) {
        let next = self.first + self.senders.len() as u64;
        // The member list is sorted (see `ConvRecord::has_member`).
        let index = members.binary_search_by(|m| m.as_str().cmp(sender)).ok();
        match index {
            Some(i) if self.senders.is_empty() || seq == next => {
                if self.senders.is_empty() {
                    self.first = seq;
                }
                self.senders.push_back(i as u32);
                if self.senders.len() > Self::KEEP {
                    self.senders.pop_front();
                    self.first += 1;
                }
            }
            _ => self.clear(),
        }
    }

    /// Forgets everything (the member list changed, or a seq was missed).
    pub(super) fn clear(&mut self) {
        self.senders.clear();
    }

    /// The senders of seqs in (from, to], if all of them are remembered.
    pub(super) fn senders(
        &self,
        from: u64,
        to: u64,
        members: &[String],
    ) -> Option<BTreeSet<String>> {
        if from >= to {
            return Some(BTreeSet::new());
        }
        let end = self.first + self.senders.len() as u64;
        if self.senders.is_empty() || from + 1 < self.first || to >= end {
            return None;
        }
        let skip = (from + 1 - self.first) as usize;
        let take = (to - from) as usize;
        self.senders
            .iter()
            .skip(skip)
            .take(take)
            .map(|&i| members.get(i as usize).cloned())
            .collect()
    }
}

impl Conversation {
    pub(super) fn delivered(
        &mut self,
        ctx: &mut Context<Self>,
        user: String,
        session: SessionRef,
        seq: u64,
    ) -> Result<()> {
        let mark = DeliveredMark {
            user,
            conv: self.conv,
            upto: seq.min(self.durable_seq),
        };
        self.after(
            ctx,
            Barrier::Append(QueuedWrite::Delivered(mark)),
            Vec::new(),
            Some(Waiter::Session(session, "delivered".into())),
        );
        Ok(())
    }

    pub(super) fn read(
        &mut self,
        ctx: &mut Context<Self>,
        user: String,
        session: SessionRef,
        seq: u64,
    ) -> Result<()> {
        let Some(state) = self.store.member_state(&user, self.conv)? else {
            return Err(Error::NoSuchConversation);
        };
        let upto = seq.min(self.durable_seq);
        if upto <= state.read_seq {
            return Ok(());
        }
        // Count the shorter range: what stays unread, or what was just read.
        let (unread, mentions) = if self.last_seq - upto <= upto - state.read_seq {
            self.store
                .count_unread_mentions(self.conv, &user, upto, self.last_seq)?
        } else {
            let (just_read, just_mentioned) =
                self.store
                    .count_unread_mentions(self.conv, &user, state.read_seq, upto)?;
            (
                state.unread.saturating_sub(just_read),
                state.mentions.saturating_sub(just_mentioned),
            )
        };
        let old = state.read_seq;
        let updated = self.store.update_member_state(&user, self.conv, |s| {
            s.read_seq = s.read_seq.max(upto);
            s.delivered_seq = s.delivered_seq.max(upto);
            s.unread = unread;
            s.mentions = mentions;
        })?;
        let Some((_, ticket)) = updated else {
            return Err(Error::NoSuchConversation);
        };
        let mut effects = self.receipts(&user, old, upto, "read")?;
        effects.push(Effect::Deliver(Deliver {
            users: vec![user].into(),
            push: Push::Frame(
                ServerFrame::Unread {
                    conv: self.conv,
                    count: unread,
                    mentions,
                }
                .to_json()
                .into(),
            ),
            except: Some(session.id),
        }));
        self.after(
            ctx,
            Barrier::Write(ticket),
            effects,
            Some(Waiter::Session(session, "read".into())),
        );
        Ok(())
    }

    /// Receipts to the senders of messages in (from, to], other than `user`.
    pub(super) fn receipts(
        &self,
        user: &str,
        from: u64,
        to: u64,
        status: &'static str,
    ) -> Result<Vec<Effect>> {
        let mut senders = match self.recent.senders(from, to, &self.members) {
            Some(senders) => senders,
            None => self.store.senders_between(self.conv, from, to)?,
        };
        senders.remove(user);
        senders.retain(|s| self.record.has_member(s));
        if senders.is_empty() {
            return Ok(Vec::new());
        }
        let frame = ServerFrame::Receipt {
            conv: self.conv,
            user: user.to_string(),
            status,
            seq: to,
        };
        Ok(vec![Effect::Deliver(Deliver {
            users: senders.into_iter().collect::<Vec<_>>().into(),
            push: Push::Frame(frame.to_json().into()),
            except: None,
        })])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    pub(super) fn recent_senders_answer_only_ranges_they_hold() {
        let members: Vec<String> = ["ann", "bob"].iter().map(|s| s.to_string()).collect();
        let mut recent = RecentSenders::default();
        for (seq, sender) in [(5, "ann"), (6, "bob"), (7, "ann")] {
            recent.push(seq, sender, &members);
        }
        let names = |set: Option<BTreeSet<String>>| set.map(|s| s.into_iter().collect::<Vec<_>>());
        assert_eq!(
            names(recent.senders(4, 5, &members)),
            Some(vec!["ann".into()])
        );
        assert_eq!(
            names(recent.senders(4, 7, &members)),
            Some(vec!["ann".into(), "bob".into()])
        );
        assert_eq!(names(recent.senders(7, 7, &members)), Some(vec![]));
        // outside what it holds: the caller reads the store
        assert_eq!(recent.senders(3, 6, &members), None);
        assert_eq!(recent.senders(5, 8, &members), None);
        // a missed seq or an unknown sender forgets everything
        recent.push(9, "ann", &members);
        assert_eq!(recent.senders(4, 5, &members), None);
        recent.push(10, "ann", &members);
        recent.push(11, "zed", &members);
        assert_eq!(recent.senders(9, 10, &members), None);
        // it keeps the newest KEEP seqs
        for seq in 1..=(RecentSenders::KEEP as u64 + 10) {
            recent.push(seq, "bob", &members);
        }
        assert_eq!(recent.senders(9, 11, &members), None);
        assert!(recent.senders(10, 12, &members).is_some());
    }
}
