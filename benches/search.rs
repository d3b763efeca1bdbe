//! Search from the index on a big store: word, prefix, CJK and rare-word queries of a
//! user who is in 400 of its 1,000 conversations, with p50/p99 over 300 queries each
//! (printed before criterion's means), the indexing rate of a rebuild, and the index's
//! size per message.
//!
//! The store holds `CHATNODE_BENCH_MESSAGES` messages (default 1,000,000) over 1,000
//! direct conversations (the seeker talks with 400 people; 600 other pairs), bodies of
//! ~80 bytes, half Latin words (skewed: a few common, many rare), half Chinese; one in
//! 5,000 carries "quokka". Built once into target/chatnode-bench/ and reused; the
//! index is rebuilt every run (that is the rate measured).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatnode::config::Durability;
use chatnode::search::{index_dir, Find, Search};
use chatnode::store::{MessageRecord, NewMessage, Store, StoredKind};
use criterion::{criterion_group, criterion_main, Criterion};
use rand::{rngs::StdRng, Rng, SeedableRng};

const CONVS: u64 = 1000;
const SEEKER_CONVS: u64 = 400;
const QUERIES: usize = 300;

/// The words and characters bodies are made of.
struct Vocabulary {
    words: Vec<String>,
    han: Vec<char>,
}

impl Vocabulary {
    fn new() -> Vocabulary {
        let mut rng = StdRng::seed_from_u64(1);
        let syll = [
            "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "be", "da", "fu", "go", "hi", "ja",
            "ke", "pa", "qu", "ri", "su", "te", "wa", "yo", "zo", "an", "el", "in", "or", "us",
        ];
        let words = (0..3000)
            .map(|_| {
                let n = rng.gen_range(2..=4);
                (0..n).map(|_| syll[rng.gen_range(0..syll.len())]).collect()
            })
            .collect();
        let han = (0..500)
            .map(|i| char::from_u32(0x4E00 + i * 37).unwrap())
            .collect();
        Vocabulary { words, han }
    }

    /// A skewed pick: low indexes are much more common.
    fn skewed(rng: &mut StdRng, n: usize) -> usize {
        ((rng.gen::<f64>().powi(3)) * n as f64) as usize % n
    }

    fn body(&self, rng: &mut StdRng, i: u64) -> String {
        let mut s = String::with_capacity(96);
        if rng.gen_bool(0.5) {
            while s.len() < 80 {
                s.push_str(&self.words[Self::skewed(rng, self.words.len())]);
                s.push(' ');
            }
        } else {
            while s.len() < 78 {
                s.push(self.han[Self::skewed(rng, self.han.len())]);
            }
        }
        if i.is_multiple_of(5000) {
            s.push_str(" quokka");
        }
        s
    }
}

