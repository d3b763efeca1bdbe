//! Fan-out: what runs once an entry is durable (acks, pushes, conv_update).

use std::sync::Arc;

use tokio::sync::oneshot;

use super::queue::Waiter;
use super::{Conversation, Posted, SessionRef};
use crate::actors::registry::{Deliver, OfflinePush};
use crate::actors::Push;
use crate::error::Result;
use crate::protocol::ServerFrame;
use crate::store::{Landed, StoredKind};
use crate::views::conversation_view;

/// What to do once a pending entry is durable.
pub(super) enum Effect {
    /// Push one frame to one session (an ack).
    Frame(SessionRef, Arc<str>),
    /// Tell one session that what it sent before is answered.
    Settled(SessionRef),
    /// Fan out through the registry.
    Deliver(Deliver),
    /// Everything up to this seq is durable.
    DurableUpTo(u64),
    /// Send each of these users its view of the conversation.
    ConvUpdate(Vec<String>),
    /// Answer an HTTP send.
    Posted(oneshot::Sender<Result<Posted>>, Posted),
}

/// The answer to the origin of a message that landed at (conv, seq): an `ack` frame
/// to a session, the place to an HTTP send.
fn ack(waiter: Option<Waiter>, conv: u64, seq: u64, ts: u64, created: bool) -> Option<Effect> {
    match waiter? {
        Waiter::Session(session, client_id) => {
            let frame = ServerFrame::Ack {
                client_id,
                conv,
                seq,
                ts,
            };
            Some(Effect::Frame(session, frame.to_json().into()))
        }
        Waiter::Post(client_id, tx) => Some(Effect::Posted(
            tx,
            Posted {
                conv,
                seq,
                ts,
                client_id,
                created,
            },
        )),
        Waiter::Http(_) => None,
    }
}

impl Conversation {
    pub(super) fn run(&mut self, effect: Effect) {
        match effect {
            Effect::Frame(session, frame) => session.frame(frame),
            Effect::Settled(session) => session.push(Push::Settled),
            Effect::Deliver(d) => self.registry.do_send(d),
            Effect::DurableUpTo(seq) => self.durable_seq = self.durable_seq.max(seq),
            Effect::Posted(tx, posted) => {
                let _ = tx.send(Ok(posted));
            }
            Effect::ConvUpdate(users) => {
                for user in users {
                    let view =
                        self.store
                            .member_state(&user, self.conv)
                            .and_then(|state| match state {
                                Some(state) => conversation_view(
                                    &self.store,
                                    self.conv,
                                    &self.record,
                                    &state,
                                    &user,
                                    self.durable_seq,
                                )
                                .map(Some),
                                None => Ok(None),
                            });
                    match view {
                        Ok(Some(conversation)) => self.registry.do_send(Deliver {
                            users: vec![user].into(),
                            push: Push::Frame(
                                ServerFrame::conv_update(conversation).to_json().into(),
                            ),
                            except: None,
                        }),
                        Ok(None) => {}
                        Err(e) => tracing::warn!(error = %e, "conv_update view"),
                    }
                }
            }
        }
    }

    /// What follows once the write of pending entry `index` has landed: for a stored
    /// message or event the ack (a recall has none) and the push to the members, for a
    /// retry the first copy's ack, for a `delivered` the receipts.
    pub(super) fn landed(&mut self, index: usize, landed: Landed) -> Vec<Effect> {
        if let Landed::Delivered { user, before, upto } = landed {
            if upto <= before {
                return Vec::new();
            }
            return self
                .receipts(&user, before, upto, "delivered")
                .unwrap_or_else(|e| {
                    tracing::warn!(conv = self.conv, error = %e, "delivered receipts");
                    Vec::new()
                });
        }
        // the answer goes where the command came from
        let waiter = self.pending.get_mut(index).and_then(|p| p.waiter.take());
        let origin = match &waiter {
            Some(Waiter::Session(session, _)) => Some(session.id),
            _ => None,
        };
        let mut effects = Vec::new();
        let (seq, record, counts) = match landed {
            Landed::Stored { seq, record } => (seq, record, Vec::new()),
            Landed::Event {
                seq,
                record,
                counts,
            } => (seq, record, counts),
            Landed::Duplicate { conv, seq, ts } => {
                effects.extend(ack(waiter, conv, seq, ts, false));
                return effects;
            }
            Landed::Unchanged { record } => {
                // a second recall: told again, as in v1 (nothing was stored)
                if let Some(target) = record.target {
                    effects.push(self.recalled(target, record.sender));
                }
                return effects;
            }
            Landed::Delivered { .. } => return effects,
        };
        self.last_seq = self.last_seq.max(seq);
        self.recent.push(seq, &record.sender, &self.members);
        effects.push(Effect::DurableUpTo(seq));
        self.registry.do_send(OfflinePush {
            conv: self.conv,
            seq,
            ts: record.ts,
            sender: record.sender.clone(),
            kind: record.kind,
            members: self.members.clone(),
        });
        let recall = record.kind == StoredKind::Recall;
        if !recall {
            effects.extend(ack(waiter, self.conv, seq, record.ts, true));
        }
        let (target, by) = (record.target, record.sender.clone());
        let message = ServerFrame::Message {
            msg: record.view(self.conv, seq),
        };
        effects.push(Effect::Deliver(Deliver {
            users: self.members.clone(),
            push: Push::Message {
                conv: self.conv,
                seq,
                frame: message.to_json().into(),
            },
            // the socket that sent a message or an edit has its ack; a recall has
            // none, so every socket gets the event
            except: if recall { None } else { origin },
        }));
        if let (true, Some(target)) = (recall, target) {
            effects.push(self.recalled(target, by));
        }
        for c in counts {
            effects.push(Effect::Deliver(Deliver {
                users: vec![c.user].into(),
                push: Push::Frame(
                    ServerFrame::Unread {
                        conv: self.conv,
                        count: c.unread,
                        mentions: c.mentions,
                    }
                    .to_json()
                    .into(),
                ),
                except: None,
            }));
        }
        effects
    }

    /// `recalled` to every member session.
    fn recalled(&self, seq: u64, by: String) -> Effect {
        self.deliver_all(
            ServerFrame::Recalled {
                conv: self.conv,
                seq,
                by,
            },
            None,
        )
    }

    pub(super) fn deliver_all(&self, frame: ServerFrame, except: Option<u64>) -> Effect {
        Effect::Deliver(Deliver {
            users: self.members.clone(),
            push: Push::Frame(frame.to_json().into()),
            except,
        })
    }
}
