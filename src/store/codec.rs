//! How stored values and keys are laid out on disk.
//!
//! Every value is one layout byte followed by bincode 2 (serde API, standard config), so
//! a later layout can be told apart and migrated. The six versioned records (users,
//! tokens, conversations, members, messages, media) go through
//! [`records::encode`](super::records::encode) and [`records::decode`](super::records::decode),
//! which know each of their layouts; [`encode`] and [`decode`] here are for the simple
//! records of newer trees (layout 1 each, until one of them changes). Keys are raw bytes:
//! ids as big-endian u64 so that byte order is numeric order and range scans are pages.

use serde::{de::DeserializeOwned, Serialize};

use crate::error::{Error, Result};

/// The store's format version, stamped in `meta` as `format_version`: which layouts its
/// values have. Format 1 (chatnode 0.1.0): layout 1 of every record. Format 2: layout 2
/// of the six versioned records (the v1.1 fields). Format 3: older history sealed into
/// chunks (`convseq_chunk`), dedupe entries pruned after a window.
pub const FORMAT_VERSION: u8 = 3;

/// The layout byte [`encode`] writes and [`decode`] reads.
#[allow(dead_code)] // for the records of trees added by v1.1 features
pub const SIMPLE_LAYOUT: u8 = 1;

/// Largest value the decoder will allocate for: a corrupt length prefix must be an
/// error, not a multi-gigabyte allocation that aborts the node.
const MAX_VALUE_BYTES: usize = 4 << 20;

/// Largest decoded history chunk (`records::ChunkRecord`): the compactor seals at most
/// a quarter of it, so edits and reactions folded in later have room.
pub const MAX_CHUNK_BYTES: usize = 16 << 20;

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_VALUE_BYTES>()
}

fn chunk_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_CHUNK_BYTES>()
}

/// The bincode of a chunk's entries (before compression).
pub fn chunk_to_body(entries: &[(u64, Vec<u8>)]) -> Result<Vec<u8>> {
    bincode::serde::encode_to_vec(entries, chunk_config())
        .map_err(|e| Error::Internal(format!("encode: {e}")))
}

/// A chunk's entries from their bincode (after decompression); all of it must be used.
pub fn chunk_from_body(body: &[u8]) -> Result<Vec<(u64, Vec<u8>)>> {
    let (value, used) = bincode::serde::decode_from_slice(body, chunk_config())
        .map_err(|e| Error::Internal(format!("decode: {e}")))?;
    if used != body.len() {
        return Err(Error::Internal(format!(
            "decode: {} bytes after the chunk",
            body.len() - used
        )));
    }
    Ok(value)
}

/// The bincode body of `value` (no layout byte).
pub fn to_body<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    bincode::serde::encode_to_vec(value, bincode_config())
        .map_err(|e| Error::Internal(format!("encode: {e}")))
}

/// A value from a bincode body that must be exactly one value: bytes left over mean
/// the layout byte lied, and are an error.
pub fn from_body<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    let (value, used) = bincode::serde::decode_from_slice(body, bincode_config())
        .map_err(|e| Error::Internal(format!("decode: {e}")))?;
    if used != body.len() {
        return Err(Error::Internal(format!(
            "decode: {} bytes after the value",
            body.len() - used
        )));
    }
    Ok(value)
}

/// Encodes a simple record `value` behind [`SIMPLE_LAYOUT`].
#[allow(dead_code)] // for the records of trees added by v1.1 features
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    let mut out = vec![SIMPLE_LAYOUT];
    bincode::serde::encode_into_std_write(value, &mut out, bincode_config())
        .map_err(|e| Error::Internal(format!("encode: {e}")))?;
    Ok(out)
}

/// Decodes a value written by [`encode`]; a wrong layout or garbage is an error, never a panic.
#[allow(dead_code)] // for the records of trees added by v1.1 features
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    match bytes.split_first() {
        Some((&SIMPLE_LAYOUT, rest)) => from_body(rest),
        Some((v, _)) => Err(Error::Internal(format!(
            "stored value has layout {v}, this build reads {SIMPLE_LAYOUT}"
        ))),
        None => Err(Error::Internal("empty stored value".into())),
    }
}

/// Big-endian bytes of an id.
pub fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

/// Reads a big-endian u64 from the first 8 bytes of `bytes`.
pub fn read_be(bytes: &[u8]) -> Result<u64> {
    bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| Error::Internal("short key".into()))
}

/// Key of a message: conv ++ seq.
pub fn message_key(conv: u64, seq: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&be(conv));
    k[8..].copy_from_slice(&be(seq));
    k
}

/// Key of the history chunk of `conv` that starts at `first` (a multiple of
/// `CHUNK_SEQS`, plus one): conv ++ first, in `convseq_chunk`.
pub fn chunk_key(conv: u64, first: u64) -> [u8; 16] {
    message_key(conv, first)
}

/// The first seq of the chunk that holds `seq` (seqs start at 1).
pub fn chunk_first(seq: u64) -> u64 {
    use super::records::CHUNK_SEQS;
    seq.saturating_sub(1) / CHUNK_SEQS * CHUNK_SEQS + 1
}

/// Key of per-member state: username ++ 0x00 ++ conv. Usernames never contain 0x00.
pub fn member_key(user: &str, conv: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(user.len() + 9);
    k.extend_from_slice(user.as_bytes());
    k.push(0);
    k.extend_from_slice(&be(conv));
    k
}

/// Prefix of all member-state keys of one user.
pub fn member_prefix(user: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(user.len() + 1);
    k.extend_from_slice(user.as_bytes());
    k.push(0);
    k
}

/// Key of a dedupe entry: sender ++ 0x00 ++ client_id.
pub fn dedupe_key(sender: &str, client_id: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(sender.len() + client_id.len() + 1);
    k.extend_from_slice(sender.as_bytes());
    k.push(0);
    k.extend_from_slice(client_id.as_bytes());
    k
}

/// Key of a direct conversation: the two usernames, sorted, joined by 0x00.
pub fn pair_key(a: &str, b: &str) -> Vec<u8> {
    let (x, y) = if a <= b { (a, b) } else { (b, a) };
    let mut k = Vec::with_capacity(x.len() + y.len() + 1);
    k.extend_from_slice(x.as_bytes());
    k.push(0);
    k.extend_from_slice(y.as_bytes());
    k
}

/// Key of a media reference: media id ++ 0x00 ++ conv.
pub fn media_ref_key(media: &str, conv: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(media.len() + 9);
    k.extend_from_slice(media.as_bytes());
    k.push(0);
    k.extend_from_slice(&be(conv));
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_version_check() -> Result<()> {
        let bytes = encode(&("alice".to_string(), 7u64))?;
        assert_eq!(bytes[0], SIMPLE_LAYOUT);
        let back: (String, u64) = decode(&bytes)?;
        assert_eq!(back, ("alice".to_string(), 7));
        let mut newer = bytes.clone();
        newer[0] = SIMPLE_LAYOUT + 1;
        assert!(decode::<(String, u64)>(&newer).is_err());
        assert!(decode::<(String, u64)>(&[]).is_err());
        Ok(())
    }

    #[test]
    fn message_keys_sort_by_seq() {
        assert!(message_key(1, 255) < message_key(1, 256));
        assert!(message_key(1, u64::MAX) < message_key(2, 0));
    }
}
