//! Deleting uploads no message refers to, once `media.orphan_ttl_secs` have passed, and
//! files a crash or a cut-off request left behind (an unfinished `.part`, or the files of
//! a record deleted just before a kill).

use std::time::{Duration, SystemTime};

use crate::error::Result;
use crate::store::{now_ms, Store, PART_SUFFIX, THUMB_SUFFIX};

/// Most orphans deleted in one sweep (the next sweep takes the rest).
const PER_SWEEP: usize = 1000;

/// How old a left-behind file must be to be removed: no upload takes this long, so a
/// file still being written or just renamed (its record not yet stored) is never one.
const STALE_PART: Duration = Duration::from_secs(6 * 3600);

/// Deletes media older than `ttl_secs` that no message links, and stale left-behind
/// files; how many media were deleted.
pub async fn sweep_orphans(store: &Store, ttl_secs: u64) -> Result<usize> {
    let cutoff = now_ms().saturating_sub(ttl_secs.saturating_mul(1000));
    let mut deleted = 0;
    for id in store.orphan_media(cutoff, PER_SWEEP)? {
        if store.delete_media_if_unreferenced(&id).await? {
            deleted += 1;
        }
    }
    remove_left_behind(store);
    Ok(deleted)
}

/// Removes files older than [`STALE_PART`] that are an unfinished `.part` or belong to no
/// media record.
fn remove_left_behind(store: &Store) {
    let Ok(entries) = std::fs::read_dir(store.media_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let left_behind = name.ends_with(PART_SUFFIX) || {
            let id = name.strip_suffix(THUMB_SUFFIX).unwrap_or(&name);
            matches!(store.media(id), Ok(None))
        };
        if !left_behind {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > STALE_PART);
        if old {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
