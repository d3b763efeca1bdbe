//! `convid_compaction`: how far sealing and dedupe pruning have come in one conversation.

use serde::{Deserialize, Serialize};

use super::Versioned;
use crate::error::{Error, Result};
use crate::store::codec::from_body;

/// `convid_compaction`: how far the two compaction steps have come in one conversation
/// (`store::compaction`); every field only moves forward.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
// `remote = "Self"`: stored only through `records::encode`, never by `codec::encode`.
#[serde(remote = "Self")]
pub struct CompactionState {
    /// Every seq up to here has been considered for sealing (a multiple of
    /// [`CHUNK_SEQS`](super::CHUNK_SEQS)); entries above it are single keys.
    pub sealed_upto: u64,
    /// Dedupe entries of every entry up to here are gone.
    pub deduped_upto: u64,
    /// No entry after `deduped_upto` is older than this (ms), so pruning has nothing to do
    /// before it plus the dedupe window: an idle pass reads no message to know that
    /// (layout 2; layout 1 and 0: unknown, look).
    pub unpruned_since_ms: u64,
}

/// Layout 1 (store format 3, the first with compaction).
#[derive(Deserialize, Serialize)]
struct Layout1 {
    sealed_upto: u64,
    deduped_upto: u64,
}

layout_body!(CompactionState);

impl Versioned for CompactionState {
    const LAYOUT: u8 = 2;
    const NAME: &'static str = "compaction state";

    fn decode_layout(layout: u8, body: &[u8]) -> Result<Self> {
        match layout {
            1 => from_body::<Layout1>(body).map(|v| CompactionState {
                sealed_upto: v.sealed_upto,
                deduped_upto: v.deduped_upto,
                unpruned_since_ms: 0,
            }),
            2 => Self::from_layout_body(body),
            other => Err(Error::Internal(format!(
                "no compaction state layout {other}"
            ))),
        }
    }

    fn encode_body(&self) -> Result<Vec<u8>> {
        self.to_layout_body()
    }
}
