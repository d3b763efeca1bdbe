//! Group commit: many writes, one `flush` + `fsync`.
//!
//! Writers apply their change to sled (memory), take a [`Ticket`], and ask to be told
//! when it is durable. A dedicated thread takes every waiter queued so far, runs one
//! sled `flush()` and then a real `sync_data()` on the store's log file (sled's flush ends
//! in sync_file_range, which does not survive power loss), and answers them all. While
//! it flushes, the next group gathers, so throughput grows with the number of writers.
//!
//! Readers use the same barrier: whatever a read saw is durable once a flush that began
//! after the read has finished, so the node never shows a message that a crash could
//! take back (and hand its seq to another message).

use std::{
    fs::File,
    sync::{
        atomic::{AtomicU64, Ordering},
        mpsc, Arc,
    },
    thread,
};

use crate::config::Durability;
use crate::error::{Error, Result};

/// Called once with the outcome of the flush that covered the caller's write or read.
pub type Waiter = Box<dyn FnOnce(Result<()>) + Send>;

/// Proof that a write was applied; its position orders it against flushes.
#[derive(Debug, Clone, Copy)]
#[must_use = "a write is not durable until its ticket has been waited on"]
pub struct Ticket(u64);

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
}

/// The handle writers and readers use; cheap to clone.
#[derive(Clone)]
pub struct GroupCommit {
    mode: Durability,
    counters: Arc<Counters>,
    queue: mpsc::Sender<Waiter>,
}

/// Most waiters answered by one flush; more wait for the next one.
const MAX_GROUP: usize = 8192;

impl GroupCommit {
    /// Starts the flush thread for `db`, whose log file is `log_file`.
    pub fn start(db: sled::Db, log_file: File, mode: Durability) -> Result<Self> {
        let counters = Arc::new(Counters::default());
        let (queue, rx) = mpsc::channel::<Waiter>();
        let thread_counters = counters.clone();
        thread::Builder::new()
            .name("group-commit".into())
            .spawn(move || flush_loop(db, log_file, rx, thread_counters))?;
        Ok(GroupCommit {
            mode,
            counters,
            queue,
        })
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
        if self.mode == Durability::Relaxed
            || self.counters.flushed.load(Ordering::SeqCst) >= ticket.0
        {
            return done(Ok(()));
        }
        self.enqueue(done);
    }

    /// Calls `done` once everything a read made before this call could see is durable.
    pub fn after_read(&self, done: Waiter) {
        let idle = self.counters.started.load(Ordering::SeqCst)
            == self.counters.flushed.load(Ordering::SeqCst);
        if self.mode == Durability::Relaxed || idle {
            return done(Ok(()));
        }
        self.enqueue(done);
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

    /// Number of flush+fsync rounds so far.
    pub fn flushes(&self) -> u64 {
        self.counters.flushes.load(Ordering::Relaxed)
    }

    fn enqueue(&self, done: Waiter) {
        if let Err(mpsc::SendError(done)) = self.queue.send(done) {
            done(Err(Error::Internal("group commit stopped".into())));
        }
    }
}

fn flush_loop(db: sled::Db, log_file: File, rx: mpsc::Receiver<Waiter>, counters: Arc<Counters>) {
    let mut group: Vec<Waiter> = Vec::with_capacity(256);
    while let Ok(first) = rx.recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(w) => group.push(w),
                Err(_) => break,
            }
        }
        let target = counters.finished.load(Ordering::SeqCst);
        let outcome = db
            .flush()
            .map_err(|e| e.to_string())
            .and_then(|_| log_file.sync_data().map_err(|e| e.to_string()));
        match &outcome {
            Ok(()) => {
                counters.flushed.fetch_max(target, Ordering::SeqCst);
                counters.flushes.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => tracing::error!(error = %e, "flush failed; writes in this group are not acked"),
        }
        for waiter in group.drain(..) {
            waiter(
                outcome
                    .clone()
                    .map_err(|e| Error::Internal(format!("flush: {e}"))),
            );
        }
    }
    if let Err(e) = db.flush().map_err(|e| e.to_string()).and_then(|_| {
        log_file.sync_data().map_err(|e| e.to_string())
    }) {
        tracing::error!(error = %e, "final flush failed");
    }
}
