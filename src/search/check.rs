//! `chatnode check` of the search index against the store: every document names a
//! stored message that search may find, once; every such message up to the index's
//! marks has its document; no mark is past the store's last seq. Memory: one
//! conversation's seqs at a time.

use std::path::Path;

use tantivy::collector::DocSetCollector;
use tantivy::query::TermQuery;
use tantivy::schema::IndexRecordOption;
use tantivy::Term;

use super::index::{self, tantivy_error};
use super::indexer::searchable;
use crate::error::Result;
use crate::store::{CheckReport, Store};

/// Entries read from the store at a time.
const READ_BATCH: usize = 4096;

/// What the index check looked at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexSummary {
    /// Whether there is an index at all (a node builds it when it starts).
    pub present: bool,
    /// Live documents.
    pub documents: u64,
    /// Stored entries past the marks (indexed when the node next runs).
    pub behind: u64,
}

/// Checks the index in `data_dir` against `store`, adding problems (kind `index`) to
/// `report`.
pub fn verify(store: &Store, data_dir: &Path, report: &mut CheckReport) -> Result<IndexSummary> {
    let dir = super::index_dir(data_dir);
    if !dir.join("meta.json").exists() {
        return Ok(IndexSummary::default());
    }
    let opened = match index::try_open(&dir) {
        Ok(Some(o)) => o,
        Ok(None) => return Ok(IndexSummary::default()),
        Err(why) => {
            report.problem(
                "index",
                format!("{why} (the node rebuilds it when it starts; or `chatnode reindex`)"),
            );
            return Ok(IndexSummary {
                present: true,
                ..IndexSummary::default()
            });
        }
    };
    let searcher = super::reader(&opened.index)?.searcher();
    let f = opened.fields;
    let mut summary = IndexSummary {
        present: true,
        documents: searcher.num_docs(),
        behind: 0,
    };
    let mut seen = 0u64;
    for conv in store.conversation_ids()? {
        let last = store.last_seq(conv)?;
        let mark = opened.marks.marks.get(&conv).copied().unwrap_or(0);
        if mark > last {
            report.problem(
                "index",
                format!("conversation {conv}: indexed up to seq {mark}, stored up to {last}"),
            );
        }
        summary.behind += last.saturating_sub(mark);
        let docs = searcher
            .search(
                &TermQuery::new(Term::from_field_u64(f.conv, conv), IndexRecordOption::Basic),
                &DocSetCollector,
            )
            .map_err(tantivy_error)?;
        let mut indexed = Vec::with_capacity(docs.len());
        for addr in docs {
            let column = searcher
                .segment_reader(addr.segment_ord)
                .fast_fields()
                .u64("seq")
                .map_err(tantivy_error)?;
            if let Some(seq) = column.first(addr.doc_id) {
                indexed.push(seq);
            }
        }
        seen += indexed.len() as u64;
        indexed.sort_unstable();
        for pair in indexed.windows(2) {
            if pair[0] == pair[1] {
                report.problem(
                    "index",
                    format!("conversation {conv} seq {}: indexed twice", pair[0]),
                );
            }
        }
        indexed.dedup();
        let mut expected = Vec::new();
        let mut after = 0;
        while after < mark {
            let batch = store.records_after(conv, after, READ_BATCH)?;
            let Some(&(end, _)) = batch.last() else {
                break;
            };
            for (seq, record) in batch {
                if seq <= mark && searchable(&record) {
                    expected.push(seq);
                }
            }
            after = end;
        }
        compare(conv, &indexed, &expected, report);
    }
    if seen < summary.documents {
        report.problem(
            "index",
            format!(
                "{} documents of conversations the store does not have",
                summary.documents - seen
            ),
        );
    }
    Ok(summary)
}

/// Reports the differences of two ascending seq lists.
fn compare(conv: u64, indexed: &[u64], expected: &[u64], report: &mut CheckReport) {
    let (mut i, mut e) = (0, 0);
    while i < indexed.len() || e < expected.len() {
        match (indexed.get(i), expected.get(e)) {
            (Some(a), Some(b)) if a == b => {
                i += 1;
                e += 1;
            }
            (Some(a), b) if b.is_none_or(|b| a < b) => {
                report.problem(
                    "index",
                    format!(
                        "conversation {conv} seq {a}: indexed, but not a message search may \
                         find (gone, recalled or an event); `chatnode reindex` rebuilds it"
                    ),
                );
                i += 1;
            }
            (_, Some(b)) => {
                report.problem(
                    "index",
                    format!(
                        "conversation {conv} seq {b}: missing from the index; `chatnode \
                         reindex` rebuilds it"
                    ),
                );
                e += 1;
            }
            _ => break,
        }
    }
}
