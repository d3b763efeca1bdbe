//! Group commit: many writes, one `flush` + `fsync`.
//!
//! Writers apply their change to sled (memory), take a [`Ticket`], and ask to be told
//! when it is durable. A dedicated thread takes every waiter queued so far, runs one
//! sled `flush()` and then a real `sync_data()` on the store's log file (sled's flush ends
//! in sync_file_range, which does not survive power loss), and answers them all. While
//! it flushes, the next group gathers, so throughput grows with the number of writers.
//!
//! Messages take a shorter road: the conversation actor hands the flush thread the
//! message itself ([`Store::queue`](super::Store::queue)), and the
//! thread numbers and writes every message queued since its last round in ONE sled
//! transaction just before the flush. Being the only writer of messages, it gives each
//! the next seq of its conversation in queue order and checks the dedupe tree inside
//! that transaction, so the actors never read the store on the send path. sled runs a transaction under a process-wide write lock that its
//! `flush()` holds shared while the disk writes, so a writer outside this thread would
//! wait for each flush; here the transaction and the flush simply alternate, and one
//! transaction's fixed cost is paid per group instead of per message.
//!
//! Readers use the same barrier: whatever a read saw is durable once a flush that began
//! after the read has finished, so the node never shows a message that a crash could
//! take back (and hand its seq to another message).
//!
//! A failed flush or fsync is final for this process ("fsyncgate"): after `fsync`
//! reports an error, Linux may already have dropped the dirty pages and a later `fsync`
//! succeeds without writing them, so a retry would ack writes that are not on disk.
//! sled behaves the same way (an I/O error poisons the `Db`). So the first failure
//! switches the group commit into a failed state: every waiter from then on, writer or
//! reader, is answered with an error (the client gets `error` internal and no `ack`),
//! and [`GroupCommit::failed`] lets the store refuse new writes up front. What was acked
//! before stays on disk untouched; a restart recovers exactly the durable prefix.

use std::{
    collections::HashSet,
    ffi::OsString,
    fs::{self, File},
    path::PathBuf,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc, Arc,
    },
    thread,
    time::Instant,
};

use super::feed::{Feed, StoredEntry};
use super::messages::{AppendWaiter, Landed, MessageTreeSet, Placed, QueuedWrite};
use super::ticket::Ticket;
use crate::config::Durability;
use crate::error::{Error, Result};

/// Called once with the outcome of the flush that covered the caller's write or read.
pub type Waiter = Box<dyn FnOnce(Result<()>) + Send>;

/// What the flush thread is asked to do.
// Most jobs carry a message; boxing it would add an allocation per send.
#[allow(clippy::large_enum_variant)]
enum Job {
    /// Answer once everything before this is durable.
    Wait(Waiter),
    /// Write this (numbering a message) in the next group, answer once it is durable.
    /// The instant is when it was queued.
    Append(QueuedWrite, AppendWaiter, Instant),
}

/// What the flush thread needs to write messages itself.
pub(super) struct BatchWriter {
    /// The trees a message touches.
    pub(super) trees: MessageTreeSet,
    /// The store's snapshot gate, held shared while a batch is written.
    pub(super) gate: Arc<parking_lot::RwLock<()>>,
    /// `meta`, whose `seen_messages` mark rises after each batch (see `store::guard`).
    pub(super) meta: sled::Tree,
    /// Where written messages go once durable (the search index follows it).
    pub(super) feed: Arc<Feed>,
}

/// Counters shared by writers, readers and the flush thread.
#[derive(Default)]
struct Counters {
    /// Writes begun.
    started: AtomicU64,
    /// Writes finished (their sled call returned).
    finished: AtomicU64,
    /// `finished` as it was when the last successful flush began.
    flushed: AtomicU64,
    /// Flushes done (for /metrics).
    flushes: AtomicU64,
    /// Message batches written, and the messages in them (for /metrics).
    batches: AtomicU64,
    batched: AtomicU64,
    /// Microseconds queued writes waited for their group to start, summed (for /metrics).
    queued_us: AtomicU64,
    /// Microseconds spent writing batches, in sled's flush, and in fsync (for /metrics).
    write_us: AtomicU64,
    flush_us: AtomicU64,
    sync_us: AtomicU64,
    /// Set by the first failed flush or fsync; never cleared in this process.
    failed: AtomicBool,
    /// Set by [`GroupCommit::stop`]: the flush thread ends after its current group.
    stopping: AtomicBool,
}

