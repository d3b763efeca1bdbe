//! `tokenhash_token`: a login token, keyed by the SHA-256 of the token.

use serde::{Deserialize, Serialize};

use super::Versioned;
use crate::error::{Error, Result};
use crate::store::codec::from_body;

/// `tokenhash_token`: a login token (a device's session).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
// `remote = "Self"`: serde derives the functions but not the Serialize trait, so the
// record can only be stored through `records::encode`, never in layout 1 by `codec::encode`.
#[serde(remote = "Self")]
pub struct TokenRecord {
    /// Owner.
    pub user: String,
    /// Expiry, ms since the epoch.
    pub expires_ms: u64,
    /// When it was issued, ms (layout 2; format 1: 0, unknown).
    pub created_ms: u64,
    /// Last use, ms (layout 2; format 1: 0, unknown).
    pub last_seen_ms: u64,
    /// The User-Agent that logged in (layout 2; format 1: "").
    pub agent: String,
}

/// Layout 1 (store format 1).
#[derive(Deserialize, Serialize)]
struct Layout1 {
    user: String,
    expires_ms: u64,
}

layout_body!(TokenRecord);

impl Versioned for TokenRecord {
    const LAYOUT: u8 = 2;
    const NAME: &'static str = "token";

    fn decode_layout(layout: u8, body: &[u8]) -> Result<Self> {
        match layout {
            1 => from_body::<Layout1>(body).map(|v| TokenRecord {
                user: v.user,
                expires_ms: v.expires_ms,
                ..TokenRecord::default()
            }),
            2 => Self::from_layout_body(body),
            other => Err(Error::Internal(format!("no token layout {other}"))),
        }
    }

    fn encode_body(&self) -> Result<Vec<u8>> {
        self.to_layout_body()
    }
}
