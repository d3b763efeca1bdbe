//! Reads on the hot paths: a history page from a big store, the reconnect sync of
//! 1,000 missed messages of one conversation, and the offline drain of 10,000.
//! `history_events` compares, in one run, history pages of a conversation of 10,000
//! plain messages with those of one where 30% of the 10,000 entries are events (edits
//! and reactions folded into their targets): events must not slow a page.
//!
//! The history store holds `CHATNODE_BENCH_MESSAGES` messages (default 1,000,000,
//! spread over 100 direct conversations). It is built once (relaxed appends, then one
//! flush) and kept in target/chatnode-bench/ for the next run; set the variable to e.g.
//! 20000 for a quick run. Sync and drain include the JSON encoding of the frames, as
//! the node does before writing them to the socket.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chatnode::actors::session::history_page;
use chatnode::config::Durability;
use chatnode::protocol::ServerFrame;
use chatnode::store::{QueuedEvent, QueuedMessage, QueuedWrite, Store, StoredKind};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use rand::{Rng, SeedableRng};

const HISTORY_CONVS: u64 = 100;

/// Opens the cached history store of `total` messages, building it if needed (the
/// store that built it is used as is: sled allows one open handle per directory).
fn history_store(total: u64) -> Arc<Store> {
    let dir = common::cache_dir(&format!("history-{total}"));
    let marker = dir.join("complete");
    if marker.exists() {
        return common::open_store(&dir, Durability::Sync);
    }
    let _ = std::fs::remove_dir_all(&dir);
    let store = build_history(&dir, total);
    std::fs::write(&marker, b"ok").unwrap();
    store
}

fn build_history(dir: &Path, total: u64) -> Arc<Store> {
    let started = Instant::now();
    eprintln!("building a {total}-message store in {dir:?} (once; reused next time)");
    let store = common::open_store(dir, Durability::Relaxed);
    let rt = common::runtime();
    let per_conv = total / HISTORY_CONVS;
    for i in 0..HISTORY_CONVS {
        let (conv, members) = common::direct(&rt, &store, &format!("a{i}"), &format!("b{i}"));
        common::fill(&store, conv, &members, &format!("a{i}"), 0, per_conv);
    }
    store.flush_now().unwrap();
    eprintln!("built in {:.1} s", started.elapsed().as_secs_f64());
    store
}

fn history(c: &mut Criterion) {
    let total = common::history_size();
    let store = history_store(total);
    let per_conv = total / HISTORY_CONVS;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut g = c.benchmark_group("history_page");
    g.throughput(Throughput::Elements(20));
    g.bench_function(format!("newest_20_of_{total}"), |b| {
        b.iter(|| {
            let i = rng.gen_range(0..HISTORY_CONVS);
            history_page(&store, &format!("b{i}"), i + 1, None, None, 20).unwrap()
        })
    });
    g.bench_function(format!("older_20_of_{total}"), |b| {
        b.iter(|| {
            let i = rng.gen_range(0..HISTORY_CONVS);
            let before = rng.gen_range(21..=per_conv.max(21));
            history_page(&store, &format!("b{i}"), i + 1, Some(before), None, 20).unwrap()
        })
    });
    g.finish();
}

/// Entries in each conversation of the events bench.
const EVENTS_ENTRIES: u64 = 10_000;

