//! Reads on the hot paths: a history page from a big store, the reconnect sync of
//! 1,000 missed messages of one conversation, and the offline drain of 10,000.
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
use chatnode::store::Store;
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
    targets = history, sync_and_drain
}
criterion_main!(benches);