/// The handle writers and readers use; cheap to clone.
#[derive(Clone)]
pub struct GroupCommit {
    mode: Durability,
    counters: Arc<Counters>,
    queue: mpsc::Sender<Job>,
    /// The flush thread, joined by [`GroupCommit::stop`].
    thread: Arc<parking_lot::Mutex<Option<thread::JoinHandle<()>>>>,
}

/// Totals of the flush thread's work since start.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommitStats {
    /// flush + fsync rounds.
    pub flushes: u64,
    /// Message batches written (one transaction each).
    pub batches: u64,
    /// Messages in them.
    pub batched_messages: u64,
    /// Time those messages waited in the queue before their group began, summed, µs:
    /// with `write_us` + `flush_us` + `sync_us` it splits the time to an ack.
    pub queued_us: u64,
    /// Time spent writing batches, µs.
    pub write_us: u64,
    /// Time spent in sled's flush (writing its buffers out), µs.
    pub flush_us: u64,
    /// Time spent in the fsyncs after it, µs.
    pub sync_us: u64,
}

/// Most waiters answered by one flush; more wait for the next one.
const MAX_GROUP: usize = 8192;

/// Most messages written in one transaction: sled's write lock is held while it runs,
/// and every store read in the node waits for it, so a group is kept to a few ms.
const MAX_BATCH: usize = 512;

impl GroupCommit {
    /// Starts the flush thread for `db`, whose log file is `log_file` and whose blob
    /// files live in `blobs_dir` (store/blobs); `writer` lets it write messages itself.
    pub(super) fn start(
        db: sled::Db,
        log_file: File,
        blobs_dir: PathBuf,
        mode: Durability,
        writer: Option<BatchWriter>,
    ) -> Result<Self> {
        let counters = Arc::new(Counters::default());
        let (queue, rx) = mpsc::channel::<Job>();
        let thread_counters = counters.clone();
        let flusher = Flusher {
            db,
            log_file,
            blobs: BlobSync::new(blobs_dir),
            writer,
            mode,
            counters: thread_counters,
        };
        let handle = thread::Builder::new()
            .name("group-commit".into())
            .spawn(move || flusher.run(rx))?;
        Ok(GroupCommit {
            mode,
            counters,
            queue,
            thread: Arc::new(parking_lot::Mutex::new(Some(handle))),
        })
    }

    /// Ends the flush thread after a last flush and waits for it, so that the store's
    /// files (and sled's directory lock) are released when the store is dropped, not
    /// some time later: a restore, a check or a restarted node can open them at once.
    /// Waiters queued afterwards get an error.
    pub fn stop(&self) {
        self.counters.stopping.store(true, Ordering::SeqCst);
        let _ = self.queue.send(Job::Wait(Box::new(|_| {})));
        let handle = self.thread.lock().take();
        if let Some(handle) = handle {
            if handle.thread().id() != thread::current().id() {
                let _ = handle.join();
            }
        }
    }

    /// Marks the start of a write; call [`GroupCommit::end_write`] once sled returned.
    pub fn begin_write(&self) {
        self.counters.started.fetch_add(1, Ordering::SeqCst);
    }

    /// Marks the end of a write and hands out its ticket.
    pub fn end_write(&self) -> Ticket {
        Ticket(self.counters.finished.fetch_add(1, Ordering::SeqCst) + 1)
    }

    /// Calls `done` once the write behind `ticket` is durable (at once in relaxed mode).
    pub fn after_write(&self, ticket: Ticket, done: Waiter) {
        if self.counters.flushed.load(Ordering::SeqCst) >= ticket.0 {
            return done(Ok(()));
        }
        if self.failed() {
            return done(Err(failed_error()));
        }
        if self.mode == Durability::Relaxed {
            return done(Ok(()));
        }
        self.enqueue(done);
    }

    /// Numbers and writes `message` in the next group and calls `done` once it is
    /// durable (in relaxed mode: once written).
    pub(super) fn append(&self, message: QueuedWrite, done: AppendWaiter) {
        if self.failed() {
            return done(Err(failed_error()));
        }
        self.counters.started.fetch_add(1, Ordering::SeqCst);
        match self.queue.send(Job::Append(message, done, Instant::now())) {
            Ok(()) => {}
            Err(mpsc::SendError(Job::Append(_, done, _))) => {
                done(Err(Error::Internal("group commit stopped".into())))
            }
            Err(mpsc::SendError(Job::Wait(done))) => {
                done(Err(Error::Internal("group commit stopped".into())))
            }
        }
    }

