//! Fan-out: what runs once an entry is durable (acks, pushes, conv_update).

use std::sync::Arc;

use super::queue::Waiter;
use super::{Conversation, SessionRef};
use crate::actors::registry::Deliver;
use crate::actors::Push;
use crate::protocol::ServerFrame;
use crate::store::Landed;
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
}

impl Conversation {
    pub(super) fn run(&mut self, effect: Effect) {
        match effect {
            Effect::Frame(session, frame) => session.frame(frame),
            Effect::Settled(session) => session.push(Push::Settled),
            Effect::Deliver(d) => self.registry.do_send(d),
            Effect::DurableUpTo(seq) => self.durable_seq = self.durable_seq.max(seq),
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
    /// message the ack and the push to the members, for a retry the first copy's ack,
    /// for a `delivered` the receipts.
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
        let Some(Waiter::Session(session, client_id)) =
            self.pending.get(index).and_then(|p| p.waiter.as_ref())
        else {
            return Vec::new();
        };
        let session = session.clone();
        let ack = |conv, seq, ts| {
            let frame = ServerFrame::Ack {
                client_id: client_id.clone(),
                conv,
                seq,
                ts,
            };
            Effect::Frame(session.clone(), frame.to_json().into())
        };
        match landed {
            Landed::Stored { seq, record } => {
                let ack = ack(self.conv, seq, record.ts);
                self.last_seq = self.last_seq.max(seq);
                self.recent.push(seq, &record.sender, &self.members);
                let message = ServerFrame::Message {
                    msg: record.view(self.conv, seq),
                };
                vec![
                    Effect::DurableUpTo(seq),
                    ack,
                    Effect::Deliver(Deliver {
                        users: self.members.clone(),
                        push: Push::Message {
                            conv: self.conv,
                            seq,
                            frame: message.to_json().into(),
                        },
                        except: Some(session.id),
                    }),
                ]
            }
            Landed::Duplicate { conv, seq, ts } => vec![ack(conv, seq, ts)],
            Landed::Delivered { .. } => Vec::new(),
        }
    }

    pub(super) fn deliver_all(&self, frame: ServerFrame, except: Option<u64>) -> Effect {
        Effect::Deliver(Deliver {
            users: self.members.clone(),
            push: Push::Frame(frame.to_json().into()),
            except,
        })
    }
}
