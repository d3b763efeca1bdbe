//! The backup file format, written and read as a stream.
//!
//! ```text
//! magic        16 bytes  "chatnode-backup\n"
//! version      u16       archive layout (this file: 1)
//! store format u8        FORMAT_VERSION of the store that was copied
//! chatnode     u16 len + UTF-8, the version of the chatnode that wrote it
//! created      u64       ms since the Unix epoch
//! records, each a tag byte:
//!   1 tree     u32 len + name            the following records belong to this tree
//!   2 put      u32 len + key, u32 len + value
//!   3 remove   u32 len + key
//!   4 file     u16 len + media id, u64 len + bytes   a media file (data_dir/media/ID)
//!   255 end    u64 number of records before it
//! sha256       32 bytes  of everything above
//! ```
//!
//! Integers are big-endian. Restoring replays the records in order, so the overlay of a
//! live snapshot (writes during the backup, see `store::snapshot`) is just more records
//! after the base. The checksum covers the whole file and is verified before a restore
//! writes anything; a truncated file has no `end` record and fails the same way.

use std::{
    fs::File,
    io::{self, Read, Write},
    path::Path,
};

use sha2::{Digest, Sha256};

use super::AdminError;
use crate::error::{Error, Result};
use crate::store::{SnapshotSink, FORMAT_VERSION};

/// First bytes of every backup.
pub const MAGIC: &[u8; 16] = b"chatnode-backup\n";

/// The archive layout this build writes and reads.
pub const ARCHIVE_VERSION: u16 = 1;

const TAG_TREE: u8 = 1;
const TAG_PUT: u8 = 2;
const TAG_REMOVE: u8 = 3;
const TAG_FILE: u8 = 4;
const TAG_END: u8 = 255;

/// Largest key, value or tree name accepted when reading (a guard against a damaged
/// length field, not a limit of the store).
const MAX_FIELD: u64 = 1 << 30;

/// What the header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The store format the copied store had.
    pub store_format: u8,
    /// Version of the chatnode that wrote the backup.
    pub chatnode_version: String,
    /// When, ms since the epoch.
    pub created_ms: u64,
}

impl Header {
    /// The header for a backup of a store in `store_format`, written now by this build.
    pub fn now(store_format: u8) -> Self {
        Header {
            store_format,
            chatnode_version: env!("CARGO_PKG_VERSION").to_string(),
            created_ms: crate::store::now_ms(),
        }
    }
}

/// One record of an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// Switch to this tree.
    Tree(Vec<u8>),
    /// Set a key.
    Put(Vec<u8>, Vec<u8>),
    /// Remove a key.
    Remove(Vec<u8>),
    /// A media file.
    File {
        /// Media id (the file name under data_dir/media).
        id: String,
        /// Its bytes.
        data: Vec<u8>,
    },
}

/// Writes an archive to `W`, hashing as it goes.
pub struct ArchiveWriter<W: Write> {
    out: W,
    hasher: Sha256,
    records: u64,
}

impl<W: Write> ArchiveWriter<W> {
    /// Starts an archive: writes the magic and `header`.
    pub fn new(out: W, header: &Header) -> io::Result<Self> {
        let mut w = ArchiveWriter {
            out,
            hasher: Sha256::new(),
            records: 0,
        };
        w.bytes(MAGIC)?;
        w.bytes(&ARCHIVE_VERSION.to_be_bytes())?;
        w.bytes(&[header.store_format])?;
        w.short(header.chatnode_version.as_bytes())?;
        w.bytes(&header.created_ms.to_be_bytes())?;
        Ok(w)
    }

    fn bytes(&mut self, b: &[u8]) -> io::Result<()> {
        self.hasher.update(b);
        self.out.write_all(b)
    }

    fn short(&mut self, b: &[u8]) -> io::Result<()> {
        let len = u16::try_from(b.len()).map_err(|_| io::Error::other("field over 64 KiB"))?;
        self.bytes(&len.to_be_bytes())?;
        self.bytes(b)
    }

    fn field(&mut self, b: &[u8]) -> io::Result<()> {
        let len = u32::try_from(b.len()).map_err(|_| io::Error::other("field over 4 GiB"))?;
        self.bytes(&len.to_be_bytes())?;
        self.bytes(b)
    }

    fn tag(&mut self, tag: u8) -> io::Result<()> {
        self.records += 1;
        self.bytes(&[tag])
    }

