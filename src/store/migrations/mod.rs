//! Store format migrations, one function per step, keyed by the format version.
//!
//! `meta.format_version` says which layouts the store's values have. On open, a node
//! whose [`FORMAT_VERSION`] is newer runs every step from the stored version up, in
//! order (the numbered migrations of Conduit's database are the model). Each step:
//!
//! 1. writes `meta.migrating_to = N` (so `chatnode check` and the next start can say a
//!    step was interrupted);
//! 2. rewrites what it changes in place, in batches, each value either still old or
//!    already new (every old layout stays readable, see `store::records`), skipping
//!    what is done already: running a step twice gives the same store;
//! 3. flushes and fsyncs, then in one batch stamps `format_version = N` and removes
//!    `migrating_to`, and flushes again.
//!
//! A kill at any moment leaves the old version stamped, so the next start runs the step
//! again from the top and completes it; the stamp is only written once the step's
//! writes are on disk. A store stamped newer than this build is refused before anything
//! is written.

mod v1_to_v2;
mod v2_to_v3;

#[cfg(test)]
mod tests;

use super::codec::FORMAT_VERSION;
use super::Store;
use crate::error::{Error, Result};
use crate::progress::Progress;

/// The meta key of the store's format version.
pub(super) const FORMAT_KEY: &str = "format_version";

/// The meta key a step writes while it runs.
pub(super) const MIGRATING_KEY: &str = "migrating_to";

/// One step: from format `from` to `from + 1`.
pub struct Migration {
    /// The version it starts from.
    pub from: u8,
    /// What it does, for the log and `chatnode check`.
    pub what: &'static str,
    run: fn(&Store, &mut Progress) -> Result<()>,
}

/// Every step, in order; the last one ends at [`FORMAT_VERSION`].
const STEPS: &[Migration] = &[
    Migration {
        from: 1,
        what: "records gain the v1.1 fields (layout 2 of users, tokens, conversations, \
               members, messages and media)",
        run: v1_to_v2::run,
    },
    Migration {
        from: 2,
        what: "older history may be sealed into compressed chunks and old dedupe entries \
               pruned (done in the background by the compactor)",
        run: v2_to_v3::run,
    },
];

/// What the store's `format_version` says, against this build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatState {
    /// Stamped with this build's version.
    Current,
    /// Stamped older: the steps from it up are pending.
    Older(u8),
    /// Stamped newer than this build reads.
    Newer(u8),
    /// Not stamped.
    Missing,
    /// Stamped with something that is not a version byte.
    Unreadable(Vec<u8>),
}

impl FormatState {
    /// The state of a stored `format_version` value.
    pub fn of(stored: Option<&[u8]>) -> Self {
        match stored {
            None => FormatState::Missing,
            Some([v]) if *v == FORMAT_VERSION => FormatState::Current,
            Some([v]) if *v > FORMAT_VERSION => FormatState::Newer(*v),
            Some([v]) if *v >= 1 => FormatState::Older(*v),
            Some(other) => FormatState::Unreadable(other.to_vec()),
        }
    }
}

/// The steps that take format `from` to this build's.
pub fn pending_from(from: u8) -> impl Iterator<Item = &'static Migration> {
    STEPS.iter().filter(move |s| s.from >= from)
}

impl Store {
    /// What the store's `format_version` says.
    pub fn format_state(&self) -> Result<FormatState> {
        Ok(FormatState::of(self.meta.get(FORMAT_KEY)?.as_deref()))
    }

    /// The format the store's values are in (this build's or an older one it migrates).
    pub fn format_version(&self) -> Result<u8> {
        match self.format_state()? {
            FormatState::Current => Ok(FORMAT_VERSION),
            FormatState::Older(v) => Ok(v),
            FormatState::Newer(v) => Err(Error::Internal(super::format_error(&[v]))),
            FormatState::Unreadable(v) => Err(Error::Internal(super::format_error(&v))),
            FormatState::Missing => Err(Error::Internal("the store has no format version".into())),
        }
    }

    /// The version a step was writing when it was interrupted, if one was.
    pub fn interrupted_migration(&self) -> Result<Option<u8>> {
        Ok(self
            .meta
            .get(MIGRATING_KEY)?
            .and_then(|v| v.first().copied()))
    }

    /// Runs every pending step from `from` up to [`FORMAT_VERSION`] (see the module docs).
    pub(super) fn migrate_from(&self, from: u8) -> Result<()> {
        let mut version = from;
        if let Some(to) = self.interrupted_migration()? {
            tracing::warn!(
                "the migration of the store to format {to} was interrupted; it starts again"
            );
        }
        while version < FORMAT_VERSION {
            let step = STEPS.iter().find(|s| s.from == version).ok_or_else(|| {
                Error::Internal(format!(
                    "no migration from store format {version} (this build writes \
                     {FORMAT_VERSION})"
                ))
            })?;
            let to = version + 1;
            tracing::info!(
                "migrating the store from format {version} to {to}: {}",
                step.what
            );
            self.meta.insert(MIGRATING_KEY, &[to])?;
            self.flush_now()?;
            let mut progress = Progress::delayed("migrate", 0, "values");
            (step.run)(self, &mut progress)?;
            progress.finish();
            self.flush_now()?;
            let mut stamp = sled::Batch::default();
            stamp.insert(FORMAT_KEY, &[to]);
            stamp.remove(MIGRATING_KEY);
            self.meta.apply_batch(stamp)?;
            self.flush_now()?;
            tracing::info!("the store is now in format {to}");
            version = to;
        }
        Ok(())
    }
}
