//! `convseq_message`: one message (or event) of a conversation.

use serde::{Deserialize, Serialize};

use super::{StoredKind, Versioned};
use crate::error::{Error, Result};
use crate::protocol::{MessageView, Reactions};
use crate::store::codec::from_body;

/// `convseq_message`: one message.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
// `remote = "Self"`: serde derives the functions but not the Serialize trait, so the
// record can only be stored through `records::encode`, never in layout 1 by `codec::encode`.
#[serde(remote = "Self")]
pub struct MessageRecord {
    /// Sender's username.
    pub sender: String,
    /// Sender's dedupe id.
    pub client_id: String,
    /// What it is.
    pub kind: StoredKind,
    /// Text; emptied on recall.
    pub body: String,
    /// Media link.
    pub media_url: Option<String>,
    /// Server time, ms.
    pub ts: u64,
    /// Recalled by the sender.
    pub recalled: bool,
    /// The seq of the message this one answers (layout 2; format 1: none).
    pub reply_to: Option<u64>,
    /// Usernames mentioned (layout 2; format 1: none).
    pub mentions: Vec<String>,
    /// When the body was last edited, ms (layout 2; format 1: never).
    pub edited_ts: Option<u64>,
    /// Reactions: emoji -> users in the order they reacted, emoji in first-reaction
    /// order (layout 2; format 1: none).
    pub reactions: Vec<(String, Vec<String>)>,
    /// For events: the seq of the message they are about (layout 2; format 1: none).
    pub target: Option<u64>,
    /// For reaction events: added (true) or taken back (false) (layout 2; format 1: none).
    pub on: Option<bool>,
}

/// Layout 1 (store format 1), kept to read old values.
#[derive(Deserialize, Serialize)]
struct Layout1 {
    sender: String,
    client_id: String,
    kind: StoredKind,
    body: String,
    media_url: Option<String>,
    ts: u64,
    recalled: bool,
}

impl From<Layout1> for MessageRecord {
    fn from(v: Layout1) -> Self {
        MessageRecord {
            sender: v.sender,
            client_id: v.client_id,
            kind: v.kind,
            body: v.body,
            media_url: v.media_url,
            ts: v.ts,
            recalled: v.recalled,
            ..MessageRecord::default()
        }
    }
}

layout_body!(MessageRecord);

impl Versioned for MessageRecord {
    const LAYOUT: u8 = 2;
    const NAME: &'static str = "message";

    fn decode_layout(layout: u8, body: &[u8]) -> Result<Self> {
        match layout {
            1 => from_body::<Layout1>(body).map(Into::into),
            2 => Self::from_layout_body(body),
            other => Err(Error::Internal(format!("no message layout {other}"))),
        }
    }

    fn encode_body(&self) -> Result<Vec<u8>> {
        self.to_layout_body()
    }
}

impl MessageRecord {
    /// The wire object for this record at (conv, seq).
    pub fn view(self, conv: u64, seq: u64) -> MessageView {
        MessageView {
            conv,
            seq,
            sender: self.sender,
            client_id: self.client_id,
            kind: self.kind.wire(),
            body: self.body,
            media_url: self.media_url,
            ts: self.ts,
            recalled: self.recalled,
            reply_to: self.reply_to,
            mentions: self.mentions,
            edited_ts: self.edited_ts,
            reactions: Reactions(self.reactions),
            target: self.target,
            on: self.on,
        }
    }

    /// Whether it counts toward `mentions` of `user`: unread for them and naming them.
    pub fn mentions_for(&self, user: &str) -> bool {
        self.counts_as_unread_for(user) && self.mentions.iter().any(|m| m == user)
    }

    /// Whether it counts toward `unread` of `user`: others' live messages, not `system`
    /// messages or events. The one statement of that rule: the live counters
    /// (`store::messages`) and `chatnode check` both ask here.
    pub fn counts_as_unread_for(&self, user: &str) -> bool {
        self.counts_as_unread() && self.sender != user
    }

    /// Whether it counts toward anyone's `unread` (its sender's excepted).
    pub fn counts_as_unread(&self) -> bool {
        !self.recalled && self.kind != StoredKind::System && !self.kind.is_event()
    }
}
