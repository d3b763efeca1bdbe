//! `userconv_state`: one member's view of one conversation.

use serde::{Deserialize, Serialize};

use super::Versioned;
use crate::error::{Error, Result};
use crate::store::codec::from_body;

/// `userconv_state`: one member's view of one conversation.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
// `remote = "Self"`: serde derives the functions but not the Serialize trait, so the
// record can only be stored through `records::encode`, never in layout 1 by `codec::encode`.
#[serde(remote = "Self")]
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
    /// Unread messages that mention the member (layout 2; format 1: 0).
    pub mentions: u64,
    /// No notifications (layout 2; format 1: false).
    pub muted: bool,
}

/// Layout 1 (store format 1).
#[derive(Deserialize, Serialize)]
struct Layout1 {
    read_seq: u64,
    delivered_seq: u64,
    unread: u64,
    pinned: bool,
    hidden: bool,
}

layout_body!(MemberState);

impl Versioned for MemberState {
    const LAYOUT: u8 = 2;
    const NAME: &'static str = "member state";

    fn decode_layout(layout: u8, body: &[u8]) -> Result<Self> {
        match layout {
            1 => from_body::<Layout1>(body).map(|v| MemberState {
                read_seq: v.read_seq,
                delivered_seq: v.delivered_seq,
                unread: v.unread,
                pinned: v.pinned,
                hidden: v.hidden,
                ..MemberState::default()
            }),
            2 => Self::from_layout_body(body),
            other => Err(Error::Internal(format!("no member state layout {other}"))),
        }
    }

    fn encode_body(&self) -> Result<Vec<u8>> {
        self.to_layout_body()
    }
}
