//! The indexer: one thread that follows the store's feed (what the group commit made
//! durable, after its acks went out) and keeps the index in step.
//!
//! Per conversation it remembers the seq up to which it applied every entry (the
//! marks, committed with the documents). An entry past mark + 1 means the feed dropped
//! some (it does when the indexer lags), and so does the feed's dropped flag: the gap is
//! read from the store. That is also how it catches up after a restart or rebuilds a
//! missing index. A message is applied as its current state, read from the store when
//! an edit or a recall names it, so replaying an entry twice changes nothing.

use std::{
    collections::HashMap,
    sync::{atomic::Ordering, mpsc, Arc, Weak},
    time::{Duration, Instant},
};

use tantivy::{IndexReader, IndexWriter};

use super::index::{tantivy_error, Fields, Marks};
use super::Shared;
use crate::error::Result;
use crate::progress::Progress;
use crate::store::{MessageRecord, Store, StoreEvent, StoredKind};

/// Longest a durable message waits to be searchable (PROTOCOL.md: within 2 s of its ack).
const COMMIT_EVERY: Duration = Duration::from_millis(500);

/// Documents after which a commit is made at once (bounds the writer's memory and what
/// a crash makes the indexer do again).
const COMMIT_DOCS: usize = 50_000;

/// How often an idle indexer looks for entries the feed never sent.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Entries read from the store at a time when catching up.
const READ_BATCH: usize = 1024;

/// Index writer memory: tantivy's floor for one thread.
pub const WRITER_MEMORY: usize = 15_000_000;

/// Whether a stored message is something search may find.
pub fn searchable(record: &MessageRecord) -> bool {
    !record.recalled && !record.kind.is_event() && !record.body.is_empty()
}

/// The indexer's state.
pub struct Indexer {
    writer: IndexWriter,
    reader: IndexReader,
    fields: Fields,
    marks: HashMap<u64, u64>,
    /// Operations since the last commit.
    pending: usize,
    /// When the oldest uncommitted operation was made.
    dirty_since: Option<Instant>,
    shared: Option<Arc<Shared>>,
}

impl Indexer {
    /// An indexer writing with `writer`, starting from `marks`.
    pub fn new(
        writer: IndexWriter,
        reader: IndexReader,
        fields: Fields,
        marks: Marks,
        shared: Option<Arc<Shared>>,
    ) -> Indexer {
        Indexer {
            writer,
            reader,
            fields,
            marks: marks.marks,
            pending: 0,
            dirty_since: None,
            shared,
        }
    }

