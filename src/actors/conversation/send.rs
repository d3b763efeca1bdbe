//! `send`: a member's message handed to the group commit.

use actix::Context;

use super::queue::{Barrier, Waiter};
use super::{Conversation, Outgoing, SessionRef};
use crate::error::{Error, Result};
use crate::store::{self, MessageRecord, QueuedMessage, QueuedWrite};

impl Conversation {
    pub(super) fn send(
        &mut self,
        ctx: &mut Context<Self>,
        user: String,
        session: SessionRef,
        message: Outgoing,
    ) -> Result<()> {
        let Outgoing {
            client_id,
            kind,
            body,
            media_url,
        } = message;
        if let Some(url) = &media_url {
            self.check_media(&user, url)?;
        }
        let record = MessageRecord {
            sender: user,
            client_id: client_id.clone(),
            kind: kind.into(),
            body,
            media_url,
            ts: store::now_ms(),
            ..MessageRecord::default()
        };
        let waiter = Some(Waiter::Session(session, client_id));
        let new = QueuedMessage {
            conv: self.conv,
            record,
            members: self.members.clone(),
        };
        self.after(
            ctx,
            Barrier::Append(QueuedWrite::Message(new)),
            Vec::new(),
            waiter,
        );
        Ok(())
    }

    /// A media link may point at the sender's own upload or at media already shared
    /// with the sender; anything else would leak another user's files.
    pub(super) fn check_media(&self, user: &str, url: &str) -> Result<()> {
        if url.starts_with("https://") || url.starts_with("http://") {
            return Ok(());
        }
        let unknown = || Error::bad("media_url does not name media you may share");
        let id = store::media_id_of(url).ok_or_else(unknown)?;
        match self.store.media_visible_to(user, id)? {
            Some(_) => Ok(()),
            None => Err(unknown()),
        }
    }
}
