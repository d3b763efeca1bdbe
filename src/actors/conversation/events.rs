//! Changes to stored messages: recall.

use actix::Context;

use super::fanout::Effect;
use super::queue::{Barrier, Waiter};
use super::{Conversation, SessionRef};
use crate::actors::registry::Deliver;
use crate::actors::Push;
use crate::error::{Error, Result};
use crate::protocol::ServerFrame;
use crate::store;

impl Conversation {
    pub(super) fn recall(
        &mut self,
        ctx: &mut Context<Self>,
        user: String,
        session: SessionRef,
        seq: u64,
    ) -> Result<()> {
        if seq == 0 || seq > self.durable_seq {
            return Err(Error::bad("no such message"));
        }
        let msg = self
            .store
            .message(self.conv, seq)?
            .ok_or_else(|| Error::bad("no such message"))?;
        if msg.sender != user || msg.kind == store::StoredKind::System {
            return Err(Error::NotSender);
        }
        let window = self
            .settings
            .messages
            .recall_window_secs
            .saturating_mul(1000);
        if store::now_ms().saturating_sub(msg.ts) > window {
            return Err(Error::RecallWindowPassed);
        }
        let (changed, ticket) = self.store.recall(self.conv, seq, &self.members)?;
        let mut effects = vec![self.deliver_all(
            ServerFrame::Recalled {
                conv: self.conv,
                seq,
                by: user,
            },
            None,
        )];
        for (member, count) in changed {
            effects.push(Effect::Deliver(Deliver {
                users: vec![member].into(),
                push: Push::Frame(
                    ServerFrame::Unread {
                        conv: self.conv,
                        count,
                    }
                    .to_json()
                    .into(),
                ),
                except: None,
            }));
        }
        self.after(
            ctx,
            Barrier::Write(ticket),
            effects,
            Some(Waiter::Session(session, "recall".into())),
        );
        Ok(())
    }
}
