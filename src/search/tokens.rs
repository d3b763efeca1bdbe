//! What the index holds of a text, and what a query asks of it.
//!
//! Latin (and every other script with spaces) is cut into words, folded: lower case,
//! compatibility forms (full-width letters, ligatures) and accents removed, so "Café"
//! and "cafe" are one word. Chinese, Japanese and Korean runs are cut into overlapping
//! bigrams ("你好世界" -> 你好 好世 世界), plus the run's last character alone, so that
//! every character starts some term and a one-character query is a prefix search.
//! The same cutting checks a hit against the stored text, so the index can lag but a
//! hit never lies.

use unicode_normalization::char::{decompose_compatible, is_combining_mark};

/// Longest word kept, in characters (longer ones are cut, in the index and in queries).
const MAX_WORD: usize = 40;

/// Most pieces a query is made of; the rest of a long query is ignored (a 10 KB query is
/// searched as its first pieces, and checked against the whole).
pub const MAX_QUERY_PIECES: usize = 32;

/// One piece of a text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Piece {
    /// A folded word.
    Word(String),
    /// A run of CJK characters with nothing between them.
    Cjk(String),
}

/// Whether `c` is written without spaces between words (Han, kana, Hangul).
fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x1100..=0x11FF // Hangul jamo
        | 0x3040..=0x30FF // hiragana, katakana
        | 0x3130..=0x318F // Hangul compatibility jamo
        | 0x31F0..=0x31FF // katakana extensions
        | 0x3400..=0x4DBF // Han extension A
        | 0x4E00..=0x9FFF // Han
        | 0xAC00..=0xD7AF // Hangul syllables
        | 0xF900..=0xFAFF // Han compatibility
        | 0xFF66..=0xFF9F // half-width katakana
        | 0x20000..=0x3134F // Han extensions B-H
    )
}

/// The pieces of `text`, in order.
pub fn pieces(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut run = String::new();
    let end_word = |word: &mut String, out: &mut Vec<Piece>| {
        if !word.is_empty() {
            let w: String = word.chars().take(MAX_WORD).collect();
            out.push(Piece::Word(w));
            word.clear();
        }
    };
    for c in text.chars() {
        if is_cjk(c) {
            end_word(&mut word, &mut out);
            run.push(c);
            continue;
        }
        if !run.is_empty() {
            out.push(Piece::Cjk(std::mem::take(&mut run)));
        }
        decompose_compatible(c, |d| {
            if is_combining_mark(d) {
                return;
            }
            for l in d.to_lowercase() {
                if l.is_alphanumeric() {
                    word.push(l);
                } else {
                    end_word(&mut word, &mut out);
                }
            }
        });
    }
    end_word(&mut word, &mut out);
    if !run.is_empty() {
        out.push(Piece::Cjk(run));
    }
    out
}

/// The index terms of `text` (with repeats; the index counts a document once per term).
pub fn index_terms(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    for piece in pieces(text) {
        match piece {
            Piece::Word(w) => terms.push(w),
            Piece::Cjk(run) => {
                let chars: Vec<char> = run.chars().collect();
                for pair in chars.windows(2) {
                    terms.push(pair.iter().collect());
                }
                if let Some(last) = chars.last() {
                    terms.push(last.to_string());
                }
            }
        }
    }
    terms
}

/// What one query piece asks of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// A term exactly.
    Term(String),
    /// Any term starting with this.
    Prefix(String),
}

/// A parsed query: its pieces (for checking a hit) and what the index is asked.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// Every piece of the query, without repeats.
    pub pieces: Vec<Piece>,
    /// The index terms all of which a hit must have.
    pub asks: Vec<Ask>,
}

impl Query {
    /// Parses `q` as plain text: punctuation and index syntax (`AND`, `*`, quotes) are
    /// just characters; Latin words match as word prefixes, CJK runs as substrings.
    pub fn parse(q: &str) -> Query {
        let mut query = Query::default();
        for piece in pieces(q) {
            if query.pieces.len() == MAX_QUERY_PIECES {
                break;
            }
            if query.pieces.contains(&piece) {
                continue;
            }
            match &piece {
                Piece::Word(w) => query.asks.push(Ask::Prefix(w.clone())),
                Piece::Cjk(run) => {
                    let chars: Vec<char> = run.chars().collect();
                    if chars.len() == 1 {
                        query.asks.push(Ask::Prefix(run.clone()));
                    }
                    for pair in chars.windows(2) {
                        let term: String = pair.iter().collect();
                        if !query.asks.contains(&Ask::Term(term.clone())) {
                            query.asks.push(Ask::Term(term));
                        }
                    }
                }
            }
            query.pieces.push(piece);
        }
        query
    }

    /// Whether the query has nothing to look for (only punctuation or symbols).
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Whether `text` matches: every word of the query starts a word of the text, and
    /// every CJK run of the query is inside a CJK run of the text.
    pub fn matches(&self, text: &str) -> bool {
        let have = pieces(text);
        self.pieces.iter().all(|want| match want {
            Piece::Word(w) => have
                .iter()
                .any(|p| matches!(p, Piece::Word(h) if h.starts_with(w.as_str()))),
            Piece::Cjk(run) => have
                .iter()
                .any(|p| matches!(p, Piece::Cjk(h) if h.contains(run.as_str()))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin_is_folded_into_words() {
        assert_eq!(
            index_terms("Café NAÏVE, ﬁne ＡＢＣ123 don't"),
            ["cafe", "naive", "fine", "abc123", "don", "t"]
        );
    }

    #[test]
    fn cjk_runs_become_bigrams_and_their_last_character() {
        assert_eq!(
            index_terms("你好世界 ok 猫"),
            ["你好", "好世", "世界", "界", "ok", "猫"]
        );
        assert_eq!(
            index_terms("안녕하세요"),
            ["안녕", "녕하", "하세", "세요", "요"]
        );
    }

    #[test]
    fn queries_are_plain_text() {
        let q = Query::parse("\"Hello\" AND wor*");
        assert_eq!(
            q.asks,
            [
                Ask::Prefix("hello".into()),
                Ask::Prefix("and".into()),
                Ask::Prefix("wor".into())
            ]
        );
        assert!(Query::parse("!!! ... ***").is_empty());
        let long = "a ".repeat(5000) + &"b".repeat(10_000);
        assert!(Query::parse(&long).asks.len() <= MAX_QUERY_PIECES);
    }

    #[test]
    fn a_hit_is_checked_against_the_text() {
        let q = Query::parse("hel wor");
        assert!(q.matches("Hello, World!"));
        assert!(!q.matches("hello there"));
        assert!(!q.matches("shell world"), "prefixes start words");
        let cjk = Query::parse("好世");
        assert!(cjk.matches("你好世界"));
        assert!(
            !cjk.matches("你好，世界"),
            "CJK pieces match inside one run"
        );
        let one = Query::parse("界");
        assert_eq!(one.asks, [Ask::Prefix("界".into())]);
        assert!(one.matches("世界"));
        assert!(Query::parse("CAFÉ").matches("un café noir"));
    }
}
