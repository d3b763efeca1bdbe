//! Opening a store that may be damaged: sled's recovery guarded, never served as new.
//!
//! Power-loss testing with `storage.durability = "relaxed"` and torn writes gave stores
//! that sled either panics on while recovering (`tried to serialize Uninitialized`,
//! sled 0.34.7) or recovers to nearly nothing. So:
//!
//! - after an unclean stop (no `store.clean` marker beside the store), the store's files
//!   are copied aside before sled's recovery rewrites them, and put back if the open
//!   fails or the store is refused: a refused store is left as it was;
//! - a panic inside sled's open is caught (and kept off stderr): the answer is an error;
//! - a store whose files existed but that comes back without its format version, or
//!   with fewer users, conversations or messages than its `meta` high-water marks
//!   (`seen_*`, written after the writes they count, so a recovered prefix can never
//!   be below them unless something was lost), is refused, naming the newest backup.

use std::{
    cell::Cell,
    fs,
    panic::{self, AssertUnwindSafe},
    path::{Path, PathBuf},
    sync::Once,
};

use crate::error::{Error, Result};

/// The marker a cleanly stopped store leaves beside itself (data_dir/store.clean).
pub(super) fn clean_marker(data_dir: &Path) -> PathBuf {
    data_dir.join("store.clean")
}

thread_local! {
    /// Set while this thread runs a guarded open: its panics are not printed.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Installs (once) a panic hook that stays silent for guarded opens and otherwise does
/// what the previous hook did.
fn install_quiet_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs sled's open; a panic in it becomes the refusal of a damaged store.
pub(super) fn open_sled(
    config: sled::Config,
    store_dir: &Path,
    opts: &super::StoreOptions,
) -> Result<sled::Db> {
    install_quiet_hook();
    QUIET.with(|q| q.set(true));
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| config.open()));
    QUIET.with(|q| q.set(false));
    match outcome {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(e)) if e.to_string().contains("could not acquire lock") => {
            Err(Error::Internal(format!(
                "the store in {store_dir:?} is in use by another chatnode process \
                 (a running node holds its lock)"
            )))
        }
        Ok(Err(e)) => Err(Error::Internal(format!(
            "cannot open the store in {store_dir:?}: {e}"
        ))),
        Err(payload) => {
            let why = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            Err(refusal(
                &opts.data_dir,
                &opts.backup_dir,
                &format!("its storage engine (sled) failed while recovering it ({why})"),
            ))
        }
    }
}

/// A copy of the store's files taken before sled's recovery, to put back on refusal.
pub(super) struct Preserved {
    store_dir: PathBuf,
    copy: Option<PathBuf>,
}

impl Preserved {
    /// Copies `store_dir` aside when it exists and was not stopped cleanly.
    pub(super) fn take(data_dir: &Path, store_dir: &Path) -> Preserved {
        let copy = data_dir.join("store.before-recovery");
        let unclean = store_dir.join("db").is_file() && !clean_marker(data_dir).exists();
        let copied = unclean && {
            let _ = fs::remove_dir_all(&copy);
            match copy_dir(store_dir, &copy) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "could not copy the store aside before recovery");
                    let _ = fs::remove_dir_all(&copy);
                    false
                }
            }
        };
        Preserved {
            store_dir: store_dir.to_path_buf(),
            copy: copied.then_some(copy),
        }
    }

    /// The store was opened and accepted: the copy goes.
    pub(super) fn discard(self) {
        if let Some(copy) = &self.copy {
            let _ = fs::remove_dir_all(copy);
        }
    }

    /// The store was refused: its files go back to what they were before the open.
    pub(super) fn put_back(self) {
        if let Some(copy) = &self.copy {
            let _ = fs::remove_dir_all(&self.store_dir);
            if let Err(e) = fs::rename(copy, &self.store_dir) {
                tracing::error!(error = %e, "could not put the store's files back from {copy:?}");
            }
        }
    }
}

/// Copies a directory tree (the store: a few files and the blobs directory).
pub fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// The newest `*.chatnode-backup` file in `dir`, if any.
pub fn newest_backup(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .ends_with(".chatnode-backup")
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p)
}

/// The refusal of a damaged store: what was found, and how to get the data back.
pub(super) fn refusal(data_dir: &Path, backup_dir: &Path, found: &str) -> Error {
    let how = match newest_backup(backup_dir) {
        Some(b) => format!(
            "restore the newest backup, {}: stop the node, `chatnode restore {} --data-dir \
             NEW_DIR`, then point server.data_dir at NEW_DIR (or move NEW_DIR into place)",
            b.display(),
            b.display()
        ),
        None => format!(
            "no backup was found in {}; restore one you keep elsewhere with `chatnode \
             restore FILE --data-dir NEW_DIR` and point server.data_dir at NEW_DIR",
            backup_dir.display()
        ),
    };
    Error::Internal(format!(
        "refusing to serve the store in {}: {found}. It was damaged (a power cut with \
         storage.durability = \"relaxed\" can do this; see docs/durability.md), and serving \
         it would look like a new, empty node. Its files are left as they were. To recover, \
         {how}",
        data_dir.display()
    ))
}
