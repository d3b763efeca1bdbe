//! The admin commands of the binary: `check`, `backup`, `restore`, `user` and
//! `invite`, and the node's admin socket that lets them run while the node serves.
//!
//! - [`commands`]: what each command does, with progress ([`crate::progress`]).
//! - [`archive`]: the backup file format (header, records, sha256).
//! - [`socket`]: data_dir/admin.sock, through which a running node streams a snapshot
//!   and runs account commands.
//! - [`users`]: `chatnode user ...` and `chatnode invite create`.
//!
//! The store's trees are only touched through [`crate::store`]: a snapshot is streamed
//! by `Store::snapshot` into an [`archive::ArchiveWriter`], a restore replays records
//! into a `store::Importer`.

pub mod archive;
pub mod commands;
pub mod socket;
pub mod users;

use std::{io::Write, path::PathBuf};

use crate::store::{SnapshotSummary, Store};

/// What can go wrong in an admin command; printed to the operator as is.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The store failed or refused (with the detail a client would not see).
    #[error("{0}")]
    Store(String),
    /// A file or socket could not be used.
    #[error("{path:?}: {source}")]
    Io {
        /// Which.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Reading or writing a stream failed.
    #[error("i/o: {0}")]
    Stream(#[from] std::io::Error),
    /// The file does not start like a backup.
    #[error("not a chatnode backup (wrong magic bytes)")]
    NotABackup,
    /// The backup is cut short or malformed.
    #[error("the backup is damaged: {0}")]
    Damaged(String),
    /// The checksum at the end does not match the contents.
    #[error("the backup's checksum does not match its contents: the file is damaged")]
    Checksum,
    /// Written by a build with a newer (or unknown) format.
    #[error("{0}")]
    NewerFormat(String),
    /// Restore refuses to mix a backup with existing data.
    #[error("{0:?} is not empty: restore only into a new or empty directory")]
    NotEmpty(PathBuf),
    /// The running node answered with an error, or something odd is on the socket.
    #[error("the node: {0}")]
    Node(String),
}

impl From<crate::error::Error> for AdminError {
    fn from(e: crate::error::Error) -> Self {
        match e {
            crate::error::Error::Internal(detail) => AdminError::Store(detail),
            other => AdminError::Store(other.to_string()),
        }
    }
}

/// Writes a complete backup archive of `store` (every tree, consistent, then the media
/// files the snapshot records) into `out`; `progress` gets the entries streamed so far.
/// Used by the node's admin socket and by `chatnode backup` on a stopped node alike.
pub fn write_backup<W: Write>(
    store: &Store,
    out: W,
    progress: &mut dyn FnMut(u64),
) -> Result<SnapshotSummary, AdminError> {
    let mut writer =
        archive::ArchiveWriter::new(out, &archive::Header::now(store.format_version()?))?;
    let summary = store.snapshot(&mut writer, progress)?;
    let mut done = summary.entries + summary.overlay;
    for id in &summary.media {
        writer.file(id, &store.media_path(id))?;
        done += 1;
        progress(done);
    }
    writer.finish()?.flush()?;
    Ok(summary)
}