    /// Follows the feed until it closes (the store shut down or dropped), committing at
    /// most [`COMMIT_EVERY`] after a change.
    pub fn run(mut self, store: Weak<Store>, feed: mpsc::Receiver<StoreEvent>) {
        match store.upgrade() {
            Some(store) => {
                if let Err(e) = self.catch_up(&store, true).and_then(|_| self.commit()) {
                    tracing::error!(error = %e, "search index: cannot catch up; search scans");
                    return;
                }
            }
            None => return,
        }
        if let Some(shared) = &self.shared {
            shared.ready.store(true, Ordering::SeqCst);
        }
        let mut last_sweep = Instant::now();
        loop {
            let wait = match self.dirty_since {
                Some(t) => COMMIT_EVERY.saturating_sub(t.elapsed()),
                None => SWEEP_EVERY,
            };
            let event = feed.recv_timeout(wait);
            let Some(store) = store.upgrade() else {
                break;
            };
            if self.stopping() {
                break;
            }
            let carried = match &event {
                Ok(StoreEvent::Stored(entries)) => entries.len(),
                _ => 0,
            };
            let handled = match event {
                Ok(event) => self.handle(&store, event),
                Err(mpsc::RecvTimeoutError::Timeout) => Ok(()),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let swept = match store.feed().take_dropped() || last_sweep.elapsed() >= SWEEP_EVERY {
                true => {
                    last_sweep = Instant::now();
                    self.catch_up(&store, false).map(drop)
                }
                false => Ok(()),
            };
            let committed = match self.due() {
                true => self.commit(),
                false => Ok(()),
            };
            store.feed().done(carried);
            if let Err(e) = handled.and(swept).and(committed) {
                // the marks did not move past what failed: it is done again later
                tracing::warn!(error = %e, "search index: update failed");
            }
        }
        if let Err(e) = self.commit() {
            tracing::warn!(error = %e, "search index: last commit failed");
        }
    }

    /// Applies one feed event.
    fn handle(&mut self, store: &Store, event: StoreEvent) -> Result<()> {
        match event {
            StoreEvent::Stored(entries) => {
                for e in entries {
                    let mark = self.mark(e.conv);
                    if e.seq <= mark {
                        continue;
                    }
                    if e.seq > mark + 1 {
                        self.catch_up_conv(store, e.conv, e.seq - 1, &mut None)?;
                    }
                    self.apply(store, e.conv, e.seq, &e.record)?;
                }
                Ok(())
            }
            StoreEvent::Expired { conv, upto } => self.expire(conv, upto),
        }
    }

    fn stopping(&self) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|s| s.stopping.load(Ordering::SeqCst))
    }

    fn mark(&self, conv: u64) -> u64 {
        self.marks.get(&conv).copied().unwrap_or(0)
    }

    /// Reads from the store what every conversation has past its mark; how many entries.
    pub fn catch_up(&mut self, store: &Store, show: bool) -> Result<u64> {
        let convs = store.conversation_ids()?;
        let mut behind = Vec::new();
        let mut total = 0;
        for conv in convs {
            let last = store.last_seq(conv)?;
            let mark = self.mark(conv);
            if last > mark {
                behind.push((conv, last));
                total += last - mark;
            }
        }
        let mut progress = match show {
            true => Some(Progress::delayed("indexing", total, "messages")),
            false => None,
        };
        let mut done = 0;
        for (conv, last) in behind {
            done += self.catch_up_conv(store, conv, last, &mut progress)?;
        }
        if let Some(p) = progress {
            p.finish();
        }
        Ok(done)
    }

    /// Applies the stored entries of `conv` after its mark, up to `upto`.
    fn catch_up_conv(
        &mut self,
        store: &Store,
        conv: u64,
        upto: u64,
        progress: &mut Option<Progress>,
    ) -> Result<u64> {
        let mut done = 0;
        while self.mark(conv) < upto && !self.stopping() {
            let records = store.records_after(conv, self.mark(conv), READ_BATCH)?;
            let Some(&(first, _)) = records.first() else {
                // the rest expired
                self.marks.insert(conv, upto);
                break;
            };
            if first > upto {
                self.marks.insert(conv, upto);
                break;
            }
            let mut batch = 0;
            for (seq, record) in records.into_iter().take_while(|(s, _)| *s <= upto) {
                self.apply(store, conv, seq, &record)?;
                batch += 1;
            }
            done += batch;
            if let Some(p) = progress.as_mut() {
                p.inc(batch);
            }
            if self.pending >= COMMIT_DOCS {
                self.commit()?;
            }
        }
        Ok(done)
    }

    /// Applies entry `seq` of `conv`: a message is added; an edit or a recall makes its
    /// target's document its current state (or none).
    fn apply(&mut self, store: &Store, conv: u64, seq: u64, record: &MessageRecord) -> Result<()> {
        if record.kind.is_event() {
            if let (StoredKind::Edit | StoredKind::Recall, Some(target)) =
                (record.kind, record.target)
            {
                self.writer
                    .delete_query(Box::new(self.fields.seqs(conv, target, target)))
                    .map_err(tantivy_error)?;
                if let Some(now) = store.message(conv, target)? {
                    if searchable(&now) {
                        self.add(conv, target, &now)?;
                    }
                }
                self.touch();
            }
        } else if searchable(record) {
            // never there already: the marks are committed with the documents, and
            // entries at or below a mark are skipped
            self.add(conv, seq, record)?;
        }
        self.marks.insert(conv, seq);
        if let Some(shared) = &self.shared {
            shared.applied.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn add(&mut self, conv: u64, seq: u64, record: &MessageRecord) -> Result<()> {
        self.writer
            .add_document(self.fields.doc(conv, seq, record.ts, &record.body))
            .map_err(tantivy_error)?;
        self.touch();
        Ok(())
    }

    /// Removes every document of `conv` up to `upto` (retention deleted them).
    fn expire(&mut self, conv: u64, upto: u64) -> Result<()> {
        self.writer
            .delete_query(Box::new(self.fields.seqs(conv, 0, upto)))
            .map_err(tantivy_error)?;
        if self.mark(conv) < upto {
            self.marks.insert(conv, upto);
        }
        self.touch();
        Ok(())
    }

    fn touch(&mut self) {
        self.pending += 1;
        self.dirty_since.get_or_insert_with(Instant::now);
    }

    fn due(&self) -> bool {
        self.pending >= COMMIT_DOCS
            || self
                .dirty_since
                .is_some_and(|t| t.elapsed() >= COMMIT_EVERY)
    }

    /// Commits the documents with the marks that describe them, then lets searches
    /// see them.
    pub fn commit(&mut self) -> Result<()> {
        let marks = Marks {
            v: super::index::SCHEMA_VERSION,
            marks: self.marks.clone(),
        };
        let mut prepared = self.writer.prepare_commit().map_err(tantivy_error)?;
        prepared.set_payload(&marks.payload());
        prepared.commit().map_err(tantivy_error)?;
        self.reader.reload().map_err(tantivy_error)?;
        if let Some(shared) = &self.shared {
            shared.set_visible(&self.marks);
        }
        self.pending = 0;
        self.dirty_since = None;
        Ok(())
    }
}
