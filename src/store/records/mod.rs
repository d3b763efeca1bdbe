//! The records the store keeps, one type per tree value, apart from the wire types.
//!
//! Every value is a layout byte followed by bincode 2 (serde, standard config) of the
//! record's fields in the order of that layout. The rules that keep stored bytes
//! meaning what they meant when written:
//!
//! - a layout, once released, never changes: a new field means a new layout number,
//!   and the decoder keeps reading every older layout (filling the new fields with
//!   their documented defaults);
//! - enums are stored as an explicit one-byte tag ([`StoredKind`], [`StoredConvKind`]),
//!   never as a variant index: adding a variant takes a new tag and changes no existing
//!   byte;
//! - the golden-bytes tests (`golden_tests.rs`) pin every layout of every record: a
//!   test fails if an existing encoding changes.
//!
//! Store format 1 wrote layout 1 of every record; format 2 (this build) writes layout 2,
//! which adds the v1.1 fields. The migration to format 2 (`store::migrations`) rewrites
//! every value in layout 2.

/// The current-layout body functions of a record derived with `#[serde(remote = "Self")]`.
macro_rules! layout_body {
    ($t:ty) => {
        impl $t {
            /// The bincode body of the current layout.
            fn to_layout_body(&self) -> $crate::error::Result<Vec<u8>> {
                struct Body<'a>(&'a $t);
                impl serde::Serialize for Body<'_> {
                    fn serialize<S: serde::Serializer>(
                        &self,
                        s: S,
                    ) -> std::result::Result<S::Ok, S::Error> {
                        <$t>::serialize(self.0, s)
                    }
                }
                $crate::store::codec::to_body(&Body(self))
            }

            /// A record from the bincode body of the current layout.
            fn from_layout_body(body: &[u8]) -> $crate::error::Result<Self> {
                struct Body($t);
                impl<'de> serde::Deserialize<'de> for Body {
                    fn deserialize<D: serde::Deserializer<'de>>(
                        d: D,
                    ) -> std::result::Result<Self, D::Error> {
                        <$t>::deserialize(d).map(Body)
                    }
                }
                $crate::store::codec::from_body::<Body>(body).map(|b| b.0)
            }
        }
    };
}

mod chunk;
mod compaction;
mod conversation;
mod kinds;
mod media;
mod member;
mod message;
mod token;
mod user;

#[cfg(test)]
mod golden_tests;

pub use chunk::{ChunkRecord, CHUNK_SEQS};
pub use compaction::CompactionState;
pub use conversation::ConvRecord;
pub use kinds::{StoredConvKind, StoredKind};
pub use media::MediaRecord;
pub use member::MemberState;
pub use message::MessageRecord;
pub use token::TokenRecord;
pub use user::UserRecord;

use crate::error::{Error, Result};

/// A record with versioned layouts: what [`encode`] and [`decode`] work on.
pub trait Versioned: Sized {
    /// The layout this build writes.
    const LAYOUT: u8;
    /// What the record is, for error messages.
    const NAME: &'static str;
    /// Decodes the bincode body of a value written in `layout` (1..=[`Self::LAYOUT`]).
    fn decode_layout(layout: u8, body: &[u8]) -> Result<Self>;
    /// Encodes the bincode body of layout [`Self::LAYOUT`].
    fn encode_body(&self) -> Result<Vec<u8>>;
}

/// The stored bytes of `record`: its current layout byte, then the body.
pub fn encode<T: Versioned>(record: &T) -> Result<Vec<u8>> {
    let body = record.encode_body()?;
    let mut out = Vec::with_capacity(body.len() + 1);
    out.push(T::LAYOUT);
    out.extend_from_slice(&body);
    Ok(out)
}

/// A record from stored bytes of any layout this build knows; a newer layout or
/// garbage is an error, never a panic.
pub fn decode<T: Versioned>(bytes: &[u8]) -> Result<T> {
    match bytes.split_first() {
        Some((&layout, body)) if (1..=T::LAYOUT).contains(&layout) => {
            T::decode_layout(layout, body)
        }
        Some((layout, _)) => Err(Error::Internal(format!(
            "a stored {} has format version {layout}, this build reads versions 1 to {}",
            T::NAME,
            T::LAYOUT
        ))),
        None => Err(Error::Internal(format!("an empty stored {}", T::NAME))),
    }
}

/// The layout byte of stored bytes (0 for empty ones).
pub fn layout_of(bytes: &[u8]) -> u8 {
    bytes.first().copied().unwrap_or(0)
}