    /// Calls `done` once everything a read made before this call could see is durable.
    pub fn after_read(&self, done: Waiter) {
        let idle = self.counters.started.load(Ordering::SeqCst)
            == self.counters.flushed.load(Ordering::SeqCst);
        if idle {
            return done(Ok(()));
        }
        if self.failed() {
            return done(Err(failed_error()));
        }
        if self.mode == Durability::Relaxed {
            return done(Ok(()));
        }
        self.enqueue(done);
    }

    /// Whether a flush or fsync has failed: nothing written from then on can be made
    /// durable by this process, so the store refuses new writes.
    pub fn failed(&self) -> bool {
        self.counters.failed.load(Ordering::SeqCst)
    }

    /// Awaitable form of [`GroupCommit::after_write`].
    pub async fn durable(&self, ticket: Ticket) -> Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.after_write(
            ticket,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.await
            .map_err(|_| Error::Internal("group commit stopped".into()))?
    }

    /// Awaitable form of [`GroupCommit::after_read`].
    pub async fn visible(&self) -> Result<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.after_read(Box::new(move |r| {
            let _ = tx.send(r);
        }));
        rx.await
            .map_err(|_| Error::Internal("group commit stopped".into()))?
    }

    /// What the flush thread has done so far, for /metrics and the benchmarks.
    pub fn stats(&self) -> CommitStats {
        let c = &self.counters;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        CommitStats {
            flushes: load(&c.flushes),
            batches: load(&c.batches),
            batched_messages: load(&c.batched),
            queued_us: load(&c.queued_us),
            write_us: load(&c.write_us),
            flush_us: load(&c.flush_us),
            sync_us: load(&c.sync_us),
        }
    }

    fn enqueue(&self, done: Waiter) {
        match self.queue.send(Job::Wait(done)) {
            Ok(()) => {}
            Err(mpsc::SendError(Job::Wait(done))) => {
                done(Err(Error::Internal("group commit stopped".into())))
            }
            Err(mpsc::SendError(Job::Append(_, done, _))) => {
                done(Err(Error::Internal("group commit stopped".into())))
            }
        }
    }
}

/// The error every waiter gets once the group commit has failed.
fn failed_error() -> Error {
    Error::Internal(
        "an earlier flush or fsync failed: this process can no longer make writes durable; \
         fix the disk and restart the node"
            .into(),
    )
}

/// sled writes values and node images over ~128 KiB (a leaf of 16 long messages) to
/// files of their own in store/blobs, and never fsyncs them; the log that points at
/// them is fsync'd by us. So each flush also fsyncs the blob files it has not synced
/// yet (they are written once, never changed) and the directory that names them.
pub struct BlobSync {
    dir: PathBuf,
    synced: HashSet<OsString>,
}

impl BlobSync {
    /// Tracks the blob files in `dir` (which may not exist yet).
    pub fn new(dir: PathBuf) -> Self {
        BlobSync {
            dir,
            synced: HashSet::new(),
        }
    }

    /// fsyncs every blob file not synced before, then the directory if any was new.
    pub fn sync_new(&mut self) -> std::io::Result<()> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let mut present = HashSet::with_capacity(self.synced.len());
        let mut fresh = false;
        for entry in entries {
            let name = entry?.file_name();
            if !self.synced.contains(&name) {
                match File::open(self.dir.join(&name)) {
                    Ok(f) => f.sync_data()?,
                    // removed by sled since the listing: nothing to keep
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                fresh = true;
            }
            present.insert(name);
        }
        if fresh {
            File::open(&self.dir)?.sync_all()?;
        }
        self.synced = present;
        Ok(())
    }
}

/// One `flush`, the new blob files' fsync, and the log's `sync_data`; the error as text.
/// The time of each part is added to `timing`.
fn flush_and_sync(
    db: &sled::Db,
    blobs: &mut BlobSync,
    log_file: &File,
    timing: Option<&Counters>,
) -> std::result::Result<(), String> {
    let start = Instant::now();
    db.flush().map_err(|e| e.to_string())?;
    let flushed = Instant::now();
    blobs.sync_new().map_err(|e| format!("blobs: {e}"))?;
    log_file.sync_data().map_err(|e| e.to_string())?;
    if let Some(c) = timing {
        add_us(&c.flush_us, flushed - start);
        add_us(&c.sync_us, flushed.elapsed());
    }
    Ok(())
}

/// Raises `meta.seen_messages` by the messages just stored, after the transaction that
/// stored them (so a recovered prefix never holds the mark without them).
fn raise_message_mark(meta: &sled::Tree, placed: &[super::messages::Placed]) {
    let stored = placed
        .iter()
        .filter(|p| matches!(p, super::messages::Placed::Stored { .. }))
        .count() as u64;
    if stored == 0 {
        return;
    }
    let raised = meta.update_and_fetch(super::SEEN_KEYS[2], |old| {
        let was = old
            .and_then(|b| b.get(..8)?.try_into().ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0);
        Some(was.saturating_add(stored).to_be_bytes().to_vec())
    });
    if let Err(e) = raised {
        tracing::warn!(error = %e, "the stored-messages mark was not raised");
    }
}

