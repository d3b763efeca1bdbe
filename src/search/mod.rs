//! Search from an index: tantivy, kept in data_dir/search beside the store.
//!
//! The store stays the truth. The index is fed from what the group commit made durable
//! (never on the ack path, see `search/indexer.rs`), can lag by up to a commit interval, and
//! is rebuilt from the store when it is missing, damaged, of another version or ahead
//! of the store (a restored backup). Every hit is read back from the store and checked
//! against the query, so a lagging index can miss for a moment but never lies. Until a
//! rebuild has caught up, search scans the store (with the scan's budget) instead.

pub mod check;
mod index;
mod indexer;
pub mod tokens;

use std::{
    collections::HashMap,
    ops::Bound,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread,
};

use parking_lot::Mutex;
use tantivy::collector::TopDocs;
use tantivy::query::{
    BooleanQuery, Occur, Query as TantivyQuery, RangeQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, IndexReader, Order, ReloadPolicy, Searcher, Term};

use crate::error::{Error, Result};
use crate::protocol::MessageView;
use crate::store::Store;
use index::{tantivy_error, Fields};
use indexer::{searchable, Indexer, WRITER_MEMORY};
use tokens::{Ask, Query};

/// Scan budget while the index is not ready (messages looked at per search).
const SCAN_BUDGET: usize = 200_000;

/// Candidates fetched from the index per round beyond the page (hits the store check
/// drops are replaced from the next round).
const ROUND_EXTRA: usize = 16;

/// The index directory of a data dir.
pub fn index_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("search")
}

/// What the routes and the indexer share.
pub struct Shared {
    reader: IndexReader,
    fields: Fields,
    /// Whether the index has caught up with the store since it was opened.
    ready: AtomicBool,
    /// Stored entries applied since start.
    applied: AtomicU64,
    /// Set when the node stops: a long catch-up ends at its next batch.
    stopping: AtomicBool,
    /// The marks of the commit searches see: what the index holds, per conversation;
    /// newer entries are read from the store, so a message is found as soon as it is
    /// stored, however far the indexer lags.
    visible: parking_lot::RwLock<Arc<HashMap<u64, u64>>>,
}

impl Shared {
    /// Publishes the marks of the commit searches now see.
    pub(crate) fn set_visible(&self, marks: &HashMap<u64, u64>) {
        *self.visible.write() = Arc::new(marks.clone());
    }
}

/// Most entries past the index's marks one search reads from the store.
const TAIL_BUDGET: usize = 5_000;

/// The node's search: the index when it could be opened, else the store scan.
#[derive(Default)]
pub struct Search {
    shared: Option<Arc<Shared>>,
    thread: Mutex<Option<thread::JoinHandle<()>>>,
}

/// A search request, for one caller.
#[derive(Debug, Clone)]
pub struct Find {
    /// The text as typed.
    pub q: String,
    /// The conversations the caller is in (only these are searched).
    pub convs: Vec<u64>,
    /// Hits wanted.
    pub limit: usize,
    /// Only hits older than this (the previous page's `next`).
    pub cursor: Option<Cursor>,
    /// Only seqs below this (with a single conversation).
    pub before: Option<u64>,
}

/// A page of hits.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// Newest first.
    pub hits: Vec<MessageView>,
    /// Where the next page starts, if there are more.
    pub next: Option<Cursor>,
    /// False only while a rebuilding index is replaced by a budgeted scan that ran out.
    pub complete: bool,
}

/// A position in newest-first order: (ts, conv, seq) of the last hit shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    ts: u64,
    conv: u64,
    seq: u64,
}

impl Cursor {
    const END: Cursor = Cursor {
        ts: u64::MAX,
        conv: u64::MAX,
        seq: u64::MAX,
    };

    /// Reads a cursor given back by a client.
    pub fn parse(s: &str) -> Result<Cursor> {
        let mut parts = s.split('-').map(|p| p.parse::<u64>().ok());
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(Some(ts)), Some(Some(conv)), Some(Some(seq)), None) => {
                Ok(Cursor { ts, conv, seq })
            }
            _ => Err(Error::bad(
                "cursor: pass back the `next` of the previous answer",
            )),
        }
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}-{}", self.ts, self.conv, self.seq)
    }
}

