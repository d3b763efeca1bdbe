//! Uploaded media: records, files, who may fetch them, quota and clean-up.
//!
//! The bytes of media ID live in data_dir/media/ID, its thumbnail (if any) in
//! data_dir/media/ID.thumb; an upload is written to ID.part and renamed once fsync'd.
//! `mediaconv_ref` says which conversations' messages link a file; its value is the
//! highest seq of that conversation that links it (empty in stores written before),
//! so retention knows when the last such message has expired.

use std::path::{Path, PathBuf};

use super::codec::read_be;
use super::records::{decode, encode};
use super::{MediaRecord, Store};
use crate::error::Result;

/// Suffix of a thumbnail file beside its media file.
pub const THUMB_SUFFIX: &str = ".thumb";
/// Suffix of an upload still being written.
pub const PART_SUFFIX: &str = ".part";

/// Whether `id` has the shape of a media id (32 lowercase hex digits).
pub fn valid_media_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Store {
    /// Where the bytes of media `id` live.
    pub fn media_path(&self, id: &str) -> PathBuf {
        self.media_dir.join(id)
    }

    /// Where the thumbnail of media `id` lives (when its record says it has one).
    pub fn thumb_path(&self, id: &str) -> PathBuf {
        self.media_dir.join(format!("{id}{THUMB_SUFFIX}"))
    }

    /// Where an upload of media `id` is written before it is complete.
    pub fn part_path(&self, id: &str) -> PathBuf {
        self.media_dir.join(format!("{id}{PART_SUFFIX}"))
    }

    /// The media directory.
    pub fn media_dir(&self) -> &Path {
        &self.media_dir
    }

    /// Records an upload whose bytes are already fsync'd at [`Store::media_path`].
    pub async fn put_media(&self, id: &str, record: &MediaRecord) -> Result<()> {
        let value = encode(record)?;
        self.write_durably(|| {
            self.media.insert(id, value)?;
            Ok(())
        })
        .await
    }

    /// An upload's record.
    pub fn media(&self, id: &str) -> Result<Option<MediaRecord>> {
        self.media.get(id)?.map(|v| decode(&v)).transpose()
    }

    /// Conversations whose messages reference media `id`.
    pub fn media_conversations(&self, id: &str) -> Result<Vec<u64>> {
        let mut prefix = id.as_bytes().to_vec();
        prefix.push(0);
        self.media_refs
            .scan_prefix(&prefix)
            .keys()
            .map(|k| read_be(&k?[prefix.len()..]))
            .collect()
    }

    /// Media `id` if `user` may fetch it, or link it in a message: the uploader may,
    /// everyone may see a profile picture (`avatar_url`), and every current member of a
    /// conversation whose messages link it may. This is the
    /// one rule for both (GET /media, thumbnails, and `send` with a `media_url`); anyone
    /// else is told the media does not exist.
    pub fn media_visible_to(&self, user: &str, id: &str) -> Result<Option<MediaRecord>> {
        if !valid_media_id(id) {
            return Ok(None);
        }
        let Some(media) = self.media(id)? else {
            return Ok(None);
        };
        if media.uploader == user || self.media_is_avatar(id, &media)? {
            // a user's picture is seen by everyone who sees the user
            return Ok(Some(media));
        }
        for conv in self.media_conversations(id)? {
            if self.member_state(user, conv)?.is_some() {
                return Ok(Some(media));
            }
        }
        Ok(None)
    }

    /// Bytes of all of `user`'s uploads (against `media.quota_mb`). A scan of the media
    /// records: uploads are rare and a node holds thousands of them, not millions.
    pub fn media_usage(&self, user: &str) -> Result<u64> {
        let mut total = 0u64;
        for v in self.media.iter().values() {
            let record: MediaRecord = decode(&v?)?;
            if record.uploader == user {
                total = total.saturating_add(record.size);
            }
        }
        Ok(total)
    }

    /// Media that no message links, that are no profile picture, and that were uploaded
    /// before `created_before_ms`
    /// (orphans to delete), at most `limit` of them.
    pub fn orphan_media(&self, created_before_ms: u64, limit: usize) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for kv in self.media.iter() {
            if out.len() >= limit {
                break;
            }
            let (k, v) = kv?;
            let record: MediaRecord = decode(&v)?;
            let id = String::from_utf8_lossy(&k).into_owned();
            let unlinked = record.created_ms < created_before_ms
                && self.media_conversations(&id)?.is_empty()
                && !self.media_is_avatar(&id, &record)?;
            if unlinked {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// Deletes media `id` (record, then file and thumbnail) if no message links it;
    /// whether it was deleted. The record goes first and durably: a crash in between
    /// leaves a file with no record, which `chatnode check` lists, never a record whose
    /// file is gone.
    pub async fn delete_media_if_unreferenced(&self, id: &str) -> Result<bool> {
        if !valid_media_id(id) || !self.media_conversations(id)?.is_empty() {
            return Ok(false);
        }
        if let Some(m) = self.media(id)? {
            if self.media_is_avatar(id, &m)? {
                return Ok(false);
            }
        }
        let removed = self
            .write_durably(|| Ok(self.media.remove(id)?.is_some()))
            .await?;
        if removed {
            for path in [self.media_path(id), self.thumb_path(id)] {
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => tracing::warn!(?path, error = %e, "media file not removed"),
                }
            }
        }
        Ok(removed)
    }
}