/// A store with two direct conversations of [`EVENTS_ENTRIES`] entries: conv 1 all
/// plain messages, conv 2 with every 10th, 3rd and 7th entry (30%) an event (a reaction
/// or an edit of a recent message), written through the group commit as the node does.
fn events_store(dir: &Path) -> Arc<Store> {
    let store = common::open_store(dir, Durability::Relaxed);
    let rt = common::runtime();
    let (plain, members) = common::direct(&rt, &store, "p", "q");
    common::fill(&store, plain, &members, "p", 0, EVENTS_ENTRIES);
    let (mixed, members) = common::direct(&rt, &store, "a", "b");
    let members: Arc<[String]> = members.into();
    let (tx, rx) = std::sync::mpsc::channel();
    let mut last_message = 0;
    for seq in 1..=EVENTS_ENTRIES {
        let event = matches!(seq % 10, 3 | 7 | 0) && last_message > 0;
        let mut record = common::text("a", format!("m{seq}"));
        let write = if event {
            record.target = Some(last_message);
            if seq % 10 == 7 {
                record.kind = StoredKind::Edit;
                record.body = "on my way, see you at the station in five minutes".into();
            } else {
                record.kind = StoredKind::Reaction;
                record.body = if seq % 2 == 0 { "👍" } else { "🎉" }.into();
                record.on = Some(true);
            }
            QueuedWrite::Event(QueuedEvent {
                conv: mixed,
                record,
                window_ms: u64::MAX,
                members: members.clone(),
            })
        } else {
            last_message = seq;
            QueuedWrite::Message(QueuedMessage {
                conv: mixed,
                record,
                members: members.clone(),
            })
        };
        let tx = tx.clone();
        store.queue(write, Box::new(move |landed| tx.send(landed).unwrap()));
    }
    drop(tx);
    assert!(rx.iter().all(|l| l.is_ok()), "an entry was refused");
    assert_eq!(store.last_seq(mixed).unwrap(), EVENTS_ENTRIES);
    store.flush_now().unwrap();
    store
}

fn history_events(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = events_store(dir.path());
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut g = c.benchmark_group("history_events");
    g.throughput(Throughput::Elements(20));
    for (name, conv, user) in [("plain", 1, "q"), ("30pct_events", 2, "b")] {
        g.bench_function(format!("newest_20_{name}"), |b| {
            b.iter(|| history_page(&store, user, conv, None, None, 20).unwrap())
        });
        g.bench_function(format!("older_20_{name}"), |b| {
            b.iter(|| {
                let before = rng.gen_range(21..=EVENTS_ENTRIES);
                history_page(&store, user, conv, Some(before), None, 20).unwrap()
            })
        });
    }
    g.finish();
}

/// A store where user `r` missed 10 conversations x 1,000 messages.
fn drain_store(dir: &Path) -> Arc<Store> {
    let store = common::open_store(dir, Durability::Relaxed);
    let rt = common::runtime();
    for i in 0..10 {
        let sender = format!("s{i}");
        let (conv, members) = common::direct(&rt, &store, &sender, "r");
        common::fill(&store, conv, &members, &sender, 0, 1_000);
    }
    store.flush_now().unwrap();
    store
}

fn sync_and_drain(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = drain_store(dir.path());
    let mut g = c.benchmark_group("catch_up");
    g.throughput(Throughput::Elements(1_000));
    g.bench_function("sync_1000_of_one_conv", |b| {
        b.iter(|| {
            // What the session does: a member check, then pages of at most 500.
            let mut after = 0;
            let mut bytes = 0;
            loop {
                let page = history_page(&store, "r", 1, None, Some(after), 500).unwrap();
                after = page.messages.last().map_or(after, |m| m.seq);
                let has_more = page.has_more;
                let frame = ServerFrame::SyncBatch {
                    conv: 1,
                    messages: page.messages,
                    has_more,
                };
                bytes += black_box(frame.to_json()).len();
                if !has_more {
                    break bytes;
                }
            }
        })
    });
    g.throughput(Throughput::Elements(10_000));
    g.bench_function("offline_drain_10000", |b| {
        b.iter(|| {
            let mut cursor = store.offline_start("r").unwrap();
            let mut sent = 0;
            while !cursor.is_done() {
                for msg in store.offline_next(&mut cursor, 200).unwrap() {
                    black_box(ServerFrame::Message { msg }.to_json());
                    sent += 1;
                }
            }
            assert_eq!(sent, 10_000);
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = history, history_events, sync_and_drain
}
criterion_main!(benches);
