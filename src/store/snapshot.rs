//! Consistent copies of every tree while the node keeps writing (`chatnode backup`), the
//! import that rebuilds a store from one (`chatnode restore`), and a dump to compare two
//! stores.
//!
//! sled 0.34 has no point-in-time snapshot, and iterating the trees one after another
//! while writers run would mix states (a dedupe entry without its message). So:
//!
//! 1. subscribe to every tree (sled sends each change, in order, to subscribers);
//! 2. stream every tree as it is now (the *base*): a key may come out older or newer
//!    than the cut, since writers keep going;
//! 3. take the write gate exclusively (an instant: it waits only for writes in flight),
//!    drain the subscribers, release it: that moment is the cut;
//! 4. stream the changes seen since step 1 (the *overlay*) in order.
//!
//! Replaying base then overlay gives, for every key, its value at the cut: a key changed
//! after the subscription ends with its last change, every other key kept the value the
//! base read. The cut falls between transactions, so the copy is consistent across trees.
//! The overlay is held in memory: it is what was written during the backup.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs::OpenOptions,
    future::Future,
    path::Path,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{Context, Poll, Waker},
    thread,
    time::Duration,
};

use sled::{Event, IVec, Subscriber};

use super::Store;
use crate::error::{Error, Result};

/// Where a snapshot is streamed: the backup archive, or the importer of a restore.
pub trait SnapshotSink {
    /// The puts and removes that follow belong to the tree called `name`.
    fn tree(&mut self, name: &[u8]) -> Result<()>;
    /// Sets `key` to `value` in the current tree.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()>;
    /// Removes `key` from the current tree (only in the overlay).
    fn remove(&mut self, key: &[u8]) -> Result<()>;
}

/// What a snapshot contained.
#[derive(Debug, Clone, Default)]
pub struct SnapshotSummary {
    /// Key/value pairs of the base.
    pub entries: u64,
    /// Changes replayed on top of the base (writes during the backup).
    pub overlay: u64,
    /// Media ids recorded at the cut: their files belong with the snapshot.
    pub media: BTreeSet<String>,
}

/// Every tree's contents, by tree name; for comparing stores in tests and tools.
pub type TreeDump = BTreeMap<Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>>;

/// How many base entries are streamed between two progress reports.
const PROGRESS_EVERY: u64 = 256;

/// Collects what the subscribers report, on its own thread, so that a writer blocked on
/// a full subscriber queue (sled's queue holds 1024 events) is never waiting on us
/// while we wait on sled.
struct Drainer {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<Vec<Vec<Event>>>>,
}

impl Drainer {
    fn start(mut subscribers: Vec<Subscriber>) -> Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let stop_seen = stop.clone();
        let thread = thread::Builder::new()
            .name("snapshot-drain".into())
            .spawn(move || {
                let mut events: Vec<Vec<Event>> = subscribers.iter().map(|_| Vec::new()).collect();
                loop {
                    // Read the flag before draining: once set, writes are held at the gate,
                    // so one more full drain catches everything up to the cut.
                    let last = stop_seen.load(Ordering::SeqCst);
                    let got = drain_ready(&mut subscribers, &mut events);
                    if last {
                        return events;
                    }
                    if got == 0 {
                        thread::sleep(Duration::from_millis(1));
                    }
                }
            })?;
        Ok(Drainer {
            stop,
            thread: Some(thread),
        })
    }

    /// Drains up to now and returns every event, per tree; call with the gate held.
    fn finish(mut self) -> Result<Vec<Vec<Event>>> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread
            .take()
            .ok_or_else(|| Error::Internal("snapshot drain finished twice".into()))?
            .join()
            .map_err(|_| Error::Internal("snapshot drain thread panicked".into()))
    }
}

impl Drop for Drainer {
    /// A snapshot that failed half-way (the client hung up) ends its drain thread too.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Moves every event that is ready into `events`; never blocks. Polls the subscribers
/// as futures: unlike `Subscriber::next_timeout`, that skips the slots of writes sled
/// abandoned (a no-op set, a retried compare-and-swap).
fn drain_ready(subscribers: &mut [Subscriber], events: &mut [Vec<Event>]) -> usize {
    let mut cx = Context::from_waker(Waker::noop());
    let mut got = 0;
    for (sub, out) in subscribers.iter_mut().zip(events.iter_mut()) {
        while let Poll::Ready(Some(event)) = Pin::new(&mut *sub).poll(&mut cx) {
            out.push(event);
            got += 1;
        }
    }
    got
}

impl Store {
    /// Roughly how many entries [`Store::snapshot`] will stream, for a progress bar:
    /// exact for the small trees, the sum of last seqs for messages and dedupe entries.
    pub fn snapshot_estimate(&self) -> Result<u64> {
        let mut messages = 0u64;
        for v in self.last_seqs.iter().values() {
            messages += super::codec::read_be(&v?)?;
        }
        let small = [
            &self.meta,
            &self.users,
            &self.tokens,
            &self.convs,
            &self.pairs,
            &self.last_seqs,
            &self.members,
            &self.media,
            &self.media_refs,
        ];
        Ok(small.iter().map(|t| t.len() as u64).sum::<u64>() + 2 * messages)
    }