impl Search {
    /// Opens (or rebuilds) the index of `store` and starts its indexer. On an error the
    /// node still runs and search scans the store.
    pub fn start(store: &Arc<Store>) -> Search {
        match Self::try_start(store) {
            Ok(search) => search,
            Err(e) => {
                tracing::error!(error = %e, "search index unavailable; search scans the store");
                Search::default()
            }
        }
    }

    fn try_start(store: &Arc<Store>) -> Result<Search> {
        let dir = index_dir(store.data_dir());
        let mut opened = index::open(&dir)?;
        if opened.rebuilt.is_none() {
            if let Some(why) = ahead_of(store, &opened.marks.marks)? {
                opened = index::create(&dir, Some(why))?;
            }
        }
        if let Some(why) = &opened.rebuilt {
            tracing::info!(reason = %why, "search index: building it from the store");
        }
        let reader = reader(&opened.index)?;
        let shared = Arc::new(Shared {
            reader: reader.clone(),
            fields: opened.fields,
            ready: AtomicBool::new(false),
            applied: AtomicU64::new(0),
            stopping: AtomicBool::new(false),
            visible: parking_lot::RwLock::new(Arc::new(opened.marks.marks.clone())),
        });
        // subscribe before catching up, so nothing stored in between is missed
        let feed = store.feed().subscribe();
        let weak = Arc::downgrade(store);
        let for_thread = shared.clone();
        let thread = thread::Builder::new()
            .name("indexer".into())
            .spawn(move || {
                // below the node's own threads: under a full CPU the index lags (and
                // catches up later) rather than the acks; the writer's worker and merge
                // threads are made here, so they inherit it
                crate::background::lower_priority(INDEXER_NICE);
                let Some(writer) = writer(&opened.index) else {
                    return;
                };
                Indexer::new(
                    writer,
                    reader,
                    opened.fields,
                    opened.marks,
                    Some(for_thread),
                )
                .run(weak, feed)
            })?;
        Ok(Search {
            shared: Some(shared),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Stops the indexer after its last commit (graceful shutdown).
    pub fn stop(&self, store: &Store) {
        if let Some(shared) = &self.shared {
            shared.stopping.store(true, Ordering::SeqCst);
        }
        store.feed().close();
        if let Some(t) = self.thread.lock().take() {
            let _ = t.join();
        }
    }

    /// Whether this node keeps an index (`search.index`, and it could be opened).
    pub fn enabled(&self) -> bool {
        self.shared.is_some()
    }

    /// Whether answers come from the index now (else from a scan of the store).
    pub fn indexed(&self) -> bool {
        self.shared
            .as_ref()
            .is_some_and(|s| s.ready.load(Ordering::SeqCst))
    }

    /// Stored entries the indexer applied since start.
    pub fn applied(&self) -> u64 {
        self.shared
            .as_ref()
            .map_or(0, |s| s.applied.load(Ordering::Relaxed))
    }

    /// One page of hits for `find`, newest first, each read from the store.
    pub fn find(&self, store: &Store, find: &Find) -> Result<Found> {
        match &self.shared {
            Some(shared) if shared.ready.load(Ordering::SeqCst) => shared.find(store, find),
            _ => scan(store, find),
        }
    }
}

impl Drop for Search {
    /// A node dropped without a graceful stop still ends its indexer (which then lets
    /// go of the store).
    fn drop(&mut self) {
        if let Some(shared) = &self.shared {
            shared.stopping.store(true, Ordering::SeqCst);
        }
    }
}

/// The index's writer. The lock of a node stopped a moment ago in this process (a
/// restart on the same data dir) may still be held: it is waited for, a few seconds.
fn writer(index: &tantivy::Index) -> Option<tantivy::IndexWriter> {
    for _ in 0..50 {
        match index.writer_with_num_threads(1, WRITER_MEMORY) {
            Ok(w) => return Some(w),
            Err(tantivy::TantivyError::LockFailure(..)) => {
                thread::sleep(std::time::Duration::from_millis(100))
            }
            Err(e) => {
                tracing::error!(error = %e, "search index: no writer; search scans");
                return None;
            }
        }
    }
    tracing::error!("search index: its lock stays taken; search scans");
    None
}

/// How much nicer than the node the indexer threads run.
const INDEXER_NICE: libc::c_int = 10;

/// Why an index claims more than the store holds (a store restored from an older
/// backup, or one that lost its last writes), if it does.
fn ahead_of(store: &Store, marks: &std::collections::HashMap<u64, u64>) -> Result<Option<String>> {
    for (&conv, &mark) in marks {
        let last = store.last_seq(conv)?;
        if mark > last {
            return Ok(Some(format!(
                "the index has conversation {conv} up to seq {mark}, the store up to {last}"
            )));
        }
    }
    Ok(None)
}

fn reader(index: &tantivy::Index) -> Result<IndexReader> {
    index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()
        .map_err(tantivy_error)
}

/// The search of a store that has no usable index yet: the store's budgeted scan.
fn scan(store: &Store, find: &Find) -> Result<Found> {
    let found = store.search(&find.convs, &find.q, find.limit, SCAN_BUDGET)?;
    Ok(Found {
        hits: found.hits,
        next: None,
        complete: found.complete,
    })
}

impl Shared {
    fn find(&self, store: &Store, find: &Find) -> Result<Found> {
        let query = Query::parse(&find.q);
        if query.is_empty() || find.convs.is_empty() {
            return Ok(Found {
                complete: true,
                ..Found::default()
            });
        }
        // the marks first: a commit between the two only makes the tail overlap
        let visible = self.visible.read().clone();
        let searcher = self.reader.searcher();
        let want = find.limit + 1;
        let start = find.cursor.unwrap_or(Cursor::END);
        let mut upper = start;
        let mut round = want + ROUND_EXTRA;
        let mut hits: Vec<(Cursor, MessageView)> = Vec::with_capacity(want);
        'rounds: loop {
            let q = self.query(&query, find, upper.ts);
            let docs = searcher
                .search(
                    &q,
                    &TopDocs::with_limit(round).order_by_fast_field::<u64>("ts", Order::Desc),
                )
                .map_err(tantivy_error)?;
            let full = docs.len() == round;
            let mut found = self.keys(&searcher, &docs)?;
            found.retain(|k| *k < upper);
            found.sort_unstable_by(|a, b| b.cmp(a));
            // the round stopped inside the run of its oldest time: that time is done
            // whole in the next round (ts ties are ordered by conv and seq)
            let floor = docs.last().and_then(|(ts, _)| *ts).filter(|_| full);
            if let Some(floor) = floor {
                if found.iter().all(|k| k.ts == floor) && round < 1 << 20 {
                    round *= 4;
                    continue;
                }
                found.retain(|k| k.ts > floor);
            }
            for key in found {
                let Some(record) = store.message(key.conv, key.seq)? else {
                    continue;
                };
                if searchable(&record) && query.matches(&record.body) {
                    hits.push((key, record.view(key.conv, key.seq)));
                    if hits.len() == want {
                        break 'rounds;
                    }
                }
            }
            match floor {
                Some(floor) => {
                    upper = upper.min(Cursor {
                        ts: floor,
                        conv: u64::MAX,
                        seq: u64::MAX,
                    })
                }
                None => break,
            }
        }
        let complete = self.add_tail(store, find, &query, &visible, start, &mut hits)?;
        hits.sort_unstable_by_key(|h| std::cmp::Reverse(h.0));
        hits.dedup_by_key(|h| h.0);
        hits.truncate(want);
        let next = match hits.len() == want {
            true => {
                hits.pop();
                hits.last().map(|(k, _)| *k)
            }
            false => None,
        };
        Ok(Found {
            hits: hits.into_iter().map(|(_, v)| v).collect(),
            next,
            complete,
        })
    }

    /// Adds the hits among entries stored after the index's marks (what the indexer
    /// has not committed yet) that sort below `upper`; false if [`TAIL_BUDGET`] ran out.
    fn add_tail(
        &self,
        store: &Store,
        find: &Find,
        query: &Query,
        visible: &HashMap<u64, u64>,
        upper: Cursor,
        hits: &mut Vec<(Cursor, MessageView)>,
    ) -> Result<bool> {
        let mut budget = TAIL_BUDGET;
        for &conv in &find.convs {
            let mark = visible.get(&conv).copied().unwrap_or(0);
            if store.last_seq(conv)? <= mark {
                continue;
            }
            if budget == 0 {
                return Ok(false);
            }
            let tail = store.records_after(conv, mark, budget)?;
            budget -= tail.len();
            for (seq, record) in tail {
                let key = Cursor {
                    ts: record.ts,
                    conv,
                    seq,
                };
                let wanted = key < upper && find.before.is_none_or(|b| seq < b);
                if wanted && searchable(&record) && query.matches(&record.body) {
                    hits.push((key, record.view(conv, seq)));
                }
            }
        }
        Ok(true)
    }

    /// The index query: every ask of `query`, in the caller's conversations, at or
    /// before `upto_ts`.
    fn query(&self, query: &Query, find: &Find, upto_ts: u64) -> BooleanQuery {
        let f = self.fields;
        let mut must: Vec<(Occur, Box<dyn TantivyQuery>)> = Vec::new();
        for ask in &query.asks {
            let q: Box<dyn TantivyQuery> = match ask {
                Ask::Term(t) => Box::new(TermQuery::new(
                    Term::from_field_text(f.body, t),
                    IndexRecordOption::Basic,
                )),
                // every term from the prefix up to the prefix followed by the last code
                // point (a noncharacter no folded word holds)
                Ask::Prefix(p) => Box::new(RangeQuery::new(
                    Bound::Included(Term::from_field_text(f.body, p)),
                    Bound::Included(Term::from_field_text(f.body, &format!("{p}\u{10FFFF}"))),
                )),
            };
            must.push((Occur::Must, q));
        }
        must.push((
            Occur::Must,
            Box::new(TermSetQuery::new(
                find.convs.iter().map(|&c| Term::from_field_u64(f.conv, c)),
            )),
        ));
        if upto_ts < u64::MAX {
            must.push((Occur::Must, u64_range(f.ts, 0, upto_ts)));
        }
        if let Some(before) = find.before {
            must.push((Occur::Must, u64_range(f.seq, 0, before.saturating_sub(1))));
        }
        BooleanQuery::new(must)
    }

    /// The (ts, conv, seq) of each document.
    fn keys(&self, searcher: &Searcher, docs: &[(Option<u64>, DocAddress)]) -> Result<Vec<Cursor>> {
        let mut columns = std::collections::HashMap::new();
        let mut keys = Vec::with_capacity(docs.len());
        for (ts, addr) in docs {
            let (conv, seq) = match columns.entry(addr.segment_ord) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => {
                    let fast = searcher.segment_reader(addr.segment_ord).fast_fields();
                    let conv = fast.u64("conv").map_err(tantivy_error)?;
                    let seq = fast.u64("seq").map_err(tantivy_error)?;
                    e.insert((conv, seq))
                }
            };
            if let (Some(ts), Some(conv), Some(seq)) =
                (ts, conv.first(addr.doc_id), seq.first(addr.doc_id))
            {
                keys.push(Cursor { ts: *ts, conv, seq });
            }
        }
        Ok(keys)
    }
}

/// Documents whose u64 `field` is in `lo..=hi`.
fn u64_range(field: tantivy::schema::Field, lo: u64, hi: u64) -> Box<dyn TantivyQuery> {
    Box::new(RangeQuery::new(
        Bound::Included(Term::from_field_u64(field, lo)),
        Bound::Included(Term::from_field_u64(field, hi)),
    ))
}

/// `chatnode reindex`: makes the index of a stopped store anew; how many entries it read.
pub fn rebuild(store: &Store) -> Result<u64> {
    let dir = index_dir(store.data_dir());
    let opened = index::create(&dir, Some("reindex".into()))?;
    let writer = opened
        .index
        .writer_with_num_threads(1, WRITER_MEMORY)
        .map_err(tantivy_error)?;
    let reader = reader(&opened.index)?;
    let mut indexer = Indexer::new(writer, reader, opened.fields, opened.marks, None);
    let n = indexer.catch_up(store, true)?;
    indexer.commit()?;
    Ok(n)
}
