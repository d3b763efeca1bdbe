//! Groups: members added and removed, renames (each with its `system` message), admins,
//! and who may do which (PROTOCOL.md "Groups").

use actix::Context;
use tokio::sync::oneshot;

use super::fanout::Effect;
use super::queue::{Barrier, Waiter};
use super::Conversation;
use crate::actors::registry::Deliver;
use crate::actors::Push;
use crate::error::{Error, Result};
use crate::protocol::ServerFrame;
use crate::store::{self, ConvRecord, MessageRecord, StoredConvKind, StoredKind};

/// A change to a group's record that takes a seq for its `system` message.
struct Planned {
    record: ConvRecord,
    added: Vec<String>,
    removed: Vec<String>,
    body: String,
}

impl Conversation {
    pub(super) fn change_members(
        &mut self,
        ctx: &mut Context<Self>,
        user: String,
        add: Vec<String>,
        remove: Vec<String>,
        reply: oneshot::Sender<Result<()>>,
    ) {
        match self.plan_members(&user, &add, &remove) {
            Ok(Some(plan)) => self.apply(ctx, user, plan, reply),
            Ok(None) => self.after(ctx, Barrier::Read, Vec::new(), Some(Waiter::Http(reply))),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Renames the group: owner or admin; `name` is checked already (1-64 characters).
    pub(super) fn rename(
        &mut self,
        ctx: &mut Context<Self>,
        user: String,
        name: String,
        reply: oneshot::Sender<Result<()>>,
    ) {
        let plan = self.group_admin(&user).map(|()| {
            let mut record = self.record.clone();
            record.name.clone_from(&name);
            Planned {
                record,
                added: Vec::new(),
                removed: Vec::new(),
                body: format!("{user} renamed the group to {name}"),
            }
        });
        match plan {
            Ok(plan) => self.apply(ctx, user, plan, reply),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Makes members admins (`add`) or not (`remove`): the owner only. No seq is taken;
    /// every member gets `conv_update`.
    pub(super) fn set_admins(
        &mut self,
        ctx: &mut Context<Self>,
        user: String,
        add: Vec<String>,
        remove: Vec<String>,
        reply: oneshot::Sender<Result<()>>,
    ) {
        let outcome = self.plan_admins(&user, &add, &remove).and_then(|record| {
            let Some(record) = record else {
                return Ok(None);
            };
            let ticket = self.store.put_conversation(self.conv, &record)?;
            self.record = record;
            Ok(Some(ticket))
        });
        match outcome {
            Ok(Some(ticket)) => {
                let effects = vec![Effect::ConvUpdate(self.members.to_vec())];
                self.after(
                    ctx,
                    Barrier::Write(ticket),
                    effects,
                    Some(Waiter::Http(reply)),
                );
            }
            Ok(None) => self.after(ctx, Barrier::Read, Vec::new(), Some(Waiter::Http(reply))),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Writes `plan` with its `system` message as the next seq (the conversation is at
    /// rest), then tells everyone: the message to old and new members, `conv_update`
    /// to the members after it.
    fn apply(
        &mut self,
        ctx: &mut Context<Self>,
        user: String,
        plan: Planned,
        reply: oneshot::Sender<Result<()>>,
    ) {
        let Planned {
            record,
            added,
            removed,
            body,
        } = plan;
        let seq = self.last_seq + 1;
        let message = MessageRecord {
            sender: user,
            kind: StoredKind::System,
            body,
            ts: store::now_ms(),
            ..Default::default()
        };
        let change = store::MembershipChange {
            conv: self.conv,
            record: &record,
            added: &added,
            removed: &removed,
            seq,
            message: &message,
        };
        match self.store.change_members(&change) {
            Ok(ticket) => {
                let frame = ServerFrame::Message {
                    msg: message.view(self.conv, seq),
                };
                let mut audience: Vec<String> = self.members.to_vec();
                audience.extend(added.iter().cloned());
                self.last_seq = seq;
                self.record = record;
                self.members = self.record.members.clone().into();
                self.recent.clear();
                let effects = vec![
                    Effect::DurableUpTo(seq),
                    Effect::Deliver(Deliver {
                        users: audience.into(),
                        push: Push::Message {
                            conv: self.conv,
                            seq,
                            frame: frame.to_json().into(),
                        },
                        except: None,
                    }),
                    Effect::ConvUpdate(self.members.to_vec()),
                ];
                self.after(
                    ctx,
                    Barrier::Write(ticket),
                    effects,
                    Some(Waiter::Http(reply)),
                );
            }
            Err(e) => {
                self.last_seq = self.store.last_seq(self.conv).unwrap_or(self.last_seq);
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Ok if this is a group and `user` is its owner or an admin.
    fn group_admin(&self, user: &str) -> Result<()> {
        if self.record.kind != StoredConvKind::Group {
            return Err(Error::bad("a direct conversation has no name or roles"));
        }
        if !self.record.is_admin(user) {
            return Err(Error::Forbidden("only the owner or an admin may".into()));
        }
        Ok(())
    }

    /// Checks a membership change against the roles; the plan, or `None` if nothing
    /// would change. Adding others needs an admin unless `groups.members_can_add`;
    /// removing others needs an admin, and the owner is removed by no one (the owner
    /// leaves, handing ownership on); anyone may leave.
    fn plan_members(
        &self,
        user: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<Option<Planned>> {
        if self.record.kind != StoredConvKind::Group {
            return Err(Error::bad("a direct conversation has fixed members"));
        }
        let admin = self.record.is_admin(user);
        let mut added: Vec<String> = add
            .iter()
            .filter(|u| !self.record.has_member(u))
            .cloned()
            .collect();
        added.sort();
        added.dedup();
        if !added.is_empty() && !admin && !self.settings.groups.members_can_add {
            return Err(Error::Forbidden(
                "only the owner or an admin may add members".into(),
            ));
        }
        for u in &added {
            if self.store.user(u)?.is_none() {
                return Err(Error::bad(format!("no such user: {u}")));
            }
        }
        let mut removed: Vec<String> = remove
            .iter()
            .filter(|u| self.record.has_member(u))
            .cloned()
            .collect();
        removed.sort();
        removed.dedup();
        for u in removed.iter().filter(|u| *u != user) {
            if !admin {
                return Err(Error::Forbidden(
                    "only the owner or an admin may remove others".into(),
                ));
            }
            if *u == self.record.owner {
                return Err(Error::Forbidden("the owner cannot be removed".into()));
            }
        }
        removed.retain(|u| !added.contains(u));
        if added.is_empty() && removed.is_empty() {
            return Ok(None);
        }
        let mut record = self.record.clone();
        record.members.extend(added.iter().cloned());
        record.members.sort();
        record.joined.extend(added.iter().cloned());
        let new_owner = record.remove_members(&removed);
        if record.members.len() > self.settings.limits.max_group_members {
            return Err(Error::bad("too many members"));
        }
        let mut parts = Vec::new();
        if !added.is_empty() {
            parts.push(format!("{user} added {}", added.join(", ")));
        }
        if removed.as_slice() == [user.to_string()] {
            parts.push(format!("{user} left"));
        } else if !removed.is_empty() {
            parts.push(format!("{user} removed {}", removed.join(", ")));
        }
        if new_owner && !record.owner.is_empty() {
            parts.push(format!("{} is now the owner", record.owner));
        }
        Ok(Some(Planned {
            record,
            added,
            removed,
            body: parts.join("; "),
        }))
    }

    /// The record with `add` made admins and `remove` not, or `None` if nothing changes.
    fn plan_admins(
        &self,
        user: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<Option<ConvRecord>> {
        if self.record.kind != StoredConvKind::Group {
            return Err(Error::bad("a direct conversation has no admins"));
        }
        if self.record.owner != user {
            return Err(Error::Forbidden("only the owner may choose admins".into()));
        }
        if let Some(u) = add.iter().find(|u| !self.record.has_member(u)) {
            return Err(Error::bad(format!("not a member: {u}")));
        }
        if remove.contains(&self.record.owner) {
            return Err(Error::bad("the owner is always an admin"));
        }
        let mut record = self.record.clone();
        for u in add {
            if !record.admins.contains(u) {
                record.admins.push(u.clone());
            }
        }
        record.admins.retain(|a| !remove.contains(a));
        Ok((record.admins != self.record.admins).then_some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(owner: &str, admins: &[&str], joined: &[&str]) -> ConvRecord {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut members = names(joined);
        members.sort();
        ConvRecord {
            kind: StoredConvKind::Group,
            name: "g".into(),
            members,
            creator: owner.into(),
            created_ms: 0,
            owner: owner.into(),
            admins: names(admins),
            joined: names(joined),
            first_seq: 1,
        }
    }

    #[test]
    fn ownership_goes_to_the_oldest_admin_else_the_oldest_member() {
        let ann = ["ann".to_string()];
        // cat became admin before bob did
        let mut r = group("ann", &["ann", "cat", "bob"], &["ann", "dan", "bob", "cat"]);
        assert!(r.remove_members(&ann));
        assert_eq!(r.owner, "cat");
        assert_eq!(r.admins, vec!["cat".to_string(), "bob".to_string()]);
        assert_eq!(r.members, vec!["bob", "cat", "dan"]);
        let mut r = group("ann", &["ann"], &["ann", "dan", "bob"]);
        assert!(r.remove_members(&ann));
        assert_eq!(r.owner, "dan");
        assert_eq!(r.admins, vec!["dan".to_string()]);
        let mut r = group("ann", &["ann"], &["ann"]);
        assert!(r.remove_members(&ann));
        assert_eq!(r.owner, "");
        let mut r = group("ann", &["ann", "bob"], &["ann", "bob"]);
        assert!(!r.remove_members(&["bob".to_string()]));
        assert_eq!(r.admins, vec!["ann".to_string()]);
    }
}
