//! Group membership changes, with their `system` message.

use actix::Context;
use tokio::sync::oneshot;

use super::fanout::Effect;
use super::queue::{Barrier, Waiter};
use super::Conversation;
use crate::actors::registry::Deliver;
use crate::actors::Push;
use crate::error::{Error, Result};
use crate::protocol::ServerFrame;
use crate::store::{self, ConvRecord, MessageRecord};
use crate::store::{StoredConvKind, StoredKind};

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
            Ok(Some((record, added, removed, body))) => {
                let seq = self.last_seq + 1;
                let message = MessageRecord {
                    sender: user,
                    client_id: String::new(),
                    kind: StoredKind::System,
                    body,
                    ts: store::now_ms(),
                    ..MessageRecord::default()
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
            Ok(None) => self.after(ctx, Barrier::Read, Vec::new(), Some(Waiter::Http(reply))),
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Checks a membership change; the new record, who joins, who leaves and the
    /// system message's text, or `None` if nothing would change.
    #[allow(clippy::type_complexity)]
    pub(super) fn plan_members(
        &self,
        user: &str,
        add: &[String],
        remove: &[String],
    ) -> Result<Option<(ConvRecord, Vec<String>, Vec<String>, String)>> {
        if self.record.kind != StoredConvKind::Group {
            return Err(Error::bad("a direct conversation has fixed members"));
        }
        let mut added: Vec<String> = add
            .iter()
            .filter(|u| !self.record.has_member(u))
            .cloned()
            .collect();
        added.sort();
        added.dedup();
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
        if removed.iter().any(|u| u != user) && self.record.creator != user {
            return Err(Error::Forbidden(
                "only the group's creator may remove others".into(),
            ));
        }
        removed.retain(|u| !added.contains(u));
        if added.is_empty() && removed.is_empty() {
            return Ok(None);
        }
        let mut record = self.record.clone();
        record.members.extend(added.iter().cloned());
        record.members.retain(|m| !removed.contains(m));
        record.members.sort();
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
        Ok(Some((record, added, removed, parts.join("; "))))
    }
}
