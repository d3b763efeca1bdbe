//! Ceilings with no node around them: what the disk and sled can do at best.
//!
//! - [`raw_fsync`]: one small append + `fdatasync` after another, on one thread: the
//!   rate a store that syncs every write alone could never beat.
//! - [`GroupCommitRig`]: `writers` threads each insert a record into sled and wait for a
//!   shared `flush()` + `sync_data()` (the first waiter to find no flush running does it
//!   for everyone queued): the ceiling for the node's durable writes.
//!
//! This file only needs std, sled and parking_lot: the criterion bench `ceiling`
//! includes it as a module, so the tool and `cargo bench` measure the same code.

use std::{
    fs::{File, OpenOptions},
    io::Write,
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use parking_lot::{Condvar, Mutex};

/// How many operations were done in how long.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Operations completed.
    pub ops: u64,
    /// Wall time they took.
    pub elapsed: Duration,
}

impl Rate {
    /// Operations per second.
    pub fn per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// When a run stops: after `ops` operations in all, or at `deadline`, whichever is first.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// Most operations, all writers together.
    pub ops: u64,
    /// Latest end.
    pub deadline: Option<Instant>,
}

/// Appends 64 bytes and `fdatasync`s, one after the other, in a file under `dir`.
pub fn raw_fsync(dir: &Path, bound: Bound) -> Result<Rate, String> {
    let path = dir.join("raw-fsync.bin");
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|e| format!("open {path:?}: {e}"))?;
    let record = [0x5au8; 64];
    let start = Instant::now();
    let mut ops = 0;
    while ops < bound.ops && bound.deadline.is_none_or(|d| Instant::now() < d) {
        file.write_all(&record)
            .and_then(|_| file.sync_data())
            .map_err(|e| format!("write+fdatasync: {e}"))?;
        ops += 1;
    }
    let elapsed = start.elapsed();
    drop(file);
    let _ = std::fs::remove_file(&path);
    Ok(Rate { ops, elapsed })
}

#[derive(Default)]
struct FlushState {
    /// Every write counted up to here is durable.
    flushed: u64,
    /// A writer is flushing for the group right now.
    flushing: bool,
}

/// A sled database with a leader/follower group commit, ready for many runs.
pub struct GroupCommitRig {
    db: sled::Db,
    log: File,
    finished: AtomicU64,
    state: Mutex<FlushState>,
    flushed: Condvar,
    next_key: AtomicU64,
}

impl GroupCommitRig {
    /// Opens a fresh sled database in `dir` (which should be empty).
    pub fn open(dir: &Path) -> Result<Arc<Self>, String> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(64 * 1024 * 1024)
            .flush_every_ms(None)
            .open()
            .map_err(|e| format!("open sled in {dir:?}: {e}"))?;
        let log = File::open(dir.join("db")).map_err(|e| format!("open sled log: {e}"))?;
        Ok(Arc::new(GroupCommitRig {
            db,
            log,
            finished: AtomicU64::new(0),
            state: Mutex::new(FlushState::default()),
            flushed: Condvar::new(),
            next_key: AtomicU64::new(0),
        }))
    }

    /// One durable insert: the record goes into sled, then waits for (or runs) a flush
    /// + fsync that began after it.
    fn insert_durably(&self, value: &[u8]) -> Result<(), String> {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed).to_be_bytes();
        self.db
            .insert(key, value)
            .map_err(|e| format!("insert: {e}"))?;
        let mine = self.finished.fetch_add(1, Ordering::SeqCst) + 1;
        let mut state = self.state.lock();
        loop {
            if state.flushed >= mine {
                return Ok(());
            }
            if state.flushing {
                self.flushed.wait(&mut state);
                continue;
            }
            state.flushing = true;
            drop(state);
            let target = self.finished.load(Ordering::SeqCst);
            let outcome = self
                .db
                .flush()
                .map_err(|e| format!("flush: {e}"))
                .and_then(|_| self.log.sync_data().map_err(|e| format!("fdatasync: {e}")));
            state = self.state.lock();
            state.flushing = false;
            if outcome.is_ok() {
                state.flushed = state.flushed.max(target);
            }
            self.flushed.notify_all();
            outcome?;
        }
    }

    /// `writers` threads insert ~100-byte records durably until `bound`.
    pub fn run(self: &Arc<Self>, writers: usize, bound: Bound) -> Result<Rate, String> {
        let writers = writers.max(1);
        let n = writers as u64;
        let start = Instant::now();
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let rig = Arc::clone(self);
                let per_writer = bound.ops / n + u64::from(i < bound.ops % n);
                thread::spawn(move || {
                    let value = [0x42u8; 100];
                    let mut done = 0u64;
                    while done < per_writer && bound.deadline.is_none_or(|d| Instant::now() < d) {
                        rig.insert_durably(&value)?;
                        done += 1;
                    }
                    Ok::<u64, String>(done)
                })
            })
            .collect();
        let mut ops = 0;
        for h in handles {
            ops += h
                .join()
                .map_err(|_| "a writer thread panicked".to_string())??;
        }
        Ok(Rate {
            ops,
            elapsed: start.elapsed(),
        })
    }
}
