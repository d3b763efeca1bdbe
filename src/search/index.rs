//! The tantivy index beside the store (data_dir/search): its schema, how it is opened
//! (or found stale and made anew), and the commit payload that says how far it got.

use std::{collections::HashMap, fs, ops::Bound, path::Path};

use serde::{Deserialize, Serialize};
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED,
};
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};
use tantivy::{Index, TantivyDocument, Term};

use super::tokens::index_terms;
use crate::error::{Error, Result};

/// Bumped when the schema or the tokenizer changes: an index of another version is
/// rebuilt from the store.
pub const SCHEMA_VERSION: u32 = 2;

/// The tokenizer's name in the index.
const TOKENIZER: &str = "chatnode";

/// The fields of a document: one per searchable message.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    /// Conversation (indexed: members-only filter; fast: read back for hits).
    pub conv: Field,
    /// Seq within it (fast).
    pub seq: Field,
    /// Server time, ms (fast): the newest-first order.
    pub ts: Field,
    /// The current text, cut by [`index_terms`].
    pub body: Field,
}

impl Fields {
    fn of(schema: &Schema) -> Result<Fields> {
        let field = |name: &str| {
            schema
                .get_field(name)
                .map_err(|e| Error::Internal(format!("search index: {e}")))
        };
        Ok(Fields {
            conv: field("conv")?,
            seq: field("seq")?,
            ts: field("ts")?,
            body: field("body")?,
        })
    }

    /// The document for message `seq` of `conv`.
    pub fn doc(&self, conv: u64, seq: u64, ts: u64, body: &str) -> TantivyDocument {
        let mut doc = TantivyDocument::new();
        doc.add_u64(self.conv, conv);
        doc.add_u64(self.seq, seq);
        doc.add_u64(self.ts, ts);
        doc.add_text(self.body, body);
        doc
    }

    /// The documents of `conv` with seqs `from..=to`: what an edit, a recall or
    /// retention deletes. (No per-message key term: one unique term per document
    /// would cost every send a term-dictionary entry, for the rare edit.)
    pub fn seqs(&self, conv: u64, from: u64, to: u64) -> BooleanQuery {
        let of_conv: Box<dyn Query> = Box::new(TermQuery::new(
            Term::from_field_u64(self.conv, conv),
            IndexRecordOption::Basic,
        ));
        let range: Box<dyn Query> = Box::new(RangeQuery::new(
            Bound::Included(Term::from_field_u64(self.seq, from)),
            Bound::Included(Term::from_field_u64(self.seq, to)),
        ));
        BooleanQuery::new(vec![(Occur::Must, of_conv), (Occur::Must, range)])
    }
}

fn schema() -> Schema {
    let mut b = Schema::builder();
    b.add_u64_field("conv", INDEXED | FAST);
    b.add_u64_field("seq", FAST);
    b.add_u64_field("ts", FAST);
    // doc ids only: no positions, no frequencies, no norms (phrases are checked against
    // the store), which keeps the index small
    let body = TextFieldIndexing::default()
        .set_tokenizer(TOKENIZER)
        .set_index_option(IndexRecordOption::Basic)
        .set_fieldnorms(false);
    b.add_text_field("body", TextOptions::default().set_indexing_options(body));
    b.build()
}

/// How far the index got: per conversation, the seq up to which every stored entry has
/// been applied. Saved as the payload of every commit, so it is exactly as durable as
/// the documents it describes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Marks {
    /// [`SCHEMA_VERSION`] of the index.
    pub v: u32,
    /// conv -> applied up to this seq.
    pub marks: HashMap<u64, u64>,
}

impl Marks {
    /// The payload text.
    pub fn payload(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// An opened index and its committed marks.
pub struct Opened {
    /// The index (tokenizer registered).
    pub index: Index,
    /// Its fields.
    pub fields: Fields,
    /// What its last commit says.
    pub marks: Marks,
    /// Why it was made anew, if it was.
    pub rebuilt: Option<String>,
}

/// Opens the index in `dir`, or makes an empty one there if there is none or the one
/// there cannot be used (damaged, another schema version): it is rebuilt from the store.
pub fn open(dir: &Path) -> Result<Opened> {
    let reason = match try_open(dir) {
        Ok(Some(opened)) => return Ok(opened),
        Ok(None) => "no index".to_string(),
        Err(e) => e,
    };
    create(dir, Some(reason))
}

/// Opens an existing index; `Ok(None)` if there is none, `Err(why)` if it is unusable.
pub(super) fn try_open(dir: &Path) -> std::result::Result<Option<Opened>, String> {
    if !dir.join("meta.json").exists() {
        return Ok(None);
    }
    let index = Index::open_in_dir(dir).map_err(|e| format!("cannot open: {e}"))?;
    let meta = index
        .load_metas()
        .map_err(|e| format!("cannot read: {e}"))?;
    let marks: Marks = match meta.payload.as_deref() {
        Some(p) => serde_json::from_str(p).map_err(|e| format!("bad marks: {e}"))?,
        None => Marks {
            v: SCHEMA_VERSION,
            ..Marks::default()
        },
    };
    if marks.v != SCHEMA_VERSION {
        return Err(format!(
            "index version {} (this build uses {SCHEMA_VERSION})",
            marks.v
        ));
    }
    let fields = Fields::of(&index.schema()).map_err(|e| e.to_string())?;
    register(&index);
    Ok(Some(Opened {
        index,
        fields,
        marks,
        rebuilt: None,
    }))
}

/// Makes an empty index in `dir`, removing whatever was there.
pub fn create(dir: &Path, reason: Option<String>) -> Result<Opened> {
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    fs::create_dir_all(dir)?;
    let index = Index::create_in_dir(dir, schema()).map_err(tantivy_error)?;
    register(&index);
    Ok(Opened {
        fields: Fields::of(&index.schema())?,
        index,
        marks: Marks {
            v: SCHEMA_VERSION,
            ..Marks::default()
        },
        rebuilt: reason,
    })
}

fn register(index: &Index) {
    index.tokenizers().register(TOKENIZER, ChatTokenizer);
}

/// A tantivy error as the node's.
pub fn tantivy_error(e: tantivy::TantivyError) -> Error {
    Error::Internal(format!("search index: {e}"))
}

/// [`index_terms`] as a tantivy tokenizer.
#[derive(Clone)]
struct ChatTokenizer;

/// The terms of one text, handed out one by one.
struct Terms {
    terms: std::vec::IntoIter<String>,
    token: Token,
}

impl Tokenizer for ChatTokenizer {
    type TokenStream<'a> = Terms;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Terms {
        Terms {
            terms: index_terms(text).into_iter(),
            token: Token::default(),
        }
    }
}

impl TokenStream for Terms {
    fn advance(&mut self) -> bool {
        let Some(term) = self.terms.next() else {
            return false;
        };
        self.token.position = self.token.position.wrapping_add(1);
        self.token.text = term;
        true
    }

    fn token(&self) -> &Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.token
    }
}
