//! The records the store keeps, one type per tree value.

use serde::{Deserialize, Serialize};

use crate::protocol::{ConvKind, MessageKind, MessageView};

/// `username_user`: an account.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct UserRecord {
    /// argon2id PHC string; the password itself is never stored ("" once deleted).
    pub password_hash: String,
    /// When the account was made, ms.
    pub created_ms: u64,
    /// The name shown instead of the username (1-64 characters), if set.
    pub display_name: Option<String>,
    /// `/media/ID` of the user's picture (an upload of the user's own), if set.
    pub avatar_url: Option<String>,
    /// May use the admin routes and commands.
    pub admin: bool,
    /// Cannot log in; its tokens were revoked when it was disabled.
    pub disabled: bool,
    /// A tombstone: the account is gone, its name can never be registered again.
    pub deleted: bool,
    /// When one of its tokens was last used, ms (updated at most once a minute).
    pub last_seen_ms: u64,
}

/// `tokenhash_token`: a login token, keyed by the SHA-256 of the token.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TokenRecord {
    /// Owner.
    pub user: String,
    /// Expiry, ms since the epoch.
    pub expires_ms: u64,
    /// When it was issued, ms.
    pub created_ms: u64,
    /// When it was last used, ms (updated at most once a minute).
    pub last_seen_ms: u64,
    /// The User-Agent of the request that got it (at most 256 bytes).
    pub agent: String,
}

/// `convid_conv`: a conversation's identity and members.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConvRecord {
    /// Direct or group.
    pub kind: ConvKind,
    /// Group name ("" for direct).
    pub name: String,
    /// Usernames, sorted and unique.
    pub members: Vec<String>,
    /// Who made it.
    pub creator: String,
    /// When, ms.
    pub created_ms: u64,
    /// Lowest seq still stored (retention deletes from the front); `last_seq + 1` when
    /// every message has expired, 1 when none has.
    pub first_seq: u64,
}

impl ConvRecord {
    /// Whether `user` is a member.
    pub fn has_member(&self, user: &str) -> bool {
        self.members
            .binary_search_by(|m| m.as_str().cmp(user))
            .is_ok()
    }
}

/// `convseq_message`: one message.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageRecord {
    /// Sender's username.
    pub sender: String,
    /// Sender's dedupe id.
    pub client_id: String,
    /// What it is.
    pub kind: MessageKind,
    /// Text; emptied on recall.
    pub body: String,
    /// Media link.
    pub media_url: Option<String>,
    /// Server time, ms.
    pub ts: u64,
    /// Recalled by the sender.
    pub recalled: bool,
}

impl MessageRecord {
    /// The wire object for this record at (conv, seq).
    pub fn view(self, conv: u64, seq: u64) -> MessageView {
        MessageView {
            conv,
            seq,
            sender: self.sender,
            client_id: self.client_id,
            kind: self.kind,
            body: self.body,
            media_url: self.media_url,
            ts: self.ts,
            recalled: self.recalled,
        }
    }

    /// Whether it counts toward `unread` of `user`: others' live, non-system messages.
    pub fn counts_as_unread_for(&self, user: &str) -> bool {
        !self.recalled && self.kind != MessageKind::System && self.sender != user
    }
}

/// `userconv_state`: one member's view of one conversation.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct MemberState {
    /// Read up to here (cumulative).
    pub read_seq: u64,
    /// Delivered to a device up to here (cumulative); the offline queue is what lies after it.
    pub delivered_seq: u64,
    /// Others' messages after `read_seq` (kept, not recomputed per request).
    pub unread: u64,
    /// Pinned to the top of the list.
    pub pinned: bool,
    /// Hidden from the list until a new message arrives.
    pub hidden: bool,
}

/// `mediaid_media`: an uploaded file; the bytes live in data_dir/media/ID.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MediaRecord {
    /// Who uploaded it.
    pub uploader: String,
    /// Its Content-Type.
    pub content_type: String,
    /// Size in bytes.
    pub size: u64,
    /// When, ms.
    pub created_ms: u64,
    /// Name from the uploader's `X-Filename` header.
    pub name: Option<String>,
    /// Pixel width, for images the node could decode (as displayed: EXIF orientation applied).
    pub width: Option<u32>,
    /// Pixel height, likewise.
    pub height: Option<u32>,
    /// A thumbnail file exists beside it (data_dir/media/ID.thumb).
    pub thumb: bool,
}