    /// Streams a consistent copy of every tree into `sink` (see the module docs);
    /// `progress` is told the number of base entries streamed so far.
    pub fn snapshot(
        &self,
        sink: &mut dyn SnapshotSink,
        progress: &mut dyn FnMut(u64),
    ) -> Result<SnapshotSummary> {
        let mut names: Vec<IVec> = self.db.tree_names();
        names.sort();
        let trees = names
            .iter()
            .map(|n| self.db.open_tree(n))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let drainer = Drainer::start(trees.iter().map(|t| t.watch_prefix(vec![])).collect())?;
        // The base stops at each tree's last key as of the subscription: keys added
        // after it reach the overlay anyway, and a tree that grows at its end (messages
        // of a busy conversation) could otherwise be chased forever.
        let ends = trees
            .iter()
            .map(|t| t.last().map(|kv| kv.map(|(k, _)| k)))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut summary = SnapshotSummary::default();
        let media_tree = self.media.name();
        for ((name, tree), end) in names.iter().zip(&trees).zip(ends) {
            sink.tree(name)?;
            let Some(end) = end else { continue };
            for kv in tree.range(..=end) {
                let (k, v) = kv?;
                sink.put(&k, &v)?;
                if *name == media_tree {
                    summary
                        .media
                        .insert(String::from_utf8_lossy(&k).into_owned());
                }
                summary.entries += 1;
                if summary.entries.is_multiple_of(PROGRESS_EVERY) {
                    progress(summary.entries);
                }
            }
        }
        progress(summary.entries);
        let overlay = {
            let _cut = self.gate.write();
            drainer.finish()?
        };
        for (name, events) in names.iter().zip(overlay) {
            if events.is_empty() {
                continue;
            }
            sink.tree(name)?;
            for event in events {
                match event {
                    Event::Insert { key, value } => {
                        sink.put(&key, &value)?;
                        if *name == media_tree {
                            summary
                                .media
                                .insert(String::from_utf8_lossy(&key).into_owned());
                        }
                    }
                    Event::Remove { key } => {
                        sink.remove(&key)?;
                        if *name == media_tree {
                            summary.media.remove(String::from_utf8_lossy(&key).as_ref());
                        }
                    }
                }
                summary.overlay += 1;
            }
        }
        Ok(summary)
    }

    /// Every key and value of every tree, in memory: for comparing two stores (the
    /// backup round-trip test), not for big stores.
    pub fn dump_trees(&self) -> Result<TreeDump> {
        let mut out = TreeDump::new();
        for name in self.db.tree_names() {
            let tree = self.db.open_tree(&name)?;
            let pairs = tree
                .iter()
                .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            if !pairs.is_empty() {
                out.insert(name.to_vec(), pairs);
            }
        }
        Ok(out)
    }
}

/// Rebuilds a store directory from a snapshot stream: the receiving end of a restore.
pub struct Importer {
    db: sled::Db,
    current: Option<sled::Tree>,
    log_path: std::path::PathBuf,
}

impl Importer {
    /// Creates a new store in `store_dir`, which must not hold one yet.
    pub fn create(store_dir: &Path) -> Result<Self> {
        if store_dir.join("db").exists() {
            return Err(Error::Internal(format!(
                "{store_dir:?} already holds a store"
            )));
        }
        std::fs::create_dir_all(store_dir)?;
        let db = sled::Config::new()
            .path(store_dir)
            .cache_capacity(64 * 1024 * 1024)
            .flush_every_ms(Some(1000))
            .open()?;
        Ok(Importer {
            db,
            current: None,
            log_path: store_dir.join("db"),
        })
    }

    fn current(&self) -> Result<&sled::Tree> {
        self.current
            .as_ref()
            .ok_or_else(|| Error::Internal("snapshot entry before any tree".into()))
    }

    /// Flushes and fsyncs the rebuilt store, then closes it.
    pub fn finish(self) -> Result<()> {
        self.db.flush()?;
        OpenOptions::new()
            .read(true)
            .open(&self.log_path)?
            .sync_data()?;
        Ok(())
    }
}

impl SnapshotSink for Importer {
    fn tree(&mut self, name: &[u8]) -> Result<()> {
        self.current = Some(self.db.open_tree(name)?);
        Ok(())
    }

    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.current()?.insert(key, value)?;
        Ok(())
    }

    fn remove(&mut self, key: &[u8]) -> Result<()> {
        self.current()?.remove(key)?;
        Ok(())
    }
}
