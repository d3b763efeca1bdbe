//! `chatnode check`, `chatnode backup FILE` and `chatnode restore FILE --data-dir DIR`.

use std::{
    fs::{self, File},
    io::{BufReader, BufWriter, Write},
    path::{Path, PathBuf},
};

use super::archive::{ArchiveReader, Record, Tee};
use super::{socket, write_backup, AdminError};
use crate::config::Settings;
use crate::progress::Progress;
use crate::search::check::IndexSummary;
use crate::store::{CheckReport, Importer, SnapshotSink, Store, StoreOptions, FORMAT_VERSION};

/// What the store says when another handle holds its lock.
const LOCKED: &str = "in use by another chatnode process";

/// Opens the store of `data_dir` for an admin command, explaining a lock held by a
/// running node.
fn open_stopped(settings: &Settings, data_dir: &Path, what: &str) -> Result<Store, AdminError> {
    let mut opts = StoreOptions::from_settings(settings);
    opts.data_dir = data_dir.to_path_buf();
    Store::open_existing(&opts).map_err(|e| match AdminError::from(e) {
        AdminError::Store(msg) if msg.contains(LOCKED) => AdminError::Store(format!(
            "{msg}; {what} needs the node stopped{}",
            if what == "backup" {
                ", or its admin socket answering (it does not)"
            } else {
                ""
            }
        )),
        other => other,
    })
}

/// Prints a check report: the problem lines, then one summary line. Returns whether the
/// store is sound.
pub fn print_report(report: &CheckReport, out: &mut dyn Write) -> std::io::Result<bool> {
    match report.format {
        Some(v) if report.migration_pending() => writeln!(
            out,
            "format: the store is in format {v}; this build writes {FORMAT_VERSION}: a \
             migration is pending, the node runs it when it starts{}",
            match report.interrupted {
                Some(to) => format!(" (a migration to {to} was interrupted; it starts again)"),
                None => String::new(),
            }
        )?,
        Some(v) => writeln!(out, "format: {v} (current; no migration pending)")?,
        None => {}
    }
    for line in &report.lines {
        writeln!(out, "{line}")?;
    }
    let trees: Vec<String> = report
        .trees
        .iter()
        .filter(|(_, keys, _)| *keys > 0)
        .map(|(name, keys, bytes)| format!("{name} {keys} keys / {bytes} B"))
        .collect();
    writeln!(
        out,
        "trees (keys / bytes of keys and values): {}",
        trees.join(", ")
    )?;
    let s = &report.stats;
    let secs = report.took.as_secs_f64().max(1e-3);
    writeln!(
        out,
        "checked in {secs:.1} s ({:.0} messages/s)",
        s.messages as f64 / secs
    )?;
    let looked = format!(
        "{} users, {} conversations, {} messages ({} sealed chunks), {} member states, {} dedupe entries, {} media",
        s.users, s.conversations, s.messages, s.chunks, s.members, s.dedupe, s.media
    );
    if report.is_ok() {
        writeln!(out, "check: ok ({looked})")?;
        return Ok(true);
    }
    let kinds: Vec<String> = report
        .counts
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if report.problems() > report.lines.len() as u64 {
        writeln!(
            out,
            "... {} more problems not shown",
            report.problems() - report.lines.len() as u64
        )?;
    }
    writeln!(
        out,
        "check: {} problems ({}) in {looked}",
        report.problems(),
        kinds.join(", ")
    )?;
    Ok(false)
}

/// `chatnode check`: verifies the store of `settings`; `Ok(false)` if anything is wrong
/// (the binary exits non-zero). A stopped store is opened and checked in place. A
/// running node's store cannot be (sled locks it, and it changes under the check), so
/// the node streams a consistent snapshot of it, as for a backup, which is rebuilt in a
/// scratch directory under data_dir (same disk, room for one more copy) and checked there.
pub fn check(settings: &Settings) -> Result<bool, AdminError> {
    let data_dir = &settings.server.data_dir;
    if socket::node_running(data_dir)? {
        return check_running(settings, data_dir);
    }
    check_copy(settings, data_dir)
}

