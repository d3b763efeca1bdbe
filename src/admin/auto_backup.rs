//! Automatic backups: every `backup.every_secs` the node writes a consistent snapshot
//! (the same as `chatnode backup`) into `backup.dir`, reads it back to verify it
//! (checksum and every record), keeps the newest `backup.keep`, and raises the store's
//! high-water marks (so a later damaged recovery is recognised).
//!
//! Files are named `auto-YYYYMMDDTHHMMSSZ.chatnode-backup` (UTC), written as `.tmp`
//! first, fsync'd, verified, then renamed. The thread holds the store only while a
//! backup runs, so a stopping node is never kept open by it.

use std::{
    fs::{self, File},
    io::{BufReader, BufWriter, Write},
    path::{Path, PathBuf},
    sync::Weak,
    thread,
    time::{Duration, Instant},
};

use super::archive::ArchiveReader;
use super::{write_backup, AdminError};
use crate::config::Settings;
use crate::store::Store;

/// The first automatic backup waits this long after start.
const FIRST_AFTER: Duration = Duration::from_secs(60);

/// Starts the backup thread when `backup.every_secs` is not 0.
pub fn start(store: Weak<Store>, settings: &Settings) {
    let every = settings.backup.every_secs;
    if every == 0 {
        return;
    }
    let (dir, keep) = (settings.backup_dir(), settings.backup.keep.max(1));
    let spawned = thread::Builder::new()
        .name("auto-backup".into())
        .spawn(move || {
            let mut next = Instant::now() + FIRST_AFTER.min(Duration::from_secs(every));
            loop {
                while Instant::now() < next {
                    if store.strong_count() == 0 {
                        return;
                    }
                    thread::sleep(Duration::from_millis(500));
                }
                let Some(store) = store.upgrade() else { return };
                match backup_once(&store, &dir, keep) {
                    Ok(file) => tracing::info!(file = %file.display(), "automatic backup written and verified"),
                    Err(e) => tracing::error!(error = %e, "automatic backup failed"),
                }
                drop(store);
                next = Instant::now() + Duration::from_secs(every);
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "automatic backups: cannot start their thread");
    }
}

/// Writes, verifies and keeps one backup; prunes the oldest beyond `keep`.
pub fn backup_once(store: &Store, dir: &Path, keep: usize) -> Result<PathBuf, AdminError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| AdminError::Io { path, source }
    };
    fs::create_dir_all(dir).map_err(io(dir))?;
    let name = format!("auto-{}.chatnode-backup", utc_stamp(crate::store::now_ms()));
    let file = dir.join(&name);
    let tmp = dir.join(format!("{name}.tmp"));
    let written = (|| {
        let out = File::create(&tmp).map_err(io(&tmp))?;
        let mut out = BufWriter::with_capacity(256 * 1024, out);
        write_backup(store, &mut out, &mut |_| {})?;
        out.flush()?;
        out.into_inner()
            .map_err(|e| AdminError::Stream(e.into_error()))?
            .sync_all()?;
        verify(&tmp)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    fs::rename(&tmp, &file).map_err(io(&file))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io(dir))?;
    prune(dir, keep);
    store.mark_seen()?;
    Ok(file)
}

/// Reads a backup file through to its checksum.
pub fn verify(file: &Path) -> Result<u64, AdminError> {
    let f = File::open(file).map_err(|source| AdminError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    let mut reader = ArchiveReader::new(BufReader::with_capacity(256 * 1024, f))?;
    let mut records = 0;
    while reader.next_record()?.is_some() {
        records += 1;
    }
    Ok(records)
}

/// Deletes the oldest automatic backups beyond `keep` (names sort by time).
fn prune(dir: &Path, keep: usize) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut autos: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("auto-") && n.ends_with(".chatnode-backup"))
        })
        .collect();
    autos.sort();
    let excess = autos.len().saturating_sub(keep);
    for old in autos.into_iter().take(excess) {
        if let Err(e) = fs::remove_file(&old) {
            tracing::warn!(file = %old.display(), error = %e, "old automatic backup not removed");
        }
    }
}

/// `YYYYMMDDTHHMMSSmmmZ` of a time in ms since the epoch (UTC; civil-from-days).
fn utc_stamp(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn stamps_are_utc_and_sort_by_time() {
        assert_eq!(super::utc_stamp(0), "19700101T000000000Z");
        assert_eq!(super::utc_stamp(1_796_606_306_784), "20261207T011826784Z");
        assert!(super::utc_stamp(1_000) < super::utc_stamp(10_000));
    }
}
