//! `username_user`: an account.

use serde::{Deserialize, Serialize};

use super::Versioned;
use crate::error::{Error, Result};
use crate::store::codec::from_body;

/// `username_user`: an account.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
// `remote = "Self"`: serde derives the functions but not the Serialize trait, so the
// record can only be stored through `records::encode`, never in layout 1 by `codec::encode`.
#[serde(remote = "Self")]
pub struct UserRecord {
    /// argon2id PHC string; the password itself is never stored.
    pub password_hash: String,
    /// When the account was made, ms.
    pub created_ms: u64,
    /// Name shown instead of the username (layout 2; format 1: none).
    pub display_name: Option<String>,
    /// A `/media/ID` of the user's (layout 2; format 1: none).
    pub avatar_url: Option<String>,
    /// May administer the node (layout 2; format 1: false).
    pub admin: bool,
    /// Cannot log in (layout 2; format 1: false).
    pub disabled: bool,
    /// A tombstone: the account is gone, the name is never reusable (layout 2).
    pub deleted: bool,
    /// Last activity, ms (layout 2; format 1: 0, unknown).
    pub last_seen_ms: u64,
}

/// Layout 1 (store format 1).
#[derive(Deserialize, Serialize)]
struct Layout1 {
    password_hash: String,
    created_ms: u64,
}

layout_body!(UserRecord);

impl Versioned for UserRecord {
    const LAYOUT: u8 = 2;
    const NAME: &'static str = "user";

    fn decode_layout(layout: u8, body: &[u8]) -> Result<Self> {
        match layout {
            1 => from_body::<Layout1>(body).map(|v| UserRecord {
                password_hash: v.password_hash,
                created_ms: v.created_ms,
                ..UserRecord::default()
            }),
            2 => Self::from_layout_body(body),
            other => Err(Error::Internal(format!("no user layout {other}"))),
        }
    }

    fn encode_body(&self) -> Result<Vec<u8>> {
        self.to_layout_body()
    }
}