/// [`check`] of a stopped store, on a copy: opening a sled store runs its recovery,
/// which can rewrite the files (of a damaged store above all), and a check must not
/// change what it checks. The copy goes in data_dir/check-PID.tmp (same disk) and is
/// removed afterwards; media files are read in place.
fn check_copy(settings: &Settings, data_dir: &Path) -> Result<bool, AdminError> {
    if !Store::exists_in(data_dir) {
        // the same answer as opening it would give, without making anything
        return open_stopped(settings, data_dir, "check").map(|_| false);
    }
    let scratch = data_dir.join(format!("check-{}.tmp", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    let checked = (|| {
        let io = |source| AdminError::Io {
            path: scratch.clone(),
            source,
        };
        crate::store::copy_store_files(&data_dir.join("store"), &scratch.join("store"))
            .map_err(io)?;
        std::os::unix::fs::symlink(data_dir.join("media"), scratch.join("media")).map_err(io)?;
        // the copy is already one: no second copy before recovery
        fs::write(scratch.join("store.clean"), b"").map_err(io)?;
        println!(
            "check: working on a copy of the store (sled's recovery may rewrite files on open)"
        );
        let store = open_stopped(settings, &scratch, "check")?;
        let mut report = store.check()?;
        let index = crate::search::check::verify(&store, data_dir, &mut report)?;
        println!("{}", index_line(&index));
        Ok(print_report(&report, &mut std::io::stdout().lock())?)
    })();
    let _ = fs::remove_dir_all(&scratch);
    checked.map_err(|e| match e {
        AdminError::Store(msg) => AdminError::Store(msg.replace(
            &scratch.display().to_string(),
            &data_dir.display().to_string(),
        )),
        other => other,
    })
}

/// The report line about the search index.
fn index_line(index: &IndexSummary) -> String {
    match (index.present, index.behind) {
        (false, _) => "search index: none (the node builds it when it starts)".into(),
        (true, 0) => format!("search index: {} documents, up to date", index.documents),
        (true, n) => format!(
            "search index: {} documents; {n} stored entries not indexed yet (the node \
             indexes them when it starts)",
            index.documents
        ),
    }
}

/// `chatnode reindex`: rebuilds the search index of a stopped store from it, with
/// progress on the console.
pub fn reindex(settings: &Settings) -> Result<bool, AdminError> {
    let data_dir = &settings.server.data_dir;
    if socket::node_running(data_dir)? {
        return Err(AdminError::Store(format!(
            "a node is running on {}; reindex needs it stopped (a running node rebuilds \
             a missing index by itself)",
            data_dir.display()
        )));
    }
    let store = open_stopped(settings, data_dir, "reindex")?;
    let started = std::time::Instant::now();
    let n = crate::search::rebuild(&store)?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "reindex: {n} stored entries read in {secs:.1} s ({:.0}/s)",
        n as f64 / secs.max(0.001)
    );
    Ok(true)
}

/// `chatnode repair`: on a stopped store, the start-up repairs, then every member's
/// `unread` recounted where it disagrees with its `read_seq` (what `check` reports as
/// `unread`); one line per repair. True if nothing was left that cannot be repaired.
pub fn repair(settings: &Settings) -> Result<bool, AdminError> {
    let data_dir = &settings.server.data_dir;
    if socket::node_running(data_dir)? {
        return Err(AdminError::Store(format!(
            "a node is running on {}; repair needs it stopped",
            data_dir.display()
        )));
    }
    let store = open_stopped(settings, data_dir, "repair")?;
    let start = store.repair_on_start()?;
    let recounted = store.recount_unread()?;
    for line in start.repaired.iter().chain(&recounted) {
        println!("repaired: {line}");
    }
    for line in &start.unrepairable {
        println!("not repairable: {line}");
    }
    println!(
        "repair: {} repairs, {} problems left (see chatnode check)",
        start.repaired.len() + recounted.len(),
        start.unrepairable.len()
    );
    Ok(start.unrepairable.is_empty())
}

/// [`check`] of the node running on `data_dir`: backup, restore (which checks), clean up.
fn check_running(settings: &Settings, data_dir: &Path) -> Result<bool, AdminError> {
    let scratch = data_dir.join(format!("check-{}.tmp", std::process::id()));
    let _ = fs::remove_dir_all(&scratch);
    fs::create_dir_all(&scratch)?;
    let checked = (|| {
        let file = scratch.join("snapshot.chatnode-backup");
        backup(settings, &file)?;
        let outcome = restore(settings, &file, &scratch.join("store"))?;
        println!("check: that was a consistent snapshot of the running node");
        println!(
            "search index: not checked while the node runs (every hit is checked against \
             the store as it is served; stop the node to check the index)"
        );
        Ok(outcome.check_ok)
    })();
    let _ = fs::remove_dir_all(&scratch);
    checked
}

/// What a backup wrote.
#[derive(Debug, Clone)]
pub struct BackupOutcome {
    /// The file.
    pub file: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Whether a running node streamed it (rather than the store opened directly).
    pub from_running_node: bool,
}

/// `chatnode backup FILE`: asks the node running on the data dir for a consistent
/// snapshot over its admin socket, or, with no node running, opens the store itself.
/// Writes FILE.tmp, fsyncs it, renames it to FILE.
pub fn backup(settings: &Settings, file: &Path) -> Result<BackupOutcome, AdminError> {
    let data_dir = &settings.server.data_dir;
    let tmp = tmp_name(file);
    let started = std::time::Instant::now();
    let outcome = match socket::connect(data_dir)? {
        Some(stream) => backup_from_node(stream, &tmp).map(|()| true),
        None => backup_direct(settings, data_dir, &tmp).map(|()| false),
    };
    let from_running_node = match outcome {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let io = |source| AdminError::Io {
        path: file.to_path_buf(),
        source,
    };
    fs::rename(&tmp, file).map_err(io)?;
    sync_parent(file)?;
    let bytes = fs::metadata(file).map_err(io)?.len();
    let secs = started.elapsed().as_secs_f64().max(1e-3);
    println!(
        "backup: wrote {} ({bytes} bytes in {secs:.1} s, {:.1} MB/s, {})",
        file.display(),
        bytes as f64 / secs / 1e6,
        if from_running_node {
            "snapshot streamed by the running node"
        } else {
            "store opened directly: no node running"
        }
    );
    Ok(BackupOutcome {
        file: file.to_path_buf(),
        bytes,
        from_running_node,
    })
}

fn tmp_name(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// fsyncs the directory holding `file`, so its rename survives a crash.
fn sync_parent(file: &Path) -> Result<(), AdminError> {
    let parent = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    File::open(&parent)
        .and_then(|d| d.sync_all())
        .map_err(|source| AdminError::Io {
            path: parent,
            source,
        })
}

/// Creates (or truncates) `path` readable by the owner only: a backup holds every
/// message and the password hashes, and so does a restored media file.
fn create_tmp(path: &Path) -> Result<File, AdminError> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| AdminError::Io {
            path: path.to_path_buf(),
            source,
        })
}

fn backup_from_node(stream: std::os::unix::net::UnixStream, tmp: &Path) -> Result<(), AdminError> {
    let (answer, input) = socket::request(&stream, "backup")?;
    let estimate = answer.get("estimate").and_then(|v| v.as_u64()).unwrap_or(0);
    let mut progress = Progress::new("backup", estimate, "entries");
    let tee = Tee {
        from: input,
        to: BufWriter::with_capacity(256 * 1024, create_tmp(tmp)?),
    };
    // Parse while saving: the checksum is verified before the file is kept.
    let mut reader = ArchiveReader::new(tee)?;
    while let Some(record) = reader.next_record()? {
        if !matches!(record, Record::Tree(_)) {
            progress.inc(1);
        }
    }
    progress.finish();
    let file = reader
        .into_inner()
        .to
        .into_inner()
        .map_err(|e| AdminError::Stream(e.into_error()))?;
    file.sync_all()?;
    Ok(())
}

fn backup_direct(settings: &Settings, data_dir: &Path, tmp: &Path) -> Result<(), AdminError> {
    let store = open_stopped(settings, data_dir, "backup")?;
    let estimate = store.snapshot_estimate()?;
    let mut progress = Progress::new("backup", estimate, "entries");
    let out = BufWriter::with_capacity(256 * 1024, create_tmp(tmp)?);
    let mut counted = |n| progress.set(n);
    write_backup(&store, out, &mut counted)?;
    progress.finish();
    File::open(tmp)?.sync_all()?;
    Ok(())
}

/// What a restore rebuilt.
#[derive(Debug, Clone)]
pub struct RestoreOutcome {
    /// Records replayed.
    pub records: u64,
    /// Media files written.
    pub media_files: u64,
    /// Whether `check` passed on the rebuilt store.
    pub check_ok: bool,
}

/// Refuses a directory with anything in it; creates a missing one.
fn ensure_empty(dir: &Path) -> Result<(), AdminError> {
    let io = |source| AdminError::Io {
        path: dir.to_path_buf(),
        source,
    };
    match fs::read_dir(dir) {
        Ok(mut entries) => match entries.next() {
            None => Ok(()),
            Some(_) => Err(AdminError::NotEmpty(dir.to_path_buf())),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::create_dir_all(dir).map_err(io),
        Err(e) => Err(io(e)),
    }
}

fn open_archive(file: &Path) -> Result<ArchiveReader<BufReader<File>>, AdminError> {
    let f = File::open(file).map_err(|source| AdminError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    ArchiveReader::new(BufReader::with_capacity(256 * 1024, f))
}

/// A reader that counts the bytes read, for the progress of the verify pass.
struct Counted<R> {
    inner: R,
    read: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

/// A media id that is safe as a file name (ids are hex; anything else is refused).
fn safe_media_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `chatnode restore FILE --data-dir DIR`: verifies the whole backup (checksum, format
/// version), then rebuilds data_dir/store and data_dir/media in an empty DIR, then runs
/// the check on the result. Nothing else is copied (no settings, no TLS keys).
pub fn restore(
    settings: &Settings,
    file: &Path,
    data_dir: &Path,
) -> Result<RestoreOutcome, AdminError> {
    ensure_empty(data_dir)?;
    // Pass 1: verify everything before writing anything.
    let size = fs::metadata(file)
        .map_err(|source| AdminError::Io {
            path: file.to_path_buf(),
            source,
        })?
        .len();
    let read = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let f = File::open(file).map_err(|source| AdminError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    let counted = Counted {
        inner: BufReader::with_capacity(256 * 1024, f),
        read: read.clone(),
    };
    let mut reader = ArchiveReader::new(counted)?;
    let header = reader.header().clone();
    let mut records = 0u64;
    let mut progress = Progress::new("verify", size, "bytes");
    while let Some(record) = reader.next_record()? {
        records += 1;
        if let Record::File { id, .. } = &record {
            if !safe_media_id(id) {
                return Err(AdminError::Damaged(format!(
                    "media id {id:?} is not a safe file name"
                )));
            }
        }
        progress.set(read.get());
    }
    progress.finish();
    println!(
        "restore: {} verified (chatnode {}, store format {}, {records} records)",
        file.display(),
        header.chatnode_version,
        header.store_format
    );
    // Pass 2: rebuild; on failure leave the directory as empty as it was.
    let rebuilt = rebuild(file, data_dir, records);
    let (replayed, media_files) = match rebuilt {
        Ok(v) => v,
        Err(e) => {
            let _ = fs::remove_dir_all(data_dir.join("store"));
            let _ = fs::remove_dir_all(data_dir.join("media"));
            return Err(e);
        }
    };
    let store = reopen_rebuilt(settings, data_dir)?;
    let report = store.check()?;
    let check_ok = print_report(&report, &mut std::io::stdout().lock())?;
    println!(
        "restore: rebuilt {} ({replayed} records, {media_files} media files)",
        data_dir.display()
    );
    Ok(RestoreOutcome {
        records: replayed,
        media_files,
        check_ok,
    })
}

/// Opens the store [`rebuild`] has just written and closed. sled's background threads
/// can hold its file lock for a moment after the last handle is gone, so a lock is
/// waited out (bounded) here: nobody else can hold it, the directory was empty.
fn reopen_rebuilt(settings: &Settings, data_dir: &Path) -> Result<Store, AdminError> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match open_stopped(settings, data_dir, "restore") {
            Err(AdminError::Store(msg))
                if msg.contains(LOCKED) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            opened => return opened,
        }
    }
}

fn rebuild(file: &Path, data_dir: &Path, total: u64) -> Result<(u64, u64), AdminError> {
    let mut reader = open_archive(file)?;
    let mut importer = Importer::create(&data_dir.join("store"))?;
    let media_dir = data_dir.join("media");
    fs::create_dir_all(&media_dir)?;
    let mut progress = Progress::new("restore", total, "records");
    let (mut replayed, mut media_files) = (0u64, 0u64);
    while let Some(record) = reader.next_record()? {
        match record {
            Record::Tree(name) => importer.tree(&name)?,
            Record::Put(k, v) => importer.put(&k, &v)?,
            Record::Remove(k) => importer.remove(&k)?,
            Record::File { id, data } => {
                let path = media_dir.join(&id);
                let mut f = create_tmp(&path)?;
                f.write_all(&data)?;
                f.sync_all()?;
                media_files += 1;
            }
        }
        replayed += 1;
        progress.set(replayed);
    }
    importer.finish()?;
    File::open(&media_dir)?.sync_all()?;
    progress.finish();
    Ok((replayed, media_files))
}
