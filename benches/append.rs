//! Store append: one message with everything it changes (dedupe entry, last-seq guard,
//! both members' state), until the group commit calls it done.
//!
//! `sync` and `relaxed` take the node's path: queue the message; the group-commit
//! thread numbers and writes every queued message in one transaction and flushes.
//! `sync` is done after the shared flush + fsync, `relaxed` once written.
//! `sync_own_transaction` is the path the node used before: each writer runs its own
//! transaction, then waits for the flush (kept to show what the handover gains).
//! Each writer thread owns one direct conversation and has one message in flight, like
//! a conversation actor whose sender waits for every ack; with 16 writers the group
//! commit shares one fsync among up to 16 messages.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use chatnode::config::Durability;
use chatnode::store::{Landed, QueuedMessage, QueuedWrite, Store};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// One writer: its conversation, members and last seq.
struct Writer {
    conv: u64,
    members: Arc<[String]>,
    sender: String,
    seq: AtomicU64,
}

fn writers(store: &Store, n: usize) -> Arc<Vec<Writer>> {
    let rt = common::runtime();
    Arc::new(
        (0..n)
            .map(|i| {
                let sender = format!("w{i}");
                let (conv, members) = common::direct(&rt, store, &sender, &format!("r{i}"));
                Writer {
                    conv,
                    members: members.into(),
                    sender,
                    seq: AtomicU64::new(store.last_seq(conv).unwrap()),
                }
            })
            .collect(),
    )
}

/// How a message reaches the store.
#[derive(Clone, Copy)]
enum Path {
    /// Claimed and queued for the group commit (the node).
    Queued,
    /// Its own transaction, then a wait for the flush.
    OwnTransaction,
}

/// Appends `total` messages spread over all writers, each waiting for its own.
fn run(store: &Arc<Store>, writers: &Arc<Vec<Writer>>, path: Path, total: u64) -> Duration {
    let n = writers.len() as u64;
    let start = Instant::now();
    let handles: Vec<_> = (0..writers.len())
        .map(|i| {
            let (store, writers) = (store.clone(), writers.clone());
            let count = total / n + u64::from((i as u64) < total % n);
            thread::spawn(move || {
                let w = &writers[i];
                let (tx, rx) = mpsc::channel();
                for _ in 0..count {
                    let seq = w.seq.fetch_add(1, Ordering::Relaxed) + 1;
                    let client_id = format!("{}-{seq}", w.sender);
                    let record = common::text(&w.sender, client_id);
                    let tx = tx.clone();
                    match path {
                        Path::Queued => {
                            let message = QueuedMessage {
                                conv: w.conv,
                                record,
                                members: w.members.clone(),
                            };
                            let done = Box::new(move |r: chatnode::error::Result<Landed>| {
                                let _ = tx.send(r.map(|_| ()));
                            });
                            store.queue(QueuedWrite::Message(message), done);
                        }
                        Path::OwnTransaction => {
                            let appended = store.append(w.conv, seq, &record, &w.members).unwrap();
                            let done = Box::new(move |r| {
                                let _ = tx.send(r);
                            });
                            store.commit().after_write(appended.ticket, done);
                        }
                    }
                    rx.recv().unwrap().unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    start.elapsed()
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("store_append");
    g.throughput(Throughput::Elements(1));
    let modes = [
        ("sync", Durability::Sync, Path::Queued),
        ("relaxed", Durability::Relaxed, Path::Queued),
        (
            "sync_own_transaction",
            Durability::Sync,
            Path::OwnTransaction,
        ),
    ];
    for (mode, durability, path) in modes {
        let dir = tempfile::tempdir().unwrap();
        let store = common::open_store(dir.path(), durability);
        for n in [1usize, 16] {
            let ws = writers(&store, n);
            g.bench_function(format!("{mode}/{n}_writers"), |b| {
                b.iter_custom(|iters| run(&store, &ws, path, iters))
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = append
}
criterion_main!(benches);
