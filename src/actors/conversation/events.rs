//! Changes to stored messages (edit, reaction, recall): each is queued like a message
//! and stored as the next seq; the group commit checks it against its target (see
//! `store::events`), so the actor never reads the store for it.

use actix::Context;

use super::queue::{Barrier, Waiter};
use super::{Conversation, SessionRef};
use crate::error::{Error, Result};
use crate::protocol::MessageKind;
use crate::store::{self, MessageRecord, QueuedEvent, QueuedWrite};

/// One change a member asks for.
pub(super) struct Change {
    kind: MessageKind,
    target: u64,
    body: String,
    on: Option<bool>,
    client_id: String,
}

impl Change {
    /// A change of `kind` to message `target`.
    pub(super) fn new(kind: MessageKind, target: u64, body: String, on: Option<bool>) -> Self {
        Change {
            kind,
            target,
            body,
            on,
            client_id: String::new(),
        }
    }

    /// With its dedupe id (edits and reactions; a recall has none).
    pub(super) fn with_id(mut self, client_id: String) -> Self {
        self.client_id = client_id;
        self
    }
}

impl Conversation {
    /// Queues `change` from `user`; errors and the `ack` go to `session`.
    pub(super) fn change(
        &mut self,
        ctx: &mut Context<Self>,
        user: String,
        session: SessionRef,
        change: Change,
    ) -> Result<()> {
        if change.target == 0 {
            return Err(Error::bad("no such message"));
        }
        let m = &self.settings.messages;
        let window_secs = match change.kind {
            MessageKind::Edit => m.edit_window_secs,
            MessageKind::Recall => m.recall_window_secs,
            _ => 0,
        };
        let reference = match change.client_id.is_empty() {
            true => "recall".to_string(),
            false => change.client_id.clone(),
        };
        let record = MessageRecord {
            sender: user,
            client_id: change.client_id,
            kind: change.kind.into(),
            body: change.body,
            ts: store::now_ms(),
            target: Some(change.target),
            on: change.on,
            ..Default::default()
        };
        let event = QueuedEvent {
            conv: self.conv,
            record,
            window_ms: window_secs.saturating_mul(1000),
            members: self.members.clone(),
        };
        self.after(
            ctx,
            Barrier::Append(QueuedWrite::Event(event)),
            Vec::new(),
            Some(Waiter::Session(session, reference)),
        );
        Ok(())
    }
}