fn build(dir: &Path, total: u64, vocab: &Vocabulary) -> Arc<Store> {
    let started = Instant::now();
    eprintln!("building a {total}-message store in {dir:?} (once; reused next time)");
    let store = common::open_store(dir, Durability::Relaxed);
    let rt = common::runtime();
    let mut convs = Vec::new();
    for i in 0..CONVS {
        let (a, b) = match i < SEEKER_CONVS {
            true => ("seeker".to_string(), format!("friend{i}")),
            false => (format!("a{i}"), format!("b{i}")),
        };
        let (conv, members) = common::direct(&rt, &store, &a, &b);
        convs.push((conv, Arc::<[String]>::from(members), b));
    }
    let mut rng = StdRng::seed_from_u64(2);
    let per_conv = total / CONVS;
    let base_ts = chatnode::store::now_ms() - total * 10;
    let mut n = 0u64;
    // round-robin over conversations, 500 messages per transaction
    for round in 0..per_conv.div_ceil(50) {
        for (conv, members, sender) in &convs {
            let from = round * 50 + 1;
            let batch: Vec<NewMessage> = (from..(from + 50).min(per_conv + 1))
                .map(|seq| {
                    n += 1;
                    NewMessage {
                        conv: *conv,
                        seq,
                        record: MessageRecord {
                            sender: sender.clone(),
                            client_id: format!("{conv}-{seq}"),
                            kind: StoredKind::Text,
                            body: vocab.body(&mut rng, n),
                            ts: base_ts + n * 10,
                            ..MessageRecord::default()
                        },
                        members: members.clone(),
                    }
                })
                .collect();
            if !batch.is_empty() {
                let (refused, _) = store.append_batch(&batch).unwrap();
                assert!(refused.iter().all(Option::is_none));
            }
        }
    }
    store.flush_now().unwrap();
    eprintln!("built in {:.1} s", started.elapsed().as_secs_f64());
    store
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.file_type().map(|t| t.is_dir()) {
                    Ok(true) => dir_bytes(&e.path()),
                    _ => e.metadata().map(|m| m.len()).unwrap_or(0),
                })
                .sum()
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn search(c: &mut Criterion) {
    let total = common::history_size();
    let vocab = Vocabulary::new();
    let dir = common::cache_dir(&format!("search-{total}"));
    let marker = dir.join("complete");
    let store = match marker.exists() {
        true => common::open_store(&dir, Durability::Sync),
        false => {
            let _ = std::fs::remove_dir_all(&dir);
            let store = build(&dir, total, &vocab);
            std::fs::write(&marker, b"ok").unwrap();
            store
        }
    };
    let _ = std::fs::remove_dir_all(index_dir(&dir));
    let started = Instant::now();
    let search = Search::start(&store);
    while !search.indexed() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let secs = started.elapsed().as_secs_f64();
    let index_bytes = dir_bytes(&index_dir(&dir));
    println!(
        "index: rebuilt {total} messages in {secs:.1} s ({:.0} messages/s); {:.1} MB on disk, \
         {:.1} bytes per message; store {:.1} MB",
        total as f64 / secs,
        index_bytes as f64 / 1e6,
        index_bytes as f64 / total as f64,
        store.size_on_disk() as f64 / 1e6
    );

    let convs: Vec<u64> = store
        .user_conversations("seeker")
        .unwrap()
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    assert_eq!(convs.len() as u64, SEEKER_CONVS);
    let mut rng = StdRng::seed_from_u64(3);
    let word = |rng: &mut StdRng| vocab.words[rng.gen_range(20..600)].clone();
    let kinds: Vec<(&str, Vec<String>)> = vec![
        ("word", (0..QUERIES).map(|_| word(&mut rng)).collect()),
        (
            "two_words",
            (0..QUERIES)
                .map(|_| format!("{} {}", word(&mut rng), word(&mut rng)))
                .collect(),
        ),
        (
            "prefix",
            (0..QUERIES)
                .map(|_| word(&mut rng).chars().take(3).collect())
                .collect(),
        ),
        (
            "cjk_2",
            (0..QUERIES)
                .map(|_| {
                    let i = rng.gen_range(0..200);
                    [vocab.han[i], vocab.han[rng.gen_range(0..200)]]
                        .iter()
                        .collect()
                })
                .collect(),
        ),
        (
            "cjk_3",
            (0..QUERIES)
                .map(|_| (0..3).map(|_| vocab.han[rng.gen_range(0..60)]).collect())
                .collect(),
        ),
        ("rare", vec!["quokka".to_string(); QUERIES]),
    ];
    let find = |q: &str| Find {
        q: q.to_string(),
        convs: convs.clone(),
        limit: 20,
        cursor: None,
        before: None,
    };
    println!("| query | p50 | p99 | max | mean hits on page 1 |");
    println!("|---|---|---|---|---|");
    for (kind, queries) in &kinds {
        let mut times = Vec::with_capacity(queries.len());
        let mut hit_count = 0;
        for q in queries {
            let t = Instant::now();
            let found = search.find(&store, &find(q)).unwrap();
            times.push(t.elapsed());
            assert!(found.complete);
            hit_count += found.hits.len();
        }
        times.sort_unstable();
        println!(
            "| {kind} | {:.2} ms | {:.2} ms | {:.2} ms | {:.1} |",
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3,
            times.last().unwrap().as_secs_f64() * 1e3,
            hit_count as f64 / queries.len() as f64
        );
    }
    // every page of the rare word, following the cursor: the answer is complete
    let mut all = 0;
    let mut f = find("quokka");
    loop {
        let found = search.find(&store, &f).unwrap();
        all += found.hits.len();
        match found.next {
            Some(next) => f.cursor = Some(next),
            None => break,
        }
    }
    println!("rare word: {all} hits over every page");

    let mut g = c.benchmark_group("search");
    for (kind, queries) in &kinds {
        let mut i = 0;
        g.bench_function(*kind, |b| {
            b.iter(|| {
                i = (i + 1) % queries.len();
                search.find(&store, &find(&queries[i])).unwrap()
            })
        });
    }
    g.finish();
    search.stop(&store);
}

criterion_group!(benches, search);
criterion_main!(benches);