    /// Adds the media file `id`, read from `path`.
    pub fn file(&mut self, id: &str, path: &Path) -> io::Result<()> {
        let mut f = File::open(path)?;
        let size = f.metadata()?.len();
        self.tag(TAG_FILE)?;
        self.short(id.as_bytes())?;
        self.bytes(&size.to_be_bytes())?;
        let mut buf = vec![0u8; 64 * 1024];
        let mut left = size;
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            let n = f.read(&mut buf[..want])?;
            if n == 0 {
                return Err(io::Error::other(format!(
                    "media file {path:?} shrank while being copied"
                )));
            }
            self.bytes(&buf[..n])?;
            left -= n as u64;
        }
        Ok(())
    }

    /// Writes the end record and the checksum; returns the output (not yet flushed).
    pub fn finish(mut self) -> io::Result<W> {
        let count = self.records;
        self.bytes(&[TAG_END])?;
        self.bytes(&count.to_be_bytes())?;
        let digest = self.hasher.finalize();
        self.out.write_all(&digest)?;
        Ok(self.out)
    }
}

impl<W: Write> SnapshotSink for ArchiveWriter<W> {
    fn tree(&mut self, name: &[u8]) -> Result<()> {
        self.tag(TAG_TREE)?;
        self.field(name)?;
        Ok(())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.tag(TAG_PUT)?;
        self.field(key)?;
        self.field(value).map_err(Error::from)
    }

    fn remove(&mut self, key: &[u8]) -> Result<()> {
        self.tag(TAG_REMOVE)?;
        self.field(key).map_err(Error::from)
    }
}

/// Reads an archive from `R`, verifying the checksum at the end.
pub struct ArchiveReader<R: Read> {
    inp: R,
    hasher: Sha256,
    header: Header,
    records: u64,
    done: bool,
}

fn damaged(what: impl Into<String>) -> AdminError {
    AdminError::Damaged(what.into())
}

/// Reads exactly `n` bytes; a short read means a truncated archive.
fn read_n<R: Read>(inp: &mut R, n: u64) -> std::result::Result<Vec<u8>, AdminError> {
    let mut out = Vec::with_capacity(usize::try_from(n.min(64 * 1024)).unwrap_or(0));
    inp.by_ref().take(n).read_to_end(&mut out)?;
    if out.len() as u64 != n {
        return Err(damaged(
            "the file ends in the middle of a record (truncated?)",
        ));
    }
    Ok(out)
}

impl<R: Read> ArchiveReader<R> {
    /// Reads and checks the magic and the header: refuses an archive of a newer layout
    /// or of a newer store format, with a message saying which.
    pub fn new(inp: R) -> std::result::Result<Self, AdminError> {
        let mut r = ArchiveReader {
            inp,
            hasher: Sha256::new(),
            header: Header {
                store_format: 0,
                chatnode_version: String::new(),
                created_ms: 0,
            },
            records: 0,
            done: false,
        };
        if r.bytes(16).map_err(|_| AdminError::NotABackup)?.as_slice() != MAGIC {
            return Err(AdminError::NotABackup);
        }
        let version = u16::from_be_bytes(r.array()?);
        let [store_format] = r.array::<1>()?;
        let chatnode_version = String::from_utf8_lossy(&r.short()?).into_owned();
        let created_ms = u64::from_be_bytes(r.array()?);
        if version > ARCHIVE_VERSION {
            return Err(AdminError::NewerFormat(format!(
                "the backup has archive layout {version}, written by chatnode {chatnode_version}; \
                 this build reads layout {ARCHIVE_VERSION}: restore it with chatnode {chatnode_version} or newer"
            )));
        }
        if !(1..=FORMAT_VERSION).contains(&store_format) {
            return Err(AdminError::NewerFormat(crate::store::format_error(&[
                store_format,
            ])));
        }
        r.header = Header {
            store_format,
            chatnode_version,
            created_ms,
        };
        Ok(r)
    }

    /// The header read by [`ArchiveReader::new`].
    pub fn header(&self) -> &Header {
        &self.header
    }

    fn bytes(&mut self, n: u64) -> std::result::Result<Vec<u8>, AdminError> {
        let b = read_n(&mut self.inp, n)?;
        self.hasher.update(&b);
        Ok(b)
    }

    fn array<const N: usize>(&mut self) -> std::result::Result<[u8; N], AdminError> {
        let b = self.bytes(N as u64)?;
        b.try_into().map_err(|_| damaged("short field"))
    }