fn add_us(counter: &AtomicU64, d: std::time::Duration) {
    counter.fetch_add(d.as_micros() as u64, Ordering::Relaxed);
}

/// The flush thread's state.
struct Flusher {
    db: sled::Db,
    log_file: File,
    blobs: BlobSync,
    writer: Option<BatchWriter>,
    mode: Durability,
    counters: Arc<Counters>,
}

impl Flusher {
    fn run(mut self, rx: mpsc::Receiver<Job>) {
        let mut waits: Vec<Waiter> = Vec::with_capacity(256);
        let mut batch: Vec<QueuedWrite> = Vec::with_capacity(MAX_BATCH);
        let mut batch_waiters: Vec<AppendWaiter> = Vec::with_capacity(MAX_BATCH);
        let mut queued_since: Vec<Instant> = Vec::with_capacity(MAX_BATCH);
        while let Ok(first) = rx.recv() {
            let mut next = Some(first);
            while let Some(job) = next.take() {
                match job {
                    Job::Wait(w) => waits.push(w),
                    Job::Append(m, w, at) => {
                        batch.push(m);
                        batch_waiters.push(w);
                        queued_since.push(at);
                    }
                }
                if waits.len() + batch.len() < MAX_GROUP && batch.len() < MAX_BATCH {
                    next = rx.try_recv().ok();
                }
            }
            let stopping = self.counters.stopping.load(Ordering::SeqCst);
            if self.counters.failed.load(Ordering::SeqCst) {
                for waiter in waits.drain(..) {
                    waiter(Err(failed_error()));
                }
                for waiter in batch_waiters.drain(..) {
                    waiter(Err(failed_error()));
                }
                batch.clear();
                queued_since.clear();
                if stopping {
                    break;
                }
                continue;
            }
            let begun = Instant::now();
            let queued_us: u128 = queued_since
                .drain(..)
                .map(|at| begun.saturating_duration_since(at).as_micros())
                .sum();
            self.counters
                .queued_us
                .fetch_add(queued_us as u64, Ordering::Relaxed);
            let (written, entries) = self.write_batch(&mut batch);
            if self.mode == Durability::Relaxed && waits.is_empty() {
                for (waiter, outcome) in batch_waiters.drain(..).zip(written) {
                    waiter(outcome);
                }
                self.feed(entries);
                continue;
            }
            let target = self.counters.finished.load(Ordering::SeqCst);
            let outcome = flush_and_sync(
                &self.db,
                &mut self.blobs,
                &self.log_file,
                Some(&self.counters),
            );
            match &outcome {
                Ok(()) => {
                    self.counters.flushed.fetch_max(target, Ordering::SeqCst);
                    self.counters.flushes.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    self.counters.failed.store(true, Ordering::SeqCst);
                    tracing::error!(
                        error = %e,
                        "flush failed: writes not yet acked never will be; the store \
                         refuses new writes and reads that could show them; fix the disk \
                         and restart the node (every acked message is on disk and \
                         survives the restart)"
                    );
                }
            }
            let flushed = || {
                outcome
                    .clone()
                    .map_err(|e| Error::Internal(format!("flush: {e}")))
            };
            for (waiter, written) in batch_waiters.drain(..).zip(written) {
                waiter(written.and_then(|landed| flushed().map(|()| landed)));
            }
            for waiter in waits.drain(..) {
                waiter(flushed());
            }
            if outcome.is_ok() {
                // after the waiters: the index never delays an ack
                self.feed(entries);
            }
            if stopping {
                break;
            }
        }
        if self.counters.failed.load(Ordering::SeqCst) {
            return;
        }
        if let Err(e) = flush_and_sync(&self.db, &mut self.blobs, &self.log_file, None) {
            tracing::error!(error = %e, "final flush failed");
        }
    }

    /// Hands written entries to the store's feed.
    fn feed(&self, entries: Vec<StoredEntry>) {
        if let Some(writer) = &self.writer {
            writer.feed.stored(entries);
        }
    }

