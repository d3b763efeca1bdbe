//! `convseq_chunk`: up to [`CHUNK_SEQS`] consecutive entries of a conversation's older
//! history in one value, so that a sealed message costs no sled key of its own.

use super::Versioned;
use crate::error::{Error, Result};
use crate::store::codec::{chunk_from_body, chunk_to_body, MAX_CHUNK_BYTES};

/// Seqs one chunk covers: chunk `n` of a conversation holds seqs `n * CHUNK_SEQS + 1 ..=
/// (n + 1) * CHUNK_SEQS`, so the chunk of any seq is known without a search.
pub const CHUNK_SEQS: u64 = 128;

/// zstd's level for chunks: its default, the usual balance of ratio and speed.
const ZSTD_LEVEL: i32 = 3;

/// `convseq_chunk`: sealed entries, ascending by seq. Each entry keeps its own stored
/// bytes (a [`MessageRecord`](super::MessageRecord) value with its layout byte), so
/// message layouts keep their own versions inside a chunk. Stored as layout byte 1,
/// then zstd of the bincode of the entries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChunkRecord {
    /// (seq, stored message bytes), ascending by seq, all in one chunk's range.
    pub entries: Vec<(u64, Vec<u8>)>,
}

impl ChunkRecord {
    /// The stored bytes of entry `seq`, if the chunk holds it.
    pub fn get(&self, seq: u64) -> Option<&[u8]> {
        self.entries
            .binary_search_by_key(&seq, |e| e.0)
            .ok()
            .map(|i| self.entries[i].1.as_slice())
    }

    /// Replaces the stored bytes of entry `seq`; false if the chunk does not hold it.
    pub fn set(&mut self, seq: u64, bytes: Vec<u8>) -> bool {
        match self.entries.binary_search_by_key(&seq, |e| e.0) {
            Ok(i) => {
                self.entries[i].1 = bytes;
                true
            }
            Err(_) => false,
        }
    }

    /// Bytes of the entries before compression.
    pub fn raw_len(&self) -> usize {
        self.entries.iter().map(|e| e.1.len() + 8).sum()
    }
}

impl Versioned for ChunkRecord {
    const LAYOUT: u8 = 1;
    const NAME: &'static str = "history chunk";

    fn decode_layout(layout: u8, body: &[u8]) -> Result<Self> {
        match layout {
            1 => {
                let raw = zstd::bulk::decompress(body, MAX_CHUNK_BYTES)
                    .map_err(|e| Error::Internal(format!("a history chunk: {e}")))?;
                Ok(ChunkRecord {
                    entries: chunk_from_body(&raw)?,
                })
            }
            other => Err(Error::Internal(format!("no chunk layout {other}"))),
        }
    }

    fn encode_body(&self) -> Result<Vec<u8>> {
        let raw = chunk_to_body(&self.entries)?;
        zstd::bulk::compress(&raw, ZSTD_LEVEL)
            .map_err(|e| Error::Internal(format!("compressing a history chunk: {e}")))
    }
}