    fn short(&mut self) -> std::result::Result<Vec<u8>, AdminError> {
        let n = u16::from_be_bytes(self.array()?);
        self.bytes(u64::from(n))
    }

    fn field(&mut self) -> std::result::Result<Vec<u8>, AdminError> {
        let n = u64::from(u32::from_be_bytes(self.array()?));
        if n > MAX_FIELD {
            return Err(damaged(format!("a field claims {n} bytes")));
        }
        self.bytes(n)
    }

    /// The next record; `None` after the end record, once the checksum matched and
    /// nothing follows it.
    pub fn next_record(&mut self) -> std::result::Result<Option<Record>, AdminError> {
        if self.done {
            return Ok(None);
        }
        let [tag] = self.array::<1>()?;
        let record = match tag {
            TAG_TREE => Record::Tree(self.field()?),
            TAG_PUT => {
                let key = self.field()?;
                Record::Put(key, self.field()?)
            }
            TAG_REMOVE => Record::Remove(self.field()?),
            TAG_FILE => {
                let id = String::from_utf8(self.short()?)
                    .map_err(|_| damaged("a media id is not UTF-8"))?;
                let size = u64::from_be_bytes(self.array()?);
                Record::File {
                    id,
                    data: self.bytes(size)?,
                }
            }
            TAG_END => {
                let count = u64::from_be_bytes(self.array()?);
                if count != self.records {
                    return Err(damaged(format!(
                        "the end record counts {count} records, the file has {}",
                        self.records
                    )));
                }
                let want = std::mem::take(&mut self.hasher).finalize();
                let got = read_n(&mut self.inp, 32)?;
                if got.as_slice() != want.as_slice() {
                    return Err(AdminError::Checksum);
                }
                let mut extra = [0u8; 1];
                if self.inp.read(&mut extra)? != 0 {
                    return Err(damaged("bytes follow the checksum"));
                }
                self.done = true;
                return Ok(None);
            }
            other => return Err(damaged(format!("unknown record tag {other}"))),
        };
        self.records += 1;
        Ok(Some(record))
    }

    /// The reader it was made from.
    pub fn into_inner(self) -> R {
        self.inp
    }
}

/// A reader that copies everything it reads into a writer: the backup client saves the
/// node's stream to the file while parsing it.
pub struct Tee<R, W> {
    /// Source.
    pub from: R,
    /// Copy.
    pub to: W,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.from.read(buf)?;
        self.to.write_all(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = ArchiveWriter::new(Vec::new(), &Header::now(FORMAT_VERSION)).unwrap();
        w.tree(b"t").unwrap();
        w.put(b"k", b"v").unwrap();
        w.remove(b"k").unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn round_trip() {
        let bytes = sample();
        let mut r = ArchiveReader::new(bytes.as_slice()).unwrap();
        assert_eq!(r.header().store_format, FORMAT_VERSION);
        assert_eq!(r.next_record().unwrap(), Some(Record::Tree(b"t".to_vec())));
        assert_eq!(
            r.next_record().unwrap(),
            Some(Record::Put(b"k".to_vec(), b"v".to_vec()))
        );
        assert_eq!(
            r.next_record().unwrap(),
            Some(Record::Remove(b"k".to_vec()))
        );
        assert_eq!(r.next_record().unwrap(), None);
    }

    #[test]
    fn damage_is_detected() {
        let bytes = sample();
        // flip the key byte of the last record (before: end tag, count, checksum)
        let mut flipped = bytes.clone();
        let at = flipped.len() - 32 - 9 - 1;
        flipped[at] ^= 1;
        let mut r = ArchiveReader::new(flipped.as_slice()).unwrap();
        let outcome = std::iter::from_fn(|| r.next_record().transpose()).find_map(|r| r.err());
        assert!(matches!(outcome, Some(AdminError::Checksum)));
        // truncated
        let cut = &bytes[..bytes.len() - 10];
        let mut r = ArchiveReader::new(cut).unwrap();
        let outcome = std::iter::from_fn(|| r.next_record().transpose()).find_map(|r| r.err());
        assert!(matches!(outcome, Some(AdminError::Damaged(_))));
        // newer store format
        let mut newer = bytes;
        newer[18] = FORMAT_VERSION + 1;
        assert!(matches!(
            ArchiveReader::new(newer.as_slice()),
            Err(AdminError::NewerFormat(_))
        ));
    }
}