    /// Numbers and writes (and empties) `batch` in one transaction; where each message
    /// landed, and (when the feed is followed) copies of the messages stored.
    fn write_batch(&self, batch: &mut Vec<QueuedWrite>) -> (Vec<Result<Landed>>, Vec<StoredEntry>) {
        if batch.is_empty() {
            return (Vec::new(), Vec::new());
        }
        let start = Instant::now();
        let outcome = match &self.writer {
            Some(writer) => {
                let _gate = writer.gate.read();
                let outcome = writer.trees.write_queued(batch);
                if let Ok(placed) = &outcome {
                    raise_message_mark(&writer.meta, placed);
                }
                outcome
            }
            None => Err(Error::Internal("this store writes no messages".into())),
        };
        add_us(&self.counters.write_us, start.elapsed());
        self.counters.batches.fetch_add(1, Ordering::Relaxed);
        self.counters
            .batched
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        self.counters
            .finished
            .fetch_add(batch.len() as u64, Ordering::SeqCst);
        match outcome {
            Ok(placed) => {
                let follow = self.writer.as_ref().is_some_and(|w| w.feed.active());
                let mut entries = Vec::new();
                if follow {
                    for (w, p) in batch.iter().zip(&placed) {
                        let (conv, seq, record) = match (w, p) {
                            (QueuedWrite::Message(m), Placed::Stored { seq }) => {
                                (m.conv, *seq, &m.record)
                            }
                            (QueuedWrite::Event(e), Placed::Event { seq, .. }) => {
                                (e.conv, *seq, &e.record)
                            }
                            _ => continue,
                        };
                        entries.push(StoredEntry {
                            conv,
                            seq,
                            record: record.clone(),
                        });
                    }
                }
                let landed = batch
                    .drain(..)
                    .zip(placed)
                    .map(|(w, placed)| placed.landed(w))
                    .collect();
                (landed, entries)
            }
            Err(e) => {
                tracing::error!(error = %e, "message batch not written");
                let failed = batch
                    .drain(..)
                    .map(|_| Err(Error::Internal(format!("write: {e}"))))
                    .collect();
                (failed, Vec::new())
            }
        }
    }
}

#[cfg(test)]
impl GroupCommit {
    /// Puts the group commit in the failed state, as a failed fsync would.
    pub(crate) fn poison_for_tests(&self) {
        self.counters.failed.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn outcome(register: impl FnOnce(Waiter)) -> Result<()> {
        let (tx, rx) = mpsc::channel();
        register(Box::new(move |r| {
            let _ = tx.send(r);
        }));
        rx.recv().unwrap()
    }

    /// fsync of a pipe fails (EINVAL): a stand-in for a disk that reports an error.
    #[test]
    fn a_failed_fsync_is_final() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let (_reader, writer) = std::io::pipe().unwrap();
        let broken = File::from(std::os::fd::OwnedFd::from(writer));
        let commit = GroupCommit::start(
            db.clone(),
            broken,
            dir.path().join("blobs"),
            Durability::Sync,
            None,
        )
        .unwrap();

        commit.begin_write();
        db.insert("k", "v").unwrap();
        let ticket = commit.end_write();
        assert!(
            outcome(|w| commit.after_write(ticket, w)).is_err(),
            "no ack after a failed fsync"
        );
        assert!(commit.failed());
        // later writers and readers are refused too, even though sled itself is fine
        commit.begin_write();
        let later = commit.end_write();
        assert!(outcome(|w| commit.after_write(later, w)).is_err());
        assert!(outcome(|w| commit.after_read(w)).is_err());
    }

    /// A value over sled's blob threshold lands in a file of its own, which the flush
    /// must fsync too.
    #[test]
    fn blob_files_are_synced() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        db.insert("big", vec![7u8; 300 * 1024]).unwrap();
        db.flush().unwrap();
        let mut blobs = BlobSync::new(dir.path().join("blobs"));
        blobs.sync_new().unwrap();
        assert!(
            !blobs.synced.is_empty(),
            "sled wrote no blob file for a 300 KiB value"
        );
        let before = blobs.synced.clone();
        blobs.sync_new().unwrap();
        assert_eq!(before, blobs.synced);
        assert!(BlobSync::new(dir.path().join("nothing")).sync_new().is_ok());
    }

    #[test]
    fn a_good_flush_acks() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let log = File::open(dir.path().join("db")).unwrap();
        let commit = GroupCommit::start(
            db.clone(),
            log,
            dir.path().join("blobs"),
            Durability::Sync,
            None,
        )
        .unwrap();
        commit.begin_write();
        db.insert("k", "v").unwrap();
        let ticket = commit.end_write();
        assert!(outcome(|w| commit.after_write(ticket, w)).is_ok());
        assert!(outcome(|w| commit.after_read(w)).is_ok());
        assert!(!commit.failed());
    }
}
