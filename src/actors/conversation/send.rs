//! `send` (over WebSocket or HTTP): a member's message handed to the group commit.

use actix::Context;

use super::queue::{Barrier, Waiter};
use super::{Conversation, Outgoing};
use crate::error::{Error, Result};
use crate::store::{self, MessageRecord, QueuedMessage, QueuedWrite};

/// Most mentions one message keeps (PROTOCOL.md).
const MAX_MENTIONS: usize = 50;

impl Conversation {
    /// Checks what `user` sends and makes the record to store: mentions of non-members
    /// are dropped (and repeats), then the list is cut to its first 50. Whether
    /// `reply_to` names a stored non-event is checked where the message is numbered.
    pub(super) fn prepare(&self, user: String, message: Outgoing) -> Result<QueuedMessage> {
        let Outgoing {
            client_id,
            kind,
            body,
            media_url,
            reply_to,
            mentions,
        } = message;
        if let Some(url) = &media_url {
            self.check_media(&user, url)?;
        }
        let kept = members_mentioned(mentions, |name| self.record.has_member(name));
        let record = MessageRecord {
            sender: user,
            client_id,
            kind: kind.into(),
            body,
            media_url,
            ts: store::now_ms(),
            reply_to,
            mentions: kept,
            ..MessageRecord::default()
        };
        Ok(QueuedMessage {
            conv: self.conv,
            record,
            members: self.members.clone(),
        })
    }

    /// Hands `message` to the group commit; `waiter` hears the ack or the error.
    pub(super) fn send(&mut self, ctx: &mut Context<Self>, message: QueuedMessage, waiter: Waiter) {
        self.after(
            ctx,
            Barrier::Append(QueuedWrite::Message(message)),
            Vec::new(),
            Some(waiter),
        );
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

/// The mentions a message keeps: members only, each once, then the first 50.
fn members_mentioned(mentions: Vec<String>, is_member: impl Fn(&str) -> bool) -> Vec<String> {
    let mut kept: Vec<String> = Vec::new();
    for name in mentions {
        if kept.len() == MAX_MENTIONS {
            break;
        }
        if is_member(&name) && !kept.contains(&name) {
            kept.push(name);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_keep_members_once_then_the_first_50() {
        let given: Vec<String> = ["zed", "bob", "bob"]
            .iter()
            .map(|s| s.to_string())
            .chain((0..60).map(|i| format!("u{i}")))
            .collect();
        let kept = members_mentioned(given, |n| n != "zed");
        assert_eq!(kept.len(), 50);
        assert_eq!((kept[0].as_str(), kept[1].as_str()), ("bob", "u0"));
        assert_eq!(kept[49], "u48");
    }
}
